"""Shared fixtures: a fresh embedded SQLite file per test, a real beanstalkd per test for the
tests that involve the queue, and real `zerog-worker` processes.

Every test that uses `db_url` runs twice: with the embedded queue (in the SQLite file) and with
a beanstalkd server of its own (the store stays in the SQLite file). The server is started on a
free loopback port, never the default one, and stopped by PID. beanstalkd must be installed
(`make test` installs it); a missing one fails the run rather than skipping.

Test modules marked `any_store` run once more per queue with the Couchbase store when
`ZEROG_TEST_COUCHBASE` names a cluster (`couchbase://user:password@host/bucket`); without one,
those runs are reported skipped with that reason. A test in them marked `sqlite_store` reaches
into the SQLite file, or lists jobs (SQL++ on Couchbase, which a cluster may lack,
`ZEROG_TEST_COUCHBASE_NO_QUERY=1`), and keeps to SQLite.

Only fixtures and pytest hooks are here. The job modules and the helpers the tests import are in
tests/support/ (on the tests' path, and on the PYTHONPATH of the processes they start).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from backends import COUCHBASE_ENV, NO_COUCHBASE
from processes import Beanstalkd, WorkerProcess, support_env
from server_helpers import Api, AppThread, ServerProcess, server_env

import zeroG

# The default store is per user (~/.local/share/zerog/zerog.db): a test that relies on it gets a
# home of this run's own, never the real one, and so does every process it starts.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="zerog-tests-data-")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The store each test runs on: SQLite, and Couchbase too in modules marked `any_store`."""
    if "store_backend" not in metafunc.fixturenames:
        return
    backends = [pytest.param("sqlite")]
    marked = metafunc.definition.get_closest_marker("any_store")
    if marked and not metafunc.definition.get_closest_marker("sqlite_store"):
        skip = pytest.mark.skipif(not os.environ.get(COUCHBASE_ENV), reason=NO_COUCHBASE)
        backends.append(pytest.param("couchbase", marks=skip))
    metafunc.parametrize("store_backend", backends)


@pytest.fixture(params=["embedded", "beanstalkd"])
def queue_backend(request: pytest.FixtureRequest) -> str:
    """Which queue this run of the test uses."""
    return str(request.param)


@pytest.fixture
def queue_server(queue_backend: str) -> Iterator[Beanstalkd | None]:
    """The test's own beanstalkd in the beanstalkd runs (None in the embedded ones)."""
    if queue_backend == "embedded":
        yield None
        return
    server = Beanstalkd()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def queue_url(queue_server: Beanstalkd | None, tmp_path: Path) -> str:
    """The queue's URL: the test's SQLite file, or a beanstalkd of its own."""
    return f"sqlite:///{tmp_path / 'zerog.db'}" if queue_server is None else queue_server.url


@pytest.fixture
def db_url(tmp_path: Path, queue_url: str, store_backend: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The store: a fresh SQLite file (holding the queue too, in the embedded runs), or the
    Couchbase cluster under test; used by this process and by the workers the test starts
    (through ZEROG_STORE / ZEROG_QUEUE). Job uuids are random, so tests share a bucket."""
    url = f"sqlite:///{tmp_path / 'zerog.db'}" if store_backend == "sqlite" else os.environ[COUCHBASE_ENV]
    monkeypatch.setenv("ZEROG_STORE", url)
    monkeypatch.setenv("ZEROG_QUEUE", queue_url)
    zeroG.configure(store=url, queue=queue_url)
    yield url
    zeroG.configure()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked `embedded_queue` works on the embedded queue's own tables (writing a bad
    entry with SQL, say), which beanstalkd has no equivalent of: only its embedded run is kept.
    One marked `beanstalkd_queue` stops the queue's server, which the embedded queue has not:
    only its beanstalkd run is kept."""
    keep, drop = [], []
    for item in items:
        params = getattr(item, "callspec", None)
        backend = params.params.get("queue_backend") if params else None
        if (backend == "beanstalkd" and item.get_closest_marker("embedded_queue")) or (
            backend == "embedded" and item.get_closest_marker("beanstalkd_queue")
        ):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "embedded_queue: the test reaches into the embedded queue's tables")
    config.addinivalue_line("markers", "beanstalkd_queue: the test stops or starts the queue's server")
    config.addinivalue_line("markers", "any_store: the module's tests run on the Couchbase store too")
    config.addinivalue_line("markers", "sqlite_store: the test needs the SQLite store (in an any_store module)")


@pytest.fixture
def start_worker_on(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Starts `zerog-worker` with the given arguments (e.g. `"--module", "worker_jobs"`), with
    the job modules in tests/support importable, on whatever store and queue the environment names. Every
    worker started is stopped when the test ends."""
    started: list[WorkerProcess] = []

    def start(*args: str, log_level: str = "INFO") -> WorkerProcess:
        log_path = tmp_path / f"worker-{len(started)}.log"
        env = support_env(os.environ)
        cmd = [sys.executable, "-m", "zeroG.worker", "--log-level", log_level, *args]
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
        w = WorkerProcess(proc, log_path)
        started.append(w)
        return w

    yield start
    for w in started:
        try:
            w.stop(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        w.kill()


@pytest.fixture
def start_worker(db_url: str, start_worker_on: Callable[..., WorkerProcess]) -> Callable[..., WorkerProcess]:
    """`start_worker_on` for a test's `db_url` (its SQLite file and its queue)."""
    return start_worker_on


# -- HTTP servers --------------------------------------------------------------------------------


@pytest.fixture
def serve(db_url: str, tmp_path: Path) -> Iterator[Callable[..., Api]]:
    """Starts `zerog-server --module http_jobs` with more arguments and environment; every
    server started is stopped when the test ends."""
    started: list[ServerProcess] = []

    def start(*args: str, env: dict[str, str] | None = None, token: str | None = None) -> Api:
        server = ServerProcess(
            ["--module", "http_jobs", *args], server_env(env), tmp_path / f"server-{len(started)}.log", tmp_path
        )
        started.append(server)
        server.wait_ready()
        return Api(server.port, token)

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def api(serve: Callable[..., Api]) -> Api:
    return serve()


@pytest.fixture
def serve_app(db_url: str) -> Iterator[Callable[..., Api]]:
    """`make_app(**settings)` served from a thread of this process."""
    started: list[AppThread] = []

    def start(**settings: Any) -> Api:
        app = zeroG.make_app(["http_jobs"], **settings)
        started.append(AppThread(app))
        return Api(started[-1].port)

    yield start
    for t in started:
        t.stop()
