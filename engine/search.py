"""Search: filter, scan, rank and page (baidu-wire §5.9, §6.2, §7)."""

from __future__ import annotations

from dataclasses import dataclass

from engine import index
from engine.errors import WireError
from engine.features.extract import (
    FEATURES_VERSION,
    VERIFIED_SERVICES,
    Features,
    query_vectors,
)
from engine.features.rank import SHORTLIST, rank, similarity_score
from engine.models import EngineEntry, EngineEntryBlob, EngineLibrary
from engine.vectors import Filter, LibraryGoneError, VectorIndex
from wire.baidu import PAGE_WINDOW


@dataclass(frozen=True)
class Hit:
    cont_sign: str
    score: float
    brief: str


@dataclass(frozen=True)
class Page:
    hits: list[Hit]
    has_more: bool


def library_search(
    *,
    library: EngineLibrary,
    query: Features,
    cont_sign: str,
    flt: Filter,
    pn: int,
    rn: int,
) -> Page:
    service = library.service
    try:
        lib_index: VectorIndex = index.for_library(library)
    except LibraryGoneError:
        index.forget(library.pk)  # deleted by the console after this call looked it up
        raise WireError(216017) from None
    vectors = query_vectors(service, query)
    shortlist = SHORTLIST[service]

    # An identical file ranks first with score 1.0 if it passes the filters (baidu-wire §7.2).
    exact = (
        EngineEntry.objects.filter(
            library=library, cont_sign=cont_sign, features_version=FEATURES_VERSION
        )
        .values_list("id", "tag1", "tag2", "class_id1", "class_id2")
        .first()
    )
    exact_id = None
    if exact is not None:
        entry_id, tag1, tag2, class_id1, class_id2 = exact
        tags = tuple(t for t in (tag1, tag2) if t is not None)
        if flt.admits(tags, class_id1, class_id2, entry_id):
            exact_id = entry_id

    scores: dict[int, float]
    if service in VERIFIED_SERVICES:
        # Only verified matches are returned: the shortlist goes through rank().
        candidates = lib_index.search(vectors, flt, shortlist)
        blobs = dict(
            EngineEntryBlob.objects.filter(entry_id__in=[c[0] for c in candidates]).values_list(
                "entry_id", "local"
            )
        )
        ranked = rank(
            service,
            query,
            [(eid, cos, _bytes(blobs.get(eid))) for eid, cos in candidates],
        )
        scores = dict(ranked)
    else:
        # Every filtered entry has a score: rank() orders the shortlist, the rest of the
        # window keeps the monotone mapping of its cosine.
        candidates = lib_index.search(vectors, flt, max(PAGE_WINDOW, shortlist) + 1)
        head, tail = candidates[:shortlist], candidates[shortlist:]
        scores = dict(rank(service, query, [(eid, cos, None) for eid, cos in head]))
        for eid, cos in tail:
            scores.setdefault(eid, similarity_score(service, cos))
    if exact_id is not None:
        scores[exact_id] = 1.0

    ordered = sorted(scores.items(), key=lambda item: (-item[1], item[0] != exact_id, item[0]))[
        :PAGE_WINDOW
    ]
    end = min(pn + rn, PAGE_WINDOW)
    page = ordered[pn:end]
    rows = {
        eid: (sign, brief)
        for eid, sign, brief in EngineEntry.objects.filter(
            id__in=[eid for eid, _ in page]
        ).values_list("id", "cont_sign", "brief")
    }
    hits = [
        Hit(cont_sign=rows[eid][0], score=min(1.0, max(0.0, score)), brief=rows[eid][1])
        for eid, score in page
        if eid in rows  # deleted by a concurrent call since the scan
    ]
    return Page(hits=hits, has_more=len(ordered) > end)


def _bytes(value: object) -> bytes | None:
    return bytes(value) if isinstance(value, bytes | memoryview) else None
