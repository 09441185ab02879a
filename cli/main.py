"""The `adl` command line.  Thin: every command parses options, calls one
library function and prints.  Errors the user can fix (bad data, missing
weights, unsafe paths) print one line and exit with status 2; `--debug`
shows the traceback instead."""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import click

from adl.data.errors import AdlError
from adl.data.protocols import DEFAULT_VALIDATION_FRACTION
from adl.data.registry import DATASETS
from adl.features.cnn import BACKBONES
from adl.features.config import F1Config, F2Config, F3Config, FeaturesConfig, FisherConfig
from adl.features.folds import FAMILIES
from adl.fusion.config import SELECTIONS, FusionConfig

DATASET_NAMES = tuple(DATASETS)


def _default_root(dataset: str) -> str:
    return str(Path(os.environ.get("ADL_DATA", "datasets")) / dataset)


def _default_cache() -> str:
    return os.environ.get("ADL_CACHE", "cache")


def _reader_options(dataset, media_root):
    if media_root and dataset != "manifest":
        raise click.UsageError("--media-root applies to --dataset manifest only")
    return {"media_root": media_root} if media_root else {}


def friendly_errors(func):
    """Turn the project's own errors into one-line messages (exit 2)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        ctx = click.get_current_context()
        debug = (ctx.find_root().params or {}).get("debug", False)
        try:
            return func(*args, **kwargs)
        except (AdlError, FileNotFoundError) as e:
            if debug:
                raise
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
        except ValueError as e:
            if debug:
                raise
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show Python tracebacks on errors.")
@click.version_option(package_name="adl", prog_name="adl")
def main(debug):
    """adl — Activities of Daily Living recognition in RGB-D video
    (S. Das, "Spatio-temporal attention mechanisms for activity recognition", Inria 2020)."""


@main.command()
def datasets():
    """List supported datasets and the folder layout each expects."""
    for info in DATASETS.values():
        click.echo(f"{info.name}: {info.title}")
        click.echo(f"  modalities: {info.modalities}")
        click.echo(f"  joint layout: {info.layout}; protocol: {info.protocol}")
        for line in info.folder_layout.splitlines():
            click.echo(f"    {line}")
        click.echo("")


def _parse_size(text):
    if not text:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected WIDTHxHEIGHT (e.g. 320x240), got {text!r}")
    return (w, h)


@main.command()
@click.option("--out", type=click.Path(file_okay=False), default="demo-output", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--subjects", type=click.IntRange(min=2), default=4, show_default=True)
@click.option("--videos-per-class", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--frames", type=click.IntRange(min=8), default=32, show_default=True)
@click.option("--image-size", default="320x240", show_default=True, help="WIDTHxHEIGHT.")
@friendly_errors
def demo(out, seed, subjects, videos_per_class, frames, image_size):
    """The main job on built-in synthetic CAD-120 data (what `make demo` runs)."""
    from adl.cli.demo import run_demo
    report = run_demo(out, seed=seed, log=click.echo, subjects=subjects,
                      videos_per_class=videos_per_class, frames=frames,
                      image_size=_parse_size(image_size))
    click.echo("")
    click.echo(format_table(report))
    click.echo(f"report: {Path(out) / 'report.json'} (and report.md, confusion_*.png)")



@main.command("demo-deep")
@click.option("--out", type=click.Path(file_okay=False), default="demo-deep-output",
              show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@friendly_errors
def demo_deep(out, seed):
    """The deep stage on synthetic NTU-60 data with designed cues: extract,
    train and evaluate I3D, Separable STA, VPN, the Temporal and Global Models
    (scaled down to minutes on a CPU; the output says how)."""
    from adl.cli.demo_deep import run_demo_deep
    run_demo_deep(out, seed=seed, log=click.echo)

@main.command()
@click.option("--dataset", type=click.Choice(DATASET_NAMES), required=True)
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output dataset root.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--subjects", type=int, default=None, help="Number of subjects (default: the dataset's).")
@click.option("--videos-per-class", type=int, default=1, show_default=True,
              help="Videos per class and subject.")
@click.option("--frames", type=int, default=48, show_default=True, help="Frames per video.")
@click.option("--image-size", default=None, help="WIDTHxHEIGHT (default: the dataset's native size).")
@click.option("--cues", type=click.Choice(["deep"]), default=None,
              help="ntu60/ntu120 only: write the designed deep-stage cue classes (an object in "
                   "one hand, a waving arm, a bend early or late) instead of the readers' "
                   "class table.")
@friendly_errors
def synth(dataset, out, seed, subjects, videos_per_class, frames, image_size, cues):
    """Write a synthetic ADL dataset in the native format of DATASET."""
    from adl.data.synth import generate
    kw = dict(seed=seed, subjects=subjects, videos_per_class=videos_per_class, frames=frames,
              image_size=_parse_size(image_size))
    if cues is not None:
        if dataset not in ("ntu60", "ntu120"):
            raise ValueError(f"--cues {cues} is for --dataset ntu60 or ntu120, got {dataset}")
        from adl.data.synth.ntu import generate_ntu
        summary = generate_ntu(dataset, Path(out), cues=cues, **kw)
    else:
        summary = generate(dataset, Path(out), **kw)
    click.echo(f"wrote {summary['n_videos']} videos of {dataset} to {out} "
               f"({summary.get('n_frames', '?')} frames, image size "
               f"{'x'.join(map(str, summary.get('image_size', [])))})")
    click.echo("per class: " + ", ".join(f"{c}: {n}" for c, n in summary["per_class"].items()))
    click.echo("per subject: " + ", ".join(f"{s}: {n}" for s, n in summary["per_subject"].items()))


@main.command()
@click.option("--dataset", type=click.Choice(DATASET_NAMES), required=True)
@click.option("--root", type=click.Path(), default=None, help="Dataset root (default $ADL_DATA/<dataset>).")
@click.option("--no-frames", is_flag=True, help="Do not open RGB sources to count frames.")
@click.option("--media-root", type=click.Path(exists=True, file_okay=False), default=None,
              help="manifest only: folder that relative media paths resolve against.")
@friendly_errors
def inspect(dataset, root, no_frames, media_root):
    """Counts per class and subject, frames, modalities, and problems found."""
    from tqdm import tqdm
    from adl.data.inspect import inspect_dataset
    root = root or _default_root(dataset)
    rep = inspect_dataset(dataset, root, check_frames=not no_frames, **_reader_options(dataset, media_root),
                          progress=lambda xs: tqdm(xs, desc="inspect", unit="video",
                                                   leave=False, disable=None))
    for line in rep.summary_lines():
        click.echo(line)
    if not rep.ok:
        click.echo(f"error: {rep.problems[0]}", err=True)
        sys.exit(2)


@main.group()
def convert():
    """Convert a public dataset into an adl manifest."""


def _print_conversion(summary):
    click.echo(f"wrote {summary.manifest}: {summary.n_records} sequences, "
               f"{len(summary.classes)} classes, {len(summary.subjects)} subjects")
    for item, reason in summary.skipped:
        click.echo(f"skipped {item}: {reason}")
    if summary.media_root:
        click.echo(f"media stay in {summary.media_root}: pass --media-root {summary.media_root} "
                   f"to adl inspect/features")


@convert.command("utkinect")
@click.option("--src", type=click.Path(exists=True, file_okay=False), required=True)
@click.option("--out", type=click.Path(file_okay=False), required=True)
@friendly_errors
def convert_utkinect(src, out):
    """UTKinect-Action3D joints + actionLabel.txt -> manifest of segments."""
    from adl.data.convert import utkinect_to_manifest
    _print_conversion(utkinect_to_manifest(Path(src), Path(out)))


@convert.command("biisc")
@click.option("--src", type=click.Path(exists=True, file_okay=False), required=True)
@click.option("--out", type=click.Path(file_okay=False), required=True)
@friendly_errors
def convert_biisc(src, out):
    """BII Sneeze-Cough videos -> manifest."""
    from adl.data.convert import biisc_to_manifest
    _print_conversion(biisc_to_manifest(Path(src), Path(out)))


# The features command's defaults are the configuration dataclasses' own.
_F1, _F2, _F3, _FISHER = F1Config(), F2Config(), F3Config(), FisherConfig()
from adl.features.cnn import ENGINES as _F1_ENGINES, PRECISIONS as _F1_PRECISIONS  # noqa: E402
from adl.features.device import AUTO_BATCH as _AUTO_BATCH  # noqa: E402  (torch-free modules)


@main.command()
@click.option("--dataset", type=click.Choice(DATASET_NAMES), required=True)
@click.option("--root", type=click.Path(), default=None, help="Dataset root (default $ADL_DATA/<dataset>).")
@click.option("--cache", type=click.Path(file_okay=False), default=None,
              help="Cache root (default $ADL_CACHE or ./cache); entries go to CACHE/<dataset>/.")
@click.option("--only", default=",".join(FAMILIES), show_default=True,
              help="Feature families to compute.")
@click.option("--train-subjects", default=None, help="Explicit training subjects, e.g. 1,3,5,7,9 "
              "(default: leave-one-subject-out).")
@click.option("--weights", default=_F1.weights, show_default=True,
              help="F1 backbone weights: imagenet (torchvision file in the torch cache), a file path, "
                   "or random (tests and demos only).")
@click.option("--backbone", type=click.Choice(tuple(BACKBONES)),
              default=_F1.backbone, show_default=True)
@click.option("--input-size", type=int, default=_F1.input_size, show_default=True,
              help="F1 crop side in pixels.")
@click.option("--frame-stride", type=int, default=_F1.frame_stride, show_default=True,
              help="F1: every N-th frame.")
@click.option("--device", default="auto", show_default=True,
              help="F1's CNN and F3's LSTM: auto (the first GPU when there is one), cpu, cuda "
                   "or cuda:N.")
@click.option("--f1-precision", type=click.Choice(_F1_PRECISIONS), default=_F1.precision,
              show_default=True, help="F1: auto = bfloat16 autocast where the CPU/GPU runs it "
              "natively, else float32.")
@click.option("--f1-engine", type=click.Choice(_F1_ENGINES), default=_F1.engine, show_default=True,
              help="F1: eager PyTorch, jit (TorchScript frozen, oneDNN fusions) or compile "
                   "(torch.compile, frozen weights; about a minute to compile).")
@click.option("--f1-batch-size", default="auto", show_default=True,
              help=f"F1: crops per forward pass; auto = {_AUTO_BATCH['cpu']} on the CPU, "
                   f"{_AUTO_BATCH['cuda']} on a GPU.")
@click.option("--trajectory-length", type=int, default=_F2.trajectory_length, show_default=True,
              help="F2: L.")
@click.option("--max-scales", type=int, default=_F2.max_scales, show_default=True,
              help="F2: spatial scales.")
@click.option("--no-hog", is_flag=True, help="F2: motion-only descriptors (thesis Fig. 3.1).")
@click.option("--f2-max-width", type=click.IntRange(min=32), default=_F2.max_width,
              help="F2: shrink wider frames to this width first (e.g. 320: 640x480 video at "
                   "320x240, about 3x faster; not in the thesis). Default: frames as they are.")
@click.option("--gmm-size", type=int, default=_FISHER.n_components, show_default=True,
              help="F2: GMM components K.")
@click.option("--gmm-samples", type=int, default=_FISHER.n_samples, show_default=True,
              help="F2: training descriptors sampled to fit PCA + GMM.")
@click.option("--gmm-backend", type=click.Choice(("adl", "sklearn")), default=_FISHER.gmm_backend,
              show_default=True, help="F2's GMM: adl (float32 EM on every core) or sklearn "
                                      "(GaussianMixture, adl < 0.3).")
@click.option("--gmm-iter", type=click.IntRange(min=1), default=_FISHER.max_iter, show_default=True,
              help="F2: EM iterations of each GMM (tolerance 1e-3 may stop earlier).")
@click.option("--f2-mirror", is_flag=True,
              help="F2: Fisher vectors of each video's descriptors and their left-right mirror "
                   "images (handedness-invariant F2; not in the thesis).")
@click.option("--lstm-units", type=int, default=None,
              help="F3: LSTM hidden units (default: the thesis's value for the dataset).")
@click.option("--lstm-epochs", type=int, default=_F3.max_epochs, show_default=True)
@click.option("--lstm-max-len", type=int, default=_F3.max_len, show_default=True,
              help="F3: sequences are resampled to at most this many steps.")
@click.option("--augment/--no-augment", default=_F3.augment, show_default=True,
              help="F3: skeleton augmentation during training.")
@click.option("--mirror/--no-mirror", default=_F3.mirror, show_default=True,
              help="F3: also train the LSTM on left-right mirrored skeletons (not in the thesis; "
                   "--no-mirror is the thesis's plain training).")
@click.option("--f3-reference", type=click.Choice(["first-frame", "per-frame"]),
              default="per-frame" if _F3.per_frame else "first-frame", show_default=True,
              help="F3: normalise every frame of a skeleton sequence with the body frame of its "
                   "first valid frame, or each frame with its own (the thesis).")
@click.option("--f3-inputs", default=_F3.inputs, show_default=True,
              help="F3: the LSTM's input channels, joined by '+': joints (the thesis), velocity, "
                   "bones.")
@click.option("--f3-pyramid", type=click.IntRange(min=0), default=_F3.pyramid, show_default=True,
              help="F3: levels of a temporal pyramid (mean and std over 1, 2, 4, ... segments) of "
                   "the input channels added to the F3 vector; 0: the LSTM's states only (the "
                   "thesis).")
@click.option("--f3-pool", default=_F3.pool, show_default=True,
              help="F3: how the LSTM's last-layer hidden states are pooled over time, joined by "
                   "'+': mean, max, last (adl before 0.2: mean+max+last).")
@click.option("--jobs", type=int, default=1, show_default=True, help="Parallel workers for F2.")
@click.option("--scheduler", default=None, help="Dask scheduler address for per-video work.")
@click.option("--media-root", type=click.Path(exists=True, file_okay=False), default=None,
              help="manifest only: folder that relative media paths resolve against.")
@click.option("--seed", type=int, default=FeaturesConfig().seed, show_default=True,
              help="Seeds the split, the F1 part selection, F2's encoder, F3's LSTM and random "
                   "F1 weights.")
@friendly_errors
def features(dataset, root, cache, only, train_subjects, weights, backbone, input_size,
             frame_stride, device, f1_precision, f1_engine, f1_batch_size, trajectory_length, max_scales, no_hog, f2_max_width, gmm_size,
             gmm_samples, gmm_iter, gmm_backend, f2_mirror, lstm_units, lstm_epochs, lstm_max_len, augment, mirror,
             f3_reference, f3_inputs, f3_pyramid, f3_pool, jobs, scheduler, media_root, seed):
    """Compute (or resume) F1, F2, F3 for every fold of DATASET."""
    from adl.data.protocols import parse_subject_list
    from adl.features.pipeline import run_features
    root = root or _default_root(dataset)
    cache = cache or _default_cache()
    families = tuple(f.strip() for f in only.split(",") if f.strip())
    f3_over = {"max_epochs": lstm_epochs, "max_len": lstm_max_len, "augment": augment,
               "mirror": mirror, "per_frame": f3_reference == "per-frame", "inputs": f3_inputs,
               "pyramid": f3_pyramid, "pool": f3_pool, "seed": seed}
    if lstm_units:
        f3_over["hidden"] = lstm_units
    if "f3" in families:
        f3_over["device"] = _f3_device(device)
    cfg = FeaturesConfig(
        families=families,
        f1=_f1_config(families, device, f1_precision, f1_batch_size, backbone=backbone,
                      weights=weights, input_size=input_size, frame_stride=frame_stride,
                      engine=f1_engine, seed=seed),
        f2=F2Config(trajectory_length=trajectory_length, max_scales=max_scales, hog=not no_hog,
                    max_width=f2_max_width),
        f3=F3Config.for_dataset(dataset, **f3_over),
        fisher=FisherConfig(n_components=gmm_size, n_samples=gmm_samples, max_iter=gmm_iter,
                            gmm_backend=gmm_backend,
                            mirror=f2_mirror),
        seed=seed,
        train_subjects=parse_subject_list(train_subjects) if train_subjects else None)
    summary = run_features(dataset, root, cache, cfg, jobs=jobs, scheduler=scheduler,
                           reader_options=_reader_options(dataset, media_root), log=click.echo)
    click.echo(f"{dataset}: {summary.n_videos} videos, {len(summary.folds)} folds, families "
               f"{','.join(summary.families)}; computed {summary.computed}; "
               f"{summary.seconds:.1f} s; index {summary.index}")


def _f3_device(device: str) -> str:
    """``--device`` resolved for F3's LSTM ("cpu", or "cuda:N")."""
    from adl.features.device import resolve_device
    try:
        return str(resolve_device(device))
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


