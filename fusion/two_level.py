"""Two-level fusion of feature families (thesis 3.3.2, Eq. 3.6).

Level one (early fusion) concatenates the L2-normalised appearance (F1) and
short-term motion (F2) features for a linear SVM ``clf1``; ``clf2`` is a
linear SVM on the pose-motion features F3.  Level two (late fusion) mixes
their calibrated class probabilities::

    s = alpha * P(y | F1, F2) + (1 - alpha) * P(y | F3)            (Eq. 3.6)

with ``alpha`` searched on the validation split of the training subjects.

Every SVM here is linear, solved in its dual on a precomputed Gram matrix.
With a few hundred videos and 10^5-dimensional Fisher vectors the Gram
matrix ``K = X X^T`` is tiny (n x n) and is computed once per fold and
family; an early fusion of L2-normalised blocks is the mean of the blocks'
Gram matrices (the concatenation ``[x1, x2] / sqrt(2)`` has unit norm), so
every feature combination, every ``C`` of the search and every pair
classifier reuses the same matrices.

Choices (documented in the report):

* Model selection (``selection``), the thesis leaves it open ("searched on
  validation"):

  - ``"inner_cv"`` (default of the protocol runner): an inner
    cross-validation over *all* training videos of the fold, grouped by
    subject -- leave-one-training-subject-out when the fold has 2 to
    ``inner_folds`` training subjects, ``inner_folds`` subject-grouped folds
    when it has more, seeded stratified folds of videos when it has one.
    Every training video gets an out-of-fold prediction, so ``C``, ``alpha``
    and the pair memory are chosen on all of them instead of on a 20 % split
    (on CAD-120-sized data that split holds one video per class).  Videos
    of one split group (``clusters``: a clip and its flipped copy) are never
    on both sides of an inner fold;
  - ``"validation"``: the seeded stratified validation split of the features
    stage (``fit_idx`` / ``val_idx``), scored once.

* ``C`` of every SVM is chosen on a grid (``DEFAULT_C_GRID``) by held-out
  accuracy (out-of-fold, or on the validation rows); ties go to the ``C``
  closest to 1, then to the smaller one.
* Probabilities come from Platt scaling of held-out one-vs-rest decision
  values, the computation of scikit-learn's
  ``CalibratedClassifierCV(SVC, method="sigmoid", ensemble=False)`` redone on
  Gram-matrix slices.  With ``"inner_cv"`` the sigmoids are fitted on the
  out-of-fold decision values of the chosen ``C`` (``cv`` = the inner
  splits); with ``"validation"`` on ``min(calibration_cv, smallest class
  count)`` stratified folds of the fit rows (``_CalibratedSVC``; a class with a
  single video stays in every training part; split groups stay whole).
* Refit policy.  ``"inner_cv"``: after selection every classifier is refitted
  on all training videos of the fold (the out-of-fold models only score).
  ``"validation"`` with ``refit="train"`` (default): ``C`` and ``alpha`` are
  chosen with classifiers fitted on the fit rows and scored on the
  validation rows, then the classifiers are refitted on fit + validation;
  ``refit="fit"`` keeps the classifiers that ``alpha`` was tuned on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold, StratifiedKFold
from sklearn.svm import SVC

from adl.data.protocols import shared_groups

from adl.features.folds import FAMILIES

DEFAULT_C_GRID: Tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 100.0)
#: alpha grid of the search: [0, 1], step 0.01 (thesis 3.4.2 "globally searching").
DEFAULT_ALPHA_GRID = np.round(np.linspace(0.0, 1.0, 101), 2)
REFIT_POLICIES = ("train", "fit")
#: Model-selection schemes (see the module docstring).
SELECTIONS = ("inner_cv", "validation")
#: Maximum number of inner cross-validation folds.
DEFAULT_INNER_FOLDS = 5
RGB_FAMILIES: Tuple[str, ...] = ("f1", "f2")
SKELETON_FAMILIES: Tuple[str, ...] = ("f3",)

# Above this many rows the Gram matrix of the whole bank is not cached
# (n^2 float64); kernel blocks are then computed on demand.
_GRAM_CACHE_MAX_ROWS = 8000


# --------------------------------------------------------------------------
# feature bank: normalised families + cached linear Gram matrices
# --------------------------------------------------------------------------

def l2_normalize_rows(X: np.ndarray) -> np.ndarray:
    """Rows of ``X`` scaled to unit Euclidean norm; all-zero rows stay zero.

    Parameters
    ----------
    X : ndarray, shape (n, d)

    Returns
    -------
    ndarray, shape (n, d), float64
    """
    return _normalized(X, np.float64)


def _normalized(X: np.ndarray, dtype) -> np.ndarray:
    # one pass over X, written straight in the storage dtype (a 10^5-dim
    # Fisher vector block is too big to copy needlessly)
    X = np.asarray(X)
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    norms = np.linalg.norm(X, axis=1).astype(np.float64)
    norms[norms == 0] = 1.0
    out = np.empty(X.shape, dtype=dtype)
    np.multiply(X, (1.0 / norms)[:, None].astype(X.dtype), out=out, casting="same_kind")
    return out


def family_order(families) -> Tuple[str, ...]:
    """Families in canonical order (``f1, f2, f3``, then any others sorted)."""
    fams = set(families)
    return tuple(f for f in FAMILIES if f in fams) + tuple(sorted(fams - set(FAMILIES)))


def combination_name(families: Sequence[str]) -> str:
    """``("f1", "f2")`` -> ``"f1+f2"``."""
    return "+".join(family_order(families))


class _BankRoot:
    """Normalised feature matrices of one set of videos and their Gram cache."""

    def __init__(self, features: Dict[str, np.ndarray]):
        self.features = features
        self.n = next(iter(features.values())).shape[0] if features else 0
        self.grams: Dict[str, np.ndarray] = {}

    def gram(self, family: str) -> Optional[np.ndarray]:
        if self.n > _GRAM_CACHE_MAX_ROWS:
            return None
        if family not in self.grams:
            X = self.features[family]
            self.grams[family] = (X @ X.T).astype(np.float64)
        return self.grams[family]


class FeatureBank:
    """The L2-normalised feature families of a set of videos.

    A bank is a view (``rows``) on a shared root, so that ``take`` is free and
    linear kernels between two views of the same root are slices of one cached
    Gram matrix per family.  Kernels between banks of different roots (a saved
    model and a new video) are computed from the features.  Pickling a bank
    stores only its own rows and no Gram matrix, so a saved model never carries
    the features of videos it was not trained on.

    Parameters
    ----------
    features : mapping str -> ndarray (n, d) or None
        Raw features per family (``"f1"``, ``"f2"``, ``"f3"``); ``None`` entries
        are dropped.  Every family must have the same number of rows.
    dtype : numpy dtype, default float32
        Storage type of the normalised features (Gram matrices are float64).
    """

    def __init__(self, features: Mapping[str, Optional[np.ndarray]], *, dtype=np.float32):
        if not isinstance(features, Mapping):
            raise TypeError(f"expected a mapping family -> (n, d) array, got {type(features).__name__}")
        normed: Dict[str, np.ndarray] = {}
        n_rows = None
        for family in family_order(features):
            X = features[family]
            if X is None:
                continue
            X = np.asarray(X)
            if X.ndim != 2:
                raise ValueError(f"features {family!r}: expected a 2-D array (n_videos, d), "
                                 f"got shape {X.shape}")
            if n_rows is not None and X.shape[0] != n_rows:
                raise ValueError(f"features {family!r} have {X.shape[0]} rows, expected {n_rows} "
                                 "(every family needs one row per video)")
            if not np.all(np.isfinite(X)):
                raise ValueError(f"features {family!r} contain NaN or infinite values")
            n_rows = X.shape[0]
            normed[family] = _normalized(X, dtype)
        self._root = _BankRoot(normed)
        self._rows = np.arange(self._root.n)
        self._families = family_order(normed)

    @classmethod
    def _view(cls, root: _BankRoot, rows: np.ndarray, families: Tuple[str, ...]) -> "FeatureBank":
        bank = cls.__new__(cls)
        bank._root = root
        bank._rows = rows
        bank._families = families
        return bank

    # -- views ---------------------------------------------------------------
    @property
    def families(self) -> Tuple[str, ...]:
        return self._families

    def __len__(self) -> int:
        return int(self._rows.size)

    def take(self, idx) -> "FeatureBank":
        """The rows ``idx`` (positions in this bank) as a new view."""
        idx = np.asarray(idx)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return FeatureBank._view(self._root, self._rows[idx.astype(np.int64)], self._families)

    def restrict(self, families: Sequence[str]) -> "FeatureBank":
        """A view that only exposes ``families`` (all a saved model keeps)."""
        self._check_families(families)
        return FeatureBank._view(self._root, self._rows, family_order(families))

    def precompute_grams(self) -> "FeatureBank":
        """Compute the Gram matrix of every family of the root now (one large
        matrix product per family; what follows are slices of it)."""
        for family in self._families:
            self._root.gram(family)
        return self

    def features(self, family: str) -> np.ndarray:
        """Normalised features of ``family`` for this view, shape (len(self), d)."""
        self._check_families([family])
        return self._root.features[family][self._rows]

    def _check_families(self, families: Sequence[str]) -> None:
        if not families:
            raise ValueError("expected at least one feature family, got none")
        missing = [f for f in families if f not in self._families]
        if missing:
            have = ", ".join(self.families) or "none"
            raise ValueError(f"feature families {missing} are not available; this data has: {have}")

    # -- kernels -------------------------------------------------------------
    def kernel(self, families: Sequence[str], other: Optional["FeatureBank"] = None) -> np.ndarray:
        """Linear kernel of the early fusion of ``families``.

        ``K[i, j] = mean_f <x_f(i), x_f(j)>`` over the normalised families,
        i.e. the dot product of the L2-normalised concatenations.

        Returns
        -------
        ndarray, shape (len(self), len(other)), float64
        """
        other = self if other is None else other
        self._check_families(families)
        other._check_families(families)
        K = np.zeros((len(self), len(other)), dtype=np.float64)
        for f in families:
            gram = self._root.gram(f) if other._root is self._root else None
            if gram is not None:
                K += gram[np.ix_(self._rows, other._rows)]
            else:
                K += (self.features(f) @ other.features(f).T).astype(np.float64)
        K /= len(families)
        return K

    # -- pickling: own rows only, no Gram cache ------------------------------
    def __getstate__(self):
        return {"features": {f: np.ascontiguousarray(self._root.features[f][self._rows])
                             for f in self._families}}

    def __setstate__(self, state):
        self._root = _BankRoot(state["features"])
        self._rows = np.arange(self._root.n)
        self._families = family_order(state["features"])


def as_bank(X) -> FeatureBank:
    """``X`` as a :class:`FeatureBank` (a bank is returned unchanged)."""
    return X if isinstance(X, FeatureBank) else FeatureBank(X)


# --------------------------------------------------------------------------
# SVM building blocks on Gram matrices
# --------------------------------------------------------------------------

def _fit_svc(K: np.ndarray, y: np.ndarray, C: float) -> SVC:
    return SVC(kernel="precomputed", C=float(C)).fit(K, y)


def _c_preference(C: float) -> Tuple[float, float]:
    # tie-break among equally accurate C: closest to 1 (log scale), then smaller
    return (abs(math.log10(C)), C)


def select_C(bank: FeatureBank, families: Sequence[str], y: np.ndarray, fit_pos: np.ndarray,
             val_pos: np.ndarray, C_grid: Sequence[float] = DEFAULT_C_GRID
             ) -> Tuple[float, float, Dict[float, float]]:
    """Grid-search ``C`` of a linear SVM on ``families``: fitted on ``fit_pos``,
    scored by accuracy on ``val_pos`` (one split; see :func:`search_C` for
    any :class:`Splits`).

    Returns
    -------
    C : float
        Best value (ties: closest to 1, then smaller).
    accuracy : float
        Its validation accuracy in [0, 1].
    accuracies : dict C -> accuracy
    """
    y = np.asarray(y)
    if np.unique(y[fit_pos]).size < 2:
        raise ValueError(f"the fit rows hold {np.unique(y[fit_pos]).size} class(es); "
                         "an SVM needs at least 2")
    if len(val_pos) == 0:
        raise ValueError("the validation split is empty: the SVM search needs validation rows")
    splits = Splits("validation", ((np.asarray(fit_pos), np.asarray(val_pos)),), "validation split")
    C, acc, accs, _ = search_C(bank.kernel(families), y, splits, C_grid)
    return C, acc, accs


def search_C(K: np.ndarray, y: np.ndarray, splits: "Splits", C_grid: Sequence[float],
             classes: Optional[np.ndarray] = None
             ) -> Tuple[float, float, Dict[float, float], Optional[np.ndarray]]:
    """Grid-search ``C`` of a linear SVM on the Gram matrix ``K`` of the
    training rows, scored by the held-out accuracy over ``splits``.

    Parameters
    ----------
    K : ndarray (n, n)
    y : ndarray (n,)
    splits : Splits
    C_grid : sequence of float
    classes : ndarray, optional
        When given, also returns the held-out one-vs-rest decision values of
        the best ``C`` over ``splits.eval_pos`` (columns over ``classes``, one
        column for 2 classes), for calibration.

    Returns
    -------
    C, accuracy, accuracies (dict C -> accuracy), decisions (or None)
    """
    accuracies: Dict[float, float] = {}
    decisions: Dict[float, np.ndarray] = {}
    for C in C_grid:
        if not C > 0:
            raise ValueError(f"C values must be > 0, got {C}")
        correct, total, dec_parts = 0, 0, []
        for tr, te in splits.parts:
            svc = _fit_svc(K[np.ix_(tr, tr)], y[tr], C)
            K_te = K[np.ix_(te, tr)]
            correct += int(np.sum(svc.predict(K_te) == y[te]))
            total += te.size
            if classes is not None:
                dec_parts.append(_decision_matrix(svc, K_te, classes))
        accuracies[float(C)] = correct / total
        if classes is not None:
            decisions[float(C)] = np.concatenate(dec_parts)[splits.order]
    best = min(accuracies, key=lambda C: (-accuracies[C],) + _c_preference(C))
    return best, accuracies[best], accuracies, decisions.get(best)


def _platt_fit(f: np.ndarray, positive: np.ndarray) -> Tuple[float, float]:
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


def _platt_params(dec: np.ndarray, y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """One Platt sigmoid ``(a, b)`` per decision column (one-vs-rest; a binary
    problem has the single column of ``classes[1]``)."""
    targets = [classes[1]] if dec.shape[1] == 1 else list(classes)
    return np.array([_platt_fit(dec[:, c], y == t) for c, t in enumerate(targets)])


def _decision_matrix(svc: SVC, K: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """One-vs-rest decision values as (n, n_classes) over ``classes`` (a binary
    SVM gives one column, the positive class ``classes[1]``); a class the SVM
    never saw gets a value below every other of its row."""
    dec = svc.decision_function(K)
    if len(classes) == 2:
        if len(svc.classes_) == 2:
            return dec.reshape(-1, 1)
        raise ValueError("a calibration fold lost one of the two classes")
    if len(svc.classes_) == 2:  # multi-class problem, binary fold SVM
        dec = np.column_stack([-dec, dec])
    if np.array_equal(svc.classes_, classes):
        return dec
    out = np.repeat(dec.min(axis=1, keepdims=True) - 1.0, len(classes), axis=1)
    out[:, np.searchsorted(classes, svc.classes_)] = dec
    return out


class _CalibratedSVC:
    """Linear SVM on a precomputed Gram matrix with Platt-calibrated
    probabilities from cross-validated decision values (``ensemble=False``).

    The calibration folds are ``min(cv, smallest class count)`` stratified
    folds over the videos of classes with at least 2 videos; a class with a
    single video stays in every training part.  Without any class of 2 videos
    the sigmoids fall back to in-sample decision values.
    """

    def __init__(self, C: float, cv: int = 3, seed: int = 0):
        self.C = C
        self.cv = cv
        self.seed = seed

    def fit(self, K: np.ndarray, y: np.ndarray, groups=None) -> "_CalibratedSVC":
        """``groups``: split group of every row (kept whole by the calibration folds)."""
        y = np.asarray(y)
        self.svc_ = _fit_svc(K, y, self.C)
        self.classes_ = self.svc_.classes_
        n_cols = 1 if len(self.classes_) == 2 else len(self.classes_)
        parts, k = self._folds(y, groups)
        if k >= 2:
            dec = np.zeros((len(y), n_cols))
            for train, test in parts:
                svc = _fit_svc(K[np.ix_(train, train)], y[train], self.C)
                dec[test] = _decision_matrix(svc, K[np.ix_(test, train)], self.classes_)
            rows = np.sort(np.concatenate([te for _, te in parts]))
            self.calibration_ = f"{k}-fold" + (" (split groups kept whole)" if groups is not None
                                               else "")
        else:
            dec = _decision_matrix(self.svc_, K, self.classes_)
            rows = np.arange(len(y))
            self.calibration_ = "in-sample"
        self.platt_ = _platt_params(dec[rows], y[rows], self.classes_)
        return self

    def _folds(self, y: np.ndarray, groups):
        """Calibration folds: stratified, seeded; with ``groups`` (one per
        row, some shared) the folds keep every group whole."""
        return _stratified_parts(y, shared_groups(groups, y.size, "split group per row"),
                                 self.cv, self.seed)

    @classmethod
    def from_parts(cls, svc: SVC, platt: np.ndarray, calibration: str) -> "_CalibratedSVC":
        """An SVM and sigmoids fitted elsewhere (held-out decisions of an inner
        cross-validation): ``CalibratedClassifierCV(ensemble=False, cv=splits)``."""
        model = cls(C=svc.C)
        model.svc_, model.classes_, model.platt_ = svc, svc.classes_, platt
        model.calibration_ = calibration
        return model

    def decision_function(self, K: np.ndarray) -> np.ndarray:
        return _decision_matrix(self.svc_, K, self.classes_)

    def predict_proba(self, K: np.ndarray) -> np.ndarray:
        return self.proba_from_decisions(self.decision_function(K))

    def proba_from_decisions(self, dec: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (n, n_classes) from decision values."""
        p = expit(-(dec * self.platt_[:, 0] + self.platt_[:, 1]))
        if len(self.classes_) == 2:
            p = np.column_stack([1.0 - p[:, 0], p[:, 0]])
        else:
            total = p.sum(axis=1, keepdims=True)
            uniform = np.full_like(p, 1.0 / p.shape[1])
            p = np.divide(p, total, out=uniform, where=total != 0)
        p[(p > 1.0) & (p <= 1.0 + 1e-5)] = 1.0
        return p


