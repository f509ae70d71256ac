"""The REST API over real HTTP on loopback: `zerog-server` processes (or the application served
from a thread, for settings the command does not take), real `zerog-worker` processes, and each
test on both the embedded queue and a real beanstalkd (the `db_url` fixture)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import http_jobs  # noqa: F401  (registers the job classes the server creates)
import pytest
from server_helpers import Api, AppThread

import zeroG
from zeroG import config

WORKER = ("--module", "http_jobs", "--queue", "http_jobs", "-c", "1")
GREET = "http_greet"


def stored_jobs() -> list[dict[str, Any]]:
    docs, _ = config.get_store().list(limit=1000)
    return docs


def queued_entries() -> int:
    queue = config.get_queue()
    if "http_jobs" not in queue.list_tubes():
        return 0
    s = queue.stats_tube("http_jobs")
    return int(s["ready"] + s["reserved"] + s["delayed"] + s["buried"])


# -- the original's routes ---------------------------------------------------------------------


def test_a_job_created_over_http_runs_and_is_watched_through_every_route(
    api: Api, start_worker: Callable[..., Any]
) -> None:
    r = api.post(f"/job/{GREET}", {"name": "Ada", "times": 2, "tags": ["x"]})
    assert r.status == 201
    assert r.headers["Content-Type"].startswith("application/json")
    uuid = r.json["uuid"]
    assert api.get(f"/progress/{uuid}").json == {"completeness": 0.0, "result": -1}
    doc = zeroG.get_base_job(uuid)
    assert doc is not None and doc.status == "queued", "saved and queued"
    ready = config.get_queue().peek_ready("http_jobs")
    assert ready is not None and ready[1] == f'"{uuid}"'.encode(), "its entry is on the queue"

    start_worker(*WORKER)
    assert api.wait_progress(uuid) == {"completeness": 1.0, "result": 200}
    info = api.get(f"/info/{uuid}").json
    assert [e["msg"] for e in info["events"]] == ["hello Ada", "hello Ada"]
    assert [w["msg"] for w in info["warnings"]] == ["greeted"]
    assert info["errors"] == [] and info["result"] == 200
    assert all("timeStamp" in e for e in info["events"])
    assert api.get(f"/data/{uuid}").json == {"greeting": "hello Ada", "times": 2}

    dump = api.get(f"/dump/{uuid}").json
    assert dump["uuid"] == uuid and dump["name"] == "Ada" and dump["status"] == "done"
    assert "events" not in dump and "errors" not in dump, "logs only with showLogs"
    with_logs = api.get(f"/dump/{uuid}?showLogs=true").json
    assert len(with_logs["events"]) == 2 and with_logs["warnings"][0]["msg"] == "greeted"


def test_a_job_class_that_answers_progress_its_own_way_is_asked(api: Api) -> None:
    uuid = api.create("http_custom_progress", {})
    assert api.get(f"/progress/{uuid}").json == {"completeness": 0.0, "result": -1, "stage": "custom"}
    plain = api.create("http_plain", {})
    assert api.get(f"/progress/{plain}").json == {"completeness": 0.0, "result": -1}


def test_the_original_mounting_with_patterns_and_a_users_own_handler(db_url: str) -> None:
    """The documented way: Server(name, make_datastore, make_queue, job_classes, handlers) with
    the handlers mounted by JOB_TYPE_PATT and UUID_PATT, and a user's handler that calls
    make_my_job and job.enqueue() in post()."""
    import tornado.escape
    import tornado.web

    from zeroG.handlers import JOB_TYPE_PATT, UUID_PATT, ProgressHandler, RunJobHandler

    class MyJobHandler(tornado.web.RequestHandler):
        def post(self) -> None:
            params = tornado.escape.json_decode(self.request.body)
            job = zeroG.make_base_job(values=params, job_type=GREET)
            job.enqueue()
            self.write({"uuid": job.uuid})
            self.set_status(200)
            self.finish()

    queue_url = config.queue_url()
    app = zeroG.Server(
        "myapp",
        lambda: db_url,
        lambda tube: queue_url,
        [http_jobs.GreetJob],
        handlers=[
            (f"/job/{JOB_TYPE_PATT}", RunJobHandler),
            (f"/progress/{UUID_PATT}", ProgressHandler),
            ("/my_job", MyJobHandler),
        ],
        workers=0,  # what it mounts is the point here; test_fleet runs its workers
    )
    served = AppThread(app)
    try:
        api = Api(served.port)
        uuid = api.create(GREET, {"name": "Grace"})
        assert api.get(f"/progress/{uuid}").json == {"completeness": 0.0, "result": -1}
        own = api.post("/my_job", {"name": "Linus"})
        assert own.status == 200
        assert zeroG.get_base_job(own.json["uuid"]).name == "Linus"  # type: ignore[union-attr]
        # Only the classes given to the Server can be created through RunJobHandler.
        r = api.post("/job/http_steps", {"steps": 1})
        assert r.status == 400 and r.json["known"] == [GREET]
        assert api.get("/health").status == 404, "Server mounts only the routes it is given"
    finally:
        served.stop()


def test_a_handler_subclass_written_for_the_original_derives_the_type_from_data_and_completes(db_url: str) -> None:
    """A downstream service's RunJobHandler overrides derive_job_type(self, data, *args,
    **kwargs), the original's signature, and its own handler answers with complete()."""
    from zeroG.handlers import UUID_PATT, BaseHandler, RunJobHandler

    class ByKind(RunJobHandler):
        def derive_job_type(self, data: dict[str, Any], *args: str, **kwargs: str) -> str | None:
            return GREET if "name" in data else None  # a greeting is what has a name

    class Echo(BaseHandler):
        def get(self, uuid: str) -> None:
            if uuid.startswith("0"):
                self.complete(409, errMsg=f"{uuid} is taken")
            else:
                self.complete(200, output=json.dumps({"uuid": uuid}))

    queue_url = config.queue_url()
    app = zeroG.Server(
        "downstream",
        lambda: db_url,
        lambda tube: queue_url,
        [http_jobs.GreetJob],
        handlers=[("/make", ByKind), (f"/echo/{UUID_PATT}", Echo)],
        workers=0,
    )
    served = AppThread(app)
    try:
        api = Api(served.port)
        made = api.post("/make", {"name": "Ada"})
        assert made.status == 201, made.text
        job = zeroG.get_base_job(made.json["uuid"])
        assert job is not None and job.JOB_TYPE == GREET and job.name == "Ada"  # type: ignore[attr-defined]
        unknown = api.post("/make", {"times": 2})
        assert unknown.status == 400 and "jobType" in unknown.json["error"]
        uuid = "4f0c5f0e-9d3a-4d7e-9a51-1f5b2b6f7a10"
        ok = api.get(f"/echo/{uuid}")
        assert ok.status == 200 and ok.json == {"uuid": uuid}
        assert ok.headers["Content-Type"].startswith("application/json")
        taken = api.get("/echo/0f0c5f0e-9d3a-4d7e-9a51-1f5b2b6f7a10")
        assert taken.status == 409 and "is taken" in taken.text
    finally:
        served.stop()


