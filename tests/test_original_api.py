"""Job code written for the original zeroG (tiptapinc/zerog) runs on zeroG unchanged: its job
methods (`record_event`, `record_warning`, `record_error`, `keep_alive`, `raise_warning_*`),
its exception names (`ErrorContinue`, `ErrorFinish`, `WarningContinue`, `WarningFinish`), its
error budget (`MAX_ERRORS`) and its hook (`continue_running()`), and a job that calls exit
being run again without an error, as its worker did. Through real `zerog-worker` processes, on
the embedded queue and on beanstalkd."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import original_jobs  # noqa: F401 - registers the og_ job classes in this process too
import pytest
from waiting import doc, wait_status

import zeroG
from zeroG import errors, jobs
from zeroG.jobs import INTERNAL_ERROR, NO_RESULT, make_base_job

MODULE = ("--module", "original_jobs")


def run_job(start_worker: Callable[..., Any], job_type: str, *statuses: str) -> dict[str, Any]:
    """Enqueues a job of `job_type`, runs a worker until the job reaches one of `statuses`, and
    returns its document."""
    start_worker(*MODULE, "-c", "1")
    job = make_base_job({}, job_type)
    job.enqueue()
    return wait_status(job.uuid, *statuses)


def msgs(d: dict[str, Any], name: str) -> list[str]:
    return [e["msg"] for e in d[name]]


def test_the_original_names_are_where_its_code_imports_them() -> None:
    for module in (jobs, errors):
        assert module.ErrorContinue is zeroG.WFErrorContinue
        assert module.ErrorFinish is zeroG.WFErrorFinish
        assert issubclass(module.WarningContinue, zeroG.WFErrorContinue)
        assert issubclass(module.WarningFinish, zeroG.WFErrorFinish)
    assert (jobs.NO_RESULT, jobs.INTERNAL_ERROR) == (NO_RESULT, INTERNAL_ERROR) == (-1, 500)


def test_record_methods_store_on_a_saved_job(db_url: str) -> None:
    job = make_base_job({}, "og_records")
    job.save()
    job.record_event("an event")
    job.record_warning("a warning")
    job.record_error(418, "an error")
    job.keep_alive()  # outside a worker: nothing to keep
    d = doc(job.uuid)
    assert (msgs(d, "events"), msgs(d, "warnings"), msgs(d, "errors")) == (["an event"], ["a warning"], ["an error"])
    assert d["errors"][0]["errorCode"] == 418 and d["errorCount"] == 1


def test_record_methods_and_keep_alive_inside_a_run(db_url: str, start_worker: Callable[..., Any]) -> None:
    d = run_job(start_worker, "og_records", "done")
    assert (d["resultCode"], d["attempts"]) == (200, 1)
    assert "started" in msgs(d, "events")
    assert msgs(d, "warnings") == ["disk nearly full"]
    assert msgs(d, "errors") == ["a conflict, handled"] and d["errorCount"] == 1
    assert d["heartbeatAt"] is not None


def test_max_errors_gives_the_original_budget(db_url: str, start_worker: Callable[..., Any]) -> None:
    d = run_job(start_worker, "og_max_errors", "failed")
    assert (d["attempts"], d["errorCount"], d["resultCode"]) == (2, 2, INTERNAL_ERROR)
    assert [m.splitlines()[-1] for m in msgs(d, "errors")] == ["ValueError: run 1 failed", "ValueError: run 2 failed"]
    assert [m for m in msgs(d, "events") if m.startswith("Error")] == ["Error - restarting", "Error - finished"]


def test_continue_running_decides_when_a_class_overrides_it(db_url: str, start_worker: Callable[..., Any]) -> None:
    d = run_job(start_worker, "og_judges", "failed")
    # Each run recorded its own error and raised a bare ErrorContinue: nothing is added to it.
    assert (d["attempts"], d["errorCount"], d["resultCode"]) == (3, 3, 422)
    assert msgs(d, "errors") == [f"upstream down, run {n}" for n in (1, 2, 3)]
    assert [e["errorCode"] for e in d["errors"]] == [503, 503, 503]


def test_a_warning_that_continues_runs_the_job_again_without_an_error(
    db_url: str, start_worker: Callable[..., Any]
) -> None:
    d = run_job(start_worker, "og_warn_continue", "done")
    assert (d["attempts"], d["errorCount"], d["retries"], d["resultCode"]) == (2, 0, 0, 200)
    assert msgs(d, "warnings") == ["not ready yet"]
    assert "Error - restarting" in msgs(d, "events")


def test_a_warning_that_finishes_ends_the_job_with_its_result(db_url: str, start_worker: Callable[..., Any]) -> None:
    d = run_job(start_worker, "og_warn_finish", "done")
    assert (d["attempts"], d["errorCount"], d["resultCode"], d["completeness"]) == (1, 0, 202, 1.0)
    assert msgs(d, "warnings") == ["nothing to do"]


def test_a_job_that_exits_runs_again_with_no_error(db_url: str, start_worker: Callable[..., Any]) -> None:
    d = run_job(start_worker, "og_exit", "done")
    assert (d["attempts"], d["errorCount"], d["retries"], d["resultCode"]) == (2, 0, 0, 200)


@pytest.mark.parametrize("name", ["ErrorContinue", "ErrorFinish", "WarningContinue", "WarningFinish"])
def test_the_original_exceptions_raised_bare_count_as_recorded(name: str) -> None:
    """The original's jobs raise them with no arguments, after storing what happened: the worker
    adds no error of its own. Given a message, an error is zeroG's to store."""
    bare = getattr(jobs, name)()
    assert (bare.code, bare.msg, bare.recorded) == (INTERNAL_ERROR, type(bare).__name__, True)
    told = getattr(jobs, name)(503, "upstream down")
    assert (told.code, told.msg, told.recorded) == (503, "upstream down", False)
