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

from zeroG import _zerog, config, registry
from zeroG.datastores import Datastore
from zeroG.http import listener
from zeroG.http.base import DEFAULT_MAX_BODY, NotFoundHandler
from zeroG.http.metrics import RunDurations
from zeroG.http.routes import Routes, default_routes
from zeroG.http.worker_pool import WorkerPool
from zeroG.jobs import BaseJob
from zeroG.queues import BeanstalkdQueue

__all__ = ["Server", "make_app"]


def _checked(made: Any, kind: str, opened: type) -> Any:
    """What a factory gave, if it is a URL, an opened Store/Queue, or the original's client for
    one (``zeroG.CouchbaseDatastore``, ``zeroG.BeanstalkdQueue``): that is taken by what opens
    it again, so the worker processes can."""
    if isinstance(made, Datastore):
        made = made.opener()
    elif isinstance(made, BeanstalkdQueue):
        made = made.url
    if not isinstance(made, (str, opened)):
        raise TypeError(
            f"make_{kind} must give a {kind} URL, a zeroG._zerog.{kind.title()} or the original's client "
            f"(zeroG.CouchbaseDatastore, zeroG.BeanstalkdQueue), not {made!r}"
        )
    return made


class Server(tornado.web.Application):
    """The original zeroG's application: ``Server(name, make_datastore, make_queue, job_classes,
    handlers=[...])``.

    ``make_datastore()`` gives the store and ``make_queue(f"{name}_jobs")`` the queue, each as a
    URL or as an opened ``zeroG._zerog.Store`` / ``Queue``; this process then uses them for
    every job (``zeroG.configure``). Only ``job_classes`` can be created through
    ``RunJobHandler``. The routes are those in ``handlers``, as in the original (which mounted
    none of its own); add ``default_routes()`` for zeroG's. Jobs are run by ``zerog-worker``
    processes, not by the server. Other keyword arguments are Tornado settings, plus:
    ``api_token`` (bearer token for every route but /health), ``cors_origins`` (a list of
    origins other web pages may call from, or ``"*"`` for any, the original's setting: an
    explicit opt-in for a migration; None, the default, for none), ``allowed_hosts`` (Host
    names to answer besides loopback's, while listening on loopback), ``insecure_no_token``
    (listen beyond loopback without a token), ``header_timeout`` and ``body_timeout``
    (seconds), ``max_body_size`` (bytes) and ``watch_interval`` (seconds between reads of a
    watched job); ``workers``, how many worker processes it runs itself once it listens (1, as
    the original's server ran one: a POSTed job then runs with nothing else started; 0 for an
    API-only server), each one worker of the fleet named ``zerog+$<thisHost>+$<name>+$<pid>``
    (``thisHost``, as the original took it: the host name by default), answering on
    ``updates<updatesPostfix>``.

    Safe by default: ``listen(port)`` listens on loopback only; a state-changing request from
    another web page's origin is refused; on loopback the Host header must name loopback.
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
        config.configure(
            store=_checked(make_datastore(), "store", _zerog.Store),
            queue=_checked(make_queue(f"{name}_jobs"), "queue", _zerog.Queue),
        )
        self.job_classes: dict[str, type[BaseJob]] = {}
        for cls in job_classes:
            other = self.job_classes.setdefault(cls.JOB_TYPE, cls)
            if other is not cls:
                raise ValueError(f"job type {cls.JOB_TYPE!r} is declared by both {other!r} and {cls!r}")
        # Runs that finished in the last hour, and from now on, are timed for /metrics.
        self.run_durations = RunDurations()
        settings.setdefault("workers", 1)
        settings.setdefault("updates_postfix", settings.get("updatesPostfix", ""))
        self.worker_pool: WorkerPool | None = None
        if settings["workers"] > 0 and self.job_classes:
            self.worker_pool = WorkerPool(
                name,
                self.job_classes.values(),
                int(settings["workers"]),
                config.store_url(),
                config.queue_url(),
                host=settings.get("thisHost"),
                updates_postfix=settings["updates_postfix"],
            )
        settings.setdefault("cors_origins", None)
        settings.setdefault("max_body_size", DEFAULT_MAX_BODY)
        settings.setdefault("default_handler_class", NotFoundHandler)
        super().__init__(list(handlers or []), **settings)

    def listen(self, port: int, address: str | None = None, **kwargs: Any) -> tornado.httpserver.HTTPServer:
        """Listens on ``address``: loopback (127.0.0.1) unless given. Beyond loopback it needs
        an API token, or ``insecure_no_token=True``; on loopback, requests must name loopback
        (or one of ``allowed_hosts``) in their Host header."""
        address = "127.0.0.1" if address is None else address
        if not listener.is_loopback(address):
            if not self.settings.get("api_token") and not self.settings.get("insecure_no_token"):
                raise ValueError(
                    f"listening on {address or 'every interface'!r} without an API token would let anyone who "
                    "can reach the port create, read and cancel every job: set ZEROG_API_TOKEN (api_token=...), "
                    "or pass --insecure-no-token (insecure_no_token=True) if that is really meant"
                )
        else:
            self.settings["loopback_hosts"] = listener.LOOPBACK_HOSTS | {
                h.lower() for h in self.settings.get("allowed_hosts") or ()
            }
        listener.raise_fd_limit()
        if self.worker_pool is not None:
            self.worker_pool.start()
        socket_options = {k: kwargs.pop(k) for k in ("family", "backlog", "flags", "reuse_port") if k in kwargs}
        # Bodies are limited per request by the handlers (with a JSON 413); Tornado's own cap
        # only has to be above theirs.
        kwargs.setdefault("max_body_size", 2 * int(self.settings["max_body_size"]) + 65536)
        kwargs.setdefault("idle_connection_timeout", self.settings.get("header_timeout", listener.HEADER_TIMEOUT))
        kwargs.setdefault("body_timeout", self.settings.get("body_timeout", listener.BODY_TIMEOUT))
        server = listener.GuardedHTTPServer(self, **kwargs)
        server.listen(port, address=address, **socket_options)
        return server


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
    ``ZEROG_STORE`` / ``ZEROG_QUEUE``, else the user's embedded default), for every job class registered
    once ``job_modules`` are imported. ``api_token`` defaults to ``ZEROG_API_TOKEN``. It runs no
    worker processes of its own unless ``workers=N`` says so (``zerog-server --workers N``)."""
    registry.import_job_modules(job_modules)
    store_url = config.store_url() if store is None else store
    if queue is not None:
        queue_url = queue
    else:  # the queue follows the store's SQLite file unless ZEROG_QUEUE says otherwise
        queue_url = config.queue_url() if store is None else _zerog.resolve_url("queue", None, store_url)
    token = api_token if api_token is not None else os.environ.get("ZEROG_API_TOKEN") or None
    settings.setdefault("workers", 0)  # zerog-server --workers N
    return Server(
        name,
        lambda: store_url,
        lambda _tube: queue_url,
        registry.registered().values(),
        handlers=default_routes(),
        api_token=token,
        **settings,
    )
