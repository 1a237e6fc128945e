"""The optional approximate path of the index: an HNSW graph (faiss) over one generation's
vector rows, built once per machine, saved beside the rows and memory-mapped by every process.

The graph covers 8-bit quantised copies of vector rows [0, rows) of one generation of a
library's shared index (engine/index.py). Its candidates are rescored exactly from the float32
rows, and rows added since the build are scanned exactly, so results are never stale, only
possibly incomplete; filtered searches never use it.

Building takes minutes per million rows, so it never runs in a web worker: the first process
that finds the graph missing or stale starts ``python -m engine.ann build`` (`spawn_build`), a
separate process at the lowest CPU priority (SCHED_IDLE), while searches keep using the exact
scan at full speed. The build holds ``build.lock`` (flock) in the library's directory, so one
machine builds each graph once whatever the number of workers; ``manage.py engine_index build``
builds in the foreground instead. The result is written with ``faiss.write_index`` as
``graph-<rows>.faiss`` in the generation directory and published by replacing ``graph.json``;
every process maps it with ``IO_FLAG_MMAP_IFC`` (zero copy: the quantised rows and the links
stay in the page cache, shared, and loading takes milliseconds).

This module imports neither Django nor the feature extractor, so the build process starts
light. faiss is optional: without it every search is the exact scan.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import importlib
import json
import logging
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from engine import files

log = logging.getLogger(__name__)

ANN_MIN_ROWS = 600_000  # below this the exact scan costs tens of milliseconds at most
ANN_STALE = 0.1  # rebuild once rows added or entries deleted since exceed this fraction
ANN_M = 32
ANN_EF_CONSTRUCTION = 80
# Per search of k rows: efSearch max(ANN_EF_MIN, ANN_EF_FACTOR * k), and k plus up to
# ANN_EXTRA (at most half of k) candidates rescored exactly, which makes up for the 8-bit
# distances near the k-th place; more candidates cost faiss more than they return. Chosen
# against faiss IndexHNSWFlat at equal recall (bench/speed.py prints both).
ANN_EF_FACTOR = 2.5
ANN_EF_MIN = 160
ANN_EXTRA = 32
ANN_MAX_CANDIDATES = 4096
_CHUNK = 100_000  # rows trained on, and rows added per call, to bound temporary memory
GRAPH_META = "graph.json"
BUILD_LOCK = "build.lock"
VECTORS_FILE = "vectors.bin"  # float32 rows of a generation (engine/index.py writes it)


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
    generation: str  # of the index generation whose rows it covers
    dead: int  # dead entries when it was built
    file: str = ""  # its file name in the generation directory ("" if never saved)

    def stale(self, rows: int, dead: int) -> bool:
        """Whether so much was added or deleted since the build that a new one is due."""
        return max(rows - self.rows, dead - self.dead) > ANN_STALE * self.rows

    def candidates(self, query: np.ndarray, wanted: int) -> np.ndarray:
        """Distinct rows near any of the query vectors, for the best `wanted` rows of each."""
        wanted = max(1, min(self.rows, ANN_MAX_CANDIDATES, wanted))
        ef = max(ANN_EF_MIN, math.ceil(ANN_EF_FACTOR * wanted))
        count = min(self.rows, ef, wanted + min(wanted // 2, ANN_EXTRA))
        _, found = self.graph.search(query, count, params=_search_parameters(ef))
        found = found.ravel()
        if len(query) == 1:
            return found[found >= 0]  # one list: faiss never repeats a row in it
        return np.unique(found[found >= 0])


@functools.lru_cache(maxsize=64)
def _search_parameters(ef: int) -> Any:
    """faiss search parameters for an efSearch, made once (never changed after, so threads
    can share them)."""
    params = ann_library().SearchParametersHNSW()
    params.efSearch = ef
    return params


def build(vectors: np.ndarray, rows: int, *, generation: str, dead: int) -> Graph:
    """A graph over vectors[:rows]; minutes for millions of rows (see `spawn_build`)."""
    faiss = ann_library()
    dim = vectors.shape[1]
    graph = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, ANN_M, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = ANN_EF_CONSTRUCTION
    graph.train(np.ascontiguousarray(vectors[: min(rows, _CHUNK)]))
    for lo in range(0, rows, _CHUNK):
        graph.add(np.ascontiguousarray(vectors[lo : min(lo + _CHUNK, rows)]))
    return Graph(graph, rows, generation, dead)


# ---------------------------------------------------------------------- saved graphs


def save(graph: Graph, directory: Path) -> Graph:
    """Write the graph into its generation directory and publish it (replace graph.json).

    Readers see the previous graph or this one, whole: the file is written aside, synced and
    renamed before graph.json names it; files of older graphs are then removed (a process
    that still maps one keeps its pages until it lets go).
    """
    name = f"graph-{graph.rows}.faiss"
    scratch = directory / f".{name}.{os.getpid()}.{threading.get_ident()}"
    ann_library().write_index(graph.graph, str(scratch))
    _fsync(scratch)
    scratch.replace(directory / name)
    meta = {"file": name, "rows": graph.rows, "dead": graph.dead, "generation": graph.generation}
    files.write_json(directory / GRAPH_META, meta)
    for old in directory.glob("graph-*.faiss"):
        if old.name != name:
            old.unlink(missing_ok=True)
    return Graph(graph.graph, graph.rows, graph.generation, graph.dead, name)


def published(directory: Path) -> dict[str, Any] | None:
    """What graph.json of a generation directory names, or None if none was saved."""
    try:
        meta = json.loads((directory / GRAPH_META).read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(meta, dict) and isinstance(meta.get("file"), str)
    return meta if ok and isinstance(meta.get("rows"), int) else None


def load(directory: Path, meta: dict[str, Any]) -> Graph | None:
    """The saved graph `meta` names, memory-mapped; None if it cannot be read."""
    faiss = ann_library()
    if faiss is None:
        return None
    # IO_FLAG_MMAP_IFC maps the codes and the links instead of reading them into this
    # process, so every worker shares one copy through the page cache.
    flags = getattr(faiss, "IO_FLAG_MMAP_IFC", 0) | getattr(faiss, "IO_FLAG_READ_ONLY", 0)
    try:
        graph = faiss.read_index(str(directory / meta["file"]), flags)
    except RuntimeError:  # missing (replaced meanwhile) or truncated: rebuilt when due
        log.warning("engine index: unreadable graph %s ignored", directory / meta["file"])
        return None
    if graph.ntotal != meta["rows"]:
        return None
    generation, dead = str(meta.get("generation", "")), int(meta.get("dead", 0))
    return Graph(graph, meta["rows"], generation, dead, meta["file"])


# ---------------------------------------------------------------------- building elsewhere


@contextlib.contextmanager
def build_lock(library_dir: Path, *, wait: bool) -> Iterator[bool]:
    """Hold the library's build lock; yields False at once if another process holds it and
    `wait` is false."""
    with (library_dir / BUILD_LOCK).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def building(library_dir: Path) -> bool:
    """Whether some process holds the library's build lock now."""
    with build_lock(library_dir, wait=False) as free:
        return not free


