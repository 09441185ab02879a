"""Tests of features.gmm (the fast diagonal GMM of F2's Fisher encoder) and of the
encoder's ``gmm_backend``."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from adl.features.fisher import FisherVectorEncoder, gmm_posteriors
from adl.features.gmm import DiagonalGaussianMixture, n_threads


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread():
    with threadpool_limits(limits=1):
        yield


def known_gmm(seed=0, K=6, D=4, n=6000):
    """Samples of a known diagonal GMM: (x, means, variances, weights)."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 4, (K, D))
    var = rng.uniform(0.2, 1.0, (K, D))
    w = rng.dirichlet(np.full(K, 8.0))
    c = rng.choice(K, n, p=w)
    x = means[c] + np.sqrt(var[c]) * rng.normal(size=(n, D))
    return x, means, var, w


def true_loglik(x, means, var, w):
    ref = DiagonalGaussianMixture(len(w))
    ref.means_, ref.covariances_, ref.weights_, ref.n_features_in_ = means, var, w, x.shape[1]
    return ref.score(x)


def test_recovers_a_known_gmm_as_well_as_scikit_learn():
    x, means, var, w = known_gmm()
    test = known_gmm(seed=0, n=12000)[0][6000:]          # more samples of the same GMM
    ours = DiagonalGaussianMixture(6, random_state=0, init_samples=2000, chunk_size=1000).fit(x)
    sk = GaussianMixture(6, covariance_type="diag", random_state=0).fit(x)
    assert ours.converged_ and ours.n_iter_ <= 100
    # held-out log-likelihood per sample: ours is within 0.01 nat of scikit-learn's
    # and of the generating model's
    assert ours.score(test) == pytest.approx(sk.score(test), abs=0.01)
    assert ours.score(test) == pytest.approx(true_loglik(test, means, var, w), abs=0.02)
    # and the components are the generating ones (matched by their means)
    order = [int(np.argmin(((ours.means_ - m) ** 2).sum(1))) for m in means]
    assert sorted(order) == list(range(6))
    np.testing.assert_allclose(ours.means_[order], means, atol=0.15)
    np.testing.assert_allclose(ours.covariances_[order], var, rtol=0.2)
    np.testing.assert_allclose(ours.weights_[order], w, atol=0.02)


def test_lower_bound_is_scikit_learns_on_the_same_start():
    # from the same hard assignment, one float64 EM iteration gives sklearn's
    # parameters (its M-step) and its lower bound (the E-step's mean log-likelihood)
    x, *_ = known_gmm(seed=1, K=3, D=2, n=900)
    ours = DiagonalGaussianMixture(3, max_iter=1, random_state=0, dtype="float64",
                                   init_samples=900).fit(x)
    labels = ours._initial_labels(np.asarray(x, np.float64))
    # sklearn started from the parameters of that hard assignment (its own
    # initialisation from k-means labels)
    nk = np.bincount(labels, minlength=3) + 10 * np.finfo(float).eps
    mu = np.stack([x[labels == k].sum(0) for k in range(3)]) / nk[:, None]
    var = np.stack([(x[labels == k] ** 2).sum(0) for k in range(3)]) / nk[:, None] - mu ** 2 + 1e-6
    sk = GaussianMixture(3, covariance_type="diag", max_iter=1, weights_init=nk / len(x),
                         means_init=mu, precisions_init=1 / var, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk.fit(x)
    np.testing.assert_allclose(ours.means_, sk.means_, rtol=1e-10)
    np.testing.assert_allclose(ours.covariances_, sk.covariances_, rtol=1e-10)
    np.testing.assert_allclose(ours.weights_, sk.weights_, rtol=1e-10)
    assert ours.lower_bound_ == pytest.approx(sk.lower_bound_, rel=1e-10)


def test_posteriors_and_scores_equal_the_closed_form():
    x, *_ = known_gmm(seed=2, n=500)
    g = DiagonalGaussianMixture(6, random_state=0).fit(x)
    p = g.predict_proba(x[:20])
    np.testing.assert_allclose(p, gmm_posteriors(x[:20], g.means_, g.covariances_, g.weights_),
                               rtol=1e-8, atol=1e-12)
    assert (g.predict(x[:20]) == p.argmax(1)).all()
    d = x[:5, None, :] - g.means_[None]
    log_n = -0.5 * (np.log(2 * np.pi * g.covariances_)[None] + d ** 2 / g.covariances_).sum(2)
    expected = np.log((g.weights_ * np.exp(log_n)).sum(1))
    np.testing.assert_allclose(g.score_samples(x[:5]), expected, rtol=1e-10)


def test_same_seed_same_model_whatever_the_threads():
    x, *_ = known_gmm(seed=3, n=5000)
    a = DiagonalGaussianMixture(8, random_state=4, chunk_size=512, n_jobs=1).fit(x)
    b = DiagonalGaussianMixture(8, random_state=4, chunk_size=512, n_jobs=2).fit(x)
    c = DiagonalGaussianMixture(8, random_state=5, chunk_size=512, n_jobs=2).fit(x)
    for attr in ("means_", "covariances_", "weights_"):
        np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))
    assert a.n_iter_ == b.n_iter_ and a.lower_bound_ == b.lower_bound_
    assert not np.allclose(np.sort(a.means_, 0), np.sort(c.means_, 0))


