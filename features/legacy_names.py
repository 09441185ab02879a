"""Loading pickles written before the packages moved under the ``adl`` namespace.

Fold transformers (``<fold>.model.joblib``) of caches written by earlier
versions name their classes by the old top-level modules
(``features.f1.BodyPartSelector``, ``features.fisher...``, ``features.f3...``,
possibly ``data.layouts...``).  :func:`load_joblib` loads such a file with
those names mapped to ``adl.<name>``.

How: unpickling imports each module it names.  While loading, each old
top-level name is a stub package in ``sys.modules`` through which nothing can
be imported; when an import of an old name fails, the ``adl`` module of that
name is registered under the old name (a package as a stub that forwards its
attributes, so that no second copy of a module can be imported through it)
and the file is read again.  Once it is loaded, every alias is removed and
whatever ``sys.modules`` held under the old names is put back.  The old names
are taken to be this project's: a pickle of another project's ``features``
package is not loaded by this function.
"""
from __future__ import annotations

import importlib
import sys
import threading
import types
from pathlib import Path

#: The top-level names the packages had before the ``adl`` namespace.
OLD_PACKAGES = ("data", "features", "fusion", "deep", "cli")
_LOCK = threading.Lock()


def _old_name(exc: ModuleNotFoundError) -> str:
    name = getattr(exc, "name", None) or ""
    return name if name.split(".")[0] in OLD_PACKAGES else ""


def _alias(old: str):
    """What ``sys.modules[old]`` holds while loading: the ``adl`` module itself,
    or for a package a stub that forwards its attributes and has no search
    path (a submodule imported through the real package's path would be a
    second copy, with classes of its own)."""
    module = importlib.import_module(f"adl.{old}")
    if not hasattr(module, "__path__"):
        return module
    stub = types.ModuleType(old)
    stub.__path__ = []
    stub.__getattr__ = lambda attr: getattr(module, attr)
    return stub


def load_joblib(path):
    """``joblib.load(path)``, with the pre-namespace module names of the
    pickle mapped to ``adl.*`` (see the module docstring).

    Raises
    ------
    ModuleNotFoundError
        A module the pickle names exists neither under its name nor under
        ``adl.<name>``.
    """
    import joblib
    path = Path(path)
    with _LOCK:
        # While loading, the old names mean the adl modules only: an entry of
        # sys.modules under an old name (e.g. the source folder imported as a
        # top-level package because it is on sys.path) is set aside, and each
        # old top-level name is a stub through which nothing is imported.
        aside = {n: m for n, m in sys.modules.items() if n.split(".")[0] in OLD_PACKAGES}
        for name in aside:
            del sys.modules[name]
        added = []
        try:
            for name in OLD_PACKAGES:
                sys.modules[name] = _alias(name)
                added.append(name)
            while True:
                try:
                    return joblib.load(path)
                except ModuleNotFoundError as exc:
                    old = _old_name(exc)
                    if not old or old in sys.modules:
                        raise
                    try:
                        importlib.import_module(f"adl.{old}")
                    except ModuleNotFoundError:
                        raise exc from None
                    parts = old.split(".")
                    for i in range(1, len(parts) + 1):
                        name = ".".join(parts[:i])
                        if name not in sys.modules:
                            sys.modules[name] = _alias(name)
                            added.append(name)
        finally:
            for name in added:
                sys.modules.pop(name, None)
            sys.modules.update(aside)
