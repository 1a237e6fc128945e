"""Image understanding for the built-in engine: decode, vectors, local features, ranking.

Contract used by the store, the index and the wire layer (docs/engine-features.md has the
method, the measurements and the thresholds):

* ``decode(bytes) -> Decoded`` accepts PNG, JPEG and BMP by content, applies EXIF
  orientation and refuses decompression bombs.
* ``extract(service, image) -> Features``: ``vectors`` (k, VECTOR_DIM) VECTOR_DTYPE, unit
  norm, row 0 the global vector; ``local`` the serialized keypoints for the verifying
  services (same_hq, picturebook), else None. Only ``vectors`` and ``local`` are stored.
* The index scores an entry by the max cosine over (``query_vectors(...)`` x stored
  vectors), keeps the top ``SHORTLIST[service]`` and hands them to ``rank``.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageOps

from engine import embedder as emb
from engine import feat_local as lf

# --------------------------------------------------------------------------- errors

FORMAT_ERROR = (216201, "image format error")
SIZE_ERROR = (216202, "image size error")
CANNOT_HANDLE = (216203, "input image cannot handle")


class ImageRejected(Exception):
    """An image the wire layer answers with a Baidu error (216201 / 216202 / 216203)."""

    def __init__(self, error_code: int, error_msg: str) -> None:
        super().__init__(f"{error_code} {error_msg}")
        self.error_code = error_code
        self.error_msg = error_msg


# --------------------------------------------------------------------------- decode

# Largest legitimate image: every service caps the longest side at 4096 px (spec §5.3),
# so anything with more pixels than 4096 x 4096 is refused before it is decompressed.
MAX_PIXELS = 4096 * 4096

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"BM", "BMP"),
)


@dataclass(frozen=True)
class Decoded:
    format: str  # "JPEG" | "PNG" | "BMP", detected from the content
    width: int  # after EXIF orientation
    height: int
    rgb: np.ndarray  # (height, width, 3) uint8


def sniff_format(data: bytes) -> str | None:
    for magic, name in _SIGNATURES:
        if data.startswith(magic):
            return name
    return None


def decode(data: bytes) -> Decoded:
    """Decode PNG / JPEG / BMP bytes to RGB with EXIF orientation applied.

    Raises ImageRejected(216201) for other formats and undecodable or truncated files, and
    ImageRejected(216202) for images over MAX_PIXELS (checked from the header, before the
    pixels are decompressed).
    """
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageRejected(*FORMAT_ERROR)
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as im:
            if im.width * im.height > MAX_PIXELS or im.width <= 0 or im.height <= 0:
                raise ImageRejected(*SIZE_ERROR)
            im.load()  # raises on truncated data (LOAD_TRUNCATED_IMAGES stays False)
            rgb = _to_rgb(ImageOps.exif_transpose(im))
    except ImageRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageRejected(*SIZE_ERROR) from exc
    except (OSError, ValueError, SyntaxError, struct.error, EOFError) as exc:
        raise ImageRejected(*FORMAT_ERROR) from exc
    return Decoded(format=fmt, width=rgb.shape[1], height=rgb.shape[0], rgb=rgb)


def _to_rgb(im: Image.Image) -> np.ndarray:
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        # Composite transparency on white, the way viewers show it; converting straight to
        # RGB would expose whatever colour the transparent pixels happen to store.
        rgba = im.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        canvas.alpha_composite(rgba)
        im = canvas
    if im.mode != "RGB":
        im = im.convert("RGB")
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))


# --------------------------------------------------------------------------- features

SERVICES = ("same_hq", "similar", "product", "picturebook", "materiel")
VERIFIED_SERVICES = frozenset({"same_hq", "picturebook"})

# Stored vectors: EfficientNet-Lite0's 1280-d embedding through a fixed random orthogonal
# projection to 256-d, float16 (512 bytes each). Measured: as good as PCA fitted on the
# benchmark photos, and needs no training data (docs/engine-features.md).
VECTOR_DIM = 256
VECTOR_DTYPE = np.dtype(np.float16)
# Stored vectors and local blobs depend on this: bump it when the method changes so the
# store can tell stale rows and re-extract them.
FEATURES_VERSION = "lite0-rp256-f16+orb700-v5"
_PROJECTION_SEED = 20240607

SHORTLIST: dict[str, int] = {
    "same_hq": 40,
    "picturebook": 40,
    "similar": 300,
    "product": 300,
    "materiel": 300,
}

# Query-only extra vectors for the same-image services: central windows of the query
# (fractions x0, y0, x1, y1). They find the original behind screenshot borders, rotation
# corners and heavy overlays; region vectors on the stored side measured worse (more
# unrelated entries reach the shortlist).
QUERY_WINDOWS: tuple[tuple[float, float, float, float], ...] = ((0.2, 0.2, 0.8, 0.8),)


@dataclass(frozen=True)
class Features:
    """What extract() returns. Only ``vectors`` and ``local`` are meant to be stored."""

    vectors: np.ndarray  # (k, VECTOR_DIM) VECTOR_DTYPE, unit norm; row 0 = global vector
    local: bytes | None  # serialized keypoints (verifying services), else None
    # Query-time extras, never stored (None from extract_many or extract(for_query=False)):
    query_vectors: np.ndarray | None = field(default=None, compare=False, repr=False)
    query_local: bytes | None = field(default=None, compare=False, repr=False)
    mirror_local: bytes | None = field(default=None, compare=False, repr=False)


def _check_service(service: str) -> None:
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}")


@lru_cache(maxsize=1)
def projection() -> np.ndarray:
    """(1280, VECTOR_DIM) orthonormal columns, fixed by the seed (legacy RandomState is
    guaranteed to give the same stream on every numpy version)."""
    rs = np.random.RandomState(_PROJECTION_SEED)
    q, _ = np.linalg.qr(rs.standard_normal((emb.EMBED_DIM, VECTOR_DIM)))
    return np.ascontiguousarray(q, dtype=np.float32)


def _reduce(v: np.ndarray) -> np.ndarray:
    # einsum, not @: this product is tiny, and numpy's threaded BLAS took ~10 ms for it on
    # a busy 2-core host (threads waking up and contending) against ~0.1 ms single-threaded.
    return emb.l2n(np.einsum("nd,dk->nk", v, projection()))


# Anything flatter than this (grey-level standard deviation on a 64 px thumbnail) has no
# usable content.
MIN_CONTRAST = 2.0


def _is_flat(rgb: np.ndarray) -> bool:
    small = cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    return float(gray.std()) < MIN_CONTRAST


def _window(rgb: np.ndarray, win: tuple[float, float, float, float]) -> np.ndarray:
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = win
    return rgb[
        int(y0 * h) : max(int(y1 * h), int(y0 * h) + 1),
        int(x0 * w) : max(int(x1 * w), int(x0 * w) + 1),
    ]


def extract(service: str, image: Decoded, *, for_query: bool = True) -> Features:
    """Features of one image; raises ImageRejected(216203) if it has no usable content.

    ``for_query=False`` (adding an image) skips the query-only extras, which cost about
    as much again as the stored features.
    """
    result = _extract_batch(service, [image], for_query=for_query)[0]
    if isinstance(result, ImageRejected):
        raise result
    return result


def extract_many(service: str, images: list[Decoded]) -> list[Features | ImageRejected]:
    """extract(for_query=False) for many images, embedding them in batches (ingest)."""
    return _extract_batch(service, images, for_query=False)


def _extract_batch(
    service: str, images: list[Decoded], *, for_query: bool
) -> list[Features | ImageRejected]:
    _check_service(service)
    verified = service in VERIFIED_SERVICES
    results: list[Features | ImageRejected] = []
    crops: list[np.ndarray] = []
    pending: list[tuple[int, int, tuple[bytes | None, bytes | None, bytes | None]]] = []
    for image in images:
        if _is_flat(image.rgb):
            results.append(ImageRejected(*CANNOT_HANDLE))
            continue
        blobs: tuple[bytes | None, bytes | None, bytes | None] = (None, None, None)
        if verified:
            blobs = _local_blobs(image.rgb, for_query=for_query)
            if blobs[0] is None:
                results.append(ImageRejected(*CANNOT_HANDLE))
                continue
        first = len(crops)
        crops.append(image.rgb)
        if for_query and verified:
            crops.extend(_window(image.rgb, w) for w in QUERY_WINDOWS)
        pending.append((len(results), first, blobs))
        results.append(ImageRejected(*CANNOT_HANDLE))  # placeholder, replaced below
    if not pending:
        return results
    vecs = _reduce(emb.get_embedder().embed(crops))
    for slot, first, (local, qlocal, mlocal) in pending:
        extra = None
        if for_query and verified:
            extra = vecs[first + 1 : first + 1 + len(QUERY_WINDOWS)].astype(VECTOR_DTYPE)
        results[slot] = Features(
            vectors=vecs[first : first + 1].astype(VECTOR_DTYPE),
            local=local,
            query_vectors=extra,
            query_local=qlocal,
            mirror_local=mlocal,
        )
    return results


def _local_blobs(
    rgb: np.ndarray, *, for_query: bool
) -> tuple[bytes | None, bytes | None, bytes | None]:
    """(stored blob, query blob, mirrored query blob); (None, ...) if too few keypoints."""
    g = lf.grey(rgb)
    kp = lf.detect(g, lf.QUERY_KEYPOINTS if for_query else lf.STORED_KEYPOINTS)
    if len(kp.xy) < lf.MIN_KEYPOINTS:
        return None, None, None
    stored = lf.serialize(kp, lf.STORED_KEYPOINTS)
    if not for_query:
        return stored, None, None
    mirrored = lf.detect(np.ascontiguousarray(g[:, ::-1]), lf.QUERY_KEYPOINTS)
    return stored, lf.serialize(kp), lf.serialize(mirrored)


def query_vectors(service: str, query: Features) -> np.ndarray:
    """float32 (m, VECTOR_DIM) to look the query up with: the global vector, plus central
    windows of the query for the same-image services (the index takes the max cosine)."""
    _check_service(service)
    rows = [np.asarray(query.vectors[:1], np.float32)]
    if service in VERIFIED_SERVICES and query.query_vectors is not None:
        rows.append(np.asarray(query.query_vectors, np.float32))
    return np.concatenate(rows)


# --------------------------------------------------------------------------- ranking

# similar / product / materiel: score = clip((cosine - SIMILAR_FLOOR) / (1 - SIMILAR_FLOOR)),
# cosine of the 256-d global vectors. Unrelated photos have cosines of ~0.2-0.6 (the
# embedding is non-negative before projection), so the floor maps most of them to
# 0-0.4 while recompressed, resized or brightened copies stay above ~0.8
# (docs/engine-features.md has the measured distributions).
SIMILAR_FLOOR = 0.3


def similarity_score(service: str, cosine: float) -> float:
    """Monotone map of a global-vector cosine to [0, 1] for the ranked services."""
    _check_service(service)
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
    (plain or mirrored), scored by verified_score(), or, for pictures with too few corners,
    whose thumbnails correlate (thumbnail_score()). Others: every candidate, scored by
    similarity_score(). Ties break by entry id so that results are deterministic.
    """
    _check_service(service)
    if service not in VERIFIED_SERVICES:
        scored = [(eid, similarity_score(service, cos)) for eid, cos, _ in candidates]
        return sorted(scored, key=lambda t: (-t[1], t[0]))
    probe = query.query_local or query.local
    if probe is None:
        return []
    matchers = [lf.QueryMatcher(lf.parse(probe))]
    if query.mirror_local is not None:
        matchers.append(lf.QueryMatcher(lf.parse(query.mirror_local)))
    out: list[tuple[int, float]] = []
    for eid, cos, blob in candidates:
        if blob is None:
            continue
        try:
            entry = lf.parse(blob)
        except (ValueError, struct.error):
            continue  # written by another FEATURES_VERSION; re-extraction will fix it
        inliers = 0
        for m in matchers:  # plain first: the mirror is only needed when it is weak
            inliers = max(inliers, m.inliers(entry))
            if inliers >= 4 * lf.MIN_INLIERS:
                break
        if inliers >= lf.MIN_INLIERS:
            out.append((eid, verified_score(inliers)))
        elif cos >= lf.THUMB_MIN_COSINE:
            ncc = max(lf.thumbnail_correlation(m.kp, entry) for m in matchers)
            if ncc >= lf.THUMB_MIN_NCC:
                out.append((eid, thumbnail_score(ncc)))
    return sorted(out, key=lambda t: (-t[1], t[0]))
