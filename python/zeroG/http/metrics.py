"""What ``GET /metrics`` answers: Prometheus text.

- ``zerog_jobs{status}``: documents in the store by status (a gauge, read from the store on
  each scrape);
- ``zerog_queue_jobs{tube,state}``: queue entries by tube and state (a gauge, from the queue);
- ``zerog_job_run_seconds{status}``: how long the runs took (``startedAt`` to ``finishedAt``)
  of the jobs that finished since an hour before this server started (``LOOKBACK_SECONDS``), as
  a histogram: its first scrape already shows the recent runs, as a dashboard wants;
- ``zerog_workers{host,state}``: live workers by host and state, as they answer the scrape's
  ``requestInfo`` (within ``WORKERS_TIMEOUT``);
- ``zerog_up{component}``: 1 if the store (or the queue) answered this scrape, else 0.

Workers run in other processes, so the server cannot time runs itself. Instead each scrape walks
the store's finished jobs from where the last one stopped (an index walk, so a scrape costs what
finished since the last one, not what the store holds) and adds them to the histogram. The walk
stays ``SETTLE_SECONDS`` behind the clock, because a job is stamped finished a moment before its
document is written, and a walk that had passed that moment would never see it.
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from zeroG import config
from zeroG.errors import ZeroGError
from zeroG.http.base import BaseHandler
from zeroG.http.fleet import live_workers, manager_for
from zeroG.http.openapi_parts import operation, text_response
from zeroG.http.system import tube_counts

__all__ = ["SETTLE_SECONDS", "MetricsHandler", "RunDurations", "render", "run_durations"]

log = logging.getLogger("zeroG.server")

#: Upper bounds of the run-duration buckets, in seconds: a job system's runs go from
#: milliseconds to a day.
BUCKETS = (0.01, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0, math.inf)
SETTLE_SECONDS = 5.0
#: How long a scrape waits for the workers' answers (a live one answers within a second).
WORKERS_TIMEOUT = 1.5
#: How far back the histogram starts, counted from the server's start.
LOOKBACK_SECONDS = 3600.0
PAGE = 1000


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(t: datetime) -> str:
    # The store's timestamp format (as zeroG.jobs writes them), so text order is time order.
    return t.isoformat(timespec="microseconds")


class RunDurations:
    """The histogram, per final status, kept for the life of the server; and how many jobs
    finished in each minute of the last hour (``per_minute``), for the dashboard's chart. Both
    are fed by one walk of the finished jobs."""

    def __init__(self, since: datetime | None = None) -> None:
        self._cursor = (_stamp(since or _now() - timedelta(seconds=LOOKBACK_SECONDS)), 0)
        self._lock = asyncio.Lock()
        self.counts: dict[str, list[int]] = {}
        self.sums: dict[str, float] = {}
        #: minute (its first second, as "YYYY-MM-DDTHH:MM") -> final status -> jobs.
        self._minutes: dict[str, dict[str, int]] = {}

    def add(self, status: str, seconds: float) -> None:
        counts = self.counts.setdefault(status, [0] * len(BUCKETS))
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                counts[i] += 1
        self.sums[status] = self.sums.get(status, 0.0) + seconds

    def _count_minute(self, status: str, finished_at: str) -> None:
        minute = self._minutes.setdefault(finished_at[:16], {})
        minute[status] = minute.get(status, 0) + 1

    def per_minute(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """The last 60 minutes, oldest first: ``{"minute": "...THH:MM", "done": n, ...}`` (the
        final statuses seen, 0 where none). Minutes older than that are forgotten."""
        end = (now or _now()).replace(second=0, microsecond=0)
        keys = [_stamp(end - timedelta(minutes=m))[:16] for m in range(59, -1, -1)]
        for old in [k for k in self._minutes if k < keys[0]]:
            del self._minutes[old]
        return [{"minute": k, **self._minutes.get(k, {})} for k in keys]

    def distribution(self) -> dict[str, Any]:
        """Run times of every status together: the bucket bounds (seconds, the last one
        unbounded) and how many runs took at most each bound and more than the one before."""
        total = [sum(c[i] for c in self.counts.values()) for i in range(len(BUCKETS))]
        per_bucket = [n - (total[i - 1] if i else 0) for i, n in enumerate(total)]
        return {"bounds": [None if math.isinf(b) else b for b in BUCKETS], "runs": per_bucket}

    async def catch_up(self, store: Any, settle: float = SETTLE_SECONDS) -> None:
        """Adds the runs that finished since the last call, up to ``settle`` seconds ago."""
        async with self._lock:  # two scrapes at once must not count a run twice
            until = _stamp(_now() - timedelta(seconds=settle))
            while True:
                finished_at, seq = self._cursor
                docs, self._cursor = await store.finished_after_async(finished_at, until, seq, PAGE)
                for doc in docs:
                    status = str(doc.get("status") or "done")
                    seconds = _run_seconds(doc)
                    if seconds is not None:
                        self.add(status, seconds)
                    if isinstance(doc.get("finishedAt"), str):
                        self._count_minute(status, doc["finishedAt"])
                if len(docs) < PAGE:
                    return

    def render(self) -> list[str]:
        lines = [
            "# HELP zerog_job_run_seconds Run time (startedAt to finishedAt) of jobs that finished since "
            "an hour before this server started.",
            "# TYPE zerog_job_run_seconds histogram",
        ]
        for status in sorted(self.counts):
            for bound, n in zip(BUCKETS, self.counts[status], strict=True):
                le = "+Inf" if math.isinf(bound) else repr(bound)
                lines.append(f'zerog_job_run_seconds_bucket{{status="{status}",le="{le}"}} {n}')
            lines.append(f'zerog_job_run_seconds_sum{{status="{status}"}} {self.sums[status]!r}')
            lines.append(f'zerog_job_run_seconds_count{{status="{status}"}} {self.counts[status][-1]}')
        return lines


def _run_seconds(doc: dict[str, Any]) -> float | None:
    try:
        started = datetime.fromisoformat(doc["startedAt"])
        finished = datetime.fromisoformat(doc["finishedAt"])
    except (KeyError, TypeError, ValueError):
        return None  # cancelled before it started, or written by hand: no run to time
    return max(0.0, (finished - started).total_seconds())


def run_durations(app: Any) -> RunDurations:
    """The application's walk of finished jobs, which /metrics and /overview share."""
    durations: RunDurations | None = getattr(app, "run_durations", None)
    if durations is None:
        durations = app.run_durations = RunDurations()
    return durations


