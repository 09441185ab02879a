"""`adl predict`: classify one sequence with a saved fusion model.

The model file (``adl fuse --save-model``) holds the fold's fusion classifiers
and pair memory; the fold's feature transformers (F1 part selector, F2 Fisher
encoder, F3 LSTM) and the feature configuration come from the cache of the
``adl features`` run the model was trained on.  The video's per-video
features are read from that cache when present, computed otherwise.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np

from adl.data.errors import AdlError
from adl.data.registry import load_records

from .f1 import F1Config
from .f2 import F2Config
from .f3 import F3Config
from .pipeline import (FeaturesConfig, FisherConfig, _F1VideoComputer, _key_from_manifest, _needs,
                       compute_f2_entry, compute_skeleton_entry, f2_encoder_input,
                       fold_model_path, read_index, source_fingerprint)
from .store import FeatureStore


def config_from_index(index: dict) -> FeaturesConfig:
    """The :class:`FeaturesConfig` an ``adl features`` run recorded."""
    c = dict(index["config"])
    return FeaturesConfig(
        families=tuple(c["families"]), f1=F1Config.from_dict(c["f1"]), f2=F2Config(**c["f2"]),
        f3=F3Config.from_dict(c["f3"]), fisher=FisherConfig(**c["fisher"]), seed=c["seed"],
        val_fraction=c["val_fraction"], protocol=c["protocol"],
        train_subjects=tuple(c["train_subjects"]) or None)


def check_fold_entries(cache, dataset: str, fold: str, expected: Optional[dict],
                       model_path=None) -> None:
    """Refuse a model whose fold transformers were refitted since it was saved.

    ``expected`` is ``{family: {"stage": digest, "inputs": digest}}`` as
    recorded by ``adl fuse --save-model``; the cache's fold entries must still
    be those (same configuration, same videos): otherwise the model's SVMs
    would score features from another GMM, LSTM or part selection.
    """
    if not expected:
        return
    index = read_index(cache, dataset)
    store = FeatureStore(cache, dataset)
    for fam, want in expected.items():
        manifest = index["stages"].get(f"{fam}_fold")
        key = _key_from_manifest(manifest) if manifest else None
        have = store.get_meta(key, fold) if key is not None and store.has(key, fold) else {}
        got = {"stage": key.digest if have else None, "inputs": have.get("inputs")}
        if got != dict(want):
            what = ("another feature configuration" if got["stage"] != want.get("stage")
                    else "other videos")
            raise AdlError(f"{model_path or 'model'}: its {fam} fold transformer for fold {fold} "
                           f"was refitted since the model was saved (the cache at {cache} now "
                           f"holds one fitted with {what}); re-run adl fuse --save-model")


def video_features(cache, dataset: str, fold: str, record, families) -> Dict[str, np.ndarray]:
    """Feature vectors ``{family: (d,)}`` of one video in the feature space of ``fold``."""
    import joblib
    index = read_index(cache, dataset)
    cfg = config_from_index(index)
    store = FeatureStore(cache, dataset)
    keys = {name: _key_from_manifest(m) for name, m in index["stages"].items()}
    fingerprint = source_fingerprint(record)

    def entry(stage, compute):
        # a cached entry of another video with this id, or of an older version of it, is not used
        if not _needs(store, keys[stage], record.video_id, fingerprint):
            return store.get(keys[stage], record.video_id, mmap=False)
        return compute()[0]

    out = {}
    skel = None
    if record.has_skeleton and ("f3" in families or "f1" in families):
        skel = entry("skeleton", lambda: compute_skeleton_entry(record, cfg))
    for fam in families:
        model = joblib.load(fold_model_path(cache, dataset, fam, fold))
        if fam == "f1":
            rgb_only = bool(index["stages"]["f1_video"]["config"].get("rgb_only"))
            e = entry("f1_video", lambda: _F1VideoComputer(cfg.f1, rgb_only)(record, skel))
            pooled = np.asarray(e["pooled"])[None]
            if rgb_only:
                pooled = np.repeat(pooled[:, 4:5], pooled.shape[1], axis=1)
                out[fam] = model.transform(pooled)[0, : pooled.shape[2]]
            else:
                out[fam] = model.transform(pooled)[0]
        elif fam == "f2":
            e = entry("f2_raw", lambda: compute_f2_entry(record, cfg.f2))
            out[fam] = np.asarray(model.transform([f2_encoder_input(e, cfg)]))[0]
        elif fam == "f3":
            if skel is None:
                raise AdlError(f"video {record.video_id!r} has no skeleton; the model needs F3")
            out[fam] = np.asarray(model.transform([np.asarray(skel["sequence"])]))[0]
    return {k: np.asarray(v, np.float32) for k, v in out.items()}


def predict_one(model_path, dataset: str, root, video_id: str, cache,
                reader_options: Optional[dict] = None) -> Tuple[str, Dict[str, float]]:
    """Label and per-class scores of one video of ``dataset`` at ``root``."""
    from adl.fusion.model_io import load_model, predict_video
    model = load_model(model_path)
    if model.dataset != dataset:
        raise AdlError(f"{model_path}: model trained on {model.dataset!r}, not {dataset!r}")
    records = {r.video_id: r for r in load_records(dataset, root, **(reader_options or {}))}
    if video_id not in records:
        near = ", ".join(sorted(records)[:5])
        raise AdlError(f"{root}: no video {video_id!r} in {dataset} (ids look like: {near}, ...)")
    check_fold_entries(cache, dataset, model.fold, model.info.get("fold_entries"), model_path)
    feats = video_features(cache, dataset, model.fold, records[video_id], model.families)
    label, scores = predict_video(model, feats)
    return label, {c: float(s) for c, s in zip(model.classes, scores)}
