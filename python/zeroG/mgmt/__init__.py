"""Running a fleet of workers, as the original zeroG's ``zerog.mgmt`` did: each worker process
has an id (``zerog+$<host>+$<name>+$<pid>``) and a control tube of that name; managers send it
``drain``, ``undrain``, ``retire``, ``killJob`` and ``requestInfo``, and it answers on the
``updates`` tube. The messages are the original's bytes, so its ``WorkerManager`` drives zeroG
workers and this one drives its servers.

Worker states: ``activeIdle``, ``activeRunning``, ``drainingIdle``, ``drainingRunning``, and
``drainingDown`` (an original server whose worker process is gone); plus ``retiring``.
"""

from __future__ import annotations

from zeroG._zerog import make_worker_id, parse_worker_id
from zeroG.mgmt.channel import MgmtChannel
from zeroG.mgmt.manager import WorkerManager
from zeroG.mgmt.messages import (
    BaseMsg,
    DrainMsg,
    InfoMsg,
    JobMsg,
    KillJobMsg,
    RequestInfoMsg,
    RetireMsg,
    UnDrainMsg,
    make_msg,
    make_msg_from_json,
)

__all__ = [
    "UPDATES_CHANNEL_NAME",
    "WORKER_STATES",
    "BaseMsg",
    "DrainMsg",
    "InfoMsg",
    "JobMsg",
    "KillJobMsg",
    "MgmtChannel",
    "RequestInfoMsg",
    "RetireMsg",
    "UnDrainMsg",
    "WorkerManager",
    "make_msg",
    "make_msg_from_json",
    "make_worker_id",
    "parse_worker_id",
]

#: The tube workers answer on (a postfix may follow: ``updates_dev``).
UPDATES_CHANNEL_NAME = "updates"
WORKER_STATES = ("activeIdle", "activeRunning", "drainingIdle", "drainingRunning", "drainingDown")
