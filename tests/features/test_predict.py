"""`adl predict` (features.predict): one video through a saved model equals
the fusion run's own prediction, and stale inputs are never used."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from adl.data.errors import AdlError
from adl.data.registry import load_records
from adl.data.synth import generate
from adl.features import pipeline as P
from adl.features import predict as PR
from adl.fusion.model_io import save_model
from adl.fusion.runner import fuse_fold


_spec = importlib.util.spec_from_file_location("_features_small",
                                               Path(__file__).with_name("_small.py"))
_small = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_small)
_cfg = _small.small_config


@pytest.fixture
def data(tmp_path):
    root = tmp_path / "cad120"
    generate("cad120", root, seed=2, subjects=3, frames=16, image_size=(160, 120),
             classes=["having_meal", "stacking_objects", "cleaning_objects"])
    return root


def _fit_and_save(root, cache, tmp_path, cfg):
    P.run_features("cad120", root, cache, cfg, progress=False, log=lambda m: None)
    fold = P.load_fold_features(cache, "cad120")[0]
    result = fuse_fold(fold, alpha_search=True, seed=0)
    path = save_model(tmp_path / f"{fold.fold}.adlmodel", result.model)
    return fold, result, path


@pytest.mark.parametrize("mirror", [False, True], ids=["plain", "f2-mirror"])
def test_predict_equals_the_fusion_runs_prediction(data, tmp_path, mirror):
    cache = tmp_path / "cache"
    cfg = _cfg(fisher=P.FisherConfig(n_components=4, n_samples=2000, mirror=mirror))
    fold, result, path = _fit_and_save(data, cache, tmp_path, cfg)
    recs = {r.video_id: r for r in load_records("cad120", data)}
    for i, row in enumerate(fold.test_idx):
        vid = str(fold.video_ids[row])
        # the very feature vectors of the fold (F2 with its mirrored half too)
        feats = PR.video_features(cache, "cad120", fold.fold, recs[vid], ("f1", "f2", "f3"))
        for fam in ("f1", "f2", "f3"):
            np.testing.assert_allclose(feats[fam], fold.features[fam][row], rtol=1e-5,
                                       atol=1e-6, err_msg=fam)
        label, scores = PR.predict_one(path, "cad120", data, vid, cache)
        assert label == result.pred_after[i]
        assert set(scores) == set(fold.classes)


def test_predict_recomputes_a_changed_video_and_refuses_refitted_transformers(
        data, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    fold, result, path = _fit_and_save(data, cache, tmp_path, _cfg())
    vid = str(fold.video_ids[fold.test_idx[0]])
    rec = {r.video_id: r for r in load_records("cad120", data)}[vid]
    calls = []
    real = PR.compute_skeleton_entry
    monkeypatch.setattr(PR, "compute_skeleton_entry",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    PR.predict_one(path, "cad120", data, vid, cache)
    assert calls == []                      # cached entry of the same source: reused
    st = os.stat(rec.skeleton)
    os.utime(rec.skeleton, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    PR.predict_one(path, "cad120", data, vid, cache)
    assert calls == [1]                     # the file changed: recomputed, not the stale entry
    # adl features again: the folds are refitted from the changed video; the
    # saved model's SVMs no longer match the fold transformers
    P.run_features("cad120", data, cache, _cfg(), progress=False, log=lambda m: None)
    with pytest.raises(AdlError, match="refitted since the model was saved.*other videos"):
        PR.predict_one(path, "cad120", data, vid, cache)


def test_frames_rewritten_in_place_change_the_fingerprint(data):
    rec = load_records("cad120", data)[0]
    before = P.source_fingerprint(rec)
    frame = sorted(p for p in rec.rgb.iterdir() if p.suffix == ".png")[3]
    st = os.stat(rec.rgb)
    frame.write_bytes(frame.read_bytes())   # same size, new mtime; the folder's stat unchanged
    os.utime(frame, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000))
    os.utime(rec.rgb, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(rec.rgb).st_mtime_ns == st.st_mtime_ns
    assert P.source_fingerprint(rec) != before
    import dataclasses
    assert P.source_fingerprint(dataclasses.replace(rec, camera="kinect_v2")) != \
        P.source_fingerprint(rec)
