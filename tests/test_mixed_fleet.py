"""A fleet that mixes the original zeroG's processes with zeroG's, sharing one store and one
set of tubes (`ZEROG_MIXED_FLEET=1`): each reads what the other writes.

The original's side is our restatement of its rules (tests/support/original_schema.py): it
refuses a document with a field it does not declare, and its saves write what its job object
carries. zeroG's side is real `zerog-worker` processes on beanstalkd (the queue the original
used), with the store in a SQLite file standing in for the shared bucket. What is in the
bucket is read from that file: the documents as the original's processes get them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid as uuids
from collections.abc import Callable, Iterator
from typing import Any

import original_jobs  # noqa: F401 - registers the og_ job classes in this process too
import original_schema
import pytest
from marshmallow import ValidationError, fields
from waiting import doc, wait_status

import zeroG
from zeroG import _zerog
from zeroG.jobs import make_base_job, make_key

MODULE = ("--module", "original_jobs", "-c", "1")
# The og_ jobs' own field, as their class declares it.
OWN = {"note": fields.String(allow_none=True)}


@pytest.fixture(params=["beanstalkd"])
def queue_backend(request: pytest.FixtureRequest) -> str:
    """The original ran on beanstalkd only: so does a mixed fleet."""
    return str(request.param)


@pytest.fixture
def mixed(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The mode on, in this process and in the workers it starts."""
    monkeypatch.setenv("ZEROG_MIXED_FLEET", "1")
    zeroG.configure(store=db_url, queue=zeroG.config.queue_url())
    yield db_url


# Run in a process of its own: SQLite's locks are per process, and a second copy of the library
# in this one (Python's sqlite3 beside zeroG's) closing the file would drop zeroG's.
READ_ROW = """
import json, sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
row = conn.execute("SELECT value, cas FROM zerog_docs WHERE key = ?", (sys.argv[2],)).fetchone()
print(json.dumps(row))
"""


def in_bucket(db_url: str, uuid: str) -> tuple[dict[str, Any], int]:
    """The job's document and CAS as they are stored, which is what the original's processes
    read: from the SQLite file itself, since any zeroG store turns the original's shape back
    into zeroG's as it reads."""
    path = db_url.removeprefix("sqlite:///")
    out = subprocess.run([sys.executable, "-c", READ_ROW, path, make_key(uuid)], capture_output=True, check=True)
    row = json.loads(out.stdout)
    assert row is not None, f"no document for {uuid}"
    return json.loads(row[0]), row[1]


