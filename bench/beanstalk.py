"""zeroG on beanstalkd (the store stays one SQLite file), against a raw-protocol floor measured
in the same run with the same client.

Figures:
- floor: put, reserve and delete of N no-op bodies with no bookkeeping, through zeroG's own
  beanstalkd client (`zeroG._zerog.Queue`), 2 processes reserving; jobs/s;
- zeroG end to end with 2 worker processes (enqueue_many, then every job run and recorded), as a
  ratio to the floor;
- bulk enqueue (`enqueue_many`: documents plus pipelined puts), and the raw `put_many` floor;
- enqueue-to-start latency p50/p99 with 1,000 jobs/s offered to 2 workers, 5 s per run.

Every measurement starts on a server of its own and with the disk synced.

It starts its own beanstalkd on a free loopback port (beanstalkd must be installed).
Run: `make bench-beanstalk` (or `python bench/beanstalk.py [--jobs N]` with zeroG installed).
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
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
from run import run_consumers, spread, start_workers, ts, wait_all_done  # noqa: E402

import zeroG  # noqa: E402
from zeroG import _zerog  # noqa: E402
from zeroG.bulk import enqueue_many  # noqa: E402
from zeroG.jobs import make_base_job  # noqa: E402


class Server:
    def __init__(self) -> None:
        exe = shutil.which("beanstalkd")
        if exe is None:
            raise SystemExit("beanstalkd is not installed (apt-get install -y beanstalkd)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen([exe, "-l", "127.0.0.1", "-p", str(self.port), "-z", "65535"])
        for _ in range(500):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.01)
        raise SystemExit("beanstalkd did not start")

    @property
    def url(self) -> str:
        return f"beanstalk://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


_runs = iter(range(1_000_000))


def _floor_consumer(url: str, tube: str, out: multiprocessing.Queue) -> None:
    q = _zerog.Queue.open(url)
    done = 0
    while True:
        got = q.reserve([tube], 0.0)
        if got is None:
            break
        q.delete(got[0])
        done += 1
    out.put(done)


def bench_floor(url: str, n: int, workers: int) -> float:
    tube = f"floor-{next(_runs)}"
    q = _zerog.Queue.open(url)
    body = json.dumps("00000000-0000-0000-0000-000000000000").encode()
    t0 = time.perf_counter()
    for start in range(0, n, 1000):
        q.put_many([(tube, body, 2**31, 0, 60)] * min(1000, n - start))
    total, done = run_consumers(_floor_consumer, [(url, tube)] * workers)
    assert total == n, f"{total} of {n}"
    return n / (done - t0)


def bench_zerog(tmp: Path, url: str, n: int, workers: int) -> float:
    store = f"sqlite:///{tmp / f'{next(_runs)}-e2e.db'}"
    zeroG.configure(store=store, queue=url)
    proc = start_workers(workers, store, queue=url)
    try:
        jobs = [make_base_job({}, "bench_noop") for _ in range(n)]
        t0 = time.time()
        enqueue_many(jobs)
        docs = wait_all_done(_zerog.Store.open(store), n, timeout=300)
        assert all(d["attempts"] == 1 for d in docs), "a job ran twice"
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return n / (max(ts(d["finishedAt"]) for d in docs) - t0)


def bench_bulk(tmp: Path, url: str, n: int) -> tuple[float, float]:
    store = f"sqlite:///{tmp / f'{next(_runs)}-bulk.db'}"
    zeroG.configure(store=store, queue=url)
    jobs = [make_base_job({}, "bench_noop") for _ in range(n)]
    t0 = time.perf_counter()
    enqueue_many(jobs)
    zerog_rate = n / (time.perf_counter() - t0)
    q = _zerog.Queue.open(url)
    tube = f"bulk-{next(_runs)}"
    body = json.dumps("00000000-0000-0000-0000-000000000000").encode()
    t0 = time.perf_counter()
    for start in range(0, n, 1000):
        q.put_many([(tube, body, 2**31, 0, 60)] * min(1000, n - start))
    raw_rate = n / (time.perf_counter() - t0)
    return zerog_rate, raw_rate


def bench_latency(tmp: Path, url: str, rate: float, seconds: float, workers: int) -> dict:
    store = f"sqlite:///{tmp / f'{next(_runs)}-lat.db'}"
    zeroG.configure(store=store, queue=url)
    proc = start_workers(workers, store, queue=url)
    sent: dict[str, float] = {}
    try:
        # Warm up: the workers' first jobs pay for their start (imports, connections).
        warm = [make_base_job({}, "bench_noop") for _ in range(100)]
        for job in warm:
            job.enqueue()
        wait_all_done(_zerog.Store.open(store), len(warm), timeout=60)
        n = int(rate * seconds)
        jobs = [make_base_job({}, "bench_noop") for _ in range(n)]
        # The jobs made above live through the run: frozen, the producer's garbage collector
        # does not walk them on every full pass (pauses a real producer would not have).
        gc.collect()
        gc.freeze()
        t_start = time.perf_counter()
        for i, job in enumerate(jobs):
            # Offer jobs at `rate`, on schedule (not after the previous enqueue returned).
            delay = t_start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent[job.uuid] = time.time()
            job.enqueue()
        docs = wait_all_done(_zerog.Store.open(store), len(warm) + n, timeout=300)
    finally:
        gc.unfreeze()
        proc.terminate()
        proc.wait(timeout=60)
    lat = sorted(ts(d["startedAt"]) - sent[d["uuid"]] for d in docs if d["uuid"] in sent)
    return {
        "offered_jobs_per_s": rate,
        "p50_ms": round(1000 * statistics.median(lat), 2),
        "p99_ms": round(1000 * lat[int(len(lat) * 0.99)], 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    results: dict = {"machine": {"cpus": os.cpu_count()}, "jobs": args.jobs, "repeat": args.repeat}

    def fresh(measure):  # type: ignore[no-untyped-def]
        # A server of its own for each measurement: nothing left by one (entries whose
        # documents are in another run's file) can reach the next one's workers. And the disk
        # quiet: the last measurement's files are still being written back for seconds after
        # it, which took up to a fifth off the next one's figure.
        os.sync()
        server = Server()
        try:
            return measure(server.url)
        finally:
            server.stop()

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        floor, e2e, bulk, raw_put, latency = [], [], [], [], []
        for _ in range(args.repeat):  # interleaved, so a noisy minute hits both alike
            floor.append(fresh(lambda url: bench_floor(url, args.jobs, 2)))
            e2e.append(fresh(lambda url: bench_zerog(tmp, url, args.jobs, 2)))
            z, r = fresh(lambda url: bench_bulk(tmp, url, args.jobs))
            bulk.append(z)
            raw_put.append(r)
            latency.append(fresh(lambda url: bench_latency(tmp, url, 1000.0, 5.0, 2)))
        results["floor_put_reserve_delete_2_processes_jobs_per_s"] = spread(floor)
        results["zerog_end_to_end_2_workers_jobs_per_s"] = spread(e2e)
        results["end_to_end_ratio_to_floor"] = round(statistics.median(e2e) / statistics.median(floor), 2)
        results["bulk_enqueue_jobs_per_s"] = spread(bulk)
        results["raw_put_many_jobs_per_s"] = spread(raw_put)
        # One run's p99 rests on its 50 slowest jobs: the runs' spread says how far to trust it.
        results["latency_2w_at_1000_per_s"] = {
            "offered_jobs_per_s": 1000.0,
            "p50_ms": spread([r["p50_ms"] for r in latency], 2),
            "p99_ms": spread([r["p99_ms"] for r in latency], 2),
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
