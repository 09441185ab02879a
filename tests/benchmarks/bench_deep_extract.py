"""Benchmark: ``adl deep extract`` end to end against the raw forward, and on
a Dask ``LocalCluster`` against local joblib (issue #15).

* ``i3d_clips_per_s`` / ``s3d_clips_per_s``: :func:`adl.deep.extract.run_extract`
  on a synthetic NTU-60 dataset (written to a temp dir) into a fresh cache --
  decode, person crop, resize, normalise, forward, GAP, store, for every clip
  of every stage -- in clips per second; ``baseline`` = the raw forward of the
  same network on ready normalised tensors (same batch size, clip size and
  precision, same run: the very batches the extraction ran, as many clips each
  -- the extraction forwards each stage's clips of a video together, so its
  batches are often smaller than ``--batch``) in clips per second;
  ``ratio`` = value / baseline, the
  median of per-round ratios (each round pairs the two passes close in time,
  so that load from other processes on a shared machine weighs on both).
  Goal: ratio >= 0.85 at 64 x 224 x 224.
* ``dask_overhead``: the same extraction on a ``distributed.LocalCluster``
  (``--workers`` processes of one thread) over local joblib with as many
  workers (one torch thread each), wall time of the cluster run / wall time
  of the local run, median over rounds after one warm-up round each (worker
  processes and their backbones exist before the timed rounds; the cluster's
  start is not counted).  Goal: <= 1.15.

    .venv/bin/python tests/benchmarks/bench_deep_extract.py [--backbones i3d,s3d]
        [--videos 2] [--frames 128] [--clip-frames 64] [--clip-size 224]
        [--batch 4] [--precision auto] [--device auto] [--rounds 3]
        [--workers 2] [--no-dask]

Prints ``BENCH {json}`` lines.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def clips_per_video(cfg, n_frames: int) -> int:
    """Clips one video sends through the backbone: full body and both hands
    per test clip, and one per segment of each granularity."""
    from adl.deep.clips import eval_clip_starts
    return 3 * len(eval_clip_starts(n_frames, cfg.clip_frames, cfg.stride)) \
        + sum(cfg.granularities)


def bench_backbone(name: str, root: Path, work: Path, args) -> None:
    import torch
    from adl.data.registry import load_records
    from adl.deep.backbones import VideoBackbone
    from adl.deep.device import autocast
    from adl.deep.extract import ExtractConfig, run_extract

    cfg = ExtractConfig(backbone=name, weights="random", device=args.device,
                        precision=args.precision, batch_size=args.batch,
                        clip_frames=args.clip_frames, clip_size=args.clip_size,
                        granularities=tuple(args.granularities))
    backbone = VideoBackbone(name, "random", device=args.device, precision=args.precision,
                             batch_size=args.batch)
    n_videos = len(load_records("ntu60", root))
    n_clips = n_videos * clips_per_video(cfg, args.frames)
    inputs = {}

    rng = np.random.default_rng(0)

    def random_clips(n):
        # made as VideoBackbone.forward_clips makes its input (uint8 RGB clips
        # (N, T, H, W, 3) through the weights' normalisation), so the raw
        # forward sees the same values' range and the same memory layout
        # (channels-last-3d), which changes the CPU kernels' speed
        if n not in inputs:
            clips = rng.integers(0, 256, (n, args.clip_frames, args.clip_size, args.clip_size, 3),
                                 dtype=np.uint8)
            inputs[n] = backbone.weights_entry.normalization(
                torch.from_numpy(clips).to(backbone.device))
        return inputs[n]

    def sync():
        if backbone.device.type == "cuda":
            torch.cuda.synchronize(backbone.device)

    def raw_forward(batches) -> float:
        sync()
        t0 = time.perf_counter()
        with torch.inference_mode(), autocast(backbone.device, backbone.precision):
            for n in batches:
                backbone.model(random_clips(n))
        sync()
        return time.perf_counter() - t0

    # the batch sizes the extraction forwards, recorded as it runs
    batches = []
    forward_clips = VideoBackbone.forward_clips

    def recording(self, clips):
        batches.extend(min(self.batch_size, len(clips) - s)
                       for s in range(0, len(clips), self.batch_size))
        return forward_clips(self, clips)

    raw_forward([args.batch])                        # warm-up (primitive creation)
    base_times, e2e_times = [], []
    for r in range(args.rounds):
        batches.clear()
        cache = work / f"cache_{name}_{r}"
        VideoBackbone.forward_clips = recording
        try:
            t0 = time.perf_counter()
            summary = run_extract("ntu60", root, cache, cfg, progress=False, log=lambda m: None)
            sync()
            e2e_times.append(time.perf_counter() - t0)
        finally:
            VideoBackbone.forward_clips = forward_clips
        assert summary.computed["deep_clips"] == n_videos, summary.computed
        assert sum(batches) == n_clips, (sum(batches), n_clips)
        base_times.append(raw_forward(list(batches)))
        shutil.rmtree(cache)
    value = n_clips / float(np.median(e2e_times))
    baseline = n_clips / float(np.median(base_times))
    ratio = float(np.median([b / e for e, b in zip(e2e_times, base_times)]))
    print(f"# {name} {args.clip_frames}x{args.clip_size}^2 batch {args.batch} precision "
          f"{backbone.precision} device {backbone.device} threads {torch.get_num_threads()}: "
          f"end-to-end {n_clips} clips ({n_videos} videos of {args.frames} frames) in "
          f"{[round(t, 2) for t in e2e_times]} s, raw forward of the same batches "
          f"{sorted(batches)} in "
          f"{[round(t, 2) for t in base_times]} s; {1.0 / value:.3f} s per clip end to end; "
          f"load {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", file=sys.stderr)
    print("BENCH " + json.dumps({
        "name": f"{name}_clips_per_s", "value": round(value, 3), "unit": "clips/s",
        "baseline": round(baseline, 3), "ratio": round(ratio, 3), "batch": args.batch,
        "clip": [args.clip_frames, args.clip_size, args.clip_size],
        "precision": backbone.precision, "device": str(backbone.device)}))


def bench_dask(root: Path, work: Path, args) -> None:
    import distributed
    from adl.deep.extract import ExtractConfig, run_extract

    cfg = ExtractConfig(backbone=args.backbones[0], weights="random", device="cpu",
                        precision="float32", batch_size=args.batch,
                        clip_frames=args.clip_frames, clip_size=args.clip_size,
                        granularities=tuple(args.granularities))
    times = {"local": [], "cluster": []}
    with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        runs = {"local": dict(jobs=args.workers),
                "cluster": dict(scheduler=cluster.scheduler_address)}
        for r in range(args.rounds + 1):             # round 0 warms both up, untimed
            for kind, kw in runs.items():
                cache = work / f"dask_{kind}_{r}"
                t0 = time.perf_counter()
                run_extract("ntu60", root, cache, cfg, progress=False, log=lambda m: None, **kw)
                if r:
                    times[kind].append(time.perf_counter() - t0)
                shutil.rmtree(cache)
    local, remote = float(np.median(times["local"])), float(np.median(times["cluster"]))
    print(f"# dask: {args.workers} workers, local joblib {[round(t, 2) for t in times['local']]} "
          f"s, LocalCluster {[round(t, 2) for t in times['cluster']]} s; load "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", file=sys.stderr)
    print("BENCH " + json.dumps({"name": "dask_overhead", "value": round(remote / local, 3),
                                 "unit": "cluster time / local time", "workers": args.workers,
                                 "local_s": round(local, 2), "cluster_s": round(remote, 2)}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backbones", default="i3d,s3d")
    ap.add_argument("--videos", type=int, default=2,
                    help="Synthetic performers, 2 videos each (drink water, pickup).")
    ap.add_argument("--frames", type=int, default=128, help="Frames per video (128: one clip).")
    ap.add_argument("--width", type=int, default=480)
    ap.add_argument("--height", type=int, default=270)
    ap.add_argument("--clip-frames", type=int, default=64)
    ap.add_argument("--clip-size", type=int, default=224)
    ap.add_argument("--granularities", default="1,2,3,4")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: all).")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-dask", action="store_true", help="Skip dask_overhead.")
    args = ap.parse_args()
    args.backbones = [b for b in args.backbones.split(",") if b]
    args.granularities = [int(g) for g in args.granularities.split(",") if g]

    import torch
    from adl.data.synth import generate
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root = work / "ntu60"
        generate("ntu60", root, subjects=args.videos, frames=args.frames,
                 image_size=(args.width, args.height), classes=["drink water", "pickup"])
        for name in args.backbones:
            bench_backbone(name, root, work, args)
        if not args.no_dask:
            bench_dask(root, work, args)


if __name__ == "__main__":
    main()