def spawn_build(library_dir: Path, generation_dir: Path, *, rows: int, dim: int, dead: int) -> bool:
    """Start the build of a graph over `rows` rows in a separate low-priority process.

    Returns False if one is running already. The process exits quietly if another one took
    the build lock meanwhile, so several workers asking at once cost one build.
    """
    if building(library_dir):
        return False
    root = Path(__file__).resolve().parent.parent  # the directory holding the engine package
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}  # idle threads sleep, not spin
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "engine.ann", "build", str(library_dir), str(generation_dir)]
    command += ["--rows", str(rows), "--dim", str(dim), "--dead", str(dead)]
    process = subprocess.Popen(
        command, cwd=root, env=env, stdin=subprocess.DEVNULL, start_new_session=True
    )
    # Reaped by a thread so that no zombie stays behind; the build logs its own outcome.
    threading.Thread(target=process.wait, name="engine-ann-reaper", daemon=True).start()
    return True


def build_saved(
    library_dir: Path, generation_dir: Path, *, rows: int, dim: int, dead: int, wait: bool
) -> Graph | None:
    """Build and save the graph of a generation under the build lock (None if it is held and
    `wait` is false, or if the generation was replaced meanwhile)."""
    with build_lock(library_dir, wait=wait) as held:
        if not held:
            return None
        meta = published(generation_dir)
        if meta is not None and meta["rows"] >= rows:
            return load(generation_dir, meta)  # built by someone else meanwhile
        for scratch in generation_dir.glob(".graph-*"):  # left by a build that died
            scratch.unlink(missing_ok=True)
        vectors = np.memmap(generation_dir / VECTORS_FILE, np.float32, "r", shape=(rows, dim))
        started = time.monotonic()
        graph = build(vectors, rows, generation=generation_dir.name, dead=dead)
        if not generation_dir.is_dir():
            return None  # compacted or rebuilt meanwhile: its rows are gone
        saved = save(graph, generation_dir)
        log.info(
            "engine index: graph of %d rows built in %.1fs (%s)",
            rows,
            time.monotonic() - started,
            generation_dir,
        )
        return saved


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _lower_priority() -> None:
    """Make this process run only on CPU time no normal process wants.

    SCHED_IDLE, not just nice 19: a search waking up preempts an idle-class thread at once,
    while a nice-19 thread keeps its time slice, which stalls the multithreaded BLAS scan
    waiting on the CPU it holds (measured: exact scans twice as slow during a nice-19 build).
    The cost: on a machine busy all the time the build waits for idle moments.
    """
    with contextlib.suppress(OSError):
        os.nice(19)
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def main(argv: list[str] | None = None, stream: IO[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.ann", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    run = sub.add_parser("build", help="build and save the graph of one index generation")
    run.add_argument("library_dir", type=Path)
    run.add_argument("generation_dir", type=Path)
    run.add_argument("--rows", type=int, required=True)
    run.add_argument("--dim", type=int, required=True)
    run.add_argument("--dead", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(stream=stream or sys.stderr, level=logging.INFO, format="%(message)s")
    _lower_priority()
    if ann_library() is None:
        log.error("engine index: faiss is not installed; no graph built")
        return 1
    try:
        graph = build_saved(
            args.library_dir,
            args.generation_dir,
            rows=args.rows,
            dim=args.dim,
            dead=args.dead,
            wait=False,
        )
    except Exception:
        log.exception("engine index: building the graph in %s failed", args.generation_dir)
        return 1
    if graph is None:
        # Another build holds the lock, or the generation was replaced meanwhile.
        log.info("engine index: no graph built in %s", args.generation_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
