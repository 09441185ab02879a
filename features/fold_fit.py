"""The per-fold fits of the features stage (thesis section 3.3.1): each family's
transformer is fitted on one fold's training subjects only, then describes
every video of the dataset.

* F1: :class:`~adl.features.f1.BodyPartSelector` (normalisation and the best
  body part, scored on the validation split);
* F2: :class:`~adl.features.fisher.FisherVectorEncoder` (PCA + GMM per
  descriptor type, on the fit and validation videos);
* F3: :class:`~adl.features.f3.SkeletonLSTM` (trained on the fit videos,
  early-stopped on the validation ones).

Every fit takes one :class:`FoldFitInput` and returns a :class:`FoldFit`;
:data:`FIT_FOLD` maps a family to its fit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Mapping, Sequence

import numpy as np

from adl.data.errors import AdlError
from adl.data.record import VideoRecord

from .config import FeaturesConfig
from .keys import Stages
from .store import FeatureStore
from .video_stages import f2_encoder_input


@dataclass(frozen=True)
class FoldFitInput:
    """Everything one fold's fits read.

    Attributes
    ----------
    store : FeatureStore
        Holds the per-video entries.
    stages : Stages
        The keys of this configuration.
    records : sequence of VideoRecord
        Every video of the dataset (rows of the output matrices).
    labels : ndarray, shape (n_videos,)
    split : mapping
        The fold's ``fit_idx``, ``val_idx`` and ``test_idx`` (row indices).
    cfg : FeaturesConfig
    rgb_only : bool
        F1 on the full image only (no skeletons).
    fold : str
        The fold's name (messages).
    n_jobs : int
        Threads of the Fisher encoder's fit.
    log : callable
        Where a fit reports what a user should know (one line each).
    """

    store: FeatureStore
    stages: Stages
    records: Sequence[VideoRecord]
    labels: np.ndarray
    split: Mapping[str, np.ndarray]
    cfg: FeaturesConfig
    rgb_only: bool
    fold: str
    n_jobs: int = 1
    log: Callable[[str], None] = print

    @property
    def train_idx(self) -> np.ndarray:
        """The fit rows, then the validation rows."""
        return np.concatenate([self.split["fit_idx"], self.split["val_idx"]])


@dataclass(frozen=True)
class FoldFit:
    """One family's result for one fold.

    Attributes
    ----------
    X : ndarray, shape (n_videos, d), float32
        The family's features of every video.
    info : dict
        JSON-ready metadata of the fit (kept with the entry).
    model : estimator
        The fitted transformer (saved beside the entry).
    """

    X: np.ndarray
    info: dict
    model: object


def needs_validation(cfg: FeaturesConfig, families: Sequence[str], rgb_only: bool) -> bool:
    """Whether a fit of ``families`` uses the validation split (F1's part
    selection with skeletons, F3's early stopping)."""
    return "f3" in families or ("f1" in families and not rgb_only)


def check_validation_split(fold: str, labels: np.ndarray, split: Mapping[str, np.ndarray]) -> None:
    """Refuse a fold whose training videos leave nothing for the validation split.

    :func:`adl.data.protocols.validation_split` gives a class validation
    videos only when it has at least 2 training videos; when no class has,
    the fits that need validation data would fail inside scikit-learn or
    torch.

    Raises
    ------
    AdlError
        Naming the fold, a class with a single training video and the number
        of videos needed.
    """
    if np.asarray(split["val_idx"]).size:
        return
    fit_labels = np.asarray(labels)[np.asarray(split["fit_idx"])]
    classes, counts = np.unique(fit_labels, return_counts=True)
    if not classes.size:
        raise AdlError(f"fold {fold}: no training video; the fold needs at least 2 videos of "
                       f"each class in its training subjects")
    few = sorted((str(c) for c, n in zip(classes, counts) if n < 2)) or sorted(map(str, classes))
    raise AdlError(f"fold {fold}: its training subjects have 1 video of class {few[0]!r} "
                   f"({len(few)} of {classes.size} classes have one), so nothing is left for "
                   f"the validation split: each class needs at least 2 videos in the training "
                   f"subjects of every fold (use more videos or subjects)")


def fit_f1(inp: FoldFitInput) -> FoldFit:
    """F1 of one fold: pooled body-part descriptors normalised and the best
    part kept (thesis section 3.3.1, Eq. 3.1-3.4)."""
    from .body_parts import PART_NAMES
    from .f1 import BodyPartSelector
    cfg, labels, split = inp.cfg, inp.labels, inp.split
    entries = [inp.store.get(inp.stages.f1_video, r.video_id) for r in inp.records]
    pooled = np.stack([np.asarray(e["pooled"]) for e in entries])          # (n, 5, 4d)
    norms = np.stack([np.asarray(e["frame_norms"]) for e in entries])      # (n, 5)
    n_frames = np.array([int(e["n_frames"]) for e in entries])
    if inp.rgb_only:  # all five "parts" are the full image: keep one copy
        full = PART_NAMES.index("full_image")
        pooled = np.repeat(pooled[:, full:full + 1], len(PART_NAMES), axis=1)
    fit, val = split["fit_idx"], split["val_idx"]
    sel = BodyPartSelector(select="all" if inp.rgb_only else cfg.f1.select, C=cfg.f1.svm_C,
                           random_state=cfg.seed)
    if inp.rgb_only:
        train = inp.train_idx
        sel.fit(pooled[train], labels[train], frame_norms=norms[train], n_frames=n_frames[train])
        X = sel.transform(pooled)[:, : pooled.shape[2]]
        info = {"selected_part": "full_image", "rgb_only": True}
    else:
        sel.fit(pooled[fit], labels[fit], pooled[val], labels[val],
                frame_norms=norms[fit], n_frames=n_frames[fit])
        X = sel.transform(pooled)
        info = {"selected_part": sel.selected_part_,
                "part_scores": [None if not np.isfinite(s) else float(s) for s in sel.part_scores_]}
    return FoldFit(X.astype(np.float32), info, sel)


def fit_f2(inp: FoldFitInput) -> FoldFit:
    """F2 of one fold: Fisher vectors of the raw descriptors under PCA + GMM
    fitted on the fold's training videos (thesis section 3.3.1, [137]).

    A GMM stopped by ``max_iter`` before its tolerance is reported once
    through ``inp.log`` (and recorded in the entry's ``gmm_converged``)."""
    from threadpoolctl import threadpool_limits

    from .fisher import FisherVectorEncoder
    cfg, records = inp.cfg, inp.records
    per_video = [f2_encoder_input(inp.store.get(inp.stages.f2_raw, r.video_id), cfg)
                 for r in records]
    types = list(per_video[0]) if per_video else []
    enc = FisherVectorEncoder(n_components=cfg.fisher.n_components,
                              pca_fraction=cfg.fisher.pca_fraction,
                              n_samples=cfg.fisher.n_samples, random_state=cfg.seed,
                              max_iter=cfg.fisher.max_iter, gmm_backend=cfg.fisher.gmm_backend,
                              # every core: the model does not depend on the thread count
                              n_jobs=-1 if cfg.fisher.gmm_backend == "adl" else inp.n_jobs)
    # multi-threaded BLAS is pathologically slow for these small PCA/GMM
    # products on a busy 2-core machine; one thread is faster and deterministic
    with threadpool_limits(1):
        enc.fit([per_video[i] for i in inp.train_idx])
        X = enc.transform(per_video, video_ids=[r.video_id for r in records])
    capped = [t for t, ok in enc.converged_.items() if not ok]
    if capped:
        inp.log(f"fold {inp.fold}: F2's GMM of {', '.join(capped)} stopped at "
                f"{cfg.fisher.max_iter} EM iterations before meeting its tolerance (kept as "
                f"fitted; --gmm-iter raises the limit)")
    empty = [r.video_id for r, v in zip(records, per_video) if len(next(iter(v.values()))) == 0]
    return FoldFit(np.asarray(X, np.float32), {"types": types, "empty_videos": empty,
                                               "gmm_iterations": enc.n_iter_,
                                               "gmm_converged": enc.converged_}, enc)


def fit_f3(inp: FoldFitInput) -> FoldFit:
    """F3 of one fold: the stacked LSTM trained on the fold's fit videos,
    early-stopped on its validation videos (thesis section 3.3.1, Eq. 3.5);
    seeded by ``cfg.f3.seed`` (the value its cache key hashes)."""
    store, stages, records, labels = inp.store, inp.stages, inp.records, inp.labels
    seqs = [np.asarray(store.get(stages.skeleton, r.video_id)["sequence"]) for r in records]
    fit, val = inp.split["fit_idx"], inp.split["val_idx"]
    est = inp.cfg.f3.estimator(records[0].joint_layout if records else None)
    est.fit([seqs[i] for i in fit], labels[fit], [seqs[i] for i in val], labels[val])
    X = est.transform(seqs)
    info = {"epochs": int(getattr(est, "n_epochs_", 0) or 0)}
    return FoldFit(np.asarray(X, np.float32), info, est)


#: The fit of each family.
FIT_FOLD: Dict[str, Callable[[FoldFitInput], FoldFit]] = {"f1": fit_f1, "f2": fit_f2,
                                                          "f3": fit_f3}
