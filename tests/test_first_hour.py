"""What a newcomer meets between the example and their own code: commands that say which store
and queue they use, job modules found where the user runs the command, jobs watched without
their classes, mistakes named. Real processes, each in a directory and a home of the test's own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_for

import zeroG
from zeroG import _zerog, config, registry

BIN = Path(sys.executable).parent

JOB_MODULE = """
import time
from marshmallow import fields
import zeroG
from zeroG import job_log


class PingSchema(zeroG.BaseJobSchema):
    word = fields.String(required=True)


class PingJob(zeroG.BaseJob):
    JOB_TYPE = "fh_ping"
    SCHEMA = PingSchema
    QUEUE_NAME = "fh_ping"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.word = kwargs.get("word")

    def run(self):
        job_log.info("ping " + self.word)
        job_log.set_completeness(0.5)
        return time.time(), False

    def get_data(self):
        return {"word": self.word}
"""


def clean_env(home: Path, **more: str) -> dict[str, str]:
    """The environment of a newcomer's shell: a home of its own, nothing of zeroG's set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZEROG_") and k not in ("PYTHONPATH",)}
    env.pop("XDG_DATA_HOME", None)
    env.update(HOME=str(home), **more)
    return env


def project(tmp_path: Path) -> Path:
    """A project directory with a package `fhapp` holding the job module."""
    root = tmp_path / "project"
    (root / "fhapp").mkdir(parents=True)
    (root / "fhapp" / "__init__.py").write_text("")
    (root / "fhapp" / "jobs.py").write_text(JOB_MODULE)
    return root


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_a_worker_started_beside_the_package_finds_it_and_any_directory_shares_the_default_store(
    tmp_path: Path,
) -> None:
    home, root, elsewhere = tmp_path / "home", project(tmp_path), tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    env = clean_env(home)
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as out:
        worker = subprocess.Popen(
            [str(BIN / "zerog-worker"), "--module", "fhapp.jobs", "-c", "1"], cwd=root, env=env, stdout=out, stderr=out
        )
    try:
        produce = textwrap.dedent("""
            import zeroG, fhapp.jobs
            job = zeroG.make_base_job({"word": "hi"}, "fh_ping")
            job.enqueue()
            print(job.uuid)
        """)
        made = run([sys.executable, "-c", produce], elsewhere, dict(env, PYTHONPATH=str(root)))
        assert made.returncode == 0, made.stderr
        uuid = made.stdout.strip()
        # Read from a third directory, by a process that never imports fhapp.
        watch = textwrap.dedent("""
            import json, sys, time, zeroG
            deadline = time.monotonic() + 60
            while (job := zeroG.get_base_job(sys.argv[1])).status != "done" and time.monotonic() < deadline:
                time.sleep(0.05)
            print(json.dumps({"type": type(job).__name__, "progress": job.progress(), "info": job.info(),
                              "word": job.word, "dump": job.dump()}))
        """)
        seen = run([sys.executable, "-c", watch, uuid], tmp_path, env)
        assert seen.returncode == 0, seen.stderr + log_path.read_text()
        got = json.loads(seen.stdout)
        assert got["type"] == "UnregisteredJob"
        assert got["progress"] == {"completeness": 1.0, "result": 200}
        assert [e["msg"] for e in got["info"]["events"]] == ["ping hi"]
        assert got["word"] == "hi" and got["dump"]["word"] == "hi" and got["dump"]["jobType"] == "fh_ping"
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    log = log_path.read_text()
    default = home / ".local" / "share" / "zerog" / "zerog.db"
    assert default.exists() and not (root / "zerog.db").exists() and not (elsewhere / "zerog.db").exists()
    assert f"zerog-worker: 1 process on tubes fh_ping (store and queue sqlite:///{default})" in log, log


