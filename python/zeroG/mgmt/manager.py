"""``WorkerManager``: sees every worker of a fleet and steers them, as the original zeroG's did.

Workers are found by listing the queue's tubes: a worker's control tube is named by its id
(``zerog+$<host>+$<name>+$<pid>``) and is watched while its process lives. A tube whose worker
is gone is emptied (so it disappears) and the worker dropped. What each worker is doing comes
from the ``info`` messages it answers ``requestInfo`` with on the updates tube: call
``request_updates()``, give the workers a moment, then ``poll_updates_channel()`` (or
``refresh()``, which does the three). Nothing runs in the background.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from zeroG import _zerog, config
from zeroG.mgmt.channel import MgmtChannel
from zeroG.mgmt.messages import BaseMsg, InfoMsg, JobMsg, make_msg

__all__ = ["ANSWER_TIMEOUT", "STEERING", "WorkerManager"]

#: How long ``refresh()`` gives the workers to answer (a live one answers within a second).
ANSWER_TIMEOUT = 2.5
#: What an operator can tell a worker to do, besides killing its job.
STEERING = ("drain", "undrain", "retire")


class WorkerManager:
    """``WorkerManager(queueHost, queuePort, updatesPostfix="")`` for a beanstalkd server, as
    the original took it; or ``WorkerManager(queue_url=...)`` for any queue (the embedded one
    too); with neither, the queue zeroG is configured with."""

    def __init__(
        self,
        queueHost: str | None = None,
        queuePort: int = 11300,
        updatesPostfix: str = "",
        *,
        queue_url: str | None = None,
    ) -> None:
        if queue_url is None:
            queue_url = f"beanstalk://{queueHost}:{queuePort}" if queueHost else config.queue_url()
        self.queue_url = queue_url
        self.queue = _zerog.Queue.open(queue_url)
        # Control messages go out on a connection of their own: a beanstalkd tube lives while
        # a connection uses it, so this one is replaced when a worker is found gone.
        self._sender = _zerog.Queue.open(queue_url)
        self.updatesChannel = MgmtChannel(self.queue, _zerog.updates_tube(updatesPostfix))
        #: workerId -> {"alive", "state", "retiring", "runningJobUuid", "mem"}, from info messages.
        self.workers: dict[str, dict[str, Any]] = {}
        #: uuid -> {timestamp: {"workerId", "action"}}, from job messages.
        self.jobRuns: dict[str, dict[datetime, dict[str, str]]] = {}

    # -- finding workers ---------------------------------------------------------------------

    def known_workers(self) -> dict[str, dict[str, Any]]:
        """workerId -> its parts (``parse_worker_id``), for every worker whose process lives.
        The control tube of a worker that is gone is emptied, so it disappears."""
        found: dict[str, dict[str, Any]] = {}
        gone = False
        for tube in self.queue.list_tubes():
            parts = _zerog.parse_worker_id(tube)
            if parts is None:
                continue
            if self.queue.stats_tube(tube)["watching"]:
                found[tube] = parts
            else:
                self._clear(tube)
                gone = True
        if gone:
            self._sender = _zerog.Queue.open(self.queue_url)
        return found

    def _clear(self, tube: str) -> None:
        # On a connection of its own: reserving on the dead tube would leave this manager's
        # connection watching it, and the tube would look alive.
        other = _zerog.Queue.open(self.queue_url)
        MgmtChannel(other, tube).empty()

    def request_updates(self) -> None:
        """Drops workers that are gone and asks every live one for its info."""
        ids = self.known_workers()
        for gone in set(self.workers) - set(ids):
            del self.workers[gone]
        self.request_worker_statuses(ids)

    def update_workers(self) -> None:
        """``request_updates()``, under the original's older name."""
        return self.request_updates()

    def poll_updates_channel(self) -> None:
        """Reads every message waiting on the updates tube into ``workers`` and ``jobRuns``."""
        while (msg := self.updatesChannel.get_msg()) is not None:
            self._handle(msg)

    def _handle(self, msg: BaseMsg) -> None:
        if isinstance(msg, InfoMsg):
            self.handle_info_msg(msg)
        elif isinstance(msg, JobMsg):
            self.handle_job_msg(msg)

    def handle_info_msg(self, msg: BaseMsg) -> None:
        m: Any = msg
        self.workers[m.workerId] = {
            "alive": True,
            "state": m.state,
            "retiring": m.retiring,
            "runningJobUuid": m.uuid,
            "mem": m.mem,
        }

    def handle_job_msg(self, msg: BaseMsg) -> None:
        m: Any = msg
        self.jobRuns.setdefault(m.uuid, {})[m.timestamp] = {"workerId": m.workerId, "action": m.action}

    def refresh(self, timeout: float = ANSWER_TIMEOUT) -> dict[str, dict[str, Any]]:
        """``request_updates()``, then reads answers until every live worker has answered or
        ``timeout`` seconds pass. Returns ``workers``: those that did not answer in time are
        left out (a worker answers within a second while it lives)."""
        ids = self.known_workers()
        self.workers = {}
        self.request_worker_statuses(ids)
        deadline = time.monotonic() + timeout
        while set(ids) - set(self.workers) and time.monotonic() < deadline:
            msg = self.updatesChannel.get_msg(timeout=min(0.2, max(0.0, deadline - time.monotonic())))
            if msg is not None:
                self._handle(msg)
        return self.workers

    # -- per host -----------------------------------------------------------------------------

    def workers_by_host(self) -> dict[str, list[dict[str, Any]]]:
        """host -> its workers, each ``{"workerId", "state", "retiring", "runningJobUuid", "mem"}``."""
        out: dict[str, list[dict[str, Any]]] = {}
        for worker_id, w in self.workers.items():
            parts = _zerog.parse_worker_id(worker_id)
            if parts is None:
                continue
            entry = {"workerId": worker_id, **{k: v for k, v in w.items() if k != "alive"}}
            out.setdefault(parts["host"], []).append(entry)
        return out

    def _ids_on(self, host: str) -> list[str]:
        return [w["workerId"] for w in self.workers_by_host().get(host, [])]

    def drain_host(self, host: str, retire: bool = False) -> None:
        self.drain_workers(self._ids_on(host), retire)

    def un_drain_host(self, host: str) -> None:
        self.un_drain_workers(self._ids_on(host))

    def host_is_drained(self, host: str) -> bool:
        """Every worker on the host is draining and runs nothing (False for a host with none)."""
        workers = self.workers_by_host().get(host, [])
        return bool(workers) and all("draining" in w["state"] and not w["runningJobUuid"] for w in workers)

    def job_count_by_host(self) -> dict[str, int]:
        return {host: sum(1 for w in ws if w["runningJobUuid"]) for host, ws in self.workers_by_host().items()}

    def states_by_host(self) -> dict[str, list[str]]:
        return {host: [w["state"] for w in ws] for host, ws in self.workers_by_host().items()}

    # -- sending -----------------------------------------------------------------------------

    def send_ctrl_msg(self, workerId: str, msg: BaseMsg) -> None:
        MgmtChannel(self._sender, workerId).send_msg(msg)

    def _send_all(self, workerIds: Any, msg: BaseMsg) -> None:
        for worker_id in workerIds:
            self.send_ctrl_msg(worker_id, msg)

    def drain_workers(self, workerIds: Any, retire: bool = False) -> None:
        self._send_all(workerIds, make_msg("retire" if retire else "drain"))

    def un_drain_workers(self, workerIds: Any) -> None:
        self._send_all(workerIds, make_msg("undrain"))

    def steer(self, workerIds: Any, action: str) -> None:
        """Sends ``action`` (one of ``STEERING``) to each worker."""
        if action not in STEERING:
            raise ValueError(f"unknown action {action!r} (one of {', '.join(STEERING)})")
        if action == "undrain":
            self.un_drain_workers(workerIds)
        else:
            self.drain_workers(workerIds, retire=action == "retire")

    def request_worker_statuses(self, workerIds: Any) -> None:
        self._send_all(workerIds, make_msg("requestInfo"))

    def kill_job(self, uuid: str) -> list[str]:
        """Sends ``killJob`` to the workers running ``uuid`` (as last seen); returns their ids."""
        ids = [wid for wid, w in self.workers.items() if w["runningJobUuid"] == uuid]
        self._send_all(ids, make_msg("killJob", uuid=uuid))
        return ids
