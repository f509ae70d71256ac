"""The HTTP server's application: ``Server`` (the original's application class) and
``make_app`` (the simple form with every route). ``zerog-server`` (``zeroG.cli.server``) serves it.

Build the application yourself::

    app = zeroG.make_app(job_modules=["myapp.jobs"], api_token=os.environ.get("ZEROG_API_TOKEN"))
    app.listen(8888)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import tornado.httpserver
import tornado.web

from zeroG import config, registry
from zeroG.http.base import DEFAULT_MAX_BODY, NotFoundHandler
from zeroG.http.metrics import RunDurations
from zeroG.http.routes import Routes, default_routes
from zeroG.jobs import BaseJob

__all__ = ["Server", "make_app"]


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
