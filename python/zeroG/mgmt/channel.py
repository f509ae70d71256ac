"""``MgmtChannel``: messages sent to and read from one tube of the queue (a worker's control
tube, or the updates tube), on beanstalkd or the embedded queue alike."""

from __future__ import annotations

import logging
from typing import Any

from zeroG import _zerog
from zeroG.mgmt.messages import BaseMsg, make_msg, make_msg_from_json

__all__ = ["MgmtChannel"]

log = logging.getLogger("zeroG.fleet")


class MgmtChannel:
    """One tube of ``queue`` (a ``zeroG._zerog.Queue``) for control messages."""

    def __init__(self, queue: _zerog.Queue, tube: str) -> None:
        _zerog.validate_tube_name(tube)
        self.queue = queue
        self.tube = tube

    def make_msg(self, msgtype: str, **kwargs: Any) -> BaseMsg:
        return make_msg(msgtype, **kwargs)

    def send_msg(self, msg: BaseMsg) -> int:
        """Puts the message on the tube; returns its queue id."""
        # As the engine's control thread puts its answers (the original's beanstalkc defaults).
        return self.queue.put(
            self.tube, msg.dumps().encode(), priority=_zerog.DEFAULT_PRIORITY, ttr=_zerog.CONTROL_MESSAGE_TTR
        )

    def get_msg(self, timeout: float = 0) -> BaseMsg | None:
        """The next message (waiting up to ``timeout`` seconds), deleted from the tube; None if
        there is none. A message that cannot be read is logged and deleted, never returned."""
        while True:
            found = self.queue.reserve([self.tube], timeout)
            if found is None:
                return None
            qid, _, body = found
            try:
                return make_msg_from_json(body)
            except ValueError as e:
                log.warning("%s: bad message deleted (%s): %r", self.tube, e, body[:200])
            finally:
                self.queue.delete(qid)

    def list_all_queues(self) -> list[str]:
        return self.queue.list_tubes()

    def get_named_queue_watchers(self, name: str) -> int:
        """How many connections wait on the tube ``name``: a worker's is 1 while it lives."""
        return int(self.queue.stats_tube(name)["watching"])

    def empty(self) -> None:
        """Deletes every message waiting on the tube."""
        while (found := self.queue.reserve([self.tube], 0)) is not None:
            self.queue.delete(found[0])

    def attach(self) -> None:
        """Kept for the original's callers: a reserve here waits on this tube only anyway."""

    def detach(self) -> None:
        """Kept for the original's callers (see ``attach``)."""