# --------------------------------------------------------------------------
# helpers shared by the estimators
# --------------------------------------------------------------------------

def _check_refit(refit: str) -> None:
    if refit not in REFIT_POLICIES:
        raise ValueError(f"refit must be one of {REFIT_POLICIES}, got {refit!r}")


def _check_y(y, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"expected y of shape ({n},) (one label per video), got {y.shape}")
    if np.unique(y).size < 2:
        raise ValueError(f"expected at least 2 classes in y, got {np.unique(y).size}")
    return y


def resolve_validation(y: np.ndarray, validation, fraction: float = 0.2, seed: int = 0,
                       clusters=None) -> Tuple[np.ndarray, np.ndarray]:
    """(fit positions, validation positions) from an index array / boolean
    mask, or a seeded stratified ``fraction`` split (keeping ``clusters``
    whole) when ``validation`` is None."""
    n = len(y)
    if validation is None:
        from adl.data.protocols import validation_split
        return validation_split(y, fraction=fraction, seed=seed, groups=clusters)
    val = np.asarray(validation)
    if val.dtype == bool:
        if val.shape != (n,):
            raise ValueError(f"validation mask must have shape ({n},), got {val.shape}")
        val = np.flatnonzero(val)
    val = np.unique(val.astype(np.int64))
    if val.size and (val[0] < 0 or val[-1] >= n):
        raise ValueError(f"validation indices must lie in [0, {n}), got {val[0]}..{val[-1]}")
    if val.size == 0:
        raise ValueError("the validation split is empty: the fusion stage tunes C, alpha and the "
                         "pair memory on validation rows")
    fit = np.setdiff1d(np.arange(n), val)
    return fit, val


