"""Similar-action discrimination: the action-pair memory (thesis 3.3.3).

Training: from the row-normalised confusion matrix ``C`` of the fused
held-out scores of the training videos (out-of-fold predictions of the
inner cross-validation, or the validation split; see :mod:`fusion.model_selection`),
every pair with ``C(i, j) + C(j, i) >= epsilon`` is remembered, in
descending order of that score (Table 3.3).  For each pair a binary linear
SVM is trained on the feature combination (F1, F2, F3 and their
concatenations, among those available) with the best held-out accuracy on
that pair (same held-out scheme, restricted to the pair's videos), then
refitted on all the pair's training videos.

Test: a video whose predicted label belongs to a remembered pair is
re-decided by that pair's classifier; the memory is walked once, in order,
so a video is re-decided at most once per pair (the loop is bounded by the
memory size, as in the thesis).

Epsilon:

* a number: the threshold (the thesis sets it by hand, 0.1 for NTU-60 to
  0.4 for CAD-120; :data:`DEFAULT_EPSILON` holds the per-dataset defaults);
* ``"auto"`` (beyond the thesis): chosen on training data only.  Every pair
  with a non-zero held-out confusion is a candidate (best scores first, at
  most 32); walking them in order, each candidate's classifier re-decides
  the held-out fused predictions it covers with *its own* held-out
  predictions (fitted without the video it re-decides).  The threshold
  keeping the prefix of pairs with the best held-out accuracy (ties: fewer
  pairs) is the midpoint between the last kept and the first dropped score
  (``inf`` when no pair helps: the memory stays empty).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from adl.data.protocols import DEFAULT_VALIDATION_FRACTION

from .config import DEFAULT_C_GRID, DEFAULT_INNER_FOLDS, family_order
from .confusion import normalized_confusion
from .feature_bank import FeatureBank, as_bank, combination_name
from .gram_svc import fit_svc
from .model_selection import (Splits, c_preference, check_labels, check_refit, make_splits,
                              search_C)

#: Per-dataset epsilon defaults.  cad120 0.4 and ntu60 0.1 are the thesis's
#: (3.4.2, Table 3.3); the others are ours: small datasets (a handful of
#: validation videos per class, so one error moves C(i, j) by 0.2-0.5) take
#: the conservative CAD-120 value, large ones (NTU, Smarthome) the NTU value.
DEFAULT_EPSILON = {
    "cad60": 0.4,
    "cad120": 0.4,
    "msr_daily": 0.4,
    "manifest": 0.4,
    "nucla": 0.4,
    "ntu60": 0.1,
    "ntu120": 0.1,
    "smarthome": 0.1,
}
FALLBACK_EPSILON = 0.4

# Inclusive threshold despite floating error (2/3 + 1/3 vs 1.0 and the like).
_EPS_TOL = 1e-9
# "auto" considers at most this many candidate pairs (best scores first).
_AUTO_MAX_CANDIDATES = 32


def canonical_dataset(name: str) -> str:
    """``"CAD-120"`` -> ``"cad120"``, ``"MSRDailyActivity3D"`` -> ``"msr_daily"``."""
    key = "".join(ch for ch in str(name).lower() if ch.isalnum())
    aliases = {"msrdaily": "msr_daily", "msrdailyactivity3d": "msr_daily", "msr3d": "msr_daily",
               "ntu": "ntu60", "nturgbd": "ntu60", "ntu60": "ntu60", "ntu120": "ntu120",
               "toyotasmarthome": "smarthome", "nucla": "nucla", "northwesternucla": "nucla"}
    return aliases.get(key, key)


def default_epsilon(dataset: str) -> float:
    """The epsilon used when none is given (see :data:`DEFAULT_EPSILON`)."""
    return DEFAULT_EPSILON.get(canonical_dataset(dataset), FALLBACK_EPSILON)


def confused_pairs(confusion: np.ndarray, epsilon: float) -> List[Tuple[int, int, float]]:
    """Pairs prone to confusion: ``C(i, j) + C(j, i) >= epsilon``, ``i < j``.

    Parameters
    ----------
    confusion : ndarray, shape (k, k)
        Normalised confusion matrix (rows: true class).
    epsilon : float
        Inclusive threshold.

    Returns
    -------
    list of (i, j, score)
        Descending score; equal scores in (i, j) order.  Pairs with a zero
        score are never returned.
    """
    C = np.asarray(confusion, dtype=np.float64)
    if C.ndim != 2 or C.shape[0] != C.shape[1]:
        raise ValueError(f"expected a square confusion matrix, got shape {C.shape}")
    eps = float(epsilon)
    if math.isnan(eps):
        raise ValueError("epsilon must be a number, got nan")
    S = C + C.T
    out = [(i, j, float(S[i, j])) for i in range(C.shape[0]) for j in range(i + 1, C.shape[0])
           if S[i, j] > 0 and S[i, j] >= eps - _EPS_TOL]
    return sorted(out, key=lambda t: (-t[2], t[0], t[1]))


def feature_combinations(families: Sequence[str]) -> List[Tuple[str, ...]]:
    """Every non-empty combination of ``families``: singles first, then pairs, ..."""
    fams = family_order(families)
    return [c for r in range(1, len(fams) + 1) for c in itertools.combinations(fams, r)]


@dataclass
class PairEntry:
    """One remembered pair: its classes, confusion score and binary SVM."""

    classes: Tuple[object, object]
    score: float
    features: Tuple[str, ...]
    C: float
    val_accuracy: float
    svc: object = field(repr=False)
    bank: FeatureBank = field(repr=False)

    @property
    def features_name(self) -> str:
        return combination_name(self.features)

    def predict(self, bank: FeatureBank) -> np.ndarray:
        return self.svc.predict(bank.kernel(self.features, self.bank))


def learn_pair(bank: FeatureBank, y: np.ndarray, splits: Splits, pair: Tuple[object, object],
               score: float, combinations, C_grid, refit: str = "train") -> Optional[PairEntry]:
    """Binary linear SVM for ``pair`` on its best feature combination.

    Every (combination, C) is scored by held-out accuracy over ``splits``
    restricted to the pair's videos; best accuracy wins, ties go to the
    earlier combination (singles before concatenations) then the ``C``
    closest to 1.  The winner is refitted on all the pair's videos
    (``refit="fit"``, validation split only: on its fit rows).  Returns None
    when a class of the pair has no training video.
    """
    rows = splits.all_pos
    pair_rows = rows[np.isin(y[rows], pair)]
    if refit == "fit":
        fit_rows = splits.parts[0][0]
        final = fit_rows[np.isin(y[fit_rows], pair)]
    else:
        final = pair_rows
    if np.unique(y[final]).size < 2:
        return None
    local = splits.localize(pair_rows)
    local = Splits(local.kind, tuple(p for p in local.parts
                                     if np.unique(y[pair_rows][p[0]]).size == 2), local.description)
    pair_bank = bank.take(pair_rows)
    best = None
    for rank, combo in enumerate(combinations):
        if local.parts:
            C, acc, _, _ = search_C(pair_bank.kernel(combo), y[pair_rows], local, C_grid)
        else:  # no held-out video of the pair: nothing to score on
            C, acc = min((float(c) for c in C_grid), key=c_preference), 0.0
        key = (-acc, rank) + c_preference(C)
        if best is None or key < best[0]:
            best = (key, combo, float(C), acc)
    _, combo, C, acc = best
    final_bank = bank.take(final).restrict(combo)
    svc = fit_svc(final_bank.kernel(combo), y[final], C)
    return PairEntry(classes=tuple(pair), score=float(score), features=tuple(combo), C=C,
                     val_accuracy=acc, svc=svc, bank=final_bank)


def held_out_pair_predictions(bank: FeatureBank, y: np.ndarray, splits: Splits,
                              entry: PairEntry) -> Tuple[np.ndarray, np.ndarray]:
    """The pair classifier (its features and ``C``) refitted on each part's
    training videos of the pair and applied to that part's held-out rows.

    Returns
    -------
    pred : ndarray (len(splits.eval_pos),)
        Held-out pair decisions, in ``splits.eval_pos`` order.
    valid : ndarray of bool
        False where the part's training rows lack a class of the pair.
    """
    eval_pos = splits.eval_pos
    pred = np.array(y[eval_pos], copy=True)
    valid = np.zeros(eval_pos.size, dtype=bool)
    for tr, te in splits.parts:
        tr_pair = tr[np.isin(y[tr], entry.classes)]
        if np.unique(y[tr_pair]).size < 2:
            continue
        train_bank = bank.take(tr_pair)
        svc = fit_svc(train_bank.kernel(entry.features), y[tr_pair], entry.C)
        at = np.searchsorted(eval_pos, te)
        pred[at] = svc.predict(bank.take(te).kernel(entry.features, train_bank))
        valid[at] = True
    return pred, valid


def apply_memory(entries: Sequence[PairEntry], bank: FeatureBank, y_pred: np.ndarray,
                 scores: Optional[np.ndarray] = None, classes=None
                 ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Re-decide the predictions that fall in a remembered pair, in memory order.

    When ``scores`` (n, n_classes) over ``classes`` is given, a re-decided
    video has the scores of its old and new label swapped, so its scores stay
    a distribution and their argmax is the final label.
    """
    y_pred = np.array(y_pred, copy=True)
    scores = None if scores is None else np.array(scores, dtype=np.float64, copy=True)
    col = None if classes is None else {c: i for i, c in enumerate(np.asarray(classes).tolist())}
    for entry in entries:
        idx = np.flatnonzero(np.isin(y_pred, entry.classes))
        if idx.size == 0:
            continue
        new = entry.predict(bank.take(idx))
        if scores is not None:
            for i, old_label, new_label in zip(idx.tolist(), y_pred[idx].tolist(), new.tolist()):
                if old_label != new_label:
                    a, b = col[old_label], col[new_label]
                    scores[i, a], scores[i, b] = scores[i, b], scores[i, a]
        y_pred[idx] = new
    return y_pred, scores


