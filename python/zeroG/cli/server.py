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
from zeroG.cli.options import add_import_path, describe_backends, queue_help, store_help, use_import_path
from zeroG.http import listener
from zeroG.http.app import make_app
from zeroG.http.base import DEFAULT_MAX_BODY
from zeroG.http.listener import HEADER_TIMEOUT

__all__ = ["main"]

log = logging.getLogger("zeroG.server")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zerog-server", description="Serve zeroG's REST API over HTTP.")
    p.add_argument("--port", type=int, default=8888, help="port to listen on (default 8888)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--module", action="append", default=[], help="job module to import (repeatable), as for zerog-worker"
    )
    add_import_path(p)
    p.add_argument("--store", help=store_help())
    p.add_argument("--queue", help=queue_help())
    p.add_argument(
        "--max-body", type=int, default=DEFAULT_MAX_BODY, help=f"largest request body in bytes ({DEFAULT_MAX_BODY})"
    )
    p.add_argument(
        "--cors",
        default=os.environ.get("ZEROG_CORS_ORIGINS", ""),
        help="web origins whose pages may call the API, comma-separated; '*' for any (the original zeroG's "
        "setting, insecure: for a migration only) (default: ZEROG_CORS_ORIGINS, else none)",
    )
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        help="a Host name to answer besides localhost while listening on loopback (repeatable)",
    )
    p.add_argument(
        "--insecure-no-token",
        action="store_true",
        help="listen beyond loopback without ZEROG_API_TOKEN: anyone who reaches the port can change every job",
    )
    p.add_argument(
        "--header-timeout",
        type=float,
        default=HEADER_TIMEOUT,
        help=f"seconds a connection has to send its request headers ({HEADER_TIMEOUT:g})",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="worker processes to run besides serving, as the original's server did (default 0: API only)",
    )
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cors: str | list[str] | None = args.cors if args.cors in ("*", "") else args.cors.split(",")
    use_import_path(args.path)
    try:
        app = make_app(
            args.module,
            store=args.store,
            queue=args.queue,
            max_body_size=args.max_body,
            cors_origins=cors or None,
            allowed_hosts=args.allow_host,
            insecure_no_token=args.insecure_no_token,
            header_timeout=args.header_timeout,
            workers=args.workers,
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
        if not listener.is_loopback(args.host) and not app.settings.get("api_token"):
            log.warning("listening beyond loopback with no API token (--insecure-no-token): anyone can change jobs")
        log.info(
            "zerog-server on http://%s:%d (%s; job types: %s)",
            args.host,
            args.port,
            describe_backends(config.store_url(), config.queue_url()),
            ", ".join(sorted(app.job_classes)) or "none",
        )
        await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    except (ValueError, OSError) as e:  # listening refused (no token beyond loopback), or the port taken
        log.error("cannot start: %s", e)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
