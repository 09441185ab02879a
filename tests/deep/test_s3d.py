"""torchvision's S3D as the alternative backbone: the same 1024-channel map,
torchvision's state-dict layout, Kinetics-400 weights only from the hub cache."""
from __future__ import annotations

import re

import pytest
import torch
import torchvision
from torchvision.models.video import S3D_Weights

from adl.deep import WeightsError, WeightsNotFoundError, build_backbone, get_backbone_spec
from adl.deep.s3d import S3DFeatures, load_kinetics400, torchvision_file_name


@pytest.fixture
def no_download(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a download was attempted: {args}")
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


@pytest.fixture(scope="module")
def tv_state():
    torch.manual_seed(3)
    return torchvision.models.video.s3d().state_dict()


def test_layout_is_torchvisions(tv_state):
    own = S3DFeatures().state_dict()
    assert [(k, v.shape) for k, v in own.items()] == [(k, v.shape) for k, v in tv_state.items()]


def test_features_are_torchvisions_features_with_1024_channels(tv_state):
    model = S3DFeatures().eval()
    model.load_state_dict(tv_state)
    reference = torchvision.models.video.s3d().eval()
    reference.load_state_dict(tv_state)
    x = torch.rand(2, 3, 16, 64, 64)
    with torch.inference_mode():
        y = model(x)
        assert torch.equal(y, reference.features(x))
    assert y.shape == (2, 1024, 2, 2, 2)


def test_weights_entry_carries_torchvisions_preprocessing():
    entry = get_backbone_spec("s3d").default_weights
    transforms = S3D_Weights.KINETICS400_V1.transforms()
    assert entry.file_name == torchvision_file_name() == "s3d-d76dad2f.pth"
    assert entry.url == S3D_Weights.KINETICS400_V1.url
    assert entry.normalization.mean == tuple(transforms.mean)
    assert entry.normalization.std == tuple(transforms.std)
    assert [entry.clip_size] * 2 == list(transforms.crop_size)
    assert (entry.endpoint, entry.feature_dim) == ("features", 1024)


def test_kinetics_weights_load_through_torchvision_from_the_hub_cache(hub_dir, tv_state,
                                                                       no_download):
    torch.save(tv_state, hub_dir / "checkpoints" / "s3d-d76dad2f.pth")
    model, resolved = build_backbone("s3d")
    assert resolved.kind == "standard" and resolved.entry.name == "kinetics400_v1"
    assert all(torch.equal(model.state_dict()[k], v) for k, v in tv_state.items())


def test_missing_kinetics_weights_name_the_file_and_never_download(hub_dir, no_download):
    expected = hub_dir / "checkpoints" / "s3d-d76dad2f.pth"
    where = re.escape(str(expected))
    with pytest.raises(WeightsNotFoundError, match=rf"s3d weights 'kinetics400_v1' not found: put "
                                                   rf"s3d-d76dad2f\.pth .* at {where}, or pass "
                                                   rf"--weights PATH .*--weights random"):
        build_backbone("s3d", "kinetics400_v1")
    assert not expected.exists()


def test_load_kinetics400_refuses_a_path_it_would_have_to_download(hub_dir, no_download):
    model = S3DFeatures()
    with pytest.raises(WeightsNotFoundError, match=r"S3D Kinetics-400 weights expected at .*"
                                                   r"s3d-d76dad2f\.pth .*not found"):
        load_kinetics400(model, hub_dir / "checkpoints" / "s3d-d76dad2f.pth", layout="S3D")
    other = hub_dir / "checkpoints" / "other.pth"
    other.write_bytes(b"")
    with pytest.raises(WeightsNotFoundError, match=r"expected at .*other\.pth \(file "
                                                   r"s3d-d76dad2f\.pth\)"):
        load_kinetics400(model, other, layout="S3D")


def test_corrupt_file_in_the_hub_cache_is_refused(hub_dir, no_download):
    (hub_dir / "checkpoints" / "s3d-d76dad2f.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=r"s3d-d76dad2f\.pth: expected a state dict of "
                                           r"torchvision S3D .*unreadable, truncated or foreign"):
        build_backbone("s3d")


def test_an_i3d_file_is_not_an_s3d_file(tmp_path, i3d_state):
    path = tmp_path / "rgb_imagenet.pt"
    torch.save(i3d_state, path)
    with pytest.raises(WeightsError, match=r"rgb_imagenet\.pt: not a state dict of torchvision S3D"
                                           r".*: first missing key 'features\.0\.0\.0\.weight'"):
        build_backbone("s3d", path)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r"expected RGB clips of shape \(N, 3, T, H, W\), got "
                                         r"\(3, 8, 32, 32\)"):
        S3DFeatures()(torch.zeros(3, 8, 32, 32))


def test_a_torchvision_s3d_file_loads_from_a_path(tmp_path, tv_state):
    path = tmp_path / "my_s3d.pth"
    torch.save(tv_state, path)
    model, resolved = build_backbone("s3d", path)
    assert resolved.kind == "file"
    assert torch.equal(model.state_dict()["classifier.1.bias"], tv_state["classifier.1.bias"])
