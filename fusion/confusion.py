"""Confusion matrices: counts and their row-normalised rates (thesis 3.3.3:
the action-pair memory reads ``C(i, j)``; the reports draw them)."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def confusion_counts(y_true: Sequence, y_pred: Sequence, classes: Sequence) -> np.ndarray:
    """Counts ``M[i, j]`` of the videos of class ``classes[i]`` predicted ``classes[j]``.

    Parameters
    ----------
    y_true, y_pred : sequence, shape (n,)
        Labels, each one of ``classes``.
    classes : sequence, shape (k,)

    Returns
    -------
    ndarray of int64, shape (k, k)
    """
    classes = np.asarray(classes).tolist()
    y_true, y_pred = np.asarray(y_true).tolist(), np.asarray(y_pred).tolist()
    if len(y_true) != len(y_pred):
        raise ValueError(f"expected as many predictions as true labels ({len(y_true)}), "
                         f"got {len(y_pred)}")
    lookup = {c: i for i, c in enumerate(classes)}
    M = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        if t not in lookup or p not in lookup:
            bad = t if t not in lookup else p
            raise ValueError(f"label {bad!r} is not one of the {len(classes)} classes "
                             f"{classes[:5]}{' ...' if len(classes) > 5 else ''}")
        M[lookup[t], lookup[p]] += 1
    return M


def row_rates(counts: np.ndarray) -> np.ndarray:
    """Every row of ``counts`` (k, k) divided by its sum; a row without videos
    stays zero.  Returns float64, shape (k, k)."""
    counts = np.asarray(counts, dtype=np.float64)
    support = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, support, out=np.zeros(counts.shape), where=support > 0)


def normalized_confusion(y_true, y_pred, classes) -> np.ndarray:
    """Row-normalised confusion ``C[i, j]`` = fraction of class ``i`` videos
    predicted ``j`` (the ``C`` of thesis 3.3.3); a class without videos gives
    a zero row.

    Returns
    -------
    ndarray, shape (n_classes, n_classes)
    """
    return row_rates(confusion_counts(y_true, y_pred, classes))


def mean_per_class_accuracy(y_true, y_pred, classes) -> float:
    """The mean over the classes present in ``y_true`` of the fraction of their
    videos predicted right, in percent: Toyota Smarthome's metric (Das et al.,
    ICCV 2019), which weighs a rare activity as much as a frequent one.
    Raises ValueError when ``y_true`` is empty."""
    counts = confusion_counts(y_true, y_pred, classes)
    support = counts.sum(axis=1)
    if not support.any():
        raise ValueError("expected at least one test video, got none")
    present = support > 0
    return 100.0 * float(np.mean(np.diag(counts)[present] / support[present]))
