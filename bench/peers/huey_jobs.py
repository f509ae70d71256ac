"""Huey: `RedisHuey` (blocking pops, its default), run by `huey_consumer -k process -w 2`."""

from __future__ import annotations

import os

from huey import RedisHuey

from peers import count_one, mark_ready, redis_url

huey = RedisHuey("peers", url=redis_url())


@huey.task()
def noop() -> None:
    count_one()


@huey.task()
def ready() -> None:
    mark_ready(os.getpid())


def enqueue() -> None:
    noop()


def enqueue_ready() -> None:
    ready()
