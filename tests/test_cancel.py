"""Cooperative cancellation, end to end: `zeroG.cancel(uuid)` against real `zerog-worker`
processes, on the embedded queue and on a real beanstalkd (the `db_url` fixture runs each test on
both). The jobs (`cancel_jobs`) leave marks in a file, so a test sees what ran and how far.

Time limits here are generous on purpose (the machine is shared): each one only separates
"stopped because of the cancel" from "ran to its end", which takes minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cancel_jobs  # noqa: F401 - registers the cx_ job classes in this process too
import pytest
from processes import WorkerProcess
from waiting import doc, queue_gone, wait_for, wait_status

import zeroG
from zeroG import _zerog
from zeroG.errors import CANCELLED, DocumentNotFound
from zeroG.jobs import BaseJob, get_base_job, make_base_job

# Runs on the Couchbase store too when ZEROG_TEST_COUCHBASE names a cluster (conftest.py).
pytestmark = pytest.mark.any_store

MODULE = ("--module", "cancel_jobs", "-c", "1")
StartWorker = Callable[..., WorkerProcess]
#: How long a cancelled running job may take to stop, in these tests. The worker reads the
#: document at least every second (and at every lease renewal, TTR/3); the rest is slack for a
#: loaded machine. The jobs would otherwise run for minutes.
STOP_WITHIN = 20.0


def enqueue(job_type: str, ttr: int | None = None, **values: Any) -> BaseJob:
    job = make_base_job(values, job_type)
    job.enqueue(ttr=ttr)
    return job


def marks(path: Path, uuid: str | None = None) -> list[str]:
    """The words the jobs wrote to `path` (for one job, if given)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        word, job_uuid, _pid, _t = line.split()
        if uuid is None or job_uuid == uuid:
            out.append(word)
    return out


def mark_pids(path: Path) -> set[int]:
    return {int(line.split()[2]) for line in path.read_text().splitlines()}


def wait_started(path: Path, uuid: str) -> None:
    def started() -> bool:
        return "start" in marks(path, uuid)

    started.__name__ = f"job {uuid} to start"
    wait_for(started, timeout=30)


def events(d: dict[str, Any]) -> list[str]:
    return [e["msg"] for e in d["events"]]


def assert_cancelled(d: dict[str, Any]) -> None:
    assert d["status"] == "cancelled"
    assert d["resultCode"] == CANCELLED == 410
    assert d["running"] is False
    assert d["finishedAt"]
    assert d["cancelRequested"] is True and d["cancelRequestedAt"]
    assert d["errors"] == [] and d["retries"] == 0


@pytest.fixture
def queue(db_url: str, queue_url: str) -> _zerog.Queue:
    return _zerog.Queue.open(queue_url)


def cancel_running(
    start_worker: StartWorker, tmp_path: Path, job_type: str, ttr: int | None = None
) -> tuple[WorkerProcess, BaseJob, dict[str, Any], float]:
    """Starts a worker, runs a `job_type` job, cancels it once it started, and waits for it to
    be recorded cancelled. Returns the worker, the job, its document and how long it took."""
    w = start_worker(*MODULE)
    path = tmp_path / "marks"
    job = enqueue(job_type, ttr=ttr, path=str(path), seconds=600)
    wait_started(path, job.uuid)
    assert wait_status(job.uuid, "running")["status"] == "running"
    t0 = time.monotonic()
    assert zeroG.cancel(job.uuid) == "running"
    d = wait_status(job.uuid, "cancelled", "done", "failed", timeout=STOP_WITHIN)
    took = time.monotonic() - t0
    assert_cancelled(d)
    assert "end" not in marks(path, job.uuid), "the job ran to its end"
    return w, job, d, took


