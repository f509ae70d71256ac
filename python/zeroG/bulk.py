"""Bulk enqueue: many new jobs saved and queued in batches, far faster than ``enqueue()`` each.

Each batch is one store transaction (its documents) and one pipelined exchange with the queue
(its puts). The store and queue calls release the GIL, so building documents, writing them and
queueing them run on three threads at once instead of taking turns.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from zeroG import config
from zeroG.jobs import BaseJob, _body, _check_unsaved, _now, _restart_fields

__all__ = ["ENQUEUE_BATCH", "enqueue_many"]

#: Jobs per batch: large enough that a commit is cheap per job, small enough that workers start
#: on the first batch while later ones are still being written.
ENQUEUE_BATCH = 1000

_Docs = list[tuple[str, dict[str, Any]]]
_Puts = list[tuple[str, bytes, int, int, int]]
#: A batch written: each document's CAS, each job's queue id (None if not queued), the error.
_Written = tuple[list[int], list[int | None], Exception | None]


def enqueue_many(jobs: Iterable[BaseJob], delay: float = 0) -> list[int]:
    """Saves and enqueues many new jobs, in batches of ``ENQUEUE_BATCH``: each batch is one
    transaction for the documents and one pipelined exchange for the queue. Returns the queue
    job ids in order. Jobs must not have been saved yet. Their ``queueJobId`` is filled in when a
    worker picks them up.

    Each job ends up saved and queued, or neither. If a batch cannot be written, or its puts
    fail, the documents of its jobs that were not queued are deleted again (no job is left saved
    but never queued), later batches are not queued, and the error is raised with ``enqueued``
    set on it: the ids of every job that was queued, in order. The queued jobs are those with a
    CAS (``job.cas != 0``); the rest can be fixed and enqueued again. A batch the queue refuses
    before any put (an invalid tube, a body too big) is queued not at all; the queue failing
    midway (a draining server, a broken connection) leaves the batch's first jobs queued.
    """
    jobs = list(jobs)
    for job in jobs:
        _check_unsaved(job)
    store, queue = config.get_store(), config.get_queue()
    d = int(max(0, delay))
    chunks = [jobs[start : start + ENQUEUE_BATCH] for start in range(0, len(jobs), ENQUEUE_BATCH)]
    ids: list[int] = []
    if len(chunks) == 1:  # nothing to overlap: no threads
        docs, puts = _prepare(chunks[0], d)
        try:
            cases = store.insert_many(docs)
        except Exception as e:
            e.enqueued = []  # type: ignore[attr-defined]
            raise
        put, error = _put(store, queue, docs, puts)
        _saved(chunks[0], cases, put, ids)
        if error is not None:
            error.enqueued = ids  # type: ignore[attr-defined]
            raise error
        return ids
    # Three stages, each on its own thread: this one builds batch k+2 while the inserter
    # writes batch k+1's documents and the putter queues batch k. The store and queue release
    # the GIL, so the stages overlap. The putter takes batches in order, and after a failure it
    # deletes the documents of every later batch instead of queueing them.
    failed = threading.Event()
    in_flight: deque[tuple[list[BaseJob], Future[_Written]]] = deque()
    errors: list[Exception] = []

    def collect_oldest() -> None:
        # Every batch is collected, even after an error: its jobs get their CAS, or it is
        # known not queued. The first error is the one raised.
        outcome = _collect(*in_flight.popleft(), ids)
        if outcome is not None:
            errors.append(outcome)

    with (
        ThreadPoolExecutor(1, thread_name_prefix="zerog-insert") as inserter,
        ThreadPoolExecutor(1, thread_name_prefix="zerog-put") as putter,
    ):
        for chunk in chunks:
            if failed.is_set():
                break
            docs, puts = _prepare(chunk, d)
            inserted = inserter.submit(store.insert_many, docs)
            in_flight.append((chunk, putter.submit(_put_after, inserted, failed, store, queue, docs, puts)))
            while len(in_flight) > 2 or (in_flight and in_flight[0][1].done()):
                collect_oldest()
        while in_flight:
            collect_oldest()
    if errors:
        error = errors[0]
        error.enqueued = ids  # type: ignore[attr-defined]
        raise error
    return ids


class _NotQueued(Exception):
    """A batch after a failed one: its documents were deleted, not queued."""


def _prepare(chunk: list[BaseJob], delay: int) -> tuple[_Docs, _Puts]:
    """Each job's fields for a fresh start, its document and its put. One timestamp for the
    batch: its jobs are saved together."""
    now = _now()
    docs: _Docs = []
    puts: _Puts = []
    for job in chunk:
        ttr, pri = int(job.TTR), int(job.PRIORITY)
        for name, value in _restart_fields(job, ttr, pri, delay).items():
            setattr(job, name, value)
        job.updatedAt = now
        docs.append((job.key(), job._document()))
        puts.append((job.QUEUE_NAME, _body(job.uuid), pri, delay, ttr))
    return docs, puts


def _put(store: Any, queue: Any, docs: _Docs, puts: _Puts) -> tuple[list[int | None], Exception | None]:
    """Queues a batch whose documents are in. Returns each job's queue id (None for a job not
    queued, whose document is deleted again) and the error, if not every job was queued."""
    try:
        return queue.put_many(puts), None
    except Exception as e:
        # A batch the queue failed midway says which of its jobs it had queued by then.
        put: list[int | None] = getattr(e, "put", None) or [None] * len(puts)
        _delete(store, [doc for doc, qid in zip(docs, put, strict=True) if qid is None])
        return put, e
    except BaseException:
        _delete(store, docs)
        raise


def _put_after(
    inserted: Future[list[int]], failed: threading.Event, store: Any, queue: Any, docs: _Docs, puts: _Puts
) -> _Written:
    try:
        cases = inserted.result()  # raises if the batch's transaction failed: nothing to undo
        if failed.is_set():
            _delete(store, docs)
            raise _NotQueued
        put, error = _put(store, queue, docs, puts)
    except BaseException:
        failed.set()
        raise
    if error is not None:
        failed.set()
    return cases, put, error


def _delete(store: Any, docs: _Docs) -> None:
    for key, _ in docs:
        store.delete(key)


def _collect(
    chunk: list[BaseJob],
    written: Future[_Written],
    ids: list[int],
) -> Exception | None:
    """Takes a batch's outcome: adds the ids of its queued jobs to ``ids`` and returns the error
    that stopped it (None for a batch queued whole, or only skipped after an earlier failure)."""
    try:
        cases, put, error = written.result()
    except _NotQueued:
        return None
    except Exception as e:
        return e
    _saved(chunk, cases, put, ids)
    return error


def _saved(chunk: list[BaseJob], cases: list[int], put: list[int | None], ids: list[int]) -> None:
    """Gives each queued job its CAS (a job not queued has no document, so it stays unsaved) and
    adds its queue id to ``ids``."""
    for job, cas, qid in zip(chunk, cases, put, strict=True):
        if qid is not None:
            job.cas = cas
            ids.append(qid)
