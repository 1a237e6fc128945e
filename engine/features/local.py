"""Local features (ORB) and geometric verification for the same-image services.

Why ORB + a similarity-transform RANSAC (measured in docs/engine-features.md):

* ORB is fast to extract (a few ms at 640 px) and its 32-byte binary descriptors keep
  the stored blob small (~23 KB for 700 keypoints and a 32x32 thumbnail).
* Keypoints are spread over an 8x8 grid: without it, overlaid text or a logo takes most
  of the keypoint budget and the picture underneath stops matching.
* Matching goes from the stored keypoints to an LSH index over the query's: ~10x
  faster than brute force at the same recall, so a shortlist of dozens can be verified.
* The geometric model is a similarity (rotation + uniform scale + shift) fitted by
  RANSAC, then a homography refit on its inliers to allow a modest change of viewpoint.
  A 4-DoF model almost never gathers more than a handful of inliers between unrelated
  images, unlike a raw homography, which happily collapses onto a few points.
* Mirrored copies: ORB descriptors are not mirror-invariant, so a query also carries its
  mirror image (MirrorQuery), whose keypoints are detected only when a candidate's plain
  match is not conclusive, and both are tried.
* Pictures with too few corners (bokeh, gradients) fall back to comparing 32x32
  thumbnails, which only full-frame copies pass.

Everything is deterministic: OpenCV's RANSAC seeds its own generator, and the LSH tables
are drawn from the thread-local generator right after seeding it.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

# Local features are computed on a grey copy whose longest side is SIDE (small images are
# enlarged up to MAX_UPSCALE), so the same picture at different sizes looks alike.
SIDE = 640
MAX_UPSCALE = 2.0
STORED_KEYPOINTS = 700  # what an entry keeps (database, not RAM)
QUERY_KEYPOINTS = 1500  # a query keeps more: it pays off against overlays and crops
GRID = 8
# FAST thresholds tried in turn until enough corners are found (smooth photos need low ones).
FAST_THRESHOLDS = (20, 10, 5, 2)
SPARSE_CELL_THRESHOLD = 5  # FAST threshold of the extra pass for nearly empty cells
# Fewer than this and nothing could ever be verified: such a picture (a soft gradient,
# a blurred photo, maybe no corner at all) is stored anyway and matched by near-identity
# (rank: the thumbnail fallback with THUMB_MAX_MEAN_DIFF as well).
MIN_KEYPOINTS = 20
# Thumbnail fallback (thumbnail_correlation): a candidate without enough inliers is still
# a match if its thumbnail correlates >= THUMB_MIN_NCC with the query's (or its mirror's),
# the aspect ratios agree within ~5 % and the index cosine is >= THUMB_MIN_COSINE.
THUMB = 32
THUMB_MIN_NCC = 0.9
THUMB_MIN_COSINE = 0.5
THUMB_MAX_ASPECT_LOG = 0.05
# When either side has fewer than MIN_KEYPOINTS, the thumbnails must also agree in level:
# mean absolute difference <= THUMB_MAX_MEAN_DIFF grey levels. Correlation alone cannot tell
# two skies or two gradients in one direction apart (443 of 12,113 unrelated low-texture
# pairs passed it); copies, JPEG q30, resizes and mirrors measured <= 1.08, unrelated
# low-texture pairs >= 1.99 (docs/engine-features.md, "Pictures with no content").
THUMB_MAX_MEAN_DIFF = 1.5

RATIO = 0.8  # Lowe's ratio test
RANSAC_PX = 5.0
# Shortest accepted match. Between unrelated shortlisted photos (16,800 pairs) the
# similarity model found at most 8 inliers; true matches typically have 50-700.
MIN_INLIERS = 15
DISTINCT_PX = 3.0  # inliers closer than this on either side count once
# Guided matching (see _guided) starts from a first mapping with GUIDE_MIN_INLIERS to
# MIN_INLIERS - 1 inliers; what it finds counts only from GUIDED_MIN_INLIERS on (unrelated
# pairs: p99.9 8, max 21; docs/engine-features.md).
GUIDE_MIN_INLIERS = 6
GUIDED_MIN_INLIERS = 30
GUIDE_RADIUS_PX = 6.0
GUIDE_NEIGHBOURS = 3
GUIDE_MAX_HAMMING = 64
# A match must cover some of both pictures (fraction of the SIDE x SIDE frame) ...
MIN_QUERY_SPREAD = 0.01
MIN_ENTRY_SPREAD = 0.002
# ... and map the query with a plausible scale (query size / entry size in SIDE frames).
SCALE_RANGE = (0.15, 6.0)
MAX_PERSPECTIVE = 0.002  # |h31|, |h32| of the refitted homography, in SIDE-pixel units

_MAGIC = b"TKL3"
_HEADER = struct.Struct("<4sHHH")
_DESC = 32


@dataclass(frozen=True)
class Keypoints:
    xy: np.ndarray  # (n, 2) float32 in the SIDE frame
    desc: np.ndarray  # (n, 32) uint8 ORB descriptors
    width: int
    height: int
    thumb: np.ndarray  # (THUMB, THUMB) uint8 grey thumbnail of the whole frame


def grey(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = min(MAX_UPSCALE, SIDE / max(h, w))
    g = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    if scale != 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
        g = cv2.resize(g, size, interpolation=interp)
    return g


def detect(g: np.ndarray, n: int) -> Keypoints:
    """Up to n ORB keypoints, ordered so that any prefix is spread over the grid.

    Order: the strongest corner of every grid cell, then the second strongest of every
    cell, and so on. A stored entry keeps the first STORED_KEYPOINTS of the same order a
    query keeps QUERY_KEYPOINTS of, so the two sets are consistent.

    The FAST threshold is lowered until n corners are found; cells that are still nearly
    empty (sky, bokeh, or the picture between the lines of an overlaid caption, which
    otherwise keeps the threshold high) get the corners of a low-threshold pass as well.
    """
    h, w = g.shape
    thumb = cv2.resize(g, (THUMB, THUMB), interpolation=cv2.INTER_AREA)
    # The candidates do not depend on n (only the prefix kept does), so that an image
    # stores the same blob whether it was extracted for a query or for storage.
    target = QUERY_KEYPOINTS
    orb = cv2.ORB.create(nfeatures=3 * target, fastThreshold=FAST_THRESHOLDS[0])
    kps: list[cv2.KeyPoint] = []
    threshold = FAST_THRESHOLDS[0]
    for threshold in FAST_THRESHOLDS:
        orb.setFastThreshold(threshold)
        kps = list(orb.detect(g, None))
        if len(kps) >= target:
            break
    if threshold > SPARSE_CELL_THRESHOLD and kps:
        have = np.bincount(_cells(_points(kps), w, h), minlength=GRID * GRID)
        orb_low = cv2.ORB.create(nfeatures=4 * target, fastThreshold=SPARSE_CELL_THRESHOLD)
        extra = list(orb_low.detect(g, None))
        if extra:
            sparse = have < max(1, target // (GRID * GRID)) // 2
            take = sparse[_cells(_points(extra), w, h)]
            kps += [k for k, t in zip(extra, take, strict=True) if t]
    if not kps:
        return _empty(w, h, thumb)
    resp = np.fromiter((k.response for k in kps), np.float32, len(kps))
    cell = _cells(_points(kps), w, h)
    by_cell = np.lexsort((-resp, cell))  # cell, then strongest first
    rank_in_cell = np.empty(len(kps), int)
    starts = np.searchsorted(cell[by_cell], np.arange(GRID * GRID))
    rank_in_cell[by_cell] = np.arange(len(kps)) - starts[cell[by_cell]]
    order = np.lexsort((-resp, rank_in_cell))[:n]
    picked = []
    for rank, i in enumerate(order):
        k = kps[i]
        # class_id carries our order through compute(), which regroups by pyramid level.
        picked.append(cv2.KeyPoint(k.pt[0], k.pt[1], k.size, k.angle, k.response, k.octave, rank))
    chosen, desc = orb.compute(g, picked)
    if desc is None or not chosen:
        return _empty(w, h, thumb)
    back = np.argsort(np.fromiter((k.class_id for k in chosen), np.int64, len(chosen)))
    xy = _points(chosen)[back]
    return Keypoints(xy, np.ascontiguousarray(desc[back], np.uint8), w, h, thumb)


def _empty(w: int, h: int, thumb: np.ndarray) -> Keypoints:
    return Keypoints(np.zeros((0, 2), np.float32), np.zeros((0, _DESC), np.uint8), w, h, thumb)


def _points(kps: Sequence[cv2.KeyPoint]) -> np.ndarray:
    return np.asarray(cv2.KeyPoint.convert(kps), np.float32).reshape(-1, 2)


def _cells(pts: np.ndarray, w: int, h: int) -> np.ndarray:
    row = np.minimum((pts[:, 1] * GRID / h).astype(int), GRID - 1)
    col = np.minimum((pts[:, 0] * GRID / w).astype(int), GRID - 1)
    return row * GRID + col


def serialize(kp: Keypoints, n: int | None = None) -> bytes:
    """Compact blob: header, coordinates in 1/16 px (uint16), descriptors, thumbnail."""
    m = len(kp.xy) if n is None else min(n, len(kp.xy))
    coords = np.round(kp.xy[:m] * 16).astype("<u2")
    return b"".join(
        (
            _HEADER.pack(_MAGIC, kp.width, kp.height, m),
            coords.tobytes(),
            kp.desc[:m].tobytes(),
            np.ascontiguousarray(kp.thumb, np.uint8).tobytes(),
        )
    )


def parse(blob: bytes) -> Keypoints:
    magic, w, h, n = _HEADER.unpack_from(blob)
    if magic != _MAGIC or len(blob) != _HEADER.size + n * (4 + _DESC) + THUMB * THUMB:
        raise ValueError("not a local-features blob of this version")
    off = _HEADER.size
    xy = np.frombuffer(blob, "<u2", count=2 * n, offset=off).reshape(n, 2)
    desc = np.frombuffer(blob, np.uint8, count=_DESC * n, offset=off + 4 * n)
    thumb = np.frombuffer(blob, np.uint8, count=THUMB * THUMB, offset=off + (4 + _DESC) * n)
    return Keypoints(
        xy.astype(np.float32) / 16.0, desc.reshape(n, _DESC), w, h, thumb.reshape(THUMB, THUMB)
    )


class MirrorQuery:
    """A query's mirror image: its thumbnail at once, its keypoints on first use.

    Detecting them costs as much as the query's own keypoints, and a candidate needs them
    only when its plain match is not conclusive (verify.CONCLUSIVE_INLIERS), so verification
    asks for them (``blob()``) only then. Thread-safe: concurrent callers wait for one
    detection. ``thumb`` is exactly the thumbnail the detection would store (same resize of
    the same mirrored copy), so the thumbnail fallback never needs the keypoints.
    """

    def __init__(self, g: np.ndarray) -> None:
        flipped = np.ascontiguousarray(g[:, ::-1])
        h, w = flipped.shape
        self.thumb = _empty(w, h, cv2.resize(flipped, (THUMB, THUMB), interpolation=cv2.INTER_AREA))
        self._grey: np.ndarray | None = flipped
        self._blob: bytes | None = None
        self._lock = threading.Lock()

    @property
    def detected(self) -> bool:
        """Whether the keypoints have been detected (by ``blob()``)."""
        return self._blob is not None

    def blob(self) -> bytes:
        """serialize() of the mirror image's QUERY_KEYPOINTS keypoints, detected once."""
        with self._lock:
            if self._blob is None:
                assert self._grey is not None
                self._blob = serialize(detect(self._grey, QUERY_KEYPOINTS))
                self._grey = None  # 0.4 MB a query no longer needs
            return self._blob


