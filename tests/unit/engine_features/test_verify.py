"""features.verify: the shortlist verified on a thread pool, the mirror image's keypoints
detected only when a candidate needs them, with exactly the sequential, eager results."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from engine.features import local as lf
from engine.features import verify as vf
from engine.features.decode import decode
from engine.features.extract import Features, extract
from engine.features.rank import rank, thumbnail_score, verified_score

from .conftest import decoded, encode, noise_image, photo_bytes


def stored(data: bytes) -> bytes:
    local = extract("same_hq", decode(data), for_query=False).local
    assert local is not None
    return local


@dataclass(frozen=True)
class Query:
    features: Features
    mirror_blob: bytes  # the mirror image's keypoints, detected up front as before


def query(data: bytes) -> Query:
    image = decode(data)
    grey = lf.grey(image.rgb)
    mirrored = lf.detect(np.ascontiguousarray(grey[:, ::-1]), lf.QUERY_KEYPOINTS)
    return Query(extract("same_hq", image), lf.serialize(mirrored))


def eager_matchers(q: Query) -> list[lf.QueryMatcher]:
    assert q.features.query_local is not None
    return [
        lf.QueryMatcher(lf.parse(q.features.query_local)),
        lf.QueryMatcher(lf.parse(q.mirror_blob)),
    ]


def sequential_inliers(matchers: list[lf.QueryMatcher], blob: bytes | None) -> int | None:
    """The verification as it was before the pool: plain, then the mirror image (detected
    up front) unless the plain match is conclusive; None for a blob that is skipped."""
    if blob is None:
        return None
    try:
        entry = lf.parse(blob)
    except ValueError:
        return None
    inliers = 0
    for m in matchers:
        inliers = max(inliers, m.inliers(entry))
        if inliers >= 4 * lf.MIN_INLIERS:
            break
    return inliers


def eager_rank(q: Query, candidates: list[tuple[int, float, bytes | None]]) -> list[Any]:
    """rank() as it was before: both matchers built before the first candidate, the
    candidates verified one after the other."""
    matchers = eager_matchers(q)
    out = []
    for eid, cos, blob in candidates:
        inliers = sequential_inliers(matchers, blob)
        if inliers is None or blob is None:
            continue
        if inliers >= lf.MIN_INLIERS:
            out.append((eid, verified_score(inliers)))
        elif cos >= lf.THUMB_MIN_COSINE:
            entry = lf.parse(blob)
            ncc = max(lf.thumbnail_correlation(m.kp, entry) for m in matchers)
            if ncc >= lf.THUMB_MIN_NCC:
                out.append((eid, thumbnail_score(ncc)))
    return sorted(out, key=lambda t: (-t[1], t[0]))


def plain_keypoints(q: Query) -> lf.Keypoints:
    assert q.features.query_local is not None
    return lf.parse(q.features.query_local)


@pytest.fixture(scope="module")
def shelf(corpus: ModuleType, photos: list[Path]) -> dict[str, Any]:
    """Stored blobs of four photos and four generated images, and the photos' bytes."""
    data = [photo_bytes(corpus, p) for p in photos[:4]]
    blobs = [stored(d) for d in data]
    blobs += [stored(encode(noise_image(40 + i), "PNG")) for i in range(4)]
    return {"data": data, "blobs": blobs}


def crop(data: bytes, keep: float) -> bytes:
    rgb = decoded(data).rgb
    h, w = rgb.shape[:2]
    side = keep**0.5
    y, x = int(h * (1 - side) * 0.3), int(w * (1 - side) * 0.7)
    return encode(rgb[y : y + int(h * side), x : x + int(w * side)], "JPEG", quality=80)


def mirrored_copy(data: bytes) -> bytes:
    rgb = np.ascontiguousarray(decoded(data).rgb[:, ::-1])
    return encode(rgb, "JPEG", quality=70)


def test_the_pool_finds_the_inliers_of_sequential_verification(shelf: dict[str, Any]) -> None:
    blobs: list[bytes | None] = [*shelf["blobs"], None, b"TKL3 of another version"]
    blobs = blobs[::2] + blobs[1::2]  # matches among non-matches, in no particular order
    data = shelf["data"]
    queries = [data[0], mirrored_copy(data[1])] + [crop(d, 0.3) for d in data[1:]]
    weak_plain = 0  # plain matches that the mirror image is tried for, and must not lower
    for q in map(query, queries):
        matchers = eager_matchers(q)
        expected = [sequential_inliers(matchers, b) for b in blobs]
        assert any(n is not None and n >= lf.MIN_INLIERS for n in expected)
        for b in blobs:
            plain = sequential_inliers(matchers[:1], b) or 0
            weak_plain += lf.MIN_INLIERS <= plain < vf.CONCLUSIVE_INLIERS
        for threads in (1, 2, 4, 16):
            got = vf.verify(plain_keypoints(q), q.features.mirror, blobs, threads=threads)
            assert [v.inliers if v.entry is not None else None for v in got] == expected
    assert weak_plain  # 30 % crops: 30-45 plain inliers, none mirrored


