"""scikit-learn conventions of the features-side fitted components: parameters
stored unchanged, clone round trip, fit returns self, NotFittedError before
fit, random_state, score where classes are predicted."""
import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError

from adl.features.f1 import BodyPartSelector
from adl.features.f3 import SkeletonLSTM
from adl.features.fisher import FisherVectorEncoder


def _pooled():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 4)
    X = rng.normal(size=(12, 5, 6)).astype(np.float32) + y[:, None, None]
    return (X,), {"y": y}


def _videos():
    rng = np.random.default_rng(1)
    return ([{"hof": rng.normal(size=(40, 6)).astype(np.float32)} for _ in range(3)],), {}


def _sequences():
    rng = np.random.default_rng(2)
    y = np.repeat(np.arange(2), 4)
    seqs = [rng.normal(size=(6, 3)).astype(np.float32) + c for c in y]
    return (seqs,), {"y": y}


CASES = [
    (BodyPartSelector(select="all", C=0.5, random_state=3), _pooled),
    (FisherVectorEncoder(n_components=2, n_samples=50, max_iter=5, random_state=3), _videos),
    (SkeletonLSTM(hidden=4, layers=1, max_epochs=2, random_state=3), _sequences),
]


@pytest.mark.parametrize("est,data", CASES, ids=lambda c: type(c).__name__)
def test_contract(est, data):
    args, kw = data()
    params = est.get_params()
    assert params["random_state"] == 3 and "seed" not in params
    assert clone(est).get_params() == params
    with pytest.raises(NotFittedError, match=f"This {type(est).__name__} instance is not fitted"):
        est.transform(*args)
    fresh = clone(est)
    y = kw.get("y")
    assert (fresh.fit(*args, y) if y is not None else fresh.fit(*args)) is fresh
    assert fresh.get_params() == params                       # fit leaves the parameters alone
    assert len(fresh.transform(*args)) == len(args[0])
    if is_classifier(fresh):
        assert fresh.score(args[0], y) == pytest.approx(np.mean(fresh.predict(args[0]) == y))
    assert is_classifier(fresh) == isinstance(fresh, SkeletonLSTM)