def _f1_config(families, device, precision, batch_size, **fields) -> F1Config:
    """F1's configuration with the device and batch size resolved here (torch
    imported only when F1 runs), and on a GPU the precision too, so that the
    cache key holds the precision the device will really use."""
    if "f1" not in families:
        return F1Config(**fields)
    from adl.features.cnn import resolve_precision
    from adl.features.device import resolve_batch_size, resolve_device
    try:
        dev = resolve_device(device)
        if batch_size != "auto":
            try:
                batch_size = int(batch_size)
            except ValueError:
                raise ValueError(f"expected --f1-batch-size as a positive integer or 'auto', "
                                 f"got {batch_size!r}") from None
        batch = resolve_batch_size(batch_size, dev)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    if dev.type != "cpu":
        # the cache key resolves "auto" for the CPU (adl.features.keys): key the GPU's own
        precision = resolve_precision(precision, str(dev))
    return F1Config(**fields, device=str(dev), batch_size=batch, precision=precision)


def _parse_epsilon(text):
    if text is None or text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise click.BadParameter(f"expected a number or 'auto', got {text!r}")


#: Defaults of ``adl fuse``: those of the library's FusionConfig.
_FUSE = FusionConfig()


@main.command()
@click.option("--dataset", type=click.Choice(DATASET_NAMES), required=True)
@click.option("--cache", type=click.Path(file_okay=False), default=None,
              help="Cache root written by adl features (default $ADL_CACHE or ./cache).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Report folder (default CACHE/<dataset>/report).")
