"""zeroG benchmark on the embedded default (one SQLite file), with a baseline from the same run.

Figures:
- bulk enqueue (enqueue_many) jobs/s;
- end-to-end no-op jobs/s with 1 and 2 worker processes (first enqueue to last finish), and the
  same for a plain-Python floor: a loop over one SQLite file doing the minimum a job queue must
  (reserve, read the document, finish it and delete the entry: three transactions per job);
- enqueue-to-start latency p50/p99 with idle workers;
- the cost of one `job_log.set_completeness` call as seen by the job, and how long a value takes
  to reach the document;
- peak memory (VmHWM) of a worker process.

Run: `make bench` (or `python bench/run.py [--jobs N]` with zeroG installed).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_jobs  # noqa: E402, F401  (registers the bench job classes)

import zeroG  # noqa: E402
from zeroG import _zerog  # noqa: E402
from zeroG.bulk import enqueue_many  # noqa: E402
from zeroG.jobs import get_base_job, make_base_job  # noqa: E402


def ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def start_workers(n: int, db: str, module: str = "bench_jobs", queue: str | None = None) -> subprocess.Popen[bytes]:
    """`n` worker processes on the store `db` and the queue `queue` (the same file by default)."""
    env = dict(os.environ, ZEROG_STORE=db, ZEROG_QUEUE=queue or db, PYTHONPATH=str(HERE))
    cmd = [sys.executable, "-m", "zeroG.worker", "--module", module, "-c", str(n), "--log-level", "WARNING"]
    proc = subprocess.Popen(cmd, env=env)
    time.sleep(1.5)  # let the worker processes start and reach their first reserve
    return proc


def stop_workers(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=60)


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


_runs = iter(range(1_000_000))


def fresh_db(tmp: Path, name: str) -> str:
    """A new SQLite file for one measurement (repeated runs never share one)."""
    url = f"sqlite:///{tmp / f'{next(_runs)}-{name}'}"
    zeroG.configure(store=url, queue=url)
    return url


def fresh_env(tmp: Path, name: str, store: str | None) -> tuple[str, str]:
    """The store and queue of one measurement: a new SQLite file for both, or the given store
    (Couchbase, say: job uuids are random, so runs can share it) with a new queue file."""
    if store is None:
        url = fresh_db(tmp, name)
        return url, url
    queue = f"sqlite:///{tmp / f'{next(_runs)}-queue-{name}'}"
    zeroG.configure(store=store, queue=queue)
    return store, queue


def wait_each_done(store: _zerog.Store, uuids: list[str], timeout: float) -> list[dict]:
    """Every job's finished document, read by key in enqueue order (no listing, which a
    Couchbase cluster without the query service cannot do): each one is read until it is done."""
    deadline = time.time() + timeout
    docs: list[dict] = []
    for uuid in uuids:
        while True:
            got = store.get(f"zerog_job_{uuid}")
            if got is not None and got[0]["status"] == "done":
                docs.append(got[0])
                break
            if time.time() > deadline:
                raise SystemExit(f"timed out: {len(docs)} of {len(uuids)} jobs finished")
            time.sleep(0.05)
    return docs


def all_docs(store: _zerog.Store, status: str) -> list[dict]:
    docs: list[dict] = []
    cursor = None
    while True:
        page, cursor = store.list(status=status, limit=1000, after=cursor)
        docs.extend(page)
        if cursor is None:
            return docs


def wait_all_done(store: _zerog.Store, n: int, timeout: float) -> list[dict]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        docs = all_docs(store, "done")
        if len(docs) >= n:
            return docs
        time.sleep(0.2)
    raise SystemExit(f"timed out: not all {n} jobs finished")


def check_once(docs: list[dict]) -> None:
    assert all(d["attempts"] == 1 for d in docs), "a job ran twice"


def bench_zerog_throughput(tmp: Path, n_jobs: int, workers: int) -> dict:
    """End to end: workers idle, then the producer enqueues every job (enqueue_many); from the
    first enqueue to the last job finished."""
    db = fresh_db(tmp, f"tp{workers}.db")
    proc = start_workers(workers, db)
    try:
        jobs = [make_base_job({}, "bench_noop") for _ in range(n_jobs)]
        t0 = time.time()
        enqueue_many(jobs)
        t_enq = time.time() - t0
        docs = wait_all_done(_zerog.Store.open(db), n_jobs, timeout=300)
        last = max(ts(d["finishedAt"]) for d in docs)
        check_once(docs)
        hwm = max((vm_hwm_kib(p) for p in children(proc.pid)), default=0)
    finally:
        stop_workers(proc)
    return {"jobs_per_s": n_jobs / (last - t0), "enqueue_s": t_enq, "worker_vm_hwm_mib": hwm / 1024}


def bench_zerog_drain(tmp: Path, n_jobs: int, workers: int) -> float:
    """Workers alone: every job queued first, then the workers start; from the first job started
    to the last finished."""
    db = fresh_db(tmp, f"drain{workers}.db")
    enqueue_many([make_base_job({}, "bench_noop") for _ in range(n_jobs)])
    proc = start_workers(workers, db)
    try:
        docs = wait_all_done(_zerog.Store.open(db), n_jobs, timeout=300)
        check_once(docs)
    finally:
        stop_workers(proc)
    first = min(ts(d["startedAt"]) for d in docs)
    last = max(ts(d["finishedAt"]) for d in docs)
    return n_jobs / (last - first)


def bench_bulk_enqueue(tmp: Path, n_jobs: int) -> float:
    fresh_db(tmp, "bulk.db")
    jobs = [make_base_job({}, "bench_noop") for _ in range(n_jobs)]
    t0 = time.perf_counter()
    enqueue_many(jobs)
    return n_jobs / (time.perf_counter() - t0)


def bench_latency(tmp: Path, workers: int, samples: int, store: str | None = None) -> dict:
    db, queue = fresh_env(tmp, f"lat{workers}.db", store)
    proc = start_workers(workers, db, queue=queue)
    lat = []
    try:
        for _ in range(samples):
            job = make_base_job({}, "bench_noop")
            t0 = time.time()
            job.enqueue()
            uuid = job.uuid
            while True:
                d = get_base_job(uuid)
                if d is not None and d.startedAt:
                    lat.append(ts(d.startedAt) - t0)
                    break
                time.sleep(0.002)
            time.sleep(0.02)  # idle between jobs
    finally:
        stop_workers(proc)
    lat.sort()
    return {
        "p50_ms": 1000 * statistics.median(lat),
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))],
    }


def bench_progress(tmp: Path, store: str | None = None) -> dict:
    db, queue = fresh_env(tmp, "progress.db", store)
    out = tmp / f"{next(_runs)}-progress.json"
    proc = start_workers(1, db, queue=queue)
    seen: dict[float, float] = {}
    try:
        job = make_base_job({"calls": 200_000, "out": str(out)}, "bench_progress")
        job.enqueue()
        store = _zerog.Store.open(db)
        key = f"zerog_job_{job.uuid}"
        while True:
            doc, _ = store.get(key)
            c = round(doc["completeness"], 6)
            seen.setdefault(c, time.time())
            if doc["resultCode"] != -1:
                break
            time.sleep(0.001)
    finally:
        stop_workers(proc)
    data = json.loads(out.read_text())
    lags = [seen[round(v, 6)] - t for v, t in data["stamps"] if round(v, 6) in seen]
    missed = len(data["stamps"]) - len(lags)
    return {
        "set_completeness_us": data["per_call_s"] * 1e6,
        "reach_doc_p50_ms": 1000 * statistics.median(lags),
        "reach_doc_max_ms": 1000 * max(lags),
        "values_missed_by_poller": missed,
    }


# -- the floor: plain Python over one SQLite file ------------------------------------------------

FLOOR_SCHEMA = """
CREATE TABLE IF NOT EXISTS q (id INTEGER PRIMARY KEY, body TEXT, state INTEGER, owner INTEGER);
CREATE INDEX IF NOT EXISTS q_ready ON q (state, id);
CREATE TABLE IF NOT EXISTS docs (key TEXT PRIMARY KEY, value TEXT);
"""


def _floor_connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _floor_worker(path: str, me: int, n_total: int, out: multiprocessing.Queue) -> None:
    conn = _floor_connect(path)
    done = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute(
            "UPDATE q SET state=1, owner=? WHERE id=(SELECT id FROM q WHERE state=0 ORDER BY id LIMIT 1) "
            "RETURNING id, body",
            (me,),
        ).fetchone()
        conn.execute("COMMIT")
        if row is None:
            break
        qid, body = row
        key = "zerog_job_" + json.loads(body)
        conn.execute("BEGIN IMMEDIATE")
        doc = json.loads(conn.execute("SELECT value FROM docs WHERE key=?", (key,)).fetchone()[0])
        doc["status"], doc["running"] = "running", True
        conn.execute("UPDATE docs SET value=? WHERE key=?", (json.dumps(doc), key))
        conn.execute("COMMIT")
        doc["status"], doc["running"], doc["resultCode"], doc["finishedAt"] = "done", False, 200, time.time()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE docs SET value=? WHERE key=?", (json.dumps(doc), key))
        conn.execute("DELETE FROM q WHERE id=?", (qid,))
        conn.execute("COMMIT")
        done += 1
    out.put(done)


def run_consumers(target: Callable[..., None], args: list[tuple]) -> tuple[int, float]:
    """Runs `target(*a, out)` in a spawned process for each `a` of `args`; each puts how many jobs
    it did on `out`. Returns their sum and the perf_counter time the last count came."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*a, out)) for a in args]
    for p in procs:
        p.start()
    total = sum(out.get() for _ in procs)
    done = time.perf_counter()
    for p in procs:
        p.join()
    return total, done


