"""How long a connection may take to send a request: its headers within ``header_timeout`` (also
the longest it may sit idle between requests), then its body within ``body_timeout``. A
connection past its deadline is closed, as Tornado's own timeouts close it.

Tornado can keep these deadlines itself, but it pays for them on every request: it wraps the
header read in a future and a timer, and the body read in a task and a timer. On one
``POST /job`` that was about a tenth of the event loop thread's time. Here each request sets
a deadline in a dict at most twice, and one sweep a few times per timeout closes the
connections past theirs (it runs as long as the loop does: a server that stops listening
still times out the connections it serves). The deadline stops while the application
answers: a long answer (a ``/watch`` stream, say) is not cut off.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from tornado import httputil
from tornado.ioloop import PeriodicCallback

__all__ = ["Deadlines", "TimedRequest"]

log = logging.getLogger("zeroG.server")

#: The longest time between sweeps, whatever the timeouts (seconds).
MAX_SWEEP_INTERVAL = 1.0


class Deadlines:
    """Every connection's deadline, by stream; swept on the loop that serves them."""

    def __init__(self, header_timeout: float, body_timeout: float | None) -> None:
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        # IOStream: (monotonic deadline, what it is waiting for).
        self.due: dict[Any, tuple[float, str]] = {}
        self._sweeper: PeriodicCallback | None = None
        # A deadline is met at most a quarter of the shorter timeout late.
        shorter = min(header_timeout, body_timeout or header_timeout)
        self._interval = min(shorter / 4, MAX_SWEEP_INTERVAL)

    def wait_headers(self, stream: Any) -> None:
        if self._sweeper is None:  # made here, on the loop's thread, by the first connection
            self._sweeper = PeriodicCallback(self._sweep, self._interval * 1000)
            self._sweeper.start()
        self.due[stream] = (time.monotonic() + self.header_timeout, "headers")

    def wait_body(self, stream: Any) -> None:
        if self.body_timeout is None:
            self.due.pop(stream, None)
        else:
            self.due[stream] = (time.monotonic() + self.body_timeout, "body")

    def done(self, stream: Any) -> None:
        self.due.pop(stream, None)

    def _sweep(self) -> None:
        now = time.monotonic()
        late = [(stream, waiting) for stream, (due, waiting) in self.due.items() if due <= now]
        for stream, waiting in late:
            del self.due[stream]
            if waiting == "body":  # an idle keep-alive connection closing is not news
                log.info("closed a connection whose request body was not all in within %g s", self.body_timeout)
            stream.close()


class TimedRequest(httputil.HTTPMessageDelegate):
    """One request's delegate, keeping its connection's deadlines: headers from the start, the
    body from the headers, none from the end of the body."""

    def __init__(self, delegate: httputil.HTTPMessageDelegate, stream: Any, deadlines: Deadlines) -> None:
        self.delegate = delegate
        self.stream = stream
        self.deadlines = deadlines
        deadlines.wait_headers(stream)

    def headers_received(
        self, start_line: httputil.RequestStartLine | httputil.ResponseStartLine, headers: httputil.HTTPHeaders
    ) -> Any:
        self.deadlines.wait_body(self.stream)
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self.deadlines.done(self.stream)
        self.delegate.finish()

    def on_connection_close(self) -> None:
        self.deadlines.done(self.stream)
        self.delegate.on_connection_close()
