"""Searching a library with an image, and "is this image already here?"; for an Alibaba
instance also searching with one of its pictures, and comparing two pictures.

Search is interactive: the backend is asked with a short timeout, and its hits are joined to
our rows by ref, so that every hit shows our thumbnail, brief and labels.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.core.files.storage import default_storage
from django.utils import timezone

from gallery import fetch, images
from gallery.backends import backend_for
from gallery.backends.aliyun import AliyunBackend, PictureQuery
from gallery.backends.base import Hit
from gallery.labels import Labels
from gallery.models import TYPE_OF_SERVICE, ActivityVerb, Image, ImageStatus, Library
from gallery.services.activity import Actor, activity_record
from searchapi.aliyun import Auction, PicInfo
from wire.aliyun import picture_ref


@dataclass(frozen=True)
class Match:
    hit: Hit
    image: Image | None  # our row, or None: an image added outside Tuku
    deleted: bool


@dataclass(frozen=True)
class SearchOutcome:
    matches: list[Match]
    has_more: bool


def query_image_fetch(url: str) -> bytes:
    """The bytes of a query image given by URL; raises fetch.FetchError."""
    return fetch.fetch(url).data


def query_image_of(image: Image) -> bytes | None:
    """A stored image's original as a query ("search with this image"); None without one."""
    if not image.original or not image.original.name:
        return None
    with default_storage.open(image.original.name, "rb") as handle:
        return handle.read()


def library_search(
    *,
    library: Library,
    data: bytes,
    labels: Labels = Labels(),
    tag_logic: int = 0,
    pn: int = 0,
    rn: int = 50,
    interactive: bool = True,
) -> SearchOutcome:
    """Hits in the backend's order and scores. Writes nothing: a results page is a GET, and
    the query's submission records the search (`library_search_record`). `interactive`: the
    short timeout of a page; a task (the test bench's runs) waits as long as other tasks."""
    images.inspect(data, library.service)
    labels = labels.clean(library)
    page = backend_for(library.application, interactive=interactive).search(
        library, image=data, labels=labels, tag_logic=tag_logic, pn=pn, rn=rn
    )
    refs = [hit.ref for hit in page.hits]
    rows: dict[str, Image] = {}
    for row in library.images.filter(cont_sign__in=refs).order_by("status", "-pk"):
        # A live row wins over a tombstone of the same image.
        if row.cont_sign and (row.cont_sign not in rows or row.status != ImageStatus.DELETED):
            rows.setdefault(row.cont_sign, row)
    missing_briefs = [hit.brief for hit in page.hits if hit.ref not in rows]
    by_brief = (
        {row.brief: row for row in library.images.live().filter(brief__in=missing_briefs)}
        if missing_briefs
        else {}
    )
    matches = []
    for hit in page.hits:
        found = rows.get(hit.ref) or by_brief.get(hit.brief)
        gone = found is not None and found.status in (ImageStatus.DELETING, ImageStatus.DELETED)
        matches.append(Match(hit, found, gone))
    return SearchOutcome(matches, page.has_more)


def library_search_record(*, actor: Actor, library: Library, **detail: object) -> None:
    """A user searched the library: the activity log, and the library's last use (Baidu
    releases libraries idle for a year)."""
    Library.objects.filter(pk=library.pk).update(last_activity_at=timezone.now())
    activity_record(
        actor=actor,
        application=library.application,
        verb=ActivityVerb.LIBRARY_SEARCH,
        obj=library,
        **detail,
    )


@dataclass(frozen=True)
class CheckOutcome:
    """An exact copy, else the search's verdict against the library's threshold."""

    verdict: str  # "exact", "likely" or "not_found"
    exact: Image | None
    matches: list[Match]
    top_score: float | None
    threshold: float


def library_check(*, actor: Actor, library: Library, data: bytes) -> CheckOutcome:
    """Is this image already in the library? Raises ImageInvalid or ApiError."""
    # The exact check needs only the hash; library_search decodes and validates the file.
    sha256 = hashlib.sha256(data).hexdigest()
    exact = library.images.held().filter(sha256=sha256).order_by("-created_at", "-id").first()
    if exact is not None:
        return CheckOutcome("exact", exact, [], None, library.match_threshold)
    outcome = library_search(library=library, data=data, rn=10)
    library_search_record(actor=actor, library=library, hits=len(outcome.matches))
    live = [m for m in outcome.matches if not m.deleted]
    top = live[0].hit.score if live else None
    verdict = "likely" if top is not None and top >= library.match_threshold else "not_found"
    return CheckOutcome(verdict, None, live, top, library.match_threshold)


# --- Alibaba instances ------------------------------------------------------------------------


@dataclass(frozen=True)
class PictureMatch:
    auction: Auction
    image: Image | None  # our row, or None: a picture added outside Tuku, or deleted since

    @property
    def ref(self) -> str:
        return picture_ref(self.auction.product_id, self.auction.pic_name)


@dataclass(frozen=True)
class PictureOutcome:
    matches: list[PictureMatch]
    total: int  # pictures matching in the instance (after threshold and distinct)
    pic_info: PicInfo | None  # the category and subject boxes the engine used for the query


def _aliyun(library: Library) -> AliyunBackend:
    backend = backend_for(library.application, interactive=True)
    if not isinstance(backend, AliyunBackend):
        raise TypeError(f"{library} is not an Alibaba instance")
    return backend


def _rows_of(library: Library, auctions: list[Auction]) -> dict[str, Image]:
    refs = [picture_ref(a.product_id, a.pic_name) for a in auctions]
    rows: dict[str, Image] = {}
    for row in library.images.live().filter(cont_sign__in=refs).select_related("picture"):
        rows[str(row.cont_sign)] = row
    return rows


def instance_search(
    *,
    library: Library,
    query: PictureQuery,
    data: bytes | None = None,
    of: Image | None = None,
) -> PictureOutcome:
    """Search an instance with a picture's bytes, or with one of its own pictures (`of`:
    SearchImageByName, no upload). Raises ImageInvalid, ValidationError or ApiError."""
    if of is not None:
        result = _aliyun(library).search_pictures(library, query=query, named=of.picture)
    else:
        images.inspect_picture(data or b"", TYPE_OF_SERVICE[library.service])
        result = _aliyun(library).search_pictures(library, query=query, image=data)
    rows = _rows_of(library, result.auctions)
    matches = [
        PictureMatch(a, rows.get(picture_ref(a.product_id, a.pic_name))) for a in result.auctions
    ]
    return PictureOutcome(matches, result.docs_return, result.pic_info)


def instance_check(*, library: Library, product_id: str, pic_name: str) -> PictureMatch | None:
    """CheckImageExists: the picture stored under the pair, with our row where we have one."""
    auction = _aliyun(library).picture_exists(library, product_id=product_id, pic_name=pic_name)
    if auction is None:
        return None
    return PictureMatch(
        auction, _rows_of(library, [auction]).get(picture_ref(product_id, pic_name))
    )


def instance_compare(*, library: Library, first: bytes, second: bytes) -> float:
    """CompareSimilarByImage: how alike two pictures are, by the instance's own scoring."""
    service_type = TYPE_OF_SERVICE[library.service]
    images.inspect_picture(first, service_type)
    images.inspect_picture(second, service_type)
    return _aliyun(library).compare(library, first=first, second=second)
