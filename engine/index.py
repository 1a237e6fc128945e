"""Per-library vector index, derived from the store and never its source of truth: one copy per
machine, in memory-mapped files that every engine process shares through the page cache.

``LibraryIndex`` implements ``engine.vectors.VectorIndex``; the optional approximate graph of
very large libraries is engine/ann.py; docs/engine.md ("Index") has the design and its reasons.

Files of one library, under ``DATA_DIR/engine/index/<library id>-<uid>/``::

    head.json       the published state: generation, seq, sizes (n entry slots, m vector rows,
                    live entries), capacities, features version, boot id, last durable point
    lock            the writers' flock
    build.lock      the graph builder's flock (engine/ann.py)
    <generation>/   column files preallocated to the capacities, mapped shared: per entry slot
                    ids.bin int64, alive.bin bool, labels.bin uint64 (see pack_labels),
                    starts.bin int64 (first vector row); per vector row owner.bin int64 (slot),
                    vectors.bin float32 (n, VECTOR_DIM), errors.bin float32 and codes.faiss,
                    the rows in 8 bits (engine/quantized.py); graph-<rows>.faiss, graph.json

Searches are an exact masked scan: filters are applied to the label column first, so
filtered-out entries never take a place in the result, and the score of an entry is its best
vector. Scans of many rows read the 8-bit codes first and rescore from the float32 rows, with
a bound that proves no other row could rank (engine/quantized.py); large unfiltered searches
may use the graph instead, rescored exactly.

Consistency (read-your-writes across processes): before answering, a search calls
`sync(library.seq)` with the number it read from the database. A process that is behind reads
head.json; if the head is behind as well, it takes the writer lock, replays the change log
(EngineChange) after the head into the shared files and publishes a new head, which every other
process then adopts without replaying. Replaying re-reads the current rows, so it is
idempotent; a gap in the log (pruned, cleared, database restored) means a rebuild.

Writers never disturb readers, in this process or another: appends go past the published
sizes, which readers never look beyond; a delete flips one alive byte and a label update
rewrites one aligned 64-bit word, so a reader sees an entry's labels before or after an update,
never half of each (and may see a committed change a little before the head that carries it).
Growth extends the files in place (readers map the larger size when they adopt the head);
compaction and rebuilds write a new generation directory, synced, then publish it; processes
still on the old one keep their mapping until they catch up. A writer that dies between
appending and publishing leaves rows past the published sizes, which the next writer
overwrites. Within a generation, entry slots are in ascending entry id order (the store assigns
ids in commit order per library), so a writer finds an entry's slot by binary search.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import logging
import math
import mmap
import os
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from itertools import islice
from pathlib import Path
from typing import IO, Any

import numpy as np
from django.conf import settings

from engine import ann, files, quantized
from engine.features.extract import FEATURES_VERSION, VECTOR_DIM
from engine.models import EngineChange, EngineEntry, EngineLibrary
from engine.vectors import STORED, Filter, LibraryGoneError

log = logging.getLogger(__name__)

FORMAT = 2  # of head.json and the column files
MAX_REPLAY = 20_000  # further behind than this, a rebuild is cheaper than replaying
CHECKPOINT_EVERY = 5_000  # changes between durable points (files synced, head fsynced)
SCAN_CHUNK = 1 << 18  # rows per matrix product, to bound temporary memory
FEW_ROWS = 1 << 15  # rows scored without BLAS (see _best_per_row)
REBUILD_CHUNK = 2_000  # entries per database fetch and per block written
GRAPH_POLL = 1.0  # seconds between looks for a graph another process built
GRAPH_RETRY = 60.0  # seconds before this process asks again for a build that did not appear
HEAD = "head.json"
_COLUMNS: dict[str, tuple[np.dtype[Any], bool]] = {  # name: (dtype, one per vector row)
    "ids": (np.dtype(np.int64), False),
    "alive": (np.dtype(np.bool_), False),
    "labels": (np.dtype(np.uint64), False),
    "starts": (np.dtype(np.int64), False),
    "owner": (np.dtype(np.int64), True),
    "vectors": (np.dtype(np.float32), True),
    "errors": (np.dtype(np.float32), True),  # norm of each row's 8-bit rounding error
}
ENCODE_CHUNK = 8_192  # rows encoded at a time, to bound temporary memory
# Scans of fewer rows read the float32 rows directly: a few milliseconds at most.
CODES_MIN_ROWS = 100_000
# The first look rescores this many rows per row asked for, plus CODES_EXTRA: enough that it
# usually proves its answer (rows past the k-th are scored in a crowd on most queries).
CODES_FIRST = 4
CODES_EXTRA = 256


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


class _Unreadable(Exception):
    """Published files that do not match their head (damaged or removed): rebuild."""


@functools.cache
def _boot_id() -> str:
    """This boot of the machine: after a reboot, only synced (durable) data is trusted."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


