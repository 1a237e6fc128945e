from __future__ import annotations

import pytest
from enginekit import App, assert_error, b64, flat, picture

pytestmark = pytest.mark.django_db


def test_add_then_search_finds_the_exact_copy_first(app: App) -> None:
    for service in ("same_hq", "similar", "product", "picturebook", "materiel"):
        image = picture(1, size=(400, 320))
        body = app.call(service, "add", {"image": b64(image), "brief": f"{service}-1"})
        assert set(body) == {"log_id", "cont_sign"}, body
        other = app.call(service, "add", {"image": b64(picture(2, size=(400, 320))), "brief": "two"})
        assert "cont_sign" in other, other
        found = app.call(service, "search", {"image": b64(image)})
        assert found["result"][0] == {"cont_sign": body["cont_sign"], "score": 1.0, "brief": f"{service}-1"}
        assert found["has_more"] is False


def test_flat_image_cannot_be_handled(app: App) -> None:
    assert_error(app.call("similar", "add", {"image": b64(flat()), "brief": "x"}), 216203, "input image cannot handle")
