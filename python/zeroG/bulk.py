"""Bulk enqueue: many new jobs saved and queued in batches, far faster than ``enqueue()`` each.

The engine does the work (``zeroG._zerog.BulkEnqueue``, ``client/bulk.rs``): each batch is one
store write (its documents) and one pipelined exchange with the queue (its puts), and the two run
on threads of their own while this thread builds the next batch's documents.
"""

from __future__ import annotations

from collections.abc import Iterable

from zeroG import _zerog, config
from zeroG.jobs import BaseJob, batch_entries, check_unsaved

__all__ = ["ENQUEUE_BATCH", "enqueue_many"]

#: Jobs per batch of ``enqueue_many``: large enough that a commit is cheap per job, small enough
#: that workers start on the first batch while later ones are still being written.
ENQUEUE_BATCH = 1000


def enqueue_many(jobs: Iterable[BaseJob], delay: float = 0) -> list[int]:
    """Saves and enqueues many new jobs, in batches of ``ENQUEUE_BATCH``: each batch is one
    write for the documents and one pipelined exchange for the queue, and while one batch is
    queued the next is written and the one after is built. Returns the queue job ids in order.
    Jobs must not have been saved yet. Their ``queueJobId`` is filled in when a worker picks
    them up.

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
        check_unsaved(job)
    d = int(max(0, delay))
    bulk = _zerog.BulkEnqueue(config.get_store(), config.get_queue())
    for start in range(0, len(jobs), ENQUEUE_BATCH):
        bulk.submit(batch_entries(jobs[start : start + ENQUEUE_BATCH], d))
    queued, error = bulk.finish()
    ids: list[int] = []
    # One answer per job, unless the engine's putter died (then the error says so).
    for job, done in zip(jobs, queued, strict=False):
        if done is not None:
            ids.append(done[0])
            job.cas = done[1]
    if error is not None:
        error.enqueued = ids  # type: ignore[attr-defined]
        raise error
    return ids
