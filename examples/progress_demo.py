"""zeroG in one file: start a worker, enqueue a few jobs, and watch their progress live (the bars
`zerog watch` draws).

Run it with `make example` (from the repository root), or with zeroG installed:
    cd examples && python progress_demo.py
Everything lives in the embedded default (~/.local/share/zerog/zerog.db): no server to set up.
"""

import os
import subprocess
import sys

import progress_job

from zeroG import config
from zeroG.cli.watch import watch


def main() -> None:
    # A worker with two processes, taking jobs from the tube of CountdownJob.
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.abspath(__file__)))
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zeroG.worker",
            "--module",
            "progress_job",
            "--concurrency",
            "2",
            "--log-level",
            "WARNING",
        ],
        env=env,
    )
    # The dashboard, on the same store: open its URL to see the jobs, the queue and the workers.
    port = int(os.environ.get("ZEROG_DEMO_PORT", "8888"))
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zeroG.server",
            "--module",
            "progress_job",
            "--port",
            str(port),
            "--log-level",
            "WARNING",
        ],
        env=env,
    )
    try:
        print(f"dashboard: http://127.0.0.1:{port}/ui/")
        jobs = [
            progress_job.make_countdown({"steps": 6, "stepSeconds": 0.4, "label": "fast"}),
            progress_job.make_countdown({"steps": 5, "stepSeconds": 0.8, "label": "slow"}),
            progress_job.make_countdown({"steps": 8, "stepSeconds": 0.3, "label": "long"}),
        ]
        for job in jobs:
            job.enqueue()
            print(f"enqueued {job.label:5} {job.uuid}")
        print()
        # What `zerog watch UUID...` draws: a live bar per job until every one has ended.
        watch(config.get_store(), [job.uuid for job in jobs])
        print()
        for job in jobs:
            job.reload()
            print(f"{job.label:5} result {job.resultCode}, {len(job.events)} events, ran on {job.workerId}")
        if sys.stdin.isatty():
            try:
                input(f"\nthe dashboard stays up at http://127.0.0.1:{port}/ui/ until you press Enter ")
            except (EOFError, KeyboardInterrupt):
                pass
    finally:
        for process in (worker, server):
            process.terminate()  # SIGTERM: the worker finishes what it runs, then exits
        for process in (worker, server):
            process.wait()


if __name__ == "__main__":
    main()
