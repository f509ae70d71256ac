"""The processes tests start: beanstalkd servers and `zerog-worker` supervisors, on free loopback
ports, stopped by PID, and the environment that lets them import the job modules here."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

#: This folder: the job modules that workers import by name (`--module worker_jobs`), and the
#: helpers the tests share. pytest puts it on the tests' path (`pythonpath` in pyproject.toml).
SUPPORT_DIR = Path(__file__).parent


#: The `zerog` command, as installed beside this interpreter.
ZEROG = Path(sys.executable).parent / "zerog"


def zerog(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Runs `zerog` on the store and queue the environment names, its output read through pipes
    (not a terminal)."""
    return subprocess.run([str(ZEROG), *args], capture_output=True, text=True, timeout=timeout, env=dict(os.environ))


def support_env(env: Mapping[str, str], *more: Path) -> dict[str, str]:
    """A copy of ``env`` for a process a test starts: this folder (then ``more``) first on its
    PYTHONPATH, so that it imports the job modules as the tests do."""
    out = dict(env)
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SUPPORT_DIR), *map(str, more), out.get("PYTHONPATH")]))
    return out


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Beanstalkd:
    """A beanstalkd server started for one test."""

    def __init__(self, *args: str, port: int | None = None) -> None:
        """The server's own log (``server error: DRAINING`` for each put it refuses, say) goes to
        a file, not into the test output where it reads like a failure; a server that does not
        start shows it."""
        exe = shutil.which("beanstalkd")
        if exe is None:
            pytest.fail("beanstalkd is not installed: `make test` installs it (apt-get install -y beanstalkd)")
        self.port = free_port() if port is None else port
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([exe, "-l", "127.0.0.1", "-p", str(self.port), *args], stderr=self.log)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.log.seek(0)
                    said = self.log.read().decode(errors="replace")
                    pytest.fail(f"beanstalkd did not start on 127.0.0.1:{self.port}: {said}")
                time.sleep(0.01)

    @property
    def url(self) -> str:
        return f"beanstalk://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.proc)
        self.log.close()


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL if it has not gone in 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
