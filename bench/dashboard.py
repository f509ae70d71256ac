"""How fast the dashboard's overview answers with a million jobs in the embedded store.

It fills a store in a temporary directory with `--jobs` documents (by default 1,000,000: 70 %
done, 10 % failed, 5 % cancelled, 15 % queued; all but `--recent` of the finished ones finished
over an hour ago), starts `zerog-server` on it, and times `GET /overview` over real HTTP on
loopback:

- the first answer, which walks the jobs that finished in the last hour (the throughput chart);
- then `--rounds` answers in a row, as the page refreshes: p50, p95 and max.

For comparison, in the same run: the full count the store made before it kept its counts
(`SELECT status, count(*) ... GROUP BY status`, which reads every row because done jobs are left
out of the status index), and the kept counts the overview reads now.

Run: `python bench/dashboard.py` (`make bench-dashboard`) with zeroG installed.
"""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta

from zeroG import _zerog
from zeroG.jobs import make_key

SHARES = (("done", 0.70), ("failed", 0.10), ("cancelled", 0.05), ("queued", 0.15))
FINAL = ("done", "failed", "cancelled")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fill(url: str, n: int, recent: int) -> None:
    store = _zerog.Store.open(url)
    now = datetime.now(UTC)
    statuses = [s for s, share in SHARES for _ in range(round(share * 1000))]
    batch: list[tuple[str, dict[str, object]]] = []
    finished = 0
    t0 = time.monotonic()
    for i in range(n):
        status = statuses[i % len(statuses)]
        uuid = f"00000000-0000-4000-8000-{i:012d}"
        doc: dict[str, object] = {
            "documentType": "zerog_job",
            "jobType": "bench_noop",
            "uuid": uuid,
            "status": status,
            "queueName": "bench",
            "completeness": 1.0 if status == "done" else 0.0,
            "resultCode": {"done": 200, "failed": 500, "cancelled": 410}.get(status, -1),
        }
        if status in FINAL:
            finished += 1
            # The newest `recent` finished jobs finished in the last hour; the rest earlier.
            ago = timedelta(minutes=(finished % 55) + 1) if finished <= recent else timedelta(hours=2, seconds=i)
            doc["startedAt"] = (now - ago - timedelta(seconds=1)).isoformat(timespec="microseconds")
            doc["finishedAt"] = (now - ago).isoformat(timespec="microseconds")
        batch.append((make_key(uuid), doc))
        if len(batch) == 10_000:
            store.insert_many(batch)
            batch = []
    if batch:
        store.insert_many(batch)
    print(f"filled {n:,} documents in {time.monotonic() - t0:.1f} s", file=sys.stderr)


def timed_get(url: str) -> float:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as r:
        r.read()
    return (time.perf_counter() - t0) * 1000


def timed_sql(path: str, sql: str) -> float:
    conn = sqlite3.connect(path)
    try:
        t0 = time.perf_counter()
        conn.execute(sql).fetchall()
        return (time.perf_counter() - t0) * 1000
    finally:
        conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1_000_000)
    ap.add_argument("--recent", type=int, default=10_000, help="finished jobs that finished in the last hour")
    ap.add_argument("--rounds", type=int, default=50)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="zerog-bench-dashboard-")
    path = f"{tmp}/store.db"
    url = f"sqlite:///{path}"
    fill(url, args.jobs, args.recent)
    port = free_port()
    env = dict(os.environ, ZEROG_STORE=url)
    server = subprocess.Popen(
        [sys.executable, "-m", "zeroG.server", "--port", str(port), "--log-level", "WARNING"], env=env
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/health", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("zerog-server did not start")
                time.sleep(0.1)
        first = timed_get(f"{base}/overview")
        times = sorted(timed_get(f"{base}/overview") for _ in range(args.rounds))
        full = statistics.median(
            timed_sql(path, "SELECT status, count(*) FROM zerog_docs GROUP BY status") for _ in range(3)
        )
        kept = statistics.median(timed_sql(path, "SELECT status, n FROM zerog_status_counts") for _ in range(3))
    finally:
        server.terminate()
        server.wait()
    p95 = times[min(len(times) - 1, round(0.95 * len(times)) - 1)]
    print(f"GET /overview with {args.jobs:,} jobs ({args.recent:,} finished in the last hour), over HTTP on loopback:")
    print(f"  first answer (walks the last hour's finished jobs): {first:.1f} ms")
    p50 = statistics.median(times)
    print(f"  then, {args.rounds} in a row: p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {times[-1]:.1f} ms")
    print("counting jobs by status, in the same file:")
    print(f"  the full count (GROUP BY status, what the store did before): {full:.1f} ms")
    print(f"  the kept counts (what the overview reads now): {kept:.2f} ms")


if __name__ == "__main__":
    main()
