"""Engine speed, end to end and index-only, on this machine. One command:

    .venv/bin/python bench/speed.py [--photos 100] [--sizes 10000,100000] [--index-size 1000000]

1. Ingest: real photos (bench/corpus.py) added through the wire by the official SDK to a real
   engine in the production layout (gunicorn, 2 workers, 4 threads each, SQLite in a temporary
   data directory), sequentially and from 4 threads; images per second include decode,
   features, thumbnail and commit.
2. Search through the wire (SDK, photo queries: decode and features included) at each size of
   a library of `--service` (similar by default); the library is filled past the real photos
   with synthetic entries (jittered copies of real vectors, and for same_hq / picturebook the
   real photo's keypoints: the shortlist is then all copies of the query, whose mirror
   keypoints are never needed; `--unrelated-keypoints` gives each entry another photo's, so
   the shortlist is one match among unrelated entries as in a real library) written
   straight into the store; then each worker's RSS and PSS (shared pages counted once).
3. Index-only, on one synthetic library of `--index-size` rows written into a shared index and
   searched by separate worker processes, as gunicorn workers would: the exact scan in steady
   state (no filter, a 5 % tag filter) and while the approximate graph is built (started by the
   first large search, as in production: a separate nice-19 process); the approximate path
   (recall against the exact scan); faiss IndexHNSWFlat over the same rows at equal recall
   (`--no-reference` skips it); the first search of a worker started afterwards (a restart);
   RSS and PSS of one worker alone and of two.

Prints the machine and one table. Nothing is kept.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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
    p50, p95 = np.percentile(ms, 50), np.percentile(ms, 95)
    digits = 2 if p50 < 10 else 1
    return f"p50 {p50:.{digits}f} ms / p95 {p95:.{digits}f} ms"


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
            *(gunicorn, "console.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", "2"),
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


def _children(pid: int) -> list[str]:
    """Process ids whose parent is `pid` (gunicorn's workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(stat.parent.name)
    return sorted(found, key=int)


def sdk(base: str, app_id: str, api_key: str, secret_key: str) -> Any:
    from aip import AipImageSearch

    client = AipImageSearch(app_id, api_key, secret_key)
    for cls in type(client).__mro__:
        for name, value in vars(cls).items():
            if isinstance(value, str) and value.startswith("https://aip.baidubce.com"):
                setattr(client, name, base + value[len("https://aip.baidubce.com") :])
    return client


def fill(
    library_id: int,
    target: int,
    seeds: np.ndarray,
    blobs: list[bytes | None],
    *,
    unrelated: bool = False,
) -> None:
    """Write synthetic entries (jittered real vectors) straight into the store; with
    ``unrelated`` each carries the keypoints of another photo than its vector's."""
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
                for entry, pick in zip(
                    entries, (picks + 1) % len(blobs) if unrelated else picks, strict=True
                )
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
        server, base, env = start_engine(data_dir)
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
            # The SDK's names: picturebook's alone end in "Image".
            add_name, search_name = {
                "similar": ("similarAdd", "similarSearch"),
                "same_hq": ("sameHqAdd", "sameHqSearch"),
                "product": ("productAdd", "productSearch"),
                "picturebook": ("pictureBookAddImage", "pictureBookSearchImage"),
                "materiel": ("materielAdd", "materielSearch"),
            }[service]
            add_call = getattr(client, add_name)
            search_call = getattr(client, search_name)
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
                add = getattr(local.client, add_name)
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
            # A connection per search (the SDK keeps one open per client otherwise, which one
            # worker would hold), so that both workers serve searches, as behind a proxy.
            for each in clients:
                each.s.headers["Connection"] = "close"
            searches = [getattr(c, search_name) for c in clients]
            for size in args.sizes:
                started = time.perf_counter()
                fill(library_id, size, seeds, blobs, unrelated=args.unrelated_keypoints)
                print(f"  filled to {size:,} in {time.perf_counter() - started:.0f} s", flush=True)
                if args.build_graphs:
                    # As an operator would before traffic: the index caught up and its graph
                    # built in the foreground (a library below ANN_MIN_ROWS gets none).
                    started = time.perf_counter()
                    subprocess.run(
                        [sys.executable, "manage.py", "engine_index", "build"],
                        cwd=REPO,
                        env=env,
                        check=True,
                    )
                    row(
                        f"manage.py engine_index build, {size:,} entries",
                        f"{time.perf_counter() - started:.0f} s",
                    )
                for call in searches:
                    call(queries[0])  # each worker catches up (one rebuilds, the other maps)
                times = []
                for i, query in enumerate(queries):
                    started = time.perf_counter()
                    body = searches[i % len(searches)](query, {"rn": 300})
                    times.append(time.perf_counter() - started)
                    assert "result" in body, body
                row(f"search via SDK, {service}, {size:,} entries", pct(times), "(features incl.)")
                workers = [int(p) for p in _children(server.pid)]
                for i, pid in enumerate(workers, 1):
                    rss, pss = memory_of(pid)
                    row(
                        f"gunicorn worker {i} of {len(workers)}, {size:,} entries: RSS / PSS",
                        f"{rss:.0f} / {pss:.0f} MiB",
                    )
        finally:
            server.terminate()
            server.wait(30)


# ------------------------------------------------------------------------- index only
#
# The index is measured as production runs it: one shared copy of the library's files, seen
# by separate worker processes (`--index-worker`, driven over a pipe), so that memory counts
# no generation temporaries and the graph build runs the way a worker starts it.


def memory_of(pid: int | str = "self") -> tuple[float, float]:
    """(RSS, PSS) of a process in MiB; PSS shares each mapped page among its users."""
    rss = pss = 0.0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Rss:"):
            rss = int(line.split()[1]) / 1024
        elif line.startswith("Pss:"):
            pss = int(line.split()[1]) / 1024
    return rss, pss


def synthetic_blocks(
    size: int, dim: int, seed: int = 1
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """`size` unit vectors around 2000 centres, one per entry, one of 20 tags each."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((2000, dim)).astype(np.float32)
    for lo in range(0, size, 100_000):
        hi = min(size, lo + 100_000)
        block = centers[rng.integers(0, 2000, hi - lo)] + 0.6 * rng.standard_normal(
            (hi - lo, dim)
        ).astype(np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        tags = rng.integers(1, 21, hi - lo).astype(np.uint64)  # a tag filter keeps 5 %
        yield np.arange(lo, hi), tags, np.ones(hi - lo, np.int64), block


class Worker:
    """A separate process holding the shared index, as a gunicorn worker would."""

    def __init__(self, directory: Path, queries: int, ann_min_rows: int) -> None:
        command = [sys.executable, __file__, "--index-worker", str(directory)]
        command += ["--queries", str(queries), "--ann-min-rows", str(ann_min_rows)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO
        )

    def __call__(self, op: str, **params: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **params}) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            sys.exit(f"index worker died during {op}")
        result: dict[str, Any] = json.loads(answer)
        return result

    def close(self) -> None:
        self("quit")
        self.process.wait(60)


def index_worker(directory: Path, queries: int, ann_min_rows: int) -> None:
    """The worker's side: JSON commands on stdin, one JSON answer per line on stdout."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    import django

    django.setup()
    from engine import ann, index
    from engine.vectors import Filter

    baseline = memory_of()
    ann.ANN_MIN_ROWS = 2**62  # exact until told otherwise
    codes_min_rows = index.CODES_MIN_ROWS
    built = index.LibraryIndex(0, "bench", directory=directory)
    truth: dict[int, list[list[int]]] = {}
    qs = np.zeros((0, 0), np.float32)

    answers: list[list[tuple[int, float]]] = []  # of the last call of timed

    def timed(k: int, flt: Filter, every: float = 0.0) -> tuple[list[float], list[list[int]]]:
        """Each query once, back to back or one every `every` seconds (a request rate)."""
        times, found = [], []
        answers.clear()
        due = time.perf_counter()
        for q in qs:
            due += every
            started = time.perf_counter()
            answers.append(built.search(q, flt, k))
            times.append(time.perf_counter() - started)
            found.append([e for e, _ in answers[-1]])
            time.sleep(max(0.0, due - time.perf_counter()))
        return times, found

    def quality(k: int, found: list[list[int]]) -> dict[str, float]:
        if k not in truth:  # this worker did not run the exact scan at this k
            return {}
        pairs = list(zip(found, truth[k], strict=True))
        recall = sum(len(set(f) & set(t)) / len(t) for f, t in pairs) / len(pairs)
        return {"recall": recall, "top1": sum(f[0] == t[0] for f, t in pairs) / len(pairs)}

    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        answer: dict[str, Any] = {}
        if op == "open":  # a restart: map what is published, then answer the first search
            started = time.perf_counter()
            assert built.refresh(), "nothing published"
            answer["open_s"] = time.perf_counter() - started
            state = built._state
            rng = np.random.default_rng(7)  # every worker asks the same queries
            picked = state.vectors[rng.integers(0, state.m, queries)]
            noisy = picked + 0.05 * rng.standard_normal(picked.shape).astype(np.float32)
            qs = (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)
        elif op == "first":  # the first search after opening (graph mapped on first use)
            ann.ANN_MIN_ROWS = command["ann_min_rows"]
            flt = Filter(tags=(7,)) if command.get("tag") else Filter()
            started = time.perf_counter()
            built.search(qs[0], flt, command["k"])
            answer["first_s"] = time.perf_counter() - started
            answer["graph"] = built._graph is not None
        elif op == "exact":  # through the 8-bit codes, or the float32 rows alone ("plain")
            ann.ANN_MIN_ROWS = 2**62
            index.CODES_MIN_ROWS = 2**62 if command.get("plain") else codes_min_rows
            flt = Filter(tags=(7,)) if command.get("tag") else Filter()
            built.search(qs[0], flt, command["k"])
            times, found = timed(command["k"], flt, command.get("every", 0.0))
            index.CODES_MIN_ROWS = codes_min_rows
            if flt == Filter() and not command.get("every") and not command.get("plain"):
                truth[command["k"]] = found
            answer["times"], answer["answers"] = times, answers
        elif op == "during_build":  # exact answers while another process builds the graph
            ann.ANN_MIN_ROWS = ann_min_rows
            times, seen, started = [], False, time.perf_counter()
            while built._usable_graph(built._state) is None:  # the first call starts it
                busy = ann.building(directory)
                seen = seen or busy
                if not busy and (seen or time.perf_counter() > started + 60):
                    time.sleep(index.GRAPH_POLL)  # finished or never started: look once more
                    if built._usable_graph(built._state) is None:
                        sys.exit("the graph build ended without a graph (see its log above)")
                    break
                more, _ = timed(command["k"], Filter(), command["every"])
                times += more
            answer["times"], answer["build_s"] = times, time.perf_counter() - started
        elif op == "graph":
            ann.ANN_MIN_ROWS = ann_min_rows
            assert built._usable_graph(built._state) is not None
            timed(command["k"], Filter())  # first touches of the graph's pages, untimed
            times, found = timed(command["k"], Filter())
            answer = {"times": times, **quality(command["k"], found)}
            answer["graph_file"] = built._graph.file if built._graph else ""
        elif op == "flat":  # the reference: faiss IndexHNSWFlat over the same rows
            faiss = ann.ann_library()
            reference = faiss.read_index(command["path"], faiss.IO_FLAG_MMAP_IFC)
            params = faiss.SearchParametersHNSW()
            answer["sweep"] = []
            k = command["k"]
            params.efSearch = max(command["efs"])
            reference.search(qs, k, params=params)  # first touches of its pages, untimed
            for ef in command["efs"]:
                params.efSearch = ef
                times, found = [], []
                for q in qs:
                    started = time.perf_counter()
                    _, rows = reference.search(q[None], k, params=params)
                    times.append(time.perf_counter() - started)
                    found.append([int(r) for r in rows[0] if r >= 0])  # ids are rows here
                answer["sweep"].append({"ef": ef, "times": times, **quality(k, found)})
        elif op == "memory":
            rss, pss = memory_of()
            answer = {"rss": rss, "pss": pss, "rss0": baseline[0], "pss0": baseline[1]}
        elif op == "quit":
            print("{}", flush=True)
            return
        print(json.dumps(answer), flush=True)


# The codes path rescores its few rows without BLAS (engine/index.py, _best_per_row), whose
# float32 sums differ from the full scan's in the last bits: entries whose scores are that
# close may come in either order.
ULP_SLACK = 1e-6


def _alike(ours: list[list[Any]], theirs: list[list[Any]]) -> bool:
    """The same entries, each with the same score up to float32 rounding."""
    mine, other = dict(map(tuple, ours)), dict(map(tuple, theirs))
    return mine.keys() == other.keys() and all(abs(mine[e] - other[e]) <= ULP_SLACK for e in mine)


def _p(times: list[float], q: float) -> float:
    return float(np.percentile(np.array(times) * 1000, q))


PACED_QPS = 5


def index_only(size: int, queries: int, *, ann_min_rows: int, reference: bool) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    import django

    django.setup()
    from engine import ann, index
    from engine.features.extract import VECTOR_DIM

    dim = VECTOR_DIM
    label = f"index only, {size:,} x {dim}-d"
    with tempfile.TemporaryDirectory(prefix="tuku-bench-index-") as tmp:
        directory = Path(tmp) / "library"
        started = time.perf_counter()
        writer = index.LibraryIndex(0, "bench", directory=directory)
        writer.load(1, synthetic_blocks(size, dim), entries=size, rows=size)
        generation = writer._state.columns.path if writer._state.columns else directory
        del writer
        row(f"{label}, write a generation", f"{time.perf_counter() - started:.1f} s")

        first = Worker(directory, queries, ann_min_rows)
        opened = first("open")
        for what, k, tag in [
            ("no filter, top 1001", 1001, False),
            ("no filter, top 20", 20, False),
            ("5 % tag filter, top 1001", 1001, True),
        ]:
            coded = first("exact", k=k, tag=tag)
            plain = first("exact", k=k, tag=tag, plain=True)
            pairs = list(zip(coded["answers"], plain["answers"], strict=True))
            same = sum([e for e, _ in a] == [e for e, _ in b] for a, b in pairs)
            alike = sum(_alike(a, b) for a, b in pairs)
            row(
                f"{label}, exact scan through the 8-bit codes, {what}",
                pct(coded["times"]),
                f"(steady, back to back; against the plain scan: the same entries with scores "
                f"within {ULP_SLACK:g} {alike}/{queries}, in the same order {same}/{queries})",
            )
            row(f"{label}, plain float32 scan, {what}", pct(plain["times"]), "(the same run)")
        with_graph = ann.ann_library() is not None and size >= ann_min_rows
        if with_graph:
            # A request rate that leaves the machine idle part of the time, as the build
            # only takes idle CPU: the same rate without and with a build running.
            every = 1 / PACED_QPS
            for floats in (False, True):
                paced = first("exact", k=1001, every=every, plain=floats)["times"]
                row(
                    f"{label}, {'plain float32' if floats else 'exact'} scan, top 1001, "
                    f"{PACED_QPS} searches/s",
                    pct(paced),
                    "(steady, no build running)",
                )
            during = first("during_build", k=1001, every=every)
            row(
                f"{label}, exact scan, top 1001, {PACED_QPS} searches/s, while the graph builds",
                pct(during["times"]),
                f"(builder: a SCHED_IDLE process, {during['build_s']:.0f} s for {size:,} rows)",
            )
            ours: dict[int, dict[str, Any]] = {}
            for k in (20, 1001):
                ours[k] = first("graph", k=k)
                row(
                    f"{label}, approximate (HNSW SQ8 + exact rescoring), top {k}",
                    pct(ours[k]["times"]),
                    f"(recall@{k} {ours[k]['recall']:.3f}, exact best first {ours[k]['top1']:.2f})",
                )
            graph_file = generation / ours[20]["graph_file"]
            row("graph file per row", f"{graph_file.stat().st_size / size:.0f} bytes")
        alone = first("memory")
        row(
            "one worker: RSS / PSS for the index (mapped files, no temporaries)",
            f"{alone['rss'] - alone['rss0']:.0f} / {alone['pss'] - alone['pss0']:.0f} MiB",
            f"(process total {alone['rss']:.0f} / {alone['pss']:.0f} MiB)",
        )
        # A second worker, started as after a restart: the files are in the page cache.
        second = Worker(directory, queries, ann_min_rows)
        opened = second("open")
        k_first = 20 if with_graph else 1001
        first_search = second("first", k=k_first, ann_min_rows=ann_min_rows)
        row(
            f"{label}, first search after a restart (map + top {k_first})",
            f"{(opened['open_s'] + first_search['first_s']) * 1000:.0f} ms",
            "(approximate, graph mapped)" if first_search["graph"] else "(exact scan)",
        )
        filtered = second("first", k=1001, tag=True, ann_min_rows=ann_min_rows)
        row(
            f"{label}, first filtered search after a restart",
            f"{filtered['first_s'] * 1000:.0f} ms",
        )
        second("exact", k=1001, tag=False)
        if with_graph:
            second("graph", k=20)
        both = [first("memory"), second("memory")]
        for i, mem in enumerate(both, 1):
            row(
                f"two workers, worker {i}: RSS / PSS for the index",
                f"{mem['rss'] - mem['rss0']:.0f} / {mem['pss'] - mem['pss0']:.0f} MiB",
            )
        total = sum(m["pss"] - m["pss0"] for m in both)
        row(
            "two workers: index memory (sum of PSS) / one worker's",
            f"{total:.0f} / {alone['pss'] - alone['pss0']:.0f} MiB",
            f"({total / max(1.0, alone['pss'] - alone['pss0']):.2f}x)",
        )
        second.close()

        if with_graph and reference:
            faiss = ann.ann_library()
            started = time.perf_counter()
            flat = faiss.IndexHNSWFlat(dim, ann.ANN_M, faiss.METRIC_INNER_PRODUCT)
            flat.hnsw.efConstruction = ann.ANN_EF_CONSTRUCTION
            vectors = np.memmap(generation / "vectors.bin", np.float32, "r", shape=(size, dim))
            for lo in range(0, size, 100_000):
                flat.add(np.ascontiguousarray(vectors[lo : lo + 100_000]))
            faiss.write_index(flat, str(Path(tmp) / "flat.faiss"))
            del flat
            row(
                f"faiss IndexHNSWFlat build, {size:,} rows (same M, efConstruction)",
                f"{time.perf_counter() - started:.0f} s",
            )
            for k, efs in (
                (20, [32, 48, 64, 96, 128, 160, 192, 256, 320, 384, 512]),
                (1001, [1001, 1250, 1500, 2000, 2500, 3000, 4000]),
            ):
                sweep = first("flat", path=str(Path(tmp) / "flat.faiss"), k=k, efs=efs)["sweep"]
                matched = next((s for s in sweep if s["recall"] >= ours[k]["recall"]), sweep[-1])
                ratio = _p(ours[k]["times"], 50) / max(1e-6, _p(matched["times"], 50))
                row(
                    f"{label}, faiss IndexHNSWFlat at equal recall, top {k}",
                    pct(matched["times"]),
                    f"(efSearch {matched['ef']}, recall@{k} {matched['recall']:.3f}; "
                    f"ours / flat p50 = {ratio:.2f})",
                )
        first.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument(
        "--sizes", type=lambda v: [int(x) for x in v.split(",")], default=[10_000, 100_000]
    )
    parser.add_argument("--index-size", type=int, default=1_000_000, help="0: skip index-only")
    parser.add_argument(
        "--unrelated-keypoints",
        action="store_true",
        help="same_hq / picturebook: synthetic entries carry another photo's keypoints, so a "
        "query's shortlist is one match among unrelated candidates, as in a real library "
        "(by default they carry their own photo's, and the shortlist is all matches)",
    )
    parser.add_argument("--skip-wire", action="store_true")
    parser.add_argument(
        "--build-graphs",
        action="store_true",
        help="after each fill, catch the index up and build its graph in the foreground "
        "(`manage.py engine_index build`), so that the searches measure the steady state",
    )
    parser.add_argument(
        "--ann-min-rows",
        type=int,
        default=0,
        help="index-only: build and measure the approximate path from this many rows "
        "(default: the engine's own threshold)",
    )
    parser.add_argument("--no-reference", action="store_true", help="skip faiss HNSWFlat")
    parser.add_argument("--index-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--service",
        default="similar",
        choices=["similar", "same_hq", "product", "picturebook", "materiel"],
    )
    args = parser.parse_args()
    if args.index_worker:
        index_worker(args.index_worker, args.queries, args.ann_min_rows)
        return
    print(f"machine: {machine()}", flush=True)
    if not args.skip_wire:
        end_to_end(args)
    if args.index_size:
        from engine import ann

        index_only(
            args.index_size,
            args.queries,
            ann_min_rows=args.ann_min_rows or ann.ANN_MIN_ROWS,
            reference=not args.no_reference,
        )
    width = max(len(r[0]) for r in ROWS)
    print("\n" + machine())
    print(f"| {'measure'.ljust(width)} | result | note |")
    print(f"|{'-' * (width + 2)}|---|---|")
    for what, value, note in ROWS:
        print(f"| {what.ljust(width)} | {value} | {note} |")


if __name__ == "__main__":
    main()