# -- bad input ---------------------------------------------------------------------------------


BAD_REQUESTS: list[tuple[str, str, bytes | None, int, str]] = [
    # method, path, body, status, a piece of the error message
    ("POST", f"/job/{GREET}", b'{"name": "x",', 400, "not valid JSON"),
    ("POST", f"/job/{GREET}", b"[1, 2]", 400, "must be a JSON object, not an array"),
    ("POST", f"/job/{GREET}", b'"Ada"', 400, "not a string"),
    ("POST", f"/job/{GREET}", b"\xff\xfe{}", 400, "not UTF-8"),
    ("POST", f"/job/{GREET}", b'{"name": NaN}', 400, "NaN is not a JSON value"),
    ("POST", f"/job/{GREET}", b"[" * 1500 + b"]" * 1500, 400, "nested too deeply"),
    ("POST", f"/job/{GREET}", b"{}", 400, "invalid job values"),
    ("POST", f"/job/{GREET}", b'{"name": "x", "times": 99}', 400, "invalid job values"),
    ("POST", f"/job/{GREET}", b'{"name": "x", "colour": "red"}', 400, "invalid job values"),
    ("POST", f"/job/{GREET}", b'{"name": "x", "status": "done"}', 400, "invalid job values"),
    ("POST", f"/job/{GREET}", b'{"name": "x", "uuid": "not-a-uuid"}', 400, "is not a uuid"),
    ("POST", f"/job/{GREET}", b'{"name": "x", "extra": {"n": 1e400}}', 400, "invalid job values"),
    ("POST", f"/job/{GREET}", b'{"name": "x", "jobType": "http_steps"}', 400, "differs"),
    ("POST", "/job/no_such_type", b'{"name": "x"}', 400, "unknown job type 'no_such_type'"),
    ("GET", "/progress/not-a-uuid", None, 404, "Could not find job 'not-a-uuid': it is not a uuid"),
    ("GET", "/info/4f0c5f0e-9d3a-4d7e-9a51-1f5b2b6f7a10", None, 404, "Could not find job"),
    ("GET", "/dump/4f0c5f0e-9d3a-4d7e-9a51-1f5b2b6f7a10", None, 404, "Could not find job"),
    ("GET", f"/job/{GREET}", None, 405, "Method Not Allowed"),
    ("DELETE", "/progress/4f0c5f0e-9d3a-4d7e-9a51-1f5b2b6f7a10", None, 405, "Method Not Allowed"),
    ("GET", "/no/such/route", None, 404, "no route for GET /no/such/route"),
    ("GET", "/jobs?limit=0", None, 400, "limit must be"),
    ("GET", "/jobs?limit=abc", None, 400, "limit must be"),
    ("GET", "/jobs?status=sleeping", None, 400, "unknown status"),
    ("GET", "/jobs?cursor=zzz", None, 400, "cursor"),
    ("POST", "/cancel/not-a-uuid", None, 404, "is not a uuid"),
    ("POST", f"/job/{GREET}", b'{"name": "' + b"x" * 5000 + b'"}', 413, "limit"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), BAD_REQUESTS, ids=lambda v: str(v)[:40])
