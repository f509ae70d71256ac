"""RQ: a `Queue`, run by 2 `rq worker` processes of the default `Worker` class, which forks a
work horse for every job (RQ's own isolation, and its real cost)."""

from __future__ import annotations

import os

from redis import Redis
from rq import Queue, get_current_job

from peers import count_one, mark_ready, redis_url

QUEUE = "peers"
queue = Queue(QUEUE, connection=Redis.from_url(redis_url()))


def noop() -> None:
    count_one()


def ready() -> None:
    # Not this process's pid: a job runs in a horse forked for it. The worker's name names the
    # process that takes the jobs.
    job = get_current_job()
    mark_ready(job.worker_name if job else str(os.getpid()))


def enqueue() -> None:
    queue.enqueue(noop)


def enqueue_ready() -> None:
    queue.enqueue(ready)
