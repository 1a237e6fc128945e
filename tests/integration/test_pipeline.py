"""Upload → task → client → engine → row, with real PostgreSQL, Redis, workers and S3."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
import requests
from django.conf import settings
from django.core.files.storage import default_storage

from engine.models import AliyunImage, EngineEntry
from gallery.backends.aliyun import PictureQuery
from gallery.labels import Labels
from gallery.models import Application, Image, ImageStatus, Library
from gallery.pictures import PictureFields
from gallery.services.applications import application_create
from gallery.services.images import images_delete
from gallery.services.libraries import library_create
from gallery.services.search import instance_search, library_search
from gallery.services.uploads import image_upload
from tests.conftest import make_image
from tests.integration.conftest import ROOT, django_env, free_port, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def builtin_library(user, service: str = "same_hq") -> Library:
    application = application_create(
        actor=user,
        name="Integration",
        backend=Application.Backend.BUILTIN,
        services=[service],
        qps=0,
    )
    return library_create(actor=user, application=application, service=service)


def status_of(image: Image) -> str:
    return Image.objects.values_list("status", flat=True).get(pk=image.pk)


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("it-user", password="x")


def test_an_upload_is_indexed_by_a_worker_through_the_engine(web, workers, user, logs):
    workers.start()
    library = builtin_library(user)
    uploads = [
        image_upload(
            actor=user,
            library=library,
            data=make_image(seed, (640, 480)),
            filename=f"photo-{seed}.jpg",
            labels=Labels(tags=(5,)),
        )
        for seed in range(3)
    ]
    for image in uploads:
        wait_for(
            lambda image=image: bool(status_of(image) == ImageStatus.INDEXED),  # type: ignore[misc]
            60,
            f"image {image.pk} to be indexed",
        )
    rows = {row.cont_sign: row for row in Image.objects.filter(library=library)}
    entries = EngineEntry.objects.filter(library__app__app_id=library.application.app_id)
    assert sorted(map(str, rows)) == sorted(entries.values_list("cont_sign", flat=True))
    outcome = library_search(library=library, data=make_image(1, (640, 480)))
    assert outcome.matches[0].image == uploads[1]
    assert outcome.matches[0].hit.score == 1.0
    # Neither the Secret Key nor an access token reached a log line of any process.
    written = "".join(path.read_text(errors="replace") for path in logs.glob("*.log"))
    assert "/rest/2.0/realtime_search/same_hq/add" in written
    assert library.application.secret_key not in written
    assert "access_token=24." not in written and "client_secret=" not in written


class SlowAnswers(ThreadingHTTPServer):
    """Forwards to the engine at once, but holds back the answer to an add for a while."""

    def __init__(self, engine: str, delay: float) -> None:
        self.engine, self.delay, self.adds = engine, delay, 0
        self.add_forwarded = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._relay("GET")

            def do_POST(self) -> None:
                self._relay("POST")

            def _relay(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() in ("content-type", "host", "x-bce-date", "authorization")
                }
                answer = requests.request(
                    method, server.engine + self.path, data=body, headers=headers, timeout=30
                )
                if self.path.split("?")[0].endswith("/add"):
                    server.adds += 1
                    server.add_forwarded.set()
                    if server.adds == 1:
                        time.sleep(server.delay)
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers["Content-Type"])
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *args: object) -> None:
                pass

        server = self
        super().__init__(("127.0.0.1", free_port()), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def slow_engine(web: str) -> Iterator[Callable[[float], SlowAnswers]]:
    """A proxy to the engine that holds back the answer to its first add for `delay` s."""
    proxies: list[SlowAnswers] = []

    def start(delay: float) -> SlowAnswers:
        proxy = SlowAnswers(web, delay=delay)
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.shutdown()


# Recovery bounds (docs/ARCHITECTURE.md, "Recovery"): with the default settings, everything is
# settled this soon after a worker or the broker is back.
SETTLED_WITHIN = 60


def test_alibaba_pictures_are_indexed_by_a_worker_through_the_engine(web, workers, user):
    """The same pipeline over Alibaba's wire: a built-in instance, pictures with product ids
    and attributes, a replaced pair, a search that puts the original first."""
    workers.start()
    application = application_create(
        actor=user, name="Alibaba", backend=Application.Backend.BUILTIN_ALIYUN, services=[]
    )
    library = library_create(
        actor=user, application=application, service="product", instance_name="shoes"
    )

    def upload(seed: int, name: str) -> Image:
        image = image_upload(
            actor=user,
            library=library,
            data=make_image(seed, (640, 480)),
            filename=name,
            picture=PictureFields(int_attrs=(seed, None, None, None)),
        )
        wait_for(lambda: status_of(image) == ImageStatus.INDEXED, 60, f"picture {image.pk} indexed")
        return image

    uploads = [upload(1, "boot_1.jpg"), upload(2, "boot_2.jpg")]
    uploads.append(upload(3, "boot_2.jpg"))
    # The third upload is the second's pair again: it replaced it, on both sides.
    assert [status_of(image) for image in uploads] == ["indexed", "deleted", "indexed"]
    stored = AliyunImage.objects.filter(instance__name="shoes")
    assert sorted(stored.values_list("pic_name", "int_attr")) == [
        ("boot_1.jpg", 1),
        ("boot_2.jpg", 3),
    ]
    outcome = instance_search(library=library, query=PictureQuery(), data=make_image(3, (640, 480)))
    assert outcome.matches[0].image == uploads[2] and outcome.matches[0].auction.score == 1.0


def test_a_worker_killed_mid_task_runs_it_again_without_duplicates(workers, slow_engine, user):
    engine = slow_engine(20)
    first = workers.start(TUKU_ENGINE_URL=engine.url)
    library = builtin_library(user)
    uploads = [
        image_upload(
            actor=user, library=library, data=make_image(seed, (640, 480)), filename=f"k{seed}.jpg"
        )
        for seed in (7, 8, 9)
    ]
    # The engine has stored the first image; its answer is still on the way when the worker
    # dies. The other two are still queued.
    assert engine.add_forwarded.wait(60)
    first.kill()
    assert status_of(uploads[0]) == ImageStatus.INDEXING
    workers.start(beat=True, TUKU_ENGINE_URL=engine.url)
    back = time.monotonic()
    for image in uploads:
        wait_for(
            lambda image=image: status_of(image) == ImageStatus.INDEXED,  # type: ignore[misc]
            SETTLED_WITHIN,
            f"image {image.pk} to be indexed once a worker is back",
        )
    print(f"settled {time.monotonic() - back:.1f} s after the worker came back")
    entries = EngineEntry.objects.filter(library__app__app_id=library.application.app_id)
    rows = Image.objects.filter(library=library)
    assert set(entries.values_list("cont_sign", flat=True)) == set(
        rows.values_list("cont_sign", flat=True)
    )
    assert entries.count() == rows.count() == 3
    assert engine.adds == 4  # the killed add really ran again; the engine refused the repeat


def test_an_add_slower_than_its_lease_is_not_sent_twice(workers, slow_engine, user):
    engine = slow_engine(45)  # longer than task_base.LEASE_SECONDS: only the heartbeat keeps it
    patient = {"TUKU_ENGINE_URL": engine.url, "TUKU_BACKEND_READ_TIMEOUT": "90"}
    workers.start(beat=True, **patient)
    workers.start(**patient)  # idle, ready to run a second copy of the task
    library = builtin_library(user)
    image = image_upload(
        actor=user, library=library, data=make_image(11, (640, 480)), filename="slow.jpg"
    )
    wait_for(lambda: status_of(image) == ImageStatus.INDEXED, 120, "the slow add")
    assert engine.adds == 1


def upload_in_subprocess(redis_url: str, library: Library, seed: int) -> str:
    code = (
        "import django; django.setup();"
        "from django.contrib.auth import get_user_model;"
        "from gallery.services.uploads import image_upload; from gallery.models import Library;"
        "from tests.conftest import make_image;"
        f"lib = Library.objects.get(pk={library.pk});"
        "user = get_user_model().objects.get(username='it-user');"
        "image = image_upload(actor=user, library=lib,"
        f" data=make_image({seed}, (640, 480)),"
        f" filename='outage-{seed}.jpg');"
        "print(image.pk)"
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=django_env(REDIS_URL=redis_url, DJANGO_SETTINGS_MODULE="console.settings"),
    )
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 30, "an upload must not hang on a broker outage"
    return result.stdout.strip().splitlines()[-1]


def test_uploads_wait_out_a_redis_outage_and_then_finish(workers, private_redis, user):
    redis_url = private_redis(True)
    workers.start(beat=True, REDIS_URL=redis_url)
    library = builtin_library(user)
    private_redis(False)
    down = time.monotonic()
    waiting = [int(upload_in_subprocess(redis_url, library, seed)) for seed in (21, 22)]
    time.sleep(max(3, 60 - (time.monotonic() - down)))  # a minute-long outage
    assert set(Image.objects.filter(pk__in=waiting).values_list("status", flat=True)) == {
        ImageStatus.PENDING
    }
    private_redis(True)
    back = time.monotonic()
    wait_for(
        lambda: (
            set(Image.objects.filter(pk__in=waiting).values_list("status", flat=True))
            == {ImageStatus.INDEXED}
        ),
        SETTLED_WITHIN,
        "the uploads to finish once Redis is back",
    )
    print(f"settled {time.monotonic() - back:.1f} s after Redis came back")


@pytest.fixture
def s3_bucket(s3_server: str, settings) -> str:
    bucket = f"tuku-it-{int(time.time() * 1000)}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_bucket(Bucket=bucket)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": s3_server,
                "region_name": "us-east-1",
                "access_key": "test",
                "secret_key": "test",
                "file_overwrite": False,
                "default_acl": None,
            },
        },
    }
    return bucket


def test_originals_and_thumbnails_live_in_s3(workers, s3_server, s3_bucket, user):
    workers.start(
        TUKU_STORAGE="s3",
        TUKU_S3_BUCKET=s3_bucket,
        TUKU_S3_ENDPOINT_URL=s3_server,
        TUKU_S3_REGION="us-east-1",
        TUKU_S3_ACCESS_KEY_ID="test",
        TUKU_S3_SECRET_ACCESS_KEY="test",
    )
    library = builtin_library(user)
    data = make_image(31, (640, 480))
    image = image_upload(actor=user, library=library, data=data, filename="s3.jpg")
    bucket = boto3.resource(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).Bucket(s3_bucket)
    keys = sorted(obj.key for obj in bucket.objects.all())
    assert keys == sorted([str(image.original.name), str(image.thumbnail.name)])
    assert default_storage.open(str(image.original.name)).read() == data
    # The worker reads the original back from S3 to push it.
    wait_for(lambda: status_of(image) == ImageStatus.INDEXED, 60, "the S3-backed image")
    images_delete(actor=user, images=[image])
    wait_for(lambda: status_of(image) == ImageStatus.DELETED, 60, "the delete")
    wait_for(lambda: not list(bucket.objects.all()), 10, "the files to leave the bucket")
    assert settings.STORAGE_BACKEND == "filesystem"  # only this test's storage was switched
