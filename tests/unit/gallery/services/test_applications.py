"""gallery.services.applications: services and QPS of an application, reaching the engine."""

from __future__ import annotations

import pytest
from django.urls import reverse

from engine.models import EngineApp
from gallery.models import Application
from tests.unit.gallery.kit import builtin, login

pytestmark = pytest.mark.django_db


def test_an_owner_edits_services_and_qps_of_a_baidu_application(client, personas, application):
    url = reverse("gallery:application-edit", args=[application.pk])
    login(client, personas, "owner")
    assert client.get(url).status_code == 200
    assert client.post(url, {"services": [], "qps_tier": "paid"}).status_code == 400
    assert client.post(url, {"services": ["same_hq"], "qps_tier": "custom"}).status_code == 400
    response = client.post(
        url,
        {"services": ["same_hq", "materiel"], "qps_tier": "custom", "qps_custom": 5},
        follow=True,
    )
    assert "Baidu" in response.content.decode()
    application.refresh_from_db()
    assert application.services == ["materiel", "same_hq"] and application.qps == 5
    assert login(client, personas, "editor").post(url, {}).status_code == 403
    assert login(client, personas, "outsider").get(url).status_code == 404


def test_a_builtin_application_edit_reaches_the_engine(client, personas):
    app, _library = builtin(personas)
    login(client, personas, "owner")
    client.post(
        reverse("gallery:application-edit", args=[app.pk]),
        {"services": ["similar"], "qps_tier": "free"},
    )
    engine = EngineApp.objects.get(app_id=app.app_id)
    assert engine.services == ["similar"] and engine.qps == 2


def test_a_new_application_takes_its_backends_default_qps(client, personas, baidu):
    # The built-in engine is limited by its CPU, not a bill: unlimited, there and in the engine.
    # A hosted Baidu application keeps the paid tier, which the cloud enforces anyway.
    login(client, personas, "owner")
    url = reverse("gallery:application-new")
    page = client.get(url).content.decode()
    assert 'value="default" selected' in page
    common = {"services": ["same_hq"], "qps_tier": "default"}
    client.post(url, {"name": "Local", "backend": "builtin", **common})
    local = Application.objects.get(name="Local")
    assert local.qps == 0 and EngineApp.objects.get(app_id=local.app_id).qps == 0
    keys = {"app_id": "123", "api_key": baidu.api_key, "secret_key": baidu.secret_key}
    client.post(url, {"name": "Hosted", "backend": "baidu", **common, **keys})
    assert Application.objects.get(name="Hosted").qps == 10
    client.post(url, {"name": "Tier", "backend": "builtin", **common, "qps_tier": "free"})
    assert EngineApp.objects.get(app_id=Application.objects.get(name="Tier").app_id).qps == 2
