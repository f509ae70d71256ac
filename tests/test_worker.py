"""The worker, end to end: real `zerog-worker` processes on a real SQLite file, no mocks.

Each test starts its own supervisor (fresh database), enqueues jobs from `worker_jobs`, and checks
what a user can see: the stored job document and the queue entry.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
import uuid as uuid_module
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import worker_jobs  # noqa: F401 - registers the wk_ job classes in this process too
from processes import WorkerProcess
from waiting import doc, queue_gone, wait_buried, wait_for, wait_status

from zeroG import _zerog
from zeroG.bulk import enqueue_many
from zeroG.jobs import BaseJob, make_base_job, make_key

# Runs on the Couchbase store too when ZEROG_TEST_COUCHBASE names a cluster (conftest.py).
pytestmark = pytest.mark.any_store

TUBE = "wk"
MODULE = ("--module", "worker_jobs")
StartWorker = Callable[..., WorkerProcess]


# -- helpers ------------------------------------------------------------------------------------


def new_job(job_type: str, **values: Any) -> BaseJob:
    return make_base_job(values, job_type)


def enqueue(job_type: str, **values: Any) -> BaseJob:
    job = new_job(job_type, **values)
    job.enqueue()
    return job


def wait_entry_gone(queue: _zerog.Queue, qid: int) -> None:
    """Fails the test unless the finished job's queue entry goes within 10 s. The worker deletes
    it just after writing the outcome (in the same transaction only when store and queue share a
    SQLite file), so a test that saw the outcome may be a moment early."""
    wait_for(lambda: queue_gone(queue, qid), timeout=10)


def wait_ready(w: WorkerProcess, processes: int = 1, timeout: float = 20.0) -> None:
    """Until `processes` worker processes of `w` have started watching their tubes."""

    def ready() -> bool:
        return w.log().count(" watching [") >= processes

    ready.__name__ = f"{processes} worker processes to start"
    wait_for(ready, timeout=timeout)


def runs(path: Path) -> list[tuple[str, int, int, float]]:
    """The lines the jobs appended to `path`: (uuid, pid, attempt, time)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        uuid, pid, attempt, t = line.split()
        out.append((uuid, int(pid), int(attempt), float(t)))
    return out


def worker_pid(d: dict[str, Any]) -> int:
    """The pid of the process that ran the job: the last part of its worker id."""
    parts = _zerog.parse_worker_id(d["workerId"])
    assert parts is not None, d["workerId"]
    return int(parts["pid"])


def error_codes(d: dict[str, Any]) -> list[int]:
    return [e["errorCode"] for e in d["errors"]]


def event_msgs(d: dict[str, Any]) -> list[str]:
    return [e["msg"] for e in d["events"]]


@pytest.fixture
def queue(db_url: str, queue_url: str) -> _zerog.Queue:
    return _zerog.Queue.open(queue_url)


@pytest.fixture
def store(db_url: str) -> _zerog.Store:
    return _zerog.Store.open(db_url)


# -- outcomes -----------------------------------------------------------------------------------


def test_finished_job_is_done_deleted_and_logged(start_worker: StartWorker, queue: _zerog.Queue, tmp_path: Path):
    w = start_worker(*MODULE, "-c", "1")
    job = enqueue("wk_noop", path=str(tmp_path / "runs"))
    d = wait_status(job.uuid, "done")
    assert d["resultCode"] == 200
    assert d["completeness"] == 1.0
    assert d["running"] is False
    assert d["attempts"] == 1
    assert d["errors"] == [] and d["errorCount"] == 0
    assert d["startedAt"] and d["finishedAt"] and d["heartbeatAt"]
    assert worker_pid(d) in w.children()
    assert d["queueJobId"] > 0
    wait_entry_gone(queue, d["queueJobId"])
    assert queue.stats_tube(TUBE)["ready"] == 0
    assert [r[0] for r in runs(tmp_path / "runs")] == [job.uuid]
    # job_log.info went to the document and to the worker's log, tagged with type and uuid.
    assert any("wk_noop ran in" in m for m in event_msgs(d))
    lines = [ln for ln in w.log().splitlines() if "wk_noop ran in" in ln]
    assert lines and job.uuid in lines[0] and "wk_noop" in lines[0].split("wk_noop ran in")[0]


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
def test_async_and_sync_run(start_worker: StartWorker, async_: bool):
    start_worker(*MODULE, "-c", "1")
    job = enqueue("wk_async" if async_ else "wk_noop")
    d = wait_status(job.uuid, "done", "failed")
    assert (d["status"], d["resultCode"], d["errors"]) == ("done", 200, [])
    if async_:
        assert d["note"] == "async ran"


