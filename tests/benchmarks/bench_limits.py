"""Benchmark: the CNN forwards against the machine's limit (issue #18).

* ``matmul_gflops``: float32 sgemm throughput, ``torch.mm`` of two
  ``--matmul-n`` square matrices with ``--threads`` threads, best of 3 calls
  per round.
* ``f1_crops_per_s``: ResNet-152 at 224 x 224 through F1's own code path
  (:meth:`adl.features.cnn.FrameDescriptorExtractor.forward_crops`: uint8 NHWC
  crops in, normalisation, network, float32 descriptors out), F1's batch size,
  float32, the default options (eager, channels-last).
* ``i3d_clips_per_s``: I3D to ``Mixed_5c`` on 64 x 224 x 224 clips through
  :meth:`adl.deep.backbones.VideoBackbone.forward_clips` (adl.deep's path),
  float32, the default options (channels-last-3d, 4 clips per forward as
  ``adl deep extract --batch-size`` defaults to; ``--i3d-batch``); variants
  ``b1`` / ``b2`` time 1 and 2 clips per forward.

Each carries ``limit_fraction`` = achieved FLOP rate / ``matmul_gflops``: the
FLOPs of one forward counted by :class:`torch.utils.flop_counter.FlopCounterMode`
(a multiply-add is 2 FLOPs; convolutions and matrix products only), the rate
and the sgemm rate measured in the same round, the fraction the median of the
per-round fractions (so that load from other processes weighs on both).

Every variant (NCHW / channels-last, batch sizes, ``jit`` = TorchScript frozen
with oneDNN fusions, ``compile`` = ``torch.compile`` inductor with frozen
weights, bfloat16 where native, and with ``--int8`` post-training int8
quantisation by ``torch.ao.quantization`` FX with the x86 backend) is printed
as a ``#`` line with its rate, its ratio to the default in the same rounds and
its preparation (compile) time, with the number of crops after which the
preparation has paid for itself.

    .venv/bin/python tests/benchmarks/bench_limits.py [--parts matmul,f1,i3d]
        [--threads 2] [--rounds 3] [--f1-batches 2] [--f1-variants ...]
        [--i3d-variants ...] [--int8]

Prints ``BENCH {json}`` lines; each carries the load average of the machine
(``os.getloadavg``) before and after the measurement.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
import warnings

import numpy as np

F1_VARIANTS = ("nchw", "b8", "b32", "bf16", "jit", "compile")
I3D_VARIANTS = ("ncdhw", "bf16", "b1", "b2")


def log(msg: str) -> None:
    print(f"# {msg}", file=sys.stderr, flush=True)


def load() -> list:
    return [round(v, 2) for v in os.getloadavg()]


def matmul_rate(n: int, calls: int = 3) -> float:
    """Best-of-``calls`` float32 sgemm rate of ``torch.mm`` on n x n matrices, in FLOP/s."""
    import torch
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    torch.mm(a, b)
    best = np.inf
    for _ in range(calls):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n ** 3 / best


def count_flops(fn, *args) -> int:
    """FLOPs of ``fn(*args)`` by torch's FlopCounterMode."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        fn(*args)
    return int(counter.get_total_flops())


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def f1_extractor(variant: str, model, args):
    from adl.features.cnn import FrameDescriptorExtractor
    opts = dict(input_size=224, batch_size=args.f1_batch, precision="float32",
                channels_last=True, engine="eager", num_threads=args.threads, device="cpu")
    if variant == "nchw":
        opts["channels_last"] = False
    elif variant.startswith("b") and variant[1:].isdigit():
        opts["batch_size"] = int(variant[1:])
    elif variant == "bf16":
        opts["precision"] = "bfloat16"
    elif variant in ("jit", "compile"):
        opts["engine"] = variant
    elif variant != "default":
        raise ValueError(f"unknown F1 variant {variant!r}; expected default or one of "
                         f"{', '.join(F1_VARIANTS)}")
    return FrameDescriptorExtractor("resnet152", "random", model=copy.deepcopy(model), **opts)


