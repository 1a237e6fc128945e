"""What the engine needs from a vector index, and how vectors are kept in the store.

The store (engine/store.py) is the truth; an index is derived from it and catches up through
the change log. ``engine.index.LibraryIndex`` is the machine-local implementation (memory-mapped
files shared by the engine processes of one host); another one (an adapter to a distributed
vector database fed from the same change log) provides the same two operations, and search
(engine/search.py) uses nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from engine.features.extract import VECTOR_DIM, VECTOR_DTYPE

# EngineEntry.vectors: (k, VECTOR_DIM) of this dtype, row 0 the global vector. Little-endian
# whatever the host, so a database moves between machines as it is.
STORED = np.dtype(VECTOR_DTYPE).newbyteorder("<")


def decode_vectors(blob: bytes) -> np.ndarray:
    """Stored vectors as float32 (k, D); empty if the blob has another shape."""
    if len(blob) % (VECTOR_DIM * STORED.itemsize):
        return np.zeros((0, VECTOR_DIM), np.float32)
    return np.frombuffer(blob, dtype=STORED).reshape(-1, VECTOR_DIM).astype(np.float32)


@dataclass(frozen=True)
class Filter:
    """Search restrictions (baidu-wire §5.6, §5.7); an empty filter matches every entry."""

    tags: tuple[int, ...] = ()
    tag_logic: int = 0  # 0 = AND, 1 = OR
    class_id1: int | None = None
    class_id2: int | None = None
    # Only these entries, when set: a condition on fields an index does not hold (the Alibaba
    # wire's attribute filters, aliyun-wire §5.3), evaluated by the store beforehand.
    entries: frozenset[int] | None = None

    def admits(
        self,
        tags: tuple[int, ...],
        class_id1: int | None,
        class_id2: int | None,
        entry_id: int | None = None,
    ) -> bool:
        """Whether one entry with these labels passes (an index evaluates it in bulk)."""
        if self.entries is not None and entry_id not in self.entries:
            return False
        if self.tags:
            hits = [tag in tags for tag in self.tags]
            if not (all(hits) if self.tag_logic == 0 else any(hits)):
                return False
        if self.class_id1 is not None and class_id1 != self.class_id1:
            return False
        return self.class_id2 is None or class_id2 == self.class_id2


class LibraryGoneError(Exception):
    """The library was deleted (or replaced) while its index was in use."""


class VectorIndex(Protocol):
    """One library's vectors, searchable once caught up with the store."""

    def sync(self, target_seq: int) -> None:
        """Make every change up to the library's change number `target_seq` visible.

        A search that first syncs to the `seq` it read from the database sees every write
        committed before, by any process (read-your-writes). Raises LibraryGoneError if the
        library no longer exists.
        """
        ...

    def search(self, query: np.ndarray, flt: Filter, k: int) -> list[tuple[int, float]]:
        """The `k` best entries passing `flt` as (entry id, best cosine over the rows of
        `query`), best first, ties by earlier add; filtered-out entries take no place."""
        ...
