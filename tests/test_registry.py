"""The job registry (JOB_MODULES, import_job_modules, duplicate JOB_TYPEs), the worker's start-up
errors, and configuration errors."""

from __future__ import annotations

import gc
import importlib
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import api_jobs
import pytest
from processes import support_env

import zeroG
from zeroG import _zerog, registry
from zeroG.errors import BackendError
from zeroG.jobs import get_base_job, make_base_job


@pytest.fixture
def job_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, str], str]]:
    """Writes throwaway job modules into tmp_path (importable). On teardown they are removed from
    sys.modules and collected, so their classes leave BaseJob.__subclasses__() and the registry
    builds as before."""
    monkeypatch.syspath_prepend(str(tmp_path))
    names: list[str] = []

    def write(name: str, source: str) -> str:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        names.append(name)
        importlib.invalidate_caches()
        return name

    yield write
    for name in names:
        sys.modules.pop(name, None)
    # The table of the last build refers to the classes too (it is rebuilt just below).
    registry._classes.clear()
    gc.collect()
    built = registry.register_imported()
    leftovers = [cls for cls in built.values() if cls.__module__ in names]
    assert leftovers == [], f"throwaway job classes still registered: {leftovers}"


JOB_SOURCE = """
    from zeroG.jobs import BaseJob

    class {cls}(BaseJob):
        JOB_TYPE = {job_type!r}
        QUEUE_NAME = "api_tmp_tube"

        def run(self):
            return (0, False)
"""


def test_job_modules_are_imported_and_their_classes_registered(job_module, monkeypatch: pytest.MonkeyPatch) -> None:
    name = job_module("api_tmp_jobs_a", JOB_SOURCE.format(cls="TmpJob", job_type="api_tmp_registered"))
    monkeypatch.setattr(registry, "JOB_MODULES", [name])
    assert name not in sys.modules
    classes = registry.import_job_modules()
    assert name in sys.modules
    cls = classes["api_tmp_registered"]
    assert cls.__module__ == name and cls.__name__ == "TmpJob"
    assert registry.get_class("api_tmp_registered") is cls
    assert registry.registered()["api_tmp_registered"] is cls
    # Classes already imported stay registered, and jobs of the new type can be made.
    assert classes["api_greeting"] is api_jobs.GreetingJob
    assert type(make_base_job({}, "api_tmp_registered")) is cls
    del cls, classes


