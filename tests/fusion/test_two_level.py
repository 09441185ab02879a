"""Two-level fusion: feature bank, C search, calibration, alpha search, estimator."""
import pickle

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC

from adl.fusion.calibration import CalibratedSVC
from adl.fusion.feature_bank import FeatureBank, l2_normalize_rows
from adl.fusion.model_selection import make_splits, select_C, validation_rows
from adl.fusion.svm import FamilySVM
from adl.fusion.two_level import (DEFAULT_ALPHA_GRID, TwoLevelFusion, alpha_accuracies,
                                  alpha_search, fuse_scores)


def _blobs(n_classes=4, per_class=9, d=(12, 10, 6), seed=0, spread=(1.0, 1.0, 1.0)):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), per_class)
    feats = {}
    for fam, dim, s in zip(("f1", "f2", "f3"), d, spread):
        centres = rng.standard_normal((n_classes, dim)) * 2.0
        feats[fam] = centres[y] + s * rng.standard_normal((y.size, dim))
    return feats, y


@pytest.fixture
def fit_counter(monkeypatch):
    calls = []
    original = SVC.fit

    def counting_fit(self, X, y, *args, **kwargs):
        calls.append(np.asarray(X).shape)
        return original(self, X, y, *args, **kwargs)

    monkeypatch.setattr(SVC, "fit", counting_fit)
    return calls


# -- feature bank -------------------------------------------------------------

def test_l2_normalize_rows_unit_norm_and_zero_rows():
    X = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]])
    Z = l2_normalize_rows(X)
    np.testing.assert_allclose(Z, [[0.6, 0.8], [0.0, 0.0], [1.0, 0.0]])


def test_bank_kernel_is_dot_product_of_normalised_concatenation():
    feats, _ = _blobs()
    bank = FeatureBank(feats)
    concat = np.hstack([l2_normalize_rows(feats["f1"]), l2_normalize_rows(feats["f3"])]) / np.sqrt(2)
    K = bank.kernel(("f1", "f3"))
    np.testing.assert_allclose(K, concat @ concat.T, atol=1e-5)
    np.testing.assert_allclose(np.diag(K), 1.0, atol=1e-5)
    # a view of the same root slices the cached Gram; another root recomputes: same values
    a, b = bank.take([0, 5, 7]), bank.take(np.arange(10, 20))
    other = FeatureBank({f: X[[0, 5, 7]] for f, X in feats.items()})
    np.testing.assert_allclose(a.kernel(("f1", "f2"), b), other.kernel(("f1", "f2"), b), atol=1e-5)
    assert a.kernel(("f2",), b).shape == (3, 10)


def test_bank_pickles_only_its_rows_and_families():
    feats, _ = _blobs()
    view = FeatureBank(feats).take([1, 2, 3]).restrict(("f2",))
    clone = pickle.loads(pickle.dumps(view))
    assert clone.families == ("f2",) and len(clone) == 3
    np.testing.assert_allclose(clone.features("f2"), view.features("f2"))
    with pytest.raises(ValueError, match="not available"):
        clone.features("f1")


@pytest.mark.parametrize("bad, match", [
    ({"f1": np.zeros((4, 3)), "f2": np.zeros((5, 3))}, "rows, expected 4"),
    ({"f1": np.zeros(4)}, "2-D array"),
    ({"f1": np.full((4, 3), np.nan)}, "NaN"),
])
def test_bank_rejects_bad_features(bad, match):
    with pytest.raises(ValueError, match=match):
        FeatureBank(bad)


def test_bank_rejects_non_mapping_and_missing_family():
    with pytest.raises(TypeError, match="mapping"):
        FeatureBank([np.zeros((3, 2))])
    bank = FeatureBank({"f1": np.ones((3, 2)), "f3": None})
    assert bank.families == ("f1",)
    with pytest.raises(ValueError, match=r"\['f3'\] are not available; this data has: f1"):
        bank.kernel(("f1", "f3"))
    with pytest.raises(ValueError, match="at least one feature family"):
        bank.kernel(())


# -- C search -----------------------------------------------------------------

