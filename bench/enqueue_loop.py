"""One `job.enqueue()` after another, no workers: what a web handler's path costs. On the
embedded default, and on a beanstalkd of its own with a SQLite store; with one job type, and
with two types on two tubes, alternating (as a web application enqueues). Against the floor of
a bare put loop to the same beanstalkd over a plain socket (what greenstalk does: one
`put` and its `INSERTED` reply per job), in the same run. Each figure is the median of
`--repeat` runs on fresh files.

Where greenstalk is installed (the benchmark virtualenv of `make bench-peers` has it), a
greenstalk put loop to the same beanstalkd is measured too: the issue's yardstick, what a Python
producer on beanstalkd pays for a bare put, parsing included.

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


TYPES = {"one type": ("bench_noop",), "two types": ("bench_noop", "bench_noop_other")}


def enqueue_rate(store: str, queue: str, jobs: int, types: tuple[str, ...]) -> float:
    zeroG.configure(store=store, queue=queue)
    made = [make_base_job({}, types[i % len(types)]) for i in range(jobs)]
    t0 = time.perf_counter()
    for job in made:
        job.enqueue()
    return jobs / (time.perf_counter() - t0)


def put_floor(port: int, jobs: int) -> float:
    """Bare puts over a plain socket, each waiting for its reply."""
    body = b'"00000000-0000-4000-8000-000000000000"'
    cmd = b"put 2147483648 0 60 %d\r\n%s\r\n" % (len(body), body)
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"use bench_floor\r\n")
        s.recv(64)
        t0 = time.perf_counter()
        for _ in range(jobs):
            s.sendall(cmd)
            if not s.recv(64).startswith(b"INSERTED"):
                raise RuntimeError("put refused")
        return jobs / (time.perf_counter() - t0)


def greenstalk_floor(port: int, jobs: int) -> float:
    import greenstalk  # only in the benchmark virtualenv

    body = '"00000000-0000-4000-8000-000000000000"'
    with greenstalk.Client(("127.0.0.1", port), use="bench_floor") as client:
        t0 = time.perf_counter()
        for _ in range(jobs):
            client.put(body)
        return jobs / (time.perf_counter() - t0)


def have_greenstalk() -> bool:
    try:
        import greenstalk  # noqa: F401
    except ImportError:
        return False
    return True


def one_run(kind: str, jobs: int, types: tuple[str, ...]) -> float:
    d = tempfile.mkdtemp()
    store = f"sqlite:///{d}/z.db"
    server = None
    try:
        if kind in ("beanstalkd", "floor", "greenstalk"):
            port = free_port()
            server = subprocess.Popen(["beanstalkd", "-l", "127.0.0.1", "-p", str(port)])
            time.sleep(0.3)
            if kind == "floor":
                return put_floor(port, jobs)
            if kind == "greenstalk":
                return greenstalk_floor(port, jobs)
            return enqueue_rate(store, f"beanstalk://127.0.0.1:{port}", jobs, types)
        return enqueue_rate(store, store, jobs, types)
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
    runs: dict[str, list[float]] = {}
    # Interleaved: each repetition measures every figure once, so a noisy moment hits all.
    for _ in range(args.repeat):
        runs.setdefault("bare put loop (floor)", []).append(one_run("floor", args.jobs, ()))
        if have_greenstalk():
            runs.setdefault("greenstalk put loop", []).append(one_run("greenstalk", args.jobs, ()))
        for kind in ("embedded", "beanstalkd"):
            for label, types in TYPES.items():
                runs.setdefault(f"{kind}, {label}", []).append(one_run(kind, args.jobs, types))
    floor = statistics.median(runs["bare put loop (floor)"])
    green = statistics.median(runs["greenstalk put loop"]) if "greenstalk put loop" in runs else None
    out = {
        name: {
            "jobs_per_s": round(statistics.median(rates)),
            "ratio_to_floor": round(statistics.median(rates) / floor, 2),
            **({"ratio_to_greenstalk": round(statistics.median(rates) / green, 2)} if green else {}),
        }
        for name, rates in runs.items()
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