def thumbnail_correlation(query: Keypoints, entry: Keypoints) -> float:
    """Normalised cross-correlation of the two thumbnails, -1 if the shapes differ.

    The fallback for pictures with too few corners to verify (bokeh, gradients, flat
    graphics): a full-frame copy, recompressed, resized or brightened, correlates > 0.92;
    unrelated pairs measured at most 0.75.
    """
    qa, ea = query.width / query.height, entry.width / entry.height
    if abs(np.log(qa / ea)) > THUMB_MAX_ASPECT_LOG:
        return -1.0
    q = query.thumb.astype(np.float32) - float(query.thumb.mean())
    e = entry.thumb.astype(np.float32) - float(entry.thumb.mean())
    norm = float(np.linalg.norm(q) * np.linalg.norm(e))
    return float((q * e).sum()) / norm if norm > 1e-6 else -1.0


def thumbnail_mean_difference(query: Keypoints, entry: Keypoints) -> float:
    """Mean absolute difference of the two thumbnails in grey levels (0-255)."""
    return float(np.abs(query.thumb.astype(np.float32) - entry.thumb.astype(np.float32)).mean())


class QueryMatcher:
    """LSH index over one query's descriptors, reused for every candidate."""

    def __init__(self, kp: Keypoints) -> None:
        self.kp = kp
        self._index: cv2.flann.Index | None = None
        if len(kp.desc) >= 2:
            # The LSH tables are drawn from OpenCV's thread-local RNG: seed it so that the
            # same query always builds the same tables (deterministic results).
            cv2.setRNGSeed(0x7A6B)
            self._index = cv2.flann.Index(kp.desc, _LSH, cv2.NORM_HAMMING)

    def inliers(self, entry: Keypoints) -> int:
        """Inliers of the best plausible query -> entry mapping, 0 if none is plausible."""
        if self._index is None or len(entry.desc) < 2:
            return 0
        idx, dist = self._index.knnSearch(entry.desc, 2, params=_SEARCH)
        ok = (idx[:, 1] >= 0) & (dist[:, 0] < RATIO * dist[:, 1])
        ei = np.flatnonzero(ok)
        qi = idx[ei, 0]
        if len(ei) < GUIDE_MIN_INLIERS:
            return 0
        # One-to-one: keep each query keypoint's closest entry keypoint only, so that a
        # repeated texture cannot pile matches onto one point.
        order = np.lexsort((dist[ei, 0], qi))
        first = np.ones(len(order), bool)
        first[1:] = qi[order][1:] != qi[order][:-1]
        keep = order[first]
        if len(keep) < GUIDE_MIN_INLIERS:
            return 0
        n, sim = _geometric_inliers(self.kp.xy[qi[keep]], entry.xy[ei[keep]])
        if n >= MIN_INLIERS:
            return n
        if sim is None:
            return 0
        # A weak but plausible mapping: confirm it by guided matching, which needs a
        # higher bar because it also lends unrelated pairs a few more inliers.
        gq, ge = _guided(self.kp, entry, sim)
        if len(gq) < GUIDED_MIN_INLIERS:
            return 0
        g = _geometric_inliers(self.kp.xy[gq], entry.xy[ge])[0]
        return g if g >= GUIDED_MIN_INLIERS else 0


