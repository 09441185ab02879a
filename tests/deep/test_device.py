"""``--device`` and autocast precision: resolution, refusals, and reduced
precision checked against float32 where the hardware runs it natively."""
from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from adl.deep import VideoBackbone, resolve_device, resolve_precision
from adl.deep import device as device_mod
from adl.deep.device import autocast, native_precisions


@pytest.fixture
def fake_cuda(monkeypatch):
    """Two visible CUDA devices, bf16 capable, on a machine that may have none."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_auto_is_cpu_without_cuda(no_cuda):
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")


def test_auto_and_cuda_name_one_gpu(fake_cuda):
    assert resolve_device("auto") == torch.device("cuda", 0)
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


def test_device_refusals(no_cuda, monkeypatch):
    with pytest.raises(ValueError, match=r"device 'cuda:0' requested but CUDA is not available "
                                         r"on this machine"):
        resolve_device("cuda:0")
    with pytest.raises(ValueError, match=r"unknown device 'tpu'; expected 'auto', 'cpu', 'cuda' "
                                         r"or 'cuda:N'"):
        resolve_device("tpu")
    with pytest.raises(TypeError, match=r"expected device as a string .* got int"):
        resolve_device(0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ValueError, match=r"device 'cuda:2' requested but this machine has 2 CUDA "
                                         r"device\(s\) \(cuda:0 \.\. cuda:1\)"):
        resolve_device("cuda:2")


@pytest.mark.parametrize("bf16, native, auto", [(True, ("float32", "bfloat16"), "bfloat16"),
                                                (False, ("float32",), "float32")])
def test_cpu_precision_follows_the_native_bf16_flags(monkeypatch, bf16, native, auto):
    monkeypatch.setattr(device_mod, "cpu_supports_bf16", lambda: bf16)
    assert native_precisions("cpu") == native
    assert resolve_precision("auto", "cpu") == auto
    assert resolve_precision("float32", "cpu") == "float32"


def test_cuda_precisions(fake_cuda, monkeypatch):
    assert native_precisions("cuda:0") == ("float32", "float16", "bfloat16")
    assert resolve_precision("auto", torch.device("cuda", 0)) == "bfloat16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", "cuda") == "float16"
    with pytest.raises(ValueError, match=r"precision 'bfloat16' is not native on device 'cuda' "
                                         r"\(native there: float32, float16\)"):
        resolve_precision("bfloat16", "cuda")


def test_precision_refusals(monkeypatch):
    monkeypatch.setattr(device_mod, "cpu_supports_bf16", lambda: False)
    with pytest.raises(ValueError, match=r"precision 'float16' is not native on device 'cpu' "
                                         r"\(native there: float32\)"):
        resolve_precision("float16", "cpu")
    with pytest.raises(ValueError, match=r"precision 'bfloat16' is not native on device 'cpu'"):
        resolve_precision("bfloat16", "cpu")
    with pytest.raises(ValueError, match=r"unknown precision 'half'; expected one of auto, "
                                         r"float32, float16, bfloat16"):
        resolve_precision("half", "cpu")


def test_autocast_context():
    assert isinstance(autocast("cpu", "float32"), contextlib.nullcontext)
    with autocast(torch.device("cpu"), "bfloat16"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with pytest.raises(ValueError, match=r"expected a resolved precision \('float32', 'float16' "
                                         r"or 'bfloat16'\), got 'auto'"):
        autocast("cpu", "auto")


def _skip_reason(device: str, precision: str):
    if device == "cuda" and not torch.cuda.is_available():
        return "no CUDA device here"
    if precision not in native_precisions(device):
        return f"{precision} is not native on {device} here"
    return None


@pytest.mark.parametrize("backbone", ["i3d", "s3d"])
@pytest.mark.parametrize("device, precision", [("cuda", "float16"), ("cuda", "bfloat16"),
                                               ("cpu", "bfloat16")])
def test_autocast_matches_float32(backbone, device, precision):
    reason = _skip_reason(device, precision)
    if reason:
        pytest.skip(reason)
    size = (2, 32, 112, 112, 3) if device == "cuda" else (2, 16, 64, 64, 3)
    clips = np.random.default_rng(1).integers(0, 256, size, dtype=np.uint8)
    full = VideoBackbone(backbone, "random", device=device, precision="float32", seed=3)
    reduced = VideoBackbone(backbone, "random", device=device, precision=precision, seed=3)
    assert reduced.precision == precision
    a = full.forward_clips(clips).reshape(len(clips), -1)
    b = reduced.forward_clips(clips).reshape(len(clips), -1)
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert np.all(cosine >= 0.999), cosine
    assert not np.array_equal(a, b)       # autocast really ran in reduced precision
