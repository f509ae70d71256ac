"""`zerog`: look at and act on the queue and the jobs, whichever backend it is (the embedded
SQLite file or beanstalkd).

    zerog queues                    ready, reserved, delayed and buried entries per tube
    zerog kick TUBE [N]             return up to N (default 1) buried or delayed entries to ready
    zerog peek ID                   one entry, with its job's status when it is a zeroG job
    zerog peek --tube T [--state ready|delayed|buried]
                                    the next entry of T in that state (ready by default)
    zerog reconcile [--dry-run] [--older-than SECONDS]
                                    put back jobs whose queue entries were lost (a beanstalkd
                                    restarted without its binlog, say)
    zerog workers | drain | undrain | retire | kill-job
                                    the fleet: see ``zeroG.cli.fleet``
    zerog jobs [--status S] [--type T] [--limit N]
                                    the store's jobs, as a table
    zerog show UUID                 a job's info and its log (events, warnings, errors) in time order
    zerog cancel UUID               cancel a job
    zerog enqueue TYPE '{json}' --module NAME [--watch]
                                    make a job of TYPE from those values and queue it
    zerog watch UUID...             live progress bars until every job has ended; exit 1 unless
                                    all are done (the job commands: see ``zeroG.cli.jobs``)

The queue is the one ZEROG_QUEUE names (or --queue-url); the job documents shown by `peek` and
read by the job commands come from ZEROG_STORE (or --store). Each command first says, on stderr,
which store and queue it uses, and none creates an embedded store that does not exist: it says
so instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from zeroG import _zerog
from zeroG.cli import fleet, jobs
from zeroG.cli.options import describe_backends, print_table, queue_help, store_help
from zeroG.jobs import make_key

STATES = ("ready", "delayed", "buried")


def _queues(queue: _zerog.Queue) -> int:
    rows = [queue.stats_tube(t) for t in sorted(queue.list_tubes())]
    header = ("tube", "ready", "reserved", "delayed", "buried")
    table = [header] + [tuple(str(r[h if h != "tube" else "name"]) for h in header) for r in rows]
    print_table(table, right=range(1, len(header)))
    return 0


def _kick(queue: _zerog.Queue, tube: str, bound: int) -> int:
    if bound < 1:
        print(f"zerog kick: N must be at least 1, not {bound}", file=sys.stderr)
        return 2
    _zerog.validate_tube_name(tube)
    if tube not in queue.list_tubes():
        # beanstalkd kicks 0 in a tube nobody uses: a typo would look like "nothing to do".
        print(f"zerog kick: no tube named {tube!r} (zerog queues lists them)", file=sys.stderr)
        return 1
    n = queue.kick(tube, bound)
    print(f"kicked {n} job{'s' if n != 1 else ''} in {tube}")
    return 0


def _job_of(body: bytes, store_url: str | None) -> dict[str, Any] | None:
    """The zeroG job a queue body names (a JSON-encoded uuid), if any and if it is stored."""
    try:
        uuid = json.loads(body)
    except ValueError:
        return None
    if not isinstance(uuid, str) or store_url is None:
        return None
    found = _zerog.Store.open(store_url).get(make_key(uuid))
    if found is None:
        return {"uuid": uuid, "document": None}
    doc = found[0]
    return {k: doc.get(k) for k in ("uuid", "jobType", "status", "completeness", "resultCode", "attempts")}


def _peek(queue: _zerog.Queue, store_url: str | None, job_id: int | None, tube: str | None, state: str) -> int:
    if job_id is not None:
        found = queue.peek(job_id)
    elif tube is not None:
        found = {"ready": queue.peek_ready, "delayed": queue.peek_delayed, "buried": queue.peek_buried}[state](tube)
    else:
        print("zerog peek: give a queue job ID, or --tube", file=sys.stderr)
        return 2
    if found is None:
        what = f"queue job {job_id}" if job_id is not None else f"no {state} entry in {tube}"
        print(f"nothing to peek: {what}" + (" does not exist" if job_id is not None else ""), file=sys.stderr)
        return 1
    qid, body = found
    out: dict[str, Any] = {"id": qid, "body": body.decode("utf-8", errors="replace")}
    try:
        stats = queue.stats_job(qid)
        out.update({k: stats[k] for k in ("tube", "state", "pri", "age", "reserves", "timeouts", "buries", "kicks")})
    except _zerog.QueueJobNotFound:
        pass  # gone between the peek and the stats
    job = _job_of(body, store_url)
    if job is not None:
        out["job"] = job
    print(json.dumps(out, indent=2))
    return 0


def _reconcile(store: _zerog.Store, queue: _zerog.Queue, older_than: float, dry_run: bool) -> int:
    checked, lost, requeued = _zerog.reconcile(store, queue, older_than, dry_run)
    for uuid in lost:
        print(f"{uuid}: queue entry lost{'' if dry_run else '; put back'}")
    done = f"would put back {len(lost)}" if dry_run else f"put back {requeued}"
    print(f"{checked} queued or waiting jobs checked; {len(lost)} had lost their queue entries; {done}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="zerog", description="Look at and act on zeroG's queue, jobs and workers.")
    ap.add_argument("--queue-url", help=queue_help())
    ap.add_argument("--store", help=store_help() + "; for peek, reconcile and the job commands")
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("queues", help="entries per tube and state")
    kick = sub.add_parser("kick", help="return buried (else delayed) entries to ready")
    kick.add_argument("tube")
    kick.add_argument("n", nargs="?", type=int, default=1)
    peek = sub.add_parser("peek", help="show one entry")
    peek.add_argument("id", nargs="?", type=int)
    peek.add_argument("--tube")
    peek.add_argument("--state", choices=STATES, default="ready")
    rec = sub.add_parser("reconcile", help="put back jobs whose queue entries were lost")
    rec.add_argument("--dry-run", action="store_true", help="only say which jobs lost their entries")
    rec.add_argument(
        "--older-than",
        type=float,
        default=60.0,
        help="only jobs last written this many seconds ago or more (default 60: a younger job's put may be on its way)",
    )
    fleet.add_commands(sub)
    jobs.add_commands(sub)
    args = ap.parse_args(argv)
    try:
        store_url = _zerog.resolve_url("store", args.store)
        queue_url = _zerog.resolve_url("queue", args.queue_url, store_url)
        uses_store = args.command in ("peek", "reconcile", *jobs.COMMANDS)
        print(f"zerog: {describe_backends(store_url if uses_store else None, queue_url)}", file=sys.stderr)
        for url in (store_url, queue_url) if uses_store else (queue_url,):
            _zerog.require_existing(url)
        if args.command in ("workers", "kill-job", *fleet.VERBS):
            return fleet.run(args, queue_url)
        if args.command in jobs.COMMANDS:
            return jobs.run(args, store_url, queue_url)
        queue = _zerog.Queue.open(queue_url)
        if args.command == "queues":
            return _queues(queue)
        if args.command == "kick":
            return _kick(queue, args.tube, args.n)
        if args.command == "reconcile":
            return _reconcile(_zerog.Store.open(store_url), queue, args.older_than, args.dry_run)
        return _peek(queue, store_url, args.id, args.tube, args.state)
    except _zerog.ZeroGError as e:
        print(f"zerog {args.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
