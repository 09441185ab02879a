"""The features stage: fold-independent per-video features, then per-fold
F1 / F2 / F3 matrices fitted on each fold's training subjects only.

``adl features`` (and ``make features DATASET=...``) calls :func:`run_features`;
``adl fuse`` reads the result back with :func:`load_fold_features`.

Stages and their cache entries (see :mod:`features.store`)::

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

import hashlib
import json
import os
import stat
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from adl.data.atomic import atomic_write_bytes
from adl.data.errors import AdlError, StoreError
from adl.data.protocols import make_folds, validation_split
from adl.data.record import VideoRecord
from adl.data.registry import load_records

from .f1 import F1Config
from .f2 import F2Config
from .f3 import F3Config
from .folds import FAMILIES, FoldFeatures
from .store import FeatureStore, StageKey

PIPELINE_VERSION = "1"
INDEX_NAME = "index.json"


@dataclass(frozen=True)
class FisherConfig:
    """Fisher-vector encoding of F2 (fitted per fold)."""

    n_components: int = 256
    pca_fraction: float = 0.5
    n_samples: int = 256_000
    #: EM iterations of each GMM (tolerance 1e-3 may stop it earlier).  The
    #: thesis does not say; 30 keeps a K = 256 fit on 256k descriptors to
    #: minutes per type on one core (scikit-learn's default, 100, took over
    #: 15 min per fold on BIISC).
    max_iter: int = 30
    #: Not in the thesis (default off): encode every video with its
    #: descriptors *and* their left-right mirror images
    #: (:func:`features.idt_descriptors.mirror_descriptors`), PCA and GMM fitted
    #: on both, so that a video and its mirror image get the same F2 (a
    #: left-handed subject looks like a right-handed one).
    mirror: bool = False


@dataclass(frozen=True)
class FeaturesConfig:
    """Everything that determines the features stage's output."""

    families: Tuple[str, ...] = FAMILIES
    f1: F1Config = field(default_factory=F1Config)
    f2: F2Config = field(default_factory=F2Config)
    f3: F3Config = field(default_factory=F3Config)
    fisher: FisherConfig = field(default_factory=FisherConfig)
    seed: int = 0
    val_fraction: float = 0.2
    protocol: str = "loso"
    train_subjects: Optional[Tuple[str, ...]] = None

    def __post_init__(self):
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown or not self.families:
            raise ValueError(f"unknown feature families {unknown or list(self.families)}; "
                             f"expected some of {', '.join(FAMILIES)}")


@dataclass
class FeaturesSummary:
    dataset: str
    n_videos: int
    folds: List[str]
    families: List[str]
    skipped: Dict[str, str]
    computed: Dict[str, int]
    seconds: float
    index: Path


# --------------------------------------------------------------------------- helpers
def source_fingerprint(record: VideoRecord) -> str:
    """What a video's per-video entries are computed from: size and mtime of
    its skeleton file and RGB source (for a folder of frames, of every file in
    it: frames rewritten in place leave the folder's own stat unchanged), and
    the record's camera, layout and frame pattern (the camera model places
    the body-part and person boxes, the layout the joints)."""
    parts = [f"camera={record.camera}", f"layout={record.layout}", f"glob={record.rgb_glob}"]
    for p in (record.skeleton, record.rgb):
        if p is None:
            parts.append("-")
            continue
        try:
            st = os.stat(p)
            parts.append(f"{p}:{st.st_size}:{st.st_mtime_ns}")
            if stat.S_ISDIR(st.st_mode):
                with os.scandir(p) as it:
                    files = sorted((e.name, e.stat(follow_symlinks=True)) for e in it
                                   if not e.name.startswith("."))
                parts.extend(f"{n}:{fs.st_size}:{fs.st_mtime_ns}" for n, fs in files)
        except OSError:
            parts.append(f"{p}:missing")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def f2_encoder_input(entry, cfg: "FeaturesConfig") -> Dict[str, np.ndarray]:
    """One video's raw F2 descriptors as the fold's Fisher encoder takes them
    (with ``cfg.fisher.mirror``, followed by their mirror images)."""
    from .idt_descriptors import mirror_descriptors
    types = [t for t in ("traj", "hog", "hof", "mbhx", "mbhy") if t in entry]
    d = {t: np.asarray(entry[t], np.float32) for t in types}
    if cfg.fisher.mirror:
        m = mirror_descriptors(d, n_xy_cells=cfg.f2.n_xy_cells, n_t_cells=cfg.f2.n_t_cells)
        d = {t: np.concatenate([d[t], m[t]]) for t in types}
    return d


