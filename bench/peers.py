"""zeroG against its peers (Huey, Dramatiq, Celery, RQ) and a raw beanstalkd floor, in one run.

Every system runs the same no-op job, whose only work is one redis INCR of one counter, so each
is counted the same way: a job is done when its INCR lands. Each has 2 job-running processes
(processes, not threads). One producer process calls the system's own one-line enqueue once per
job (building the job or message included, as a caller's code does). Figures, jobs/s:

- enqueue: the producer alone, no workers; from the end of its first call to the end of its
  last, over N-1 jobs (the first call pays each library's connection set-up);
- burn-down: the queue holds all N jobs, then the workers start; from the moment the counter is
  first seen above 0 (at c jobs) to the moment it reaches N, over N-c jobs: a system's start-up
  (imports, connecting) is left out, whatever it costs;
- steady: the workers are up (each of the 2 processes has run a ready job), then the producer
  runs its loop while they take the jobs; from the start of the loop to the counter reaching N.

The counter is polled every 2 ms. Each figure is the median of `--repeat` repetitions
(min-max beside it), interleaved (for each repetition, every system once) so a noisy minute hits
all alike, and each measurement starts from fresh state: redis flushed, a new beanstalkd where
one is used, a new SQLite directory. When the counter has reached N it must stay there (a job
run twice would show).

Systems (rows):
- raw beanstalkd through greenstalk: put; 2 consumer processes reserve and delete (done jobs
  are counted by beanstalkd's count of deletes on the tube, as this row has no INCR);
- the same with the INCR between reserve and delete: the floor for the same work per job;
- Huey (RedisHuey, its blocking pop; `huey_consumer -k process -w 2`);
- Dramatiq (RedisBroker; `dramatiq -p 2 -t 1` with a prefetch of 64, as the issue measured it:
  its default prefetch, threads x 2, leaves a consumer with 2 messages outstanding sleeping
  before it fetches again, 5 ms at first, which capped it near 270 jobs/s a process here);
- Celery (redis broker, no result backend, default prefetch of 4; 2 `celery worker --pool solo`
  processes, each running jobs itself);
- RQ (2 `rq worker` processes of the default Worker, which forks a work horse for every job:
  RQ's isolation and its real cost; its SimpleWorker, no fork, ran about 4 times as fast here);
- zeroG on beanstalkd with a SQLite store, and embedded (store and queue in one SQLite file),
  both `zerog-worker -c 2` (a supervisor and 2 worker processes).
Every system's job-running processes log warnings only (per-job lines off), as zeroG's do. Their
jobs are in bench/peers/, one module per system.

Ratios: each row's median over the raw floor's (first row), and zeroG's over the best peer's.

It starts its own redis-server and beanstalkd servers on free loopback ports, and stops them and
every process it started at the end, on error, on Ctrl-C and on SIGTERM. Run: `make bench-peers`
(a virtualenv with the peers pinned in bench/requirements-peers.txt and the zeroG wheel), or
`python bench/peers.py [--jobs N] [--repeat N] [--only floor,huey,...] [--json]` in such an
environment.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from importlib.metadata import version
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import greenstalk  # noqa: E402
import redis  # noqa: E402
from beanstalk import Server  # noqa: E402
from enqueue_loop import free_port  # noqa: E402
from peers import COUNTER  # noqa: E402  (bench/peers/, the systems' job modules)
from peers.floor import TUBE as FLOOR_TUBE  # noqa: E402
from run import spread, start_workers  # noqa: E402

BIN = Path(sys.executable).parent  # the peers' commands, installed beside this interpreter
WORKERS = 2
POLL_S = 0.002
STALL_S = 180.0  # no job done for this long (steady includes the workers' start-up): give up
METRICS = ("enqueue", "burn-down", "steady")


class Failed(Exception):
    """One measurement went wrong; the others go on."""


class RedisServer:
    """A private redis-server on loopback, in memory only (no snapshots, no append-only file)."""

    def __init__(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise SystemExit("redis-server is not installed (apt-get install -y redis-server)")
        port = free_port()
        self.url = f"redis://127.0.0.1:{port}/0"
        cmd = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        # In a session of its own: Ctrl-C must not stop it before the workers that use it are.
        self.proc = subprocess.Popen([*cmd, "--daemonize", "no"], stdout=subprocess.DEVNULL, start_new_session=True)
        self.client = redis.Redis.from_url(self.url)
        for _ in range(500):
            try:
                self.client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.01)
        self.stop()
        raise SystemExit("redis-server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


# -- one measurement's fresh state --------------------------------------------------------------


@dataclass
class Run:
    dir: Path
    redis_url: str
    beanstalk: Server | None
    log: IO[bytes]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def store(self) -> str:
        return f"sqlite:///{self.dir / 'z.db'}"

    @property
    def queue(self) -> str:
        # The same URL as the store: the embedded queue, in the store's file.
        return self.beanstalk.url if self.beanstalk else self.store

    def env(self) -> dict[str, str]:
        env = dict(os.environ, PYTHONPATH=str(HERE), ZEROG_STORE=self.store, ZEROG_QUEUE=self.queue)
        if self.beanstalk:
            env["PEERS_BEANSTALK"] = f"127.0.0.1:{self.beanstalk.port}"
        return env

    def spawn(self, *cmd: str | Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """A job-running process in a session of its own, so that stopping it reaches every
        process it starts (Huey's and Dramatiq's children, RQ's work horses)."""
        proc = subprocess.Popen(
            [str(c) for c in cmd],
            env={**self.env(), **(env or {})},
            cwd=HERE,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def log_tail(self, lines: int = 30) -> str:
        self.log.flush()
        return "\n".join((self.dir / "workers.log").read_text(errors="replace").splitlines()[-lines:])


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM, then SIGKILL after 30 s: to a process's whole group where it leads one (spawned
    by `Run.spawn`), else to it alone (zerog-worker's supervisor, which stops its own)."""

    def signal_all(sig: int) -> None:
        for p in procs:
            try:
                if os.getpgid(p.pid) == p.pid:
                    os.killpg(p.pid, sig)
                elif p.poll() is None:
                    p.send_signal(sig)
            except ProcessLookupError:
                pass

    signal_all(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    signal_all(signal.SIGKILL)  # what is still there (a group's members outlive its leader)
    for p in procs:
        p.wait()


@contextmanager
def fresh(system: System, root: Path, server: RedisServer) -> Iterator[Run]:
    # The disk quiet first: the last measurement's files are still being written back for
    # seconds after it (bench/beanstalk.py saw that take up to a fifth off the next figure).
    os.sync()
    server.client.flushall()
    d = Path(tempfile.mkdtemp(prefix=f"{system.key}-", dir=root))
    beanstalk = Server() if system.beanstalk else None
    log = open(d / "workers.log", "wb")  # closed below
    run = Run(d, server.url, beanstalk, log)
    try:
        yield run
    finally:
        try:
            stop(run.procs)
        finally:
            if beanstalk:
                beanstalk.stop()
            log.close()


# -- the systems ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class System:
    key: str
    label: str
    module: str  # in bench/peers/: the jobs, and the producer's enqueue
    start: Callable[[Run], None]  # starts the 2 job-running processes
    beanstalk: bool = False  # needs a beanstalkd of its own
    peer: bool = False
    counter: str = "redis"  # what counts done jobs: the INCR, or beanstalkd's deletes


def floor_consumers(incr: bool) -> Callable[[Run], None]:
    def start(run: Run) -> None:
        for _ in range(WORKERS):
            run.spawn(sys.executable, "-m", "peers.floor", *(["--incr"] if incr else []))

    return start


def huey_workers(run: Run) -> None:
    run.spawn(BIN / "huey_consumer", "peers.huey_jobs.huey", "-k", "process", "-w", str(WORKERS), "--quiet")


# Messages a Dramatiq worker process fetches ahead (`dramatiq_queue_prefetch`): one job-running
# thread per process, as every system here has, fed as a busy consumer would be.
DRAMATIQ_PREFETCH = 64


def dramatiq_workers(run: Run) -> None:
    run.spawn(
        *(BIN / "dramatiq", "peers.dramatiq_jobs", "--processes", str(WORKERS), "--threads", "1"),
        env={"dramatiq_queue_prefetch": str(DRAMATIQ_PREFETCH)},
    )


def celery_workers(run: Run) -> None:
    for i in range(WORKERS):
        run.spawn(
            *(BIN / "celery", "-A", "peers.celery_jobs", "worker", "--pool", "solo"),
            *("--loglevel", "WARNING", "--hostname", f"peers{i}@%h"),
        )


def rq_workers(run: Run) -> None:
    for _ in range(WORKERS):
        run.spawn(BIN / "rq", "worker", "--url", run.redis_url, "--quiet", "peers")


def zerog_workers(run: Run) -> None:
    # bench/run.py's helper: `python -m zeroG.worker -c 2` with ZEROG_STORE and ZEROG_QUEUE set
    # (and PEERS_REDIS_URL, from this process's environment). It returns after 1.5 s, by when a
    # burn-down may be over: the counter is watched from before it is called.
    run.procs.append(start_workers(WORKERS, run.store, module="peers.zerog_jobs", queue=run.queue))


def systems() -> list[System]:
    def v(dist: str) -> str:
        return version(dist)

    return [
        System("floor", "raw beanstalkd (greenstalk)", "floor", floor_consumers(False), True, counter="beanstalk"),
        System("floor-incr", "raw beanstalkd + INCR", "floor", floor_consumers(True), True),
        System("huey", f"Huey {v('huey')}", "huey_jobs", huey_workers, peer=True),
        System("dramatiq", f"Dramatiq {v('dramatiq')}", "dramatiq_jobs", dramatiq_workers, peer=True),
        System("celery", f"Celery {v('celery')}", "celery_jobs", celery_workers, peer=True),
        System("rq", f"RQ {v('rq')}", "rq_jobs", rq_workers, peer=True),
        System("zerog-beanstalkd", "zeroG, beanstalkd + SQLite store", "zerog_jobs", zerog_workers, True),
        System("zerog-embedded", "zeroG, embedded SQLite", "zerog_jobs", zerog_workers),
    ]


# -- measuring ----------------------------------------------------------------------------------


def counter(system: System, run: Run) -> Callable[[], int]:
    if system.counter == "redis":
        r = redis.Redis.from_url(run.redis_url)
        return lambda: int(r.get(COUNTER) or 0)
    assert run.beanstalk is not None
    c = greenstalk.Client(("127.0.0.1", run.beanstalk.port))

    def deletes() -> int:
        try:
            return int(c.stats_tube(FLOOR_TUBE)["cmd-delete"])
        except greenstalk.NotFoundError:  # no such tube yet
            return 0

    return deletes


class Watch(threading.Thread):
    """Polls the counter: when it was first seen above 0 (and at what), and when it reached n."""

    def __init__(self, read: Callable[[], int], n: int) -> None:
        super().__init__(daemon=True)
        self.read, self.n = read, n
        self.first: tuple[float, int] | None = None
        self.done: float | None = None
        self.error: str | None = None
        self.start()

    def run(self) -> None:
        try:
            self.poll()
        except Exception as e:  # reported by wait(), in the main thread
            self.error = f"reading the counter: {e!r}"

    def poll(self) -> None:
        last, moved = 0, time.monotonic()
        while True:
            c = self.read()
            now = time.time()
            if c and self.first is None:
                self.first = (now, c)
            if c >= self.n:
                self.done = now
                return
            if c != last:
                last, moved = c, time.monotonic()
            elif time.monotonic() - moved > STALL_S:
                self.error = f"stalled at {c} of {self.n} jobs"
                return
            time.sleep(POLL_S)

    def wait(self, run: Run, producer: subprocess.Popen[bytes] | None = None) -> None:
        """Until the counter reaches n; fails early if a worker process exits, or the producer
        fails."""
        while self.is_alive():
            self.join(0.1)
            if any(p.poll() is not None for p in run.procs):
                raise Failed(f"a worker process exited\n{run.log_tail()}")
            if producer is not None and producer.poll() not in (None, 0):
                raise Failed(f"the producer failed\n{run.log_tail()}")
        if self.error:
            raise Failed(f"{self.error}\n{run.log_tail()}")


def settled(read: Callable[[], int], n: int) -> None:
    time.sleep(0.3)
    if (c := read()) != n:
        raise Failed(f"the counter is at {c} for {n} jobs: a job ran twice")


@contextmanager
def producer(system: System, run: Run, n: int, mode: str) -> Iterator[subprocess.Popen[bytes]]:
    """The producer process (bench/peers/produce.py), killed on the way out if still running."""
    cmd = [sys.executable, "-m", "peers.produce", system.module, str(n), mode]
    proc = subprocess.Popen(cmd, env=run.env(), cwd=HERE, stdout=subprocess.PIPE)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def produced(proc: subprocess.Popen[bytes]) -> dict[str, float]:
    out, _ = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise Failed(f"the producer exited with {proc.returncode}")
    return json.loads(out)  # type: ignore[no-any-return]


def enqueue_and_burn_down(system: System, root: Path, server: RedisServer, n: int) -> tuple[float, float]:
    """(enqueue jobs/s, burn-down jobs/s): the queue is filled, then the workers start."""
    with fresh(system, root, server) as run:
        with producer(system, run, n, "fill") as proc:
            times = produced(proc)
        enqueue = (n - 1) / (times["last"] - times["first"])
        read = counter(system, run)
        watch = Watch(read, n)
        system.start(run)
        watch.wait(run)
        assert watch.first is not None and watch.done is not None
        (t0, c0) = watch.first
        settled(read, n)
        # Seen at n already on the first look: too fast for the poller to time.
        burn = (n - c0) / (watch.done - t0) if c0 < n else float("nan")
        return enqueue, burn


def steady(system: System, root: Path, server: RedisServer, n: int) -> float:
    """Steady jobs/s: the workers ready, the producer's loop and the workers at once."""
    with fresh(system, root, server) as run:
        system.start(run)
        read = counter(system, run)
        watch = Watch(read, n)
        with producer(system, run, n, "steady") as proc:
            watch.wait(run, proc)
            times = produced(proc)
        assert watch.done is not None
        settled(read, n)
        return n / (watch.done - times["start"])


# -- the report ---------------------------------------------------------------------------------


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


Results = dict[str, dict[str, list[float]]]  # system key -> metric -> one figure per repetition


def summary(rows: list[System], results: Results) -> dict[str, dict[str, dict]]:
    """Per system and metric: median, min and max, its ratio to the raw floor's median, and for
    zeroG's rows the ratio to the best peer's."""
    floor = {m: median(results["floor"][m]) if "floor" in results else None for m in METRICS}
    best = {m: max((median(results[s.key][m]) or 0 for s in rows if s.peer), default=0) or None for m in METRICS}
    out: dict[str, dict[str, dict]] = {}
    for s in rows:
        out[s.key] = {}
        for m in METRICS:
            values = results[s.key][m]
            figure: dict = spread(values) if values else {"median": None}
            figure["x_floor"] = ratio(median(values), floor[m])
            if s.key.startswith("zerog"):
                figure["x_best_peer"] = ratio(median(values), best[m])
            out[s.key][m] = figure
    return out


def table(rows: list[System], summed: dict[str, dict[str, dict]]) -> str:
    def x(r: float | None) -> str:
        return f"{r:.2f}x" if r is not None else ""

    head = ["system"]
    for m in METRICS:
        head += [f"{m} jobs/s", "x floor", "x best peer"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in rows:
        cells = [s.label]
        for m in METRICS:
            f = summed[s.key][m]
            rate = f"{f['median']:,} ({f['min']:,}-{f['max']:,})" if f["median"] is not None else "failed"
            cells += [rate, x(f["x_floor"]), x(f.get("x_best_peer"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def server_versions() -> dict[str, str]:
    redis_v = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()
    beanstalkd_v = subprocess.run(["beanstalkd", "-v"], capture_output=True, text=True).stdout.split()
    return {
        "redis-server": next((w[2:] for w in redis_v if w.startswith("v=")), "?"),
        "beanstalkd": beanstalkd_v[-1] if beanstalkd_v else "?",
    }


def main() -> None:
    every = systems()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="", help="systems to run, comma-separated: " + ",".join(s.key for s in every))
    ap.add_argument("--json", action="store_true", help="print the results as JSON instead of the table")
    args = ap.parse_args()
    rows = every
    if args.only:
        keys = args.only.split(",")
        unknown = set(keys) - {s.key for s in every}
        if unknown:
            ap.error(f"unknown systems: {', '.join(sorted(unknown))}")
        rows = [s for s in every if s.key in keys]

    # SIGTERM as Ctrl-C is: an exception, so that every `finally` stops what it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results: Results = {s.key: {m: [] for m in METRICS} for s in rows}
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="zerog-bench-peers-"))
    server = RedisServer()
    os.environ["PEERS_REDIS_URL"] = server.url  # every process started from here inherits it
    try:
        for rep in range(args.repeat):
            for s in rows:
                figures: dict[str, float] = {}
                try:
                    figures["enqueue"], figures["burn-down"] = enqueue_and_burn_down(s, root, server, args.jobs)
                    figures["steady"] = steady(s, root, server, args.jobs)
                except Failed as e:
                    print(f"rep {rep + 1}/{args.repeat} {s.label}: FAILED: {e}", file=sys.stderr)
                for m, value in figures.items():
                    results[s.key][m].append(value)
                shown = ", ".join(f"{m} {v:,.0f}/s" for m, v in figures.items())
                print(f"rep {rep + 1}/{args.repeat} {s.label}: {shown}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        raise SystemExit("interrupted: every process it started is stopped") from None
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    elapsed = time.monotonic() - started

    env = {
        "date": date.today().isoformat(),
        "cpus": os.cpu_count(),
        "jobs": args.jobs,
        "repeat": args.repeat,
        "job_running_processes": WORKERS,
        "seconds": round(elapsed),
        "versions": {d: version(d) for d in ("zeroG", "huey", "dramatiq", "celery", "rq", "redis", "greenstalk")}
        | server_versions(),
    }
    summed = summary(rows, results)
    if args.json:
        systems_out = {s.key: {"label": s.label} | summed[s.key] for s in rows}
        print(json.dumps(env | {"systems": systems_out}, indent=2))
        return
    print(
        f"\n{args.jobs:,} no-op jobs (one redis INCR each), {WORKERS} job-running processes per system, "
        f"median (min-max) of {args.repeat} interleaved repetitions; {env['cpus']} CPUs, {env['date']}, "
        f"{elapsed / 60:.1f} min.\n"
        + ", ".join(f"{k} {v}" for k, v in env["versions"].items())  # type: ignore[attr-defined]
        + ".\n"
    )
    print(table(rows, summed))


if __name__ == "__main__":
    main()
