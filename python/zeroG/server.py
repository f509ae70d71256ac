"""The HTTP server: ``Server`` (the original's application class), ``make_app`` (the simple
form with every route), and the ``zerog-server`` command.

Run it::

    zerog-server --port 8888 --module myapp.jobs

or build the application yourself::

    app = zeroG.make_app(job_modules=["myapp.jobs"], api_token=os.environ.get("ZEROG_API_TOKEN"))
    app.listen(8888)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import tornado.httpserver
import tornado.web

from zeroG import _zerog, config, registry
from zeroG.handlers import (
    DEFAULT_MAX_BODY,
    JOB_TYPE_PATT,
    UUID_PATT,
    CancelHandler,
    DumpHandler,
    GetDataHandler,
    HealthHandler,
    InfoHandler,
    JobsHandler,
    MetricsHandler,
    NotFoundHandler,
    OpenApiHandler,
    ProgressHandler,
    QueuesHandler,
    RunJobHandler,
    WatchHandler,
)
from zeroG.jobs import BaseJob
from zeroG.metrics import RunDurations

__all__ = ["Server", "default_routes", "main", "make_app"]

log = logging.getLogger("zeroG.server")

Routes = list[tuple[str, type[tornado.web.RequestHandler]]]


def default_routes() -> Routes:
    """Every route zeroG serves: the original's five, then the newer ones."""
    return [
        (f"/job/{JOB_TYPE_PATT}", RunJobHandler),
        (f"/progress/{UUID_PATT}", ProgressHandler),
        (f"/info/{UUID_PATT}", InfoHandler),
        (f"/data/{UUID_PATT}", GetDataHandler),
        (f"/dump/{UUID_PATT}", DumpHandler),
        ("/jobs", JobsHandler),
        (f"/cancel/{UUID_PATT}", CancelHandler),
        (f"/watch/{UUID_PATT}", WatchHandler),
        ("/queues", QueuesHandler),
        ("/health", HealthHandler),
        ("/metrics", MetricsHandler),
        ("/openapi.json", OpenApiHandler),
    ]


def _url_of(made: Any, kind: str) -> str:
    """A store or queue URL from what a factory gave: a URL, or an opened Store/Queue."""
    if isinstance(made, str):
        return made
    url = getattr(made, "url", None)
    if not isinstance(url, str):
        raise TypeError(f"make_{kind} must give a {kind} URL or a zeroG._zerog.{kind.title()}, not {made!r}")
    return url


class Server(tornado.web.Application):
    """The original zeroG's application: ``Server(name, make_datastore, make_queue, job_classes,
    handlers=[...])``.

    ``make_datastore()`` gives the store and ``make_queue(f"{name}_jobs")`` the queue, each as a
    URL or as an opened ``zeroG._zerog.Store`` / ``Queue``; this process then uses them for
    every job (``zeroG.configure``). Only ``job_classes`` can be created through
    ``RunJobHandler``. The routes are those in ``handlers``, as in the original (which mounted
    none of its own); add ``default_routes()`` for zeroG's. Jobs are run by ``zerog-worker``
    processes, not by the server. Other keyword arguments are Tornado settings, plus:
    ``api_token`` (bearer token for every route but /health), ``cors_origins`` (``"*"``, a list
    of origins, or None for no CORS headers), ``max_body_size`` (bytes) and ``watch_interval``
    (seconds between reads of a watched job).
    """

    def __init__(
        self,
        name: str,
        make_datastore: Callable[[], Any],
        make_queue: Callable[[str], Any],
        job_classes: Iterable[type[BaseJob]],
        handlers: Routes | None = None,
        **settings: Any,
    ) -> None:
        self.name = name
        config.configure(store=_url_of(make_datastore(), "store"), queue=_url_of(make_queue(f"{name}_jobs"), "queue"))
        self.job_classes: dict[str, type[BaseJob]] = {}
        for cls in job_classes:
            other = self.job_classes.setdefault(cls.JOB_TYPE, cls)
            if other is not cls:
                raise ValueError(f"job type {cls.JOB_TYPE!r} is declared by both {other!r} and {cls!r}")
        # Runs that finish from now on are timed for /metrics.
        self.run_durations = RunDurations()
        settings.setdefault("cors_origins", "*")
        settings.setdefault("max_body_size", DEFAULT_MAX_BODY)
        settings.setdefault("default_handler_class", NotFoundHandler)
        super().__init__(list(handlers or []), **settings)

    def listen(self, port: int, address: str | None = None, **kwargs: Any) -> tornado.httpserver.HTTPServer:
        # Bodies are limited per request by the handlers (with a JSON 413); Tornado's own cap
        # only has to be above theirs.
        kwargs.setdefault("max_body_size", 2 * int(self.settings["max_body_size"]) + 65536)
        return super().listen(port, address, **kwargs)


def make_app(
    job_modules: Iterable[str] = (),
    *,
    store: str | None = None,
    queue: str | None = None,
    name: str = "zerog",
    api_token: str | None = None,
    **settings: Any,
) -> Server:
    """A ``Server`` with every route, on the configured store and queue (``configure()``, else
    ``ZEROG_STORE`` / ``ZEROG_QUEUE``, else ``./zerog.db``), for every job class registered
    once ``job_modules`` are imported. ``api_token`` defaults to ``ZEROG_API_TOKEN``."""
    registry.import_job_modules(job_modules)
    store_url = config.store_url() if store is None else store
    queue_url = config.queue_url() if queue is None else queue
    token = api_token if api_token is not None else os.environ.get("ZEROG_API_TOKEN") or None
    return Server(
        name,
        lambda: store_url,
        lambda _tube: queue_url,
        registry.registered().values(),
        handlers=default_routes(),
        api_token=token,
        **settings,
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zerog-server", description="Serve zeroG's REST API over HTTP.")
    p.add_argument("--port", type=int, default=8888, help="port to listen on (default 8888)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--module", action="append", default=[], help="job module to import (repeatable), as for zerog-worker"
    )
    p.add_argument("--store", help="store URL (default: ZEROG_STORE, else ./zerog.db)")
    p.add_argument("--queue", help="queue URL (default: ZEROG_QUEUE, else the store's SQLite file)")
    p.add_argument(
        "--max-body", type=int, default=DEFAULT_MAX_BODY, help=f"largest request body in bytes ({DEFAULT_MAX_BODY})"
    )
    p.add_argument(
        "--cors",
        default=os.environ.get("ZEROG_CORS_ORIGINS", "*"),
        help="allowed origins: '*', a comma-separated list, or '' for none (default: ZEROG_CORS_ORIGINS, else *)",
    )
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cors: str | list[str] | None = args.cors if args.cors in ("*", "") else args.cors.split(",")
    try:
        app = make_app(
            args.module,
            store=args.store,
            queue=args.queue,
            max_body_size=args.max_body,
            cors_origins=cors or None,
        )
        # Open both now: a wrong URL or a dead server is reported at start, not at the first
        # request.
        config.get_store()
        config.get_queue()
    except (_zerog.ZeroGError, ImportError, ValueError) as e:
        log.error("cannot start: %s", e)
        return 2

    async def serve() -> None:
        app.listen(args.port, args.host)
        log.info(
            "zerog-server on http://%s:%d (store %s, queue %s; job types: %s)",
            args.host,
            args.port,
            config.store_url(),
            config.queue_url(),
            ", ".join(sorted(app.job_classes)) or "none",
        )
        await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
