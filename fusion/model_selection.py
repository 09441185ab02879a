"""Held-out schemes of a fold's training videos and the ``C`` search
(thesis 3.4.2: parameters "searched on validation").

Two names, used everywhere in the fusion stage:

* ``subjects``: who performed each video, the leave-one-subject-out unit;
* ``split_groups``: videos that must stay on one side of any split (a clip
  and its flipped copy, :attr:`data.record.VideoRecord.split_group`).

A held-out scheme is one :class:`Splits` object, built by :func:`make_splits`
from the labels, the ``selection``, the subjects and the split groups; every
estimator of the stage takes it as ``fit(..., splits=...)``.

Model selection (``selection``), which the thesis leaves open:

- ``"inner_cv"`` (default): an inner cross-validation over *all* training
  videos of the fold, grouped by subject -- leave-one-training-subject-out
  when the fold has 2 to ``inner_folds`` training subjects, ``inner_folds``
  subject-grouped folds when it has more, seeded stratified folds of videos
  when it has one.  Every training video gets an out-of-fold prediction, so
  ``C``, ``alpha`` and the pair memory are chosen on all of them instead of on
  a 20 % split (on CAD-120-sized data that split holds one video per class).
  Videos of one split group are never on both sides of an inner fold;
- ``"validation"``: the seeded stratified validation split of the features
  stage (``fit_idx`` / ``val_idx``), scored once.

``C`` of every SVM is chosen on a grid (:data:`fusion.config.DEFAULT_C_GRID`)
by held-out accuracy (out-of-fold, or on the validation rows); ties go to the
``C`` closest to 1, then to the smaller one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold, StratifiedKFold

from adl.data.protocols import DEFAULT_VALIDATION_FRACTION, shared_split_groups, validation_split

from .config import DEFAULT_C_GRID, DEFAULT_INNER_FOLDS, REFIT_POLICIES, SELECTIONS
from .feature_bank import FeatureBank
from .gram_svc import decision_matrix, fit_svc


def check_refit(refit: str) -> None:
    """Raise ValueError unless ``refit`` is one of :data:`fusion.config.REFIT_POLICIES`."""
    if refit not in REFIT_POLICIES:
        raise ValueError(f"refit must be one of {REFIT_POLICIES}, got {refit!r}")


def check_labels(y, n: int) -> np.ndarray:
    """``y`` as an array of ``n`` labels of at least 2 classes (else ValueError)."""
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"expected y of shape ({n},) (one label per video), got {y.shape}")
    if np.unique(y).size < 2:
        raise ValueError(f"expected at least 2 classes in y, got {np.unique(y).size}")
    return y


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
    split_groups: Optional[np.ndarray] = field(default=None, compare=False)

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
                      self.split_groups)

    def localize(self, rows: np.ndarray) -> "Splits":
        """The parts restricted to the sorted positions ``rows`` and renumbered
        as positions in ``rows`` (the scheme of a subset of the videos)."""
        sub = self.restrict(rows)
        return Splits(sub.kind, tuple((np.searchsorted(rows, tr), np.searchsorted(rows, te))
                                      for tr, te in sub.parts), sub.description)


def validation_rows(y: np.ndarray, validation=None, fraction: float = DEFAULT_VALIDATION_FRACTION,
                    seed: int = 0, split_groups=None) -> Tuple[np.ndarray, np.ndarray]:
    """(fit positions, validation positions) from an index array / boolean
    mask, or a seeded stratified ``fraction`` split (keeping ``split_groups``
    whole, :func:`data.protocols.validation_split`) when ``validation`` is None."""
    n = len(y)
    if validation is None:
        return validation_split(y, fraction=fraction, seed=seed, split_groups=split_groups)
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


def make_splits(y: np.ndarray, selection: str = "inner_cv", *, subjects=None, split_groups=None,
                validation=None, inner_folds: int = DEFAULT_INNER_FOLDS,
                fraction: float = DEFAULT_VALIDATION_FRACTION, seed: int = 0) -> Splits:
    """The held-out scheme of a fold's training rows (see the module docstring).

    Parameters
    ----------
    y : ndarray (n,)
        Labels of the training rows.
    selection : {"inner_cv", "validation"}
    subjects : ndarray (n,), optional
        ``"inner_cv"`` only: subject of every row.  Without it, or with a
        single subject, the inner folds are stratified folds of videos.
    split_groups : ndarray (n,), optional
        Split group of every row (videos that must stay on one side, e.g. a
        clip and its flipped copy; a group lies within a subject).  The
        stratified folds of a single-subject fold then keep each group whole
        (``StratifiedGroupKFold``; subject-grouped folds keep them whole
        already), and so do the validation split and its calibration folds.
    validation : index array or bool mask, optional
        ``"validation"`` only: the validation rows (default: a seeded
        stratified ``fraction`` split).
    inner_folds : int
        Maximum number of inner folds.
    fraction : float
        ``"validation"`` without ``validation``: share of each class held out.
    seed : int
    """
    y = np.asarray(y)
    split_groups = shared_split_groups(split_groups, y.size, "split group per row")
    if selection == "validation":
        fit, val = validation_rows(y, validation, fraction, seed, split_groups)
        return Splits("validation", ((fit, val),), f"validation split ({val.size} videos)",
                      split_groups)
    if selection != "inner_cv":
        raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")
    if validation is not None:
        raise ValueError("a validation split is only used with selection='validation'; "
                         "selection='inner_cv' scores on every training video")
    if inner_folds < 2:
        raise ValueError(f"inner_folds must be >= 2, got {inner_folds}")
    n = y.size
    parts: List[Tuple[np.ndarray, np.ndarray]] = []
    subjects = None if subjects is None else np.asarray(subjects).astype(str)
    if subjects is not None and subjects.shape != (n,):
        raise ValueError(f"expected one subject per row ({n}), got shape {subjects.shape}")
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
        parts, k = stratified_parts(y, split_groups, inner_folds, seed)
        if not parts:
            raise ValueError("inner cross-validation needs at least one class with "
                             + ("2 training videos; every class has one" if split_groups is None
                                else "videos in 2 split groups; every class has one group"))
        how = (f"{k} stratified folds of videos (seed {seed})" if split_groups is None else
               f"{k} stratified folds of videos keeping split groups whole "
               f"({np.unique(split_groups).size} groups of {n} videos, seed {seed})")
    usable = tuple(p for p in parts if np.unique(y[p[0]]).size >= 2 and p[1].size)
    if not usable:
        raise ValueError("no inner fold has 2 classes to train on")
    return Splits("inner_cv", usable, how, split_groups)


def stratified_parts(y: np.ndarray, split_groups: Optional[np.ndarray], n_splits: int, seed: int):
    """Seeded stratified folds of videos: ``(parts, k)``, ``parts`` = (train,
    held-out) positions.  Classes with at least 2 units (videos, or split
    groups with ``split_groups``) are cross-validated, every video sharing a
    group with them too; the others stay in every training part.  ``k`` =
    min(``n_splits``, the smallest such class's units); ``([], k)`` when k < 2.
    """
    values = np.unique(y)
    if split_groups is None:
        units = np.array([np.sum(y == c) for c in values])
        in_cv = np.isin(y, values[units >= 2])
    else:
        units = np.array([np.unique(split_groups[y == c]).size for c in values])
        in_cv = np.isin(split_groups,
                        np.unique(split_groups[np.isin(y, values[units >= 2])]))
    idx_cv, idx_single = np.flatnonzero(in_cv), np.flatnonzero(~in_cv)
    k = int(min(n_splits, units[units >= 2].min())) if idx_cv.size else 0
    if k < 2:
        return [], k
    if split_groups is None:
        folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(
            np.zeros(idx_cv.size), y[idx_cv])
    else:
        folds = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(
            np.zeros(idx_cv.size), y[idx_cv], split_groups[idx_cv])
    return [(np.sort(np.concatenate([idx_cv[tr], idx_single])), np.sort(idx_cv[te]))
            for tr, te in folds], k


def rows_of(values: Optional[np.ndarray], pos: np.ndarray) -> Optional[np.ndarray]:
    """``values[pos]``, or None when ``values`` is None (optional per-row arrays)."""
    return None if values is None else values[pos]


# --------------------------------------------------------------------------
# the C search
# --------------------------------------------------------------------------

def c_preference(C: float) -> Tuple[float, float]:
    """Tie-break key among equally accurate ``C``: closest to 1 (log scale), then smaller."""
    return (abs(math.log10(C)), C)


def search_C(K: np.ndarray, y: np.ndarray, splits: Splits, C_grid: Sequence[float],
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
            svc = fit_svc(K[np.ix_(tr, tr)], y[tr], C)
            K_te = K[np.ix_(te, tr)]
            correct += int(np.sum(svc.predict(K_te) == y[te]))
            total += te.size
            if classes is not None:
                dec_parts.append(decision_matrix(svc, K_te, classes))
        accuracies[float(C)] = correct / total
        if classes is not None:
            decisions[float(C)] = np.concatenate(dec_parts)[splits.order]
    best = min(accuracies, key=lambda C: (-accuracies[C],) + c_preference(C))
    return best, accuracies[best], accuracies, decisions.get(best)


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