def test_select_C_scores_on_validation_and_breaks_ties_towards_one():
    feats, y = _blobs(spread=(0.1, 0.1, 0.1))
    bank = FeatureBank(feats)
    fit, val = validation_rows(y, None, 0.2, 0)
    C, acc, accs = select_C(bank, ("f1",), y, fit, val, (0.1, 1.0, 10.0))
    assert set(accs) == {0.1, 1.0, 10.0}
    assert acc == max(accs.values()) == 1.0
    assert C == 1.0  # all perfect: closest to 1


@pytest.mark.parametrize("kwargs, match", [
    (dict(fit=np.arange(9)), "1 class"),
    (dict(val=np.array([], dtype=int)), "validation split is empty"),
    (dict(C_grid=(0.0,)), "C values must be > 0"),
])
def test_select_C_errors(kwargs, match):
    feats, y = _blobs()
    bank = FeatureBank(feats)
    fit = kwargs.get("fit", np.arange(0, 36, 2))
    val = kwargs.get("val", np.arange(1, 36, 2))
    with pytest.raises(ValueError, match=match):
        select_C(bank, ("f1",), y, fit, val, kwargs.get("C_grid", (1.0,)))


def test_resolve_validation_errors_and_mask():
    y = np.array([0, 0, 1, 1, 0, 1])
    fit, val = validation_rows(y, np.array([False, True, False, True, False, False]))
    np.testing.assert_array_equal(val, [1, 3])
    np.testing.assert_array_equal(fit, [0, 2, 4, 5])
    with pytest.raises(ValueError, match="mask must have shape"):
        validation_rows(y, np.array([True, False]))
    with pytest.raises(ValueError, match="must lie in"):
        validation_rows(y, np.array([7]))
    with pytest.raises(ValueError, match="validation split is empty"):
        validation_rows(y, np.array([], dtype=int))


# -- calibration ----------------------------------------------------------------

@pytest.mark.parametrize("n_classes", [2, 4])
def test_calibration_matches_calibrated_classifier_cv(n_classes):
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(n_classes), 9)
    X = rng.standard_normal((y.size, 20)) + 0.7 * rng.standard_normal((n_classes, 20))[y]
    K = X @ X.T / 20
    ours = CalibratedSVC(C=1.0, cv=3, random_state=0).fit(K, y)
    ref = CalibratedClassifierCV(SVC(kernel="precomputed", C=1.0), method="sigmoid",
                                 cv=StratifiedKFold(3, shuffle=True, random_state=0),
                                 ensemble=False).fit(K, y)
    np.testing.assert_allclose(ours.predict_proba(K[:8]), ref.predict_proba(K[:8]), atol=1e-5)
    assert ours.calibration_ == "3-fold"


def test_calibration_adapts_to_tiny_classes():
    rng = np.random.default_rng(2)
    y = np.array([0] * 6 + [1] * 2 + [2])  # a class of 2 and a singleton class
    X = rng.standard_normal((y.size, 8)) + 3 * np.eye(3, 8)[y]
    K = X @ X.T
    cal = CalibratedSVC(C=1.0, cv=5, random_state=0).fit(K, y)
    assert cal.calibration_ == "2-fold"
    p = cal.predict_proba(K)
    assert p.shape == (9, 3) and np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    only_singletons = CalibratedSVC(C=1.0).fit(K[:2, :2], np.array([0, 1]))
    assert only_singletons.calibration_ == "in-sample"


