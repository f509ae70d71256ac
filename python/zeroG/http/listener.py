"""Listening safely: where the server listens by default, what it needs to listen further, and an
accept loop that survives running out of file descriptors.

- With no address, the server listens on loopback only. Listening beyond it without an API
  token needs ``insecure_no_token=True`` (``zerog-server --insecure-no-token``): every job would
  be open to anyone who can reach the port.
- On loopback, the Host header must name loopback (or a name allowed with ``allowed_hosts``), so
  a web page cannot reach the server through a DNS name it rebinds to 127.0.0.1.
- A connection gets ``HEADER_TIMEOUT`` to send its request headers and ``BODY_TIMEOUT`` for its
  body: idle or half-sent requests do not hold sockets for Tornado's default of an hour. The
  body's deadline is kept here (``_BodyDeadlines``), not by Tornado, whose body timeout wraps
  every body read in a task and a timer of its own: about 17 us of each ``POST /job`` on the
  event loop's thread (a tenth of what a bare Tornado POST costs).
- The soft file-descriptor limit is raised to the hard one at start.
- When ``accept()`` fails for want of descriptors, the server stops accepting for ``PAUSE``
  and says so a bounded number of times, instead of spinning on the listening socket and
  logging a traceback for every try.
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
from tornado.ioloop import IOLoop, PeriodicCallback
from tornado.netutil import _DEFAULT_BACKLOG

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
#: How many times in a row a failing accept() is logged; after that, once a minute.
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
    fails for want of descriptors, and a body deadline of its own (see the module's docstring):
    ``body_timeout`` is taken here and not passed on to Tornado."""

    def initialize(self, *args: Any, body_timeout: float | None = None, **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        self._bodies = _BodyDeadlines(body_timeout) if body_timeout else None

    def start_request(self, server_conn: object, request_conn: httputil.HTTPConnection) -> httputil.HTTPMessageDelegate:
        delegate = super().start_request(server_conn, request_conn)
        if self._bodies is None:
            return delegate
        return _BodyDeadline(delegate, request_conn.stream, self._bodies)  # type: ignore[attr-defined]

    def stop(self) -> None:
        if self._bodies is not None:
            self._bodies.stop()
        super().stop()

    def add_sockets(self, sockets: Any) -> None:
        for sock in sockets:
            # TCPServer's own bookkeeping, as its add_sockets keeps it (stop() reads it).
            self._sockets[sock.fileno()] = sock
            self._handlers[sock.fileno()] = _accept_handler(sock, self._handle_connection)


class _BodyDeadlines:
    """The deadlines of the bodies being read, checked a few times per timeout: a connection
    whose body is not all in by its deadline is closed, as Tornado's body timeout closes it."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.due: dict[Any, float] = {}  # IOStream: monotonic deadline
        self._sweeper: PeriodicCallback | None = None

    def start(self, stream: Any) -> None:
        if self._sweeper is None:  # made on the loop's thread, by the first request
            self._sweeper = PeriodicCallback(self._sweep, min(self.timeout / 4, 1.0) * 1000)
            self._sweeper.start()
        self.due[stream] = time.monotonic() + self.timeout

    def done(self, stream: Any) -> None:
        self.due.pop(stream, None)

    def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.stop()

    def _sweep(self) -> None:
        now = time.monotonic()
        for stream in [s for s, due in self.due.items() if due <= now]:
            del self.due[stream]
            log.info("closed a connection whose request body was not all in within %g s", self.timeout)
            stream.close()


class _BodyDeadline(httputil.HTTPMessageDelegate):
    """One request's delegate, with its body's deadline running from its headers to its end."""

    def __init__(self, delegate: httputil.HTTPMessageDelegate, stream: Any, deadlines: _BodyDeadlines) -> None:
        self.delegate = delegate
        self.stream = stream
        self.deadlines = deadlines

    def headers_received(
        self, start_line: httputil.RequestStartLine | httputil.ResponseStartLine, headers: httputil.HTTPHeaders
    ) -> Any:
        self.deadlines.start(self.stream)
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self.deadlines.done(self.stream)
        self.delegate.finish()

    def on_connection_close(self) -> None:
        self.deadlines.done(self.stream)
        self.delegate.on_connection_close()


def _accept_handler(sock: socket.socket, callback: Callable[[socket.socket, Any], None]) -> Callable[[], None]:
    """tornado.netutil.add_accept_handler, plus the pause when descriptors run out."""
    io_loop = IOLoop.current()
    state = {"removed": False, "paused": False, "failures": 0, "last_logged": 0.0}

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
    if state["failures"] <= LOGGED_FAILURES or now - state["last_logged"] >= 60:
        state["last_logged"] = now
        log.error(
            "cannot accept a connection (%s, failure %d in a row): too many open connections; "
            "not accepting for %.2f s (idle ones are dropped after their header timeout)",
            e.strerror or e,
            state["failures"],
            PAUSE,
        )
