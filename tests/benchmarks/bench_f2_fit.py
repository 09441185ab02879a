"""Benchmark: one CAD-120-sized F2 fold fit (issue #18).

The F2 encoder of one fold (thesis section 3.3.1, [137]): PCA to half the
dimension and a K = 256 diagonal GMM per descriptor type, fitted on the
training trajectories (all of them: 190,000 < the 256,000 sampled), then the
Fisher vectors of every video of the dataset, as
:func:`adl.features.fold_fit.fit_f2` runs it (one BLAS thread, ``--jobs``
threads for the encoder).

Synthetic data of the real shapes: 90 training videos with 190,000
trajectories in all and 30 test videos with a third as many, each
trajectory with the five IDT descriptors (traj 30, hog 96, hof 108, mbhx 96,
mbhy 96 values), drawn between two of 64 prototypes per type, with noise
(histograms: square-rooted, L1-normalised bins; traj: signed displacements
normalised by their total length), float32 as the encoder reads them.

    .venv/bin/python tests/benchmarks/bench_f2_fit.py [--no-baseline] [--jobs 2]

``value``: wall-clock seconds of the fold fit with ``gmm_backend="adl"`` (the default);
``baseline``: the same fit with ``gmm_backend="sklearn"`` (the encoder before
issue #18) in the same run, unless ``--no-baseline``; ``ratio`` = baseline /
value; ``cpu_s`` / ``baseline_cpu_s``: the CPU seconds of the process
(all threads), less sensitive to other processes.  ``loglik_adl`` / ``loglik_sklearn``: mean log-likelihood per
training descriptor of each type's GMM on its PCA projection, averaged over
the types (higher is better); ``#`` lines give the phases, per-type
figures and the machine load.  Goal: <= 120 s on the 2-core CPU machine.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from adl.features.fisher import FisherVectorEncoder  # noqa: E402

GOAL_S = 120.0
DIMS = {"traj": 30, "hog": 96, "hof": 108, "mbhx": 96, "mbhy": 96}


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def synthetic_videos(n_train: int, n_train_videos: int, n_test_videos: int, seed: int):
    """Training then test videos, each ``{type: (n_i, d) float32}``; the test
    videos have a third as many trajectories in all as the training ones."""
    rng = np.random.default_rng(seed)
    n_protos = 64
    protos = {t: (rng.normal(0, 1, (n_protos, d)) if t == "traj"
                  else rng.dirichlet(np.full(d, 0.3), n_protos)) for t, d in DIMS.items()}
    n_videos = n_train_videos + n_test_videos
    per = np.concatenate([rng.multinomial(n_train, np.full(n_train_videos, 1 / n_train_videos)),
                          rng.multinomial(n_train // 3, np.full(n_test_videos, 1 / n_test_videos))])
    videos = []
    for v in range(n_videos):
        n = int(per[v])
        mix = rng.dirichlet(np.full(n_protos, 0.5))           # the video's own prototypes
        c = rng.choice(n_protos, size=(2, n), p=mix)
        u = rng.random((n, 1))
        video = {}
        for t, d in DIMS.items():
            # a continuum between two prototypes, with noise: not a mixture of
            # a few Gaussians, so that EM runs its iterations as on real data
            p = u * protos[t][c[0]] + (1 - u) * protos[t][c[1]]
            if t == "traj":
                x = p + rng.normal(0, 0.3, (n, d))
                x /= np.abs(x).sum(1, keepdims=True)
            else:
                x = p * rng.gamma(4.0, 0.25, (n, d)) + 1e-4
                x = np.sqrt(x / x.sum(1, keepdims=True))
            video[t] = x.astype(np.float32)
        videos.append(video)
    return videos[:n_train_videos], videos


def fold_fit(train, everything, backend: str, jobs: int, seed: int, max_iter: int, K: int):
    """Fit the encoder on ``train`` and encode ``everything`` as fit_f2 does; (seconds, encoder, X)."""
    from threadpoolctl import threadpool_limits
    enc = FisherVectorEncoder(n_components=K, random_state=seed, max_iter=max_iter, n_jobs=jobs,
                              gmm_backend=backend)
    t0, c0 = time.perf_counter(), time.process_time()
    with threadpool_limits(1):
        enc.fit(train)
        t1 = time.perf_counter()
        X = enc.transform(everything)
    t2, cpu = time.perf_counter(), time.process_time() - c0
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in enc.fit_seconds_.items())
    print(f"# {backend}: fit {t1 - t0:.1f} s ({phases}), transform of {len(everything)} videos "
          f"{t2 - t1:.1f} s; CPU time {cpu:.1f} s; EM iterations {enc.n_iter_}, converged {enc.converged_}; "
          f"load {load()}", flush=True)
    return t2 - t0, cpu, enc, X


def mean_loglik(enc: FisherVectorEncoder, train) -> dict:
    """Mean log-likelihood per training descriptor of each type's GMM (PCA space)."""
    from adl.features.gmm import DiagonalGaussianMixture
    out = {}
    for t in enc.types_:
        z = enc.pcas_[t].transform(np.concatenate([v[t] for v in train]).astype(np.float64))
        g = enc.gmms_[t]
        scorer = DiagonalGaussianMixture(g.means_.shape[0])      # the same formula for both
        scorer.means_, scorer.covariances_, scorer.weights_ = g.means_, g.covariances_, g.weights_
        scorer.n_features_in_ = g.means_.shape[1]
        out[t] = float(np.mean(np.concatenate([scorer.score_samples(z[a:a + 65536])
                                               for a in range(0, len(z), 65536)])))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-train", type=int, default=190_000, help="training trajectories")
    ap.add_argument("--gmm-size", type=int, default=256)
    ap.add_argument("--gmm-iter", type=int, default=30)
    ap.add_argument("--jobs", type=int, default=2, help="encoder threads (both backends)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                    help="also time the scikit-learn GMM (many minutes)")
    args = ap.parse_args()

    t = time.perf_counter()
    train, everything = synthetic_videos(args.n_train, 90, 30, args.seed)
    n_all = sum(len(v["traj"]) for v in everything)
    print(f"# data: {len(train)} training videos, {args.n_train} trajectories; {len(everything)} "
          f"videos, {n_all} trajectories in all; made in {time.perf_counter() - t:.1f} s; "
          f"{os.cpu_count()} CPUs, load {load()}", flush=True)

    value, cpu, enc, X = fold_fit(train, everything, "adl", args.jobs, args.seed, args.gmm_iter,
                             args.gmm_size)
    ll = mean_loglik(enc, train)
    print(f"# adl log-likelihood per descriptor: {json.dumps(ll)}", flush=True)
    line = {"name": "f2_fold_fit_seconds", "value": round(value, 2), "unit": "s",
            "goal": GOAL_S, "cpu_s": round(cpu, 2), "n_train": args.n_train, "K": args.gmm_size, "jobs": args.jobs,
            "features": int(X.shape[1]), "loglik_adl": round(float(np.mean(list(ll.values()))), 4)}
    if args.baseline:
        base, base_cpu, enc_sk, X_sk = fold_fit(train, everything, "sklearn", args.jobs, args.seed,
                                      args.gmm_iter, args.gmm_size)
        ll_sk = mean_loglik(enc_sk, train)
        print(f"# sklearn log-likelihood per descriptor: {json.dumps(ll_sk)}", flush=True)
        line.update(baseline=round(base, 2), ratio=round(base / value, 3),
                    baseline_cpu_s=round(base_cpu, 2),
                    loglik_sklearn=round(float(np.mean(list(ll_sk.values()))), 4))
    line["load"] = load()
    print("BENCH " + json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
