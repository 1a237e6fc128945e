"""Engine speed, end to end and index-only, on this machine. One command:

    .venv/bin/python bench/speed.py [--photos 100] [--sizes 10000,100000] [--index-size 1000000]

1. Ingest: real photos (bench/corpus.py) added through the wire by the official SDK to a real
   engine (gunicorn, 1 worker, 4 threads, SQLite in a temporary data directory), sequentially
   and from 4 threads; images per second include decode, features, thumbnail and commit.
2. Search through the wire (SDK, photo queries: decode and features included) at each size of
   a library of `--service` (similar by default); the library is filled past the real photos
   with synthetic entries (jittered copies of real vectors, and for same_hq / picturebook the
   real photo's keypoints, so verification of the shortlist costs what it would) written
   straight into the store.
3. Index-only: `LibraryIndex.search` on N synthetic 128-d vectors in this process (exact masked
   scan; no filter, a 5 % tag filter) and resident memory per entry.

Prints the machine and one table. Nothing is kept.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ROWS: list[tuple[str, str, str]] = []


def row(what: str, value: str, note: str = "") -> None:
    ROWS.append((what, value, note))
    print(f"  {what}: {value} {note}", flush=True)


def pct(values: list[float]) -> str:
    ms = np.array(values) * 1000
    return f"p50 {np.percentile(ms, 50):.1f} ms / p95 {np.percentile(ms, 95):.1f} ms"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = Path("/proc/meminfo").read_text().split()[1]
        ram = f"{int(mem) / 2**20:.0f} GiB"
    except OSError:
        ram = "?"
    return f"{cpu}, {os.cpu_count()} cores, {ram} RAM, Python {platform.python_version()}"


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def photos(limit: int) -> list[bytes]:
    from bench import corpus

    out = []
    for path in corpus.photos():
        image = corpus.load_rgb(path, max_side=1024)
        if min(image.size) >= 360:
            out.append(corpus.encode(image, "JPEG", quality=90))
        if len(out) >= limit:
            break
    if len(out) < 10:
        sys.exit("too few photos: run `.venv/bin/python bench/corpus.py ensure` first")
    return out


# ------------------------------------------------------------------------- the engine


def start_engine(data_dir: Path) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
    if (REPO / "data" / "models").is_dir():
        (data_dir / "models").symlink_to(REPO / "data" / "models")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "TUKU_DATA_DIR": str(data_dir),
        "DATABASE_URL": f"sqlite:///{data_dir / 'bench.sqlite3'}",
        "REDIS_URL": "",
        "NO_PROXY": "127.0.0.1",
        "DJANGO_SETTINGS_MODULE": "console.settings",
    }
    python = sys.executable
    subprocess.run(
        [python, "manage.py", "migrate", "engine", "--noinput", "-v0"],
        cwd=REPO,
        env=env,
        check=True,
    )
    subprocess.run([python, "manage.py", "engine_model"], cwd=REPO, env=env, check=True)
    gunicorn = str(Path(python).with_name("gunicorn"))
    log = (data_dir / "server.log").open("w")
    server = subprocess.Popen(
        [
            *(gunicorn, "console.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", "1"),
            *("--threads", "4", "--timeout", "300", "--log-level", "warning"),
            *("--control-socket", str(data_dir / "gunicorn.ctl")),
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    import requests

    for _ in range(300):
        try:
            requests.get(base + "/oauth/2.0/token", timeout=1)
            break
        except requests.RequestException:  # not listening yet, or still starting up
            time.sleep(0.2)
    return server, base, env


def sdk(base: str, app_id: str, api_key: str, secret_key: str) -> Any:
    from aip import AipImageSearch

    client = AipImageSearch(app_id, api_key, secret_key)
    for cls in type(client).__mro__:
        for name, value in vars(cls).items():
            if isinstance(value, str) and value.startswith("https://aip.baidubce.com"):
                setattr(client, name, base + value[len("https://aip.baidubce.com") :])
    return client


def fill(library_id: int, target: int, seeds: np.ndarray, blobs: list[bytes | None]) -> None:
    """Write synthetic entries (jittered real vectors) straight into the store."""
    from django.db import transaction
    from django.db.models import F

    from engine.features.extract import FEATURES_VERSION
    from engine.models import EngineChange, EngineEntry, EngineEntryBlob, EngineLibrary
    from engine.vectors import STORED

    library = EngineLibrary.objects.get(pk=library_id)
    rng = np.random.default_rng(library.entry_count)
    thumb = _tiny_jpeg()
    batch = 5000
    while library.entry_count < target:
        count = min(batch, target - library.entry_count)
        picks = rng.integers(0, len(seeds), count)
        vectors = seeds[picks] + rng.normal(0, 0.08, (count, seeds.shape[1]))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        with transaction.atomic():
            first = library.entry_count
            entries = EngineEntry.objects.bulk_create(
                EngineEntry(
                    library=library,
                    cont_sign=f"{first + i},{i}",
                    brief=f"synthetic {first + i}",
                    sha256="0" * 64,
                    width=640,
                    height=480,
                    byte_size=1,
                    format="JPEG",
                    vectors=vectors[i : i + 1].astype(STORED).tobytes(),
                    features_version=FEATURES_VERSION,
                    seq=library.seq + i + 1,
                )
                for i in range(count)
            )
            EngineEntryBlob.objects.bulk_create(
                EngineEntryBlob(entry=entry, local=blobs[pick], thumbnail=thumb)
                for entry, pick in zip(entries, picks, strict=True)
            )
            EngineChange.objects.bulk_create(
                EngineChange(library=library, seq=library.seq + i + 1, op=1, entry_id=entry.pk)
                for i, entry in enumerate(entries)
            )
            EngineLibrary.objects.filter(pk=library.pk).update(
                seq=F("seq") + count, entry_count=F("entry_count") + count
            )
        library.refresh_from_db()


def _tiny_jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "JPEG")
    return out.getvalue()


def end_to_end(args: argparse.Namespace) -> None:
    pictures = photos(args.photos)
    with tempfile.TemporaryDirectory(prefix="tuku-bench-") as tmp:
        data_dir = Path(tmp)
        os.environ.update(
            TUKU_DATA_DIR=str(data_dir),
            DATABASE_URL=f"sqlite:///{data_dir / 'bench.sqlite3'}",
            REDIS_URL="",
            DJANGO_SETTINGS_MODULE="console.settings",
        )
        server, base, _ = start_engine(data_dir)
        try:
            import django

            django.setup()
            from engine import services
            from engine.features.decode import decode
            from engine.features.extract import extract
            from engine.models import EngineLibrary

            service = args.service
            creds = services.engine_app_create(name="bench", services=[service], qps=0)
            services.engine_library_create(app_id=creds.app_id, service=service)
            client = sdk(base, creds.app_id, creds.api_key, creds.secret_key)
            method = {
                "similar": "similar",
                "same_hq": "sameHq",
                "product": "product",
                "picturebook": "picturebook",
                "materiel": "materiel",
            }[service]
            add_call = getattr(client, f"{method}Add")
            search_call = getattr(client, f"{method}Search")
            search_call(pictures[0])  # token, model load

            half = len(pictures) // 2
            started = time.perf_counter()
            for i, picture in enumerate(pictures[:half]):
                assert "cont_sign" in add_call(picture, f"photo {i}")
            seq_rate = half / (time.perf_counter() - started)
            row("ingest, 1 client", f"{seq_rate:.1f} images/s", f"({half} photos)")

            clients = [sdk(base, creds.app_id, creds.api_key, creds.secret_key) for _ in range(4)]
            local = threading.local()

            def add(item: tuple[int, bytes]) -> None:
                if not hasattr(local, "client"):
                    local.client = clients[item[0] % 4]
                add = getattr(local.client, f"{method}Add")
                assert "cont_sign" in add(item[1], f"photo {item[0]}")

            started = time.perf_counter()
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(add, enumerate(pictures[half:], start=half)))
            par_rate = (len(pictures) - half) / (time.perf_counter() - started)
            row("ingest, 4 clients", f"{par_rate:.1f} images/s")

            stored = [extract(service, decode(p), for_query=False) for p in pictures]
            seeds = np.concatenate([f.vectors.astype(np.float32) for f in stored])
            blobs = [f.local for f in stored]
            library_id = EngineLibrary.objects.get(app__app_id=creds.app_id).pk
            queries = [pictures[i % len(pictures)] for i in range(args.queries)]
            for size in args.sizes:
                fill(library_id, size, seeds, blobs)
                search_call(queries[0])  # this process catches up (rebuild)
                times = []
                for query in queries:
                    started = time.perf_counter()
                    body = search_call(query, {"rn": 300})
                    times.append(time.perf_counter() - started)
                    assert "result" in body, body
                row(f"search via SDK, {service}, {size:,} entries", pct(times), "(features incl.)")
        finally:
            server.terminate()
            server.wait(30)


# ------------------------------------------------------------------------- index only


def index_only(size: int, queries: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    import django

    django.setup()
    from engine import ann, index
    from engine.features.extract import VECTOR_DIM
    from engine.vectors import Filter

    dim = VECTOR_DIM
    rng = np.random.default_rng(1)
    centers = rng.standard_normal((2000, dim)).astype(np.float32)
    before = rss_mib()
    state = index._empty_state(1, cap_e=size, cap_v=size)
    for lo in range(0, size, 100_000):
        hi = min(size, lo + 100_000)
        block = centers[rng.integers(0, 2000, hi - lo)] + 0.6 * rng.standard_normal(
            (hi - lo, dim)
        ).astype(np.float32)
        state.vectors[lo:hi] = block / np.linalg.norm(block, axis=1, keepdims=True)
    state.ids[:] = np.arange(size)
    state.alive[:] = True
    state.starts[:] = np.arange(size)
    state.owner[:] = np.arange(size)
    tags = rng.integers(1, 21, size)  # one of 20 tags: a tag filter keeps 5 %
    state.labels[:] = tags.astype(np.uint64)
    built = index.LibraryIndex(0, "bench")
    built._state = replace(state, n=size, m=size, live=size)
    per_entry = (rss_mib() - before) * 2**20 / size
    # Queries: jittered copies of stored rows, so each has a known best answer.
    qs = state.vectors[rng.integers(0, size, queries)] + 0.05 * rng.standard_normal(
        (queries, dim)
    ).astype(np.float32)
    qs = (qs / np.linalg.norm(qs, axis=1, keepdims=True)).astype(np.float32)
    ann_min = ann.ANN_MIN_ROWS
    ann.ANN_MIN_ROWS = 2**62  # exact scan only, and no graph build in the background
    exact: dict[int, list[list[int]]] = {}
    for label, flt, k in [
        ("no filter, top 1001", Filter(), 1001),
        ("no filter, top 20", Filter(), 20),
        ("5 % tag filter, top 1001", Filter(tags=(7,)), 1001),
    ]:
        built.search(qs[0], flt, k)
        times = []
        results = []
        for q in qs:
            started = time.perf_counter()
            results.append([e for e, _ in built.search(q, flt, k)])
            times.append(time.perf_counter() - started)
        if flt == Filter():
            exact[k] = results
        row(f"index only, {size:,} x {dim}-d, {label}", pct(times), "(exact scan)")
    row("resident memory per entry (1 vector, exact)", f"{per_entry:.0f} bytes")
    ann.ANN_MIN_ROWS = ann_min
    if ann.ann_library() is None or size < ann_min:
        return
    before = rss_mib()
    started = time.perf_counter()
    built._build_ann(built._state)
    row(f"approximate graph build, {size:,} rows", f"{time.perf_counter() - started:.0f} s")
    graph_bytes = (rss_mib() - before) * 2**20 / size
    for k in (20, 1001):
        built.search(qs[0], Filter(), k)
        times, recall, top1 = [], 0.0, 0
        for q, truth in zip(qs, exact[k], strict=True):
            started = time.perf_counter()
            found = [e for e, _ in built.search(q, Filter(), k)]
            times.append(time.perf_counter() - started)
            recall += len(set(found) & set(truth)) / len(truth)
            top1 += found[0] == truth[0]
        row(
            f"index only, {size:,}, no filter, top {k}, HNSW",
            pct(times),
            f"(recall@{k} {recall / len(qs):.3f}, exact best first {top1 / len(qs):.2f})",
        )
    row("graph memory per entry", f"{graph_bytes:.0f} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument(
        "--sizes", type=lambda v: [int(x) for x in v.split(",")], default=[10_000, 100_000]
    )
    parser.add_argument("--index-size", type=int, default=1_000_000)
    parser.add_argument("--skip-wire", action="store_true")
    parser.add_argument(
        "--service",
        default="similar",
        choices=["similar", "same_hq", "product", "picturebook", "materiel"],
    )
    args = parser.parse_args()
    print(f"machine: {machine()}", flush=True)
    if not args.skip_wire:
        end_to_end(args)
    index_only(args.index_size, args.queries)
    width = max(len(r[0]) for r in ROWS)
    print("\n" + machine())
    print(f"| {'measure'.ljust(width)} | result | note |")
    print(f"|{'-' * (width + 2)}|---|---|")
    for what, value, note in ROWS:
        print(f"| {what.ljust(width)} | {value} | {note} |")


if __name__ == "__main__":
    main()