def _label(value: str) -> str:
    # Prometheus label values escape backslash, double quote and newline.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


async def render(app: Any, store: Any, queue: Any, settle: float = SETTLE_SECONDS) -> str:
    """The whole exposition. ``app.run_durations`` keeps the histogram between scrapes."""
    durations = run_durations(app)
    lines: list[str] = []
    up = {}
    # A store or queue that is down is reported as down (zerog_up), and the scrape still
    # answers with what the other one gave: a scrape that fails tells less.
    try:
        counts = await store.count_by_status_async()
        lines += ["# HELP zerog_jobs Jobs in the store by status.", "# TYPE zerog_jobs gauge"]
        lines += [f'zerog_jobs{{status="{status}"}} {n}' for status, n in counts]
        await durations.catch_up(store, settle)
        lines += durations.render()
        up["store"] = 1
    except ZeroGError as e:
        log.warning("metrics: store: %s", e)
        up["store"] = 0
    try:
        lines += ["# HELP zerog_queue_jobs Queue entries by tube and state.", "# TYPE zerog_queue_jobs gauge"]
        for tube, counts in (await tube_counts(queue)).items():
            lines += [f'zerog_queue_jobs{{tube="{_label(tube)}",state="{k}"}} {n}' for k, n in counts.items()]
        lines += await _workers(app)
        up["queue"] = 1
    except ZeroGError as e:
        log.warning("metrics: queue: %s", e)
        up["queue"] = 0
    lines += ["# HELP zerog_up Whether the store and the queue answered this scrape.", "# TYPE zerog_up gauge"]
    lines += [f'zerog_up{{component="{name}"}} {v}' for name, v in up.items()]
    return "\n".join(lines) + "\n"


async def _workers(app: Any) -> list[str]:
    manager = manager_for(app.settings)
    counts: dict[tuple[str, str], int] = {}
    for w in await live_workers(manager, WORKERS_TIMEOUT):
        counts[(w["host"], w["state"])] = counts.get((w["host"], w["state"]), 0) + 1
    lines = ["# HELP zerog_workers Live workers by host and state.", "# TYPE zerog_workers gauge"]
    lines += [
        f'zerog_workers{{host="{_label(host)}",state="{state}"}} {n}' for (host, state), n in sorted(counts.items())
    ]
    return lines


class MetricsHandler(BaseHandler):
    """``GET /metrics``: Prometheus text. Jobs by status, queue depths by tube and state, and
    a histogram of run durations of the jobs that finished since an hour before this server
    started."""

    OPENAPI = {
        "get": operation(
            "getMetrics",
            "Metrics for Prometheus",
            "system",
            {"200": text_response("The Prometheus text exposition format.", "text/plain")},
        )
    }

    async def get(self) -> None:
        settle = float(self.settings.get("metrics_settle", SETTLE_SECONDS))
        text = await render(self.application, config.get_store(), config.get_queue(), settle)
        self.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.finish(text)