_LSH: dict[str, bool | int | float | str] = {
    "algorithm": 6,
    "table_number": 4,
    "key_size": 18,
    "multi_probe_level": 1,
}
_SEARCH: dict[str, bool | int | float | str] = {"checks": 32}
_spatial = cv2.BFMatcher(cv2.NORM_L2)  # stateless knnMatch on 2-D points: thread-safe


def _geometric_inliers(src: np.ndarray, dst: np.ndarray) -> tuple[int, np.ndarray | None]:
    """(inliers, 2x3 similarity query -> entry) of a plausible mapping, else (0, None)."""
    sim, mask = cv2.estimateAffinePartial2D(
        src,
        dst,
        method=cv2.RANSAC,
        ransacReprojThreshold=RANSAC_PX,
        maxIters=1000,
        confidence=0.995,
    )
    if sim is None or mask is None:
        return 0, None
    inl = mask.ravel().astype(bool)
    n = _distinct(src[inl], dst[inl])
    if n < GUIDE_MIN_INLIERS or not _plausible(sim[:, :2], src[inl], dst[inl]):
        return 0, None
    # Refit a homography on the consensus set and recount: a photo taken at a slight
    # angle keeps more of its matches than the similarity allows.
    hom, _ = cv2.findHomography(src[inl], dst[inl], 0)
    if hom is not None and abs(hom[2, 0]) < MAX_PERSPECTIVE and abs(hom[2, 1]) < MAX_PERSPECTIVE:
        proj = cv2.perspectiveTransform(src.reshape(-1, 1, 2), hom).reshape(-1, 2)
        hinl = np.linalg.norm(proj - dst, axis=1) < RANSAC_PX
        if hinl.sum() > inl.sum() and _plausible(hom[:2, :2], src[hinl], dst[hinl]):
            n = max(n, _distinct(src[hinl], dst[hinl]))
    return n, sim


