"""Tests of features.fisher: the pure Fisher vector and the fitted per-fold encoder."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.mixture import GaussianMixture
from skimage.feature import fisher_vector as skimage_fisher_vector
from threadpoolctl import threadpool_limits

from adl.features.fisher import (EmptyVideoWarning, FisherVectorEncoder, fisher_vector,
                             gmm_posteriors)


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread():
    # multi-threaded OpenBLAS spins badly on a busy 2-core machine (a 200 x 108
    # SVD took 2 s instead of 15 ms); these models are tiny anyway
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def gmm():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-2, 1, (300, 3)), rng.normal(2, 0.5, (300, 3))])
    return GaussianMixture(4, covariance_type="diag", random_state=0).fit(x)


def test_fisher_vector_matches_skimage_on_the_parts_both_compute(gmm):
    d = np.random.default_rng(1).normal(size=(60, 3))
    sk = skimage_fisher_vector(d, gmm)                    # [d_pi (K), d_mu (K*D), d_sigma (K*D)]
    ours = fisher_vector(d, gmm.means_, gmm.covariances_, gmm.weights_, improved=False)
    K, D = gmm.means_.shape
    assert ours.shape == (2 * K * D,)
    np.testing.assert_allclose(ours[:K * D], sk[K:K + K * D], rtol=1e-10, atol=1e-12)
    # scikit-image's variance gradient has the opposite sign of Sanchez et al.'s
    np.testing.assert_allclose(ours[K * D:], -sk[K + K * D:], rtol=1e-10, atol=1e-12)


def test_improved_fisher_vector_is_power_then_l2_normalised(gmm):
    d = np.random.default_rng(2).normal(size=(30, 3))
    raw = fisher_vector(d, gmm.means_, gmm.covariances_, gmm.weights_, improved=False)
    fv = fisher_vector(d, gmm.means_, gmm.covariances_, gmm.weights_)
    expected = np.sign(raw) * np.sqrt(np.abs(raw))
    np.testing.assert_allclose(fv, expected / np.linalg.norm(expected))
    assert np.linalg.norm(fv) == pytest.approx(1.0)


def test_fisher_vector_of_no_descriptor_is_zero(gmm):
    fv = fisher_vector(np.zeros((0, 3)), gmm.means_, gmm.covariances_, gmm.weights_)
    assert fv.shape == (24,) and not fv.any()


def test_gmm_posteriors_equal_scikit_learns(gmm):
    x = np.random.default_rng(3).normal(size=(20, 3))
    np.testing.assert_allclose(gmm_posteriors(x, gmm.means_, gmm.covariances_, gmm.weights_),
                               gmm.predict_proba(x), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("kw, match", [
    ({"gmm_means": np.zeros(3)}, r"gmm_means of shape \(K, D\)"),
    ({"gmm_covars": np.ones((4, 2))}, r"gmm_covars of shape \(4, 3\)"),
    ({"gmm_weights": np.ones(3)}, r"gmm_weights of shape \(4,\)"),
    ({"gmm_covars": np.zeros((4, 3))}, "strictly positive gmm_covars"),
    ({"gmm_weights": np.zeros(4)}, "strictly positive gmm_weights"),
    ({"descriptors": np.zeros((5, 2))}, r"descriptors of shape \(N, 3\)"),
])
def test_fisher_vector_input_errors(gmm, kw, match):
    args = dict(descriptors=np.zeros((5, 3)), gmm_means=gmm.means_, gmm_covars=gmm.covariances_,
                gmm_weights=gmm.weights_)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        fisher_vector(**args)


# --------------------------------------------------------------------------- encoder
def videos(seed=0, sizes=(120, 80, 100)):
    rng = np.random.default_rng(seed)
    out = []
    for i, n in enumerate(sizes):
        out.append({"traj": rng.normal(i, 1, (n, 30)).astype(np.float16),
                    "hof": rng.random((n, 108)).astype(np.float16),
                    "positions": rng.random((n, 3)).astype(np.float32)})
    return out


def small(**kw):
    base = dict(n_components=4, n_samples=200, max_iter=30, random_state=0)
    base.update(kw)
    return FisherVectorEncoder(**base)


@pytest.fixture(autouse=True)
def _quiet_em():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*did not converge.*")
        yield


def test_encoder_learns_pca_to_half_and_a_gmm_per_type():
    enc = small().fit(videos())
    assert enc.types_ == ("traj", "hof")            # positions ignored, canonical order
    assert enc.dims_ == {"traj": 30, "hof": 108}
    assert enc.pcas_["traj"].n_components_ == 15 and enc.pcas_["hof"].n_components_ == 54
    assert enc.gmms_["hof"].means_.shape == (4, 54)
    assert enc.n_descriptors_ == 200                 # the seeded sample, not all 300
    assert enc.n_features_out_ == 2 * 4 * (15 + 54)
    assert enc.feature_slices() == {"traj": slice(0, 120), "hof": slice(120, 552)}


def test_encoder_transform_is_the_pure_fisher_vector_of_the_projected_descriptors():
    vids = videos()
    enc = small().fit(vids)
    X = enc.transform(vids)
    assert X.shape == (3, enc.n_features_out_) and X.dtype == np.float32
    for t, sl in enc.feature_slices().items():
        g = enc.gmms_[t]
        z = enc.pcas_[t].transform(vids[1][t].astype(np.float64))
        np.testing.assert_allclose(X[1, sl], fisher_vector(z, g.means_, g.covariances_, g.weights_),
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.linalg.norm(X[:, sl], axis=1), 1.0, rtol=1e-5)


def test_encoder_is_deterministic_and_seeded():
    a = small().fit_transform(videos())
    b = small().fit_transform(videos())
    c = small(random_state=1).fit_transform(videos())
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_encoder_gives_a_zero_vector_and_a_warning_for_an_empty_video():
    vids = videos()
    enc = small().fit(vids)
    empty = {k: v[:0] for k, v in vids[0].items()}
    with pytest.warns(EmptyVideoWarning, match="video 'kitchen_07' has no descriptor"):
        X = enc.transform([vids[0], empty], video_ids=["v0", "kitchen_07"])
    assert X[0].any() and not X[1].any()
    with pytest.warns(EmptyVideoWarning, match="video '#0'"):
        enc.transform([empty])


def test_encoder_follows_scikit_learn_conventions():
    enc = small()
    assert clone(enc).get_params() == enc.get_params()
    with pytest.raises(NotFittedError):
        enc.transform(videos())
    with pytest.raises(NotFittedError):
        enc.feature_slices()


def test_encoder_accepts_plain_arrays_and_explicit_types():
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(50, 6)) for _ in range(3)]
    enc = small(n_samples=1000).fit(arrays)
    assert enc.types_ == ("desc",) and enc.transform(arrays).shape == (3, 2 * 4 * 3)
    enc2 = small(descriptor_types=("hof",)).fit(videos())
    assert enc2.types_ == ("hof",)


@pytest.mark.parametrize("kw, match", [
    ({"n_components": 0}, "n_components >= 1"),
    ({"pca_fraction": 0.0}, "0 < pca_fraction <= 1"),
    ({"n_samples": 3}, "n_samples >= n_components = 4, got 3"),
    ({"n_components": 1000, "n_samples": 5000},
     "at least n_components = 1000 training descriptors, got 300"),
])
def test_encoder_fit_parameter_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        small(**kw).fit(videos())


def test_encoder_input_errors():
    vids = videos()
    with pytest.raises(ValueError, match="at least one training video"):
        small().fit([])
    with pytest.raises(ValueError, match=r"video #1: expected 'hof' descriptors of shape \(n, 108\)"):
        small().fit([vids[0], {"traj": vids[1]["traj"], "hof": vids[1]["hof"][:, :50]}])
    with pytest.raises(ValueError, match="video #1: expected descriptor type 'hof'"):
        small().fit([vids[0], {"traj": vids[1]["traj"]}])
    with pytest.raises(ValueError, match="as many rows in every type"):
        small().fit([{"traj": vids[0]["traj"], "hof": vids[0]["hof"][:10]}])
    with pytest.raises(ValueError, match="expected descriptor types among"):
        small().fit([{"positions": np.zeros((5, 3))}])
    with pytest.raises(TypeError, match="mapping type -> \\(n, d\\) array"):
        small().fit([np.zeros(5)])
    enc = small().fit(vids)
    with pytest.raises(ValueError, match="one video id per video"):
        enc.transform(vids, video_ids=["a"])


def test_parallel_type_fits_give_the_same_model():
    rng = np.random.default_rng(5)
    videos = [{"hof": rng.normal(size=(60, 6)).astype(np.float32),
               "mbhx": rng.normal(size=(60, 4)).astype(np.float32)} for _ in range(4)]
    one = FisherVectorEncoder(n_components=3, n_samples=200, random_state=1, n_jobs=1).fit(videos)
    two = FisherVectorEncoder(n_components=3, n_samples=200, random_state=1, n_jobs=2).fit(videos)
    np.testing.assert_array_equal(one.transform(videos), two.transform(videos))


def test_capped_em_is_reported_not_warned():
    rng = np.random.default_rng(6)
    videos = [{"hof": rng.normal(size=(80, 6)).astype(np.float32)} for _ in range(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enc = FisherVectorEncoder(n_components=4, n_samples=200, random_state=0, max_iter=1).fit(videos)
    assert enc.n_iter_ == {"hof": 1} and enc.converged_ == {"hof": False}
