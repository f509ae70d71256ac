"""Where jobs are stored and queued, and this process's connections to them.

The store and the queue are named by URLs: ``configure()`` sets them, else ``ZEROG_STORE`` and
``ZEROG_QUEUE``, else the store is the user's embedded SQLite file (``_zerog.default_url()``:
``~/.local/share/zerog/zerog.db``) and the queue lives in the store's SQLite file. Connections open on first
use and are reopened in a forked child (a SQLite connection must not cross a fork).
``configure()`` also takes connections already open (a ``zeroG._zerog.Store`` or ``Queue``):
they are used as they are, in this process and in any child it forks.
"""

from __future__ import annotations

import os
import threading

from zeroG import _zerog

_lock = threading.Lock()
_urls: dict[str, str | None] = {"store": None, "queue": None}
_open: dict[str, object] = {}
# Connections given to configure(): they have no URL to reopen them from (a connection keeps only
# its URL's masked form), so they are kept across forks too.
_given: dict[str, object] = {}
# A forked child's copies of its parent's connections: never used, and never closed either
# (closing runs the engine's shutdown of threads that the child does not have).
_inherited: list[object] = []


def _forget_opened() -> None:
    """In a forked child: the parent's connections are not this process's to use."""
    global _lock
    _lock = threading.Lock()  # the fork may have copied it held by another thread
    _inherited.extend(_open.values())
    _open.clear()


os.register_at_fork(after_in_child=_forget_opened)


def configure(store: str | _zerog.Store | None = None, queue: str | _zerog.Queue | None = None) -> None:
    """Sets the store and queue for this process: URLs (None: environment, then the default),
    or connections already open."""
    with _lock:
        _open.clear()
        _given.clear()
        for kind, given in (("store", store), ("queue", queue)):
            if given is None or isinstance(given, str):
                _urls[kind] = given
            else:
                _urls[kind] = None
                _given[kind] = given


def store_url() -> str:
    """The store's URL; for a connection given to ``configure()``, its URL with the password
    masked (it keeps no other)."""
    given = _given.get("store")
    return given.url if given is not None else _zerog.resolve_url("store", _urls["store"])  # type: ignore[attr-defined,no-any-return]


def queue_url() -> str:
    """The queue's URL, as ``store_url()`` gives the store's."""
    given = _given.get("queue")
    if given is not None:
        return given.url  # type: ignore[attr-defined,no-any-return]
    return _zerog.resolve_url("queue", _urls["queue"], None if "store" in _given else store_url())


def _get(kind: str):  # type: ignore[no-untyped-def]
    # Without the lock once open: a web handler asks for both on every request. A child forks
    # with them forgotten (_forget_opened), so none is used across a fork.
    conn = _given.get(kind) or _open.get(kind)
    if conn is not None:
        return conn
    with _lock:
        conn = _given.get(kind) or _open.get(kind)
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
