"""Linear SVM on the early fusion of some feature families (thesis 3.3.2,
Table 3.2's ablation columns, and clf1 / clf2 of the two-level fusion).

Refit policy.  With an inner cross-validation every classifier is refitted,
after selection, on all training videos of the fold (the out-of-fold models
only score).  With a validation split and ``refit="train"`` (default) ``C`` is
chosen with classifiers fitted on the fit rows and scored on the validation
rows, then the classifier is refitted on fit + validation; ``refit="fit"``
keeps the classifier fitted on the fit rows.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from adl.data.protocols import DEFAULT_VALIDATION_FRACTION

from .calibration import CalibratedSVC, platt_params
from .config import DEFAULT_C_GRID, DEFAULT_CALIBRATION_CV, DEFAULT_INNER_FOLDS, family_order
from .feature_bank import as_bank
from .gram_svc import expand_proba, fit_svc, pred_from_decisions
from .model_selection import (Splits, check_labels, check_refit, make_splits, rows_of, search_C,
                              select_C)


def _has_probability(est) -> bool:
    if not est.probability:
        raise AttributeError(f"predict_proba needs {type(est).__name__}(probability=True)")
    return True


class FamilySVM(ClassifierMixin, BaseEstimator):
    """Linear SVM on the L2-normalised early fusion of some feature families.

    Used for the ablation columns of Table 3.2 (F1, F2, F3, F1+F2, F1+F2+F3)
    and as ``clf1`` / ``clf2`` of :class:`fusion.two_level.TwoLevelFusion`.

    Parameters
    ----------
    families : sequence of str
        Families to concatenate (``("f1", "f2")`` = early fusion [F1, F2]).
    C_grid : sequence of float
        Candidate ``C``; chosen by held-out accuracy.
    probability : bool, default False
        Calibrate probabilities (needed for late fusion); also stores the
        held-out probabilities ``val_proba_``.  ``predict_proba`` exists only then.
    refit : {"train", "fit"}
        ``selection="validation"`` only: ``"train"`` refits on fit +
        validation rows after the search, ``"fit"`` keeps the SVM fitted on
        the fit rows.  An inner cross-validation always refits on all rows.
    calibration_cv : int
        ``selection="validation"``: maximum number of calibration folds.
    validation_fraction : float
        ``selection="validation"`` when ``fit`` gets no ``splits``: share of
        each class held out.
    random_state : int
        Seed of the splits and calibration folds.
    selection : {"inner_cv", "validation"}
        How ``C`` (and the calibration) is chosen when ``fit`` gets no
        ``splits``; see :mod:`fusion.model_selection`.
    inner_folds : int
        Maximum number of inner folds.

    Attributes
    ----------
    C_ : float
    C_scores_ : dict C -> held-out accuracy
    val_accuracy_ : float
        Held-out accuracy (in [0, 1]) of the chosen ``C``.
    val_idx_ : ndarray of int
        The held-out rows (every row with an inner cross-validation).
    val_proba_ : ndarray (len(val_idx_), n_classes)
        Only with ``probability=True``: held-out probabilities of those rows
        (from models that did not see them).
    val_pred_ : ndarray (len(val_idx_),)
        Only with ``probability=True``: held-out labels of those rows.
    selection_ : str
        Description of the held-out scheme.
    families_ : tuple of str
    model_ : SVC or CalibratedSVC
    train_bank_ : FeatureBank
        Normalised training features the kernels of new videos are computed against.
    classes_ : ndarray
    """

    def __init__(self, families=("f1",), C_grid=DEFAULT_C_GRID, probability=False, refit="train",
                 calibration_cv=DEFAULT_CALIBRATION_CV,
                 validation_fraction=DEFAULT_VALIDATION_FRACTION, random_state=0,
                 selection="inner_cv", inner_folds=DEFAULT_INNER_FOLDS):
        self.families = families
        self.C_grid = C_grid
        self.probability = probability
        self.refit = refit
        self.calibration_cv = calibration_cv
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.selection = selection
        self.inner_folds = inner_folds

    def fit(self, X, y, *, splits: Splits = None) -> "FamilySVM":
        """Fit on the videos of ``X``.

        Parameters
        ----------
        X : FeatureBank or mapping family -> ndarray (n, d)
        y : ndarray (n,)
            Class labels.
        splits : Splits, optional
            The held-out scheme (:func:`fusion.model_selection.make_splits`);
            default: ``make_splits(y, selection)`` with this estimator's
            settings (no subjects: stratified folds of videos).

        Returns
        -------
        self
        """
        check_refit(self.refit)
        bank = as_bank(X)
        families = family_order(self.families)
        bank.check_families(families)
        y = check_labels(y, len(bank))
        if splits is None:
            splits = make_splits(y, self.selection, inner_folds=self.inner_folds,
                                 fraction=self.validation_fraction, seed=self.random_state)
        if splits.kind == "inner_cv" and self.refit != "train":
            raise ValueError("refit='fit' applies to selection='validation' only; with an inner "
                             "cross-validation the classifiers are refitted on all training videos")
        self.classes_ = np.unique(y)
        self.families_ = families
        self.selection_ = splits.description
        self.val_idx_ = splits.eval_pos
        if splits.kind == "inner_cv":
            K = bank.kernel(families)
            self.C_, self.val_accuracy_, self.C_scores_, dec = search_C(
                K, y, splits, self.C_grid, self.classes_ if self.probability else None)
            svc = fit_svc(K, y, self.C_)
            if self.probability:
                platt = platt_params(dec, y[splits.eval_pos], self.classes_)
                model = CalibratedSVC.from_parts(
                    svc, platt, f"Platt on out-of-fold decisions ({splits.description})")
                self.val_proba_ = model.proba_from_decisions(dec)
                self.val_pred_ = pred_from_decisions(dec, self.classes_)
            else:
                model = svc
            self.model_ = model
            self.train_bank_ = bank.restrict(families)
            return self
        fit_pos, val_pos = splits.parts[0]
        self.C_, self.val_accuracy_, self.C_scores_ = select_C(
            bank, families, y, fit_pos, val_pos, self.C_grid)
        if self.probability:
            fit_bank = bank.take(fit_pos)
            cal = CalibratedSVC(self.C_, self.calibration_cv, self.random_state).fit(
                fit_bank.kernel(families), y[fit_pos], rows_of(splits.split_groups, fit_pos))
            K_val = bank.take(val_pos).kernel(families, fit_bank)
            self.val_proba_ = expand_proba(cal.predict_proba(K_val), cal.classes_, self.classes_)
            self.val_pred_ = cal.predict(K_val)
            model = cal
        final = fit_pos if self.refit == "fit" else np.arange(len(y))
        train_bank = bank.take(final).restrict(families)
        if self.refit == "train" or not self.probability:
            K = train_bank.kernel(families)
            if self.probability:
                model = CalibratedSVC(self.C_, self.calibration_cv, self.random_state).fit(
                    K, y[final], rows_of(splits.split_groups, final))
            else:
                model = fit_svc(K, y[final], self.C_)
        self.model_ = model
        self.train_bank_ = train_bank
        return self

    def _kernel(self, X) -> np.ndarray:
        check_is_fitted(self, "model_")
        return as_bank(X).kernel(self.families_, self.train_bank_)

    def decision_function(self, X) -> np.ndarray:
        """Decision values of the SVM, shape (n,) or (n, n_classes)."""
        K = self._kernel(X)
        return self.model_.decision_function(K)

    def predict(self, X) -> np.ndarray:
        """Predicted labels (the SVM's, also when probabilities are calibrated), shape (n,)."""
        K = self._kernel(X)
        return self.model_.predict(K)

    @available_if(_has_probability)
    def predict_proba(self, X) -> np.ndarray:
        """Calibrated probabilities, shape (n, n_classes) over ``classes_``
        (only with ``probability=True``)."""
        K = self._kernel(X)
        cal = self.model_
        return expand_proba(cal.predict_proba(K), cal.classes_, self.classes_)
