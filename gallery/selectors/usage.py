"""An application's calls to its backend: the recent ones, and the totals per day and code."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count, Max, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from gallery.models import ApiCall, Application


def recent_calls(application: Application, size: int = 50) -> QuerySet[ApiCall]:
    return ApiCall.objects.filter(application=application).order_by("-created_at", "-id")[:size]


@dataclass
class Usage:
    days: list[date]
    services: list[str]
    calls: dict[str, dict[date, int]] = field(default_factory=dict)  # service -> day -> n
    errors: list[tuple[str, str, int]] = field(default_factory=list)  # code, msg, n
    total: int = 0
    failed: int = 0

    def per_day(self) -> list[tuple[date, dict[str, int], int]]:
        out = []
        for day in self.days:
            counts = {s: self.calls.get(s, {}).get(day, 0) for s in self.services}
            out.append((day, counts, sum(counts.values())))
        return out


def application_usage(application: Application, *, days: int = 30) -> Usage:
    """Calls per day per service and errors by code, over the last `days` days."""
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    since = timezone.make_aware(datetime.combine(first, datetime.min.time()))
    calls = ApiCall.objects.filter(application=application, created_at__gte=since)
    per_day = (
        calls.annotate(day=TruncDate("created_at"))
        .values("day", "service")
        .annotate(n=Count("id"))
        .order_by()
    )
    table: dict[str, dict[date, int]] = defaultdict(dict)
    total = 0
    for row in per_day:
        table[row["service"]][row["day"]] = row["n"]
        total += row["n"]
    errors = [
        (row["error_code"], row["msg"] or "", row["n"])
        for row in calls.exclude(error_code="")
        .values("error_code")
        .annotate(n=Count("id"), msg=Max("error_msg"))
        .order_by("-n", "error_code")
    ]
    return Usage(
        days=[first + timedelta(days=i) for i in range(days)],
        services=sorted(table),
        calls=dict(table),
        errors=errors,
        total=total,
        failed=sum(n for _code, _msg, n in errors),
    )