@click.option("--alpha-search", is_flag=True, default=_FUSE.alpha_search,
              help="Search alpha on the held-out predictions of training (Eq. 3.6); without it "
                   "alpha is fixed at --alpha (the report says so).")
@click.option("--alpha", type=float, default=_FUSE.alpha, show_default=True,
              help="Fixed late-fusion weight when --alpha-search is not given.")
@click.option("--features", "families", default=",".join(_FUSE.families), show_default=True,
              help="Families to fuse (those computed by adl features).")
@click.option("--epsilon", default=_FUSE.epsilon, help="Action-pair threshold: a number, or auto "
              "(default: the thesis's value for the dataset).")
@click.option("--selection", type=click.Choice([s.replace("_", "-") for s in SELECTIONS]),
              default=_FUSE.selection.replace("_", "-"), show_default=True,
              help="How C, alpha and the pair memory are chosen: out-of-fold predictions of an "
                   "inner cross-validation over the training subjects, or the validation split "
                   f"of the features stage (by default {DEFAULT_VALIDATION_FRACTION:.0%} of each "
                   "class's training videos).")
@click.option("--inner-folds", type=click.IntRange(min=2), default=_FUSE.inner_folds,
              show_default=True,
              help="Maximum number of inner folds (leave-one-training-subject-out up to it).")
