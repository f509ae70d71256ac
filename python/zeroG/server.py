"""The HTTP server under the import path the original zeroG documented, and that the README
shows (``from zeroG.server import default_routes``), and ``python -m zeroG.server``, which runs
``zerog-server``. The code lives in ``zeroG.http`` and ``zeroG.cli.server``; this module only
names it."""

from zeroG.cli.server import main
from zeroG.http.app import Server, make_app
from zeroG.http.routes import default_routes

__all__ = ["Server", "default_routes", "main", "make_app"]

if __name__ == "__main__":
    raise SystemExit(main())
