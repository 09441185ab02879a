"""Pose backbones (thesis ch. 4: 3-layer LSTM; GCN Eq. 4.14) and the
pose-lstm / pose-gcn classifiers."""
from dataclasses import replace

import pytest
import torch
from torch.nn import functional as F

from adl.deep.models.base import build_model, get_model_spec, list_models
from adl.deep.models.pose import (PoseClassifier, PoseConfig, PoseGCNEncoder, PoseLSTMEncoder,
                                  build_pose_encoder, default_lstm_units, freeze_encoder)

LAYOUT_OF = {25: "kinect_v2_25", 20: "kinect_v1_20"}


def small(backbone="lstm", persons=1, joints=25, tp=4, **kw):
    return PoseConfig(n_classes=3, layout=LAYOUT_OF[joints], n_joints=joints, persons=persons,
                      tp=tp, pose_backbone=backbone, lstm_units=8, gcn_proj=8,
                      gcn_channels=(8, 8, 16), **kw)


def toy_batch(config, n=16, seed=1):
    """Two classes told apart by the sign of every joint's x coordinate."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    poses = 0.3 * torch.randn(n, config.tp, config.persons, config.n_joints, 3, generator=g)
    poses[..., 0] += (2.0 * y - 1.0).view(n, 1, 1, 1)
    return poses, y


@pytest.mark.parametrize("persons,joints", [(1, 25), (2, 25), (1, 20), (2, 20)])
def test_encoder_shapes(persons, joints):
    torch.manual_seed(0)
    poses = torch.randn(2, 4, persons, joints, 3)
    lstm = PoseLSTMEncoder(small("lstm", persons, joints))
    assert lstm.out_dim == 8
    assert lstm(poses).shape == (2, 8)
    steps = lstm.forward_steps(poses)
    assert steps.shape == (2, 4, 8)
    torch.testing.assert_close(lstm(poses), steps[:, -1])
    gcn = PoseGCNEncoder(small("gcn", persons, joints))
    assert gcn.out_dim == 16 and gcn.adjacency.shape == (persons * joints,) * 2
    assert gcn(poses).shape == (2, 16)
    nodes = gcn.forward_nodes(poses)
    assert nodes.shape == (2, 16, 4, persons * joints)
    torch.testing.assert_close(gcn(poses), nodes.mean(dim=(2, 3)))
    assert gcn.graph_features(poses).shape == (2, 8, 4, persons * joints)


def test_thesis_defaults():
    c = PoseConfig(n_classes=60, layout="kinect_v2_25", persons=2)
    assert (c.lstm_units, c.lstm_layers, c.gcn_alpha, c.gcn_beta, c.gcn_proj, c.gcn_channels) \
        == (512, 3, 5.0, 2.0, 64, (64, 64, 128))
    assert PoseLSTMEncoder(c).lstm.num_layers == 3
    gcn = build_pose_encoder(replace(c, pose_backbone="gcn"))
    assert isinstance(gcn, PoseGCNEncoder) and gcn.out_dim == 128
    assert gcn.gcn_weight.shape == (20, 3, 64)  # one W_t per pose step (Eq. 4.14)
    assert default_lstm_units("ntu60") == default_lstm_units("ntu120") == 512
    assert default_lstm_units("smarthome") == default_lstm_units("nucla") == 128
    assert PoseConfig.from_dict(c.to_dict()) == c


def test_shared_gcn_weight_takes_any_number_of_steps():
    torch.manual_seed(0)
    gcn = PoseGCNEncoder(small("gcn", gcn_per_step=False))
    assert gcn.gcn_weight.shape == (1, 3, 8)
    assert gcn(torch.randn(2, 7, 1, 25, 3)).shape == (2, 16)


@pytest.mark.parametrize("name", ["pose-lstm", "pose-gcn"])
def test_adam_steps_reduce_loss_on_separable_toy(name):
    torch.manual_seed(0)
    config = small(persons=2)
    model = get_model_spec(name).build(config)
    poses, y = toy_batch(config)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    losses = []
    for _ in range(12):
        opt.zero_grad()
        total, parts = model.loss(model({"poses": poses}), y)
        total.backward()
        opt.step()
        losses.append(float(total.detach()))
        assert parts["ce"] == pytest.approx(float(total))
    assert losses[-1] < 0.7 * losses[0]
    model.eval()
    acc = (model({"poses": poses}).logits.argmax(1) == y).float().mean()
    assert acc == 1.0


def test_gcn_uses_the_adjacency():
    torch.manual_seed(0)
    poses = torch.randn(2, 4, 1, 25, 3)
    a = PoseGCNEncoder(small("gcn")).eval()
    out = a(poses)
    # same parameters, other weights on the graph (no extra links): other output
    b = PoseGCNEncoder(small("gcn", gcn_beta=0.0)).eval()
    b.load_state_dict(a.state_dict())
    assert not torch.allclose(b(poses), out, atol=1e-4)
    # the same weights but the bones' alpha scaled: other output
    c = PoseGCNEncoder(small("gcn", gcn_alpha=1.0)).eval()
    c.load_state_dict(a.state_dict())
    assert not torch.allclose(c(poses), out, atol=1e-4)
    # no graph at all (identity): other output
    a.adjacency = torch.eye(25)
    assert not torch.allclose(a(poses), out, atol=1e-4)
    assert "adjacency" not in a.state_dict()  # it follows from the config


def test_freeze_pose_leaves_the_encoder_unchanged():
    torch.manual_seed(0)
    config = small("gcn", freeze_pose=True)
    model = build_model("pose-gcn", **config.to_dict())
    assert model.config.freeze_pose
    before = {k: v.clone() for k, v in model.pose_state_dict().items()}
    head = model.classifier.weight.detach().clone()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.05)
    model.train()
    assert not model.encoder.training and model.dropout.training
    poses, y = toy_batch(config, n=6)
    for _ in range(2):
        opt.zero_grad()
        model.loss(model({"poses": poses}), y)[0].backward()
        opt.step()
    for k, v in model.pose_state_dict().items():  # BatchNorm statistics included
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    assert not torch.equal(model.classifier.weight, head)
    assert all(not p.requires_grad for p in model.encoder.parameters())


def test_freeze_encoder_function():
    enc = freeze_encoder(PoseLSTMEncoder(small()).train())
    assert not enc.training and not any(p.requires_grad for p in enc.parameters())


def test_pose_state_dict_loads_into_a_fresh_encoder():
    torch.manual_seed(0)
    config = small("gcn", persons=2)
    model = PoseClassifier(config).eval()
    fresh = build_pose_encoder(config).eval()
    fresh.load_state_dict(model.pose_state_dict())
    poses = torch.randn(3, 4, 2, 25, 3)
    torch.testing.assert_close(fresh(poses), model.encoder(poses))


@pytest.mark.parametrize("backbone", ["lstm", "gcn"])
def test_same_seed_same_output(backbone):
    poses = torch.randn(2, 4, 2, 20, 3, generator=torch.Generator().manual_seed(3))
    outs = []
    for _ in range(2):
        torch.manual_seed(7)
        model = PoseClassifier(small(backbone, persons=2, joints=20)).train()
        outs.append(model({"poses": poses}).logits)   # dropout active, seeded
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)
    torch.manual_seed(8)
    other = PoseClassifier(small(backbone, persons=2, joints=20)).train()
    assert not torch.allclose(other({"poses": poses}).logits, outs[0])


def test_registered_models():
    assert {"pose-lstm", "pose-gcn"} <= set(list_models())
    for name, backbone, enc in [("pose-lstm", "lstm", PoseLSTMEncoder),
                                ("pose-gcn", "gcn", PoseGCNEncoder)]:
        spec = get_model_spec(name)
        assert spec.config_cls is PoseConfig and spec.sample == "clip"
        model = build_model(name, n_classes=4, layout="kinect_v1_20", n_joints=20, tp=4,
                            lstm_units=8, gcn_proj=8, gcn_channels=(8, 8, 8))
        assert model.config.pose_backbone == backbone and isinstance(model.encoder, enc)
        assert model.required_inputs() == ("poses",)
        out = model.eval()({"poses": torch.zeros(2, 4, 1, 20, 3)})
        assert out.logits.shape == (2, 4) and out.penalties == {} and out.embedding is None


def test_errors():
    with pytest.raises(ValueError, match=r"PoseLSTMEncoder: expected poses of shape "
                                         r"\(B, tp, 1, 25, 3\).*got \(2, 4, 1, 20, 3\)"):
        PoseLSTMEncoder(small())(torch.zeros(2, 4, 1, 20, 3))
    with pytest.raises(ValueError, match=r"PoseGCNEncoder: expected poses of shape"):
        PoseGCNEncoder(small("gcn"))(torch.zeros(2, 4, 25, 3))
    with pytest.raises(ValueError, match="expected lstm_units >= 1"):
        PoseLSTMEncoder(replace(small(), lstm_units=0))
    with pytest.raises(ValueError, match="expected lstm_layers >= 1"):
        PoseLSTMEncoder(replace(small(), lstm_layers=0))
    with pytest.raises(ValueError, match="layout 'kinect_v2_25' has 25 joints, but the config "
                                         "has n_joints=20"):
        PoseGCNEncoder(replace(small("gcn"), n_joints=20))
    with pytest.raises(ValueError, match="unknown joint layout ''"):
        PoseGCNEncoder(replace(small("gcn"), layout=""))
    with pytest.raises(ValueError, match="expected gcn_proj >= 1"):
        PoseGCNEncoder(replace(small("gcn"), gcn_proj=0))
    with pytest.raises(ValueError, match=r"expected at least one convolution block"):
        PoseGCNEncoder(replace(small("gcn"), gcn_channels=()))
    with pytest.raises(ValueError, match="expected every gcn_channels entry >= 1"):
        PoseGCNEncoder(replace(small("gcn"), gcn_channels=(8, 0)))
    with pytest.raises(ValueError, match=r"expected gcn_kernel as \(time, node\) sizes"):
        PoseGCNEncoder(replace(small("gcn"), gcn_kernel=(3,)))
    with pytest.raises(ValueError, match="expected odd gcn_kernel sizes"):
        PoseGCNEncoder(replace(small("gcn"), gcn_kernel=(2, 3)))
    with pytest.raises(ValueError, match="expected tp >= 1"):
        PoseGCNEncoder(replace(small("gcn"), tp=0))
    with pytest.raises(ValueError, match="gcn_per_step.*expects tp=4 steps, got 6"):
        PoseGCNEncoder(small("gcn"))(torch.zeros(2, 6, 1, 25, 3))
    with pytest.raises(ValueError, match="unknown pose_backbone 'tcn'; expected one of lstm, gcn"):
        build_pose_encoder(small("tcn"))
    with pytest.raises(ValueError, match="expected n_classes >= 1"):
        PoseClassifier(replace(small(), n_classes=0))
    with pytest.raises(ValueError, match="expected batch key 'poses', got keys gap"):
        PoseClassifier(small())({"gap": torch.zeros(2, 1024)})
