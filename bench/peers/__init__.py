"""The jobs of `bench/peers.py` (`make bench-peers`), one module per system, all doing the same.

Each module defines, with its system's own API, the same two jobs on one queue:
- the measured no-op job, whose only work is one redis INCR of `COUNTER` (`count_one`), so that
  every system is counted the same way, by the same counter;
- a ready job (`mark_ready`) that records which process ran it, so the benchmark can tell that
  both job-running processes are up before it times steady;

and two functions for the producer, `enqueue()` and `enqueue_ready()`: the one call per job that
the system's users write. The job-running processes import their system's module by name (the
benchmark puts bench/ on PYTHONPATH); the connection settings come from the environment.
"""

from __future__ import annotations

import os

import redis

COUNTER = "peers:done"
READY = "peers:ready"
READY_RUNS = "peers:ready-runs"

_client: redis.Redis | None = None


def redis_url() -> str:
    return os.environ["PEERS_REDIS_URL"]


def client() -> redis.Redis:
    """This process's redis connection, opened on first use: so a process that forks its job
    runners opens none itself, and each runner keeps its own."""
    global _client
    if _client is None:
        _client = redis.Redis.from_url(redis_url())
    return _client


def count_one() -> None:
    """The measured job's work: one INCR, the same on every system."""
    client().incr(COUNTER)


def mark_ready(process: int | str) -> None:
    """The ready job's work: `process` (what names the process that takes jobs: its pid) is up."""
    pipe = client().pipeline()
    pipe.sadd(READY, process)
    pipe.incr(READY_RUNS)
    pipe.execute()
