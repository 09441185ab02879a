"""Benchmark: F1 frame descriptors end to end (issue #3).

Decode a synthetic MJPG AVI (written to a temp dir) + crop the five body
parts + resize + ResNet forward, against the raw forward of the same network
on ready tensors (same batch size, resolution and precision, same run).  The
two alternate for ``--rounds`` rounds; the figures are medians over rounds
and the ratio is the median of the per-round ratios (each round pairs the two
passes close in time), so that load from other processes on a shared
machine weighs on both alike and one burst of it does not decide the result.  Goal: ratio >= 0.85 and >= 25
crops/s with ResNet-152 at 224x224.

    .venv/bin/python tests/benchmarks/bench_f1.py [--frames 24] [--size 224]
        [--backbone resnet152] [--precision auto] [--batch 16]

Prints ``BENCH {"name": "f1_crops_per_s", ...}``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from adl.data.layouts import CAD_15  # noqa: E402
from adl.data.video import FrameSource  # noqa: E402
from adl.features.body_parts import N_PARTS, part_boxes  # noqa: E402


def write_video(path: Path, n_frames: int, width: int, height: int, seed: int = 0):
    """An MJPG AVI of a moving textured scene; returns its (T, 15, 2) CAD joints in pixels."""
    import cv2
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (width, height))
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write MJPG here")
    background = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    rest = np.array([[0, -.75], [0, -.55], [0, -.3], [-.18, -.5], [-.25, -.25], [.18, -.5], [.25, -.25],
                     [-.1, 0], [-.1, .45], [.1, 0], [.1, .45], [-.3, 0], [.3, 0], [-.1, .9], [.1, .9]])
    joints = np.empty((n_frames, 15, 2), np.float32)
    for t in range(n_frames):
        frame = np.roll(background, 3 * t, axis=1)
        centre = np.array([width / 2 + 40 * np.sin(t / 10), height / 2])
        joints[t] = centre + rest * height * 0.45
        joints[t, 11:13, 1] += 30 * np.sin(t / 3)
        for x, y in joints[t].astype(int):
            cv2.circle(frame, (int(x), int(y)), 6, (0, 0, 255), -1)
        writer.write(frame)
    writer.release()
    return joints


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=16, help="16 frames = 80 crops = 5 batches of 16")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--backbone", default="resnet152")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    import torch
    from adl.features.cnn import FrameDescriptorExtractor, build_backbone

    model = build_backbone(args.backbone, "random", seed=0)
    ex = FrameDescriptorExtractor(args.backbone, "random", model=model, input_size=args.size,
                                  batch_size=args.batch, precision=args.precision,
                                  num_threads=args.threads)
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    n_crops = args.frames * N_PARTS
    n_batches = -(-n_crops // args.batch)
    x = torch.randn(args.batch, 3, args.size, args.size).contiguous(memory_format=torch.channels_last)

    def raw_forward(batches: int) -> float:
        t0 = time.perf_counter()
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16,
                                                    enabled=ex.precision == "bfloat16"):
            for _ in range(batches):
                ex.model(x)
        return time.perf_counter() - t0

    raw_forward(1)  # warm-up (oneDNN primitive creation)
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "synthetic.avi"
        joints = write_video(video, args.frames, args.width, args.height)
        boxes = part_boxes(joints, CAD_15, (args.width, args.height))
        source = FrameSource(video)
        base_times, e2e_times = [], []
        for _ in range(args.rounds):
            base_times.append(raw_forward(n_batches))
            t0 = time.perf_counter()
            desc = ex.extract(source, boxes)
            e2e_times.append(time.perf_counter() - t0)
        t_base, t_e2e = float(np.median(base_times)), float(np.median(e2e_times))
    assert desc.features.shape == (args.frames, N_PARTS, ex.feature_dim), desc.features.shape
    value = n_crops / t_e2e
    baseline = n_batches * args.batch / t_base
    ratio = float(np.median([(n_crops / e) / (n_batches * args.batch / b)
                             for e, b in zip(e2e_times, base_times)]))
    print(f"# {args.backbone} {args.size}px batch {args.batch} precision {ex.precision} "
          f"channels_last {ex.channels_last} threads {torch.get_num_threads()}: end-to-end "
          f"{n_crops} crops in {[round(t, 1) for t in e2e_times]} s, raw forward "
          f"{n_batches * args.batch} crops in {[round(t, 1) for t in base_times]} s; load {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores",
          file=sys.stderr)
    print("BENCH " + json.dumps({"name": "f1_crops_per_s", "value": round(value, 2), "unit": "crops/s",
                                 "baseline": round(baseline, 2), "ratio": round(ratio, 3),
                                 "backbone": args.backbone, "size": args.size, "batch": args.batch,
                                 "precision": ex.precision}))


if __name__ == "__main__":
    main()