def inputs_digest(records: Sequence[VideoRecord],
                  fingerprints: Optional[Sequence[str]] = None) -> str:
    """What a fold entry was computed from: every video's id, label, subject
    and split group if it has one (the split), and with ``fingerprints`` (one
    :func:`source_fingerprint` per record) their sources (the fits).

    Fold entries are keyed by configuration; this digest, kept in their
    metadata, makes a changed, added or removed video refit them.
    """
    h = hashlib.sha256()
    for i, r in enumerate(records):
        fp = fingerprints[i] if fingerprints is not None else ""
        group = f"\x00group={r.group}" if r.group else ""   # no group: the digest of old caches
        h.update(f"{r.video_id}\x00{r.label}\x00{r.subject}\x00{fp}{group}\n".encode())
    return h.hexdigest()[:16]


def _current(store: FeatureStore, key: StageKey, item: str, inputs: str) -> bool:
    """The entry exists and was computed from ``inputs``."""
    if not store.has(key, item):
        return False
    try:
        return store.get_meta(key, item).get("inputs") == inputs
    except StoreError:
        return False  # a corrupt entry is recomputed


def _frame_size(record: VideoRecord) -> Tuple[int, int]:
    from adl.data.video import FrameSource
    return FrameSource(record.rgb, record.rgb_glob).frame_size()


def _joints_2d_pixels(seq, record: VideoRecord, frame_size) -> Optional[np.ndarray]:
    """2D joints in the pixels of the actual RGB frames (the camera model's
    image size is rescaled to the frame size, e.g. for down-scaled data)."""
    from adl.data.geometry import get_camera
    if record.camera is None and seq.screen is None:
        return None
    cam = get_camera(record.camera) if record.camera else None
    uv = np.asarray(seq.screen if seq.screen is not None else cam.project(seq.joints), np.float64)
    if cam is not None and frame_size is not None:
        uv = uv * (np.asarray(frame_size, np.float64) / np.asarray(cam.image_size, np.float64))
    return uv.astype(np.float32)


class _Stages:
    """The stage keys of one configuration (digests chain dependencies)."""

    def __init__(self, dataset: str, cfg: FeaturesConfig, records: Sequence[VideoRecord],
                 rgb_only: bool):
        f1, f2, f3 = cfg.f1, cfg.f2, cfg.f3
        self.skeleton = StageKey("skeleton", {"dataset": dataset, **f3.sequence_key()},
                                 PIPELINE_VERSION)
        f1_cfg = {}
        if "f1" in cfg.families:
            from .cnn import describe_weights, resolve_precision
            # the weights' identity (file hash) and the precision actually used
            # ("auto" is bf16 on some CPUs and float32 on others) key the cache
            f1_cfg = {**f1.pool_key(), "weights": describe_weights(f1.backbone, f1.weights),
                      "precision": resolve_precision(f1.precision),
                      "batch_size": f1.batch_size, "channels_last": f1.channels_last}
        self.f1_video = StageKey("f1_video", {"dataset": dataset, "rgb_only": rgb_only, **f1_cfg},
                                 PIPELINE_VERSION)
        f2d = asdict(f2)
        f2d.pop("dtype")
        if f2d["max_width"] is None:    # frames at their own size: the key of older caches
            f2d.pop("max_width")
        self.f2_raw = StageKey("f2_raw", {"dataset": dataset, **f2d}, PIPELINE_VERSION)
        ids = hashlib.sha256("\n".join(f"{r.video_id},{r.label},{r.subject}" for r in records)
                             .encode()).hexdigest()[:16]
        self.split = StageKey("split", {"protocol": cfg.protocol,
                                        "train_subjects": list(cfg.train_subjects or []),
                                        "val_fraction": cfg.val_fraction, "seed": cfg.seed,
                                        "records": ids}, PIPELINE_VERSION)
        self.f1_fold = StageKey("f1_fold", {"f1_video": self.f1_video.digest,
                                            "split": self.split.digest, "select": f1.select,
                                            "svm_C": f1.svm_C, "seed": cfg.seed}, PIPELINE_VERSION)
        self.f2_fold = StageKey("f2_fold", {"f2_raw": self.f2_raw.digest, "split": self.split.digest,
                                            **asdict(cfg.fisher), "seed": cfg.seed},
                                PIPELINE_VERSION)
        f3d = asdict(f3)
        f3d.pop("per_frame")
        self.f3_fold = StageKey("f3_fold", {"skeleton": self.skeleton.digest,
                                            "split": self.split.digest, **f3d}, PIPELINE_VERSION)

    def fold_key(self, family: str) -> StageKey:
        return getattr(self, f"{family}_fold")


