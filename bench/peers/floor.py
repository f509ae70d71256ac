"""The raw floor on beanstalkd, through greenstalk: the producer puts a body of a job id's size,
each consumer process reserves and deletes (and, run with `--incr`, does the measured jobs' one
INCR in between). Ready bodies come on a tube of their own, so that beanstalkd's count of
deletes on the jobs' tube counts the measured jobs alone.

A consumer: `python -m peers.floor [--incr]`, with PEERS_BEANSTALK=host:port.
"""

from __future__ import annotations

import os
import sys

import greenstalk

from peers import count_one, mark_ready

TUBE = "peers"
READY_TUBE = "peers-ready"
BODY = '"00000000-0000-4000-8000-000000000000"'
READY_BODY = "ready"


def address() -> tuple[str, int]:
    host, port = os.environ["PEERS_BEANSTALK"].rsplit(":", 1)
    return host, int(port)


_producer: greenstalk.Client | None = None


def _client() -> greenstalk.Client:
    global _producer
    if _producer is None:
        _producer = greenstalk.Client(address(), use=TUBE)
    return _producer


def enqueue() -> None:
    _client().put(BODY)


def enqueue_ready() -> None:
    # On the producer's one connection: the timed puts that follow find it open.
    c = _client()
    c.use(READY_TUBE)
    c.put(READY_BODY)
    c.use(TUBE)


def consume(incr: bool) -> None:
    with greenstalk.Client(address(), watch=[TUBE, READY_TUBE]) as c:
        while True:
            job = c.reserve()
            if job.body == READY_BODY:
                mark_ready(os.getpid())
            elif incr:
                count_one()
            c.delete(job)


if __name__ == "__main__":
    consume("--incr" in sys.argv[1:])
