"""Benchmark: fusion stage on a CAD-120-sized problem.

120 videos, 10 classes, 4 subjects (4 leave-one-subject-out folds); synthetic
random but class-structured features of the real sizes: F1 8,192 dims
(pooled 2D-CNN descriptors), F2 109,056 dims (IDT Fisher vector: 426/2 PCA
dims x 2 x 256 Gaussians), F3 192 dims (LSTM latent).  Times
``run_fusion(folds, out, FusionConfig(alpha_search=True))`` (ablation SVMs, two-level fusion,
alpha search, pair memory, reports with PNGs); goal <= 10 s wall.

    .venv/bin/python tests/benchmarks/bench_fuse.py
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time

GOAL_SECONDS = 10.0


def main() -> int:
    from adl.fusion.config import FusionConfig
    from adl.fusion.runner import run_fusion, synthetic_folds

    folds = synthetic_folds(dataset="cad120", n_classes=10, n_subjects=4, videos_per_class=3,
                            dims={"f1": 8192, "f2": (426 // 2) * 2 * 256, "f3": 192},
                            noise=3.0, confusable=((0, 1), (2, 3)), seed=0)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        report = run_fusion(folds, out, FusionConfig(alpha_search=True, seed=0))
        seconds = time.perf_counter() - t0
    mean = report["mean"]
    print(f"# 4 folds, 120 videos; mean accuracy two-level {mean['two_level']:.1f} %, "
          f"+pairs {mean['two_level_pairs']:.1f} %; goal <= {GOAL_SECONDS:.0f} s; "
          f"load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
    print("BENCH " + json.dumps({"name": "fuse_cad120_seconds", "value": round(seconds, 3),
                                 "unit": "s"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
