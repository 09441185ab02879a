"""The public read API of a features cache (what ``adl features`` wrote).

``cache/<dataset>/index.json`` lists the dataset's videos, folds and the
:class:`~adl.features.store.StageKey` manifest of every stage; from it:

* :func:`read_index`, :func:`config_from_index`, :func:`key_from_manifest`;
* :func:`load_fold_features` -- every fold's feature matrices and split;
* :func:`fold_model_path`, :func:`load_fold_transformer` -- a fold's fitted
  transformer (part selector, Fisher encoder, LSTM), caches written before the
  ``adl`` namespace included (:mod:`adl.features.legacy_names`);
  :func:`check_fold_entries` -- the fold entries a saved model was trained on
  are still those of the cache;
* :func:`video_features` -- one video's features in a fold's feature space
  (from its cached per-video entries, or computed when stale).

Other packages (fusion, the CLI, the deep stage) read the cache through these
names only.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from adl.data.errors import AdlError, StoreError
from adl.data.record import VideoRecord

from .config import FeaturesConfig
from .folds import FAMILIES, FoldFeatures
from .keys import is_current, key_from_manifest, source_fingerprint
from .legacy_names import load_joblib
from .store import FeatureStore

INDEX_NAME = "index.json"

__all__ = ["INDEX_NAME", "check_fold_entries", "config_from_index", "fold_model_path",
           "key_from_manifest", "load_fold_features", "load_fold_transformer", "read_index",
           "video_features"]


def read_index(cache, dataset: str) -> dict:
    """The ``index.json`` of ``dataset`` in ``cache``.

    Raises
    ------
    AdlError
        No features of ``dataset`` in the cache (with the command that makes them).
    StoreError
        The index cannot be read.
    """
    path = Path(cache) / dataset / INDEX_NAME
    if not path.is_file():
        raise AdlError(f"{path}: no features for {dataset} in this cache; run "
                       f"`adl features --dataset {dataset} --cache {cache}` (or "
                       f"`make features DATASET={dataset}`) first")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path}: unreadable features index ({exc}); re-run adl features") from exc


def config_from_index(index: dict) -> FeaturesConfig:
    """The :class:`FeaturesConfig` an ``adl features`` run recorded in its index."""
    return FeaturesConfig.from_dict(index["config"])


def load_fold_features(cache, dataset: str, families: Optional[Sequence[str]] = None
                       ) -> List[FoldFeatures]:
    """The per-fold feature matrices written by :func:`adl.features.pipeline.run_features`.

    Parameters
    ----------
    cache : path
    dataset : str
    families : sequence of str, optional
        Families to load (default: every one computed); one not computed is
        warned about and left out.

    Returns
    -------
    list of FoldFeatures
        One per fold, in the index's order; a family not loaded is None.

    Raises
    ------
    AdlError
        A fold entry is missing, or was fitted on other videos than the index lists.
    """
    index = read_index(cache, dataset)
    store = FeatureStore(cache, dataset)
    fams = [f for f in index["families"] if families is None or f in families]
    missing = [f for f in (families or []) if f not in index["families"]]
    if missing:
        warnings.warn(f"features {missing} were not computed for {dataset}")
    split_key = key_from_manifest(index["stages"]["split"])
    out = []
    for fold in index["folds"]:
        split = store.get(split_key, fold, mmap=False)
        meta = store.get_meta(split_key, fold)
        feats, info = {}, {}
        for fam in FAMILIES:
            if fam not in fams:
                feats[fam] = None
                continue
            key = key_from_manifest(index["stages"][f"{fam}_fold"])
            if not store.has(key, fold):
                raise AdlError(f"{store.entry_path(key, fold)}: fold {fold} of {fam} is missing; "
                               f"re-run adl features to complete it")
            info[fam] = dict(store.get_meta(key, fold), stage=key.digest)
            if "inputs" in index and info[fam].get("inputs") != index["inputs"]:
                raise AdlError(f"{store.entry_path(key, fold)}: fold {fold} of {fam} was fitted on "
                               f"other videos than the ones {INDEX_NAME} lists (the data changed "
                               f"and adl features did not finish); re-run adl features")
            feats[fam] = np.asarray(store.get(key, fold, mmap=False)["X"])
        out.append(FoldFeatures(
            dataset=dataset, fold=fold, test_subjects=tuple(meta["test_subjects"]),
            video_ids=np.array(index["video_ids"]), labels=np.array(index["labels"]),
            subjects=np.array(index["subjects"]),
            split_groups=_split_groups(index),
            environment=index.get("environment"),
            fit_idx=np.asarray(split["fit_idx"]),
            val_idx=np.asarray(split["val_idx"]), test_idx=np.asarray(split["test_idx"]),
            features=feats, classes=tuple(index["classes"]), info=info))
    return out


def _split_groups(index: dict) -> Optional[np.ndarray]:
    """The split group of every video, or None; caches written before adl 0.2
    call the key ``groups``."""
    groups = index.get("split_groups", index.get("groups"))
    return None if groups is None else np.array(groups)


def fold_model_path(cache, dataset: str, family: str, fold: str) -> Path:
    """Where the fitted per-fold transformer of ``family`` is saved."""
    index = read_index(cache, dataset)
    key = key_from_manifest(index["stages"][f"{family}_fold"])
    return FeatureStore(cache, dataset).stage_dir(key) / f"{fold}.model.joblib"


def load_fold_transformer(cache, dataset: str, family: str, fold: str):
    """The fitted transformer of ``family`` for ``fold``
    (:class:`~adl.features.f1.BodyPartSelector`,
    :class:`~adl.features.fisher.FisherVectorEncoder` or
    :class:`~adl.features.f3.SkeletonLSTM`).

    Files written before the packages moved under ``adl`` are read too
    (:func:`adl.features.legacy_names.load_joblib`).

    Raises
    ------
    AdlError
        The file is missing (with the command that writes it).
    """
    path = fold_model_path(cache, dataset, family, fold)
    if not path.is_file():
        raise AdlError(f"{path}: no {family} transformer for fold {fold} in this cache; "
                       f"re-run adl features --dataset {dataset} --cache {cache}")
    return load_joblib(path)


def check_fold_entries(cache, dataset: str, fold: str, expected: Optional[dict],
                       model_path=None) -> None:
    """Refuse a model whose fold transformers were refitted since it was saved.

    ``expected`` is ``{family: {"stage": digest, "inputs": digest}}`` as
    recorded by ``adl fuse --save-model``; the cache's fold entries must still
    be those (same configuration, same videos): otherwise the model's SVMs
    would score features from another GMM, LSTM or part selection.

    Raises
    ------
    AdlError
        A fold entry differs from ``expected`` (naming what changed).
    """
    if not expected:
        return
    index = read_index(cache, dataset)
    store = FeatureStore(cache, dataset)
    for fam, want in expected.items():
        manifest = index["stages"].get(f"{fam}_fold")
        key = key_from_manifest(manifest) if manifest else None
        have = store.get_meta(key, fold) if key is not None and store.has(key, fold) else {}
        got = {"stage": key.digest if have else None, "inputs": have.get("inputs")}
        if got != dict(want):
            what = ("another feature configuration" if got["stage"] != want.get("stage")
                    else "other videos")
            raise AdlError(f"{model_path or 'model'}: its {fam} fold transformer for fold {fold} "
                           f"was refitted since the model was saved (the cache at {cache} now "
                           f"holds one fitted with {what}); re-run adl fuse --save-model")


def video_features(cache, dataset: str, fold: str, record: VideoRecord,
                   families: Sequence[str]) -> Dict[str, np.ndarray]:
    """Feature vectors of one video in the feature space of ``fold``.

    Its per-video entries come from the cache when they were computed from
    the video's current files (:func:`~adl.features.keys.source_fingerprint`),
    else they are computed (and not stored); the fold's transformers then
    describe it as :func:`~adl.features.pipeline.run_features` described the
    fold's videos.

    Returns
    -------
    dict str -> ndarray, shape (d_family,), float32
    """
    from .body_parts import PART_NAMES
    from .video_stages import (F1VideoComputer, compute_f2_entry, compute_skeleton_entry,
                               f2_encoder_input)
    index = read_index(cache, dataset)
    cfg = config_from_index(index)
    store = FeatureStore(cache, dataset)
    keys = {name: key_from_manifest(m) for name, m in index["stages"].items()}
    fingerprint = source_fingerprint(record)

    def entry(stage, compute):
        # a cached entry of another video with this id, or of an older version of it, is not used
        if is_current(store, keys[stage], record.video_id, source=fingerprint):
            return store.get(keys[stage], record.video_id, mmap=False)
        return compute()[0]

    out = {}
    skel = None
    if record.has_skeleton and ("f3" in families or "f1" in families):
        skel = entry("skeleton", lambda: compute_skeleton_entry(record, cfg))
    for fam in families:
        model = load_fold_transformer(cache, dataset, fam, fold)
        if fam == "f1":
            rgb_only = bool(index["stages"]["f1_video"]["config"].get("rgb_only"))
            e = entry("f1_video", lambda: F1VideoComputer(cfg.f1, rgb_only)(record, skel))
            pooled = np.asarray(e["pooled"])[None]
            if rgb_only:   # every "part" is the full image: as in the fold's fit
                full = PART_NAMES.index("full_image")
                pooled = np.repeat(pooled[:, full:full + 1], pooled.shape[1], axis=1)
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
