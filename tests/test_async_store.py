"""The awaitable Store and Queue methods (what the REST API's Tornado handlers await): the same
results and the same errors as their sync twins, on the embedded queue and on a real beanstalkd,
and an event loop that keeps running while the store waits."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from processes import Beanstalkd

from zeroG import _zerog

Outcome = tuple[Any, Any]


def outcome(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Outcome:
    """What a sync call gives: `("ok", result)`, or `(exception type, message)`."""
    try:
        return ("ok", call(*args, **kwargs))
    except Exception as e:
        return (type(e), str(e))


async def async_outcome(call: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Outcome:
    """`outcome` for an awaitable call; an error raised by the call itself counts too."""
    try:
        return ("ok", await call(*args, **kwargs))
    except Exception as e:
        return (type(e), str(e))


def doc(status: str = "queued", **fields: Any) -> dict[str, Any]:
    return {"status": status, "jobType": "async_test", **fields}


def test_store_async_methods_give_what_the_sync_ones_give(db_url: str) -> None:
    store = _zerog.Store.open(db_url)

    async def main() -> None:
        cas = await store.insert_async("a", doc(n=1))
        assert await store.get_async("a") == store.get("a") == (doc(n=1), cas)
        assert await store.get_async("missing") is None

        new_cas = await store.replace_async("a", doc("running", n=2), cas)
        assert new_cas != cas
        assert store.get("a") == (doc("running", n=2), new_cas)
        stale = await async_outcome(store.replace_async, "a", doc("done"), cas)
        assert stale[0] is _zerog.CasMismatch
        assert stale == outcome(store.replace, "a", doc("done"), cas)

        appended = await store.append_async("a", "errors", "boom", 7)
        found = store.get("a")
        assert found is not None and found[1] == appended
        assert [(e["msg"], e["errorCode"]) for e in found[0]["errors"]] == [("boom", 7)]
        appended = await store.append_async("a", "events", "hello")
        found = store.get("a")
        assert found is not None and found[1] == appended
        assert [e["msg"] for e in found[0]["events"]] == ["hello"]

        for key in "bcd":
            await store.insert_async(key, doc(n=key))
        queued = await store.list_async(status="queued")
        assert queued == store.list(status="queued")
        assert [d["n"] for d in queued[0]] == ["b", "c", "d"] and queued[1] is None
        running = await store.list_async("running", "async_test")
        assert [d["n"] for d in running[0]] == [2]
        first = await store.list_async(status="queued", limit=2)
        assert first == store.list(status="queued", limit=2)
        assert [d["n"] for d in first[0]] == ["b", "c"] and first[1] is not None
        rest = await store.list_async(status="queued", limit=2, after=first[1])
        assert [d["n"] for d in rest[0]] == ["d"] and rest[1] is None

        assert await store.delete_async("a") is True
        assert store.get("a") is None
        assert await store.delete_async("a") is False

    asyncio.run(main())


def test_store_async_errors_are_the_sync_errors(db_url: str) -> None:
    store = _zerog.Store.open(db_url)
    store.insert("a", doc())
    cases: list[tuple[str, tuple[Any, ...], dict[str, Any], type[Exception]]] = [
        ("insert", ("a", doc()), {}, _zerog.DocumentExists),
        ("replace", ("missing", doc(), 1), {}, _zerog.DocumentNotFound),
        ("append", ("missing", "events", "x"), {}, _zerog.DocumentNotFound),
        # Refused arguments are raised by the call itself, before anything is awaited.
        ("append", ("a", "bogus", "x"), {}, ValueError),
        ("list", (), {"status": "bogus"}, ValueError),
        ("insert", ("b", ["not", "a", "dict"]), {}, ValueError),
        ("replace", ("a", {"x": object()}, 1), {}, ValueError),
    ]

    async def main() -> None:
        for name, args, kwargs, error in cases:
            sync = outcome(getattr(store, name), *args, **kwargs)
            awaited = await async_outcome(getattr(store, f"{name}_async"), *args, **kwargs)
            assert sync[0] is error, (name, args, sync)
            assert awaited == sync, (name, args)

    asyncio.run(main())
    assert store.get("b") is None
    # An awaitable call needs a running event loop to belong to.
    with pytest.raises(RuntimeError, match="no running event loop"):
        store.get_async("a")


def test_queue_async_methods_give_what_the_sync_ones_give(queue_url: str) -> None:
    queue = _zerog.Queue.open(queue_url)

    async def main() -> tuple[int, int]:
        job_id = await queue.put_async("async-tube", b"hello", priority=5, delay=0, ttr=30)
        later_id = await queue.put_async("async-tube", b"later", delay=600)
        stats = await queue.stats_tube_async("async-tube")
        assert stats == queue.stats_tube("async-tube")
        assert stats == {"name": "async-tube", "ready": 1, "reserved": 0, "delayed": 1, "buried": 0, "watching": 0}
        tubes = await queue.list_tubes_async()
        assert "async-tube" in tubes and tubes == queue.list_tubes()
        return job_id, later_id

    job_id, later_id = asyncio.run(main())
    assert queue.reserve(["async-tube"], 1.0) == (job_id, "async-tube", b"hello")
    stats = queue.stats_job(job_id)
    assert (stats["pri"], stats["ttr"]) == (5, 30)
    later = queue.stats_job(later_id)
    assert (later["state"], later["pri"], later["ttr"]) == ("delayed", _zerog.DEFAULT_PRIORITY, _zerog.DEFAULT_TTR)


def test_queue_async_errors_are_the_sync_errors(queue_url: str) -> None:
    queue = _zerog.Queue.open(queue_url)
    too_big = b"x" * (queue.max_job_size + 1)
    cases: list[tuple[str, tuple[Any, ...], type[Exception] | str]] = [
        ("put", ("bad tube", b"x"), _zerog.InvalidTubeName),
        ("put", ("-bad", b"x"), _zerog.InvalidTubeName),
        ("put", ("async-tube", too_big), _zerog.JobTooBig),
        ("stats_tube", ("bad tube",), _zerog.InvalidTubeName),
        # An unknown tube: zero counts on the embedded queue, NOT_FOUND on beanstalkd.
        ("stats_tube", ("never-used",), "either"),
    ]

    async def main() -> None:
        for name, args, error in cases:
            sync = outcome(getattr(queue, name), *args)
            awaited = await async_outcome(getattr(queue, f"{name}_async"), *args)
            if error != "either":
                assert sync[0] is error, (name, args, sync)
            assert awaited == sync, (name, args)

    asyncio.run(main())
    assert queue.stats_tube("async-tube")["ready"] == 0


def test_an_awaited_put_to_a_stopped_beanstalkd_raises_rather_than_hangs() -> None:
    server = Beanstalkd()
    try:
        queue = _zerog.Queue.open(server.url)

        async def put(body: bytes) -> Outcome:
            # The bound is only there to fail the test rather than hang it.
            return await async_outcome(lambda: asyncio.wait_for(queue.put_async("async-tube", body), 60))

        assert asyncio.run(put(b"before"))[0] == "ok"
    finally:
        server.stop()
    kind, message = asyncio.run(put(b"after"))
    assert kind is _zerog.BackendError, message
    assert f"127.0.0.1:{server.port}" in message
    # The sync put fails the same way, and so does an awaited stats_tube.
    assert outcome(queue.put, "async-tube", b"after")[0] is _zerog.BackendError
    assert asyncio.run(async_outcome(queue.stats_tube_async, "async-tube"))[0] is _zerog.BackendError


# Holds the write lock of a SQLite file until its stdin closes. It must be another process: the
# store's SQLite is bundled in the extension, and two SQLite libraries in one process do not see
# each other's locks (POSIX locks belong to the process), so an in-process `sqlite3` lock would
# not stop the store.
HOLD_WRITE_LOCK = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def write_lock_held_elsewhere(path: str) -> Iterator[Callable[[], None]]:
    """Takes the file's write lock in another process; yields the function that lets it go."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITE_LOCK, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdin is not None and holder.stdout is not None

    def release() -> None:
        holder.stdin.close()  # type: ignore[union-attr]
        holder.wait(timeout=30)

    try:
        assert holder.stdout.readline() == "locked\n"
        yield release
    finally:
        if holder.poll() is None:
            release()