def test_return_forms(start_worker: StartWorker, queue: _zerog.Queue, tmp_path: Path):
    start_worker(*MODULE, "-c", "1")
    path = tmp_path / "runs"
    expected = {"none": 200, "dict": 200, "bad": 200, "220": 220, "true_past": 200, "minus1": 200}
    jobs = {ret: enqueue("wk_return", ret=ret, path=str(path)) for ret in expected}
    for ret, job in jobs.items():
        d = wait_status(job.uuid, "done", "failed")
        assert (ret, d["status"], d["resultCode"], d["completeness"]) == (ret, "done", expected[ret], 1.0)
        assert d["errors"] == []
        wait_entry_gone(queue, d["queueJobId"])
    # (-1, 1): ran again, no sooner than 1 s later; the others ran once.
    starts = [r for r in runs(path) if r[0] == jobs["minus1"].uuid]
    assert [r[2] for r in starts] == [1, 2]
    assert starts[1][3] - starts[0][3] >= 0.95
    for ret, job in jobs.items():
        if ret != "minus1":
            assert doc(job.uuid)["attempts"] == 1


def test_requeue_resumes_after_resume_at_and_keeps_checkpoints(start_worker: StartWorker, tmp_path: Path):
    start_worker(*MODULE, "-c", "1")
    job = enqueue("wk_steps", steps=3, interval=1.0, path=str(tmp_path / "runs"))

    def waiting_after_first_step() -> bool:
        d = doc(job.uuid)
        return d["status"] == "waiting" and d["step"] == 1

    wait_for(waiting_after_first_step, timeout=15)
    d = doc(job.uuid)
    assert d["resultCode"] == -1 and d["running"] is False
    assert d["completeness"] == pytest.approx(1 / 3)
    d = wait_status(job.uuid, "done", "failed", timeout=20)
    assert (d["status"], d["resultCode"], d["completeness"]) == ("done", 200, 1.0)
    # Every step saved with update_attrs survived the requeue.
    assert d["step"] == 3
    assert d["attempts"] == 3
    assert len(d["starts"]) == 3 and len(d["resume_ats"]) == 2
    for resume_at, started in zip(d["resume_ats"], d["starts"][1:], strict=True):
        assert started >= resume_at - 0.01, "ran before its resume_at"
    assert d["errors"] == []


def test_wferror_continue_retries_with_backoff_then_buries_and_kick_reruns(
    start_worker: StartWorker, queue: _zerog.Queue, tmp_path: Path
):
    start_worker(*MODULE, "-c", "1")
    path, flag = tmp_path / "runs", tmp_path / "flag"
    job = enqueue("wk_continue", code=503, path=str(path), flag=str(flag))
    d = wait_status(job.uuid, "failed", timeout=20)
    # MAX_RETRIES = 2: three runs in all (attempts), two of them again after a failure (retries),
    # as the event says; RETRY_DELAY = 1 then doubled. A failed job is not complete.
    assert d["resultCode"] == 503 and d["completeness"] == 0.0
    assert d["attempts"] == 3 and d["retries"] == 2
    assert error_codes(d) == [503, 503, 503] and d["errorCount"] == 3
    assert all("not yet" in e["msg"] for e in d["errors"])
    assert d["buried"] is True and d["running"] is False
    assert any("failed after 2 retries" in m for m in event_msgs(d))
    # Each retry's event in the original zeroG's words, which its tools look for.
    assert [m for m in event_msgs(d) if "restarting" in m] == ["Error - restarting"] * 2
    times = [r[3] for r in runs(path)]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.95
    assert times[2] - times[1] >= 1.95
    qid = d["queueJobId"]
    stats = wait_buried(queue, qid)
    assert stats["buries"] == 1 and stats["releases"] == 2
    assert queue.stats_tube(TUBE)["buried"] == 1
    assert queue.peek_buried(TUBE) == (qid, json.dumps(job.uuid).encode())

    # An operator fixes the cause and kicks it: it runs again with a fresh budget and succeeds.
    flag.touch()
    assert queue.kick(TUBE, 10) == 1
    d = wait_status(job.uuid, "done", timeout=20)
    assert d["resultCode"] == 200 and d["attempts"] == 4 and d["buried"] is False
    assert any("Kicked" in m for m in event_msgs(d))
    wait_entry_gone(queue, qid)