def test_calibration_folds_keep_split_groups_whole(monkeypatch):
    """With split groups (a clip and its flipped copy) no calibration fold
    scores a video with an SVM trained on its partner."""
    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(3), 8)
    X = rng.standard_normal((y.size, 10)) + 1.5 * rng.standard_normal((3, 10))[y]
    K = X @ X.T / 10
    groups = np.array([f"g{i // 2}" for i in range(y.size)])
    seen = []
    original = CalibratedSVC._folds

    def spy(self, yy, gg):
        parts, k = original(self, yy, gg)
        seen.extend(parts)
        return parts, k

    monkeypatch.setattr(CalibratedSVC, "_folds", spy)
    cal = CalibratedSVC(C=1.0, cv=3, random_state=0).fit(K, y, groups)
    assert cal.calibration_ == "3-fold (split groups kept whole)" and len(seen) == 3
    for tr, te in seen:
        assert not set(groups[tr]) & set(groups[te])
    # the library fit passes them through the validation scheme
    feats = {"f1": X}
    svm = FamilySVM(("f1",), probability=True, random_state=0).fit(
        feats, y, splits=make_splits(y, "validation", split_groups=groups, seed=0))
    assert "split groups kept whole" in svm.model_.calibration_
    fit_pos, val_pos = validation_rows(y, None, 0.25, 0, groups)
    assert not set(groups[fit_pos]) & set(groups[val_pos])


# -- alpha search -----------------------------------------------------------------

def test_alpha_search_finds_the_only_accurate_region():
    # sample 0 is right for alpha > 3/7, sample 1 for alpha < 5/8
    p1 = np.array([[0.9, 0.1], [0.8, 0.2]])
    p2 = np.array([[0.2, 0.8], [0.0, 1.0]])
    y = np.array([0, 1])
    acc = alpha_accuracies(p1, p2, y)
    assert acc.shape == DEFAULT_ALPHA_GRID.shape
    ok = DEFAULT_ALPHA_GRID[acc == 1.0]
    assert ok.min() == pytest.approx(0.43) and ok.max() == pytest.approx(0.62)
    assert ok.size == 20  # contiguous
    assert 0.43 <= alpha_search(p1, p2, y) <= 0.62


def test_alpha_search_ties_go_to_lowest_log_loss():
    p1 = np.array([[0.9, 0.1], [0.9, 0.1]])
    p2 = np.array([[0.6, 0.4], [0.6, 0.4]])
    # every alpha is 100 % accurate; clf1 is more confident -> alpha = 1
    assert alpha_search(p1, p2, np.array([0, 0])) == 1.0
    assert alpha_search(p1, p2, np.array([0, 0]), grid=[0.0, 0.5]) == 0.5


@pytest.mark.parametrize("args, match", [
    ((np.ones((2, 3)), np.ones((2, 2)), np.array([0, 1])), "equal shape"),
    ((np.ones((2, 2)), np.ones((2, 2)), np.array([0])), "y_val must have shape"),
    ((np.ones((2, 2)), np.ones((2, 2)), np.array([0, 5])), "column indices"),
])
def test_alpha_search_validates_inputs(args, match):
    with pytest.raises(ValueError, match=match):
        alpha_search(*args)


def test_alpha_search_rejects_bad_grid():
    with pytest.raises(ValueError, match="alpha grid"):
        alpha_search(np.ones((1, 2)), np.ones((1, 2)), np.array([0]), grid=[0.5, 1.5])


def test_fuse_scores_eq_3_6():
    p1, p2 = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    np.testing.assert_allclose(fuse_scores(p1, p2, 0.25), [[0.25, 0.75]])
    np.testing.assert_allclose(fuse_scores(None, p2, None), p2)
    with pytest.raises(ValueError, match="at least one"):
        fuse_scores(None, None, 0.5)


# -- estimators -------------------------------------------------------------------

def test_alpha_search_does_not_refit(fit_counter):
    feats, y = _blobs(spread=(2.0, 2.0, 2.0))
    val = validation_rows(y, None, 0.2, 0)[1]
    counts = []
    for alpha, grid in (("search", None), ("search", [0.0, 1.0]), (0.5, None)):
        fit_counter.clear()
        model = TwoLevelFusion(alpha=alpha, alpha_grid=grid).fit(
            feats, y, splits=make_splits(y, "validation", validation=val))
        counts.append(len(fit_counter))
    assert counts[0] == counts[1] == counts[2]
    # fused validation scores are Eq. 3.6 of the probabilities computed once
    np.testing.assert_allclose(model.val_proba_,
                               0.5 * model.clf1_.val_proba_ + 0.5 * model.clf2_.val_proba_)


