"""``adl deep train`` and ``adl deep evaluate`` (thesis ch. 4-5): thin
commands over :func:`adl.deep.train.train` and
:func:`adl.deep.evaluate.evaluate_protocol`.

A run lives in ``OUT/<run name>/`` (one split) or ``OUT/<run name>/<split>/``
(leave-one-subject-out): the run name is the model's name followed by the
model options that differ from their defaults (``vpn-lstm-nocoupler``,
``sep-sta-ta``, ``pose-lstm-u128``) and ``-seed<S>`` for a seed other than 0,
so ``adl deep evaluate`` with the same options finds what ``adl deep train``
wrote.  The model options map to fields of the model's configuration
(``--pose-backbone`` -> ``pose_backbone``, ``--coupler`` -> ``coupler``,
``--embedding`` -> ``embedding``, ``--variant`` -> ``variant``, ``--units`` ->
``lstm_units``); an option the model has no field for is refused.  Training
options default to :class:`adl.deep.train.TrainConfig` and its per-model
defaults (:data:`adl.deep.train.MODELTRAIN_HELP_DEFAULTS`).

main.py registers :data:`DEEP_COMMANDS` into its ``deep`` group, wrapped in
its ``friendly_errors``.  torch is imported only when a command runs.
"""
from __future__ import annotations

import math
import os
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Dict, Optional, Tuple

import click

from adl.data.registry import DATASETS

__all__ = ["DEEP_COMMANDS", "MODEL_OPTIONS", "TRAIN_HELP_DEFAULTS", "model_options", "run_name",
           "load_deep_data", "train_cmd", "evaluate_cmd"]

#: CLI option -> model configuration field.
MODEL_OPTIONS = {"pose_backbone": "pose_backbone", "coupler": "coupler",
                 "embedding": "embedding", "variant": "variant", "units": "lstm_units"}
#: Defaults of the training options as the help shows them: TrainConfig's (a test keeps
#: them equal; TrainConfig is not imported here because it imports torch).
TRAIN_HELP_DEFAULTS = {"epochs": 30, "lr": 0.01, "batch_size": 32}


def _default_cache() -> str:
    return os.environ.get("ADL_CACHE", "cache")


def _field_default(spec, name: str, dataset: str):
    if name == "lstm_units":
        from adl.deep.models.pose import default_lstm_units
        return default_lstm_units(dataset)
    for f in fields(spec.config_cls):
        if f.name == name:
            return f.default if f.default is not MISSING else None
    return None


def model_options(model: str, dataset: str, **given) -> Tuple[object, Dict[str, object], str]:
    """The model's spec, its configuration overrides and the run name's suffix.

    Parameters
    ----------
    model : str
        A registered model.
    dataset : str
        Decides the LSTM units' default (thesis 4.6.1: 512 on NTU, 128 else).
    **given
        The CLI's model options (:data:`MODEL_OPTIONS`), None when not given.

    Returns
    -------
    spec, config dict, suffix (``""`` or ``-a-b``)

    Raises
    ------
    ValueError
        An unknown model (the message lists the known ones) or an option
        the model's configuration has no field for.
    """
    from adl.deep.models.base import get_model_spec
    spec = get_model_spec(model)
    names = {f.name for f in fields(spec.config_cls)}
    config: Dict[str, object] = {}
    suffix = []
    for option, field_name in MODEL_OPTIONS.items():
        value = given.get(option)
        if field_name == "lstm_units" and field_name in names and value is None:
            config[field_name] = _field_default(spec, field_name, dataset)
            continue
        if value is None:
            continue
        if field_name not in names:
            flag = "--" + option.replace("_", "-")
            raise ValueError(f"model {model} has no option {flag} (no field {field_name!r} in "
                             f"{spec.config_cls.__name__}; its fields: {', '.join(sorted(names))})")
        config[field_name] = value
        if value != _field_default(spec, field_name, dataset):
            if isinstance(value, bool):
                suffix.append(option.replace("_", "") if value else "no" + option.replace("_", ""))
            elif option == "units":
                suffix.append(f"u{value}")
            else:
                suffix.append(str(value))
    return spec, config, "".join("-" + s for s in suffix)


def run_name(model: str, suffix: str, seed: int) -> str:
    """``<model><suffix>[-seed<S>]``."""
    return f"{model}{suffix}" + (f"-seed{seed}" if seed else "")


def load_deep_data(dataset: str, cache: Optional[str], root: Optional[str]):
    """The :class:`adl.deep.inputs.DeepData` of ``dataset``: its deep cache
    (``adl deep extract``), or, with ``root`` and no cache index, its
    skeletons only (pose models)."""
    from adl.deep.extract import DEEP_INDEX_NAME, DEFAULT_TP
    from adl.deep.inputs import DeepData
    cache = cache or _default_cache()
    if root and not (Path(cache) / dataset / DEEP_INDEX_NAME).is_file():
        return DeepData.from_skeletons(dataset, root, tp=DEFAULT_TP.get(dataset, 20))
    return DeepData.from_cache(dataset, cache)


