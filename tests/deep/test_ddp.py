"""``adl deep train`` under ``torchrun --nproc_per_node=2`` (DistributedDataParallel,
gloo on the CPU) against the same command in one process, on a synthetic
N-UCLA read from its skeletons (pose-lstm, the official v3_12 split).

The two runs are not bitwise equal: each process draws its own dropout masks
and the gradient of a global batch is averaged over two half batches in
another order.  What must hold: one process writes the files and logs each
epoch once, and the distributed run learns the easy toy as well as the single
one: both reach 100 % validation accuracy, and their test accuracies are both
at least 75 % (chance is 25 %) and within 25 points (6 of the 24 test videos)
of each other.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from adl.cli.main import main

ARGS = ("deep", "train", "--model", "pose-lstm", "--units", "16", "--dataset", "nucla",
        "--protocol", "v3_12", "--device", "cpu", "--epochs", "8", "--batch-size", "8",
        "--seed", "0")


@pytest.fixture(scope="module")
def nucla_root(tmp_path_factory):
    from adl.data.synth import generate
    root = tmp_path_factory.mktemp("ddp_nucla") / "nucla"
    generate("nucla", root, subjects=3, frames=20, image_size=(64, 48), videos_per_class=2)
    return root


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    return env


def _evaluate(root, out):
    done = CliRunner().invoke(main, ["deep", "evaluate", "--model", "pose-lstm", "--units", "16",
                                     "--dataset", "nucla", "--protocol", "v3_12", "--root",
                                     str(root), "--cache", str(out / "no-cache"), "--out",
                                     str(out), "--device", "cpu"])
    assert done.exit_code == 0, done.output
    return json.loads((out / "pose-lstm-u16" / "report.json").read_text())


def test_two_processes_learn_as_one(nucla_root, tmp_path):
    import torch
    common = [*ARGS, "--root", str(nucla_root)]
    ddp_out, one_out = tmp_path / "ddp", tmp_path / "one"
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc_per_node=2", "-m", "adl.cli.main", *common,
                          "--cache", str(ddp_out / "no-cache"), "--out", str(ddp_out)],
                         capture_output=True, text=True, env=_env(), timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    # the single process runs here (one torch thread, as each torchrun worker)
    one = CliRunner().invoke(main, [*common, "--cache", str(one_out / "no-cache"), "--out",
                                    str(one_out)])
    assert one.exit_code == 0, one.output

    # rank 0 alone logs: each epoch line once
    for e in range(1, 9):
        assert ddp.stdout.count(f" epoch {e}/8 ") == 1, ddp.stdout
    run = ddp_out / "pose-lstm-u16"
    assert sorted(p.name for p in run.iterdir()) == ["best.pt", "checkpoint.pt"]
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    assert len(ckpt["rng_states"]["cpu"]) == 2         # both processes' RNG states
    assert not any(k.startswith("module.") for k in ckpt["model_state"])

    reports = {name: _evaluate(nucla_root, out) for name, out in (("ddp", ddp_out),
                                                                   ("one", one_out))}
    for name, out in (("ddp", ddp_out), ("one", one_out)):
        best = torch.load(out / "pose-lstm-u16" / "best.pt", weights_only=True)
        assert best["best_val"] == 100.0, name
        assert reports[name]["top1"] >= 75, (name, reports[name]["top1"])
        assert reports[name]["n_test_videos"] == 24
    assert abs(reports["ddp"]["top1"] - reports["one"]["top1"]) <= 25
