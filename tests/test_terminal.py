"""`zerog`'s job commands (jobs, show, cancel, enqueue, watch), run as installed against a real
SQLite store, with real `zerog-worker` processes running the jobs: through pipes, where they
print plain lines or JSON, and on a pseudo-terminal, where rich draws tables and live bars."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import time
import uuid as uuid_module
from collections.abc import Callable
from pathlib import Path
from typing import Any

import http_jobs
import pytest
import worker_jobs  # noqa: F401 - registers the wk_ job classes in this process too
from processes import SUPPORT_DIR, ZEROG, WorkerProcess, zerog
from waiting import doc, wait_status

from zeroG import cancel, config
from zeroG.jobs import document_log, make_base_job

StartWorker = Callable[..., WorkerProcess]
# Job modules for `zerog enqueue`: the processes the tests start do not have tests/support on
# their path, so --path gives it, as a user gives their project's.
MODULE = ("--module", "http_jobs", "--path", str(SUPPORT_DIR))
# rich's drawing: its bar, and the rule under a table's header. Plain output has neither.
BAR, RULE = "━", "─"


def enqueue(job_type: str, values: dict[str, Any]) -> str:
    job = make_base_job(values, job_type)
    job.enqueue()
    return job.uuid


def cells(line: str) -> list[str]:
    """A plain table's or watch line's cells: columns are two or more spaces apart."""
    return re.split(r"  +", line.strip())


def stored_uuids() -> list[str]:
    return [d["uuid"] for d in config.get_store().list(limit=1000)[0]]


class Terminal:
    """A command run on a pseudo-terminal, as a person runs it: stdout and stderr are the
    terminal (100 columns, 256 colours), and what it draws is read off the other end."""

    def __init__(self, *args: str) -> None:
        master, slave = pty.openpty()
        env = dict(os.environ, TERM="xterm-256color", COLUMNS="100", LINES="40")
        self.proc = subprocess.Popen(
            [str(ZEROG), *args], stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True
        )
        os.close(slave)
        self.master = master

    def output(self, timeout: float = 60) -> tuple[int, str]:
        """Everything drawn until the command exits, and its exit code."""
        out = b""
        deadline = time.monotonic() + timeout
        try:
            while True:
                if time.monotonic() > deadline:
                    self.proc.kill()
                    pytest.fail(f"still running after {timeout} s; drew: {out.decode(errors='replace')!r}")
                if select.select([self.master], [], [], 0.5)[0]:
                    try:
                        chunk = os.read(self.master, 65536)
                    except OSError:  # EIO: the terminal's other end closed, the command exited
                        break
                    if not chunk:
                        break
                    out += chunk
            return self.proc.wait(timeout=10), out.decode()
        finally:
            os.close(self.master)


# -- through a pipe ------------------------------------------------------------------------------


def test_jobs_prints_a_plain_table_or_json_lines_filtered_and_limited(db_url: str) -> None:
    greeting = enqueue("http_greet", {"name": "Ada"})
    stepped = enqueue("http_steps", {"steps": 2})
    cancel(stepped)

    listed = zerog("jobs")
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr.startswith("zerog: store "), "it says which store it reads"
    lines = listed.stdout.splitlines()
    assert cells(lines[0]) == ["uuid", "type", "status", "progress", "result", "created (UTC)"]
    assert [cells(line)[:5] for line in lines[1:]] == [
        [greeting, "http_greet", "queued", "0%", "-1"],
        [stepped, "http_steps", "cancelled", "0%", "410"],
    ]
    assert "\x1b" not in listed.stdout and RULE not in listed.stdout and "│" not in listed.stdout

    only = zerog("jobs", "--status", "cancelled")
    assert [cells(line)[0] for line in only.stdout.splitlines()[1:]] == [stepped]
    typed = zerog("jobs", "--type", "http_greet")
    assert [cells(line)[0] for line in typed.stdout.splitlines()[1:]] == [greeting]
    first = zerog("jobs", "--limit", "1")
    assert [cells(line)[0] for line in first.stdout.splitlines()[1:]] == [greeting]
    assert "more match" in first.stderr

    as_json = zerog("jobs", "--json")
    assert as_json.returncode == 0, as_json.stderr
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [(r["uuid"], r["jobType"], r["status"], r["completeness"], r["result"]) for r in rows] == [
        (greeting, "http_greet", "queued", 0.0, -1),
        (stepped, "http_steps", "cancelled", 0.0, 410),
    ]

    bad = zerog("jobs", "--status", "sleepy")
    assert bad.returncode == 2 and "sleepy" in bad.stderr and bad.stdout == ""
    assert zerog("jobs", "--limit", "0").returncode == 2


def test_show_prints_the_info_and_the_log_in_time_order(db_url: str) -> None:
    job = make_base_job({"name": "Ada", "times": 2}, "http_greet")
    job.enqueue()
    # One entry in each list, interleaved in time: the log must merge them, not list by list.
    job.job_log_info("first")
    job.job_log_warning("second")
    job.job_log_error(503, "third")
    job.job_log_info("fourth")

    shown = zerog("show", job.uuid)
    assert shown.returncode == 0, shown.stderr
    info_text, log_text = shown.stdout.split("\n\n")
    info = dict(cells(line) for line in info_text.splitlines())
    assert (info["uuid"], info["type"], info["status"], info["progress"], info["result"]) == (
        job.uuid,
        "http_greet",
        "queued",
        "0%",
        "-1",
    )
    assert json.loads(info["values"])["name"] == "Ada" and json.loads(info["values"])["times"] == 2
    header, *entries = [cells(line) for line in log_text.splitlines()]
    assert header == ["time (UTC)", "kind", "message"]
    assert [(kind, message) for _, kind, message in entries] == [
        ("event", "first"),
        ("warning", "second"),
        ("error", "503: third"),
        ("event", "fourth"),
    ]
    times = [when for when, _, _ in entries]
    assert times == sorted(times) and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", t) for t in times)

    as_json = json.loads(zerog("show", job.uuid, "--json").stdout)
    assert as_json["uuid"] == job.uuid and as_json["status"] == "queued" and as_json["name"] == "Ada"
    assert [(e["kind"], e["msg"]) for e in as_json["log"]] == [
        ("event", "first"),
        ("warning", "second"),
        ("error", "third"),
        ("event", "fourth"),
    ]
    assert as_json["log"][2]["errorCode"] == 503 and "events" not in as_json


def test_cancel_a_queued_job(db_url: str) -> None:
    uuid = enqueue("http_greet", {"name": "Ada"})
    done = zerog("cancel", uuid)
    assert (done.returncode, done.stdout) == (0, f"{uuid}: cancelled\n"), done.stderr
    d = doc(uuid)
    assert (d["status"], d["resultCode"]) == ("cancelled", 410)
    again = zerog("cancel", uuid)
    assert again.returncode == 0 and "cancelled already" in again.stdout
    assert json.loads(zerog("cancel", uuid, "--json").stdout) == {"uuid": uuid, "status": "cancelled"}


def test_an_unknown_uuid_exits_1_naming_it(db_url: str) -> None:
    known = enqueue("http_greet", {"name": "Ada"})
    unknown = str(uuid_module.uuid4())
    for args in (("show", unknown), ("cancel", unknown), ("watch", known, unknown), ("show", "--json", unknown)):
        done = zerog(*args)
        assert done.returncode == 1 and f"no job {unknown}" in done.stderr, (args, done.stderr)
        assert known not in done.stderr and done.stdout == "", args
    assert doc(known)["status"] == "queued", "a watch refused at the start changes nothing"
    for args in (("show",), ("watch",), ("cancel", "a", "b")):
        assert zerog(*args).returncode == 2, args


def test_enqueue_refuses_bad_values_with_a_clear_error_and_stores_nothing(db_url: str) -> None:
    config.get_store(), config.get_queue()  # the store exists (zerog creates none)
    schema_says = http_jobs.GreetSchema().validate({"name": ""})["name"][0]
    for args, why in [
        (("http_greet", "{not json", *MODULE), "not valid JSON"),
        (("http_greet", "[1, 2]", *MODULE), "must be a JSON object"),
        (("http_greet", '{"name": "Ada"}'), "no job class has job type 'http_greet'"),
        (("http_greet", '{"name": "Ada"}', "--module", "no_such_module"), "cannot import job module 'no_such_module'"),
        (("http_greet", '{"name": ""}', *MODULE), f"invalid values for job type 'http_greet': name: {schema_says}"),
        (("http_greet", '{"name": "Ada", "times": 99}', *MODULE), "times: "),
        (("http_greet", '{"name": "Ada", "extra": {"x": NaN}}', *MODULE), "NaN"),
    ]:
        done = zerog("enqueue", *args)
        assert done.returncode == 2 and why in done.stderr, (args, done.stderr)
        assert done.stdout == "", args
    unregistered = zerog("enqueue", "http_greet", '{"name": "Ada"}')
    assert "--module" in unregistered.stderr, unregistered.stderr
    assert stored_uuids() == []
    queue = config.get_queue()
    assert http_jobs.QUEUE not in queue.list_tubes() or queue.stats_tube(http_jobs.QUEUE)["ready"] == 0


def test_enqueue_then_watch_json_until_done(db_url: str, start_worker: StartWorker) -> None:
    config.get_store()  # zerog creates no store: this one exists before the worker gets to it
    start_worker("--module", "http_jobs", "-c", "1")
    values = json.dumps({"steps": 4, "pause": 0.3})
    done = zerog("enqueue", "http_steps", values, *MODULE, "--watch", "--json")
    assert done.returncode == 0, done.stderr
    enqueued, *changes = [json.loads(line) for line in done.stdout.splitlines()]
    uuid = enqueued["uuid"]
    assert (enqueued["jobType"], enqueued["queueName"], enqueued["status"]) == ("http_steps", "http_jobs", "queued")
    assert stored_uuids() == [uuid]
    assert {c["uuid"] for c in changes} == {uuid}
    last = changes[-1]
    assert (last["status"], last["completeness"], last["result"]) == ("done", 1.0, 200)
    assert (last["latest"]["kind"], last["latest"]["msg"]) == ("event", "step 4")
    seen = [c["completeness"] for c in changes]
    assert seen == sorted(seen) and any(0 < c < 1 for c in seen), f"progress was followed as it went: {seen}"
    assert "running" in {c["status"] for c in changes}

    # Plain: the uuid alone from enqueue; from watch a line per change, here the one final state.
    plain = zerog("enqueue", "http_greet", '{"name": "Bo"}', *MODULE)
    assert plain.returncode == 0 and plain.stdout == f"{plain.stdout.strip()}\n"
    assert doc(plain.stdout.strip())["name"] == "Bo"
    watched = zerog("watch", uuid)
    assert watched.returncode == 0, watched.stderr
    assert cells(watched.stdout) == [uuid, "done", "100%", "step 4"] and "\x1b" not in watched.stdout


def test_watch_exits_1_naming_the_jobs_that_failed_or_were_cancelled(
    db_url: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    start_worker("--module", "worker_jobs", "-c", "2")
    ok = enqueue("wk_noop", {})
    failed = enqueue("wk_finish", {})
    sleeper = enqueue("wk_sleep", {"seconds": 60, "flag": str(tmp_path / "never")})
    watching = subprocess.Popen(
        [str(ZEROG), "watch", ok, failed, sleeper], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_status(sleeper, "running")
        stopped = zerog("cancel", sleeper)
        assert stopped.returncode == 0 and "cancel requested" in stopped.stdout, stopped.stdout + stopped.stderr
        out, err = watching.communicate(timeout=60)
    finally:
        watching.kill()
    assert watching.returncode == 1, err
    verdict = err.splitlines()[-1]
    assert f"{failed} failed" in verdict and f"{sleeper} cancelled" in verdict and ok not in verdict, verdict
    assert "\x1b" not in out
    final = {line.split()[0]: line for line in out.splitlines()}  # each job's last line
    assert cells(final[ok])[1:3] == ["done", "100%"]
    assert cells(final[failed])[1:3] == ["failed", "0%"]
    assert final[failed].endswith(document_log(doc(failed))[-1][1]["msg"]), "with its latest log entry"
    assert cells(final[sleeper])[1] == "cancelled"


# -- on a terminal -------------------------------------------------------------------------------


def test_watch_draws_live_bars_on_a_terminal(db_url: str, start_worker: StartWorker) -> None:
    uuid = enqueue("http_steps", {"steps": 5, "pause": 0.4})
    terminal = Terminal("watch", uuid)  # watching before the job starts: every step is a frame
    start_worker("--module", "http_jobs", "-c", "1")
    code, drawn = terminal.output()
    assert code == 0, drawn
    # rich hides the cursor, then redraws the bar in place (erasing the line) for each change.
    assert BAR in drawn and "\x1b[?25l" in drawn and "\x1b[2K" in drawn, drawn
    frames = [frame for frame in drawn.split("\x1b[2K") if BAR in frame]
    percents = [int(p) for frame in frames for p in re.findall(r"(\d+)%", frame)]
    assert percents == sorted(percents), percents
    assert len({p for p in percents if 0 < p < 100}) >= 2, f"the bar moved as the job went: {percents}"
    assert "100%" in frames[-1] and "done" in frames[-1] and "step 5" in frames[-1], frames[-1]


def test_jobs_draws_a_rich_table_on_a_terminal(db_url: str) -> None:
    uuid = enqueue("http_greet", {"name": "Ada"})
    code, drawn = Terminal("jobs").output()
    assert code == 0, drawn
    assert RULE * 20 in drawn and "\x1b[1m" in drawn, drawn  # the rule under a bold header
    assert uuid in drawn, "the uuid is whole, to copy, at 100 columns"
