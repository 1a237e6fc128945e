"""The 8-bit copy of the rows: searches through it answer exactly what the plain scan does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine import index, quantized
from engine.index import LibraryIndex
from engine.vectors import Filter

pytest.importorskip("faiss")

DIM = index.VECTOR_DIM


def unit_rows(rng: np.random.Generator, count: int, spread: float = 0.7) -> np.ndarray:
    centers = rng.normal(size=(20, DIM))
    rows = centers[rng.integers(0, 20, count)] + spread * rng.normal(size=(count, DIM))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def loaded(directory: Path, rows: np.ndarray, counts: np.ndarray, tags: np.ndarray) -> LibraryIndex:
    """An index of len(counts) entries (ids 1, 3, 5, …) owning the rows in order."""
    built = LibraryIndex(0, "memory", directory=directory)
    ids = np.arange(1, 2 * len(counts) + 1, 2)
    block = (ids, tags.astype(np.uint64), counts.astype(np.int64), rows)
    built.load(1, [block], entries=len(counts), rows=len(rows))
    return built


def columns_of(built: LibraryIndex) -> index._Columns:
    columns = built._state.columns
    assert columns is not None
    return columns


@pytest.fixture
def both_ways(monkeypatch: pytest.MonkeyPatch) -> Any:
    """search(built, query, flt, k) through the codes and through the plain scan; the number
    of looks through the codes is counted."""
    monkeypatch.setattr(quantized, "PART_ROWS", 700)  # several parts even for small tests
    monkeypatch.setattr(index, "CODES_FIRST", 1)  # first looks small enough for small tests
    monkeypatch.setattr(index, "CODES_EXTRA", 16)
    looks = []
    real = quantized.candidates

    def counting(*args: Any) -> Any:
        looks.append(args[-1])
        return real(*args)

    monkeypatch.setattr(quantized, "candidates", counting)

    def search(built: LibraryIndex, query: np.ndarray, flt: Filter, k: int) -> Any:
        with monkeypatch.context() as scoped:
            scoped.setattr(index, "CODES_MIN_ROWS", 0)
            looked = len(looks)
            coded = built.search(query, flt, k)
            assert len(looks) > looked, "the codes were not used"
            scoped.setattr(index, "CODES_MIN_ROWS", 10**12)
            plain = built.search(query, flt, k)
        return coded, plain

    search.looks = looks  # type: ignore[attr-defined]
    return search


def test_codes_give_the_plain_scans_answer_with_its_scores(tmp_path: Path, both_ways: Any) -> None:
    rng = np.random.default_rng(1)
    counts = rng.integers(1, 4, 2500)  # entries of one to three rows, as same_hq has
    rows = unit_rows(rng, int(counts.sum()))
    built = loaded(tmp_path / "lib", rows, counts, rng.integers(1, 3, 2500))
    state = built._state
    state.alive[rng.choice(2500, 300, replace=False)] = False  # deleted entries
    state = built._state = index.replace(state, live=int(state.alive[:2500].sum()))
    queries = [rows[5], rows[4000], unit_rows(rng, 1)[0], rows[[10, 2000]]]  # two vectors too
    for query in queries:
        for k in (1, 10, 100):
            for flt in (Filter(), Filter(tags=(1, 2), tag_logic=1)):
                coded, plain = both_ways(built, query, flt, k)
                assert [e for e, _ in coded] == [e for e, _ in plain]
                assert np.allclose([s for _, s in coded], [s for _, s in plain], atol=1e-6)


def test_a_row_with_a_clipped_component_is_still_found(tmp_path: Path, both_ways: Any) -> None:
    rng = np.random.default_rng(2)
    rows = unit_rows(rng, 3000)
    spike = np.zeros(DIM, np.float32)
    spike[[3, 9]] = [0.95, np.sqrt(1 - 0.95**2)]  # far outside ±0.3: its code is a poor copy
    rows[1234] = spike
    _, errors = quantized.encode(rows[1233:1236])
    assert errors[1] > quantized.ERROR_LIMIT > max(errors[0], errors[2])
    built = loaded(tmp_path / "lib", rows, np.ones(3000), np.ones(3000))
    coded, plain = both_ways(built, spike, Filter(), 5)
    assert coded == plain
    assert coded[0] == (2 * 1234 + 1, pytest.approx(1.0, abs=1e-5))


def test_a_crowd_of_near_ties_makes_it_look_again_until_the_answer_is_proven(
    tmp_path: Path, both_ways: Any
) -> None:
    rng = np.random.default_rng(3)
    base = unit_rows(rng, 1)[0]
    # 3,000 rows within a rounding error of each other: the first look cannot tell them apart.
    rows = base + 0.002 * rng.normal(size=(3000, DIM)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    rows = np.concatenate([rows, unit_rows(rng, 37000)])
    built = loaded(tmp_path / "lib", rows, np.ones(40000), np.ones(40000))
    before = len(both_ways.looks)
    coded, plain = both_ways(built, base, Filter(), 20)
    assert coded == plain
    assert len(both_ways.looks) - before >= 2  # it asked for more rows before answering


def test_error_norms_are_those_of_the_decoded_rows() -> None:
    rows = unit_rows(np.random.default_rng(4), 50)
    codes, errors = quantized.encode(rows)
    decoded = (codes.astype(np.float32) - 128) / quantized.SCALE
    assert np.allclose(errors, np.linalg.norm(rows - decoded, axis=1), atol=1e-6)
    assert errors.max() < quantized.ERROR_LIMIT


def test_the_codes_file_is_read_by_faiss_and_grows_in_place(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    built = LibraryIndex(0, "memory", directory=tmp_path / "lib")
    columns = built._new_generation(64, 64)
    rows = unit_rows(rng, 100)
    columns, _, m = index._write_block(
        columns, 0, 0, np.arange(1, 101), np.zeros(100, np.uint64), np.ones(100, np.int64), rows
    )
    assert columns.cap_v > 64  # grown past its first capacity
    scanner = columns.scanner()
    assert scanner.ntotal == columns.cap_v
    found, bound = quantized.candidates(scanner, columns.errors, m, rows[[42]], 3)
    assert 42 in found.tolist() and bound < 1.0
    # Another process maps the same generation and sees the same codes.
    again = index._Columns(columns.path, columns.cap_e, columns.cap_v, DIM, grow=False)
    assert again.codes is not None and columns.codes is not None
    assert np.array_equal(again.codes[:m], columns.codes[:m])


def test_a_codes_file_shorter_than_its_head_is_unreadable(tmp_path: Path) -> None:
    built = LibraryIndex(0, "memory", directory=tmp_path / "lib")
    columns = built._new_generation(64, 64)
    with open(columns.path / quantized.FILE, "r+b") as handle:
        handle.truncate(100)
    with pytest.raises(index._Unreadable):
        index._Columns(columns.path, 64, 64, DIM, grow=False)


def test_no_row_left_out_scores_above_the_bound(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    base = unit_rows(rng, 1)[0]
    rows = base + 0.05 * rng.normal(size=(6000, DIM)).astype(np.float32)  # a dense crowd
    rows = np.concatenate(
        [rows / np.linalg.norm(rows, axis=1, keepdims=True), unit_rows(rng, 6000)]
    )
    built = loaded(tmp_path / "lib", rows, np.ones(12000), np.ones(12000))
    columns = columns_of(built)
    for query in (base, rows[7], rows[9000], rows[[3, 8000]]):
        query = np.atleast_2d(query)
        exact = (rows @ query.T).max(axis=1)
        for wanted in (5, 50, 500):
            found, bound = quantized.candidates(
                columns.scanner(), columns.errors, 12000, query, wanted
            )
            outside = np.setdiff1d(np.arange(12000), found)
            assert exact[outside].max() <= bound  # sound
        assert bound < np.sort(exact[found])[-20]  # and of use: the best 20 are proven


def test_rows_with_a_large_error_are_always_candidates(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    rows = unit_rows(rng, 2000)
    rows[1500] *= 2  # not a unit vector: its error is counted as infinite
    built = loaded(tmp_path / "lib", rows, np.ones(2000), np.ones(2000))
    columns = columns_of(built)
    assert np.isinf(columns.errors[1500]) and np.isfinite(columns.errors[:1500]).all()
    found, _ = quantized.candidates(columns.scanner(), columns.errors, 2000, rows[[3]], 1)
    assert 1500 in found.tolist() and 3 in found.tolist()


def test_a_codes_file_with_another_header_is_unreadable(tmp_path: Path) -> None:
    built = LibraryIndex(0, "memory", directory=tmp_path / "lib")
    columns = built._new_generation(64, 64)
    with open(columns.path / quantized.FILE, "r+b") as handle:
        handle.write(b"IxSQ\x00\x02")  # another dimension, say
    with pytest.raises(index._Unreadable):
        index._Columns(columns.path, 64, 64, DIM, grow=False)
