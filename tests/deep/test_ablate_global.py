"""``adl deep ablate`` tables, the Global Model's evaluation
(``adl deep evaluate --model global``) and the temporal model's options, on
a tiny synthetic NTU-60 deep cache (3 subjects x 2 classes, I3D with random
weights, clips of 8 frames at 32 px, granularities 1-3)."""
from __future__ import annotations

import json
from dataclasses import fields

import numpy as np
import pytest
from click.testing import CliRunner

from adl.cli.main import main
from adl.deep.ablate import TABLES, format_table, get_table, thesis_column
from adl.deep.models import get_model_spec

CPU = ("--device", "cpu")


@pytest.fixture(scope="module")
def cache(tmp_path_factory, tiny_ntu_cache):
    return tiny_ntu_cache(tmp_path_factory.mktemp("ablate"), granularities=(1, 2, 3))


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_every_table_row_names_a_model_and_fields_it_has():
    for number, table in TABLES.items():
        labels = [r.label for r in table.rows]
        assert len(set(labels)) == len(labels), number
        for row in table.rows:
            if row.model == "global":
                assert row.basic in labels and row.temporal_row in labels, (number, row.label)
                continue
            names = {f.name for f in fields(get_model_spec(row.model).config_cls)}
            assert set(dict(row.config)) <= names, (number, row.label)


def test_thesis_numbers_are_the_tables():
    t44 = {r.label: r.thesis for r in get_table("4.4").rows}
    assert t44["Separable STA"]["NTU-CS"] == 92.20 and t44["TA"]["Smarthome-CV1"] == 43.0
    t52 = {r.label: r.thesis for r in get_table("5.2").rows}
    assert t52["Global (VPN)"]["N-UCLA"] == 93.7 and "NTU120-CS1" not in t52["Global (P-I3D)"]
    assert thesis_column("ntu60", "xsub") == "NTU-CS"
    assert thesis_column("manifest", "loso") is None


def test_unknown_table_is_refused():
    with pytest.raises(ValueError, match="unknown table '4.9'"):
        get_table("4.9")


def test_format_table_puts_ours_beside_the_thesis():
    md = format_table({"table": "4.5", "title": "VPN components", "dataset": "ntu120",
                       "protocol": "xsub", "thesis_column": "NTU120-CS1", "notes": "n",
                       "rows": [{"label": "l1", "model": "i3d", "config": {}, "top1": 50.0,
                                 "mean_class_accuracy": 40.0, "thesis": 77.0},
                                {"label": "l2", "model": "vpn",
                                 "config": {"embedding": "none"}, "top1": 62.5,
                                 "mean_class_accuracy": 61.25, "thesis": None}]})
    assert "| l1 | i3d | 50.0 | 40.0 | 77.00 |" in md
    assert "| l2 | vpn (embedding=none) | 62.5 | 61.2 | - |" in md
    assert "thesis column: NTU120-CS1" in md


def test_global_evaluation_fuses_the_two_runs(cache, tmp_path):
    out = tmp_path / "runs"
    common = ("--dataset", "ntu60", "--protocol", "xsub", "--cache", cache, "--out", out, *CPU)
    done = invoke("deep", "train", "--model", "temporal", "--granularities", "2,3",
                  "--basic", "i3d", "--epochs", "2", "--batch-size", "4", *common)
    assert done.exit_code == 0, done.output
    assert (out / "temporal-g23" / "best.pt").is_file() and (out / "i3d" / "best.pt").is_file()
    ev = invoke("deep", "evaluate", "--model", "global", "--granularities", "2,3",
                "--basic", "i3d", *common)
    assert ev.exit_code == 0, ev.output
    report = json.loads((out / "global-i3d" / "report.json").read_text())
    assert report["model"] == "global" and report["config"]["fusion"]["mode"] == "product"
    # the fused scores are the renormalised product of the two runs' probabilities
    with np.load(out / "i3d" / "scores.npz") as b, np.load(out / "temporal-g23" / "scores.npz") \
            as t, np.load(out / "global-i3d" / "scores.npz") as g:
        expected = b["probs"] * t["probs"]
        expected /= expected.sum(1, keepdims=True)
        np.testing.assert_allclose(g["probs"], expected, rtol=1e-5, atol=1e-7)
        top1 = 100.0 * np.mean(expected.argmax(1) == g["labels"])
    assert report["top1"] == pytest.approx(top1)
    assert (out / "global-i3d" / "confusion.png").stat().st_size > 0