def the_worker_runs_the_next_job(w: WorkerProcess, tmp_path: Path, d: dict[str, Any]) -> None:
    """The worker process that ran the cancelled job survives it and runs the next one."""
    path = tmp_path / "next"
    nxt = enqueue("cx_mark", path=str(path))
    nd = wait_status(nxt.uuid, "done", "failed", timeout=30)
    assert (nd["status"], nd["resultCode"]) == ("done", 200)
    assert nd["workerId"] == d["workerId"], "the same worker process ran it"
    assert len(w.children()) == 1
    assert "Traceback" not in w.log()


# -- a job that is not running ------------------------------------------------------------------


def test_a_queued_job_cancelled_before_any_worker_starts_never_runs(
    start_worker: StartWorker, queue: _zerog.Queue, tmp_path: Path
):
    path = tmp_path / "marks"
    job = enqueue("cx_mark", path=str(path))
    assert zeroG.cancel(job.uuid) == "cancelled"
    d = doc(job.uuid)
    assert_cancelled(d)
    assert d["attempts"] == 0 and d["startedAt"] is None and d["completeness"] == 0.0
    assert events(d) == ["Cancelled before it ran"]
    assert zeroG.cancel(job.uuid) == "cancelled", "asking again is harmless"

    w = start_worker(*MODULE)
    other = enqueue("cx_mark", path=str(path))  # queued behind it: proves the worker got past it
    wait_status(other.uuid, "done", timeout=30)
    wait_for(lambda: queue_gone(queue, job.queueJobId), timeout=30)
    assert marks(path, job.uuid) == [], "the cancelled job ran"
    assert marks(path, other.uuid) == ["start", "end"]
    after = doc(job.uuid)
    assert after["status"] == "cancelled" and after["attempts"] == 0
    assert "was cancelled; dropping queue entry" in w.log() or "already cancelled" in w.log()


def test_a_waiting_job_is_cancelled_at_once_and_does_not_run_again(
    start_worker: StartWorker, queue: _zerog.Queue, tmp_path: Path
):
    start_worker(*MODULE)
    path = tmp_path / "marks"
    job = enqueue("cx_requeue_once", path=str(path), seconds=2)
    d = wait_status(job.uuid, "waiting", timeout=30)
    assert zeroG.cancel(job.uuid) == "cancelled"
    assert_cancelled(doc(job.uuid))
    assert events(doc(job.uuid))[-1] == "Cancelled while waiting to run again"
    # Its entry comes back after the 2 s delay and is dropped unrun.
    wait_for(lambda: queue_gone(queue, d["queueJobId"]), timeout=30)
    assert marks(path, job.uuid) == ["start"]
    assert doc(job.uuid)["status"] == "cancelled"


# -- a running job ------------------------------------------------------------------------------


def test_a_running_job_that_calls_job_log_stops_at_its_next_call(start_worker: StartWorker, tmp_path: Path):
    w, job, d, took = cancel_running(start_worker, tmp_path, "cx_log_loop")
    assert took < STOP_WITHIN
    # It stopped inside run(): its finally block ran, its reports up to the cancel were kept.
    assert marks(tmp_path / "marks", job.uuid) == ["start", "finally"]
    msgs = events(d)
    assert any(m.startswith("step ") for m in msgs)
    assert "Cancel requested - the running job will be stopped" in msgs
    assert msgs[-1] == "Cancelled - the run stopped at the cancel request"
    assert 0 < d["completeness"] < 1, "completeness stays where the job got to"
    assert f"job {job.uuid} (cx_log_loop): cancelled" in w.log()
    the_worker_runs_the_next_job(w, tmp_path, d)


def test_job_log_calls_alone_stop_a_job(start_worker: StartWorker, tmp_path: Path):
    # The job ignores the signal that interrupts a job that does not report: its job_log calls
    # raise JobCancelled once the worker has seen the request.
    w, job, d, _ = cancel_running(start_worker, tmp_path, "cx_log_loop_deaf")
    assert marks(tmp_path / "marks", job.uuid) == ["start", "finally"]
    assert events(d)[-1] == "Cancelled - the run stopped at the cancel request"
    the_worker_runs_the_next_job(w, tmp_path, d)


