"""F1 pooling (Eq. 3.2-3.4), normalisation and part selection."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from adl.features.body_parts import PART_NAMES
from adl.features.f1 import BodyPartSelector, F1Config, frame_norms, pool_video


def hand_made():
    """T = 6 frames, 5 parts, d = 2; part p = base + p."""
    base = np.array([[0, 5], [1, 4], [4, 3], [2, 2], [3, 1], [9, 0]], np.float32)  # (6, 2)
    return np.stack([base + p for p in range(5)], axis=1)                      # (6, 5, 2)


def test_pool_video_static_and_dynamic_extremes():
    v = pool_video(hand_made(), delta=4)
    assert v.shape == (5, 8) and v.dtype == np.float32
    # static: min and max over t of each dimension
    np.testing.assert_array_equal(v[0, :4], [0, 0, 9, 5])
    # dynamic: z(t+4) - z(t) for t = 0, 1  -> [3, -4] and [8, -4]
    np.testing.assert_array_equal(v[0, 4:], [3, -4, 8, -4])
    np.testing.assert_array_equal(v[3], v[0] + [3, 3, 3, 3, 0, 0, 0, 0])


def test_pool_video_with_delta_one():
    v = pool_video(hand_made(), delta=1)
    diffs = np.diff(hand_made()[:, 0], axis=0)
    np.testing.assert_array_equal(v[0, 4:], [*diffs.min(0), *diffs.max(0)])


def test_short_videos_use_the_largest_available_offset():
    z = hand_made()[:3]                        # T = 3 < delta + 1
    v = pool_video(z, delta=4)
    np.testing.assert_array_equal(v[0, 4:], [*(z[2, 0] - z[0, 0]), *(z[2, 0] - z[0, 0])])
    single = pool_video(z[:1], delta=4)
    np.testing.assert_array_equal(single[:, 4:], 0)
    np.testing.assert_array_equal(single[:, :2], single[:, 2:4])


@pytest.mark.parametrize("z, delta, match", [
    (np.zeros((4, 3, 2)), 4, r"shape \(T, 5, d\)"),
    (np.zeros((0, 5, 2)), 4, "at least one frame"),
    (np.zeros((4, 5, 2)), 0, "delta to be an integer >= 1"),
])
def test_pool_video_rejects_bad_input(z, delta, match):
    with pytest.raises(ValueError, match=match):
        pool_video(z, delta=delta)


def test_frame_norms_is_the_mean_l2_norm_per_part():
    z = np.zeros((2, 5, 2), np.float32)
    z[0, 1] = [3, 4]
    z[1, 1] = [6, 8]
    np.testing.assert_allclose(frame_norms(z), [0, 7.5, 0, 0, 0])


def test_f1_config_validates_and_derives():
    cfg = F1Config(frame_stride=2)
    assert cfg.pool_delta == 2 and F1Config(frame_stride=8).pool_delta == 1
    assert "select" not in cfg.frame_key() and cfg.pool_key()["delta"] == 4
    assert F1Config.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown backbone 'vgg'"):
        F1Config(backbone="vgg")
    with pytest.raises(ValueError, match="unknown precision"):
        F1Config(precision="half")
    with pytest.raises(ValueError, match="unknown select"):
        F1Config(select="top2")
    with pytest.raises(ValueError, match="input_size to be an integer >= 32"):
        F1Config(input_size=8)
    with pytest.raises(ValueError, match="svm_C > 0"):
        F1Config(svm_C=0)
    with pytest.raises(ValueError, match=r"unknown F1Config fields \['lr'\]"):
        F1Config.from_dict({"lr": 1})


def synthetic(n, informative=2, dim=12, seed=0):
    """Pooled descriptors where only ``informative`` separates the 3 classes."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = rng.normal(0, 1, (n, 5, dim)).astype(np.float32)
    X[:, informative, :3] += 4.0 * np.eye(3)[y]
    return X, y


