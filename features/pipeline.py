"""The features stage: fold-independent per-video features, then per-fold
F1 / F2 / F3 matrices fitted on each fold's training subjects only.

``adl features`` (and ``make features DATASET=...``) calls :func:`run_features`;
``adl fuse`` reads the result back with :func:`adl.features.cache_reader.load_fold_features`.

The parts: :mod:`~adl.features.config` (what is computed),
:mod:`~adl.features.keys` (cache keys and the staleness check),
:mod:`~adl.features.video_stages` (per-video computations),
:mod:`~adl.features.fold_fit` (per-fold fits), :mod:`~adl.features.cache_reader`
(reading back); this module orchestrates them.

Stages and their cache entries (see :mod:`adl.features.store`)::

    skeleton   per video   prepared LSTM input (T, J*3), 2D joints, frame ids
    f1_video   per video   frame descriptors (T', 5, d) float16, pooled (5, 4d), frame norms
    f2_raw     per video   raw IDT descriptors per type (float16, compressed)
    split      per fold    fit / validation / test row indices
    f1_fold    per fold    F1 matrix (n_videos, d1) + the fitted BodyPartSelector
    f2_fold    per fold    F2 Fisher vectors (n_videos, d2) + the fitted encoder
    f3_fold    per fold    F3 LSTM features (n_videos, d3) + the fitted LSTM

Each stage's key hashes its own configuration *and the digests of the stages
it reads*, so a changed value recomputes that stage and its dependants and
nothing else.  Per-video entries also record a fingerprint of their source
files (size and modification time); an entry whose source changed is
recomputed.

A family is computed only when every video of the dataset has its modality
(F1 and F2 need RGB, F3 needs a skeleton); a dataset without skeletons runs F1
on the full-image region only.  The families skipped are reported.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from adl.data.atomic import atomic_write_joblib, atomic_write_text
from adl.data.errors import AdlError
from adl.data.protocols import make_folds, validation_split
from adl.data.record import VideoRecord
from adl.data.registry import load_records

from .cache_reader import INDEX_NAME, load_fold_features, read_index
from .config import FeaturesConfig, FisherConfig
from .fold_fit import FIT_FOLD, FoldFitInput, check_validation_split, needs_validation
from .keys import PIPELINE_VERSION, Stages, inputs_digest, is_current, source_fingerprint
from .environment import environment_record
from .store import FeatureStore, StageKey
from .video_stages import F1VideoComputer, compute_f2_entry, compute_skeleton_entry

__all__ = ["FeaturesConfig", "FeaturesSummary", "FisherConfig", "INDEX_NAME", "PIPELINE_VERSION",
           "load_fold_features", "read_index", "run_features"]


@dataclass
class FeaturesSummary:
    """What :func:`run_features` did.

    Attributes
    ----------
    dataset : str
    n_videos : int
    folds : list of str
    families : list of str
        The families computed.
    skipped : dict str -> str
        Families left out, with the reason.
    computed : dict str -> int
        Entries computed per stage (0: everything was current).
    seconds : float
    index : Path
        The ``index.json`` written.
    """

    dataset: str
    n_videos: int
    folds: List[str]
    families: List[str]
    skipped: Dict[str, str]
    computed: Dict[str, int]
    seconds: float
    index: Path


def _progress(iterable, desc: str, enabled: bool, total: Optional[int] = None):
    if not enabled:
        return iterable
    from tqdm import tqdm
    return tqdm(iterable, desc=desc, unit="video", total=total, leave=False, disable=None)


def _f2_worker(store: FeatureStore, key: StageKey, record: VideoRecord, cfg) -> None:
    arrays, meta = compute_f2_entry(record, cfg)
    store.put(key, record.video_id, arrays, meta, compress=True)


def _run_parallel(worker, arg_tuples, jobs: int, scheduler: Optional[str], progress: bool,
                  desc: str) -> None:
    if not arg_tuples:
        return
    if jobs <= 1 and scheduler is None:
        for args in _progress(arg_tuples, desc, progress):
            worker(*args)
        return
    from joblib import Parallel, delayed, parallel_backend
    calls = (delayed(worker)(*args) for args in _progress(arg_tuples, desc, progress))
    if scheduler is not None:
        try:
            from distributed import Client
        except ImportError as exc:
            raise AdlError("--scheduler needs the 'distributed' extra: pip install 'adl[distributed]'") from exc
        with Client(scheduler), parallel_backend("dask"):
            Parallel()(calls)
    else:
        Parallel(n_jobs=jobs)(calls)


def _families(cfg: FeaturesConfig, records: Sequence[VideoRecord], root,
              log: Callable[[str], None]) -> Tuple[List[str], Dict[str, str], bool]:
    """The families computable on ``records`` (F1 and F2 need RGB, F3 a
    skeleton, on every video), the ones skipped with why, and whether F1 runs
    on the full image only (no skeletons)."""
    has_rgb = all(r.has_rgb for r in records)
    has_skel = all(r.has_skeleton for r in records)
    skipped: Dict[str, str] = {}
    families = []
    for fam in cfg.families:
        if fam in ("f1", "f2") and not has_rgb:
            n = sum(not r.has_rgb for r in records)
            skipped[fam] = f"{n} of {len(records)} videos have no RGB"
        elif fam == "f3" and not has_skel:
            n = sum(not r.has_skeleton for r in records)
            skipped[fam] = f"{n} of {len(records)} videos have no skeleton"
        else:
            families.append(fam)
    if not families:
        raise AdlError(f"{root}: nothing to compute: {'; '.join(f'{k}: {v}' for k, v in skipped.items())}")
    for fam, why in skipped.items():
        log(f"skipping {fam}: {why}")
    rgb_only = "f1" in families and not has_skel
    if rgb_only:
        log("no skeletons: F1 uses the full-image region only")
    return families, skipped, rgb_only


def _video_stages(store: FeatureStore, stages: Stages, records: Sequence[VideoRecord],
                  sources: Sequence[str], cfg: FeaturesConfig, families: Sequence[str],
                  rgb_only: bool, jobs: int, scheduler: Optional[str], progress: bool
                  ) -> Dict[str, int]:
    """Compute the stale per-video entries; the count per stage."""
    computed = {}

    def stale(key):
        return [r for r, fp in zip(records, sources)
                if not is_current(store, key, r.video_id, source=fp)]

    need_skel = all(r.has_skeleton for r in records) and ("f3" in families or "f1" in families)
    if need_skel:
        todo = stale(stages.skeleton)
        for r in _progress(todo, "skeletons", progress):
            arrays, meta = compute_skeleton_entry(r, cfg)
            store.put(stages.skeleton, r.video_id, arrays, meta)
        computed["skeleton"] = len(todo)
    if "f1" in families:
        todo = stale(stages.f1_video)
        if todo:
            computer = F1VideoComputer(cfg.f1, rgb_only)
            for r in _progress(todo, "F1 frames", progress):
                skel = store.get(stages.skeleton, r.video_id) if need_skel else None
                arrays, meta = computer(r, skel)
                store.put(stages.f1_video, r.video_id, arrays, meta)
        computed["f1_video"] = len(todo)
    if "f2" in families:
        todo = stale(stages.f2_raw)
        _run_parallel(_f2_worker, [(store, stages.f2_raw, r, cfg.f2) for r in todo], jobs,
                      scheduler, progress, "F2 trajectories")
        computed["f2_raw"] = len(todo)
    return computed


def _write_splits(store: FeatureStore, stages: Stages, records: Sequence[VideoRecord], folds,
                  labels: np.ndarray, split_groups: Optional[np.ndarray],
                  cfg: FeaturesConfig) -> None:
    """The fit / validation / test rows of every fold whose split is stale."""
    split_inputs = inputs_digest(records)
    for fold in folds:
        if is_current(store, stages.split, fold.name, inputs=split_inputs):
            continue
        train, test = fold.split(records)
        fit_pos, val_pos = validation_split(labels[train], cfg.val_fraction, seed=cfg.seed,
                                            split_groups=None if split_groups is None
                                            else split_groups[train])
        if val_pos.size == 0 and np.unique(labels[train]).size < train.size:
            raise AdlError(f"fold {fold.name}: the split groups of the training videos "
                           f"leave no video for the validation split (every class of "
                           f"the training subjects has its videos in one group); give "
                           f"each class several groups, or drop the group column")
        store.put(stages.split, fold.name,
                  {"fit_idx": train[fit_pos], "val_idx": train[val_pos], "test_idx": test},
                  {"test_subjects": list(fold.test_subjects),
                   "train_subjects": list(fold.train_subjects), "inputs": split_inputs})


def run_features(dataset: str, root, cache, config: Optional[FeaturesConfig] = None, *,
                 jobs: int = 1, reader_options: Optional[dict] = None, progress: bool = True,
                 log: Callable[[str], None] = print, scheduler: Optional[str] = None
                 ) -> FeaturesSummary:
    """Compute (or resume) every feature of ``dataset`` for every fold.

    Parameters
    ----------
    dataset : str
        Reader name (``cad120``...).
    root : path
        Dataset root in its native layout.
    cache : path
        Cache root; entries go to ``cache/<dataset>/``.
    config : FeaturesConfig
    jobs : int
        Parallel workers for per-video F2 extraction (joblib processes).
    reader_options : dict, optional
        Passed to the reader (``media_root`` for manifests).
    progress : bool
        Progress bars on stderr.
    log : callable
        Receives the one-line messages for the user (families skipped, GMMs
        stopped by their iteration limit).
    scheduler : str, optional
        Address of a Dask scheduler: per-video F2 work runs on that cluster
        (needs the ``distributed`` extra).

    Returns
    -------
    FeaturesSummary

    Raises
    ------
    AdlError
        No video, nothing computable, or a fold whose training videos leave
        nothing for the validation split.
    """
    t0 = time.perf_counter()
    cfg = config or FeaturesConfig()
    records = load_records(dataset, root, **(reader_options or {}))
    if not records:
        raise AdlError(f"{root}: no video found for dataset {dataset}")
    store = FeatureStore(cache, dataset)
    families, skipped, rgb_only = _families(cfg, records, root, log)
    stages = Stages(dataset, cfg, records, rgb_only)
    sources = [source_fingerprint(r) for r in records]   # a folder of frames: one scan each

    # -- fold-independent, per video -----------------------------------------------------
    computed = _video_stages(store, stages, records, sources, cfg, families, rgb_only, jobs,
                             scheduler, progress)

    # -- per fold -----------------------------------------------------------------------------
    folds = make_folds(records, cfg.protocol, cfg.train_subjects)
    labels = np.array([r.label for r in records])
    split_groups = (np.array([r.split_group for r in records]) if any(r.group for r in records)
                    else None)
    _write_splits(store, stages, records, folds, labels, split_groups, cfg)
    fit_inputs = inputs_digest(records, sources)
    todo = [(fold, [fam for fam in families
                    if not is_current(store, stages.fold_key(fam), fold.name, inputs=fit_inputs)])
            for fold in folds]
    splits = {fold.name: store.get(stages.split, fold.name, mmap=False)
              for fold, fams in todo if fams}
    for fold, fams in todo:                  # every fold checked before any fit
        if fams and needs_validation(cfg, fams, rgb_only):
            check_validation_split(fold.name, labels, splits[fold.name])
    n_fold = {f: 0 for f in families}
    for fold, fams in _progress(todo, "folds", progress):
        for fam in fams:
            key = stages.fold_key(fam)
            result = FIT_FOLD[fam](FoldFitInput(
                store=store, stages=stages, records=records, labels=labels,
                split=splits[fold.name], cfg=cfg, rgb_only=rgb_only, fold=fold.name,
                n_jobs=max(1, int(jobs)), log=log))
            atomic_write_joblib(store.stage_dir(key) / f"{fold.name}.model.joblib", result.model)
            store.put(key, fold.name, {"X": result.X}, dict(result.info, inputs=fit_inputs))
            n_fold[fam] += 1
    computed.update({f"{f}_fold": n for f, n in n_fold.items()})

    index = {
        "dataset": dataset, "version": PIPELINE_VERSION, "root": str(Path(root).resolve()),
        "protocol": cfg.protocol if not cfg.train_subjects else "train-subjects",
        "families": families, "skipped": skipped,
        "video_ids": [r.video_id for r in records], "labels": labels.tolist(),
        "subjects": [r.subject for r in records],
        "split_groups": None if split_groups is None else split_groups.tolist(),
        "environment": environment_record(),
        "classes": sorted(set(labels.tolist())),
        "folds": [f.name for f in folds],
        "stages": stages.manifests(),
        "config": cfg.to_dict(),
        "inputs": fit_inputs,
    }
    index_path = Path(cache) / dataset / INDEX_NAME
    atomic_write_text(index_path, json.dumps(index, indent=1, sort_keys=True))
    store.cleanup_temp()
    return FeaturesSummary(dataset, len(records), [f.name for f in folds], families, skipped,
                           computed, time.perf_counter() - t0, index_path)
