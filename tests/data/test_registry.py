"""The dataset registry is the one list of datasets: the CLI's choices come
from it, and `adl datasets` documents every manifest column."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from adl.cli.main import DATASET_NAMES, main
from adl.data.manifest import COLUMNS
from adl.data.registry import DATASETS, get_dataset


def test_cli_dataset_choices_are_the_registry():
    assert DATASET_NAMES == tuple(DATASETS)


def test_adl_datasets_names_every_manifest_column():
    out = CliRunner().invoke(main, ["datasets"]).output
    manifest_text = out[out.index("manifest:"):]
    for column in COLUMNS:
        assert re.search(rf"\b{column}\b", manifest_text), column


def test_unknown_dataset_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown dataset 'ntu'; expected one of cad60"):
        get_dataset("ntu")