def test_global_needs_the_basic_run(cache, tmp_path):
    out = tmp_path / "runs"
    common = ("--dataset", "ntu60", "--protocol", "xsub", "--cache", cache, "--out", out, *CPU)
    done = invoke("deep", "train", "--model", "temporal", "--granularities", "2",
                  "--epochs", "1", "--batch-size", "4", *common)
    assert done.exit_code == 0, done.output
    ev = invoke("deep", "evaluate", "--model", "global", "--granularities", "2",
                "--basic", "vpn", *common)
    assert ev.exit_code != 0
    assert "no run folder" in ev.output and "vpn" in ev.output


def test_basic_goes_with_temporal_only(cache, tmp_path):
    done = invoke("deep", "train", "--model", "i3d", "--basic", "vpn", "--dataset", "ntu60",
                  "--protocol", "xsub", "--cache", cache, "--out", tmp_path, *CPU)
    assert done.exit_code != 0 and "--basic goes with --model temporal" in done.output


def test_ablate_writes_the_table_and_resumes(cache, tmp_path, monkeypatch):
    from adl.deep import ablate
    small = ablate.Table("4.5", "VPN components (test)", (
        ablate._r("l1 backbone (I3D)", "i3d", {"NTU-CS": 1.0}),
        ablate._r("l2 + attention", "vpn", {}, embedding="none")))
    monkeypatch.setitem(ablate.TABLES, "4.5", small)
    args = ("deep", "ablate", "--table", "4.5", "--dataset", "ntu60", "--protocol", "xsub",
            "--cache", cache, "--out", tmp_path, "--units", "4", "--epochs", "1", *CPU)
    done = invoke(*args)
    assert done.exit_code == 0, done.output
    md = (tmp_path / "table_4.5.md").read_text()
    assert "| l1 backbone (I3D) | i3d |" in md and "| 1.00 |" in md
    assert "| l2 + attention | vpn (embedding=none) |" in md
    result = json.loads((tmp_path / "table_4.5.json").read_text())
    assert [r["label"] for r in result["rows"]] == ["l1 backbone (I3D)", "l2 + attention"]
    assert all(0.0 <= r["top1"] <= 100.0 for r in result["rows"])
    # a second run reuses the finished runs: no epoch is trained again
    again = invoke(*args)
    assert again.exit_code == 0, again.output
    assert " epoch 1/1 " not in again.output
    assert json.loads((tmp_path / "table_4.5.json").read_text())["rows"][0]["top1"] == \
        result["rows"][0]["top1"]


def test_evaluate_draws_the_attention_figures(cache, tmp_path):
    common = ("--dataset", "ntu60", "--protocol", "xsub", "--cache", cache, "--out", tmp_path,
              *CPU)
    done = invoke("deep", "train", "--model", "p-i3d", "--units", "4", "--epochs", "1",
                  "--batch-size", "4", *common)
    assert done.exit_code == 0, done.output
    ev = invoke("deep", "evaluate", "--model", "p-i3d", "--units", "4", *common)
    assert ev.exit_code == 0, ev.output
    figure = tmp_path / "p-i3d-u4" / "figures" / "part_weights.png"
    assert figure.stat().st_size > 0
    assert f"attention figures: 1 PNG in {figure.parent}" in ev.output
    quiet = invoke("deep", "evaluate", "--model", "p-i3d", "--units", "4", "--no-figures",
                   *common)
    assert quiet.exit_code == 0 and "attention figures" not in quiet.output