def _needs(store: FeatureStore, key: StageKey, item: str, fingerprint: Optional[str]) -> bool:
    if not store.has(key, item):
        return True
    if fingerprint is None:
        return False
    try:
        return store.get_meta(key, item).get("source") != fingerprint
    except StoreError:
        return True  # a corrupt entry is recomputed


def _atomic_dump(obj, path: Path) -> None:
    import io
    import joblib
    buf = io.BytesIO()
    joblib.dump(obj, buf)
    _atomic_bytes(buf.getvalue(), path)


def _atomic_text(text: str, path: Path) -> None:
    _atomic_bytes(text.encode(), path)


def _atomic_bytes(data: bytes, path: Path) -> None:
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise StoreError(f"could not write {path}: {exc.strerror or exc}") from exc


def _progress(iterable, desc: str, enabled: bool, total: Optional[int] = None):
    if not enabled:
        return iterable
    from tqdm import tqdm
    return tqdm(iterable, desc=desc, unit="video", total=total, leave=False, disable=None)


# --------------------------------------------------------------------------- per-video stages
def compute_skeleton_entry(record: VideoRecord, cfg: FeaturesConfig) -> Tuple[dict, dict]:
    """Prepared LSTM input and 2D joints of one video (stage ``skeleton``)."""
    from .f3 import prepare_sequence
    seq = record.load_skeleton()
    layout = record.joint_layout
    prepared = prepare_sequence(seq, layout, per_frame=cfg.f3.per_frame)
    frame_size = _frame_size(record) if record.has_rgb else None
    uv = _joints_2d_pixels(seq, record, frame_size)
    arrays = {"sequence": prepared, "frame_ids": np.asarray(seq.frame_ids, np.int64)}
    if uv is not None:
        arrays["joints_2d"] = uv
    meta = {"source": source_fingerprint(record), "frame_size": list(frame_size or ())}
    return arrays, meta


