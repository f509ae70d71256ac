"""The REST API as a stranger or another web page would try it, against real `zerog-server`
processes on loopback: cross-site requests, foreign Host headers (DNS rebinding), listening
beyond loopback without a token, half-sent requests, query strings and uuids that only look
right, and secrets in what the server shows."""

from __future__ import annotations

import json
import resource
import socket
import subprocess
import sys
import time
import uuid as uuid_module
from collections.abc import Callable
from pathlib import Path
from typing import Any

import http_jobs  # noqa: F401  (registers the job classes the server creates)
import pytest
from processes import free_port, support_env
from server_helpers import Api, ServerProcess, server_env

import zeroG
from zeroG import _zerog, config

GREET = "http_greet"
EVIL = "http://evil.example"


def job_count() -> int:
    docs, _ = config.get_store().list(limit=1000)
    return len(docs)


# -- other web pages -----------------------------------------------------------------------------


def test_a_foreign_page_cannot_create_or_cancel_jobs(api: Api) -> None:
    uuid = api.create(GREET, {"name": "mine"})
    before = job_count()
    for content_type in ("application/json", "text/plain", "application/x-www-form-urlencoded"):
        r = api.post(f"/job/{GREET}", {"name": "csrf"}, headers={"Origin": EVIL, "Content-Type": content_type})
        assert r.status == 403, r.text
        assert EVIL in r.json["error"]
    assert api.post(f"/cancel/{uuid}", headers={"Origin": EVIL}).status == 403
    assert job_count() == before
    assert api.get(f"/progress/{uuid}").status == 200
    # Not a browser (no Origin), and the server's own pages (same origin), may.
    assert api.post(f"/job/{GREET}", {"name": "curl"}).status == 201
    same = f"http://127.0.0.1:{api.port}"
    assert api.post(f"/job/{GREET}", {"name": "own page"}, headers={"Origin": same}).status == 201
    assert job_count() == before + 2


def test_only_the_allowed_origins_may_change_jobs(serve: Callable[..., Api]) -> None:
    api = serve("--cors", "http://good.example")
    r = api.post(f"/job/{GREET}", {"name": "x"}, headers={"Origin": EVIL, "Content-Type": "text/plain"})
    assert r.status == 403
    r = api.post(f"/job/{GREET}", {"name": "x"}, headers={"Origin": "http://good.example"})
    assert r.status == 201 and r.headers["Access-Control-Allow-Origin"] == "http://good.example"


def test_a_foreign_host_header_is_refused_on_loopback(api: Api, serve: Callable[..., Api]) -> None:
    r = api.get("/health", headers={"Host": "rebound.example"})
    assert r.status == 403 and "rebound.example" in r.json["error"]
    assert api.get("/health", headers={"Host": f"localhost:{api.port}"}).status == 200
    assert api.get("/health", headers={"Host": f"[::1]:{api.port}"}).status == 200
    named = serve("--allow-host", "jobs.internal")
    assert named.get("/health", headers={"Host": "jobs.internal:80"}).status == 200
    assert named.get("/health", headers={"Host": "rebound.example"}).status == 403


