"""A fast diagonal-covariance Gaussian mixture for F2's Fisher encoder (thesis 3.3.1, [137]).

The thesis fits, per descriptor type, a GMM of K = 256 diagonal Gaussians on
a random sample of training trajectories (Wang & Schmid, ICCV 2013: 256 000)
and encodes every video by its Fisher vector under it.  The model is the
maximum-likelihood diagonal GMM that scikit-learn's
:class:`~sklearn.mixture.GaussianMixture` ``(covariance_type="diag")`` also
fits by expectation-maximisation; this module fits the same model faster:

* **Initialisation.**  scikit-learn runs k-means (k-means++ seeding, then
  Lloyd to convergence, up to 300 iterations) on *all* the samples and
  starts EM from its hard assignment.  Here k-means (scikit-learn's, seeded)
  runs on a seeded subsample of ``init_samples`` points (65 536 by default)
  for at most ``init_max_iter`` Lloyd iterations; every sample is then
  assigned to its nearest centre and EM starts from that hard assignment, as
  scikit-learn's does.  *Choice:* the subsample; EM refines the model on all
  the samples afterwards.
* **EM in float32, by chunks, on several threads.**  One pass over the data
  per iteration computes the responsibilities (log-sum-exp per sample) of a
  chunk of ``chunk_size`` rows with one matrix product of ``[x, x**2]``
  (``(n, 2D)``) and ``[mu / sigma^2; -1 / (2 sigma^2)]`` (``(2D, K)``), and
  accumulates the chunk's zeroth, first and second order sums with a second
  product ``resp.T @ [x, x**2]``.  Chunks are processed by ``n_jobs`` threads
  (numpy and BLAS release the GIL); their partial sums are added in chunk
  order in float64, so the model does not depend on ``n_jobs``.  The M-step
  is scikit-learn's (``_estimate_gaussian_covariances_diag``): ``nk = sum
  resp + 10 eps``, ``mu = S1 / nk``, ``sigma^2 = S2 / nk - mu^2 + reg_covar``,
  ``w = nk / n``.
* **Stopping** as scikit-learn's: the lower bound is the mean log-likelihood
  per sample under the parameters of the E-step; EM stops when it changes
  by less than ``tol`` between two iterations (``converged_``) or after
  ``max_iter`` iterations.

``dtype="float64"`` runs the same algorithm in double precision (slower;
for checks).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import numpy as np
from sklearn.base import BaseEstimator

#: Added to each component's count before dividing, as scikit-learn does.
_EPS_COUNT = 10 * np.finfo(np.float64).eps
DTYPES = ("float32", "float64")


def n_threads(n_jobs) -> int:
    """Threads meant by ``n_jobs``: itself when >= 1, -1: every CPU this process may use.

    Raises
    ------
    ValueError
        ``n_jobs`` is neither >= 1 nor -1.
    """
    import os
    n = int(n_jobs)
    if n == -1:
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                   else (os.cpu_count() or 1))
    if n < 1:
        raise ValueError(f"expected n_jobs >= 1 or -1, got {n_jobs!r}")
    return n


def _check_array(x, name: str = "x") -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"DiagonalGaussianMixture: expected {name} of shape (n_samples, "
                         f"n_features), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise ValueError(f"DiagonalGaussianMixture: expected real numbers in {name}, got dtype "
                         f"{x.dtype}")
    return x


class DiagonalGaussianMixture(BaseEstimator):
    """Diagonal-covariance GMM fitted by EM in float32 on chunks of rows (see the module).

    Parameters
    ----------
    n_components : int
        K, the number of Gaussians.
    max_iter : int
        At most this many EM iterations (scikit-learn's meaning).
    tol : float
        EM stops when the mean log-likelihood per sample changes by less
        (scikit-learn's default, 1e-3).
    reg_covar : float
        Added to every variance (scikit-learn's default, 1e-6): a floor that
        keeps a component from collapsing onto one point.
    init_samples : int
        k-means of the initialisation runs on at most this many samples,
        drawn at random (seeded) without replacement.
    init_max_iter : int
        Lloyd iterations of that k-means at most (its tolerance is
        scikit-learn's default).
    random_state : int
        Seeds the subsample and the k-means++ seeding.
    n_jobs : int
        Threads of the E and M steps; -1: every CPU of the process.  The
        model does not depend on it.
    dtype : {"float32", "float64"}
        Precision of the data and of the per-chunk products (partial sums are
        added in float64).
    chunk_size : int
        Rows per chunk (bounded memory: ``chunk_size * K`` responsibilities
        per thread).  The model depends on it in the last bits only.

    Attributes
    ----------
    means_ : ndarray, shape (K, D), float64
    covariances_ : ndarray, shape (K, D), float64
        Diagonal variances.
    weights_ : ndarray, shape (K,), float64
    converged_ : bool
    n_iter_ : int
        EM iterations run.
    lower_bound_ : float
        Mean log-likelihood per sample at the last E-step (scikit-learn's
        ``lower_bound_``).
    """

    def __init__(self, n_components: int = 1, *, max_iter: int = 100, tol: float = 1e-3,
                 reg_covar: float = 1e-6, init_samples: int = 65_536, init_max_iter: int = 100,
                 random_state: Optional[int] = None, n_jobs: int = 1, dtype: str = "float32",
                 chunk_size: int = 4096):
        self.n_components = n_components
        self.max_iter = max_iter
        self.tol = tol
        self.reg_covar = reg_covar
        self.init_samples = init_samples
        self.init_max_iter = init_max_iter
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.dtype = dtype
        self.chunk_size = chunk_size

    # ---------------------------------------------------------------- checks
    def _check_params(self, n: int):
        for name in ("n_components", "max_iter", "init_samples", "init_max_iter", "chunk_size"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"DiagonalGaussianMixture: expected an integer {name} >= 1, "
                                 f"got {v!r}")
        if not (float(self.tol) >= 0.0):
            raise ValueError(f"DiagonalGaussianMixture: expected tol >= 0, got {self.tol!r}")
        if not (float(self.reg_covar) >= 0.0):
            raise ValueError(f"DiagonalGaussianMixture: expected reg_covar >= 0, got "
                             f"{self.reg_covar!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"DiagonalGaussianMixture: expected dtype in {', '.join(DTYPES)}, "
                             f"got {self.dtype!r}")
        if n < self.n_components:
            raise ValueError(f"DiagonalGaussianMixture: expected n_samples >= n_components = "
                             f"{self.n_components}, got {n}")

    def _threads(self) -> int:
        return n_threads(self.n_jobs)

    # ---------------------------------------------------------------- passes over the data
    def _map_chunks(self, fn, n: int):
        """``fn(a, b)`` of every chunk ``[a, b)`` of ``n`` rows, results in chunk order."""
        c = int(self.chunk_size)
        bounds = [(a, min(a + c, n)) for a in range(0, n, c)]
        threads = self._threads()
        if threads == 1 or len(bounds) == 1:
            return [fn(a, b) for a, b in bounds]
        from threadpoolctl import threadpool_limits
        # our threads split the rows: one BLAS thread each, or they would
        # oversubscribe the cores
        with threadpool_limits(limits=1, user_api="blas"), \
                ThreadPoolExecutor(max_workers=threads) as pool:
            return list(pool.map(lambda ab: fn(*ab), bounds))

    def _log_prob_weights(self, means, covars, weights, dtype):
        """``W`` (2D, K) and ``const`` (K,) with ``[x, x^2] @ W + const = log w_k N(x; mu_k, sigma_k^2)``."""
        prec = 1.0 / covars
        D = means.shape[1]
        const = np.log(weights) - 0.5 * (D * np.log(2 * np.pi) + np.log(covars).sum(1)
                                         + (means ** 2 * prec).sum(1))
        W = np.concatenate([(means * prec).T, -0.5 * prec.T]).astype(dtype)
        return np.ascontiguousarray(W), const.astype(dtype)

    def _em_pass(self, xx: np.ndarray, means, covars, weights):
        """One E-step and the sums of the M-step: (mean log-likelihood, S0 (K,), S12 (K, 2D))."""
        W, const = self._log_prob_weights(means, covars, weights, xx.dtype)

        def chunk(a, b):
            lp = xx[a:b] @ W
            lp += const
            m = lp.max(1, keepdims=True)
            lp -= m
            np.exp(lp, out=lp)
            s = lp.sum(1, keepdims=True)
            ll = float(np.log(s.astype(np.float64)).sum() + m.astype(np.float64).sum())
            lp /= s
            return ll, lp.sum(0, dtype=np.float64), (lp.T @ xx[a:b]).astype(np.float64)

        parts = self._map_chunks(chunk, len(xx))
        ll = sum(p[0] for p in parts)
        s0 = np.sum([p[1] for p in parts], axis=0)
        s12 = np.sum([p[2] for p in parts], axis=0)
        return ll / len(xx), s0, s12

    def _m_step(self, s0, s12, n: int, D: int):
        """scikit-learn's M-step of a diagonal GMM from the sums of a pass."""
        nk = s0 + _EPS_COUNT
        means = s12[:, :D] / nk[:, None]
        covars = s12[:, D:] / nk[:, None] - means ** 2 + float(self.reg_covar)
        # float cancellation may take a variance of a point-like component
        # below the floor: keep the floor (scikit-learn's own guarantee)
        np.maximum(covars, float(self.reg_covar) if self.reg_covar > 0 else np.finfo(float).tiny,
                   out=covars)
        return means, covars, nk / n

    # ---------------------------------------------------------------- fit
    def _initial_labels(self, x: np.ndarray) -> np.ndarray:
        """Nearest k-means centre of every row (k-means on a seeded subsample)."""
        from sklearn.cluster import KMeans
        n, K = len(x), int(self.n_components)
        rng = np.random.default_rng(self.random_state)
        m = min(int(self.init_samples), n)
        sub = x[np.sort(rng.choice(n, size=m, replace=False))] if m < n else x
        seed = int(rng.integers(2 ** 31 - 1))
        km = KMeans(K, n_init=1, max_iter=int(self.init_max_iter), random_state=seed).fit(sub)
        centres = km.cluster_centers_.astype(x.dtype)
        c2 = (centres.astype(np.float64) ** 2).sum(1).astype(x.dtype)

        def chunk(a, b):
            # argmin |x - c|^2 = argmin (|c|^2 - 2 x.c)
            return np.argmin(c2 - 2.0 * (x[a:b] @ centres.T), axis=1)

        return np.concatenate(self._map_chunks(chunk, n))

    def fit(self, X, y=None) -> "DiagonalGaussianMixture":
        """Fit the GMM to ``X``.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self
        """
        x = _check_array(X, "X")
        n, D = x.shape
        self._check_params(n)
        dtype = np.dtype(self.dtype)
        x = np.ascontiguousarray(x, dtype=dtype)
        if not np.isfinite(x).all():
            raise ValueError("DiagonalGaussianMixture: expected finite values in X, got NaN or "
                             "infinity")
        xx = np.concatenate([x, x * x], axis=1)          # (n, 2D): one product per pass
        K = int(self.n_components)
        labels = self._initial_labels(x)
        s0 = np.bincount(labels, minlength=K).astype(np.float64)
        from scipy.sparse import csr_matrix
        onehot = csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(K, n))
        s12 = np.asarray(onehot @ xx.astype(np.float64))
        means, covars, weights = self._m_step(s0, s12, n, D)
        lower_bound, converged, n_iter = -np.inf, False, 0
        for n_iter in range(1, int(self.max_iter) + 1):
            prev = lower_bound
            lower_bound, s0, s12 = self._em_pass(xx, means, covars, weights)
            means, covars, weights = self._m_step(s0, s12, n, D)
            if abs(lower_bound - prev) < float(self.tol):
                converged = True
                break
        self.means_, self.covariances_, self.weights_ = means, covars, weights
        self.converged_, self.n_iter_, self.lower_bound_ = converged, n_iter, float(lower_bound)
        self.n_features_in_ = D
        return self

    # ---------------------------------------------------------------- inference
    def _check_fitted_input(self, X) -> np.ndarray:
        if not hasattr(self, "means_"):
            from sklearn.exceptions import NotFittedError
            raise NotFittedError("This DiagonalGaussianMixture is not fitted yet: call fit first")
        x = _check_array(X, "X").astype(np.float64)
        if x.shape[1] != self.n_features_in_:
            raise ValueError(f"DiagonalGaussianMixture: expected X with {self.n_features_in_} "
                             f"features, got {x.shape[1]}")
        return x

    def _weighted_log_prob(self, x: np.ndarray) -> np.ndarray:
        W, const = self._log_prob_weights(self.means_, self.covariances_, self.weights_,
                                          np.float64)
        return np.concatenate([x, x * x], axis=1) @ W + const

    def score_samples(self, X) -> np.ndarray:
        """Log-likelihood of each sample, shape (n_samples,), float64."""
        lp = self._weighted_log_prob(self._check_fitted_input(X))
        m = lp.max(1)
        return m + np.log(np.exp(lp - m[:, None]).sum(1))

    def score(self, X, y=None) -> float:
        """Mean log-likelihood per sample (scikit-learn's ``score``)."""
        return float(self.score_samples(X).mean())

    def predict_proba(self, X) -> np.ndarray:
        """Posterior of each component, shape (n_samples, K), rows summing to 1."""
        lp = self._weighted_log_prob(self._check_fitted_input(X))
        lp -= lp.max(1, keepdims=True)
        np.exp(lp, out=lp)
        lp /= lp.sum(1, keepdims=True)
        return lp

    def predict(self, X) -> np.ndarray:
        """Most probable component of each sample, shape (n_samples,)."""
        return self.predict_proba(X).argmax(1)
