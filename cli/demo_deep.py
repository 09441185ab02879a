"""`make demo-deep` / `adl demo-deep`: the deep stage on built-in synthetic
NTU-60-format data whose cues the attention and temporal models are made to
find (``adl synth --cues deep``: an object in one hand, a waving arm, a bend
early or late), sized to finish in a few minutes on a 2-core CPU.

Steps: synthetic data -> ``adl deep extract`` (I3D; ImageNet-inflated weights
when the checkpoint is in the torch hub cache, else random weights) -> train
and evaluate the I3D baseline, Separable STA, VPN and the Temporal Model on
NTU-60's cross-subject split -> the Global Model (VPN + Temporal) -> a table.

Scaled down from the thesis (printed by the command): 6 subjects x 6 classes x
2 videos of 64 frames at 160x120; 16-frame clips (stride 2) at 112x112, so
Mixed_5c maps are 2 x 4 x 4 (the thesis: 64 frames at 224x224, 8 x 7 x 7);
LSTM 128 units (thesis: 512 on NTU); 12 epochs with the rate x0.1 every 5
(thesis: 30 and 10); the Temporal Model on G = {2, 3, 4} with 20 epochs.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Dict, List

DEMO_SUBJECTS = 6
DEMO_VIDEOS_PER_CLASS = 2
DEMO_FRAMES = 64
DEMO_IMAGE_SIZE = (160, 120)
DEMO_CLIP_FRAMES = 16
DEMO_CLIP_SIZE = 112
DEMO_PROTOCOL = "xsub"
DEMO_UNITS = 128
DEMO_TRAIN = {"epochs": 12, "lr_step": 5}
DEMO_TEMPORAL_TRAIN = {"epochs": 20, "lr_step": 10}
#: (row label, model, configuration overrides)
DEMO_MODELS = (("I3D (no attention)", "i3d", {}),
               ("Separable STA", "sep-sta", {"lstm_units": DEMO_UNITS}),
               ("VPN", "vpn", {"lstm_units": DEMO_UNITS}),
               ("Temporal Model (G = 2,3,4)", "temporal", {}))


def demo_weights() -> tuple:
    """The standard I3D weights when present locally, else random."""
    from adl.deep.backbones import get_backbone_spec
    from adl.deep.weights import WeightsNotFoundError, resolve_weights
    try:
        resolved = resolve_weights(get_backbone_spec("i3d").weights, None)
        return None, f"I3D weights from {resolved.path}"
    except WeightsNotFoundError as exc:
        return "random", f"random I3D weights ({str(exc).splitlines()[0]})"


def scaled_down() -> List[str]:
    """What the demo scales down from the thesis, one line each."""
    return [f"data: {DEMO_SUBJECTS} subjects x 6 classes x {DEMO_VIDEOS_PER_CLASS} videos, "
            f"{DEMO_FRAMES} frames at {DEMO_IMAGE_SIZE[0]}x{DEMO_IMAGE_SIZE[1]}",
            f"clips: {DEMO_CLIP_FRAMES} frames at {DEMO_CLIP_SIZE}x{DEMO_CLIP_SIZE} (thesis 64 at "
            f"224x224): Mixed_5c maps 2x4x4 (thesis 8x7x7)",
            f"pose LSTM: {DEMO_UNITS} units (thesis 512 on NTU)",
            f"training: {DEMO_TRAIN['epochs']} epochs, rate x0.1 every {DEMO_TRAIN['lr_step']} "
            f"(thesis 30 and 10); Temporal Model {DEMO_TEMPORAL_TRAIN['epochs']} epochs",
            "with random I3D weights the cached features are standardised per channel "
            "(--standardize) and carry little of the appearance cues: the table shows the "
            "pipeline runs, not the thesis's accuracy"]


def run_demo_deep(out, *, seed: int = 0, log: Callable[[str], None] = print,
                  subjects: int = DEMO_SUBJECTS, videos_per_class: int = DEMO_VIDEOS_PER_CLASS,
                  frames: int = DEMO_FRAMES, models=DEMO_MODELS, epochs: int = None) -> Dict:
    """Generate, extract, train, evaluate; returns ``{label: report}`` (the
    Global Model's under ``"Global (VPN + Temporal)"``).  The size arguments
    default to the documented demo; smaller values give a quick run (tests)."""
    from adl.data.synth.ntu import generate_ntu
    from adl.deep.evaluate import evaluate_protocol
    from adl.deep.extract import ExtractConfig, run_extract
    from adl.deep.global_model import evaluate_global
    from adl.deep.inputs import DeepData
    from adl.deep.train import TrainConfig, split_run_dirs, train

    t0 = time.perf_counter()
    out = Path(out)
    root, cache, runs = out / "data" / "ntu60", out / "cache", out / "runs"
    weights, why = demo_weights()
    log(f"adl demo-deep (seed {seed}): synthetic NTU-60 with the deep-stage cues; {why}")
    log("scaled down from the thesis:")
    for line in scaled_down():
        log(f"  - {line}")
    summary = generate_ntu("ntu60", root, seed=seed, subjects=subjects,
                           videos_per_class=videos_per_class, frames=frames,
                           image_size=DEMO_IMAGE_SIZE, cues="deep")
    log(f"[{time.perf_counter() - t0:5.0f} s] wrote {summary['n_videos']} videos to {root}")
    ext = ExtractConfig(backbone="i3d", weights=weights, clip_frames=DEMO_CLIP_FRAMES,
                        clip_size=DEMO_CLIP_SIZE, granularities=(1, 2, 3, 4), seed=seed)
    es = run_extract("ntu60", root, cache, ext, jobs=2, log=log)
    log(f"[{time.perf_counter() - t0:5.0f} s] {es.line()}")
    data = DeepData.from_cache("ntu60", cache)
    splits = data.splits(DEMO_PROTOCOL)
    reports: Dict[str, dict] = {}
    run_of: Dict[str, Path] = {}
    for label, model, config in models:
        schedule = DEMO_TEMPORAL_TRAIN if model == "temporal" else DEMO_TRAIN
        if epochs is not None:
            schedule = dict(schedule, epochs=epochs, lr_step=max(1, epochs // 2))
        # random-weight features share a large common component: standardised
        # per channel on the training videos (TrainConfig.standardize)
        tc = TrainConfig.for_model(model, seed=seed, standardize=weights == "random",
                                   **schedule)
        run_root = runs / model
        dirs = split_run_dirs(run_root, splits)
        for split in splits:
            train(model, dict(config), tc, data, split, dirs[split.name],
                  log=lambda m: log("    " + m))
        reports[label] = evaluate_protocol(run_root, data, DEMO_PROTOCOL, "auto")
        run_of[model] = run_root
        log(f"[{time.perf_counter() - t0:5.0f} s] {label}: top-1 {reports[label]['top1']:.1f}%")
    if "vpn" in run_of and "temporal" in run_of:
        label = "Global (VPN + Temporal)"
        reports[label] = evaluate_global(run_of["vpn"], run_of["temporal"], data, DEMO_PROTOCOL,
                                         runs / "global-vpn")
    log("")
    log(format_demo_table(reports))
    log("")
    log(f"reports: {runs}/<model>/report.json (confusion.png, scores.npz beside each)")
    log(f"done in {time.perf_counter() - t0:.0f} s")
    return reports


def format_demo_table(reports: Dict[str, dict]) -> str:
    lines = ["| model | top-1 (%) | mean per-class (%) | test videos |", "|---|---|---|---|"]
    for label, r in reports.items():
        lines.append(f"| {label} | {r['top1']:.1f} | {r['mean_class_accuracy']:.1f} | "
                     f"{r['n_test_videos']} |")
    return "\n".join(lines)
