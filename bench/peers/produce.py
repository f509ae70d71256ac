"""The producer: one process calling its system's `enqueue()` once per job, in a loop.

`python -m peers.produce MODULE N MODE` (MODULE: a module of this package). MODE `fill`: with no
workers, so the loop times enqueue alone and leaves the queue full for the burn-down. MODE
`steady`: first waits until both job-running processes have run a ready job (sent one at a time,
so each goes to whichever process waits), then runs the loop while they take the jobs. Prints
one JSON line: when the loop started, when its first call returned and when its last did.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Callable

from peers import READY, READY_RUNS, client

WORKERS = 2


def wait_ready(enqueue_ready: Callable[[], None], timeout: float = 120.0) -> None:
    r = client()
    sent = 0
    deadline = time.monotonic() + timeout
    while r.scard(READY) < WORKERS:
        if time.monotonic() > deadline:
            raise SystemExit(f"produce: only {r.scard(READY)} of {WORKERS} job-running processes ready")
        if int(r.get(READY_RUNS) or 0) >= sent:
            enqueue_ready()
            sent += 1
        time.sleep(0.01)


def main() -> None:
    name, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    system = importlib.import_module(f"peers.{name}")
    if mode == "steady":
        wait_ready(system.enqueue_ready)
    enqueue = system.enqueue
    start = time.time()
    enqueue()
    first = time.time()
    for _ in range(n - 1):
        enqueue()
    last = time.time()
    print(json.dumps({"start": start, "first": first, "last": last}))


if __name__ == "__main__":
    main()
