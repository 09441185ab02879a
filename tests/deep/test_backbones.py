"""The backbone registry, building with seeded random weights, and
VideoBackbone's batched clip -> feature-map runs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from adl.deep import (BackboneSpec, BackboneWeights, ClipNormalization, VideoBackbone,
                      build_backbone, get_backbone_spec, list_backbones, register_backbone)
from adl.deep.backbones import he_init_


def _entry(backbone="toy"):
    return BackboneWeights(backbone=backbone, name="std", file_name="toy.pt", description="toy",
                           normalization=ClipNormalization("minus_one_one"))


def test_registry_lists_both_backbones_with_1024_channel_maps():
    assert list_backbones() == ("i3d", "s3d")
    for name in list_backbones():
        spec = get_backbone_spec(name)
        assert spec.default_weights.feature_dim == 1024
        assert spec.default_weights.stride == (8, 32, 32)
        assert (spec.default_weights.clip_frames, spec.default_weights.clip_size) == (64, 224)


def test_registry_refusals():
    with pytest.raises(ValueError, match=r"unknown backbone 'c3d'; expected one of i3d, s3d"):
        get_backbone_spec("c3d")
    spec = get_backbone_spec("i3d")
    with pytest.raises(ValueError, match=r"a backbone named 'i3d' is already registered"):
        register_backbone(spec)
    with pytest.raises(ValueError, match=r"backbone 'toy': expected at least one standard weights "
                                         r"entry, got none"):
        BackboneSpec("toy", "toy", (), build=None, load_standard=None)
    with pytest.raises(ValueError, match=r"backbone 'toy': weights \['std'\] belong to another"):
        BackboneSpec("toy", "toy", (_entry("i3d"),), build=None, load_standard=None)


@pytest.mark.parametrize("name", ["i3d", "s3d"])
def test_random_weights_are_seeded_and_leave_the_global_rng_alone(name):
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a, resolved = build_backbone(name, "random", seed=1)
    assert torch.equal(torch.rand(1), expected_next)
    b, _ = build_backbone(name, "random", seed=1)
    c, _ = build_backbone(name, "random", seed=2)
    assert resolved.kind == "random" and not a.training
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


@pytest.mark.parametrize("name", ["i3d", "s3d"])
def test_random_maps_keep_unit_scale(name):
    model, _ = build_backbone(name, "random")
    with torch.inference_mode():
        y = model(torch.rand(1, 3, 16, 64, 64) * 2 - 1)
    # PyTorch's default init would leave ~1e-6 here (float16 underflows)
    assert 0.1 < y.std().item() < 10


def test_he_init_draws_with_relu_gain():
    torch.manual_seed(0)
    conv = torch.nn.Sequential(torch.nn.Conv3d(64, 256, 3))
    he_init_(conv)
    fan_in = 64 * 27
    assert conv[0].weight.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.02)


@pytest.fixture(scope="module")
def clips():
    return np.random.default_rng(0).integers(0, 256, (3, 16, 64, 64, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", ["i3d", "s3d"])
def test_forward_clips_is_the_normalised_forward_in_batches(name, clips):
    runner = VideoBackbone(name, "random", device="cpu", precision="float32", batch_size=2)
    maps = runner.forward_clips(clips)
    assert maps.shape == (3, 1024, 2, 2, 2) and maps.dtype == np.float32
    x = runner.weights_entry.normalization(torch.from_numpy(clips))
    with torch.inference_mode():
        direct = runner.model(x).numpy()
    np.testing.assert_allclose(maps, direct, rtol=1e-4, atol=1e-4)
    single = VideoBackbone(name, "random", device="cpu", precision="float32", batch_size=1)
    np.testing.assert_allclose(single.forward_clips(clips[1:2]), maps[1:2], rtol=1e-4, atol=1e-4)


def test_cache_meta_names_weights_precision_and_seed(tmp_path, clips):
    runner = VideoBackbone("i3d", "random", device="cpu", precision="float32", seed=5)
    meta = runner.cache_meta()
    assert meta["weights"] == "random" and meta["seed"] == 5 and meta["precision"] == "float32"
    assert meta["endpoint"] == "Mixed_5c" and runner.feature_dim == 1024
    path = tmp_path / "w.pt"
    torch.save(runner.model.state_dict(), path)
    from_file = VideoBackbone("i3d", path, device="cpu", precision="float32")
    assert from_file.cache_meta()["weights"].startswith("file:")
    assert "seed" not in from_file.cache_meta()
    np.testing.assert_array_equal(from_file.forward_clips(clips[:1]),
                                  runner.forward_clips(clips[:1]))


def test_forward_clips_refusals():
    runner = VideoBackbone("s3d", "random", device="cpu", precision="float32")
    with pytest.raises(ValueError, match=r"expected a non-empty uint8 RGB array of clips "
                                         r"\(N, T, H, W, 3\), got ndarray float32 "
                                         r"\(1, 8, 32, 32, 3\)"):
        runner.forward_clips(np.zeros((1, 8, 32, 32, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"got ndarray uint8 \(0, 8, 32, 32, 3\)"):
        runner.forward_clips(np.zeros((0, 8, 32, 32, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"expected batch_size to be an integer >= 1, got 0"):
        VideoBackbone("s3d", "random", device="cpu", batch_size=0)
