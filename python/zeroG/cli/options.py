"""The options every command shares: where the store and queue are, and where job modules are
imported from. One definition, so the commands' help and behaviour cannot drift apart."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Container, Sequence

from zeroG import _zerog

__all__ = [
    "add_import_path",
    "add_job_modules",
    "describe_backends",
    "draw_table",
    "print_table",
    "queue_help",
    "store_help",
    "use_import_path",
]


def store_help() -> str:
    return f"store URL (default: $ZEROG_STORE, else {_zerog.default_url()})"


def queue_help() -> str:
    return "queue URL (default: $ZEROG_QUEUE, else the store's SQLite file)"


def add_job_modules(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--module",
        "-m",
        action="append",
        default=[],
        metavar="NAME",
        help="a module defining job classes (repeatable; added to zeroG.registry.JOB_MODULES)",
    )


def add_import_path(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--path",
        default=".",
        metavar="DIR",
        help="directory that job modules are imported from, put first on the import path "
        "(default: the current directory, as for `python -m`)",
    )


def use_import_path(path: str) -> None:
    """Console scripts do not put the current directory on the import path, as ``python -m``
    does: without this, ``--module myapp.jobs`` run beside ``myapp/`` would not be found."""
    where = os.path.abspath(path)
    if where not in sys.path:
        sys.path.insert(0, where)


def print_table(rows: Sequence[Sequence[str]], right: Container[int]) -> None:
    """Prints ``rows`` (the header first) in columns two spaces apart, the columns in ``right``
    aligned right (numbers), the others left."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (
            cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        print("  ".join(cells).rstrip())


def draw_table(rows: Sequence[Sequence[str]], right: Container[int]) -> None:
    """``print_table`` for a terminal: the same rows drawn as a rich table, the header in bold.
    On a narrow terminal the first column (an id, to copy) stays whole; the others wrap, cut
    nothing off."""
    # Imported here: zerog-worker and zerog-server import this module, and never draw.
    from rich import box
    from rich.console import Console
    from rich.table import Column, Table

    first, *others = (
        Column(h, justify="right" if i in right else "left", overflow="fold") for i, h in enumerate(rows[0])
    )
    first.no_wrap, first.min_width = True, max(len(row[0]) for row in rows)
    table = Table(first, *others, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for row in rows[1:]:
        table.add_row(*row)
    Console().print(table)


def describe_backends(store_url: str | None, queue_url: str) -> str:
    """``store URL, queue URL`` (passwords masked), for a command's first line; in a mixed fleet
    (``ZEROG_MIXED_FLEET``) it says so, since documents are then written differently."""
    queue = f"queue {_zerog.masked_url(queue_url)}"
    if store_url is None:
        return queue
    if store_url == queue_url:
        described = f"store and queue {_zerog.masked_url(store_url)}"
    else:
        described = f"store {_zerog.masked_url(store_url)}, {queue}"
    if _zerog.mixed_fleet():
        described += ", mixed fleet: documents in the original zeroG's shape"
    return described
