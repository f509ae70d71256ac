"""zeroG in one file: start a worker, enqueue a few jobs, and watch their progress live.

Run it with `make example` (from the repository root), or with zeroG installed:
    cd examples && python progress_demo.py
Everything lives in the embedded default (~/.local/share/zerog/zerog.db): no server to set up.
"""

import os
import subprocess
import sys
import time

import progress_job

from zeroG.jobs import get_base_job


def bar(completeness: float, width: int = 30) -> str:
    filled = int(round(completeness * width))
    return "#" * filled + "." * (width - filled)


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
    try:
        jobs = [
            progress_job.make_countdown({"steps": 6, "stepSeconds": 0.4, "label": "fast"}),
            progress_job.make_countdown({"steps": 5, "stepSeconds": 0.8, "label": "slow"}),
            progress_job.make_countdown({"steps": 8, "stepSeconds": 0.3, "label": "long"}),
        ]
        for job in jobs:
            job.enqueue()
            print(f"enqueued {job.label:5} {job.uuid}")
        print()
        while True:
            states = [get_base_job(job.uuid) for job in jobs]
            lines = []
            for job in states:
                p = job.progress()
                last = job.events[-1]["msg"] if job.events else ""
                lines.append(f"{job.label:5} [{bar(p['completeness'])}] {p['completeness']:4.0%} {job.status:8} {last}")
            print("\n".join(lines), flush=True)
            if all(job.status in ("done", "failed") for job in states):
                break
            time.sleep(0.5)
            print(f"\x1b[{len(lines)}A", end="")  # redraw in place
        print()
        for job in states:
            print(f"{job.label:5} result {job.resultCode}, {len(job.events)} events, ran on {job.workerId}")
    finally:
        worker.terminate()  # SIGTERM: the worker finishes what it runs, then exits
        worker.wait()


if __name__ == "__main__":
    main()
