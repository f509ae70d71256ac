"""The original zeroG's documented example (its docs/example.rst: the WasteTimeJob service) runs
on zeroG with the package's import name changed: tests/support/waste_time_jobs.py and
tests/support/waste_time_service.py hold it, and say the three lines where it names its
machines. A real beanstalkd, a SQLite store, the service as its own process, real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from processes import Beanstalkd, free_port, stop_process, support_env
from server_helpers import Api


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[Api, Path]]:
    beanstalkd = Beanstalkd()
    port = free_port()
    env = support_env(os.environ)
    env.update(
        EXAMPLE_STORE=f"sqlite:///{tmp_path / 'example.db'}",
        EXAMPLE_BEANSTALKD_PORT=str(beanstalkd.port),
        EXAMPLE_PORT=str(port),
    )
    for name in ("ZEROG_STORE", "ZEROG_QUEUE", "ZEROG_API_TOKEN"):
        env.pop(name, None)
    script = Path(__file__).parent / "support" / "waste_time_service.py"
    log = tmp_path / "service.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        api = Api(port)
        for _ in range(600):
            try:
                api.get("/progress/x")
                break
            except OSError:
                assert proc.poll() is None, f"the example service exited:\n{log.read_text()}"
                time.sleep(0.05)
        yield api, log
    finally:
        stop_process(proc)
        beanstalkd.stop()


def test_the_waste_time_service_creates_runs_and_reports_its_job(service: tuple[Api, Path]) -> None:
    api, log = service
    created = api.post("/job/waste_time", {"delay": 2})
    assert created.status == 201, (created.status, created.text, log.read_text())
    uuid = created.json["uuid"]
    # The service's own worker process runs it: nothing else was started.
    progress = api.wait_progress(uuid, timeout=60)
    assert progress["completeness"] == 1.0
    info = api.get(f"/info/{uuid}").json
    assert info["result"] == 200, info
    # job_log_info's messages, about ten of them, as the example means.
    remaining = [e["msg"] for e in info["events"] if e["msg"].endswith("seconds remaining")]
    assert len(remaining) >= 3, info["events"]
    assert api.get(f"/data/{uuid}").status == 200
    # The original's answers to a type nobody can make and to an id that names no job.
    assert api.post("/job/no_such_type", {}).status == 400
    assert api.get("/progress/not-a-uuid").status == 404
