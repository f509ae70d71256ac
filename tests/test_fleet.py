"""Running a fleet: real `zerog-worker` processes on two simulated hosts (`--host-name`), steered
through `zeroG.mgmt.WorkerManager` and the `zerog` fleet commands, on the embedded queue and on
a real beanstalkd; and the original zeroG's message bytes, sent and read with a plain socket."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import worker_jobs  # noqa: F401 - registers the wk_ job classes in this process too
from processes import WorkerProcess, zerog
from server_helpers import Api, AppThread
from waiting import wait_for, wait_status

import zeroG
from zeroG import config
from zeroG.jobs import make_base_job
from zeroG.mgmt import WorkerManager, make_msg, make_msg_from_json, make_worker_id, parse_worker_id

StartWorker = Callable[..., WorkerProcess]


def start_on(start_worker: StartWorker, host: str, *more: str) -> WorkerProcess:
    return start_worker("--module", "worker_jobs", "-c", "1", "--host-name", host, *more)


def sleeper(tmp_path: Path, name: str, seconds: float = 60) -> tuple[Any, Path]:
    """A job that runs until its flag file exists (or `seconds` pass)."""
    flag = tmp_path / f"{name}.flag"
    job = make_base_job({"seconds": seconds, "flag": str(flag)}, "wk_sleep")
    job.enqueue()
    return job, flag


def refreshed(manager: WorkerManager, n: int) -> dict[str, dict[str, Any]]:
    """The workers once `n` of them answer."""
    return wait_for(lambda: len(w := manager.refresh(1.0)) == n and w, timeout=30)  # type: ignore[return-value]


def test_a_worker_id_is_the_originals() -> None:
    worker_id = make_worker_id("zerog", "localhost", "Frank", 55)
    assert worker_id == "zerog+$localhost+$Frank+$55"
    assert parse_worker_id(worker_id) == {"workerType": "zerog", "host": "localhost", "serviceName": "Frank", "pid": 55}
    assert parse_worker_id("updates") is None and parse_worker_id("a+$b+$c+$notapid") is None


def test_messages_are_made_checked_and_read_back() -> None:
    info = make_msg("info", workerId="whatever", state="draining")
    assert (info.msgtype, info.workerId, info.state, info.uuid, info.mem, info.retiring) == (
        "info",
        "whatever",
        "draining",
        "",
        {},
        False,
    )
    assert make_msg_from_json(info.dumps()) == info
    assert info.dumps().startswith('{"msgtype": "info", "timestamp": "')
    for bad, why in [
        (lambda: make_msg("explode"), "unknown msgtype"),
        (lambda: make_msg("killJob"), "needs uuid"),
        (lambda: make_msg("drain", uuid="x"), "has no field"),
        (lambda: make_msg_from_json(b"[1]"), "not a JSON object"),
    ]:
        with pytest.raises(ValueError, match=why):
            bad()


def test_drain_a_host_while_a_job_runs_then_undrain(db_url: str, start_worker: StartWorker, tmp_path: Path) -> None:
    a = start_on(start_worker, "host-a")
    b = start_on(start_worker, "host-b")
    manager = WorkerManager(queue_url=config.queue_url())
    workers = refreshed(manager, 2)
    assert sorted(manager.workers_by_host()) == ["host-a", "host-b"]
    assert all(
        w["state"] == "activeIdle" and w["mem"]["available"] > 0 and w["mem"]["used"] > 0 for w in workers.values()
    )
    # Only host-b's worker stays active while host-a drains: stop it taking this job first.
    manager.drain_host("host-b")
    wait_for(lambda: manager.refresh(1.0) and manager.states_by_host().get("host-b") == ["drainingIdle"])
    running, flag = sleeper(tmp_path, "first")
    wait_status(running.uuid, "running", timeout=30)
    manager.refresh(1.0)
    assert manager.job_count_by_host() == {"host-a": 1, "host-b": 0}
    assert not manager.host_is_drained("host-a") and manager.host_is_drained("host-b")
    manager.drain_host("host-a")
    wait_for(lambda: manager.refresh(1.0) and manager.states_by_host().get("host-a") == ["drainingRunning"])
    later, later_flag = sleeper(tmp_path, "later", seconds=0.1)
    flag.touch()
    wait_status(running.uuid, "done", timeout=30)
    assert wait_for(lambda: manager.refresh(1.0) and manager.host_is_drained("host-a"))
    time.sleep(1.5)
    unrun = config.get_store().get(f"zerog_job_{later.uuid}")[0]
    assert (unrun["status"], unrun["attempts"]) == ("queued", 0), "a drained host takes no job"
    # The processes stayed up, drained.
    assert a.proc.poll() is None and b.proc.poll() is None and len(a.children()) == 1
    manager.un_drain_host("host-a")
    wait_status(later.uuid, "done", timeout=30)
    assert wait_for(lambda: manager.refresh(1.0) and manager.states_by_host()["host-a"] == ["activeIdle"])


def test_retire_stops_the_worker_after_its_job_and_it_is_not_replaced(
    db_url: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    w = start_on(start_worker, "host-r")
    manager = WorkerManager(queue_url=config.queue_url())
    (worker_id,) = refreshed(manager, 1)
    job, flag = sleeper(tmp_path, "retire")
    wait_status(job.uuid, "running", timeout=30)
    done = zerog("retire", "--host", "host-r")
    assert done.returncode == 0 and "retire: sent to 1 worker" in done.stdout, done.stderr
    # Undrain does not undo a retirement.
    manager.un_drain_workers([worker_id])
    workers = wait_for(lambda: (ws := manager.refresh(1.0)) and ws[worker_id]["retiring"] and ws)
    assert workers[worker_id]["state"] == "drainingRunning"
    flag.touch()
    wait_status(job.uuid, "done", timeout=30)
    assert w.proc.wait(timeout=30) == 0, "the supervisor exits once its last worker retired"
    log = w.log()
    assert "retired; not replaced" in log and "starting another" not in log, log
    assert wait_for(lambda: worker_id not in manager.known_workers())


def test_kill_job_ends_it_killed_by_user(db_url: str, start_worker: StartWorker, tmp_path: Path) -> None:
    start_on(start_worker, "host-k")
    job, _ = sleeper(tmp_path, "kill")
    wait_status(job.uuid, "running", timeout=30)
    assert zerog("kill-job", "0b3c9d2e-1111-4222-8333-944455556666").returncode == 1
    killed = zerog("kill-job", job.uuid)
    assert killed.returncode == 0, killed.stderr
    d = wait_status(job.uuid, "cancelled", timeout=30)
    assert d["resultCode"] == 410
    assert d["errors"][0]["msg"] == "Killed by user" and d["errors"][0]["errorCode"] == 410


def test_zerog_workers_and_bad_targets(db_url: str, start_worker: StartWorker) -> None:
    start_on(start_worker, "host-t")
    row = r"zerog\+\$host-t\+\$worker\+\$\d+ +host-t +{state} +(\d+)s +- +\d+ +\d+$"

    def in_state(state: str) -> int | None:
        listed = zerog("workers")
        lines = listed.stdout.splitlines()
        if listed.returncode != 0 or len(lines) < 2:
            return None
        assert re.split(r"  +", lines[0]) == ["worker", "host", "state", "in state", "job", "used MiB", "available MiB"]
        found = re.match(row.format(state=state), lines[1])
        return int(found[1]) if found else None

    # Time in state counts up while the worker stays idle, and starts again when it is drained.
    assert wait_for(lambda: (s := in_state("activeIdle")) is not None and s >= 3)
    as_json = json.loads(zerog("workers", "--json").stdout.splitlines()[0])
    assert as_json["host"] == "host-t" and as_json["state"] == "activeIdle"
    for args, why in [
        (("drain", "--host", "no-such-host"), "no live worker on host 'no-such-host'"),
        (("drain", "zerog+$nowhere+$worker+$1"), "no live worker zerog+$nowhere+$worker+$1"),
        (("undrain",), "name a --host or worker ids"),
    ]:
        done = zerog(*args)
        assert done.returncode == 1 and why in done.stderr, (args, done.stderr)
    drained = zerog("drain", "--host", "host-t", "--wait", "20")
    assert drained.returncode == 0 and "drain: done" in drained.stdout, drained.stdout + drained.stderr
    drained_for = in_state("drainingIdle")
    assert drained_for is not None and drained_for < 3, "the time in state started again at the drain"
    undrained = zerog("undrain", "--host", "host-t", "--wait", "20")
    assert undrained.returncode == 0, undrained.stderr


def test_a_killed_worker_drops_out_and_its_control_tube_is_cleaned_up(db_url: str, start_worker: StartWorker) -> None:
    w = start_on(start_worker, "host-x")
    manager = WorkerManager(queue_url=config.queue_url())
    (dead,) = refreshed(manager, 1)
    os.kill(w.children()[0], signal.SIGKILL)
    # A message sent to the dead worker is cleaned up with its tube.
    manager.request_worker_statuses([dead])
    survivor = wait_for(lambda: [i for i in manager.known_workers() if i != dead] or None, timeout=30)
    assert dead not in manager.known_workers()
    wait_for(lambda: dead not in config.get_queue().list_tubes(), timeout=10)
    # The supervisor's replacement is a new worker, with its own id.
    assert parse_worker_id(survivor[0])["host"] == "host-x"


def test_a_malformed_control_message_is_deleted_and_the_worker_goes_on(
    db_url: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    w = start_on(start_worker, "host-m")
    manager = WorkerManager(queue_url=config.queue_url())
    (worker_id,) = refreshed(manager, 1)
    queue = config.get_queue()
    for body in (b"not json", b'{"msgtype": "explode"}', b'{"msgtype": "killJob"}'):
        queue.put(worker_id, body)
    wait_for(lambda: queue.stats_tube(worker_id)["ready"] == 0)
    job, flag = sleeper(tmp_path, "after", seconds=0.1)
    wait_status(job.uuid, "done", timeout=30)
    assert "control message refused and deleted (not JSON" in w.log()
    assert "unknown msgtype" in w.log()


# -- the original's bytes, over a plain socket ---------------------------------------------------


class Plain:
    """A bare beanstalkd client: the commands as the original's beanstalkc sent them."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _body(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            self.buf += self.sock.recv(65536)
        body, self.buf = self.buf[:n], self.buf[n + 2 :]
        return body

    def command(self, text: str, body: bytes | None = None) -> bytes:
        self.sock.sendall(text.encode() + b"\r\n" + (body + b"\r\n" if body is not None else b""))
        return self._line()

    def put(self, tube: str, body: bytes) -> None:
        assert self.command(f"use {tube}").startswith(b"USING")
        assert self.command(f"put {2**31} 0 120 {len(body)}", body).startswith(b"INSERTED")

    def reserve(self, tube: str, timeout: int) -> bytes | None:
        assert self.command(f"watch {tube}").startswith(b"WATCHING")
        line = self.command(f"reserve-with-timeout {timeout}")
        if line.startswith(b"TIMED_OUT"):
            return None
        _, job_id, n = line.split()
        body = self._body(int(n))
        assert self.command(f"delete {int(job_id)}") == b"DELETED"
        return body