@click.option("--save-model", is_flag=True, help="Save one model per fold under OUT/models/.")
@click.option("--seed", type=int, default=_FUSE.seed, show_default=True)
@friendly_errors
def fuse(dataset, cache, out, alpha_search, alpha, families, epsilon, selection, inner_folds,
         save_model, seed):
    """Two-level fusion, action-pair memory and reports over every fold."""
    from adl.features.cache_reader import load_fold_features
    from adl.fusion import run_fusion
    cache = cache or _default_cache()
    out = Path(out or Path(cache) / dataset / "report")
    fams = tuple(f.strip() for f in families.split(",") if f.strip())
    folds = load_fold_features(cache, dataset, fams)
    config = FusionConfig(alpha_search=alpha_search, alpha=alpha,
                          families=tuple(f for f in fams if folds[0].features.get(f) is not None),
                          epsilon=_parse_epsilon(epsilon), selection=selection.replace("-", "_"),
                          inner_folds=inner_folds, seed=seed)
    report = run_fusion(folds, out, config, save_model=save_model or None)
    click.echo(format_table(report))
    click.echo(f"report: {out / 'report.json'} and {out / 'report.md'} ({report['seconds']:.1f} s)")


def format_table(report: dict) -> str:
    """The ablation table (mean +- std over folds, percent)."""
    names = [("f1", "F1 appearance (body parts)"), ("f2", "F2 short-term motion (IDT FV)"),
             ("f3", "F3 pose motion (LSTM)"), ("early_f1f2", "early fusion [F1,F2]"),
             ("early_all", "early fusion [F1,F2,F3]"), ("two_level", "two-level fusion"),
             ("two_level_pairs", "two-level fusion + action pairs")]
    lines = [f"{report['dataset']} ({report['protocol']}, {len(report['folds'])} folds)",
             f"{'method':<34} {'accuracy %':>16}"]
    for key, label in names:
        m, sd = report["mean"].get(key), report["std"].get(key)
        val = "n/a" if m is None else f"{m:6.1f} +- {sd:4.1f}"
        lines.append(f"{label:<34} {val:>16}")
    alphas = [f["alpha"] for f in report["folds"] if f["alpha"] is not None]
    if report["alpha_mode"] == "fixed":
        lines.append(f"alpha fixed at {report['config']['alpha']:.2f}, not searched "
                     "(--alpha-search searches it per fold)")
    elif alphas:
        lines.append("alpha searched per fold: " + ", ".join(f"{a:.2f}" for a in alphas))
    pairs = {tuple(p["classes"]) for f in report["folds"] for p in f["pairs"]}
    if pairs:
        lines.append("action pairs memorised: " + "; ".join(f"{a} / {b}" for a, b in sorted(pairs)))
    return "\n".join(lines)


