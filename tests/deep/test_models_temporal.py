"""The Temporal Model (thesis 5.2, Eq. 5.1-5.7): shapes, attention weights,
the ablations of Table 5.1, Eq. 5.4/5.5 counts, learning, determinism."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from adl.deep.models import build_model, get_model_spec
from adl.deep.models.temporal import (TemporalConfig, TemporalModel, eq54_count,
                                      eq55_parameter_count, recurrent_parameter_count)

SMALL = dict(n_classes=4, feature_dim=12, persons=2, n_joints=3, segment_units=10,
             pose_units=6, segment_steps=3)


def make_model(seed=0, **kw):
    torch.manual_seed(seed)
    return TemporalModel(TemporalConfig(**{**SMALL, **kw}))


def make_batch(model, b=3, seed=1):
    c = model.config
    g = torch.Generator().manual_seed(seed)
    batch = {}
    for G in c.granularities:
        batch[f"segments_G{G}"] = torch.randn(b, G, c.feature_dim, generator=g)
        batch[f"segment_poses_G{G}"] = torch.randn(b, G, c.segment_steps, c.persons,
                                                   c.n_joints, 3, generator=g)
    return batch


def hand_forward(m, batch):
    """Eq. 5.1-5.7 written out from the module's parts (eval mode)."""
    c = m.config
    vs, ys = [], []
    for G in c.granularities:
        k = str(G)
        seg = batch[f"segments_G{G}"]
        u, _ = m.segment_rnn[k](seg)                                     # Eq. 5.1
        poses = batch[f"segment_poses_G{G}"]
        b = seg.shape[0]
        lasts = []
        for j in range(G):
            out, _ = m.pose_rnns[k][j](poses[:, j].reshape(b, c.segment_steps, -1))
            lasts.append(out[:, -1])
        h, _ = m.combine_rnn[k](torch.stack(lasts, 1))
        if c.ts_attention:
            s = m.segment_score[k](h)[..., 0]
            alpha = torch.exp(s) / torch.exp(s).sum(1, keepdim=True)     # Eq. 5.2
        else:
            alpha = torch.full((b, G), 1.0 / G)
        v = sum(alpha[:, j:j + 1] * u[:, j] for j in range(G))           # Eq. 5.3
        vs.append(v)
        ys.append(h[:, -1])
    if c.tg_attention:
        z = m.granularity_fc(torch.cat(ys, 1))
        beta = torch.exp(z) / torch.exp(z).sum(1, keepdim=True)         # Eq. 5.6
    else:
        beta = torch.ones(len(vs[0]), len(vs))
    if c.classifier == "shared":
        return m.classifier(sum(beta[:, i:i + 1] * v for i, v in enumerate(vs)))  # Eq. 5.7
    return sum(beta[:, i:i + 1] * m.classifier[i](v) for i, v in enumerate(vs))


@pytest.mark.parametrize("gs", [(2, 3, 4), (2, 5, 7)])
def test_shapes_and_attention_sums_to_one(gs):
    m = make_model(granularities=gs, equal_attention_init=False)
    out = m(make_batch(m, b=3))
    assert out.logits.shape == (3, 4)
    assert set(out.attention) == {f"segments_G{g}" for g in gs} | {"granularity"}
    for g in gs:
        a = out.attention[f"segments_G{g}"]
        assert a.shape == (3, g)
        assert torch.allclose(a.sum(1), torch.ones(3), atol=1e-6)
        assert (a > 0).all()
        # trained-like (random) scores are not uniform
        assert not torch.allclose(a, torch.full_like(a, 1.0 / g))
    beta = out.attention["granularity"]
    assert beta.shape == (3, len(gs))
    assert torch.allclose(beta.sum(1), torch.ones(3), atol=1e-6)
    assert out.penalties == {}


def test_required_inputs_and_registry():
    m = build_model("temporal", **SMALL, granularities=(2, 5))
    assert m.required_inputs() == ("segments_G2", "segments_G5",
                                   "segment_poses_G2", "segment_poses_G5")
    spec = get_model_spec("temporal")
    assert spec.sample == "video" and spec.config_cls is TemporalConfig


def test_equal_attention_init_gives_equal_weights():
    m = make_model()
    out = m(make_batch(m))
    for g in (2, 3, 4):
        assert torch.allclose(out.attention[f"segments_G{g}"], torch.full((3, g), 1.0 / g))
    assert torch.allclose(out.attention["granularity"], torch.full((3, 3), 1.0 / 3))


