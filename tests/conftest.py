"""Shared fixtures: a fresh embedded SQLite file per test, and real `zerog-worker` processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import zeroG

TESTS_DIR = Path(__file__).parent


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh SQLite file for store and queue, used by this process and by the workers the
    test starts (through ZEROG_STORE / ZEROG_QUEUE)."""
    url = f"sqlite:///{tmp_path / 'zerog.db'}"
    monkeypatch.setenv("ZEROG_STORE", url)
    monkeypatch.setenv("ZEROG_QUEUE", url)
    zeroG.configure(store=url, queue=url)
    yield url
    zeroG.configure()


class WorkerProcess:
    """A `zerog-worker` supervisor started for a test, with its worker processes."""

    def __init__(self, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def children(self) -> list[int]:
        """PIDs of the worker processes (children of the supervisor)."""
        try:
            out = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except FileNotFoundError:
            return []
        return [int(p) for p in out.split()]

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        for pid in self.children():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def start_worker(db_url: str, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Starts `zerog-worker` with the given arguments (e.g. `"--module", "worker_jobs"`), with
    the tests folder importable. Every worker started is stopped when the test ends."""
    started: list[WorkerProcess] = []

    def start(*args: str, log_level: str = "INFO") -> WorkerProcess:
        log_path = tmp_path / f"worker-{len(started)}.log"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
        cmd = [sys.executable, "-m", "zeroG.worker", "--log-level", log_level, *args]
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
        w = WorkerProcess(proc, log_path)
        started.append(w)
        return w

    yield start
    for w in started:
        try:
            w.stop(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        w.kill()


def wait_for(predicate: Callable[[], object], timeout: float = 20.0, interval: float = 0.05) -> object:
    """Polls until `predicate()` is truthy and returns it; fails the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {getattr(predicate, '__name__', predicate)}")
        time.sleep(interval)