@dataclass(frozen=True)
class Splits:
    """Held-out scoring scheme over the training rows of a fold.

    ``parts`` are ``(train positions, held-out positions)``; the held-out
    parts are disjoint and their union, sorted, is :attr:`eval_pos` (every
    training row for an inner cross-validation, the validation rows for a
    validation split).  ``kind`` is ``"inner_cv"`` or ``"validation"``.
    """

    kind: str
    parts: Tuple[Tuple[np.ndarray, np.ndarray], ...]
    description: str
    #: split group of every training row (None: every row alone); the
    #: calibration folds of ``"validation"`` keep them whole too
    clusters: Optional[np.ndarray] = field(default=None, compare=False)

    @property
    def eval_pos(self) -> np.ndarray:
        return np.sort(np.concatenate([te for _, te in self.parts]))

    @property
    def order(self) -> np.ndarray:
        """Permutation taking rows stacked part by part to :attr:`eval_pos` order."""
        return np.argsort(np.concatenate([te for _, te in self.parts]), kind="stable")

    @property
    def all_pos(self) -> np.ndarray:
        """Every row some part trains or scores on."""
        return np.unique(np.concatenate([np.concatenate(p) for p in self.parts]))

    def restrict(self, rows: np.ndarray) -> "Splits":
        """The parts restricted to ``rows`` (positions); parts left with an
        empty held-out side are dropped."""
        keep = np.zeros(int(max(self.all_pos.max(), np.max(rows, initial=-1))) + 1, dtype=bool)
        keep[np.asarray(rows, dtype=np.int64)] = True
        parts = tuple((tr[keep[tr]], te[keep[te]]) for tr, te in self.parts)
        return Splits(self.kind, tuple(p for p in parts if p[1].size), self.description,
                      self.clusters)