def test_exception_and_error_continue_are_recorded_then_failed(
    start_worker: StartWorker, queue: _zerog.Queue, tmp_path: Path
):
    w = start_worker(*MODULE, "-c", "1")
    crash = enqueue("wk_crash")
    logged = enqueue("wk_log_continue", code=502)
    d = wait_status(crash.uuid, "failed", timeout=20)
    # MAX_RETRIES = 1: two runs, each an error 500 with the traceback.
    assert d["resultCode"] == 500 and d["attempts"] == 2
    assert error_codes(d) == [500, 500]
    for e in d["errors"]:
        assert "Traceback" in e["msg"] and "ValueError: wk_crash exploded" in e["msg"]
    wait_buried(queue, d["queueJobId"])

    d = wait_status(logged.uuid, "failed", timeout=20)
    # job_log.error_continue records the error itself: once per run, not twice.
    assert d["resultCode"] == 502 and d["attempts"] == 2
    assert error_codes(d) == [502, 502]
    assert all(e["msg"] == "upstream said no" for e in d["errors"])
    wait_buried(queue, d["queueJobId"])
    assert queue.stats_tube(TUBE)["buried"] == 2
    # The worker's log names the failing job and its type.
    assert any(crash.uuid in ln and "wk_crash" in ln for ln in w.log().splitlines())


def test_wferror_finish_is_final_and_not_retried(start_worker: StartWorker, queue: _zerog.Queue):
    start_worker(*MODULE, "-c", "1")
    raised = enqueue("wk_finish", code=418)
    logged = enqueue("wk_finish", code=409, ret="log")
    for job, code in ((raised, 418), (logged, 409)):
        d = wait_status(job.uuid, "failed", "done", timeout=20)
        assert (d["status"], d["resultCode"], d["completeness"]) == ("failed", code, 0.0)
        assert d["attempts"] == 1 and d["retries"] == 0
        assert error_codes(d) == [code], "recorded exactly once"
        assert d["buried"] is False
        wait_entry_gone(queue, d["queueJobId"])
    time.sleep(0.5)
    assert doc(raised.uuid)["attempts"] == 1
    counts = {k: v for k, v in queue.stats_tube(TUBE).items() if k != "watching"}
    assert counts == {"name": TUBE, "ready": 0, "reserved": 0, "delayed": 0, "buried": 0}


# -- bad entries --------------------------------------------------------------------------------


@pytest.mark.sqlite_store  # it corrupts a document with SQL
def test_bad_queue_entries_are_released_then_buried_and_worker_survives(
    start_worker: StartWorker, queue: _zerog.Queue, db_url: str
):
    w = start_worker(*MODULE, "-c", "1", "--load-retry-delay", "1")
    wait_ready(w)
    child = w.children()
    # A body naming a document that does not exist.
    missing_uuid = str(uuid_module.uuid4())
    t0 = time.monotonic()
    missing = queue.put(TUBE, json.dumps(missing_uuid).encode())
    # A document that is not JSON any more.
    corrupt_job = new_job("wk_noop")
    corrupt_job.save()
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE zerog_docs SET value='{{not json' WHERE key=?", (make_key(corrupt_job.uuid),))
    corrupt = queue.put(TUBE, json.dumps(corrupt_job.uuid).encode())
    # A body that is not a JSON uuid at all.
    garbage = queue.put(TUBE, b"garbage")
    not_a_string = queue.put(TUBE, b"[1, 2]")
    # A normal job queued behind them still runs.
    ok = enqueue("wk_noop")
    assert wait_status(ok.uuid, "done")["resultCode"] == 200

    for qid in (garbage, not_a_string):
        s = wait_buried(queue, qid, timeout=10)
        assert (s["reserves"], s["releases"], s["buries"]) == (1, 0, 1)
    for qid in (missing, corrupt):
        s = wait_buried(queue, qid, timeout=20)
        # Released with a delay twice, buried on the third failure to load.
        assert (s["reserves"], s["releases"], s["buries"]) == (3, 2, 1)
    assert time.monotonic() - t0 >= 1.9, "released without the load-retry delay"
    assert queue.stats_tube(TUBE)["buried"] == 4

    log = w.log()
    assert f"job {missing_uuid}: document zerog_job_{missing_uuid} does not exist" in log
    assert corrupt_job.uuid in log and "burying queue entry" in log
    assert "queue body is not JSON" in log and "queue body is not a JSON string uuid" in log
    # The worker never crashed: same process, and it still runs jobs.
    assert w.children() == child and "died" not in log
    again = enqueue("wk_noop")
    assert wait_status(again.uuid, "done")["workerId"] == doc(ok.uuid)["workerId"]