def test_a_busy_loop_without_job_log_stops_within_a_renewal_period(start_worker: StartWorker, tmp_path: Path):
    # TTR 3: the lease is renewed every second, and the document is read at least that often.
    w, job, d, took = cancel_running(start_worker, tmp_path, "cx_busy", ttr=3)
    assert took < STOP_WITHIN
    assert marks(tmp_path / "marks", job.uuid) == ["start", "finally"]
    assert events(d)[-1] == "Cancelled - the run stopped at the cancel request"
    assert "cancel requested; stopping it" in w.log()
    the_worker_runs_the_next_job(w, tmp_path, d)


def test_a_blocking_sleep_is_interrupted(start_worker: StartWorker, tmp_path: Path):
    w, job, d, took = cancel_running(start_worker, tmp_path, "cx_sleep")
    assert took < STOP_WITHIN, "time.sleep(600) was interrupted"
    assert marks(tmp_path / "marks", job.uuid) == ["start", "finally"]
    the_worker_runs_the_next_job(w, tmp_path, d)


def test_an_async_job_is_stopped_and_the_next_async_job_runs(start_worker: StartWorker, tmp_path: Path):
    w, job, d, _ = cancel_running(start_worker, tmp_path, "cx_async_sleep")
    assert marks(tmp_path / "marks", job.uuid) == ["start", "finally"]
    path = tmp_path / "next-async"
    nxt = enqueue("cx_async_sleep", path=str(path), seconds=0.1)
    nd = wait_status(nxt.uuid, "done", "failed", timeout=30)
    assert (nd["status"], nd["workerId"]) == ("done", d["workerId"])
    assert marks(path, nxt.uuid) == ["start", "end", "finally"]


def test_a_job_that_swallows_jobcancelled_and_returns_is_still_cancelled(start_worker: StartWorker, tmp_path: Path):
    w, job, d, _ = cancel_running(start_worker, tmp_path, "cx_swallow")
    assert marks(tmp_path / "marks", job.uuid) == ["start", "caught"]
    assert events(d)[-1] == "Cancelled - the run returned after the cancel request"
    the_worker_runs_the_next_job(w, tmp_path, d)


# -- finished and unknown jobs ------------------------------------------------------------------


def test_cancel_of_a_finished_job_leaves_it_unchanged(start_worker: StartWorker, tmp_path: Path):
    start_worker(*MODULE)
    job = enqueue("cx_mark", path=str(tmp_path / "marks"))
    before = wait_status(job.uuid, "done", timeout=30)
    found = zeroG.config.get_store().get(job.key())
    assert found is not None
    assert zeroG.cancel(job.uuid) == "done"
    assert zeroG.config.get_store().get(job.key()) == found, "document and CAS unchanged"
    assert doc(job.uuid) == before
    assert before["cancelRequested"] is False


def test_cancel_of_an_unknown_uuid_raises_document_not_found(db_url: str):
    with pytest.raises(DocumentNotFound):
        zeroG.cancel("no-such-job")
    with pytest.raises(DocumentNotFound):
        zeroG.jobs.cancel("no-such-job")


def test_a_cancelled_job_enqueued_again_starts_over(start_worker: StartWorker, tmp_path: Path):
    path = tmp_path / "marks"
    job = enqueue("cx_mark", path=str(path))
    assert zeroG.cancel(job.uuid) == "cancelled"
    again = get_base_job(job.uuid)
    assert again is not None
    again.enqueue()
    d = doc(job.uuid)
    assert (d["status"], d["resultCode"], d["cancelRequested"], d["cancelRequestedAt"]) == ("queued", -1, False, None)
    start_worker(*MODULE)
    d = wait_status(job.uuid, "done", "cancelled", timeout=30)
    assert d["status"] == "done"
    assert marks(path, job.uuid) == ["start", "end"]
