"""The library page's grid: filters with the API's semantics and keyset paging.

The listing pages by keyset on (created_at, id), or (brief, id) when sorted by brief, never by
OFFSET, so a deep page costs what the first one does (see ``bench/listing.py``, measured on
1,000,000 rows in PostgreSQL).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Count, Max, Q, QuerySet

from gallery.models import Image, ImageStatus, Library, Picture

PAGE_SIZE = 48
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
    "waits",
    "created_at",
    "source_kind",
)


@dataclass(frozen=True)
class ListingFilter:
    """What the listing shows. Tags use the API's semantics (baidu-wire §5.6, console §3.12)."""

    tags: tuple[int, ...] = ()
    tag_logic: int = 0  # 0 = AND, 1 = OR
    class_id1: int | None = None
    class_id2: int | None = None
    status: str = ""
    q: str = ""
    sort: str = "new"  # "new" (newest first), "old" (oldest first) or "brief" (A to Z)
    product_id: str = ""  # an Alibaba instance: the pictures of one product

    @property
    def key(self) -> str:
        """The column the grid is ordered by (then by id)."""
        return "brief" if self.sort == "brief" else "created_at"

    @property
    def descending(self) -> bool:
        return self.sort == "new"

    def where(self) -> Q:
        """Everything but the brief substring, which `library_page` applies itself."""
        where = Q()
        if self.product_id:
            where &= Q(picture__product_id=self.product_id)
        if self.tags:
            where &= _tags_q(self.tags, self.tag_logic)
        if self.class_id1 is not None:
            where &= Q(class_id1=self.class_id1)
        if self.class_id2 is not None:
            where &= Q(class_id2=self.class_id2)
        if self.status:
            where &= Q(status=self.status)
        return where

    def as_json(self) -> dict[str, Any]:
        """The filter as a task message carries it (`from_json` gives it back)."""
        return {**asdict(self), "tags": list(self.tags)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ListingFilter:
        return cls(**{**data, "tags": tuple(data.get("tags") or ())})

    @property
    def active(self) -> bool:
        return bool(
            self.tags
            or self.class_id1
            or self.class_id2
            or self.status
            or self.q
            or self.product_id
        )


def _tags_q(tags: tuple[int, ...], logic: int) -> Q:
    if len(tags) == 1 or logic == 1:
        return Q(tag1__in=tags) | Q(tag2__in=tags)
    a, b = tags[0], tags[1]
    if a == b:
        return Q(tag1=a) | Q(tag2=a)
    return Q(tag1=a, tag2=b) | Q(tag1=b, tag2=a)


@dataclass(frozen=True)
class Cursor:
    """A place in the grid: the last row's sort key (its created_at, or its brief when sorted
    by brief) and id."""

    key: datetime | str
    id: int

    def encode(self) -> str:
        head = f"b|{self.key}" if isinstance(self.key, str) else self.key.isoformat()
        return base64.urlsafe_b64encode(f"{head}|{self.id}".encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor | None:
        """A cursor from the query string, or None if it is not one of ours."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            head, pk = raw.rsplit("|", 1)
            if head.startswith("b|"):
                return cls(head[2:], int(pk))
            when = datetime.fromisoformat(head)
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


def _after(cursor: Cursor, key: str, descending: bool) -> Q:
    # The redundant bound on the key alone lets the database seek the index to the cursor
    # instead of filtering every row before it (row comparison is not portable).
    if descending:
        return Q(**{f"{key}__lte": cursor.key}) & (
            Q(**{f"{key}__lt": cursor.key}) | Q(id__lt=cursor.id)
        )
    return Q(**{f"{key}__gte": cursor.key}) & (
        Q(**{f"{key}__gt": cursor.key}) | Q(id__gt=cursor.id)
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
    key, descending = filters.key, filters.descending
    rows = _shown(library, filters)
    if library.is_instance:
        # Prefetched, not joined: a join would need `picture` among the deferred cell fields.
        rows = rows.prefetch_related("picture")
    order = [f"-{key}", "-id"] if descending else [key, "id"]
    reverse = [key, "id"] if descending else [f"-{key}", "-id"]
    back = _decoded(before, key)
    forward = _decoded(after, key) if back is None else None
    if back is not None:
        # Walk backwards from the cursor, then show the rows in the page's own order.
        found = _fetch(rows.filter(_after(back, key, not descending)), reverse, size + 1, filters.q)
        more_before = len(found) > size
        page = list(reversed(found[:size]))
        first = not more_before
    else:
        if forward is not None:
            rows = rows.filter(_after(forward, key, descending))
        found = _fetch(rows, order, size + 1, filters.q)
        page = found[:size]
        first = forward is None
    has_next = back is not None or len(found) > size
    next_cursor = _cursor(page[-1], key) if page and has_next else None
    if back is not None and page:
        # Coming back, there is always a next page: the one we came from.
        next_cursor = _cursor(page[-1], key)
    prev_cursor = _cursor(page[0], key) if page and not first else None
    return ListingPage(page, next_cursor, prev_cursor, first)


def _decoded(text: str, key: str) -> Cursor | None:
    """The cursor, if it is one of ours for this order (another sort's starts afresh)."""
    cursor = Cursor.decode(text) if text else None
    if cursor is None or isinstance(cursor.key, str) != (key == "brief"):
        return None
    return cursor


def _shown(library: Library, filters: ListingFilter) -> QuerySet[Image]:
    # A delete leaves the grid at once (console §3.8), though its task may still be at work;
    # the status filter "Deleting" lists what is on its way out.
    live = filters.status != ImageStatus.DELETING
    rows = Image.objects.live() if live else Image.objects.listed()
    return rows.filter(library=library).filter(filters.where())


# Filtered listings say how many rows match, counting at most this many: beyond it the count
# would cost more than the page (the listing benchmark's 1M rows).
COUNT_CAP = 1_000


@dataclass(frozen=True)
class Matches:
    count: int  # COUNT_CAP when there are more
    more: bool


def library_matching(*, library: Library, filters: ListingFilter) -> QuerySet[Image]:
    """Every row the grid shows under these filters, on any page (unordered): what a bulk
    action on "all matching" acts on, and what `library_matches` counts."""
    rows = _shown(library, filters)
    if filters.q:
        rows = rows.filter(brief__icontains=filters.q)
    return rows.order_by()


def library_matching_ids(*, library: Library, filters: ListingFilter) -> list[int]:
    """The ids of every row matching the filters, oldest first, read now."""
    return list(
        library_matching(library=library, filters=filters)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def library_matches(*, library: Library, filters: ListingFilter) -> Matches:
    """How many rows the filters match, up to COUNT_CAP."""
    found = library_matching(library=library, filters=filters).values("id")[: COUNT_CAP + 1]
    n = found.count()
    return Matches(min(n, COUNT_CAP), n > COUNT_CAP)


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
            f"ORDER BY w.{order[0].lstrip('-')} {direction}, w.id {direction} LIMIT %s",
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


def _cursor(image: Image, key: str) -> str:
    return Cursor(getattr(image, key), image.pk).encode()


@dataclass(frozen=True)
class Product:
    product_id: str
    pictures: int
    sample: Image  # its newest live picture, for a thumbnail


@dataclass(frozen=True)
class ProductPage:
    products: list[Product]
    next_after: str | None  # the last product id shown, when there are more


PRODUCT_PAGE = 50


def library_products(*, library: Library, after: str = "", size: int = PRODUCT_PAGE) -> ProductPage:
    """An instance's pictures grouped by product, in product id order, a page at a time."""
    rows = (
        Picture.objects.filter(image__library=library)
        .exclude(image__status__in=[ImageStatus.DELETING, ImageStatus.DELETED])
        .filter(product_id__gt=after)
        .values("product_id")
        .annotate(pictures=Count("image"), newest=Max("image_id"))
        .order_by("product_id")[: size + 1]
    )
    found = list(rows)
    shown = found[:size]
    samples = Image.objects.in_bulk([row["newest"] for row in shown])
    products = [
        Product(row["product_id"], row["pictures"], samples[row["newest"]]) for row in shown
    ]
    more = len(found) > size
    return ProductPage(products, shown[-1]["product_id"] if more and shown else None)