class _Columns:
    """The column files of one generation, mapped shared, at capacities cap_e and cap_v."""

    def __init__(self, path: Path, cap_e: int, cap_v: int, dim: int, *, grow: bool) -> None:
        self.path, self.cap_e, self.cap_v, self.dim = path, cap_e, cap_v, dim
        self._maps: list[mmap.mmap] = []
        arrays: dict[str, np.ndarray] = {}
        for name, (dtype, per_row) in _COLUMNS.items():
            shape = (cap_v if per_row else cap_e,) + ((dim,) if name == "vectors" else ())
            mapped = self._map(path / f"{name}.bin", math.prod(shape) * dtype.itemsize, grow=grow)
            arrays[name] = np.frombuffer(mapped, dtype).reshape(shape)
        self.ids, self.alive, self.labels = arrays["ids"], arrays["alive"], arrays["labels"]
        self.starts, self.owner, self.vectors = arrays["starts"], arrays["owner"], arrays["vectors"]
        self.errors = arrays["errors"]
        self.codes = self._map_codes(grow=grow) if quantized.available() else None
        self._scanner: Any = None

    def _map(
        self,
        file: Path,
        size: int,
        *,
        grow: bool,
        grown: Callable[[IO[bytes]], None] | None = None,
        valid: Callable[[IO[bytes]], bool] | None = None,
    ) -> mmap.mmap:
        """One file mapped shared at `size` bytes: grown (sparse) if it is shorter and `grow`,
        then handed to `grown`; else _Unreadable if it is shorter, or not `valid`."""
        try:
            handle = file.open("r+b")
        except FileNotFoundError as exc:
            raise _Unreadable(str(exc)) from None
        with handle:
            if os.fstat(handle.fileno()).st_size < size:
                if not grow:
                    raise _Unreadable(f"{file} is shorter than its head says")
                # Sparse: capacity costs no disk and no memory until rows are written.
                os.ftruncate(handle.fileno(), size)
                if grown is not None:
                    grown(handle)
            elif valid is not None and not valid(handle):
                raise _Unreadable(f"{file} is not what this version writes")
            mapped = mmap.mmap(handle.fileno(), size)
        self._maps.append(mapped)
        return mapped

    def _map_codes(self, *, grow: bool) -> np.ndarray:
        """The 8-bit rows (cap_v, dim) after their faiss header, which a growth rewrites (after
        it, so that a reader of the header never maps past the end)."""
        offset = quantized.header_size(self.dim)
        mapped = self._map(
            self.path / quantized.FILE,
            offset + self.cap_v * self.dim,
            grow=grow,
            grown=lambda handle: quantized.write_header(handle, self.dim, self.cap_v),
            valid=lambda handle: quantized.header_matches(handle, self.dim),
        )
        codes = np.frombuffer(mapped, np.uint8, count=self.cap_v * self.dim, offset=offset)
        return codes.reshape(self.cap_v, self.dim)

    def scanner(self) -> Any:
        """faiss's mapped view of the codes, opened on first need (None without codes)."""
        if self._scanner is None and self.codes is not None:
            self._scanner = quantized.scanner(self.path / quantized.FILE)
        return self._scanner

    @classmethod
    def create(cls, path: Path, cap_e: int, cap_v: int, dim: int) -> _Columns:
        path.mkdir(parents=True)
        for name in _COLUMNS:
            (path / f"{name}.bin").touch()
        (path / quantized.FILE).touch()
        return cls(path, cap_e, cap_v, dim, grow=True)

    def reserve(self, entries: int, rows: int) -> _Columns:
        """These columns, or larger ones over the same files, with room for the sizes."""
        if entries <= self.cap_e and rows <= self.cap_v:
            return self
        cap_e = max(self.cap_e, entries * 2 if entries > self.cap_e else 0)
        cap_v = max(self.cap_v, rows * 2 if rows > self.cap_v else 0)
        return _Columns(self.path, cap_e, cap_v, self.dim, grow=True)

    def flush(self) -> None:
        """Write every changed page to disk (msync): what a durable point needs."""
        for mapped in self._maps:
            mapped.flush()


