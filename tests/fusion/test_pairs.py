"""Action-pair memory: confused pairs, pair classifiers, test-time loop, epsilon."""
import math

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from adl.fusion.confusion import normalized_confusion
from adl.fusion.feature_bank import FeatureBank
from adl.fusion.model_selection import make_splits, validation_rows
from adl.fusion.pairs import (ActionPairMemory, PairEntry, apply_memory, canonical_dataset,
                              confused_pairs, default_epsilon, feature_combinations)
from adl.fusion.two_level import TwoLevelFusion


def _on(y, val):
    """The validation-split scheme scoring on the rows ``val``."""
    return make_splits(y, "validation", validation=val)


def test_confused_pairs_orders_by_score_and_threshold_is_inclusive():
    C = np.array([
        [0.5, 0.1, 0.3, 0.0],
        [0.3, 0.6, 0.0, 0.1],
        [0.1, 0.0, 0.7, 0.29],
        [0.0, 0.2, 0.1, 0.7],
    ])
    # scores: (0,1) 0.4 (=0.1+0.3 in floating point, inclusive), (0,2) 0.4,
    # (2,3) 0.39, (1,3) 0.3
    assert [(i, j) for i, j, _ in confused_pairs(C, 0.4)] == [(0, 1), (0, 2)]
    pairs = confused_pairs(C, 0.3)
    assert [(i, j) for i, j, _ in pairs] == [(0, 1), (0, 2), (2, 3), (1, 3)]
    assert [round(s, 2) for _, _, s in pairs] == [0.4, 0.4, 0.39, 0.3]
    assert confused_pairs(C, 0.41) == []


def test_confused_pairs_ignores_zero_scores_and_validates():
    C = np.eye(3)
    assert confused_pairs(C, 0.0) == []
    with pytest.raises(ValueError, match="square confusion"):
        confused_pairs(np.ones((2, 3)), 0.4)
    with pytest.raises(ValueError, match="nan"):
        confused_pairs(C, float("nan"))


def test_normalized_confusion_rows():
    C = normalized_confusion([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], [0, 1, 2])
    np.testing.assert_allclose(C, [[0.5, 0.5, 0], [1 / 3, 2 / 3, 0], [0, 0, 0]])


def test_feature_combinations_order():
    assert feature_combinations(("f3", "f1", "f2")) == [
        ("f1",), ("f2",), ("f3",), ("f1", "f2"), ("f1", "f3"), ("f2", "f3"), ("f1", "f2", "f3")]
    assert feature_combinations(("f3",)) == [("f3",)]


def test_default_epsilon():
    assert default_epsilon("cad120") == 0.4
    assert default_epsilon("CAD-120") == 0.4
    assert default_epsilon("NTU-60") == 0.1
    assert default_epsilon("MSRDailyActivity3D") == 0.4
    assert canonical_dataset("MSRDailyActivity3D") == "msr_daily"
    assert default_epsilon("something-else") == 0.4


def _pair_data(seed=0, per_class=10, test_per_class=0):
    """Classes 0 and 1 share their F1 centre; F3 separates them.  With
    ``test_per_class`` also returns held-out videos of the same classes."""
    rng = np.random.default_rng(seed)
    n = per_class + test_per_class
    y = np.repeat(np.arange(3), n)
    c1 = rng.standard_normal((3, 16)) * 3
    c1[1] = c1[0]
    c3 = rng.standard_normal((3, 8)) * 3
    feats = {"f1": c1[y] + rng.standard_normal((y.size, 16)),
             "f3": c3[y] + rng.standard_normal((y.size, 8))}
    train = np.arange(y.size) % n < per_class
    if not test_per_class:
        return feats, y
    return ({f: X[train] for f, X in feats.items()}, y[train],
            {f: X[~train] for f, X in feats.items()}, y[~train])


def test_memory_learns_the_confused_pair_and_corrects_it():
    feats, y, test_feats, y_test = _pair_data(test_per_class=10)
    fit, val = validation_rows(y, None, 0.2, 0)
    # the fused predictions confuse 0 and 1 on validation
    val_pred = y[val].copy()
    val_pred[y[val] == 0] = 1
    memory = ActionPairMemory(epsilon=0.4).fit(feats, y, splits=_on(y, val), val_pred=val_pred)
    assert len(memory.entries_) == 1
    entry = memory.entries_[0]
    assert entry.classes == (0, 1) and entry.score == pytest.approx(1.0)
    assert "f3" in entry.features and entry.val_accuracy == 1.0
    assert memory.epsilon_ == 0.4 and memory.epsilon_source_ == "given"
    # test time: everything predicted "1" among classes 0/1 is re-decided
    wrong = np.where(y_test == 2, 2, 1)
    fixed = memory.predict(test_feats, wrong)
    assert np.mean(fixed[y_test < 2] == y_test[y_test < 2]) >= 0.9
    assert np.all(fixed[y_test == 2] == 2)


def test_memory_empty_when_no_pair_reaches_epsilon():
    feats, y = _pair_data()
    fit, val = validation_rows(y, None, 0.2, 0)
    memory = ActionPairMemory(epsilon=0.4).fit(feats, y, splits=_on(y, val), val_pred=y[val])
    assert memory.entries_ == []
    pred = np.array([0, 1, 2])
    np.testing.assert_array_equal(memory.predict({f: X[:3] for f, X in feats.items()}, pred), pred)


class _ConstantSVC:
    def __init__(self, label):
        self.label = label

    def predict(self, K):
        return np.full(K.shape[0], self.label)