def _run_options(func):
    options = [
        click.option("--model", required=True,
                     help="A registered model: pose-lstm, pose-gcn, i3d, p-i3d, sep-sta, sa, ta, "
                          "sa-ta, ta-sa, joint-sta, vpn, temporal."),
        click.option("--pose-backbone", type=click.Choice(("gcn", "lstm")), default=None,
                     help="Pose backbone of an attention model (default: the model's)."),
        click.option("--coupler/--no-coupler", default=None,
                     help="VPN's spatio-temporal coupler (default on, Table 4.6)."),
        click.option("--embedding", type=click.Choice(("l2", "kl", "kl_rev", "bikl", "none")),
                     default=None, help="VPN's embedding loss (default l2, Table 4.7)."),
        click.option("--variant", default=None,
                     help="Separable STA's strategy (separable, sa, ta, sa-ta, ta-sa, joint)."),
        click.option("--units", type=click.IntRange(min=1), default=None,
                     help="LSTM units per layer (default 512 on NTU, 128 else; thesis 4.6.1)."),
        click.option("--dataset", type=click.Choice(tuple(DATASETS)), required=True),
        click.option("--protocol", required=True,
                     help="loso, or an official split (ntu60: xsub/xview, smarthome: "
                          "cs/cv1/cv2...)."),
        click.option("--cache", type=click.Path(file_okay=False), default=None,
                     help="Cache root of adl deep extract (default $ADL_CACHE or ./cache)."),
        click.option("--root", type=click.Path(), default=None,
                     help="Dataset root, for pose-only models on a dataset without a deep cache."),
        click.option("--out", type=click.Path(file_okay=False), required=True,
                     help="Runs folder: OUT/<run name>/[<split>/]."),
        click.option("--device", default="auto", show_default=True,
                     help="auto, cpu, cuda or cuda:N."),
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _is_rank0() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


@click.command("train")
@_run_options
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help=f"Epochs (default {TRAIN_HELP_DEFAULTS['epochs']}, thesis 4.6.1).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help=f"Global mini-batch (default {TRAIN_HELP_DEFAULTS['batch_size']}).")
@click.option("--lr", type=float, default=None,
              help=f"Adam's initial rate (default {TRAIN_HELP_DEFAULTS['lr']}, x0.1 every 10 "
                   f"epochs; temporal 5e-4).")
@click.option("--pose-checkpoint", type=click.Path(exists=True, dir_okay=False), default=None,
              help="best.pt of a pose-lstm / pose-gcn run: the pre-trained pose backbone "
                   "(Algorithms 1-2).")
def train_cmd(model, pose_backbone, coupler, embedding, variant, units, dataset, protocol,
              cache, root, out, device, seed, epochs, batch_size, lr, pose_checkpoint):
    """Train MODEL on every split of PROTOCOL (resumes an interrupted run;
    under torchrun: DistributedDataParallel)."""
    from adl.deep.train import TrainConfig, shutdown_distributed, split_run_dirs, train
    spec, config, suffix = model_options(model, dataset, pose_backbone=pose_backbone,
                                         coupler=coupler, embedding=embedding, variant=variant,
                                         units=units)
    tc = TrainConfig.for_model(model, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                               device=device, pose_checkpoint=pose_checkpoint)
    data = load_deep_data(dataset, cache, root)
    splits = data.splits(protocol)
    run_root = Path(out) / run_name(model, suffix, seed)
    dirs = split_run_dirs(run_root, splits)
    echo = click.echo if _is_rank0() else (lambda m: None)
    try:
        for split in splits:
            result = train(model, config, tc, data, split, dirs[split.name], log=echo)
            val = "no validation" if math.isnan(result.best_val) else \
                f"val {result.best_val:.1f}%"
            echo(f"{model} [{split.name}]: best epoch {result.best_epoch} ({val}) -> "
                 f"{dirs[split.name] / 'best.pt'}")
    finally:
        shutdown_distributed()
    echo(f"trained {len(splits)} split(s) of {protocol} into {run_root}")


@click.command("evaluate")
@_run_options
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True,
              help="Samples per forward pass.")
def evaluate_cmd(model, pose_backbone, coupler, embedding, variant, units, dataset, protocol,
                 cache, root, out, device, seed, batch_size):
    """Evaluate the run the same options name on the test videos of every
    split (max-pooled clip softmax, thesis 4.6.1): report.json, scores.npz,
    confusion.png."""
    from adl.deep.evaluate import REPORT_NAME, evaluate_protocol
    _, _, suffix = model_options(model, dataset, pose_backbone=pose_backbone, coupler=coupler,
                                 embedding=embedding, variant=variant, units=units)
    run_root = Path(out) / run_name(model, suffix, seed)
    if not run_root.is_dir():
        raise FileNotFoundError(f"no run folder {run_root}; train it first with adl deep train "
                                f"and the same model options and --seed")
    data = load_deep_data(dataset, cache, root)
    report = evaluate_protocol(run_root, data, protocol, device, batch_size=batch_size)
    click.echo(f"{report['model']} on {dataset} {protocol}: top1 {report['top1']:.1f}%, "
               f"mean class accuracy {report['mean_class_accuracy']:.1f}% "
               f"({report['n_test_videos']} test videos)")
    click.echo(f"report: {run_root / REPORT_NAME}")


#: The commands main.py adds to its ``deep`` group.
DEEP_COMMANDS = (train_cmd, evaluate_cmd)