@main.command()
@click.option("--model", type=click.Path(exists=True, dir_okay=False), required=True,
              help="A .adlfusion file written by adl fuse --save-model.")
@click.option("--dataset", type=click.Choice(DATASET_NAMES), required=True)
@click.option("--root", type=click.Path(), default=None)
@click.option("--video", required=True, help="Video id (see adl inspect).")
@click.option("--cache", type=click.Path(file_okay=False), default=None,
              help="Cache of the adl features run the model was trained on.")
@click.option("--media-root", type=click.Path(exists=True, file_okay=False), default=None)
@friendly_errors
def predict(model, dataset, root, video, cache, media_root):
    """Classify one sequence with a saved model."""
    from adl.fusion.predict import predict_one
    root = root or _default_root(dataset)
    cache = cache or _default_cache()
    label, scores = predict_one(model, dataset, root, video, cache,
                                reader_options=_reader_options(dataset, media_root))
    click.echo(f"{video}: {label}")
    for cls, sc in sorted(scores.items(), key=lambda kv: -kv[1])[:5]:
        click.echo(f"  {cls:<30} {sc:.3f}")


@main.group()
def plot():
    """Figures of the thesis."""


@plot.command("tsne")
@click.option("--dataset", type=click.Choice(DATASET_NAMES), required=True)
@click.option("--cache", type=click.Path(file_okay=False), default=None)
@click.option("--classes", "pair", required=True, help="Two class names, comma-separated.")
@click.option("--fold", default=None, help="Fold whose features to embed (default: the first).")
@click.option("--out", type=click.Path(dir_okay=False), default="tsne.png", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@friendly_errors
def plot_tsne_cmd(dataset, cache, pair, fold, out, seed):
    """t-SNE of two classes in F2, F1 and F1+F2 spaces (thesis Fig. 3.8)."""
    import numpy as np
    from adl.features.cache_reader import load_fold_features
    from adl.fusion.plots import plot_tsne
    classes = tuple(c.strip() for c in pair.split(","))
    if len(classes) != 2:
        raise click.BadParameter(f"expected two class names, got {pair!r}")
    folds = load_fold_features(cache or _default_cache(), dataset)
    chosen = next((f for f in folds if fold in (None, f.fold)), None)
    if chosen is None:
        raise click.BadParameter(f"no fold {fold!r}; folds are {[f.fold for f in folds]}")
    unknown = [c for c in classes if c not in chosen.classes]
    if unknown:
        raise click.BadParameter(f"unknown classes {unknown}; classes are {list(chosen.classes)}")
    spaces = {}
    f1, f2 = chosen.features.get("f1"), chosen.features.get("f2")
    if f2 is not None:
        spaces["F2"] = f2
    if f1 is not None:
        spaces["F1"] = f1
    if f1 is not None and f2 is not None:
        def l2(x):
            return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        spaces["F1+F2"] = np.hstack([l2(f1), l2(f2)])
    if not spaces:
        raise click.UsageError("t-SNE needs F1 or F2 features in the cache")
    path = plot_tsne(spaces, chosen.labels, classes, out, seed=seed)
    click.echo(f"wrote {path}")


@main.group()
def deep():
    """The deep stage (thesis ch. 4-5): cached backbone features (extract),
    the attention, temporal and global models (train, evaluate) and the
    thesis's ablation tables (ablate)."""


@deep.command("extract")
@click.option("--dataset", type=click.Choice(DATASET_NAMES), required=True)
@click.option("--root", type=click.Path(), default=None,
              help="Dataset root (default $ADL_DATA/<dataset>).")
@click.option("--cache", type=click.Path(file_okay=False), default=None,
              help="Cache root (default $ADL_CACHE or ./cache).")
@click.option("--backbone", type=click.Choice(("i3d", "s3d")), default="i3d", show_default=True)
@click.option("--weights", default=None,
              help="A state-dict PATH, or 'random' (tests and demos); default: the backbone's "
                   "standard weights file in the torch hub cache.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--precision", type=click.Choice(("auto", "float32", "float16", "bfloat16")),
              default="auto", show_default=True, help="Autocast precision (native only).")
@click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True,
              help="Clips per forward pass.")
