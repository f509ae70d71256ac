"""Listening safely: where the server listens by default, what it needs to listen further, and an
accept loop that survives running out of file descriptors.

- With no address, the server listens on loopback only. Listening beyond it without an API
  token needs ``insecure_no_token=True`` (``zerog-server --insecure-no-token``): every job would
  be open to anyone who can reach the port.
- On loopback, the Host header must name loopback (or a name allowed with ``allowed_hosts``), so
  a web page cannot reach the server through a DNS name it rebinds to 127.0.0.1.
- A connection gets ``HEADER_TIMEOUT`` to send its request headers and ``BODY_TIMEOUT`` for its
  body: idle or half-sent requests do not hold sockets for Tornado's default of an hour. The
  deadlines are kept by ``zeroG.http.deadlines``, at less cost than Tornado's timeouts.
- The soft file-descriptor limit is raised to the hard one at start.
- When ``accept()`` fails for want of descriptors, the server stops accepting for ``PAUSE``
  and says so at most ``LOGGED_FAILURES`` times a minute, instead of spinning on the listening
  socket and logging a traceback for every try.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import resource
import socket
import time
from collections.abc import Callable
from typing import Any

import tornado.httpserver
from tornado import httputil
from tornado.ioloop import IOLoop
from tornado.netutil import _DEFAULT_BACKLOG

from zeroG.http.deadlines import Deadlines, TimedRequest

__all__ = [
    "BODY_TIMEOUT",
    "HEADER_TIMEOUT",
    "LOOPBACK_HOSTS",
    "GuardedHTTPServer",
    "is_loopback",
    "raise_fd_limit",
]

log = logging.getLogger("zeroG.server")

#: Seconds a connection has to send its request line and headers (and to stay idle between
#: requests).
HEADER_TIMEOUT = 10.0
#: Seconds a request has to send its body.
BODY_TIMEOUT = 60.0
#: How long accepting stops when no descriptor is left for a new connection.
PAUSE = 0.25
#: How many failing accept()s are logged a minute at most. Counted by the minute, not by
#: failures in a row: as connections close, accepts succeed and fail in turn, and each turn
#: would start a new row.
LOGGED_FAILURES = 3

#: The names loopback answers to, as a Host header gives them (no port).
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})

_OUT_OF_DESCRIPTORS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


def is_loopback(address: str) -> bool:
    """Whether listening on ``address`` reaches this machine only ("" is every interface)."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def raise_fd_limit() -> None:
    """Raises the soft file-descriptor limit to the hard one: each connection holds one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as e:
            log.warning("could not raise the file-descriptor limit from %d: %s", soft, e)


class GuardedHTTPServer(tornado.httpserver.HTTPServer):
    """Tornado's HTTPServer with an accept loop that pauses, rather than spins, when accept()
    fails for want of descriptors, and the header and body deadlines of ``deadlines`` in place
    of Tornado's timeouts (see the module's docstring). It takes Tornado's arguments for them,
    ``idle_connection_timeout`` (3600 s if not given, as Tornado's) and ``body_timeout``."""

    def initialize(
        self,
        *args: Any,
        idle_connection_timeout: float | None = None,
        body_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().initialize(*args, **kwargs)
        self.conn_params.header_timeout = None  # Tornado's timeouts off: kept by self._deadlines
        self.conn_params.body_timeout = None
        self._deadlines = Deadlines(idle_connection_timeout or 3600.0, body_timeout)

    def start_request(self, server_conn: object, request_conn: httputil.HTTPConnection) -> httputil.HTTPMessageDelegate:
        delegate = super().start_request(server_conn, request_conn)
        return TimedRequest(delegate, request_conn.stream, self._deadlines)  # type: ignore[attr-defined]

    def on_close(self, server_conn: object) -> None:
        self._deadlines.done(server_conn.stream)  # type: ignore[attr-defined]
        super().on_close(server_conn)

    def add_sockets(self, sockets: Any) -> None:
        for sock in sockets:
            # TCPServer's own bookkeeping, as its add_sockets keeps it (stop() reads it).
            self._sockets[sock.fileno()] = sock
            self._handlers[sock.fileno()] = _accept_handler(sock, self._handle_connection)


def _accept_handler(sock: socket.socket, callback: Callable[[socket.socket, Any], None]) -> Callable[[], None]:
    """tornado.netutil.add_accept_handler, plus the pause when descriptors run out."""
    io_loop = IOLoop.current()
    state = {"removed": False, "paused": False, "failures": 0, "window": -60.0, "logged": 0}

    def resume() -> None:
        if not state["removed"]:
            state["paused"] = False
            io_loop.add_handler(sock, accept, IOLoop.READ)

    def accept(fd: Any, events: int) -> None:
        for _ in range(_DEFAULT_BACKLOG):
            if state["removed"] or state["paused"]:
                return
            try:
                connection, address = sock.accept()
            except BlockingIOError:
                return
            except ConnectionAbortedError:
                continue
            except OSError as e:
                if e.errno not in _OUT_OF_DESCRIPTORS:
                    raise
                _note_failure(state, e)
                state["paused"] = True
                io_loop.remove_handler(sock)
                io_loop.call_later(PAUSE, resume)
                return
            state["failures"] = 0
            callback(connection, address)

    def remove() -> None:
        if not state["paused"]:
            io_loop.remove_handler(sock)
        state["removed"] = True

    io_loop.add_handler(sock, accept, IOLoop.READ)
    return remove


def _note_failure(state: dict[str, Any], e: OSError) -> None:
    state["failures"] += 1
    now = time.monotonic()
    if now - state["window"] >= 60:
        state["window"], state["logged"] = now, 0
    if state["logged"] < LOGGED_FAILURES:
        state["logged"] += 1
        log.error(
            "cannot accept a connection (%s, failure %d in a row): too many open connections; "
            "not accepting for %.2f s (idle ones are dropped after their header timeout)",
            e.strerror or e,
            state["failures"],
            PAUSE,
        )