def test_unbuildable_documents_are_recorded_retried_and_buried(
    start_worker: StartWorker, queue: _zerog.Queue, store: _zerog.Store
):
    w = start_worker(*MODULE, "-c", "1", "--load-retry-delay", "0")
    wait_ready(w)

    def put_altered(job_type: str, **changes: Any) -> tuple[str, int]:
        job = new_job(job_type)
        job.save()
        d, cas = store.get(job.key())
        d.update(changes)
        store.replace(job.key(), d, cas)
        return job.uuid, queue.put(TUBE, json.dumps(job.uuid).encode())

    unknown, unknown_qid = put_altered("wk_noop", jobType="wk_no_such_type")
    invalid, invalid_qid = put_altered("wk_strict", seconds="not a number", steps=[1])
    ok = enqueue("wk_noop")
    assert wait_status(ok.uuid, "done")["resultCode"] == 200

    def stored(uuid: str) -> dict[str, Any]:
        return store.get(make_key(uuid))[0]  # get_base_job cannot build these either

    for uuid, qid, why, retries in (
        (invalid, invalid_qid, ("seconds", "steps"), 1),  # wk_strict: MAX_RETRIES = 1
        (unknown, unknown_qid, ("unknown job type 'wk_no_such_type'",), 3),  # the default budget
    ):
        wait_for(lambda uuid=uuid: stored(uuid)["status"] == "failed", timeout=30)
        d = stored(uuid)
        assert d["resultCode"] == 500 and d["buried"] is True and d["running"] is False
        assert len(d["errors"]) == retries + 1 and d["attempts"] == retries + 1
        for e in d["errors"]:
            assert e["errorCode"] == 500 and "cannot build the job" in e["msg"]
            for word in why:
                assert word in e["msg"]
        wait_buried(queue, qid)
    assert w.children() and "died" not in w.log()


# -- several workers ----------------------------------------------------------------------------


def test_many_workers_run_every_job_exactly_once(start_worker: StartWorker, tmp_path: Path):
    path = tmp_path / "runs"
    w1 = start_worker(*MODULE, "-c", "2")
    w2 = start_worker(*MODULE, "-c", "2")
    wait_ready(w1, 2)
    wait_ready(w2, 2)
    jobs = [new_job("wk_sleep", seconds=0.005, path=str(path)) for _ in range(200)]
    enqueue_many(jobs)
    wait_for(lambda: len(runs(path)) >= 200, timeout=60)
    time.sleep(1)  # a second run, if there were one, would show up here
    seen = runs(path)
    uuids = [r[0] for r in seen]
    assert len(uuids) == len(set(uuids)) == 200, "a job ran twice"
    assert set(uuids) == {j.uuid for j in jobs}, "a job was lost"
    for job in jobs:
        d = wait_status(job.uuid, "done", "failed", timeout=10)
        assert (d["status"], d["attempts"], d["errors"]) == ("done", 1, [])
    pids = {r[1] for r in seen}
    assert len(pids) >= 2, "only one worker process took jobs"
    assert pids <= set(w1.children()) | set(w2.children())


