"""The features stage end to end on tiny synthetic data: resume, stale
config, leakage, modality fallbacks."""
import numpy as np
import pytest

from adl.data.errors import AdlError
from adl.data.synth import generate
from adl.features.cache_reader import key_from_manifest, load_fold_features, read_index
from adl.features.config import FisherConfig
from adl.features.f1 import BodyPartSelector, F1Config
from adl.features.f2 import F2Config
from adl.features.f3 import F3Config, SkeletonLSTM
from adl.features.fisher import FisherVectorEncoder
from adl.features.fold_fit import FIT_FOLD
from adl.features.keys import Stages
from adl.features.pipeline import run_features
from adl.features.store import FeatureStore
from adl.features.video_stages import F1VideoComputer


@pytest.fixture
def tiny(tiny_cad120):
    return tiny_cad120


@pytest.fixture
def _cfg(small_config):
    return small_config


def test_run_resume_and_load(tiny, tmp_path, _cfg):
    cache = tmp_path / "cache"
    logs = []
    s1 = run_features("cad120", tiny, cache, _cfg(), log=logs.append, progress=False)
    assert s1.families == ["f1", "f2", "f3"] and s1.n_videos == 9 and len(s1.folds) == 3
    assert s1.computed["f1_video"] == 9 and s1.computed["f3_fold"] == 3
    folds = load_fold_features(cache, "cad120")
    assert [f.fold for f in folds] == ["subject_1", "subject_3", "subject_4"]
    for f in folds:
        assert set(f.available()) == {"f1", "f2", "f3"}
        assert all(x.shape[0] == 9 and np.isfinite(x).all() for x in f.features.values())
        test_subj = set(f.subjects[f.test_idx])
        assert test_subj == set(f.test_subjects)
        assert not test_subj & set(f.subjects[f.train_idx])
        assert f.info["f1"]["selected_part"] in ("left_hand", "right_hand", "upper_body",
                                                 "full_body", "full_image")
    # a second run computes nothing and gives identical matrices
    s2 = run_features("cad120", tiny, cache, _cfg(), log=logs.append, progress=False)
    assert sum(s2.computed.values()) == 0
    again = load_fold_features(cache, "cad120")
    for a, b in zip(folds, again):
        for fam in ("f1", "f2", "f3"):
            assert np.array_equal(a.features[fam], b.features[fam])


def test_changed_config_recomputes_only_dependants(tiny, tiny_cache_copy, _cfg):
    cache = tiny_cache_copy          # filled with _cfg()
    # F3 units: only the F3 folds
    s = run_features("cad120", tiny, cache, _cfg(f3=F3Config(hidden=8, max_epochs=4, patience=2,
                                                                max_len=16)),
                       progress=False, log=lambda m: None)
    assert {k: v for k, v in s.computed.items() if v} == {"f3_fold": 3}
    # GMM size: only the F2 folds
    s = run_features("cad120", tiny, cache, _cfg(fisher=FisherConfig(n_components=2, n_samples=2000)),
                       progress=False, log=lambda m: None)
    assert {k: v for k, v in s.computed.items() if v} == {"f2_fold": 3}
    # mirrored Fisher vectors: only the F2 folds
    s = run_features("cad120", tiny, cache,
                       _cfg(fisher=FisherConfig(n_components=2, n_samples=2000, mirror=True)),
                       progress=False, log=lambda m: None)
    assert {k: v for k, v in s.computed.items() if v} == {"f2_fold": 3}
    # trajectory length: raw F2 and its folds
    s = run_features("cad120", tiny, cache, _cfg(f2=F2Config(max_scales=2, trajectory_length=4)),
                       progress=False, log=lambda m: None)
    assert {k: v for k, v in s.computed.items() if v} == {"f2_raw": 9, "f2_fold": 3}
    # F2 on shrunk frames: raw F2 and its folds; the default keeps the key of older caches
    s = run_features("cad120", tiny, cache,
                       _cfg(f2=F2Config(max_scales=2, trajectory_length=4, max_width=128)),
                       progress=False, log=lambda m: None)
    assert {k: v for k, v in s.computed.items() if v} == {"f2_raw": 9, "f2_fold": 3}
    keys = Stages("cad120", _cfg(), [], False).f2_raw.config
    assert "max_width" not in keys and "descriptor_stride" in keys
    # backbone / stride: F1 frames and folds
    s = run_features("cad120", tiny, cache,
                       _cfg(f1=F1Config(backbone="resnet18", weights="random", input_size=48,
                                        batch_size=32, frame_stride=2)),
                       progress=False, log=lambda m: None)
    assert {k: v for k, v in s.computed.items() if v} == {"f1_video": 9, "f1_fold": 3}
    # backbone: F1 frames and folds, nothing else
    s = run_features("cad120", tiny, cache,
                       _cfg(f1=F1Config(backbone="resnet50", weights="random", input_size=48,
                                        batch_size=32)),
                       progress=False, log=lambda m: None)
    assert {k: v for k, v in s.computed.items() if v} == {"f1_video": 9, "f1_fold": 3}
    # back to the first configuration: everything is still cached
    s = run_features("cad120", tiny, cache, _cfg(), progress=False, log=lambda m: None)
    assert sum(s.computed.values()) == 0
    # seed: every fold-level fit
    s = run_features("cad120", tiny, cache, _cfg(seed=5), progress=False, log=lambda m: None)
    assert s.computed["f3_fold"] == 3 and s.computed["f2_fold"] == 3 and s.computed["f1_fold"] == 3


