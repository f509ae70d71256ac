"""One `job.enqueue()` after another, no workers: what a web handler's path costs. On the
embedded default, and on a beanstalkd of its own with a SQLite store. Each figure is the median
of `--repeat` runs on fresh files.

Run: `python bench/enqueue_loop.py [--jobs N] [--repeat N]` with zeroG installed (and beanstalkd
on the PATH: `make beanstalkd`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_jobs  # noqa: E402, F401  (registers the bench job classes)

import zeroG  # noqa: E402
from zeroG.jobs import make_base_job  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def enqueue_rate(store: str, queue: str, jobs: int) -> float:
    zeroG.configure(store=store, queue=queue)
    made = [make_base_job({}, "bench_noop") for _ in range(jobs)]
    t0 = time.perf_counter()
    for job in made:
        job.enqueue()
    return jobs / (time.perf_counter() - t0)


def one_run(kind: str, jobs: int) -> float:
    d = tempfile.mkdtemp()
    store = f"sqlite:///{d}/z.db"
    server = None
    try:
        if kind == "beanstalkd":
            port = free_port()
            server = subprocess.Popen(["beanstalkd", "-l", "127.0.0.1", "-p", str(port)])
            time.sleep(0.3)
            return enqueue_rate(store, f"beanstalk://127.0.0.1:{port}", jobs)
        return enqueue_rate(store, store, jobs)
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        shutil.rmtree(d)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    out = {}
    for kind in ("embedded", "beanstalkd"):
        rates = [one_run(kind, args.jobs) for _ in range(args.repeat)]
        out[f"{kind}_enqueue_jobs_per_s"] = round(statistics.median(rates))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