def int8_extractor(model, ref, crops: np.ndarray):
    """F1's extractor with ResNet-152 quantised to int8 (FX, x86 backend,
    per-channel weights, histogram observers), calibrated on ``crops``."""
    import torch
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    torch.backends.quantized.engine = "x86"
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        example = torch.zeros(1, 3, 224, 224)
        prepared = prepare_fx(copy.deepcopy(model).eval(), get_default_qconfig_mapping("x86"),
                              (example,))
        calib = copy.copy(ref)
        calib.model = calib._run = prepared
        calib.channels_last = False
        for start in range(0, len(crops), ref.batch_size):
            calib.forward_crops(crops[start:start + ref.batch_size])
        quantised = convert_fx(prepared)
    ex = copy.copy(ref)
    ex.model = ex._run = quantised
    ex.compile_seconds = time.perf_counter() - t0
    return ex


def bench_f1(args, gflops_of_round: list) -> None:
    import torch
    from adl.features.cnn import build_backbone, cpu_supports_bf16
    model = build_backbone("resnet152", "random", seed=0)
    rng = np.random.default_rng(0)
    n = args.f1_batch * args.f1_batches
    crops = rng.integers(0, 256, (n, 224, 224, 3), dtype=np.uint8)
    variants = ["default"] + [v for v in args.f1_variants.split(",") if v]
    if "bf16" in variants and not cpu_supports_bf16():
        log("f1 bf16: skipped (no native bf16 on this CPU)")
        variants.remove("bf16")
    exs, prep = {}, {}
    for v in variants:
        t0 = time.perf_counter()
        exs[v] = f1_extractor(v, model, args)
        prep[v] = exs[v].compile_seconds
        exs[v].forward_crops(crops[: exs[v].batch_size])  # warm-up (oneDNN primitives)
        log(f"f1 {v}: built in {time.perf_counter() - t0:.1f} s (engine preparation "
            f"{prep[v]:.1f} s)")
    if args.int8:
        exs["int8"] = int8_extractor(model, exs["default"], crops)
        prep["int8"] = exs["int8"].compile_seconds
        exs["int8"].forward_crops(crops[: args.f1_batch])
        variants.append("int8")
        log(f"f1 int8: quantised and calibrated on {n} crops in {prep['int8']:.1f} s")
    flops = count_flops(exs["default"].model, torch.zeros(1, 3, 224, 224)
                        .contiguous(memory_format=torch.channels_last))
    log(f"f1: ResNet-152 224x224 = {flops / 1e9:.2f} GFLOP per crop (FlopCounterMode)")
    rates = {v: [] for v in variants}
    fractions = []
    load0 = load()
    for r in range(args.rounds):
        gflops = matmul_rate(args.matmul_n) / 1e9
        gflops_of_round.append(gflops)
        for v in variants:
            rates[v].append(n / timed(lambda: exs[v].forward_crops(crops)))
        fractions.append(rates["default"][-1] * flops / 1e9 / gflops)
        log(f"f1 round {r}: matmul {gflops:.1f} GFLOPS; " + ", ".join(
            f"{v} {rates[v][-1]:.2f}" for v in variants) + " crops/s")
    base = np.asarray(rates["default"])
    for v in variants[1:]:
        ratio = float(np.median(np.asarray(rates[v]) / base))
        gain = 1 / float(np.median(base)) - 1 / float(np.median(rates[v]))   # s saved per crop
        pays = (f"pays off after {prep[v] / gain:,.0f} crops" if gain > 0 and prep[v] > 0
                else ("no preparation" if prep[v] == 0 else "never pays off (slower)"))
        log(f"f1 variant {v}: {float(np.median(rates[v])):.2f} crops/s, x{ratio:.2f} of the "
            f"default in the same rounds, fraction of the limit "
            f"{float(np.median(np.asarray(rates[v]) * flops / 1e9 / np.asarray(gflops_of_round[-args.rounds:]))):.2f}"
            f" (FLOPs of the float32 network); preparation {prep[v]:.1f} s, {pays}")
    print("BENCH " + json.dumps({
        "name": "f1_crops_per_s", "value": round(float(np.median(base)), 2), "unit": "crops/s",
        "limit_fraction": round(float(np.median(fractions)), 3), "goal_limit_fraction": 0.85,
        "gflop_per_crop": round(flops / 1e9, 2), "backbone": "resnet152", "size": 224,
        "batch": args.f1_batch, "precision": "float32", "engine": "eager", "channels_last": True,
        "threads": args.threads, "rounds": args.rounds, "load_before": load0,
        "load_after": load(), "cores": os.cpu_count()}), flush=True)