def test_sigkilled_worker_loses_the_lease_and_job_runs_elsewhere_after_ttr(
    start_worker: StartWorker, tmp_path: Path, queue_backend: str
):
    w = start_worker(*MODULE, "-c", "2")
    wait_ready(w, 2)
    path, flag = tmp_path / "runs", tmp_path / "flag"
    job = enqueue("wk_sleep", seconds=60, path=str(path), flag=str(flag))  # TTR = 2
    d = wait_status(job.uuid, "running")
    wait_for(lambda: runs(path), timeout=10)
    victim = worker_pid(d)
    assert victim in w.children()
    os.kill(victim, signal.SIGKILL)
    killed_at = time.time()
    flag.touch()  # the next run is short
    d = wait_status(job.uuid, "done", "failed", timeout=20)
    assert (d["status"], d["resultCode"]) == ("done", 200)
    assert d["attempts"] == 2
    assert worker_pid(d) != victim
    assert error_codes(d) == [500] and "interrupted" in d["errors"][0]["msg"]
    assert any("Interrupted" in m for m in event_msgs(d))
    r = runs(path)
    assert [x[1] for x in r][0] == victim and r[1][1] != victim
    if queue_backend == "embedded":
        # It came back only once the lease ran out (TTR 2 s from the last renewal, every ~0.7 s).
        assert r[1][3] - killed_at >= 1.0
    else:
        # beanstalkd saw the dead worker's connection close and put the job back at once.
        assert r[1][3] - killed_at < 2.0
    wait_for(lambda: "it was killed (SIGKILL)" in w.log(), timeout=5)


def test_job_longer_than_ttr_is_not_handed_to_a_second_worker(start_worker: StartWorker, tmp_path: Path):
    w = start_worker(*MODULE, "-c", "2")
    wait_ready(w, 2)
    path = tmp_path / "runs"
    job = new_job("wk_sleep", seconds=3.5, path=str(path))
    job.enqueue(ttr=1)
    d = wait_status(job.uuid, "done", "failed", timeout=20)
    assert (d["status"], d["attempts"], d["errors"]) == ("done", 1, [])
    assert len(runs(path)) == 1


# -- stopping -----------------------------------------------------------------------------------


def test_sigterm_drains_the_running_job_and_takes_no_new_one(
    start_worker: StartWorker, queue: _zerog.Queue, tmp_path: Path
):
    w = start_worker(*MODULE, "-c", "1")
    running = enqueue("wk_sleep", seconds=3, path=str(tmp_path / "runs"))
    wait_status(running.uuid, "running")
    waiting = enqueue("wk_noop")
    assert w.stop(timeout=30) == 0
    d = doc(running.uuid)
    assert (d["status"], d["resultCode"], d["attempts"]) == ("done", 200, 1)
    d = doc(waiting.uuid)
    assert (d["status"], d["attempts"]) == ("queued", 0)
    assert queue.stats_job(waiting.queueJobId)["state"] == "ready"
    log = w.log()
    assert "SIGTERM received" in log and "stopped (exit 0)" in log


def test_grace_period_hands_the_job_back_and_nothing_is_lost(
    start_worker: StartWorker, queue: _zerog.Queue, tmp_path: Path
):
    w = start_worker(*MODULE, "-c", "1", "--grace", "1")
    flag = tmp_path / "flag"
    job = enqueue("wk_sleep", seconds=30, flag=str(flag), path=str(tmp_path / "runs"))
    wait_status(job.uuid, "running")
    t0 = time.monotonic()
    assert w.stop(timeout=30) == 0
    assert time.monotonic() - t0 < 10
    d = doc(job.uuid)
    assert d["status"] == "queued" and d["running"] is False and d["resultCode"] == -1
    assert any("released back to the queue" in m for m in event_msgs(d))
    assert d["errors"] == []
    assert queue.stats_job(d["queueJobId"])["state"] == "ready"
    assert f"exit {_zerog.EXIT_GRACE_EXPIRED}" in w.log()

    flag.touch()
    start_worker(*MODULE, "-c", "1")
    d = wait_status(job.uuid, "done", "failed", timeout=20)
    assert (d["status"], d["resultCode"], d["attempts"], d["errors"]) == ("done", 200, 2, [])
    assert len(runs(tmp_path / "runs")) == 2


