"""Weights entries (their preprocessing and metadata), resolution of
``--weights`` values, and the identity of weights in cache keys."""
from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
import torch

from adl.deep import (BackboneWeights, ClipNormalization, WeightsNotFoundError,
                      get_backbone_spec)
from adl.deep.weights import describe_weights, file_digest, resolve_weights

I3D_ENTRIES = get_backbone_spec("i3d").weights


def test_minus_one_one_is_x_over_255_times_2_minus_1():
    clips = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 1, 1, 1, 3)
    x = ClipNormalization("minus_one_one")(clips)
    assert x.dtype == torch.float32 and x.shape == (1, 3, 1, 1, 1)
    assert x.flatten().tolist() == pytest.approx([-1.0, 51 / 255 * 2 - 1, 1.0])


def test_mean_std_normalises_per_channel_and_moves_channels_first():
    rng = np.random.default_rng(0)
    clips = rng.integers(0, 256, (2, 3, 4, 5, 3), dtype=np.uint8)
    norm = ClipNormalization("mean_std", (0.4, 0.5, 0.6), (0.2, 0.25, 0.5))
    x = norm(torch.from_numpy(clips))
    assert x.shape == (2, 3, 3, 4, 5)
    expected = (clips / 255.0 - np.array([0.4, 0.5, 0.6])) / np.array([0.2, 0.25, 0.5])
    np.testing.assert_allclose(x.numpy(), expected.transpose(0, 4, 1, 2, 3), rtol=1e-5, atol=1e-6)


def test_normalization_refusals():
    with pytest.raises(ValueError, match=r"unknown normalisation 'imagenet'; expected one of "
                                         r"minus_one_one, mean_std"):
        ClipNormalization("imagenet")
    with pytest.raises(ValueError, match=r"expected positive std, got \(1\.0, 0\.0, 1\.0\)"):
        ClipNormalization("mean_std", (0.5,) * 3, (1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match=r"expected uint8 RGB clips of shape \(N, T, H, W, 3\), "
                                         r"got torch\.float32 \(1, 2, 4, 4, 3\)"):
        ClipNormalization("minus_one_one")(torch.zeros(1, 2, 4, 4, 3))


def test_metadata_is_json_and_says_what_changes_the_features():
    i3d = get_backbone_spec("i3d").default_weights.meta()
    s3d = get_backbone_spec("s3d").default_weights.meta()
    assert json.loads(json.dumps(i3d)) == i3d
    assert i3d == {"backbone": "i3d", "clip_frames": 64, "clip_size": 224,
                   "normalization": "minus_one_one", "endpoint": "Mixed_5c",
                   "feature_dim": 1024, "stride": [8, 32, 32]}
    assert s3d["normalization"] == "mean_std" and s3d["mean"] == [0.43216, 0.394666, 0.37645]
    assert s3d["endpoint"] == "features" and s3d["feature_dim"] == 1024


def test_default_weights_missing_name_the_file_to_provide(hub_dir):
    where = re.escape(str(hub_dir / "checkpoints" / "rgb_imagenet.pt"))
    with pytest.raises(WeightsNotFoundError, match=rf"i3d weights 'rgb_imagenet' not found: put "
                                                   rf"rgb_imagenet\.pt \(the PyTorch I3D "
                                                   rf"port's .*\) at {where}"):
        resolve_weights(I3D_ENTRIES, None)


def test_random_path_and_standard_name_resolve(hub_dir, tmp_path):
    assert resolve_weights(I3D_ENTRIES, "random").kind == "random"
    assert resolve_weights(I3D_ENTRIES, "random").entry is I3D_ENTRIES[0]
    path = tmp_path / "mine.pt"
    path.write_bytes(b"x")
    resolved = resolve_weights(I3D_ENTRIES, str(path))
    assert (resolved.kind, resolved.path, resolved.entry) == ("file", path, I3D_ENTRIES[0])
    (hub_dir / "checkpoints" / "rgb_imagenet.pt").write_bytes(b"x")
    resolved = resolve_weights(I3D_ENTRIES, "RGB_IMAGENET")
    assert resolved.kind == "standard"
    assert resolved.path == hub_dir / "checkpoints" / "rgb_imagenet.pt"


def test_resolution_refusals(tmp_path):
    with pytest.raises(WeightsNotFoundError, match=r"weights file .*nope\.pt not found: expected a "
                                                   r"state dict of i3d .*a standard name "
                                                   r"\(rgb_imagenet\) or 'random'"):
        resolve_weights(I3D_ENTRIES, tmp_path / "nope.pt")
    with pytest.raises(TypeError, match=r"expected weights as a standard name, 'random' or a "
                                        r"path, got int"):
        resolve_weights(I3D_ENTRIES, 3)
    with pytest.raises(ValueError, match=r"expected at least one standard weights entry, got none"):
        resolve_weights((), None)


def test_weights_identity_follows_content_not_path(hub_dir, tmp_path):
    a = tmp_path / "a.pt"
    a.write_bytes(b"weights one")
    b = tmp_path / "moved" / "b.pt"
    b.parent.mkdir()
    shutil.copy(a, b)
    c = tmp_path / "c.pt"
    c.write_bytes(b"weights two")
    ids = [describe_weights(resolve_weights(I3D_ENTRIES, str(p))) for p in (a, b, c)]
    assert ids[0] == ids[1] == f"file:{file_digest(a)}" and ids[2] != ids[0]
    assert len(ids[0]) == len("file:") + 16
    assert describe_weights(resolve_weights(I3D_ENTRIES, "random")) == "random"
    (hub_dir / "checkpoints" / "rgb_imagenet.pt").write_bytes(b"x")
    assert describe_weights(resolve_weights(I3D_ENTRIES, None)) == "rgb_imagenet:rgb_imagenet.pt"


def test_entries_are_frozen_and_compare_by_metadata():
    entry = I3D_ENTRIES[0]
    with pytest.raises(AttributeError, match="cannot assign to field 'clip_size'"):
        entry.clip_size = 112
    assert isinstance(entry, BackboneWeights)
    assert entry.hub_path().name == "rgb_imagenet.pt"