def _distinct(src: np.ndarray, dst: np.ndarray) -> int:
    """Inliers counted once per location on each side: ORB finds one corner at several
    pyramid levels, and such stacks let a tiny patch fake a wide agreement."""
    return min(_distinct_cells(src), _distinct_cells(dst))


def _distinct_cells(xy: np.ndarray) -> int:
    # Each (x, y) pair of int32 cells read as one int64: the same count as
    # np.unique(..., axis=0), whose row-wise path cost ~0.1 ms per call, a tenth of a
    # candidate's verification.
    cells = np.ascontiguousarray(np.round(xy / DISTINCT_PX).astype(np.int32))
    return len(np.unique(cells.view(np.int64)))


def _guided(query: Keypoints, entry: Keypoints, sim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Matches near where ``sim`` puts each query keypoint, without the ratio test.

    Self-similar texture (fur, foliage, text) fails the ratio test everywhere, and a
    zoomed-in crop finds its keypoints at other pyramid levels: a weak but plausible first
    mapping is then confirmed by descriptor distance among spatial neighbours only.
    """
    proj = cv2.transform(query.xy.reshape(-1, 1, 2), sim).reshape(-1, 2).astype(np.float32)
    near = _spatial.knnMatch(proj, entry.xy, k=GUIDE_NEIGHBOURS)
    qi = np.array([m.queryIdx for ms in near for m in ms if m.distance < GUIDE_RADIUS_PX], int)
    ei = np.array([m.trainIdx for ms in near for m in ms if m.distance < GUIDE_RADIUS_PX], int)
    if len(qi) == 0:
        return qi, ei
    ham = np.bitwise_count(np.bitwise_xor(query.desc[qi], entry.desc[ei])).sum(axis=1)
    good = ham < GUIDE_MAX_HAMMING
    qi, ei, ham = qi[good], ei[good], ham[good]
    # Greedy one-to-one by descriptor distance.
    order = np.argsort(ham, kind="stable")
    _, first_q = np.unique(qi[order], return_index=True)
    keep = order[first_q]
    _, first_e = np.unique(ei[keep], return_index=True)
    keep = keep[first_e]
    return qi[keep], ei[keep]


def _plausible(lin: np.ndarray, src: np.ndarray, dst: np.ndarray) -> bool:
    det = float(np.linalg.det(lin))
    if det <= 0:  # a reflection: mirrored copies are matched with mirrored keypoints
        return False
    if not SCALE_RANGE[0] < det**0.5 < SCALE_RANGE[1]:
        return False
    area = float(SIDE * SIDE)
    q_spread = float(np.prod(np.ptp(src, axis=0))) / area
    e_spread = float(np.prod(np.ptp(dst, axis=0))) / area
    return q_spread >= MIN_QUERY_SPREAD and e_spread >= MIN_ENTRY_SPREAD
