"""Faults only a real beanstalkd shows, through the public API and real `zerog-worker` processes:
its own size limit, a server that is not up yet, and a restart with its binlog."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import api_jobs
import original_schema
import pytest
import worker_jobs  # noqa: F401  (registers the wk_* job classes)
from processes import Beanstalkd, WorkerProcess, free_port
from waiting import wait_for

import zeroG
from zeroG import _zerog
from zeroG.jobs import get_base_job, make_base_job

StartWorker = Callable[..., WorkerProcess]


@pytest.fixture
def store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'zerog.db'}"
    monkeypatch.setenv("ZEROG_STORE", url)
    yield url
    zeroG.configure()


def use_queue(url: str, store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZEROG_QUEUE", url)
    zeroG.configure(store=store_url, queue=url)


def test_a_body_over_max_job_size_is_refused_at_enqueue_and_nothing_is_left(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = Beanstalkd("-z", "10")  # a uuid body is 38 bytes
    try:
        use_queue(server.url, store_url, monkeypatch)
        job = make_base_job({"name": "big"}, "api_greeting")
        with pytest.raises(_zerog.JobTooBig, match="10"):
            job.enqueue()
        assert get_base_job(job.uuid) is None, "the document was left behind, saying queued"
        many = [make_base_job({"name": f"n{i}"}, "api_greeting") for i in range(3)]
        with pytest.raises(_zerog.JobTooBig):
            zeroG.enqueue_many(many)
        assert [get_base_job(j.uuid) for j in many] == [None, None, None]
        assert _zerog.Queue.open(server.url).stats_tube(api_jobs.QUEUE)["ready"] == 0
    finally:
        server.stop()


def test_a_server_that_stops_taking_jobs_midway_leaves_each_job_queued_or_unsaved(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """beanstalkd told to drain while a bulk enqueue runs: the jobs it took stay queued with
    their documents, the rest have neither and can be enqueued again elsewhere."""
    server, spare = Beanstalkd(), Beanstalkd()
    batch = 20_000  # long enough that the drain lands inside the first batch's puts
    monkeypatch.setattr(zeroG.bulk, "ENQUEUE_BATCH", batch)
    try:
        use_queue(server.url, store_url, monkeypatch)
        jobs = [make_base_job({"name": f"n{i}"}, "api_greeting") for i in range(2 * batch)]

        def drain_once_it_takes_jobs() -> None:
            watcher = _zerog.Queue.open(server.url)
            wait_for(lambda: watcher.stats_tube(api_jobs.QUEUE)["ready"] > 0, timeout=30, interval=0.001)
            os.kill(server.proc.pid, signal.SIGUSR1)

        drainer = threading.Thread(target=drain_once_it_takes_jobs)
        drainer.start()
        with pytest.raises(_zerog.BackendError, match=f"DRAINING.* of {batch} jobs of the batch were queued") as e:
            zeroG.enqueue_many(jobs)
        drainer.join()
        enqueued = e.value.enqueued  # type: ignore[attr-defined]
        # The first jobs were queued, the rest not; a queued job has its CAS, the others none.
        k = len(enqueued)
        assert 0 < k < batch
        assert [j.cas != 0 for j in jobs] == [True] * k + [False] * (len(jobs) - k)
        queue, store = _zerog.Queue.open(server.url), _zerog.Store.open(store_url)
        assert queue.stats_tube(api_jobs.QUEUE)["ready"] == k
        assert {s: n for s, n in store.count_by_status() if n} == {"queued": k}
        for i in (0, k - 1):
            assert (peeked := queue.peek(enqueued[i])) is not None and json.loads(peeked[1]) == jobs[i].uuid
            assert get_base_job(jobs[i].uuid) is not None
        assert get_base_job(jobs[k].uuid) is None and get_base_job(jobs[-1].uuid) is None
        # What was not queued goes to another server as it is.
        use_queue(spare.url, store_url, monkeypatch)
        assert len(zeroG.enqueue_many(jobs[k:])) == len(jobs) - k
        assert {s: n for s, n in store.count_by_status() if n} == {"queued": len(jobs)}
    finally:
        server.stop()
        spare.stop()


def test_a_worker_started_before_its_beanstalkd_waits_then_runs_jobs(
    store_url: str, monkeypatch: pytest.MonkeyPatch, start_worker_on: StartWorker
) -> None:
    port = free_port()
    url = f"beanstalk://127.0.0.1:{port}"
    use_queue(url, store_url, monkeypatch)
    w = start_worker_on("--module", "worker_jobs", "-c", "1")
    wait_for(lambda: f"cannot reach {url}" in w.log(), timeout=10)
    assert w.proc.poll() is None, "the worker gave up instead of waiting"
    server = Beanstalkd(port=port)
    try:
        job = make_base_job({}, "wk_noop")
        job.enqueue()
        wait_for(lambda: (d := get_base_job(job.uuid)) is not None and d.status == "done", timeout=30)
    finally:
        w.stop(timeout=15)
        server.stop()


def test_jobs_survive_a_beanstalkd_restart_with_its_binlog(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_worker_on: StartWorker
) -> None:
    binlog = tmp_path / "binlog"
    binlog.mkdir()
    server = Beanstalkd("-b", str(binlog))
    port = server.port
    use_queue(server.url, store_url, monkeypatch)
    w = start_worker_on("--module", "worker_jobs", "-c", "2")
    try:
        # Two jobs running when the server goes, and twenty queued (delayed) behind them.
        running = [make_base_job({"seconds": 2.0, "path": str(tmp_path / "runs")}, "wk_sleep") for _ in range(2)]
        zeroG.enqueue_many(running)
        queued = [make_base_job({}, "wk_noop") for _ in range(20)]
        zeroG.enqueue_many(queued, delay=2)
        wait_for(
            lambda: len((tmp_path / "runs").read_text().splitlines()) == 2 if (tmp_path / "runs").exists() else False
        )
        server.stop()
        time.sleep(1.0)
        server = Beanstalkd("-b", str(binlog), port=port)
        # The producer's connection died with the server: its next enqueues reconnect first.
        after = [make_base_job({}, "wk_noop") for _ in range(3)]
        after[0].enqueue()
        zeroG.enqueue_many(after[1:])
        queued += after

        def all_done() -> bool:
            return all((d := get_base_job(j.uuid)) is not None and d.status == "done" for j in running + queued)

        wait_for(all_done, timeout=60)
        assert w.proc.poll() is None, "the worker died with the server"
        assert all(get_base_job(j.uuid).attempts == 1 for j in queued)
    finally:
        w.stop(timeout=15)
        server.stop()


def test_jobs_lost_by_a_restart_without_a_binlog_are_put_back_once_and_run_once(
    store_url: str, monkeypatch: pytest.MonkeyPatch, start_worker_on: StartWorker, tmp_path: Path
) -> None:
    port = free_port()
    server = Beanstalkd(port=port)  # no -b: a restart forgets every entry
    use_queue(server.url, store_url, monkeypatch)
    single = [make_base_job({}, "wk_noop") for _ in range(10)]
    for job in single:
        job.enqueue()
    bulk = [make_base_job({}, "wk_noop") for _ in range(20)]
    zeroG.enqueue_many(bulk)
    server.stop()
    time.sleep(1.2)  # the server tells its uptime in whole seconds
    server = Beanstalkd(port=port)
    # Jobs enqueued after the restart fill the tube: those lost must be found all the same, by
    # when their documents were written (none names its entry until a worker takes it).
    fresh = [make_base_job({}, "wk_noop") for _ in range(5)]
    for job in fresh:
        job.enqueue()
    zerog = [sys.executable, "-m", "zeroG.cli.admin", "--store", store_url, "--queue-url", server.url, "reconcile"]
    try:
        dry = subprocess.run([*zerog, "--dry-run", "--older-than", "0"], capture_output=True, text=True, timeout=60)
        assert dry.returncode == 0, dry.stderr
        assert "30 had lost their queue entries; would put back 30" in dry.stdout
        assert _zerog.Queue.open(server.url).stats_tube("wk")["ready"] == 5, "a dry run puts nothing"
        done = subprocess.run([*zerog, "--older-than", "0"], capture_output=True, text=True, timeout=60)
        assert "put back 30" in done.stdout, done.stdout + done.stderr
        # Never twice while the entries exist.
        again = subprocess.run([*zerog, "--older-than", "0"], capture_output=True, text=True, timeout=60)
        assert "0 had lost their queue entries" in again.stdout
        w = start_worker_on("--module", "worker_jobs", "-c", "2")
        try:
            every = single + bulk + fresh
            wait_for(lambda: all(get_base_job(j.uuid).status == "done" for j in every), timeout=60)
            assert all(get_base_job(j.uuid).attempts == 1 for j in every)
        finally:
            w.stop(timeout=15)
        assert _zerog.Queue.open(server.url).stats_tube("wk")["ready"] == 0
    finally:
        server.stop()


def test_a_sharded_queue_spreads_jobs_over_its_servers_and_a_worker_runs_them_all(
    store_url: str, monkeypatch: pytest.MonkeyPatch, start_worker_on: StartWorker
) -> None:
    servers = [Beanstalkd(), Beanstalkd()]
    url = "beanstalk://" + ",".join(f"127.0.0.1:{s.port}" for s in servers)
    use_queue(url, store_url, monkeypatch)
    try:
        jobs = [make_base_job({}, "wk_noop") for _ in range(20)]
        zeroG.enqueue_many(jobs[:10])
        for job in jobs[10:]:
            job.enqueue()
        assert [_zerog.Queue.open(s.url).stats_tube("wk")["ready"] for s in servers] == [10, 10]
        # A job's queue id leads back to its server, from any connection to the sharded queue.
        peeked = _zerog.Queue.open(url).peek(jobs[-1].queueJobId)
        assert peeked is not None and json.loads(peeked[1]) == jobs[-1].uuid
        w = start_worker_on("--module", "worker_jobs", "-c", "2")

        def all_done() -> bool:
            return all((d := get_base_job(j.uuid)) is not None and d.status == "done" for j in jobs)

        wait_for(all_done, timeout=30)
        assert all(get_base_job(j.uuid).attempts == 1 for j in jobs)  # type: ignore[union-attr]
        assert [_zerog.Queue.open(s.url).stats_tube("wk")["ready"] for s in servers] == [0, 0]
        w.stop(timeout=15)
    finally:
        for s in servers:
            s.stop()


class RawClient:
    """beanstalkd spoken over a plain socket, the way the original zeroG's beanstalkc does."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(4096)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _body(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            self.buf += self.sock.recv(4096)
        body, self.buf = self.buf[:n], self.buf[n + 2 :]
        return body

    def cmd(self, line: str) -> bytes:
        self.sock.sendall(line.encode() + b"\r\n")
        return self._line()

    def put(self, tube: str, body: bytes, ttr: int = 2592000) -> int:
        assert self.cmd(f"use {tube}").startswith(b"USING")
        self.sock.sendall(f"put {2**31} 0 {ttr} {len(body)}\r\n".encode() + body + b"\r\n")
        reply = self._line()
        assert reply.startswith(b"INSERTED"), reply
        return int(reply.split()[1])

    def reserve(self, tube: str) -> tuple[int, bytes]:
        assert self.cmd(f"watch {tube}").startswith(b"WATCHING")
        reply = self.cmd("reserve-with-timeout 5")
        assert reply.startswith(b"RESERVED"), reply
        _, jid, n = reply.split()
        return int(jid), self._body(int(n))


