"""The `adl` command line.  Thin: every command parses options, calls one
library function and prints.  Errors the user can fix (bad data, missing
weights, unsafe paths) print one line and exit with status 2; `--debug`
shows the traceback instead."""
from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import click

from data.errors import AdlError

DATASET_NAMES = ("cad60", "cad120", "msr_daily", "manifest")


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
@click.version_option("0.1.0", prog_name="adl")
def main(debug):
    """adl — Activities of Daily Living recognition in RGB-D video
    (S. Das, "Spatio-temporal attention mechanisms for activity recognition", Inria 2020)."""


@main.command()
def datasets():
    """List supported datasets and the folder layout each expects."""
    from data.registry import DATASETS
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
@click.option("--dataset", type=click.Choice(DATASET_NAMES), required=True)
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output dataset root.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--subjects", type=int, default=None, help="Number of subjects (default: the dataset's).")
@click.option("--videos-per-class", type=int, default=1, show_default=True,
              help="Videos per class and subject.")
@click.option("--frames", type=int, default=48, show_default=True, help="Frames per video.")
@click.option("--image-size", default=None, help="WIDTHxHEIGHT (default: the dataset's native size).")
@friendly_errors
def synth(dataset, out, seed, subjects, videos_per_class, frames, image_size):
    """Write a synthetic ADL dataset in the native format of DATASET."""
    from data.synth import generate
    summary = generate(dataset, Path(out), seed=seed, subjects=subjects,
                       videos_per_class=videos_per_class, frames=frames,
                       image_size=_parse_size(image_size))
    click.echo(f"wrote {summary['n_videos']} videos of {dataset} to {out}")
    click.echo(json.dumps({k: v for k, v in summary.items() if k != "n_videos"}, sort_keys=True))


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
    from data.inspect import inspect_dataset
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
    from data.convert import utkinect_to_manifest
    _print_conversion(utkinect_to_manifest(Path(src), Path(out)))


@convert.command("biisc")
@click.option("--src", type=click.Path(exists=True, file_okay=False), required=True)
@click.option("--out", type=click.Path(file_okay=False), required=True)
@friendly_errors
def convert_biisc(src, out):
    """BII Sneeze-Cough videos -> manifest."""
    from data.convert import biisc_to_manifest
    _print_conversion(biisc_to_manifest(Path(src), Path(out)))


if __name__ == "__main__":  # pragma: no cover
    main()