def _entry(bank, pair, answer):
    return PairEntry(classes=pair, score=1.0, features=("f1",), C=1.0, val_accuracy=1.0,
                     svc=_ConstantSVC(answer), bank=bank.take([0]))


def test_memory_loop_follows_order_once_and_swaps_scores():
    bank = FeatureBank({"f1": np.eye(4)})
    # (0, 1) always answers 1, then (1, 2) always answers 2: a 0 becomes 1 then 2;
    # the loop is walked once, so nothing goes back through (0, 1).
    entries = [_entry(bank, (0, 1), 1), _entry(bank, (1, 2), 2)]
    pred = np.array([0, 1, 2, 3])
    scores = np.array([[0.7, 0.2, 0.1, 0.0],
                       [0.1, 0.6, 0.3, 0.0],
                       [0.0, 0.1, 0.8, 0.1],
                       [0.1, 0.1, 0.1, 0.7]])
    new, new_scores = apply_memory(entries, bank, pred, scores, classes=[0, 1, 2, 3])
    np.testing.assert_array_equal(new, [2, 2, 2, 3])
    np.testing.assert_array_equal(np.argmax(new_scores, axis=1), new)
    np.testing.assert_allclose(new_scores.sum(axis=1), 1.0)
    np.testing.assert_allclose(new_scores[0], [0.2, 0.1, 0.7, 0.0])
    # a flip-back pair later in the memory is applied after, once
    flip = [_entry(bank, (0, 1), 1), _entry(bank, (0, 1), 0)]
    np.testing.assert_array_equal(apply_memory(flip, bank, np.array([0, 1]))[0], [0, 0])


def test_memory_validation_errors():
    feats, y = _pair_data()
    fit, val = validation_rows(y, None, 0.2, 0)
    with pytest.raises(ValueError, match="'auto'"):
        ActionPairMemory(epsilon="big").fit(feats, y, splits=_on(y, val), val_pred=y[val])
    with pytest.raises(ValueError, match=r"in \[0, 2\]"):
        ActionPairMemory(epsilon=3.0).fit(feats, y, splits=_on(y, val), val_pred=y[val])
    with pytest.raises(ValueError, match="one label per held-out row"):
        ActionPairMemory().fit(feats, y, splits=_on(y, val), val_pred=y[val][:-1])
    with pytest.raises(ValueError, match="none of the families"):
        ActionPairMemory(families=("f2",)).fit(feats, y, splits=_on(y, val), val_pred=y[val])
    with pytest.raises(NotFittedError, match="ActionPairMemory instance is not fitted"):
        ActionPairMemory().refine(feats, y)


def test_pair_without_fit_videos_is_skipped():
    feats, y = _pair_data()
    y = y.copy()
    fit, val = validation_rows(y, None, 0.2, 0)
    # class 2 exists only in validation: the (0, 2) pair cannot be trained
    y[fit[y[fit] == 2]] = 0
    val_pred = y[val].copy()
    val_pred[y[val] == 2] = 0
    # refit="fit": the pair classifier would be trained on the fit rows only
    memory = ActionPairMemory(epsilon=0.4, selection="validation", refit="fit").fit(
        feats, y, splits=_on(y, val), val_pred=val_pred)
    assert memory.entries_ == []
    assert memory.skipped_[0][0] == (0, 2) and "no training video" in memory.skipped_[0][2]


def test_auto_epsilon_is_chosen_on_training_rows_only():
    feats, y = _pair_data()
    fit, val = validation_rows(y, None, 0.2, 0)
    splits = make_splits(y, "validation", validation=val)
    fusion = TwoLevelFusion(random_state=0).fit(feats, y, splits=splits)
    kwargs = dict(epsilon="auto", fallback_epsilon=0.3, random_state=0)
    a = ActionPairMemory(**kwargs).fit(feats, y, splits=splits, val_pred=fusion.val_pred_)
    b = ActionPairMemory(**kwargs).fit(feats, y, splits=splits, val_pred=fusion.val_pred_)
    assert a.epsilon_source_.startswith("auto")
    assert a.epsilon_ == b.epsilon_  # deterministic
    if a.auto_curve_:
        best = max(acc for _, _, acc in a.auto_curve_)
        chosen = [t for t in a.auto_curve_ if t[0] == a.epsilon_ or
                  (math.isinf(t[0]) and math.isinf(a.epsilon_))]
        assert chosen and chosen[0][2] == best
    else:
        assert a.epsilon_ == 0.3


def test_auto_epsilon_keeps_pairs_that_help():
    feats, y = _pair_data()
    # F1 alone confuses 0 and 1 everywhere; pairs on F3 fix it (inner
    # cross-validation: out-of-fold predictions of every training video)
    fusion = TwoLevelFusion(rgb_families=("f1",), skeleton_families=(), random_state=0).fit(
        {"f1": feats["f1"]}, y)
    assert fusion.splits_.kind == "inner_cv" and fusion.val_pred_.shape == y.shape
    memory = ActionPairMemory(epsilon="auto", random_state=0).fit(
        feats, y, splits=fusion.splits_, val_pred=fusion.val_pred_)
    assert memory.auto_curve_[0][1] == 0  # the "no pair" candidate is always there
    assert max(t[2] for t in memory.auto_curve_) > memory.auto_curve_[0][2]  # pairs help
    assert memory.epsilon_ <= memory.confusion_[0, 1] + memory.confusion_[1, 0]
    assert [e.classes for e in memory.entries_][:1] == [(0, 1)]
