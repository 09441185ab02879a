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
    """The folds of ``protocol`` (``loso``, or the name of a published
    cross-subject split such as ``ntu60_xsub``, see :data:`OFFICIAL_SPLITS`)
    or of an explicit train-subject list."""
    if train_subjects:
        return train_subjects_split(records, train_subjects)
    if protocol in ("loso", "leave-one-subject-out"):
        return leave_one_subject_out(records)
    official = {f().name: f for f in OFFICIAL_SPLITS.values()}
    if protocol in official:                 # a published cross-subject split, e.g. ntu60_xsub
        return [official[protocol]().as_fold(records)]
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


# --------------------------------------------------------------------------- official splits
# The published train/test splits of the deep-stage datasets (thesis 4.2, 5.4.1;
# /work/shared/DATASETS.md sections 4-6).  A split names a record attribute
# (``subject``, ``view`` or ``setup``) and the values on each side; values are
# compared without leading zeros ("001" == "1").

#: NTU RGB+D 60 cross-subject training performers (MS-G3D ``ntu_gendata.py``).
NTU60_CS_TRAIN_SUBJECTS = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34,
                           35, 38)
#: NTU RGB+D 60 cross-view training cameras (camera 1 is the test view).
NTU60_CV_TRAIN_CAMERAS = (2, 3)
#: NTU RGB+D 120 cross-subject training performers (the 20 above and 33 more, 53).
NTU120_CS_TRAIN_SUBJECTS = NTU60_CS_TRAIN_SUBJECTS + (
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86,
    89, 91, 92, 93, 94, 95, 97, 98, 100, 103)
#: NTU RGB+D 120 cross-setup training setups: the even ids.
NTU120_CSET_TRAIN_SETUPS = tuple(range(2, 33, 2))


def _norm_value(v) -> str:
    s = str(v).strip()
    return str(int(s)) if s.isdigit() else s


