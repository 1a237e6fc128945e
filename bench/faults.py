"""The fault suite at full size, with the figures it measured. One command:

    .venv/bin/python bench/faults.py [--backend-outage 600] [-k worker]

Runs tests/integration/test_faults.py (real PostgreSQL, Redis, Celery workers and the engine's
gunicorn) with the sizes of the reliability issue instead of the CI ones: 1,000 uploads with the
worker SIGKILLed mid-batch; 200 uploads during a 60 s broker outage; a backend away for
10 minutes; the web server SIGKILLed 10 times during uploads, waiting this time for the rows
whose message the kill lost (the 300 s staleness rule). A database (`tuku_bench_faults`, the
test run's `test_` copy of it), a Redis database number and a data directory of its own; about
25 minutes on 2 cores. It prints the machine and its load, and each scenario's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.load import free_port, load, machine  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument("--worker-uploads", type=int, default=1000)
    parser.add_argument("--broker-uploads", type=int, default=200)
    parser.add_argument("--broker-outage", type=int, default=60)
    parser.add_argument("--backend-uploads", type=int, default=200)
    parser.add_argument("--backend-outage", type=int, default=600)
    parser.add_argument("--web-kills", type=int, default=10)
    parser.add_argument("-k", dest="select", default="", help="pytest -k: run some scenarios")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="tuku-faults-"))
    figures = data_dir / "figures.jsonl"
    env = {
        **os.environ,
        "DATABASE_URL": f"{args.postgres}/tuku_bench_faults",
        "REDIS_URL": f"{args.redis}/{args.redis_db}",
        "TUKU_DATA_DIR": str(data_dir),
        "TUKU_ENGINE_URL": f"http://127.0.0.1:{free_port()}",
        "TUKU_FAULTS_REPORT": str(figures),
        "TUKU_FAULTS_WORKER_UPLOADS": str(args.worker_uploads),
        "TUKU_FAULTS_BROKER_UPLOADS": str(args.broker_uploads),
        "TUKU_FAULTS_BROKER_OUTAGE": str(args.broker_outage),
        "TUKU_FAULTS_BACKEND_UPLOADS": str(args.backend_uploads),
        "TUKU_FAULTS_BACKEND_OUTAGE": str(args.backend_outage),
        "TUKU_FAULTS_WEB_KILLS": str(args.web_kills),
        "TUKU_FAULTS_WEB_SETTLE": "1",
    }
    argv = [sys.executable, "-m", "pytest", "tests/integration/test_faults.py", "-m"]
    argv += ["integration", "-q", "-p", "no:cacheprovider"]
    if args.select:
        argv += ["-k", args.select]
    print(f"machine: {machine()}")
    print(f"load before (1/5/15 min): {load()}")
    started = time.monotonic()
    result = subprocess.run(argv, cwd=REPO, env=env)
    print(f"\nload after (1/5/15 min): {load()}; {time.monotonic() - started:.0f} s in all")
    print("figures:")
    if figures.exists():
        for line in figures.read_text().splitlines():
            row = json.loads(line)
            print(f"  {row.pop('test')}")
            for key, value in row.items():
                print(f"    {key}: {value}")
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()
