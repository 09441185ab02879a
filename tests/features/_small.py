"""A features configuration small enough for tests (a few seconds per run)."""
from __future__ import annotations

from adl.features import pipeline as P
from adl.features.f1 import F1Config
from adl.features.f2 import F2Config
from adl.features.f3 import F3Config


def small_config(**over) -> P.FeaturesConfig:
    """ResNet-18 (random weights) at 48 px, 2 F2 scales with L = 5, K = 4, a
    16-unit LSTM trained for at most 4 epochs; ``over`` replaces fields."""
    base = dict(
        f1=F1Config(backbone="resnet18", weights="random", input_size=48, batch_size=32),
        f2=F2Config(max_scales=2, trajectory_length=5),
        f3=F3Config(hidden=16, max_epochs=4, patience=2, max_len=16),
        fisher=P.FisherConfig(n_components=4, n_samples=2000),
        seed=0)
    base.update(over)
    return P.FeaturesConfig(**base)
