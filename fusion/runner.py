"""Protocol runner: two-level fusion and action-pair memory on every fold.

For each :class:`features.folds.FoldFeatures` everything is fitted on the
fold's training subjects (``fit_idx`` + ``val_idx``) only: the ablation SVMs
of Table 3.2, clf1 / clf2, alpha, epsilon ("auto") and the pair memory.  The
test rows are only ever predicted.  Results go to ``OUT/report.json``,
``OUT/details.json``, ``OUT/report.md`` and two confusion-matrix PNGs.

Every setting comes from one :class:`fusion.config.FusionConfig`, passed
down ``run_fusion(folds, out, config)`` -> ``fuse_fold(fold, config)`` and
written into ``report.json``.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from adl.features.folds import FAMILIES, FoldFeatures

from adl.data.protocols import DEFAULT_VALIDATION_FRACTION

from .config import FusionConfig, family_order
from adl.features.environment import environment_record
from .feature_bank import FeatureBank
from .model_io import FusionModel, save_model as _save_model
from .model_selection import make_splits
from .pairs import ActionPairMemory, default_epsilon
from .report import ACCURACY_KEYS, build_report, write_outputs
from .svm import FamilySVM
from .two_level import TwoLevelFusion

#: Ablation columns of Table 3.2: key -> families of a single linear SVM.
ABLATIONS = {
    "f1": ("f1",),
    "f2": ("f2",),
    "f3": ("f3",),
    "early_f1f2": ("f1", "f2"),
    "early_all": ("f1", "f2", "f3"),
}


@dataclass
class FoldResult:
    """What one fold produced (accuracies in percent, None when not computable)."""

    fold: str
    test_subjects: List[str]
    n_test: int
    alpha: Optional[float]
    accuracy: Dict[str, Optional[float]]
    pairs: List[dict]
    details: dict
    y_true: np.ndarray
    pred_before: np.ndarray
    pred_after: np.ndarray
    model: Optional[FusionModel] = field(default=None, repr=False)


def _check_fold(fold: FoldFeatures) -> None:
    n = len(fold.labels)
    for name in ("fit_idx", "val_idx", "test_idx"):
        idx = np.asarray(getattr(fold, name))
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise ValueError(f"fold {fold.fold}: {name} must index the {n} videos, got values "
                             f"{idx.min()}..{idx.max()}")
    train = np.union1d(fold.fit_idx, fold.val_idx)
    overlap = np.intersect1d(train, fold.test_idx)
    if overlap.size:
        raise ValueError(f"fold {fold.fold}: {overlap.size} test rows are also training rows "
                         f"(e.g. video {fold.video_ids[overlap[0]]!r}); test must be disjoint")
    if len(fold.test_idx) == 0:
        raise ValueError(f"fold {fold.fold}: no test video")
    if len(fold.val_idx) == 0:
        raise ValueError(f"fold {fold.fold}: empty validation split; the fusion stage tunes C, "
                         "alpha and the pair memory on it")
    unknown = sorted(set(np.asarray(fold.labels).tolist()) - set(fold.classes))
    if unknown:
        raise ValueError(f"fold {fold.fold}: labels {unknown[:5]} are not in classes")


def _pct(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return 100.0 * float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def _check_config(config: Optional[FusionConfig]) -> FusionConfig:
    if config is None:
        return FusionConfig()
    if not isinstance(config, FusionConfig):
        raise TypeError(f"expected a FusionConfig, got {type(config).__name__}")
    return config


def fuse_fold(fold: FoldFeatures, config: Optional[FusionConfig] = None) -> FoldResult:
    """Run the ablation SVMs, the two-level fusion and the pair memory on one fold.

    Parameters
    ----------
    fold : FoldFeatures
    config : FusionConfig, optional
        Default ``FusionConfig()``.

    Returns
    -------
    FoldResult
    """
    config = _check_config(config)
    _check_fold(fold)
    use = [f for f in config.families if fold.features.get(f) is not None]
    if not use:
        raise ValueError(f"fold {fold.fold}: none of the families {config.families} has features "
                         f"(available: {fold.available() or 'none'})")
    # One BLAS thread by default: a fold is one n x n Gram matrix per family
    # and then thousands of tiny products and SVM fits.  Measured on 2 busy
    # cores, the CAD-120-sized Gram (120 x 109,056 Fisher vectors) took 0.03 s
    # on one thread and 0.55 s on two, and the whole fold 0.31 s against 0.83 s.
    with threadpool_limits(limits=config.blas_threads, user_api="blas"):
        bank = FeatureBank({f: fold.features[f] for f in use}).precompute_grams()
        return _fuse_fold(fold, bank, use, config)


def _fuse_fold(fold: FoldFeatures, bank: FeatureBank, use, config: FusionConfig) -> FoldResult:
    names = np.asarray(fold.classes)
    y = fold.y()
    train = np.union1d(fold.fit_idx, fold.val_idx).astype(np.int64)
    test = np.asarray(fold.test_idx, dtype=np.int64)
    val_pos = np.searchsorted(train, np.asarray(fold.val_idx, dtype=np.int64))
    tr_bank, te_bank = bank.take(train), bank.take(test)
    y_tr, y_te = y[train], y[test]
    common = dict(C_grid=config.C_grid, refit=config.refit, random_state=config.seed,
                  selection=config.selection, inner_folds=config.inner_folds)
    # one held-out scheme for every selection of the fold: the validation
    # split of the features stage, or inner folds grouped by training subject
    split_groups = None if fold.split_groups is None else np.asarray(fold.split_groups)[train]
    splits = make_splits(y_tr, config.selection, subjects=np.asarray(fold.subjects)[train],
                         split_groups=split_groups,
                         validation=val_pos if config.selection == "validation" else None,
                         inner_folds=config.inner_folds, seed=config.seed)

    accuracy: Dict[str, Optional[float]] = {k: None for k in ACCURACY_KEYS}
    chosen_C: Dict[str, float] = {}
    for key, fams in ABLATIONS.items():
        if all(f in use for f in fams):
            svm = FamilySVM(fams, **common).fit(tr_bank, y_tr, splits=splits)
            accuracy[key] = _pct(y_te, svm.predict(te_bank))
            chosen_C[key] = svm.C_

    fusion = TwoLevelFusion(alpha="search" if config.alpha_search else config.alpha,
                            calibration_cv=config.calibration_cv, **common
                            ).fit(tr_bank, y_tr, splits=splits)
    pred, scores = fusion.predict_with_scores(te_bank)
    accuracy["two_level"] = _pct(y_te, pred)

    eps_default = default_epsilon(fold.dataset)
    eps = eps_default if config.epsilon is None else config.epsilon
    memory = ActionPairMemory(epsilon=eps, fallback_epsilon=eps_default, **common)
    memory.fit(tr_bank, y_tr, splits=splits, val_pred=fusion.val_pred_)
    pred_after, _ = memory.refine(te_bank, pred, scores)
    accuracy["two_level_pairs"] = _pct(y_te, pred_after)

    pairs = [{"classes": [str(names[e.classes[0]]), str(names[e.classes[1]])],
              "score": e.score, "features": e.features_name} for e in memory.entries_]
    clfs = {"clf1": fusion.clf1_, "clf2": fusion.clf2_}
    details = {
        "fold": fold.fold,
        "mode": fusion.mode_,
        "families": list(use),
        "missing_families": [f for f in FAMILIES if f not in use],
        "C": chosen_C,
        "classifiers": {k: None if c is None else {
            "families": list(c.families_), "C": c.C_, "val_accuracy": 100.0 * c.val_accuracy_,
            "calibration": c.model_.calibration_} for k, c in clfs.items()},
        "alpha_source": None if fusion.alpha_ is None else config.alpha_mode,
        "val_accuracy_two_level": 100.0 * fusion.val_accuracy_,
        "epsilon": None if np.isinf(memory.epsilon_) else memory.epsilon_,
        "epsilon_source": ("dataset default" if config.epsilon is None
                           else memory.epsilon_source_),
        "pairs": [{"classes": [str(names[e.classes[0]]), str(names[e.classes[1]])],
                   "score": e.score, "features": e.features_name, "C": e.C,
                   "val_accuracy": 100.0 * e.val_accuracy} for e in memory.entries_],
        "skipped_pairs": [{"classes": [str(names[p[0]]), str(names[p[1]])], "score": s,
                           "reason": r} for p, s, r in memory.skipped_],
        "n_train": int(train.size), "n_val": int(splits.eval_pos.size),
        "selection": splits.description,
    }
    model = FusionModel(dataset=fold.dataset, fold=fold.fold, classes=tuple(fold.classes),
                        families=tuple(use), fusion=fusion, memory=memory,
                        info={"config": config.to_dict(), "selection": splits.description,
                              "epsilon": details["epsilon"],
                              # which fold transformers the features came from
                              "fold_entries": _fold_entries(fold, use)})
    return FoldResult(fold=fold.fold, test_subjects=[str(s) for s in fold.test_subjects],
                      n_test=int(test.size), alpha=fusion.alpha_, accuracy=accuracy, pairs=pairs,
                      details=details, y_true=names[y_te], pred_before=names[pred],
                      pred_after=names[pred_after], model=model)


def _fold_entries(fold: FoldFeatures, families) -> dict:
    """``{family: {"stage", "inputs"}}`` of the fold entries the features came from
    (checked by ``adl predict``); empty when the features carry no such record."""
    out = {}
    for fam in families:
        meta = fold.info.get(fam) if isinstance(fold.info, dict) else None
        if not isinstance(meta, dict) or "stage" not in meta:
            return {}
        out[fam] = {"stage": meta["stage"], "inputs": meta.get("inputs")}
    return out


def _protocol(folds: Sequence[FoldFeatures]) -> str:
    given = folds[0].info.get("protocol") if isinstance(folds[0].info, dict) else None
    if given:
        return str(given)
    tests = [tuple(f.test_subjects) for f in folds]
    if len(folds) >= 2 and all(len(t) == 1 for t in tests) and len(set(tests)) == len(tests):
        return "leave-one-subject-out"
    return "train/test subject split"


def _model_path(directory: Path, fold: str) -> Path:
    return directory / (re.sub(r"[^A-Za-z0-9_.-]+", "_", fold) + ".adlfusion")


def run_fusion(folds: Sequence[FoldFeatures], out_dir, config: Optional[FusionConfig] = None, *,
               save_model=None) -> dict:
    """Two-level fusion + action-pair memory on every fold; writes the reports.

    Parameters
    ----------
    folds : list of FoldFeatures
        One per fold of the protocol (same dataset and classes).
    out_dir : str or Path
        Receives ``report.json``, ``details.json``, ``report.md``,
        ``confusion_before_pairs.png`` and ``confusion_after_pairs.png``.
    config : FusionConfig, optional
        Every setting of the stage (default ``FusionConfig()``); written into
        ``report.json`` (``config``).
    save_model : None, True or path
        Directory receiving one model file per fold (``<fold>.adlfusion``);
        True = ``OUT/models``.

    Returns
    -------
    dict
        The content of ``report.json``: ``dataset``, ``protocol``, ``folds``,
        ``mean``, ``std``, ``seconds``, and ``config``, ``alpha_mode``
        (``"search"``, ``"fixed"``, or ``"none"`` when no fold fuses two
        classifiers) and ``environment`` (what shaped the numbers besides the
        data: ``features``, where the cached features were computed, as the
        cache's ``index.json`` records it (None for a cache written before adl
        0.2), and ``fusion``, this process; each
        :func:`adl.features.environment.environment_record`).
    """
    config = _check_config(config)
    t0 = time.perf_counter()
    folds = list(folds)
    if not folds:
        raise ValueError("expected at least one fold, got none")
    for f in folds:
        if not isinstance(f, FoldFeatures):
            raise TypeError(f"expected FoldFeatures, got {type(f).__name__}")
    if len({f.dataset for f in folds}) != 1 or len({tuple(f.classes) for f in folds}) != 1:
        raise ValueError("all folds must come from one dataset and share their classes")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = [fuse_fold(f, config) for f in folds]
    if save_model:
        model_dir = out / "models" if save_model is True else Path(save_model)
        for r in results:
            _save_model(_model_path(model_dir, r.fold), r.model)
    settings = {"alpha_search": config.alpha_search,
                "alpha": None if config.alpha_search else config.alpha,
                "families": list(config.families), "epsilon": config.epsilon,
                "default_epsilon": default_epsilon(folds[0].dataset), "seed": config.seed,
                "refit": config.refit, "C_grid": list(config.C_grid),
                "selection": config.selection, "inner_folds": config.inner_folds,
                "calibration_cv": config.calibration_cv}
    report, details = build_report(folds[0].dataset, _protocol(folds), results,
                                   tuple(folds[0].classes), settings)
    fused = any(r.details["mode"] == "two_level" for r in results)
    report["config"] = config.to_dict()
    report["alpha_mode"] = config.alpha_mode if fused else "none"
    report["environment"] = {"features": folds[0].environment, "fusion": environment_record()}
    write_outputs(out, report, details, results, tuple(folds[0].classes),
                  seconds_fn=lambda: time.perf_counter() - t0)
    return report


def synthetic_folds(*, dataset: str = "synthetic", n_classes: int = 6, n_subjects: int = 4,
                    videos_per_class: int = 3, dims: Optional[Dict[str, int]] = None,
                    noise: float = 1.0, confusable=((0, 1),), seed: int = 0,
                    dtype=np.float32) -> List[FoldFeatures]:
    """Random but class-structured leave-one-subject-out folds, for demos,
    tests and benchmarks of the fusion stage.

    Every family draws one centre per class; the classes of each pair in
    ``confusable`` share their F1 and F2 centres (only F3 tells them apart,
    the situation the two-level fusion and the pair memory address).  A video
    is ``centre + noise * N(0, I)`` per family; a family
    whose dimension is 0 or None is missing (``features[f] = None``).

    Parameters
    ----------
    dims : dict family -> int, default {"f1": 32, "f2": 48, "f3": 16}
    videos_per_class : int
        Videos of each class per subject.
    """
    from adl.data.protocols import validation_split

    dims = {"f1": 32, "f2": 48, "f3": 16} if dims is None else dims
    rng = np.random.default_rng(seed)
    classes = tuple(f"class_{c:02d}" for c in range(n_classes))
    subjects = [str(s + 1) for s in range(n_subjects)]
    y = np.repeat(np.arange(n_classes), n_subjects * videos_per_class)
    subj = np.tile(np.repeat(subjects, videos_per_class), n_classes)
    n = y.size
    features: Dict[str, Optional[np.ndarray]] = {}
    for fam in FAMILIES:
        d = dims.get(fam)
        if not d:
            features[fam] = None
            continue
        centres = rng.standard_normal((n_classes, d)).astype(dtype)
        if fam in ("f1", "f2"):
            for a, b in confusable:
                centres[b] = centres[a]
        X = rng.standard_normal((n, d), dtype=np.float32).astype(dtype, copy=False)
        X *= dtype(noise)
        X += centres[y]
        features[fam] = X
    video_ids = np.array([f"v{i:04d}" for i in range(n)])
    labels = np.array([classes[c] for c in y])
    folds = []
    for s in subjects:
        test = np.flatnonzero(subj == s)
        train = np.flatnonzero(subj != s)
        fit_rel, val_rel = validation_split(labels[train], DEFAULT_VALIDATION_FRACTION, seed)
        folds.append(FoldFeatures(
            dataset=dataset, fold=f"subject_{s}", test_subjects=(s,), video_ids=video_ids,
            labels=labels, subjects=subj, fit_idx=train[fit_rel], val_idx=train[val_rel],
            test_idx=test, features=dict(features), classes=classes,
            info={"protocol": "leave-one-subject-out", "synthetic": True}))
    return folds
