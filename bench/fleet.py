"""What the fleet's control channel costs and how fast it acts, on beanstalkd.

Figures:
- idle cost: with one `zerog-worker -c 2` (2 worker processes) idle, the commands beanstalkd
  counts per second per worker process (`stats`: the sum of every `cmd-*`), over `--idle`
  seconds; the target is at most 2;
- reaction: a `drain` put on a worker's control tube, then how long until that worker's `info`
  answer says `drainingIdle` (it answers a `requestInfo` put right behind the drain), p50 and
  max over `--rounds` rounds (each followed by an undrain); the original polled every 2 s.

It starts its own beanstalkd on a free loopback port (beanstalkd must be installed), and a
store in a temporary directory. Run: `python bench/fleet.py` with zeroG installed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

from zeroG import _zerog  # noqa: E402
from zeroG.mgmt import InfoMsg, WorkerManager, make_msg  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def commands(port: int) -> int:
    """Every command beanstalkd has counted so far."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"stats\r\n")
        data = b""
        while not data.endswith(b"\r\n") or data.count(b"\r\n") < 2:
            data += s.recv(65536)
    return sum(int(line.split(b":")[1]) for line in data.splitlines() if line.startswith(b"cmd-"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--idle", type=float, default=20.0, help="seconds of idle measurement")
    ap.add_argument("--rounds", type=int, default=20, help="drain/undrain rounds")
    args = ap.parse_args()
    exe = shutil.which("beanstalkd") or sys.exit("beanstalkd is not installed (apt-get install -y beanstalkd)")
    port = free_port()
    server = subprocess.Popen([exe, "-l", "127.0.0.1", "-p", str(port)], stderr=subprocess.DEVNULL)
    tmp = tempfile.mkdtemp(prefix="zerog-bench-fleet-")
    url = f"beanstalk://127.0.0.1:{port}"
    env = dict(
        os.environ,
        ZEROG_STORE=f"sqlite:///{tmp}/store.db",
        ZEROG_QUEUE=url,
        PYTHONPATH=str(HERE),
        ZEROG_LOG_LEVEL="WARNING",
    )
    time.sleep(0.3)
    worker = subprocess.Popen(
        [sys.executable, "-m", "zeroG.worker", "--module", "bench_jobs", "-c", "2", "--host-name", "bench"], env=env
    )
    try:
        manager = WorkerManager(queue_url=url)
        deadline = time.monotonic() + 30
        while len(manager.refresh(1.0)) < 2:
            if time.monotonic() > deadline:
                sys.exit("the workers did not answer")
        time.sleep(2.0)  # past start-up
        before, t0 = commands(port), time.monotonic()
        time.sleep(args.idle)
        per_worker = (commands(port) - before - 1) / (time.monotonic() - t0) / 2
        target = next(iter(manager.workers))
        reactions = []
        for _ in range(args.rounds):
            manager.send_ctrl_msg(target, make_msg("drain"))
            t = time.monotonic()
            manager.send_ctrl_msg(target, make_msg("requestInfo"))
            while True:
                msg = manager.updatesChannel.get_msg(timeout=5)
                if isinstance(msg, InfoMsg) and msg.workerId == target:  # type: ignore[attr-defined]
                    assert msg.state == "drainingIdle", msg.state  # type: ignore[attr-defined]
                    break
            reactions.append(time.monotonic() - t)
            manager.send_ctrl_msg(target, make_msg("undrain"))
            time.sleep(0.2)
        out = {
            "idle_commands_per_second_per_worker": round(per_worker, 2),
            "target_idle": 2,
            "reaction_ms_p50": round(statistics.median(reactions) * 1000, 1),
            "reaction_ms_max": round(max(reactions) * 1000, 1),
            "original_poll_ms": 2000,
            "rounds": args.rounds,
            "zerog": _zerog.__version__,
        }
        print(json.dumps(out, indent=2))
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        server.terminate()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