@pytest.mark.beanstalkd_queue
def test_the_original_bytes_go_both_ways_over_a_plain_client(
    db_url: str, queue_server: Any, start_worker: StartWorker, tmp_path: Path
) -> None:
    if queue_server is None:
        pytest.skip("the byte format on the wire is beanstalkd's; the embedded run checks the rest")
    start_on(start_worker, "host-p", "--job-messages", "--updates-postfix", "_dev")
    manager = WorkerManager("127.0.0.1", queue_server.port, updatesPostfix="_dev")
    wait_for(lambda: manager.known_workers() or None, timeout=30)
    (worker_id,) = manager.known_workers()
    plain = Plain(queue_server.port)
    # A requestInfo exactly as the original wrote it (microseconds left out when zero).
    plain.put(worker_id, b'{"msgtype": "requestInfo", "timestamp": "2021-11-10T18:22:03"}')
    info = plain.reserve("updates_dev", 10)
    assert info is not None
    pattern = (
        rb'\{"msgtype": "info", "timestamp": "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?", '
        rb'"workerId": "' + re.escape(worker_id.encode()) + rb'", "state": "activeIdle", "uuid": "", '
        rb'"mem": \{"available": \d+, "used": \d+, "inStateSeconds": \d+\}, "retiring": false\}'
    )
    assert re.fullmatch(pattern, info), info
    # Job messages, as the original's WorkerManager reads them.
    job = make_base_job({}, "wk_noop")
    job.enqueue()
    wait_status(job.uuid, "done", timeout=30)
    got = [plain.reserve("updates_dev", 10) for _ in range(2)]
    for body, action in zip(got, ("start", "end"), strict=True):
        assert body is not None
        expected = (
            rb'\{"msgtype": "job", "timestamp": "[^"]+", "workerId": "'
            + re.escape(worker_id.encode())
            + rb'", "uuid": "'
            + job.uuid.encode()
            + rb'", "action": "'
            + action.encode()
            + rb'"\}'
        )
        assert re.fullmatch(expected, body), body
    # And a drain in the original's bytes takes effect within a second or so.
    plain.put(worker_id, b'{"msgtype": "drain", "timestamp": "2021-11-10T18:22:03.123456"}')
    workers = wait_for(lambda: (w := manager.refresh(1.0)) and w[worker_id]["state"] == "drainingIdle" and w)
    assert workers[worker_id]["retiring"] is False


