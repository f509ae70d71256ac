"""The job registry: which class runs each JOB_TYPE.

Add the modules that define your jobs to ``JOB_MODULES`` (or pass ``--module`` to
``zerog-worker``). ``import_job_modules()`` imports them and registers every ``BaseJob``
subclass by its JOB_TYPE; two different classes with one JOB_TYPE is an error at start-up.

``zeroG.jobs`` finds classes here, so this module cannot import it: ``zeroG.jobs`` hands over
``BaseJob`` with ``track_subclasses_of`` once it has defined it.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import threading
from collections.abc import Iterable
from types import ModuleType
from typing import TYPE_CHECKING

from zeroG import _zerog
from zeroG.errors import DuplicateJobType, InvalidTubeName, UnknownJobType

if TYPE_CHECKING:
    from zeroG.jobs import BaseJob

__all__ = [
    "JOB_MODULES",
    "find_subclasses",
    "import_submodules",
    "build_registry",
    "find_class",
    "get_class",
    "import_job_modules",
    "register_imported",
    "registered",
    "skipped",
]

log = logging.getLogger("zeroG.registry")

#: Module names to import for their job classes.
JOB_MODULES: list[str] = []

_lock = threading.Lock()
_classes: dict[str, type[BaseJob]] = {}
# Classes that declare a JOB_TYPE but cannot be registered, and why (said once each).
_skipped: dict[str, str] = {}
# The class whose subclasses are job classes: BaseJob, once zeroG.jobs has defined it.
_root: type | None = None


def track_subclasses_of(root: type) -> None:
    """Job classes are ``root``'s subclasses (zeroG.jobs calls it with BaseJob)."""
    global _root
    _root = root


def _subclasses(cls: type) -> Iterable[type]:
    sub: type
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def build_registry() -> dict[str, type[BaseJob]]:
    """Imports JOB_MODULES, then registers every imported BaseJob subclass that declares its own
    JOB_TYPE (what the geyser-era zeroG's ``build_registry()`` did). An import that fails is an
    error naming the module."""
    return import_job_modules()


def register_imported() -> dict[str, type[BaseJob]]:
    """Registers every BaseJob subclass imported so far that declares its own JOB_TYPE."""
    found: dict[str, type[BaseJob]] = {}
    for cls in _subclasses(_root) if _root is not None else ():
        if "JOB_TYPE" not in cls.__dict__:
            continue
        # run() is the one method a job class must define (BaseJob's only says it was not).
        missing = set(getattr(cls, "__abstractmethods__", None) or ())
        if getattr(cls, "run", None) is getattr(_root, "run", None):
            missing.add("run")
        if missing:
            _skip(cls, f"it does not define {', '.join(f'{m}()' for m in sorted(missing))}")
            continue
        job_type = cls.JOB_TYPE  # type: ignore[attr-defined]
        _check_tube(cls)
        other = found.get(job_type)
        # The same class defined again (a module reloaded) replaces the old one.
        if other is not None and other is not cls and _name(other) != _name(cls):
            raise DuplicateJobType(f"job type {job_type!r} is declared by two classes: {_name(other)} and {_name(cls)}")
        found[job_type] = cls  # type: ignore[assignment]
    with _lock:
        _classes.clear()
        _classes.update(found)
    return dict(found)


def _skip(cls: type, why: str) -> None:
    """A class declaring a JOB_TYPE that cannot run (a misspelt ``run``, say) is said, not
    silently left out."""
    name = _name(cls)
    with _lock:
        if name in _skipped:
            return
        _skipped[name] = f"job class {name} (JOB_TYPE {cls.__dict__['JOB_TYPE']!r}) is not registered: {why}"
    log.warning("%s", _skipped[name])


def skipped() -> list[str]:
    """Why each class that declares a JOB_TYPE but could not be registered was left out."""
    with _lock:
        return list(_skipped.values())


def _check_tube(cls: type) -> None:
    """A class whose QUEUE_NAME no queue accepts could never be queued: refused where the class
    is registered, at start, naming it."""
    tube = getattr(cls, "QUEUE_NAME", None)
    try:
        _zerog.validate_tube_name(tube if isinstance(tube, str) else "")
    except InvalidTubeName as e:
        raise InvalidTubeName(f"job class {_name(cls)}: QUEUE_NAME {tube!r}: {e}") from None


def import_job_modules(modules: Iterable[str] = ()) -> dict[str, type[BaseJob]]:
    """Imports JOB_MODULES and ``modules``, then builds the registry. An import that fails is
    an error naming the module."""
    for name in [*JOB_MODULES, *modules]:
        try:
            importlib.import_module(name)
        except Exception as e:  # a SyntaxError or a failing import-time statement, too
            raise ImportError(f"cannot import job module {name!r}: {type(e).__name__}: {e}") from e
    return register_imported()


def find_class(job_type: str) -> type[BaseJob] | None:
    """The class for ``job_type``, or None."""
    cls = _classes.get(job_type)
    if cls is None:
        # A class defined since the last build (imported later, or in a module added to
        # JOB_MODULES since) is found by building again.
        cls = build_registry().get(job_type)
    return cls


def get_class(job_type: str) -> type[BaseJob]:
    """The class for ``job_type``; UnknownJobType if no registered class has it."""
    cls = find_class(job_type)
    if cls is None:
        known = ", ".join(sorted(_classes)) or "none"
        raise UnknownJobType(
            f"unknown job type {job_type!r} (registered: {known}); "
            "import its module or add it to zeroG.registry.JOB_MODULES"
        )
    return cls


def registered() -> dict[str, type[BaseJob]]:
    """Job type -> class, as last built."""
    with _lock:
        return dict(_classes)


# -- the original zeroG's registry API (tiptapinc/zerog) -----------------------------------------


def find_subclasses(cls: type) -> list[type]:
    """Every subclass of ``cls`` imported so far, at any depth (the original's tool)."""
    return list(dict.fromkeys(_subclasses(cls)))


def import_submodules(package: str | ModuleType, recursive: bool = True) -> dict[str, ModuleType]:
    """Imports every submodule of ``package`` (a name or a module), and with ``recursive`` those
    of its subpackages; returns them by full name (the original's tool, used to import a
    service's job modules before registering them)."""
    if isinstance(package, str):
        package = importlib.import_module(package)
    found: dict[str, ModuleType] = {}
    for _, name, is_pkg in pkgutil.walk_packages(package.__path__):
        full = f"{package.__name__}.{name}"
        found[full] = importlib.import_module(full)
        if recursive and is_pkg:
            found.update(import_submodules(full))
    return found
