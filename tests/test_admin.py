"""The `zerog` admin command, run as installed, against the embedded queue and a real beanstalkd."""

from __future__ import annotations

import json
import os

import api_jobs
from processes import zerog

import zeroG
from zeroG import _zerog
from zeroG.jobs import make_base_job


def counts(out: str, tube: str) -> list[int]:
    """ready, reserved, delayed, buried for `tube` from `zerog queues`."""
    for line in out.splitlines():
        cells = line.split()
        if cells and cells[0] == tube:
            return [int(c) for c in cells[1:]]
    raise AssertionError(f"no line for {tube} in:\n{out}")


def test_queues_peek_and_kick_show_and_change_the_queue(db_url: str) -> None:
    tube = api_jobs.QUEUE
    jobs = [make_base_job({"name": f"n{i}"}, "api_greeting") for i in range(3)]
    for job in jobs:
        job.enqueue()
    later = make_base_job({"name": "later"}, "api_greeting")
    later.enqueue(delay=600)
    queue = _zerog.Queue.open(os.environ["ZEROG_QUEUE"])
    reserved = queue.reserve([tube], 1.0)
    assert reserved is not None
    queue.bury(reserved[0])

    listed = zerog("queues")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split() == ["tube", "ready", "reserved", "delayed", "buried"]
    assert counts(listed.stdout, tube) == [2, 0, 1, 1]

    peeked = zerog("peek", "--tube", tube, "--state", "buried")
    assert peeked.returncode == 0, peeked.stderr
    entry = json.loads(peeked.stdout)
    assert entry["id"] == reserved[0] and entry["state"] == "buried" and entry["buries"] == 1
    assert entry["job"]["uuid"] == jobs[0].uuid and entry["job"]["jobType"] == "api_greeting"
    assert entry["job"]["status"] == "queued"
    by_id = json.loads(zerog("peek", str(reserved[0])).stdout)
    assert by_id["id"] == reserved[0] and by_id["body"] == json.dumps(jobs[0].uuid)

    kicked = zerog("kick", tube, "5")
    assert (kicked.returncode, kicked.stdout.strip()) == (0, f"kicked 1 job in {tube}")
    assert counts(zerog("queues").stdout, tube) == [3, 0, 1, 0]


def test_bad_requests_fail_with_a_message_naming_the_problem(db_url: str) -> None:
    zeroG.config.get_store(), zeroG.config.get_queue()  # both exist (an absent store is refused: test_first_hour)
    missing = zerog("peek", "987654")
    assert missing.returncode == 1 and "987654" in missing.stderr and "does not exist" in missing.stderr
    empty = zerog("peek", "--tube", "nothing-here")
    assert empty.returncode == 1 and "no ready entry in nothing-here" in empty.stderr
    bad_tube = zerog("kick", "no spaces allowed")
    assert bad_tube.returncode == 2 and "no spaces allowed" in bad_tube.stderr
    bad_url = zerog("--queue-url", "redis://localhost", "queues")
    assert bad_url.returncode == 2 and "redis://localhost" in bad_url.stderr
    dead = zerog("--queue-url", "beanstalk://127.0.0.1:1", "queues")
    assert dead.returncode == 2 and "127.0.0.1:1" in dead.stderr