class _F1VideoComputer:
    """Frame descriptors and pooled descriptors of one video (stage ``f1_video``)."""

    def __init__(self, cfg: F1Config, rgb_only: bool, num_threads: Optional[int] = None):
        from .cnn import FrameDescriptorExtractor
        self.cfg = cfg
        self.rgb_only = rgb_only
        self.extractor = FrameDescriptorExtractor(
            cfg.backbone, cfg.weights, input_size=cfg.input_size, batch_size=cfg.batch_size,
            precision=cfg.precision, channels_last=cfg.channels_last,
            frame_stride=cfg.frame_stride, seed=cfg.seed, num_threads=num_threads)

    def __call__(self, record: VideoRecord, skeleton_entry: Optional[dict]) -> Tuple[dict, dict]:
        from adl.data.video import FrameSource
        from .body_parts import N_PARTS, part_boxes
        from .f1 import frame_norms, pool_video
        source = FrameSource(record.rgb, record.rgb_glob)
        width, height = source.frame_size()
        if not self.rgb_only and (skeleton_entry is None or "joints_2d" not in skeleton_entry):
            # full-image "parts" for this video only would be mixed with real crops
            why = ("has no skeleton" if skeleton_entry is None else
                   "has a skeleton that cannot be placed in the image (no camera model and no "
                   "2D joints)")
            raise AdlError(f"video {record.video_id!r} ({record.rgb}) {why}, while F1's body "
                           f"parts come from the skeletons of this dataset: give it a skeleton "
                           f"and a camera, or leave it out")
        if not self.rgb_only:
            boxes = part_boxes(skeleton_entry["joints_2d"], record.joint_layout, (width, height),
                               margin=self.cfg.margin, hand_size=self.cfg.hand_size)
            frame_ids = np.asarray(skeleton_entry["frame_ids"])
        else:
            # RGB-only: every part is the full image (the selector is told to
            # keep the full-image part only).
            n = len(source)
            boxes = np.tile(np.array([0, 0, width, height], np.float32), (n, N_PARTS, 1))
            frame_ids = np.arange(n)
        desc = self.extractor.extract(source, boxes, frame_ids)
        feats = desc.features
        arrays = {"pooled": pool_video(feats, delta=self.cfg.pool_delta).astype(np.float32),
                  "frame_norms": frame_norms(feats).astype(np.float32),
                  "n_frames": np.array(len(feats), np.int64),
                  "frames": feats.astype(np.float16),
                  "frame_indices": desc.frame_indices}
        return arrays, {"source": source_fingerprint(record)}


def compute_f2_entry(record: VideoRecord, cfg: F2Config) -> Tuple[dict, dict]:
    """Raw dense-trajectory descriptors of one video (stage ``f2_raw``)."""
    from .f2 import extract_f2
    out = extract_f2(record, replace(cfg, dtype="float16"))
    return out, {"source": source_fingerprint(record), "n_trajectories": int(len(out["positions"]))}


def _f2_worker(store: FeatureStore, key: StageKey, record: VideoRecord, cfg: F2Config) -> None:
    arrays, meta = compute_f2_entry(record, cfg)
    store.put(key, record.video_id, arrays, meta, compress=True)


