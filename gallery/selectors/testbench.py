"""Reads of the search test bench: a run's scorecard (overall and per transform), its failing
queries, the score distribution of right and wrong answers, and where two runs disagree.

The figures are bench/quality.py's: recall@1 and @10 over the queries that expect an image
(the expected image first, or among the first ten; a query that errs counts as missed),
the share of "nothing" queries answered with no hit, the mean reciprocal rank (1/rank, 0 when
missed) and latency percentiles (numpy's linear interpolation, as the benchmark prints them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from django.db.models import Count, Prefetch, QuerySet

from gallery.models import Expected, Image, Library, TestQuery, TestResult, TestRun, TestSet
from gallery.transforms import TRANSFORM_NAMES

UPLOADED = ""  # the transform key of uploaded queries


@dataclass
class Figures:
    """One line of a scorecard."""

    key: str  # a transform's name, UPLOADED, or "all"
    queries: int = 0
    positives: int = 0  # queries that expect an image
    at1: int = 0
    at10: int = 0
    reciprocal: float = 0.0
    nothing_expected: int = 0
    nothing_answered: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)

    def add(self, query: TestQuery, result: TestResult) -> None:
        self.queries += 1
        if result.error_code:
            self.errors += 1
        if result.latency_ms is not None:
            self.latencies.append(result.latency_ms)
        if query.expected == Expected.NOTHING:
            self.nothing_expected += 1
            if not result.error_code and result.hits == 0:
                self.nothing_answered += 1
            return
        self.positives += 1
        if result.rank is not None:
            self.at1 += result.rank == 1
            self.at10 += result.rank <= 10
            self.reciprocal += 1.0 / result.rank

    @property
    def recall1(self) -> float | None:
        return self.at1 / self.positives if self.positives else None

    @property
    def recall10(self) -> float | None:
        return self.at10 / self.positives if self.positives else None

    @property
    def mrr(self) -> float | None:
        return self.reciprocal / self.positives if self.positives else None

    @property
    def nothing_share(self) -> float | None:
        return self.nothing_answered / self.nothing_expected if self.nothing_expected else None

    def latency(self, q: float) -> float | None:
        return float(np.percentile(self.latencies, q)) if self.latencies else None

    @property
    def p50(self) -> float | None:
        return self.latency(50)

    @property
    def p95(self) -> float | None:
        return self.latency(95)


@dataclass(frozen=True)
class Line:
    """A query with its result, for the failing queries and the comparison."""

    query: TestQuery
    result: TestResult


@dataclass(frozen=True)
class Scorecard:
    run: TestRun
    overall: Figures
    by_transform: list[Figures]
    lines: list[Line]

    @property
    def failing(self) -> list[Line]:
        return [line for line in self.lines if not line.result.passed]

    @property
    def done(self) -> int:
        return len(self.lines)


def _queries(test_set: TestSet) -> QuerySet[TestQuery]:
    return test_set.queries.select_related("source_image").prefetch_related(
        Prefetch("expected_images", queryset=Image.objects.order_by("pk"))
    )


def run_scorecard(run: TestRun) -> Scorecard:
    results = {r.query_id: r for r in run.results.all()}
    overall = Figures("all")
    groups: dict[str, Figures] = {}
    lines = []
    for query in _queries(run.test_set).order_by("pk"):
        result = results.get(query.pk)
        if result is None:
            continue
        lines.append(Line(query, result))
        overall.add(query, result)
        groups.setdefault(query.transform, Figures(query.transform)).add(query, result)
    order = {name: n for n, name in enumerate(_transform_order())}
    by_transform = sorted(groups.values(), key=lambda f: (order.get(f.key, len(order)), f.key))
    return Scorecard(run, overall, by_transform, lines)


def _transform_order() -> Iterable[str]:
    return (*TRANSFORM_NAMES, UPLOADED)


def returned_images(lines: Iterable[Line]) -> dict[int, Image]:
    """Our rows of the hits the lines show, by id, in one query."""
    ids = {hit["image"] for line in lines for hit in line.result.returned if hit.get("image")}
    return {i.pk: i for i in Image.objects.filter(pk__in=ids)}


@dataclass(frozen=True)
class Histogram:
    """Counts of the first hit's score in bins of `width`, for right and wrong answers."""

    width: float
    right: list[int]
    wrong: list[int]

    @property
    def peak(self) -> int:
        return max([*self.right, *self.wrong, 1])


def score_histogram(scorecard: Scorecard, bins: int = 20) -> Histogram:
    """Right: the expected image came first (its score). Wrong: another image came first, or
    anything came back for a "nothing" query (the first hit's score). A query with no hit has
    no score to show."""
    right = [0] * bins
    wrong = [0] * bins
    for line in scorecard.lines:
        score = line.result.top_score
        if score is None:
            continue
        n = min(bins - 1, max(0, int(score * bins)))
        (right if line.result.passed else wrong)[n] += 1
    return Histogram(1.0 / bins, right, wrong)


def threshold_effect(scorecard: Scorecard, threshold: float) -> dict[str, int]:
    """What a minimum score would do to the answers: right ones lost, wrong ones dropped."""
    right_lost = wrong_dropped = 0
    for line in scorecard.lines:
        score = line.result.top_score
        if score is None or score >= threshold:
            continue
        if line.result.passed:
            right_lost += 1
        else:
            wrong_dropped += 1
    return {"right_lost": right_lost, "wrong_dropped": wrong_dropped}


def set_runs(test_set: TestSet) -> QuerySet[TestRun]:
    return test_set.runs.select_related("library__application", "created_by")


def library_test_sets(library: Library) -> QuerySet[TestSet]:
    return library.test_sets.annotate(n_queries=Count("queries", distinct=True)).order_by("name")


def set_queries(test_set: TestSet) -> QuerySet[TestQuery]:
    return _queries(test_set).order_by("pk")


def disagreements(first: Scorecard, second: Scorecard) -> list[tuple[Line, Line]]:
    """The queries one run answered right and the other wrong (of queries both ran)."""
    theirs = {line.query.pk: line for line in second.lines}
    out = []
    for line in first.lines:
        other = theirs.get(line.query.pk)
        if other is not None and other.result.passed != line.result.passed:
            out.append((line, other))
    return out


def comparable_runs(run: TestRun) -> QuerySet[TestRun]:
    """Other finished runs of the same set, newest first: what a run can be compared with."""
    return (
        TestRun.objects.filter(test_set=run.test_set, status=TestRun.Status.DONE)
        .exclude(pk=run.pk)
        .select_related("library__application")
    )


def counts_by_transform(test_set: TestSet) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for transform in test_set.queries.values_list("transform", flat=True):
        out[transform] += 1
    return dict(out)


def pickable_images(library: Library, limit: int | None) -> QuerySet[Image]:
    """Stored images a query can be made from or expect: live rows with a kept original, the
    newest first (`limit` of them for a form; None: all, to validate a post)."""
    rows = library.images.live().exclude(original="").order_by("-created_at", "-id")
    if limit is None:
        return rows
    return library.images.filter(pk__in=list(rows.values_list("pk", flat=True)[:limit])).order_by(
        "-created_at", "-id"
    )