class ActionPairMemory(BaseEstimator):
    """Action-pair memory with conditional binary classifiers (thesis 3.3.3).

    Parameters
    ----------
    epsilon : float or "auto", default 0.4
        Threshold on ``C(i, j) + C(j, i)`` (inclusive), or ``"auto"``.
    families : sequence of str, optional
        Families the pair classifiers may use (default: every available one);
        all their non-empty combinations are tried.
    C_grid : sequence of float
    refit : {"train", "fit"}
        ``"train"``: a pair's SVM is refitted on all the pair's training
        videos; ``"fit"`` (validation split only): on its fit rows.
    fallback_epsilon : float
        Used by ``"auto"`` when no pair is confused at all.
    validation_fraction, random_state, selection, inner_folds
        The held-out scheme when ``fit`` gets no ``splits`` (as in
        :class:`fusion.svm.FamilySVM`).

    Attributes
    ----------
    epsilon_ : float
        The threshold used (``inf``: empty memory chosen by "auto").
    epsilon_source_ : str
    confusion_ : ndarray (n_classes, n_classes)
        Normalised held-out confusion of the fused predictions.
    entries_ : list of PairEntry
        Memory, descending score.
    skipped_ : list of (classes, score, reason)
    classes_ : ndarray
    """

    def __init__(self, epsilon=0.4, families=None, C_grid=DEFAULT_C_GRID, refit="train",
                 fallback_epsilon=FALLBACK_EPSILON,
                 validation_fraction=DEFAULT_VALIDATION_FRACTION, random_state=0,
                 selection="inner_cv", inner_folds=DEFAULT_INNER_FOLDS):
        self.epsilon = epsilon
        self.families = families
        self.C_grid = C_grid
        self.refit = refit
        self.fallback_epsilon = fallback_epsilon
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.selection = selection
        self.inner_folds = inner_folds

    def _check_epsilon(self):
        if isinstance(self.epsilon, str):
            if self.epsilon != "auto":
                raise ValueError(f"epsilon must be a number in [0, 2] or 'auto', got {self.epsilon!r}")
            return None
        eps = float(self.epsilon)
        if not 0.0 <= eps <= 2.0:
            raise ValueError(f"epsilon must be in [0, 2] (C(i,j)+C(j,i) of a normalised confusion), "
                             f"got {eps}")
        return eps

    def fit(self, X, y, *, val_pred, splits: Splits = None) -> "ActionPairMemory":
        """Learn the memory.

        Parameters
        ----------
        X : FeatureBank or mapping family -> ndarray (n, d)
            Training videos of the fold.
        y : ndarray (n,)
        val_pred : ndarray
            Fused held-out predictions of ``splits.eval_pos`` (sorted
            positions: every row with an inner cross-validation, the
            validation rows otherwise), from classifiers that did not see them
            (``TwoLevelFusion.val_pred_``).
        splits : Splits, optional
            The held-out scheme (:func:`fusion.model_selection.make_splits`);
            pass the fusion's ``splits_``.  Default: ``make_splits(y,
            selection)`` with this estimator's settings.

        Returns
        -------
        self
        """
        eps = self._check_epsilon()
        check_refit(self.refit)
        bank = as_bank(X)
        y = check_labels(y, len(bank))
        if splits is None:
            splits = make_splits(y, self.selection, inner_folds=self.inner_folds,
                                 fraction=self.validation_fraction, seed=self.random_state)
        if splits.kind == "inner_cv" and self.refit != "train":
            raise ValueError("refit='fit' applies to selection='validation' only")
        eval_pos = splits.eval_pos
        val_pred = np.asarray(val_pred)
        if val_pred.shape != eval_pos.shape:
            raise ValueError(f"val_pred must have one label per held-out row ({eval_pos.size}), "
                             f"got shape {val_pred.shape}")
        families = bank.families if self.families is None else \
            [f for f in family_order(self.families) if f in bank.families]
        if not families:
            raise ValueError(f"none of the families {self.families} is available "
                             f"(the data has {bank.families})")
        self.families_ = tuple(families)
        self.combinations_ = feature_combinations(families)
        self.classes_ = np.unique(np.concatenate([y, val_pred]))
        self.confusion_ = normalized_confusion(y[eval_pos], val_pred, self.classes_)
        learned = {}

        def learn(i, j, score):
            pair = (self.classes_[i], self.classes_[j])
            if pair not in learned:
                learned[pair] = learn_pair(bank, y, splits, pair, score, self.combinations_,
                                           self.C_grid, self.refit)
            entry = learned[pair]
            if entry is not None:
                entry.score = float(score)
            return pair, entry

        if eps is None:
            eps, self.epsilon_source_, self.auto_curve_ = self._auto_epsilon(
                bank, y, splits, val_pred, learn)
        else:
            self.epsilon_source_ = "given"
        self.epsilon_ = eps
        self.entries_, self.skipped_ = [], []
        if math.isinf(eps):
            return self
        for i, j, score in confused_pairs(self.confusion_, eps):
            pair, entry = learn(i, j, score)
            if entry is None:
                self.skipped_.append((pair, score, "a class of the pair has no training video"))
            else:
                self.entries_.append(entry)
        return self

    def _auto_epsilon(self, bank, y, splits, val_pred, learn):
        candidates = confused_pairs(self.confusion_, 0.0)[:_AUTO_MAX_CANDIDATES]
        if not candidates:
            return (float(self.fallback_epsilon),
                    "auto: fallback (no confused pair in the held-out predictions)", [])
        y_eval = y[splits.eval_pos]
        current = np.array(val_pred, copy=True)
        curve = [(math.inf, 0, float(np.mean(current == y_eval)))]
        scores = [s for _, _, s in candidates]
        for k, (i, j, score) in enumerate(candidates, start=1):
            pair, entry = learn(i, j, score)
            if entry is not None:
                pred, valid = held_out_pair_predictions(bank, y, splits, entry)
                idx = np.flatnonzero(np.isin(current, pair) & valid)
                current[idx] = pred[idx]
            # only prefixes that end at a score boundary are reachable by a threshold
            if k == len(scores) or scores[k] < scores[k - 1] - _EPS_TOL:
                threshold = (score + scores[k]) / 2 if k < len(scores) else score / 2
                curve.append((threshold, k, float(np.mean(current == y_eval))))
        best = max(curve, key=lambda t: (t[2], -t[1]))
        return float(best[0]), f"auto: {best[1]} candidate pair(s) kept", curve

    def refine(self, X, y_pred, scores=None) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """Test time: re-decide predictions that fall in a remembered pair.

        Parameters
        ----------
        X : FeatureBank or mapping family -> ndarray (n, d)
        y_pred : ndarray (n,)
            Fused predictions.
        scores : ndarray (n, n_classes) over ``classes_``, optional
            Fused scores, updated (old and new label's scores swapped).

        Returns
        -------
        y_pred : ndarray (n,)
        scores : ndarray (n, n_classes) or None
        """
        check_is_fitted(self, "entries_")
        return apply_memory(self.entries_, as_bank(X), y_pred, scores, self.classes_)

    def predict(self, X, y_pred) -> np.ndarray:
        """Labels after the pair memory (see :meth:`refine`)."""
        return self.refine(X, y_pred)[0]
