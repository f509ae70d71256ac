"""The worker processes a ``Server`` runs itself, as the original zeroG's server did: a POSTed
job runs to its result with nothing else started.

They are ``zerog-worker`` processes under a supervisor on a thread of the server: each is one
worker of the fleet (``zerog+$<host>+$<name>+$<pid>``, obeying its control tube), takes jobs
from the tubes of the server's job classes, and is replaced when it dies. They stop when the
server process ends (each watches its parent) or on ``stop()``.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterable

from zeroG.cli.supervisor import Fleet, Supervisor
from zeroG.jobs import BaseJob

__all__ = ["WorkerPool"]

log = logging.getLogger("zeroG.server")


class WorkerPool:
    """``count`` worker processes for ``job_classes``, on the store and queue these URLs name."""

    def __init__(
        self,
        name: str,
        job_classes: Iterable[type[BaseJob]],
        count: int,
        store_url: str,
        queue_url: str,
        *,
        host: str | None = None,
        updates_postfix: str = "",
        grace: float = 30.0,
    ) -> None:
        classes = list(job_classes)
        in_main = [c.__qualname__ for c in classes if c.__module__ == "__main__"]
        if in_main:
            raise ValueError(
                f"job classes {', '.join(in_main)} are defined in the script being run (__main__); the "
                "server's worker processes import job classes from their modules: move them into one"
            )
        argv = [a for m in sorted({c.__module__ for c in classes}) for a in ("--module", m)]
        argv += [a for t in sorted({c.QUEUE_NAME for c in classes}) for a in ("--queue", t)]
        argv += ["--name", name, "--job-messages"]
        argv += ["--updates-postfix", updates_postfix, "--grace", str(grace)]
        if host:
            argv += ["--host-name", host]
        # The children import the job modules as this process does. The store and queue go in
        # their environment, not on their command line, which any local user can read: a URL
        # may hold a password.
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(p for p in sys.path if p),
            ZEROG_STORE=store_url,
            ZEROG_QUEUE=queue_url,
        )
        fleet = Fleet.of(host, name, queue_url, updates_postfix)
        self.supervisor = Supervisor(argv, count, grace, env=env, fleet=fleet)
        self.thread: threading.Thread | None = None
        self.count = count

    def start(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(
                target=self.supervisor.run, kwargs={"handle_signals": False}, name="zerog-worker-pool", daemon=True
            )
            self.thread.start()
            log.info("running %d worker process%s of its own", self.count, "" if self.count == 1 else "es")

    def stop(self, timeout: float | None = None) -> None:
        """Stops the worker processes (each finishes its job within the grace period)."""
        self.supervisor.stop(0)
        if self.thread is not None:
            self.thread.join(timeout)
