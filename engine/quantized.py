"""The 8-bit copy of an index generation's vector rows, and the exact search that scans it
first (engine/index.py writes it beside the float32 rows; docs/engine.md, "Index").

Why: the exact scan reads every float32 row, 1 KB each. At a million rows that is a gigabyte
per search, bound by memory bandwidth, and slower still while a graph is built beside it. One
byte per dimension is a quarter of the reading, and faiss's SIMD scanner splits it over the
cores.

Still exact. Each row x keeps the norm e of its rounding error, so its cosine with a query q
lies within e·|q| of the one faiss computes from its code. A search takes the best rows of
each part by code and rescores them from the float32 rows (`candidates`). Every row it did not
rescore scores at most the lowest code score kept in its part plus ERROR_LIMIT·|q|; rows whose
error exceeds ERROR_LIMIT (a component clipped) or that are not unit vectors are always
rescored. The caller accepts the answer only when that bound is below its k-th exact score,
and asks again with more rows otherwise.

File: ``codes.faiss`` in the generation directory. It holds the header faiss writes for an
IndexScalarQuantizer (QT_8bit_uniform, inner product, its range set so that a code c stands
for (c - 128) / SCALE) whose ntotal is the capacity, then one code row per vector row:
round(x·SCALE) clipped to int8, plus 128. faiss maps it (IO_FLAG_MMAP_IFC), so every process
shares one copy through the page cache; writers fill rows through numpy past the published
size, as they do for the other columns.
"""

from __future__ import annotations

import functools
import math
import os
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from engine import ann

FILE = "codes.faiss"
# Rows are unit vectors of 256 roughly Gaussian components (standard deviation 1/16): ±0.3 is
# 4.8 deviations, so about one row in 2,500 has a component clipped. A step of 0.3/127 leaves a
# rounding error norm of 0.011 on average and below 0.0125 on all but the clipped rows.
SCALE = 127 / 0.3
ERROR_LIMIT = 6 / SCALE
UNIT_TOLERANCE = 1e-3  # stored rows are float16 unit vectors: their norms are this close to 1
SLACK = 1e-4  # more than faiss's float32 decoding and summing can be off by
PART_ROWS = 1 << 18  # fewer rows than this per thread are not worth a thread
_NTOTAL_AT = 8  # offset of ntotal (int64) in faiss's index header: after "IxSQ" and d (int32)


def encode(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes uint8 (n, D), rounding error norms float32 (n,)) of float32 rows; the error of a
    row that is not a unit vector is infinite, so that it is always rescored."""
    scaled = vectors * np.float32(SCALE)
    rounded = np.clip(np.rint(scaled), -128, 127)
    errors = np.sqrt(np.square(scaled - rounded).sum(axis=1)) / np.float32(SCALE)
    norms = np.sqrt(np.square(vectors).sum(axis=1))
    errors[np.abs(norms - 1) > UNIT_TOLERANCE] = np.inf
    codes = (rounded + 128).astype(np.uint8)
    return codes, errors.astype(np.float32)


@functools.cache
def _header(dim: int) -> tuple[bytes, int]:
    """faiss's serialised IndexScalarQuantizer of one row, cut before its codes, and the
    offset in it of the codes' byte count (the last field before them)."""
    faiss = ann.ann_library()
    index = faiss.IndexScalarQuantizer(
        dim, faiss.ScalarQuantizer.QT_8bit_uniform, faiss.METRIC_INNER_PRODUCT
    )
    # faiss decodes c as vmin + (c + 0.5) / 255 * vdiff: this range makes it (c - 128) / SCALE.
    trained = np.array([-128.5 / SCALE, 255 / SCALE], np.float32)
    faiss.copy_array_to_vector(trained, index.sq.trained)
    index.is_trained = True
    index.add(np.zeros((1, dim), np.float32))
    raw = faiss.serialize_index(index).tobytes()
    head, size_at = raw[:-dim], len(raw) - dim - 8
    if (
        raw[:4] != b"IxSQ"
        or struct.unpack_from("<q", raw, _NTOTAL_AT)[0] != 1
        or struct.unpack_from("<Q", raw, size_at)[0] != dim
    ):
        raise RuntimeError("faiss writes an IndexScalarQuantizer in a layout not known here")
    return head, size_at


