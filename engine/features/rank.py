"""Scoring and ordering a shortlist: monotone cosine scores for the ranked services, geometric
verification (or the thumbnail fallback) for the same-image services (baidu-wire §7)."""

from __future__ import annotations

import numpy as np

from engine.features import local as lf
from engine.features.extract import VERIFIED_SERVICES, Features, check_service
from engine.features.verify import verify

# How many of the index's best entries go to rank(). Verifying one costs ~1.2 ms of one core
# (features.verify spreads them over all cores), and 40 hold 98.5 % of true entries at
# 100k; the ranked services rank 300 and the rest of the window keeps similarity_score
# (docs/engine-features.md).
SHORTLIST: dict[str, int] = {
    "same_hq": 40,
    "picturebook": 40,
    "similar": 300,
    "product": 300,
    "materiel": 300,
}

# similar / product / materiel: score = clip((cosine - SIMILAR_FLOOR) / (1 - SIMILAR_FLOOR)),
# cosine of the 256-d global vectors. Unrelated photos have cosines of ~0.2-0.6 (the
# embedding is non-negative before projection), so the floor maps most of them to
# 0-0.4 while recompressed, resized or brightened copies stay above ~0.8
# (docs/engine-features.md has the measured distributions).
SIMILAR_FLOOR = 0.3


def similarity_score(service: str, cosine: float) -> float:
    """Monotone map of a global-vector cosine to [0, 1] for the ranked services."""
    check_service(service)
    return float(min(1.0, max(0.0, (cosine - SIMILAR_FLOOR) / (1.0 - SIMILAR_FLOOR))))


# same_hq / picturebook: a verified match scores 0.5 at MIN_INLIERS inliers, rising to ~1
# with more (copies typically have hundreds).
VERIFIED_FLOOR = 0.5
VERIFIED_SCALE = 60.0


def verified_score(inliers: int) -> float:
    """Score of a geometrically verified match from its inlier count, in [0.5, 1]."""
    x = max(0, inliers - lf.MIN_INLIERS)
    return float(1.0 - (1.0 - VERIFIED_FLOOR) * np.exp(-x / VERIFIED_SCALE))


def thumbnail_score(ncc: float) -> float:
    """Score of a match found by the thumbnail fallback: 0.5 at THUMB_MIN_NCC, 1 at 1."""
    x = (ncc - lf.THUMB_MIN_NCC) / (1.0 - lf.THUMB_MIN_NCC)
    return float(min(1.0, max(VERIFIED_FLOOR, VERIFIED_FLOOR + (1.0 - VERIFIED_FLOOR) * x)))


def rank(
    service: str, query: Features, candidates: list[tuple[int, float, bytes | None]]
) -> list[tuple[int, float]]:
    """Order a shortlist (entry_id, index cosine, stored local blob), best first.

    same_hq / picturebook: only the candidates whose keypoints verify geometrically
    (plain or mirrored), scored by verified_score(), or, failing that, whose thumbnails
    correlate (thumbnail_score()); where the query or the entry has fewer than MIN_KEYPOINTS
    keypoints (nothing to verify), the thumbnails must also be near-identical in level.
    Others: every candidate, scored by similarity_score(). Ties break by entry id so that
    results are deterministic.
    """
    check_service(service)
    if service not in VERIFIED_SERVICES:
        scored = [(eid, similarity_score(service, cos)) for eid, cos, _ in candidates]
        return sorted(scored, key=lambda t: (-t[1], t[0]))
    probe = query.query_local or query.local
    if probe is None:
        return []
    plain = lf.parse(probe)
    verdicts = verify(plain, query.mirror, [blob for _, _, blob in candidates])
    # The thumbnail fallback compares the query's and its mirror image's thumbnails.
    thumbs = [plain] if query.mirror is None else [plain, query.mirror.thumb]
    query_smooth = len(plain.xy) < lf.MIN_KEYPOINTS
    out: list[tuple[int, float]] = []
    for (eid, cos, _), verdict in zip(candidates, verdicts, strict=True):
        entry = verdict.entry
        if entry is None:
            continue  # no blob, or one of another FEATURES_VERSION
        if verdict.inliers >= lf.MIN_INLIERS:
            out.append((eid, verified_score(verdict.inliers)))
        elif cos >= lf.THUMB_MIN_COSINE:
            smooth = query_smooth or len(entry.xy) < lf.MIN_KEYPOINTS
            ncc = _thumbnail_match(thumbs, entry, near_identity=smooth)
            if ncc >= lf.THUMB_MIN_NCC:
                out.append((eid, thumbnail_score(ncc)))
    return sorted(out, key=lambda t: (-t[1], t[0]))


def _thumbnail_match(
    thumbs: list[lf.Keypoints], entry: lf.Keypoints, *, near_identity: bool
) -> float:
    """The best thumbnail correlation of the query (or its mirror) with the entry; with
    ``near_identity`` (a side too smooth to verify) only thumbnails that also agree in level
    count, so that two gradients or two skies of different shades do not match."""
    best = -1.0
    for t in thumbs:
        ncc = lf.thumbnail_correlation(t, entry)
        if near_identity and lf.thumbnail_mean_difference(t, entry) > lf.THUMB_MAX_MEAN_DIFF:
            continue
        best = max(best, ncc)
    return best
