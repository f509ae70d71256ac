"""Job code written for the original zeroG (tiptapinc/zerog) runs on zeroG unchanged: its job
methods (`record_event`, `record_warning`, `record_error`, `keep_alive`, `raise_warning_*`),
its exception names (`ErrorContinue`, `ErrorFinish`, `WarningContinue`, `WarningFinish`), its
error budget (`MAX_ERRORS`) and its hook (`continue_running()`), and a job that calls exit
being run again without an error, as its worker did. Through real `zerog-worker` processes, on
the embedded queue and on beanstalkd."""

from __future__ import annotations

import json
import uuid as uuids
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import original_jobs  # noqa: F401 - registers the og_ job classes in this process too
import original_schema
import pytest
from waiting import doc, wait_status

import zeroG
from zeroG import _zerog, errors, jobs
from zeroG.jobs import INTERNAL_ERROR, NO_RESULT, make_base_job, make_key

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


# -- the registry and the job's constructor, the original's way ---------------------------------


def test_a_job_registry_adds_classes_and_makes_and_gets_jobs(db_url: str) -> None:
    reg = zeroG.JobRegistry()
    added = reg.add_classes([original_jobs.OgWastesTime, original_jobs.OgRecords, dict])
    assert added == {
        "OgWastesTime": {"success": True, "error": None},
        "OgRecords": {"success": True, "error": None},
        "dict": {"success": False, "error": "NotSubclass"},
    }
    assert set(reg.get_registered_classes()) == {original_jobs.OgWastesTime, original_jobs.OgRecords}
    calls: list[str] = []
    job = reg.make_job({"note": "hi"}, None, None, lambda: calls.append("alive"), jobType="og_wastes_time")
    assert isinstance(job, original_jobs.OgWastesTime) and job.note == "hi"
    job.keep_alive()
    assert calls == ["alive"], "the keepalive the job was built with is called"
    assert reg.make_job({"note": "x"}, jobType="no_such_type") is None, "an unknown type is None, as in the original"
    with pytest.raises(zeroG.InvalidJobValues):
        reg.make_job({"note": 5}, jobType="og_wastes_time")
    job.enqueue()
    got = reg.get_job(job.uuid)
    assert isinstance(got, original_jobs.OgWastesTime)
    assert (got.uuid, got.note, got.cas) == (job.uuid, "hi", job.cas)
    assert got.dump()["cas"] == job.cas, "dump() has the cas, as the original's did"
    got.update_attrs(note="changed")  # saves with that cas: nobody else wrote since
    assert reg.get_job(job.uuid).note == "changed"  # type: ignore[union-attr]
    assert reg.get_job("00000000-0000-4000-8000-000000000000") is None


def test_the_original_constructor_arguments_survive_a_reload(db_url: str) -> None:
    calls: list[int] = []
    job = original_jobs.OgWastesTime(None, None, lambda: calls.append(1), note="n")
    job.save()
    job.reload()
    job.keep_alive()
    assert calls == [1] and job.note == "n"
    with pytest.raises(TypeError, match="at most 3 positional"):
        original_jobs.OgWastesTime(1, 2, 3, 4)


def test_make_base_job_takes_the_geyser_keyword(db_url: str) -> None:
    job = make_base_job(values={"note": "k"}, jobType="og_wastes_time")
    assert isinstance(job, original_jobs.OgWastesTime) and job.note == "k"


def test_find_subclasses_and_import_submodules() -> None:
    found = zeroG.find_subclasses(original_jobs.OgBase)
    assert set(found) >= {original_jobs.OgRecords, original_jobs.OgExit, original_jobs.OgWarnFinish}
    assert len(found) == len(set(found))
    modules = zeroG.import_submodules("json")
    assert {"json.decoder", "json.encoder", "json.scanner"} <= set(modules)
    assert modules["json.decoder"].JSONDecodeError is __import__("json").JSONDecodeError


def test_log_entries_read_as_the_original_objects_and_store_as_dicts(db_url: str) -> None:
    job = make_base_job({}, "og_records")
    job.save()
    job.record_event("first")
    job.record_error(409, "a conflict")
    job.update_attrs(note="saved with the entries in it")
    for fresh in (job, zeroG.get_base_job(job.uuid)):
        assert fresh is not None
        event, error = fresh.events[0], fresh.errors[0]
        assert (event.msg, error.msg, error.errorCode) == ("first", "a conflict", 409)
        assert isinstance(event.timeStamp, datetime) and event.timeStamp.tzinfo is None
        assert abs((datetime.now(UTC).replace(tzinfo=None) - event.timeStamp).total_seconds()) < 60
        assert event.dump() == {"timeStamp": event["timeStamp"], "msg": "first"}
        assert isinstance(event["timeStamp"], str), "the stored text, as ever"
        with pytest.raises(AttributeError):
            _ = event.errorCode
    stored = _zerog.Store.open(db_url).get(make_key(job.uuid))
    assert stored is not None and [e["msg"] for e in stored[0]["events"]] == ["first"]
    assert json.loads(json.dumps(job.info()))["errors"][0]["errorCode"] == 409