def test_a_job_put_by_the_original_zerog_runs_and_ours_reads_as_the_originals(
    store_url: str, monkeypatch: pytest.MonkeyPatch, start_worker_on: StartWorker
) -> None:
    server = Beanstalkd()
    try:
        use_queue(server.url, store_url, monkeypatch)
        raw = RawClient(server.port)
        # The original's document (its fields only: no status, attempts, ...) and its queue body.
        uuid = "0f5bd5a0-8c5e-4b5e-9a57-2f1f3c2b7a11"
        original = {**original_schema.new_document(uuid, "wk_noop", {}), "queueKwargs": {"ttr": 2592000}}
        _zerog.Store.open(store_url).insert(f"zerog_job_{uuid}", original)
        raw.put("wk", json.dumps(uuid).encode())
        w = start_worker_on("--module", "worker_jobs", "-c", "1")
        try:
            wait_for(lambda: (d := get_base_job(uuid)) is not None and d.resultCode == 200, timeout=30)
        finally:
            w.stop(timeout=15)
        done = _zerog.Store.open(store_url).get(f"zerog_job_{uuid}")[0]
        assert (done["completeness"], done["running"], done["status"]) == (1.0, False, "done")
        assert done["logId"] == original["logId"] and done["tickval"] == 0.001  # theirs, kept

        # The reverse: what our enqueue writes, the original's worker reads.
        ours = make_base_job({}, "wk_noop")
        qid = ours.enqueue()
        jid, body = raw.reserve("wk")
        assert jid == qid and json.loads(body) == ours.uuid
        doc = _zerog.Store.open(store_url).get(f"zerog_job_{ours.uuid}")[0]
        for field in original:
            if field != "cas":  # the original's CAS is the store's, not a field
                assert field in doc, field
        assert doc["documentType"] == "zerog_job" and doc["resultCode"] == -1
        assert doc["logId"] == f"wk_noop_{ours.uuid}"
        # Written once, before the put: the entry's id is recorded by the worker that takes the
        # job (ours does; the original's never read it but to delete a killed job's entry).
        assert doc["queueJobId"] == 0 and ours.queueJobId == qid
        assert doc["queueKwargs"]["ttr"] == ours.TTR
    finally:
        server.stop()
