"""``zerog watch``: follows jobs until every one has ended. On a terminal it draws a live progress
bar for each (rich), with its status and latest log entry; anywhere else it prints one line per
change (uuid, status, percent, latest entry), or with ``--json`` one JSON object per change.
``zerog enqueue --watch`` and the example (examples/progress_demo.py) call ``watch()`` too.

Like ``GET /watch/{uuid}`` it reads the documents at an interval (the store has no change feed
that reaches across processes), and a document whose CAS has not moved has nothing new.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Column

from zeroG import _zerog
from zeroG.cli.job_text import entry_line, latest_entry, on_terminal, percent, read_jobs
from zeroG.jobs import FINAL_STATUSES, document_finished, document_progress, document_status, make_key

__all__ = ["INTERVAL", "watch"]

#: Seconds between reads: often enough to look live; an unchanged document costs the store one
#: indexed read.
INTERVAL = 0.25

#: The status shown for a job whose document was deleted while it was watched.
GONE = "gone"
# Plain lines pad the status to the longest one (cancelled), so that the columns line up.
_STATUS_WIDTH = max(map(len, FINAL_STATUSES))


@dataclass
class _Job:
    uuid: str
    doc: dict[str, Any]
    cas: int
    gone: bool = False

    @property
    def status(self) -> str:
        return GONE if self.gone else document_status(self.doc)

    @property
    def ended(self) -> bool:
        return self.gone or document_finished(self.doc)

    def reread(self, store: _zerog.Store) -> bool:
        """Reads the document again; whether anything changed."""
        found = store.get(make_key(self.uuid))
        if found is None:
            self.gone = True
            return True
        if found[1] == self.cas:
            return False
        self.doc, self.cas = found
        return True

    def latest(self) -> str:
        entry = latest_entry(self.doc)
        return entry_line(*entry) if entry else ""

    def summary(self) -> dict[str, Any]:
        """The job as a JSON line tells it."""
        entry = latest_entry(self.doc)
        return {
            "uuid": self.uuid,
            "jobType": self.doc.get("jobType"),
            "status": self.status,
            **document_progress(self.doc),
            "latest": {"kind": entry[0], **entry[1]} if entry else None,
        }


class _Lines:
    """One line per change, plain or JSON, flushed at once for whoever reads the pipe."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.shown: dict[str, dict[str, Any]] = {}

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def show(self, job: _Job) -> None:
        summary = job.summary()
        # A write that changed nothing shown (a heartbeat, say) is not a change to the reader.
        if self.shown.get(job.uuid) == summary:
            return
        self.shown[job.uuid] = summary
        if self.as_json:
            print(json.dumps(summary), flush=True)
        else:
            cells = (job.uuid, job.status.ljust(_STATUS_WIDTH), percent(job.doc).rjust(len("100%")), job.latest())
            print("  ".join(cells).rstrip(), flush=True)

    def frame(self) -> None:
        pass  # every line went out as it came


class _Bars:
    """rich's progress bars, one per job, redrawn after each read that changed something."""

    def __init__(self, jobs: Sequence[_Job]) -> None:
        self.progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[status]}"),
            # The latest entry gets what width is left, cut short rather than wrapped, so every
            # job keeps one line.
            TextColumn("{task.fields[latest]}", markup=False, table_column=Column(no_wrap=True, overflow="ellipsis")),
            console=Console(),
            # Drawn when something changed, not on a timer: a frame per change.
            auto_refresh=False,
        )
        self.tasks = {
            job.uuid: self.progress.add_task(
                f"{job.uuid[:8]} {job.doc.get('jobType')}", total=1.0, status="", latest=""
            )
            for job in jobs
        }
        for job in jobs:
            self.show(job)  # before the first frame, which start() draws

    def __enter__(self) -> _Bars:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()  # draws the last frame and leaves it on the screen

    def show(self, job: _Job) -> None:
        status = job.status
        style = "green" if status == "done" else "red" if job.ended else "cyan"
        self.progress.update(
            self.tasks[job.uuid],
            completed=float(document_progress(job.doc)["completeness"] or 0),
            status=f"[{style}]{status}[/]",
            latest=job.latest(),
        )

    def frame(self) -> None:
        self.progress.refresh()


def watch(store: _zerog.Store, uuids: Sequence[str], as_json: bool = False, interval: float = INTERVAL) -> int:
    """Follows the jobs ``uuids`` until each has ended. Returns the exit code: 0 if every one
    ended done, else 1, the others named on stderr; 1 at once, naming it, for an unknown uuid;
    130 on Ctrl-C."""
    uuids = list(dict.fromkeys(uuids))
    found = read_jobs(store, "watch", uuids)
    if found is None:
        return 1
    jobs = [_Job(uuid, doc, cas) for uuid, (doc, cas) in zip(uuids, found, strict=True)]
    view: _Lines | _Bars = _Bars(jobs) if on_terminal(as_json) else _Lines(as_json)
    try:
        with view:
            changed = jobs
            while True:
                for job in changed:
                    view.show(job)
                if changed:
                    view.frame()
                if all(job.ended for job in jobs):
                    break
                time.sleep(interval)
                changed = [job for job in jobs if not job.ended and job.reread(store)]
    except KeyboardInterrupt:
        return 130
    not_done = [job for job in jobs if job.status != "done"]
    if not_done:
        named = ", ".join(f"{job.uuid} {job.status}" for job in not_done)
        print(f"zerog watch: {len(not_done)} of {len(jobs)} jobs did not end done: {named}", file=sys.stderr)
        return 1
    return 0