def make_splits(y: np.ndarray, selection: str = "inner_cv", *, validation=None, groups=None,
                inner_folds: int = DEFAULT_INNER_FOLDS, fraction: float = 0.2, seed: int = 0,
                clusters=None) -> Splits:
    """The held-out scheme of a fold's training rows (see the module docstring).

    Parameters
    ----------
    y : ndarray (n,)
        Labels of the training rows.
    selection : {"inner_cv", "validation"}
    validation : index array or bool mask, optional
        ``"validation"`` only: the validation rows (default: a seeded
        stratified ``fraction`` split).
    groups : ndarray (n,), optional
        ``"inner_cv"`` only: subject of every row.  Without it, or with a
        single subject, the inner folds are stratified folds of videos.
    inner_folds : int
        Maximum number of inner folds.
    clusters : ndarray (n,), optional
        ``"inner_cv"`` only: split group of every row (videos that must stay
        on one side, e.g. a clip and its flipped copy; a group lies within a
        subject).  The stratified folds of a single-subject fold then keep
        each group whole (``StratifiedGroupKFold``); subject-grouped folds
        keep them whole already.
    """
    y = np.asarray(y)
    clusters = shared_groups(clusters, y.size, "split group per row")
    if selection == "validation":
        fit, val = resolve_validation(y, validation, fraction, seed, clusters)
        return Splits("validation", ((fit, val),), f"validation split ({val.size} videos)",
                      clusters)
    if selection != "inner_cv":
        raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")
    if validation is not None:
        raise ValueError("a validation split is only used with selection='validation'; "
                         "selection='inner_cv' scores on every training video")
    if inner_folds < 2:
        raise ValueError(f"inner_folds must be >= 2, got {inner_folds}")
    n = y.size
    parts: List[Tuple[np.ndarray, np.ndarray]] = []
    subjects = None if groups is None else np.asarray(groups).astype(str)
    if subjects is not None and subjects.shape != (n,):
        raise ValueError(f"groups must have one subject per row ({n}), got shape {subjects.shape}")
    uniq = [] if subjects is None else sorted(set(subjects.tolist()))
    if len(uniq) >= 2:
        if len(uniq) <= inner_folds:
            held = [np.flatnonzero(subjects == g) for g in uniq]
            how = f"leave-one-subject-out over the {len(uniq)} training subjects"
        else:
            codes = np.searchsorted(np.asarray(uniq), subjects)
            held = [te for _, te in GroupKFold(n_splits=inner_folds).split(np.zeros(n), y, codes)]
            how = f"{inner_folds} folds grouped by subject ({len(uniq)} training subjects)"
        for te in held:
            parts.append((np.setdiff1d(np.arange(n), te), np.sort(te)))
    else:
        parts, k = _stratified_parts(y, clusters, inner_folds, seed)
        if not parts:
            raise ValueError("inner cross-validation needs at least one class with "
                             + ("2 training videos; every class has one" if clusters is None else
                                "videos in 2 split groups; every class has one group"))
        how = (f"{k} stratified folds of videos (seed {seed})" if clusters is None else
               f"{k} stratified folds of videos keeping split groups whole "
               f"({np.unique(clusters).size} groups of {n} videos, seed {seed})")
    usable = tuple(p for p in parts if np.unique(y[p[0]]).size >= 2 and p[1].size)
    if not usable:
        raise ValueError("no inner fold has 2 classes to train on")
    return Splits("inner_cv", usable, how, clusters)