def test_tick_gathers_small_steps_into_completeness_and_documents_carry_the_originals_fields(
    db_url: str,
) -> None:
    job = make_base_job({}, "og_records")
    job.save()
    d = doc(job.uuid)
    assert (d["logId"], d["tickcount"], d["tickval"]) == (f"og_records_{job.uuid}", 0.0, 0.001)
    job.set_tick_value(0.004)
    assert doc(job.uuid)["tickval"] == 0.004
    job.tick()
    job.tick()
    assert doc(job.uuid)["completeness"] == 0.0, "under 0.01 gathered: nothing written yet"
    job.tick()
    assert abs(doc(job.uuid)["completeness"] - 0.012) < 1e-9
    assert job.tickcount == 0.0


def test_record_change_applies_a_change_again_over_another_writers(db_url: str) -> None:
    job = make_base_job({"note": "a"}, "og_records")
    job.save()
    other = zeroG.get_base_job(job.uuid)
    assert other is not None
    other.record_warning("written elsewhere")  # after `job` read it

    def add_note(suffix: str) -> None:
        job.note = f"{job.note}{suffix}"  # type: ignore[attr-defined]

    assert job.record_change(add_note, "b") is True
    d = doc(job.uuid)
    assert d["note"] == "ab" and msgs(d, "warnings") == ["written elsewhere"]


def test_the_originals_top_level_names_are_there() -> None:
    """Its README and docs/example.rst import them from the package itself."""
    from zeroG import handlers, workers

    for name in ("BaseHandler", "DumpHandler", "GetDataHandler", "InfoHandler", "ProgressHandler", "RunJobHandler"):
        assert getattr(zeroG, name) is getattr(handlers, name)
    assert (zeroG.JOB_TYPE_PATT, zeroG.UUID_PATT) == ("(?P<jobtype>[^/]+)", "(?P<uuid>[^/]+)")
    assert zeroG.BaseWorker is workers.BaseWorker


def test_a_geyser_era_worker_takes_its_tubes_jobs(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """geyser's `workers.BaseWorker(queueName)`, after adding the job module to JOB_MODULES."""
    from zeroG import registry, workers

    monkeypatch.setattr(registry, "JOB_MODULES", ["original_jobs"])
    with pytest.raises(ValueError, match="no registered job class has QUEUE_NAME 'og_nobody'"):
        workers.BaseWorker("og_nobody")
    worker = workers.BaseWorker("og")
    try:
        assert worker.queueName == "og"
        job = make_base_job({}, "og_records")
        job.enqueue()
        d = wait_status(job.uuid, "done")
        assert d["resultCode"] == 200 and d["workerId"].startswith("zerog+$")
    finally:
        worker.stop(timeout=30)


def test_a_geyser_era_job_is_built_directly_with_datetimes_and_keeps_what_it_was_given(db_url: str) -> None:
    """geyser's BaseJob(**params), as its own tests built it: a document with nothing to run."""
    now = datetime.now(UTC).replace(tzinfo=None)
    job = zeroG.BaseJob(documentType="test_document_type", jobType="test_job_type", createdAt=now, cas=1)
    dumped = job.dump()
    assert (dumped["documentType"], dumped["jobType"], dumped["cas"]) == ("test_document_type", "test_job_type", 1)
    # Times act as the datetimes the original's code does arithmetic with, and are stored as text.
    assert job.createdAt == now and job.createdAt.year == now.year
    assert abs((datetime.now(UTC).replace(tzinfo=None) - job.createdAt).total_seconds()) < 60
    assert job.updatedAt >= job.createdAt and job.updatedAt.strftime("%Y") == str(now.year)
    assert isinstance(dumped["createdAt"], str) and json.loads(job.dumps())["createdAt"] == dumped["createdAt"]
    assert job.resultString == ""

    fresh = zeroG.BaseJob()
    assert (fresh.jobType, fresh.logId) == ("zerog_job", f"zerog_job_{fresh.uuid}")


def test_a_class_keeps_its_own_type_and_a_result_string_is_stored(db_url: str) -> None:
    job = make_base_job({"jobType": "og_records"}, "og_records")
    assert job.jobType == "og_records"
    job.save()
    job.record_result(200, "all went well")
    loaded = jobs.get_base_job(job.uuid)
    assert loaded is not None
    assert (loaded.resultCode, loaded.resultString, loaded.completeness) == (200, "all went well", 1.0)
    assert loaded.createdAt == job.createdAt and loaded.createdAt.as_datetime <= datetime.now(UTC).replace(tzinfo=None)


@pytest.mark.parametrize(
    ("result", "running", "status"),
    [
        (-1, False, "queued"),
        (-1, True, "running"),
        (200, False, "done"),
        (500, False, "failed"),
        (410, False, "cancelled"),
    ],
)
def test_a_document_the_original_wrote_reads_with_the_status_its_fields_give(
    db_url: str, result: int, running: bool, status: str
) -> None:
    """It keeps no status; 410 is what its server recorded for a job a user killed."""
    uuid = str(uuids.uuid4())
    made = original_schema.new_document(uuid, "og_records", {"note": "n"})
    _zerog.Store.open(db_url).insert(make_key(uuid), {**made, "resultCode": result, "running": running})
    job = jobs.get_base_job(uuid)
    assert job is not None and (job.status, job.dump()["status"], job.note) == (status, status, "n")
    counts = dict(zeroG.config.get_store().count_by_status())
    assert counts[status] == 1
