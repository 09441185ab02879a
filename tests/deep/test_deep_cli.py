"""``adl deep train`` / ``adl deep evaluate`` end to end: a tiny synthetic
NTU-60 deep cache (3 subjects x 2 classes, I3D with random weights, clips of
8 frames at 32 px) with the I3D baseline on the cross-subject split, a
synthetic N-UCLA read from its skeletons with pose-lstm leave-one-subject-out,
the run names, and the one-line errors (checkpoint of another run, unknown
model, an option the model lacks, nothing to evaluate)."""
from __future__ import annotations

import json
from dataclasses import fields

import pytest
from click.testing import CliRunner

from adl.cli.deep_cmds import TRAIN_HELP_DEFAULTS, model_options, run_name
from adl.cli.main import main
from adl.deep.models.base import list_models
from adl.deep.train import TrainConfig

CPU = ("--device", "cpu")


@pytest.fixture(scope="module")
def ntu_cache(tmp_path_factory, tiny_ntu_cache):
    return tiny_ntu_cache(tmp_path_factory.mktemp("deep_cli"))


@pytest.fixture(scope="module")
def nucla_root(tmp_path_factory):
    from adl.data.synth import generate
    root = tmp_path_factory.mktemp("deep_cli_nucla") / "nucla"
    generate("nucla", root, subjects=3, frames=12, image_size=(64, 48), videos_per_class=1)
    return root


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def ntu_args(cmd, cache, out, *extra):
    return ("deep", cmd, "--model", "i3d", "--dataset", "ntu60", "--protocol", "xsub",
            "--cache", cache, "--out", out, *CPU, *extra)


@pytest.fixture(scope="module")
def i3d_run(ntu_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    done = invoke(*ntu_args("train", ntu_cache, out, "--epochs", "2", "--batch-size", "4"))
    return out, done


def test_train_then_evaluate_on_a_deep_cache(i3d_run, ntu_cache):
    out, done = i3d_run
    assert done.exit_code == 0, done.output
    lines = done.output.strip().splitlines()
    assert [l.split(" epoch ")[1].split()[0] for l in lines[:2]] == ["1/2", "2/2"]
    assert lines[-1] == f"trained 1 split(s) of xsub into {out / 'i3d'}"
    assert (out / "i3d" / "best.pt").is_file() and (out / "i3d" / "checkpoint.pt").is_file()
    ev = invoke(*ntu_args("evaluate", ntu_cache, out))
    assert ev.exit_code == 0, ev.output
    first, second = ev.output.strip().splitlines()
    assert first.startswith("i3d on ntu60 xsub: top1 ") and "mean class accuracy" in first
    assert "(2 test videos)" in first                   # subject 3 is a test subject of xsub
    assert second == f"report: {out / 'i3d' / 'report.json'}"
    report = json.loads((out / "i3d" / "report.json").read_text())
    assert set(report) >= {"model", "dataset", "protocol", "top1", "mean_class_accuracy",
                           "per_class", "config", "n_test_videos", "seconds"}
    assert (report["model"], report["dataset"], report["protocol"]) == ("i3d", "ntu60", "xsub")
    assert 0 <= report["top1"] <= 100 and 0 <= report["mean_class_accuracy"] <= 100
    assert set(report["per_class"]) == {"drink water", "pickup"}
    assert report["config"]["train"]["epochs"] == 2 and report["config"]["train"]["lr"] == 0.01
    assert report["config"]["model"]["feature_dim"] == 1024
    assert (out / "i3d" / "scores.npz").is_file() and (out / "i3d" / "confusion.png").is_file()


def test_a_checkpoint_of_other_options_is_refused(i3d_run, ntu_cache):
    out, _ = i3d_run
    again = invoke(*ntu_args("train", ntu_cache, out, "--epochs", "2", "--batch-size", "4",
                             "--lr", "0.001"))
    assert again.exit_code == 2
    assert "checkpoint.pt belongs to another run" in again.output
    assert "train_config.lr: 0.01 in the file, 0.001 here" in again.output


def test_pose_only_loso_from_the_skeletons(nucla_root, tmp_path):
    args = ("--model", "pose-lstm", "--units", "8", "--dataset", "nucla", "--protocol", "loso",
            "--root", nucla_root, "--cache", tmp_path / "no-cache", "--out", tmp_path, *CPU)
    done = invoke("deep", "train", *args, "--epochs", "2", "--batch-size", "8")
    assert done.exit_code == 0, done.output
    run = tmp_path / "pose-lstm-u8"
    assert sorted(p.name for p in run.iterdir()) == ["subject_1", "subject_2", "subject_3"]
    ev = invoke("deep", "evaluate", *args)
    assert ev.exit_code == 0, ev.output
    report = json.loads((run / "report.json").read_text())
    assert report["n_test_videos"] == 36 and set(report["splits"]) == \
        {"subject_1", "subject_2", "subject_3"}
    assert report["config"]["model"]["lstm_units"] == 8


def test_an_unknown_model_lists_the_known_ones(tmp_path):
    done = invoke("deep", "train", "--model", "resnet", "--dataset", "ntu60", "--protocol",
                  "xsub", "--out", tmp_path)
    assert done.exit_code == 2
    assert "unknown model 'resnet'; expected one of " + ", ".join(list_models()) in done.output


def test_an_option_the_model_lacks_is_refused(tmp_path):
    done = invoke("deep", "train", "--model", "pose-lstm", "--coupler", "--dataset", "nucla",
                  "--protocol", "loso", "--out", tmp_path)
    assert done.exit_code == 2
    assert "model pose-lstm has no option --coupler (no field 'coupler' in PoseConfig" \
        in done.output


def test_evaluating_an_untrained_run_says_so(tmp_path):
    done = invoke("deep", "evaluate", "--model", "vpn", "--no-coupler", "--dataset", "ntu60",
                  "--protocol", "xsub", "--out", tmp_path)
    assert done.exit_code == 2
    assert f"no run folder {tmp_path / 'vpn-nocoupler'}; train it first" in done.output


def test_run_names_carry_the_non_default_options():
    _, config, suffix = model_options("vpn", "ntu60", pose_backbone="lstm", coupler=False)
    assert suffix == "-lstm-nocoupler"
    assert config["pose_backbone"] == "lstm" and config["coupler"] is False
    # the defaults given explicitly name the same run
    assert model_options("vpn", "ntu60", pose_backbone="gcn", coupler=True,
                         embedding="l2")[2] == ""
    assert model_options("sep-sta", "ntu60", variant="ta")[2] == "-ta"
    # LSTM units default per dataset (thesis 4.6.1): 512 on NTU, 128 on N-UCLA
    assert model_options("pose-lstm", "nucla")[1] == {"lstm_units": 128}
    assert model_options("pose-lstm", "ntu60", units=512)[1:] == ({"lstm_units": 512}, "")
    assert model_options("pose-lstm", "ntu60", units=64)[2] == "-u64"
    assert model_options("vpn", "ntu60", embedding="kl")[2] == "-kl"
    assert run_name("vpn", "-kl", 0) == "vpn-kl" and run_name("i3d", "", 2) == "i3d-seed2"


def test_the_help_shows_the_train_config_defaults():
    defaults = TrainConfig()
    assert TRAIN_HELP_DEFAULTS == {f: getattr(defaults, f) for f in TRAIN_HELP_DEFAULTS}
    assert set(TRAIN_HELP_DEFAULTS) <= {f.name for f in fields(TrainConfig)}
    done = invoke("deep", "train", "--help")
    assert "default 30" in done.output and "default 0.01" in done.output
