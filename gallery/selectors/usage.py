"""An application's calls to its backend: the recent ones, and the totals per day, by outcome,
operation and service, and by error code.

A call here is an operation's outcome: the exchange that was its last word. The answers the
client retried itself (a QPS limit it backed off from, a stale token it renewed;
`ApiCall.retried`) are counted apart, so a busy day of QPS limits shows as calls that got
through after waiting, not as failures.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

from django.db.models import Count, Max, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from gallery.models import ApiCall, Application, Service

# The periods the usage page offers, in days.
PERIODS = (7, 30, 90)

Outcome = Literal["succeeded", "retried", "failed"]
# Succeeded at once; succeeded after backing off from a QPS limit; failed.
OUTCOMES: tuple[Outcome, ...] = ("succeeded", "retried", "failed")

# What kind of operation an ApiCall.operation is: Baidu's path ends and Alibaba's actions.
OPERATION_KIND = {
    "add": "add",
    "AddImage": "add",
    "search": "search",
    "SearchImageByPic": "search",
    "SearchImageByName": "search",
    "SearchImageByFilter": "search",
    "update": "update",
    "UpdateImage": "update",
    "delete": "delete",
    "DeleteImage": "delete",
}
OPERATIONS = ("add", "search", "update", "delete", "other")

Counts = dict[str, dict[date, int]]  # series -> day -> n
SERVICE_ORDER = {service: i for i, service in enumerate(Service.values)}


def recent_calls(application: Application, size: int = 50) -> QuerySet[ApiCall]:
    return ApiCall.objects.filter(application=application).order_by("-created_at", "-id")[:size]


def operation_kind(operation: str) -> str:
    return OPERATION_KIND.get(operation, "other")


@dataclass
class Usage:
    days: list[date]
    services: list[str]  # as recorded: a Baidu service or an Alibaba instance name
    operations: list[str]  # the kinds that occur, in OPERATIONS' order
    by_outcome: Counts = field(default_factory=dict)
    by_operation: Counts = field(default_factory=dict)
    by_service: Counts = field(default_factory=dict)
    errors: list[tuple[str, str, int]] = field(default_factory=list)  # code, msg, n
    total: int = 0
    succeeded: int = 0
    retried: int = 0  # succeeded after a QPS limit
    failed: int = 0
    backed_off: int = 0  # answers the client retried: not calls

    def per_day(self, counts: Counts, keys: list[str]) -> list[tuple[date, list[int], int]]:
        """(day, n per key in `keys`' order, the day's total) for every day of the period."""
        out = []
        for day in self.days:
            values = [counts.get(key, {}).get(day, 0) for key in keys]
            out.append((day, values, sum(values)))
        return out


def application_usage(application: Application, *, days: int = 30) -> Usage:
    """Calls per day by outcome, operation and service, and failures by code, over the last
    `days` days (today included) in the console's time zone."""
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    since = timezone.make_aware(datetime.combine(first, datetime.min.time()))
    calls = ApiCall.objects.filter(application=application, created_at__gte=since)
    outcome = Q(retried=False)
    rows = (
        calls.annotate(day=TruncDate("created_at"))
        .values("day", "service", "operation")
        .annotate(
            # Not named after the outcomes: "retried" is a field of the model.
            n_succeeded=Count("id", filter=outcome & Q(error_code="", qps_retries=0)),
            n_retried=Count("id", filter=outcome & Q(error_code="", qps_retries__gt=0)),
            n_failed=Count("id", filter=outcome & ~Q(error_code="")),
            n_backed_off=Count("id", filter=Q(retried=True)),
        )
        .order_by()
    )
    by_outcome: Counts = defaultdict(lambda: defaultdict(int))
    by_operation: Counts = defaultdict(lambda: defaultdict(int))
    by_service: Counts = defaultdict(lambda: defaultdict(int))
    backed_off = 0
    for row in rows:
        day = row["day"]
        counted = {
            "succeeded": row["n_succeeded"],
            "retried": row["n_retried"],
            "failed": row["n_failed"],
        }
        n = 0
        for name in OUTCOMES:
            if counted[name]:
                by_outcome[name][day] += counted[name]
                n += counted[name]
        backed_off += row["n_backed_off"]
        if n:
            by_operation[operation_kind(row["operation"])][day] += n
            by_service[row["service"]][day] += n
    errors = [
        (row["error_code"], row["msg"] or "", row["n"])
        for row in calls.filter(outcome)
        .exclude(error_code="")
        .values("error_code")
        .annotate(n=Count("id"), msg=Max("error_msg"))
        .order_by("-n", "error_code")
    ]
    totals = {name: sum(by_outcome[name].values()) for name in OUTCOMES}
    return Usage(
        days=[first + timedelta(days=i) for i in range(days)],
        # Baidu's services in their usual order, then Alibaba's instances by name.
        services=sorted(by_service, key=lambda s: (SERVICE_ORDER.get(s, len(SERVICE_ORDER)), s)),
        operations=[kind for kind in OPERATIONS if kind in by_operation],
        by_outcome={name: dict(by_outcome[name]) for name in OUTCOMES},
        by_operation={k: dict(v) for k, v in by_operation.items()},
        by_service={k: dict(v) for k, v in by_service.items()},
        errors=errors,
        total=sum(totals.values()),
        succeeded=totals["succeeded"],
        retried=totals["retried"],
        failed=totals["failed"],
        backed_off=backed_off,
    )
