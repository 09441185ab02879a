"""The feature bank: L2-normalised feature families and their Gram matrices
(thesis 3.3.2, early fusion).

Every SVM of the fusion stage is linear and solved in its dual on a
precomputed Gram matrix.  With a few hundred videos and 10^5-dimensional
Fisher vectors the Gram matrix ``K = X X^T`` is tiny (n x n) and is computed
once per fold and family; an early fusion of L2-normalised blocks is the mean
of the blocks' Gram matrices (the concatenation ``[x1, x2] / sqrt(2)`` has
unit norm), so every feature combination, every ``C`` of the search and every
pair classifier reuses the same matrices.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from .config import family_order

#: Families of clf1 (early fusion [F1, F2]) and clf2 (F3) of the two-level fusion.
RGB_FAMILIES: Tuple[str, ...] = ("f1", "f2")
SKELETON_FAMILIES: Tuple[str, ...] = ("f3",)

# Above this many rows the Gram matrix of the whole bank is not cached
# (n^2 float64); kernel blocks are then computed on demand.
_GRAM_CACHE_MAX_ROWS = 8000

def l2_normalize_rows(X: np.ndarray) -> np.ndarray:
    """Rows of ``X`` scaled to unit Euclidean norm; all-zero rows stay zero.

    Parameters
    ----------
    X : ndarray, shape (n, d)

    Returns
    -------
    ndarray, shape (n, d), float64
    """
    return _normalized(X, np.float64)


def _normalized(X: np.ndarray, dtype) -> np.ndarray:
    # one pass over X, written straight in the storage dtype (a 10^5-dim
    # Fisher vector block is too big to copy needlessly)
    X = np.asarray(X)
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    norms = np.linalg.norm(X, axis=1).astype(np.float64)
    norms[norms == 0] = 1.0
    out = np.empty(X.shape, dtype=dtype)
    np.multiply(X, (1.0 / norms)[:, None].astype(X.dtype), out=out, casting="same_kind")
    return out


def combination_name(families: Sequence[str]) -> str:
    """``("f1", "f2")`` -> ``"f1+f2"``."""
    return "+".join(family_order(families))


class _BankRoot:
    """Normalised feature matrices of one set of videos and their Gram cache."""

    def __init__(self, features: Dict[str, np.ndarray]):
        self.features = features
        self.n = next(iter(features.values())).shape[0] if features else 0
        self.grams: Dict[str, np.ndarray] = {}

    def gram(self, family: str) -> Optional[np.ndarray]:
        if self.n > _GRAM_CACHE_MAX_ROWS:
            return None
        if family not in self.grams:
            X = self.features[family]
            self.grams[family] = (X @ X.T).astype(np.float64)
        return self.grams[family]


class FeatureBank:
    """The L2-normalised feature families of a set of videos.

    A bank is a view (``rows``) on a shared root, so that ``take`` is free and
    linear kernels between two views of the same root are slices of one cached
    Gram matrix per family.  Kernels between banks of different roots (a saved
    model and a new video) are computed from the features.  Pickling a bank
    stores only its own rows and no Gram matrix, so a saved model never carries
    the features of videos it was not trained on.

    Parameters
    ----------
    features : mapping str -> ndarray (n, d) or None
        Raw features per family (``"f1"``, ``"f2"``, ``"f3"``); ``None`` entries
        are dropped.  Every family must have the same number of rows.
    dtype : numpy dtype, default float32
        Storage type of the normalised features (Gram matrices are float64).
    """

    def __init__(self, features: Mapping[str, Optional[np.ndarray]], *, dtype=np.float32):
        if not isinstance(features, Mapping):
            raise TypeError(f"expected a mapping family -> (n, d) array, got {type(features).__name__}")
        normed: Dict[str, np.ndarray] = {}
        n_rows = None
        for family in family_order(features):
            X = features[family]
            if X is None:
                continue
            X = np.asarray(X)
            if X.ndim != 2:
                raise ValueError(f"features {family!r}: expected a 2-D array (n_videos, d), "
                                 f"got shape {X.shape}")
            if n_rows is not None and X.shape[0] != n_rows:
                raise ValueError(f"features {family!r} have {X.shape[0]} rows, expected {n_rows} "
                                 "(every family needs one row per video)")
            if not np.all(np.isfinite(X)):
                raise ValueError(f"features {family!r} contain NaN or infinite values")
            n_rows = X.shape[0]
            normed[family] = _normalized(X, dtype)
        self._root = _BankRoot(normed)
        self._rows = np.arange(self._root.n)
        self._families = family_order(normed)

    @classmethod
    def _view(cls, root: _BankRoot, rows: np.ndarray, families: Tuple[str, ...]) -> "FeatureBank":
        bank = cls.__new__(cls)
        bank._root = root
        bank._rows = rows
        bank._families = families
        return bank

    # -- views ---------------------------------------------------------------
    @property
    def families(self) -> Tuple[str, ...]:
        return self._families

    def __len__(self) -> int:
        return int(self._rows.size)

    def take(self, idx) -> "FeatureBank":
        """The rows ``idx`` (positions in this bank) as a new view."""
        idx = np.asarray(idx)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return FeatureBank._view(self._root, self._rows[idx.astype(np.int64)], self._families)

    def restrict(self, families: Sequence[str]) -> "FeatureBank":
        """A view that only exposes ``families`` (all a saved model keeps)."""
        self.check_families(families)
        return FeatureBank._view(self._root, self._rows, family_order(families))

    def precompute_grams(self) -> "FeatureBank":
        """Compute the Gram matrix of every family of the root now (one large
        matrix product per family; what follows are slices of it)."""
        for family in self._families:
            self._root.gram(family)
        return self

    def features(self, family: str) -> np.ndarray:
        """Normalised features of ``family`` for this view, shape (len(self), d)."""
        self.check_families([family])
        return self._root.features[family][self._rows]

    def check_families(self, families: Sequence[str]) -> None:
        """Raise ValueError unless ``families`` is non-empty and every one is in the bank."""
        if not families:
            raise ValueError("expected at least one feature family, got none")
        missing = [f for f in families if f not in self._families]
        if missing:
            have = ", ".join(self.families) or "none"
            raise ValueError(f"feature families {missing} are not available; this data has: {have}")

    # -- kernels -------------------------------------------------------------
    def kernel(self, families: Sequence[str], other: Optional["FeatureBank"] = None) -> np.ndarray:
        """Linear kernel of the early fusion of ``families``.

        ``K[i, j] = mean_f <x_f(i), x_f(j)>`` over the normalised families,
        i.e. the dot product of the L2-normalised concatenations.

        Returns
        -------
        ndarray, shape (len(self), len(other)), float64
        """
        other = self if other is None else other
        self.check_families(families)
        other.check_families(families)
        K = np.zeros((len(self), len(other)), dtype=np.float64)
        for f in families:
            gram = self._root.gram(f) if other._root is self._root else None
            if gram is not None:
                K += gram[np.ix_(self._rows, other._rows)]
            else:
                K += (self.features(f) @ other.features(f).T).astype(np.float64)
        K /= len(families)
        return K

    # -- pickling: own rows only, no Gram cache ------------------------------
    def __getstate__(self):
        return {"features": {f: np.ascontiguousarray(self._root.features[f][self._rows])
                             for f in self._families}}

    def __setstate__(self, state):
        self._root = _BankRoot(state["features"])
        self._rows = np.arange(self._root.n)
        self._families = family_order(state["features"])


def as_bank(X) -> FeatureBank:
    """``X`` as a :class:`FeatureBank` (a bank is returned unchanged)."""
    return X if isinstance(X, FeatureBank) else FeatureBank(X)

