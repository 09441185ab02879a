"""The attention models of thesis ch. 4 (adl.deep.models.attention): i3d,
p-i3d, sep-sta and its Table 4.4 variants, vpn.  Tiny tensors: D=16, t=2,
h=w=3, tp=4, J=25 (kinect_v2_25), M=1 and 2, 5 classes."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch.nn import functional as F  # noqa: E402

from adl.deep.losses import EMBEDDING_LOSSES  # noqa: E402
from adl.deep.models import build_model, get_model_spec, list_models  # noqa: E402
from adl.deep.models.attention import (STA_VARIANTS, PI3DConfig, SepSTAConfig,  # noqa: E402
                                       SeparableSTA, VPN, VPNConfig)

D, T, H, W, TP, J, C, B = 16, 2, 3, 3, 4, 25, 5, 3
ATTENTION_MODELS = ("i3d", "p-i3d", "sep-sta", "sa", "ta", "sa-ta", "ta-sa", "joint-sta", "vpn")
STA_NAMES = ("sep-sta", "sa", "ta", "sa-ta", "ta-sa", "joint-sta")


def small(name, persons=1, **over):
    """Config keywords of a tiny ``name`` model."""
    kw = dict(n_classes=C, feature_dim=D)
    if name != "i3d":
        kw.update(tp=TP, persons=persons, n_joints=J, layout="kinect_v2_25", lstm_units=8,
                  lstm_layers=2, gcn_proj=4, gcn_channels=(4, 4, 8), attention_hidden=6)
    if name not in ("i3d", "p-i3d"):
        kw["map_size"] = (T, H, W)
    if name == "vpn":
        kw["embed_dim"] = 5
    kw.update(over)
    return kw


def make(name, persons=1, seed=0, **over):
    torch.manual_seed(seed)
    return build_model(name, **small(name, persons, **over))


def toy_batch(persons=1, seed=1, n=B):
    g = torch.Generator().manual_seed(seed)
    return {"gap": torch.randn(n, D, generator=g),
            "maps": torch.randn(n, D, T, H, W, generator=g),
            "parts": torch.randn(n, 3, D, generator=g),
            "poses": torch.randn(n, TP, persons, J, 3, generator=g)}


TARGET = torch.tensor([0, 3, 1])


def test_every_attention_model_is_registered():
    names = set(list_models())
    assert set(ATTENTION_MODELS) <= names
    for name in ATTENTION_MODELS:
        assert get_model_spec(name).sample == "clip"


@pytest.mark.parametrize("persons", [1, 2])
@pytest.mark.parametrize("name", ATTENTION_MODELS)
def test_forward_shapes(name, persons):
    model = make(name, persons, equal_init=False) if name != "i3d" else make(name)
    batch = toy_batch(persons)
    out = model({k: batch[k] for k in model.required_inputs()})
    assert out.logits.shape == (B, C)
    expected = {"i3d": {},
                "p-i3d": {"parts": (B, 3)},
                "sep-sta": {"spatial": (B, H * W), "temporal": (B, T)},
                "sa": {"spatial": (B, H * W)},
                "ta": {"temporal": (B, T)},
                "sa-ta": {"spatial": (B, H * W), "temporal": (B, T)},
                "ta-sa": {"spatial": (B, H * W), "temporal": (B, T)},
                "joint-sta": {"spatiotemporal": (B, T, H * W)},
                "vpn": {"spatial": (B, H * W), "temporal": (B, T),
                        "spatiotemporal": (B, T, H * W), "joints": (B, persons * J)}}[name]
    assert {k: tuple(v.shape) for k, v in out.attention.items()} == expected
    for value in out.penalties.values():
        assert value.dim() == 0
    if name == "vpn":
        assert [tuple(e.shape) for e in out.embedding] == [(B, 5), (B, 5)]
    else:
        assert out.embedding is None


@pytest.mark.parametrize("name", ["p-i3d", "sep-sta", "sa-ta", "ta-sa", "vpn"])
def test_attention_normalisations(name):
    model = make(name, 2, equal_init=False).eval()
    out = model(toy_batch(2))
    a = out.attention
    if "parts" in a:
        assert torch.allclose(a["parts"].sum(1), torch.ones(B), atol=1e-6)
        assert (a["parts"] > 0).all()
    if "temporal" in a:
        assert torch.allclose(a["temporal"].sum(1), torch.ones(B), atol=1e-6)
        assert not torch.allclose(a["temporal"], torch.full_like(a["temporal"], 1 / T))
    if "spatial" in a:
        assert ((a["spatial"] >= 0) & (a["spatial"] <= 1)).all()
        # sigmoid, not a softmax over space
        assert not torch.allclose(a["spatial"].sum(1), torch.ones(B))
    if name == "vpn":
        assert torch.allclose(a["joints"].sum(1), torch.ones(B), atol=1e-5)


def test_equal_init_starts_with_equal_scores():
    # Algorithms 1-3 step 4: "initialize the attention scores with equal values"
    out = make("sep-sta", 2)(toy_batch(2))
    assert torch.allclose(out.attention["temporal"], torch.full((B, T), 1 / T))
    assert torch.allclose(out.attention["spatial"], torch.full((B, H * W), 0.5))
    parts = make("p-i3d")(toy_batch()).attention["parts"]
    assert torch.allclose(parts, torch.full((B, 3), 1 / 3))


def test_joint_sta_activations():
    sig = make("joint-sta", equal_init=False).eval()(toy_batch())
    a = sig.attention["spatiotemporal"]
    assert ((a >= 0) & (a <= 1)).all() and not torch.allclose(a.sum((1, 2)), torch.ones(B))
    assert torch.allclose(sig.penalties["spatiotemporal"], 1e-5 * a.pow(2).sum((1, 2)).mean())
    soft = make("joint-sta", joint_activation="softmax", equal_init=False).eval()(toy_batch())
    a = soft.attention["spatiotemporal"]
    assert torch.allclose(a.sum((1, 2)), torch.ones(B), atol=1e-6)
    assert torch.allclose(soft.penalties["spatiotemporal"], 1e-5 * (1 - a).pow(2).sum((1, 2)).mean())


# --------------------------------------------------------------------------- losses by hand

def _ce(out):
    return F.cross_entropy(out.logits, TARGET)


def test_i3d_loss_and_logits_by_hand():
    model = make("i3d").eval()
    batch = toy_batch()
    out = model(batch)
    fc = model.classifier
    assert torch.allclose(out.logits, batch["gap"] @ fc.weight.T + fc.bias)
    total, parts = model.loss(out, TARGET)
    expected = _ce(out) + 1e-3 * fc.weight.pow(2).sum()
    assert torch.allclose(total, expected)
    assert set(parts) == {"ce", "weights"}


@pytest.mark.parametrize("fusion", ["sum", "concat"])
def test_p_i3d_loss_and_fusion_by_hand(fusion):
    model = make("p-i3d", 2, fusion=fusion, equal_init=False).eval()
    batch = toy_batch(2)
    out = model(batch)
    alpha = out.attention["parts"]
    weighted = alpha[:, :, None] * batch["parts"]
    fused = weighted.sum(1) if fusion == "sum" else weighted.reshape(B, 3 * D)
    fc = model.classifier
    assert torch.allclose(out.logits, fused @ fc.weight.T + fc.bias, atol=1e-6)
    total, parts = model.loss(out, TARGET)
    expected = (_ce(out) + 1e-5 * (1 - alpha).pow(2).sum(1).mean()
                + 1e-3 * fc.weight.pow(2).sum())
    assert torch.allclose(total, expected)
    assert set(parts) == {"ce", "parts", "weights"}


def test_p_i3d_weight_penalty_on_attention():
    model = make("p-i3d", weight_penalty="attention", lambda2=0.5, equal_init=False)
    out = model(toy_batch())
    assert torch.allclose(out.penalties["weights"],
                          0.5 * model.attention.score.weight.pow(2).sum())


@pytest.mark.parametrize("name", STA_NAMES)
def test_sta_loss_by_hand(name):
    model = make(name, lambda1=0.01, lambda2=0.02, equal_init=False).eval()
    out = model(toy_batch())
    a = out.attention
    expected = _ce(out)
    if "spatial" in a:
        expected = expected + 0.01 * a["spatial"].pow(2).sum(1).mean()
    if "temporal" in a:
        expected = expected + 0.02 * (1 - a["temporal"]).pow(2).sum(1).mean()
    if "spatiotemporal" in a:
        expected = expected + 0.01 * a["spatiotemporal"].pow(2).sum((1, 2)).mean()
    total, _ = model.loss(out, TARGET)
    assert torch.allclose(total, expected)


def test_separable_sta_modulation_by_hand():
    # Eq. 4.12: g_s = inflate(alpha) o g, g_t = inflate(beta) o g, GAP, concatenation
    model = make("sep-sta", equal_init=False).eval()
    batch = toy_batch()
    out = model(batch)
    g = batch["maps"]
    alpha = out.attention["spatial"].view(B, 1, 1, H, W)
    beta = out.attention["temporal"].view(B, 1, T, 1, 1)
    feat = torch.cat([(alpha * g).mean((2, 3, 4)), (beta * g).mean((2, 3, 4))], 1)
    fc = model.classifier
    assert torch.allclose(out.logits, feat @ fc.weight.T + fc.bias, atol=1e-6)


def test_sequential_variants_and_context():
    batch = toy_batch()
    other = dict(batch, maps=batch["maps"] * 3 + 1)
    # with sequence_context the second attention reads the first's modulated map
    sa_ta = make("sa-ta", equal_init=False).eval()
    assert not torch.allclose(sa_ta(batch).attention["temporal"],
                              sa_ta(other).attention["temporal"])
    assert torch.allclose(sa_ta(batch).attention["spatial"], sa_ta(other).attention["spatial"])
    ta_sa = make("ta-sa", equal_init=False).eval()
    assert not torch.allclose(ta_sa(batch).attention["spatial"],
                              ta_sa(other).attention["spatial"])
    # without it, both attentions come from the poses and the two orders coincide
    a = make("sa-ta", sequence_context=False, equal_init=False).eval()
    b = make("ta-sa", sequence_context=False, equal_init=False, seed=5).eval()
    b.load_state_dict(a.state_dict())
    assert torch.allclose(a(batch).logits, b(batch).logits, atol=1e-6)


def test_vpn_coupler_is_outer_product_with_residual():
    model = make("vpn", 2, equal_init=False).eval()
    batch = toy_batch(2)
    out = model(batch)
    a_s, a_t, a_st = (out.attention[k] for k in ("spatial", "temporal", "spatiotemporal"))
    assert torch.allclose(a_st, a_t[:, :, None] * a_s[:, None, :])
    g = batch["maps"]
    g2 = g + a_st.view(B, 1, T, H, W) * g  # residual modulation (section 4.5.2.1)
    fc = model.classifier
    assert torch.allclose(out.logits, g2.mean((2, 3, 4)) @ fc.weight.T + fc.bias, atol=1e-5)
    plain = make("vpn", 2, residual=False, equal_init=False).eval()
    out = plain(batch)
    g3 = out.attention["spatiotemporal"].view(B, 1, T, H, W) * g
    assert torch.allclose(out.logits, g3.mean((2, 3, 4)) @ plain.classifier.weight.T
                          + plain.classifier.bias, atol=1e-6)


def test_vpn_dissociated_is_separable_sta():
    model = make("vpn", coupler=False, equal_init=False).eval()
    batch = toy_batch()
    out = model(batch)
    assert "spatiotemporal" not in out.attention
    g = batch["maps"]
    feat = torch.cat([(out.attention["spatial"].view(B, 1, 1, H, W) * g).mean((2, 3, 4)),
                      (out.attention["temporal"].view(B, 1, T, 1, 1) * g).mean((2, 3, 4))], 1)
    fc = model.classifier
    assert model.classifier.in_features == 2 * D
    assert torch.allclose(out.logits, feat @ fc.weight.T + fc.bias, atol=1e-6)


@pytest.mark.parametrize("backbone", ["gcn", "lstm"])
def test_vpn_loss_by_hand(backbone):
    model = make("vpn", pose_backbone=backbone, equal_init=False).eval()
    out = model(toy_batch())
    a_s, a_t = out.attention["spatial"], out.attention["temporal"]
    la = a_s.pow(2).sum(1).mean() + (1 - a_t).pow(2).sum(1).mean()
    fe, pe = out.embedding
    fn = fe / torch.sqrt(fe.pow(2).sum(1, keepdim=True) + 1e-8)
    pn = pe / torch.sqrt(pe.pow(2).sum(1, keepdim=True) + 1e-8)
    le = (fn - pn).pow(2).sum(1).mean()
    total, parts = model.loss(out, TARGET)
    assert torch.allclose(total, 0.8 * _ce(out) + 0.2 * le + 1e-5 * la)
    assert parts["embedding"] == pytest.approx(float(le.detach()), rel=1e-5)
    assert set(parts) == {"ce", "embedding", "attention"}


def test_vpn_embedding_projections_have_unit_norm():
    # Eq. 4.18: ||T_v|| = ||T_p|| = 1; P_e = T_p z_1 with z_1 the spatial scores
    model = make("vpn", equal_init=False, embed_visual="pool").eval()
    batch = toy_batch()
    out = model(batch)
    a_s = out.attention["spatial"]
    z1 = torch.log(a_s / (1 - a_s))
    tp = model.pose_embed.weight
    assert torch.allclose(out.embedding[1], z1 @ (tp / tp.norm()).T, atol=1e-4)
    tv = model.visual_embed.weight
    assert tv.shape == (5, D)
    assert torch.allclose(out.embedding[0], batch["maps"].mean((2, 3, 4)) @ (tv / tv.norm()).T,
                          atol=1e-5)
    assert make("vpn").visual_embed.weight.shape == (5, D * H * W)


def test_each_embedding_option_changes_the_loss():
    batch = toy_batch()
    totals = {}
    for emb in ("l2", "kl", "kl_rev", "bikl", "none"):
        model = make("vpn", embedding=emb, equal_init=False).eval()
        out = model(batch)
        total, parts = model.loss(out, TARGET)
        if emb == "none":
            assert out.embedding is None and "embedding" not in parts
            assert torch.allclose(total, _ce(out) + out.penalties["attention"])
        else:
            le = EMBEDDING_LOSSES[emb](*out.embedding)
            assert torch.allclose(total, 0.8 * _ce(out) + 0.2 * le + out.penalties["attention"])
        totals[emb] = float(total.detach())
    assert len(set(totals.values())) == 5, totals


# --------------------------------------------------------------------------- training

@pytest.mark.parametrize("name", ATTENTION_MODELS)
def test_adam_steps_reduce_the_loss(name):
    model = make(name, 2 if name != "i3d" else 1, dropout=0.0)
    batch = toy_batch(2)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        total, _ = model.loss(model(batch), TARGET)
        total.backward()
        opt.step()
        losses.append(float(total.detach()))
    assert losses[-1] < 0.8 * losses[0], losses


def test_same_seed_same_results():
    a = make("vpn", equal_init=False, seed=3).eval()(toy_batch())
    b = make("vpn", equal_init=False, seed=3).eval()(toy_batch())
    assert torch.equal(a.logits, b.logits)


@pytest.mark.parametrize("name,backbone", [("p-i3d", "lstm"), ("sep-sta", "lstm"),
                                           ("vpn", "gcn"), ("vpn", "lstm")])
def test_frozen_pose_backbone_stays_fixed(name, backbone):
    model = make(name, 2, pose_backbone=backbone, freeze_pose=True, dropout=0.0,
                 equal_init=False)
    model.train()
    assert not model.pose_encoder.training
    before = {k: v.clone() for k, v in model.pose_encoder.state_dict().items()}
    head = {k: v.clone() for k, v in model.state_dict().items()
            if not k.startswith("pose_encoder.")}
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        model.loss(model(toy_batch(2)), TARGET)[0].backward()
        opt.step()
    for k, v in model.pose_encoder.state_dict().items():
        assert torch.equal(v, before[k]), k  # parameters and BatchNorm statistics
    changed = [k for k, v in model.state_dict().items()
               if not k.startswith("pose_encoder.") and not torch.equal(v, head[k])]
    assert changed


@pytest.mark.parametrize("backbone", ["lstm", "gcn"])
def test_load_pre_trained_pose_backbone(backbone):
    torch.manual_seed(7)
    pose = build_model(f"pose-{backbone}", **{k: v for k, v in small("p-i3d", 2).items()
                                              if k not in ("attention_hidden",)})
    model = make("sep-sta", 2, pose_backbone=backbone, freeze_pose=True)
    model.load_pose_backbone(pose.pose_state_dict())
    for k, v in pose.pose_state_dict().items():
        assert torch.equal(model.pose_encoder.state_dict()[k], v)
    assert not any(p.requires_grad for p in model.pose_encoder.parameters())
    # a whole classifier's state dict: the encoder's keys under one prefix
    other = make("sep-sta", 2, pose_backbone=backbone, seed=9)
    other.load_pose_backbone(pose.state_dict())
    for k, v in pose.pose_state_dict().items():
        assert torch.equal(other.pose_encoder.state_dict()[k], v)
    with pytest.raises(ValueError, match="does not hold a .* pose backbone"):
        other.load_pose_backbone({"classifier.weight": torch.zeros(5, 8)})


# --------------------------------------------------------------------------- configs, errors

@pytest.mark.parametrize("name", ATTENTION_MODELS)
def test_config_round_trip(name):
    spec = get_model_spec(name)
    config = spec.config_cls(**small(name, 2))
    d = config.to_dict()
    assert spec.config_cls.from_dict(d) == config
    model = spec.build(spec.config_cls.from_dict(d))
    assert model.config == config


def test_thesis_defaults():
    # Table 4.1 and section 4.6.1
    assert PI3DConfig(n_classes=C).lambda1 == 1e-5 and PI3DConfig(n_classes=C).lambda2 == 1e-3
    sta = SepSTAConfig(n_classes=C)
    assert (sta.lambda1, sta.lambda2, sta.map_size, sta.pose_backbone) == \
        (1e-5, 1e-5, (8, 7, 7), "lstm")
    vpn = VPNConfig(n_classes=C)
    assert (vpn.lambda1, vpn.lambda2, vpn.pose_backbone, vpn.coupler, vpn.embedding) == \
        (0.8, 1e-5, "gcn", True, "l2")
    assert get_model_spec("sa").config_cls(n_classes=C).variant == "sa"
    assert get_model_spec("joint-sta").config_cls(n_classes=C).variant == "joint"
    assert set(STA_VARIANTS) == {"separable", "sa", "ta", "sa-ta", "ta-sa", "joint"}


@pytest.mark.parametrize("name,over,match", [
    ("sep-sta", {"variant": "spatial"}, "unknown variant 'spatial'"),
    ("sep-sta", {"joint_activation": "relu"}, "unknown joint_activation"),
    ("sep-sta", {"map_size": (2, 3)}, r"expected map_size \(t, h, w\)"),
    ("sep-sta", {"pose_backbone": "tcn"}, "unknown pose_backbone 'tcn'"),
    ("p-i3d", {"fusion": "max"}, "unknown fusion 'max'"),
    ("p-i3d", {"weight_penalty": "all"}, "unknown weight_penalty"),
    ("vpn", {"embedding": "cosine"}, "unknown embedding 'cosine'"),
    ("vpn", {"embed_visual": "max"}, "unknown embed_visual"),
    ("vpn", {"map_size": (2, 3, 3, 1)}, r"expected map_size \(t, h, w\)"),
    ("vpn", {"lambda1": 1.5}, r"expected lambda1 in \[0, 1\]"),
    ("sa", {"variant": "ta"}, "model 'sa' is the 'sa' variant"),
])
def test_bad_configs(name, over, match):
    with pytest.raises(ValueError, match=match):
        make(name, **over)


def test_unknown_variant_direct():
    with pytest.raises(ValueError, match="unknown variant"):
        SeparableSTA(SepSTAConfig(**small("sep-sta", variant="both")))


def test_bad_batches():
    model = make("sep-sta")
    batch = toy_batch()
    with pytest.raises(ValueError, match=r"expected batch\['maps'\] of shape"):
        model(dict(batch, maps=torch.zeros(B, D, T + 1, H, W)))
    with pytest.raises(KeyError, match="the batch has no 'poses'"):
        model({"maps": batch["maps"]})
    with pytest.raises(ValueError, match=r"expected batch\['poses'\] of shape"):
        model(dict(batch, poses=torch.zeros(B, TP, 2, J, 3)))
    with pytest.raises(ValueError, match=r"expected batch\['gap'\]"):
        make("i3d")({"gap": torch.zeros(B, D + 1)})
    with pytest.raises(ValueError, match=r"expected batch\['parts'\]"):
        make("p-i3d")(dict(batch, parts=torch.zeros(B, 2, D)))


def test_vpn_loss_needs_the_embedding():
    model = make("vpn")
    out = model(toy_batch())
    out.embedding = None
    with pytest.raises(ValueError, match="needs ModelOutput.embedding"):
        model.loss(out, TARGET)


def test_vpn_is_a_vpn():
    assert isinstance(make("vpn"), VPN)


def test_vpn_gaussian_start_by_default():
    # equal scores would make every pose embedding P_e = T_p z_1 zero, where
    # Eq. 4.19's normalisation has a huge gradient (VPNConfig.equal_init)
    assert VPNConfig(n_classes=C).equal_init is False
    out = make("vpn", equal_init=True)(toy_batch())
    assert torch.equal(out.embedding[1], torch.zeros(B, 5))
    out = make("vpn")(toy_batch())
    assert (out.embedding[1].norm(dim=1) > 1e-3).all()


# ---------------------------------------------------------------- ablation switches (Tables 4.2, 4.8)

def _tiny(name, **extra):
    from adl.deep.models import build_model
    cfg = dict(n_classes=4, feature_dim=8, layout="kinect_v2_25", n_joints=25, persons=1, tp=3)
    if name == "vpn":
        cfg["map_size"] = (2, 2, 2)
    if name != "i3d":
        cfg["lstm_units"] = 6
    torch.manual_seed(0)
    return build_model(name, **cfg, **extra)


def _toy_batch(B=3):
    g = torch.Generator().manual_seed(1)
    return {"gap": torch.rand(B, 8, generator=g), "parts": torch.rand(B, 3, 8, generator=g),
            "maps": torch.rand(B, 8, 2, 2, 2, generator=g),
            "poses": torch.randn(B, 3, 1, 25, 3, generator=g)}


def test_i3d_hand_stream_reads_that_part_only():
    model = _tiny("i3d", stream="right_hand").eval()
    assert model.required_inputs() == ("parts",)
    batch = _toy_batch()
    out = model({"parts": batch["parts"]})
    expected = model.classifier(batch["parts"][:, 1])
    torch.testing.assert_close(out.logits, expected)
    changed = batch["parts"].clone()
    changed[:, 0] += 5.0                        # the left hand does not matter
    torch.testing.assert_close(model({"parts": changed}).logits, expected)


def test_i3d_unknown_stream_is_refused():
    with pytest.raises(ValueError, match="stream"):
        _tiny("i3d", stream="head")


def test_pi3d_without_attention_weights_streams_equally_and_ignores_poses():
    model = _tiny("p-i3d", attention=False).eval()
    assert model.required_inputs() == ("parts",)
    batch = _toy_batch()
    out = model({"parts": batch["parts"]})
    torch.testing.assert_close(out.attention["parts"], torch.full((3, 3), 1 / 3))
    torch.testing.assert_close(out.logits, model.classifier(batch["parts"].mean(1)))
    assert "parts" not in out.penalties


def test_vpn_spatial_only_has_uniform_temporal_weights():
    model = _tiny("vpn", temporal_attention=False).eval()
    assert model.temporal_head is None
    out = model(_toy_batch())
    torch.testing.assert_close(out.attention["temporal"], torch.full((3, 2), 0.5))
    a_s = out.attention["spatial"]
    torch.testing.assert_close(out.penalties["attention"], 1e-5 * a_s.pow(2).sum(1).mean())