@click.option("--clip-frames", type=click.IntRange(min=1), default=64, show_default=True,
              help="Frames per clip (stride 2).")
@click.option("--clip-size", type=click.IntRange(min=8), default=224, show_default=True,
              help="Side of the square crop fed to the backbone.")
@click.option("--granularities", default="1,2,3,4", show_default=True,
              help="Segmentations G of the temporal model's per-segment features.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Parallel worker processes (one torch thread each).")
@click.option("--scheduler", default=None, help="Dask scheduler address for per-video work.")
@click.option("--media-root", type=click.Path(exists=True, file_okay=False), default=None,
              help="manifest only: folder that relative media paths resolve against.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of random weights.")
@friendly_errors
def deep_extract(dataset, root, cache, backbone, weights, device, precision, batch_size,
                 clip_frames, clip_size, granularities, jobs, scheduler, media_root, seed):
    """Compute (or resume) the backbone features of DATASET's videos."""
    from adl.deep.extract import ExtractConfig, run_extract
    try:
        grans = tuple(int(g) for g in granularities.split(",") if g.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {granularities!r}",
                                 param_hint="--granularities") from None
    cfg = ExtractConfig(backbone=backbone, weights=weights, device=device, precision=precision,
                        batch_size=batch_size, clip_frames=clip_frames, clip_size=clip_size,
                        granularities=grans, seed=seed)
    summary = run_extract(dataset, root or _default_root(dataset), cache or _default_cache(), cfg,
                          jobs=jobs, scheduler=scheduler, log=click.echo,
                          reader_options=_reader_options(dataset, media_root))
    click.echo(summary.line())


# adl deep train / adl deep evaluate (cli/deep_cmds.py), with this module's error handling
from adl.cli.deep_cmds import DEEP_COMMANDS  # noqa: E402

for _command in DEEP_COMMANDS:
    _command.callback = friendly_errors(_command.callback)
    deep.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main()
