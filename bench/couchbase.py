"""zeroG on the Couchbase store, against the SQLite store and a raw-store floor in the same run.

The queue is the embedded SQLite queue in a file of its own in every measurement, so the
figures differ only by the store. Figures, as for the other backends:
- floor: what a job must do to its document at the least (read it, mark it running, write its
  outcome: one get and two CAS replaces), through zeroG's own store client with no bookkeeping,
  2 processes; jobs/s;
- zeroG end to end with 2 worker processes (enqueue_many, then every job run and recorded) on
  Couchbase, and on SQLite, as ratios to that floor;
- bulk enqueue (`enqueue_many`) on each store;
- enqueue-to-start latency p50/p99 with idle workers; a progress value reaching the document.

Run: `python bench/couchbase.py --store couchbase://user:password@host/bucket [--jobs N]`
(or with `ZEROG_BENCH_COUCHBASE` set), zeroG installed. Jobs are found by key, not by listing,
so a cluster without the query service (or the gocaves mock) will do.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid as uuid_module
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_jobs  # noqa: E402, F401  (registers the bench job classes)
from run import (  # noqa: E402
    bench_latency,
    bench_progress,
    check_once,
    children,
    fresh_env,
    run_consumers,
    spread,
    start_workers,
    stop_workers,
    ts,
    vm_hwm_kib,
    wait_each_done,
)

from zeroG import _zerog  # noqa: E402
from zeroG.bulk import enqueue_many  # noqa: E402
from zeroG.jobs import make_base_job  # noqa: E402


def _floor_worker(store_url: str, keys: list[str], out: object) -> None:
    store = _zerog.Store.open(store_url)
    for key in keys:
        doc, cas = store.get(key)
        doc["status"], doc["running"] = "running", True
        cas = store.replace(key, doc, cas)
        doc["status"], doc["running"], doc["resultCode"] = "done", False, 200
        store.replace(key, doc, cas)
    out.put(len(keys))  # type: ignore[attr-defined]


def bench_floor(store_url: str, n: int, workers: int) -> float:
    store = _zerog.Store.open(store_url)
    keys = [f"zerog_job_floor-{uuid_module.uuid4()}" for _ in range(n)]
    for key in keys:
        store.insert(key, {"uuid": key[10:], "resultCode": -1, "status": "queued"})
    t0 = time.perf_counter()
    total, done = run_consumers(_floor_worker, [(store_url, keys[i::workers]) for i in range(workers)])
    assert total == n
    for key in keys:
        store.delete(key)
    return n / (done - t0)


def bench_end_to_end(tmp: Path, store: str | None, n: int, workers: int) -> dict:
    db, queue = fresh_env(tmp, f"e2e{workers}.db", store)
    proc = start_workers(workers, db, queue=queue)
    try:
        jobs = [make_base_job({}, "bench_noop") for _ in range(n)]
        t0 = time.time()
        enqueue_many(jobs)
        docs = wait_each_done(_zerog.Store.open(db), [j.uuid for j in jobs], timeout=600)
        last = max(ts(d["finishedAt"]) for d in docs)
        check_once(docs)
        hwm = max((vm_hwm_kib(p) for p in children(proc.pid)), default=0)
    finally:
        stop_workers(proc)
    return {"jobs_per_s": n / (last - t0), "worker_vm_hwm_mib": hwm / 1024}


def bench_bulk(tmp: Path, store: str | None, n: int) -> float:
    fresh_env(tmp, "bulk.db", store)
    jobs = [make_base_job({}, "bench_noop") for _ in range(n)]
    t0 = time.perf_counter()
    enqueue_many(jobs)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default=os.environ.get("ZEROG_BENCH_COUCHBASE"), help="couchbase://user:pw@host/bucket")
    ap.add_argument("--jobs", type=int, default=5_000)
    ap.add_argument("--latency-samples", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each throughput figure (interleaved)")
    args = ap.parse_args()
    if not args.store:
        raise SystemExit("name the cluster: --store couchbase://user:password@host/bucket (or ZEROG_BENCH_COUCHBASE)")
    cb = args.store
    results: dict = {"machine": {"cpus": os.cpu_count()}, "jobs": args.jobs, "repeat": args.repeat}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        floor, cb_e2e, sq_e2e, cb_bulk, sq_bulk, hwm = [], [], [], [], [], 0.0
        # Interleaved, so that a noisy minute hits every figure alike.
        for _ in range(args.repeat):
            floor.append(bench_floor(cb, args.jobs, 2))
            tp = bench_end_to_end(tmp, cb, args.jobs, 2)
            cb_e2e.append(tp["jobs_per_s"])
            hwm = max(hwm, tp["worker_vm_hwm_mib"])
            sq_e2e.append(bench_end_to_end(tmp, None, args.jobs, 2)["jobs_per_s"])
            cb_bulk.append(bench_bulk(tmp, cb, args.jobs))
            sq_bulk.append(bench_bulk(tmp, None, args.jobs))
        results["couchbase_floor_jobs_per_s"] = spread(floor)
        results["end_to_end_2_workers"] = {
            "couchbase_jobs_per_s": spread(cb_e2e),
            "sqlite_jobs_per_s": spread(sq_e2e),
            "couchbase_ratio_to_floor": round(statistics.median(cb_e2e) / statistics.median(floor), 2),
            "worker_vm_hwm_mib": round(hwm, 1),
        }
        results["bulk_enqueue_jobs_per_s"] = {"couchbase": spread(cb_bulk), "sqlite": spread(sq_bulk)}
        results["latency_2w"] = {
            "couchbase": bench_latency(tmp, 2, args.latency_samples, store=cb),
            "sqlite": bench_latency(tmp, 2, args.latency_samples),
        }
        results["progress"] = {"couchbase": bench_progress(tmp, store=cb), "sqlite": bench_progress(tmp)}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