def test_the_event_loop_runs_while_an_insert_waits_for_the_sqlite_write_lock(db_url: str) -> None:
    store = _zerog.Store.open(db_url)
    # A second handle, so a second connection: one Store handle runs its calls one at a time (on
    # one SQLite connection), so a get through `store` would queue behind the waiting insert.
    reader = _zerog.Store.open(db_url)
    store.insert("existing", doc(n=1))

    async def main(release_lock: Callable[[], None]) -> tuple[int, int]:
        # The insert waits for the lock (it would give up after about 10 s).
        insert = asyncio.ensure_future(store.insert_async("new", doc(n=2)))
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticking = asyncio.create_task(ticker())
        found = await asyncio.wait_for(reader.get_async("existing"), 5)
        assert found is not None and found[0] == doc(n=1)
        while ticks < 20:
            await asyncio.sleep(0.01)
        # The loop ran the read and twenty ticks, and the insert is still waiting.
        assert not insert.done()
        ticks_while_waiting = ticks
        release_lock()
        cas = await asyncio.wait_for(insert, 10)
        ticking.cancel()
        return cas, ticks_while_waiting

    with write_lock_held_elsewhere(db_url.removeprefix("sqlite:///")) as release:
        cas, ticks = asyncio.run(main(release))
    assert ticks >= 20
    assert store.get("new") == (doc(n=2), cas)


