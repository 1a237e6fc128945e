"""Reads of the console domain: the listing, counts, history, activity and usage.

The listing pages by keyset on (created_at, id), never by OFFSET, so a deep page costs what the
first one does (see ``bench/listing.py``, measured on 1,000,000 rows in PostgreSQL).
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Max, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from gallery.models import Activity, ApiCall, Application, Batch, Image, ImageStatus, Library

PAGE_SIZE = 48
LISTED = ~Q(status=ImageStatus.DELETED)
# The columns a grid cell shows; the rest of the row stays in the database.
_CELL_FIELDS = (
    "id",
    "library_id",
    "brief",
    "status",
    "tag1",
    "tag2",
    "class_id1",
    "class_id2",
    "thumbnail",
    "error_code",
    "error_msg",
    "pending_update",
    "created_at",
    "source_kind",
)


@dataclass(frozen=True)
class ListingFilter:
    """What the listing shows. Tags use the API's semantics (spec §5.6, console spec §3.12)."""

    tags: tuple[int, ...] = ()
    tag_logic: int = 0  # 0 = AND, 1 = OR
    class_id1: int | None = None
    class_id2: int | None = None
    status: str = ""
    q: str = ""
    oldest_first: bool = False

    def where(self) -> Q:
        """Everything but the brief substring, which `library_page` applies itself."""
        where = LISTED
        if self.tags:
            where &= _tags_q(self.tags, self.tag_logic)
        if self.class_id1 is not None:
            where &= Q(class_id1=self.class_id1)
        if self.class_id2 is not None:
            where &= Q(class_id2=self.class_id2)
        if self.status:
            where &= Q(status=self.status)
        return where

    @property
    def active(self) -> bool:
        return bool(self.tags or self.class_id1 or self.class_id2 or self.status or self.q)


def _tags_q(tags: tuple[int, ...], logic: int) -> Q:
    if len(tags) == 1 or logic == 1:
        return Q(tag1__in=tags) | Q(tag2__in=tags)
    a, b = tags[0], tags[1]
    if a == b:
        return Q(tag1=a) | Q(tag2=a)
    return Q(tag1=a, tag2=b) | Q(tag1=b, tag2=a)


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    id: int

    def encode(self) -> str:
        raw = f"{self.created_at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor | None:
        """A cursor from the query string, or None if it is not one of ours."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            stamp, pk = raw.split("|")
            when = datetime.fromisoformat(stamp)
            if when.tzinfo is None:
                return None
            return cls(when, int(pk))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None


@dataclass(frozen=True)
class ListingPage:
    images: list[Image]
    next_cursor: str | None  # further in the chosen order
    prev_cursor: str | None  # back towards the first page
    first: bool


def _after(cursor: Cursor, descending: bool) -> Q:
    # The redundant bound on created_at alone lets the database seek the index to the cursor
    # instead of filtering every row before it (row comparison is not portable).
    if descending:
        return Q(created_at__lte=cursor.created_at) & (
            Q(created_at__lt=cursor.created_at) | Q(id__lt=cursor.id)
        )
    return Q(created_at__gte=cursor.created_at) & (
        Q(created_at__gt=cursor.created_at) | Q(id__gt=cursor.id)
    )


def library_page(
    *,
    library: Library,
    filters: ListingFilter,
    after: str = "",
    before: str = "",
    size: int = PAGE_SIZE,
) -> ListingPage:
    """One page of the grid: `after` a cursor (next page) or `before` one (previous page)."""
    descending = not filters.oldest_first
    rows: QuerySet[Image] = Image.objects.filter(library=library).filter(filters.where())
    order = ["-created_at", "-id"] if descending else ["created_at", "id"]
    reverse = ["created_at", "id"] if descending else ["-created_at", "-id"]
    back = Cursor.decode(before) if before else None
    forward = Cursor.decode(after) if after and back is None else None
    if back is not None:
        # Walk backwards from the cursor, then show the rows in the page's own order.
        found = _fetch(rows.filter(_after(back, not descending)), reverse, size + 1, filters.q)
        more_before = len(found) > size
        page = list(reversed(found[:size]))
        first = not more_before
    else:
        if forward is not None:
            rows = rows.filter(_after(forward, descending))
        found = _fetch(rows, order, size + 1, filters.q)
        page = found[:size]
        first = forward is None
    has_next = back is not None or len(found) > size
    next_cursor = _cursor(page[-1]) if page and has_next else None
    if back is not None and page:
        # Coming back, there is always a next page: the one we came from.
        next_cursor = _cursor(page[-1])
    prev_cursor = _cursor(page[0]) if page and not first else None
    return ListingPage(page, next_cursor, prev_cursor, first)


# How many rows, in listing order, a brief search reads before it asks the database's planner.
PROBE_ROWS = 10_000


def _fetch(rows: QuerySet[Image], order: list[str], limit: int, q: str) -> list[Image]:
    """The first `limit` rows in `order`; a brief substring (`q`) is found in two steps.

    Whether walking the listing index or the trigram index is cheaper depends on how common
    the substring is, which no planner estimates well for LIKE '%...%'. So: first look only at
    the next PROBE_ROWS rows in order (a bounded index walk: enough for any substring in more
    than ~0.5 % of the rows); only if that window is full and holds too few matches, run the
    plain query, where PostgreSQL's trigram index (migration 0002) finds rare substrings fast.
    """
    if not q:
        return list(rows.only(*_CELL_FIELDS).order_by(*order)[:limit])
    window = rows.order_by(*order).values("id", "brief", "created_at")[:PROBE_ROWS]
    inner, params = window.query.sql_with_params()
    direction = "DESC" if order[0].startswith("-") else "ASC"
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT w.id FROM ({inner}) w WHERE UPPER(w.brief) LIKE UPPER(%s) ESCAPE '\\' "  # noqa: S608 - the inner query is the ORM's, with parameters
            f"ORDER BY w.created_at {direction}, w.id {direction} LIMIT %s",
            (*params, pattern, limit),
        )
        ids = [row[0] for row in cursor.fetchall()]
        if len(ids) < limit:
            cursor.execute(f"SELECT COUNT(*) FROM ({inner}) w", params)  # noqa: S608
            complete = cursor.fetchone()[0] < PROBE_ROWS
        else:
            complete = True
    if not complete:
        return list(rows.filter(brief__icontains=q).only(*_CELL_FIELDS).order_by(*order)[:limit])
    by_id = {image.pk: image for image in Image.objects.filter(pk__in=ids).only(*_CELL_FIELDS)}
    return [by_id[pk] for pk in ids if pk in by_id]


def _cursor(image: Image) -> str:
    return Cursor(image.created_at, image.pk).encode()


@dataclass(frozen=True)
class LibraryCounts:
    by_status: dict[str, int]
    total: int  # live rows: everything but tombstones and rows being deleted

    def get(self, status: str) -> int:
        return self.by_status.get(status, 0)


def library_counts(library: Library) -> LibraryCounts:
    """Exact counts by status in two index-only reads: the library's total, and the statuses
    other than `indexed` (few rows in a healthy library); `indexed` is the difference. A
    grouped count over every row would read the whole table instead."""
    rows = Image.objects.filter(library=library)
    everything = rows.count()
    others = (
        rows.filter(status__in=[s for s in ImageStatus if s != ImageStatus.INDEXED])
        .values("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    by_status = {row["status"]: row["n"] for row in others}
    by_status[ImageStatus.INDEXED] = everything - sum(by_status.values())
    deleted = by_status.pop(ImageStatus.DELETED, 0)
    total = everything - deleted - by_status.get(ImageStatus.DELETING, 0)
    return LibraryCounts(by_status, total)


def image_history(image: Image, limit: int = 50) -> QuerySet[Activity]:
    return Activity.objects.filter(object_type="image", object_id=image.pk).select_related("actor")[
        :limit
    ]


def images_status(library: Library, ids: list[int]) -> QuerySet[Image]:
    return Image.objects.filter(library=library, pk__in=ids[:500]).only(
        "id",
        "status",
        "error_code",
        "error_msg",
        "duplicate_of",
        "pending_update",
        "cont_sign",
        "brief",
        "library_id",
    )


def recent_uploads(library: Library, user: Any, hours: int = 12) -> list[Image]:
    """The user's rows of the last hours that are still on their way or failed."""
    since = timezone.now() - timedelta(hours=hours)
    return list(
        Image.objects.filter(
            library=library,
            uploaded_by=user,
            created_at__gte=since,
            status__in=[ImageStatus.PENDING, ImageStatus.INDEXING, ImageStatus.FAILED],
        ).order_by("-created_at", "-id")[:200]
    )


