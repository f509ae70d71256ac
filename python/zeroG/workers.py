"""The geyser-era zeroG's ``zeroG.workers``: ``BaseWorker(queueName)`` takes the jobs of one tube.

geyser's worker ran jobs on the Tornado IOLoop of the process that made it. zeroG runs job code
in worker processes, so that a job that blocks or crashes holds up or takes down nothing else:
a ``BaseWorker`` is such a process (``processes`` of them), supervised from a thread of this
process and replaced if it dies, taking the tube's jobs for the job classes registered on it.
It starts when it is made, as geyser's did, and stops with ``stop()`` or when this process ends.
"""

from __future__ import annotations

from zeroG import config, registry
from zeroG.http.worker_pool import WorkerPool

__all__ = ["BaseWorker"]


class BaseWorker:
    """Worker processes for the tube ``queueName``, running the registered job classes whose
    ``QUEUE_NAME`` it is (``zeroG.registry.JOB_MODULES`` is imported first, as geyser did)."""

    def __init__(self, queueName: str, *, processes: int = 1) -> None:  # noqa: N803 - geyser's name
        self.queueName = queueName
        classes = registry.build_registry()
        on_tube = [cls for cls in classes.values() if cls.QUEUE_NAME == queueName]
        if not on_tube:
            tubes = sorted({cls.QUEUE_NAME for cls in classes.values()}) or ["none"]
            raise ValueError(
                f"no registered job class has QUEUE_NAME {queueName!r} (tubes with classes: {', '.join(tubes)}); "
                "import the job module first, or add it to zeroG.registry.JOB_MODULES"
            )
        self._pool = WorkerPool("worker", on_tube, processes, config.store_url(), config.queue_url())
        self._pool.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stops the worker processes; each finishes its running job within the grace period."""
        self._pool.stop(timeout)

    def __repr__(self) -> str:
        return f"BaseWorker(queueName={self.queueName!r})"