EXIT_RIGHT_AFTER_AN_AWAIT = """
import asyncio, sys
from zeroG import _zerog
store = _zerog.Store.open(sys.argv[1])
async def main():
    await store.get_async("k")
asyncio.run(main())
"""


def test_a_program_that_exits_right_after_an_await_exits_cleanly(tmp_path: Path) -> None:
    """A program that ends just after an await exits cleanly. When pool threads handed results
    over to Python themselves, one run in five aborted (a pool thread ended by Python's exit
    while attached); now they never attach, and this keeps it so."""
    url = f"sqlite:///{tmp_path / 'zerog.db'}"
    _zerog.Store.open(url)
    for _ in range(25):
        done = subprocess.run(
            [sys.executable, "-c", EXIT_RIGHT_AFTER_AN_AWAIT, url], capture_output=True, text=True, timeout=60
        )
        assert (done.returncode, done.stderr) == (0, "")


def test_many_calls_at_once_each_get_their_own_answer_and_a_cancelled_one_harms_none(db_url: str) -> None:
    """Results come back to the loop in batches: every future gets its own result, and one whose
    awaiter gave up meanwhile is passed over without an error in the loop."""
    store = _zerog.Store.open(db_url)
    loop_errors: list[dict[str, Any]] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: loop_errors.append(ctx))
        await asyncio.gather(*(store.insert_async(f"k{i}", doc(n=i)) for i in range(200)))
        abandoned = store.get_async("k0")
        abandoned.cancel()
        got = await asyncio.gather(*(store.get_async(f"k{i}") for i in range(200)))
        assert [d["n"] for d, _ in got] == list(range(200))
        missing = await asyncio.gather(*(store.get_async(f"none{i}") for i in range(50)))
        assert missing == [None] * 50

    asyncio.run(main())
    assert loop_errors == []


def test_each_event_loop_gets_its_answers(db_url: str) -> None:
    """Awaitables work on one loop after another (asyncio.run makes a new one each time)."""
    store = _zerog.Store.open(db_url)

    async def insert(i: int) -> int:
        return await store.insert_async(f"loop{i}", doc(n=i))

    async def get(i: int) -> Any:
        return await store.get_async(f"loop{i}")

    for i in range(5):
        cas = asyncio.run(insert(i))
        assert asyncio.run(get(i)) == (doc(n=i), cas)