@pytest.mark.parametrize("ts,tg,clf", [(True, True, "shared"), (False, True, "shared"),
                                       (True, False, "shared"), (False, False, "shared"),
                                       (True, True, "per_granularity"),
                                       (True, False, "per_granularity")])
def test_forward_equals_hand_computation(ts, tg, clf):
    m = make_model(ts_attention=ts, tg_attention=tg, classifier=clf,
                   equal_attention_init=False).eval()
    batch = make_batch(m)
    with torch.no_grad():
        out = m(batch)
        want = hand_forward(m, batch)
    assert torch.allclose(out.logits, want, atol=1e-5)


def test_without_ts_attention_segment_weights_are_exactly_uniform():
    m = make_model(ts_attention=False, equal_attention_init=False)
    out = m(make_batch(m))
    for g in (2, 3, 4):
        assert torch.equal(out.attention[f"segments_G{g}"], torch.full((3, g), 1.0 / g))


def test_without_tg_attention_output_is_the_plain_sum():
    m = make_model(tg_attention=False, ts_attention=False, equal_attention_init=False).eval()
    batch = make_batch(m)
    with torch.no_grad():
        out = m(batch)
        total = 0
        for G in (2, 3, 4):
            u, _ = m.segment_rnn[str(G)](batch[f"segments_G{G}"])
            total = total + u.mean(1)                    # uniform alpha, then summed over G
        want = total @ m.classifier.weight.T + m.classifier.bias
    assert torch.equal(out.attention["granularity"], torch.ones(3, 3))
    assert torch.allclose(out.logits, want, atol=1e-5)


@pytest.mark.parametrize("gs,eta", [((2, 3, 4), 3 + 4 + 5), ((2, 5, 7), 3 + 6 + 8), ((3,), 4)])
def test_n_recurrent_matches_eq_5_4(gs, eta):
    m = make_model(granularities=gs)
    assert m.n_recurrent() == eta == eq54_count(gs)
    grus = [mod for mod in m.modules() if isinstance(mod, nn.GRU)]
    assert m.n_recurrent(include_segment_rnns=True) == len(grus) == eta + len(gs)


def test_eq54_first_line_for_gmax_4():
    # eta = 3 + 4 + ... + (Gmax + 1); the thesis's closed form Gmax(Gmax+1)/2 - 2 gives 8.
    assert eq54_count(range(2, 5)) == 12 == (4 + 1) * (4 + 2) // 2 - 3


def test_eq55_is_an_lstm_layer_with_one_bias_and_n_hidden():
    n, m = 7, 5
    lstm = nn.LSTM(input_size=m, hidden_size=n)
    total = sum(p.numel() for p in lstm.parameters())
    assert total - lstm.bias_hh_l0.numel() == eq55_parameter_count(n, m) == 4 * (35 + 49 + 7)
    assert recurrent_parameter_count(m, n, "lstm") == total


def test_recurrent_parameter_count_matches_the_model():
    m = make_model(granularities=(2, 3))
    c = m.config
    pose_dim = c.persons * c.n_joints * 3
    for mod in m.modules():
        if isinstance(mod, nn.GRU):
            assert sum(p.numel() for p in mod.parameters()) == recurrent_parameter_count(
                mod.input_size, mod.hidden_size, "gru")
    pose_params = sum(p.numel() for k in ("2", "3") for r in m.pose_rnns[k] for p in r.parameters())
    assert pose_params == 5 * recurrent_parameter_count(pose_dim, c.pose_units)
    # NTU (M=2, J=25): the pose GRU input is the thesis's n = 150.
    assert TemporalModel(TemporalConfig(n_classes=3, persons=2, n_joints=25,
                                        granularities=(2,))).pose_rnns["2"][0].input_size == 150


def test_recurrent_parameter_count_refuses_unknown_cell():
    with pytest.raises(ValueError, match="expected cell 'gru' or 'lstm', got 'rnn'"):
        recurrent_parameter_count(3, 4, "rnn")