def test_bad_input_gets_a_clear_json_error_and_leaves_nothing_behind(
    serve: Callable[..., Api], method: str, path: str, body: bytes | None, status: int, message: str
) -> None:
    api = serve("--max-body", "4096")
    r = api.request(method, path, raw=body)
    assert r.status == status, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert message in r.json["error"], r.json
    assert stored_jobs() == [] and queued_entries() == 0, "no half-made job"


def test_schema_violations_are_reported_field_by_field(api: Api) -> None:
    r = api.post(f"/job/{GREET}", {"times": 0, "tags": "a", "colour": 1})
    assert r.status == 400
    fields = r.json["fields"]
    assert fields["name"] == ["Missing data for required field."]
    assert set(fields) == {"name", "times", "tags", "colour"}


def test_a_chunked_body_over_the_limit_is_413(serve: Callable[..., Api]) -> None:
    api = serve("--max-body", "1000")
    c = api.connect()
    c.putrequest("POST", f"/job/{GREET}")
    c.putheader("Transfer-Encoding", "chunked")
    c.endheaders()
    for _ in range(5):
        c.send(b"190\r\n" + b"x" * 400 + b"\r\n")
    c.send(b"0\r\n\r\n")
    r = c.getresponse()
    assert r.status == 413
    assert "limit of 1000 bytes" in r.read().decode()
    assert stored_jobs() == []


def test_a_uuid_chosen_by_the_client_is_kept_and_a_second_use_is_409(api: Api) -> None:
    uuid = "0b7e7f4e-58a1-4c1f-8f5e-6d2f4b7c9a01"
    assert api.create(GREET, {"name": "x", "uuid": uuid}) == uuid
    r = api.post(f"/job/{GREET}", {"name": "y", "uuid": uuid})
    assert r.status == 409 and uuid in r.json["error"]
    assert zeroG.get_base_job(uuid).name == "x"  # type: ignore[union-attr]
    assert len(stored_jobs()) == 1 and queued_entries() == 1


