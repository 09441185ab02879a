"""F1 -- appearance of body parts (thesis section 3.3.1, Eq. 3.1-3.4).

Fold-independent (cache per video):

* frame descriptors ``z_it`` of the five parts (:mod:`adl.features.cnn`);
* :func:`pool_video` -- the video descriptor ``[min z, max z, min dz, max dz]``
  per part (Eq. 3.2-3.4), ``(5, 4d)``;
* :func:`frame_norms` -- the mean L2 norm of each part's ``z_it`` in the
  video, from which a fold computes its normalisation.

Fitted per fold on training subjects only: :class:`BodyPartSelector`
(normalisation by the training average norm + part selection by a linear SVM
per part scored on the validation split).

torch-free: the network side lives in :mod:`adl.features.cnn`.
"""
from __future__ import annotations

import warnings
from typing import Optional, Tuple

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from .body_parts import N_PARTS, PART_NAMES
from .f1_config import SELECT_MODES, F1Config

__all__ = ["BodyPartSelector", "F1Config", "frame_norms", "pool_video"]

def _check_frame_desc(frame_desc) -> np.ndarray:
    z = np.asarray(frame_desc, dtype=np.float32)
    if z.ndim != 3 or z.shape[1] != N_PARTS:
        raise ValueError(f"expected frame descriptors of shape (T, {N_PARTS}, d), got {z.shape}")
    if z.shape[0] == 0:
        raise ValueError("expected at least one frame descriptor, got T = 0")
    return z


def pool_video(frame_desc: np.ndarray, delta: int = 4) -> np.ndarray:
    """Video descriptor of each part (thesis Eq. 3.2-3.4).

    ``v_i = [min_t z_it, max_t z_it, min_t dz_it, max_t dz_it]`` with
    ``dz_it = z_i(t+delta) - z_it`` over ``t = 0..T-delta-1``.

    Parameters
    ----------
    frame_desc : ndarray, shape (T, 5, d)
    delta : int
        Offset in rows of ``frame_desc`` (see :attr:`F1Config.pool_delta`).

    Returns
    -------
    ndarray, shape (5, 4 d), float32

    Notes
    -----
    Videos shorter than ``delta + 1`` frames use the largest offset they
    have, ``T - 1`` (last minus first frame); a single-frame video has a
    zero dynamic part.
    """
    z = _check_frame_desc(frame_desc)
    if not isinstance(delta, (int, np.integer)) or delta < 1:
        raise ValueError(f"expected delta to be an integer >= 1, got {delta!r}")
    n = z.shape[0]
    step = min(int(delta), n - 1)
    if step >= 1:
        dz = z[step:] - z[:-step]
        dmin, dmax = dz.min(axis=0), dz.max(axis=0)
    else:
        dmin = dmax = np.zeros(z.shape[1:], dtype=np.float32)
    return np.concatenate([z.min(axis=0), z.max(axis=0), dmin, dmax], axis=-1).astype(np.float32)


def frame_norms(frame_desc: np.ndarray) -> np.ndarray:
    """Mean L2 norm of the frame descriptors of each part, ``(5,)`` float64.

    Cached with the pooled descriptor; :class:`BodyPartSelector` turns the
    training videos' values into the normalisation of section 3.3.1.
    """
    z = _check_frame_desc(frame_desc).astype(np.float64)
    return np.linalg.norm(z, axis=-1).mean(axis=0)


def _check_pooled(X, name="X", n_dims: Optional[int] = None) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 3 or X.shape[1] != N_PARTS:
        raise ValueError(f"expected {name} of shape (n_videos, {N_PARTS}, 4d), got {X.shape}")
    if n_dims is not None and X.shape[2] != n_dims:
        raise ValueError(f"expected {name} with {n_dims} values per part (as in fit), got {X.shape[2]}")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return X


