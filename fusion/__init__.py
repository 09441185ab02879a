"""Fusion stage (thesis ch. 3): two-level fusion, alpha search, action-pair
memory, the protocol runner, reports, plots and saved models.

Importing this package is instant: the public names below are loaded from
their modules on first use (scikit-learn and matplotlib only then), and
nothing here ever imports torch.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    # two_level
    "FeatureBank": "two_level", "FamilySVM": "two_level", "TwoLevelFusion": "two_level",
    "alpha_search": "two_level", "alpha_accuracies": "two_level", "fuse_scores": "two_level",
    "l2_normalize_rows": "two_level", "select_C": "two_level",
    "DEFAULT_C_GRID": "two_level", "DEFAULT_ALPHA_GRID": "two_level",
    # pairs
    "ActionPairMemory": "pairs", "PairEntry": "pairs", "confused_pairs": "pairs",
    "normalized_confusion": "pairs", "feature_combinations": "pairs",
    "default_epsilon": "pairs", "DEFAULT_EPSILON": "pairs",
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
        raise AttributeError(f"module 'fusion' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
