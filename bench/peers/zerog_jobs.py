"""zeroG: two job classes on one tube, run by `zerog-worker -c 2` (bench/run.py's
`start_workers`). The store and the queue come from ZEROG_STORE and ZEROG_QUEUE, in the producer
and the workers alike."""

from __future__ import annotations

import os
import time

import zeroG
from peers import count_one, mark_ready

TUBE = "peers"


class PeerNoopJob(zeroG.BaseJob):
    JOB_TYPE = "peers_noop"
    QUEUE_NAME = TUBE

    def run(self):  # noqa: ANN201
        count_one()
        return time.time(), False


class PeerReadyJob(zeroG.BaseJob):
    JOB_TYPE = "peers_ready"
    QUEUE_NAME = TUBE

    def run(self):  # noqa: ANN201
        mark_ready(os.getpid())
        return time.time(), False


def enqueue() -> None:
    PeerNoopJob().enqueue()


def enqueue_ready() -> None:
    PeerReadyJob().enqueue()
