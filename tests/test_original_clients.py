"""The original zeroG's datastore and queue clients (`zeroG.CouchbaseDatastore` and its base
`zeroG.datastores.Datastore`, `zeroG.BeanstalkdQueue`), used as its code uses them: on a real
SQLite store, a real beanstalkd, and a Couchbase cluster when ZEROG_TEST_COUCHBASE names one."""

from __future__ import annotations

import json
import os
import uuid as uuids
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from backends import COUCHBASE_ENV, NO_COUCHBASE
from processes import Beanstalkd, free_port

import zeroG
from zeroG import _zerog
from zeroG.datastores import Datastore


def key() -> str:
    return f"zerog_test_{uuids.uuid4()}"


def exercise(ds: Datastore) -> None:
    """The original's client contract, as its jobs and its tests use it."""
    k = key()
    assert ds.read(k) is None and ds.read_with_cas(k) == (None, 0)
    assert ds.create(k, {"n": 1}) is True
    with pytest.raises(_zerog.DocumentExists):
        ds.create(k, {"n": 2})
    value, cas = ds.read_with_cas(k)
    assert value == {"n": 1} and cas
    ok, cas2 = ds.set_with_cas(k, {"n": 2}, cas=cas)
    assert ok and cas2 != cas
    # A write with the CAS read before somebody else's is refused, as casException.
    with pytest.raises(ds.casException):
        ds.set_with_cas(k, {"n": 3}, cas=cas)
    with pytest.raises(ds.casException):
        ds.update_with_cas(k, {"n": 3}, cas=cas)
    assert ds.read(k) == {"n": 2}
    # set is an upsert: over a value, and where there is none.
    assert ds.set(k, {"n": 4}) is True and ds.read(k) == {"n": 4}
    fresh = key()
    assert ds.set(fresh, {"made": True}) is True and ds.read(fresh) == {"made": True}
    # set_with_cas with a CAS, on a value deleted since, makes it again (the original's fallback).
    _, cas = ds.read_with_cas(fresh)
    assert ds.delete(fresh) is True and ds.delete(fresh) is False
    assert ds.set_with_cas(fresh, {"again": 1}, cas=cas)[0] and ds.read(fresh) == {"again": 1}
    assert ds.update(k, {"n": 5}) is True and ds.read(k) == {"n": 5}
    with pytest.raises(_zerog.DocumentNotFound):
        ds.update(key(), {"n": 1})
    # Values of other kinds, as the original's client kept them, under keys of their own.
    text = key()
    assert ds.set(text, "a string") is True and ds.read(text) == "a string"
    value, cas = ds.read_with_cas(text)
    assert ds.set_with_cas(text, [1, "two", None], cas=cas)[0] and ds.read(text) == [1, "two", None]
    with pytest.raises(ds.casException):
        ds.set_with_cas(text, 3, cas=cas)
    assert ds.set(k, 42) is True and ds.read(k) == 42, "a dict's key may take a number, and back"
    assert ds.set(k, {"n": 6}) is True and ds.read(k) == {"n": 6}
    # What JSON cannot hold is refused before anything is written, naming it.
    with pytest.raises(ValueError, match="NaN"):
        ds.set(text, float("nan"))
    assert ds.read(text) == [1, "two", None]
    for k_ in (k, fresh, text):
        assert ds.delete(k_) is True
    assert ds.read(text) is None


def test_the_datastore_client_on_the_embedded_store(tmp_path: Path) -> None:
    ds = Datastore(f"sqlite:///{tmp_path / 'clients.db'}")
    exercise(ds)
    assert ds.lockedException is ds.casException is _zerog.CasMismatch


@pytest.mark.skipif(not os.environ.get(COUCHBASE_ENV), reason=NO_COUCHBASE)
def test_couchbase_datastore_as_the_original_builds_it() -> None:
    url = urlsplit(os.environ[COUCHBASE_ENV])
    assert url.username and url.password and url.hostname, "ZEROG_TEST_COUCHBASE needs user:password@host/bucket"
    ds = zeroG.CouchbaseDatastore(
        url.hostname, unquote(url.username), unquote(url.password), url.path.strip("/"), operation_timeout=10
    )
    assert unquote(url.password) not in repr(ds) and unquote(url.password) not in ds.url
    exercise(ds)


def test_couchbase_datastore_names_a_cluster_that_is_not_there_and_hides_the_password() -> None:
    port = free_port()
    with pytest.raises(_zerog.BackendError, match=f"127.0.0.1:{port}") as failed:
        zeroG.CouchbaseDatastore(f"127.0.0.1:{port}", "Administrator", "s3cret/pw", "test", operation_timeout=2)
    assert "s3cret" not in str(failed.value)


@pytest.fixture
def beanstalkd() -> Iterator[Beanstalkd]:
    server = Beanstalkd()
    yield server
    server.stop()


def test_the_queue_client_puts_reserves_and_acts_on_entries(beanstalkd: Beanstalkd) -> None:
    q = zeroG.BeanstalkdQueue("127.0.0.1", beanstalkd.port, "og_clients")
    uuid = str(uuids.uuid4())
    jid = q.put(uuid, ttr=30)
    assert "og_clients" in q.list_all_queues()
    got = q.reserve(timeout=5)
    assert got is not None and got.jid == jid
    # The body is the JSON the original's worker reads: json.loads(queueJob.body) is the uuid.
    assert json.loads(got.body) == uuid
    assert got.stats()["reserves"] == 1
    got.release(delay=0)
    again = q.reserve(timeout=5)
    assert again is not None and again.jid == jid and again.stats()["reserves"] == 2
    again.touch()
    again.bury()
    assert q.queue.stats_job(jid)["state"] == "buried"
    q.delete(jid)
    assert q.reserve(timeout=0) is None
    with pytest.raises(_zerog.InvalidTubeName):
        zeroG.BeanstalkdQueue("127.0.0.1", beanstalkd.port, "bad tube name")
