"""The REST API under load: requests/s for `POST /job/{type}` and `GET /progress/{uuid}`, from
wrk on loopback against one `zerog-server` process, with a floor measured in the same run: a
bare Tornado handler answering a fixed JSON body (what one Tornado process can serve here at
all, with no zeroG in it).

Figures (each the median of `--repeat` runs of `--seconds` s, 1 wrk thread, `--connections`):
- floor: GET on the bare Tornado handler;
- POST floor: a bare Tornado `async def post` that parses the JSON body and answers 201 with a
  fresh uuid (what any Tornado endpoint that takes a job pays before doing anything with it);
- progress: GET /progress/{uuid}, over 1,000 jobs picked at random (so not one cached row);
- create: POST /job/bench_noop with `{}` (a document saved and a queue entry put per request);
  no worker runs, so the queue grows during the run.

The store is one SQLite file on a temporary directory; `--queue beanstalk://...` puts the
queue on a beanstalkd instead. wrk must be installed (apt-get install -y wrk).
Run: `make bench-http` (or `python bench/rest.py` with zeroG installed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent

FLOOR_APP = """
import asyncio, json, sys, uuid, tornado.web
class H(tornado.web.RequestHandler):
    def get(self):
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish('{"completeness": 0.0, "result": -1}\\n')
class P(tornado.web.RequestHandler):
    async def post(self):
        json.loads(self.request.body)
        self.set_status(201)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps({"uuid": str(uuid.uuid4())}))
async def main():
    tornado.web.Application([(r"/floor", H), (r"/floor-post", P)]).listen(int(sys.argv[1]), "127.0.0.1")
    await asyncio.Event().wait()
asyncio.run(main())
"""

RANDOM_PROGRESS = """
local uuids = {}
for line in io.lines("%s") do uuids[#uuids + 1] = line end
request = function()
  return wrk.format("GET", "/progress/" .. uuids[math.random(#uuids)])
end
"""

POST_JOB = """
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(port: int, path: str) -> None:
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1).read()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing answered on port {port}")


def wrk(port: int, path: str, seconds: float, connections: int, script: Path | None = None) -> float:
    # wrk takes whole seconds ("3.0s" is refused).
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise SystemExit(f"{bad.group(1)} failed requests on {path}:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--queue", help="queue URL (default: the store's SQLite file)")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        store = f"sqlite:///{tmp / 'http.db'}"
        env = dict(os.environ, ZEROG_STORE=store, ZEROG_QUEUE=args.queue or store, PYTHONPATH=str(HERE))
        port, floor_port = free_port(), free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "zeroG.server",
                "--port",
                str(port),
                "--module",
                "bench_jobs",
                "--log-level",
                "WARNING",
                # No worker: the server runs one by default, which would take the CPU the
                # requests are measured with.
                "--workers",
                "0",
            ],
            env=env,
        )
        floor = subprocess.Popen([sys.executable, "-c", FLOOR_APP, str(floor_port)])
        try:
            wait_up(port, "/health")
            wait_up(floor_port, "/floor")
            uuids = []
            for _ in range(1000):
                req = urllib.request.Request(f"http://127.0.0.1:{port}/job/bench_noop", data=b"{}", method="POST")
                uuids.append(json.loads(urllib.request.urlopen(req).read())["uuid"])
            (tmp / "uuids.txt").write_text("\n".join(uuids) + "\n")
            (tmp / "progress.lua").write_text(RANDOM_PROGRESS % (tmp / "uuids.txt"))
            (tmp / "post.lua").write_text(POST_JOB)
            floors, post_floors, progress, create = [], [], [], []
            for _ in range(args.repeat):  # interleaved, so a noisy moment hits all three alike
                floors.append(wrk(floor_port, "/floor", args.seconds, args.connections))
                post_floors.append(wrk(floor_port, "/floor-post", args.seconds, args.connections, tmp / "post.lua"))
                progress.append(wrk(port, "/", args.seconds, args.connections, tmp / "progress.lua"))
                create.append(wrk(port, "/job/bench_noop", args.seconds, args.connections, tmp / "post.lua"))
        finally:
            for p in (server, floor):
                p.terminate()
                p.wait(timeout=30)

    def spread(xs: list[float]) -> dict[str, float]:
        return {"median": round(statistics.median(xs)), "min": round(min(xs)), "max": round(max(xs))}

    results = {
        "machine": {"cpus": os.cpu_count()},
        "queue": "beanstalkd" if args.queue else "embedded",
        "connections": args.connections,
        "floor_bare_tornado_get_per_s": spread(floors),
        "progress_get_per_s": spread(progress),
        "progress_ratio_to_floor": round(statistics.median(progress) / statistics.median(floors), 2),
        "create_post_per_s": spread(create),
        "create_ratio_to_floor": round(statistics.median(create) / statistics.median(floors), 2),
        "floor_bare_tornado_post_per_s": spread(post_floors),
        "create_ratio_to_post_floor": round(statistics.median(create) / statistics.median(post_floors), 2),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
