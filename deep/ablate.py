"""``adl deep ablate --table T``: a thesis table's variants, trained and
evaluated on the user's data, written in Markdown beside the thesis's numbers
(chapter 4: Tables 4.2-4.8; chapter 5: Tables 5.1-5.2; the numbers are those
of ``shared/thesis/TABLES.md``).

Each row is a registered model (:mod:`adl.deep.models`) with configuration
overrides; the Global rows fuse two runs' scores
(:mod:`adl.deep.global_model`).  Runs live in ``OUT/<table>/<row slug>/``
(one folder per split for leave-one-subject-out), so an interrupted ablation
resumes where it stopped (:func:`adl.deep.train.train` resumes a run and
skips a finished one) and a row shared by two tables is trained in each
table's folder (they may use other settings).

What cannot be reproduced on cached features is left out and said in the
table's notes: Table 4.2's "full image" stream (a crop the cache does not
hold) and its sum_1 / sum_2 rows (features of earlier I3D layers).
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from adl.data.atomic import atomic_write_text

__all__ = ["Row", "Table", "TABLES", "THESIS_COLUMNS", "thesis_column", "run_table",
           "format_table"]


@dataclass(frozen=True)
class Row:
    """One variant of a table.

    Attributes
    ----------
    label : str
        The thesis's row name.
    model : str
        A registered model, or ``"global"`` (fuse ``basic`` and ``temporal``).
    config : tuple of (str, value)
        Configuration overrides of the model.
    thesis : dict
        Thesis column -> accuracy (%).
    basic : str
        For a Global row: the label of the table row whose run is the Basic
        Model (the Temporal Model is the row labelled ``temporal_row``).
    temporal_row : str
    """

    label: str
    model: str
    config: Tuple[Tuple[str, object], ...] = ()
    thesis: Dict[str, float] = field(default_factory=dict)
    basic: str = ""
    temporal_row: str = ""

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.label.lower()).strip("-")


@dataclass(frozen=True)
class Table:
    number: str
    title: str
    rows: Tuple[Row, ...]
    notes: str = ""


def _r(label, model, thesis=None, **config) -> Row:
    return Row(label, model, tuple(sorted(config.items())), dict(thesis or {}))


def _g(label, basic: str, temporal_row: str, thesis=None) -> Row:
    return Row(label, "global", (), dict(thesis or {}), basic=basic, temporal_row=temporal_row)


def _cols(names: Sequence[str], values: Sequence[Optional[float]]) -> Dict[str, float]:
    return {n: v for n, v in zip(names, values) if v is not None}


_T42 = ("NTU-CS", "NTU-CV", "N-UCLA")          # Table 4.2 (NTU) and 4.3 (N-UCLA, scratch)
_T44 = ("NTU-CS", "NTU-CV", "N-UCLA", "Smarthome-CS", "Smarthome-CV1", "Smarthome-CV2")
_T45 = ("NTU120-CS1", "NTU120-CS2", "Smarthome-CS", "Smarthome-CV2")
_T51 = ("NTU-CS", "NTU-CV", "N-UCLA")
_T52 = ("NTU-CS", "NTU-CV", "NTU120-CS1", "NTU120-CS2", "Smarthome-CS", "Smarthome-CV",
        "N-UCLA")

TABLES: Dict[str, Table] = {
    "4.2": Table("4.2", "P-I3D: body-part streams and their attention (Tables 4.2-4.3)", (
        _r("left hand", "i3d", _cols(_T42, (84.31, 84.75, 77.37)), stream="left_hand"),
        _r("right hand", "i3d", _cols(_T42, (82.94, 81.83, 78.50)), stream="right_hand"),
        _r("full body", "i3d", _cols(_T42, (85.47, 87.26, 85.99))),
        _r("sum_0", "p-i3d", _cols(_T42, (90.8, 92.5, 86.80)), attention=False),
        _r("concat_0", "p-i3d", _cols(_T42, (89.05, 92.07, 86.63)), attention=False,
           fusion="concat"),
        _r("sum + attention", "p-i3d", _cols(_T42, (93.0, 95.4, 87.50))),
    ), "Not reproduced on cached features: the full-image stream, sum_1 and sum_2 (features "
       "of earlier I3D layers). N-UCLA numbers are Table 4.3's (from scratch)."),
    "4.4": Table("4.4", "Attention strategies on I3D (Table 4.4)", (
        _r("No Att", "i3d", _cols(_T44, (85.47, 87.26, 85.47, 72.09, 56.61, 61.58))),
        _r("SA", "sa", _cols(_T44, (90.46, 93.69, 90.09, 73.13, 60.27, 66.36))),
        _r("TA", "ta", _cols(_T44, (90.76, 91.25, 79.31, 70.30, 43.0, 57.03))),
        _r("SA+TA", "sa-ta", _cols(_T44, (89.07, 92.39, 74.57, 71.25, 41.94, 58.31))),
        _r("TA+SA", "ta-sa", _cols(_T44, (90.01, 92.60, 74.35, 70.40, 40.93, 56.61))),
        _r("joint STA", "joint-sta", _cols(_T44, (90.30, 92.48, 87.93, 71.68, 55.71, 61.95))),
        _r("Separable STA", "sep-sta", _cols(_T44, (92.20, 94.61, 92.46, 75.31, 61.06, 68.25))),
    ), "The thesis's Smarthome rows of this table look like top-1 accuracy."),
    "4.5": Table("4.5", "VPN components (Table 4.5)", (
        _r("l1 backbone (I3D)", "i3d", _cols(_T45, (77.0, 80.1, 53.4, 45.1))),
        _r("l2 + attention", "vpn", _cols(_T45, (85.4, 86.9, 56.4, 50.5)), embedding="none"),
        _r("l3 + embedding", "vpn", _cols(_T45, (86.3, 87.8, 60.8, 53.5))),
    ), "Smarthome: mean per-class accuracy in the thesis."),
    "4.6": Table("4.6", "VPN attention network (Table 4.6)", (
        _r("LSTM, no coupler", "vpn", _cols(_T45, (84.7, 83.6, 57.1, 50.6)),
           pose_backbone="lstm", coupler=False),
        _r("GCN, no coupler", "vpn", _cols(_T45, (85.6, 86.8, 60.1, 53.1)), coupler=False),
        _r("LSTM, coupler", "vpn", _cols(_T45, (85.3, 84.1, 57.6, 51.5)), pose_backbone="lstm"),
        _r("GCN, coupler", "vpn", _cols(_T45, (86.3, 87.8, 60.8, 53.5))),
    ), "Smarthome: mean per-class accuracy in the thesis."),
    "4.7": Table("4.7", "VPN embedding loss (Table 4.7)", (
        _r("KL(fe||Pe)", "vpn", _cols(_T45, (85.5, 87.1, 57.2, 50.9)), embedding="kl"),
        _r("KL(Pe||fe)", "vpn", _cols(_T45, (85.6, 86.9, 57.0, 51.1)), embedding="kl_rev"),
        _r("bi-KL", "vpn", _cols(_T45, (86.1, 87.2, 57.2, 51.7)), embedding="bikl"),
        _r("normalised Euclidean", "vpn", _cols(_T45, (86.3, 87.8, 60.8, 53.5))),
    ), "Smarthome: mean per-class accuracy in the thesis."),
    "4.8": Table("4.8", "Spatial embedding and spatial attention (Table 4.8)", (
        _r("LSTM, no embedding", "vpn", _cols(_T45, (81.7, 81.2, 45.5, 50.0)),
           pose_backbone="lstm", embedding="none", temporal_attention=False),
        _r("LSTM, embedding", "vpn", _cols(_T45, (82.7, 82.0, 56.5, 52.6)),
           pose_backbone="lstm", temporal_attention=False),
        _r("GCN, no embedding", "vpn", _cols(_T45, (82.6, 84.3, 49.1, 51.7)),
           embedding="none", temporal_attention=False),
        _r("GCN, embedding", "vpn", _cols(_T45, (83.1, 85.3, 58.4, 53.1)),
           temporal_attention=False),
        _r("GCN, embedding + temporal", "vpn", _cols(_T45, (86.3, 87.8, 60.8, 53.5))),
    ), "Rows without '+ temporal' have spatial attention only. Smarthome: mean per-class "
       "accuracy in the thesis."),
    "5.1": Table("5.1", "Temporal Model: granularity attention and the Global Model (Table 5.1)", (
        _r("Basic Model (G = 1)", "i3d", _cols(_T51, (85.5, 87.2, 88.8))),
        _r("Temporal, G = 2,3,4, no TG-att", "temporal", _cols(_T51, (89.9, 91.9, 88.2)),
           tg_attention=False),
        _r("Temporal, G = 2,3,4, TG-att", "temporal", _cols(_T51, (90.6, 92.8, 89.5))),
        _r("Temporal, no TS-att", "temporal", {}, ts_attention=False),
        _g("Global (G = 1..4, TG-att)", "Basic Model (G = 1)", "Temporal, G = 2,3,4, TG-att",
           _cols(_T51, (92.5, 94.0, 91.0))),
    ), "'Temporal, no TS-att' (uniform segment weights, Fig. 5.8's ablation) has no number in "
       "Table 5.1."),
    "5.2": Table("5.2", "Temporal and Global Models on each Basic Model (Table 5.2)", (
        _r("I3D", "i3d"),
        _r("P-I3D", "p-i3d"),
        _r("Separable STA", "sep-sta"),
        _r("VPN", "vpn"),
        _r("Temporal Model", "temporal", _cols(_T52, (90.6, 92.8, 85.2, 86.5, 55.4, 52.8, 89.5))),
        _g("Global (I3D)", "I3D", "Temporal Model",
           _cols(_T52, (92.5, 94.0, 85.9, 87.3, 58.5, 54.3, 91.0))),
        _g("Global (P-I3D)", "P-I3D", "Temporal Model",
           _cols(_T52, (93.9, 96.1, None, None, None, None, 93.5))),
        _g("Global (STA)", "Separable STA", "Temporal Model",
           _cols(_T52, (93.6, 95.4, 87.0, 88.1, 60.0, 54.6, 92.8))),
        _g("Global (VPN)", "VPN", "Temporal Model",
           _cols(_T52, (94.1, 96.5, 87.5, 89.0, 62.6, 55.5, 93.7))),
    ), "The thesis's Temporal Model row is the one on I3D features; ours is the same model for "
       "every Global row (trained once). Basic-model rows have their numbers in Tables 4.4-4.5."),
}

#: (dataset, protocol) -> the thesis's column of that evaluation.
THESIS_COLUMNS = {
    ("ntu60", "xsub"): "NTU-CS", ("ntu60", "cs"): "NTU-CS",
    ("ntu60", "xview"): "NTU-CV", ("ntu60", "cv"): "NTU-CV",
    ("ntu120", "xsub"): "NTU120-CS1", ("ntu120", "cs1"): "NTU120-CS1",
    ("ntu120", "xset"): "NTU120-CS2", ("ntu120", "cs2"): "NTU120-CS2",
    ("smarthome", "cs"): "Smarthome-CS", ("smarthome", "cv1"): "Smarthome-CV1",
    ("smarthome", "cv2"): "Smarthome-CV2", ("nucla", "v3_12"): "N-UCLA",
}


def thesis_column(dataset: str, protocol: str) -> Optional[str]:
    """The thesis's column for this evaluation (None: the thesis has none)."""
    return THESIS_COLUMNS.get((dataset, protocol))