def test_listening_beyond_loopback_needs_a_token_or_the_insecure_flag(tmp_path: Path) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "zeroG.server", "--module", "http_jobs", "--host", "0.0.0.0", "--port", str(port)]
    out = subprocess.run(cmd, env=server_env(), capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "--insecure-no-token" in out.stderr and "ZEROG_API_TOKEN" in out.stderr
    app = zeroG.make_app(["http_jobs"])
    with pytest.raises(ValueError, match="insecure_no_token"):
        app.listen(port, "0.0.0.0")
    for settings in ({"api_token": "s3cret"}, {"insecure_no_token": True}):
        server = zeroG.make_app(["http_jobs"], **settings).listen(port, "0.0.0.0")
        server.stop()


# -- half-sent requests --------------------------------------------------------------------------


def half_requests(port: int, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
        socks.append(s)
    return socks


def start_limited(tmp_path: Path, soft: int, hard: int, *args: str) -> ServerProcess:
    """A server whose file-descriptor limit starts at soft/hard."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    log = tmp_path / f"server-{soft}-{hard}.log"
    server = ServerProcess(["--module", "http_jobs", *args], server_env(), log, tmp_path, preexec_fn=limit)
    server.wait_ready()
    return server


def test_half_sent_requests_do_not_take_the_server_down(db_url: str, tmp_path: Path) -> None:
    # The soft limit is raised at start: 150 idle connections fit where 128 would not.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1024:
        pytest.fail(f"this machine's hard file limit is {hard}; the test needs room above 128")
    server = start_limited(tmp_path, 128, hard)
    socks: list[socket.socket] = []
    try:
        socks = half_requests(server.port, 150)
        t0 = time.monotonic()
        assert Api(server.port).get("/health").status == 200
        assert time.monotonic() - t0 < 5
    finally:
        for s in socks:
            s.close()
        server.stop()


def test_running_out_of_descriptors_pauses_accepting_quietly_and_recovers(db_url: str, tmp_path: Path) -> None:
    # The hard limit too is 128: connections past it cannot be accepted until the half-sent
    # ones time out (1 s here). Meanwhile the server neither spins nor floods its log.
    server = start_limited(tmp_path, 128, 128, "--header-timeout", "1")
    socks: list[socket.socket] = []
    try:
        socks = half_requests(server.port, 150)
        t0 = time.monotonic()
        reply = None
        while time.monotonic() - t0 < 15:
            try:
                reply = Api(server.port).request("GET", "/health")
                break
            except OSError:
                time.sleep(0.2)
        assert reply is not None and reply.status == 200, server.log()
        failures = [line for line in server.log().splitlines() if "cannot accept a connection" in line]
        assert 1 <= len(failures) <= 4, "\n".join(failures)
        assert "Traceback" not in server.log()
    finally:
        for s in socks:
            s.close()
        server.stop()


def closed_by_server(sock: socket.socket, within: float) -> float | None:
    """Seconds until the server closed `sock` (its end read), or None if it still had not
    after `within` seconds."""
    t0 = time.monotonic()
    sock.settimeout(within)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - t0


def test_a_request_body_not_all_sent_in_time_closes_its_connection(serve_app: Callable[..., Api]) -> None:
    api = serve_app(body_timeout=1, workers=0)
    slow = socket.create_connection(("127.0.0.1", api.port), timeout=5)
    try:
        head = f"POST /job/{GREET} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 20\r\n\r\n"
        slow.sendall(head.encode() + b'{"name":')  # the rest never comes
        waited = closed_by_server(slow, 10)
        assert waited is not None and 0.8 <= waited <= 3, waited
    finally:
        slow.close()
    # Nothing was made of the half-sent body, and the server goes on serving.
    assert api.get("/jobs").json["jobs"] == []
    assert api.create(GREET, {"name": "after"})


def test_the_body_deadline_does_not_cut_a_slow_but_complete_body_or_a_long_answer(
    serve_app: Callable[..., Api],
) -> None:
    api = serve_app(body_timeout=1, workers=0)
    sock = socket.create_connection(("127.0.0.1", api.port), timeout=10)
    try:
        body = json.dumps({"name": "slow"}).encode()
        head = f"POST /job/{GREET} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n\r\n"
        sock.sendall(head.encode() + body[:5])
        time.sleep(0.5)  # within the deadline
        sock.sendall(body[5:])
        answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 201"), answer
        # Kept alive past the body deadline while idle (the header timeout governs that), and
        # still answering on the same connection.
        time.sleep(1.5)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    finally:
        sock.close()


def test_headers_not_sent_in_time_or_an_idle_connection_are_closed_but_a_long_answer_is_not(
    serve_app: Callable[..., Api],
) -> None:
    api = serve_app(header_timeout=1, body_timeout=1, workers=0)
    uuid = api.create(GREET, {"name": "queued"})  # no worker: it stays queued, and watched
    half = socket.create_connection(("127.0.0.1", api.port), timeout=5)
    idle = socket.create_connection(("127.0.0.1", api.port), timeout=5)
    watch = socket.create_connection(("127.0.0.1", api.port), timeout=5)
    try:
        half.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
        idle.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert idle.recv(65536).startswith(b"HTTP/1.1 200")  # then kept alive, and silent
        watch.sendall(f"GET /watch/{uuid} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        assert watch.recv(65536).startswith(b"HTTP/1.1 200")
        for sock in (half, idle):
            waited = closed_by_server(sock, 10)
            assert waited is not None and waited <= 3, waited
        # The answer being streamed has no deadline: the stream is still open after both.
        assert closed_by_server(watch, 1.5) is None
    finally:
        for sock in (half, idle, watch):
            sock.close()


# -- query strings, uuids, methods ---------------------------------------------------------------


def test_a_limit_that_only_looks_like_a_number_is_a_400(api: Api) -> None:
    for limit in ("%C2%B2", "%D9%A3", "1e3", "-1", "0", "1001"):
        r = api.get(f"/jobs?limit={limit}")
        assert r.status == 400 and "limit" in r.json["error"], (limit, r.text)


@pytest.mark.parametrize(
    "form",
    [
        "{%s}",
        "urn:uuid:%s",
        " %s",
        "%s\n",
    ],
)
def test_a_client_chosen_uuid_has_one_form(api: Api, form: str) -> None:
    chosen = str(uuid_module.uuid4())
    r = api.post(f"/job/{GREET}", {"name": "u", "uuid": form % chosen})
    assert r.status == 400 and "is not a uuid" in r.json["error"]
    for other in (chosen.replace("-", ""), "\n" + chosen.replace("-", "")[1:]):
        assert api.post(f"/job/{GREET}", {"name": "u", "uuid": other}).status == 400
    assert job_count() == 0


def test_an_upper_case_uuid_is_the_same_job(api: Api) -> None:
    chosen = str(uuid_module.uuid4())
    r = api.post(f"/job/{GREET}", {"name": "u", "uuid": chosen.upper()})
    assert r.status == 201 and r.json["uuid"] == chosen
    assert api.post(f"/job/{GREET}", {"name": "u", "uuid": chosen}).status == 409
    assert api.get(f"/progress/{chosen.upper()}").status == 200


def test_head_answers_where_get_does_and_cors_lists_only_real_methods(serve: Callable[..., Api]) -> None:
    api = serve("--cors", "http://good.example")
    uuid = api.create(GREET, {"name": "h"})
    for path in ("/health", f"/progress/{uuid}", f"/watch/{uuid}", "/jobs"):
        r = api.request("HEAD", path)
        assert r.status == 200 and r.text == "", (path, r.status)
    assert api.request("HEAD", f"/job/{GREET}").status == 405
    allowed = api.request("OPTIONS", f"/progress/{uuid}", headers={"Origin": "http://good.example"})
    assert allowed.headers["Access-Control-Allow-Methods"] == "GET,HEAD,OPTIONS"


def test_a_chunked_body_over_the_limit_gets_the_json_413(api: Api) -> None:
    def chunks() -> Any:
        for _ in range(48):
            yield b"x" * 65536  # 3 MiB in all, three times the limit

    conn = api.connect()
    try:
        conn.request("POST", f"/job/{GREET}", body=chunks(), encode_chunked=True)
        reply = conn.getresponse()
        text = reply.read().decode()
    finally:
        conn.close()
    assert reply.status == 413 and "over the limit" in json.loads(text)["error"], text
    assert job_count() == 0


# -- secrets -------------------------------------------------------------------------------------

PASSWORD = "S3cr3tPW/x"
SECRET_URL = f"couchbase://admin:{PASSWORD}@127.0.0.1:{{port}}/jobs?timeout=1s"


def run_command(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, env=support_env({"PATH": "/usr/bin:/bin"}), capture_output=True, text=True, timeout=120, cwd=tmp_path
    )


def test_a_password_in_a_url_is_never_shown(tmp_path: Path) -> None:
    url = SECRET_URL.format(port=free_port())  # nothing listens there
    shown = _zerog.masked_url(url)
    assert PASSWORD not in shown and shown.startswith("couchbase://admin:***@")
    with pytest.raises(_zerog.ZeroGError) as e:
        _zerog.Store.open(url)
    assert PASSWORD not in str(e.value)
    bin_dir = Path(sys.executable).parent
    for args in (
        [sys.executable, "-m", "zeroG.server", "--module", "http_jobs", "--port", str(free_port()), "--store", url],
        [sys.executable, "-m", "zeroG.worker", "--module", "http_jobs", "-c", "1", "--store", url],
        [str(bin_dir / "zerog"), "--queue-url", url, "queues"],
    ):
        out = run_command(args, tmp_path)
        assert out.returncode != 0, (args, out.stdout, out.stderr)
        assert PASSWORD not in out.stdout + out.stderr, (args, out.stdout, out.stderr)


def test_a_server_built_with_an_opened_store_uses_that_store(db_url: str) -> None:
    # An opened store keeps only its URL's masked form, so it is used as it is, not reopened.
    store = _zerog.Store.open(db_url)
    queue_url = config.queue_url()
    zeroG.Server("s", lambda: store, lambda _tube: queue_url, [])
    assert config.get_store() is store and config.store_url() == store.url == db_url
