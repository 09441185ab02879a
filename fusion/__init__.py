"""Fusion stage (thesis ch. 3): two-level fusion, alpha search, action-pair
memory, the protocol runner, reports, plots and saved models.

Modules: ``config`` (FusionConfig, the stage's defaults), ``feature_bank``
(normalised families, Gram matrices), ``gram_svc`` (SVMs on Gram matrices),
``model_selection`` (held-out schemes, C search), ``calibration`` (Platt
scaling), ``svm`` (FamilySVM), ``two_level`` (Eq. 3.6, TwoLevelFusion),
``confusion``, ``pairs`` (action-pair memory), ``runner``, ``report``,
``plots``, ``model_io`` and ``predict``.

Importing this package is instant: the public names below are loaded from
their modules on first use (scikit-learn and matplotlib only then), and
nothing here ever imports torch.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    # config
    "FusionConfig": "config", "DEFAULT_C_GRID": "config", "DEFAULT_INNER_FOLDS": "config",
    "DEFAULT_CALIBRATION_CV": "config",
    # feature_bank
    "FeatureBank": "feature_bank", "l2_normalize_rows": "feature_bank",
    # model_selection
    "Splits": "model_selection", "make_splits": "model_selection", "select_C": "model_selection",
    "search_C": "model_selection",
    # calibration
    "CalibratedSVC": "calibration",
    # svm
    "FamilySVM": "svm",
    # two_level
    "TwoLevelFusion": "two_level", "alpha_search": "two_level", "alpha_accuracies": "two_level",
    "fuse_scores": "two_level", "DEFAULT_ALPHA_GRID": "two_level",
    # confusion
    "confusion_counts": "confusion", "normalized_confusion": "confusion",
    # pairs
    "ActionPairMemory": "pairs", "PairEntry": "pairs", "confused_pairs": "pairs",
    "feature_combinations": "pairs", "default_epsilon": "pairs", "DEFAULT_EPSILON": "pairs",
    # runner
    "run_fusion": "runner", "fuse_fold": "runner", "FoldResult": "runner",
    "synthetic_folds": "runner",
    # report
    "ACCURACY_KEYS": "report", "THESIS_ACCURACY": "report", "plot_confusion": "report",
    # plots
    "plot_tsne": "plots",
    # model_io
    "FusionModel": "model_io", "save_model": "model_io", "load_model": "model_io",
    "predict_video": "model_io", "ModelFileError": "model_io",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
