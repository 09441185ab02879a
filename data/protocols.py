"""Evaluation protocols: leave-one-subject-out, explicit train subjects, and
the seeded stratified validation split carved from training (thesis ch. 3:
"a portion of training data (around 20 %) ... used to tune the learning
parameters").

Two names, used everywhere downstream: ``subjects`` (who performed a video,
the leave-one-subject-out unit) and ``split_groups`` (videos that must stay
on one side of any split, :attr:`data.record.VideoRecord.split_group`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .record import VideoRecord

#: Share of each class's training videos held out for validation (thesis ch. 3: "around 20 %").
DEFAULT_VALIDATION_FRACTION = 0.2


@dataclass(frozen=True)
class Fold:
    """One train/test split, by subject."""

    name: str
    train_subjects: Tuple[str, ...]
    test_subjects: Tuple[str, ...]

    def split(self, records: Sequence[VideoRecord]) -> Tuple[np.ndarray, np.ndarray]:
        """Indices of the training and test records."""
        subj = np.array([r.subject for r in records])
        train = np.flatnonzero(np.isin(subj, self.train_subjects))
        test = np.flatnonzero(np.isin(subj, self.test_subjects))
        return train, test


def _subject_key(s: str):
    return (0, int(s)) if s.isdigit() else (1, s)


def subjects_of(records: Iterable[VideoRecord]) -> List[str]:
    """The subject ids, in numeric order where numeric.

    Two ids that name the same number ("1" and "01") are refused: under
    leave-one-subject-out they would be two subjects, so one person's videos
    could be trained on and tested at once.
    """
    subjects = sorted({r.subject for r in records}, key=_subject_key)
    seen: dict = {}
    for s in subjects:
        k = str(int(s)) if s.isdigit() else s
        if k in seen:
            a, b = sorted((seen[k], s))
            raise ValueError(f"subject ids {a!r} and {b!r} name the same number; use one "
                             f"spelling per person (a subject split in two would put one "
                             f"person in training and test)")
        seen[k] = s
    return subjects


def leave_one_subject_out(records: Sequence[VideoRecord]) -> List[Fold]:
    """One fold per subject: test on that subject, train on all others."""
    subjects = subjects_of(records)
    if len(subjects) < 2:
        raise ValueError(f"leave-one-subject-out needs at least 2 subjects, found {len(subjects)}: "
                         f"{subjects}")
    return [Fold(f"subject_{s}", tuple(x for x in subjects if x != s), (s,)) for s in subjects]


def parse_subject_list(text: str) -> Tuple[str, ...]:
    """``"1,3,5"`` -> ``("1", "3", "5")``; integers lose leading zeros."""
    items = [t.strip() for t in str(text).split(",") if t.strip()]
    if not items:
        raise ValueError(f"expected a comma-separated list of subject ids, got {text!r}")
    return tuple(str(int(t)) if t.isdigit() else t for t in items)


def train_subjects_split(records: Sequence[VideoRecord], train: Sequence[str]) -> List[Fold]:
    """A single fold: ``train`` subjects for training, every other subject for test."""
    subjects = subjects_of(records)
    norm = {str(int(s)) if s.isdigit() else s: s for s in subjects}
    unknown = [t for t in train if t not in norm]
    if unknown:
        raise ValueError(f"train subjects {unknown} not in the dataset; its subjects are {subjects}")
    train_s = tuple(norm[t] for t in train)
    test_s = tuple(s for s in subjects if s not in train_s)
    if not test_s:
        raise ValueError("every subject is a training subject: no test subject left")
    return [Fold("train_" + "-".join(train_s), train_s, test_s)]


def make_folds(records: Sequence[VideoRecord], protocol: str = "loso",
               train_subjects: Sequence[str] | None = None) -> List[Fold]:
    """The folds of ``protocol`` (``loso``) or of an explicit train-subject list."""
    if train_subjects:
        return train_subjects_split(records, train_subjects)
    if protocol in ("loso", "leave-one-subject-out"):
        return leave_one_subject_out(records)
    raise ValueError(f"unknown protocol {protocol!r}; expected 'loso' or --train-subjects")


def shared_split_groups(split_groups: Optional[Sequence], n: int,
                        what: str = "split group per sample") -> Optional[np.ndarray]:
    """``split_groups`` as strings, or None when absent or when no two samples
    share a group (the splits then take their plain, ungrouped path).

    Raises ValueError unless there is one group for each of the ``n`` samples.
    """
    if split_groups is None:
        return None
    split_groups = np.asarray(split_groups).astype(str)
    if split_groups.shape != (n,):
        raise ValueError(f"expected one {what} ({n}), got shape {split_groups.shape}")
    return None if np.unique(split_groups).size == n else split_groups


def _validation_share(n: int, fraction: float) -> int:
    """Validation videos of a class of ``n`` (>= 2): ``round(fraction * n)``,
    at least 1, leaving at least 1 to fit on."""
    return min(n - 1, max(1, int(round(fraction * n))))


def _grouped_validation(labels: np.ndarray, split_groups: np.ndarray, fraction: float,
                        rng: np.random.Generator) -> List[int]:
    """:func:`validation_split` with split groups: whole groups per class, in a
    seeded order, up to the class's share; if every group of a class passes its
    share, the smallest one that leaves every class something to fit on."""
    members = {g: np.flatnonzero(split_groups == g) for g in np.unique(split_groups)}
    total = {c: int(n) for c, n in zip(*np.unique(labels, return_counts=True))}
    in_val = np.zeros(labels.size, bool)
    n_val = dict.fromkeys(total, 0)

    def take(g, c, cap) -> int:
        new = members[g][~in_val[members[g]]]
        got = dict(zip(*np.unique(labels[new], return_counts=True)))
        n_c = int(got.get(c, 0))
        if n_c == 0 or n_val[c] + n_c > cap or any(n_val[d] + n > total[d] - 1
                                                   for d, n in got.items()):
            return 0
        in_val[new] = True
        for d, n in got.items():
            n_val[d] += int(n)
        return n_c

    for c in sorted(total, key=str):
        if total[c] < 2:
            continue
        k = _validation_share(total[c], fraction)
        order = rng.permutation(sorted(set(split_groups[labels == c].tolist())))
        for g in order:                    # whole groups, up to the class's share
            if n_val[c] >= k:
                break
            take(g, c, k)
        if n_val[c] == 0:                  # every group overshoots: the smallest that fits
            sizes = [int(np.sum(labels[members[g]] == c)) for g in order]
            for i in np.argsort(sizes, kind="stable"):
                if take(order[i], c, total[c] - 1):
                    break
    return np.flatnonzero(in_val).tolist()


def validation_split(labels: Sequence, fraction: float = DEFAULT_VALIDATION_FRACTION,
                     seed: int = 0, split_groups: Optional[Sequence] = None
                     ) -> Tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded split of training positions into (fit, validation).

    Every class with at least 2 samples gives ``round(fraction * n)`` (at
    least 1) samples to validation; a class with a single sample stays in
    the fit part.  Returns sorted index arrays into ``labels``.

    ``split_groups`` (one per sample, :attr:`data.record.VideoRecord.split_group`):
    samples sharing a group go to the same side.  Per class, whole groups are
    drawn in a seeded order until the class has its validation share; a
    group is skipped if it would take the class past its share or leave any
    class nothing to fit on; if every group of a class would pass its share,
    the smallest one that leaves something to fit on goes to validation.  Without
    groups, or with every group a single sample, the split is the plain one.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    labels = np.asarray(labels)
    split_groups = shared_split_groups(split_groups, labels.size)
    rng = np.random.default_rng(seed)
    if split_groups is not None:
        val = _grouped_validation(labels, split_groups, fraction, rng)
    else:
        val = []
        for c in sorted(set(labels.tolist()), key=str):
            idx = np.flatnonzero(labels == c)
            if idx.size >= 2:
                val.extend(rng.permutation(idx)[:_validation_share(idx.size, fraction)].tolist())
    val = np.array(sorted(val), dtype=np.int64)
    fit = np.setdiff1d(np.arange(labels.size), val)
    return fit, val