def _stratified_parts(y: np.ndarray, clusters: Optional[np.ndarray], n_splits: int, seed: int):
    """Seeded stratified folds of videos: ``(parts, k)``, ``parts`` = (train,
    held-out) positions.  Classes with at least 2 units (videos, or split
    groups with ``clusters``) are cross-validated, every video sharing a group
    with them too; the others stay in every training part.  ``k`` = min(
    ``n_splits``, the smallest such class's units); ``([], k)`` when k < 2.
    """
    values = np.unique(y)
    if clusters is None:
        units = np.array([np.sum(y == c) for c in values])
        in_cv = np.isin(y, values[units >= 2])
    else:
        units = np.array([np.unique(clusters[y == c]).size for c in values])
        in_cv = np.isin(clusters, np.unique(clusters[np.isin(y, values[units >= 2])]))
    idx_cv, idx_single = np.flatnonzero(in_cv), np.flatnonzero(~in_cv)
    k = int(min(n_splits, units[units >= 2].min())) if idx_cv.size else 0
    if k < 2:
        return [], k
    if clusters is None:
        folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(
            np.zeros(idx_cv.size), y[idx_cv])
    else:
        folds = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(
            np.zeros(idx_cv.size), y[idx_cv], clusters[idx_cv])
    return [(np.sort(np.concatenate([idx_cv[tr], idx_single])), np.sort(idx_cv[te]))
            for tr, te in folds], k


