"""Search quality through both wires of the engine, the same photos and queries. One command:

    .venv/bin/python bench/wires.py [--photos 30] [--transforms crop_70,resize_25,...]

A real engine (gunicorn, 2 workers, SQLite in a temporary data directory) gets the same real
photos (bench/corpus.py, longest side 1280 px, JPEG q92) through the official SDKs of both wires:
Baidu's `similar` and `product` libraries (baidu-aip) and Alibaba generic and product instances
(alibabacloud-imagesearch20201214). Every photo is then searched for with each transform of
bench/corpus.py through every wire, and the photo's rank among the answers is kept. Alibaba is
searched twice: with `Crop=true` (the default: the detected main subject) and `Crop=false` (the
whole picture, as Baidu always searches). Prints recall@1 and @5 per transform and wire, the
mean over transforms, the time per query, the machine and its load. Nothing is kept.
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import corpus  # noqa: E402
from ingest import free_port, wait_http  # noqa: E402
from speed import machine  # noqa: E402

BAIDU_HOST = "https://aip.baidubce.com"
DEFAULT_TRANSFORMS = (
    "jpeg_q30,resize_25,bright_contrast,text_overlay,crop_90,crop_70,crop_50,rotate_5,"
    "perspective,combo_crop60_bc_resize"
)
# (wire, service) -> what a search returns: the names of the photos, best first.
Searcher = Callable[[bytes], list[str]]


def load() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def provision() -> dict[str, Any]:
    """A Baidu application with both libraries and an AccessKey with both instances."""
    import django

    django.setup()
    from django.core.management import call_command

    from engine.aliyun.services import access_key_create, instance_create
    from engine.services import engine_app_create, engine_library_create

    call_command("migrate", "engine", interactive=False, verbosity=0)
    app = engine_app_create(name="bench", services=["similar", "product"], qps=0)
    for service in ("similar", "product"):
        engine_library_create(app_id=app.app_id, service=service, capacity=100_000)
    key = access_key_create(name="bench-aliyun")
    for name, kind in (("generic", 1), ("product", 0)):
        instance_create(
            access_key_id=key.access_key_id, name=name, service_type=kind, capacity=100_000
        )
    return {"baidu": app, "aliyun": key}


def baidu_client(base: str, app: Any) -> Any:
    """The official client with its URLs pointed at the engine (baidu-wire §12)."""
    from aip import AipImageSearch

    client = AipImageSearch(app.app_id, app.api_key, app.secret_key)
    for cls in type(client).__mro__:
        for name, value in vars(cls).items():
            if isinstance(value, str) and value.startswith(BAIDU_HOST):
                setattr(client, name, base + value[len(BAIDU_HOST) :])
    return client


def aliyun_client(base: str, key: Any) -> Any:
    from alibabacloud_imagesearch20201214.client import Client
    from alibabacloud_tea_openapi import models

    return Client(
        models.Config(
            access_key_id=key.access_key_id,
            access_key_secret=key.access_key_secret,
            endpoint=base.removeprefix("http://"),
            protocol="http",
            region_id="cn-shanghai",
            read_timeout=60_000,
        )
    )


class Pacer:
    """Calls of the Alibaba wire at most every `gap` seconds: an instance's QPS tier is 10
    (aliyun-wire §4.1). The wait comes before a call, so a timed call never includes it."""

    def __init__(self, gap: float = 0.11) -> None:
        self.gap = gap
        self.last = 0.0

    def wait(self) -> None:
        rest = self.gap - (time.monotonic() - self.last)
        if rest > 0:
            time.sleep(rest)
        self.last = time.monotonic()


PACER = Pacer()


def searchers(baidu: Any, aliyun: Any) -> dict[str, Searcher]:
    from alibabacloud_imagesearch20201214 import models

    def baidu_search(service: str) -> Searcher:
        method = getattr(baidu, f"{service}Search")

        def run(data: bytes) -> list[str]:
            answer = method(data, {"rn": 20})
            return [hit["brief"] for hit in answer.get("result", [])]

        return run

    def aliyun_search(instance: str, crop: bool) -> Searcher:
        def run(data: bytes) -> list[str]:
            request = models.SearchImageByPicRequest(
                instance_name=instance,
                pic_content=base64.b64encode(data).decode(),
                crop=crop,
                num=20,
            )
            answer = aliyun.search_image_by_pic(request)
            return [a.product_id for a in answer.body.auctions or []]

        return run

    return {
        "baidu similar": baidu_search("similar"),
        "aliyun generic, Crop=true": aliyun_search("generic", True),
        "aliyun generic, Crop=false": aliyun_search("generic", False),
        "baidu product": baidu_search("product"),
        "aliyun product, Crop=true": aliyun_search("product", True),
        "aliyun product, Crop=false": aliyun_search("product", False),
    }


def add_everywhere(baidu: Any, aliyun: Any, name: str, data: bytes) -> None:
    from alibabacloud_imagesearch20201214 import models

    for service in ("similar", "product"):
        answer = getattr(baidu, f"{service}Add")(data, name)
        if "error_code" in answer:
            sys.exit(f"baidu {service} add of {name}: {answer}")
    content = base64.b64encode(data).decode()
    for instance in ("generic", "product"):
        request = models.AddImageRequest(
            instance_name=instance, product_id=name, pic_name=name, pic_content=content
        )
        PACER.wait()
        aliyun.add_image(request)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=30)
    parser.add_argument("--transforms", default=DEFAULT_TRANSFORMS)
    args = parser.parse_args()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(name, None)  # the Alibaba SDK uses them even for 127.0.0.1 (spec §7)
    paths = corpus.photos()[: args.photos]
    if len(paths) < args.photos:
        sys.exit("not enough photos: run `.venv/bin/python bench/corpus.py ensure`")
    wanted = args.transforms.split(",")
    transforms = [t for t in corpus.TRANSFORMS if t.name in wanted]
    print(f"machine: {machine()}; {load()}", flush=True)

    with tempfile.TemporaryDirectory(prefix="tuku-wires-") as tmp:
        data_dir = Path(tmp)
        models = REPO / "data" / "models"
        if models.is_dir():
            (data_dir / "models").symlink_to(models)
        port = free_port()
        os.environ.update(
            DJANGO_SETTINGS_MODULE="console.settings",
            TUKU_DATA_DIR=str(data_dir),
            DATABASE_URL=f"sqlite:///{data_dir / 'db.sqlite3'}",
            REDIS_URL="",
            NO_PROXY="127.0.0.1,localhost",
        )
        made = provision()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "console.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--threads",
                "2",
                "--timeout",
                "300",
                "--control-socket",
                str(data_dir / "gunicorn.ctl"),
            ],
            cwd=REPO,
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=(data_dir / "server.log").open("w"),
        )
        try:
            wait_http(base, server)
            baidu = baidu_client(base, made["baidu"])
            aliyun = aliyun_client(base, made["aliyun"])
            started = time.monotonic()
            originals = {}
            for path in paths:
                data = corpus.encode(corpus.load_rgb(path))
                originals[path.name] = data
                add_everywhere(baidu, aliyun, path.name, data)
            print(f"  stored {len(paths)} photos in 4 places in {time.monotonic() - started:.0f} s")
            ranks: dict[tuple[str, str], list[int | None]] = defaultdict(list)
            spent: dict[str, float] = defaultdict(float)
            wires = searchers(baidu, aliyun)
            for seed, path in enumerate(paths):
                image = corpus.load_rgb(path)
                for transform in transforms:
                    query = corpus.transformed(image, transform, seed)
                    for wire, search in wires.items():
                        if wire.startswith("aliyun"):
                            PACER.wait()
                        began = time.monotonic()
                        names = search(query)
                        spent[wire] += time.monotonic() - began
                        rank = names.index(path.name) + 1 if path.name in names else None
                        ranks[(wire, transform.name)].append(rank)
        finally:
            server.terminate()
            server.wait(30)

    queries = len(paths) * len(transforms)
    print(f"\n{len(paths)} photos x {len(transforms)} transforms; {load()}\n")
    header = f"{'transform':<24}" + "".join(f"{w:>30}" for w in wires)
    print(header)
    means: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for transform in transforms:
        cells = []
        for wire in wires:
            found = ranks[(wire, transform.name)]
            at1 = sum(1 for r in found if r == 1) / len(found)
            at5 = sum(1 for r in found if r is not None and r <= 5) / len(found)
            means[wire].append((at1, at5))
            cells.append(f"{at1:>6.2f} / {at5:<4.2f} (@1 / @5)")
        print(f"{transform.name:<24}" + "".join(f"{c:>30}" for c in cells))
    print(
        f"{'mean':<24}"
        + "".join(
            f"{sum(a for a, _ in means[w]) / len(means[w]):>6.3f} / "
            f"{sum(b for _, b in means[w]) / len(means[w]):<5.3f}{'':>13}"
            for w in wires
        )
    )
    print(
        f"{'ms per query':<24}"
        + "".join(f"{1000 * spent[w] / queries:>30.0f}" for w in wires)
        + "  (the pauses that keep Alibaba's calls under its 10 QPS tier excluded)"
    )


if __name__ == "__main__":
    main()
