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

__all__ = ["DEEP_COMMANDS", "MODEL_OPTIONS", "BASIC_MODELS", "TRAIN_HELP_DEFAULTS",
           "model_options", "run_name", "load_deep_data", "train_cmd", "evaluate_cmd",
           "ablate_cmd"]

#: CLI option -> model configuration field.
MODEL_OPTIONS = {"pose_backbone": "pose_backbone", "coupler": "coupler",
                 "embedding": "embedding", "variant": "variant", "units": "lstm_units",
                 "stream": "stream", "attention": "attention", "fusion": "fusion",
                 "temporal_attention": "temporal_attention",
                 "granularities": "granularities", "ts_attention": "ts_attention",
                 "tg_attention": "tg_attention"}
#: Basic Models a Global Model can fuse with the Temporal Model (thesis 5.3, Table 5.2).
BASIC_MODELS = ("i3d", "p-i3d", "sep-sta", "vpn")
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
            elif isinstance(value, tuple):
                suffix.append("g" + "".join(str(v) for v in value))
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


def _parse_granularities(ctx, param, value):
    if value is None:
        return None
    try:
        grans = tuple(int(g) for g in str(value).split(",") if g.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None
    if not grans:
        raise click.BadParameter(f"expected at least one granularity, got {value!r}")
    return grans


def _run_options(func):
    options = [
        click.option("--model", required=True,
                     help="A registered model: pose-lstm, pose-gcn, i3d, p-i3d, sep-sta, sa, ta, "
                          "sa-ta, ta-sa, joint-sta, vpn, temporal (evaluate: also global)."),
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
        click.option("--stream", type=click.Choice(("full_body", "left_hand", "right_hand")),
                     default=None, help="i3d: the crop it reads (Table 4.2's single streams)."),
        click.option("--attention/--no-attention", default=None,
                     help="p-i3d: pose-driven part attention (off: equal weights, Table 4.2 "
                          "sum_0/concat_0)."),
        click.option("--fusion", type=click.Choice(("sum", "concat")), default=None,
                     help="p-i3d: weighted sum (Eq. 4.7) or concatenation of the parts."),
        click.option("--temporal-attention/--no-temporal-attention", default=None,
                     help="vpn: temporal attention (off: spatial only, Table 4.8)."),
        click.option("--granularities", callback=_parse_granularities, default=None,
                     help="temporal: comma-separated G values (default 2,3,4; thesis 5.4.1)."),
        click.option("--ts-attention/--no-ts-attention", default=None,
                     help="temporal: segment attention (off: uniform weights, Fig. 5.8)."),
        click.option("--tg-attention/--no-tg-attention", default=None,
                     help="temporal: granularity attention (off: plain sum, Table 5.1)."),
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


def _model_kw(kw: dict) -> dict:
    return {k: kw.pop(k) for k in list(kw) if k in MODEL_OPTIONS}


def _train_runs(model, model_kw, dataset, protocol, data, out, seed, train_kw, echo):
    """Train ``model`` with ``model_kw`` on every split; returns the run root."""
    from adl.deep.train import TrainConfig, split_run_dirs, train
    spec, config, suffix = model_options(model, dataset, **model_kw)
    tc = TrainConfig.for_model(model, seed=seed, **train_kw)
    splits = data.splits(protocol)
    run_root = Path(out) / run_name(model, suffix, seed)
    dirs = split_run_dirs(run_root, splits)
    for split in splits:
        result = train(model, config, tc, data, split, dirs[split.name], log=echo)
        val = "no validation" if math.isnan(result.best_val) else f"val {result.best_val:.1f}%"
        echo(f"{model} [{split.name}]: best epoch {result.best_epoch} ({val}) -> "
             f"{dirs[split.name] / 'best.pt'}")
    echo(f"trained {len(splits)} split(s) of {protocol} into {run_root}")
    return run_root


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
@click.option("--standardize/--no-standardize", default=None,
              help="Standardise the cached features per channel with the training videos' "
                   "statistics (default off, as the thesis; on for random-weight features).")
@click.option("--basic", type=click.Choice(BASIC_MODELS), default=None,
              help="temporal only: also train this Basic Model (its default options) when its "
                   "run is missing, for the Global Model (adl deep evaluate --model global).")
def train_cmd(model, dataset, protocol, cache, root, out, device, seed, epochs, batch_size, lr,
              pose_checkpoint, standardize, basic, **kw):
    """Train MODEL on every split of PROTOCOL (resumes an interrupted run;
    under torchrun: DistributedDataParallel)."""
    from adl.deep.train import shutdown_distributed
    model_kw = _model_kw(kw)
    if basic and model != "temporal":
        raise click.BadParameter(f"--basic goes with --model temporal, not {model}",
                                 param_hint="--basic")
    train_kw = dict(epochs=epochs, batch_size=batch_size, lr=lr, device=device,
                    pose_checkpoint=pose_checkpoint, standardize=standardize)
    model_options(model, dataset, **model_kw)       # an unknown model or option: before the data
    data = load_deep_data(dataset, cache, root)
    echo = click.echo if _is_rank0() else (lambda m: None)
    try:
        _train_runs(model, model_kw, dataset, protocol, data, out, seed, train_kw, echo)
        if basic:
            basic_kw = dict(train_kw, lr=None, batch_size=None)
            _train_runs(basic, {}, dataset, protocol, data, out, seed, basic_kw, echo)
    finally:
        shutdown_distributed()


def _run_root(model, model_kw, dataset, out, seed) -> Path:
    """The run folder these options name; refused when it does not exist."""
    _, _, suffix = model_options(model, dataset, **model_kw)
    run_root = Path(out) / run_name(model, suffix, seed)
    if not run_root.is_dir():
        raise FileNotFoundError(f"no run folder {run_root}; train it first with adl deep train "
                                f"and the same model options and --seed")
    return run_root


def _echo_report(report: dict, dataset: str, protocol: str) -> None:
    from adl.deep.evaluate import REPORT_NAME
    click.echo(f"{report['model']} on {dataset} {protocol}: top1 {report['top1']:.1f}%, "
               f"mean class accuracy {report['mean_class_accuracy']:.1f}% "
               f"({report['n_test_videos']} test videos)")
    click.echo(f"report: {Path(report['run_dir']) / REPORT_NAME}")


@click.command("evaluate")
@_run_options
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True,
              help="Samples per forward pass.")
@click.option("--basic", type=click.Choice(BASIC_MODELS), default="i3d", show_default=True,
              help="--model global: the Basic Model fused with the Temporal Model.")
@click.option("--global-fusion", type=click.Choice(("product", "logsum")), default="product",
              show_default=True,
              help="--model global: product of the two softmax scores (= softmax of the summed "
                   "logits) or a weighted sum of log-probabilities (thesis 5.3).")
@click.option("--global-weight", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="--global-fusion logsum: the Basic Model's weight.")
@click.option("--figures/--no-figures", default=True, show_default=True,
              help="Attention figures of the attention and temporal models (run/figures/; "
                   "drawn on the video frames when --root is given).")
def evaluate_cmd(model, dataset, protocol, cache, root, out, device, seed, batch_size, basic,
                 global_fusion, global_weight, figures, **kw):
    """Evaluate the run the same options name on the test videos of every
    split (max-pooled clip softmax, thesis 4.6.1): report.json, scores.npz,
    confusion.png; ``--model global`` fuses the Temporal Model's run (its
    options) with the Basic Model's (--basic; --units its LSTM units, other
    options its defaults) into OUT/global-<basic>[-seed<S>]/."""
    from adl.deep.evaluate import evaluate_protocol
    model_kw = _model_kw(kw)
    if model == "global":
        from adl.deep.global_model import evaluate_global
        # --units names the Basic Model's run (the Temporal Model has no LSTM)
        basic_kw = {"units": model_kw.pop("units", None)}
        temporal_root = _run_root("temporal", model_kw, dataset, out, seed)
        basic_root = _run_root(basic, basic_kw, dataset, out, seed)
        data = load_deep_data(dataset, cache, root)
        t_report = evaluate_protocol(temporal_root, data, protocol, device, batch_size=batch_size)
        b_report = evaluate_protocol(basic_root, data, protocol, device, batch_size=batch_size)
        for r in (b_report, t_report):
            _echo_report(r, dataset, protocol)
        target = Path(out) / run_name(f"global-{basic}", "", seed)
        report = evaluate_global(b_report["run_dir"], t_report["run_dir"], data, protocol,
                                 target, mode=global_fusion, weight=global_weight)
        _echo_report(report, dataset, protocol)
        return
    run_root = _run_root(model, model_kw, dataset, out, seed)
    data = load_deep_data(dataset, cache, root)
    report = evaluate_protocol(run_root, data, protocol, device, batch_size=batch_size)
    _echo_report(report, dataset, protocol)
    if figures:
        _attention_figures(report, data, protocol, device, root)


def _attention_figures(report: dict, data, protocol: str, device: str, root) -> None:
    try:
        from adl.deep.attention_figures import write_attention_figures
    except ImportError:          # pragma: no cover - the module ships with adl
        return
    from adl.deep.train import split_run_dirs
    splits = data.splits(protocol)
    dirs = split_run_dirs(Path(report["run_dir"]), splits)
    paths = []
    for split in splits[:1]:      # one split's figures (leave-one-subject-out: the first fold)
        paths += write_attention_figures(dirs[split.name], data, split, device, root=root)
    if paths:
        click.echo(f"attention figures: {len(paths)} PNG in {paths[0].parent}")


@click.command("ablate")
@click.option("--table", "table", type=click.Choice(("4.2", "4.4", "4.5", "4.6", "4.7", "4.8",
                                                      "5.1", "5.2")), required=True,
              help="The thesis table whose variants to run.")
@click.option("--dataset", type=click.Choice(tuple(DATASETS)), required=True)
@click.option("--protocol", required=True, help="loso, or an official split.")
@click.option("--cache", type=click.Path(file_okay=False), default=None,
              help="Cache root of adl deep extract (default $ADL_CACHE or ./cache).")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="OUT/table_<T>.md, OUT/table_<T>.json and the runs in OUT/table_<T>/.")
