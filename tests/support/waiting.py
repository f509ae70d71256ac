"""Waiting for what a worker does in its own process: a job's status, a queue entry's state."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

import zeroG


def wait_for(predicate: Callable[[], object], timeout: float = 20.0, interval: float = 0.05) -> object:
    """Polls until `predicate()` is truthy and returns it; fails the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {getattr(predicate, '__name__', predicate)}")
        time.sleep(interval)


def doc(uuid: str) -> dict[str, Any]:
    """The job's document as it is now."""
    job = zeroG.get_base_job(uuid)
    assert job is not None, f"job {uuid} has no document"
    return job.dump()


def wait_status(uuid: str, *statuses: str, timeout: float = 30.0) -> dict[str, Any]:
    """Waits until the job's status is one of `statuses`; returns its document."""

    def reached() -> dict[str, Any] | None:
        d = doc(uuid)
        return d if d["status"] in statuses else None

    reached.__name__ = f"job {uuid} to be {'/'.join(statuses)}"
    return wait_for(reached, timeout=timeout)  # type: ignore[return-value]


def wait_buried(q: zeroG._zerog.Queue, qid: int, timeout: float = 10.0) -> dict[str, Any]:
    """The stats of entry `qid` once it is buried. The worker writes a failed job's outcome first
    and buries its entry just after (in one transaction only when store and queue share a SQLite
    file), so a test that saw the outcome may be a moment early."""

    def buried() -> dict[str, Any] | None:
        stats = q.stats_job(qid)
        return stats if stats["state"] == "buried" else None

    buried.__name__ = f"queue entry {qid} to be buried"
    return wait_for(buried, timeout=timeout)  # type: ignore[return-value]


def queue_gone(q: zeroG._zerog.Queue, qid: int) -> bool:
    """Whether the queue no longer has the entry `qid`."""
    try:
        q.stats_job(qid)
    except zeroG.errors.QueueJobNotFound:
        return True
    return False