@dataclass(frozen=True)
class _Head:
    """head.json: what is published, i.e. what every process may adopt."""

    generation: str
    seq: int
    n: int
    m: int
    live: int
    cap_e: int
    cap_v: int
    boot: str
    durable: tuple[int, int, int, int]  # seq, n, m, live when the files were last synced
    version: str  # features version of the vectors
    dim: int
    format: int

    @classmethod
    def read(cls, directory: Path) -> _Head | None:
        try:
            raw = json.loads((directory / HEAD).read_text())
            head = cls(**{**raw, "durable": tuple(raw["durable"])})
        except (OSError, ValueError, TypeError, KeyError):
            return None
        usable = head.format == FORMAT and head.version == FEATURES_VERSION
        return head if usable and head.dim == VECTOR_DIM else None

    def after_reboot(self) -> _Head:
        """The last durable point: pages written after it may not have reached the disk."""
        seq, n, m, live = self.durable
        return replace(self, seq=seq, n=n, m=m, live=live, boot=_boot_id())


@dataclass(frozen=True)
class _State:
    seq: int
    n: int  # entry slots in use
    m: int  # vector rows in use
    live: int  # alive entries
    ids: np.ndarray  # int64 (cap_e,), ascending
    alive: np.ndarray  # bool (cap_e,)
    labels: np.ndarray  # uint64 (cap_e,), see pack_labels
    starts: np.ndarray  # int64 (cap_e,), first vector row of each slot
    vectors: np.ndarray  # float32 (cap_v, D)
    owner: np.ndarray  # int64 (cap_v,), slot of each vector row
    # The generation directory's name; it changes whenever rows are renumbered (rebuild,
    # compaction), which invalidates an approximate graph built over the old numbering.
    generation: str = ""
    columns: _Columns | None = None


def _state_of(columns: _Columns, head: _Head) -> _State:
    return _State(
        seq=head.seq,
        n=head.n,
        m=head.m,
        live=head.live,
        ids=columns.ids,
        alive=columns.alive,
        labels=columns.labels,
        starts=columns.starts,
        vectors=columns.vectors,
        owner=columns.owner,
        generation=head.generation,
        columns=columns,
    )


def _unpublished() -> _State:
    empty = np.zeros(0, np.int64)
    return _State(
        seq=-1,
        n=0,
        m=0,
        live=0,
        ids=empty,
        alive=np.zeros(0, bool),
        labels=np.zeros(0, np.uint64),
        starts=empty,
        vectors=np.zeros((0, VECTOR_DIM), np.float32),
        owner=empty,
    )


def index_root() -> Path:
    return Path(settings.DATA_DIR) / "engine" / "index"


