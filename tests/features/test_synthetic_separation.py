"""The synthetic data's designed confusions are separated by the family the
thesis expects (issues 3 and 4): F1 tells the appearance-only pair apart
better than F3, F3 the order-only pair better than F1, F2 the subtle-motion
pair better than F3.  Per-pair accuracy of a linear SVM on each family's
per-fold features, pooled over the leave-one-subject-out folds."""
import numpy as np
import pytest
from sklearn.svm import LinearSVC

from adl.features.f1 import F1Config
from adl.features.f2 import F2Config
from adl.features.f3 import F3Config
from adl.features.cache_reader import load_fold_features
from adl.features.pipeline import FisherConfig, run_features

PAIRS = {"appearance": ("having_meal", "taking_medicine"),
         "order": ("stacking_objects", "unstacking_objects"),
         "subtle": ("arranging_objects", "cleaning_objects")}


@pytest.fixture(scope="module")
def folds(tmp_path_factory, tiny_writer, small_config):
    """4 subjects x 6 classes x 2 videos of 20 frames, features a little
    larger than the suite's small configuration (the pairs need them).  F3 is
    the thesis's plain LSTM (per-frame normalised joints, no pyramid): these
    tests are about what each modality of the synthetic data can see, and the
    joint pyramid of adl's default F3 adds a descriptor of its own."""
    root = tiny_writer(tmp_path_factory.mktemp("sep") / "cad120", seed=3,
                       classes=[c for p in PAIRS.values() for c in p], subjects=4,
                       videos_per_class=2, frames=20)
    cfg = small_config(
        f1=F1Config(backbone="resnet18", weights="random", input_size=64, batch_size=40),
        f2=F2Config(max_scales=2, trajectory_length=8),
        f3=F3Config(hidden=32, max_epochs=30, patience=8, max_len=20, per_frame=True,
                    mirror=True, inputs="joints", augment=False, pyramid=0,
                    pool="mean+max+last"),
        fisher=FisherConfig(n_components=16, n_samples=20000))
    cache = root.parent / "cache"
    run_features("cad120", root, cache, cfg, jobs=2, progress=False, log=lambda m: None)
    return load_fold_features(cache, "cad120")


def pair_accuracy(folds, family, pair):
    correct = total = 0
    for f in folds:
        X = f.features[family]
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        tr = f.train_idx[np.isin(f.labels[f.train_idx], pair)]
        te = f.test_idx[np.isin(f.labels[f.test_idx], pair)]
        clf = LinearSVC(C=10.0, max_iter=20000).fit(X[tr], f.labels[tr])
        correct += int((clf.predict(X[te]) == f.labels[te]).sum())
        total += len(te)
    return correct / total


def test_f1_separates_appearance_pair_better_than_f3(folds):
    a1, a3 = (pair_accuracy(folds, fam, PAIRS["appearance"]) for fam in ("f1", "f3"))
    # with --weights random (no ImageNet weights here) F1 is weak, but it
    # still tells the held objects apart where the skeleton cannot
    assert a1 > a3, (a1, a3)
    assert a1 > 0.6


def test_f3_separates_order_pair_better_than_f1(folds):
    a1, a3 = (pair_accuracy(folds, fam, PAIRS["order"]) for fam in ("f1", "f3"))
    assert a3 > a1, (a3, a1)
    assert a3 >= 0.75


def test_f2_separates_subtle_pair_better_than_f3(folds):
    a2, a3 = (pair_accuracy(folds, fam, PAIRS["subtle"]) for fam in ("f2", "f3"))
    assert a2 > a3, (a2, a3)
    assert a2 >= 0.75
