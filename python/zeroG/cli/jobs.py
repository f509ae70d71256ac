"""The job commands of ``zerog``: list jobs, show one with its log, cancel one, enqueue one, and
follow jobs live (``zeroG.cli.watch``). They read and write the job documents in the store
directly, so only ``enqueue`` needs the job's class (``--module``, as for zerog-worker).

    zerog jobs [--status S] [--type T] [--limit N] [--json]
    zerog show UUID [--json]
    zerog cancel UUID [--json]
    zerog enqueue TYPE ['{"field": value}'] --module NAME [--path DIR] [--watch] [--json]
    zerog watch UUID... [--json]

On a terminal tables and bars are drawn by rich; anywhere else (a pipe, CI) they are plain lines,
and ``--json`` gives JSON: a line per job for lists and streams, else one object. An unknown
uuid exits 1, bad arguments 2; watch exits 0 only if every job ended done.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from zeroG import _zerog, config, registry
from zeroG.cli.job_text import entry_message, no_job, on_terminal, own_values, percent, read_jobs, when
from zeroG.cli.options import add_import_path, add_job_modules, draw_table, print_table, use_import_path
from zeroG.cli.watch import watch
from zeroG.errors import InvalidJobValues
from zeroG.jobs import LOG_LISTS, document_finished, document_log, document_progress, document_status, make_base_job

__all__ = ["COMMANDS", "add_commands", "run"]

COMMANDS = ("jobs", "show", "cancel", "enqueue", "watch")

# `zerog jobs`: the table's header (it fits 100 columns; --json and show give more), and its
# columns of numbers (progress, result).
_HEADER = ("uuid", "type", "status", "progress", "result", "created (UTC)")
_NUMBERS = range(3, 5)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_commands(sub: Any) -> None:
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument(
        "--json", action="store_true", help="for scripts: a JSON object per line for lists and streams, else one"
    )
    jobs = sub.add_parser("jobs", parents=[as_json], help="the store's jobs, oldest first, as a table")
    jobs.add_argument("--status", help="only jobs with this status (queued, running, done, ...)")
    jobs.add_argument("--type", dest="job_type", metavar="TYPE", help="only jobs of this job type")
    jobs.add_argument("--limit", type=_positive, default=100, metavar="N", help="at most N jobs (default 100)")
    show = sub.add_parser("show", parents=[as_json], help="a job's info and its log, in time order")
    show.add_argument("uuid", metavar="UUID")
    cancel = sub.add_parser("cancel", parents=[as_json], help="cancel a job; a running one is stopped by its worker")
    cancel.add_argument("uuid", metavar="UUID")
    enqueue = sub.add_parser("enqueue", parents=[as_json], help="make a job of TYPE from JSON values and queue it")
    enqueue.add_argument("job_type", metavar="TYPE")
    enqueue.add_argument(
        "values", nargs="?", default="{}", metavar="JSON", help="the job's values, a JSON object (default {})"
    )
    add_job_modules(enqueue)
    add_import_path(enqueue)
    enqueue.add_argument("--watch", action="store_true", help="then follow it, and exit, as zerog watch does")
    follow = sub.add_parser(
        "watch", parents=[as_json], help="live progress until every job has ended; exit 0 only if all are done"
    )
    follow.add_argument("uuids", nargs="+", metavar="UUID")


def _jobs(store: _zerog.Store, status: str | None, job_type: str | None, limit: int, as_json: bool) -> int:
    try:
        docs, more = store.list(status, job_type, limit)
    except ValueError as e:  # a status that is none of the store's
        print(f"zerog jobs: {e}", file=sys.stderr)
        return 2
    summaries = [
        {
            "uuid": doc.get("uuid"),
            "jobType": doc.get("jobType"),
            "status": document_status(doc),
            **document_progress(doc),
            "attempts": doc.get("attempts"),
            "createdAt": doc.get("createdAt"),
            "updatedAt": doc.get("updatedAt"),
        }
        for doc in docs
    ]
    if as_json:
        for summary in summaries:
            print(json.dumps(summary))
    elif summaries:
        rows = [
            (
                str(s["uuid"]),
                str(s["jobType"]),
                s["status"],
                percent(doc),
                str(s["result"]),
                when(s["createdAt"], ms=False),
            )
            for s, doc in zip(summaries, docs, strict=True)
        ]
        (draw_table if on_terminal(as_json) else print_table)([_HEADER, *rows], _NUMBERS)
    else:
        print("zerog jobs: no jobs", file=sys.stderr)
    if more is not None:
        print(f"zerog jobs: showing the first {limit}; more match (raise --limit)", file=sys.stderr)
    return 0


def _show(store: _zerog.Store, uuid: str, as_json: bool) -> int:
    found = read_jobs(store, "show", [uuid])
    if found is None:
        return 1
    doc = found[0][0]
    log = document_log(doc)
    if as_json:
        info = {k: v for k, v in doc.items() if k not in LOG_LISTS}
        print(json.dumps({**info, "status": document_status(doc), "log": [{"kind": k, **e} for k, e in log]}))
        return 0
    info_rows = [
        ("uuid", uuid),
        ("type", str(doc.get("jobType"))),
        ("status", document_status(doc)),
        ("progress", percent(doc)),
        ("result", str(document_progress(doc)["result"])),
        ("attempts", f"{doc.get('attempts') or 0} ({doc.get('retries') or 0} retries)"),
        ("created", when(doc.get("createdAt"))),
        ("started", when(doc.get("startedAt"))),
        ("finished", when(doc.get("finishedAt"))),
        ("worker", str(doc.get("workerId") or "-")),
        ("tube", str(doc.get("queueName") or "-")),
        ("values", json.dumps(own_values(doc))),
    ]
    print_table(info_rows, ())
    if log:
        print()
        rows = [(when(entry.get("timeStamp")), kind, entry_message(entry)) for kind, entry in log]
        (draw_table if on_terminal(as_json) else print_table)([("time (UTC)", "kind", "message"), *rows], ())
    else:
        print("zerog show: no events, warnings or errors yet", file=sys.stderr)
    return 0


def _cancel(store: _zerog.Store, uuid: str, as_json: bool) -> int:
    found = read_jobs(store, "cancel", [uuid])
    if found is None:
        return 1
    already = document_finished(found[0][0])
    try:
        status = _zerog.cancel_job(store, uuid)
    except _zerog.DocumentNotFound:  # deleted since the read
        return no_job("cancel", uuid)
    if as_json:
        print(json.dumps({"uuid": uuid, "status": status}))
    elif already:
        print(f"{uuid}: {status} already; left as it is")
    elif status == "running":
        # Cancelling is cooperative: the request is in the document, the worker acts on it.
        print(f"{uuid}: running; cancel requested, its worker stops it shortly")
    else:
        print(f"{uuid}: {status}")
    return 0


def _enqueue(args: argparse.Namespace, store_url: str, queue_url: str) -> int:
    def refuse(why: str) -> int:
        print(f"zerog enqueue: {why}", file=sys.stderr)
        return 2

    try:
        values = json.loads(args.values)
    except ValueError as e:
        return refuse(f"the values are not valid JSON ({e}): {args.values}")
    if not isinstance(values, dict):
        return refuse(f"the values must be a JSON object (like {{}}), not {args.values}")
    use_import_path(args.path)
    try:
        registry.import_job_modules(args.module)
    except ImportError as e:
        return refuse(str(e))
    if registry.find_class(args.job_type) is None:
        imported = ", ".join([*registry.JOB_MODULES, *args.module]) or "none"
        return refuse(
            f"no job class has job type {args.job_type!r} (modules imported: {imported}); "
            "pass --module NAME, the module that defines it (importable from --path, default the current directory)"
        )
    config.configure(store=store_url, queue=queue_url)
    try:
        job = make_base_job(values, args.job_type)
        job.enqueue()
    except (InvalidJobValues, ValueError) as e:  # the schema's message; or a value no document holds
        return refuse(str(e))
    if args.json:
        fields = ("uuid", "jobType", "queueName", "queueJobId", "status")
        print(json.dumps({name: getattr(job, name) for name in fields}))
    else:
        print(job.uuid)
    return watch(config.get_store(), [job.uuid], as_json=args.json) if args.watch else 0


def run(args: argparse.Namespace, store_url: str, queue_url: str) -> int:
    if args.command == "enqueue":
        return _enqueue(args, store_url, queue_url)
    store = _zerog.Store.open(store_url)
    if args.command == "jobs":
        return _jobs(store, args.status, args.job_type, args.limit, args.json)
    if args.command == "show":
        return _show(store, args.uuid, args.json)
    if args.command == "cancel":
        return _cancel(store, args.uuid, args.json)
    return watch(store, args.uuids, as_json=args.json)
