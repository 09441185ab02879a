"""Per-channel standardisation of the cached backbone features
(DeepModel.fit_input_normalization, TrainConfig.standardize)."""
from __future__ import annotations

import pytest
import torch

from adl.deep.models import build_model


def _i3d(**kw):
    torch.manual_seed(0)
    return build_model("i3d", n_classes=3, feature_dim=4, **kw).eval()


def test_identity_until_fitted():
    model = _i3d()
    x = torch.randn(5, 4) * 3 + 7
    torch.testing.assert_close(model({"gap": x}).logits, model.classifier(x))


def test_fitted_statistics_standardise_vectors_and_maps():
    model = _i3d()
    g = torch.Generator().manual_seed(1)
    gap = torch.randn(50, 4, generator=g) * torch.tensor([1.0, 2.0, 3.0, 0.0]) + 5.0
    maps = torch.randn(50, 4, 2, 3, 3, generator=g) * 4.0 - 1.0
    model.fit_input_normalization([{"gap": gap[:20], "maps": maps[:20]},
                                   {"gap": gap[20:], "maps": maps[20:]}])
    torch.testing.assert_close(model.input_mean, gap.double().mean(0).float())
    expected_std = gap.double().std(0, unbiased=False).float()
    expected_std[3] = 1.0                              # a constant channel is only centred
    torch.testing.assert_close(model.input_std, expected_std)
    rows = maps.movedim(1, -1).reshape(-1, 4).double()
    torch.testing.assert_close(model.map_mean, rows.mean(0).float())
    torch.testing.assert_close(model.map_std, rows.std(0, unbiased=False).float())
    z = (gap - model.input_mean) / model.input_std
    torch.testing.assert_close(model({"gap": gap}).logits, model.classifier(z))
    # the statistics travel with the state dict
    other = _i3d()
    other.load_state_dict(model.state_dict())
    torch.testing.assert_close(other({"gap": gap}).logits, model({"gap": gap}).logits)


def test_hook_standardises_maps_along_the_channel_axis():
    torch.manual_seed(0)
    model = build_model("vpn", n_classes=3, feature_dim=4, layout="kinect_v2_25", n_joints=25,
                        tp=3, map_size=(2, 2, 2), lstm_units=4).eval()
    seen = {}

    def spy(module, args):
        seen["maps"] = args[0]["maps"]

    model.register_forward_pre_hook(spy)
    maps = torch.rand(6, 4, 2, 2, 2) + torch.arange(4.0).view(1, 4, 1, 1, 1) * 10
    model.fit_input_normalization([{"maps": maps}])
    model({"maps": maps, "poses": torch.zeros(6, 3, 1, 25, 3)})
    per_channel = seen["maps"].movedim(1, -1).reshape(-1, 4)
    torch.testing.assert_close(per_channel.mean(0), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(per_channel.std(0, unbiased=False), torch.ones(4), atol=1e-4,
                               rtol=0)


def test_train_config_field_round_trips():
    from adl.deep.train import TrainConfig
    tc = TrainConfig(standardize=True)
    assert TrainConfig.from_dict(tc.to_dict()).standardize is True
    assert TrainConfig().standardize is False


def test_a_state_dict_without_the_statistics_loads_as_identity():
    model = _i3d()
    model.fit_input_normalization([{"gap": torch.randn(8, 4) + 3}])
    old = {k: v for k, v in _i3d().state_dict().items()
           if k not in ("input_mean", "input_std", "map_mean", "map_std", "input_norm_fitted")}
    model.load_state_dict(old)
    assert not bool(model.input_norm_fitted)
    x = torch.randn(2, 4)
    torch.testing.assert_close(model({"gap": x}).logits, model.classifier(x))