def _rows(values: Optional[np.ndarray], pos: np.ndarray) -> Optional[np.ndarray]:
    return None if values is None else values[pos]


def _pred_from_decisions(dec: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The SVM's labels from its one-vs-rest decision values (one column for
    two classes: positive means ``classes[1]``)."""
    if dec.shape[1] == 1:
        return classes[(dec[:, 0] > 0).astype(np.int64)]
    return classes[np.argmax(dec, axis=1)]


def _expand_proba(proba: np.ndarray, have: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Columns of ``proba`` (over ``have``) placed into columns over ``classes``."""
    if np.array_equal(have, classes):
        return proba
    out = np.zeros((proba.shape[0], len(classes)))
    out[:, np.searchsorted(classes, have)] = proba
    return out


def _check_is_fitted(est, attr: str) -> None:
    if not hasattr(est, attr):
        raise NotFittedError(f"This {type(est).__name__} instance is not fitted yet; "
                             "call 'fit' with training data first.")


# --------------------------------------------------------------------------
# estimators
# --------------------------------------------------------------------------

class FamilySVM(ClassifierMixin, BaseEstimator):
    """Linear SVM on the L2-normalised early fusion of some feature families.

    Used for the ablation columns of Table 3.2 (F1, F2, F3, F1+F2, F1+F2+F3)
    and as ``clf1`` / ``clf2`` of :class:`TwoLevelFusion`.

    Parameters
    ----------
    families : sequence of str
        Families to concatenate (``("f1", "f2")`` = early fusion [F1, F2]).
    C_grid : sequence of float
        Candidate ``C``; chosen by validation accuracy.
    probability : bool, default False
        Calibrate probabilities (needed for late fusion); also stores the
        validation probabilities ``val_proba_``.
    refit : {"train", "fit"}
        ``selection="validation"`` only: ``"train"`` refits on fit +
        validation rows after the search, ``"fit"`` keeps the SVM fitted on
        the fit rows.  An inner cross-validation always refits on all rows.
    calibration_cv : int
        ``selection="validation"``: maximum number of calibration folds.
    validation_fraction : float
        Used when ``fit`` gets no ``validation``.
    seed : int
    selection : {"inner_cv", "validation"}
        How ``C`` (and the calibration) is chosen; see the module docstring.
    inner_folds : int
        Maximum number of inner folds.

    Attributes
    ----------
    C_ : float
    val_accuracy_ : float
        Held-out accuracy (in [0, 1]) of the chosen ``C``.
    val_idx_ : ndarray of int
        The held-out rows (every row with an inner cross-validation).
    val_proba_ : ndarray (len(val_idx_), n_classes)
        Only with ``probability=True``: held-out probabilities of those rows
        (from models that did not see them).
    selection_ : str
        Description of the held-out scheme.
    classes_ : ndarray
    """

    def __init__(self, families=("f1",), C_grid=DEFAULT_C_GRID, probability=False, refit="train",
                 calibration_cv=3, validation_fraction=0.2, seed=0, selection="inner_cv",
                 inner_folds=DEFAULT_INNER_FOLDS):
        self.families = families
        self.C_grid = C_grid
        self.probability = probability
        self.refit = refit
        self.calibration_cv = calibration_cv
        self.validation_fraction = validation_fraction
        self.seed = seed
        self.selection = selection
        self.inner_folds = inner_folds

    def _splits(self, y, validation, groups, splits, clusters=None) -> Splits:
        if splits is not None:
            return splits
        return make_splits(y, self.selection, validation=validation, groups=groups,
                           inner_folds=self.inner_folds, fraction=self.validation_fraction,
                           seed=self.seed, clusters=clusters)

    def fit(self, X, y, *, validation=None, groups=None, splits=None, clusters=None
            ) -> "FamilySVM":
        """Fit on the videos of ``X``.

        Parameters
        ----------
        X : FeatureBank or mapping family -> ndarray (n, d)
        y : ndarray (n,)
            Class labels.
        validation : ndarray of int or bool mask, optional
            ``selection="validation"``: rows used to score the ``C`` search
            (default: a seeded stratified ``validation_fraction`` split).
        groups : ndarray (n,), optional
            ``selection="inner_cv"``: subject of every row (inner folds are
            grouped by subject).
        splits : Splits, optional
            A ready-made scheme (overrides the three above and ``clusters``).
        clusters : ndarray (n,), optional
            Split group of every row (see :func:`make_splits`).
        """
        _check_refit(self.refit)
        bank = as_bank(X)
        families = family_order(self.families)
        bank._check_families(families)
        y = _check_y(y, len(bank))
        splits = self._splits(y, validation, groups, splits, clusters)
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
            svc = _fit_svc(K, y, self.C_)
            if self.probability:
                eval_pos = splits.eval_pos
                platt = _platt_params(dec, y[eval_pos], self.classes_)
                model = _CalibratedSVC.from_parts(
                    svc, platt, f"Platt on out-of-fold decisions ({splits.description})")
                self.val_proba_ = model.proba_from_decisions(dec)
                self.val_pred_ = _pred_from_decisions(dec, self.classes_)
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
            cal = _CalibratedSVC(self.C_, self.calibration_cv, self.seed).fit(
                fit_bank.kernel(families), y[fit_pos], _rows(splits.clusters, fit_pos))
            K_val = bank.take(val_pos).kernel(families, fit_bank)
            self.val_proba_ = _expand_proba(cal.predict_proba(K_val), cal.classes_, self.classes_)
            self.val_pred_ = cal.svc_.predict(K_val)
            model = cal
        final = fit_pos if self.refit == "fit" else np.arange(len(y))
        train_bank = bank.take(final).restrict(families)
        if self.refit == "train" or not self.probability:
            K = train_bank.kernel(families)
            if self.probability:
                model = _CalibratedSVC(self.C_, self.calibration_cv, self.seed).fit(
                    K, y[final], _rows(splits.clusters, final))
            else:
                model = _fit_svc(K, y[final], self.C_)
        self.model_ = model
        self.train_bank_ = train_bank
        return self

    def _kernel(self, X) -> np.ndarray:
        _check_is_fitted(self, "model_")
        return as_bank(X).kernel(self.families_, self.train_bank_)

    def decision_function(self, X) -> np.ndarray:
        """Decision values of the SVM, shape (n,) or (n, n_classes)."""
        return self.model_.decision_function(self._kernel(X))

    def predict(self, X) -> np.ndarray:
        """Predicted labels, shape (n,)."""
        K = self._kernel(X)
        if isinstance(self.model_, _CalibratedSVC):
            return self.model_.svc_.predict(K)
        return self.model_.predict(K)

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated probabilities, shape (n, n_classes) over ``classes_``."""
        _check_is_fitted(self, "model_")
        if not self.probability:
            raise AttributeError("predict_proba needs FamilySVM(probability=True)")
        cal = self.model_
        return _expand_proba(cal.predict_proba(self._kernel(X)), cal.classes_, self.classes_)


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


class TwoLevelFusion(BaseEstimator):
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
    C_grid, refit, calibration_cv, validation_fraction, seed, selection, inner_folds
        As in :class:`FamilySVM` (applied to clf1 and clf2, which share one
        held-out scheme).
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
                 calibration_cv=3, validation_fraction=0.2, seed=0,
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
        self.seed = seed
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

    def fit(self, X, y, *, validation=None, groups=None, splits=None, clusters=None
            ) -> "TwoLevelFusion":
        """Fit clf1 / clf2, choose alpha on the held-out rows.

        Parameters
        ----------
        X : FeatureBank or mapping family -> ndarray (n, d)
            Training videos only.
        y : ndarray (n,)
        validation : ndarray of int or bool mask, optional
            ``selection="validation"``: validation rows among ``X`` (default:
            seeded stratified split).
        groups : ndarray (n,), optional
            ``selection="inner_cv"``: subject of every row.
        splits : Splits, optional
            A ready-made scheme (overrides the two above and ``clusters``).
        clusters : ndarray (n,), optional
            Split group of every row (see :func:`make_splits`).
        """
        fixed_alpha = self._check_alpha()
        _check_refit(self.refit)
        bank = as_bank(X)
        y = _check_y(y, len(bank))
        if splits is None:
            splits = make_splits(y, self.selection, validation=validation, groups=groups,
                                 inner_folds=self.inner_folds, fraction=self.validation_fraction,
                                 seed=self.seed, clusters=clusters)
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
                      calibration_cv=self.calibration_cv, seed=self.seed,
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
        _check_is_fitted(self, "mode_")
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
        _check_is_fitted(self, "mode_")
        scores = self.predict_proba(X)
        if self.mode_ != "two_level":
            return np.asarray(self._single().predict(X)), scores
        return self.classes_[np.argmax(scores, axis=1)], scores
