"""Toy deep-stage data shared by tests/deep/test_train.py and test_evaluate.py
(on the test path through setup.cfg's ``pythonpath``)."""
from __future__ import annotations

import numpy as np

from adl.deep.inputs import DeepData


def toy_data(n_classes=3, per_class=8, subjects=4, frames=8, seed=0, prefix="v"):
    """In-memory poses of one skeleton: class c moves joint c + 3 along x, the
    rest is noise."""
    rng = np.random.default_rng(seed)
    body = np.random.default_rng(99).normal(scale=0.5, size=(20, 3))   # one skeleton for all
    n = n_classes * per_class
    seqs = []
    for i in range(n):
        c = i % n_classes
        p = (body + rng.normal(scale=0.02, size=(frames, 1, 20, 3))).astype(np.float32)
        p[:, 0, c + 3, 0] += np.linspace(0, 3, frames, dtype=np.float32)
        seqs.append((p, np.arange(frames, dtype=np.int64), frames))
    return DeepData("nucla", [f"{prefix}{i:03d}" for i in range(n)],
                    [f"class{i % n_classes}" for i in range(n)],
                    [str(i % subjects + 1) for i in range(n)], [""] * n, [""] * n,
                    layout="kinect_v1_20", persons=1, tp=frames, feature_dim=0,
                    granularities=(), available_inputs=("poses",), source="memory",
                    segment_steps=4, pose_reference="first_frame", digests={}, sequences=seqs)
