"""Per-fold fits: refusals before any fit, and what a fit tells the user."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from adl.data.errors import AdlError
from adl.features.config import FisherConfig
from adl.features.fold_fit import check_validation_split, needs_validation
from adl.features.pipeline import run_features


def test_check_validation_split_names_the_fold_and_a_class():
    labels = np.array(["a", "b", "c", "a"])
    check_validation_split("s1", labels, {"fit_idx": np.array([0, 1]),
                                          "val_idx": np.array([3])})          # fine
    with pytest.raises(AdlError, match=r"^fold s1: its training subjects have 1 video of class "
                                       r"'a' \(2 of 2 classes have one\).*at least 2 videos"):
        check_validation_split("s1", labels, {"fit_idx": np.array([0, 1]),
                                              "val_idx": np.array([], np.int64)})
    with pytest.raises(AdlError, match="fold s2: no training video"):
        check_validation_split("s2", labels, {"fit_idx": np.array([], np.int64),
                                              "val_idx": np.array([], np.int64)})


def test_needs_validation():
    assert needs_validation(None, ["f3"], rgb_only=False)
    assert needs_validation(None, ["f1"], rgb_only=False)
    assert not needs_validation(None, ["f1", "f2"], rgb_only=True)


def test_a_dataset_too_small_for_its_split_is_refused_before_any_fit(tiny_writer, tmp_path,
                                                                     small_config, monkeypatch):
    """Two subjects, one video per class: each fold trains on one subject, so
    no class has a video left for validation."""
    from adl.features import fold_fit
    root = tmp_path / "cad120"
    from adl.data.synth import generate
    generate("cad120", root, seed=1, subjects=2, frames=16, image_size=(160, 120),
             classes=["having_meal", "taking_medicine"])
    fits = []
    for fam, fit in list(fold_fit.FIT_FOLD.items()):
        monkeypatch.setitem(fold_fit.FIT_FOLD, fam, lambda inp, fit=fit: fits.append(1) or fit(inp))
    with pytest.raises(AdlError, match=r"fold subject_\d: its training subjects have 1 video of "
                                       r"class 'having_meal'.*needs at least 2 videos"):
        run_features("cad120", root, tmp_path / "cache", small_config(families=("f3",)),
                     progress=False, log=lambda m: None)
    assert fits == []


def test_a_capped_gmm_is_said_once_per_fold_in_adls_words(tiny_cad120, tiny_cache_copy,
                                                         small_config):
    logs = []
    cfg = small_config(families=("f2",),
                       fisher=FisherConfig(n_components=4, n_samples=2000, max_iter=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        s = run_features("cad120", tiny_cad120, tiny_cache_copy, cfg, jobs=2, progress=False,
                         log=logs.append)
    assert s.computed["f2_fold"] == 3
    capped = [m for m in logs if "EM iterations" in m]
    assert len(capped) == 3
    assert capped[0].startswith("fold subject_1: F2's GMM of traj, hog, hof, mbhx, mbhy stopped "
                                "at 1 EM iterations")
