"""A worker runs the workflow code it started with: each workflow module is read once per process.

Temporal's workflow sandbox imports a workflow's module again, with everything it imports that is
not passed through, for every workflow run it starts or replays. Python finds, reads and
unmarshals that bytecode from disk each time: about a third of the CPU it takes to start an
agent's run (docs/performance.md) and, worse, whatever is on disk *now*. A tree updated under a
running worker (a ``git pull``, a package upgrade) would have new runs of the same build, and
replays of old ones, execute code the build was never deployed with: non-determinism errors, or
different behaviour under the same build id.

``pin_workflow_code`` puts one finder in front of ``sys.meta_path`` for the packages that hold
workflow definitions (``workflow_packages``). It finds modules exactly as Python does and only
swaps the loader for one that keeps each module's code object after its first read (a test
runner's own loader, a zip, an extension module are left as found); every import still executes
the module afresh (the sandbox's isolation is unchanged), from the code read first.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Iterable, Sequence
from types import CodeType, ModuleType

__all__ = ["pin_workflow_code", "pinned_packages", "workflow_packages"]

_lock = threading.Lock()
_codes: dict[str, CodeType] = {}  # by file path, for the life of the process
_places: dict[str, tuple[str, list[str] | None]] = {}  # by module: its file, a package's path


class _PinnedLoader(importlib.machinery.SourceFileLoader):
    """A source loader whose code, once read, is what every later import of the module runs."""

    def get_code(self, fullname: str) -> CodeType:
        code = _codes.get(self.path)
        if code is None:
            code = super().get_code(fullname)
            if code is None:  # pragma: no cover - a source loader always has code
                raise ImportError(f"no code for {fullname}", name=fullname)
            code = _codes.setdefault(self.path, code)  # two threads racing keep the first read
        return code


class _PinningFinder(importlib.abc.MetaPathFinder):
    def __init__(self) -> None:
        # Replaced, never changed in place: imports on other threads read it without the lock.
        self.packages: frozenset[str] = frozenset()

    def covers(self, name: str) -> bool:
        return any(name == p or name.startswith(p + ".") for p in self.packages)

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if not self.covers(fullname):
            return None  # everything else is found by the finders after this one
        found = _places.get(fullname)
        if found is None:
            spec = self._found_by_others(fullname, path, target)
            if spec is None or type(spec.loader) is not importlib.machinery.SourceFileLoader:
                return spec  # not a plain source file: left as found, and not pinned
            assert spec.origin is not None  # a source file's spec names its file
            found = _places.setdefault(fullname, (spec.origin, spec.submodule_search_locations))
        # A fresh spec each time (import machinery writes to it); where the module lives is
        # pinned with its code, so no directory is searched again.
        origin, locations = found
        return importlib.util.spec_from_file_location(
            fullname, origin, loader=_PinnedLoader(fullname, origin),
            submodule_search_locations=None if locations is None else list(locations))

    def _found_by_others(self, fullname: str, path: Sequence[str] | None,
                         target: ModuleType | None) -> importlib.machinery.ModuleSpec | None:
        # As the finders after this one would find it (an editable install's finder, a test
        # runner's rewriting hook, whose own loader is then left alone).
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec: importlib.machinery.ModuleSpec | None = find(fullname, path, target)
            if spec is not None:
                return spec
        return None


_finder = _PinningFinder()


def pin_workflow_code(packages: Iterable[str]) -> None:
    """Pin the code of ``packages`` (module names; their submodules too) for this process.

    Idempotent; the finder is installed once. Modules already imported keep the code they were
    imported with; their next import (a workflow run's sandbox) reads it once more and then never
    again."""
    with _lock:
        _finder.packages |= {p for p in packages if p and p != "__main__"}
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)


def pinned_packages() -> frozenset[str]:
    """The packages whose code this process has pinned."""
    return _finder.packages


def workflow_packages(workflows: Iterable[type]) -> set[str]:
    """Where workflow classes are defined: the package of each class's module (a top-level
    module stands for itself), Baton's ``baton.workflows`` among them. The sandbox imports a
    workflow's module, its package and what it imports from there for each run."""
    return {"baton.workflows", *(w.__module__.rpartition(".")[0] or w.__module__
                                 for w in workflows)}