class BodyPartSelector(TransformerMixin, BaseEstimator):
    """Normalise pooled F1 descriptors and keep the best body part.

    Normalisation (section 3.3.1): each part's video descriptors are divided
    by the average L2 norm of that part's frame descriptors ``z_it`` over the
    training videos' frames (``frame_norms`` and ``n_frames`` passed to
    :meth:`fit`).  Without ``frame_norms`` the average L2 norm of the
    training *video* descriptors of the part is used instead.

    Selection: a linear SVM per part is fitted on the training rows and scored
    (accuracy) on the validation rows; ``select="best"`` keeps the
    best-scoring part (ties: the first in :data:`PART_NAMES` order),
    ``select="all"`` concatenates the five.

    Parameters
    ----------
    select : {"best", "all"}
    C : float
        Regularisation of the per-part ``LinearSVC``.
    max_iter : int
    random_state : int

    Attributes
    ----------
    scale_ : ndarray, shape (5,)
        Divisor of each part.
    part_scores_ : ndarray, shape (5,)
        Validation accuracy of each part's SVM (NaN without validation data).
    selected_part_ : str or None
        Name of the best part (None when ``select="all"`` had no validation).
    selected_parts_ : tuple of int
        Parts kept by :meth:`transform`, in output order.
    n_features_in_ : int
        Values per part (``4 d``).
    """

    def __init__(self, select: str = "best", C: float = 1.0, max_iter: int = 5000,
                 random_state: int = 0):
        self.select = select
        self.C = C
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X, y, X_val=None, y_val=None, *, frame_norms=None, n_frames=None):
        """Fit on the training videos of a fold.

        Parameters
        ----------
        X : array-like, shape (n, 5, 4d)
            Pooled descriptors (:func:`pool_video`) of the fit rows.
        y : array-like, shape (n,)
        X_val, y_val : validation rows (required by ``select="best"``).
        frame_norms : array-like, shape (n, 5), optional
            :func:`frame_norms` of each fit video.
        n_frames : array-like, shape (n,), optional
            Frames per fit video: weights ``frame_norms`` so that the divisor
            is the average over training *frames* (default: equal weights).
        """
        if self.select not in SELECT_MODES:
            raise ValueError(f"unknown select {self.select!r}; expected 'best' or 'all'")
        if not (isinstance(self.C, (int, float)) and self.C > 0):
            raise ValueError(f"expected C > 0, got {self.C!r}")
        X = _check_pooled(X)
        y = np.asarray(y)
        if y.shape != (X.shape[0],):
            raise ValueError(f"expected y of shape ({X.shape[0]},), got {y.shape}")
        if np.unique(y).size < 2:
            raise ValueError(f"expected at least 2 classes in y, got {np.unique(y).size}")
        have_val = X_val is not None
        if have_val != (y_val is not None):
            raise ValueError("pass X_val and y_val together")
        if self.select == "best" and not have_val:
            raise ValueError("select='best' scores each part on a validation split: pass X_val, y_val "
                             "(or use select='all')")
        if have_val:
            X_val = _check_pooled(X_val, "X_val", X.shape[2])
            y_val = np.asarray(y_val)
            if y_val.shape != (X_val.shape[0],):
                raise ValueError(f"expected y_val of shape ({X_val.shape[0]},), got {y_val.shape}")

        if frame_norms is not None:
            norms = np.asarray(frame_norms, dtype=np.float64)
            if norms.shape != (X.shape[0], N_PARTS):
                raise ValueError(f"expected frame_norms of shape ({X.shape[0]}, {N_PARTS}), got {norms.shape}")
            w = np.ones(X.shape[0]) if n_frames is None else np.asarray(n_frames, dtype=np.float64)
            if w.shape != (X.shape[0],) or (w < 0).any() or w.sum() <= 0:
                raise ValueError(f"expected n_frames as {X.shape[0]} non-negative counts, got {w!r}")
            scale = (norms * w[:, None]).sum(0) / w.sum()
        else:
            scale = np.linalg.norm(X.astype(np.float64), axis=-1).mean(axis=0)
        self.scale_ = np.where(scale > 1e-12, scale, 1.0)
        self.n_features_in_ = int(X.shape[2])

        scores = np.full(N_PARTS, np.nan)
        if have_val:
            Xn, Xv = self._normalised(X), self._normalised(X_val)
            for part in range(N_PARTS):
                svm = LinearSVC(C=self.C, max_iter=self.max_iter, random_state=self.random_state)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    svm.fit(Xn[:, part], y)
                scores[part] = float(np.mean(svm.predict(Xv[:, part]) == y_val))
        self.part_scores_ = scores
        best = int(np.nanargmax(scores)) if have_val else None
        self.selected_part_ = PART_NAMES[best] if best is not None else None
        self.selected_parts_: Tuple[int, ...] = (best,) if self.select == "best" else tuple(range(N_PARTS))
        return self

    def _normalised(self, X: np.ndarray) -> np.ndarray:
        return X / self.scale_[None, :, None].astype(np.float32)

    def transform(self, X) -> np.ndarray:
        """Normalised descriptors of the kept parts, ``(n, 4d * n_kept)`` float32."""
        check_is_fitted(self, "selected_parts_")
        X = _check_pooled(X, n_dims=self.n_features_in_)
        Xn = self._normalised(X)[:, list(self.selected_parts_)]
        return np.ascontiguousarray(Xn.reshape(X.shape[0], -1), dtype=np.float32)
