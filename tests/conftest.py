"""Fixtures shared by the whole test suite.

- ``small_config``: a factory of features configurations small enough for tests
  (a few seconds per run); keyword arguments replace fields.
- ``tiny_cad120``: a synthetic CAD-120 dataset in its native format, 3 subjects
  x 3 classes x 1 video, 16 frames at 160x120 (written once per session; treat
  it as read-only).
- ``tiny_cache``: the features stage run once per session on ``tiny_cad120``
  with ``small_config()`` (read-only); ``tiny_cache_copy`` is a private copy of
  it for a test that writes into the cache.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

TINY_CLASSES = ("having_meal", "taking_medicine", "stacking_objects")


def make_small_config(**over):
    """ResNet-18 (random weights) at 48 px, 2 F2 scales with L = 5, K = 4, a
    16-unit LSTM trained for at most 4 epochs; ``over`` replaces fields."""
    from adl.features.f1 import F1Config
    from adl.features.f2 import F2Config
    from adl.features.f3 import F3Config
    from adl.features.pipeline import FeaturesConfig, FisherConfig

    base = dict(
        f1=F1Config(backbone="resnet18", weights="random", input_size=48, batch_size=32),
        f2=F2Config(max_scales=2, trajectory_length=5),
        f3=F3Config(hidden=16, max_epochs=4, patience=2, max_len=16),
        fisher=FisherConfig(n_components=4, n_samples=2000),
        seed=0)
    base.update(over)
    return FeaturesConfig(**base)


def write_tiny_cad120(root: Path, seed: int = 1, classes=TINY_CLASSES) -> Path:
    """3 subjects x len(classes) classes x 1 video, 16 frames at 160x120."""
    from adl.data.synth import generate

    generate("cad120", root, seed=seed, subjects=3, frames=16, image_size=(160, 120),
             classes=list(classes))
    return root


@pytest.fixture(scope="session")
def small_config():
    return make_small_config


@pytest.fixture(scope="session")
def tiny_writer():
    """:func:`write_tiny_cad120`, for a test that needs its own variant."""
    return write_tiny_cad120


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
