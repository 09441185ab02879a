"""Benchmark: one CAD-120-sized F3 fold (issue #3).

90 training sequences of ~1000 frames and 15 joints (CAD layout) plus 30
test sequences: skeleton preparation + SkeletonLSTM fit (20 % stratified
validation, early stopping) + feature extraction of all 120 videos.
Goal: <= 30 s on the 2-core CPU machine.

    .venv/bin/python tests/benchmarks/bench_f3.py [--hidden 64] [--max-len 100]

The LSTM, its inputs, the normalisation reference and the F3 vector (pyramid)
are the defaults of ``F3Config.for_dataset("cad120")`` unless an option says
otherwise.

Prints ``BENCH {"name": "f3_fold_seconds", ...}``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from adl.data.layouts import CAD_15  # noqa: E402
from adl.features.f3 import F3Config, prepare_sequence  # noqa: E402

GOAL_S = 30.0


def synthetic_skeletons(n: int, n_classes: int, rng: np.random.Generator):
    """CAD-like 3D skeletons (metres, camera space): a standing body whose
    hands follow a class-specific periodic path; 2 % dropped (NaN) frames."""
    rest = np.array([[0, .75, 0], [0, .55, 0], [0, .3, 0], [-.18, .5, 0], [-.25, .25, 0],
                     [.18, .5, 0], [.25, .25, 0], [-.1, 0, 0], [-.1, -.45, 0], [.1, 0, 0],
                     [.1, -.45, 0], [-.3, .0, .05], [.3, .0, .05], [-.1, -.9, 0], [.1, -.9, 0]])
    seqs, labels = [], []
    for i in range(n):
        c = i % n_classes
        T = int(rng.integers(850, 1150))
        t = np.linspace(0, 1, T)[:, None]
        freq = 2 + c % 3
        phase = rng.uniform(0, 2 * np.pi)
        joints = np.repeat(rest[None], T, axis=0) + rng.normal(0, 0.003, (T, 15, 3))
        for j, sgn in ((11, -1), (12, 1)):
            ang = 2 * np.pi * freq * t[:, 0] * (1 if c < n_classes // 2 else -1) + phase
            joints[:, j, 0] += sgn * 0.1 * np.cos(ang) * (1 + c / n_classes)
            joints[:, j, 1] += 0.1 * np.sin(ang) + 0.3 * (c % 2) * t[:, 0]
        joints += np.array([0.2, 0.1, 2.5])
        drop = rng.random(T) < 0.02
        joints[drop] = np.nan
        seqs.append(joints.astype(np.float32))
        labels.append(c)
    return seqs, np.array(labels)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hidden", type=int, default=F3Config.for_dataset("cad120").hidden)
    ap.add_argument("--max-len", type=int, default=F3Config().max_len)
    ap.add_argument("--max-epochs", type=int, default=F3Config().max_epochs)
    ap.add_argument("--patience", type=int, default=F3Config().patience)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=F3Config().mirror,
                    help="train on left-right mirrored copies too")
    ap.add_argument("--inputs", default=F3Config().inputs, help="the LSTM's input channels")
    ap.add_argument("--pyramid", type=int, default=F3Config().pyramid,
                    help="levels of the temporal pyramid in the F3 vector")
    ap.add_argument("--per-frame", action=argparse.BooleanOptionalAction,
                    default=F3Config().per_frame, help="per-frame normalisation reference")
    args = ap.parse_args()
    cfg = F3Config.for_dataset("cad120", hidden=args.hidden, max_len=args.max_len,
                               max_epochs=args.max_epochs, patience=args.patience, seed=args.seed,
                               mirror=args.mirror, inputs=args.inputs, pyramid=args.pyramid,
                               per_frame=args.per_frame)

    rng = np.random.default_rng(args.seed)
    n_classes = 10
    train_raw, y_train = synthetic_skeletons(90, n_classes, rng)
    test_raw, y_test = synthetic_skeletons(30, n_classes, rng)

    t0 = time.perf_counter()
    train = [prepare_sequence(s, CAD_15, per_frame=cfg.per_frame) for s in train_raw]
    test = [prepare_sequence(s, CAD_15, per_frame=cfg.per_frame) for s in test_raw]
    t_prep = time.perf_counter() - t0
    # 20 % stratified validation carved from training, as the protocol does
    val_mask = np.zeros(len(train), bool)
    for c in np.unique(y_train):
        idx = np.flatnonzero(y_train == c)
        val_mask[rng.choice(idx, max(1, round(0.2 * len(idx))), replace=False)] = True
    fit_seqs = [s for s, v in zip(train, val_mask) if not v]
    val_seqs = [s for s, v in zip(train, val_mask) if v]
    t1 = time.perf_counter()
    model = cfg.estimator(CAD_15)
    model.fit(fit_seqs, y_train[~val_mask], val_seqs, y_train[val_mask])
    t_fit = time.perf_counter() - t1
    t2 = time.perf_counter()
    feats = model.transform(train + test)
    acc = float(np.mean(model.predict(test) == y_test))
    t_extract = time.perf_counter() - t2
    total = time.perf_counter() - t0
    print(f"# prepare {t_prep:.2f} s, fit {t_fit:.2f} s ({model.n_epochs_} epochs, best "
          f"{model.best_epoch_}), extract+predict {t_extract:.2f} s, features {feats.shape}, "
          f"test accuracy {acc:.2f}, load {os.getloadavg()[0]:.2f}", file=sys.stderr)
    print("BENCH " + json.dumps({"name": "f3_fold_seconds", "value": round(total, 2), "unit": "s",
                                 "goal": GOAL_S, "ratio": round(total / GOAL_S, 3),
                                 "epochs": model.n_epochs_, "hidden": args.hidden,
                                 "max_len": args.max_len, "mirror": bool(args.mirror),
                                 "inputs": args.inputs, "pyramid": args.pyramid,
                                 "per_frame": bool(args.per_frame)}))


if __name__ == "__main__":
    main()
