"""The fault suite: uploads through a dead worker, a broker outage, a backend outage and a web
server killed mid-request, with real PostgreSQL, Redis, workers and the engine (docs/
ARCHITECTURE.md, "Recovery needs no human"). Each test reports its figures (see `report`).

The counts and outages are scaled down for CI; `bench/faults.py` runs the same tests at the full
sizes by setting the TUKU_FAULTS_* variables below.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
import requests
from django.core.files.storage import default_storage
from django.db.models import Count
from django.test import Client
from django.urls import reverse

from engine.models import EngineEntry
from gallery.models import Image, ImageStatus, Library
from gallery.services.orphans import ROOTS, orphan_files_sweep
from gallery.services.uploads import image_upload
from tests.conftest import make_image
from tests.integration.conftest import ROOT, django_env, wait_for
from tests.integration.test_pipeline import SETTLED_WITHIN, builtin_library

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def scale(name: str, ci: int) -> int:
    return int(os.environ.get(f"TUKU_FAULTS_{name}", ci))


def statuses(library: Library) -> Counter[str]:
    rows = Image.objects.filter(library=library).order_by().values("status").annotate(n=Count("pk"))
    return Counter({row["status"]: row["n"] for row in rows})


def engine_counts(library: Library) -> tuple[int, int]:
    """(entries, distinct images) the engine holds for the library."""
    entries = EngineEntry.objects.filter(library__app__app_id=library.application.app_id)
    return entries.count(), entries.values("sha256").distinct().count()


def settle(library: Library, total: int, within: float, what: str) -> float:
    """Wait until all `total` rows are indexed; the seconds it took."""
    start = time.monotonic()
    wait_for(
        lambda: statuses(library)[ImageStatus.INDEXED] == total,
        within,
        f"{what} (now {dict(statuses(library))})",
        interval=0.5,
    )
    return time.monotonic() - start


def assert_mirrored(library: Library, total: int) -> None:
    """Every row indexed once: as many engine entries as rows, none twice, none missing."""
    entries, distinct = engine_counts(library)
    rows = Image.objects.filter(library=library)
    cont_signs = set(rows.values_list("cont_sign", flat=True))
    engine_signs = set(
        EngineEntry.objects.filter(library__app__app_id=library.application.app_id).values_list(
            "cont_sign", flat=True
        )
    )
    assert rows.count() == total
    assert (entries, distinct) == (total, total)
    assert cont_signs == engine_signs


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("it-user", password="x")


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(workers, user, report):
    total = scale("WORKER_UPLOADS", 150)
    first = workers.start(beat=True, concurrency=2)
    library = builtin_library(user)
    kill_at = total // 3
    killed = None
    for seed in range(total):
        image_upload(
            actor=user, library=library, data=make_image(1000 + seed), filename=f"w{seed}.jpg"
        )
        if killed is None and seed % 10 == 0 and statuses(library)[ImageStatus.INDEXED] >= kill_at:
            first.kill()  # the worker, its pool and its beat, mid-task
            killed = statuses(library)
    if killed is None:  # the uploads outran the worker: kill it once a third is indexed
        wait_for(lambda: statuses(library)[ImageStatus.INDEXED] >= kill_at, 600, "a third indexed")
        first.kill()
        killed = statuses(library)
    workers.start(beat=True, concurrency=2)
    back = time.monotonic()
    settled = settle(library, total, 300, "every upload to be indexed after the restart")
    assert_mirrored(library, total)
    entries, _distinct = engine_counts(library)
    left = total - killed[ImageStatus.INDEXED]
    report(
        uploads=total,
        at_kill=dict(killed),
        left_at_kill=left,
        indexed=statuses(library)[ImageStatus.INDEXED],
        lost=total - entries,
        duplicated=entries - _distinct,
        settled_s=f"{time.monotonic() - back:.1f}",
    )
    assert settled <= SETTLED_WITHIN


UPLOADER = """
import sys, time, django
django.setup()
from django.contrib.auth import get_user_model
from gallery.models import Library
from gallery.services.uploads import image_upload
from tests.conftest import make_image