def available() -> bool:
    """Whether codes can be written and scanned here (faiss is optional)."""
    return ann.ann_library() is not None


def header_size(dim: int) -> int:
    return len(_header(dim)[0])


def _header_for(dim: int, capacity: int) -> bytes:
    head, size_at = _header(dim)
    patched = bytearray(head)
    struct.pack_into("<q", patched, _NTOTAL_AT, capacity)
    struct.pack_into("<Q", patched, size_at, capacity * dim)
    return bytes(patched)


def write_header(handle: Any, dim: int, capacity: int) -> None:
    """Write the header of a codes file of `capacity` rows at the start of an open file."""
    os.pwrite(handle.fileno(), _header_for(dim, capacity), 0)


def header_matches(handle: Any, dim: int) -> bool:
    """Whether an open codes file starts with the header this version writes, for a capacity
    of at least its own rows' (it may be larger: a writer grows the file before the head)."""
    size = header_size(dim)
    found = os.pread(handle.fileno(), size, 0)
    capacity = (os.fstat(handle.fileno()).st_size - size) // dim
    if len(found) < size or capacity <= 0:
        return False
    written = struct.unpack_from("<q", found, _NTOTAL_AT)[0]
    return 0 < written <= capacity and found == _header_for(dim, written)


def scanner(path: Path) -> Any:
    """faiss's view of a codes file, memory-mapped (the rows in use are the caller's to say)."""
    faiss = ann.ann_library()
    flags = faiss.IO_FLAG_MMAP_IFC | getattr(faiss, "IO_FLAG_READ_ONLY", 0)
    return faiss.read_index(str(path), flags)


@functools.cache
def _threads() -> ThreadPoolExecutor:
    """The scanning threads, one part each. Each runs faiss on one OpenMP thread (set per
    thread, so the process's other faiss calls keep theirs): the parts already use every core."""
    return ThreadPoolExecutor(
        max(1, os.cpu_count() or 1),
        thread_name_prefix="engine-scan",
        initializer=ann.ann_library().omp_set_num_threads,
        initargs=(1,),
    )


def candidates(
    codes: Any, errors: np.ndarray, rows: int, query: np.ndarray, wanted: int
) -> tuple[np.ndarray, float]:
    """Rows to rescore exactly, and a bound on the exact score of every other row in [0, rows).

    The rows are, for each query vector, the best by code of each part of [0, rows) (about
    `wanted` in all), plus every row whose rounding error exceeds ERROR_LIMIT; -inf as the
    bound means every row is among them.
    """
    faiss = ann.ann_library()
    parts = max(1, min(os.cpu_count() or 1, rows // PART_ROWS))
    edges = np.linspace(0, rows, parts + 1).astype(np.int64).tolist()
    query = np.ascontiguousarray(query, np.float32)
    # The best rows fall into the parts about evenly: a quarter more than an even share each.
    each = math.ceil(wanted * 1.25 / parts)

    def scan(part: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = edges[part], edges[part + 1]
        selector = faiss.IDSelectorRange(lo, hi)  # a local: params do not keep it alive
        params = faiss.SearchParameters(sel=selector)
        scores, found = codes.search(query, min(each, hi - lo), params=params)
        return scores, found

    results = list(_threads().map(scan, range(parts)))
    bound = -math.inf
    slack = ERROR_LIMIT * np.linalg.norm(query, axis=1) + SLACK
    for part, (scores, _) in enumerate(results):
        if each < edges[part + 1] - edges[part]:  # rows of this part were left out
            bound = max(bound, float((scores[:, -1] + slack).max()))
    found = np.concatenate([f.ravel() for _, f in results] + [_outliers(errors, rows)])
    return np.unique(found[found >= 0]), bound


def _outliers(errors: np.ndarray, rows: int) -> np.ndarray:
    return np.flatnonzero(errors[:rows] > ERROR_LIMIT)
