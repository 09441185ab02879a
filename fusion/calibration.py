"""Platt-calibrated probabilities of linear SVMs on Gram matrices (thesis
3.3.2: the late fusion of Eq. 3.6 mixes class probabilities).

Probabilities come from Platt scaling of held-out one-vs-rest decision
values, the computation of scikit-learn's
``CalibratedClassifierCV(SVC, method="sigmoid", ensemble=False)`` redone on
Gram-matrix slices.  With an inner cross-validation the sigmoids are fitted on
the out-of-fold decision values of the chosen ``C`` (``cv`` = the inner
splits, :meth:`CalibratedSVC.from_parts`); with a validation split on
``min(cv, smallest class count)`` stratified folds of the fit rows
(:meth:`CalibratedSVC.fit`; a class with a single video stays in every
training part; split groups stay whole).
"""
from __future__ import annotations

import math
from typing import Tuple

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.svm import SVC
from sklearn.utils.validation import check_is_fitted

from adl.data.protocols import shared_split_groups

from .config import DEFAULT_CALIBRATION_CV
from .gram_svc import decision_matrix, fit_svc
from .model_selection import stratified_parts


def platt_fit(f: np.ndarray, positive: np.ndarray) -> Tuple[float, float]:
    """Platt's sigmoid ``P = 1 / (1 + exp(a f + b))`` with his target smoothing.

    Same objective as ``sklearn.calibration._sigmoid_calibration`` (used by
    ``CalibratedClassifierCV(method="sigmoid")``), minimised by Newton's method
    with backtracking (Lin, Lin & Weng 2007), which takes a few iterations
    where L-BFGS takes tens: hundreds of calibrations run per protocol.
    """
    f = np.asarray(f, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    scale = float(np.max(np.abs(f))) if f.size else 1.0
    scale = scale if scale >= 30.0 else 1.0
    F = f / scale
    prior1 = float(np.sum(positive))
    prior0 = float(positive.size) - prior1
    T = np.where(positive, (prior1 + 1.0) / (prior1 + 2.0), 1.0 / (prior0 + 2.0))

    def objective(a, b):
        raw = -(a * F + b)
        return float(np.sum(np.logaddexp(0.0, raw) - T * raw))

    a, b = 0.0, math.log((prior0 + 1.0) / (prior1 + 1.0))
    value = objective(a, b)
    for _ in range(100):
        p = expit(-(a * F + b))
        r = p - T
        ga, gb = -float(r @ F), -float(r.sum())
        if max(abs(ga), abs(gb)) < 1e-9 * max(1.0, f.size):
            break
        w = p * (1.0 - p)
        h11, h12, h22 = float(w @ (F * F)) + 1e-12, float(w @ F), float(w.sum()) + 1e-12
        det = h11 * h22 - h12 * h12
        da, db = -(h22 * ga - h12 * gb) / det, -(-h12 * ga + h11 * gb) / det
        slope = ga * da + gb * db
        step = 1.0
        while step >= 1e-10:
            candidate = objective(a + step * da, b + step * db)
            if candidate <= value + 1e-4 * step * slope:
                break
            step /= 2.0
        else:
            break
        a, b, value = a + step * da, b + step * db, candidate
    return float(a / scale), float(b)


def platt_params(dec: np.ndarray, y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """One Platt sigmoid ``(a, b)`` per decision column (one-vs-rest; a binary
    problem has the single column of ``classes[1]``)."""
    targets = [classes[1]] if dec.shape[1] == 1 else list(classes)
    return np.array([platt_fit(dec[:, c], y == t) for c, t in enumerate(targets)])



class CalibratedSVC(ClassifierMixin, BaseEstimator):
    """Linear SVM on a precomputed Gram matrix with Platt-calibrated
    probabilities from cross-validated decision values (``ensemble=False``).

    The calibration folds are ``min(cv, smallest class count)`` stratified
    folds over the videos of classes with at least 2 videos; a class with a
    single video stays in every training part.  Without any class of 2 videos
    the sigmoids fall back to in-sample decision values.

    Parameters
    ----------
    C : float > 0
    cv : int
        Maximum number of calibration folds.
    random_state : int
        Seed of the calibration folds.

    Attributes
    ----------
    svc_ : sklearn.svm.SVC
        The SVM fitted on every row (it decides the labels).
    classes_ : ndarray
    platt_ : ndarray, shape (n_columns, 2)
        Sigmoid ``(a, b)`` of every decision column (one column for 2 classes).
    calibration_ : str
        How the sigmoids were fitted (e.g. ``"3-fold"``).
    """

    def __init__(self, C: float = 1.0, cv: int = DEFAULT_CALIBRATION_CV, random_state: int = 0):
        self.C = C
        self.cv = cv
        self.random_state = random_state

    def fit(self, K: np.ndarray, y: np.ndarray, split_groups=None) -> "CalibratedSVC":
        """Fit on the Gram matrix ``K`` (n, n) of the training rows.

        Parameters
        ----------
        K : ndarray (n, n)
        y : ndarray (n,)
        split_groups : ndarray (n,), optional
            Split group of every row (kept whole by the calibration folds).
        """
        y = np.asarray(y)
        self.svc_ = fit_svc(K, y, self.C)
        self.classes_ = self.svc_.classes_
        n_cols = 1 if len(self.classes_) == 2 else len(self.classes_)
        parts, k = self._folds(y, split_groups)
        if k >= 2:
            dec = np.zeros((len(y), n_cols))
            for train, test in parts:
                svc = fit_svc(K[np.ix_(train, train)], y[train], self.C)
                dec[test] = decision_matrix(svc, K[np.ix_(test, train)], self.classes_)
            rows = np.sort(np.concatenate([te for _, te in parts]))
            self.calibration_ = f"{k}-fold" + (" (split groups kept whole)"
                                               if split_groups is not None else "")
        else:
            dec = decision_matrix(self.svc_, K, self.classes_)
            rows = np.arange(len(y))
            self.calibration_ = "in-sample"
        self.platt_ = platt_params(dec[rows], y[rows], self.classes_)
        return self

    def _folds(self, y: np.ndarray, split_groups):
        """Calibration folds: stratified, seeded; with ``split_groups`` (one
        per row, some shared) the folds keep every group whole."""
        return stratified_parts(y, shared_split_groups(split_groups, y.size, "split group per row"),
                                self.cv, self.random_state)

    @classmethod
    def from_parts(cls, svc: SVC, platt: np.ndarray, calibration: str) -> "CalibratedSVC":
        """An SVM and sigmoids fitted elsewhere (held-out decisions of an inner
        cross-validation): ``CalibratedClassifierCV(ensemble=False, cv=splits)``."""
        model = cls(C=svc.C)
        model.svc_, model.classes_, model.platt_ = svc, svc.classes_, platt
        model.calibration_ = calibration
        return model

    def decision_function(self, K: np.ndarray) -> np.ndarray:
        """One-vs-rest decision values, shape (n, n_classes) (one column for 2 classes)."""
        check_is_fitted(self, "platt_")
        return decision_matrix(self.svc_, K, self.classes_)

    def predict(self, K: np.ndarray) -> np.ndarray:
        """Labels of the SVM (not of the calibrated probabilities), shape (n,)."""
        check_is_fitted(self, "platt_")
        return self.svc_.predict(K)

    def predict_proba(self, K: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, shape (n, n_classes) over ``classes_``."""
        return self.proba_from_decisions(self.decision_function(K))

    def proba_from_decisions(self, dec: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (n, n_classes) from decision values."""
        check_is_fitted(self, "platt_")
        p = expit(-(dec * self.platt_[:, 0] + self.platt_[:, 1]))
        if len(self.classes_) == 2:
            p = np.column_stack([1.0 - p[:, 0], p[:, 0]])
        else:
            total = p.sum(axis=1, keepdims=True)
            uniform = np.full_like(p, 1.0 / p.shape[1])
            p = np.divide(p, total, out=uniform, where=total != 0)
        p[(p > 1.0) & (p <= 1.0 + 1e-5)] = 1.0
        return p