def test_build_registry_imports_job_modules_as_the_seed_says(job_module, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's instruction: add the module to JOB_MODULES; build_registry() imports it, and a
    job of its type can be made without anything else importing it."""
    name = job_module("api_tmp_jobs_c", JOB_SOURCE.format(cls="SeedJob", job_type="api_tmp_seed"))
    monkeypatch.setattr(registry, "JOB_MODULES", [name])
    assert registry.build_registry()["api_tmp_seed"].__module__ == name
    registry._classes.clear()
    sys.modules.pop(name)
    assert type(make_base_job({}, "api_tmp_seed")).__module__ == name


def test_modules_passed_to_import_job_modules_are_imported_too(job_module) -> None:
    name = job_module("api_tmp_jobs_b", JOB_SOURCE.format(cls="OtherJob", job_type="api_tmp_passed"))
    classes = registry.import_job_modules([name])
    assert classes["api_tmp_passed"].__module__ == name
    del classes


def test_an_unimportable_job_module_is_an_error_naming_it() -> None:
    with pytest.raises(ImportError, match="api_nope_missing"):
        registry.import_job_modules(["api_nope_missing"])


def test_two_classes_with_one_job_type_is_an_error_naming_both(job_module) -> None:
    name = job_module("api_tmp_dup", JOB_SOURCE.format(cls="Clash", job_type=api_jobs.GreetingJob.JOB_TYPE))
    with pytest.raises(zeroG.DuplicateJobType) as excinfo:
        registry.import_job_modules([name])
    message = str(excinfo.value)
    # The traceback holds the classes: drop it so that the clash can be collected.
    del excinfo
    assert "api_greeting" in message
    assert "api_jobs.GreetingJob" in message and f"{name}.Clash" in message


def test_every_api_job_type_is_registered_once() -> None:
    classes = registry.build_registry()
    for cls in (api_jobs.GreetingJob, api_jobs.DataJob, api_jobs.CounterJob, api_jobs.TrackCompletenessJob):
        assert classes[cls.JOB_TYPE] is cls
    # A base class that declares no JOB_TYPE of its own is not registered.
    assert api_jobs._Observing not in classes.values()


def test_get_class_of_an_unknown_type_is_unknown_job_type() -> None:
    assert registry.find_class("api_unknown") is None
    with pytest.raises(zeroG.UnknownJobType, match="api_unknown"):
        registry.get_class("api_unknown")
    with pytest.raises(LookupError):  # UnknownJobType is a LookupError too
        registry.get_class("api_unknown")


# -- the worker CLI's start-up errors --------------------------------------------------------


def run_worker_cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    full_env = support_env({**os.environ, "ZEROG_STORE": url, "ZEROG_QUEUE": url, **(env or {})}, tmp_path)
    return subprocess.run(
        [sys.executable, "-m", "zeroG.worker", "-c", "1", *args],
        env=full_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_worker_exits_nonzero_naming_a_missing_module(tmp_path: Path) -> None:
    result = run_worker_cli(tmp_path, "--module", "nope_missing")
    assert result.returncode != 0
    assert "cannot import job module 'nope_missing'" in result.stderr


def test_worker_exits_nonzero_naming_duplicate_job_types(tmp_path: Path) -> None:
    (tmp_path / "api_cli_dup.py").write_text(
        textwrap.dedent(JOB_SOURCE.format(cls="Clash", job_type=api_jobs.GreetingJob.JOB_TYPE))
    )
    result = run_worker_cli(tmp_path, "--module", "api_jobs", "--module", "api_cli_dup")
    assert result.returncode != 0
    assert "DuplicateJobType" in result.stderr or "declared by two classes" in result.stderr
    assert "api_jobs.GreetingJob" in result.stderr and "api_cli_dup.Clash" in result.stderr


def test_worker_exits_nonzero_naming_a_bad_store_url(tmp_path: Path) -> None:
    result = run_worker_cli(tmp_path, "--module", "api_jobs", env={"ZEROG_STORE": "nosuch://place"})
    assert result.returncode != 0
    assert "nosuch://place" in result.stderr


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["not a url", "nosuch://host/x", "sqlite://"])
def test_a_bad_store_url_is_a_config_error_naming_it(url: str) -> None:
    zeroG.configure(store=url, queue=url)
    try:
        with pytest.raises(zeroG.ConfigError) as excinfo:
            get_base_job("00000000-0000-0000-0000-000000000000")
        assert url in str(excinfo.value)
        job = make_base_job({"name": "x"}, "api_greeting")
        with pytest.raises(zeroG.ConfigError, match=url):
            job.enqueue()
    finally:
        zeroG.configure()


def test_a_bad_url_in_the_environment_is_a_config_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZEROG_STORE", "nosuch://from-env")
    zeroG.configure()
    try:
        with pytest.raises(zeroG.ConfigError, match="nosuch://from-env"):
            get_base_job("00000000-0000-0000-0000-000000000000")
    finally:
        monkeypatch.delenv("ZEROG_STORE")
        zeroG.configure()


def test_a_bad_queue_url_is_a_config_error_naming_it(db_url: str) -> None:
    zeroG.configure(store=db_url, queue="nosuch://queue")
    job = make_base_job({"name": "x"}, "api_greeting")
    with pytest.raises(zeroG.ConfigError, match="nosuch://queue"):
        job.enqueue()


def test_a_sqlite_file_in_a_missing_directory_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "dir" / "zerog.db"
    url = f"sqlite:///{path}"
    zeroG.configure(store=url, queue=url)
    try:
        with pytest.raises(zeroG.ZeroGError) as excinfo:
            get_base_job("00000000-0000-0000-0000-000000000000")
        assert str(path.parent) in str(excinfo.value)
        assert not path.parent.exists()
    finally:
        zeroG.configure()


# -- the Couchbase store's URL: named at start, no cluster needed -----------------------------------


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("couchbase://db1", "names no bucket"),
        ("couchbase://db1/jobs?bogus=1", "bogus"),
        ("couchbase://db1/jobs?retention=soon", "retention"),
        ("couchbase://db1/jobs?timeout=0", "timeout"),
    ],
)
def test_a_bad_couchbase_url_is_a_config_error_naming_the_fault(url: str, named: str) -> None:
    with pytest.raises(zeroG.ConfigError, match=named):
        _zerog.Store.open(url)


def test_couchbase_credentials_are_required_and_a_password_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZEROG_COUCHBASE_USER", raising=False)
    monkeypatch.delenv("ZEROG_COUCHBASE_PASSWORD", raising=False)
    with pytest.raises(zeroG.ConfigError, match="ZEROG_COUCHBASE_USER"):
        _zerog.Store.open("couchbase://127.0.0.1/jobs")
    with pytest.raises(zeroG.ConfigError) as excinfo:
        _zerog.Store.open("couchbase://ops:s3cret@127.0.0.1/jobs?bogus=1")
    assert "s3cret" not in str(excinfo.value) and "ops:***@" in str(excinfo.value)


def test_a_couchbase_server_that_is_not_there_fails_at_open_naming_it() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"couchbase://u:p@127.0.0.1:{port}/jobs?timeout=2s"
    t0 = time.monotonic()
    with pytest.raises(BackendError, match=f"127.0.0.1:{port}") as excinfo:
        _zerog.Store.open(url)
    assert time.monotonic() - t0 < 10
    assert "u:p@" not in str(excinfo.value)


def test_worker_exits_at_start_naming_a_tube_no_queue_accepts(tmp_path: Path) -> None:
    result = run_worker_cli(tmp_path, "--module", "api_jobs", "--queue", "a b")
    assert result.returncode == 2, result.stderr
    assert '"a b"' in result.stderr


BAD_TUBE_SOURCE = """
from zeroG.jobs import BaseJob

class BadTube(BaseJob):
    JOB_TYPE = "api_bad_tube"
    QUEUE_NAME = "bad tube"

    def run(self):
        return 200, 0
"""


def test_a_job_class_whose_queue_name_no_queue_accepts_stops_worker_and_server_at_start(tmp_path: Path) -> None:
    (tmp_path / "api_bad_tube.py").write_text(BAD_TUBE_SOURCE)
    result = run_worker_cli(tmp_path, "--module", "api_bad_tube")
    assert result.returncode == 2, result.stderr
    assert "api_bad_tube.BadTube" in result.stderr and "'bad tube'" in result.stderr
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    server = subprocess.run(
        [sys.executable, "-m", "zeroG.server", "--module", "api_bad_tube", "--port", "0", "--store", url],
        env=support_env(os.environ, tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert server.returncode == 2, server.stderr
    assert "api_bad_tube.BadTube" in server.stderr and "'bad tube'" in server.stderr


def test_the_queue_follows_the_store_file_wherever_each_process_runs(tmp_path: Path) -> None:
    # A worker started in one directory and a producer in another, given the same store and no
    # queue, share the queue: it lives in the store's file, not in ./zerog.db of each.
    (tmp_path / "worker_dir").mkdir()
    (tmp_path / "producer_dir").mkdir()
    store = f"sqlite:///{tmp_path / 'shared.db'}"
    env = {k: v for k, v in os.environ.items() if k not in ("ZEROG_STORE", "ZEROG_QUEUE")}
    assert _zerog.resolve_url("queue", None, store) == store
    worker = subprocess.Popen(
        [sys.executable, "-m", "zeroG.worker", "-c", "1", "--module", "api_jobs", "--store", store],
        env=support_env(env),
        cwd=tmp_path / "worker_dir",
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        code = (
            "import sys, time, api_jobs, zeroG\n"
            f"zeroG.configure(store={store!r})\n"
            "job = zeroG.make_base_job({'name': 'far'}, 'api_greeting')\n"
            "job.enqueue()\n"
            "for _ in range(300):\n"
            "    if zeroG.get_base_job(job.uuid).progress()['result'] != -1: sys.exit(0)\n"
            "    time.sleep(0.1)\n"
            "sys.exit(1)\n"
        )
        produced = subprocess.run(
            [sys.executable, "-c", code], env=support_env(env), cwd=tmp_path / "producer_dir", timeout=60
        )
        assert produced.returncode == 0, "the job never ran"
        assert not (tmp_path / "worker_dir" / "zerog.db").exists()
        assert not (tmp_path / "producer_dir" / "zerog.db").exists()
    finally:
        worker.terminate()
        _, err = worker.communicate(timeout=30)
    assert f"store and queue {store}" in err, err
