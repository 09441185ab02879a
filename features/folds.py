"""The contract between the features stage and the fusion stage.

The features stage produces, for every fold of a protocol, one
:class:`FoldFeatures`: the per-video feature matrices of each family (F1, F2,
F3), every one fitted on the fold's training subjects only, plus which rows
are training (split into fit / validation) and test.  The fusion stage reads
nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import numpy as np

FAMILIES = ("f1", "f2", "f3")


@dataclass
class FoldFeatures:
    """Features of one fold.

    Attributes
    ----------
    dataset : str
    fold : str
        Fold name (e.g. ``subject_3``).
    test_subjects : tuple of str
    video_ids : ndarray of str, shape (n_videos,)
    labels : ndarray of str, shape (n_videos,)
        Class names.
    subjects : ndarray of str, shape (n_videos,)
    fit_idx, val_idx, test_idx : ndarray of int
        Row indices: training rows used to fit, the stratified 20 % validation
        rows carved from training, and the test rows.  ``fit_idx`` and
        ``val_idx`` together are the training subjects' videos.
    features : dict str -> ndarray (n_videos, d) or None
        ``"f1"``, ``"f2"``, ``"f3"``; a missing family is ``None`` (or absent).
    classes : tuple of str
        Class names in a fixed order (sorted), shared by all folds.
    info : dict
        Extra facts recorded by the features stage (selected F1 part, ...).
    split_groups : ndarray of str, shape (n_videos,), or None
        Split group of every video (:attr:`adl.data.record.VideoRecord.split_group`)
        when the dataset declares groups; None: every video is its own group.
    environment : dict or None
        Where the features were computed
        (:func:`adl.features.environment.environment_record`, from the cache's
        ``index.json``); None for a cache written before adl 0.2.
    """

    dataset: str
    fold: str
    test_subjects: Tuple[str, ...]
    video_ids: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    fit_idx: np.ndarray
    val_idx: np.ndarray
    test_idx: np.ndarray
    features: Dict[str, Optional[np.ndarray]]
    classes: Tuple[str, ...]
    info: dict = field(default_factory=dict)
    environment: Optional[dict] = None
    split_groups: Optional[np.ndarray] = None

    @property
    def train_idx(self) -> np.ndarray:
        return np.union1d(self.fit_idx, self.val_idx)

    def available(self) -> Tuple[str, ...]:
        return tuple(f for f in FAMILIES if self.features.get(f) is not None)

    def y(self) -> np.ndarray:
        """Integer labels (positions in ``classes``)."""
        lookup = {c: i for i, c in enumerate(self.classes)}
        return np.array([lookup[l] for l in self.labels], dtype=np.int64)
