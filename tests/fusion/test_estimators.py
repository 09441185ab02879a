"""Fusion-specific details of the estimators; the contract every fitted
component keeps is tests/test_estimator_contract.py."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from adl.fusion.calibration import CalibratedSVC
from adl.fusion.model_selection import make_splits


def test_calibrated_svc_predicts_the_svms_labels():
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