def test_selector_keeps_the_informative_part():
    X, y = synthetic(60)
    Xv, yv = synthetic(30, seed=1)
    sel = BodyPartSelector().fit(X, y, Xv, yv)
    assert sel.selected_part_ == "upper_body" == PART_NAMES[2]
    assert sel.selected_parts_ == (2,)
    assert sel.part_scores_[2] > 0.9 and np.nanmax(np.delete(sel.part_scores_, 2)) < 0.7
    out = sel.transform(Xv)
    assert out.shape == (30, 12) and out.dtype == np.float32
    np.testing.assert_allclose(out, Xv[:, 2] / sel.scale_[2], rtol=1e-6)


def test_select_all_concatenates_the_five_parts():
    X, y = synthetic(30)
    sel = BodyPartSelector(select="all").fit(X, y)
    assert sel.transform(X).shape == (30, 60) and sel.selected_parts_ == (0, 1, 2, 3, 4)
    assert sel.selected_part_ is None and np.isnan(sel.part_scores_).all()


def test_normalisation_is_the_average_training_frame_norm():
    X, y = synthetic(6)
    norms = np.tile([[1.0, 2, 3, 4, 5]], (6, 1))
    norms[0] *= 10
    sel = BodyPartSelector(select="all").fit(X, y, frame_norms=norms, n_frames=[1, 3, 3, 3, 3, 3])
    np.testing.assert_allclose(sel.scale_, np.array([1, 2, 3, 4, 5]) * (10 + 15) / 16)
    np.testing.assert_allclose(sel.transform(X)[:, :12], X[:, 0] / sel.scale_[0], rtol=1e-6)
    unweighted = BodyPartSelector(select="all").fit(X, y, frame_norms=norms)
    np.testing.assert_allclose(unweighted.scale_, np.array([1, 2, 3, 4, 5]) * 15 / 6)


def test_selector_refuses_to_transform_unfitted():
    with pytest.raises(NotFittedError):
        BodyPartSelector().transform(np.zeros((2, 5, 4)))


def test_selector_follows_sklearn_conventions():
    sel = BodyPartSelector(select="all", C=0.5)
    assert clone(sel).get_params() == {"select": "all", "C": 0.5, "max_iter": 5000, "random_state": 0}


@pytest.mark.parametrize("kwargs, match", [
    (dict(select="top"), "unknown select 'top'"),
    (dict(C=-1), "C > 0"),
])
def test_selector_rejects_bad_hyper_parameters(kwargs, match):
    X, y = synthetic(6)
    with pytest.raises(ValueError, match=match):
        BodyPartSelector(**kwargs).fit(X, y, X, y)


def test_selector_rejects_bad_data():
    X, y = synthetic(12)
    with pytest.raises(ValueError, match="pass X_val, y_val"):
        BodyPartSelector().fit(X, y)
    with pytest.raises(ValueError, match="pass X_val and y_val together"):
        BodyPartSelector(select="all").fit(X, y, X)
    with pytest.raises(ValueError, match=r"expected X of shape \(n_videos, 5, 4d\)"):
        BodyPartSelector().fit(X[:, :3], y, X, y)
    with pytest.raises(ValueError, match=r"expected X_val with 12 values per part"):
        BodyPartSelector().fit(X, y, X[..., :6], y)
    with pytest.raises(ValueError, match=r"expected y of shape \(12,\)"):
        BodyPartSelector().fit(X, y[:5], X, y)
    with pytest.raises(ValueError, match=r"expected y_val of shape \(12,\)"):
        BodyPartSelector().fit(X, y, X, y[:3])
    with pytest.raises(ValueError, match="at least 2 classes"):
        BodyPartSelector().fit(X, np.zeros(12), X, y)
    bad = X.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        BodyPartSelector().fit(bad, y, X, y)
    with pytest.raises(ValueError, match=r"frame_norms of shape \(12, 5\)"):
        BodyPartSelector().fit(X, y, X, y, frame_norms=np.ones((12, 4)))
    with pytest.raises(ValueError, match="n_frames as 12 non-negative counts"):
        BodyPartSelector().fit(X, y, X, y, frame_norms=np.ones((12, 5)), n_frames=-np.ones(12))
    sel = BodyPartSelector().fit(X, y, X, y)
    with pytest.raises(ValueError, match="with 12 values per part"):
        sel.transform(X[..., :4])


def test_feature_modules_import_without_torch():
    import subprocess
    import sys
    code = ("import sys, features.body_parts, features.cnn, features.f1, features.f3; "
            "print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
