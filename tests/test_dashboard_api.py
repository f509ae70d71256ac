"""The JSON routes the dashboard calls, over real HTTP: `/overview`, `/run-again/{uuid}`, and
`/queues/{tube}/kick` and `/peek`, with their refusals."""

from __future__ import annotations

from collections.abc import Callable

import worker_jobs  # noqa: F401  (registers the wk_ job classes in this process)
from processes import WorkerProcess
from server_helpers import Api
from waiting import wait_for, wait_status

from zeroG import config
from zeroG.jobs import make_base_job

StartWorker = Callable[..., WorkerProcess]
UNKNOWN = "0b3c9d2e-1111-4222-8333-944455556666"


def test_the_overview_counts_jobs_tubes_and_finished_runs(
    db_url: str, serve: Callable[..., Api], start_worker: StartWorker
) -> None:
    api = serve("--module", "worker_jobs")
    before = api.get("/overview").json
    assert set(before) == {"jobs", "queues", "perMinute", "runTimes"}
    assert len(before["perMinute"]) == 60 and before["perMinute"][-1]["minute"] > before["perMinute"][0]["minute"]
    start_worker("--module", "worker_jobs", "-c", "1", "--host-name", "host-o")
    jobs = [make_base_job({}, "wk_noop") for _ in range(3)]
    for job in jobs:
        job.enqueue()
    for job in jobs:
        wait_status(job.uuid, "done", timeout=30)
    make_base_job({"seconds": 60}, "wk_sleep").enqueue()  # one left queued or running
    # Finished runs are counted once they are 5 s old (metrics_settle): a job is stamped
    # finished a moment before its document is written. Summed over the hour: the three may
    # fall on both sides of a minute's end, or the minute may end while they settle.
    after = wait_for(
        lambda: (o := api.get("/overview").json) and sum(m.get("done", 0) for m in o["perMinute"]) >= 3 and o,
        timeout=30,
    )
    assert after["jobs"]["done"] == before["jobs"]["done"] + 3  # type: ignore[index]
    assert sum(after["runTimes"]["runs"]) == 3 and after["runTimes"]["bounds"][-1] is None  # type: ignore[index]
    # Job tubes only: the worker's control tube is on the workers page.
    assert "wk" in after["queues"] and not any(t.startswith("zerog+$") for t in after["queues"])  # type: ignore[index]


def test_run_again_queues_a_failed_job_once_and_refuses_the_rest(
    db_url: str, serve: Callable[..., Api], start_worker: StartWorker
) -> None:
    api = serve("--module", "worker_jobs")
    worker = start_worker("--module", "worker_jobs", "-c", "1")
    job = make_base_job({"code": 500}, "wk_finish")
    job.enqueue()
    wait_status(job.uuid, "failed", timeout=30)
    worker.stop(timeout=15)  # so the job waits, queued, while it is asked about
    assert api.post(f"/run-again/{UNKNOWN}").status == 404
    assert api.post("/run-again/not-a-uuid").status == 404
    again = api.post(f"/run-again/{job.uuid}")
    assert again.status == 200 and again.json["uuid"] == job.uuid
    refused = api.post(f"/run-again/{job.uuid}")
    assert refused.status == 409 and "only a failed or cancelled job" in refused.json["error"]
    doc = config.get_store().get(f"zerog_job_{job.uuid}")[0]  # type: ignore[index]
    assert (doc["status"], doc["queueJobId"], doc["resultCode"]) == ("queued", again.json["queueJobId"], -1)
    start_worker("--module", "worker_jobs", "-c", "1")
    ran = wait_status(job.uuid, "failed", timeout=30)
    assert ran["attempts"] == 2 and any(e["msg"].startswith("Run again by an operator") for e in ran["events"])


def test_kick_and_peek_name_what_is_wrong(db_url: str, serve: Callable[..., Api]) -> None:
    api = serve()
    queue = config.get_queue()
    queue.put("raw", b"first")
    qid, _, _ = queue.reserve(["raw"], 1.0)  # type: ignore[misc]
    queue.bury(qid)
    assert api.get("/queues/raw/peek?state=buried").json["body"] == "first"
    assert api.get("/queues/raw/peek").status == 404, "nothing ready"
    assert api.get("/queues/raw/peek?state=gone").status == 400
    assert api.post("/queues/raw/kick?n=0").status == 400
    assert api.post("/queues/nope/kick").status == 404
    assert api.post("/queues/bad%20name!/kick").status == 400
    kicked = api.post("/queues/raw/kick?n=5")
    assert kicked.json == {"tube": "raw", "kicked": 1}
    assert api.get("/queues/raw/peek").json["id"] == qid
