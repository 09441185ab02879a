"""F3's device (issue 18's GPU path): in F3Config, passed to the LSTM, and in
the f3_fold key only off the CPU (caches written before keep their key)."""
from __future__ import annotations

import pytest

from adl.features.config import FeaturesConfig
from adl.features.f3_config import F3Config
from adl.features.keys import Stages


def _keys(f3):
    return Stages("cad120", FeaturesConfig(families=("f3",), f3=f3), [], rgb_only=False)


def test_the_cpu_keeps_the_key_of_older_caches():
    assert F3Config().device == "cpu"
    assert "device" not in _keys(F3Config()).f3_fold.config


def test_a_gpu_is_in_the_key_by_type():
    on_gpu = _keys(F3Config(device="cuda:1")).f3_fold
    assert on_gpu.config["device"] == "cuda"
    assert on_gpu.digest != _keys(F3Config()).f3_fold.digest
    assert _keys(F3Config(device="cuda:0")).f3_fold.digest == on_gpu.digest


def test_the_estimator_gets_the_device():
    from adl.data.layouts import CAD_15
    assert F3Config(device="cuda:0").estimator(layout=CAD_15).device == "cuda:0"


def test_the_cli_resolves_auto_for_f3(monkeypatch):
    from adl.cli.main import _f3_device
    assert _f3_device("cpu") == "cpu"
    import torch
    if not torch.cuda.is_available():
        assert _f3_device("auto") == "cpu"
        import click
        with pytest.raises(click.BadParameter, match="cuda"):
            _f3_device("cuda:3")


def test_f1_auto_precision_is_keyed_for_the_device_it_runs_on(monkeypatch):
    import torch

    from adl.features import cnn
    from adl.features.f1_config import F1Config
    monkeypatch.setattr(cnn, "cpu_supports_bf16", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)

    def key(device):
        cfg = FeaturesConfig(families=("f1",), f1=F1Config(weights="random", device=device))
        return Stages("cad120", cfg, [], rgb_only=False).f1_video.config["precision"]

    assert key("cpu") == "float32"
    assert key("cuda:0") == "bfloat16"      # a library caller on a GPU, not only the CLI