# --------------------------------------------------------------------------- orchestration
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
    scheduler : str, optional
        Address of a Dask scheduler: per-video F2 work runs on that cluster
        (needs the ``distributed`` extra).
    """
    t0 = time.perf_counter()
    cfg = config or FeaturesConfig()
    records = load_records(dataset, root, **(reader_options or {}))
    if not records:
        raise AdlError(f"{root}: no video found for dataset {dataset}")
    store = FeatureStore(cache, dataset)
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
    stages = _Stages(dataset, cfg, records, rgb_only)
    computed = {}
    sources = [source_fingerprint(r) for r in records]   # a folder of frames: one scan each

    def stale(key):
        return [r for r, fp in zip(records, sources) if _needs(store, key, r.video_id, fp)]

    # -- fold-independent, per video -----------------------------------------------------
    need_skel = has_skel and ("f3" in families or "f1" in families)
    if need_skel:
        todo = stale(stages.skeleton)
        for r in _progress(todo, "skeletons", progress):
            arrays, meta = compute_skeleton_entry(r, cfg)
            store.put(stages.skeleton, r.video_id, arrays, meta)
        computed["skeleton"] = len(todo)

    if "f1" in families:
        todo = stale(stages.f1_video)
        if todo:
            computer = _F1VideoComputer(cfg.f1, rgb_only)
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

    # -- per fold -----------------------------------------------------------------------------
    folds = make_folds(records, cfg.protocol, cfg.train_subjects)
    labels = np.array([r.label for r in records])
    split_inputs = inputs_digest(records)
    split_groups = (np.array([r.split_group for r in records]) if any(r.group for r in records)
                    else None)
    fit_inputs = inputs_digest(records, sources)
    for fold in folds:
        if not _current(store, stages.split, fold.name, split_inputs):
            train, test = fold.split(records)
            fit_pos, val_pos = validation_split(labels[train], cfg.val_fraction, seed=cfg.seed,
                                                groups=None if split_groups is None
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
    n_fold = {f: 0 for f in families}
    for fold in _progress(folds, "folds", progress):
        split = store.get(stages.split, fold.name, mmap=False)
        for fam in families:
            key = stages.fold_key(fam)
            if _current(store, key, fold.name, fit_inputs):
                continue
            X, info, model = _FIT_FOLD[fam](store, stages, records, labels, split, cfg, rgb_only,
                                            max(1, int(jobs)))
            info = dict(info, inputs=fit_inputs)
            model_path = store.stage_dir(key) / f"{fold.name}.model.joblib"
            _atomic_dump(model, model_path)
            store.put(key, fold.name, {"X": X}, info)
            n_fold[fam] += 1
    computed.update({f"{f}_fold": n for f, n in n_fold.items()})

    index = {
        "dataset": dataset, "version": PIPELINE_VERSION, "root": str(Path(root).resolve()),
        "protocol": cfg.protocol if not cfg.train_subjects else "train-subjects",
        "families": families, "skipped": skipped,
        "video_ids": [r.video_id for r in records], "labels": labels.tolist(),
        "subjects": [r.subject for r in records],
        "groups": None if split_groups is None else split_groups.tolist(),
        "classes": sorted(set(labels.tolist())),
        "folds": [f.name for f in folds],
        "stages": {name: getattr(stages, name).manifest()
                   for name in ("split", "f1_fold", "f2_fold", "f3_fold", "skeleton", "f1_video",
                                "f2_raw")},
        "config": _config_dict(cfg),
        "inputs": fit_inputs,
    }
    index_path = Path(cache) / dataset / INDEX_NAME
    _atomic_text(json.dumps(index, indent=1, sort_keys=True), index_path)
    store.cleanup_temp()
    return FeaturesSummary(dataset, len(records), [f.name for f in folds], families, skipped,
                           computed, time.perf_counter() - t0, index_path)


def _config_dict(cfg: FeaturesConfig) -> dict:
    d = asdict(cfg)
    d["families"] = list(cfg.families)
    d["train_subjects"] = list(cfg.train_subjects or [])
    return d


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


# --------------------------------------------------------------------------- per-fold fits
def _fit_f1(store, stages, records, labels, split, cfg, rgb_only, fit_jobs=1):
    from .body_parts import PART_NAMES
    from .f1 import BodyPartSelector
    entries = [store.get(stages.f1_video, r.video_id) for r in records]
    pooled = np.stack([np.asarray(e["pooled"]) for e in entries])          # (n, 5, 4d)
    norms = np.stack([np.asarray(e["frame_norms"]) for e in entries])      # (n, 5)
    n_frames = np.array([int(e["n_frames"]) for e in entries])
    if rgb_only:  # all five "parts" are the full image: keep one copy
        full = PART_NAMES.index("full_image")
        pooled = np.repeat(pooled[:, full:full + 1], len(PART_NAMES), axis=1)
    fit, val = split["fit_idx"], split["val_idx"]
    sel = BodyPartSelector(select="all" if rgb_only else cfg.f1.select, C=cfg.f1.svm_C,
                           random_state=cfg.seed)
    if rgb_only:
        train = np.concatenate([fit, val])
        sel.fit(pooled[train], labels[train], frame_norms=norms[train], n_frames=n_frames[train])
        X = sel.transform(pooled)[:, : pooled.shape[2]]
        info = {"selected_part": "full_image", "rgb_only": True}
    else:
        sel.fit(pooled[fit], labels[fit], pooled[val], labels[val],
                frame_norms=norms[fit], n_frames=n_frames[fit])
        X = sel.transform(pooled)
        info = {"selected_part": sel.selected_part_,
                "part_scores": [None if not np.isfinite(s) else float(s) for s in sel.part_scores_]}
    return X.astype(np.float32), info, sel


def _fit_f2(store, stages, records, labels, split, cfg, rgb_only, fit_jobs=1):
    from .fisher import FisherVectorEncoder
    per_video = [f2_encoder_input(store.get(stages.f2_raw, r.video_id), cfg) for r in records]
    types = list(per_video[0]) if per_video else []
    train = np.concatenate([split["fit_idx"], split["val_idx"]])
    enc = FisherVectorEncoder(n_components=cfg.fisher.n_components,
                              pca_fraction=cfg.fisher.pca_fraction,
                              n_samples=cfg.fisher.n_samples, seed=cfg.seed,
                              max_iter=cfg.fisher.max_iter, n_jobs=fit_jobs)
    from threadpoolctl import threadpool_limits
    # multi-threaded BLAS is pathologically slow for these small PCA/GMM
    # products on a busy 2-core machine; one thread is faster and deterministic
    with threadpool_limits(1):
        enc.fit([per_video[i] for i in train])
        X = enc.transform(per_video, video_ids=[r.video_id for r in records])
    empty = [r.video_id for r, v in zip(records, per_video) if len(next(iter(v.values()))) == 0]
    return np.asarray(X, np.float32), {"types": types, "empty_videos": empty,
                                       "gmm_iterations": enc.n_iter_,
                                       "gmm_converged": enc.converged_}, enc


def _fit_f3(store, stages, records, labels, split, cfg, rgb_only, fit_jobs=1):
    seqs = [np.asarray(store.get(stages.skeleton, r.video_id)["sequence"]) for r in records]
    fit, val = split["fit_idx"], split["val_idx"]
    est = cfg.f3.estimator(records[0].joint_layout if records else None)
    est.set_params(seed=cfg.seed)
    est.fit([seqs[i] for i in fit], labels[fit], [seqs[i] for i in val], labels[val])
    X = est.transform(seqs)
    info = {"epochs": int(getattr(est, "n_epochs_", 0) or 0)}
    return np.asarray(X, np.float32), info, est


_FIT_FOLD = {"f1": _fit_f1, "f2": _fit_f2, "f3": _fit_f3}


# --------------------------------------------------------------------------- reading back
def read_index(cache, dataset: str) -> dict:
    path = Path(cache) / dataset / INDEX_NAME
    if not path.is_file():
        raise AdlError(f"{path}: no features for {dataset} in this cache; run "
                       f"`adl features --dataset {dataset} --cache {cache}` (or "
                       f"`make features DATASET={dataset}`) first")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path}: unreadable features index ({exc}); re-run adl features") from exc


def _key_from_manifest(m: dict) -> StageKey:
    return StageKey(m["stage"], m["config"], m["version"])


def load_fold_features(cache, dataset: str, families: Optional[Sequence[str]] = None
                       ) -> List[FoldFeatures]:
    """The per-fold feature matrices written by :func:`run_features`."""
    index = read_index(cache, dataset)
    store = FeatureStore(cache, dataset)
    fams = [f for f in index["families"] if families is None or f in families]
    missing = [f for f in (families or []) if f not in index["families"]]
    if missing:
        warnings.warn(f"features {missing} were not computed for {dataset}")
    split_key = _key_from_manifest(index["stages"]["split"])
    out = []
    for fold in index["folds"]:
        split = store.get(split_key, fold, mmap=False)
        meta = store.get_meta(split_key, fold)
        feats, info = {}, {}
        for fam in FAMILIES:
            if fam not in fams:
                feats[fam] = None
                continue
            key = _key_from_manifest(index["stages"][f"{fam}_fold"])
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
            groups=None if index.get("groups") is None else np.array(index["groups"]),
            fit_idx=np.asarray(split["fit_idx"]),
            val_idx=np.asarray(split["val_idx"]), test_idx=np.asarray(split["test_idx"]),
            features=feats, classes=tuple(index["classes"]), info=info))
    return out


def fold_model_path(cache, dataset: str, family: str, fold: str) -> Path:
    """Where the fitted per-fold transformer of ``family`` is saved."""
    index = read_index(cache, dataset)
    key = _key_from_manifest(index["stages"][f"{family}_fold"])
    return FeatureStore(cache, dataset).stage_dir(key) / f"{fold}.model.joblib"