def test_adam_learns_which_segment_holds_the_signal():
    torch.manual_seed(0)
    cfg = dict(n_classes=3, feature_dim=8, persons=1, n_joints=2, segment_units=16,
               pose_units=8, segment_steps=2, granularities=(3,), dropout=0.0)
    m = TemporalModel(TemporalConfig(**cfg))
    b = 48
    y = torch.arange(b) % 3
    seg = 0.1 * torch.randn(b, 3, 8)
    seg[torch.arange(b), y] += 1.0
    poses = 0.1 * torch.randn(b, 3, 2, 1, 2, 3)
    poses[torch.arange(b), y] += 1.0
    batch = {"segments_G3": seg, "segment_poses_G3": poses}
    opt = torch.optim.Adam(m.parameters(), lr=5e-3)
    losses = []
    for _ in range(40):
        loss, parts = m.loss(m(batch), y)
        assert set(parts) == {"ce"}
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert (m(batch).logits.argmax(1) == y).float().mean() > 0.9


def test_same_seed_same_output():
    a, b = make_model(seed=3), make_model(seed=3)
    batch = make_batch(a)
    torch.manual_seed(5)
    ta = a(batch).logits          # train mode: dropout draws from the seeded generator
    torch.manual_seed(5)
    assert torch.equal(ta, b(batch).logits)
    a.eval(), b.eval()
    assert torch.equal(a(batch).logits, b(batch).logits)
    c = make_model(seed=4, equal_attention_init=False).eval()
    assert not torch.equal(a(batch).logits, c(batch).logits)


def test_config_round_trip():
    cfg = TemporalConfig(n_classes=5, granularities=(2, 5, 7), segment_steps=4,
                         tg_attention=False, classifier="per_granularity")
    d = json.loads(json.dumps(cfg.to_dict()))
    assert d["granularities"] == [2, 5, 7]
    back = TemporalConfig.from_dict(d)
    assert back == cfg and back.granularities == (2, 5, 7)


def test_missing_granularity_key_is_named():
    m = make_model(granularities=(2, 3))
    batch = make_batch(m)
    del batch["segment_poses_G3"]
    with pytest.raises(ValueError, match="batch has no 'segment_poses_G3'"):
        m(batch)
    batch = make_batch(m)
    del batch["segments_G2"]
    with pytest.raises(ValueError, match="batch has no 'segments_G2'"):
        m(batch)


def test_wrong_shapes_are_refused():
    m = make_model(granularities=(2,))
    batch = make_batch(m)
    batch["segments_G2"] = torch.randn(3, 3, 12)
    with pytest.raises(ValueError, match=r"expected segments_G2 of shape \(B, 2, 12\), got "
                                         r"\(3, 3, 12\)"):
        m(batch)
    batch = make_batch(m)
    batch["segment_poses_G2"] = torch.randn(3, 2, 5, 2, 3, 3)
    with pytest.raises(ValueError, match=r"expected segment_poses_G2 of shape "
                                         r"\(B, 2, 3, 2, 3, 3\), got \(3, 2, 5, 2, 3, 3\)"):
        m(batch)


@pytest.mark.parametrize("kw,match", [
    (dict(granularities=()), "granularities: expected a non-empty tuple"),
    (dict(granularities=(1, 2)), r"integers >= 2 .*got \(1, 2\)"),
    (dict(granularities=(2, 2)), r"distinct .*got \(2, 2\)"),
    (dict(pose_units=0), "pose_units: expected a positive integer, got 0"),
    (dict(segment_steps=2.5), "segment_steps: expected a positive integer, got 2.5"),
    (dict(classifier="late"), "classifier: expected one of shared, per_granularity, got 'late'"),
    (dict(init_std=-1.0), "init_std: expected a number >= 0, got -1.0"),
])
def test_bad_config_is_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        TemporalModel(TemporalConfig(**{**SMALL, **kw}))


def test_init_std_zero_keeps_pytorch_defaults():
    m = make_model(init_std=0.0, equal_attention_init=False)
    # PyTorch's default GRU biases are not zero; the Gaussian init zeroes them.
    assert m.segment_rnn["2"].bias_ih_l0.abs().sum() > 0
    g = make_model(init_std=0.05)
    assert g.segment_rnn["2"].bias_ih_l0.abs().sum() == 0
    assert abs(float(g.segment_rnn["2"].weight_ih_l0.detach().std()) - 0.05) < 0.01


def test_dropout_is_a_train_time_only_difference():
    m = make_model(dropout=0.5, equal_attention_init=False)
    batch = make_batch(m)
    m.eval()
    with torch.no_grad():
        e1, e2 = m(batch).logits, m(batch).logits
    assert torch.equal(e1, e2)
    m.train()
    torch.manual_seed(0)
    t = m(batch).logits
    assert not torch.allclose(t, e1)
    assert F.softmax(t, 1).shape == (3, 4)
