"""Fixtures shared by the whole test suite.

- ``small_config``: a factory of features configurations small enough for tests
  (a few seconds per run); keyword arguments replace fields.
- ``tiny_cad120``: a synthetic CAD-120 dataset in its native format, 3 subjects
  x 3 classes x 1 video, 16 frames at 160x120 (written once per session; treat
  it as read-only).
- ``tiny_writer``: :func:`write_tiny_cad120`, for a test that needs its own
  variant of the synthetic dataset (another seed, more subjects or frames).
- ``tiny_cache``: the features stage run once per session on ``tiny_cad120``
  with ``small_config()`` (read-only); ``tiny_cache_copy`` is a private copy of
  it for a test that writes into the cache.
- ``killer``: SIGKILLs a child run once its cache holds k entries (the
  kill-and-resume tests).
- ``python_calls``: counts the function calls of one call, for tests of how
  work grows (never the wall clock).
- ``cache_snapshot``: :func:`snapshot`, every file of a cache as comparable
  values (byte for byte), to prove two caches identical.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Dict

import numpy as np
import pytest

TINY_CLASSES = ("having_meal", "taking_medicine", "stacking_objects")


def make_small_config(**over):
    """ResNet-18 (random weights) at 48 px, 2 F2 scales with L = 5, K = 4, a
    16-unit LSTM trained for at most 4 epochs; ``over`` replaces fields."""
    from adl.features.f1 import F1Config
    from adl.features.f2 import F2Config
    from adl.features.f3 import F3Config
    from adl.features.config import FeaturesConfig, FisherConfig

    base = dict(
        f1=F1Config(backbone="resnet18", weights="random", input_size=48, batch_size=32),
        f2=F2Config(max_scales=2, trajectory_length=5),
        f3=F3Config(hidden=16, max_epochs=4, patience=2, max_len=16),
        fisher=FisherConfig(n_components=4, n_samples=2000),
        seed=0)
    base.update(over)
    return FeaturesConfig(**base)


def write_tiny_cad120(root: Path, seed: int = 1, classes=TINY_CLASSES, **over) -> Path:
    """A synthetic CAD-120 dataset in its native format under ``root``.

    Parameters
    ----------
    root : Path
        Folder to write (created).
    seed : int
        Generator seed.
    classes : sequence of str
        CAD-120 activity names, one video per class and subject by default.
    **over
        Replaces :func:`adl.data.synth.generate`'s arguments of the tiny
        dataset: ``subjects=3``, ``frames=16``, ``image_size=(160, 120)``,
        ``videos_per_class=1``.

    Returns
    -------
    Path
        ``root``.
    """
    from adl.data.synth import generate

    kwargs = dict(subjects=3, frames=16, image_size=(160, 120), videos_per_class=1)
    kwargs.update(over)
    generate("cad120", root, seed=seed, classes=list(classes), **kwargs)
    return root


def snapshot(cache: Path) -> Dict[str, object]:
    """Every file of a cache as values that compare equal only when the files do.

    ``.npz`` entries give each array's (dtype, shape, raw bytes) and, under
    ``<name>#bytes``, the file's bytes (its metadata member included); JSON
    files are parsed; anything else is its raw bytes.

    Parameters
    ----------
    cache : Path
        A cache root (or any folder).

    Returns
    -------
    dict
        Path relative to ``cache`` -> comparable value, in sorted path order.
    """
    out: Dict[str, object] = {}
    for path in sorted(Path(cache).rglob("*")):
        if not path.is_file():
            continue
        rel = str(path.relative_to(cache))
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                members = {name: z[name] for name in z.files}
            out[rel] = {name: (str(v.dtype), v.shape, v.tobytes()) if isinstance(v, np.ndarray)
                        else bytes(v) for name, v in members.items()}
            out[rel + "#bytes"] = path.read_bytes()
        elif path.suffix == ".json":
            out[rel] = json.loads(path.read_text())
        else:
            out[rel] = path.read_bytes()
    return out


def count_python_calls(fn, *args) -> int:
    """Function calls (Python and built-in) of one ``fn(*args)`` as cProfile
    counts them, after a first call that warms caches and imports: a measure of
    work that, unlike the clock, does not depend on the machine's load."""
    import cProfile
    import pstats

    fn(*args)
    prof = cProfile.Profile()
    prof.runcall(fn, *args)
    return pstats.Stats(prof).total_calls


def kill_after_entries(proc, cache, k: int, timeout: float = 300.0) -> bool:
    """SIGKILL the child ``proc`` as soon as ``cache`` holds ``k`` visible
    ``.npz`` entries (temp files are hidden names); returns whether it was
    still running then (the kill interrupted work rather than a finished run)."""
    import os
    import signal
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if sum(1 for _ in Path(cache).rglob("*.npz")) >= k:
            break
        time.sleep(0.005)
    else:
        proc.kill()
        proc.wait(timeout=60)
        pytest.fail(f"the run never wrote {k} entries into {cache} in {timeout:.0f} s")
    running = proc.poll() is None
    if running:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    return running


@pytest.fixture(scope="session")
def killer():
    """:func:`kill_after_entries`."""
    return kill_after_entries


@pytest.fixture(scope="session")
def python_calls():
    """:func:`count_python_calls`."""
    return count_python_calls


@pytest.fixture(scope="session")
def small_config():
    return make_small_config


@pytest.fixture(scope="session")
def tiny_writer():
    """:func:`write_tiny_cad120`, for a test that needs its own variant."""
    return write_tiny_cad120


@pytest.fixture(scope="session")
def cache_snapshot():
    """:func:`snapshot`, to compare two caches file by file."""
    return snapshot


@pytest.fixture(scope="session")
def tiny_cad120(tmp_path_factory) -> Path:
    return write_tiny_cad120(tmp_path_factory.mktemp("tiny") / "cad120")


@pytest.fixture(scope="session")
def tiny_cache(tiny_cad120, tmp_path_factory) -> Path:
    from adl.features.pipeline import run_features

    cache = tmp_path_factory.mktemp("tiny_cache") / "cache"
    run_features("cad120", tiny_cad120, cache, make_small_config(), progress=False,
                 log=lambda m: None)
    return cache


@pytest.fixture
def tiny_cache_copy(tiny_cache, tmp_path) -> Path:
    dst = tmp_path / "cache"
    shutil.copytree(tiny_cache, dst)
    return dst
