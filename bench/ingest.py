"""Console ingest on the embedded defaults, against the engine's own floor. One command:

    .venv/bin/python bench/ingest.py [--photos 300] [--broker file|redis|rabbitmq]
        [--service similar]

1. Floor: decode + `extract` (the engine's own features, `for_query=False` as an add) of the
   same photos in a bare loop in this process, before the server starts and again after it
   stopped; the better of the two is the floor.
2. Ingest: a fresh data directory with the embedded defaults (SQLite, the file broker, the
   file cache, filesystem storage; `--broker redis` puts broker, cache and throttle in Redis
   database 11 instead (`--redis-db`), which must be empty at the start and is emptied
   after; `--broker rabbitmq` puts the broker in a virtual host of its own on the machine's
   RabbitMQ, deleted after), `manage.py serve` as `make run` starts it (gunicorn, 2
   processes of 8 threads, and one Celery worker with beat at the default concurrency), a
   built-in application made with the console's defaults and its library.
   The photos go through the upload page's own path over HTTP with a logged-in session: a
   batch (`files_follow`), the files grouped as `upload.js` groups them (up to 8 files and
   8 MiB per POST), one POST after the other, then close. Timed from the first POST until
   the batch is done (its `finished_at`: the last row indexed), so the console's decode and
   thumbnail at upload, the queue, the worker and the engine's add (decode, features,
   thumbnail, store) are all inside.

The client is one thread and shares the cores with the server, as a browser on the same
machine would. Prints the machine, its load average at each step, the figures and the ratio.
Nothing is kept.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.speed import machine  # noqa: E402

REDIS = "redis://127.0.0.1:6379/{db}"
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f}"


def pictures(limit: int, service: str) -> list[tuple[str, bytes]]:
    """Distinct photos (longest side 1024 px, JPEG q90), then tuxpaint cut-outs to `limit`."""
    from bench import corpus
    from wire.baidu import fits

    paths = corpus.photos() + [p for ps in corpus.stamps().values() for p in ps]
    out: list[tuple[str, bytes]] = []
    seen: set[bytes] = set()
    for path in paths:
        image = corpus.load_rgb(path, max_side=1024)
        data = corpus.encode(image, "JPEG", quality=90)
        if fits(service, *image.size) and data not in seen:
            seen.add(data)
            out.append((f"{len(out):04d}-{path.stem}.jpg", data))
        if len(out) >= limit:
            break
    if len(out) < limit:
        sys.exit(
            f"only {len(out)} photos: run `.venv/bin/python bench/corpus.py ensure` first, "
            "or ask for fewer with --photos"
        )
    return out


def floor(service: str, items: list[tuple[str, bytes]]) -> float:
    """decode + extract of every photo in a bare loop, images per second."""
    from engine.features.decode import decode
    from engine.features.extract import extract

    extract(service, decode(items[0][1]), for_query=False)  # the model is loaded
    started = time.perf_counter()
    for _name, data in items:
        extract(service, decode(data), for_query=False)
    return len(items) / (time.perf_counter() - started)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(data_dir: Path, port: int, redis_url: str, broker_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if (
            k not in ("DATABASE_URL", "CELERY_BROKER_URL", "TUKU_STORAGE", "DJANGO_DEBUG")
            and not (k.startswith("TUKU_") and k != "TUKU_PHOTOS_DIR")
        )
        or k.startswith("X")
    }
    env.update(
        TUKU_DATA_DIR=str(data_dir),
        TUKU_ENGINE_URL=f"http://127.0.0.1:{port}",
        REDIS_URL=redis_url,
        **({"CELERY_BROKER_URL": broker_url} if broker_url else {}),
        NO_PROXY="127.0.0.1,localhost",
        DJANGO_SETTINGS_MODULE="console.settings",
    )
    return env


def rabbitmq_vhost(name: str, *, create: bool) -> None:
    """A virtual host of our own on the machine's RabbitMQ, so that no other job's queue is
    touched; deleted after the run."""
    if create:
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True)
        subprocess.run(
            ["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
            check=True,
        )
    else:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], check=False)


def redis_db(url: str, *, empty_it: bool) -> None:
    """Check that the database is empty before the run (another run may be using it: it is
    never emptied then), or empty it after ours. Only this one database is touched."""
    import redis

    db = redis.Redis.from_url(url)
    if empty_it:
        db.flushdb()
    elif db.dbsize():
        sys.exit(f"{url} holds keys (someone else's?): choose another with --redis-db")


def provision(service: str) -> tuple[str, str, int]:
    """An administrator, a built-in application with the console's defaults, its library."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from gallery.models import Application
    from gallery.services.applications import application_create
    from gallery.services.libraries import library_create

    call_command("migrate", interactive=False, verbosity=0)
    password = "bench-" + os.urandom(8).hex()
    user = get_user_model().objects.create_superuser("bench", "", password)
    application = application_create(
        actor=user, name="bench", backend=Application.Backend.BUILTIN, services=[service]
    )
    library = library_create(actor=user, application=application, service=service)
    print(f"  application qps={application.qps} (0: unlimited)", flush=True)
    return "bench", password, library.pk


