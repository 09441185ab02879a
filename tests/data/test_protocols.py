import numpy as np
import pytest

from adl.data.protocols import (leave_one_subject_out, make_folds, parse_subject_list,
                            validation_split)
from adl.data.record import VideoRecord


def _records(subjects=("1", "3", "4", "5"), classes=("a", "b", "c"), reps=3):
    return [VideoRecord("x", f"{s}_{c}_{k}", c, s) for s in subjects for c in classes for k in range(reps)]


def test_loso_one_fold_per_subject_disjoint():
    recs = _records()
    folds = leave_one_subject_out(recs)
    assert [f.test_subjects for f in folds] == [("1",), ("3",), ("4",), ("5",)]
    for f in folds:
        tr, te = f.split(recs)
        assert len(tr) == 27 and len(te) == 9
        assert not {recs[i].subject for i in tr} & {recs[i].subject for i in te}


def test_one_person_under_two_spellings_is_refused():
    """'1' and '01' would be two LOSO subjects: one person trained and tested at once."""
    recs = _records(subjects=("1", "01", "2"))
    with pytest.raises(ValueError, match="'01' and '1' name the same number"):
        leave_one_subject_out(recs)
    with pytest.raises(ValueError, match="same number"):
        make_folds(recs, "loso", ("1", "2"))
    assert len(leave_one_subject_out(_records(subjects=("S01", "S1", "2")))) == 3


def test_loso_needs_two_subjects():
    with pytest.raises(ValueError, match="at least 2 subjects, found 1"):
        leave_one_subject_out(_records(subjects=("1",)))


def test_train_subjects_split():
    recs = _records(subjects=tuple(str(i) for i in range(1, 11)))
    (fold,) = make_folds(recs, train_subjects=parse_subject_list("1,3,5,7,9"))
    assert fold.train_subjects == ("1", "3", "5", "7", "9")
    assert fold.test_subjects == ("2", "4", "6", "8", "10")
    with pytest.raises(ValueError, match=r"train subjects \['42'\] not in the dataset"):
        make_folds(recs, train_subjects=("42",))
    assert parse_subject_list(" 01, 3 ,s7") == ("1", "3", "s7")
    with pytest.raises(ValueError, match="comma-separated list"):
        parse_subject_list(" , ")


def test_validation_split_stratified_seeded():
    labels = np.repeat(["a", "b", "c", "d"], [10, 5, 2, 1])
    fit, val = validation_split(labels, 0.2, seed=3)
    assert sorted(np.concatenate([fit, val]).tolist()) == list(range(18))
    counts = {c: int((labels[val] == c).sum()) for c in "abcd"}
    assert counts == {"a": 2, "b": 1, "c": 1, "d": 0}
    fit2, val2 = validation_split(labels, 0.2, seed=3)
    assert np.array_equal(val, val2)
    _, val3 = validation_split(labels, 0.2, seed=4)
    assert not np.array_equal(val, val3)
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\)"):
        validation_split(labels, 1.5)
    # groups of single videos: the plain split
    fit4, val4 = validation_split(labels, 0.2, seed=3, split_groups=[f"g{i}" for i in range(18)])
    assert np.array_equal(val4, val) and np.array_equal(fit4, fit)


def test_validation_split_keeps_groups_together():
    # 4 classes x 5 clips, each clip with its flipped copy (same group)
    labels = np.repeat(list("abcd"), 10)
    groups = np.array([f"{c}{i // 2}" for c, i in zip(labels, np.tile(np.arange(10), 4))])
    for seed in range(5):
        fit, val = validation_split(labels, 0.2, seed=seed, split_groups=groups)
        assert sorted(np.concatenate([fit, val]).tolist()) == list(range(40))
        assert not set(groups[fit]) & set(groups[val]), seed       # no group on both sides
        counts = {c: int((labels[val] == c).sum()) for c in "abcd"}
        assert counts == {c: 2 for c in "abcd"}, counts            # one whole group per class
    # a class whose only group holds all its videos keeps it for fitting
    lab2 = np.array(["a", "a", "b", "b", "b", "b"])
    grp2 = np.array(["x", "x", "y", "y", "z", "z"])
    fit, val = validation_split(lab2, 0.5, seed=0, split_groups=grp2)
    assert set(lab2[fit]) == {"a", "b"} and set(grp2[val]) in ({"y"}, {"z"})
    # a big group is not taken while a small one gives the class its share
    lab3 = np.array(["a"] * 10 + ["b"] * 2)
    grp3 = np.array(["big"] * 9 + ["small", "b1", "b2"])
    for seed in range(6):
        fit, val = validation_split(lab3, 0.2, seed=seed, split_groups=grp3)
        assert set(grp3[val]) & {"big", "small"} == {"small"}, seed
    # every group of a class over its share: the smallest that leaves a video to fit
    lab4 = np.array(["a"] * 7)
    grp4 = np.array(["x"] * 3 + ["y"] * 4)
    fit, val = validation_split(lab4, 0.2, seed=0, split_groups=grp4)
    assert set(grp4[val]) == {"x"} and set(grp4[fit]) == {"y"}
    with pytest.raises(ValueError, match="one split group per sample"):
        validation_split(lab2, 0.5, split_groups=["x"])
