"""The fleet commands of ``zerog``: see the workers, drain, undrain and retire them (one by one
or a whole host), and kill a running job. They speak the original zeroG's control messages
(``zeroG.mgmt``), so they steer original zeroG servers too.

    zerog workers [--json]
    zerog drain|undrain|retire (--host HOST | WORKER_ID...) [--wait SECONDS]
    zerog kill-job UUID
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from zeroG import _zerog
from zeroG.cli.options import print_table
from zeroG.mgmt import WorkerManager
from zeroG.mgmt.manager import STEERING as VERBS

__all__ = ["VERBS", "add_commands", "run"]


def add_commands(sub: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--updates-postfix", default="", metavar="TEXT", help="the workers' updates tube is 'updates' plus this"
    )
    workers = sub.add_parser(
        "workers", parents=[common], help="every live worker: host, state, time in it, job, memory"
    )
    workers.add_argument("--json", action="store_true", help="one JSON object per worker, for scripts")
    for verb in VERBS:
        p = sub.add_parser(verb, parents=[common], help=f"{verb} workers, by id or a whole host")
        p.add_argument("ids", nargs="*", metavar="WORKER_ID")
        p.add_argument("--host", help="every worker on this host")
        p.add_argument(
            "--wait",
            type=float,
            metavar="SECONDS",
            help="return when they got there (drained and idle; active; gone), exit 1 if not in time",
        )
    kill = sub.add_parser("kill-job", parents=[common], help="stop a running job now (result 410, Killed by user)")
    kill.add_argument("uuid")


def _mib(mem: dict[str, Any], key: str) -> str:
    value = mem.get(key)
    return f"{value / 2**20:.0f}" if isinstance(value, (int, float)) else "-"


def _in_state(mem: dict[str, Any]) -> str:
    """``3h 05m``, ``4m 10s``, ``12s``; ``-`` from a worker that does not say (an original one)."""
    seconds = mem.get(_zerog.IN_STATE_SECONDS)
    if not isinstance(seconds, int):
        return "-"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _workers(manager: WorkerManager, as_json: bool) -> int:
    workers = manager.refresh()
    rows = []
    for host, ws in sorted(manager.workers_by_host().items()):
        for w in ws:
            rows.append({"host": host, **w})
    if as_json:
        for row in rows:
            print(json.dumps(row))
        return 0
    if not workers:
        print("no live workers", file=sys.stderr)
        return 0
    header = ("worker", "host", "state", "in state", "job", "used MiB", "available MiB")
    table = [header] + [
        (
            r["workerId"],
            r["host"],
            r["state"] + (" (retiring)" if r["retiring"] else ""),
            _in_state(r["mem"]),
            r["runningJobUuid"] or "-",
            _mib(r["mem"], "used"),
            _mib(r["mem"], "available"),
        )
        for r in rows
    ]
    print_table(table, right=())
    return 0


def _targets(manager: WorkerManager, args: argparse.Namespace) -> list[str] | str:
    """The worker ids the command is for, or why there are none."""
    if bool(args.host) == bool(args.ids):
        return "name a --host or worker ids (not both)"
    manager.refresh()
    if args.host:
        ids = [w["workerId"] for w in manager.workers_by_host().get(args.host, [])]
        return ids or f"no live worker on host {args.host!r} (zerog workers lists them)"
    unknown = [i for i in args.ids if i not in manager.workers]
    if unknown:
        return f"no live worker {', '.join(unknown)} (zerog workers lists them)"
    return list(args.ids)


def _arrived(manager: WorkerManager, verb: str, ids: list[str]) -> bool:
    workers = manager.refresh()
    if verb == "retire":
        return not set(ids) & set(manager.known_workers())
    if verb == "drain":
        return all(i in workers and "draining" in workers[i]["state"] and not workers[i]["runningJobUuid"] for i in ids)
    return all(i in workers and workers[i]["state"].startswith("active") for i in ids)


def _steer(manager: WorkerManager, args: argparse.Namespace) -> int:
    ids = _targets(manager, args)
    if isinstance(ids, str):
        print(f"zerog {args.command}: {ids}", file=sys.stderr)
        return 1
    manager.steer(ids, args.command)
    print(f"{args.command}: sent to {len(ids)} worker{'s' if len(ids) != 1 else ''}")
    if args.wait is None:
        return 0
    deadline = time.monotonic() + args.wait
    while not _arrived(manager, args.command, ids):
        if time.monotonic() >= deadline:
            print(f"zerog {args.command}: not done after {args.wait:g} s", file=sys.stderr)
            return 1
        time.sleep(0.5)
    print(f"{args.command}: done")
    return 0


def _kill(manager: WorkerManager, uuid: str) -> int:
    manager.refresh()
    ids = manager.kill_job(uuid)
    if not ids:
        print(f"zerog kill-job: no live worker is running job {uuid}", file=sys.stderr)
        return 1
    print(f"kill-job: sent to {ids[0]}")
    return 0


def run(args: argparse.Namespace, queue_url: str) -> int:
    manager = WorkerManager(queue_url=queue_url, updatesPostfix=args.updates_postfix)
    if args.command == "workers":
        return _workers(manager, args.json)
    if args.command == "kill-job":
        return _kill(manager, args.uuid)
    return _steer(manager, args)