def wait_http(base: str, server: subprocess.Popen[bytes], seconds: float = 120) -> None:
    import requests

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"`manage.py serve` exited with {server.returncode}")
        try:
            requests.get(base + "/accounts/login/", timeout=1)
            return
        except requests.RequestException:  # not listening yet
            time.sleep(0.2)
    sys.exit("the web server did not start")


# As upload.js groups the files of a batch into requests.
GROUP_FILES, GROUP_BYTES = 8, 8 * 2**20


def groups(items: list[tuple[str, bytes]]) -> list[list[tuple[str, bytes]]]:
    out: list[list[tuple[str, bytes]]] = []
    for item in items:
        last = out[-1] if out else None
        if (
            last is None
            or len(last) >= GROUP_FILES
            or sum(len(d) for _, d in last) + len(item[1]) > GROUP_BYTES
        ):
            out.append([item])
        else:
            last.append(item)
    return out


class Console:
    """The upload page's requests, over HTTP with a logged-in session."""

    def __init__(self, base: str, user: str, password: str) -> None:
        import requests

        self.base = base
        self.http = requests.Session()
        page = self.http.get(base + "/accounts/login/", timeout=30)
        page.raise_for_status()
        self.http.post(
            base + "/accounts/login/",
            data={"username": user, "password": password, "csrfmiddlewaretoken": self._csrf()},
            headers={"Referer": base + "/accounts/login/"},
            timeout=30,
        ).raise_for_status()
        if "sessionid" not in self.http.cookies:
            sys.exit("could not log in")

    def _csrf(self) -> str:
        return str(self.http.cookies.get("csrftoken", ""))

    def post(self, path: str, files: Any = None, **data: str) -> dict[str, Any]:
        answer = self.http.post(
            self.base + path,
            data={"csrfmiddlewaretoken": self._csrf(), **data},
            files=files,
            headers={"Accept": "application/json", "Referer": self.base + "/"},
            timeout=120,
        )
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        return body

    def batch(self, library_id: int, items: list[tuple[str, bytes]]) -> tuple[int, float]:
        """Post `items` into a new batch as upload.js does; (batch id, seconds to post)."""
        started = time.perf_counter()
        made = self.post(f"/libraries/{library_id}/batches/", files_follow="1", urls="")
        for group in groups(items):
            answer = self.post(
                made["files_url"], files=[("files", (n, d, "image/jpeg")) for n, d in group]
            )
            for (name, _data), result in zip(group, answer["results"], strict=True):
                if not result.get("ok"):
                    sys.exit(f"{name} refused: {result}")
        self.post(made["close_url"])
        return int(made["id"]), time.perf_counter() - started

    def page(self, batch_id: int) -> str:
        return self.http.get(f"{self.base}/batches/{batch_id}/?fragment=1", timeout=30).text


