"""The dashboard: its page and assets under ``/ui/``, and ``GET /overview``, the one JSON answer
its overview needs.

The assets are files in the package (``zeroG/ui/``), written without a build step: plain HTML,
CSS and JavaScript modules, so the wheel carries them and nothing is fetched from a CDN or the
network at run time. They hold no data and need no token; every JSON route they call does, and
the page asks for the token (kept in the tab's session storage, never in a URL).

Every answer under ``/ui/`` carries a Content-Security-Policy that allows scripts, styles and
connections from this server only, no inline script, and no framing: a job whose events hold
``<script>`` could not run it even if the page inserted it as markup (it inserts text only).
"""

from __future__ import annotations

import asyncio
import functools
from importlib import resources

from zeroG import _zerog, config
from zeroG.http.base import ApiError, BaseHandler
from zeroG.http.metrics import SETTLE_SECONDS, run_durations
from zeroG.http.openapi_parts import json_response, operation
from zeroG.http.system import tube_counts

__all__ = ["CONTENT_SECURITY_POLICY", "OverviewHandler", "UiHandler", "UiRedirectHandler"]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

_TYPES = {
    ".html": "text/html; charset=UTF-8",
    ".js": "text/javascript; charset=UTF-8",
    ".css": "text/css; charset=UTF-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=UTF-8",
}


@functools.cache
def _assets() -> dict[str, tuple[bytes, str]]:
    """Every file of the dashboard, read on the first request for one: name -> (bytes, content
    type). Only these names are served, so no path can reach outside the folder."""
    folder = resources.files("zeroG") / "ui"
    found = {}
    for item in folder.iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1]
        if item.is_file() and suffix in _TYPES:
            found[item.name] = (item.read_bytes(), _TYPES[suffix])
    return found


class UiHandler(BaseHandler):
    """``GET /ui/`` (the page) and ``GET /ui/<file>`` (its scripts and styles)."""

    auth_required = False  # the files hold no data; the routes they call ask for the token

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Cache-Control", "no-cache")

    def get(self, asset: str) -> None:
        found = _assets().get(asset or "index.html")
        if found is None:
            raise ApiError(404, f"the dashboard has no file {asset!r}")
        body, content_type = found
        self.set_header("Content-Type", content_type)
        self.finish(body)


class UiRedirectHandler(BaseHandler):
    """``GET /ui``: to ``/ui/``, where the page's relative links resolve."""

    auth_required = False

    def get(self) -> None:
        self.redirect("/ui/", permanent=True)


class OverviewHandler(BaseHandler):
    """``GET /overview``: jobs by status, queue entries per job tube, jobs finished per minute in
    the last hour, and the run-time distribution. Counting is the store's (an index, not a
    read of every document); the finished jobs are walked from where the last call stopped."""

    OPENAPI = {
        "get": operation(
            "getOverview",
            "What the dashboard's overview shows",
            "system",
            {
                "200": json_response(
                    "Jobs by status, queues per tube, throughput per minute and run times.",
                    {
                        "type": "object",
                        "required": ["jobs", "queues", "perMinute", "runTimes"],
                        "properties": {
                            "jobs": {"type": "object", "additionalProperties": {"type": "integer"}},
                            "queues": {"type": "object"},
                            "perMinute": {"type": "array", "items": {"type": "object"}},
                            "runTimes": {"type": "object"},
                        },
                    },
                )
            },
        )
    }

    async def get(self) -> None:
        store, queue = config.get_store(), config.get_queue()
        durations = run_durations(self.application)
        settle = float(self.settings.get("metrics_settle", SETTLE_SECONDS))

        updates = _zerog.updates_tube(self.settings.get("updates_postfix", ""))

        def job_tube(tube: str) -> bool:
            # The fleet's control tubes (one per worker) and its updates tube carry no jobs, and
            # the workers page shows the fleet.
            return tube != updates and _zerog.parse_worker_id(tube) is None

        # A store or queue that is down answers 503 naming it (BaseHandler.write_error).
        counts, tubes, _ = await asyncio.gather(
            store.count_by_status_async(), tube_counts(queue, job_tube), durations.catch_up(store, settle)
        )
        self.write_json(
            {
                "jobs": dict(counts),
                "queues": tubes,
                "perMinute": durations.per_minute(),
                "runTimes": durations.distribution(),
            }
        )