def test_max_iter_tolerance_and_the_variance_floor():
    x, *_ = known_gmm(seed=4, n=3000)
    capped = DiagonalGaussianMixture(6, max_iter=1, tol=0.0, random_state=0).fit(x)
    assert capped.n_iter_ == 1 and not capped.converged_
    loose = DiagonalGaussianMixture(6, tol=1e9, random_state=0).fit(x)
    assert loose.n_iter_ == 2 and loose.converged_     # the first change, from -inf, is infinite
    # points repeated exactly: a component collapses onto one, its variance is the floor
    pts = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0], [9.0, -3.0]]), 200, axis=0)
    g = DiagonalGaussianMixture(3, reg_covar=1e-3, random_state=0).fit(pts)
    np.testing.assert_allclose(g.covariances_, 1e-3, rtol=1e-3)
    assert (g.covariances_ >= 1e-3).all()


@pytest.mark.parametrize("kw, match", [
    ({"n_components": 0}, "integer n_components >= 1, got 0"),
    ({"max_iter": 0}, "integer max_iter >= 1, got 0"),
    ({"init_samples": 0}, "integer init_samples >= 1"),
    ({"chunk_size": 2.5}, "integer chunk_size >= 1, got 2.5"),
    ({"tol": -1.0}, "tol >= 0, got -1.0"),
    ({"reg_covar": -1e-6}, "reg_covar >= 0"),
    ({"dtype": "float16"}, "dtype in float32, float64, got 'float16'"),
    ({"n_components": 50}, "n_samples >= n_components = 50, got 40"),
    ({"n_jobs": 0}, r"n_jobs >= 1 or -1, got 0"),
])
def test_parameter_errors(kw, match):
    x = np.random.default_rng(0).normal(size=(40, 2))
    with pytest.raises(ValueError, match=match):
        DiagonalGaussianMixture(**{"n_components": 2, **kw}).fit(x)


def test_input_errors():
    with pytest.raises(ValueError, match=r"X of shape \(n_samples, n_features\), got shape \(5,\)"):
        DiagonalGaussianMixture(2).fit(np.zeros(5))
    with pytest.raises(ValueError, match="real numbers in X, got dtype <U1"):
        DiagonalGaussianMixture(2).fit(np.array([["a", "b"]] * 4))
    bad = np.zeros((10, 2))
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="finite values in X"):
        DiagonalGaussianMixture(2).fit(bad)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        DiagonalGaussianMixture(2).score(np.zeros((3, 2)))
    g = DiagonalGaussianMixture(2, random_state=0).fit(np.random.default_rng(0).normal(size=(50, 3)))
    with pytest.raises(ValueError, match="X with 3 features, got 2"):
        g.predict_proba(np.zeros((4, 2)))


def test_n_threads():
    assert n_threads(3) == 3 and n_threads(-1) >= 1
    with pytest.raises(ValueError, match=r"n_jobs >= 1 or -1, got -2"):
        n_threads(-2)


