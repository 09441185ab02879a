"""I3D: the checkpoint layout of the PyTorch port (names, shapes, order),
strict loading and its refusals, "SAME" padding, endpoints and output shapes."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from adl.deep import WeightsError, build_backbone
from adl.deep.i3d import (ENDPOINTS, I3D, INCEPTION_CHANNELS, MaxPool3dSame, output_size,
                          same_padding)


@pytest.fixture(scope="module")
def i3d():
    torch.manual_seed(0)
    return I3D().eval()


def test_state_dict_is_the_checkpoint_layout_in_order(i3d, i3d_keys):
    got = [(k, tuple(v.shape)) for k, v in i3d.state_dict().items()]
    assert len(got) == 344
    assert got == i3d_keys


def test_batchnorm_is_tensorflow_like_and_convs_have_no_bias(i3d):
    bns = [m for m in i3d.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    assert len(bns) == 57
    assert all(m.eps == 1e-3 and m.momentum == 0.01 for m in bns)
    convs = {n: m for n, m in i3d.named_modules() if isinstance(m, torch.nn.Conv3d)}
    assert [n for n, m in convs.items() if m.bias is not None] == ["logits.conv3d"]
    assert all(m.padding == (0, 0, 0) for m in convs.values())


def test_checkpoint_with_exactly_the_listed_keys_loads(tmp_path, i3d_state):
    path = tmp_path / "rgb_imagenet.pt"
    torch.save(i3d_state, path)
    model, resolved = build_backbone("i3d", path)
    assert resolved.kind == "file" and resolved.path == path
    loaded = model.state_dict()
    assert loaded.keys() == i3d_state.keys()
    assert all(torch.equal(loaded[k], v) for k, v in i3d_state.items())


def test_standard_name_reads_the_file_from_the_hub_cache(hub_dir, i3d_state):
    torch.save(i3d_state, hub_dir / "checkpoints" / "rgb_imagenet.pt")
    model, resolved = build_backbone("i3d", "RGB_ImageNet")
    assert resolved.kind == "standard"
    assert torch.equal(model.state_dict()["Mixed_5c.b3b.bn.running_var"],
                       i3d_state["Mixed_5c.b3b.bn.running_var"])


def test_wrapped_and_dataparallel_checkpoints_load(tmp_path, i3d_state):
    path = tmp_path / "wrapped.pt"
    torch.save({"state_dict": {"module." + k: v for k, v in i3d_state.items()}}, path)
    model, _ = build_backbone("i3d", path)
    assert torch.equal(model.state_dict()["logits.conv3d.bias"], i3d_state["logits.conv3d.bias"])


def test_truncated_state_dict_names_the_first_missing_key(tmp_path, i3d_state):
    keys = list(i3d_state)
    state = {k: i3d_state[k] for k in keys[:200]}
    path = tmp_path / "truncated.pt"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=rf"truncated\.pt: not a state dict of I3D .*first "
                                           rf"missing key '{keys[200]}' .*144 missing, 0 with "
                                           rf"another shape, 0 unexpected; .* 344 keys"):
        build_backbone("i3d", path)


def test_truncated_file_is_refused_naming_the_file(tmp_path, i3d_state):
    whole = tmp_path / "whole.pt"
    torch.save(i3d_state, whole)
    path = tmp_path / "cut.pt"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(WeightsError, match=r"cut\.pt: expected a state dict of I3D .* readable "
                                           r"with torch\.load\(weights_only=True\), found an "
                                           r"unreadable, truncated or foreign file"):
        build_backbone("i3d", path)


def test_foreign_key_is_named(tmp_path, i3d_state):
    state = dict(i3d_state, **{"fc.weight": torch.zeros(400, 1024)})
    path = tmp_path / "foreign.pt"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"first unexpected key 'fc\.weight' \(0 missing, 0 with "
                                           r"another shape, 1 unexpected"):
        build_backbone("i3d", path)


def test_wrong_shape_is_named_with_both_shapes(tmp_path, i3d_state):
    state = dict(i3d_state)
    state["Mixed_4c.b1b.conv3d.weight"] = torch.zeros(224, 112, 1, 3, 3)
    path = tmp_path / "shape.pt"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"first mismatched key 'Mixed_4c\.b1b\.conv3d\.weight': "
                                           r"shape \(224, 112, 1, 3, 3\) in the file, "
                                           r"\(224, 112, 3, 3, 3\) expected"):
        build_backbone("i3d", path)


def test_charades_head_is_a_shape_mismatch_of_the_logits(tmp_path, i3d_state):
    state = dict(i3d_state, **{"logits.conv3d.weight": torch.zeros(157, 1024, 1, 1, 1),
                               "logits.conv3d.bias": torch.zeros(157)})
    path = tmp_path / "rgb_charades.pt"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"first mismatched key 'logits\.conv3d\.weight'"):
        build_backbone("i3d", path)


def test_a_saved_model_object_is_refused(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(2, 2), path)
    with pytest.raises(WeightsError, match=r"model\.pt: expected a state dict of I3D "
                                           r".*unreadable, truncated or foreign file"):
        build_backbone("i3d", path)


def test_something_else_than_a_mapping_is_refused(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(3)], path)
    with pytest.raises(WeightsError, match=r"list\.pt: expected a state dict of I3D .* found list"):
        build_backbone("i3d", path)


def test_a_non_tensor_entry_is_refused(tmp_path, i3d_state):
    path = tmp_path / "epoch.pt"
    torch.save(dict(i3d_state, epoch=3), path)
    with pytest.raises(WeightsError, match=r"found int at key 'epoch'"):
        build_backbone("i3d", path)


# -- padding ---------------------------------------------------------------------
def _tf_same_total(d, k, s):
    """TensorFlow's own definition: the padding that gives ceil(d / s) outputs."""
    return max((math.ceil(d / s) - 1) * s + k - d, 0)


