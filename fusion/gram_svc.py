"""Linear SVMs on precomputed Gram matrices: fitting, one-vs-rest decision
values and their labels (building blocks of :mod:`fusion.model_selection`,
:mod:`fusion.calibration`, :mod:`fusion.svm` and :mod:`fusion.pairs`)."""
from __future__ import annotations

import numpy as np
from sklearn.svm import SVC


def fit_svc(K: np.ndarray, y: np.ndarray, C: float) -> SVC:
    """``SVC(kernel="precomputed", C=C)`` fitted on the Gram matrix ``K`` (n, n)."""
    return SVC(kernel="precomputed", C=float(C)).fit(K, y)


def decision_matrix(svc: SVC, K: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """One-vs-rest decision values of ``svc`` on the kernel rows ``K`` (n,
    n_train), shape (n, n_classes) over ``classes`` (a binary problem gives one
    column, the positive class ``classes[1]``); a class the SVM never saw gets
    a value below every other of its row."""
    dec = svc.decision_function(K)
    if len(classes) == 2:
        if len(svc.classes_) == 2:
            return dec.reshape(-1, 1)
        raise ValueError("a calibration fold lost one of the two classes")
    if len(svc.classes_) == 2:  # multi-class problem, binary fold SVM
        dec = np.column_stack([-dec, dec])
    if np.array_equal(svc.classes_, classes):
        return dec
    out = np.repeat(dec.min(axis=1, keepdims=True) - 1.0, len(classes), axis=1)
    out[:, np.searchsorted(classes, svc.classes_)] = dec
    return out


def pred_from_decisions(dec: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The SVM's labels from its one-vs-rest decision values (one column for
    two classes: positive means ``classes[1]``)."""
    if dec.shape[1] == 1:
        return classes[(dec[:, 0] > 0).astype(np.int64)]
    return classes[np.argmax(dec, axis=1)]


def expand_proba(proba: np.ndarray, have: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Columns of ``proba`` (over ``have``) placed into columns over ``classes``."""
    if np.array_equal(have, classes):
        return proba
    out = np.zeros((proba.shape[0], len(classes)))
    out[:, np.searchsorted(classes, have)] = proba
    return out

