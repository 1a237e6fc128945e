"""The shared index: catch-up across processes, published files, rebuilds, compaction, graphs."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine import ann, index, services, store
from engine.index import LibraryIndex
from engine.models import EngineChange, EngineEntry, EngineLibrary
from engine.vectors import STORED, Filter

from .enginekit import App, b64, picture, store_entry, unit

pytestmark = pytest.mark.django_db

DIM = index.VECTOR_DIM


def vec(seed: int) -> np.ndarray:
    return unit(np.random.default_rng(seed).normal(size=DIM))


def lib(app: App, service: str = "similar") -> EngineLibrary:
    return EngineLibrary.objects.get(app__app_id=app.app_id, service=service)


def fresh(library: EngineLibrary) -> LibraryIndex:
    """An index as another process would hold it: its own view, same files, same database."""
    library.refresh_from_db()
    instance = LibraryIndex(library.pk, str(library.uid))
    instance.sync(library.seq)
    return instance


NO_FILTER = Filter()


def ids(instance: LibraryIndex, query: np.ndarray, flt: Filter = NO_FILTER) -> list[int]:
    return [eid for eid, _ in instance.search(query, flt, 1000)]


def forbid(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> None:
    """Make a call fail the test: proves a path was not taken."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"{name} was called")

    monkeypatch.setattr(owner, name, refuse)


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


