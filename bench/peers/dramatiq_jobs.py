"""Dramatiq: its `RedisBroker` with default settings, run by `dramatiq -p 2 -t 1` (prefetch set by
bench/peers.py)."""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from peers import count_one, mark_ready, redis_url

broker = RedisBroker(url=redis_url())
dramatiq.set_broker(broker)


@dramatiq.actor
def noop() -> None:
    count_one()


@dramatiq.actor
def ready() -> None:
    mark_ready(os.getpid())


def enqueue() -> None:
    noop.send()


def enqueue_ready() -> None:
    ready.send()