def cpu_seconds(root: int) -> dict[str, float]:
    """CPU time (user + system) so far of the processes under `root`, by what they run."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = set(), {root}
    while frontier:
        tree |= frontier
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - tree
    out: dict[str, float] = {}
    for pid in tree:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        role = "web + engine" if "gunicorn" in command else "worker" if "celery" in command else ""
        if role:
            out[role] = out.get(role, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def wait_done(batch_id: int, seconds: float) -> Any:
    from django.db import connections

    from gallery.models import Batch

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        batch = Batch.objects.get(pk=batch_id)
        connections.close_all()  # read the server's commits, keep no SQLite snapshot open
        if batch.status != Batch.Status.RUNNING:
            return batch
        time.sleep(0.1)
    sys.exit(f"batch {batch_id} was not done after {seconds:.0f} s")


def warm_up(console: Console, library_id: int) -> None:
    """One image through every process first: the engine loads its model, the worker starts."""
    import io

    from PIL import Image

    picture = Image.effect_noise((400, 300), 64).convert("RGB")
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=85)
    batch_id, _ = console.batch(library_id, [("warm-up.jpg", out.getvalue())])
    wait_done(batch_id, 180)


def ingest(args: argparse.Namespace, items: list[tuple[str, bytes]], data_dir: Path) -> float:
    from django.utils import timezone

    from gallery.models import Image, ImageStatus

    user, password, library_id = provision(args.service)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (data_dir / "serve.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--bind", f"127.0.0.1:{port}"],
        cwd=REPO,
        env=environment(data_dir, port, args.redis_url, args.broker_url),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_http(base, server)
        console = Console(base, user, password)
        warm_up(console, library_id)
        print(f"  server warm; {load()}", flush=True)
        cpu_before, mine_before = cpu_seconds(server.pid), time.process_time()
        started_at = timezone.now()
        batch_id, posting = console.batch(library_id, items)
        batch = wait_done(batch_id, args.timeout)
        cpu = cpu_seconds(server.pid)
        cpu["bench client"] = time.process_time() - mine_before
        for role, before in cpu_before.items():
            cpu[role] -= before
        seconds = (batch.finished_at - started_at).total_seconds()
        indexed = Image.objects.filter(batch_id=batch_id, status=ImageStatus.INDEXED).count()
        if indexed != len(items):
            failed = list(
                Image.objects.filter(batch_id=batch_id)
                .exclude(status=ImageStatus.INDEXED)
                .values_list("status", "error_code", "error_msg")[:5]
            )
            sys.exit(f"only {indexed} of {len(items)} indexed: {failed}")
        rate = len(items) / seconds
        print(
            f"  {len(items)} uploaded in {posting:.1f} s ({len(items) / posting:.1f} images/s), "
            f"all indexed after {seconds:.1f} s; {load()}",
            flush=True,
        )
        print(
            "  CPU per image: "
            + ", ".join(f"{role} {1000 * t / len(items):.1f} ms" for role, t in sorted(cpu.items()))
        )
        shown = re.search(r"[\d.]+ images/s", console.page(batch_id))
        print(f"  the batch page says: {shown.group(0) if shown else '(no rate shown)'}")
        return rate
    except BaseException:
        log.flush()
        tail = (data_dir / "serve.log").read_text(errors="replace").splitlines()[-40:]
        print("--- the end of the server's log:", *tail, sep="\n", file=sys.stderr)
        raise
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--service", default="similar", choices=["similar", "same_hq"])
    parser.add_argument("--broker", default="file", choices=["file", "redis", "rabbitmq"])
    parser.add_argument("--redis-db", type=int, default=11, help="with --broker redis")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for indexing")
    args = parser.parse_args()
    args.redis_url = REDIS.format(db=args.redis_db) if args.broker == "redis" else ""
    args.broker_url = ""
    print(f"machine: {machine()}", flush=True)
    print(f"started {datetime.now():%Y-%m-%d %H:%M}; {load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="tuku-ingest-") as tmp:
        data_dir = Path(tmp)
        if (REPO / "data" / "models").is_dir():
            (data_dir / "models").symlink_to(REPO / "data" / "models")
        # This process reads the same data directory as the server it starts.
        vhost = f"tuku-ingest-{os.urandom(4).hex()}"
        if args.broker == "rabbitmq":
            rabbitmq_vhost(vhost, create=True)
            args.broker_url = f"{RABBITMQ}/{vhost}"
        keep = environment(data_dir, 0, args.redis_url, args.broker_url)
        for name in set(os.environ) - set(keep):
            del os.environ[name]
        os.environ.update(keep)
        if args.redis_url:
            redis_db(args.redis_url, empty_it=False)
        import django

        django.setup()
        items = pictures(args.photos, args.service)
        first = floor(args.service, items)
        print(f"  floor (decode + extract, bare loop): {first:.1f} images/s; {load()}", flush=True)
        try:
            rate = ingest(args, items, data_dir)
        finally:
            if args.redis_url:
                redis_db(args.redis_url, empty_it=True)
            if args.broker_url:
                rabbitmq_vhost(vhost, create=False)
        second = floor(args.service, items)
        print(f"  floor again after the server stopped: {second:.1f} images/s; {load()}")
    best = max(first, second)
    print(f"\n{machine()}; {load()}")
    print(f"| measure ({args.photos} photos, {args.service}, {args.broker} broker) | images/s |")
    print("|---|---|")
    print(f"| floor: decode + extract, bare loop (better of before / after) | {best:.1f} |")
    where = {
        "file": "embedded defaults",
        "redis": "Redis broker, cache, throttle",
        "rabbitmq": "RabbitMQ broker, file cache and throttle",
    }[args.broker]
    print(f"| console ingest, upload → indexed, {where} | {rate:.1f} |")
    print(f"| ratio | {rate / best:.2f} |")


if __name__ == "__main__":
    main()