@pytest.mark.beanstalkd_queue
def test_a_dead_queue_gets_503_and_no_document_is_left(queue_server: Any, serve: Callable[..., Api]) -> None:
    api = serve()
    assert api.create(GREET, {"name": "before"})
    queue_server.stop()
    r = api.post(f"/job/{GREET}", {"name": "after"})
    assert r.status == 503, r.text
    assert "job not created" in r.json["error"]
    assert [d["name"] for d in stored_jobs()] == ["before"]
    health = api.get("/health")
    assert health.status == 503 and health.json["store"] == "ok" and health.json["queue"].startswith("error")
    queues = api.get("/queues")
    assert queues.status == 503 and queues.json["error"].startswith("service unavailable: beanstalkd")
    metrics = api.get("/metrics")
    assert metrics.status == 200, "a scrape still answers, with what the store gave"
    assert 'zerog_up{component="queue"} 0' in metrics.text and 'zerog_jobs{status="queued"} 1' in metrics.text


# -- listing, queues, health -------------------------------------------------------------------


def test_jobs_are_listed_in_pages_and_filtered(api: Api, start_worker: Callable[..., Any]) -> None:
    greet = [api.create(GREET, {"name": f"n{i}"}) for i in range(5)]
    plain = api.create("http_plain", {})
    seen: list[str] = []
    cursor = ""
    while True:
        page = api.get(f"/jobs?limit=2&cursor={cursor}").json
        assert len(page["jobs"]) <= 2
        seen += [d["uuid"] for d in page["jobs"]]
        if page["next"] is None:
            break
        cursor = page["next"]
    assert seen == [*greet, plain], "every job once, oldest first"
    assert [d["uuid"] for d in api.get("/jobs?type=http_plain").json["jobs"]] == [plain]
    assert len(api.get("/jobs?status=queued").json["jobs"]) == 6
    start_worker(*WORKER)
    for uuid in greet:
        api.wait_progress(uuid)
    api.wait_progress(plain)
    assert api.get("/jobs?status=queued").json["jobs"] == []
    assert len(api.get(f"/jobs?status=done&type={GREET}").json["jobs"]) == 5


def test_queues_reports_counts_per_tube(api: Api) -> None:
    for i in range(3):
        api.create(GREET, {"name": f"n{i}"})
    tubes = api.get("/queues").json["tubes"]
    assert tubes["http_jobs"] == {"ready": 3, "reserved": 0, "delayed": 0, "buried": 0}


def test_health(api: Api) -> None:
    r = api.get("/health")
    assert r.status == 200 and r.json == {"status": "ok", "store": "ok", "queue": "ok"}


