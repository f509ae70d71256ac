"""``zeroG.job_log``: outside a running job every function only logs; inside one (run by a real
``zerog-worker`` from tests/support/api_jobs.py) each stores what the spec says on the job's document."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import api_jobs
import pytest
from test_jobs import assert_recent
from waiting import wait_buried, wait_for

import zeroG
from zeroG import _zerog, job_log
from zeroG.jobs import BaseJob, get_base_job, make_base_job

# Runs on the Couchbase store too when ZEROG_TEST_COUCHBASE names a cluster (conftest.py).
pytestmark = pytest.mark.any_store

WORKER_ARGS = ("--module", "api_jobs", "-c", "1")

# -- outside a running job -------------------------------------------------------------------

OUTSIDE_CALLS: list[tuple[str, Callable[[], None], str]] = [
    ("set_completeness", lambda: job_log.set_completeness(0.5), "0.5"),
    ("set_completeness", lambda: job_log.set_completeness(0.6, enforceMinInterval=True), "0.6"),
    ("track_completeness", lambda: job_log.track_completeness(0.1, 0.9, 8), "0.9"),
    ("increment_completeness", lambda: job_log.increment_completeness(), "increment_completeness"),
    ("info", lambda: job_log.info("an info outside"), "an info outside"),
    ("warning", lambda: job_log.warning("a warning outside"), "a warning outside"),
    ("error_log_only", lambda: job_log.error_log_only("log only outside"), "log only outside"),
    ("error_continue", lambda: job_log.error_continue(512, "continue outside"), "continue outside"),
    ("error_finish", lambda: job_log.error_finish(476, "finish outside"), "finish outside"),
    ("heartbeat", lambda: job_log.heartbeat(), ""),
]


@pytest.mark.parametrize(
    ("name", "call", "logged"), OUTSIDE_CALLS, ids=[f"{c[0]}-{i}" for i, c in enumerate(OUTSIDE_CALLS)]
)
def test_outside_a_running_job_each_function_only_logs(
    db_url: str, caplog: pytest.LogCaptureFixture, name: str, call: Callable[[], None], logged: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="zeroG")
    job = make_base_job({"name": "bystander"}, "api_greeting")
    job.save()
    before = _zerog.Store.open(db_url).get(job.key())
    assert job_log.current_job() is None
    call()  # must not raise
    assert logged in caplog.text
    # Nothing was stored on any job.
    assert _zerog.Store.open(db_url).get(job.key()) == before
    assert job_log.current_job() is None


def test_outside_a_running_job_errors_are_logged_as_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="zeroG")
    job_log.error_continue(512, "continue outside")
    job_log.error_finish(476, "finish outside")
    job_log.error_log_only("log only outside")
    job_log.warning("careful")
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 3
    assert "512" in errors[0].getMessage() and "476" in errors[1].getMessage()
    assert any(r.levelno == logging.WARNING and "careful" in r.getMessage() for r in caplog.records)
    assert "no running job" in caplog.text


def test_method_forms_of_a_job_that_is_not_running_do_not_report_through_job_log(db_url: str) -> None:
    # A job object that is not the one a worker runs writes its own document directly.
    job = make_base_job({"name": "direct"}, "api_greeting")
    job.save()
    job.set_completeness(0.7)
    assert get_base_job(job.uuid).completeness == 0.7


# -- inside a running job, through a real worker ----------------------------------------------


def run_in_worker(start_worker: Callable[..., Any], *jobs: BaseJob) -> Any:
    for job in jobs:
        job.enqueue()
    return start_worker(*WORKER_ARGS)


def wait_doc(job: BaseJob, predicate: Callable[[dict[str, Any]], bool], worker: Any, timeout: float = 20) -> dict:
    """Waits until the stored document satisfies ``predicate``; returns it."""

    def ready() -> dict[str, Any] | None:
        loaded = get_base_job(job.uuid)
        doc = loaded.dump() if loaded is not None else None
        return doc if doc is not None and predicate(doc) else None

    try:
        return wait_for(ready, timeout=timeout)  # type: ignore[return-value]
    except BaseException:
        print(worker.log())
        print(get_base_job(job.uuid).dump())
        raise


def finished(doc: dict[str, Any]) -> bool:
    return doc["status"] in ("done", "failed")


def parked(doc: dict[str, Any]) -> bool:
    return doc["status"] == "waiting"


def new(job_type: str, **values: Any) -> BaseJob:
    return make_base_job(values, job_type)


def test_set_completeness_is_stored_clamped_and_throttled(start_worker: Callable[..., Any]) -> None:
    job = new("api_set_completeness")
    worker = run_in_worker(start_worker, job)
    doc = wait_doc(job, parked, worker)
    # 5.0 -> 1.0, -1.0 -> 0.0, 0.1, then 0.2 with enforceMinInterval right after: skipped.
    assert doc["observed"] == [1.0, 0.0, 0.1, 0.1]
    assert doc["completeness"] == 0.1
    assert doc["resultCode"] == -1
    assert doc["heartbeatAt"] is not None  # every call is also a heartbeat
    assert_recent(doc["heartbeatAt"])


def test_track_and_increment_completeness(start_worker: Callable[..., Any]) -> None:
    job = new("api_track_completeness")
    worker = run_in_worker(start_worker, job)
    doc = wait_doc(job, parked, worker)
    # track_completeness(0, 0.5, 4): start + (end-start) * i / 4, capped at 0.5; steps within 2 s
    # of the last accepted one are skipped, and the next accepted one catches up.
    assert doc["observed"] == [0.125, 0.125, 0.375, 0.375, 0.375, 0.5]
    assert doc["completeness"] == 0.5


def test_info_and_warning_are_stored_with_timestamps(start_worker: Callable[..., Any]) -> None:
    job = new("api_info_warning")
    worker = run_in_worker(start_worker, job)
    doc = wait_doc(job, finished, worker)
    assert (doc["status"], doc["resultCode"], doc["completeness"]) == ("done", 200, 1.0)
    msgs = [e["msg"] for e in doc["events"]]
    assert msgs.index("first event") < msgs.index("42")
    assert [w["msg"] for w in doc["warnings"]] == ["a warning"]
    for entry in doc["events"] + doc["warnings"]:
        assert_recent(entry["timeStamp"])
    assert doc["errors"] == [] and doc["errorCount"] == 0
    assert "a warning" in worker.log() and job.uuid in worker.log()


def test_error_log_only_retries_and_stores_no_error(db_url: str, start_worker: Callable[..., Any]) -> None:
    job = new("api_error_log_only")  # MAX_RETRIES = 1, RETRY_DELAY = 0
    worker = run_in_worker(start_worker, job)
    doc = wait_doc(job, finished, worker)
    assert doc["status"] == "failed"
    assert doc["attempts"] == 2  # the run and one retry
    assert doc["errors"] == [] and doc["errorCount"] == 0
    assert doc["resultCode"] == 500
    assert doc["buried"] is True
    wait_buried(_zerog.Queue.open(os.environ["ZEROG_QUEUE"]), doc["queueJobId"])
    logged = [line for line in worker.log().splitlines() if "ERROR zeroG.job_log" in line]
    assert len(logged) == 2 and all("logged, not stored" in line and job.uuid in line for line in logged)


def test_error_continue_stores_the_error_and_retries(start_worker: Callable[..., Any]) -> None:
    job = new("api_error_continue", fail_times=1)
    worker = run_in_worker(start_worker, job)
    doc = wait_doc(job, finished, worker)
    # The first run stored its error and was retried; the retry finished.
    assert (doc["status"], doc["resultCode"], doc["completeness"]) == ("done", 200, 1.0)
    assert [e["errorCode"] for e in doc["errors"]] == [512]
    assert doc["errorCount"] == 1
    assert doc["attempts"] == 2
    assert_recent(doc["errors"][0]["timeStamp"])


def test_error_continue_past_max_retries_fails_with_its_code(start_worker: Callable[..., Any]) -> None:
    job = new("api_error_continue", fail_times=10)  # MAX_RETRIES = 1
    worker = run_in_worker(start_worker, job)
    doc = wait_doc(job, finished, worker)
    # A failed job keeps the completeness it reported (none here): it never reads as done.
    assert (doc["status"], doc["resultCode"], doc["completeness"]) == ("failed", 512, 0.0)
    assert [e["errorCode"] for e in doc["errors"]] == [512, 512]  # each stored once
    assert doc["errorCount"] == 2 and doc["attempts"] == 2
    assert doc["buried"] is True


def test_error_finish_stores_error_and_result_and_is_not_retried(db_url: str, start_worker: Callable[..., Any]) -> None:
    job = new("api_error_finish")
    worker = run_in_worker(start_worker, job)
    doc = wait_doc(job, finished, worker)
    assert (doc["status"], doc["resultCode"], doc["completeness"]) == ("failed", 476, pytest.approx(0.3))
    assert [(e["errorCode"], e["msg"]) for e in doc["errors"]] == [(476, "cannot go on")]
    assert doc["errorCount"] == 1
    assert doc["attempts"] == 1 and doc.get("retries", 0) == 0
    # Deleted from the queue, not buried or released.
    queue = _zerog.Queue.open(os.environ["ZEROG_QUEUE"])
    counts = queue.stats_tube(api_jobs.QUEUE)
    assert (counts["ready"], counts["reserved"], counts["delayed"], counts["buried"]) == (0, 0, 0, 0)
    with pytest.raises(zeroG.errors.QueueJobNotFound):
        queue.stats_job(doc["queueJobId"])


def test_method_forms_inside_a_worker(start_worker: Callable[..., Any]) -> None:
    job = new("api_method_forms")
    worker = run_in_worker(start_worker, job)
    doc = wait_doc(job, finished, worker)
    assert doc["observed"] == [pytest.approx(0.6)]
    assert (doc["status"], doc["resultCode"], doc["completeness"]) == ("failed", 418, pytest.approx(0.6))
    assert "method info" in [e["msg"] for e in doc["events"]]
    assert [w["msg"] for w in doc["warnings"]] == ["method warning"]
    assert [(e["errorCode"], e["msg"]) for e in doc["errors"]] == [(418, "method finish")]
    assert doc["errorCount"] == 1


def test_nothing_leaks_from_one_job_to_the_next(start_worker: Callable[..., Any]) -> None:
    first, second = new("api_leak_first"), new("api_leak_second")
    worker = run_in_worker(start_worker, first, second)  # one process: first runs, then second
    doc2 = wait_doc(second, parked, worker)
    doc1 = wait_doc(first, finished, worker)
    assert (doc1["status"], doc1["resultCode"]) == ("failed", 499)
    seen = doc2["observed"][0]
    assert seen["current_is_self"] is True
    # The first job's tracking does not carry over: increment_completeness is only a heartbeat.
    assert seen["start"] == 0.0 and seen["after_increment"] == 0.0
    assert doc2["completeness"] == 0.0
    assert "second job" in [e["msg"] for e in doc2["events"]]
    assert "second job" not in [e["msg"] for e in doc1["events"]]
    assert "first job" not in [e["msg"] for e in doc2["events"]]
    assert doc2["errors"] == [] and doc2["resultCode"] == -1
    assert doc1["workerId"] == doc2["workerId"]  # really the same worker process
