"""Features of one image: the stored vectors, the local keypoints of the verifying services and
the query-only extras (docs/engine-features.md has the measurements behind every choice)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from engine.features import embedder as emb
from engine.features import local as lf
from engine.features.decode import CANNOT_HANDLE, Decoded, ImageRejected
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
    mirror_local: bytes | None = field(default=None, compare=False, repr=False)


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
    check_service(service)
    verified = service in VERIFIED_SERVICES
    results: list[Features | ImageRejected] = []
    crops: list[np.ndarray] = []
    pending: list[tuple[int, int, tuple[bytes | None, bytes | None, bytes | None]]] = []
    for image in images:
        if _is_flat(image.rgb):
            results.append(ImageRejected(CANNOT_HANDLE))
            continue
        blobs: tuple[bytes | None, bytes | None, bytes | None] = (None, None, None)
        if verified:
            blobs = _local_blobs(image.rgb, for_query=for_query)
            if blobs[0] is None:
                results.append(ImageRejected(CANNOT_HANDLE))
                continue
        first = len(crops)
        crops.append(image.rgb)
        if for_query and verified:
            crops.extend(_window(image.rgb, w) for w in QUERY_WINDOWS)
        pending.append((len(results), first, blobs))
        results.append(ImageRejected(CANNOT_HANDLE))  # placeholder, replaced below
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
    check_service(service)
    rows = [np.asarray(query.vectors[:1], np.float32)]
    if service in VERIFIED_SERVICES and query.query_vectors is not None:
        rows.append(np.asarray(query.query_vectors, np.float32))
    return np.concatenate(rows)
