"""gallery.selectors.testbench: the scorecard's figures, worked out by hand."""

from __future__ import annotations

import pytest

from gallery.models import TestQuery, TestResult, TestRun, TestSet
from gallery.selectors.testbench import (
    disagreements,
    run_scorecard,
    score_histogram,
    threshold_effect,
)

pytestmark = pytest.mark.django_db


def _card(library, answers):
    """answers: (transform, expected, rank, hits, top score, latency ms, error code)."""
    test_set = TestSet.objects.create(library=library, name="S")
    run = TestRun.objects.create(test_set=test_set, library=library, backend="baidu", total=0)
    for n, (transform, expected, rank, hits, score, latency, error) in enumerate(answers):
        query = TestQuery.objects.create(
            test_set=test_set,
            file=f"testsets/{test_set.pk}/{n}.jpg",
            sha256=f"{n:064d}",
            format="JPEG",
            width=320,
            height=240,
            bytes=1000,
            name=f"q{n}",
            transform=transform,
            expected=expected,
        )
        passed = hits == 0 if expected == "nothing" else rank == 1
        TestResult.objects.create(
            run=run,
            query=query,
            rank=rank,
            hits=hits,
            top_score=score,
            passed=passed and not error,
            latency_ms=latency,
            error_code=error,
        )
    return run


def test_recall_mrr_nothing_and_latency_overall_and_per_transform(library):
    run = _card(
        library,
        [
            ("flip", "first", 1, 5, 0.99, 100.0, ""),
            ("flip", "first", 3, 5, 0.80, 200.0, ""),
            ("crop_30", "any", 12, 20, 0.70, 300.0, ""),
            ("crop_30", "first", None, 0, None, 400.0, ""),
            ("crop_30", "first", None, 0, None, None, "216201"),
            ("", "nothing", None, 0, None, 500.0, ""),
            ("", "nothing", None, 2, 0.95, 600.0, ""),
        ],
    )
    card = run_scorecard(run)
    overall = card.overall
    assert (overall.queries, overall.positives, overall.errors) == (7, 5, 1)
    assert overall.recall1 == pytest.approx(1 / 5)
    assert overall.recall10 == pytest.approx(2 / 5)
    assert overall.mrr == pytest.approx((1 + 1 / 3 + 1 / 12) / 5)
    assert overall.nothing_share == pytest.approx(1 / 2)
    assert overall.p50 == pytest.approx(350.0) and overall.p95 == pytest.approx(575.0)
    by = {f.key: f for f in card.by_transform}
    assert [f.key for f in card.by_transform] == ["crop_30", "flip", ""]
    assert by["flip"].recall1 == 0.5 and by["flip"].recall10 == 1.0
    assert by["crop_30"].recall1 == 0 and by["crop_30"].mrr == pytest.approx(1 / 36)
    assert by[""].recall1 is None and by[""].nothing_share == 0.5
    assert [line.query.name for line in card.failing] == ["q1", "q2", "q3", "q4", "q6"]
    histogram = score_histogram(card)
    assert sum(histogram.right) == 1 and histogram.right[19] == 1
    assert [n for n, c in enumerate(histogram.wrong) if c] == [14, 16, 19]
    assert threshold_effect(card, 0.9) == {"right_lost": 0, "wrong_dropped": 2}


def test_two_runs_disagree_where_one_is_right_and_the_other_wrong(library):
    first = run_scorecard(_card(library, [("flip", "first", 1, 1, 0.9, 1.0, "")]))
    test_set = TestSet.objects.get()
    other = TestRun.objects.create(test_set=test_set, library=library, backend="baidu", total=1)
    TestResult.objects.create(run=other, query=test_set.queries.get(), rank=2, hits=2)
    pairs = disagreements(first, run_scorecard(other))
    assert [(a.result.passed, b.result.passed) for a, b in pairs] == [(True, False)]
