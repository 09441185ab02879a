"""Two-level fusion of feature families (thesis 3.3.2, Eq. 3.6).

Level one (early fusion) concatenates the L2-normalised appearance (F1) and
short-term motion (F2) features for a linear SVM ``clf1``; ``clf2`` is a
linear SVM on the pose-motion features F3 (both :class:`fusion.svm.FamilySVM`
with calibrated probabilities).  Level two (late fusion) mixes their class
probabilities::

    s = alpha * P(y | F1, F2) + (1 - alpha) * P(y | F3)            (Eq. 3.6)

with ``alpha`` searched on the held-out predictions of the training videos
(:func:`alpha_search`), or fixed.  The held-out scheme, the ``C`` search and
the calibration are those of :mod:`fusion.model_selection` and
:mod:`fusion.calibration`.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from adl.data.protocols import DEFAULT_VALIDATION_FRACTION

from .config import DEFAULT_C_GRID, DEFAULT_CALIBRATION_CV, DEFAULT_INNER_FOLDS, family_order
from .feature_bank import RGB_FAMILIES, SKELETON_FAMILIES, as_bank
from .model_selection import Splits, check_labels, check_refit, make_splits
from .svm import FamilySVM

#: alpha grid of the search: [0, 1], step 0.01 (thesis 3.4.2 "globally searching").
DEFAULT_ALPHA_GRID = np.round(np.linspace(0.0, 1.0, 101), 2)


def fuse_scores(p1: Optional[np.ndarray], p2: Optional[np.ndarray], alpha: Optional[float]
                ) -> np.ndarray:
    """Eq. 3.6: ``alpha * p1 + (1 - alpha) * p2``; a missing side returns the other."""
    if p1 is None and p2 is None:
        raise ValueError("expected at least one of p1 (clf1) and p2 (clf2) probabilities")
    if p1 is None:
        return np.asarray(p2, dtype=np.float64)
    if p2 is None:
        return np.asarray(p1, dtype=np.float64)
    return alpha * np.asarray(p1, dtype=np.float64) + (1.0 - alpha) * np.asarray(p2, dtype=np.float64)


def alpha_accuracies(p1_val: np.ndarray, p2_val: np.ndarray, y_val: np.ndarray, grid=None
                     ) -> np.ndarray:
    """Validation accuracy of the fused scores for every alpha of ``grid``.

    Parameters
    ----------
    p1_val, p2_val : ndarray, shape (n_val, n_classes)
        Class probabilities of clf1 and clf2 (columns in the same order).
    y_val : ndarray of int, shape (n_val,)
        Column index of the true class.
    grid : sequence of float in [0, 1], default 0, 0.01, ..., 1

    Returns
    -------
    ndarray, shape (len(grid),)
    """
    grid = DEFAULT_ALPHA_GRID if grid is None else np.asarray(grid, dtype=np.float64)
    p1 = np.asarray(p1_val, dtype=np.float64)
    p2 = np.asarray(p2_val, dtype=np.float64)
    y = np.asarray(y_val)
    if p1.ndim != 2 or p1.shape != p2.shape:
        raise ValueError(f"p1_val and p2_val must be 2-D arrays of equal shape, got {p1.shape} "
                         f"and {p2.shape}")
    if y.shape != (p1.shape[0],):
        raise ValueError(f"y_val must have shape ({p1.shape[0]},), got {y.shape}")
    if grid.ndim != 1 or grid.size == 0 or np.any((grid < 0) | (grid > 1)):
        raise ValueError("the alpha grid must be a non-empty 1-D sequence of values in [0, 1]")
    if y.size and (y.min() < 0 or y.max() >= p1.shape[1]):
        raise ValueError(f"y_val must hold column indices in [0, {p1.shape[1]})")
    scores = grid[:, None, None] * p1[None] + (1.0 - grid)[:, None, None] * p2[None]
    return np.mean(np.argmax(scores, axis=2) == y[None], axis=1)


def alpha_search(p1_val: np.ndarray, p2_val: np.ndarray, y_val: np.ndarray, grid=None) -> float:
    """The late-fusion weight alpha of Eq. 3.6 maximising validation accuracy.

    Pure: works on probabilities computed once, no classifier is refitted.
    Among equally accurate values the one with the smallest validation
    log-loss wins, then the one closest to 0.5, then the smaller.

    Parameters
    ----------
    p1_val, p2_val : ndarray, shape (n_val, n_classes)
        Probabilities of clf1 ([F1, F2]) and clf2 (F3).
    y_val : ndarray of int, shape (n_val,)
        Column index of the true class.
    grid : sequence of float in [0, 1], default 0, 0.01, ..., 1

    Returns
    -------
    float
    """
    grid = DEFAULT_ALPHA_GRID if grid is None else np.asarray(grid, dtype=np.float64)
    acc = alpha_accuracies(p1_val, p2_val, y_val, grid)
    y = np.asarray(y_val)
    p1 = np.asarray(p1_val, dtype=np.float64)[np.arange(y.size), y]
    p2 = np.asarray(p2_val, dtype=np.float64)[np.arange(y.size), y]
    best = acc.max()
    candidates = [i for i in range(grid.size) if acc[i] >= best - 1e-12]

    def key(i):
        a = grid[i]
        nll = -np.mean(np.log(np.clip(a * p1 + (1 - a) * p2, 1e-12, None))) if y.size else 0.0
        return (round(float(nll), 12), abs(a - 0.5), a)

    return float(grid[min(candidates, key=key)])


class TwoLevelFusion(ClassifierMixin, BaseEstimator):
    """Two-level fusion (thesis 3.3.2): early fusion [F1, F2] -> clf1, F3 ->
    clf2, late fusion of their calibrated probabilities with weight alpha.

    Runs with whatever families exist: without F3 only clf1 decides
    (``mode_ = "rgb_only"``), without F1 and F2 only clf2 (``"skeleton_only"``);
    ``alpha_`` is then None.

    Parameters
    ----------
    alpha : "search" or float in [0, 1], default "search"
        ``"search"``: :func:`alpha_search` on the validation probabilities;
        a number: that fixed weight.
    alpha_grid : sequence of float, optional
        Default 0, 0.01, ..., 1.
    C_grid, refit, calibration_cv, validation_fraction, random_state, selection, inner_folds
        As in :class:`fusion.svm.FamilySVM` (applied to clf1 and clf2, which
        share one held-out scheme).
    rgb_families, skeleton_families : tuple of str
        Families of clf1 and clf2.

    Attributes
    ----------
    mode_ : {"two_level", "rgb_only", "skeleton_only"}
    clf1_, clf2_ : FamilySVM or None
    alpha_ : float or None
    alpha_curve_ : ndarray or None
        Validation accuracy over ``alpha_grid`` (search only).
    classes_ : ndarray
    splits_ : Splits
        The held-out scheme.
    val_idx_ : ndarray of int
        Held-out positions (in the rows given to ``fit``): every row with an
        inner cross-validation, the validation rows otherwise.
    val_proba_ : ndarray (n_val, n_classes)
        Fused held-out scores (from classifiers that did not see the rows).
    val_pred_ : ndarray (n_val,)
    val_accuracy_ : float
    """

    def __init__(self, alpha="search", alpha_grid=None, C_grid=DEFAULT_C_GRID, refit="train",
                 calibration_cv=DEFAULT_CALIBRATION_CV,
                 validation_fraction=DEFAULT_VALIDATION_FRACTION, random_state=0,
                 rgb_families=RGB_FAMILIES, skeleton_families=SKELETON_FAMILIES,
                 selection="inner_cv", inner_folds=DEFAULT_INNER_FOLDS):
        self.selection = selection
        self.inner_folds = inner_folds
        self.alpha = alpha
        self.alpha_grid = alpha_grid
        self.C_grid = C_grid
        self.refit = refit
        self.calibration_cv = calibration_cv
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.rgb_families = rgb_families
        self.skeleton_families = skeleton_families

    def _check_alpha(self):
        if isinstance(self.alpha, str):
            if self.alpha != "search":
                raise ValueError(f"alpha must be 'search' or a number in [0, 1], got {self.alpha!r}")
            return None
        a = float(self.alpha)
        if not 0.0 <= a <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {a}")
        return a

    def fit(self, X, y, *, splits: Splits = None) -> "TwoLevelFusion":
        """Fit clf1 / clf2, choose alpha on the held-out rows.

        Parameters
        ----------
        X : FeatureBank or mapping family -> ndarray (n, d)
            Training videos only.
        y : ndarray (n,)
        splits : Splits, optional
            The held-out scheme (:func:`fusion.model_selection.make_splits`),
            shared by clf1 and clf2; default: ``make_splits(y, selection)``
            with this estimator's settings (no subjects: stratified folds of
            videos).

        Returns
        -------
        self
        """
        fixed_alpha = self._check_alpha()
        check_refit(self.refit)
        bank = as_bank(X)
        y = check_labels(y, len(bank))
        if splits is None:
            splits = make_splits(y, self.selection, inner_folds=self.inner_folds,
                                 fraction=self.validation_fraction, seed=self.random_state)
        val_pos = splits.eval_pos
        self.splits_ = splits
        have = bank.families
        fam1 = [f for f in family_order(self.rgb_families) if f in have]
        fam2 = [f for f in family_order(self.skeleton_families) if f in have]
        if not fam1 and not fam2:
            raise ValueError(f"no usable feature family: clf1 needs one of {self.rgb_families}, "
                             f"clf2 one of {self.skeleton_families}; the data has {have or 'none'}")
        self.mode_ = "two_level" if fam1 and fam2 else ("rgb_only" if fam1 else "skeleton_only")
        self.classes_ = np.unique(y)
        common = dict(C_grid=self.C_grid, probability=True, refit=self.refit,
                      calibration_cv=self.calibration_cv, random_state=self.random_state,
                      selection=splits.kind, inner_folds=self.inner_folds)
        self.clf1_ = FamilySVM(tuple(fam1), **common).fit(bank, y, splits=splits) if fam1 else None
        self.clf2_ = FamilySVM(tuple(fam2), **common).fit(bank, y, splits=splits) if fam2 else None
        p1 = self.clf1_.val_proba_ if self.clf1_ is not None else None
        p2 = self.clf2_.val_proba_ if self.clf2_ is not None else None
        y_val = np.searchsorted(self.classes_, y[val_pos])
        self.alpha_curve_ = None
        if self.mode_ != "two_level":
            self.alpha_ = None
        elif fixed_alpha is None:
            self.alpha_curve_ = alpha_accuracies(p1, p2, y_val, self.alpha_grid)
            self.alpha_ = alpha_search(p1, p2, y_val, self.alpha_grid)
        else:
            self.alpha_ = fixed_alpha
        self.val_idx_ = val_pos
        self.val_proba_ = fuse_scores(p1, p2, self.alpha_)
        if self.mode_ == "two_level":
            self.val_pred_ = self.classes_[np.argmax(self.val_proba_, axis=1)]
        else:  # one classifier: its own SVM decision (no fusion to calibrate for)
            self.val_pred_ = self._single().val_pred_
        self.val_accuracy_ = float(np.mean(self.val_pred_ == y[val_pos]))
        return self

    def component_proba(self, X) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
        """``(P(y|F1,F2), P(y|F3))``, each (n, n_classes) or None when absent."""
        check_is_fitted(self, "mode_")
        bank = as_bank(X)
        p1 = self.clf1_.predict_proba(bank) if self.clf1_ is not None else None
        p2 = self.clf2_.predict_proba(bank) if self.clf2_ is not None else None
        return p1, p2

    def predict_proba(self, X) -> np.ndarray:
        """Fused scores ``s`` of Eq. 3.6, shape (n, n_classes) over ``classes_``."""
        p1, p2 = self.component_proba(X)
        return fuse_scores(p1, p2, self.alpha_)

    def _single(self) -> FamilySVM:
        return self.clf1_ if self.clf1_ is not None else self.clf2_

    def predict(self, X) -> np.ndarray:
        """Labels of the highest fused score, shape (n,).  With one classifier
        (``mode_`` ``"rgb_only"`` / ``"skeleton_only"``) its SVM decides, so
        the result equals that family's plain SVM; probabilities (Platt
        sigmoids per class) only serve the late fusion."""
        return self.predict_with_scores(X)[0]

    def predict_with_scores(self, X) -> Tuple[np.ndarray, np.ndarray]:
        """``(predict(X), predict_proba(X))``, the probabilities computed once."""
        check_is_fitted(self, "mode_")
        scores = self.predict_proba(X)
        if self.mode_ != "two_level":
            return np.asarray(self._single().predict(X)), scores
        return self.classes_[np.argmax(scores, axis=1)], scores
