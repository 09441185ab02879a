"""`make demo` / `adl demo`: the whole classical pipeline on built-in
synthetic CAD-120-format data, sized to finish in a few minutes on a 2-core
CPU machine.

Sizing (documented choices, printed by the command):

* data: 4 subjects x 10 classes x 2 videos, 32 frames at 320x240;
* F1: ResNet-18 at 112x112 crops with ImageNet weights when the torchvision
  checkpoint is in the torch cache, otherwise ``--weights random`` (random
  features: F1 is then much weaker than with ImageNet weights);
* F2: 4 spatial scales, Fisher vectors with K = 32 Gaussians fitted on 20 000
  sampled descriptors;
* F3: the thesis's 3-layer LSTM (64 units for CAD-120);
* fusion: ``adl fuse --alpha-search`` with the thesis's epsilon for CAD-120.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional, Sequence

DEMO_SUBJECTS = 4
DEMO_VIDEOS_PER_CLASS = 2
DEMO_FRAMES = 32
DEMO_IMAGE_SIZE = (320, 240)


def demo_weights() -> tuple:
    """ImageNet ResNet-18 weights when present locally, else random."""
    from adl.features.cnn import hub_checkpoint_path
    path = hub_checkpoint_path("resnet18")
    if path.is_file():
        return "imagenet", f"ImageNet ResNet-18 weights from {path}"
    return "random", (f"random ResNet-18 weights (no ImageNet checkpoint at {path}; "
                      f"F1 is weak without it)")


def run_demo(out, *, seed: int = 0, log: Callable[[str], None] = print,
             subjects: int = DEMO_SUBJECTS, videos_per_class: int = DEMO_VIDEOS_PER_CLASS,
             frames: int = DEMO_FRAMES, image_size=DEMO_IMAGE_SIZE,
             classes: Optional[Sequence[str]] = None) -> dict:
    """Generate the synthetic CAD-120 data, compute the features, fuse.

    The size arguments default to the documented demo; smaller values give a
    quick run (the determinism tests use them).  ``classes`` restricts the
    synthetic classes (default: all ten).
    """
    from adl.data.synth import generate
    from adl.features.f1 import F1Config
    from adl.features.f2 import F2Config
    from adl.features.f3 import F3Config
    from adl.features.cache_reader import load_fold_features
    from adl.features.config import FeaturesConfig, FisherConfig
    from adl.features.pipeline import run_features
    from adl.fusion import FusionConfig, run_fusion

    t0 = time.perf_counter()
    out = Path(out)
    data_root, cache, report_dir = out / "data" / "cad120", out / "cache", out
    weights, why = demo_weights()
    n_classes = 10 if classes is None else len(classes)
    log(f"adl demo (seed {seed}): synthetic CAD-120, {subjects} subjects x {n_classes} classes x "
        f"{videos_per_class} videos, {frames} frames at {image_size[0]}x{image_size[1]}")
    log(f"F1 backbone: {why}, 112x112 crops")
    summary = generate("cad120", data_root, seed=seed, subjects=subjects,
                       videos_per_class=videos_per_class, frames=frames,
                       image_size=tuple(image_size), classes=classes)
    log(f"[{time.perf_counter() - t0:5.0f} s] wrote {summary['n_videos']} videos to {data_root}")
    cfg = FeaturesConfig(
        f1=F1Config(backbone="resnet18", weights=weights, input_size=112, seed=seed),
        f2=F2Config(max_scales=4),
        # the synthetic subjects include a left-handed one, whom only the
        # mirrored training sequences show the right-handed activities
        # (--mirror; off by default, as in the thesis, because it cost about
        # 10 points on real skeletons: docs/design.md, F3)
        f3=F3Config.for_dataset("cad120", seed=seed, mirror=True),
        fisher=FisherConfig(n_components=32, n_samples=20_000),
        seed=seed)
    fs = run_features("cad120", data_root, cache, cfg, jobs=2, log=log)
    log(f"[{time.perf_counter() - t0:5.0f} s] features: {fs.computed}")
    folds = load_fold_features(cache, "cad120")
    report = run_fusion(folds, report_dir, FusionConfig(alpha_search=True, seed=seed))
    log(f"[{time.perf_counter() - t0:5.0f} s] fusion done")
    return report