class LibraryIndex:
    """One library's index as this process sees it (see the module docstring)."""

    def __init__(self, library_id: int, uid: str, *, directory: Path | None = None) -> None:
        self.library_id = library_id
        self.uid = uid
        self.directory = directory or index_root() / f"{library_id}-{uid}"
        self._lock = threading.Lock()  # one catching-up thread per process; flock for the rest
        self._state = _unpublished()
        self._head: _Head | None = None  # what self._state was adopted from or published as
        self._graph: ann.Graph | None = None
        self._graph_lock = threading.Lock()
        self._graph_looked = -math.inf
        self._graph_asked = -math.inf

    @property
    def seq(self) -> int:
        return self._state.seq

    @property
    def rows(self) -> int:
        """Vector rows in use (dead entries' rows included until compaction)."""
        return self._state.m

    def __len__(self) -> int:
        return self._state.live

    # ------------------------------------------------------------------ catching up

    def sync(self, target_seq: int) -> None:
        """Make every change up to `target_seq` visible (no-op when already there)."""
        if self._state.seq >= target_seq:
            return
        with self._lock:
            if self._state.seq >= target_seq:
                return
            # Another process may be there already: adopting its head costs one small read.
            # A process's first look is made under the writer lock, which checks the head
            # against the database.
            if self._state.seq >= 0 and self._adopt_published() and self.seq >= target_seq:
                return
            with self._writing():
                self._catch_up(target_seq)

    def refresh(self) -> bool:
        """Adopt what is published, without the database; False if nothing usable is.

        For readers that are not told a change number (benchmarks, tools); searches use sync.
        """
        with self._lock:
            return self._adopt_published()

    def rebuild(self) -> None:
        """Rebuild from the store into a new generation, whatever is published."""
        with self._lock, self._writing():
            self._rebuild()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """The library's writer lock, across processes (an flock held by one writer)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / "lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _adopt_published(self) -> bool:
        head = _Head.read(self.directory)
        if head is None or head.boot != _boot_id():
            return False  # nothing usable, or a reboot to recover from: a writer's job
        try:
            self._adopt(head)
        except (OSError, _Unreadable):
            return False  # replaced while we looked: the writer lock sorts it out
        return True

    def _adopt(self, head: _Head) -> None:
        state = self._state
        columns = state.columns
        if columns is None or head.generation != state.generation:
            path = self.directory / head.generation
            columns = _Columns(path, head.cap_e, head.cap_v, head.dim, grow=False)
        elif head.cap_e > columns.cap_e or head.cap_v > columns.cap_v:
            columns = _Columns(columns.path, head.cap_e, head.cap_v, head.dim, grow=False)
        self._state = _state_of(columns, head)
        self._head = head

    def _catch_up(self, target_seq: int) -> None:
        """Under the writer lock: adopt the head, check it, replay or rebuild, publish."""
        head = _Head.read(self.directory)
        database_seq = self._library_row()["seq"]
        recovered = head is not None and head.boot != _boot_id()
        if head is not None and recovered:
            head = head.after_reboot()
        if head is not None and head.seq > database_seq:
            head = None  # ahead of the database (a restored backup): rebuild
        if head is not None:
            try:
                self._adopt(head)
            except (OSError, _Unreadable):
                log.warning("engine index: %s does not match its head; rebuilding", self.directory)
                head = None
        if head is None:
            self._rebuild()
        elif recovered:
            self._publish(self._state)  # this boot starts from the durable point
        if self._state.seq < target_seq and not self._replay():
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
        # Entries from another features version are not comparable: left out until they are
        # added again (see store.entry_add).
        entries = EngineEntry.objects.filter(
            library_id=self.library_id, features_version=FEATURES_VERSION
        )
        capacity = _capacity(entries.count())  # one row per entry; grown if there are more
        columns = self._new_generation(capacity, capacity)
        rows = entries.order_by("id").values_list(
            "id", "vectors", "tag1", "tag2", "class_id1", "class_id2"
        )
        n = m = 0
        stream = rows.iterator(chunk_size=REBUILD_CHUNK)
        while chunk := list(islice(stream, REBUILD_CHUNK)):
            columns, n, m = _write_entries(columns, n, m, chunk)
        self._install(columns, seq=seq, n=n, m=m)
        # Snapshots of earlier versions (one .npz per library) are of no use any more.
        self.directory.with_suffix(".npz").unlink(missing_ok=True)
        log.info(
            "engine index: rebuilt library %s: %d entries at seq %d in %.2fs",
            self.library_id,
            n,
            seq,
            time.monotonic() - started,
        )

    def load(
        self,
        seq: int,
        blocks: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
        *,
        entries: int,
        rows: int,
    ) -> None:
        """Publish a new generation holding the given entries instead of the store's.

        For benchmarks and tests that need an index without a database: `blocks` are
        (entry ids, ascending across blocks; packed labels; vector rows per entry; float32
        rows); `entries` and `rows` size the files (they grow if the blocks hold more).
        """
        with self._lock, self._writing():
            columns = self._new_generation(_capacity(entries), _capacity(rows))
            n = m = 0
            for ids, labels, counts, vectors in blocks:
                previous = columns.ids[n - 1] if n else np.iinfo(np.int64).min
                if len(ids) and (ids[0] <= previous or np.any(np.diff(ids) <= 0)):
                    raise ValueError("entry ids must ascend across the blocks")
                columns, n, m = _write_block(columns, n, m, ids, labels, counts, vectors)
            self._install(columns, seq=seq, n=n, m=m)

    def _new_generation(self, cap_e: int, cap_v: int) -> _Columns:
        """Fresh column files in a scratch directory (only the lock holder has one)."""
        for scratch in self.directory.glob("*.new"):
            shutil.rmtree(scratch, ignore_errors=True)  # left by a writer that died
        numbers = [int(p.name.split("-")[0]) for p in self.directory.glob("[0-9]*-*")]
        number = max(numbers, default=0) + 1
        # The random part keeps a generation from being taken for an older one of the same
        # number whose directory was removed and created again (index.forget).
        name = f"{number:06d}-{secrets.token_hex(4)}"
        return _Columns.create(self.directory / f"{name}.new", cap_e, cap_v, VECTOR_DIM)

    def _install(self, columns: _Columns, *, seq: int, n: int, m: int) -> None:
        """Publish a complete new generation, durably, and drop the older ones."""
        columns.flush()
        final = columns.path.with_suffix("")
        columns.path.rename(final)
        columns.path = final
        _fsync_directory(self.directory)
        head = _Head(
            generation=final.name,
            seq=seq,
            n=n,
            m=m,
            live=n,
            cap_e=columns.cap_e,
            cap_v=columns.cap_v,
            boot=_boot_id(),
            durable=(seq, n, m, n),
            version=FEATURES_VERSION,
            dim=VECTOR_DIM,
            format=FORMAT,
        )
        files.write_json(self.directory / HEAD, asdict(head), durable=True)
        self._head = head
        self._state = _state_of(columns, head)
        self._graph = None
        for old in self.directory.iterdir():
            if old.is_dir() and old.name != final.name and not old.name.endswith(".new"):
                shutil.rmtree(old, ignore_errors=True)  # still mapped by laggards: harmless

    def _publish(self, state: _State) -> None:
        """Make `state` (this generation, appended and flipped in place) the head."""
        previous = self._head
        assert previous is not None and state.columns is not None
        durable = previous.durable
        checkpoint = state.seq - durable[0] >= CHECKPOINT_EVERY or previous.boot != _boot_id()
        if checkpoint:
            state.columns.flush()
            durable = (state.seq, state.n, state.m, state.live)
        head = replace(
            previous,
            seq=state.seq,
            n=state.n,
            m=state.m,
            live=state.live,
            cap_e=state.columns.cap_e,
            cap_v=state.columns.cap_v,
            boot=_boot_id(),
            durable=durable,
        )
        files.write_json(self.directory / HEAD, asdict(head), durable=checkpoint)
        self._head = head
        self._state = state

    def _replay(self) -> bool:
        """Apply the change log after the current state and publish; False if a rebuild is
        needed instead."""
        state = self._state
        changes = list(
            EngineChange.objects.filter(library_id=self.library_id, seq__gt=state.seq)
            .order_by("seq")
            .values_list("seq", "op", "entry_id")[: MAX_REPLAY + 1]
        )
        if not changes or len(changes) > MAX_REPLAY or state.columns is None:
            return False
        if [c[0] for c in changes] != list(range(state.seq + 1, state.seq + 1 + len(changes))):
            return False  # pruned or otherwise not contiguous
        if any(op == EngineChange.CLEAR for _, op, _ in changes):
            return False
        touched = sorted({eid for _, _, eid in changes if eid is not None})
        current: dict[int, tuple[Any, ...]] = {}
        for start in range(0, len(touched), 500):
            rows = EngineEntry.objects.filter(
                library_id=self.library_id,
                id__in=touched[start : start + 500],
                features_version=FEATURES_VERSION,
            ).values_list("id", "vectors", "tag1", "tag2", "class_id1", "class_id2")
            current.update({row[0]: row for row in rows})
        n = state.n
        slots = _slots(state.ids[:n], np.array(touched, np.int64))
        appends = []
        for entry_id, slot in zip(touched, slots.tolist(), strict=True):
            row = current.get(entry_id)
            if slot < 0:
                if row is not None:
                    appends.append(row)
            elif row is None:
                state.alive[slot] = False  # deleted, or of another features version now
            else:
                # The entry's vectors never change (an edit rewrites labels only), so an ADD
                # of an entry the index holds (a rebuild read it already) is a label update.
                state.labels[slot] = pack_labels(*row[2:])
                state.alive[slot] = True
        columns, m = state.columns, state.m
        if appends:
            if n and appends[0][0] < state.ids[n - 1]:
                return False  # out of id order: a rebuild keeps the slots sorted
            columns, n, m = _write_entries(columns, n, m, appends)
        live = int(np.count_nonzero(columns.alive[:n]))
        assert self._head is not None
        fresh = _state_of(columns, self._head) if columns is not state.columns else state
        self._publish(replace(fresh, seq=changes[-1][0], n=n, m=m, live=live))
        self._compact_if_sparse()
        return True

    def _compact_if_sparse(self) -> None:
        state = self._state
        dead = state.n - state.live
        if dead < 1024 or dead < state.n // 4:
            return
        keep = np.flatnonzero(state.alive[: state.n])
        counts = _row_counts(state, keep)
        n, m = len(keep), int(counts.sum())
        columns = self._new_generation(_capacity(n), _capacity(m))
        done_n = done_m = 0
        for lo in range(0, n, SCAN_CHUNK):
            part, part_counts = keep[lo : lo + SCAN_CHUNK], counts[lo : lo + SCAN_CHUNK]
            rows = _ranges(state.starts[part], part_counts)
            columns, done_n, done_m = _write_block(
                columns,
                done_n,
                done_m,
                state.ids[part],
                state.labels[part],
                part_counts,
                state.vectors[rows],
            )
        self._install(columns, seq=state.seq, n=n, m=m)
        log.info("engine index: compacted library %s to %d entries", self.library_id, n)

    # ------------------------------------------------------------------ searching

    def search(self, query: np.ndarray, flt: Filter, k: int) -> list[tuple[int, float]]:
        """The `k` best entries as (entry id, max cosine), best first, ties by earlier add."""
        state = self._state
        n, m = state.n, state.m
        if n == 0 or k <= 0:
            return []
        query = np.asarray(query, np.float32).reshape(-1, VECTOR_DIM)
        if flt == _NO_FILTER:
            graph = self._usable_graph(state)
            if graph is not None:
                return self._search_graph(state, graph, query, k)
            found = self._search_codes(state, query, k, None)
            if found is not None:
                return found
            # Every row is scored: dead entries are masked, not left out (no index arrays).
            sims = _best_per_row(state.vectors, slice(0, m), query)
            best = sims if m == n else np.maximum.reduceat(sims, state.starts[:n])
            if state.live < n:
                best[~state.alive[:n]] = -np.inf
            return _top(best, state.ids[:n], k)
        eligible = state.alive[:n] & matches(state.labels[:n], flt)
        if flt.entries is not None:
            eligible &= np.isin(state.ids[:n], np.fromiter(flt.entries, np.int64))
        slots = np.flatnonzero(eligible)
        if not len(slots):
            return []
        if len(slots) >= n // 2:  # one pass over every row, then drop the ineligible
            found = self._search_codes(state, query, k, eligible)
            if found is not None:
                return found
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
        return _top(best, ids, k)

    # ------------------------------------------------------------------ approximate path

    def _usable_graph(self, state: _State) -> ann.Graph | None:
        """The graph if it matches this state; asks for a (re)build when one is due."""
        if not ann.worthwhile(state.m) or state.columns is None:
            return None
        graph = self._graph
        if graph is not None and graph.generation != state.generation:
            graph = None
        dead = state.n - state.live
        if graph is None or graph.stale(state.m, dead):
            now = time.monotonic()
            if now - self._graph_looked >= GRAPH_POLL:
                self._graph_looked = now
                graph = self._load_graph(state) or graph
            if graph is None or graph.stale(state.m, dead):
                self._ask_for_graph(state, now)
        return graph

    def _load_graph(self, state: _State) -> ann.Graph | None:
        """The graph saved for this generation (by any process), mapped; None if none is."""
        assert state.columns is not None
        if not self._graph_lock.acquire(blocking=False):
            return None  # another thread of this process is loading it
        try:
            meta = ann.published(state.columns.path)
            if meta is None:
                return None
            current = self._graph
            same = current is not None and current.file == meta["file"]
            if same and current is not None and current.generation == state.generation:
                return current
            graph = ann.load(state.columns.path, meta)
            if graph is not None:
                graph = replace(graph, generation=state.generation)
                self._graph = graph
                log.info(
                    "engine index: library %s maps the graph of %d rows",
                    self.library_id,
                    graph.rows,
                )
            return graph
        finally:
            self._graph_lock.release()

    def _ask_for_graph(self, state: _State, now: float) -> None:
        if now - self._graph_asked < GRAPH_RETRY:
            return
        self._graph_asked = now
        assert state.columns is not None
        try:
            started = ann.spawn_build(
                self.directory,
                state.columns.path,
                rows=state.m,
                dim=state.vectors.shape[1],
                dead=state.n - state.live,
            )
        except OSError:
            log.exception("engine index: could not start the graph build of %s", self.directory)
            return
        if started:
            log.info(
                "engine index: building the graph of library %s (%d rows) in the background",
                self.library_id,
                state.m,
            )

    def build_graph(self) -> ann.Graph | None:
        """Build and save the graph of the current generation in this process, now (after a
        build another process is running); None without faiss or rows."""
        state = self._state
        if ann.ann_library() is None or state.columns is None or not state.m:
            return None
        graph = ann.build_saved(
            self.directory,
            state.columns.path,
            rows=state.m,
            dim=state.vectors.shape[1],
            dead=state.n - state.live,
            wait=True,
        )
        if graph is not None:
            graph = replace(graph, generation=state.generation)
            self._graph = graph
        return graph

    def _search_graph(
        self, state: _State, graph: ann.Graph, query: np.ndarray, k: int
    ) -> list[tuple[int, float]]:
        # Enough candidates that k alive entries remain after dropping dead ones and the
        # extra rows of entries with several vectors.
        wanted = math.ceil(k * state.m / max(1, state.live))
        rows = graph.candidates(query, wanted)
        if graph.rows < state.m:
            rows = np.concatenate([rows, np.arange(graph.rows, state.m)])  # added since
        sims, slots = _rescored(state, rows, query, state.alive)
        return _top(sims, state.ids[slots], k)

    def _search_codes(
        self, state: _State, query: np.ndarray, k: int, eligible: np.ndarray | None
    ) -> list[tuple[int, float]] | None:
        """The exact k best through the 8-bit codes (module docstring of engine/quantized.py);
        None where the plain scan is the better way (few rows, no codes, a bound too loose)."""
        columns = state.columns
        if columns is None or columns.codes is None or state.m < CODES_MIN_ROWS:
            return None
        if eligible is None:
            eligible = state.alive
        count = state.live if eligible is state.alive else int(np.count_nonzero(eligible))
        wanted = math.ceil((CODES_FIRST * k + CODES_EXTRA) * state.m / max(1, count))
        while wanted <= state.m // 8:
            rows, bound = quantized.candidates(
                columns.scanner(), columns.errors, state.m, query, wanted
            )
            sims, slots = _rescored(state, rows, query, eligible)
            kth = np.partition(sims, len(sims) - k)[len(sims) - k] if len(sims) >= k else -np.inf
            if bound < kth or bound == -np.inf:  # no row left out can rank
                return _top(sims, state.ids[slots], k)
            wanted *= 4
        return None

    # ------------------------------------------------------------------ files

    def remove_files(self) -> None:
        """Remove this library's files (every generation and graph; the library is gone)."""
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.with_suffix(".npz").unlink(missing_ok=True)