@settings(max_examples=200, deadline=None)
@given(d=st.integers(1, 300), k=st.integers(1, 7), s=st.integers(1, 3))
def test_same_padding_matches_tensorflow(d, k, s):
    wf, wb, hf, hb, tf, tb = same_padding((d, d, d), (k, k, k), (s, s, s))
    assert tf + tb == _tf_same_total(d, k, s)
    assert (tf, tb) == (hf, hb) == (wf, wb)
    assert tb - tf in (0, 1)         # the odd pixel goes to the back


def test_same_padding_examples():
    # 7x7x7 stride 2 on 64 x 224 x 225: 5 = 2 + 3 on even sizes, 6 = 3 + 3 on odd
    assert same_padding((64, 224, 225), (7, 7, 7), (2, 2, 2)) == (3, 3, 2, 3, 2, 3)
    assert same_padding((8, 7, 7), (2, 2, 2), (2, 2, 2)) == (0, 1, 0, 1, 0, 0)


def test_max_pools_pad_with_zeros_as_the_port_does():
    x = -torch.ones(1, 1, 4, 4, 4)
    y = MaxPool3dSame(3, 1)(x)
    assert y.shape == x.shape
    assert y[0, 0, 0, 0, 0] == 0 and y[0, 0, 1, 1, 1] == -1


# -- forward -----------------------------------------------------------------------
@pytest.mark.parametrize("size", [(16, 64, 64), (9, 50, 70)])
def test_mixed_5c_is_1024_by_size_over_8_32_32(i3d, size):
    with torch.inference_mode():
        y = i3d(torch.rand(2, 3, *size) * 2 - 1)
    assert tuple(y.shape) == (2, 1024) + output_size(size)
    assert output_size((64, 224, 224)) == (8, 7, 7)


def test_endpoints_have_the_documented_channels(i3d):
    wanted = ("Conv3d_1a_7x7", "Mixed_3b", "Mixed_4f", "Mixed_5c")
    with torch.inference_mode():
        out = i3d.forward_endpoints(torch.zeros(1, 3, 8, 64, 64), wanted)
    assert list(out) == list(wanted)
    assert [v.shape[1] for v in out.values()] == [64, 256, 832, 1024]
    assert out["Mixed_4f"].shape[2:] == (2, 4, 4)
    assert sum(INCEPTION_CHANNELS["Mixed_4f"][1][i] for i in (0, 2, 4, 5)) == 832


