"""Run a test set against a library through its real backend and print the scorecard.

    manage.py testset_run <set id> [--library <id>] [--min-recall1 0.9] [--min-recall10 0.95]
        [--min-nothing 0.9] [--min-mrr 0.9] [--max-p95-ms 500]

The run is kept like one started from the console. The exit status is 1 when a figure falls
below (or, for latency, above) a threshold given, so that a deploy script can stop on it.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gallery.models import Library, TestSet
from gallery.selectors.testbench import Figures, run_scorecard
from gallery.services.testbench import testrun_run, testrun_start
from gallery.transforms import TRANSFORM_NAMES

CHECKS = (
    ("min_recall1", "recall1", "R@1", False),
    ("min_recall10", "recall10", "R@10", False),
    ("min_nothing", "nothing_share", "nothing", False),
    ("min_mrr", "mrr", "MRR", False),
    ("max_p95_ms", "p95", "p95 ms", True),
)


def _f(value: float | None) -> str:
    return "     -" if value is None else f"{value:6.3f}"


def _ms(value: float | None) -> str:
    return "      -" if value is None else f"{value:7.1f}"


def line(label: str, f: Figures) -> str:
    return (
        f"{label:26s} {f.queries:5d} {_f(f.recall1)} {_f(f.recall10)} {_f(f.mrr)} "
        f"{_f(f.nothing_share)} {f.errors:6d} {_ms(f.p50)} {_ms(f.p95)}"
    )


class Command(BaseCommand):
    help = "Run a test set through a library's real backend and print its scorecard."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("set_id", type=int)
        parser.add_argument("--library", type=int, help="another library of the same service")
        parser.add_argument("--rn", type=int, default=50, help="hits asked per query")
        parser.add_argument("--min-recall1", type=float)
        parser.add_argument("--min-recall10", type=float)
        parser.add_argument("--min-nothing", type=float)
        parser.add_argument("--min-mrr", type=float)
        parser.add_argument("--max-p95-ms", type=float)

    def handle(self, *args: Any, **options: Any) -> None:
        test_set = (
            TestSet.objects.select_related("library__application")
            .filter(pk=options["set_id"])
            .first()
        )
        if test_set is None:
            raise CommandError(f"no test set {options['set_id']}")
        library = None
        if options["library"] is not None:
            library = (
                Library.objects.select_related("application").filter(pk=options["library"]).first()
            )
            if library is None:
                raise CommandError(f"no library {options['library']}")
        try:
            run = testrun_start(
                actor=None, test_set=test_set, library=library, rn=options["rn"], dispatch=False
            )
        except Exception as exc:
            raise CommandError(str(exc)) from exc
        testrun_run(run_id=run.pk)
        run.refresh_from_db()
        card = run_scorecard(run)
        out = self.stdout
        out.write(
            f"test set {test_set.pk} {test_set.name!r}, run {run.pk} on {run.library} "
            f"(backend {run.backend}, {run.library_size} images, "
            f"features {run.features_version or '-'})"
        )
        out.write(
            f"{'transform':26s} {'n':>5s} {'R@1':>6s} {'R@10':>6s} {'MRR':>6s} "
            f"{'empty':>6s} {'errors':>6s} {'p50 ms':>7s} {'p95 ms':>7s}"
        )
        for f in card.by_transform:
            out.write(line(f.key if f.key in TRANSFORM_NAMES else "uploaded", f))
        out.write(line("ALL", card.overall))
        failed = []
        for option, attribute, label, upper in CHECKS:
            limit = options[option]
            if limit is None:
                continue
            value = getattr(card.overall, attribute)
            if value is None:
                continue
            if (value > limit) if upper else (value < limit):
                failed.append(f"{label} {value:.3f} {'>' if upper else '<'} {limit}")
        if failed:
            raise CommandError("below the thresholds: " + "; ".join(failed), returncode=1)
        out.write("ok")
