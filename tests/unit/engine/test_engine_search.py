"""Search semantics: exact copies, filters, paging, ties, update and delete (baidu-wire §5.6-§7)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engine.features.decode import decode
from engine.features.extract import extract, query_vectors
from engine.models import EngineLibrary

from .enginekit import App, assert_error, at_cosine, b64, picture, store_entry

pytestmark = pytest.mark.django_db

QUERY = picture(100, size=(400, 300))


def query_vector(service: str) -> np.ndarray:
    return query_vectors(service, extract(service, decode(QUERY)))[0]


def library(app: App, service: str) -> EngineLibrary:
    return EngineLibrary.objects.get(app__app_id=app.app_id, service=service)


def briefs(body: dict[str, Any]) -> list[str]:
    return [hit["brief"] for hit in body["result"]]


def test_search_response_shape(app: App) -> None:
    added = app.call("similar", "add", {"image": b64(QUERY), "brief": '{"name":"周杰伦"}'})
    body = app.call("similar", "search", {"image": b64(QUERY)})
    assert set(body) == {"log_id", "result_num", "result", "has_more"}
    assert body["result_num"] == 1
    assert body["has_more"] is False
    assert body["result"] == [
        {"cont_sign": added["cont_sign"], "score": 1.0, "brief": '{"name":"周杰伦"}'}
    ]


def test_empty_library_is_an_empty_success(app: App) -> None:
    body = app.call("similar", "search", {"image": b64(QUERY)})
    assert body == {"log_id": body["log_id"], "result_num": 0, "result": [], "has_more": False}


def test_exact_copy_first_even_when_another_ties_at_one(app: App) -> None:
    lib = library(app, "similar")
    q = query_vector("similar")
    store_entry(lib, q, key="twin-added-first")  # same vector, different file
    exact = app.call("similar", "add", {"image": b64(QUERY), "brief": "exact"})
    body = app.call("similar", "search", {"image": b64(QUERY)})
    assert body["result"][0] == {"cont_sign": exact["cont_sign"], "score": 1.0, "brief": "exact"}
    assert body["result"][1]["brief"] == "twin-added-first"


def test_ranked_by_score_ties_by_earlier_add(app: App) -> None:
    lib = library(app, "similar")
    q = query_vector("similar")
    for name, cosine in [("c", 0.5), ("a", 0.9), ("b", 0.7), ("a2", 0.9), ("d", 0.3)]:
        # Equal cosines get identical vectors: float16 storage must not break the tie.
        store_entry(lib, at_cosine(q, cosine, seed=int(cosine * 100)), key=name)
    body = app.call("similar", "search", {"image": b64(QUERY)})
    assert briefs(body) == ["a", "a2", "b", "c", "d"]
    scores = [hit["score"] for hit in body["result"]]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[0] == scores[1]


def test_paging_window_and_has_more(app: App) -> None:
    lib = library(app, "similar")
    q = query_vector("similar")
    cosines = np.linspace(0.99, 0.01, 1100)
    for i, cosine in enumerate(cosines):
        store_entry(lib, at_cosine(q, float(cosine), seed=i), key=f"e{i:04d}")

    def page(pn: int | None = None, rn: int | None = None) -> dict[str, Any]:
        fields = {"image": b64(QUERY), "pn": pn, "rn": rn}
        return app.call("similar", "search", {k: v for k, v in fields.items() if v is not None})

    default = page()
    assert (default["result_num"], default["has_more"]) == (300, True)
    assert briefs(default) == [f"e{i:04d}" for i in range(300)]
    tail = page(900, 500)  # pn + rn capped at the 1000 window
    assert (tail["result_num"], tail["has_more"]) == (100, False)
    assert briefs(tail)[0] == "e0900" and briefs(tail)[-1] == "e0999"
    last = page(999, 1)
    assert (briefs(last), last["has_more"]) == (["e0999"], False)
    assert page(990, 5)["has_more"] is True
    whole = page(0, 1000)
    assert (whole["result_num"], whole["has_more"]) == (1000, False)
    # Pages concatenate to the window.
    stitched = [b for pn in range(0, 1000, 250) for b in briefs(page(pn, 250))]
    assert stitched == briefs(whole)


def test_paging_when_fewer_than_the_window(app: App) -> None:
    lib = library(app, "similar")
    q = query_vector("similar")
    for i in range(12):
        store_entry(lib, at_cosine(q, 0.9 - i * 0.05, seed=i), key=f"e{i:02d}")
    body = app.call("similar", "search", {"image": b64(QUERY), "pn": "5", "rn": "5"})
    assert (briefs(body), body["has_more"]) == ([f"e{i:02d}" for i in range(5, 10)], True)
    body = app.call("similar", "search", {"image": b64(QUERY), "pn": "10", "rn": "5"})
    assert (briefs(body), body["has_more"]) == (["e10", "e11"], False)
    body = app.call("similar", "search", {"image": b64(QUERY), "pn": "20"})
    assert (body["result"], body["has_more"]) == ([], False)


@pytest.mark.parametrize("service", ["similar", "same_hq", "picturebook", "materiel"])
def test_tag_filters(app: App, service: str) -> None:
    lib = library(app, service)
    q = query_vector(service)
    labelled = {"t1": (1,), "t2": (2,), "t12": (1, 2), "t13": (3, 1), "none": None}
    for i, (name, tags) in enumerate(labelled.items()):
        store_entry(lib, at_cosine(q, 0.9 - 0.1 * i, seed=i), key=name, tags=tags)
    app.call(service, "add", {"image": b64(QUERY), "brief": "exact", "tags": "2,1"})

    def found(tags: str, logic: str | None = None) -> set[str]:
        fields = {"image": b64(QUERY), "tags": tags, "tag_logic": logic}
        body = app.call(service, "search", {k: v for k, v in fields.items() if v is not None})
        return set(briefs(body))

    # same_hq and picturebook return only verified matches: here only the exact copy.
    ranked = service in ("similar", "materiel")
    assert found("1,2") == ({"t12", "exact"} if ranked else {"exact"})
    assert found("1,2", "0") == found("1,2")
    assert found("1,2", "1") == ({"t1", "t2", "t12", "t13", "exact"} if ranked else {"exact"})
    assert found("1") == ({"t1", "t12", "t13", "exact"} if ranked else {"exact"})
    assert found("3", "1") == ({"t13"} if ranked else set())  # the exact copy is filtered out
    assert found("9") == set()


def test_unfiltered_search_ignores_tag_logic(app: App) -> None:
    lib = library(app, "similar")
    store_entry(lib, query_vector("similar"), key="x", tags=(4,))
    store_entry(lib, query_vector("similar"), key="y")
    body = app.call("similar", "search", {"image": b64(QUERY), "tag_logic": "1"})
    assert set(briefs(body)) == {"x", "y"}


def test_class_id_filters(app: App) -> None:
    lib = library(app, "product")
    q = query_vector("product")
    for i, (name, ids) in enumerate(
        {"c1": (1, None), "c12": (1, 2), "c2": (None, 2), "c34": (3, 4)}.items()
    ):
        store_entry(lib, at_cosine(q, 0.8 - 0.1 * i, seed=i), key=name, class_ids=ids)

    def found(**fields: str) -> list[str]:
        return briefs(app.call("product", "search", {"image": b64(QUERY), **fields}))

    assert found() == ["c1", "c12", "c2", "c34"]
    assert found(class_id1="1") == ["c1", "c12"]
    assert found(class_id2="2") == ["c12", "c2"]
    assert found(class_id1="1", class_id2="2") == ["c12"]
    assert found(class_id1="1", tag_logic="1", tags="77") == ["c1", "c12"]  # tags ignored


def test_same_hq_returns_only_matches(app: App) -> None:
    stored = app.call("same_hq", "add", {"image": b64(QUERY), "brief": "original"})
    app.call("same_hq", "add", {"image": b64(picture(5, size=(400, 300))), "brief": "other"})
    # A re-encoded copy (different bytes) is still the same picture.
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.open(io.BytesIO(QUERY)).convert("RGB").save(out, format="JPEG", quality=85)
    body = app.call("same_hq", "search", {"image": b64(out.getvalue())})
    assert [hit["cont_sign"] for hit in body["result"]] == [stored["cont_sign"]]
    assert 0 < body["result"][0]["score"] <= 1
    unrelated = app.call("same_hq", "search", {"image": b64(picture(6, size=(400, 300)))})
    assert unrelated["result"] == []


def test_same_hq_finds_a_mirrored_copy_among_unrelated_entries(app: App) -> None:
    # The shortlist is verified on the thread pool, and the mirror image's keypoints are
    # detected only because the unrelated entries' plain matches are not conclusive.
    import io

    from PIL import Image

    stored = app.call("same_hq", "add", {"image": b64(QUERY), "brief": "original"})
    for seed in (5, 7, 8):
        app.call("same_hq", "add", {"image": b64(picture(seed, size=(400, 300)))})
    out = io.BytesIO()
    Image.open(io.BytesIO(QUERY)).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(
        out, format="JPEG", quality=85
    )
    body = app.call("same_hq", "search", {"image": b64(out.getvalue())})
    assert [hit["cont_sign"] for hit in body["result"]] == [stored["cont_sign"]]
    assert 0.5 <= body["result"][0]["score"] <= 1


def test_update_replaces_sent_fields_only(app: App) -> None:
    added = app.call("similar", "add", {"image": b64(QUERY), "brief": "one", "tags": "1,2"})
    sign = added["cont_sign"]
    assert set(app.call("similar", "update", {"cont_sign": sign, "brief": "two"})) == {"log_id"}
    hit = app.call("similar", "search", {"image": b64(QUERY), "tags": "1,2"})["result"][0]
    assert hit["brief"] == "two"
    app.call("similar", "update", {"image": b64(QUERY), "tags": "3"})
    assert app.call("similar", "search", {"image": b64(QUERY), "tags": "1"})["result"] == []
    assert briefs(app.call("similar", "search", {"image": b64(QUERY), "tags": "3"})) == ["two"]
    # No field to change: a successful no-op.
    assert set(app.call("similar", "update", {"cont_sign": sign})) == {"log_id"}
    product = app.call("product", "add", {"image": b64(QUERY), "brief": "p", "class_id1": "5"})
    app.call("product", "update", {"cont_sign": product["cont_sign"], "class_id2": "6"})
    body = app.call("product", "search", {"image": b64(QUERY), "class_id1": "5", "class_id2": "6"})
    assert briefs(body) == ["p"]


def test_update_missing_is_216680(app: App) -> None:
    assert_error(
        app.call("similar", "update", {"cont_sign": "1,2", "brief": "x"}), 216680, "item not exist"
    )
    assert_error(
        app.call("similar", "update", {"image": b64(QUERY), "brief": "x"}), 216680, "item not exist"
    )


def test_delete_batch_with_partial_existence(app: App) -> None:
    lib = library(app, "similar")
    q = query_vector("similar")
    signs = [store_entry(lib, at_cosine(q, 0.5, seed=i), key=f"d{i}") for i in range(5)]
    batch = f" {signs[0]} ; 9,9;{signs[1]};;"
    assert set(app.call("similar", "delete", {"cont_sign": batch})) == {"log_id"}
    left = set(briefs(app.call("similar", "search", {"image": b64(QUERY)})))
    assert left == {"d2", "d3", "d4"}
    assert_error(
        app.call("similar", "delete", {"cont_sign": f"{signs[0]};9,9"}), 216680, "item not exist"
    )
    lib.refresh_from_db()
    assert lib.entry_count == 3


def test_delete_by_image_disappears_immediately(app: App) -> None:
    app.call("similar", "add", {"image": b64(QUERY), "brief": "q"})
    assert app.call("similar", "search", {"image": b64(QUERY)})["result_num"] == 1
    assert set(app.call("similar", "delete", {"image": b64(QUERY)})) == {"log_id"}
    assert app.call("similar", "search", {"image": b64(QUERY)})["result"] == []
    assert_error(app.call("similar", "delete", {"image": b64(QUERY)}), 216680, "item not exist")


def test_repeating_a_query_gives_identical_results(app: App) -> None:
    lib = library(app, "similar")
    q = query_vector("similar")
    for i in range(40):
        store_entry(lib, at_cosine(q, 0.5, seed=i % 3), key=f"r{i}")
    first = app.call("similar", "search", {"image": b64(QUERY)})["result"]
    assert first == app.call("similar", "search", {"image": b64(QUERY)})["result"]
    # Within each group of identical vectors, earlier adds come first.
    order = [int(hit["brief"][1:]) for hit in first]
    for group in range(3):
        members = [i for i in order if i % 3 == group]
        assert members == sorted(members)


def test_entries_of_an_older_features_version_are_left_out_until_added_again(app: App) -> None:
    from engine.models import EngineEntry

    added = app.call("similar", "add", {"image": b64(QUERY), "brief": "old"})
    EngineEntry.objects.filter(cont_sign=added["cont_sign"]).update(features_version="older")
    library(app, "similar").refresh_from_db()
    from engine import index

    index.forget()
    assert app.call("similar", "search", {"image": b64(QUERY)})["result"] == []
    again = app.call("similar", "add", {"image": b64(QUERY), "brief": "new"})
    assert again["cont_sign"] == added["cont_sign"]
    assert briefs(app.call("similar", "search", {"image": b64(QUERY)})) == ["new"]
    assert library(app, "similar").entry_count == 1
    assert_error(
        app.call("similar", "add", {"image": b64(QUERY), "brief": "x"}), 216681, "item exist"
    )