@dataclass(frozen=True)
class AttributeSplit:
    """A published train/test split by one record attribute.

    Attributes
    ----------
    name : str
        Protocol name (``ntu60_xsub``...).
    attribute : {"subject", "view", "setup"}
        The :class:`data.record.VideoRecord` field the split reads.
    train_values : tuple of str
        Values of the training side.
    test_values : tuple of str, optional
        Values of the test side; None: every value that is neither training
        nor validation.
    validation_values : tuple of str
        Values held out for validation (Toyota Smarthome's camera 5); empty:
        none.
    classes : tuple of str, optional
        The labels the protocol evaluates; a record of another label is on
        no side.  None: every label.
    """

    name: str
    attribute: str
    train_values: Tuple[str, ...]
    test_values: Optional[Tuple[str, ...]] = None
    validation_values: Tuple[str, ...] = ()
    classes: Optional[Tuple[str, ...]] = None

    def __post_init__(self):
        if self.attribute not in ("subject", "view", "setup"):
            raise ValueError(f"split attribute must be subject, view or setup, got "
                             f"{self.attribute!r}")
        object.__setattr__(self, "train_values", tuple(_norm_value(v) for v in self.train_values))
        if self.test_values is not None:
            object.__setattr__(self, "test_values",
                               tuple(_norm_value(v) for v in self.test_values))
        object.__setattr__(self, "validation_values",
                           tuple(_norm_value(v) for v in self.validation_values))

    def _sides(self, records: Sequence[VideoRecord]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        values = []
        for r in records:
            v = getattr(r, self.attribute)
            if v is None:
                raise ValueError(f"protocol {self.name} splits by {self.attribute}, but video "
                                 f"{r.video_id!r} has no {self.attribute}")
            values.append(_norm_value(v))
        values = np.array(values, dtype=object)
        keep = np.ones(len(records), bool)
        if self.classes is not None:
            keep = np.isin(np.array([r.label for r in records], dtype=object),
                           np.array(self.classes, dtype=object))
        train = keep & np.isin(values, np.array(self.train_values, dtype=object))
        val = keep & np.isin(values, np.array(self.validation_values, dtype=object))
        if self.test_values is None:
            test = keep & ~train & ~val
        else:
            test = keep & np.isin(values, np.array(self.test_values, dtype=object))
        return train, val, test

    def split(self, records: Sequence[VideoRecord]) -> Tuple[np.ndarray, np.ndarray]:
        """Indices of the training and test records (validation records and
        records outside :attr:`classes` on neither side)."""
        train, _, test = self._sides(records)
        return np.flatnonzero(train), np.flatnonzero(test)

    def validation(self, records: Sequence[VideoRecord]) -> np.ndarray:
        """Indices of the validation records (empty without validation values)."""
        return np.flatnonzero(self._sides(records)[1])

    def as_fold(self, records: Sequence[VideoRecord]) -> Fold:
        """A cross-subject split as the :class:`Fold` the features stage runs.

        Raises ValueError for a split by view or setup, or with a class subset
        or validation values (a Fold has neither)."""
        if self.attribute != "subject" or self.classes is not None or self.validation_values:
            raise ValueError(f"protocol {self.name} splits by {self.attribute}"
                             f"{' on a class subset' if self.classes is not None else ''}; only "
                             f"a plain cross-subject split is a subject Fold")
        train, test = self.split(records)
        subj = sorted({records[i].subject for i in train}, key=_subject_key)
        test_s = sorted({records[i].subject for i in test}, key=_subject_key)
        return Fold(self.name, tuple(subj), tuple(test_s))


def ntu60_cross_subject() -> AttributeSplit:
    """NTU RGB+D 60 cross-subject: the 20 official training performers."""
    return AttributeSplit("ntu60_xsub", "subject", NTU60_CS_TRAIN_SUBJECTS)


def ntu60_cross_view() -> AttributeSplit:
    """NTU RGB+D 60 cross-view: cameras 2 and 3 train, camera 1 tests."""
    return AttributeSplit("ntu60_xview", "view", NTU60_CV_TRAIN_CAMERAS, (1,))


def ntu120_cross_subject() -> AttributeSplit:
    """NTU RGB+D 120 cross-subject: the 53 official training performers."""
    return AttributeSplit("ntu120_xsub", "subject", NTU120_CS_TRAIN_SUBJECTS)


def ntu120_cross_setup() -> AttributeSplit:
    """NTU RGB+D 120 cross-setup: even setup ids train, odd ids test."""
    return AttributeSplit("ntu120_xset", "setup", NTU120_CSET_TRAIN_SETUPS,
                          tuple(range(1, 33, 2)))


#: Toyota Smarthome cross-subject training subjects (YangDi666 ``smarthome_gendata.py``).
SMARTHOME_CS_TRAIN_SUBJECTS = (3, 4, 6, 7, 9, 12, 13, 15, 17, 19, 25)
#: Toyota Smarthome cross-view: camera 5 validates and camera 2 tests in CV1 and CV2.
SMARTHOME_CV_VALIDATION_CAMERAS = (5,)
SMARTHOME_CV_TEST_CAMERAS = (2,)
SMARTHOME_CV1_TRAIN_CAMERAS = (1,)
SMARTHOME_CV2_TRAIN_CAMERAS = (1, 3, 4, 6, 7)


def smarthome_cross_subject() -> AttributeSplit:
    """Toyota Smarthome CS: 11 training subjects, the others test; 31 classes."""
    from .smarthome import SMARTHOME_ACTIVITIES
    return AttributeSplit("smarthome_cs", "subject", SMARTHOME_CS_TRAIN_SUBJECTS,
                          classes=SMARTHOME_ACTIVITIES)


def smarthome_cross_view_1() -> AttributeSplit:
    """Toyota Smarthome CV1: camera 1 trains, 5 validates, 2 tests; 19 classes."""
    from .smarthome import SMARTHOME_CV_ACTIVITIES
    return AttributeSplit("smarthome_cv1", "view", SMARTHOME_CV1_TRAIN_CAMERAS,
                          SMARTHOME_CV_TEST_CAMERAS, SMARTHOME_CV_VALIDATION_CAMERAS,
                          classes=SMARTHOME_CV_ACTIVITIES)


def smarthome_cross_view_2() -> AttributeSplit:
    """Toyota Smarthome CV2: cameras 1, 3, 4, 6, 7 train, 5 validates, 2 tests;
    19 classes (the camera test of the public script's CV2 reads the subject
    by mistake; the cameras are what the protocol names)."""
    from .smarthome import SMARTHOME_CV_ACTIVITIES
    return AttributeSplit("smarthome_cv2", "view", SMARTHOME_CV2_TRAIN_CAMERAS,
                          SMARTHOME_CV_TEST_CAMERAS, SMARTHOME_CV_VALIDATION_CAMERAS,
                          classes=SMARTHOME_CV_ACTIVITIES)


def nucla_cross_view() -> AttributeSplit:
    """N-UCLA V3_12 (cross-view): views 1 and 2 train, view 3 tests."""
    return AttributeSplit("nucla_v3_12", "view", (1, 2), (3,))


#: (dataset, protocol) -> the function that makes the split.
OFFICIAL_SPLITS = {
    ("ntu60", "xsub"): ntu60_cross_subject,
    ("ntu60", "xview"): ntu60_cross_view,
    ("ntu120", "xsub"): ntu120_cross_subject,
    ("ntu120", "xset"): ntu120_cross_setup,
    ("smarthome", "cs"): smarthome_cross_subject,
    ("smarthome", "cv1"): smarthome_cross_view_1,
    ("smarthome", "cv2"): smarthome_cross_view_2,
    ("nucla", "v3_12"): nucla_cross_view,
}


def official_split(dataset: str, protocol: str) -> AttributeSplit:
    """The published split ``protocol`` of ``dataset`` (see :data:`OFFICIAL_SPLITS`)."""
    try:
        return OFFICIAL_SPLITS[(dataset, protocol)]()
    except KeyError:
        known = ", ".join(f"{d}/{p}" for d, p in OFFICIAL_SPLITS)
        raise ValueError(f"no official split {protocol!r} for dataset {dataset!r}; expected "
                         f"one of {known}") from None
