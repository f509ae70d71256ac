"""One worker process: the engine's loop (``zeroG._zerog.Worker``) taking jobs from its tubes
and running them with this process's job classes. ``zerog-worker`` starts these."""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from zeroG import _zerog, config
from zeroG.runner import Runner

__all__ = ["run_worker", "until_reachable"]

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
) -> int:
    """Runs jobs in this process until SIGTERM/SIGINT (or ``max_jobs``, or the process
    ``parent_pid`` is no longer this one's parent). Returns how many ran. Job classes must be
    imported (registered) first."""
    worker_id = f"{socket.gethostname()}:{os.getpid()}"
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
    return worker.run()


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