# --------------------------------------------------------------------------- the encoder
def videos(seed=0, n_videos=4, n=150):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_videos):
        c = rng.integers(0, 3, n)[:, None]
        out.append({"hof": (rng.normal(c, 0.3, (n, 8))).astype(np.float32),
                    "mbhx": (rng.normal(-c, 0.5, (n, 6))).astype(np.float32)})
    return out


def test_encoder_backends_learn_as_well_and_keep_the_shapes():
    vids = videos()
    kw = dict(n_components=3, n_samples=600, random_state=0, n_jobs=2)
    fast = FisherVectorEncoder(gmm_backend="adl", **kw).fit(vids)
    slow = FisherVectorEncoder(gmm_backend="sklearn", **kw).fit(vids)
    assert isinstance(fast.gmms_["hof"], DiagonalGaussianMixture)
    assert isinstance(slow.gmms_["hof"], GaussianMixture)
    Xf, Xs = fast.transform(vids), slow.transform(vids)
    assert Xf.shape == Xs.shape == (4, 2 * 3 * (4 + 3)) and Xf.dtype == np.float32
    for t in ("hof", "mbhx"):
        z = fast.pcas_[t].transform(np.concatenate([v[t] for v in vids]).astype(np.float64))
        assert fast.gmms_[t].score(z) == pytest.approx(slow.gmms_[t].score(z), abs=0.05)
    assert set(fast.fit_seconds_) == {"sample", "pca", "gmm"}
    assert all(v >= 0 for v in fast.fit_seconds_.values())


def test_encoder_same_seed_same_model_for_any_n_jobs():
    vids = videos(seed=1)
    a = FisherVectorEncoder(n_components=3, n_samples=600, random_state=2, n_jobs=1).fit(vids)
    b = FisherVectorEncoder(n_components=3, n_samples=600, random_state=2, n_jobs=2).fit(vids)
    np.testing.assert_array_equal(a.gmms_["hof"].means_, b.gmms_["hof"].means_)
    np.testing.assert_array_equal(a.transform(vids), b.transform(vids))


@pytest.mark.parametrize("kw, match", [
    ({"gmm_backend": "torch"}, "gmm_backend in adl, sklearn, got 'torch'"),
    ({"n_jobs": 0}, r"FisherVectorEncoder: expected n_jobs >= 1 or -1, got 0"),
    ({"n_jobs": "two"}, r"FisherVectorEncoder: expected n_jobs >= 1 or -1, got 'two'"),
])
def test_encoder_backend_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        FisherVectorEncoder(n_components=3, n_samples=600, **kw).fit(videos())


def test_encoders_pickled_before_the_backend_read_as_sklearn():
    enc = FisherVectorEncoder(n_components=3, n_samples=600)
    state = dict(enc.__dict__)
    del state["gmm_backend"], state["gmm_init_samples"]
    old = FisherVectorEncoder.__new__(FisherVectorEncoder)
    old.__setstate__(state)
    assert old.gmm_backend == "sklearn" and old.gmm_init_samples == 65_536


def test_the_fold_config_names_the_encoders_backends():
    from adl.features import config, fisher
    assert config.GMM_BACKENDS == fisher.GMM_BACKENDS
    assert config.FisherConfig().gmm_backend == "adl"
    with pytest.raises(ValueError, match="gmm_backend one of adl, sklearn"):
        config.FisherConfig(gmm_backend="torch")


def test_pickles_of_two_identical_fits_are_identical():
    import pickle
    from adl.features.fisher import FisherVectorEncoder
    rng = np.random.default_rng(0)
    videos = [{"hog": rng.normal(size=(40, 6))} for _ in range(4)]
    a = FisherVectorEncoder(n_components=2, n_samples=100, random_state=0).fit(videos)
    b = FisherVectorEncoder(n_components=2, n_samples=100, random_state=0).fit(videos)
    assert hasattr(a, "fit_seconds_")
    assert pickle.dumps(a) == pickle.dumps(b)
    assert not hasattr(pickle.loads(pickle.dumps(a)), "fit_seconds_")
