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
