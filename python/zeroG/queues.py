"""The original zeroG's queue client: ``BeanstalkdQueue(host, port, queueName)``, on one tube,
over zeroG's beanstalkd connection, so code written for it, and ``Server(name, ...,
make_queue, ...)`` factories that return one, run unchanged.

As in the original, ``put(data)`` queues ``json.dumps(data)`` (a job's body is its uuid as a
JSON string) and ``reserve()`` gives an entry with ``body``, ``jid``, ``delete()``,
``release()``, ``bury()``, ``touch()`` and ``stats()``. zeroG's connection reconnects by
itself, so there is no ``do_bean``.
"""

from __future__ import annotations

import json
from typing import Any

from zeroG import _zerog

__all__ = ["BeanstalkdQueue", "QueueJob"]


class QueueJob:
    """A reserved entry, as the original's code handles one (beanstalkc's ``Job``)."""

    def __init__(self, queue: _zerog.Queue, jid: int, body: bytes) -> None:
        self._queue = queue
        self.jid = jid
        self.body = body.decode("utf-8", errors="replace")

    def delete(self) -> None:
        self._queue.delete(self.jid)

    def release(self, priority: int | None = None, delay: int = 0) -> None:
        if priority is None:
            self._queue.release(self.jid, delay=delay)
        else:
            self._queue.release(self.jid, priority, delay)

    def bury(self, priority: int | None = None) -> None:
        if priority is None:
            self._queue.bury(self.jid)
        else:
            self._queue.bury(self.jid, priority)

    def touch(self) -> None:
        self._queue.touch(self.jid)

    def stats(self) -> dict[str, Any]:
        return self._queue.stats_job(self.jid)

    def __repr__(self) -> str:
        return f"QueueJob(jid={self.jid}, body={self.body!r})"


class BeanstalkdQueue:
    """The tube ``queueName`` on the beanstalkd at ``host:port``."""

    def __init__(self, host: str, port: int, queueName: str) -> None:  # noqa: N803 - the original's name
        _zerog.validate_tube_name(queueName)
        self.host = host
        self.port = port
        self.queueName = queueName
        self.url = f"beanstalk://{host}:{port}"
        self.queue = _zerog.Queue.open(self.url)

    def __repr__(self) -> str:
        return f"BeanstalkdQueue({self.host!r}, {self.port}, {self.queueName!r})"

    def put(self, data: Any, **kwargs: Any) -> int:
        """Queues ``json.dumps(data)``; ``priority``, ``delay`` and ``ttr`` as beanstalkd's."""
        return self.queue.put(self.queueName, json.dumps(data).encode(), **kwargs)

    def reserve(self, timeout: float | None = None) -> QueueJob | None:
        """The next ready entry, waiting up to ``timeout`` seconds (None: until there is one)."""
        while True:
            got = self.queue.reserve([self.queueName], 3600.0 if timeout is None else float(timeout))
            if got is not None:
                jid, _tube, body = got
                return QueueJob(self.queue, jid, body)
            if timeout is not None:
                return None

    def delete(self, jid: int) -> None:
        self.queue.delete(jid)

    def list_all_queues(self) -> list[str]:
        return self.queue.list_tubes()

    def attach(self) -> None:
        """The original's: ``use`` and ``watch`` its tube. zeroG names the tube in every put
        and reserve, so there is nothing to do."""

    def detach(self) -> None:
        """The original's counterpart of ``attach()``: nothing to undo here."""
