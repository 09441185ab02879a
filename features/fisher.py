"""Fisher vector encoding of F2's local descriptors (thesis 3.3.1, [137]).

The thesis encodes the improved-trajectory descriptors of a video into one
fixed-size vector with a Fisher vector over a Gaussian mixture ("standard
Mixture of Gaussians model as described in [137]"), as Wang & Schmid (ICCV
2013) do: per descriptor type, PCA to half the dimension, a diagonal GMM with
K = 256 components learned on a random sample of training descriptors, the
gradients with respect to the means and variances (Sanchez, Perronnin,
Mensink, Verbeek, IJCV 2013, Eq. 16-17), power ("signed square root") and L2
normalisation, and the types concatenated.

:func:`fisher_vector` is the pure encoding; :class:`FisherVectorEncoder`
holds what is learned on a fold's training videos (PCA and GMM per type) and
follows scikit-learn's estimator conventions.
"""
from __future__ import annotations

import time
import warnings
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from .config import GMM_BACKENDS, FisherConfig
from .gmm import DiagonalGaussianMixture, n_threads
from .idt_descriptors import DESCRIPTOR_TYPES

_DEFAULTS = FisherConfig()    # the encoder's defaults are the configuration's
_SINGLE = "desc"          # the type name given to plain 2-D arrays
_CHUNK = 8192


class EmptyVideoWarning(UserWarning):
    """A video has no descriptor: its Fisher vector is all zeros."""


def _check_gmm(gmm_means, gmm_covars, gmm_weights):
    means = np.asarray(gmm_means, dtype=np.float64)
    covars = np.asarray(gmm_covars, dtype=np.float64)
    weights = np.asarray(gmm_weights, dtype=np.float64)
    if means.ndim != 2:
        raise ValueError(f"expected gmm_means of shape (K, D), got {means.shape}")
    if covars.shape != means.shape:
        raise ValueError(f"expected diagonal gmm_covars of shape {means.shape} (K, D), "
                         f"got {covars.shape}")
    if weights.shape != (means.shape[0],):
        raise ValueError(f"expected gmm_weights of shape ({means.shape[0]},), got {weights.shape}")
    if not (covars > 0).all():
        raise ValueError("expected strictly positive gmm_covars (variances)")
    if not (weights > 0).all():
        raise ValueError("expected strictly positive gmm_weights")
    return means, covars, weights


def gmm_posteriors(x: np.ndarray, means: np.ndarray, covars: np.ndarray,
                   weights: np.ndarray) -> np.ndarray:
    """Posterior probabilities of the components of a diagonal GMM.

    Parameters
    ----------
    x : ndarray, shape (N, D)
    means, covars : ndarray, shape (K, D)
        Means and variances.
    weights : ndarray, shape (K,)

    Returns
    -------
    ndarray, shape (N, K), float64
        Rows sum to 1.
    """
    prec = 1.0 / covars
    # log N(x; mu, sigma^2) = -0.5 (D log 2pi + sum log sigma^2 + sum (x - mu)^2 / sigma^2)
    const = (np.log(weights) - 0.5 * (means.shape[1] * np.log(2 * np.pi) + np.log(covars).sum(1)
                                     + (means ** 2 * prec).sum(1)))
    log_p = x @ (means * prec).T
    log_p -= 0.5 * ((x ** 2) @ prec.T)
    log_p += const
    log_p -= log_p.max(1, keepdims=True)
    np.exp(log_p, out=log_p)
    log_p /= log_p.sum(1, keepdims=True)
    return log_p


