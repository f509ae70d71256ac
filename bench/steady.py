"""Producers and workers at once: one producer calling `job.enqueue()` once per job while 2
worker processes run no-op jobs, as a web application's handlers and its workers do.

Figures, each the median of `--repeat` interleaved repetitions of `--jobs` jobs:
- zeroG on the embedded default (producer and workers on one SQLite file), and on beanstalkd
  with a SQLite store: the producer's enqueue rate while the workers ran, and the steady rate
  (first enqueue to last job finished);
- the raw floor on the same kind of beanstalkd: one producer putting single jobs over zeroG's
  queue client while 2 consumer processes reserve and delete them (no documents at all).

Run: `python bench/steady.py [--jobs N] [--repeat N]` with zeroG installed and beanstalkd on
the PATH.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_jobs  # noqa: E402, F401  (registers the bench job classes)
from beanstalk import Server  # noqa: E402
from run import start_workers, stop_workers, ts, wait_all_done  # noqa: E402

import zeroG  # noqa: E402
from zeroG import _zerog  # noqa: E402
from zeroG.jobs import make_base_job  # noqa: E402

BODY = json.dumps("00000000-0000-0000-0000-000000000000").encode()
_runs = iter(range(1_000_000))


def zerog_steady(store: str, queue: str, n: int) -> tuple[float, float]:
    """(enqueue jobs/s while the workers ran, steady jobs/s)."""
    zeroG.configure(store=store, queue=queue)
    proc = start_workers(2, store, queue=queue)
    try:
        jobs = [make_base_job({}, "bench_noop") for _ in range(n)]
        t0 = time.time()
        for job in jobs:
            job.enqueue()
        enqueued = n / (time.time() - t0)
        docs = wait_all_done(_zerog.Store.open(store), n, timeout=300)
        assert all(d["attempts"] == 1 for d in docs), "a job ran twice"
    finally:
        stop_workers(proc)
    return enqueued, n / (max(ts(d["finishedAt"]) for d in docs) - t0)


def _consumer(url: str, tube: str, out: multiprocessing.Queue) -> None:
    """Reserves and deletes until the producer's last job went (the body `"end"`, one per
    consumer) and counts what it did."""
    q = _zerog.Queue.open(url)
    done = 0
    while True:
        got = q.reserve([tube], 1.0)
        if got is None:
            continue
        q.delete(got[0])
        if got[2] == b'"end"':
            break
        done += 1
    out.put(done)


def floor_steady(url: str, n: int) -> float:
    tube = f"steady-floor-{next(_runs)}"
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    consumers = [ctx.Process(target=_consumer, args=(url, tube, out)) for _ in range(2)]
    for c in consumers:
        c.start()
    time.sleep(1.0)  # both waiting in reserve
    q = _zerog.Queue.open(url)
    t0 = time.perf_counter()
    for _ in range(n):
        q.put(tube, BODY)
    for _ in consumers:
        q.put(tube, b'"end"')
    total = sum(out.get() for _ in consumers)
    done = time.perf_counter()
    for c in consumers:
        c.join()
    assert total == n, f"{total} of {n}"
    return n / (done - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="zerog-bench-steady-"))
    server = Server()
    runs: dict[str, list[float]] = {}
    try:
        for _ in range(args.repeat):
            runs.setdefault("raw floor: put, reserve, delete", []).append(floor_steady(server.url, args.jobs))
            for kind in ("embedded", "beanstalkd"):
                store = f"sqlite:///{tmp / f'{next(_runs)}-steady.db'}"
                enqueued, steady = zerog_steady(store, store if kind == "embedded" else server.url, args.jobs)
                runs.setdefault(f"zeroG {kind}: enqueue while workers run", []).append(enqueued)
                runs.setdefault(f"zeroG {kind}: steady", []).append(steady)
    finally:
        server.stop()
    floor = statistics.median(runs["raw floor: put, reserve, delete"])
    out = {
        name: {"jobs_per_s": round(statistics.median(r)), "ratio_to_floor": round(statistics.median(r) / floor, 2)}
        for name, r in runs.items()
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
