"""Where jobs are stored and queued, and this process's connections to them.

The store and the queue are named by URLs: ``configure()`` sets them, else ``ZEROG_STORE`` and
``ZEROG_QUEUE``, else both are the embedded SQLite file ``./zerog.db``. Connections open on first
use and are reopened in a forked child (a SQLite connection must not cross a fork).
"""

from __future__ import annotations

import os
import threading

from zeroG import _zerog

_lock = threading.Lock()
_urls: dict[str, str | None] = {"store": None, "queue": None}
_open: dict[str, object] = {}
_pid = os.getpid()


def configure(store: str | None = None, queue: str | None = None) -> None:
    """Sets the store and queue URLs for this process (None: environment, then the default)."""
    with _lock:
        _urls["store"] = store
        _urls["queue"] = queue
        _open.clear()


def store_url() -> str:
    return _zerog.resolve_url("store", _urls["store"])


def queue_url() -> str:
    return _zerog.resolve_url("queue", _urls["queue"])


def _get(kind: str):  # type: ignore[no-untyped-def]
    global _pid
    with _lock:
        if os.getpid() != _pid:
            _open.clear()
            _pid = os.getpid()
        conn = _open.get(kind)
        if conn is None:
            if kind == "store":
                conn = _zerog.Store.open(store_url())
            else:
                conn = _zerog.Queue.open(queue_url())
            _open[kind] = conn
        return conn


def get_store() -> _zerog.Store:
    """This process's store connection."""
    return _get("store")  # type: ignore[no-any-return]


def get_queue() -> _zerog.Queue:
    """This process's queue connection (for producing; workers open their own)."""
    return _get("queue")  # type: ignore[no-any-return]