# -- over HTTP ------------------------------------------------------------------------------------


def test_the_fleet_over_http(db_url: str, start_worker: StartWorker, serve: Callable[..., Any]) -> None:
    start_on(start_worker, "host-h")
    api = serve(env={"ZEROG_API_TOKEN": "s3cret-token"}, token="s3cret-token")
    assert Api(api.port).get("/workers").status == 401, "behind the API token"
    listed = wait_for(lambda: (r := api.get("/workers")).json["workers"] and r)
    (worker,) = listed.json["workers"]
    assert (worker["host"], worker["state"], worker["runningJobUuid"]) == ("host-h", "activeIdle", "")
    assert worker["mem"]["used"] > 0
    drained = api.post("/hosts/host-h/drain")
    assert drained.status == 200 and drained.json == {"action": "drain", "workers": [worker["workerId"]]}
    wait_for(lambda: api.get("/workers").json["workers"][0]["state"] == "drainingIdle")
    metrics = api.get("/metrics").text
    assert 'zerog_workers{host="host-h",state="drainingIdle"} 1' in metrics, metrics
    quoted = urllib.parse.quote(worker["workerId"], safe="")
    assert api.post(f"/workers/{quoted}/undrain").status == 200
    wait_for(lambda: api.get("/workers").json["workers"][0]["state"] == "activeIdle")
    assert api.post("/hosts/no-such-host/drain").status == 404
    gone = api.post(f"/workers/{urllib.parse.quote('zerog+$x+$worker+$1', safe='')}/retire")
    assert gone.status == 404 and "no live worker" in gone.json["error"]
    assert api.post("/hosts/host-h/explode").status == 404, "only drain, undrain and retire"
    paths = api.get("/openapi.json").json["paths"]
    assert {"/workers", "/workers/{worker_id}/{action}", "/hosts/{host}/{action}"} <= set(paths)


