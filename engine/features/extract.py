"""Features of one image: the stored vectors, the local keypoints of the verifying services and
the query-only extras (docs/engine-features.md has the measurements behind every choice)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from engine.features import embedder as emb
from engine.features import local as lf
from engine.features import verify
from engine.features.decode import CANNOT_HANDLE, Decoded, ImageRejected, no_content
from wire.baidu import SERVICES

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
    # The mirror image, whose keypoints verification detects only if it needs them.
    mirror: lf.MirrorQuery | None = field(default=None, compare=False, repr=False)

    @property
    def mirror_local(self) -> bytes | None:
        """Serialized keypoints of the query's mirror image (detected on first use)."""
        return None if self.mirror is None else self.mirror.blob()


def check_service(service: str) -> None:
    """An unknown service is a programming error here: the wire layer refuses it earlier."""
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


def _is_flat(rgb: np.ndarray) -> bool:
    # The only refusal of extraction (216203): one colour or near enough (decode.no_content).
    # Everything else is accepted by every service, pictures with too few corners to verify
    # included (same_hq / picturebook match those by the global vector and the thumbnail).
    return no_content(rgb)


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
    if for_query and service in VERIFIED_SERVICES:
        return _extract_verified_query(image)
    # The ranked services have no query-only extras: a query is what is stored.
    result = _extract_batch(service, [image])[0]
    if isinstance(result, ImageRejected):
        raise result
    return result


def extract_many(service: str, images: list[Decoded]) -> list[Features | ImageRejected]:
    """extract(for_query=False) for many images, embedding them in batches (ingest)."""
    return _extract_batch(service, images)


def _extract_batch(service: str, images: list[Decoded]) -> list[Features | ImageRejected]:
    check_service(service)
    verified = service in VERIFIED_SERVICES
    results: list[Features | ImageRejected] = []
    crops: list[np.ndarray] = []
    pending: list[tuple[int, bytes | None]] = []
    for image in images:
        if _is_flat(image.rgb):
            results.append(ImageRejected(CANNOT_HANDLE))
            continue
        local = None
        if verified:
            local = _local_blobs(image.rgb, for_query=False)[0]
        crops.append(image.rgb)
        pending.append((len(results), local))
        results.append(ImageRejected(CANNOT_HANDLE))  # placeholder, replaced below
    if not pending:
        return results
    vecs = _reduce(emb.get_embedder().embed(crops)).astype(VECTOR_DTYPE)
    for row, (slot, local) in enumerate(pending):
        results[slot] = Features(vectors=vecs[row : row + 1], local=local)
    return results


def _extract_verified_query(image: Decoded) -> Features:
    """extract(same_hq or picturebook, for_query=True): the stored features plus the
    query-only extras, with the keypoints detected on the verification pool while this
    thread runs the model (they do not depend on each other: ~15 ms and ~10 ms). If the
    pool is busy with other queries' verification, this thread detects them itself rather
    than wait."""
    if _is_flat(image.rgb):
        raise ImageRejected(CANNOT_HANDLE)
    detection = verify.pool().submit(_local_blobs, image.rgb, for_query=True)
    crops = [image.rgb, *(_window(image.rgb, w) for w in QUERY_WINDOWS)]
    vecs = _reduce(emb.get_embedder().embed(crops)).astype(VECTOR_DTYPE)
    if detection.cancel():  # not started yet
        local, qlocal, mirror = _local_blobs(image.rgb, for_query=True)
    else:
        local, qlocal, mirror = detection.result()
    return Features(
        vectors=vecs[:1], local=local, query_vectors=vecs[1:], query_local=qlocal, mirror=mirror
    )


# (stored blob, query blob, the query's mirror image)
_LocalBlobs = tuple[bytes, bytes | None, lf.MirrorQuery | None]


def _local_blobs(rgb: np.ndarray, *, for_query: bool) -> _LocalBlobs:
    """(stored blob, query blob, mirror image). A picture with fewer than MIN_KEYPOINTS
    corners (a soft gradient: maybe none) still gets them: its blob is short but keeps the
    thumbnail, and rank() matches it by near-identity instead of verification."""
    g = lf.grey(rgb)
    kp = lf.detect(g, lf.QUERY_KEYPOINTS if for_query else lf.STORED_KEYPOINTS)
    stored = lf.serialize(kp, lf.STORED_KEYPOINTS)
    if not for_query:
        return stored, None, None
    return stored, lf.serialize(kp), lf.MirrorQuery(g)


def query_vectors(service: str, query: Features) -> np.ndarray:
    """float32 (m, VECTOR_DIM) to look the query up with: the global vector, plus the query's
    extras where it has them: central windows for the same-image services, the detected subject
    of an Alibaba search (engine.aliyun.operations). The index takes the max cosine."""
    check_service(service)
    rows = [np.asarray(query.vectors[:1], np.float32)]
    if query.query_vectors is not None:
        rows.append(np.asarray(query.query_vectors, np.float32))
    return np.concatenate(rows)