def fisher_vector(descriptors: np.ndarray, gmm_means: np.ndarray, gmm_covars: np.ndarray,
                  gmm_weights: np.ndarray, *, improved: bool = True) -> np.ndarray:
    """Fisher vector of a set of descriptors under a diagonal GMM.

    With ``gamma_n(k)`` the posterior of component k for descriptor
    ``x_n`` (n = 1..N), ``sigma_k^2`` the variances and ``w_k`` the weights:

    * mean part: ``G_mu_k = 1/(N sqrt(w_k)) sum_n gamma_n(k) (x_n - mu_k) / sigma_k``
    * variance part: ``G_sigma_k = 1/(N sqrt(2 w_k)) sum_n gamma_n(k) [(x_n - mu_k)^2 / sigma_k^2 - 1]``

    (Sanchez et al., IJCV 2013, Eq. 16-17; VLFeat's ``vl_fisher``).  The mean
    part equals :func:`skimage.feature.fisher_vector`'s; scikit-image's
    variance part has the opposite sign, and it adds a weight part that the
    improved Fisher vector of Perronnin et al. (and IDT + FV) leave out.

    Parameters
    ----------
    descriptors : ndarray, shape (N, D)
    gmm_means, gmm_covars : ndarray, shape (K, D)
        Means and diagonal variances.
    gmm_weights : ndarray, shape (K,)
    improved : bool
        Apply the power (signed square root) and L2 normalisations.

    Returns
    -------
    ndarray, shape (2 * K * D,), float64
        ``[G_mu (K x D, row-major), G_sigma (K x D)]``; all zeros when N = 0.
    """
    means, covars, weights = _check_gmm(gmm_means, gmm_covars, gmm_weights)
    x = np.asarray(descriptors)
    K, D = means.shape
    if x.ndim != 2 or x.shape[1] != D:
        raise ValueError(f"expected descriptors of shape (N, {D}) for this GMM, got {x.shape}")
    stats = _FisherStats(K, D)
    for a in range(0, len(x), _CHUNK):
        stats.add(np.asarray(x[a:a + _CHUNK], dtype=np.float64), means, covars, weights)
    return stats.finish(means, covars, weights, improved=improved)


class _FisherStats:
    """Zeroth, first and second order posterior-weighted sums, accumulated by chunks."""

    def __init__(self, K: int, D: int):
        self.n = 0
        self.s0 = np.zeros(K)
        self.s1 = np.zeros((K, D))
        self.s2 = np.zeros((K, D))

    def add(self, x, means, covars, weights):
        if not len(x):
            return
        g = gmm_posteriors(x, means, covars, weights)
        self.n += len(x)
        self.s0 += g.sum(0)
        self.s1 += g.T @ x
        self.s2 += g.T @ (x ** 2)

    def finish(self, means, covars, weights, *, improved=True):
        K, D = means.shape
        n = self.n
        if n == 0:
            return np.zeros(2 * K * D)
        s0, s1, s2 = self.s0, self.s1, self.s2
        g_mu = (s1 - s0[:, None] * means) / (n * np.sqrt(weights)[:, None] * np.sqrt(covars))
        # sum gamma ((x - mu)^2 / sigma^2 - 1) = (S2 - 2 mu S1 + S0 mu^2) / sigma^2 - S0
        g_sigma = ((s2 - 2 * means * s1 + s0[:, None] * means ** 2) / covars - s0[:, None]) \
            / (n * np.sqrt(2 * weights)[:, None])
        fv = np.concatenate([g_mu.ravel(), g_sigma.ravel()])
        if improved:
            fv = np.sign(fv) * np.sqrt(np.abs(fv))
            norm = np.linalg.norm(fv)
            if norm > 0:
                fv /= norm
        return fv


# --------------------------------------------------------------------------- estimator
def _as_video(video, types: Optional[Sequence[str]]):
    if isinstance(video, Mapping):
        return video
    arr = np.asarray(video)
    if arr.ndim == 2:
        return {_SINGLE: arr}
    raise TypeError(f"expected each video as a mapping type -> (n, d) array or a 2-D array, "
                    f"got {type(video).__name__} of shape {getattr(arr, 'shape', None)}")


