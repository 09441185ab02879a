"""F3: skeleton sequences and the stacked LSTM (Eq. 3.5)."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

torch = pytest.importorskip("torch")

from adl.data.geometry import normalise_skeleton  # noqa: E402
from adl.data.layouts import CAD_15, KINECT_V1_20, LAYOUTS  # noqa: E402
from adl.data.record import SkeletonSequence, VideoRecord  # noqa: E402
from adl.features.f3 import (HIDDEN_BY_DATASET, F3Config, SkeletonLSTM, mirror_sequence, prepare_sequence,  # noqa: E402
                         resample_indices, sequence_loss)


def rotations(n, rng, t_range=(16, 24)):
    """Order-only toy problem: a point circling at a random phase and speed;
    class 0 turns one way, class 1 the other (each is the other's time
    reverse, so every single frame looks alike in both classes)."""
    X, y = [], []
    for i in range(n):
        c = i % 2
        T = int(rng.integers(*t_range))
        step = rng.uniform(0.35, 0.6) * (1 if c == 0 else -1)
        a = rng.uniform(0, 2 * np.pi) + step * np.arange(T)
        s = np.stack([np.cos(a), np.sin(a), np.zeros(T)], 1) + rng.normal(0, 0.05, (T, 3))
        X.append(s.astype(np.float32))
        y.append(c)
    return X, np.array(y)


SMALL = dict(hidden=16, layers=3, dropout=0.1, batch_size=16, num_threads=1)


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    return rotations(96, rng), rotations(32, rng), rotations(100, rng)


@pytest.fixture(scope="module")
def trained(toy):
    (X, y), (Xv, yv), _ = toy
    return SkeletonLSTM(max_epochs=15, patience=5, **SMALL).fit(X, y, Xv, yv)


def test_lstm_learns_an_order_only_problem(trained, toy):
    Xt, yt = toy[2]
    assert np.mean(trained.predict(Xt) == yt) > 0.9
    proba = trained.predict_proba(Xt)
    assert proba.shape == (100, 2)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-5)
    assert trained.history_[trained.best_epoch_ - 1]["val_loss"] == min(h["val_loss"] for h in trained.history_)


def test_features_are_mean_max_last_of_the_last_layer(trained, toy):
    Xt, _ = toy[2]
    f = trained.transform(Xt[:3])
    assert f.shape == (3, 48) and f.dtype == np.float32
    seq = trained._fixed(Xt[0])
    with torch.inference_mode():
        h, _ = trained.model_["lstm"](torch.from_numpy(seq)[None])
    h = h[0].numpy()
    np.testing.assert_allclose(f[0], np.concatenate([h.mean(0), h.max(0), h[-1]]), rtol=1e-5, atol=1e-6)


def test_padding_does_not_change_a_sequence_s_features(trained, toy):
    Xt, _ = toy[2]
    short = Xt[0][:10]
    alone = trained.transform([short])
    with_long = trained.transform([short, np.concatenate([Xt[1], Xt[2]])])
    np.testing.assert_allclose(alone[0], with_long[0], rtol=1e-5, atol=1e-6)


def test_same_seed_same_features(toy):
    (X, y), (Xv, yv), (Xt, _) = toy
    runs = [SkeletonLSTM(max_epochs=2, random_state=s, **SMALL).fit(X[:32], y[:32], Xv, yv).transform(Xt[:5])
            for s in (7, 7, 8)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])


def test_augmentation_is_seeded_and_switchable(toy):
    (X, y), _, (Xt, _) = toy
    a = SkeletonLSTM(max_epochs=2, augment=True, **SMALL).fit(X[:32], y[:32]).transform(Xt[:4])
    b = SkeletonLSTM(max_epochs=2, augment=True, **SMALL).fit(X[:32], y[:32]).transform(Xt[:4])
    plain = SkeletonLSTM(max_epochs=2, augment=False, **SMALL).fit(X[:32], y[:32]).transform(Xt[:4])
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, plain)
    with pytest.raises(ValueError, match="multiple of 3 values per step"):
        SkeletonLSTM(augment=True, **SMALL).fit([x[:, :2] for x in X[:4]], y[:4])


def test_loss_is_averaged_over_every_valid_time_step():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 3, generator=g)
    y = torch.tensor([1, 2])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)
    logp = logits.log_softmax(-1)
    per_step = -logp[torch.arange(2)[:, None], torch.arange(5)[None], y[:, None]]
    expected = (per_step[0].mean() + per_step[1, :3].mean()) / 2
    loss = sequence_loss(logits, y, mask)
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)
    # padded steps do not count ...
    noisy = logits.clone()
    noisy[1, 3:] = 100.0
    assert float(sequence_loss(noisy, y, mask)) == pytest.approx(float(loss), rel=1e-6)
    # ... and every valid step does, not only the last one
    earlier = logits.clone()
    earlier[0, 0] += torch.tensor([0.0, 5.0, 0.0])
    assert float(sequence_loss(earlier, y, mask)) < float(loss)


def test_long_sequences_are_resampled_to_max_len():
    idx = resample_indices(1000, 100)
    assert len(idx) == 100 and idx[0] == 0 and idx[-1] == 999
    assert np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(resample_indices(40, 100), np.arange(40))


def pose_sequence(T=6, seed=0):
    rng = np.random.default_rng(seed)
    rest = np.array([[0, .75, 0], [0, .55, 0], [0, .3, 0], [-.18, .5, 0], [-.25, .25, 0], [.18, .5, 0],
                     [.25, .25, 0], [-.1, 0, 0], [-.1, -.45, 0], [.1, 0, 0], [.1, -.45, 0],
                     [-.3, 0, .05], [.3, 0, .05], [-.1, -.9, 0], [.1, -.9, 0]])
    joints = rest[None] + np.array([0.1, 0, 2.5]) + rng.normal(0, 0.02, (T, 15, 3))
    return joints.astype(np.float32)


def test_prepare_sequence_interpolates_missing_frames_and_joints():
    joints = pose_sequence(6)
    full = normalise_skeleton(joints, CAD_15).reshape(6, -1)
    holes = joints.copy()
    holes[2] = np.nan                              # a dropped frame
    holes[0, 11] = np.nan                          # a joint missing at the start
    holes[:, 14] = np.nan                          # a joint never seen
    x = prepare_sequence(SkeletonSequence(holes, np.arange(6)), CAD_15)
    assert x.shape == (6, 45) and x.dtype == np.float32 and np.isfinite(x).all()
    np.testing.assert_allclose(x[2], ((full[1] + full[3]) / 2).reshape(15, 3)[:14].ravel().tolist()
                               + [0, 0, 0], atol=1e-5)
    np.testing.assert_allclose(x[0, 33:36], x[1, 33:36])   # held from the first valid frame
    np.testing.assert_array_equal(x[:, 42:45], 0)           # never seen -> hip centre
    np.testing.assert_allclose(x[[0, 1, 3, 4, 5], :33], full[[0, 1, 3, 4, 5], :33], atol=1e-6)


def test_prepare_sequence_accepts_records_and_flags_empty_skeletons():
    joints = pose_sequence(4)
    record = VideoRecord("cad120", "v1", "a", "1", layout="cad_15",
                         skeleton_loader=lambda r: SkeletonSequence(joints, np.arange(4)))
    np.testing.assert_allclose(prepare_sequence(record), prepare_sequence(joints, CAD_15))
    with pytest.warns(RuntimeWarning, match="no frame with a usable skeleton"):
        x = prepare_sequence(np.full((3, 15, 3), np.nan, np.float32), CAD_15)
    np.testing.assert_array_equal(x, np.zeros((3, 45)))
    with pytest.raises(ValueError, match="no joint layout"):
        prepare_sequence(joints)
    with pytest.raises(ValueError, match=r"expected joints of shape \(T >= 1, 15, 3\)"):
        prepare_sequence(np.zeros((0, 15, 3)), CAD_15)
    with pytest.raises(TypeError, match="expected a VideoRecord"):
        prepare_sequence([1, 2], CAD_15)


def test_lstm_refuses_nan_and_unfitted_use(toy):
    (X, y), _, _ = toy
    with pytest.raises(NotFittedError):
        SkeletonLSTM().transform(X[:2])
    bad = [x.copy() for x in X[:4]]
    bad[1][3, 0] = np.nan
    with pytest.raises(ValueError, match=r"sequences\[1\] contains NaN/inf: fill gaps with prepare_sequence"):
        SkeletonLSTM(**SMALL).fit(bad, y[:4])


def test_lstm_rejects_bad_input(trained, toy):
    (X, y), _, _ = toy
    with pytest.raises(ValueError, match=r"expected sequences\[0\] with 3 values per step, got 2"):
        trained.transform([X[0][:, :2]])
    with pytest.raises(ValueError, match="non-empty list"):
        SkeletonLSTM(**SMALL).fit([], [])
    with pytest.raises(ValueError, match=r"expected sequences\[0\] of shape \(T >= 1, D\)"):
        SkeletonLSTM(**SMALL).fit([np.zeros(3)], [0])
    with pytest.raises(ValueError, match="at least 2 classes"):
        SkeletonLSTM(**SMALL).fit(X[:4], np.zeros(4))
    with pytest.raises(ValueError, match=r"expected y of shape \(4,\)"):
        SkeletonLSTM(**SMALL).fit(X[:4], y[:3])
    with pytest.raises(ValueError, match="val_y has labels not seen in training"):
        SkeletonLSTM(**SMALL).fit(X[:4], y[:4], X[:2], [0, 5])
    with pytest.raises(ValueError, match="pass val_sequences and val_y together"):
        SkeletonLSTM(**SMALL).fit(X[:4], y[:4], X[:2])
    with pytest.raises(ValueError, match="expected 0 <= dropout < 1, got 1.0"):
        SkeletonLSTM(dropout=1.0).fit(X[:4], y[:4])
    with pytest.raises(ValueError, match="expected max_len to be an integer >= 2"):
        SkeletonLSTM(max_len=1).fit(X[:4], y[:4])
    with pytest.raises(ValueError, match="expected lr > 0"):
        SkeletonLSTM(lr=0).fit(X[:4], y[:4])
    with pytest.raises(ValueError, match="expected clip_norm > 0 or None"):
        SkeletonLSTM(clip_norm=-1.0).fit(X[:4], y[:4])


def test_config_follows_the_thesis_per_dataset():
    assert HIDDEN_BY_DATASET == {"cad60": 64, "cad120": 64, "msr_daily": 128, "ntu60": 512}
    cfg = F3Config.for_dataset("ntu60", max_epochs=5)
    assert cfg.hidden == 512 and cfg.layers == 3 and cfg.dropout == 0.5 and cfg.lr == 0.005
    assert cfg.clip_norm == 1.0
    # the defaults chosen on real skeletons (README "F3")
    assert (cfg.per_frame, cfg.mirror, cfg.inputs, cfg.augment, cfg.pyramid) == \
        (False, False, "joints+velocity+bones", True, 3)
    with pytest.raises(ValueError, match="needs the joint layout"):
        cfg.estimator()
    with pytest.raises(ValueError, match="needs the joint layout"):
        F3Config(mirror=True, inputs="joints").estimator()
    est = F3Config.for_dataset("ntu60", max_epochs=5, mirror=True).estimator(KINECT_V1_20)
    assert est.mirror_joints == KINECT_V1_20.mirror_permutation
    assert F3Config(inputs="joints").estimator().mirror_joints is None
    assert isinstance(est, SkeletonLSTM) and est.hidden == 512 and est.max_epochs == 5
    assert clone(est).get_params()["hidden"] == 512
    assert F3Config.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="expected hidden to be an integer >= 1"):
        F3Config(hidden=0)
    with pytest.raises(ValueError, match=r"unknown F3Config fields \['units'\]"):
        F3Config.from_dict({"units": 3})


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_mirror_permutation_swaps_left_and_right(name):
    layout = LAYOUTS[name]
    perm = layout.mirror_permutation
    assert sorted(perm) == list(range(layout.n_joints))
    assert all(perm[perm[i]] == i for i in range(layout.n_joints))  # an involution
    for i, joint in enumerate(layout.joints):
        twin = layout.joints[perm[i]]
        if joint.endswith("_left"):
            assert twin == joint[:-5] + "_right"
        elif not joint.endswith("_right"):
            assert twin == joint


def test_mirrored_skeleton_is_the_normalised_mirror_image():
    # a skeleton raising its right hand, mirrored in camera space, then
    # normalised, equals the normalised skeleton mirrored by mirror_sequence
    rng = np.random.default_rng(0)
    joints = rng.normal(size=(6, CAD_15.n_joints, 3)) * 0.1
    joints[:, CAD_15.index("hip_left"), 0] += 0.2
    joints[:, CAD_15.index("hip_right"), 0] -= 0.2
    joints[:, CAD_15.index("torso"), 1] += 0.5
    joints[:, CAD_15.index("hand_right"), 1] += 1.0
    seq = prepare_sequence(joints, CAD_15)
    flipped = joints[:, list(CAD_15.mirror_permutation)].copy()
    flipped[..., 0] *= -1
    np.testing.assert_allclose(mirror_sequence(seq, CAD_15.mirror_permutation),
                               prepare_sequence(flipped, CAD_15), atol=1e-5)
    with pytest.raises(ValueError, match="15-joint layout"):
        mirror_sequence(seq[:, :-3], CAD_15.mirror_permutation)


def test_mirror_training_doubles_the_training_set(monkeypatch):
    rng = np.random.default_rng(1)
    X = [rng.normal(size=(8, CAD_15.n_joints * 3)).astype(np.float32) for _ in range(6)]
    y = np.array([0, 1] * 3)
    seen = []
    original = SkeletonLSTM._pad

    def spy(self, batch):
        seen.append(len(batch))
        return original(self, batch)

    monkeypatch.setattr(SkeletonLSTM, "_pad", spy)
    SkeletonLSTM(hidden=4, layers=1, max_epochs=1, batch_size=64,
                 mirror_joints=CAD_15.mirror_permutation).fit(X, y)
    assert seen == [12]
    seen.clear()
    SkeletonLSTM(hidden=4, layers=1, max_epochs=1, batch_size=64).fit(X, y)
    assert seen == [6]


def test_pickled_lstm_is_bit_identical_and_predicts_the_same():
    import pickle
    rng = np.random.default_rng(2)
    X = [rng.normal(size=(6, 9)).astype(np.float32) for _ in range(6)]
    y = np.array([0, 1] * 3)
    a = SkeletonLSTM(hidden=4, layers=2, max_epochs=2, random_state=3).fit(X, y)
    b = SkeletonLSTM(hidden=4, layers=2, max_epochs=2, random_state=3).fit(X, y)
    assert pickle.dumps(a) == pickle.dumps(b)  # no memory addresses in the bytes
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(c.transform(X), a.transform(X))
    assert not c.model_.training
