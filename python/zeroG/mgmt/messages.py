"""The control channel's messages, as the original zeroG's ``zerog.mgmt`` had them: a class per
message type, ``make_msg(msgtype, **fields)`` and ``make_msg_from_json(text)``.

The wire format (field order, the naive-UTC timestamp, the JSON separators) is the engine's
(``zeroG._zerog.fleet_message_json``), the same code the Rust worker writes its answers with;
these classes only give it the original's shape: attributes, ``dump()`` and ``dumps()``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, ClassVar

from zeroG import _zerog

__all__ = [
    "BaseMsg",
    "DrainMsg",
    "InfoMsg",
    "JobMsg",
    "KillJobMsg",
    "MSG_TYPE_TO_CLASS_MAP",
    "RequestInfoMsg",
    "RetireMsg",
    "UnDrainMsg",
    "make_msg",
    "make_msg_from_json",
]


class BaseMsg:
    """A message: ``msgtype``, ``timestamp`` (a naive UTC datetime, now unless given) and the
    fields of its type, checked as they are made (ValueError names what is wrong)."""

    MSG_TYPE: ClassVar[str] = "base"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("msgtype", self.MSG_TYPE)
        stamp = kwargs.get("timestamp")
        if isinstance(stamp, datetime):
            kwargs["timestamp"] = stamp.isoformat()
        fields = _zerog.fleet_message(kwargs) if self.MSG_TYPE != "base" else _base(kwargs)
        self._names = list(fields)
        for name, value in fields.items():
            setattr(self, name, datetime.fromisoformat(value) if name == "timestamp" else value)

    def dump(self) -> dict[str, Any]:
        """The fields, in the order they are written, the timestamp as ISO text."""
        out = {name: getattr(self, name) for name in self._names}
        out["timestamp"] = _iso(out["timestamp"])
        return out

    def dumps(self, **kwargs: Any) -> str:
        """The queue body, byte for byte the original's; with keyword arguments, ``json.dumps``
        of ``dump()`` with them (``indent=4``, say)."""
        if kwargs:
            return json.dumps(self.dump(), **kwargs)
        return _zerog.fleet_message_json(self.dump())

    def __str__(self) -> str:
        return self.dumps(indent=4)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.dump()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BaseMsg) and self.dump() == other.dump()

    __hash__ = None  # type: ignore[assignment]


def _iso(stamp: datetime) -> str:
    """As Python's ``isoformat()`` writes a naive UTC time (the original's format)."""
    return stamp.isoformat()


def _base(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {"msgtype": kwargs["msgtype"], "timestamp": kwargs.get("timestamp") or datetime.utcnow().isoformat()}


class JobMsg(BaseMsg):
    """From a worker: a job ``start``\\ed or ``end``\\ed (``workerId``, ``uuid``, ``action``)."""

    MSG_TYPE = "job"


class InfoMsg(BaseMsg):
    """From a worker, answering ``requestInfo``: ``workerId``, ``state``, ``uuid`` (the running
    job, or ""), ``mem`` (``available`` and ``used`` bytes) and ``retiring``."""

    MSG_TYPE = "info"


class RequestInfoMsg(BaseMsg):
    MSG_TYPE = "requestInfo"


class KillJobMsg(BaseMsg):
    """Stop the running job ``uuid`` now: it ends with result 410, "Killed by user"."""

    MSG_TYPE = "killJob"


class DrainMsg(BaseMsg):
    MSG_TYPE = "drain"


class UnDrainMsg(BaseMsg):
    MSG_TYPE = "undrain"


class RetireMsg(BaseMsg):
    MSG_TYPE = "retire"


MSG_TYPE_TO_CLASS_MAP: dict[str, type[BaseMsg]] = {
    cls.MSG_TYPE: cls for cls in (JobMsg, InfoMsg, RequestInfoMsg, KillJobMsg, DrainMsg, UnDrainMsg, RetireMsg)
}


def make_msg(msgtype: str, **kwargs: Any) -> BaseMsg:
    """The message of type ``msgtype`` with these fields. ValueError for an unknown type or a
    field that is missing, extra or of the wrong type."""
    cls = MSG_TYPE_TO_CLASS_MAP.get(msgtype)
    if cls is None:
        raise ValueError(f"unknown msgtype {msgtype!r} (known: {', '.join(MSG_TYPE_TO_CLASS_MAP)})")
    return cls(**kwargs)


def make_msg_from_json(text: str | bytes) -> BaseMsg:
    """A queue body read back as its message; ValueError says what is wrong with it."""
    fields = _zerog.parse_fleet_message(text)
    return make_msg(**fields)
