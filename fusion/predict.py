"""`adl predict`: classify one sequence with a saved fusion model.

The model file (``adl fuse --save-model``) holds the fold's fusion classifiers
and pair memory (thesis sections 3.4.2-3.4.3); the fold's feature transformers
(F1 part selector, F2 Fisher encoder, F3 LSTM) and the feature configuration
come from the cache of the ``adl features`` run the model was trained on
(:mod:`adl.features.cache_reader`).  The video's per-video features are read
from that cache when present, computed otherwise.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

from adl.data.errors import AdlError
from adl.data.registry import load_records
from adl.features.cache_reader import check_fold_entries, video_features

from .model_io import load_model, predict_video


def predict_one(model_path, dataset: str, root, video_id: str, cache,
                reader_options: Optional[dict] = None) -> Tuple[str, Dict[str, float]]:
    """Label and per-class scores of one video of ``dataset`` at ``root``.

    Parameters
    ----------
    model_path : path
        A model written by ``adl fuse --save-model``.
    dataset : str
        The dataset the model was trained on.
    root : path
        The dataset's root (where the video is read).
    video_id : str
    cache : path
        The cache of the ``adl features`` run the model was trained on.
    reader_options : dict, optional
        Passed to the dataset reader (``media_root`` for manifests).

    Returns
    -------
    label : str
    scores : dict str -> float
        The fused score of every class.

    Raises
    ------
    AdlError
        The model belongs to another dataset, the video is not in the
        dataset, or the cache's fold transformers were refitted since the
        model was saved.
    """
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