library = Library.objects.get(pk=int(sys.argv[1]))
count, spread, user = int(sys.argv[2]), float(sys.argv[3]), get_user_model().objects.get(
    username="it-user"
)
start, slowest = time.monotonic(), 0.0
for n in range(count):
    time.sleep(max(0.0, start + spread * n / count - time.monotonic()))
    began = time.monotonic()
    image = image_upload(
        actor=user, library=library, data=make_image(5000 + n), filename=f"b{n}.jpg"
    )
    slowest = max(slowest, time.monotonic() - began)
    print(image.pk, flush=True)
print(f"slowest {slowest:.2f}", flush=True)
"""


def test_uploads_made_while_the_broker_is_down_are_indexed_once_it_is_back(
    workers, private_redis, user, report
):
    total, outage = scale("BROKER_UPLOADS", 40), scale("BROKER_OUTAGE", 30)
    redis_url = private_redis(True)
    workers.start(beat=True, REDIS_URL=redis_url)
    library = builtin_library(user)
    private_redis(False)
    down = time.monotonic()
    # The uploads are spread over the first two thirds of the outage, each one in the
    # uploader process whose broker (and cache) is the stopped Redis.
    uploader = subprocess.run(
        [sys.executable, "-c", UPLOADER, str(library.pk), str(total), str(outage * 2 / 3)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=outage + 120,
        env=django_env(REDIS_URL=redis_url, DJANGO_SETTINGS_MODULE="console.settings"),
    )
    assert uploader.returncode == 0, uploader.stderr[-3000:]
    slowest = float(uploader.stdout.split()[-1])
    assert slowest < 30, "an upload must not hang on a broker outage"
    time.sleep(max(0.0, outage - (time.monotonic() - down)))
    during = statuses(library)
    assert during == {ImageStatus.PENDING: total}
    private_redis(True)
    settled = settle(library, total, 180, "the uploads to be indexed once the broker is back")
    assert_mirrored(library, total)
    report(
        uploads=total,
        outage_s=outage,
        slowest_upload_s=f"{slowest:.2f}",
        during_outage=dict(during),
        settled_s=f"{settled:.1f}",
    )
    assert settled <= SETTLED_WITHIN


def test_uploads_wait_for_a_backend_that_is_away_and_none_fails(workers, web_servers, user, report):
    """The backend (the engine's own gunicorn) goes away; in CI the outage is shorter than the
    quick retries (task_base: 8, about 6 minutes); bench/faults.py runs 10 minutes, which
    takes the rows through the wait for the backend and the sweeper."""
    total, outage = scale("BACKEND_UPLOADS", 30), scale("BACKEND_OUTAGE", 30)
    engine = web_servers("engine")
    workers.start(beat=True, TUKU_ENGINE_URL=engine.url)
    library = builtin_library(user)
    warmup = image_upload(actor=user, library=library, data=make_image(8999), filename="w.jpg")
    wait_for(lambda: Image.objects.get(pk=warmup.pk).status == ImageStatus.INDEXED, 120, "warm-up")
    engine.kill()
    down = time.monotonic()
    for seed in range(total):
        image_upload(
            actor=user, library=library, data=make_image(9000 + seed), filename=f"e{seed}.jpg"
        )
    failed_seen, waited, seen = 0, 0, Counter[str]()
    while time.monotonic() - down < outage:
        now = statuses(library)
        seen.update(set(now))
        failed_seen = max(failed_seen, now[ImageStatus.FAILED])
        waited = max(waited, Image.objects.filter(library=library, waits__gt=0).count())
        time.sleep(2)
    assert statuses(library)[ImageStatus.INDEXED] == 1  # only the warm-up
    engine.start()
    # The longest wait a row may be in when the backend comes back: a quick retry's
    # countdown (at most 120 s) or, past them, task_base.WAIT_MAX; plus a sweep and the work.
    within = 180 if outage < 360 else 600 + 120
    settled = settle(library, total + 1, within, "the rows to be indexed once the backend is back")
    failed_seen = max(failed_seen, statuses(library)[ImageStatus.FAILED])
    assert_mirrored(library, total + 1)
    report(
        uploads=total,
        outage_s=outage,
        statuses_seen_in_outage=sorted(seen),
        rows_waiting_for_backend=waited,
        failed=failed_seen,
        settled_s=f"{settled:.1f}",
    )
    assert failed_seen == 0


def storage_files() -> set[str]:
    found: set[str] = set()

    def walk(folder: str) -> None:
        folders, files = default_storage.listdir(folder)
        found.update(f"{folder}/{name}" for name in files)
        for sub in folders:
            walk(f"{folder}/{sub}")

    for root in ROOTS:
        if default_storage.exists(root):
            walk(root)
    return found


def orphans_and_half_rows(library: Library) -> tuple[set[str], list[int]]:
    """The library's files that none of its rows names, and its rows that lack a file or are
    in a state an upload cannot leave them in."""
    mine = tuple(f"{root}/{library.pk}/" for root in ROOTS)
    files = {name for name in storage_files() if name.startswith(mine)}
    named: set[str] = set()
    half: list[int] = []
    for pk, original, thumbnail, status in Image.objects.filter(library=library).values_list(
        "pk", "original", "thumbnail", "status"
    ):
        named.update(n for n in (original, thumbnail) if n)
        if (
            not original
            or not thumbnail
            or original not in files
            or thumbnail not in files
            or status not in (ImageStatus.PENDING, ImageStatus.INDEXING, ImageStatus.INDEXED)
        ):
            half.append(pk)
    return files - named, half


def test_a_web_server_killed_during_uploads_leaves_no_orphans_and_no_half_rows(
    workers, web_servers, user, report
):
    kills = scale("WEB_KILLS", 10)
    library = builtin_library(user)
    server = web_servers("uploads")
    workers.start(beat=True)
    browser = Client()
    browser.force_login(user)
    cookies = {"sessionid": browser.cookies["sessionid"].value}
    url = server.url + reverse("gallery:upload", args=[library.pk])
    # A CSRF secret of the client's own (the page that would set one needs collectstatic).
    cookies["csrftoken"] = "".join(random.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=32))
    headers = {"X-CSRFToken": cookies["csrftoken"], "Accept": "application/json"}
    stop = threading.Event()
    answered, cut, refused = Counter[str](), [0], [0]
    seeds = iter(range(20000, 10**6))
    lock = threading.Lock()

    def client() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                with lock:
                    seed = next(seeds)
                files = {"files": (f"k{seed}.jpg", make_image(seed), "image/jpeg")}
                try:
                    answer = session.post(
                        url, files=files, cookies=cookies, headers=headers, timeout=30
                    )
                except requests.RequestException as exc:
                    if "refused" in str(exc):  # the server is down: wait for it
                        refused[0] += 1
                        time.sleep(0.2)
                    else:
                        cut[0] += 1  # the request was in flight when the server died
                    continue
                answered[str(answer.status_code)] += 1

    clients = [threading.Thread(target=client, daemon=True) for _ in range(2)]
    for thread in clients:
        thread.start()
    rng = random.Random(7)
    for _ in range(kills):
        time.sleep(rng.uniform(0.5, 3.0))
        server.kill()
        server.start()
    time.sleep(1)
    stop.set()
    for thread in clients:
        thread.join(60)
    rows = Image.objects.filter(library=library).count()
    # The worker drains the queue. A row whose server died between its commit and the publish
    # has no message: it stays pending until the sweeper's staleness rule (TUKU_STALE_SECONDS)
    # queues it again, which only the full run (bench/faults.py) waits for.
    last: list[Counter[str]] = []

    def drained() -> bool:
        last.append(statuses(library))
        return len(last) > 6 and last[-1] == last[-7] and not last[-1][ImageStatus.INDEXING]

    wait_for(drained, 180, "the queue to drain", interval=0.5)
    unqueued = last[-1][ImageStatus.PENDING]
    settled = None
    if os.environ.get("TUKU_FAULTS_WEB_SETTLE"):
        settled = settle(library, rows, 300 + 60, "the unqueued rows to be indexed")
    orphans, half = orphans_and_half_rows(library)
    removed = orphan_files_sweep(older_than=timedelta(0))
    orphans_after, half_after = orphans_and_half_rows(library)
    report(
        kills=kills,
        answered=dict(answered),
        cut_off=cut[0],
        refused=refused[0],
        rows=rows,
        left_unqueued=unqueued,
        unqueued_settled_s=f"{settled:.1f}" if settled is not None else "not waited for",
        orphans_before_sweep=len(orphans),
        swept=removed,
        orphans_after_sweep=len(orphans_after),
        half_rows=len(half_after),
    )
    assert answered["200"] > 0
    assert set(answered) == {"200"}
    assert removed >= len(orphans)  # and the files earlier tests' flushed rows left
    assert orphans_after == set()
    assert half == half_after == []
