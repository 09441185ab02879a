"""One confusion matrix: counts and row rates."""
import numpy as np
import pytest

from adl.fusion.confusion import confusion_counts, normalized_confusion, row_rates


def test_counts_and_rates():
    M = confusion_counts(["a", "a", "b", "b", "b"], ["a", "b", "b", "b", "a"], ["a", "b", "c"])
    np.testing.assert_array_equal(M, [[1, 1, 0], [1, 2, 0], [0, 0, 0]])
    assert M.dtype == np.int64
    np.testing.assert_allclose(row_rates(M), [[0.5, 0.5, 0], [1 / 3, 2 / 3, 0], [0, 0, 0]])
    np.testing.assert_array_equal(normalized_confusion([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], [0, 1, 2]),
                                  row_rates(M))


def test_errors():
    with pytest.raises(ValueError, match=r"label 'z' is not one of the 2 classes \['a', 'b'\]"):
        confusion_counts(["a", "z"], ["a", "a"], ["a", "b"])
    with pytest.raises(ValueError, match=r"as many predictions as true labels \(2\), got 1"):
        confusion_counts(["a", "b"], ["a"], ["a", "b"])


def test_mean_per_class_accuracy_weighs_every_class_alike():
    from adl.fusion.confusion import mean_per_class_accuracy

    y_true = ["a"] * 8 + ["b"] * 2
    y_pred = ["a"] * 8 + ["a", "b"]
    # top-1 90 %, but class b is right half the time: (100 + 50) / 2
    assert mean_per_class_accuracy(y_true, y_pred, ["a", "b", "c"]) == 75.0   # c has no video
    with pytest.raises(ValueError, match="expected at least one test video, got none"):
        mean_per_class_accuracy([], [], ["a"])


def test_the_report_pools_top1_and_mean_per_class(base_run_for_pooled):
    report = base_run_for_pooled
    pooled = report["pooled"]
    n = sum(f["n_test"] for f in report["folds"])
    assert pooled["n_test"] == n
    for key in ("two_level", "two_level_pairs"):
        assert 0.0 <= pooled[key]["mean_per_class"] <= 100.0
        # pooled top-1 is the folds' accuracies weighted by their test videos
        expected = sum(f["accuracy"][key] * f["n_test"] for f in report["folds"]) / n
        assert pooled[key]["top1"] == pytest.approx(expected, abs=1e-3)


@pytest.fixture(scope="module")
def base_run_for_pooled(tmp_path_factory):
    from adl.fusion.config import FusionConfig
    from adl.fusion.runner import run_fusion, synthetic_folds

    folds = synthetic_folds(n_classes=4, n_subjects=3, videos_per_class=2, seed=1)
    return run_fusion(folds, tmp_path_factory.mktemp("pooled"), FusionConfig(alpha_search=True))