def bench_i3d(args, gflops_of_round: list) -> None:
    import torch
    from adl.deep.backbones import VideoBackbone
    from adl.features.cnn import cpu_supports_bf16
    rng = np.random.default_rng(0)
    from adl.deep.extract import ExtractConfig
    batch = int(args.i3d_batch or ExtractConfig().batch_size)   # adl deep extract's default
    clips = rng.integers(0, 256, (batch, 64, 224, 224, 3), dtype=np.uint8)
    variants = ["default"] + [v for v in args.i3d_variants.split(",") if v]
    if "bf16" in variants and not cpu_supports_bf16():
        log("i3d bf16: skipped (no native bf16 on this CPU)")
        variants.remove("bf16")
    bbs = {}
    for v in variants:
        if v not in ("default",) + I3D_VARIANTS:
            raise ValueError(f"unknown I3D variant {v!r}; expected one of {', '.join(I3D_VARIANTS)}")
        size = {"b1": 1, "b2": 2}.get(v, batch)
        bbs[v] = VideoBackbone("i3d", "random", device="cpu",
                               precision="bfloat16" if v == "bf16" else "float32",
                               batch_size=size, channels_last_3d=v != "ncdhw")
        bbs[v].forward_clips(clips[:size])  # warm-up
    x = torch.zeros(1, 3, 64, 224, 224)
    flops = count_flops(bbs["default"].model, x)
    log(f"i3d: 64x224x224 clip to Mixed_5c = {flops / 1e9:.1f} GFLOP (FlopCounterMode)")
    rates = {v: [] for v in variants}
    fractions = []
    load0 = load()
    torch.set_num_threads(args.threads)
    for r in range(args.rounds):
        gflops = matmul_rate(args.matmul_n) / 1e9
        gflops_of_round.append(gflops)
        for v in variants:
            rates[v].append(len(clips) / timed(lambda: bbs[v].forward_clips(clips)))
        fractions.append(rates["default"][-1] * flops / 1e9 / gflops)
        log(f"i3d round {r}: matmul {gflops:.1f} GFLOPS; " + ", ".join(
            f"{v} {1 / rates[v][-1]:.2f} s/clip" for v in variants))
    base = np.asarray(rates["default"])
    for v in variants[1:]:
        log(f"i3d variant {v}: {1 / float(np.median(rates[v])):.2f} s per clip, "
            f"x{float(np.median(np.asarray(rates[v]) / base)):.2f} of the default in the same rounds")
    print("BENCH " + json.dumps({
        "name": "i3d_clips_per_s", "value": round(float(np.median(base)), 3), "unit": "clips/s",
        "limit_fraction": round(float(np.median(fractions)), 3), "goal_limit_fraction": 0.70,
        "gflop_per_clip": round(flops / 1e9, 1), "clip": "64x224x224", "endpoint": "Mixed_5c",
        "precision": "float32", "channels_last_3d": True, "batch": batch,
        "threads": args.threads,
        "rounds": args.rounds, "load_before": load0, "load_after": load(),
        "cores": os.cpu_count()}), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parts", default="matmul,f1,i3d")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--matmul-n", type=int, default=4096)
    ap.add_argument("--f1-batch", type=int, default=16, help="F1's batch size (F1Config)")
    ap.add_argument("--f1-batches", type=int, default=2, help="batches timed per round")
    ap.add_argument("--f1-variants", default=",".join(F1_VARIANTS))
    ap.add_argument("--i3d-variants", default=",".join(I3D_VARIANTS))
    ap.add_argument("--i3d-batch", type=int, default=None,
                    help="clips per forward (default: adl deep extract's --batch-size, 4)")
    ap.add_argument("--int8", action="store_true", help="also int8 (FX, x86 backend)")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    parts = [p for p in args.parts.split(",") if p]
    gflops_of_round: list = []
    load0 = load()
    if "f1" in parts:
        bench_f1(args, gflops_of_round)
    if "i3d" in parts:
        bench_i3d(args, gflops_of_round)
    if "matmul" in parts:
        if not gflops_of_round:
            gflops_of_round = [matmul_rate(args.matmul_n) / 1e9 for _ in range(args.rounds)]
        print("BENCH " + json.dumps({
            "name": "matmul_gflops", "value": round(float(np.median(gflops_of_round)), 1),
            "unit": "GFLOP/s", "best": round(float(np.max(gflops_of_round)), 1),
            "n": args.matmul_n, "dtype": "float32", "threads": args.threads,
            "rounds": len(gflops_of_round), "load_before": load0, "load_after": load(),
            "cores": os.cpu_count()}), flush=True)


if __name__ == "__main__":
    main()