def test_changed_source_file_is_recomputed(tiny_cad120, tmp_path, _cfg):
    import shutil
    tiny = tmp_path / "data"
    shutil.copytree(tiny_cad120, tiny)
    cache = tmp_path / "cache"
    run_features("cad120", tiny, cache, _cfg(families=("f3",)), progress=False, log=lambda m: None)
    skel = sorted(tiny.glob("Subject1_annotations/having_meal/*.txt"))
    skel = [p for p in skel if p.name[0].isdigit() and "_" not in p.stem][0]
    skel.write_text(skel.read_text())  # same content, new mtime
    import os
    st = skel.stat()
    os.utime(skel, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    s = run_features("cad120", tiny, cache, _cfg(families=("f3",)), progress=False, log=lambda m: None)
    # the video's entry and every fold fitted from it (they were kept, stale, before)
    assert s.computed == {"skeleton": 1, "f3_fold": 3}
    s = run_features("cad120", tiny, cache, _cfg(families=("f3",)), progress=False, log=lambda m: None)
    assert sum(s.computed.values()) == 0


def test_removed_video_redoes_the_splits_and_fits(tiny, tmp_path, _cfg):
    import shutil
    from adl.data.registry import load_records
    root = tmp_path / "data"
    shutil.copytree(tiny, root)
    cache = tmp_path / "cache"
    cfg = _cfg(families=("f3",))
    run_features("cad120", root, cache, cfg, progress=False, log=lambda m: None)
    before = load_fold_features(cache, "cad120")
    victim = load_records("cad120", root)[0]
    for kind in ("annotations", "rgbd_images"):     # one subject's videos of one class
        shutil.rmtree(root / f"Subject{victim.subject}_{kind}" / victim.label)
    recs = load_records("cad120", root)
    assert 0 < len(recs) < len(before[0].video_ids)
    s = run_features("cad120", root, cache, cfg, progress=False, log=lambda m: None)
    assert s.computed["f3_fold"] == 3
    after = load_fold_features(cache, "cad120")
    for f in after:
        n = len(f.video_ids)
        idx = np.concatenate([f.fit_idx, f.val_idx, f.test_idx])
        assert n == len(recs) and idx.max() < n and len(np.unique(idx)) == n
        assert f.features["f3"].shape[0] == n
        assert set(f.subjects[f.test_idx]) == set(f.test_subjects)


@pytest.mark.parametrize("train_subjects", [None, ("1", "3")], ids=["loso", "train-subjects"])
def test_no_test_video_reaches_any_fit(tiny, tmp_path, monkeypatch, train_subjects, _cfg):
    """Spy on every fit of the features stage, under both protocols
    (leave-one-subject-out and an explicit training-subject list): the rows
    it receives must all be training-subject videos of the fold being fitted."""
    from adl.data.registry import load_records
    recs = load_records("cad120", tiny)
    seen = []

    def spy(cls):
        orig = cls.fit

        def fit(self, X, *args, **kwargs):
            seen.append((cls.__name__, X, args))
            return orig(self, X, *args, **kwargs)
        monkeypatch.setattr(cls, "fit", fit)

    for cls in (BodyPartSelector, FisherVectorEncoder, SkeletonLSTM):
        spy(cls)
    cache = tmp_path / "cache"
    run_features("cad120", tiny, cache, _cfg(train_subjects=train_subjects), progress=False,
                   log=lambda m: None)
    n_folds = 3 if train_subjects is None else 1
    assert len(seen) == 3 * n_folds  # 3 estimators per fold
    store = FeatureStore(cache, "cad120")
    index = read_index(cache, "cad120")
    keys = {k: key_from_manifest(m) for k, m in index["stages"].items()}

    def fp(a):
        if isinstance(a, dict):
            return tuple(sorted((k, np.asarray(v, np.float32).tobytes()) for k, v in a.items()))
        return np.ascontiguousarray(np.asarray(a, np.float32)).tobytes()

    per_video = {}
    for r in recs:
        pooled = np.asarray(store.get(keys["f1_video"], r.video_id)["pooled"])
        seq = np.asarray(store.get(keys["skeleton"], r.video_id)["sequence"])
        raw = store.get(keys["f2_raw"], r.video_id)
        per_video[r.video_id] = {fp(pooled), fp(seq),
                                 fp({t: raw[t] for t in ("traj", "hog", "hof", "mbhx", "mbhy")})}
    folds = load_fold_features(cache, "cad120")
    for k, fold in enumerate(folds):
        test_fps = set().union(*(per_video[v] for v in fold.video_ids[fold.test_idx]))
        train_fps = set().union(*(per_video[v] for v in fold.video_ids[fold.train_idx]))
        calls = seen[3 * k: 3 * k + 3]  # per fold: F1, F2, F3 in that order
        assert [c[0] for c in calls] == ["BodyPartSelector", "FisherVectorEncoder", "SkeletonLSTM"]
        for name, X, args in calls:
            rows = list(X)
            if len(args) > 1 and args[1] is not None:  # validation rows
                rows += list(args[1])
            assert rows
            for row in rows:
                assert fp(row) not in test_fps, f"{name}.fit received a test video of {fold.fold}"
                assert fp(row) in train_fps
    # ... and the fusion stage on these folds (ablation SVMs, clf1/clf2, inner
    # cross-validation, calibration, pair memory): test rows carry a sentinel
    # (all-zero features, self-similarity 0) that no SVM fit may receive
    from dataclasses import replace

    from sklearn.svm import SVC

    from adl.fusion.config import FusionConfig
    from adl.fusion.runner import run_fusion
    sentinel_folds = []
    for fold in folds:
        feats = {f: np.array(X, dtype=np.float64) for f, X in fold.features.items() if X is not None}
        for X in feats.values():
            assert np.all(np.linalg.norm(X[fold.train_idx], axis=1) > 0)
            X[fold.test_idx] = 0.0
        sentinel_folds.append(replace(fold, features=feats))
    fits = []
    original = SVC.fit

    def svc_spy(self, K, y, *args, **kwargs):
        assert np.all(np.diag(np.asarray(K)) > 0.99), "a test video reached an SVM fit"
        fits.append(len(y))
        return original(self, K, y, *args, **kwargs)

    monkeypatch.setattr(SVC, "fit", svc_spy)
    run_fusion(sentinel_folds, tmp_path / "fusion", FusionConfig(epsilon=0.0, seed=0))
    assert len(fits) > 50


def test_fuse_refuses_folds_refitted_on_other_data_than_the_index(tiny, tmp_path, monkeypatch, _cfg):
    """A data change, then adl features interrupted after one fold: the index
    still describes the old videos, one fold was refitted on the new ones;
    loading the folds must not silently mix them."""
    import os
    import shutil
    root = tmp_path / "data"
    shutil.copytree(tiny, root)
    cache = tmp_path / "cache"
    cfg = _cfg(families=("f3",))
    run_features("cad120", root, cache, cfg, progress=False, log=lambda m: None)
    skel = sorted(p for p in root.glob("Subject1_annotations/having_meal/*.txt")
                  if p.name[0].isdigit())[0]
    st = skel.stat()
    os.utime(skel, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    real = FIT_FOLD["f3"]
    calls = []

    def fit_then_die(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setitem(FIT_FOLD, "f3", fit_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_features("cad120", root, cache, cfg, progress=False, log=lambda m: None)
    with pytest.raises(AdlError, match="fitted on other videos.*re-run adl features"):
        load_fold_features(cache, "cad120")
    monkeypatch.setitem(FIT_FOLD, "f3", real)
    s = run_features("cad120", root, cache, cfg, progress=False, log=lambda m: None)
    assert s.computed["f3_fold"] == 2          # the two folds not refitted before
    assert len(load_fold_features(cache, "cad120")) == 3


def test_f1_refuses_a_video_without_placeable_skeleton_in_a_skeleton_dataset(tiny, _cfg):
    from adl.data.registry import load_records
    rec = load_records("cad120", tiny)[0]
    computer = F1VideoComputer(_cfg().f1, rgb_only=False)
    with pytest.raises(AdlError, match=f"{rec.video_id}.*has no skeleton"):
        computer(rec, None)
    with pytest.raises(AdlError, match="cannot be placed in the image"):
        computer(rec, {"sequence": np.zeros((4, 15, 3), np.float32)})
    # RGB-only data: the full image, as documented
    arrays, _ = F1VideoComputer(_cfg().f1, rgb_only=True)(rec, None)
    assert arrays["pooled"].shape[0] == 5


def test_split_groups_stay_on_one_side(tmp_path, _cfg):
    """A manifest's ``group`` column (a clip and its flipped copy) reaches the
    validation split of the features stage and the inner folds of the fusion:
    with one training subject per fold, no group is on both sides."""
    import csv

    from adl.fusion import run_fusion
    from adl.fusion.config import FusionConfig
    root = tmp_path / "ds"
    generate("manifest", root, seed=0, subjects=2, videos_per_class=4, frames=12,
             image_size=(96, 72), classes=["drink", "take_pills", "walk"])
    path = root / "manifest.csv"
    rows = list(csv.DictReader(path.open()))
    for r in rows:                       # repetitions 1+2 and 3+4 form a group
        rep = int(r["video_id"].rsplit("_", 1)[1])
        r["group"] = f"{r['subject']}_{r['label']}_{(rep - 1) // 2}"
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    cache = tmp_path / "cache"
    run_features("manifest", root, cache, _cfg(), progress=False, log=lambda m: None)
    folds = load_fold_features(cache, "manifest")
    assert len(folds) == 2
    for f in folds:
        assert f.split_groups is not None and len(set(f.split_groups)) == 12
        assert f.val_idx.size and not set(f.split_groups[f.fit_idx]) & set(f.split_groups[f.val_idx])
    out = run_fusion(folds, tmp_path / "fused", FusionConfig(alpha_search=True, seed=0))
    import json
    details = json.loads((tmp_path / "fused" / "details.json").read_text())
    assert all("split groups whole" in d["selection"] for d in details["folds"])
    assert out["mean"]["two_level"] is not None
    # one group per class and subject: no validation video is possible
    for r in rows:
        r["group"] = f"{r['subject']}_{r['label']}"
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(AdlError, match=r"fold subject_\w+: the split groups of the training "
                                       r"videos leave no video for the validation split"):
        run_features("manifest", root, cache, _cfg(), progress=False, log=lambda m: None)
