"""``adl deep extract``: the command line on a tiny synthetic NTU-60 dataset
(6 videos of 24 frames at 96x64, I3D with random weights, clips of 8 frames
at 32 px), killed at random moments and resumed (the reliability suite's
method: ``tests/reliability/test_interrupts.py``), its one-line errors, and
the real NTU clip of ``../shared/data/real/ntu`` (no skeleton: full-image
crops)."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from adl.cli.main import main

TINY = ("--weights", "random", "--device", "cpu", "--precision", "float32", "--clip-frames", "8",
        "--clip-size", "32", "--granularities", "1,2", "--seed", "0")
KILL_SEED = 15
N_KILLS = 4
REAL_NTU = Path(os.environ.get("ADL_REAL_DATA")
                or Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real") / "ntu"


def extract_args(root: Path, cache: Path, *extra: str):
    return ["deep", "extract", "--dataset", "ntu60", "--root", str(root), "--cache", str(cache),
            *TINY, *extra]


def child_env():
    """One thread in every numeric library, as the in-process runs use."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = "1"
    return env


@pytest.fixture(scope="module")
def ntu_root(tmp_path_factory):
    from adl.data.synth import generate
    root = tmp_path_factory.mktemp("ntu_cli") / "ntu60"
    generate("ntu60", root, subjects=3, frames=24, image_size=(96, 64),
             classes=["drink water", "pickup"])
    return root


@pytest.fixture(scope="module")
def reference(ntu_root, tmp_path_factory, cache_snapshot):
    """An uninterrupted ``adl deep extract``: its cache's snapshot and entry count."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cache = tmp_path_factory.mktemp("deep_cli_ref")
        done = CliRunner().invoke(main, extract_args(ntu_root, cache))
    finally:
        torch.set_num_threads(before)
    assert done.exit_code == 0, done.output
    return {"cache": cache, "output": done.output, "snapshot": cache_snapshot(cache),
            "n_entries": sum(1 for _ in cache.rglob("*.npz"))}


def test_the_command_extracts_and_says_what_it_did(reference, ntu_root):
    assert reference["n_entries"] == 6 * 4
    last = reference["output"].strip().splitlines()[-1]
    assert last.startswith("ntu60: 6 videos; deep_clips 6 computed / 0 reused; ")
    assert "deep_poses 6 computed / 0 reused; 0 skipped; 0 on the full image" in last
    again = CliRunner().invoke(main, extract_args(ntu_root, reference["cache"]))
    assert again.exit_code == 0, again.output
    assert "deep_clips 0 computed / 6 reused" in again.output


def test_killed_at_random_moments_and_resumed_gives_the_uninterrupted_cache(
        reference, ntu_root, tmp_path, cache_snapshot, killer):
    """Four runs of ``adl deep extract`` in child processes, each resuming
    what the last left and SIGKILLed after the cache's k-th entry (k seeded,
    drawn from 1 .. n - 5 so that each kill lands before the run ends); every
    visible entry is complete after each kill, and a last run completes the
    cache to the uninterrupted run's, byte for byte, without temp files."""
    n = reference["n_entries"]
    moments = sorted(random.Random(KILL_SEED).sample(range(1, n - 4), N_KILLS))
    cache = tmp_path / "killed"
    for k in moments:
        proc = subprocess.Popen([sys.executable, "-m", "adl.cli.main",
                                 *extract_args(ntu_root, cache)], env=child_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert killer(proc, cache, k), \
            f"the run finished before its kill after entry {k} of {n}"
        for path in cache.rglob("*.npz"):                    # no half-written entry
            with np.load(path, allow_pickle=False) as z:
                for name in z.files:
                    z[name]
    assert not (cache / "ntu60" / "deep_index.json").exists()
    done = CliRunner().invoke(main, extract_args(ntu_root, cache))
    assert done.exit_code == 0, f"the run after kills at entries {moments} failed:\n{done.output}"
    assert [p for p in cache.rglob("*") if ".tmp-" in p.name] == []
    snap = cache_snapshot(cache)
    assert sorted(snap) == sorted(reference["snapshot"])
    different = [name for name in snap if snap[name] != reference["snapshot"][name]]
    assert different == [], f"differ from the uninterrupted run: {different}"


def test_missing_weights_is_one_line_naming_the_file(ntu_root, tmp_path, hub_dir):
    args = extract_args(ntu_root, tmp_path / "cache")
    i = args.index("--weights")
    del args[i:i + 2]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 2
    assert done.output.startswith("error: i3d weights 'rgb_imagenet' not found: put "
                                  "rgb_imagenet.pt")
    assert str(hub_dir) in done.output and "--weights random" in done.output
    assert list(tmp_path.rglob("*.npz")) == []


def test_bad_option_values_are_refused(ntu_root, tmp_path):
    done = CliRunner().invoke(main, extract_args(ntu_root, tmp_path / "c", "--granularities",
                                                 "1,two"))
    assert done.exit_code == 2
    assert "expected comma-separated integers, got '1,two'" in done.output
    done = CliRunner().invoke(main, extract_args(ntu_root, tmp_path / "c", "--device", "tpu"))
    assert done.exit_code == 2
    assert "error: unknown device 'tpu'" in done.output


@pytest.mark.realdata
def test_the_real_ntu_clip_goes_through_on_the_full_image(tmp_path, cache_snapshot):
    clip = REAL_NTU / "S001C001P001R001A001_rgb.avi"
    if not clip.is_file():
        pytest.skip(f"real data absent: {clip} not found (set ADL_REAL_DATA to the folder "
                    f"holding ntu/)")
    cache = tmp_path / "cache"
    done = CliRunner().invoke(main, ["deep", "extract", "--dataset", "ntu60", "--root",
                                     str(REAL_NTU), "--cache", str(cache), *TINY])
    assert done.exit_code == 0, done.output
    assert "1 of 1 videos have no skeleton: their crop is the full image" in done.output
    assert "ntu60: 1 videos; deep_clips 1 computed" in done.output
    (entry,) = cache.glob("ntu60/deep_clips/*/S001C001P001R001A001.npz")
    with np.load(entry) as z:
        meta = json.loads(bytes(z["__meta__.json"]).decode())
        boxes, maps = z["boxes"], z["maps"]
    assert meta["frame_size"] == [1920, 1080] and meta["n_frames"] == 103
    assert meta["fallback"] is True and meta["frames_missing"] == 0
    assert maps.shape == (6, 1024, 1, 1, 1)           # 103 frames, span 16: 6 stacks
    assert np.isfinite(maps.astype(np.float32)).all() and np.abs(maps).max() > 0
    np.testing.assert_array_equal(boxes, np.tile([0, 0, 1920, 1080], (6, 1)))
    assert not list(cache.glob("ntu60/deep_poses/*/*.npz"))
    index = json.loads((cache / "ntu60" / "deep_index.json").read_text())
    assert index["skipped"] == {"S001C001P001R001A001/deep_poses": "no skeleton"}