def test_a_server_built_the_original_way_runs_a_posted_job_with_nothing_else_started(db_url: str) -> None:
    import http_jobs

    from zeroG.handlers import JOB_TYPE_PATT, UUID_PATT, ProgressHandler, RunJobHandler

    queue_url = config.queue_url()
    app = zeroG.Server(
        "svc",
        lambda: db_url,
        lambda tube: queue_url,
        [http_jobs.GreetJob],
        handlers=[(f"/job/{JOB_TYPE_PATT}", RunJobHandler), (f"/progress/{UUID_PATT}", ProgressHandler)],
        thisHost="one-box",
    )
    served = AppThread(app)
    try:
        api = Api(served.port)
        uuid = api.create("http_greet", {"name": "Ada"})
        assert wait_for(lambda: api.get(f"/progress/{uuid}").json["result"] == 200, timeout=60)
        # Its worker is one of the fleet, named after the server and its host.
        manager = WorkerManager(queue_url=queue_url)
        (worker_id,) = refreshed(manager, 1)
        assert worker_id.startswith("zerog+$one-box+$svc+$")
    finally:
        served.stop()
        assert app.worker_pool is not None
        app.worker_pool.stop(timeout=30)


def test_a_drained_worker_that_dies_stays_down_until_undrained(
    db_url: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    w = start_on(start_worker, "host-d")
    manager = WorkerManager(queue_url=config.queue_url())
    (worker_id,) = refreshed(manager, 1)
    manager.drain_workers([worker_id])
    wait_for(lambda: manager.refresh(1.0).get(worker_id, {}).get("state") == "drainingIdle")
    time.sleep(0.5)  # the supervisor reads its children's reports every 0.1 s
    os.kill(w.children()[0], signal.SIGKILL)
    # Not replaced: its supervisor answers for it, as the original's server did.
    wait_for(lambda: manager.refresh(1.0).get(worker_id, {}).get("state") == "drainingDown", timeout=30)
    assert w.children() == [] and list(manager.workers) == [worker_id]
    mem = manager.workers[worker_id]["mem"]
    assert mem["available"] > 0 and mem["used"] == 0, "the machine's figures, as a live worker sends them"
    job, _ = sleeper(tmp_path, "parked", seconds=0.1)
    time.sleep(1.5)
    assert config.get_store().get(f"zerog_job_{job.uuid}")[0]["status"] == "queued"
    manager.un_drain_workers([worker_id])
    wait_status(job.uuid, "done", timeout=30)
    (replacement,) = refreshed(manager, 1)
    assert replacement != worker_id and manager.workers[replacement]["state"] == "activeIdle"
    assert "not replaced until undrained (drainingDown)" in w.log()
