"""Fixtures of the reliability tests: the ``adl`` command line run in a child
process (one thread, so its arithmetic does not depend on the machine's load),
the cache's temporary files, and the fusion report of a cache.

The tiny synthetic dataset is the suite's ``tiny_cad120`` and the byte-level
cache comparison its ``cache_snapshot`` (tests/conftest.py).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

# A fast but complete configuration: every stage of the features pipeline runs.
FAST_FEATURES = ("--weights", "random", "--backbone", "resnet18", "--input-size", "48",
                 "--trajectory-length", "5", "--max-scales", "2", "--gmm-size", "4",
                 "--gmm-samples", "2000", "--lstm-units", "16", "--lstm-epochs", "4",
                 "--lstm-max-len", "16", "--seed", "0")

TEMP_RE = re.compile(r"\.tmp-|\.tmp$")


class AdlCli:
    """The ``adl`` command line as this interpreter runs it (``python -m
    adl.cli.main``: the console script is not needed)."""

    fast_features = FAST_FEATURES

    @staticmethod
    def command(*args: str) -> List[str]:
        """``adl ARGS`` as an argument list for :mod:`subprocess`."""
        return [sys.executable, "-m", "adl.cli.main", *args]

    @staticmethod
    def env() -> Dict[str, str]:
        """The child's environment: one thread in every numeric library."""
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = "1"
        return env

    @staticmethod
    def features_args(root: Path, cache: Path) -> List[str]:
        """The arguments of ``adl features`` on a CAD-120 ``root`` with the fast
        configuration (for :class:`click.testing.CliRunner` as well)."""
        return ["features", "--dataset", "cad120", "--root", str(root), "--cache", str(cache),
                *FAST_FEATURES]

    def features_command(self, root: Path, cache: Path) -> List[str]:
        return self.command(*self.features_args(root, cache))

    def run(self, cmd: List[str], timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, env=self.env(), capture_output=True, text=True,
                              timeout=timeout)

    def popen(self, cmd: List[str], **kwargs) -> subprocess.Popen:
        return subprocess.Popen(cmd, env=self.env(), **kwargs)


def temp_files(cache: Path) -> List[Path]:
    """The temporary files (``.tmp-*`` / ``*.tmp``) under a cache, sorted."""
    return sorted(p for p in Path(cache).rglob("*") if TEMP_RE.search(p.name))


def fusion_report(cache: Path, out: Path) -> dict:
    """``adl fuse --alpha-search`` on a CAD-120 cache, as report.json without
    its wall-time field (the only value that may differ between runs)."""
    from adl.features.cache_reader import load_fold_features
    from adl.fusion import FusionConfig, run_fusion
    report = dict(run_fusion(load_fold_features(cache, "cad120"), out,
                             FusionConfig(alpha_search=True, seed=0)))
    report.pop("seconds")
    return report


@pytest.fixture(scope="session")
def adl_cli() -> AdlCli:
    return AdlCli()


@pytest.fixture(scope="session")
def cache_temps():
    """:func:`temp_files`."""
    return temp_files


@pytest.fixture(scope="session")
def cad120_fusion_report():
    """:func:`fusion_report`."""
    return fusion_report
