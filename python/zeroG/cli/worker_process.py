"""One worker process: the engine's loop (``zeroG._zerog.Worker``) taking jobs from its tubes
and running them with this process's job classes. ``zerog-worker`` starts these."""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from zeroG import _zerog, config
from zeroG.runner import Runner

__all__ = ["host_name", "run_worker", "until_reachable", "worker_id_for"]

log = logging.getLogger("zeroG.worker")


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
    host: str | None = None,
    name: str = "worker",
    updates_postfix: str = "",
    job_messages: bool = False,
    exit_when_retired: bool = False,
    report_fd: int | None = None,
) -> int:
    """Runs jobs in this process until SIGTERM/SIGINT (or ``max_jobs``, or the process
    ``parent_pid`` is no longer this one's parent, or an operator retires it). Returns how many
    ran. Job classes must be imported (registered) first.

    The process is one worker of the fleet (``zeroG.mgmt``): its id is
    ``zerog+$<host>+$<name>+$<pid>`` (``host``: ``$ZEROG_HOST_NAME``, else the machine's name),
    and it obeys control messages sent to that tube, answering on ``updates<updates_postfix>``.
    With ``exit_when_retired`` a retired worker exits with ``EXIT_RETIRED``; ``report_fd`` is a
    pipe its supervisor reads the operators' changes from (``draining``, ``active``, ``retiring``)."""
    worker_id = worker_id_for(host, name)
    store_url = _zerog.resolve_url("store", store or config.store_url())
    queue_url = _zerog.resolve_url("queue", queue, store_url) if queue or store else config.queue_url()
    worker = until_reachable(
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
            updates_tube=_zerog.updates_tube(updates_postfix),
            job_messages=job_messages,
            report_fd=report_fd,
        ),
    )
    if install_signal_handlers:
        stopping = False

        def stop(signum: int, _frame: object) -> None:
            # One Ctrl-C reaches every process of the terminal's group, and the supervisor then
            # sends SIGTERM as well: one stop, said once.
            nonlocal stopping
            if not stopping:
                log.info("worker %s: %s received; finishing the running job", worker_id, signal.Signals(signum).name)
            stopping = True
            worker.request_stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    # Everything imported so far (zeroG, marshmallow, the job modules) lives as long as the
    # process: frozen, the collector's full passes skip it, so they stay short instead of
    # pausing a worker for milliseconds between two jobs.
    gc.collect()
    gc.freeze()
    ran = worker.run()
    if worker.retired and exit_when_retired:
        log.info("worker %s retired after %d jobs; exiting", worker_id, ran)
        sys.exit(_zerog.EXIT_RETIRED)
    return ran


def host_name(host: str | None = None) -> str:
    """The host part of this machine's worker ids: ``host``, else ``$ZEROG_HOST_NAME``, else
    the machine's name (containers often all look alike: name them)."""
    return host or os.environ.get("ZEROG_HOST_NAME") or socket.gethostname()


def worker_id_for(host: str | None, name: str, pid: int | None = None) -> str:
    """This process's worker id; a host or name no tube can carry is refused, naming it."""
    worker_id = _zerog.make_worker_id("zerog", host_name(host), name, os.getpid() if pid is None else pid)
    try:
        _zerog.validate_tube_name(worker_id)
    except _zerog.ZeroGError as e:
        raise _zerog.ConfigError(f"worker id {worker_id!r} cannot name a tube: {e}") from None
    return worker_id


T = TypeVar("T")

#: The longest wait between two attempts to reach a server that is down.
MAX_RETRY_WAIT = 10.0


def until_reachable(url: str, connect: Callable[[], T]) -> T:
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
