"""FusionConfig: defaults, validation, dict round trip, and the CLI built on it."""
import json

import pytest
from click.testing import CliRunner

from adl.fusion.config import DEFAULT_C_GRID, FusionConfig


def test_defaults_and_dict_round_trip():
    cfg = FusionConfig()
    assert cfg.alpha_search is False and cfg.alpha == 0.5 and cfg.alpha_mode == "fixed"
    assert cfg.families == ("f1", "f2", "f3") and cfg.C_grid == DEFAULT_C_GRID
    custom = FusionConfig(alpha_search=True, families=["f3", "f1"], epsilon="auto",
                          selection="validation", refit="fit", C_grid=[1, 10], seed=3)
    assert custom.families == ("f1", "f3") and custom.C_grid == (1.0, 10.0)
    assert custom.alpha_mode == "search"
    data = json.loads(json.dumps(custom.to_dict()))
    assert data["families"] == ["f1", "f3"] and data["epsilon"] == "auto"
    assert FusionConfig.from_dict(data) == custom
    assert FusionConfig.from_dict({"seed": 7}) == FusionConfig(seed=7)
    assert FusionConfig(epsilon=1).epsilon == 1.0


@pytest.mark.parametrize("kwargs, match", [
    (dict(alpha=1.5), r"alpha must be in \[0, 1\], got 1.5"),
    (dict(families="f1"), "sequence of family names, got the string 'f1'"),
    (dict(families=()), "at least one feature family"),
    (dict(families=("f1", "f4")), r"unknown feature families \['f4'\]"),
    (dict(epsilon="big"), "epsilon must be None, 'auto' or a number"),
    (dict(epsilon=2.5), r"epsilon must be in \[0, 2\]"),
    (dict(selection="loo"), "selection must be one of"),
    (dict(refit="all"), "refit must be one of"),
    (dict(refit="fit"), "refit='fit' applies to selection='validation' only"),
    (dict(inner_folds=1), "inner_folds must be an integer >= 2, got 1"),
    (dict(calibration_cv=2.5), "calibration_cv must be an integer >= 2, got 2.5"),
    (dict(C_grid=(1.0, 0.0)), "C_grid must be a non-empty sequence of finite values > 0"),
    (dict(C_grid=()), "C_grid must be a non-empty sequence"),
    (dict(blas_threads=0), "blas_threads must be None or an integer >= 1, got 0"),
])
def test_invalid_values(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        FusionConfig(**kwargs)


def test_from_dict_errors():
    with pytest.raises(TypeError, match="expected a mapping of FusionConfig fields, got list"):
        FusionConfig.from_dict([("seed", 1)])
    with pytest.raises(ValueError, match=r"unknown FusionConfig fields \['alpa'\]"):
        FusionConfig.from_dict({"alpa": 0.3})


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        FusionConfig().seed = 3


def test_fuse_help_takes_defaults_from_the_config():
    from adl.cli.main import main

    out = CliRunner().invoke(main, ["fuse", "--help"], terminal_width=200).output
    assert "%%" not in out and "20% of each class's training videos" in out
    assert "[default: 0.5]" in out and "[default: inner-cv]" in out and "[default: 5; x>=2]" in out
    assert "[default: f1,f2,f3]" in out


def test_cli_table_says_whether_alpha_was_searched():
    from adl.cli.main import format_table

    mean = {k: 50.0 for k in ("f1", "two_level")}
    base = {"dataset": "cad120", "protocol": "leave-one-subject-out", "mean": mean, "std": mean,
            "folds": [{"alpha": 0.5, "pairs": []}, {"alpha": 0.5, "pairs": []}]}
    fixed = format_table(dict(base, alpha_mode="fixed", config=FusionConfig().to_dict()))
    assert "alpha fixed at 0.50, not searched (--alpha-search searches it per fold)" in fixed
    assert "searched per fold:" not in fixed
    searched = dict(base, alpha_mode="search", config=FusionConfig(alpha_search=True).to_dict(),
                    folds=[{"alpha": 0.25, "pairs": []}, {"alpha": 0.7, "pairs": []}])
    assert "alpha searched per fold: 0.25, 0.70" in format_table(searched)
