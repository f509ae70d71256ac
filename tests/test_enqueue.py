"""The single-job path's guarantees, on the embedded queue and on beanstalkd: an enqueue whose
put fails leaves nothing behind, whichever way it came in; a job enqueued again keeps its
history; and the queue id a document records is the one its entry has, even when a worker ran
the job before the producer's call returned (a server queue's enqueue writes the document once,
before the put, and the worker's claim records the id)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import worker_jobs  # noqa: F401 - registers the wk_ job classes in this process too
from waiting import wait_for

import zeroG
from zeroG import _zerog
from zeroG.jobs import BaseJob, get_base_job, make_base_job

MODULE = ("--module", "worker_jobs")
BAD_TUBE = "no spaces allowed"  # refused by every queue, after a server queue's document write


def stored(uuid: str) -> dict[str, Any] | None:
    job = get_base_job(uuid)
    return None if job is None else job.dump()


def queue() -> _zerog.Queue:
    return _zerog.Queue.open(os.environ["ZEROG_QUEUE"])


def entry_uuid(queue_job_id: int) -> str | None:
    found = queue().peek(queue_job_id)
    return None if found is None else found[1].decode().strip('"')


def bad_tube_job() -> BaseJob:
    job = make_base_job({}, "wk_noop")
    job.QUEUE_NAME = BAD_TUBE  # type: ignore[misc]
    return job


def test_a_failed_put_leaves_no_new_job_behind_sync_async_or_bulk(db_url: str) -> None:
    sync, in_async = bad_tube_job(), bad_tube_job()
    with pytest.raises(_zerog.InvalidTubeName, match=BAD_TUBE):
        sync.enqueue()
    with pytest.raises(_zerog.InvalidTubeName, match=BAD_TUBE):
        asyncio.run(in_async.enqueue_async())
    bulk = [make_base_job({}, "wk_noop"), bad_tube_job()]
    with pytest.raises(_zerog.InvalidTubeName):
        zeroG.enqueue_many(bulk)
    for job in (sync, in_async, bulk[1]):
        assert stored(job.uuid) is None, "a document saying queued, with no entry"
        assert job.cas == 0, "the object stays unsaved, to be enqueued again once fixed"
    assert BAD_TUBE not in queue().list_tubes()
    # Fixed, the same object goes through.
    del sync.QUEUE_NAME
    queue_job_id = sync.enqueue()
    assert entry_uuid(queue_job_id) == sync.uuid
    assert stored(sync.uuid)["status"] == "queued"  # type: ignore[index]


def test_a_failed_put_gives_a_job_enqueued_again_its_old_state_back(db_url: str) -> None:
    job = make_base_job({}, "wk_noop")
    first = job.enqueue()
    job.job_log_info("first run")
    job.update_attrs(resultCode=200, completeness=1.0, status="done")
    job.QUEUE_NAME = BAD_TUBE  # type: ignore[misc]
    with pytest.raises(_zerog.InvalidTubeName):
        asyncio.run(job.enqueue_async())
    doc = stored(job.uuid)
    assert doc is not None
    assert (doc["status"], doc["resultCode"], doc["completeness"]) == ("done", 200, 1.0)
    assert [e["msg"] for e in doc["events"]] == ["first run"]
    assert doc["queueJobId"] == first and doc["queueName"] == "wk"
    assert (job.status, job.queueJobId) == ("done", first), "the object reads it back"


@pytest.mark.beanstalkd_queue
def test_a_dead_server_leaves_nothing_behind(db_url: str, queue_server: Any) -> None:
    queue_server.stop()
    sync, in_async = make_base_job({}, "wk_noop"), make_base_job({}, "wk_noop")
    with pytest.raises(_zerog.BackendError, match="beanstalkd"):
        sync.enqueue()
    with pytest.raises(_zerog.BackendError, match="beanstalkd"):
        asyncio.run(in_async.enqueue_async())
    assert stored(sync.uuid) is None and stored(in_async.uuid) is None


def test_enqueued_again_a_job_keeps_its_history_and_records_its_new_entry(
    db_url: str, start_worker: Callable[..., Any], tmp_path: Path
) -> None:
    w = start_worker(*MODULE, "-c", "1")
    try:
        job = make_base_job({"path": str(tmp_path / "runs")}, "wk_noop")
        first = job.enqueue()
        wait_for(lambda: (stored(job.uuid) or {}).get("status") == "done", timeout=30)
        job.reload()
        second = job.enqueue()
        assert second != first
        wait_for(lambda: len((stored(job.uuid) or {}).get("events", [])) == 2, timeout=30)
        wait_for(lambda: (stored(job.uuid) or {}).get("status") == "done", timeout=30)
        doc = stored(job.uuid)
        assert doc is not None
        assert [e["msg"].startswith("wk_noop ran in") for e in doc["events"]] == [True, True]
        assert doc["queueJobId"] == second
        assert doc["attempts"] == 2 and doc["resultCode"] == 200
        assert len((tmp_path / "runs").read_text().splitlines()) == 2
    finally:
        w.stop(timeout=15)


def test_the_recorded_queue_id_is_the_entry_s_even_when_the_worker_is_done_first(
    db_url: str, start_worker: Callable[..., Any]
) -> None:
    w = start_worker(*MODULE, "-c", "2")
    try:
        jobs = [make_base_job({}, "wk_noop") for _ in range(40)]
        ids = [job.enqueue() for job in jobs]
        assert [job.queueJobId for job in jobs] == ids
        wait_for(lambda: all((stored(j.uuid) or {}).get("status") == "done" for j in jobs), timeout=60)
        assert [stored(j.uuid)["queueJobId"] for j in jobs] == ids  # type: ignore[index]
        # And again: each document names its second entry, not its first.
        for job in jobs:
            job.reload()
        again = [job.enqueue() for job in jobs]
        assert not set(again) & set(ids)
        wait_for(lambda: all((stored(j.uuid) or {}).get("attempts") == 2 for j in jobs), timeout=60)
        wait_for(lambda: all((stored(j.uuid) or {}).get("status") == "done" for j in jobs), timeout=60)
        assert [stored(j.uuid)["queueJobId"] for j in jobs] == again  # type: ignore[index]
    finally:
        w.stop(timeout=15)


def test_a_forked_child_enqueues_on_connections_of_its_own(db_url: str) -> None:
    """The store and queue connections are opened again in a forked child (a SQLite connection
    must not cross a fork), while the parent keeps using its own."""
    store, queue_ = zeroG.config.get_store(), zeroG.config.get_queue()
    make_base_job({}, "wk_noop").enqueue()
    pid = os.fork()
    if pid == 0:  # the child: any failure is its exit code, as pytest cannot report from here
        code = 1
        try:
            if zeroG.config.get_store() is store or zeroG.config.get_queue() is queue_:
                code = 2
            else:
                job = make_base_job({}, "wk_noop")
                job.enqueue()
                code = 0 if get_base_job(job.uuid) is not None else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert zeroG.config.get_store() is store and zeroG.config.get_queue() is queue_
    job = make_base_job({}, "wk_noop")
    job.enqueue()
    assert stored(job.uuid) is not None


@pytest.mark.parametrize("unknown_field", [False, True], ids=["base-fields-only", "with-an-unknown-field"])
def test_a_new_job_is_stored_as_its_fields_say_whichever_way_the_engine_reads_them(
    db_url: str, unknown_field: bool
) -> None:
    """A job with no fields of its own is read by the engine straight from its attributes; one
    with a field it keeps unread goes as a dict. Both are stored alike, and refuse alike."""
    job = make_base_job({}, "wk_noop")
    if unknown_field:
        job._extra["keptUnread"] = [1, "two"]
    job.completeness = 0.25
    job.tags = ["a", {"b": None}]  # not a field: stays on the object only
    del job.warnings  # a base field gone from the object is stored as null, read back empty
    job.enqueue()
    doc = stored(job.uuid)
    assert doc is not None
    assert doc["completeness"] == 0.25 and doc["warnings"] == [] and "tags" not in doc
    assert doc["updatedAt"] == job.updatedAt and doc["jobType"] == "wk_noop"
    assert (doc.get("keptUnread") == [1, "two"]) is unknown_field
    bad = make_base_job({}, "wk_noop")
    if unknown_field:
        bad._extra["keptUnread"] = 1
    bad.completeness = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        bad.enqueue()
    assert stored(bad.uuid) is None