class FisherVectorEncoder(TransformerMixin, BaseEstimator):
    """Per-type PCA + diagonal GMM + improved Fisher vector, fitted on training videos.

    Parameters
    ----------
    n_components : int
        Gaussians per descriptor type (K = 256).
    pca_fraction : float
        Each type is reduced by PCA to ``round(pca_fraction * d)`` dimensions
        (0.5: half, as Wang & Schmid).  1.0 keeps all (PCA is then a rotation).
    n_samples : int
        Descriptors drawn at random (without replacement, seeded) from all
        training videos to fit the PCA and the GMM (256 000); all of them
        when there are fewer.  The same trajectories are drawn for every type.
    random_state : int
        Seeds the sample, the PCA and the GMM.
    max_iter : int
        EM iterations of the GMM at most (tolerance 1e-3 on the mean
        log-likelihood per sample, scikit-learn's meaning); a GMM that stops
        at this limit before meeting its tolerance is recorded in
        ``converged_`` (no ``ConvergenceWarning``).
    n_jobs : int
        Threads (the result does not depend on it; -1: every CPU).  With
        ``gmm_backend="adl"`` they share each type's EM (rows split in
        chunks); with ``"sklearn"`` they fit the descriptor types' PCA + GMM
        in parallel.
    gmm_backend : {"adl", "sklearn"}
        ``"adl"`` (default): :class:`adl.features.gmm.DiagonalGaussianMixture`,
        EM in float32 on chunks of rows on ``n_jobs`` threads, initialised by
        k-means on a seeded subsample of ``gmm_init_samples`` descriptors
        (a CAD-120-sized fold: 76 s of CPU against 519 s, the same mean
        log-likelihood to 0.03 nat; ``tests/benchmarks/bench_f2_fit.py``).
        ``"sklearn"``: the
        encoder before it, :class:`sklearn.mixture.GaussianMixture` in
        float64 initialised by k-means on all the sampled descriptors.  Both
        fit the maximum-likelihood diagonal GMM of the thesis ([137]) with the
        same tolerance, ``max_iter`` and variance floor (``reg_covar`` 1e-6),
        from different starting points; the thesis does not say how its GMM
        was initialised.
    gmm_init_samples : int
        ``"adl"`` only: descriptors (a seeded subsample) the k-means of the
        initialisation runs on (65 536).
    descriptor_types : tuple of str, optional
        Types to encode, in output order.  Default: those of ``traj``,
        ``hog``, ``hof``, ``mbhx``, ``mbhy`` present in the first training
        video (other keys, such as ``positions``, are ignored); for plain
        2-D arrays, the single type ``"desc"``.

    Attributes
    ----------
    types_ : tuple of str
    dims_ : dict str -> int
        Input dimension of each type.
    pcas_ : dict str -> sklearn.decomposition.PCA
    gmms_ : dict str -> fitted diagonal GMM
        :class:`adl.features.gmm.DiagonalGaussianMixture` or
        :class:`sklearn.mixture.GaussianMixture` (``gmm_backend``); both
        have ``means_``, ``covariances_`` (variances, (K, d')) and
        ``weights_``.
    converged_, n_iter_ : dict str -> bool, int
        Per type: whether EM met its tolerance within ``max_iter``, and the
        iterations run.
    n_features_out_ : int
        Length of a video's Fisher vector: ``sum 2 * K * d'`` over types.
    n_descriptors_ : int
        Descriptors the model was fitted on.
    fit_seconds_ : dict str -> float
        Wall-clock seconds of the phases of :meth:`fit`, summed over types:
        ``"sample"`` (gathering the descriptors), ``"pca"`` (fit and
        projection), ``"gmm"``.  Not pickled (a timing would make the cached
        fold models of two identical runs differ byte for byte).

    Notes
    -----
    ``fit(videos)`` / ``transform(videos)`` take a sequence of videos, each a
    mapping ``type -> (n_i, d_type)`` array (the output of
    :func:`adl.features.f2.extract_f2`) or a 2-D array.  A video without
    descriptors is encoded as zeros, with an :class:`EmptyVideoWarning`
    naming it (``video_ids`` of :meth:`transform`).  Videos are read in chunks
    of 8192 descriptors, so a long video costs no more memory than its input.

    On a busy machine, multi-threaded OpenBLAS can be slower by orders of
    magnitude (spinning threads); ``threadpoolctl.threadpool_limits(1)``
    around ``fit``/``transform`` avoids it.
    """

    def __init__(self, n_components: int = _DEFAULTS.n_components,
                 pca_fraction: float = _DEFAULTS.pca_fraction,
                 n_samples: int = _DEFAULTS.n_samples, random_state: int = 0,
                 max_iter: int = _DEFAULTS.max_iter,
                 descriptor_types: Optional[Tuple[str, ...]] = None, n_jobs: int = 1,
                 gmm_backend: str = "adl", gmm_init_samples: int = 65_536):
        self.n_jobs = n_jobs
        self.gmm_backend = gmm_backend
        self.gmm_init_samples = gmm_init_samples
        self.n_components = n_components
        self.pca_fraction = pca_fraction
        self.n_samples = n_samples
        self.random_state = random_state
        self.max_iter = max_iter
        self.descriptor_types = descriptor_types

    def __getstate__(self):
        state = super().__getstate__() if hasattr(super(), "__getstate__") else dict(self.__dict__)
        state = dict(state)
        state.pop("fit_seconds_", None)
        return state

    def __setstate__(self, state):
        # encoders pickled before the parameter was renamed (fold transformers
        # of older caches) stored the seed as ``seed``
        state = dict(state)
        if "seed" in state and "random_state" not in state:
            state["random_state"] = state.pop("seed")
        # encoders pickled before the fast GMM existed were fitted by scikit-learn
        state.setdefault("gmm_backend", "sklearn")
        state.setdefault("gmm_init_samples", 65_536)
        super().__setstate__(state)

    # ---------------------------------------------------------------- helpers
    def _check_params(self):
        if not isinstance(self.n_components, (int, np.integer)) or self.n_components < 1:
            raise ValueError(f"FisherVectorEncoder: expected n_components >= 1, got "
                             f"{self.n_components!r}")
        if not (0.0 < float(self.pca_fraction) <= 1.0):
            raise ValueError(f"FisherVectorEncoder: expected 0 < pca_fraction <= 1, got "
                             f"{self.pca_fraction!r}")
        try:
            n_threads(self.n_jobs)
        except (TypeError, ValueError):
            raise ValueError(f"FisherVectorEncoder: expected n_jobs >= 1 or -1, got "
                             f"{self.n_jobs!r}") from None
        if self.gmm_backend not in GMM_BACKENDS:
            raise ValueError(f"FisherVectorEncoder: expected gmm_backend in "
                             f"{', '.join(GMM_BACKENDS)}, got {self.gmm_backend!r}")
        if not isinstance(self.n_samples, (int, np.integer)) or self.n_samples < self.n_components:
            raise ValueError(f"FisherVectorEncoder: expected n_samples >= n_components = "
                             f"{self.n_components}, got {self.n_samples!r}")

    def _types_of(self, first) -> Tuple[str, ...]:
        if self.descriptor_types is not None:
            return tuple(self.descriptor_types)
        if _SINGLE in first and len(first) == 1:
            return (_SINGLE,)
        types = tuple(t for t in DESCRIPTOR_TYPES if t in first)
        if not types:
            raise ValueError(f"FisherVectorEncoder: expected descriptor types among "
                             f"{', '.join(DESCRIPTOR_TYPES)} in the first video, got keys "
                             f"{sorted(first)}; set descriptor_types")
        return types

    def _check_video(self, video, i: int, types, dims) -> Dict[str, np.ndarray]:
        v = _as_video(video, types)
        out = {}
        n = None
        for t in types:
            if t not in v:
                raise ValueError(f"video #{i}: expected descriptor type {t!r}, got keys "
                                 f"{sorted(v)}")
            a = np.asarray(v[t])
            if a.ndim != 2 or (dims is not None and a.shape[1] != dims[t]):
                want = f"(n, {dims[t]})" if dims is not None else "(n, d)"
                raise ValueError(f"video #{i}: expected {t!r} descriptors of shape {want}, got "
                                 f"{a.shape}")
            if n is not None and len(a) != n:
                raise ValueError(f"video #{i}: expected as many rows in every type, got "
                                 f"{n} and {len(a)} ({t!r})")
            n = len(a)
            out[t] = a
        return out

    # ---------------------------------------------------------------- fit
    def fit(self, X, y=None):
        """Learn PCA and GMM per type on a seeded sample of the training videos' descriptors.

        Parameters
        ----------
        X : sequence of videos
            Each a mapping type -> (n_i, d) array or a 2-D array.
        y : ignored

        Returns
        -------
        self
        """
        from sklearn.decomposition import PCA
        from sklearn.mixture import GaussianMixture

        self._check_params()
        videos = list(X)
        if not videos:
            raise ValueError("FisherVectorEncoder.fit: expected at least one training video, got 0")
        first = _as_video(videos[0], None)
        types = self._types_of(first)
        checked = []
        dims = None
        for i, v in enumerate(videos):
            cv = self._check_video(v, i, types, dims)
            if dims is None:
                dims = {t: cv[t].shape[1] for t in types}
            checked.append(cv)
        counts = np.array([len(cv[types[0]]) for cv in checked], dtype=np.int64)
        total = int(counts.sum())
        K = int(self.n_components)
        if total < K:
            raise ValueError(f"FisherVectorEncoder.fit: expected at least n_components = {K} "
                             f"training descriptors, got {total}")
        rng = np.random.default_rng(self.random_state)
        take = min(int(self.n_samples), total)
        pick = np.sort(rng.choice(total, size=take, replace=False)) if take < total \
            else np.arange(total)
        owner = np.searchsorted(np.cumsum(counts), pick, side="right")
        local = pick - np.concatenate([[0], np.cumsum(counts)[:-1]])[owner]
        starts = np.concatenate([[0], np.flatnonzero(np.diff(owner)) + 1])
        stops = np.concatenate([starts[1:], [take]])
        self.types_ = types
        self.dims_ = dims

        fast = self.gmm_backend == "adl"
        def fit_type(t):
            t0 = time.perf_counter()
            sample = np.empty((take, dims[t]), np.float64)
            for a, b in zip(starts, stops):          # runs of rows of one video (pick is sorted)
                sample[a:b] = np.asarray(checked[owner[a]][t][local[a:b]], dtype=np.float64)
            t1 = time.perf_counter()
            k = max(1, int(round(float(self.pca_fraction) * dims[t])))
            k = min(k, dims[t], take)
            pca = PCA(n_components=k, random_state=self.random_state).fit(sample)
            z = pca.transform(sample)
            del sample
            t2 = time.perf_counter()
            if fast:
                gmm = DiagonalGaussianMixture(K, max_iter=int(self.max_iter),
                                              init_samples=int(self.gmm_init_samples),
                                              random_state=self.random_state,
                                              n_jobs=self.n_jobs).fit(z)
            else:
                gmm = GaussianMixture(n_components=K, covariance_type="diag",
                                      max_iter=self.max_iter,
                                      random_state=self.random_state).fit(z)
            t3 = time.perf_counter()
            return pca, gmm, {"sample": t1 - t0, "pca": t2 - t1, "gmm": t3 - t2}

        # A capped EM budget is a choice (max_iter), not an anomaly: whether each
        # GMM converged is kept in converged_ instead of a warning per type.  The
        # filter is set here, around the worker threads, and not in them: the
        # warnings filters are process-wide, and a thread leaving its own
        # catch_warnings would restore them while another thread still fits.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            # types are independent and seeded: the same models in any order, so
            # they may be fitted by parallel threads (numpy and BLAS release the GIL)
            # (the fast GMM spreads its own work over n_jobs threads)
            threads = n_threads(self.n_jobs)
            if threads > 1 and len(types) > 1 and not fast:
                from concurrent.futures import ThreadPoolExecutor
                with ThreadPoolExecutor(max_workers=threads) as pool:
                    fitted = list(pool.map(fit_type, types))
            else:
                fitted = [fit_type(t) for t in types]
        self.pcas_ = {t: f[0] for t, f in zip(types, fitted)}
        self.gmms_ = {t: f[1] for t, f in zip(types, fitted)}
        self.converged_ = {t: bool(g.converged_) for t, g in self.gmms_.items()}
        self.n_iter_ = {t: int(g.n_iter_) for t, g in self.gmms_.items()}
        n_out = sum(2 * K * self.pcas_[t].n_components_ for t in types)
        self.n_features_out_ = n_out
        self.n_descriptors_ = take
        self.fit_seconds_ = {phase: float(sum(f[2][phase] for f in fitted))
                             for phase in ("sample", "pca", "gmm")}
        return self

    # ---------------------------------------------------------------- transform
    def transform(self, X, video_ids: Optional[Sequence[str]] = None) -> np.ndarray:
        """Fisher vectors of videos.

        Parameters
        ----------
        X : sequence of videos
        video_ids : sequence of str, optional
            Names used in the warning for videos without descriptors.

        Returns
        -------
        ndarray, shape (n_videos, n_features_out_), float32
            Per type: improved Fisher vector (power + L2 normalised); types
            concatenated in ``types_`` order.  Zeros for an empty video.
        """
        check_is_fitted(self, "gmms_")
        videos = list(X)
        if video_ids is not None and len(video_ids) != len(videos):
            raise ValueError(f"expected one video id per video, got {len(video_ids)} ids for "
                             f"{len(videos)} videos")
        out = np.zeros((len(videos), self.n_features_out_), np.float32)
        checked = []
        for i, video in enumerate(videos):
            cv = self._check_video(video, i, self.types_, self.dims_)
            if len(cv[self.types_[0]]) == 0:
                name = video_ids[i] if video_ids is not None else f"#{i}"
                warnings.warn(f"FisherVectorEncoder: video {name!r} has no descriptor (no "
                              f"surviving trajectory); its Fisher vector is zero",
                              EmptyVideoWarning, stacklevel=2)
                continue
            checked.append((i, cv))

        def encode(item):
            i, cv = item
            o = 0
            for t in self.types_:
                gmm, pca = self.gmms_[t], self.pcas_[t]
                means, covars, weights = gmm.means_, gmm.covariances_, gmm.weights_
                stats = _FisherStats(*means.shape)
                a = cv[t]
                for k in range(0, len(a), _CHUNK):     # bounded memory for long videos
                    z = pca.transform(np.asarray(a[k:k + _CHUNK], dtype=np.float64))
                    stats.add(z, means, covars, weights)
                fv = stats.finish(means, covars, weights, improved=True)
                out[i, o:o + fv.size] = fv             # one row per video: no two threads share it
                o += fv.size

        threads = n_threads(self.n_jobs)
        if threads > 1 and len(checked) > 1:
            # videos are independent: n_jobs threads, one BLAS thread each (the
            # Fisher vectors do not depend on it)
            from concurrent.futures import ThreadPoolExecutor
            from threadpoolctl import threadpool_limits
            with threadpool_limits(limits=1, user_api="blas"), \
                    ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(encode, checked))
        else:
            for item in checked:
                encode(item)
        return out

    def fit_transform(self, X, y=None, video_ids: Optional[Sequence[str]] = None):
        """``fit(X).transform(X, video_ids)``."""
        videos = list(X)
        return self.fit(videos).transform(videos, video_ids=video_ids)

    def feature_slices(self) -> Dict[str, slice]:
        """Columns of each type in the output of :meth:`transform`."""
        check_is_fitted(self, "gmms_")
        out, o = {}, 0
        for t in self.types_:
            width = 2 * self.n_components * self.pcas_[t].n_components_
            out[t] = slice(o, o + width)
            o += width
        return out
