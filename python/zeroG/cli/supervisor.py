"""The ``zerog-worker`` supervisor: keeps its worker processes running until told to stop."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

from zeroG import _zerog

__all__ = ["Supervisor"]

log = logging.getLogger("zeroG.worker")


class Supervisor:
    """Keeps ``concurrency`` worker processes running until told to stop."""

    def __init__(self, argv: list[str], concurrency: int, grace: float) -> None:
        self.argv = argv
        self.concurrency = max(1, concurrency)
        self.grace = grace
        self.children: dict[int, subprocess.Popen[bytes]] = {}
        self.started: dict[int, float] = {}
        self.stopping = False
        self.quick_deaths = 0

    def spawn(self) -> None:
        cmd = [sys.executable, "-m", "zeroG.cli.worker", "--child", "--supervisor-pid", str(os.getpid()), *self.argv]
        proc = subprocess.Popen(cmd)
        self.children[proc.pid] = proc
        self.started[proc.pid] = time.monotonic()
        log.info("started worker process %d", proc.pid)

    def stop(self, signum: int, _frame: object) -> None:
        if not self.stopping:
            log.info(
                "%s received: stopping %d worker processes (grace %.0f s)",
                signal.Signals(signum).name,
                len(self.children),
                self.grace,
            )
        self.stopping = True
        for proc in self.children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        for _ in range(self.concurrency):
            self.spawn()
        while self.children:
            time.sleep(0.1)
            for pid, proc in list(self.children.items()):
                code = proc.poll()
                if code is None:
                    continue
                del self.children[pid]
                lived = time.monotonic() - self.started.pop(pid)
                if self.stopping:
                    log.info("worker process %d stopped (exit %d)", pid, code)
                    continue
                self._replace(pid, code, lived)
        return 0

    def _replace(self, pid: int, code: int, lived: float) -> None:
        if code == 0:
            log.info("worker process %d finished its jobs; starting another", pid)
        else:
            reason = {
                _zerog.EXIT_MAX_RUNTIME: "a job exceeded its MAX_RUNTIME",
                -signal.SIGKILL: "it was killed (SIGKILL)",
            }.get(code, f"exit status {code}")
            log.warning("worker process %d died (%s); starting another", pid, reason)
        # A process that dies at once, again and again, is broken (bad config, bad import):
        # slow down rather than spin.
        self.quick_deaths = self.quick_deaths + 1 if lived < 2.0 and code != 0 else 0
        if self.quick_deaths:
            time.sleep(min(10.0, 0.5 * 2 ** min(self.quick_deaths, 5)))
        if not self.stopping:
            self.spawn()
