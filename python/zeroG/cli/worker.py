"""``zerog-worker``: runs jobs.

A supervisor process starts ``--concurrency`` worker processes (spawned fresh, never forked from
a process that has threads), replaces any that dies, and on SIGTERM or SIGINT tells them to stop:
each finishes its running job within the grace period, or hands it back to the queue. Each worker
process runs the engine's loop: reserve a job (with the GIL released while it waits), run it,
record the outcome. A worker process sends itself SIGUSR2 (``_zerog.CANCEL_SIGNAL``) to stop a
job that was cancelled (``zeroG.cancel``): jobs should leave that signal's handler alone.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from zeroG import _zerog, registry
from zeroG.cli.options import (
    add_import_path,
    add_job_modules,
    describe_backends,
    queue_help,
    store_help,
    use_import_path,
)
from zeroG.cli.supervisor import Fleet, Supervisor
from zeroG.cli.worker_process import run_worker, until_reachable, worker_id_for

log = logging.getLogger("zeroG.worker")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zerog-worker", description="Run zeroG jobs.")
    add_job_modules(p)
    p.add_argument(
        "--queue",
        "-q",
        action="append",
        default=[],
        metavar="NAME",
        help="a tube to take jobs from (repeatable; default: the QUEUE_NAME of every registered job class)",
    )
    p.add_argument(
        "--concurrency",
        "-c",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes (default: the number of CPUs)",
    )
    p.add_argument(
        "--max-jobs-per-child",
        type=int,
        default=None,
        metavar="N",
        help="replace a worker process after it ran N jobs (returns its memory)",
    )
    p.add_argument(
        "--grace",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="on stop, how long a running job may take before it is handed back (default 30)",
    )
    p.add_argument(
        "--load-retry-delay",
        type=int,
        default=10,
        metavar="SECONDS",
        help="delay before retrying a job whose document is missing or unreadable (default 10)",
    )
    p.add_argument(
        "--reconcile-every",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how often the supervisor puts back jobs whose queue entries were lost (default 300; 0: never)",
    )
    add_import_path(p)
    p.add_argument("--store", default=None, metavar="URL", help=store_help())
    p.add_argument("--queue-url", default=None, metavar="URL", help=queue_help())
    p.add_argument(
        "--host-name",
        default=None,
        metavar="NAME",
        help="the host part of this worker's ids, for drain --host "
        "(default: $ZEROG_HOST_NAME, else the machine's name)",
    )
    p.add_argument("--name", default="worker", help="the service part of this worker's ids (default: worker)")
    p.add_argument(
        "--updates-postfix",
        default=os.environ.get("ZEROG_UPDATES_POSTFIX", ""),
        metavar="TEXT",
        help="answer control messages on 'updates' plus this (the original's updatesPostfix; default none)",
    )
    p.add_argument(
        "--job-messages",
        action="store_true",
        help="send a 'job' message to the updates tube as each job starts and ends, as the original did",
    )
    p.add_argument("--log-level", default=os.environ.get("ZEROG_LOG_LEVEL", "INFO"))
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--supervisor-pid", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--state-fd", type=int, default=None, help=argparse.SUPPRESS)
    return p


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format=f"%(asctime)s %(levelname)s %(name)s [{os.getpid()}] %(message)s",
    )


def _tubes(args: argparse.Namespace) -> list[str]:
    use_import_path(args.path)
    classes = registry.import_job_modules(args.module)
    if args.queue:
        for tube in args.queue:
            _zerog.validate_tube_name(tube)  # a bad name fails here, at start, not in every child
        return list(dict.fromkeys(args.queue))
    tubes = sorted({cls.QUEUE_NAME for cls in classes.values()})
    if not tubes:
        modules = [*registry.JOB_MODULES, *args.module]
        where = f" from {', '.join(modules)}" if modules else "; pass --module NAME (or set zeroG.registry.JOB_MODULES)"
        why = "".join(f"\n  {reason}" for reason in registry.skipped())
        raise SystemExit(f"zerog-worker: no job classes registered{where}{why}")
    return tubes


def _child(args: argparse.Namespace) -> int:
    tubes = _tubes(args)
    run_worker(
        tubes,
        store=args.store,
        queue=args.queue_url,
        max_jobs=args.max_jobs_per_child,
        grace=args.grace,
        load_retry_delay=args.load_retry_delay,
        # Started by a supervisor: if it dies, stop rather than run on unsupervised. Its pid comes
        # on the command line: by the time this runs, the supervisor may be gone already.
        parent_pid=args.supervisor_pid,
        host=args.host_name,
        name=args.name,
        updates_postfix=args.updates_postfix,
        job_messages=args.job_messages,
        exit_when_retired=True,
        report_fd=args.state_fd,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    _setup_logging(args.log_level)
    if args.child:
        return _child(args)
    # Fail at start, naming the problem: bad modules, duplicate job types, unusable URLs.
    try:
        tubes = _tubes(args)
        worker_id_for(args.host_name, args.name)  # a host or name no tube can carry fails here
        _zerog.validate_tube_name(_zerog.updates_tube(args.updates_postfix))
        store_url = _zerog.resolve_url("store", args.store)
        _zerog.Store.open(store_url)
        queue_url = _zerog.resolve_url("queue", args.queue_url, store_url)
        until_reachable(queue_url, lambda: _zerog.Queue.open(queue_url))
    except (ImportError, _zerog.ZeroGError) as e:
        print(f"zerog-worker: {e}", file=sys.stderr)
        return 2
    log.info(
        "zerog-worker: %d %s on tubes %s (%s)",
        args.concurrency,
        "process" if args.concurrency == 1 else "processes",
        ", ".join(tubes),
        describe_backends(store_url, queue_url),
    )
    child_argv = [a for a in argv if a != "--child"]
    fleet = Fleet.of(args.host_name, args.name, queue_url, args.updates_postfix)

    def reconcile() -> tuple[int, list[str], int]:
        return _zerog.reconcile(_zerog.Store.open(store_url), _zerog.Queue.open(queue_url), 60.0, False)

    return Supervisor(child_argv, args.concurrency, args.grace, reconcile, args.reconcile_every, fleet=fleet).run()


if __name__ == "__main__":
    sys.exit(main())