def test_max_runtime_fails_the_attempt_and_the_process_is_replaced(start_worker: StartWorker, queue: _zerog.Queue):
    w = start_worker(*MODULE, "-c", "1")
    job = enqueue("wk_hang")  # MAX_RUNTIME 1 s, MAX_RETRIES 1
    d = wait_status(job.uuid, "failed", timeout=40)
    assert d["resultCode"] == 504 and d["attempts"] == 2 and d["running"] is False
    assert error_codes(d) == [504, 504]
    assert all("MAX_RUNTIME" in e["msg"] for e in d["errors"])
    assert d["buried"] is True
    wait_buried(queue, d["queueJobId"])
    wait_for(lambda: w.log().count("a job exceeded its MAX_RUNTIME") >= 2, timeout=10)
    assert "starting another" in w.log()
    # The replacement process runs jobs.
    ok = enqueue("wk_noop")
    assert wait_status(ok.uuid, "done", timeout=20)["resultCode"] == 200


def test_max_jobs_per_child_recycles_processes(start_worker: StartWorker, tmp_path: Path):
    w = start_worker(*MODULE, "-c", "1", "--max-jobs-per-child", "2")
    path = tmp_path / "runs"
    jobs = [enqueue("wk_noop", path=str(path)) for _ in range(6)]
    docs = [wait_status(j.uuid, "done", "failed", timeout=30) for j in jobs]
    assert all((d["status"], d["attempts"]) == ("done", 1) for d in docs)
    pids = [worker_pid(d) for d in docs]
    assert len(set(pids)) >= 3
    assert all(pids.count(p) <= 2 for p in pids)
    assert "finished its jobs; starting another" in w.log()


def test_supervisor_replaces_a_killed_idle_child(start_worker: StartWorker):
    w = start_worker(*MODULE, "-c", "1")
    wait_ready(w)
    (old,) = w.children()
    os.kill(old, signal.SIGKILL)
    new = wait_for(lambda: [p for p in w.children() if p != old], timeout=20)
    assert "it was killed (SIGKILL)" in w.log()
    job = enqueue("wk_noop")
    d = wait_status(job.uuid, "done", timeout=20)
    assert worker_pid(d) in new


def test_job_that_kills_its_worker_every_time_fails_within_its_budget(
    start_worker: StartWorker, queue: _zerog.Queue, tmp_path: Path
):
    w = start_worker(*MODULE, "-c", "2")
    path = tmp_path / "runs"
    job = enqueue("wk_suicide", path=str(path))  # TTR 1 s, MAX_RETRIES 1
    d = wait_status(job.uuid, "failed", timeout=30)
    assert d["resultCode"] == 500 and d["buried"] is True and d["running"] is False
    assert len(runs(path)) == 2, "ran once plus one retry"
    assert error_codes(d) == [500, 500]
    assert all("interrupted" in e["msg"] for e in d["errors"])
    wait_buried(queue, d["queueJobId"])
    # The supervisor replaced both killed processes and still runs jobs.
    assert w.log().count("it was killed (SIGKILL)") >= 2
    ok = enqueue("wk_noop")
    assert wait_status(ok.uuid, "done", timeout=20)["resultCode"] == 200


def test_worker_processes_stop_when_their_supervisor_dies(start_worker: StartWorker):
    w = start_worker(*MODULE, "-c", "2")
    wait_ready(w)  # one process is ready; the other may still be starting: both must stop
    children = w.children()
    assert len(children) == 2
    w.proc.kill()  # SIGKILL: the supervisor cannot tell its children anything
    w.proc.wait()

    def all_gone() -> bool:
        alive = []
        for pid in children:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except FileNotFoundError:
                continue
            if "State:\tZ" not in status:  # a zombie has exited; nobody reaped it yet
                alive.append(pid)
        return not alive

    wait_for(all_gone, timeout=10)
    assert "is gone; this worker process stops" in w.log()


@pytest.mark.embedded_queue  # the queue lives in the file that is deleted
@pytest.mark.sqlite_store
def test_a_worker_whose_database_file_is_deleted_says_so(start_worker: StartWorker, db_url: str) -> None:
    w = start_worker(*MODULE, "-c", "1")
    wait_ready(w)
    path = Path(db_url.removeprefix("sqlite:///"))
    for f in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        f.unlink(missing_ok=True)
    wait_for(lambda: "was deleted while this process had it open" in w.log(), timeout=15)
    assert str(path) in w.log()
