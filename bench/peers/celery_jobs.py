"""Celery: a redis broker, no result backend, default settings; each of the 2 worker processes
is `celery worker --pool solo` (jobs run in the worker process itself)."""

from __future__ import annotations

import os

from celery import Celery

from peers import count_one, mark_ready, redis_url

app = Celery("peers", broker=redis_url())
# Only silences the start-up warning about this setting's coming default; it changes nothing.
app.conf.broker_connection_retry_on_startup = True


@app.task
def noop() -> None:
    count_one()


@app.task
def ready() -> None:
    mark_ready(os.getpid())


def enqueue() -> None:
    noop.delay()


def enqueue_ready() -> None:
    ready.delay()
