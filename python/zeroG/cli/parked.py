"""A worker slot whose process died while drained: its supervisor does not replace it, and
answers for it on its control tube instead (state ``drainingDown``, as the original's server
did when its worker process was gone) until an operator undrains it (the supervisor then starts
a new process) or retires it (the slot is gone)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from zeroG import _zerog
from zeroG.cli.worker_process import worker_id_for
from zeroG.mgmt.channel import MgmtChannel
from zeroG.mgmt.messages import RequestInfoMsg, RetireMsg, UnDrainMsg, make_msg

__all__ = ["Fleet", "ParkedSlot"]

log = logging.getLogger("zeroG.worker")


@dataclass(frozen=True)
class Fleet:
    """What a supervisor needs to answer for its children: their ids' ``zerog+$host+$name``
    part, the queue, and the updates tube's postfix."""

    id_prefix: str
    queue_url: str
    updates_postfix: str = ""

    @classmethod
    def of(cls, host: str | None, name: str, queue_url: str, updates_postfix: str = "") -> Fleet:
        """The fleet of workers named ``host`` (None: this machine's) and ``name``; a host or name
        no tube can carry is refused here, naming it."""
        return cls(worker_id_for(host, name, pid=0).rsplit(_zerog.WORKER_ID_DELIM, 1)[0], queue_url, updates_postfix)

    def worker_id(self, pid: int) -> str:
        return f"{self.id_prefix}{_zerog.WORKER_ID_DELIM}{pid}"


class ParkedSlot:
    """Answers on the control tube of the dead worker ``worker_id`` from a thread of its own."""

    def __init__(self, worker_id: str, fleet: Fleet) -> None:
        self.worker_id = worker_id
        self.parked_at = time.monotonic()
        queue = _zerog.Queue.open(fleet.queue_url)
        self.control = MgmtChannel(queue, worker_id)
        self.updates = MgmtChannel(queue, _zerog.updates_tube(fleet.updates_postfix))
        # A server queue wakes a waiting reserve; the embedded one is asked four times a second
        # (as the workers' control threads ask it).
        self.wait = 1.0 if queue.waits_in_whole_seconds else 0.0
        self.undrained = False
        self.retired = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name=f"zerog-parked-{worker_id}", daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set() and not self.undrained and not self.retired:
            try:
                msg = self.control.get_msg(timeout=self.wait)
            except _zerog.ZeroGError as e:
                log.warning("%s (drained, process gone): cannot read its control tube: %s", self.worker_id, e)
                self._stop.wait(1.0)
                continue
            if msg is None:
                if not self.wait:
                    self._stop.wait(0.25)
            elif isinstance(msg, RequestInfoMsg):
                # As a live worker reports them: the machine's free memory, and nothing used by
                # a process that is gone.
                down_for = {
                    **_zerog.memory_figures(),
                    "used": 0,
                    _zerog.IN_STATE_SECONDS: int(time.monotonic() - self.parked_at),
                }
                self.updates.send_msg(
                    make_msg(
                        "info", workerId=self.worker_id, state="drainingDown", uuid="", mem=down_for, retiring=False
                    )
                )
            elif isinstance(msg, UnDrainMsg):
                log.info("%s undrained: starting a new worker process in its place", self.worker_id)
                self.undrained = True
            elif isinstance(msg, RetireMsg):
                log.info("%s retired while its process was gone: the slot is given up", self.worker_id)
                self.retired = True

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
