"""The optional approximate path of the in-process index: an HNSW graph (faiss) for very large
libraries, unfiltered searches only.

The graph covers 8-bit quantised vector rows [0, rows) of one generation of a LibraryIndex
(engine/index.py), which builds it in a background thread, rescores its candidates exactly
from the float32 rows and scans the rows added since exactly, so results are never stale,
only possibly incomplete. faiss is an optional dependency: without it every search is the
exact scan.
"""

from __future__ import annotations

import functools
import importlib
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.features.extract import VECTOR_DIM

ANN_MIN_ROWS = 600_000  # below this the exact scan costs tens of milliseconds at most
ANN_STALE = 0.1  # rebuild once rows added or entries deleted since exceed this fraction
ANN_M = 32
ANN_EF_CONSTRUCTION = 80
ANN_MAX_CANDIDATES = 4096
_CHUNK = 100_000  # rows trained on, and rows added per call, to bound temporary memory


@functools.cache
def ann_library() -> Any:
    """faiss, imported on first need (it is optional and slow to import), else None."""
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # it logs every CPU probe
    try:
        return importlib.import_module("faiss")  # untyped on purpose: its stubs are partial
    except ImportError:  # pragma: no cover - depends on the installation
        return None


def worthwhile(rows: int) -> bool:
    """Whether an index of this many vector rows should have a graph (and can)."""
    return rows >= ANN_MIN_ROWS and ann_library() is not None


@dataclass(frozen=True)
class Graph:
    graph: Any  # faiss.IndexHNSWSQ over vector rows [0, rows)
    rows: int
    generation: int
    dead: int  # dead entries when it was built

    def stale(self, rows: int, dead: int) -> bool:
        """Whether so much was added or deleted since the build that a new one is due."""
        return max(rows - self.rows, dead - self.dead) > ANN_STALE * self.rows

    def candidates(self, query: np.ndarray, count: int) -> np.ndarray:
        """Distinct rows near any of the query vectors, at most `count` per query vector."""
        count = max(1, min(self.rows, ANN_MAX_CANDIDATES, count))
        params = ann_library().SearchParametersHNSW()
        params.efSearch = max(256, count)
        _, found = self.graph.search(query, count, params=params)
        return np.unique(found[found >= 0])


def build(vectors: np.ndarray, rows: int, *, generation: int, dead: int) -> Graph:
    """A graph over vectors[:rows]; minutes for millions of rows, so callers use a thread."""
    faiss = ann_library()
    graph = faiss.IndexHNSWSQ(
        VECTOR_DIM, faiss.ScalarQuantizer.QT_8bit, ANN_M, faiss.METRIC_INNER_PRODUCT
    )
    graph.hnsw.efConstruction = ANN_EF_CONSTRUCTION
    graph.train(np.ascontiguousarray(vectors[: min(rows, _CHUNK)]))
    for lo in range(0, rows, _CHUNK):
        graph.add(np.ascontiguousarray(vectors[lo : min(lo + _CHUNK, rows)]))
    return Graph(graph, rows, generation, dead)