def get_table(number: str) -> Table:
    try:
        return TABLES[number]
    except KeyError:
        raise ValueError(f"unknown table {number!r}; expected one of "
                         f"{', '.join(TABLES)}") from None


def _global_row(row: Row, runs: Dict[str, Path], data, protocol: str, out: Path,
                mode: str) -> dict:
    from .global_model import evaluate_global
    return evaluate_global(runs[row.basic], runs[row.temporal_row], data, protocol, out,
                           mode=mode)


def run_table(number: str, data, protocol: str, out, *, train_overrides: Optional[dict] = None,
              model_overrides: Optional[Callable[[str], dict]] = None, device: str = "auto",
              global_mode: str = "product", log: Callable[[str], None] = print) -> dict:
    """Train and evaluate every row of table ``number``.

    Parameters
    ----------
    number : str
        "4.2", "4.4", ..., "5.2" (:data:`TABLES`).
    data : adl.deep.inputs.DeepData
    protocol : str
        "loso" or an official split of the dataset.
    out : path
        Runs go to ``out/table_<number>/<row slug>/``; the Markdown table to
        ``out/table_<number>.md`` and the figures to ``out/table_<number>.json``.
    train_overrides : dict, optional
        :class:`adl.deep.train.TrainConfig` fields for every row (epochs,
        batch size, seed...), over each model's defaults.
    model_overrides : callable, optional
        ``model name -> dict`` of configuration fields added to each row's
        (e.g. the LSTM units of the dataset).
    device : str
    global_mode : str
        The Global rows' fusion (:func:`adl.deep.global_model.fuse_scores`).

    Returns
    -------
    dict
        ``{"table", "title", "dataset", "protocol", "thesis_column", "rows":
        [{"label", "model", "config", "top1", "mean_class_accuracy",
        "thesis", "run_dir"}], "markdown", "seconds"}``.
    """
    from .evaluate import evaluate_protocol
    from .train import TrainConfig, split_run_dirs, train

    t0 = time.perf_counter()
    table = get_table(number)
    out = Path(out)
    root = out / f"table_{number}"
    column = thesis_column(data.dataset, protocol)
    splits = data.splits(protocol)
    runs: Dict[str, Path] = {}
    rows: List[dict] = []
    for row in table.rows:
        run_root = root / row.slug
        if row.model == "global":
            log(f"[table {number}] {row.label}: fusing {row.basic} and {row.temporal_row}")
            report = _global_row(row, runs, data, protocol, run_root, global_mode)
        else:
            config = dict(model_overrides(row.model) if model_overrides else {})
            config.update(dict(row.config))
            tc = TrainConfig.for_model(row.model, **(train_overrides or {}))
            dirs = split_run_dirs(run_root, splits)
            for split in splits:
                log(f"[table {number}] {row.label} ({row.model}"
                    + "".join(f", {k}={v}" for k, v in row.config) + f") [{split.name}]")
                train(row.model, config, tc, data, split, dirs[split.name], log=log)
            report = evaluate_protocol(run_root, data, protocol, device)
        runs[row.label] = run_root
        rows.append({"label": row.label, "model": row.model, "config": dict(row.config),
                     "top1": report["top1"],
                     "mean_class_accuracy": report["mean_class_accuracy"],
                     "thesis": row.thesis.get(column) if column else None,
                     "run_dir": str(run_root)})
        log(f"[table {number}] {row.label}: top1 {report['top1']:.1f}%, mean class "
            f"{report['mean_class_accuracy']:.1f}%")
    result = {"table": number, "title": table.title, "dataset": data.dataset,
              "protocol": protocol, "thesis_column": column, "rows": rows,
              "notes": table.notes, "seconds": time.perf_counter() - t0}
    result["markdown"] = format_table(result)
    atomic_write_text(out / f"table_{number}.md", result["markdown"])
    atomic_write_text(out / f"table_{number}.json", json.dumps(result, indent=2) + "\n")
    return result


def format_table(result: dict) -> str:
    """The Markdown of a :func:`run_table` result: one line per row, ours
    (top-1 and mean per-class accuracy) beside the thesis's number for the
    same dataset and protocol (``-`` where it has none)."""
    col = result.get("thesis_column")
    head = (f"### Table {result['table']}: {result['title']}\n\n"
            f"{result['dataset']}, protocol {result['protocol']}; thesis column: "
            f"{col or 'none for this dataset/protocol'}\n\n"
            f"| row | model | top-1 (%) | mean per-class (%) | thesis (%) |\n"
            f"|---|---|---|---|---|\n")
    lines = []
    for r in result["rows"]:
        cfg = ", ".join(f"{k}={v}" for k, v in r["config"].items())
        model = r["model"] + (f" ({cfg})" if cfg else "")
        thesis = "-" if r.get("thesis") is None else f"{r['thesis']:.2f}"
        lines.append(f"| {r['label']} | {model} | {r['top1']:.1f} | "
                     f"{r['mean_class_accuracy']:.1f} | {thesis} |")
    notes = f"\n\n{result['notes']}" if result.get("notes") else ""
    return head + "\n".join(lines) + notes + "\n"