def bench_floor(tmp: Path, n_jobs: int, workers: int) -> float:
    path = str(tmp / f"{next(_runs)}-floor{workers}.db")
    conn = _floor_connect(path)
    conn.executescript(FLOOR_SCHEMA)
    conn.execute("BEGIN")
    for i in range(n_jobs):
        uuid = f"u{i}"
        conn.execute(
            "INSERT INTO docs VALUES (?, ?)", ("zerog_job_" + uuid, json.dumps({"uuid": uuid, "resultCode": -1}))
        )
        conn.execute("INSERT INTO q (body, state) VALUES (?, 0)", (json.dumps(uuid),))
    conn.execute("COMMIT")
    t0 = time.perf_counter()
    total, done = run_consumers(_floor_worker, [(path, i, n_jobs) for i in range(workers)])
    assert total == n_jobs
    return n_jobs / (done - t0)


def spread(values: list[float], ndigits: int | None = None) -> dict:
    """Median and range of repeated runs: these machines are noisy, so one run says little.
    Rounded to whole numbers, or to `ndigits` decimals (milliseconds need theirs)."""
    return {
        k: round(v, ndigits)
        for k, v in (("median", statistics.median(values)), ("min", min(values)), ("max", max(values)))
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=20_000)
    ap.add_argument("--latency-samples", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each throughput figure (interleaved)")
    args = ap.parse_args()
    results: dict = {"machine": {"cpus": os.cpu_count()}, "jobs": args.jobs, "repeat": args.repeat}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        results["bulk_enqueue_jobs_per_s"] = spread([bench_bulk_enqueue(tmp, args.jobs) for _ in range(args.repeat)])
        for w in (1, 2):
            floor, e2e, drain, hwm = [], [], [], 0.0
            # Interleaved, so that a noisy minute hits zeroG and the floor alike.
            for _ in range(args.repeat):
                floor.append(bench_floor(tmp, args.jobs, w))
                tp = bench_zerog_throughput(tmp, args.jobs, w)
                e2e.append(tp["jobs_per_s"])
                hwm = max(hwm, tp["worker_vm_hwm_mib"])
                drain.append(bench_zerog_drain(tmp, args.jobs, w))
            results[f"{w}_worker_processes"] = {
                "floor_jobs_per_s": spread(floor),
                "zerog_end_to_end_jobs_per_s": spread(e2e),
                "zerog_drain_jobs_per_s": spread(drain),
                "end_to_end_ratio_to_floor": round(statistics.median(e2e) / statistics.median(floor), 2),
                "worker_vm_hwm_mib": round(hwm, 1),
            }
        for w in (1, 2):
            results[f"latency_{w}w"] = bench_latency(tmp, w, args.latency_samples)
        results["progress"] = bench_progress(tmp)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
