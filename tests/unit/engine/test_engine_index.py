"""The in-memory index: catch-up across processes, rebuilds, snapshots, compaction."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from engine import ann, index, services, store
from engine.index import LibraryIndex
from engine.models import EngineChange, EngineLibrary
from engine.vectors import STORED, Filter

from .enginekit import App, b64, picture, store_entry, unit

pytestmark = pytest.mark.django_db

DIM = index.VECTOR_DIM


def vec(seed: int) -> np.ndarray:
    return unit(np.random.default_rng(seed).normal(size=DIM))


def lib(app: App, service: str = "similar") -> EngineLibrary:
    return EngineLibrary.objects.get(app__app_id=app.app_id, service=service)


def fresh(library: EngineLibrary) -> LibraryIndex:
    """An index as another process would hold it: its own state, same database."""
    library.refresh_from_db()
    instance = LibraryIndex(library.pk, str(library.uid))
    instance.sync(library.seq)
    return instance


NO_FILTER = Filter()


def ids(instance: LibraryIndex, query: np.ndarray, flt: Filter = NO_FILTER) -> list[int]:
    return [eid for eid, _ in instance.search(query, flt, 1000)]


def test_read_your_writes_across_two_independent_indexes(app: App) -> None:
    library = lib(app)
    a = fresh(library)
    b = fresh(library)
    assert len(a) == len(b) == 0
    # "Process A" writes; "process B" must see it on its next search.
    store_entry(library, vec(1), key="one", tags=(5,))
    library.refresh_from_db()
    b.sync(library.seq)
    assert len(b) == 1
    assert ids(b, vec(1), Filter(tags=(5,))) == ids(b, vec(1))
    sign = store_entry(library, vec(2), key="two")
    store.entry_update(library=library, cont_sign=sign, brief=None, labels=store.Labels(tags=(5,)))
    store.entries_delete(library=library, cont_signs=[store_entry(library, vec(3), key="three")])
    library.refresh_from_db()
    for instance in (a, b):
        instance.sync(library.seq)
        assert instance.seq == library.seq
        assert len(instance) == 2
        assert len(ids(instance, vec(2), Filter(tags=(5,)))) == 2


def test_every_search_catches_up_through_the_wire(app: App) -> None:
    image = b64(picture(1, size=(300, 300)))
    added = app.call("similar", "add", {"image": image, "brief": "x"})
    assert app.call("similar", "search", {"image": image})["result_num"] == 1
    # Another process deletes it: this process's cached index must not answer stale.
    library = lib(app)
    store.entries_delete(library=library, cont_signs=[added["cont_sign"]])
    assert app.call("similar", "search", {"image": image})["result"] == []


def test_rebuild_after_wiping_the_in_memory_index(app: App) -> None:
    library = lib(app)
    for i in range(20):
        store_entry(library, vec(i), key=f"k{i}", tags=(i % 3 + 1,))
    library.refresh_from_db()
    before = index.for_library(library).search(vec(4), Filter(tags=(2,)), 10)
    index.forget()
    after = index.for_library(library).search(vec(4), Filter(tags=(2,)), 10)
    assert before == after
    assert after[0][0] == ids(fresh(library), vec(4))[0]


def test_a_gap_in_the_change_log_forces_a_rebuild(app: App) -> None:
    library = lib(app)
    stale = fresh(library)
    for i in range(5):
        store_entry(library, vec(i), key=f"k{i}")
    EngineChange.objects.filter(library=library, seq__lte=3).delete()  # pruned
    library.refresh_from_db()
    stale.sync(library.seq)
    assert len(stale) == 5 and stale.seq == library.seq


def test_clear_empties_every_index(app: App) -> None:
    library = lib(app)
    for i in range(5):
        store_entry(library, vec(i), key=f"k{i}")
    other = fresh(library)
    assert services.engine_library_clear(app_id=app.app_id, service="similar") == 5
    library.refresh_from_db()
    other.sync(library.seq)
    assert len(other) == 0 and library.entry_count == 0
    store_entry(library, vec(9), key="after")
    library.refresh_from_db()
    other.sync(library.seq)
    assert len(other) == 1


def test_deleted_and_recreated_library_is_not_confused(app: App) -> None:
    library = lib(app)
    store_entry(library, vec(1), key="old")
    library.refresh_from_db()
    assert len(index.for_library(library)) == 1
    services.engine_library_delete(app_id=app.app_id, service="similar")
    services.engine_library_create(app_id=app.app_id, service="similar")
    renewed = lib(app)
    assert len(index.for_library(renewed)) == 0


def test_snapshot_round_trip_then_catch_up(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index, "SNAPSHOT_MIN_ENTRIES", 1)
    library = lib(app)
    for i in range(30):
        store_entry(library, vec(i), key=f"k{i}", tags=(i % 2 + 1,))
    library.refresh_from_db()
    built = LibraryIndex(library.pk, str(library.uid))
    built.rebuild()
    for _ in range(100):
        if not built._saving:
            break
        threading.Event().wait(0.05)
    path = built._snapshot_path()
    assert path.exists()
    # Later writes are replayed on top of the snapshot.
    store_entry(library, vec(100), key="late")
    library.refresh_from_db()
    loaded = LibraryIndex(library.pk, str(library.uid))
    assert loaded._load_snapshot()
    assert loaded.seq == 30
    loaded.sync(library.seq)
    assert len(loaded) == 31
    assert loaded.search(vec(7), Filter(tags=(2,)), 5) == fresh(library).search(
        vec(7), Filter(tags=(2,)), 5
    )


def test_snapshot_newer_than_the_database_is_ignored(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = lib(app)
    store_entry(library, vec(1), key="a")
    library.refresh_from_db()
    built = fresh(library)
    built._save(built._state)
    EngineLibrary.objects.filter(pk=library.pk).update(seq=0)  # a restored, older database
    restored = LibraryIndex(library.pk, str(library.uid))
    assert not restored._load_snapshot()


def test_compaction_keeps_results(app: App) -> None:
    library = lib(app)
    signs = [store_entry(library, vec(i), key=f"k{i}") for i in range(1500)]
    library.refresh_from_db()
    instance = fresh(library)
    expected_before = ids(instance, vec(1499))[:3]
    for start in range(0, 1300, 100):
        store.entries_delete(library=library, cont_signs=signs[start : start + 100])
    library.refresh_from_db()
    instance.sync(library.seq)
    assert instance._state.n == 200  # compacted: dead slots dropped
    assert ids(instance, vec(1499)) == ids(fresh(library), vec(1499))
    assert ids(instance, vec(1499))[0] == expected_before[0]


def test_concurrent_searches_while_writing(app: App) -> None:
    library = lib(app)
    for i in range(50):
        store_entry(library, vec(i), key=f"k{i}")
    library.refresh_from_db()
    shared = index.for_library(library)
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                hits = shared.search(vec(3), Filter(), 1000)
                assert hits and all(-1.01 <= score <= 1.01 for _, score in hits)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for i in range(50, 120):
        store_entry(library, vec(i), key=f"k{i}")
        library.refresh_from_db()
        shared.sync(library.seq)
    stop.set()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(shared) == 120


def _memory_index(vectors: np.ndarray, tags: np.ndarray) -> LibraryIndex:
    """An index over the given rows (one per entry), without a database."""
    from dataclasses import replace

    size = len(vectors)
    state = index._empty_state(1, cap_e=size * 2, cap_v=size * 2)
    state.vectors[:size] = vectors
    state.ids[:size] = np.arange(1, size + 1)
    state.alive[:size] = True
    state.starts[:size] = np.arange(size)
    state.owner[:size] = np.arange(size)
    state.labels[:size] = tags.astype(np.uint64)
    built = LibraryIndex(0, "memory")
    built._state = replace(state, n=size, m=size, live=size, generation=1)
    built._slot = {i + 1: i for i in range(size)}
    return built


def _exact(built: LibraryIndex, query: np.ndarray, k: int) -> list[int]:
    state = built._state
    sims = state.vectors[: state.m] @ query
    sims[~state.alive[: state.n]] = -np.inf
    return [int(state.ids[i]) for i in np.lexsort((state.ids[: state.n], -sims))[:k]]


def test_approximate_path_for_large_unfiltered_searches(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("faiss")
    monkeypatch.setattr(ann, "ANN_MIN_ROWS", 1000)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    built = _memory_index(vectors, rng.integers(1, 4, 3000))
    query = vectors[10]
    # Until the graph is built the exact scan answers (and the build starts).
    assert [e for e, _ in built.search(query, Filter(), 10)] == _exact(built, query, 10)
    for _ in range(600):
        if built._ann is not None:
            break
        threading.Event().wait(0.05)
    assert built._ann is not None
    recall = 0
    for i in range(0, 3000, 60):
        hits = [e for e, _ in built.search(vectors[i], Filter(), 10)]
        assert hits[0] == i + 1  # a stored vector finds itself, rescored exactly
        recall += len(set(hits) & set(_exact(built, vectors[i], 10)))
    assert recall / (50 * 10) >= 0.95
    scores = built.search(vectors[5], Filter(), 5)
    assert scores[0][1] == pytest.approx(1.0, abs=1e-5)
    # Deleted entries never come back; rows added after the build are found.
    built._kill(5)
    assert 6 not in [e for e, _ in built.search(vectors[5], Filter(), 10)]
    fresh_vector = vectors[20] * -1
    built._append((99999, fresh_vector.astype(STORED).tobytes(), 1, None, None, None))
    assert built.search(fresh_vector, Filter(), 1)[0][0] == 99999
    # Filtered searches stay exact.
    flt = Filter(tags=(2,))
    exact_filtered = built.search(vectors[7], flt, 20)
    state = built._state
    mask = index.matches(state.labels[: state.n], flt) & state.alive[: state.n]
    sims = state.vectors[: state.m] @ vectors[7]
    expected = sorted(
        ((int(state.ids[i]), float(sims[i])) for i in np.flatnonzero(mask)),
        key=lambda t: (-t[1], t[0]),
    )[:20]
    assert [e for e, _ in exact_filtered] == [e for e, _ in expected]


def test_snapshot_of_another_features_version_is_ignored(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = lib(app)
    store_entry(library, vec(1), key="a")
    built = fresh(library)
    built._save(built._state)
    monkeypatch.setattr(index, "FEATURES_VERSION", "another")
    assert not LibraryIndex(library.pk, str(library.uid))._load_snapshot()


def test_the_bulk_filter_and_the_single_entry_filter_agree():
    # Search checks an exact copy with Filter.admits and everything else with index.matches.
    labelled: list[tuple[tuple[int, ...], int | None, int | None]] = [
        ((), None, None),
        ((3,), None, None),
        ((3, 5), None, None),
        ((5, 3), 7, None),
        ((), 7, 9),
        ((9,), None, 9),
    ]
    filters = [Filter(), Filter(tags=(3,)), Filter(tags=(3, 5)), Filter(tags=(3, 5), tag_logic=1)]
    filters += [Filter(tags=(3, 3)), Filter(class_id1=7), Filter(class_id2=9), Filter(tags=(9,))]
    for tags, class_id1, class_id2 in labelled:
        padded = [*tags, None, None]
        packed = np.array(
            [index.pack_labels(padded[0], padded[1], class_id1, class_id2)], dtype=np.uint64
        )
        for flt in filters:
            assert bool(index.matches(packed, flt)[0]) == flt.admits(tags, class_id1, class_id2)