_NO_FILTER = Filter()


def _capacity(count: int) -> int:
    return max(64, count * 5 // 4 + 64)


def _slots(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Slot of each wanted entry id in the ascending `ids`, -1 where absent."""
    if not len(ids):
        return np.full(len(wanted), -1, np.int64)
    pos = np.minimum(np.searchsorted(ids, wanted), len(ids) - 1)
    return np.where(ids[pos] == wanted, pos, -1)


def _write_entries(
    columns: _Columns, n: int, m: int, rows: list[tuple[Any, ...]]
) -> tuple[_Columns, int, int]:
    """Append store rows (id, vectors blob, tag1, tag2, class_id1, class_id2) at slot n, row m."""
    width = VECTOR_DIM * STORED.itemsize
    good = []
    for row in rows:
        if row[1] is None or not len(row[1]) or len(row[1]) % width:
            log.warning("engine index: entry %s has malformed vectors; skipped", row[0])
        else:
            good.append(row)
    if not good:
        return columns, n, m
    counts = np.array([len(row[1]) // width for row in good], np.int64)
    blob = b"".join(row[1] for row in good)  # one conversion per block, not per entry
    return _write_block(
        columns,
        n,
        m,
        np.array([row[0] for row in good], np.int64),
        np.array([pack_labels(*row[2:]) for row in good], np.uint64),
        counts,
        np.frombuffer(blob, STORED).reshape(-1, VECTOR_DIM),
    )


def _write_block(
    columns: _Columns,
    n: int,
    m: int,
    ids: np.ndarray,
    labels: np.ndarray,
    counts: np.ndarray,
    vectors: np.ndarray,
) -> tuple[_Columns, int, int]:
    """Write entries at slot n and their rows at row m, straight into the (grown) files."""
    k, total = len(ids), int(np.sum(counts))
    columns = columns.reserve(n + k, m + total)
    columns.vectors[m : m + total] = vectors
    if columns.codes is not None:
        for lo in range(m, m + total, ENCODE_CHUNK):
            hi = min(lo + ENCODE_CHUNK, m + total)
            columns.codes[lo:hi], columns.errors[lo:hi] = quantized.encode(columns.vectors[lo:hi])
    columns.owner[m : m + total] = np.repeat(np.arange(n, n + k), counts)
    columns.ids[n : n + k] = ids
    columns.labels[n : n + k] = labels
    columns.starts[n : n + k] = m + np.concatenate([[0], np.cumsum(counts)[:-1]])
    columns.alive[n : n + k] = True
    return columns, n + k, m + total


def _top(best: np.ndarray, ids: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The k best (id, score), best first, ties by id."""
    if len(best) > 4 * k:
        # Keep everything tied with the k-th score so ties resolve by id, not by chance.
        kth = np.partition(best, len(best) - k)[len(best) - k]
        keep = np.flatnonzero(best >= kth)
        best, ids = best[keep], ids[keep]
    order = np.lexsort((ids, -best))[:k]
    scores = best[order]
    if len(scores) and scores[-1] == -np.inf:  # masked (dead) entries take no place
        order = order[scores > -np.inf]
    return list(zip(ids[order].tolist(), best[order].tolist(), strict=True))


def _rescored(
    state: _State, rows: np.ndarray, query: np.ndarray, eligible: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(exact score, slot) of each eligible slot among the rows' owners: its best row's."""
    sims = _best_per_row(state.vectors, rows, query)
    slots = state.owner[rows]
    keep = eligible[slots]
    sims, slots = sims[keep], slots[keep]
    if len(slots) and (state.m != state.n or len(query) > 1):  # a slot may come more than once
        order = np.lexsort((-sims, slots))  # per slot, best row first
        slots, sims = slots[order], sims[order]
        first = np.concatenate([[True], slots[1:] != slots[:-1]])
        sims, slots = sims[first], slots[first]
    return sims, slots


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
        if len(block) <= FEW_ROWS:
            # einsum, not BLAS: on few rows BLAS wakes its threads, which then spin for a
            # tenth of a second, taking the cores from the next search's scan (measured at
            # 5,000 rows: a code scan of 25 ms took 55).
            out[lo : lo + len(block)] = np.einsum("rd,qd->rq", block, query).max(axis=1)
        else:
            out[lo : lo + len(block)] = (
                block @ single if single is not None else (block @ query.T).max(axis=1)
            )
    return out


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# ---------------------------------------------------------------------- registry

_indexes: dict[int, LibraryIndex] = {}
_registry_lock = threading.Lock()


def for_library(library: EngineLibrary) -> LibraryIndex:
    """This process's view of `library`'s index, caught up to at least `library.seq`."""
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
    """Drop the indexes of one library (or all) from this process and from the machine: the
    next use rebuilds from the store.

    For a library that is gone, and for tests that change the store behind the change log.
    Another process that still maps the files keeps using them until it next catches up; it
    then finds no head and rebuilds.
    """
    with _registry_lock:
        if library_id is None:
            _indexes.clear()
        else:
            _indexes.pop(library_id, None)
    pattern = "*" if library_id is None else f"{library_id}-*"
    for path in index_root().glob(pattern):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