def test_one_process_replays_and_the_other_adopts_its_appends_and_deletes(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = lib(app)
    signs = [store_entry(library, vec(i), key=f"k{i}", tags=(i % 2 + 1,)) for i in range(10)]
    a, b = fresh(library), fresh(library)
    assert a.directory == b.directory and a._state.generation == b._state.generation
    gone = set(EngineEntry.objects.filter(cont_sign__in=signs[:3]).values_list("id", flat=True))
    store_entry(library, vec(50), key="new", tags=(2,))
    store.entries_delete(library=library, cont_signs=signs[:3])
    library.refresh_from_db()
    a.sync(library.seq)  # A replays the log into the shared files and publishes
    # B catches up from what A published: no log replay, no rebuild.
    forbid(monkeypatch, b, "_replay")
    forbid(monkeypatch, b, "_rebuild")
    b.sync(library.seq)
    assert b.seq == a.seq == library.seq and len(b) == len(a) == 8
    for query in (vec(50), vec(1), vec(7)):
        for flt in (NO_FILTER, Filter(tags=(2,))):
            assert b.search(query, flt, 20) == a.search(query, flt, 20)
    assert b.search(vec(50), NO_FILTER, 1)[0][1] == pytest.approx(1.0, abs=1e-3)
    assert len(gone) == 3 and not gone & set(ids(b, vec(0)))


def test_every_search_catches_up_through_the_wire(app: App) -> None:
    image = b64(picture(1, size=(300, 300)))
    added = app.call("similar", "add", {"image": image, "brief": "x"})
    assert app.call("similar", "search", {"image": image})["result_num"] == 1
    # Another process deletes it: this process's cached index must not answer stale.
    library = lib(app)
    store.entries_delete(library=library, cont_signs=[added["cont_sign"]])
    assert app.call("similar", "search", {"image": image})["result"] == []


def test_rebuild_after_wiping_the_index(app: App) -> None:
    library = lib(app)
    for i in range(20):
        store_entry(library, vec(i), key=f"k{i}", tags=(i % 3 + 1,))
    library.refresh_from_db()
    before = index.for_library(library).search(vec(4), Filter(tags=(2,)), 10)
    directory = index.for_library(library).directory
    index.forget()
    assert not directory.exists()
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
    generation = stale._state.generation
    stale.sync(library.seq)
    assert len(stale) == 5 and stale.seq == library.seq
    assert stale._state.generation != generation


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
    old = index.for_library(library)
    assert len(old) == 1
    services.engine_library_delete(app_id=app.app_id, service="similar")
    assert not old.directory.exists()
    services.engine_library_create(app_id=app.app_id, service="similar")
    renewed = lib(app)
    assert len(index.for_library(renewed)) == 0


def test_a_restart_maps_the_published_files_instead_of_rebuilding(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = lib(app)
    for i in range(30):
        store_entry(library, vec(i), key=f"k{i}", tags=(i % 2 + 1,))
    built = fresh(library)
    expected = built.search(vec(7), Filter(tags=(2,)), 5)
    store_entry(library, vec(100), key="late")  # replayed on top of the files
    library.refresh_from_db()
    forbid(monkeypatch, LibraryIndex, "_rebuild")
    restarted = fresh(library)
    assert restarted._state.generation == built._state.generation
    assert restarted.seq == library.seq == 31 and len(restarted) == 31
    assert restarted.search(vec(7), Filter(tags=(2,)), 5) == expected
    assert restarted.search(vec(100), NO_FILTER, 1)[0][1] == pytest.approx(1.0, abs=1e-3)


def test_files_newer_than_the_database_are_rebuilt(app: App) -> None:
    library = lib(app)
    store_entry(library, vec(1), key="a")
    built = fresh(library)
    EngineLibrary.objects.filter(pk=library.pk).update(seq=0)  # a restored, older database
    library.refresh_from_db()
    restored = fresh(library)
    assert restored.seq == 0
    assert restored._state.generation != built._state.generation


def test_files_of_another_features_version_are_rebuilt(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = lib(app)
    store_entry(library, vec(1), key="a")
    built = fresh(library)
    monkeypatch.setattr(index, "FEATURES_VERSION", "another")
    other = fresh(library)
    assert other._state.generation != built._state.generation
    assert len(other) == 0  # entries of another version are left out until added again
    head = index._Head.read(other.directory)
    assert head is not None and head.version == "another"


def test_a_writer_dying_between_append_and_publish_leaves_a_readable_index(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = lib(app)
    for i in range(10):
        store_entry(library, vec(i), key=f"k{i}")
    survivor = fresh(library)
    published = survivor._head
    store_entry(library, vec(60), key="appended")
    store_entry(library, vec(61), key="appended too")
    library.refresh_from_db()
    dying = LibraryIndex(library.pk, str(library.uid))

    def crash(state: Any) -> None:
        raise SystemExit("killed")  # after the rows were written into the shared files

    monkeypatch.setattr(dying, "_publish", crash)
    with pytest.raises(SystemExit):
        dying.sync(library.seq)
    # The head is untouched; readers keep the published sizes and never see the extra rows.
    assert index._Head.read(survivor.directory) == published
    reader = LibraryIndex(library.pk, str(library.uid))
    assert published is not None
    assert reader.refresh() and reader.seq == published.seq and len(reader) == 10
    assert ids(reader, vec(3))[0] == ids(survivor, vec(3))[0]
    # The next writer overwrites the orphaned rows and publishes.
    survivor.sync(library.seq)
    assert len(survivor) == 12 and ids(survivor, vec(61))[0] == ids(fresh(library), vec(61))[0]


def test_after_a_reboot_the_index_restarts_from_its_durable_point(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index, "CHECKPOINT_EVERY", 5)
    library = lib(app)
    for i in range(8):
        store_entry(library, vec(i), key=f"k{i}")
    fresh(library)  # durable at 8 (a new generation is synced when installed)
    for i in range(8, 11):
        store_entry(library, vec(i), key=f"k{i}")
    library.refresh_from_db()
    fresh(library)  # 11, not synced yet
    head = index._Head.read(fresh(library).directory)
    assert head is not None and head.seq == 11 and head.durable[0] == 8
    monkeypatch.setattr(index, "_boot_id", lambda: "another boot")
    rebooted = LibraryIndex(library.pk, str(library.uid))
    assert not rebooted.refresh()  # pages past the durable point may be lost: not adopted
    rebooted.sync(library.seq)
    assert rebooted.seq == 11 and len(rebooted) == 11
    assert ids(rebooted, vec(10))[0] == ids(fresh(library), vec(10))[0]
    head = index._Head.read(rebooted.directory)
    assert head is not None and head.boot == "another boot"


def test_files_grow_in_place_and_readers_map_the_larger_size(app: App) -> None:
    library = lib(app)
    store_entry(library, vec(0), key="first")
    writer, reader = fresh(library), fresh(library)
    capacity = writer._state.columns.cap_e  # type: ignore[union-attr]
    for i in range(1, capacity + 10):
        store_entry(library, vec(i), key=f"k{i}")
    library.refresh_from_db()
    writer.sync(library.seq)
    assert writer._state.generation == reader._state.generation  # no copy, same files
    assert writer._state.columns.cap_e > capacity  # type: ignore[union-attr]
    reader.sync(library.seq)
    assert len(reader) == capacity + 10
    assert ids(reader, vec(capacity + 5))[0] == ids(writer, vec(capacity + 5))[0]


def test_compaction_keeps_results(app: App) -> None:
    library = lib(app)
    signs = [store_entry(library, vec(i), key=f"k{i}") for i in range(1500)]
    library.refresh_from_db()
    instance = fresh(library)
    other = fresh(library)
    expected_before = ids(instance, vec(1499))[:3]
    for start in range(0, 1300, 100):
        store.entries_delete(library=library, cont_signs=signs[start : start + 100])
    library.refresh_from_db()
    generation = instance._state.generation
    instance.sync(library.seq)
    assert instance._state.n == 200  # compacted: dead slots dropped, in a new generation
    assert instance._state.generation != generation
    assert [p.name for p in instance.directory.iterdir() if p.is_dir()] == [
        instance._state.generation
    ]
    assert ids(instance, vec(1499)) == ids(fresh(library), vec(1499))
    assert ids(instance, vec(1499))[0] == expected_before[0]
    # A process still on the removed generation keeps answering from its mapping.
    assert other.search(vec(1499), NO_FILTER, 1)[0][0] == expected_before[0]
    other.sync(library.seq)
    assert other._state.generation == instance._state.generation


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


def test_a_forked_process_sees_the_published_appends_and_deletes(app: App) -> None:
    """Two real processes over one data directory: the child only reads the files."""
    library = lib(app)
    signs = [store_entry(library, vec(i), key=f"k{i}", tags=(i % 2 + 1,)) for i in range(40)]
    writer = fresh(library)
    queries = [vec(3), vec(70), vec(11)]
    to_child_r, to_child_w = os.pipe()
    to_parent_r, to_parent_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no database, no Django writes; exits without cleanup
        code = 1
        try:
            os.close(to_child_w)
            os.close(to_parent_r)
            child = LibraryIndex(library.pk, str(library.uid))
            answers = []
            for _ in range(2):
                assert child.refresh()
                tagged = [ids(child, q, Filter(tags=(2,))) for q in queries]
                answers.append(repr([child.seq, len(child), *tagged]))
                os.write(to_parent_w, (answers[-1] + "\n").encode())
                os.read(to_child_r, 1)  # wait for the parent's writes
            code = 0
        finally:
            os._exit(code)
    os.close(to_child_r)
    os.close(to_parent_w)
    with os.fdopen(to_parent_r) as replies:
        first = replies.readline().strip()
        assert first == repr(
            [writer.seq, 40, *[ids(writer, q, Filter(tags=(2,))) for q in queries]]
        )
        store_entry(library, vec(70), key="added", tags=(2,))
        store.entries_delete(library=library, cont_signs=signs[:6])
        library.refresh_from_db()
        writer.sync(library.seq)
        os.write(to_child_w, b"x")
        second = replies.readline().strip()
        os.write(to_child_w, b"x")
    os.close(to_child_w)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert second == repr([writer.seq, 35, *[ids(writer, q, Filter(tags=(2,))) for q in queries]])
    assert ids(writer, vec(70), Filter(tags=(2,)))[0] == ids(fresh(library), vec(70))[0]


# ---------------------------------------------------------------------- approximate path


def memory_index(directory: Path, vectors: np.ndarray, tags: np.ndarray) -> LibraryIndex:
    """An index over the given rows (one per entry, ids 1..n), without a database."""
    size = len(vectors)
    built = LibraryIndex(0, "memory", directory=directory)
    block = (np.arange(1, size + 1), tags.astype(np.uint64), np.ones(size, np.int64), vectors)
    built.load(1, [block], entries=size, rows=size)
    return built


def exact(built: LibraryIndex, query: np.ndarray, k: int, flt: Filter = NO_FILTER) -> list[int]:
    state = built._state
    sims = state.vectors[: state.m] @ query
    mask = state.alive[: state.n] & index.matches(state.labels[: state.n], flt)
    sims[~mask] = -np.inf
    order = np.lexsort((state.ids[: state.n], -sims))[:k]
    return [int(state.ids[i]) for i in order if mask[i]]


@pytest.fixture
def corpus() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(30, DIM))
    vectors = centers[rng.integers(0, 30, 3000)] + 0.7 * rng.normal(size=(3000, DIM))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32), rng.integers(1, 4, 3000)


def wait_for(condition: Callable[[], bool], seconds: float = 120) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_approximate_path_is_rescored_exactly_and_filters_stay_exact(
    tmp_path: Path, corpus: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("faiss")
    monkeypatch.setattr(ann, "ANN_MIN_ROWS", 1000)
    vectors, tags = corpus
    built = memory_index(tmp_path / "lib", vectors, tags)
    built._graph_asked = time.monotonic()  # no background build: this test builds in front
    query = vectors[10]
    assert [e for e, _ in built.search(query, Filter(), 10)] == exact(built, query, 10)
    graph = built.build_graph()
    assert graph is not None and graph.rows == 3000
    recall = 0
    for i in range(0, 3000, 60):
        hits = built.search(vectors[i], Filter(), 10)
        assert hits[0][0] == i + 1  # a stored vector finds itself, rescored exactly
        assert hits[0][1] == pytest.approx(1.0, abs=1e-5)
        state = built._state
        for entry, score in hits:  # every score is the exact cosine
            assert score == pytest.approx(float(state.vectors[entry - 1] @ vectors[i]), abs=1e-6)
        recall += len({e for e, _ in hits} & set(exact(built, vectors[i], 10)))
    assert recall / (50 * 10) >= 0.95
    for flt in (Filter(tags=(2,)), Filter(tags=(1, 3), tag_logic=1)):
        for i in (7, 300, 2999):
            assert [e for e, _ in built.search(vectors[i], flt, 20)] == exact(
                built, vectors[i], 20, flt
            )


def test_the_saved_graph_is_mapped_by_another_process_not_rebuilt(
    tmp_path: Path, corpus: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("faiss")
    monkeypatch.setattr(ann, "ANN_MIN_ROWS", 1000)
    vectors, tags = corpus
    builder = memory_index(tmp_path / "lib", vectors, tags)
    builder._graph_asked = time.monotonic()
    graph = builder.build_graph()
    assert graph is not None
    assert (builder._state.columns.path / graph.file).is_file()  # type: ignore[union-attr]
    forbid(monkeypatch, ann, "build")
    forbid(monkeypatch, ann, "spawn_build")
    other = LibraryIndex(0, "memory", directory=tmp_path / "lib")
    assert other.refresh()
    for i in (5, 500, 2500):
        assert other.search(vectors[i], Filter(), 20) == builder.search(vectors[i], Filter(), 20)
    assert other._graph is not None and other._graph.file == graph.file
    assert other._graph.graph is not graph.graph


def test_deleted_entries_never_come_back_and_rows_added_after_the_build_are_found(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("faiss")
    monkeypatch.setattr(ann, "ANN_MIN_ROWS", 200)
    library = lib(app)
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(300, DIM))
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    signs = [store_entry(library, rows[i], key=f"k{i}") for i in range(300)]
    built = fresh(library)
    built._graph_asked = time.monotonic()
    assert built.build_graph() is not None
    target = ids(built, rows[5])[0]
    store.entries_delete(library=library, cont_signs=[signs[5]])
    store_entry(library, -rows[20], key="after the build")
    library.refresh_from_db()
    built.sync(library.seq)
    assert built._usable_graph(built._state) is not None
    assert target not in ids(built, rows[5])
    newest = built.search(-rows[20], Filter(), 1)[0]
    assert newest[0] == ids(fresh(library), -rows[20])[0]
    assert newest[1] == pytest.approx(1.0, abs=1e-3)


def test_a_large_search_starts_one_background_build_that_every_view_then_maps(
    tmp_path: Path, corpus: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("faiss")
    monkeypatch.setattr(ann, "ANN_MIN_ROWS", 1000)
    monkeypatch.setattr(index, "GRAPH_POLL", 0.0)
    vectors, tags = corpus
    first = memory_index(tmp_path / "lib", vectors, tags)
    second = LibraryIndex(0, "memory", directory=tmp_path / "lib")
    assert second.refresh()
    spawned: list[int] = []
    real_spawn = ann.spawn_build

    def counting(*args: Any, **kwargs: Any) -> bool:
        started = real_spawn(*args, **kwargs)
        spawned.append(int(started))
        return started

    monkeypatch.setattr(ann, "spawn_build", counting)
    # Until the graph exists both answer with the exact scan; the build runs elsewhere.
    assert [e for e, _ in first.search(vectors[10], Filter(), 10)] == exact(first, vectors[10], 10)
    assert wait_for(
        lambda: ann.building(first.directory) or first._load_graph(first._state) is not None
    )
    second.search(vectors[10], Filter(), 10)  # asks too, while the first build runs
    assert sum(spawned) == 1
    assert wait_for(lambda: first._usable_graph(first._state) is not None)
    assert wait_for(lambda: second._usable_graph(second._state) is not None)
    assert first._graph is not None and second._graph is not None
    assert first._graph.file == second._graph.file
    assert second.search(vectors[10], Filter(), 10)[0][0] == 11


def test_the_bulk_filter_and_the_single_entry_filter_agree() -> None:
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


def test_the_stored_format_round_trips_through_the_columns(tmp_path: Path) -> None:
    rows = np.stack([vec(1), vec(2)]).astype(STORED)
    built = LibraryIndex(0, "memory", directory=tmp_path / "lib")
    columns = built._new_generation(64, 64)
    blob = rows.tobytes()
    columns, n, m = index._write_entries(
        columns, 0, 0, [(7, blob, 1, None, 2, None), (9, b"bad", None, None, None, None)]
    )
    assert (n, m) == (1, 2)  # the malformed entry is skipped, the good one has two rows
    assert np.allclose(columns.vectors[:2], rows.astype(np.float32))
    assert columns.labels[0] == index.pack_labels(1, None, 2, None)
    assert list(columns.owner[:2]) == [0, 0]


def test_the_build_command_builds_and_saves_graphs_of_large_libraries(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from django.core.management import call_command

    pytest.importorskip("faiss")
    library = lib(app)
    for i in range(60):
        store_entry(library, vec(i), key=f"k{i}")
    out = io.StringIO()
    call_command(
        "engine_index", "build", "--app-id", app.app_id, "--service", "similar", stdout=out
    )
    assert "60 rows, below" in out.getvalue()
    monkeypatch.setattr(ann, "ANN_MIN_ROWS", 50)
    call_command(
        "engine_index", "build", "--app-id", app.app_id, "--service", "similar", stdout=out
    )
    assert "graph of 60 rows" in out.getvalue()
    forbid(monkeypatch, ann, "build")
    served = fresh(library)
    assert served._usable_graph(served._state) is not None  # saved, mapped, not rebuilt
    assert served.search(vec(3), Filter(), 1)[0][1] == pytest.approx(1.0, abs=1e-3)