def test_the_openapi_document_describes_the_served_job_types(api: Api) -> None:
    doc = api.get("/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    body = doc["paths"][f"/job/{GREET}"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["name"] and body["properties"]["times"]["maximum"] == 10
    for route in ("/progress/{uuid}", "/watch/{uuid}", "/cancel/{uuid}", "/jobs", "/metrics", "/health"):
        assert route in doc["paths"], route


# -- auth and CORS -----------------------------------------------------------------------------


def test_a_token_guards_every_route_but_health(serve: Callable[..., Api]) -> None:
    api = serve(env={"ZEROG_API_TOKEN": "s3cret"}, token="s3cret")
    uuid = api.create(GREET, {"name": "x"})
    anonymous = Api(api.port)
    wrong = Api(api.port, token="guess")
    for path in [f"/progress/{uuid}", f"/info/{uuid}", "/jobs", "/queues", "/metrics", "/openapi.json"]:
        for who in (anonymous, wrong):
            r = who.get(path)
            assert r.status == 401, (path, r.status)
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
            assert "bearer token" in r.json["error"]
        assert api.get(path).status == 200, path
    assert anonymous.post(f"/job/{GREET}", {"name": "y"}).status == 401
    assert anonymous.get("/health").status == 200
    assert len(stored_jobs()) == 1, "a refused request creates nothing"


def test_no_cors_by_default_and_any_origin_only_when_asked(api: Api, serve: Callable[..., Api]) -> None:
    r = api.get("/health", headers={"Origin": "https://a.example"})
    assert r.status == 200 and r.headers["Access-Control-Allow-Origin"] is None
    # The original zeroG's setting, for a migration: an explicit opt-in.
    anyone = serve("--cors", "*")
    assert anyone.get("/health", headers={"Origin": "https://a.example"}).headers["Access-Control-Allow-Origin"] == "*"
    pre = anyone.request("OPTIONS", f"/job/{GREET}", headers={"Origin": "https://a.example"})
    assert pre.status == 204 and pre.text == ""
    assert pre.headers["Access-Control-Allow-Methods"] == "POST,OPTIONS"
    assert "authorization" in pre.headers["Access-Control-Allow-Headers"]


def test_cors_origins_can_be_limited(serve: Callable[..., Api]) -> None:
    api = serve("--cors", "https://a.example,https://b.example")
    assert api.get("/health", headers={"Origin": "https://b.example"}).headers["Access-Control-Allow-Origin"] == (
        "https://b.example"
    )
    other = api.get("/health", headers={"Origin": "https://evil.example"})
    assert other.headers["Access-Control-Allow-Origin"] is None


# -- watching, metrics, a slow store -----------------------------------------------------------


def test_watch_streams_every_change_until_the_job_ends(
    serve_app: Callable[..., Api], start_worker: Callable[..., Any]
) -> None:
    api = serve_app(watch_interval=0.02)
    uuid = api.create("http_steps", {"steps": 4, "pause": 0.3})
    got: list[tuple[str, Any]] = []

    def read() -> None:
        got.extend(api.events(f"/watch/{uuid}"))

    reader = threading.Thread(target=read)
    reader.start()
    start_worker(*WORKER)
    reader.join(60)
    assert not reader.is_alive(), "the stream closes when the job ends"
    names = [name for name, _ in got]
    assert names[0] == "progress" and got[0][1] == {"completeness": 0.0, "result": -1, "status": "queued"}
    assert names[-1] == "end" and got[-1][1]["result"] == 200 and got[-1][1]["status"] == "done"
    assert [data["msg"] for name, data in got if name == "event"] == ["step 1", "step 2", "step 3", "step 4"]
    last_event = max(i for i, (name, _) in enumerate(got) if name == "event")
    final = next(i for i, (name, data) in enumerate(got) if name == "progress" and data["status"] == "done")
    assert last_event < final, "the job's last event comes before the progress that says it is done"
    completeness = [data["completeness"] for name, data in got if name == "progress"]
    assert completeness == sorted(completeness), "progress only goes forward"
    assert {0.25, 0.5, 0.75} <= set(completeness), "each step's progress was sent"
    # A finished job's stream gives its state and ends at once.
    again = list(api.events(f"/watch/{uuid}"))
    assert again[-1][0] == "end" and len([1 for n, _ in again if n == "event"]) == 4


def test_metrics_in_prometheus_text(serve_app: Callable[..., Api], start_worker: Callable[..., Any]) -> None:
    api = serve_app(metrics_settle=0)
    uuids = [api.create(GREET, {"name": f"n{i}"}) for i in range(3)]
    text = api.get("/metrics").text
    assert 'zerog_jobs{status="queued"} 3' in text
    assert 'zerog_queue_jobs{tube="http_jobs",state="ready"} 3' in text
    assert "zerog_job_run_seconds_count" not in text, "no run has finished yet"
    start_worker(*WORKER)
    for uuid in uuids:
        api.wait_progress(uuid)
    r = api.get("/metrics")
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    lines = r.text.splitlines()
    assert 'zerog_jobs{status="done"} 3' in lines and 'zerog_jobs{status="queued"} 0' in lines
    assert 'zerog_job_run_seconds_count{status="done"} 3' in lines
    assert 'zerog_job_run_seconds_bucket{status="done",le="+Inf"} 3' in lines
    assert "# TYPE zerog_job_run_seconds histogram" in lines
    assert 'zerog_up{component="store"} 1' in lines and 'zerog_up{component="queue"} 1' in lines
    # A second scrape counts nothing twice.
    assert 'zerog_job_run_seconds_count{status="done"} 3' in api.get("/metrics").text.splitlines()


def test_the_first_scrape_counts_runs_that_finished_before_the_server_started(
    serve_app: Callable[..., Api], start_worker: Callable[..., Any]
) -> None:
    jobs = [zeroG.make_base_job({"name": f"early{i}"}, GREET) for i in range(2)]
    for job in jobs:
        job.enqueue()
    start_worker(*WORKER)
    deadline = time.monotonic() + 60
    while not all((d := zeroG.get_base_job(j.uuid)) is not None and d.status == "done" for j in jobs):
        assert time.monotonic() < deadline, "the jobs did not run"
        time.sleep(0.05)
    api = serve_app(metrics_settle=0)
    assert 'zerog_job_run_seconds_count{status="done"} 2' in api.get("/metrics").text.splitlines()


HOLD_WRITE_LOCK = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN IMMEDIATE")  # the store's writers now wait (up to ~10 s)
print("locked", flush=True)
sys.stdin.readline()
con.execute("ROLLBACK")
"""


def test_requests_go_on_while_the_store_is_slow(serve: Callable[..., Api], db_url: str) -> None:
    """One request waits on a locked store; others are served meanwhile."""
    api = serve()
    uuid = api.create(GREET, {"name": "x"})
    path = db_url.removeprefix("sqlite:///")
    # The lock is held from another process: two copies of SQLite in one process (Python's and
    # zeroG's) do not see each other's locks.
    locker = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITE_LOCK, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    created: list[Any] = []
    writer = threading.Thread(target=lambda: created.append(api.post(f"/job/{GREET}", {"name": "slow"})))
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        writer.start()
        time.sleep(0.3)
        assert writer.is_alive(), "the create waits for the store"
        t0 = time.monotonic()
        for _ in range(20):
            assert api.get(f"/progress/{uuid}").status == 200
        assert api.get("/health").status == 200
        served_in = time.monotonic() - t0
        assert writer.is_alive(), "still waiting while the reads were served"
    finally:
        locker.communicate("release\n", timeout=10)  # it rolls back and exits
    writer.join(30)
    assert created[0].status == 201
    assert served_in < 5, f"reads took {served_in:.1f} s beside a blocked write"


# -- cancel ------------------------------------------------------------------------------------


def test_cancel_over_http_stops_a_queued_job_and_a_running_one(api: Api, start_worker: Callable[..., Any]) -> None:
    queued = api.create(GREET, {"name": "never"})
    r = api.post(f"/cancel/{queued}")
    assert r.status == 200 and r.json == {"uuid": queued, "status": "cancelled"}
    running = api.create("http_steps", {"steps": 200, "pause": 0.05})
    start_worker(*WORKER)
    deadline = time.monotonic() + 30
    while api.get(f"/dump/{running}").json["status"] != "running":
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)
    assert api.post(f"/cancel/{running}").json == {"uuid": running, "status": "running"}
    api.wait_progress(running, result=zeroG.CANCELLED)
    dump = api.get(f"/dump/{running}").json
    assert dump["status"] == "cancelled" and dump["completeness"] < 1.0, "stopped before the end"
    never = api.get(f"/info/{queued}").json
    assert never["result"] == zeroG.CANCELLED and "hello never" not in [e["msg"] for e in never["events"]]
    # A finished job is left as it is; an unknown one is 404.
    assert api.post(f"/cancel/{running}").json["status"] == "cancelled"
    missing = api.post("/cancel/4f0c5f0e-9d3a-4d7e-9a51-1f5b2b6f7a10")
    assert missing.status == 404 and "Could not find job" in missing.json["error"]
