"""Talking to a real zeroG HTTP server on loopback: a `zerog-server` process, or an application
served from a thread of the test process (for settings the command does not take)."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tornado.web
from processes import free_port, stop_process, support_env


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


class Api:
    """Requests to one server, each on a fresh connection unless `conn` is given."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        self.token = token

    def connect(self, timeout: float = 30) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        conn: http.client.HTTPConnection | None = None,
    ) -> Reply:
        hdrs = dict(headers or {})
        if self.token and "Authorization" not in hdrs:
            hdrs["Authorization"] = f"Bearer {self.token}"
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        own = conn is None
        c = self.connect() if conn is None else conn
        try:
            c.request(method, path, body=data, headers=hdrs)
            r = c.getresponse()
            return Reply(r.status, r.headers, r.read().decode("utf-8", "replace"))
        finally:
            if own:
                c.close()

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.request("POST", path, body, **kw)

    def create(self, job_type: str, values: dict[str, Any]) -> str:
        r = self.post(f"/job/{job_type}", values)
        assert r.status == 201, (r.status, r.text)
        return str(r.json["uuid"])

    def wait_progress(self, uuid: str, result: int = 200, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            progress = self.get(f"/progress/{uuid}").json
            if progress["result"] == result:
                return dict(progress)
            assert time.monotonic() < deadline, f"job {uuid} still at {progress} after {timeout} s"
            time.sleep(0.05)

    def events(self, path: str, timeout: float = 30) -> Iterator[tuple[str, Any]]:
        """The Server-Sent Events of a stream, as (event, data) pairs, until it closes."""
        c = self.connect(timeout)
        hdrs = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        c.request("GET", path, headers=hdrs)
        r = c.getresponse()
        assert r.status == 200, (r.status, r.read())
        assert r.headers["Content-Type"].startswith("text/event-stream")
        event = None
        try:
            for line in r:
                text = line.decode().rstrip("\n")
                if text.startswith("event: "):
                    event = text[len("event: ") :]
                elif text.startswith("data: "):
                    yield str(event), json.loads(text[len("data: ") :])
        finally:
            c.close()


class ServerProcess:
    """`zerog-server` started for a test, with the job modules importable."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        log_path: Path,
        cwd: Path,
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        """``preexec_fn`` runs in the child before the server starts (to set its limits, say)."""
        self.port = free_port()
        self.log_path = log_path
        cmd = [sys.executable, "-m", "zeroG.server", "--port", str(self.port), "--log-level", "INFO", *args]
        with open(log_path, "wb") as out:
            self.proc = subprocess.Popen(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, preexec_fn=preexec_fn
            )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                http.client.HTTPConnection("127.0.0.1", self.port, timeout=1).request("GET", "/health")
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"zerog-server did not start:\n{self.log()}") from None
                time.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.proc)


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = support_env(os.environ)
    env.pop("ZEROG_API_TOKEN", None)
    env.update(extra or {})
    return env


class AppThread:
    """A Tornado application served on loopback from a thread of this process, with its own
    event loop (the store's awaitables attach to the loop they are awaited on)."""

    def __init__(self, app: tornado.web.Application) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)

            async def start() -> None:
                self.server = app.listen(self.port, "127.0.0.1")
                ready.set()

            self.loop.run_until_complete(start())
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name="test-http", daemon=True)
        self.thread.start()
        assert ready.wait(10), "the application did not start"

    def stop(self) -> None:
        async def close() -> None:
            self.server.stop()
            await self.server.close_all_connections()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