def test_alpha_search_does_not_refit_with_inner_cv(fit_counter):
    feats, y = _blobs(spread=(2.0, 2.0, 2.0))
    groups = np.arange(y.size) % 3
    counts = []
    for alpha in ("search", 0.5):
        fit_counter.clear()
        model = TwoLevelFusion(alpha=alpha).fit(feats, y, splits=make_splits(y, subjects=groups))
        counts.append(len(fit_counter))
    assert counts[0] == counts[1]
    # every training video has a held-out fused score
    np.testing.assert_array_equal(model.val_idx_, np.arange(y.size))
    np.testing.assert_allclose(model.val_proba_,
                               0.5 * model.clf1_.val_proba_ + 0.5 * model.clf2_.val_proba_)


def test_inner_cv_splits_hold_out_whole_subjects():
    y = np.repeat(np.arange(4), 12)
    subjects = np.tile(np.repeat(["s1", "s2", "s3"], 4), 4)
    splits = make_splits(y, "inner_cv", subjects=subjects)
    assert splits.kind == "inner_cv" and len(splits.parts) == 3
    assert "leave-one-subject-out" in splits.description
    np.testing.assert_array_equal(splits.eval_pos, np.arange(y.size))  # each row once
    for tr, te in splits.parts:
        assert len(set(subjects[te])) == 1 and subjects[te][0] not in set(subjects[tr])
        assert np.intersect1d(tr, te).size == 0
    # more subjects than inner folds: grouped folds, still no subject on both sides
    many = np.tile(np.arange(8), 6).astype(str)
    y8 = np.repeat(np.arange(4), 12)
    grouped = make_splits(y8, "inner_cv", subjects=many, inner_folds=4)
    assert len(grouped.parts) == 4 and "grouped by subject" in grouped.description
    for tr, te in grouped.parts:
        assert not set(many[te]) & set(many[tr])
    np.testing.assert_array_equal(grouped.eval_pos, np.arange(y8.size))
    # one subject: stratified folds of videos, seeded
    one = make_splits(y, "inner_cv", subjects=np.full(y.size, "s1"), seed=3)
    assert "stratified" in one.description and len(one.parts) == 5
    again = make_splits(y, "inner_cv", subjects=np.full(y.size, "s1"), seed=3)
    for (a, b), (c, d) in zip(one.parts, again.parts):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    # one subject whose videos come in pairs (a clip and its flipped copy):
    # the stratified folds keep each pair on one side
    pairs = np.array([f"v{i // 2}" for i in range(y.size)])
    kept = make_splits(y, "inner_cv", subjects=np.full(y.size, "s1"), seed=3, split_groups=pairs)
    assert "split groups whole" in kept.description and len(kept.parts) == 5
    np.testing.assert_array_equal(kept.eval_pos, np.arange(y.size))
    for tr, te in kept.parts:
        assert not set(pairs[te]) & set(pairs[tr])
        assert set(y[te]) == set(y)                                  # still stratified
    # without the groups the plain folds do split pairs (what the groups prevent)
    assert any(set(pairs[te]) & set(pairs[tr]) for tr, te in one.parts)
    # single-video groups change nothing
    plain = make_splits(y, "inner_cv", subjects=np.full(y.size, "s1"), seed=3,
                        split_groups=np.arange(y.size).astype(str))
    for (a, b), (c, d) in zip(one.parts, plain.parts):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    with pytest.raises(ValueError, match="selection must be one of"):
        make_splits(y, "bogus")
    with pytest.raises(ValueError, match="only used with selection='validation'"):
        make_splits(y, "inner_cv", validation=np.array([0, 1]))
    with pytest.raises(ValueError, match="2 training videos"):
        make_splits(np.arange(5), "inner_cv")


