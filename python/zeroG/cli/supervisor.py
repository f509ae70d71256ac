"""The ``zerog-worker`` supervisor: keeps its worker processes running until told to stop, and
now and then puts back jobs whose queue entries were lost (``zerog reconcile``)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from zeroG import _zerog
from zeroG.cli.parked import Fleet, ParkedSlot

__all__ = ["Fleet", "Supervisor"]

log = logging.getLogger("zeroG.worker")


class Supervisor:
    """Keeps ``concurrency`` worker processes running until told to stop."""

    def __init__(
        self,
        argv: list[str],
        concurrency: int,
        grace: float,
        reconcile: Callable[[], tuple[int, list[str], int]] | None = None,
        reconcile_every: float = 300.0,
        env: dict[str, str] | None = None,
        fleet: Fleet | None = None,
    ) -> None:
        self.argv = argv
        # The children's environment (None: this process's).
        self.env = env
        # With a fleet, each child reports what operators made of it (draining, active,
        # retiring) through a pipe; one that dies drained is parked, not replaced.
        self.fleet = fleet
        self.reports: dict[int, int] = {}
        self.operator: dict[int, str] = {}
        self.parked: list[ParkedSlot] = []
        # One reconcile pass (None: none); a thread makes one every `reconcile_every` seconds.
        self.reconcile = reconcile
        self.reconcile_every = reconcile_every
        self.done = threading.Event()
        self.concurrency = max(1, concurrency)
        self.grace = grace
        self.children: dict[int, subprocess.Popen[bytes]] = {}
        self.started: dict[int, float] = {}
        self.stopping = False
        self.quick_deaths = 0

    def spawn(self) -> None:
        cmd = [sys.executable, "-m", "zeroG.cli.worker", "--child", "--supervisor-pid", str(os.getpid()), *self.argv]
        if self.fleet is None:
            proc = subprocess.Popen(cmd, env=self.env)
        else:
            read, write = os.pipe()
            try:
                proc = subprocess.Popen([*cmd, "--state-fd", str(write)], env=self.env, pass_fds=(write,))
            finally:
                os.close(write)
            os.set_blocking(read, False)
            self.reports[proc.pid] = read
            self.operator[proc.pid] = "active"
        self.children[proc.pid] = proc
        self.started[proc.pid] = time.monotonic()
        log.info("started worker process %d", proc.pid)

    def stop(self, signum: int, _frame: object = None) -> None:
        if not self.stopping:
            n = len(self.children)
            log.info(
                "%s: stopping %d worker %s (grace %.0f s)",
                f"{signal.Signals(signum).name} received" if signum else "stop requested",
                n,
                "process" if n == 1 else "processes",
                self.grace,
            )
        self.stopping = True
        for slot in self.parked:
            slot.stop()
        self.parked.clear()
        for proc in self.children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    def run(self, handle_signals: bool = True) -> int:
        """Runs until every child has stopped. ``handle_signals``: SIGTERM and SIGINT stop it
        (the main thread of ``zerog-worker``); otherwise ``stop(0)`` does (a thread of a
        ``Server`` that runs its own workers)."""
        if handle_signals:
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)
        for _ in range(self.concurrency):
            self.spawn()
        if self.reconcile is not None and self.reconcile_every > 0:
            threading.Thread(target=self._reconciling, name="zerog-reconcile", daemon=True).start()
        try:
            return self._watch_children()
        finally:
            self.done.set()

    def _reconciling(self) -> None:
        """A pass every ``reconcile_every`` seconds: cheap when nothing is lost (a listing of the
        queued jobs older than a minute, and a peek each)."""
        assert self.reconcile is not None
        while not self.done.wait(self.reconcile_every) and not self.stopping:
            try:
                checked, lost, requeued = self.reconcile()
            except _zerog.ZeroGError as e:
                log.warning("reconcile pass failed, will try again: %s", e)
                continue
            if lost:
                log.warning(
                    "reconcile: %d of %d queued jobs had lost their queue entries; %d put back",
                    len(lost),
                    checked,
                    requeued,
                )

    def _watch_children(self) -> int:
        while self.children or self.parked:
            time.sleep(0.1)
            self._read_reports()
            for pid, proc in list(self.children.items()):
                code = proc.poll()
                if code is None:
                    continue
                del self.children[pid]
                lived = time.monotonic() - self.started.pop(pid)
                self._read_reports()
                if pid in self.reports:
                    os.close(self.reports.pop(pid))
                operator = self.operator.pop(pid, "active")
                if self.stopping:
                    log.info("worker process %d stopped (exit %d)", pid, code)
                    continue
                if operator == "retiring" and code != _zerog.EXIT_RETIRED:
                    log.warning("worker process %d died (exit %d) while retiring; not replaced", pid, code)
                    continue
                if operator == "draining" and self.fleet is not None:
                    log.warning(
                        "worker process %d died (exit %d) while %s; not replaced until undrained (drainingDown)",
                        pid,
                        code,
                        operator,
                    )
                    self.parked.append(ParkedSlot(self.fleet.worker_id(pid), self.fleet))
                    continue
                self._replace(pid, code, lived)
            for slot in list(self.parked):
                if slot.undrained or slot.retired:
                    slot.stop()
                    self.parked.remove(slot)
                    if slot.undrained and not self.stopping:
                        self.spawn()
        return 0

    def _read_reports(self) -> None:
        """The children's latest report lines (the last one counts)."""
        for pid, fd in self.reports.items():
            try:
                data = os.read(fd, 4096)
            except BlockingIOError:
                continue
            lines = data.decode(errors="replace").split()
            if lines:
                self.operator[pid] = lines[-1]

    def _replace(self, pid: int, code: int, lived: float) -> None:
        if code == _zerog.EXIT_RETIRED:
            log.info("worker process %d retired; not replaced (%d left)", pid, len(self.children))
            return
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
