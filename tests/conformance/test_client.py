"""Tuku's own wire client against a live engine: the round trip the SDK makes, for every
service and both authentication methods, decided from the same JSON bodies."""

from __future__ import annotations

import pytest

from searchapi.baidu import BaiduClient, BaiduError, Credentials

from .conftest import SERVICES, Engine, ImageServer

pytestmark = pytest.mark.conformance


def client_for(engine: Engine, *, signing_only: bool) -> BaiduClient:
    creds = engine.app(signing_only=signing_only)
    return BaiduClient(
        base_url=engine.base,
        credentials=Credentials(creds.app_id, creds.api_key, creds.secret_key),
        auth_mode="auto",
        qps=0,
    )


@pytest.mark.parametrize("signing_only", [False, True], ids=["token", "signing"])
@pytest.mark.parametrize("service", SERVICES)
def test_add_search_update_delete_round_trip(
    engine: Engine, images: ImageServer, photos: list[bytes], service: str, signing_only: bool
) -> None:
    client = client_for(engine, signing_only=signing_only)
    assert client.detect_auth_mode() == ("sign" if signing_only else "token")
    product = service == "product"
    labels = {"class_id1": 3, "class_id2": 4} if product else {"tags": (3, 4)}
    first, second = photos[0], photos[1]

    cont_sign = client.add(service, image=first, brief="first", **labels)
    by_url = client.add(
        service, url=images.url(f"client-{service}-{signing_only}.jpg", second), brief="second"
    )
    with pytest.raises(BaiduError) as again:
        client.add(service, image=first, brief="again")
    assert (again.value.error_code, again.value.error_msg, again.value.retryable) == (
        216681,
        "item exist",
        False,
    )

    page = client.search(service, image=first, rn=10)
    assert page.hits[0].cont_sign == cont_sign and page.hits[0].score == 1.0
    assert page.hits[0].brief == "first"
    filtered = client.search(
        service,
        image=first,
        rn=10,
        **({"class_id1": 3} if product else {"tags": (4,), "tag_logic": 0}),
    )
    assert [hit.cont_sign for hit in filtered.hits] == [cont_sign]

    client.update(service, cont_sign=cont_sign, brief="renamed")
    assert client.search(service, image=first, rn=1).hits[0].brief == "renamed"
    client.update(service, image=second, brief="found by its bytes")
    assert client.search(service, image=second, rn=1).hits[0].brief == "found by its bytes"

    client.delete(service, cont_signs=[cont_sign, by_url])
    assert cont_sign not in [hit.cont_sign for hit in client.search(service, image=first).hits]
    with pytest.raises(BaiduError) as gone:
        client.delete(service, cont_signs=[cont_sign])
    assert (gone.value.error_code, gone.value.error_msg) == (216680, "item not exist")
