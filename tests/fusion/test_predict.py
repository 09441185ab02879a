"""`adl predict` (fusion.predict): one video through a saved model equals
the fusion run's own prediction, and stale inputs are never used."""
from __future__ import annotations

import dataclasses
import os
import shutil

import numpy as np
import pytest

from adl.data.errors import AdlError
from adl.data.registry import load_records
from adl.features import cache_reader
from adl.features.cache_reader import load_fold_features, video_features
from adl.features.config import FisherConfig
from adl.features.keys import source_fingerprint
from adl.features.pipeline import run_features
from adl.fusion.config import FusionConfig
from adl.fusion.model_io import save_model
from adl.fusion.predict import predict_one
from adl.fusion.runner import fuse_fold


def _fit_and_save(root, cache, tmp_path, cfg):
    run_features("cad120", root, cache, cfg, progress=False, log=lambda m: None)
    fold = load_fold_features(cache, "cad120")[0]
    result = fuse_fold(fold, FusionConfig(alpha_search=True, seed=0))
    path = save_model(tmp_path / f"{fold.fold}.adlmodel", result.model)
    return fold, result, path


@pytest.mark.parametrize("mirror", [False, True], ids=["plain", "f2-mirror"])
def test_predict_equals_the_fusion_runs_prediction(tiny_cad120, tiny_cache_copy, tmp_path,
                                                   small_config, mirror):
    cache = tiny_cache_copy
    cfg = small_config(fisher=FisherConfig(n_components=4, n_samples=2000, mirror=mirror))
    fold, result, path = _fit_and_save(tiny_cad120, cache, tmp_path, cfg)
    recs = {r.video_id: r for r in load_records("cad120", tiny_cad120)}
    for i, row in enumerate(fold.test_idx):
        vid = str(fold.video_ids[row])
        # the very feature vectors of the fold (F2 with its mirrored half too)
        feats = video_features(cache, "cad120", fold.fold, recs[vid], ("f1", "f2", "f3"))
        for fam in ("f1", "f2", "f3"):
            np.testing.assert_allclose(feats[fam], fold.features[fam][row], rtol=1e-5,
                                       atol=1e-6, err_msg=fam)
        label, scores = predict_one(path, "cad120", tiny_cad120, vid, cache)
        assert label == result.pred_after[i]
        assert set(scores) == set(fold.classes)


def test_predict_refuses_another_dataset_and_an_unknown_video(tiny_cad120, tiny_cache_copy,
                                                             tmp_path, small_config):
    fold, result, path = _fit_and_save(tiny_cad120, tiny_cache_copy, tmp_path, small_config())
    with pytest.raises(AdlError, match="model trained on 'cad120', not 'cad60'"):
        predict_one(path, "cad60", tiny_cad120, "x", tiny_cache_copy)
    with pytest.raises(AdlError, match="no video 'nope' in cad120 \\(ids look like"):
        predict_one(path, "cad120", tiny_cad120, "nope", tiny_cache_copy)


def test_predict_recomputes_a_changed_video_and_refuses_refitted_transformers(
        tiny_cad120, tmp_path, monkeypatch, small_config):
    data = tmp_path / "data"
    shutil.copytree(tiny_cad120, data)            # this test changes a file
    cache = tmp_path / "cache"
    fold, result, path = _fit_and_save(data, cache, tmp_path, small_config())
    vid = str(fold.video_ids[fold.test_idx[0]])
    rec = {r.video_id: r for r in load_records("cad120", data)}[vid]
    calls = []
    import adl.features.video_stages as video_stages
    real = video_stages.compute_skeleton_entry
    monkeypatch.setattr(video_stages, "compute_skeleton_entry",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    predict_one(path, "cad120", data, vid, cache)
    assert calls == []                      # cached entry of the same source: reused
    st = os.stat(rec.skeleton)
    os.utime(rec.skeleton, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    predict_one(path, "cad120", data, vid, cache)
    assert calls == [1]                     # the file changed: recomputed, not the stale entry
    # adl features again: the folds are refitted from the changed video; the
    # saved model's SVMs no longer match the fold transformers
    run_features("cad120", data, cache, small_config(), progress=False, log=lambda m: None)
    with pytest.raises(AdlError, match="refitted since the model was saved.*other videos"):
        predict_one(path, "cad120", data, vid, cache)


def test_frames_rewritten_in_place_change_the_fingerprint(tiny_cad120, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_cad120, data)
    rec = load_records("cad120", data)[0]
    before = source_fingerprint(rec)
    frame = sorted(p for p in rec.rgb.iterdir() if p.suffix == ".png")[3]
    st = os.stat(rec.rgb)
    frame.write_bytes(frame.read_bytes())   # same size, new mtime; the folder's stat unchanged
    os.utime(frame, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000))
    os.utime(rec.rgb, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(rec.rgb).st_mtime_ns == st.st_mtime_ns
    assert source_fingerprint(rec) != before
    assert source_fingerprint(dataclasses.replace(rec, camera="kinect_v2")) != \
        source_fingerprint(rec)


def test_predict_reads_the_cache_through_its_public_api_only():
    """fusion.predict imports features' public read API, nothing private."""
    import ast
    import inspect

    import adl.fusion.predict as module
    tree = ast.parse(inspect.getsource(module))
    names = [(n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
             for a in n.names if (n.module or "").startswith("adl.features")]
    assert names and all(m == "adl.features.cache_reader" and not a.startswith("_")
                         for m, a in names)
    assert {a for _, a in names} <= set(cache_reader.__all__)


def test_adl_predict_prints_the_label_and_the_best_scores(tiny_cad120, tiny_cache_copy, tmp_path,
                                                          small_config):
    from click.testing import CliRunner

    from adl.cli.main import main
    fold, result, path = _fit_and_save(tiny_cad120, tiny_cache_copy, tmp_path, small_config())
    vid = str(fold.video_ids[fold.test_idx[0]])
    out = CliRunner().invoke(main, ["predict", "--model", str(path), "--dataset", "cad120",
                                    "--root", str(tiny_cad120), "--video", vid,
                                    "--cache", str(tiny_cache_copy)])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0] == f"{vid}: {result.pred_after[0]}"
    assert len(lines) == 1 + len(fold.classes)
