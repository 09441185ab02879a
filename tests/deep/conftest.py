"""Fixtures of the deep-stage tests.

- ``one_thread``: torch runs on one intra-op thread during each test (the
  machine's cores are shared); restored afterwards.
- ``hub_dir``: an empty ``torch.hub`` directory for the test (standard weights
  are looked up in its ``checkpoints/``), restored afterwards.
- ``i3d_keys``: the (name, shape) list of the PyTorch I3D port's
  ``rgb_imagenet.pt``, from ``i3d_state_dict_keys.txt`` beside this file (a
  copy of ``../shared/deep/i3d_state_dict_keys.txt``).
- ``i3d_state``: a state dict with exactly those names and shapes (random
  values, seeded), as the real checkpoint would have.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

KEYS_FILE = Path(__file__).with_name("i3d_state_dict_keys.txt")


@pytest.fixture(autouse=True)
def one_thread():
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def hub_dir(tmp_path):
    import torch
    before = torch.hub.get_dir()
    hub = tmp_path / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    torch.hub.set_dir(str(hub))
    yield hub
    torch.hub.set_dir(before)


def read_key_list(path: Path = KEYS_FILE):
    """``[(name, shape tuple)]`` in file order."""
    out = []
    for line in path.read_text().splitlines():
        name, shape = line.split(" ", 1)
        out.append((name, tuple(ast.literal_eval(shape))))
    return out


@pytest.fixture(scope="session")
def i3d_keys():
    return read_key_list()


@pytest.fixture
def i3d_state(i3d_keys):
    import torch
    gen = torch.Generator().manual_seed(7)
    state = {}
    for name, shape in i3d_keys:
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(1234, dtype=torch.int64)
        elif name.endswith("running_var"):
            state[name] = torch.rand(shape, generator=gen) + 0.5
        else:
            state[name] = torch.randn(shape, generator=gen) * 0.05
    return state


def make_tiny_ntu_cache(base: Path, *, clip_frames: int = 8, clip_size: int = 32,
                        granularities=(1,)) -> Path:
    """A tiny synthetic NTU-60 deep cache under ``base``: 3 subjects x 2
    classes ("drink water", "pickup"), 16 frames at 64x48, I3D with random
    weights on one torch thread; returns the cache root (the data are in
    ``base / "ntu60"``)."""
    import torch
    from adl.data.synth import generate
    from adl.deep.extract import ExtractConfig, run_extract
    generate("ntu60", base / "ntu60", subjects=3, frames=16, image_size=(64, 48),
             classes=["drink water", "pickup"])
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_extract("ntu60", base / "ntu60", base / "cache",
                    ExtractConfig(weights="random", device="cpu", precision="float32",
                                  clip_frames=clip_frames, clip_size=clip_size,
                                  granularities=tuple(granularities), seed=0),
                    jobs=1, progress=False, log=lambda m: None)
    finally:
        torch.set_num_threads(before)
    return base / "cache"


@pytest.fixture(scope="session")
def tiny_ntu_cache():
    """:func:`make_tiny_ntu_cache`, for module-scoped fixtures."""
    return make_tiny_ntu_cache
