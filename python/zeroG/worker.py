"""``python -m zeroG.worker`` runs ``zerog-worker``, as it always has (scripts and the tests
start workers that way), and ``zeroG.worker.run_worker`` stays where it was. The code lives in
``zeroG.cli.worker`` and ``zeroG.cli.worker_process``; this module only names it."""

import sys

from zeroG.cli.worker import main
from zeroG.cli.worker_process import run_worker

__all__ = ["main", "run_worker"]

if __name__ == "__main__":
    sys.exit(main())
