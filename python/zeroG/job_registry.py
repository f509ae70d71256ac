"""The original zeroG's registry object, ``JobRegistry`` (``zeroG.JobRegistry``): job classes
given to it by JOB_TYPE, and jobs made from data or read from the store with them. zeroG's own
worker and handlers find every imported job class by themselves (``zeroG.registry``); this
keeps code written for the original working. A module of its own because it makes jobs, and
``zeroG.jobs`` uses ``zeroG.registry``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from zeroG import _zerog, config
from zeroG.jobs import BaseJob, make_key, new_job, stored_job

__all__ = ["JobRegistry"]


class JobRegistry:
    """The original zeroG's registry object: the job classes given to it, by JOB_TYPE, and jobs
    made from data or read from the store. zeroG's worker and handlers do not need it (they find
    every imported job class by themselves); code written for the original keeps working."""

    def __init__(self) -> None:
        self.registry: dict[str, type[BaseJob]] = {}

    def add_classes(self, jobClasses: Iterable[type]) -> dict[str, dict[str, Any]]:
        """Adds the classes; for each, by class name, ``{"success", "error"}`` (``error`` is
        ``"NotSubclass"`` for a class that is not a job class)."""
        added: dict[str, dict[str, Any]] = {}
        for cls in jobClasses:
            if not (isinstance(cls, type) and issubclass(cls, BaseJob)):
                added[getattr(cls, "__name__", repr(cls))] = {"success": False, "error": "NotSubclass"}
                continue
            self.registry[cls.JOB_TYPE] = cls  # type: ignore[attr-defined,assignment]
            added[cls.__name__] = {"success": True, "error": None}
        return added

    def get_registered_classes(self) -> list[type[BaseJob]]:
        return list(self.registry.values())

    def make_job(
        self,
        data: dict[str, Any],
        datastore: Any = None,
        queue: Any = None,
        keepalive: Any = None,
        jobType: str | None = None,
    ) -> BaseJob | None:
        """A job of ``jobType`` (else ``data["jobType"]``), or None if this registry has no
        class for it. ``data`` is a stored document (it has a ``uuid``; its ``cas``, if there,
        is taken as the job's) or a new job's values, checked by the class's SCHEMA
        (InvalidJobValues). The other arguments are passed to the class as the original did."""
        cls = self.registry.get(jobType or data.get("jobType") or "")
        if cls is None:
            return None
        args = (datastore, queue, keepalive)
        if "uuid" in data and "documentType" in data:
            doc = dict(data)
            cas = doc.pop("cas", 0) or 0
            return stored_job(cls, doc, int(cas), args)
        return new_job(cls, data, args)

    def get_job(self, uuid: str, datastore: Any = None, queue: Any = None, keepalive: Any = None) -> BaseJob | None:
        """The stored job with this uuid, or None if there is none or this registry has no
        class for its type. Read from ``datastore`` if it is a zeroG store, else from the
        configured one."""
        store = datastore if isinstance(datastore, _zerog.Store) else config.get_store()
        found = store.get(make_key(uuid))
        if found is None:
            return None
        doc, cas = found
        return self.make_job({**doc, "cas": cas}, datastore, queue, keepalive)