def test_inner_cv_probabilities_are_out_of_fold():
    # held-out scores come from SVMs that never saw the video: on average
    # less confident in its true class than the final model's in-sample ones
    feats, y = _blobs(spread=(2.0, 2.0, 2.0))
    groups = np.arange(y.size) % 3
    clf = FamilySVM(("f1",), probability=True, C_grid=(100.0,)).fit(
        feats, y, splits=make_splits(y, subjects=groups))
    assert clf.selection_.startswith("leave-one-subject-out")
    held_out = clf.val_proba_
    in_sample = clf.predict_proba(feats)
    assert held_out.shape == in_sample.shape == (y.size, np.unique(y).size)
    # same model family, same C: held-out scores are less confident on the truth
    truth = np.searchsorted(clf.classes_, y)
    assert held_out[np.arange(y.size), truth].mean() < in_sample[np.arange(y.size), truth].mean()
    with pytest.raises(ValueError, match="refit='fit' applies to selection='validation'"):
        FamilySVM(("f1",), refit="fit").fit(feats, y, splits=make_splits(y, subjects=groups))


def test_two_level_fusion_modes_and_predictions():
    feats, y = _blobs(spread=(1.5, 1.5, 1.5))
    model = TwoLevelFusion(random_state=0).fit(feats, y)
    assert model.mode_ == "two_level" and 0.0 <= model.alpha_ <= 1.0
    assert model.alpha_curve_.shape == (101,)
    assert model.clf1_.families_ == ("f1", "f2") and model.clf2_.families_ == ("f3",)
    p = model.predict_proba(feats)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert np.mean(model.predict(feats) == y) > 0.9

    rgb = TwoLevelFusion().fit({"f1": feats["f1"], "f3": None}, y)
    assert rgb.mode_ == "rgb_only" and rgb.alpha_ is None and rgb.clf2_ is None
    skel = TwoLevelFusion().fit({"f3": feats["f3"]}, y)
    assert skel.mode_ == "skeleton_only" and skel.alpha_ is None and skel.clf1_ is None
    np.testing.assert_allclose(skel.predict_proba({"f3": feats["f3"]}),
                               skel.clf2_.predict_proba({"f3": feats["f3"]}))
    with pytest.raises(ValueError, match="no usable feature family"):
        TwoLevelFusion(rgb_families=("f1",), skeleton_families=("f3",)).fit({"f2": feats["f2"]}, y)


def test_refit_policy():
    feats, y = _blobs()
    fit, val = validation_rows(y, None, 0.2, 0)
    splits = make_splits(y, "validation", validation=val)
    on_fit = FamilySVM(("f1",), refit="fit").fit(feats, y, splits=splits)
    on_train = FamilySVM(("f1",), refit="train").fit(feats, y, splits=splits)
    assert len(on_fit.train_bank_) == fit.size
    assert len(on_train.train_bank_) == y.size


@pytest.mark.parametrize("est, match", [
    (TwoLevelFusion(alpha="foo"), "'search' or a number"),
    (TwoLevelFusion(alpha=1.5), r"alpha must be in \[0, 1\]"),
    (TwoLevelFusion(refit="all"), "refit must be one of"),
    (FamilySVM(refit="all"), "refit must be one of"),
])
def test_invalid_hyper_parameters(est, match):
    feats, y = _blobs()
    with pytest.raises(ValueError, match=match):
        est.fit(feats, y)


def test_bad_labels():
    feats, y = _blobs()
    with pytest.raises(ValueError, match="one label per video"):
        FamilySVM().fit(feats, y[:-1])
    with pytest.raises(ValueError, match="at least 2 classes"):
        FamilySVM().fit(feats, np.zeros_like(y))


def test_unfitted_estimators_raise_not_fitted():
    feats, _ = _blobs()
    with pytest.raises(NotFittedError, match="TwoLevelFusion instance is not fitted"):
        TwoLevelFusion().predict(feats)
    with pytest.raises(NotFittedError, match="FamilySVM instance is not fitted"):
        FamilySVM().predict(feats)


def test_predict_proba_needs_probability():
    feats, y = _blobs()
    svm = FamilySVM(("f1",)).fit(feats, y)
    assert svm.predict(feats).shape == y.shape
    assert not hasattr(svm, "predict_proba")                 # available_if
    with pytest.raises(AttributeError, match="has no attribute 'predict_proba'") as info:
        svm.predict_proba(feats)
    assert "needs FamilySVM(probability=True)" in str(info.value.__cause__)
    assert hasattr(FamilySVM(probability=True), "predict_proba")