@click.option("--units", type=click.IntRange(min=1), default=None,
              help="LSTM units of the pose-driven rows (default 512 on NTU, 128 else).")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Epochs of every row (default: each model's, thesis 4.6.1 / 5.4.1).")
@click.option("--lr-step", type=click.IntRange(min=1), default=None,
              help="Epochs between the x0.1 rate steps (default 10).")
@click.option("--standardize/--no-standardize", default=None,
              help="Standardise the cached features (TrainConfig.standardize).")
@click.option("--global-fusion", type=click.Choice(("product", "logsum")), default="product",
              show_default=True, help="The Global rows' fusion.")
@click.option("--device", default="auto", show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
def ablate_cmd(table, dataset, protocol, cache, out, units, epochs, lr_step, standardize,
               global_fusion, device, seed):
    """Run a thesis table's variants on DATASET and write it in Markdown beside
    the thesis's numbers (resumable: finished runs are reused)."""
    from adl.deep.ablate import run_table
    from adl.deep.models.pose import default_lstm_units
    data = load_deep_data(dataset, cache, None)
    lstm = units or default_lstm_units(dataset)

    def model_overrides(name: str) -> dict:
        from adl.deep.models import get_model_spec
        names = {f.name for f in fields(get_model_spec(name).config_cls)}
        return {"lstm_units": lstm} if "lstm_units" in names else {}

    train = {k: v for k, v in (("epochs", epochs), ("lr_step", lr_step), ("seed", seed),
                                ("device", device), ("standardize", standardize))
             if v is not None}
    result = run_table(table, data, protocol, out, train_overrides=train,
                       model_overrides=model_overrides, device=device,
                       global_mode=global_fusion, log=click.echo)
    click.echo("")
    click.echo(result["markdown"])
    click.echo(f"table: {Path(out) / f'table_{table}.md'}")


#: The commands main.py adds to its ``deep`` group.
DEEP_COMMANDS = (train_cmd, evaluate_cmd, ablate_cmd)
