"""``zerog-server``: serves zeroG's REST API over HTTP.

Run it::

    zerog-server --port 8888 --module myapp.jobs
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from collections.abc import Sequence

from zeroG import _zerog, config
from zeroG.http.app import make_app
from zeroG.http.base import DEFAULT_MAX_BODY

__all__ = ["main"]

log = logging.getLogger("zeroG.server")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zerog-server", description="Serve zeroG's REST API over HTTP.")
    p.add_argument("--port", type=int, default=8888, help="port to listen on (default 8888)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--module", action="append", default=[], help="job module to import (repeatable), as for zerog-worker"
    )
    p.add_argument("--store", help="store URL (default: ZEROG_STORE, else ./zerog.db)")
    p.add_argument("--queue", help="queue URL (default: ZEROG_QUEUE, else the store's SQLite file)")
    p.add_argument(
        "--max-body", type=int, default=DEFAULT_MAX_BODY, help=f"largest request body in bytes ({DEFAULT_MAX_BODY})"
    )
    p.add_argument(
        "--cors",
        default=os.environ.get("ZEROG_CORS_ORIGINS", "*"),
        help="allowed origins: '*', a comma-separated list, or '' for none (default: ZEROG_CORS_ORIGINS, else *)",
    )
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cors: str | list[str] | None = args.cors if args.cors in ("*", "") else args.cors.split(",")
    try:
        app = make_app(
            args.module,
            store=args.store,
            queue=args.queue,
            max_body_size=args.max_body,
            cors_origins=cors or None,
        )
        # Open both now: a wrong URL or a dead server is reported at start, not at the first
        # request.
        config.get_store()
        config.get_queue()
    except (_zerog.ZeroGError, ImportError, ValueError) as e:
        log.error("cannot start: %s", e)
        return 2

    async def serve() -> None:
        app.listen(args.port, args.host)
        log.info(
            "zerog-server on http://%s:%d (store %s, queue %s; job types: %s)",
            args.host,
            args.port,
            config.store_url(),
            config.queue_url(),
            ", ".join(sorted(app.job_classes)) or "none",
        )
        await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
