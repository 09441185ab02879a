"""F3's representations on hand-made skeletons: input channels (joints,
velocities, bones), the temporal pyramid, the normalisation references, and
the F3 vector with the pyramid."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from adl.data.geometry import normalise_skeleton  # noqa: E402
from adl.data.layouts import KINECT_V1_20  # noqa: E402
from adl.features.f3 import F3Config, SkeletonLSTM, prepare_sequence  # noqa: E402
from adl.features.f3_inputs import (channel_width, input_channels, parse_inputs,  # noqa: E402
                                    pyramid_segments, temporal_pyramid)

K = KINECT_V1_20


def rest_pose():
    """A Kinect-v1 body in its own frame (metres): hip centre at the origin,
    hips on X, spine up Y, spine-base -> spine 0.25 m."""
    p = np.zeros((K.n_joints, 3))
    named = {"hip_center": (0, 0, 0), "spine": (0, .25, 0), "shoulder_center": (0, .55, 0),
             "head": (0, .75, 0), "shoulder_left": (.18, .5, 0), "elbow_left": (.25, .25, 0),
             "wrist_left": (.27, .05, 0), "hand_left": (.28, 0, 0),
             "shoulder_right": (-.18, .5, 0), "elbow_right": (-.25, .25, 0),
             "wrist_right": (-.27, .05, 0), "hand_right": (-.28, 0, 0),
             "hip_left": (.1, 0, 0), "knee_left": (.1, -.45, 0), "ankle_left": (.1, -.85, 0),
             "foot_left": (.1, -.9, .1), "hip_right": (-.1, 0, 0), "knee_right": (-.1, -.45, 0),
             "ankle_right": (-.1, -.85, 0), "foot_right": (-.1, -.9, .1)}
    for name, xyz in named.items():
        p[K.index(name)] = xyz
    return p


def camera_pose(body, angle=0.7, shift=(0.3, -0.2, 2.5)):
    """The body seen by a camera: turned by ``angle`` about the vertical axis
    and moved ``shift`` metres away (a rigid motion)."""
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return body @ rot.T + np.asarray(shift)


def test_velocity_channel_is_the_step_to_step_motion():
    # the right hand rises 0.05 body units per step, the rest stands still
    T = 5
    seq = np.repeat(rest_pose()[None], T, axis=0)
    hand = K.index("hand_right")
    seq[:, hand, 1] += 0.05 * np.arange(T)
    x = input_channels(seq.reshape(T, -1), "joints+velocity")
    assert x.shape == (T, 2 * K.n_joints * 3) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, :60], seq.reshape(T, -1), atol=1e-7)
    vel = x[:, 60:].reshape(T, K.n_joints, 3)
    np.testing.assert_array_equal(vel[0], 0)                    # no motion before the first step
    np.testing.assert_allclose(vel[1:, hand], [[0, 0.05, 0]] * (T - 1), atol=1e-6)
    vel[1:, hand] = 0
    np.testing.assert_array_equal(vel, 0)                       # nothing else moves


def test_bones_channel_is_child_minus_parent():
    seq = rest_pose()[None].reshape(1, -1)
    b = input_channels(seq, "bones", K.bones).reshape(len(K.bones), 3)
    forearm = K.bones.index((K.index("elbow_right"), K.index("wrist_right")))
    np.testing.assert_allclose(b[forearm], [-.02, -.2, 0], atol=1e-7)
    spine = K.bones.index((K.index("hip_center"), K.index("spine")))
    np.testing.assert_allclose(b[spine], [0, .25, 0], atol=1e-7)
    assert channel_width(60, "joints+velocity+bones", K.bones) == 60 + 60 + 3 * len(K.bones)
    with pytest.raises(ValueError, match="the bones channel needs the layout's bones"):
        input_channels(seq, "bones")
    with pytest.raises(ValueError, match=r"expected bones as \(parent, child\) indices of the 20"):
        input_channels(seq, "bones", ((0, 25),))


def test_inputs_are_named_channels_in_a_fixed_order():
    assert parse_inputs("bones+joints") == ("joints", "bones")
    with pytest.raises(ValueError, match=r"channel names joined by '\+'.*got 'angles'"):
        parse_inputs("angles")
    with pytest.raises(ValueError, match="names a channel twice"):
        parse_inputs("joints+joints")
    with pytest.raises(ValueError, match=r"expected joints of shape \(T, J \* 3\), got \(4, 5\)"):
        input_channels(np.zeros((4, 5)), "joints+velocity")


def test_temporal_pyramid_of_a_known_signal():
    # one channel: 0, 1, ..., 7 -> level 0: mean 3.5; level 1: 1.5, 5.5; level 2: 0.5, 2.5, ...
    x = np.arange(8, dtype=np.float32)[:, None]
    p = temporal_pyramid(x, levels=3).reshape(7, 2)
    np.testing.assert_allclose(p[:, 0], [3.5, 1.5, 5.5, 0.5, 2.5, 4.5, 6.5])
    np.testing.assert_allclose(p[:, 1], [np.std(np.arange(8)), np.std(np.arange(4))] +
                               [np.std(np.arange(4))] + [0.5] * 4, rtol=1e-6)
    # a sequence shorter than a level's segments repeats frames, never an empty segment
    assert pyramid_segments(2, 3) == [(0, 2), (0, 1), (1, 2), (0, 1), (0, 1), (1, 2), (1, 2)]
    assert temporal_pyramid(np.ones((1, 4)), 3).shape == (7 * 2 * 4,)
    with pytest.raises(ValueError, match="expected pyramid levels as an integer >= 1, got 0"):
        temporal_pyramid(x, 0)
    with pytest.raises(ValueError, match=r"expected channels of shape \(T, D\)"):
        temporal_pyramid(np.zeros(3), 2)


def test_normalisation_references_agree_on_a_rigid_noise_free_body():
    body = camera_pose(rest_pose())
    still = np.repeat(body[None], 4, axis=0)
    per_frame = normalise_skeleton(still, K, per_frame=True)
    first = normalise_skeleton(still, K, per_frame=False)
    np.testing.assert_allclose(per_frame, first, atol=1e-6)
    # both recover the body in its own frame, in spine lengths
    np.testing.assert_allclose(first[0], rest_pose() / 0.25, atol=1e-5)
    # a body that walks 0.1 m along its own X per frame: identical in the
    # per-frame reference, displaced by 0.4 spine lengths per frame in the first frame's
    walk = np.stack([camera_pose(rest_pose() + [0.1 * t, 0, 0]) for t in range(4)])
    pf = normalise_skeleton(walk, K, per_frame=True)
    ff = normalise_skeleton(walk, K, per_frame=False)
    np.testing.assert_allclose(pf, np.repeat(pf[:1], 4, axis=0), atol=1e-5)
    np.testing.assert_allclose(ff[0], pf[0], atol=1e-6)
    np.testing.assert_allclose(ff - ff[:1], np.arange(4)[:, None, None] * [0.4, 0, 0]
                               * np.ones((1, K.n_joints, 1)), atol=1e-5)


def small_problem(n=24, T=10, seed=0):
    """Two classes of Kinect-v1 sequences: the right hand rises or falls."""
    rng = np.random.default_rng(seed)
    seqs, y = [], []
    for i in range(n):
        c = i % 2
        skel = np.repeat(camera_pose(rest_pose())[None], T, axis=0) + rng.normal(0, .005, (T, 20, 3))
        skel[:, K.index("hand_right"), 1] += (1 if c else -1) * 0.03 * np.arange(T)
        seqs.append(prepare_sequence(skel, K, per_frame=False))
        y.append(c)
    return seqs, np.array(y)


def test_lstm_reads_the_named_channels():
    X, y = small_problem()
    est = SkeletonLSTM(hidden=4, layers=1, max_epochs=2, inputs="joints+velocity+bones",
                       bones=K.bones).fit(X[:16], y[:16])
    assert est.n_features_in_ == 60
    assert est.model_["lstm"].input_size == 60 + 60 + 3 * len(K.bones)
    assert est.transform(X[16:]).shape == (8, 12)
    with pytest.raises(ValueError, match=r"inputs='joints\+bones' needs bones="):
        SkeletonLSTM(hidden=4, layers=1, max_epochs=1, inputs="joints+bones").fit(X, y)
    with pytest.raises(ValueError, match="derives 3D vectors from the joints: expected a "
                                         "multiple of 3 values per step, got 4"):
        SkeletonLSTM(hidden=4, layers=1, max_epochs=1, inputs="joints+velocity").fit(
            [x[:, :4] for x in X], y)


def test_f3_vector_with_the_pyramid_is_two_standardised_blocks():
    X, y = small_problem()
    est = SkeletonLSTM(hidden=4, layers=1, max_epochs=2, inputs="joints+velocity", pyramid=2,
                       random_state=1).fit(X[:12], y[:12], X[12:16], y[12:16])
    F = est.transform(X)
    width = 3 * 2 * 120                                 # 3 segments x (mean, std) x 120 values
    assert F.shape == (24, 12 + width) and F.dtype == np.float32
    # over the training videos (fit + validation) each value has mean 0 and
    # standard deviation 1 (0 for a value that never varies)
    train = F[:16].astype(np.float64)
    np.testing.assert_allclose(train.mean(0), 0, atol=1e-5)
    sd = train.std(0)
    varying = est.block_stats_[1][1] != 1      # a constant value keeps the scale 1
    np.testing.assert_allclose(sd[:12], 1, rtol=1e-3)
    np.testing.assert_allclose(sd[12:][varying], 1, rtol=1e-3)
    np.testing.assert_allclose(sd[12:][~varying], 0, atol=1e-6)
    # the LSTM block is the standardised [mean, max, last] of the hidden states
    pooled = SkeletonLSTM(hidden=4, layers=1, max_epochs=2, inputs="joints+velocity",
                          random_state=1).fit(X[:12], y[:12], X[12:16], y[12:16]).transform(X)
    np.testing.assert_allclose(F[:, :12], (pooled - est.block_stats_[0][0]) / est.block_stats_[0][1],
                               rtol=1e-5, atol=1e-6)
    pyr = np.stack([temporal_pyramid(input_channels(x, "joints+velocity"), 2) for x in X])
    np.testing.assert_allclose(F[:, 12:], (pyr - est.block_stats_[1][0]) / est.block_stats_[1][1],
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"expected pyramid levels as an integer >= 0 \(0: no "
                                         r"pyramid\), got -1"):
        SkeletonLSTM(pyramid=-1).fit(X, y)


def test_augmentation_is_off_at_test_time():
    X, y = small_problem()
    est = SkeletonLSTM(hidden=4, layers=1, max_epochs=2, augment=True, inputs="joints+velocity",
                       random_state=2).fit(X[:16], y[:16])
    a, b = est.transform(X[16:]), est.transform(X[16:])
    np.testing.assert_array_equal(a, b)                  # no random draw when describing
    seq = est._fixed(X[16])                              # the plain, un-augmented steps
    np.testing.assert_allclose(seq, (input_channels(X[16], "joints+velocity") - est.input_mean_)
                               / est.input_scale_, rtol=1e-5, atol=1e-6)
    with torch.inference_mode():
        h, _ = est.model_["lstm"](torch.from_numpy(seq)[None])
    h = h[0].numpy()
    np.testing.assert_allclose(a[0], np.concatenate([h.mean(0), h.max(0), h[-1]]), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_array_equal(est.predict(X[16:]), est.predict(X[16:]))


def test_config_reaches_every_f3_setting_and_reads_older_configurations():
    thesis = F3Config(per_frame=True, mirror=False, inputs="joints", pyramid=0, hidden=128)
    est = thesis.estimator(K)
    assert (est.inputs, est.pyramid, est.bones, est.mirror_joints, est.hidden) == \
        ("joints", 0, None, None, 128)
    ours = F3Config(inputs="joints+velocity+bones", pyramid=3, mirror=True).estimator(K)
    assert ours.bones == K.bones and ours.pyramid == 3
    assert ours.mirror_joints == K.mirror_permutation
    with pytest.raises(ValueError, match=r"F3Config\(inputs='joints\+bones'\) needs the joint layout"):
        F3Config(inputs="joints+bones", mirror=False).estimator()
    with pytest.raises(ValueError, match=r"channel names joined by '\+'"):
        F3Config(inputs="joints,velocity")
    with pytest.raises(ValueError, match=r"expected pyramid levels as an integer >= 0"):
        F3Config(pyramid=1.5)
    # a configuration written before inputs and pyramid existed reads as what it computed
    old = {k: v for k, v in F3Config().to_dict().items() if k not in ("inputs", "pyramid")}
    assert (F3Config.from_dict(old).inputs, F3Config.from_dict(old).pyramid) == ("joints", 0)
    assert F3Config.from_dict(F3Config().to_dict()) == F3Config()


def test_models_pickled_before_the_inputs_load_as_the_thesis_input():
    import pickle
    X, y = small_problem()
    est = SkeletonLSTM(hidden=4, layers=1, max_epochs=1).fit(X[:8], y[:8])
    state = est.__getstate__()
    for name in ("inputs", "bones", "pyramid", "pool", "block_stats_"):
        state.pop(name)
    old = SkeletonLSTM.__new__(SkeletonLSTM)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    assert (old.inputs, old.bones, old.pyramid) == ("joints", None, 0)
    np.testing.assert_array_equal(old.transform(X), est.transform(X))


def test_with_mirroring_the_pyramid_is_handedness_invariant():
    from adl.features.f3 import mirror_sequence
    X, y = small_problem()
    perm = K.mirror_permutation
    est = SkeletonLSTM(hidden=4, layers=1, max_epochs=1, inputs="joints+bones", bones=K.bones,
                       pyramid=2, mirror_joints=perm).fit(X[:16], y[:16])
    F, M = est.transform(X[16:]), est.transform([mirror_sequence(x, perm) for x in X[16:]])
    np.testing.assert_allclose(F[:, 12:], M[:, 12:], rtol=1e-5, atol=1e-5)
    # without mirroring a raised right hand and a raised left hand differ
    plain = SkeletonLSTM(hidden=4, layers=1, max_epochs=1, inputs="joints+bones", bones=K.bones,
                         pyramid=2).fit(X[:16], y[:16])
    F, M = plain.transform(X[16:]), plain.transform([mirror_sequence(x, perm) for x in X[16:]])
    assert not np.allclose(F[:, 12:], M[:, 12:], atol=1e-3)


def test_pool_names_the_poolings_of_the_hidden_states():
    from adl.features.f3_inputs import parse_pool
    X, y = small_problem()
    full = SkeletonLSTM(hidden=4, layers=1, max_epochs=1, random_state=5).fit(X[:16], y[:16])
    mean = SkeletonLSTM(hidden=4, layers=1, max_epochs=1, random_state=5, pool="mean").fit(
        X[:16], y[:16])
    F, M = full.transform(X[16:]), mean.transform(X[16:])
    assert F.shape == (8, 12) and M.shape == (8, 4)
    np.testing.assert_array_equal(M, F[:, :4])            # [mean, max, last]: mean first
    assert parse_pool("last+mean") == ("mean", "last")
    with pytest.raises(ValueError, match=r"expected pool as distinct names joined by '\+' \(some "
                                         r"of mean, max, last\), got 'median'"):
        SkeletonLSTM(pool="median").fit(X, y)
    with pytest.raises(ValueError, match="got 'mean\\+mean'"):
        F3Config(pool="mean+mean")


def test_features_command_exposes_the_f3_options(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from adl.cli.main import main
    from adl.features import pipeline
    seen = {}

    def fake_run(dataset, root, cache, cfg, **kw):
        seen["cfg"] = cfg
        return pipeline.FeaturesSummary(dataset, 0, [], [], {}, {}, 0.0, tmp_path / "index.json")

    monkeypatch.setattr(pipeline, "run_features", fake_run)
    help_text = CliRunner().invoke(main, ["features", "--help"]).output
    for option in ("--f3-reference", "--f3-inputs", "--f3-pyramid", "--f3-pool", "--mirror",
                   "--augment", "--lstm-units"):
        assert option in help_text
    out = CliRunner().invoke(main, ["features", "--dataset", "manifest", "--root", str(tmp_path),
                                    "--cache", str(tmp_path / "c"), "--f3-reference", "per-frame",
                                    "--f3-inputs", "joints", "--f3-pyramid", "0", "--f3-pool",
                                    "mean+max+last", "--no-augment", "--mirror",
                                    "--lstm-units", "128"])
    assert out.exit_code == 0, out.output
    f3 = seen["cfg"].f3
    assert (f3.per_frame, f3.inputs, f3.pyramid, f3.pool, f3.augment, f3.mirror, f3.hidden) == \
        (True, "joints", 0, "mean+max+last", False, True, 128)


def test_every_f3_option_is_in_the_cache_keys():
    from dataclasses import replace

    from adl.features.config import FeaturesConfig
    from adl.features.keys import Stages
    base = FeaturesConfig(families=("f3",))
    stages = Stages("manifest", base, [], rgb_only=True)
    for change in ({"inputs": "joints"}, {"pyramid": 0}, {"pool": "mean+max+last"},
                   {"augment": False}, {"mirror": True}, {"hidden": 128}):
        other = Stages("manifest", replace(base, f3=replace(base.f3, **change)), [], rgb_only=True)
        assert other.f3_fold.digest != stages.f3_fold.digest, change
        assert other.skeleton.digest == stages.skeleton.digest, change
    # the normalisation reference changes the prepared sequences, hence both
    other = Stages("manifest", replace(base, f3=replace(base.f3, per_frame=True)), [], rgb_only=True)
    assert other.skeleton.digest != stages.skeleton.digest
    assert other.f3_fold.digest != stages.f3_fold.digest
