"""Shared helpers of the reliability tests: the `adl` command line, a tiny
synthetic dataset, a fast features configuration and a byte-level snapshot
of a feature cache."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np

# A fast but complete configuration: every stage of the features pipeline runs.
FAST_FEATURES = ["--weights", "random", "--backbone", "resnet18", "--input-size", "48",
                 "--trajectory-length", "5", "--max-scales", "2", "--gmm-size", "4",
                 "--gmm-samples", "2000", "--lstm-units", "16", "--lstm-epochs", "4",
                 "--lstm-max-len", "16", "--seed", "0"]

TEMP_RE = re.compile(r"\.tmp-|\.tmp$")


def adl_command(*args: str) -> List[str]:
    """``adl ARGS`` with this interpreter (the console script is not needed)."""
    return [sys.executable, "-m", "adl.cli.main", *args]


def child_env() -> Dict[str, str]:
    env = dict(os.environ)
    # the repository root must be importable from the child's working directory
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    # one thread everywhere: the same arithmetic whatever else runs on the machine
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = "1"
    return env


def features_command(root: Path, cache: Path) -> List[str]:
    return adl_command("features", "--dataset", "cad120", "--root", str(root), "--cache",
                       str(cache), *FAST_FEATURES)


def run_adl(cmd: List[str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=child_env(), capture_output=True, text=True, timeout=timeout)


def make_tiny_dataset(root: Path) -> Path:
    """3 subjects x 3 classes x 1 video, 16 frames at 160x120 (seeded)."""
    from adl.data.synth import generate
    generate("cad120", root, seed=1, subjects=3, frames=16, image_size=(160, 120),
             classes=["having_meal", "taking_medicine", "stacking_objects"])
    return root


def temp_files(cache: Path) -> List[Path]:
    return sorted(p for p in Path(cache).rglob("*") if TEMP_RE.search(p.name))


def snapshot(cache: Path) -> Dict[str, object]:
    """Every file of a cache: arrays of .npz entries (dtype, shape, raw bytes)
    and their metadata, JSON files parsed, anything else as raw bytes."""
    out: Dict[str, object] = {}
    for path in sorted(Path(cache).rglob("*")):
        if not path.is_file():
            continue
        rel = str(path.relative_to(cache))
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                members = {name: z[name] for name in z.files}
            out[rel] = {name: (str(v.dtype), v.shape, v.tobytes()) if isinstance(v, np.ndarray)
                        else bytes(v) for name, v in members.items()}
            # the metadata member is part of the entry's bytes too
            out[rel + "#bytes"] = path.read_bytes()
        elif path.suffix == ".json":
            out[rel] = json.loads(path.read_text())
        else:
            out[rel] = path.read_bytes()
    return out


def fusion_report(cache: Path, out: Path) -> dict:
    """``adl fuse --alpha-search`` on a cache, as report.json without its
    wall-time field (the only value that may differ between runs)."""
    from adl.features.pipeline import load_fold_features
    from adl.fusion import run_fusion
    report = run_fusion(load_fold_features(cache, "cad120"), out, alpha_search=True, seed=0)
    report = dict(report)
    report.pop("seconds")
    return report