def test_a_mirrored_copy_ranks_exactly_as_with_eager_mirroring(shelf: dict[str, Any]) -> None:
    q = query(mirrored_copy(shelf["data"][1]))
    candidates = [(i, 0.6, b) for i, b in enumerate(shelf["blobs"])]
    got = rank("same_hq", q.features, candidates)
    assert [e for e, _ in got] == [1]  # the mirrored copy is still found, and only it
    assert got == eager_rank(q, candidates)
    assert q.features.mirror is not None and q.features.mirror.detected


def test_mirror_keypoints_are_detected_only_when_a_plain_match_is_not_conclusive(
    shelf: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    q = query(shelf["data"][0])
    mirror = q.features.mirror
    assert mirror is not None and not mirror.detected  # extract() did not detect them
    detections: list[int] = []
    real_detect = lf.detect

    def counting(g: np.ndarray, n: int) -> lf.Keypoints:
        detections.append(n)
        return real_detect(g, n)

    monkeypatch.setattr(lf, "detect", counting)
    # The original alone: hundreds of plain inliers, so the mirror image cannot matter.
    only_copy = [(0, 0.9, shelf["blobs"][0])]
    assert [e for e, _ in rank("same_hq", q.features, only_copy)] == [0]
    assert detections == [] and not mirror.detected
    # An unrelated candidate might match mirrored: now they are needed, once.
    with_others = [(0, 0.9, shelf["blobs"][0]), (5, 0.6, shelf["blobs"][5])]
    assert rank("same_hq", q.features, with_others) == eager_rank(q, with_others)
    assert rank("same_hq", q.features, with_others) == eager_rank(q, with_others)
    assert detections == [lf.QUERY_KEYPOINTS] and mirror.detected


def test_the_mirror_thumbnail_is_the_one_the_detection_stores(shelf: dict[str, Any]) -> None:
    # The thumbnail fallback compares it without detecting keypoints: it must be the same.
    grey = lf.grey(decoded(shelf["data"][2]).rgb)
    mirror = lf.MirrorQuery(grey)
    detected = lf.parse(mirror.blob())
    assert np.array_equal(mirror.thumb.thumb, detected.thumb)
    assert (mirror.thumb.width, mirror.thumb.height) == (detected.width, detected.height)


def test_a_failing_candidate_is_raised_to_the_caller(
    shelf: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    q = query(shelf["data"][0])
    poisoned = lf.parse(shelf["blobs"][3])
    real_inliers = lf.QueryMatcher.inliers

    def failing(self: lf.QueryMatcher, entry: lf.Keypoints) -> int:
        if np.array_equal(entry.desc, poisoned.desc):
            raise RuntimeError("verification failed")
        return real_inliers(self, entry)

    monkeypatch.setattr(lf.QueryMatcher, "inliers", failing)
    for threads in (1, 4):
        with pytest.raises(RuntimeError, match="verification failed"):
            vf.verify(plain_keypoints(q), q.features.mirror, shelf["blobs"], threads=threads)


def test_distinct_locations_are_counted_as_before() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        xy = rng.uniform(-5, 700, (int(rng.integers(0, 80)), 2)).astype(np.float32)
        xy = np.concatenate([xy, xy[: len(xy) // 3] + 0.4])  # stacks within one cell
        cells = np.round(xy / lf.DISTINCT_PX).astype(np.int32)
        assert lf._distinct_cells(xy) == len(np.unique(cells, axis=0))


def test_a_query_extracted_while_the_pool_is_busy_is_the_same(shelf: dict[str, Any]) -> None:
    # extract() detects the keypoints on the pool while it runs the model; with every pool
    # thread taken by other work it must detect them itself instead of waiting.
    image = decode(shelf["data"][2])
    free = extract("same_hq", image)
    release = threading.Event()
    blockers = [vf.pool().submit(release.wait, 60) for _ in range(vf.workers())]
    done: list[Features] = []
    worker = threading.Thread(target=lambda: done.append(extract("same_hq", image)))
    try:
        worker.start()
        worker.join(30)
        assert done, "extract() waited for a busy pool"
    finally:
        release.set()
        for b in blockers:
            b.result(5)
    busy = done[0]
    assert np.array_equal(busy.vectors, free.vectors)
    assert busy.query_vectors is not None and free.query_vectors is not None
    assert np.array_equal(busy.query_vectors, free.query_vectors)
    assert (busy.local, busy.query_local, busy.mirror_local) == (
        free.local,
        free.query_local,
        free.mirror_local,
    )
