"""Per-library in-memory vector index, derived from the store and never the source of truth.

``LibraryIndex`` implements ``engine.vectors.VectorIndex``; the optional approximate path for
very large libraries is engine/ann.py.

Each process holds, per library it serves, a float32 matrix of all entries' vectors plus per
entry its id, a packed label column (two tags, two class ids) and an alive flag. Searches are
an exact masked scan: filters are applied to the label column first, so filtered-out entries
never take a place in the result, and the score of an entry is its best vector.

Consistency: before answering, a search calls `sync(library.seq)` with the sequence number it
read from the database, and the index replays the change log (EngineChange) up to at least
that number. A write committed in any process before a search started is therefore visible to
it (read-your-writes across processes). Replaying re-reads the current rows, so it is
idempotent, and a gap in the log (pruned, cleared, database restored) means a full rebuild.

Threads: one writer at a time (`_lock`) appends into spare capacity, flips alive flags and
rewrites single label words, then publishes a new immutable `_State` (sizes and sequence
number); readers take the current `_State` once and never see rows beyond its sizes. A packed
label is one 64-bit word, so a concurrent reader sees an entry's labels either before or after
an update, never half of each. Growth and compaction build new arrays and publish them.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

from engine import ann
from engine.features.extract import FEATURES_VERSION, VECTOR_DIM
from engine.models import EngineChange, EngineEntry, EngineLibrary
from engine.vectors import STORED, Filter, LibraryGoneError, decode_vectors

log = logging.getLogger(__name__)

MAX_REPLAY = 20_000  # further behind than this, a rebuild is cheaper than replaying
SNAPSHOT_MIN_ENTRIES = 2_000
SNAPSHOT_EVERY = 5_000  # changes between snapshots
SCAN_CHUNK = 1 << 18  # rows per matrix product, to bound temporary memory
_generations = itertools.count(1)


def pack_labels(
    tag1: int | None, tag2: int | None, class_id1: int | None, class_id2: int | None
) -> int:
    return (tag1 or 0) | (tag2 or 0) << 16 | (class_id1 or 0) << 32 | (class_id2 or 0) << 48


_FIELD_ORDER = [0, 1, 2, 3] if sys.byteorder == "little" else [3, 2, 1, 0]


def matches(labels: np.ndarray, flt: Filter) -> np.ndarray:
    """Which packed labels pass the filter (a view of the words as four uint16 fields)."""
    fields = labels.view(np.uint16).reshape(-1, 4)[:, _FIELD_ORDER]  # tag1, tag2, c1, c2
    mask = np.ones(len(labels), bool)
    if flt.tags:
        t1, t2 = fields[:, 0], fields[:, 1]
        hits = [(t1 == t) | (t2 == t) for t in flt.tags]
        mask &= np.logical_and.reduce(hits) if flt.tag_logic == 0 else np.logical_or.reduce(hits)
    if flt.class_id1 is not None:
        mask &= fields[:, 2] == flt.class_id1
    if flt.class_id2 is not None:
        mask &= fields[:, 3] == flt.class_id2
    return mask


@dataclass(frozen=True)
class _State:
    seq: int
    n: int  # entry slots in use
    m: int  # vector rows in use
    live: int  # alive entries
    ids: np.ndarray  # int64 (cap_e,)
    alive: np.ndarray  # bool (cap_e,)
    labels: np.ndarray  # uint64 (cap_e,), see pack_labels
    starts: np.ndarray  # int64 (cap_e,), first vector row of each slot
    vectors: np.ndarray  # float32 (cap_v, D)
    owner: np.ndarray  # int64 (cap_v,), slot of each vector row
    # Changes whenever rows are renumbered (rebuild, compaction, snapshot load), which
    # invalidates an approximate graph built over the old numbering.
    generation: int = 0


def _empty_state(seq: int, cap_e: int = 64, cap_v: int = 64) -> _State:
    return _State(
        seq=seq,
        n=0,
        m=0,
        live=0,
        ids=np.zeros(cap_e, np.int64),
        alive=np.zeros(cap_e, bool),
        labels=np.zeros(cap_e, np.uint64),
        starts=np.zeros(cap_e, np.int64),
        vectors=np.zeros((cap_v, VECTOR_DIM), np.float32),
        owner=np.zeros(cap_v, np.int64),
    )


class LibraryIndex:
    """One library's index in this process (see the module docstring for its invariants)."""

    def __init__(self, library_id: int, uid: str) -> None:
        self.library_id = library_id
        self.uid = uid
        self._lock = threading.Lock()
        self._state = _empty_state(seq=-1)
        self._slot: dict[int, int] = {}  # entry id -> slot; writers only
        self._saved_seq = -1
        self._saving = False
        self._ann: ann.Graph | None = None
        self._ann_building = False

    @property
    def seq(self) -> int:
        return self._state.seq

    def __len__(self) -> int:
        return self._state.live

    # ------------------------------------------------------------------ catching up

    def sync(self, target_seq: int) -> None:
        """Make every change up to `target_seq` visible (no-op when already there)."""
        if self._state.seq >= target_seq:
            return
        with self._lock:
            if self._state.seq < 0 and not self._load_snapshot():
                self._rebuild()
            if self._state.seq < target_seq and not self._replay():
                self._rebuild()
        if self._state.seq - self._saved_seq >= SNAPSHOT_EVERY:
            self._snapshot_async()

    def rebuild(self) -> None:
        with self._lock:
            self._rebuild()

    def _library_row(self) -> Any:
        row = EngineLibrary.objects.filter(pk=self.library_id).values("seq", "uid").first()
        if row is None or str(row["uid"]) != self.uid:
            raise LibraryGoneError(self.library_id)
        return row

    def _rebuild(self) -> None:
        started = time.monotonic()
        # The sequence number is read first: rows read after it are at least that recent,
        # and replaying later changes over them is harmless.
        seq = self._library_row()["seq"]
        ids: list[int] = []
        labels: list[int] = []
        counts: list[int] = []
        blocks: list[np.ndarray] = []
        rows = (
            # Entries from another features version are not comparable: left out until
            # they are added again (see store.entry_add).
            EngineEntry.objects.filter(
                library_id=self.library_id, features_version=FEATURES_VERSION
            )
            .order_by("id")
            .values_list("id", "vectors", "tag1", "tag2", "class_id1", "class_id2")
        )
        for entry_id, blob, t1, t2, c1, c2 in rows.iterator(chunk_size=2000):
            vectors = decode_vectors(bytes(blob))
            if not len(vectors):
                log.warning("engine index: entry %s has malformed vectors; skipped", entry_id)
                continue
            ids.append(entry_id)
            labels.append(pack_labels(t1, t2, c1, c2))
            counts.append(len(vectors))
            blocks.append(vectors)
        n = len(ids)
        state = _empty_state(seq, cap_e=max(64, n * 5 // 4), cap_v=max(64, sum(counts) * 5 // 4))
        if n:
            m = sum(counts)
            state.ids[:n] = ids
            state.alive[:n] = True
            state.labels[:n] = np.array(labels, np.uint64)
            state.starts[:n] = np.concatenate([[0], np.cumsum(counts)[:-1]])
            state.vectors[:m] = np.concatenate(blocks)
            state.owner[:m] = np.repeat(np.arange(n), counts)
            state = replace(state, n=n, m=m, live=n)
        state = replace(state, generation=next(_generations))
        self._slot = {entry_id: slot for slot, entry_id in enumerate(ids)}
        self._state = state
        log.info(
            "engine index: rebuilt library %s: %d entries at seq %d in %.2fs",
            self.library_id,
            n,
            seq,
            time.monotonic() - started,
        )
        if n >= SNAPSHOT_MIN_ENTRIES:
            self._snapshot_async()

    def _replay(self) -> bool:
        """Apply the change log after the current state; False if a rebuild is needed."""
        state = self._state
        changes = list(
            EngineChange.objects.filter(library_id=self.library_id, seq__gt=state.seq)
            .order_by("seq")
            .values_list("seq", "op", "entry_id")[: MAX_REPLAY + 1]
        )
        if not changes or len(changes) > MAX_REPLAY:
            return False
        if [c[0] for c in changes] != list(range(state.seq + 1, state.seq + 1 + len(changes))):
            return False  # pruned or otherwise not contiguous
        if any(op == EngineChange.CLEAR for _, op, _ in changes):
            return False
        added = {eid for _, op, eid in changes if op == EngineChange.ADD}
        touched = list(dict.fromkeys(eid for _, _, eid in changes if eid is not None))
        current: dict[int, tuple[Any, ...]] = {}
        for start in range(0, len(touched), 500):
            rows = EngineEntry.objects.filter(
                library_id=self.library_id,
                id__in=touched[start : start + 500],
                features_version=FEATURES_VERSION,
            ).values_list("id", "vectors", "tag1", "tag2", "class_id1", "class_id2")
            current.update({row[0]: row for row in rows})
        for entry_id in sorted(touched):
            row = current.get(entry_id)
            slot = self._slot.get(entry_id)
            if row is None or entry_id in added:
                if slot is not None:
                    self._kill(slot)
                if row is not None:
                    self._append(row)
            elif slot is not None:
                self._state.labels[slot] = pack_labels(*row[2:])
            else:
                self._append(row)
        self._state = replace(self._state, seq=changes[-1][0])
        self._compact_if_sparse()
        return True

    def _kill(self, slot: int) -> None:
        state = self._state
        if state.alive[slot]:
            state.alive[slot] = False
            self._state = replace(state, live=state.live - 1)
        self._slot.pop(int(state.ids[slot]), None)

    def _append(self, row: tuple[Any, ...]) -> None:
        entry_id, blob, t1, t2, c1, c2 = row
        vectors = decode_vectors(bytes(blob))
        if not len(vectors):
            return
        state = self._grow(1, len(vectors))
        n, m, k = state.n, state.m, len(vectors)
        state.ids[n] = entry_id
        state.labels[n] = pack_labels(t1, t2, c1, c2)
        state.starts[n] = m
        state.vectors[m : m + k] = vectors
        state.owner[m : m + k] = n
        state.alive[n] = True  # last: a reader must not see a half-written slot as alive
        self._slot[entry_id] = n
        self._state = replace(state, n=n + 1, m=m + k, live=state.live + 1)

    def _grow(self, entries: int, rows: int) -> _State:
        state = self._state
        cap_e, cap_v = len(state.ids), len(state.owner)
        if state.n + entries <= cap_e and state.m + rows <= cap_v:
            return state
        new_e = max(cap_e, (state.n + entries) * 2)
        new_v = max(cap_v, (state.m + rows) * 2)
        grown = _empty_state(state.seq, new_e, new_v)
        for name in ("ids", "alive", "labels", "starts"):
            getattr(grown, name)[: state.n] = getattr(state, name)[: state.n]
        grown.vectors[: state.m] = state.vectors[: state.m]
        grown.owner[: state.m] = state.owner[: state.m]
        self._state = replace(
            grown, n=state.n, m=state.m, live=state.live, generation=state.generation
        )
        return self._state

    def _compact_if_sparse(self) -> None:
        state = self._state
        dead = state.n - state.live
        if dead < 1024 or dead < state.n // 4:
            return
        keep = np.flatnonzero(state.alive[: state.n])
        ends = np.append(state.starts[1 : state.n], state.m)
        counts = (ends - state.starts[: state.n])[keep]
        rows = _ranges(state.starts[keep], counts)
        n, m = len(keep), int(counts.sum())
        fresh = _empty_state(state.seq, max(64, n * 5 // 4), max(64, m * 5 // 4))
        fresh.ids[:n] = state.ids[keep]
        fresh.alive[:n] = True
        fresh.labels[:n] = state.labels[keep]
        fresh.starts[:n] = np.concatenate([[0], np.cumsum(counts)[:-1]]) if n else []
        fresh.vectors[:m] = state.vectors[rows]
        fresh.owner[:m] = np.repeat(np.arange(n), counts)
        self._slot = {int(entry_id): slot for slot, entry_id in enumerate(fresh.ids[:n])}
        self._state = replace(fresh, n=n, m=m, live=n, generation=next(_generations))

    # ------------------------------------------------------------------ searching

    def search(self, query: np.ndarray, flt: Filter, k: int) -> list[tuple[int, float]]:
        """The `k` best entries as (entry id, max cosine), best first, ties by earlier add."""
        state = self._state
        n, m = state.n, state.m
        if n == 0 or k <= 0:
            return []
        eligible = state.alive[:n].copy()
        if flt != Filter():
            eligible &= matches(state.labels[:n], flt)
        if flt.entries is not None:
            eligible &= np.isin(state.ids[:n], np.fromiter(flt.entries, np.int64))
        slots = np.flatnonzero(eligible)
        if not len(slots):
            return []
        query = np.asarray(query, np.float32).reshape(-1, VECTOR_DIM)
        if flt == Filter():
            graph = self._usable_graph(state)
            if graph is not None:
                return self._search_graph(state, graph, query, k)
        if len(slots) >= n // 2:  # one pass over every row, then drop the ineligible
            sims = _best_per_row(state.vectors, slice(0, m), query)
            # One vector per entry (similar, product, materiel): rows are entries.
            best = sims if m == n else np.maximum.reduceat(sims, state.starts[:n])
            ids = state.ids[:n]
            if len(slots) < n:
                best, ids = best[slots], ids[slots]
        elif m == n:  # selective filter, one row per entry: the slots are the rows
            best = _best_per_row(state.vectors, slots, query)
            ids = state.ids[slots]
        else:  # selective filter: score only the rows of the eligible entries
            counts = _row_counts(state, slots)
            rows = _ranges(state.starts[slots], counts)
            sims = _best_per_row(state.vectors, rows, query)
            best = np.maximum.reduceat(sims, np.concatenate([[0], np.cumsum(counts)[:-1]]))
            ids = state.ids[slots]
        if len(best) > k:
            # Keep everything tied with the k-th score so ties resolve by id, not by chance.
            kth = np.partition(best, len(best) - k)[len(best) - k]
            keep = np.flatnonzero(best >= kth)
            best, ids = best[keep], ids[keep]
        order = np.lexsort((ids, -best))[:k]
        return [(int(ids[i]), float(best[i])) for i in order]

    # ------------------------------------------------------------------ approximate path

    def _usable_graph(self, state: _State) -> ann.Graph | None:
        """The graph if it matches this state; schedules a (re)build when one is due."""
        if not ann.worthwhile(state.m):
            return None
        graph = self._ann
        if graph is not None and graph.generation != state.generation:
            graph = None
        if graph is None or graph.stale(state.m, state.n - state.live):
            self._build_ann_async(state)
        return graph

    def _build_ann_async(self, state: _State) -> None:
        if self._ann_building:
            return
        self._ann_building = True
        threading.Thread(target=self._build_ann, args=(state,), daemon=True).start()

    def _build_ann(self, state: _State) -> None:
        try:
            started = time.monotonic()
            # Rows below `state.m` never change within a generation (append-only), so the
            # graph stays valid for this generation whatever happened meanwhile.
            self._ann = ann.build(
                state.vectors, state.m, generation=state.generation, dead=state.n - state.live
            )
            log.info(
                "engine index: approximate graph for library %s: %d rows in %.1fs",
                self.library_id,
                state.m,
                time.monotonic() - started,
            )
        except Exception:
            log.exception("engine index: building the graph of library %s failed", self.library_id)
        finally:
            self._ann_building = False

    def _search_graph(
        self, state: _State, graph: ann.Graph, query: np.ndarray, k: int
    ) -> list[tuple[int, float]]:
        per_entry = state.m / max(1, state.n)
        count = int((k + 32) * per_entry * 1.5) + (state.n - state.live)
        rows = graph.candidates(query, max(count, 200))
        rows = np.concatenate([rows, np.arange(graph.rows, state.m)])  # added since the build
        sims = _best_per_row(state.vectors, rows, query)  # exact rescoring
        slots = state.owner[rows]
        alive = state.alive[slots]
        sims, slots = sims[alive], slots[alive]
        if not len(slots):
            return []
        order = np.lexsort((-sims, slots))  # per slot, best row first
        slots, sims = slots[order], sims[order]
        first = np.concatenate([[True], slots[1:] != slots[:-1]])
        best, ids = sims[first], state.ids[slots[first]]
        top = np.lexsort((ids, -best))[:k]
        return [(int(ids[i]), float(best[i])) for i in top]

    # ------------------------------------------------------------------ snapshots

    def _snapshot_path(self) -> Path:
        return Path(settings.DATA_DIR) / "engine" / "index" / f"{self.library_id}-{self.uid}.npz"

    def _snapshot_async(self) -> None:
        if self._saving:
            return
        self._saving = True
        state = self._state
        threading.Thread(target=self._save, args=(state,), daemon=True).start()

    def _save(self, state: _State) -> None:
        try:
            keep = np.flatnonzero(state.alive[: state.n])
            ends = np.append(state.starts[1 : state.n], state.m)
            counts = (ends - state.starts[: state.n])[keep]
            rows = _ranges(state.starts[keep], counts)
            path = self._snapshot_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            scratch = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.npz")
            np.savez(
                scratch,
                seq=np.int64(state.seq),
                version=np.array(FEATURES_VERSION),
                ids=state.ids[keep],
                labels=state.labels[keep],
                counts=counts,
                vectors=state.vectors[rows].astype(STORED),
            )
            scratch.replace(path)  # readers see the old file or the new one, whole
            self._saved_seq = state.seq
        except Exception:
            log.exception("engine index: snapshot of library %s failed", self.library_id)
        finally:
            self._saving = False

    def save_snapshot(self) -> None:
        """Write a snapshot now, in this thread (management commands)."""
        self._save(self._state)

    def _load_snapshot(self) -> bool:
        path = self._snapshot_path()
        if not path.exists():
            return False
        try:
            with np.load(path, allow_pickle=False) as data:
                seq = int(data["seq"])
                version = str(data["version"]) if "version" in data else ""
                ids, labels, counts = data["ids"], data["labels"], data["counts"]
                vectors = data["vectors"].astype(np.float32)
        except Exception:
            log.warning("engine index: unreadable snapshot %s ignored", path)
            return False
        if version != FEATURES_VERSION or vectors.ndim != 2 or vectors.shape[1] != VECTOR_DIM:
            return False  # written by another features version: rebuild
        if seq > self._library_row()["seq"]:
            return False  # the database is older than the snapshot (restored): rebuild
        n, m = len(ids), len(vectors)
        state = _empty_state(seq, max(64, n * 5 // 4), max(64, m * 5 // 4))
        state.ids[:n] = ids
        state.alive[:n] = True
        state.labels[:n] = labels
        state.starts[:n] = np.concatenate([[0], np.cumsum(counts)[:-1]]) if n else []
        state.vectors[:m] = vectors
        state.owner[:m] = np.repeat(np.arange(n), counts)
        self._state = replace(state, n=n, m=m, live=n, generation=next(_generations))
        self._slot = {int(entry_id): slot for slot, entry_id in enumerate(ids)}
        self._saved_seq = seq
        log.info("engine index: library %s loaded from snapshot at seq %d", self.library_id, seq)
        return True

    def remove_snapshot(self) -> None:
        self._snapshot_path().unlink(missing_ok=True)


def _row_counts(state: _State, slots: np.ndarray) -> np.ndarray:
    """Number of vector rows of each given slot (a slot's rows run to the next slot's)."""
    nxt = slots + 1
    ends = np.where(nxt < state.n, state.starts[np.minimum(nxt, state.n - 1)], state.m)
    return ends - state.starts[slots]


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated aranges [starts[i], starts[i] + counts[i]) as one index array."""
    total = int(counts.sum())
    if not total:
        return np.zeros(0, np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return np.repeat(starts - offsets, counts) + np.arange(total)


def _best_per_row(vectors: np.ndarray, rows: np.ndarray | slice, query: np.ndarray) -> np.ndarray:
    """max over query vectors of the cosine with each selected row."""
    single = query[0] if len(query) == 1 else None  # matrix-vector: much faster than (n, 1)
    if isinstance(rows, slice):
        start, stop = rows.start, rows.stop
        out = np.empty(stop - start, np.float32)
        for lo in range(start, stop, SCAN_CHUNK):
            block = vectors[lo : min(lo + SCAN_CHUNK, stop)]
            out[lo - start : lo - start + len(block)] = (
                block @ single if single is not None else (block @ query.T).max(axis=1)
            )
        return out
    out = np.empty(len(rows), np.float32)
    for lo in range(0, len(rows), SCAN_CHUNK):
        block = vectors[rows[lo : lo + SCAN_CHUNK]]
        out[lo : lo + len(block)] = (
            block @ single if single is not None else (block @ query.T).max(axis=1)
        )
    return out


# ---------------------------------------------------------------------- registry

_indexes: dict[int, LibraryIndex] = {}
_registry_lock = threading.Lock()


def for_library(library: EngineLibrary) -> LibraryIndex:
    """This process's index of `library`, caught up to at least `library.seq`."""
    uid = str(library.uid)
    index = _indexes.get(library.pk)
    if index is None or index.uid != uid:
        with _registry_lock:
            index = _indexes.get(library.pk)
            if index is None or index.uid != uid:
                index = LibraryIndex(library.pk, uid)
                _indexes[library.pk] = index
    index.sync(library.seq)
    return index


def forget(library_id: int | None = None) -> None:
    """Drop cached indexes (one library, or all); they are rebuilt from the store on use."""
    with _registry_lock:
        if library_id is None:
            _indexes.clear()
        else:
            _indexes.pop(library_id, None)
