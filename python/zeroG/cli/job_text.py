"""How the job commands of ``zerog`` (``zeroG.cli.jobs``, ``zeroG.cli.watch``) read and write a
job: its document straight from the store (no job class needed), its progress as a percent, its
log entries and times as text, and whether to draw with rich or print plain lines."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from zeroG import _zerog
from zeroG.jobs import document_log, document_progress, make_key

__all__ = [
    "entry_line",
    "entry_message",
    "latest_entry",
    "no_job",
    "on_terminal",
    "own_values",
    "percent",
    "read_jobs",
    "when",
]

# The fields zeroG writes in every document; the others are the job's own values.
_BASE_NAMES = frozenset(name for name, *_ in _zerog.BASE_FIELDS)


def on_terminal(as_json: bool) -> bool:
    """Whether to draw with rich: only for people. A pipe, a file or CI gets plain lines, and
    ``--json`` gets JSON whatever stdout is."""
    return not as_json and sys.stdout.isatty()


def no_job(command: str, uuid: str) -> int:
    """Says on stderr that no job has this uuid; the exit code for it."""
    print(f"zerog {command}: no job {uuid}", file=sys.stderr)
    return 1


def read_jobs(store: _zerog.Store, command: str, uuids: Sequence[str]) -> list[tuple[dict[str, Any], int]] | None:
    """Each job's document and CAS, in the order given; None, once every unknown uuid has been
    named on stderr, if any job has no document."""
    found = [store.get(make_key(uuid)) for uuid in uuids]
    missing = [uuid for uuid, got in zip(uuids, found, strict=True) if got is None]
    for uuid in missing:
        no_job(command, uuid)
    return None if missing else [got for got in found if got is not None]


def percent(doc: dict[str, Any]) -> str:
    completeness = document_progress(doc)["completeness"]
    return f"{float(completeness or 0):.0%}"


def when(timestamp: Any, ms: bool = True) -> str:
    """``2026-12-05 10:11:12.345`` (UTC, as stored) from an ISO 8601 timestamp, without the
    milliseconds unless ``ms``; ``-`` for none."""
    return str(timestamp)[: 23 if ms else 19].replace("T", " ") if timestamp else "-"


def entry_message(entry: dict[str, Any]) -> str:
    """A log entry's message, after its error code if it has one."""
    code = entry.get("errorCode")
    return f"{code}: {entry.get('msg', '')}" if code is not None else str(entry.get("msg", ""))


def entry_line(kind: str, entry: dict[str, Any]) -> str:
    """A log entry as one line: an event's message, else what it is first (``error: 503: ...``)."""
    return entry_message(entry) if kind == "event" else f"{kind}: {entry_message(entry)}"


def latest_entry(doc: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    log = document_log(doc)
    return log[-1] if log else None


def own_values(doc: dict[str, Any]) -> dict[str, Any]:
    """The job's own fields (its schema's), without zeroG's."""
    return {k: v for k, v in doc.items() if k not in _BASE_NAMES}
