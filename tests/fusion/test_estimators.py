"""scikit-learn conventions of the fusion estimators: parameters stored
unchanged, clone round trip, fit returns self, NotFittedError before fit,
random_state, score for classifiers."""
import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError

from adl.fusion.calibration import CalibratedSVC
from adl.fusion.model_selection import make_splits
from adl.fusion.pairs import ActionPairMemory
from adl.fusion.svm import FamilySVM
from adl.fusion.two_level import TwoLevelFusion


def _data(seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), 8)
    feats = {f: rng.standard_normal((3, d))[y] * 3 + rng.standard_normal((y.size, d))
             for f, d in (("f1", 6), ("f2", 5), ("f3", 4))}
    return feats, y


ESTIMATORS = [
    FamilySVM(("f1", "f2"), C_grid=(0.1, 1.0), probability=True, random_state=2),
    TwoLevelFusion(alpha=0.3, C_grid=(1.0,), random_state=1),
    ActionPairMemory(epsilon=0.2, C_grid=(1.0,), random_state=1),
]


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_contract(est):
    feats, y = _data()
    params = est.get_params()
    assert "random_state" in params and "seed" not in params
    assert clone(est).get_params() == params
    with pytest.raises(NotFittedError, match=f"This {type(est).__name__} instance is not fitted"):
        if isinstance(est, ActionPairMemory):
            est.predict(feats, y)
        else:
            est.predict(feats)
    fresh = clone(est)
    if isinstance(est, ActionPairMemory):
        splits = make_splits(y, subjects=np.arange(y.size) % 3)
        assert fresh.fit(feats, y, splits=splits, val_pred=y) is fresh
        assert fresh.predict(feats, y).shape == y.shape
    else:
        assert fresh.fit(feats, y) is fresh
        assert is_classifier(fresh)
        assert fresh.score(feats, y) == pytest.approx(np.mean(fresh.predict(feats) == y))
    assert fresh.get_params() == params                       # fit leaves the parameters alone


def test_calibrated_svc_contract():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 6)
    X = rng.standard_normal((y.size, 5)) + 2 * np.eye(3, 5)[y]
    K = X @ X.T
    est = CalibratedSVC(C=1.0, cv=3, random_state=4)
    assert clone(est).get_params() == {"C": 1.0, "cv": 3, "random_state": 4}
    with pytest.raises(NotFittedError, match="CalibratedSVC instance is not fitted"):
        est.predict_proba(K)
    assert est.fit(K, y) is est
    np.testing.assert_array_equal(est.predict(K), est.svc_.predict(K))


def test_make_splits_checks_subjects():
    with pytest.raises(ValueError, match=r"expected one subject per row \(4\), got shape \(3,\)"):
        make_splits(np.array([0, 0, 1, 1]), subjects=["a", "b", "c"])