def write_in_bucket(db_url: str, uuid: str, document: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """What an original process's save leaves in the bucket (a new document, or one it rewrote),
    written by a store outside the mode, which writes documents as it gets them."""
    with monkeypatch.context() as outside:
        outside.delenv("ZEROG_MIXED_FLEET", raising=False)
        store = _zerog.Store.open(db_url)
        found = store.get(make_key(uuid))
        if found is None:
            store.insert(make_key(uuid), document)
        else:
            store.replace(make_key(uuid), document, found[1])


def test_the_originals_rules_refuse_zerogs_own_fields_outside_the_mode(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why the mode exists: without it, the original cannot read what zeroG writes."""
    job = make_base_job({"note": "n"}, "og_records")
    job.save()
    stored, _ = in_bucket(db_url, job.uuid)
    with pytest.raises(ValidationError) as refused:
        original_schema.load(stored, OWN)
    assert {"status", "attempts", "workerId"} <= set(refused.value.messages)


def test_every_document_zerog_writes_loads_under_the_originals_rules(
    mixed: str, start_worker: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    done = make_base_job({"note": "kept"}, "og_records")
    done.enqueue()
    failed = make_base_job({}, "og_max_errors")
    failed.enqueue()
    queued, _ = in_bucket(mixed, done.uuid)
    assert original_schema.load(queued, OWN)["note"] == "kept"

    worker = start_worker(*MODULE)
    d = wait_status(done.uuid, "done")
    assert "mixed fleet: documents in the original zeroG's shape" in worker.log()
    f = wait_status(failed.uuid, "failed")
    # zeroG reads its own fields back whole...
    assert (d["resultCode"], d["attempts"], d["errorCount"], d["note"]) == (200, 1, 1, "kept")
    assert d["workerId"] and d["finishedAt"] and d["heartbeatAt"]
    assert (f["attempts"], f["errorCount"], f["resultCode"]) == (2, 2, 500)
    # ...and the original reads every one of them, with the job's events, warnings and errors.
    for job, expected in ((done, 200), (failed, 500)):
        stored, _ = in_bucket(mixed, job.uuid)
        loaded = original_schema.load(stored, OWN)
        assert loaded["resultCode"] == expected and loaded["running"] is False
    loaded = original_schema.load(in_bucket(mixed, done.uuid)[0], OWN)
    assert [e["msg"] for e in loaded["warnings"]] == ["disk nearly full"]
    assert [e["errorCode"] for e in loaded["errors"]] == [409]
    assert "started" in [e["msg"] for e in loaded["events"]]
    # Listings and counts see zeroG's statuses, and the documents in zeroG's shape.
    store = zeroG.config.get_store()
    listed, _ = store.list(status="failed")
    assert [(j["uuid"], j["status"], j["attempts"]) for j in listed] == [(failed.uuid, "failed", 2)]
    assert dict(store.count_by_status())["done"] == 1


def test_a_job_the_original_made_runs_on_zerog_and_stays_readable(
    mixed: str, start_worker: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    uuid = str(uuids.uuid4())
    made = original_schema.new_document(uuid, "og_records", {"note": "from the original"})
    write_in_bucket(mixed, uuid, made, monkeypatch)
    # The original's enqueue: the JSON-encoded uuid, on the job's tube.
    _zerog.Queue.open(zeroG.config.queue_url()).put("og", json.dumps(uuid).encode())
    assert zeroG.get_base_job(uuid).dump()["status"] == "queued"  # type: ignore[union-attr]

    start_worker(*MODULE)
    d = wait_status(uuid, "done")
    assert (d["resultCode"], d["note"], d["attempts"]) == (200, "from the original", 1)
    loaded = original_schema.load(in_bucket(mixed, uuid)[0], OWN)
    assert loaded["resultCode"] == 200 and loaded["note"] == "from the original"


def test_a_job_the_original_ran_reads_as_it_left_it(mixed: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An original worker takes a job zeroG made and runs it to its end: its saves keep zeroG's
    fields (in `queueKwargs`) but not up to date, and zeroG then goes by the original's."""
    job = make_base_job({"note": "n"}, "og_records")
    job.enqueue()
    assert doc(job.uuid)["status"] == "queued"
    stored, cas = in_bucket(mixed, job.uuid)
    loaded = original_schema.load(stored, OWN)
    write_in_bucket(mixed, job.uuid, original_schema.save(loaded, OWN, cas, running=True), monkeypatch)
    assert doc(job.uuid)["status"] == "running"

    stored, cas = in_bucket(mixed, job.uuid)
    loaded = original_schema.load(stored, OWN)
    events = [*loaded["events"], {"msg": "did it the old way"}]
    finished = original_schema.save(loaded, OWN, cas, running=False, resultCode=200, completeness=1.0, events=events)
    write_in_bucket(mixed, job.uuid, finished, monkeypatch)

    d = doc(job.uuid)
    assert (d["status"], d["resultCode"], d["note"]) == ("done", 200, "n")
    assert d["finishedAt"] == finished["updatedAt"]
    assert [e["msg"] for e in d["events"]] == ["did it the old way"]
    # zeroG's next write brings its own fields up to date again, still in the original's shape.
    zeroG.get_base_job(job.uuid).record_event("seen by zeroG")  # type: ignore[union-attr]
    assert doc(job.uuid)["status"] == "done"
    original_schema.load(in_bucket(mixed, job.uuid)[0], OWN)


def test_a_mode_that_is_neither_on_nor_off_is_refused(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZEROG_MIXED_FLEET", "mabye")
    with pytest.raises(_zerog.ConfigError, match="ZEROG_MIXED_FLEET.*mabye"):
        _zerog.Store.open(db_url)
