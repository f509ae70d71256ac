"""``zerog-worker``: runs jobs.

A supervisor process starts ``--concurrency`` worker processes (spawned fresh, never forked from
a process that has threads), replaces any that dies, and on SIGTERM or SIGINT tells them to stop:
each finishes its running job within the grace period, or hands it back to the queue. Each worker
process runs the engine's loop: reserve a job (with the GIL released while it waits), run it,
record the outcome. A worker process sends itself SIGUSR2 (``_zerog.CANCEL_SIGNAL``) to stop a
job that was cancelled (``zeroG.cancel``): jobs should leave that signal's handler alone.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from zeroG import _zerog, config, registry
from zeroG._runner import Runner

log = logging.getLogger("zeroG.worker")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zerog-worker", description="Run zeroG jobs.")
    p.add_argument(
        "--module",
        "-m",
        action="append",
        default=[],
        metavar="NAME",
        help="a module defining job classes (repeatable; added to zeroG.registry.JOB_MODULES)",
    )
    p.add_argument(
        "--queue",
        "-q",
        action="append",
        default=[],
        metavar="NAME",
        help="a tube to take jobs from (repeatable; default: the QUEUE_NAME of every registered job class)",
    )
    p.add_argument(
        "--concurrency",
        "-c",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes (default: the number of CPUs)",
    )
    p.add_argument(
        "--max-jobs-per-child",
        type=int,
        default=None,
        metavar="N",
        help="replace a worker process after it ran N jobs (returns its memory)",
    )
    p.add_argument(
        "--grace",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="on stop, how long a running job may take before it is handed back (default 30)",
    )
    p.add_argument(
        "--load-retry-delay",
        type=int,
        default=10,
        metavar="SECONDS",
        help="delay before retrying a job whose document is missing or unreadable (default 10)",
    )
    p.add_argument(
        "--store", default=None, metavar="URL", help="store URL (default: $ZEROG_STORE or sqlite:///./zerog.db)"
    )
    p.add_argument(
        "--queue-url", default=None, metavar="URL", help="queue URL (default: $ZEROG_QUEUE or the store's SQLite file)"
    )
    p.add_argument("--log-level", default=os.environ.get("ZEROG_LOG_LEVEL", "INFO"))
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--supervisor-pid", type=int, default=None, help=argparse.SUPPRESS)
    return p


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format=f"%(asctime)s %(levelname)s %(name)s [{os.getpid()}] %(message)s",
    )


def _tubes(args: argparse.Namespace) -> list[str]:
    classes = registry.import_job_modules(args.module)
    if args.queue:
        return list(dict.fromkeys(args.queue))
    tubes = sorted({cls.QUEUE_NAME for cls in classes.values()})
    if not tubes:
        raise SystemExit(
            "zerog-worker: no job classes registered; pass --module NAME (or set zeroG.registry.JOB_MODULES)"
        )
    return tubes


def run_worker(
    tubes: Sequence[str],
    *,
    store: str | None = None,
    queue: str | None = None,
    max_jobs: int | None = None,
    grace: float = 30.0,
    load_retry_delay: int = 10,
    install_signal_handlers: bool = True,
    parent_pid: int | None = None,
) -> int:
    """Runs jobs in this process until SIGTERM/SIGINT (or ``max_jobs``, or the process
    ``parent_pid`` is no longer this one's parent). Returns how many ran. Job classes must be
    imported (registered) first."""
    worker_id = f"{socket.gethostname()}:{os.getpid()}"
    store_url = _zerog.resolve_url("store", store or config.store_url())
    queue_url = _zerog.resolve_url("queue", queue or config.queue_url())
    worker = _until_reachable(
        queue_url,
        lambda: _zerog.Worker(
            store_url,
            queue_url,
            list(tubes),
            worker_id,
            Runner(unknown_type_retry_delay=load_retry_delay),
            max_jobs=max_jobs,
            grace=grace,
            load_retry_delay=load_retry_delay,
            parent_pid=parent_pid,
        ),
    )
    if install_signal_handlers:

        def stop(signum: int, _frame: object) -> None:
            log.info("worker %s: %s received; finishing the running job", worker_id, signal.Signals(signum).name)
            worker.request_stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    # Everything imported so far (zeroG, marshmallow, the job modules) lives as long as the
    # process: frozen, the collector's full passes skip it, so they stay short instead of
    # pausing a worker for milliseconds between two jobs.
    gc.collect()
    gc.freeze()
    return worker.run()


T = TypeVar("T")

#: The longest wait between two attempts to reach a server that is down.
MAX_RETRY_WAIT = 10.0


def _until_reachable(url: str, connect: Callable[[], T]) -> T:
    """``connect()``, retried with backoff while the server behind ``url`` cannot be reached (a
    beanstalkd not started yet, or restarting): a worker waits for its queue rather than dying.
    A malformed URL, a file that cannot be opened, or any other error is raised at once."""
    wait = 0.5
    while True:
        try:
            return connect()
        except _zerog.BackendError as e:
            if not url.startswith("beanstalk://"):
                raise
            log.warning("cannot reach %s (%s); trying again in %.1f s", url, e, wait)
            time.sleep(wait)
            wait = min(MAX_RETRY_WAIT, wait * 2)


def _child(args: argparse.Namespace) -> int:
    tubes = _tubes(args)
    run_worker(
        tubes,
        store=args.store,
        queue=args.queue_url,
        max_jobs=args.max_jobs_per_child,
        grace=args.grace,
        load_retry_delay=args.load_retry_delay,
        # Started by a supervisor: if it dies, stop rather than run on unsupervised. Its pid comes
        # on the command line: by the time this runs, the supervisor may be gone already.
        parent_pid=args.supervisor_pid,
    )
    return 0


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
        cmd = [sys.executable, "-m", "zeroG.worker", "--child", "--supervisor-pid", str(os.getpid()), *self.argv]
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


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    _setup_logging(args.log_level)
    if args.child:
        return _child(args)
    # Fail at start, naming the problem: bad modules, duplicate job types, unusable URLs.
    try:
        tubes = _tubes(args)
        _zerog.Store.open(_zerog.resolve_url("store", args.store))
        queue_url = _zerog.resolve_url("queue", args.queue_url)
        _until_reachable(queue_url, lambda: _zerog.Queue.open(queue_url))
    except (ImportError, _zerog.ZeroGError) as e:
        print(f"zerog-worker: {e}", file=sys.stderr)
        return 2
    log.info("zerog-worker: %d processes on tubes %s", args.concurrency, ", ".join(tubes))
    child_argv = [a for a in argv if a != "--child"]
    return Supervisor(child_argv, args.concurrency, args.grace).run()


if __name__ == "__main__":
    sys.exit(main())