def test_final_endpoint_stops_the_forward():
    model = I3D(final_endpoint="Mixed_4f").eval()
    with torch.inference_mode():
        assert model(torch.zeros(1, 3, 8, 64, 64)).shape == (1, 832, 2, 4, 4)


def test_classify_gives_class_scores():
    torch.manual_seed(0)
    model = I3D(num_classes=5).eval()
    with torch.inference_mode():
        scores = model.classify(torch.rand(1, 3, 9, 193, 193) * 2 - 1)
    assert scores.shape == (1, 5)


def test_classify_refuses_a_map_smaller_than_its_pool(i3d):
    with pytest.raises(ValueError, match=r"expected a Mixed_5c map of at least 2x7x7 .* got "
                                         r"\(2, 2, 2\) from input \(16, 64, 64\)"):
        i3d.classify(torch.zeros(1, 3, 16, 64, 64))


def test_bad_input_and_parameters_are_refused(i3d):
    with pytest.raises(ValueError, match=r"expected RGB clips of shape \(N, 3, T, H, W\), got "
                                         r"\(1, 1, 8, 32, 32\)"):
        i3d(torch.zeros(1, 1, 8, 32, 32))
    with pytest.raises(ValueError, match=r"expected I3D endpoints among .* got \['Mixed_6a'\]"):
        i3d.forward_endpoints(torch.zeros(1, 3, 8, 32, 32), ["Mixed_6a"])
    with pytest.raises(ValueError, match=r"unknown I3D endpoint 'pool5'"):
        I3D(final_endpoint="pool5")
    with pytest.raises(ValueError, match=r"expected num_classes to be a positive integer, got 0"):
        I3D(num_classes=0)
    assert ENDPOINTS[-1] == "Mixed_5c"


def test_inference_folds_batch_norm_into_the_convolution():
    import torch
    from adl.deep.i3d import Unit3D
    torch.manual_seed(0)
    unit = Unit3D(4, 6, 3, 1).eval()
    bn = unit.bn
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    bn.weight.data.uniform_(0.5, 2)
    bn.bias.data.uniform_(-1, 1)
    x = torch.randn(2, 4, 5, 7, 7)
    reference = unit(x).detach()                       # grad mode: conv, then batch norm
    with torch.no_grad():
        folded = unit(x)
    torch.testing.assert_close(folded, reference, rtol=1e-5, atol=1e-6)
    assert unit._folded_cache is not None
    bn.running_mean.add_(0.5)                          # new statistics: folded again
    with torch.no_grad():
        again = unit(x)
    torch.testing.assert_close(again, unit(x).detach(), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(again, folded)
    unit.train()                                       # training never folds
    out = unit(x)
    assert out.requires_grad


def test_inference_runs_an_inception_block_s_1x1_units_as_one_convolution():
    import torch
    from adl.deep.i3d import InceptionBlock
    torch.manual_seed(0)
    block = InceptionBlock(8, (4, 3, 5, 2, 6, 3)).eval()
    for unit in (block.b0, block.b1a, block.b2a, block.b1b, block.b2b, block.b3b):
        unit.bn.running_mean.uniform_(-1, 1)
        unit.bn.running_var.uniform_(0.5, 2)
    x = torch.randn(2, 8, 3, 5, 5)
    reference = block(x).detach()                      # grad mode: unit by unit
    with torch.no_grad():
        fused = block(x)
    assert fused.shape == reference.shape == (2, 4 + 5 + 6 + 3, 3, 5, 5)
    torch.testing.assert_close(fused, reference, rtol=1e-5, atol=1e-6)
    assert block._stem_cache[1].shape[0] == 4 + 3 + 2  # b0, b1a, b2a stacked


def test_the_fused_inception_stem_follows_new_batch_norm_statistics():
    import torch
    from adl.deep.i3d import InceptionBlock
    torch.manual_seed(0)
    block = InceptionBlock(8, (4, 3, 5, 2, 6, 3)).eval()
    x = torch.randn(1, 8, 3, 5, 5)
    with torch.no_grad():
        before = block(x)
        block.b0.bn.running_mean.add_(1.0)
        after = block(x)
    torch.testing.assert_close(after, block(x).detach(), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(after[:, :4], before[:, :4])
