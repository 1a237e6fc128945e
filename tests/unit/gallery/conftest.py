from __future__ import annotations

import pytest
import requests

from console.celery import app as celery_app
from gallery import backends
from gallery.models import Application, Library, Membership, Role
from tests.fakebaidu import FakeBaidu


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    return tmp_path / "media"


@pytest.fixture(autouse=True)
def eager_tasks():
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = False  # Retry must reach apply()
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def baidu(monkeypatch) -> FakeBaidu:
    fake = FakeBaidu()

    def session() -> requests.Session:
        s = requests.Session()
        s.mount("https://aip.baidubce.com", fake)
        return s

    monkeypatch.setattr(backends, "http_session", session)
    return fake


@pytest.fixture
def application(db, personas, baidu):
    app = Application.objects.create(
        name="Shop",
        backend=Application.Backend.BAIDU,
        base_url="https://aip.baidubce.com",
        app_id="1234567",
        api_key=baidu.api_key,
        secret_key=baidu.secret_key,
        services=["same_hq", "similar", "product"],
        qps=0,
    )
    for role in (Role.OWNER, Role.EDITOR, Role.VIEWER):
        Membership.objects.create(user=personas[role.value], application=app, role=role)
    return app


@pytest.fixture
def library(application) -> Library:
    return Library.objects.create(application=application, service="same_hq", registered=True)


@pytest.fixture
def product_library(application) -> Library:
    return Library.objects.create(application=application, service="product", registered=True)