# --- activity and usage ---------------------------------------------------------------------


def application_activity(
    application: Application, *, before: int | None = None, size: int = 50
) -> tuple[list[Activity], int | None]:
    """Newest first, keyset by id; returns the page and the cursor of the next one."""
    rows = Activity.objects.filter(application=application).select_related("actor")
    if before is not None:
        rows = rows.filter(id__lt=before)
    page = list(rows.order_by("-id")[: size + 1])
    more = len(page) > size
    page = page[:size]
    return page, (page[-1].pk if more and page else None)


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


@dataclass(frozen=True)
class BatchProgress:
    total: int
    settled: int
    counts: dict[str, int]
    rows: list[Image]
    problems: list[dict[str, Any]]

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.settled / self.total)) if self.total else 100


def batch_progress(batch: Batch, limit: int = 1000) -> BatchProgress:
    """Where a job stands: rows per state, each row's result, and the inputs refused."""
    if batch.kind == Batch.Kind.CLEAR:
        left = batch.library.images.exclude(status=ImageStatus.DELETED).count()
        total = max(batch.total, left)
        return BatchProgress(total, total - left, {"left": left}, [], [])
    counts = dict(batch.images.values_list("status").annotate(n=Count("id")).order_by())
    problems = list(batch.problems)
    in_flight = counts.get(ImageStatus.PENDING, 0) + counts.get(ImageStatus.INDEXING, 0)
    rows_total = sum(counts.values())
    total = max(batch.total, rows_total + len(problems))
    rows = list(batch.images.select_related("duplicate_of").order_by("pk")[:limit])
    settled = rows_total - in_flight + len(problems)
    return BatchProgress(total, settled, counts, rows, problems)


def library_batches(library: Library, limit: int = 10) -> QuerySet[Batch]:
    return Batch.objects.filter(library=library).order_by("-created_at", "-id")[:limit]
