"""A bounded load test of the engine's wire on loopback, on the production layout. One command:

    .venv/bin/python bench/load.py [--clients 20] [--seconds 30] [--search-share 0.8]

PostgreSQL (a database of its own, dropped afterwards), Redis (a database number of its own,
emptied before and after) and gunicorn with 2 workers x 8 threads. A library of `--service`
(similar by default) is seeded with the real photos through the wire; then `--clients` threads
each send, for `--seconds`, searches (a random seeded photo, recompressed) and adds (a photo
never sent before) in the given shares, with access tokens as the SDKs use them. It prints the
machine and its load, throughput, p50 / p95 / p99 per operation, errors by code, and the
server's resident memory before and after. The client threads run on the same machine and
take their share of its cores; the figures are the whole system's.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import platform
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import redis
import requests
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ADD = "/rest/2.0/image-classify/v1/realtime_search/{service}/add"
SEARCH = "/rest/2.0/image-classify/v1/realtime_search/{service}/search"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    ram = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    ram = f"{int(Path('/proc/meminfo').read_text().split()[1]) / 2**20:.0f} GiB"
    return f"{cpu}, {os.cpu_count()} cores, {ram} RAM, Python {platform.python_version()}"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def rss_mib(pid: int) -> float:
    """Resident memory of a process and all its children (gunicorn's master and workers)."""
    total = 0.0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        pids.extend(int(child) for child in children)
    return total


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def photos(limit: int) -> list[Image.Image]:
    from bench import corpus

    out = []
    for path in corpus.photos():
        image = corpus.load_rgb(path, max_side=800)
        if min(image.size) >= 360:
            out.append(image)
        if len(out) >= limit:
            break
    if len(out) < 10:
        sys.exit("too few photos: run `.venv/bin/python bench/corpus.py ensure` first")
    return out


def variants(bases: list[Image.Image], count: int, seed: int) -> list[bytes]:
    """`count` distinct JPEGs: random crops of the photos, each a new image to the engine."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        base = bases[i % len(bases)]
        w, h = base.size
        keep = rng.uniform(0.6, 0.9)
        cw, ch = int(w * keep), int(h * keep)
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        out.append(jpeg(base.crop((x, y, x + cw, y + ch)), rng.randint(80, 92)))
    return out


class Stack:
    """PostgreSQL database, Redis number, data directory and gunicorn, torn down on exit."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.db = f"tuku_bench_load_{os.getpid()}"
        self.data_dir = Path(tempfile.mkdtemp(prefix="tuku-load-"))
        self.redis_url = f"{args.redis}/{args.redis_db}"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.server: subprocess.Popen[bytes] | None = None
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "console.settings",
            "TUKU_DATA_DIR": str(self.data_dir),
            "DATABASE_URL": f"{args.postgres}/{self.db}",
            "REDIS_URL": self.redis_url,
            "NO_PROXY": "127.0.0.1",
        }

    def __enter__(self) -> Stack:
        with psycopg.connect(f"{self.args.postgres}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db}"')
        redis.Redis.from_url(self.redis_url).flushdb()
        if (REPO / "data" / "models").is_dir():
            (self.data_dir / "models").symlink_to(REPO / "data" / "models")
        self.manage("migrate", "--noinput", "-v0")
        self.manage("engine_model")
        log = (self.data_dir / "server.log").open("w")
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        self.server = subprocess.Popen(
            [
                *(gunicorn, "console.wsgi:application", "-b", f"127.0.0.1:{self.port}"),
                *("--workers", "2", "--threads", "8", "--timeout", "120"),
                *("--log-level", "warning", "--access-logfile", "/dev/null"),
                *("--control-socket", str(self.data_dir / "gunicorn.ctl")),
            ],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                requests.get(self.base + "/oauth/2.0/token", timeout=1)
                return self
            except requests.RequestException:  # not listening yet
                time.sleep(0.3)
        raise SystemExit("gunicorn did not start:\n" + (self.data_dir / "server.log").read_text())

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.wait(30)
        redis.Redis.from_url(self.redis_url).flushdb()
        with psycopg.connect(f"{self.args.postgres}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
        subprocess.run(["rm", "-rf", str(self.data_dir)], check=False)

    def manage(self, *command: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise SystemExit(f"manage.py {' '.join(command)} failed:\n{done.stderr}")
        return done.stdout

    def token(self, service: str, qps: int) -> str:
        """A new application with a library of `service`, and an access token of it."""
        out = self.manage(
            "engine_app", "create", "--name", "load", "--services", service, "--qps", str(qps)
        )
        keys = dict(re.findall(r"^(AppID|API Key|Secret Key):\s+(\S+)$", out, re.M))
        self.manage("engine_library", "create", "--app-id", keys["AppID"], "--service", service)
        answer = requests.post(
            self.base + "/oauth/2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": keys["API Key"],
                "client_secret": keys["Secret Key"],
            },
            timeout=10,
        ).json()
        return str(answer["access_token"])


def call(session: requests.Session, url: str, form: dict[str, str]) -> dict[str, Any]:
    response = session.post(url, data=form, timeout=60)
    body = response.json()
    assert isinstance(body, dict)
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--search-share", type=float, default=0.8)
    parser.add_argument("--service", default="similar")
    parser.add_argument("--seed-photos", type=int, default=60)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--redis-db", type=int, default=14)
    # High enough never to refuse, so that every call still passes the shared Redis window.
    parser.add_argument("--qps", type=int, default=10_000)
    args = parser.parse_args()

    print(f"machine: {machine()}")
    print(f"load average before: {load()}")
    bases = photos(args.seed_photos)
    seeded = [jpeg(image, 90) for image in bases]
    queries = [jpeg(image, 70) for image in bases]  # recompressed: not byte-identical
    expected_adds = int(args.clients * args.seconds * 10 * (1 - args.search_share)) + 100
    fresh = variants(bases, expected_adds, seed=1)
    fresh_lock = threading.Lock()

    with Stack(args) as stack:
        token = stack.token(args.service, args.qps)
        add_url = stack.base + ADD.format(service=args.service) + f"?access_token={token}"
        search_url = stack.base + SEARCH.format(service=args.service) + f"?access_token={token}"
        session = requests.Session()
        for i, data in enumerate(seeded):
            body = call(
                session, add_url, {"image": base64.b64encode(data).decode(), "brief": f"p{i}"}
            )
            if "cont_sign" not in body and body.get("error_code") != 216203:
                raise SystemExit(f"seeding failed: {body}")
        # Every worker loads the model on its first search: not part of the figures.
        with ThreadPoolExecutor(16) as pool:
            warm = {"image": base64.b64encode(queries[0]).decode()}
            list(pool.map(lambda _: call(requests.Session(), search_url, warm), range(48)))
        assert stack.server is not None
        rss_before = rss_mib(stack.server.pid)

        latencies: dict[str, list[float]] = {"search": [], "add": []}
        errors: Counter[str] = Counter()
        lock = threading.Lock()
        stop = time.monotonic() + args.seconds

        def client(number: int) -> None:
            rng = random.Random(number)
            own = requests.Session()
            while time.monotonic() < stop:
                if rng.random() < args.search_share:
                    op, url = "search", search_url
                    form = {"image": base64.b64encode(rng.choice(queries)).decode(), "rn": "10"}
                else:
                    with fresh_lock:
                        data = fresh.pop() if fresh else None
                    if data is None:
                        continue
                    op, url = "add", add_url
                    form = {"image": base64.b64encode(data).decode(), "brief": "load"}
                started = time.monotonic()
                try:
                    body = call(own, url, form)
                    code = body.get("error_code")
                except Exception as exc:  # a transport failure is an error of the run
                    code = type(exc).__name__
                elapsed = time.monotonic() - started
                with lock:
                    latencies[op].append(elapsed)
                    if code is not None and not (op == "add" and code == 216203):
                        errors[f"{op} {code}"] += 1

        began = time.monotonic()
        threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - began
        rss_after = rss_mib(stack.server.pid)
        load_after = load()

    total = sum(len(v) for v in latencies.values())
    print(
        "layout: PostgreSQL, Redis (QPS window), gunicorn 2 workers x 8 threads; "
        f"{args.clients} clients, {args.seconds:.0f} s, {args.search_share:.0%} search "
        f"on {args.service} ({len(seeded)} seeded photos)"
    )
    print(f"requests: {total} in {wall:.1f} s = {total / wall:.1f} requests/s")
    print("| operation | requests | per second | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|---|---|")
    for op, values in (("all", [x for v in latencies.values() for x in v]), *latencies.items()):
        if not values:
            continue
        p50, p95, p99 = np.percentile(np.array(values) * 1000, [50, 95, 99])
        rate = len(values) / wall
        print(f"| {op} | {len(values)} | {rate:.1f} | {p50:.0f} | {p95:.0f} | {p99:.0f} |")
    print(f"errors: {sum(errors.values())} {dict(errors) if errors else ''}")
    print(
        f"server memory (RSS, master + workers): {rss_before:.0f} MiB before, {rss_after:.0f} after"
    )
    print(f"load average after: {load_after}")


if __name__ == "__main__":
    main()
