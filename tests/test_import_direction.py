"""The package layering (ARCHITECTURE.md): imports run one way,
``cli -> fusion -> features -> data`` and ``deep -> features, data``; a package
uses another only through its public names; everything installs under the
``adl`` namespace.

Every import statement of every module is read with :mod:`ast` (module-level
and function-level imports alike), so a lazy import inside a function cannot
hide an upward or private dependency.
"""
from __future__ import annotations

import ast
import configparser
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("data", "features", "fusion", "deep", "cli")
#: Which packages each package may import (besides itself).
ALLOWED = {
    "data": set(),
    "features": {"data"},
    "fusion": {"features", "data"},
    "deep": {"features", "data"},
    "cli": {"fusion", "features", "data", "deep"},
}


def _modules() -> List[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
                  if "__pycache__" not in p.parts)


def _package_of(path: Path) -> str:
    return path.relative_to(ROOT).parts[0]


def _imports(path: Path, source: str) -> Iterator[Tuple[int, str, List[str]]]:
    """(line, absolute module name, imported names) of each import in ``source``,
    the text of the module at ``path``."""
    tree = ast.parse(source, filename=str(path))
    rel_parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if rel_parts[-1] == "__init__":
        rel_parts = rel_parts[:-1]
    else:
        rel_parts = rel_parts[:-1]       # the module's package
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = rel_parts[: len(rel_parts) - (node.level - 1)]
                module = ".".join(["adl", *base] + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield node.lineno, module, [a.name for a in node.names]


def _check(path: Path, source: Optional[str] = None) -> List[str]:
    own = _package_of(path)
    problems = []
    for line, module, names in _imports(path, path.read_text() if source is None else source):
        parts = module.split(".")
        where = f"{path.relative_to(ROOT)}:{line}"
        if parts[0] in PACKAGES:
            problems.append(f"{where}: imports {module!r} outside the adl namespace "
                            f"(write adl.{module})")
            continue
        if parts[0] != "adl" or len(parts) < 2:
            continue
        target = parts[1]
        if target == own:
            continue
        if target not in ALLOWED[own]:
            problems.append(f"{where}: {own} imports {module} (allowed: "
                            f"{sorted(ALLOWED[own]) or 'nothing'} of adl)")
        private = [p for p in parts[2:] if p.startswith("_")] + \
                  [n for n in names if n.startswith("_")]
        if private:
            problems.append(f"{where}: {own} imports private name(s) {private} of {module}")
    return problems


def test_imports_run_one_way_through_public_names():
    problems = [p for path in _modules() for p in _check(path)]
    assert problems == []


@pytest.mark.parametrize("source, expected", [
    ("from adl.fusion import run_fusion\n", "features imports adl.fusion"),
    ("def f():\n    from adl.fusion.model_io import load_model\n", "features imports adl.fusion"),
    ("from adl.data.atomic import _host_tag\n", "private name(s) ['_host_tag']"),
    ("from adl.data._private import x\n", "private name(s) ['_private']"),
    ("from data.errors import AdlError\n", "outside the adl namespace"),
    ("from ..fusion import runner\n", "features imports adl.fusion"),
])
def test_the_checker_catches_upward_private_and_bare_imports(source, expected):
    # the same checker on a module (virtually) inside features/
    problems = _check(ROOT / "features" / "planted.py", source)
    assert any(expected in p for p in problems), problems


def test_the_checker_accepts_downward_public_and_relative_imports():
    source = ("from adl.features.cache_reader import load_fold_features\n"
              "from adl.data.errors import AdlError\nfrom . import report\nfrom ._x import y\n")
    assert _check(ROOT / "fusion" / "planted.py", source) == []


def _setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return cfg


def test_every_package_folder_installs_under_the_adl_namespace():
    cfg = _setup_cfg()
    declared = set(cfg["options"]["packages"].split())
    mapping = dict(line.split(" = ") for line in cfg["options"]["package_dir"].strip().splitlines())
    on_disk = {"adl." + ".".join(p.parent.relative_to(ROOT).parts)
               for pkg in PACKAGES for p in (ROOT / pkg).rglob("__init__.py")
               if "__pycache__" not in p.parts}
    assert on_disk == declared, "setup.cfg [options] packages must list every package folder"
    assert mapping == {f"adl.{p}": p for p in PACKAGES}
    assert all(name.startswith("adl.") for name in declared)
    assert cfg["options.entry_points"]["console_scripts"].split("=")[1].strip() == \
        "adl.cli.main:main"


def test_a_built_wheel_holds_only_the_adl_namespace(tmp_path):
    import subprocess
    import sys
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps",
                    "--no-build-isolation", "-q", "-w", str(tmp_path)], check=True,
                   capture_output=True)
    (wheel,) = tmp_path.glob("adl-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"adl", wheel.name.split("-")[0] + "-"
                                                 + wheel.name.split("-")[1] + ".dist-info"}
    assert "adl/data/record.py" in names and "adl/cli/main.py" in names
    assert "adl/__init__.py" not in names        # a namespace package: nothing to collide with
