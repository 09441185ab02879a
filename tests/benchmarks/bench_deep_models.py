"""Benchmark: the deep stage's models on cached features (issues 16 and 17).

For every registered model, at the thesis's sizes (Table 4.1, section 4.6.1,
5.4.1: NTU-60, 60 classes, I3D Mixed_5c maps 1024 x 8 x 7 x 7 of a 64-frame
clip, t_p = 20 poses of 2 persons x 25 joints, LSTM 512 units, GCN 64/64/128;
the Temporal Model with G = {2, 3, 4}, segment GRU 512, pose GRUs 150, 5
poses per segment), on random tensors of those shapes:

* ``train_clips_per_s_<model>``: training samples per second of one Adam
  step (forward, the model's loss, backward, update) on mini-batches of
  ``--batch`` (32, the thesis's), the median of ``--rounds`` timed steps
  after two warm-up steps;
* ``infer_ms_per_video_<model>``: milliseconds to score one video in
  evaluation mode: ``--clips`` clips (a 300-frame NTU video has 3 test clips
  of 64 frames at stride 2: thesis 4.6.1's every-stack rule) in one forward,
  batch = the video's clips;
* ``temporal_infer_ms``: the Temporal Model with Gmax = 4 per video on cached
  segment features, batch ``--temporal-batch`` videos per forward (32) and
  per single video (the ``batch1_ms`` field); goal <= 1.1 ms (the thesis's
  figure, on a GPU, 5.4.4).

The cached backbone features are inputs here: the I3D forward itself is
``bench_deep_extract.py``'s.  Torch runs on ``--threads`` (2) threads, float32.

    .venv/bin/python tests/benchmarks/bench_deep_models.py [--models i3d,vpn] [--rounds 5]

Prints ``BENCH {...}`` lines; ``#`` lines give context (load, parameters).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

TEMPORAL_GOAL_MS = 1.1
SIZES = {"n_classes": 60, "feature_dim": 1024, "map": (8, 7, 7), "tp": 20, "persons": 2,
         "joints": 25, "layout": "kinect_v2_25", "granularities": (2, 3, 4), "segment_steps": 5}


def batch_for(model, n: int, gen):
    """Random inputs of the model's keys at the thesis's sizes."""
    import torch
    s = SIZES
    d, (t, h, w) = s["feature_dim"], s["map"]
    pose = (s["persons"], s["joints"], 3)
    out = {}
    for key in model.required_inputs():
        if key == "gap":
            out[key] = torch.rand(n, d, generator=gen)
        elif key == "maps":
            out[key] = torch.rand(n, d, t, h, w, generator=gen)
        elif key == "parts":
            out[key] = torch.rand(n, 3, d, generator=gen)
        elif key == "poses":
            out[key] = torch.randn(n, s["tp"], *pose, generator=gen) * 0.3
        elif key.startswith("segments_G"):
            g = int(key[len("segments_G"):])
            out[key] = torch.rand(n, g, d, generator=gen)
        elif key.startswith("segment_poses_G"):
            g = int(key[len("segment_poses_G"):])
            out[key] = torch.randn(n, g, s["segment_steps"], *pose, generator=gen) * 0.3
        else:
            raise ValueError(f"bench_deep_models: no synthetic input for key {key!r}")
    return out


def build(name: str):
    from dataclasses import fields

    from adl.deep.models import get_model_spec
    from adl.deep.models.pose import default_lstm_units
    spec = get_model_spec(name)
    names = {f.name for f in fields(spec.config_cls)}
    s = SIZES
    cfg = {"n_classes": s["n_classes"], "feature_dim": s["feature_dim"], "layout": s["layout"],
           "n_joints": s["joints"], "persons": s["persons"], "tp": s["tp"]}
    extra = {"map_size": s["map"], "lstm_units": default_lstm_units("ntu60"),
             "granularities": s["granularities"], "segment_steps": s["segment_steps"]}
    cfg.update({k: v for k, v in extra.items() if k in names})
    return spec.build(spec.config_cls(**cfg))


def median_seconds(fn, rounds: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_model(name: str, args) -> list:
    import torch
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = build(name)
    n_params = sum(p.numel() for p in model.parameters())
    lines = []
    # training: one Adam step on a mini-batch
    batch = batch_for(model, args.batch, gen)
    target = torch.randint(0, SIZES["n_classes"], (args.batch,), generator=gen)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        loss, _ = model.loss(model(batch), target)
        loss.backward()
        opt.step()

    train_s = median_seconds(step, args.rounds)
    lines.append({"name": f"train_clips_per_s_{name}", "value": round(args.batch / train_s, 2),
                  "unit": "samples/s", "batch": args.batch, "step_ms": round(train_s * 1e3, 2),
                  "parameters": int(n_params), "threads": torch.get_num_threads(),
                  "load": round(os.getloadavg()[0], 2)})
    # inference: one video (its clips, or one video sample for the temporal model)
    model.eval()
    from adl.deep.models import get_model_spec
    per_video = 1 if get_model_spec(name).sample == "video" else args.clips
    one = batch_for(model, per_video, gen)
    with torch.inference_mode():
        infer_s = median_seconds(lambda: model(one), args.rounds * 3)
    lines.append({"name": f"infer_ms_per_video_{name}", "value": round(infer_s * 1e3, 3),
                  "unit": "ms", "clips_per_video": per_video, "batch": per_video,
                  "load": round(os.getloadavg()[0], 2)})
    if name == "temporal":
        many = batch_for(model, args.temporal_batch, gen)
        with torch.inference_mode():
            many_s = median_seconds(lambda: model(many), args.rounds * 3)
        value = many_s * 1e3 / args.temporal_batch
        lines.append({"name": "temporal_infer_ms", "value": round(value, 3), "unit": "ms/video",
                      "batch": args.temporal_batch, "batch1_ms": round(infer_s * 1e3, 3),
                      "granularities": list(SIZES["granularities"]), "goal": TEMPORAL_GOAL_MS,
                      "met": bool(value <= TEMPORAL_GOAL_MS),
                      "load": round(os.getloadavg()[0], 2)})
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=None,
                        help="comma-separated registered names (default: all)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--temporal-batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    from adl.deep.models import list_models
    names = args.models.split(",") if args.models else list_models()
    print(f"# torch {torch.__version__}, {args.threads} threads, float32; sizes {SIZES}; "
          f"load {os.getloadavg()[0]:.2f}", file=sys.stderr)
    for name in names:
        for line in bench_model(name, args):
            print("BENCH " + json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