def test_path_names_where_job_modules_are_imported_from(tmp_path: Path) -> None:
    home, root = tmp_path / "home", project(tmp_path)
    home.mkdir()
    env = clean_env(home, ZEROG_STORE=f"sqlite:///{tmp_path / 'z.db'}")
    # Run from elsewhere, the module is not found, and the error says which one.
    missing = run([str(BIN / "zerog-worker"), "--module", "fhapp.jobs", "-c", "1"], tmp_path, env)
    assert missing.returncode == 2 and "fhapp.jobs" in missing.stderr, missing.stderr
    # --path points there.
    server = subprocess.Popen(
        [str(BIN / "zerog-server"), "--port", "0", "--path", str(root), "--module", "fhapp.jobs"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        while "zerog-server on" not in line and line:
            line = server.stderr.readline()
        assert "job types: fh_ping" in line, line
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def unregistered(db_url: str) -> str:
    """A job stored by a process that had its class (`fh_other`), read here, where none is."""
    uuid = "0b3c9d2e-1111-4222-8333-944455556666"
    config.get_store().insert(
        zeroG.jobs.make_key(uuid),
        {
            "documentType": "zerog_job",
            "jobType": "fh_other",
            "uuid": uuid,
            "queueName": "fh_other_tube",
            "status": "running",
            "completeness": 0.25,
            "resultCode": -1,
            "events": [{"timeStamp": "2026-12-05T10:00:00+00:00", "msg": "started"}],
            "errors": [],
            "warnings": [],
            "size": 7,
        },
    )
    return uuid


def test_a_job_without_its_class_reads_like_any_other(unregistered: str) -> None:
    job = zeroG.get_base_job(unregistered)
    assert isinstance(job, zeroG.jobs.UnregisteredJob)
    assert job.jobType == "fh_other" and job.size == 7 and job.status == "running"
    assert job.progress() == {"completeness": 0.25, "result": -1}
    assert [e["msg"] for e in job.info()["events"]] == ["started"]
    dumped = job.dump()
    assert dumped["size"] == 7 and dumped["jobType"] == "fh_other" and dumped["queueName"] == "fh_other_tube"
    # What needs the class says so, and names the type; nothing is queued on a guessed tube.
    for call in (job.run, job.get_data, job.enqueue):
        with pytest.raises(zeroG.UnknownJobType, match="fh_other"):
            call()
    assert "fh_other_tube" not in config.get_queue().list_tubes()
    assert "zerog_jobs" not in config.get_queue().list_tubes()
    with pytest.raises(AttributeError, match="no_such_field"):
        _ = job.no_such_field
    # The class is not registered by being read.
    assert "fh_other" not in registry.registered()


def test_the_server_shows_a_job_it_has_no_class_for(unregistered: str, api: Any) -> None:
    assert api.get(f"/progress/{unregistered}").json == {"completeness": 0.25, "result": -1}
    assert [e["msg"] for e in api.get(f"/info/{unregistered}").json["events"]] == ["started"]
    assert api.get(f"/dump/{unregistered}").json["size"] == 7
    data = api.get(f"/data/{unregistered}")
    assert data.status == 422 and "fh_other" in data.json["error"]


def test_a_class_without_run_is_named_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "fh_norun.py").write_text(
        textwrap.dedent("""
        import zeroG

        class Misspelt(zeroG.BaseJob):
            JOB_TYPE = "fh_misspelt"

            def runn(self):
                pass
        """)
    )
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(home, ZEROG_STORE=f"sqlite:///{tmp_path / 'z.db'}")
    done = run([str(BIN / "zerog-worker"), "--module", "fh_norun", "-c", "1"], tmp_path, env)
    assert done.returncode != 0
    assert "no job classes registered from fh_norun" in done.stderr, done.stderr
    assert "fh_norun.Misspelt (JOB_TYPE 'fh_misspelt') is not registered: it does not define run()" in done.stderr


def test_admin_commands_say_what_they_use_and_create_no_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(home)
    default = home / ".local" / "share" / "zerog" / "zerog.db"
    for args in (["queues"], ["kick", "t"], ["peek", "1"], ["reconcile"]):
        done = run([str(BIN / "zerog"), *args], tmp_path, env)
        assert done.returncode == 2, (args, done.stderr)
        assert f"sqlite:///{default}" in done.stderr.splitlines()[0], done.stderr
        assert f"no zeroG store at {default}: the file does not exist" in done.stderr, done.stderr
        assert not default.exists() and not (tmp_path / "zerog.db").exists()


def test_kick_on_a_tube_that_does_not_exist_says_so(db_url: str) -> None:
    config.get_queue()  # the queue exists (its SQLite file, or the test's beanstalkd)
    done = run([str(BIN / "zerog"), "kick", "no_such_tube"], Path.cwd(), dict(os.environ))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no tube named 'no_such_tube'" in done.stderr and done.stdout == ""


def test_a_producer_given_a_store_in_a_missing_directory_gets_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_dir" / "jobs.db"
    zeroG.configure(store=f"sqlite:///{missing}")
    try:
        with pytest.raises(zeroG.ConfigError, match=str(missing.parent)):
            config.get_store()
        assert not missing.parent.exists()
    finally:
        zeroG.configure()


def test_one_ctrl_c_stops_the_worker_and_each_process_says_so_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    root = project(tmp_path)
    env = clean_env(home, ZEROG_STORE=f"sqlite:///{tmp_path / 'z.db'}")
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as out:
        # A session of its own: the SIGINT below goes to its whole process group, as a
        # terminal's Ctrl-C does.
        worker = subprocess.Popen(
            [str(BIN / "zerog-worker"), "--module", "fhapp.jobs", "-c", "1"],
            cwd=root,
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        wait_for(lambda: "started worker process" in log_path.read_text() and "tubes" in log_path.read_text())
        time.sleep(1.0)  # the child installs its handlers once it has imported everything
        os.killpg(worker.pid, signal.SIGINT)
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    log = log_path.read_text()
    assert "SIGINT received: stopping 1 worker process (grace" in log, log
    assert log.count("received; finishing the running job") == 1, log
    assert "SIGTERM received" not in log, log


def test_the_default_store_follows_xdg_data_home() -> None:
    assert _zerog.default_url() == f"sqlite:///{os.environ['XDG_DATA_HOME']}/zerog/zerog.db"
