"""Reports of the fusion stage: ``report.json`` (fixed shape), ``details.json``,
``report.md`` (Tables 3.2-3.4 layout, thesis numbers beside ours) and the
confusion matrices before / after the action-pair memory (PNG).

JSON is written with sorted keys and rounded floats (4 decimals for
accuracies, scores and alpha), so two runs with the same seed on one machine
are byte-identical apart from ``"seconds"``; ``report.json``'s ``config`` and
``environment`` sections (added by :func:`fusion.runner.run_fusion`) say what
else shaped the numbers.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from adl.data.atomic import atomic_write_text

from .confusion import confusion_counts, mean_per_class_accuracy, row_rates

ACCURACY_KEYS = ("f1", "f2", "f3", "early_f1f2", "early_all", "two_level", "two_level_pairs")

COLUMN_TITLES = {
    "f1": "F1 (appearance)",
    "f2": "F2 (short-term motion)",
    "f3": "F3 (pose motion)",
    "early_f1f2": "F1+F2 early",
    "early_all": "F1+F2+F3 early",
    "two_level": "proposed (two-level)",
    "two_level_pairs": "+ action pairs",
}

#: Thesis Table 3.2 (ablation) and Table 3.4 (after the pair classifier), in %.
THESIS_ACCURACY = {
    "cad60": {"f1": 89.70, "f2": 72.05, "f3": 67.64, "early_f1f2": 95.58, "early_all": 70.58,
              "two_level": 98.53, "two_level_pairs": 98.52},
    "cad120": {"f1": 72.58, "f2": 79.84, "f3": 63.70, "early_f1f2": 83.06, "early_all": 63.70,
               "two_level": 87.90, "two_level_pairs": 94.40},
    "msr_daily": {"f1": 80.93, "f2": 81.87, "f3": 91.56, "early_f1f2": 90.00, "early_all": 91.56,
                  "two_level": 97.81, "two_level_pairs": 97.81},
}
#: Table 3.4 "before" column (differs from Table 3.2 by 0.01 on CAD-60).
THESIS_BEFORE_PAIRS = {"cad60": 98.52, "cad120": 87.90, "msr_daily": 97.81}
#: Best prior state of the art quoted by the thesis (Tables 6.1-6.3).
THESIS_PRIOR_ART = {"cad60": (95.60, "P-CNN fusion"), "cad120": (90.10, "RSVM+LCNN"),
                    "msr_daily": (97.50, "DSSCA-SSLM")}
#: Table 3.3: action-pair memory on CAD-120 (validation, threshold 0.4).
THESIS_PAIRS_CAD120 = [
    (1, "cleaning objects & taking food", 0.44), (1, "stacking & unstacking objects", 0.67),
    (2, "cleaning objects & taking food", 0.66), (2, "stacking & unstacking objects", 0.66),
    (3, "stacking & unstacking objects", 0.55),
    (4, "cleaning objects & taking food", 0.55), (4, "stacking & unstacking objects", 0.44),
]

MODE_TEXT = {
    "two_level": "two-level fusion: clf1 on the early fusion of {rgb}, clf2 on {skel}, late fusion "
                 "s = a*P(y|{rgb}) + (1-a)*P(y|{skel}) (Eq. 3.6)",
    "rgb_only": "RGB only - no skeleton (F3) features: clf1 on {rgb} decides alone with its own "
                "SVM vote; no late fusion, alpha unused ('proposed' equals the early-fusion "
                "column by construction)",
    "skeleton_only": "skeleton only - no RGB (F1/F2) features: clf2 on {skel} decides alone with "
                     "its own SVM vote; no late fusion, alpha unused ('proposed' equals the F3 "
                     "column by construction)",
}


def _comparability(report: dict) -> list:
    """Why this run's numbers differ in kind from the thesis's (LOSO, all three
    families, two-level fusion); empty when they do not."""
    out = []
    if report.get("protocol") != "leave-one-subject-out":
        out.append(f"protocol {report.get('protocol')!r}, the thesis's is leave-one-subject-out")
    missing = [k.upper() for k in ("f1", "f2", "f3") if report["mean"].get(k) is None]
    if missing:
        out.append(f"without {', '.join(missing)} (the thesis fuses F1, F2 and F3)")
    return out


def _r(x, nd: int = 4) -> Optional[float]:
    if x is None:
        return None
    x = float(x)
    if math.isnan(x):
        return None
    return round(x, nd) + 0.0


def _round_tree(obj, nd: int = 6):
    if isinstance(obj, dict):
        return {str(k): _round_tree(v, nd) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_round_tree(v, nd) for v in obj]
    if isinstance(obj, (bool, np.bool_)) or obj is None or isinstance(obj, str):
        return bool(obj) if isinstance(obj, np.bool_) else obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if not math.isfinite(float(obj)) else round(float(obj), nd) + 0.0
    return str(obj)


def _dataset_key(dataset: str) -> str:
    from .pairs import canonical_dataset
    return canonical_dataset(dataset)


def summarize(values: Sequence[Optional[float]]):
    """(mean, population std) over the non-null values; (None, None) if none."""
    v = [float(x) for x in values if x is not None]
    if not v:
        return None, None
    return float(np.mean(v)), float(np.std(v))


def build_report(dataset: str, protocol: str, results, classes: Sequence[str], settings: dict):
    """The ``report.json`` dict (``seconds`` filled in when written) and the
    ``details.json`` dict."""
    folds = []
    for r in results:
        folds.append({
            "fold": str(r.fold),
            "test_subjects": [str(s) for s in r.test_subjects],
            "n_test": int(r.n_test),
            "alpha": _r(r.alpha),
            "accuracy": {k: _r(r.accuracy.get(k)) for k in ACCURACY_KEYS},
            "pairs": [{"classes": [str(p["classes"][0]), str(p["classes"][1])],
                       "score": _r(p["score"]), "features": str(p["features"])} for p in r.pairs],
        })
    mean, std = {}, {}
    for k in ACCURACY_KEYS:
        m, s = summarize([r.accuracy.get(k) for r in results])
        mean[k], std[k] = _r(m), _r(s)
    report = {"dataset": str(dataset), "protocol": str(protocol), "folds": folds, "mean": mean,
              "std": std, "pooled": pooled_accuracies(results, classes), "seconds": 0.0}
    details = _round_tree({"dataset": dataset, "protocol": protocol, "classes": list(classes),
                           "settings": settings, "folds": [r.details for r in results]})
    return report, details


def pooled_accuracies(results, classes: Sequence[str]) -> dict:
    """Top-1 and mean per-class accuracy (percent) of the final predictions,
    before and after the action pairs, over the test videos of every fold
    pooled (:func:`adl.fusion.confusion.mean_per_class_accuracy`: the metric
    of Toyota Smarthome, where top-1 favours frequent activities)."""
    y_true = np.concatenate([np.asarray(r.y_true) for r in results])
    out = {}
    for key, attr in (("two_level", "pred_before"), ("two_level_pairs", "pred_after")):
        pred = np.concatenate([np.asarray(getattr(r, attr)) for r in results])
        out[key] = {"top1": _r(100.0 * float(np.mean(y_true == pred))),
                    "mean_per_class": _r(mean_per_class_accuracy(y_true, pred, classes))}
    out["n_test"] = int(y_true.size)
    return out


def write_json(path, obj) -> Path:
    """Atomic, sorted-key, NaN-free JSON."""
    path = Path(path)
    text = json.dumps(obj, sort_keys=True, indent=2, allow_nan=False) + "\n"
    atomic_write_text(path, text, fsync=False)
    return path


def _fmt(x, nd: int = 2) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def _fmt_families(fams: Sequence[str]) -> str:
    fams = [f.upper() for f in fams]
    return "[" + ", ".join(fams) + "]" if len(fams) > 1 else (fams[0] if fams else "-")


def render_markdown(report: dict, details: dict) -> str:
    """The Markdown report (Tables 3.2, 3.3, 3.4 layouts)."""
    ds = _dataset_key(report["dataset"])
    settings = details["settings"]
    lines = [f"# Fusion report - {report['dataset']}", "",
             f"Protocol: {report['protocol']}, {len(report['folds'])} fold(s). "
             f"Accuracy in %, test subjects only; mean and (population) std over folds.", ""]
    modes = []
    for fd in details["folds"]:
        rgb = [f for f in fd["families"] if f in ("f1", "f2")]
        skel = [f for f in fd["families"] if f == "f3"]
        text = MODE_TEXT[fd["mode"]].format(rgb=_fmt_families(rgb), skel=_fmt_families(skel))
        if text not in modes:
            modes.append(text)
    lines += ["Mode: " + "; ".join(modes) + "."]
    missing = sorted({f for fd in details["folds"] for f in fd["missing_families"]})
    if missing:
        lines += [f"Missing or excluded feature families: {', '.join(m.upper() for m in missing)} "
                  "(their columns are '-')."]
    inner = settings.get("selection", "validation") == "inner_cv"
    selections = sorted({fd.get("selection", "validation split") for fd in details["folds"]})
    held = ("out-of-fold predictions of an inner cross-validation over the training videos "
            f"({'; '.join(selections)})" if inner else "the validation split of the training subjects")
    alpha_txt = ("searched on the held-out predictions over [0, 1], step 0.01 (ties: lowest "
                 "log-loss, then closest to 0.5)" if settings["alpha_search"]
                 else f"fixed at {settings['alpha']}, not searched (adl fuse --alpha-search "
                      "searches it)")
    if report.get("alpha_mode") == "none":
        alpha_txt += "; unused: no fold fuses two classifiers"
    eps = settings["epsilon"]
    if eps is None:
        eps_txt = f"{settings['default_epsilon']} (default for this dataset)"
    elif eps == "auto":
        eps_txt = "auto (chosen per fold on the held-out predictions of the training videos)"
    else:
        eps_txt = f"{eps}"
    if inner:
        refit_txt = ("C, alpha and pairs chosen on the out-of-fold predictions, then every "
                     "classifier refitted on all training subjects")
        calib_txt = "Platt scaling of the out-of-fold decision values"
    else:
        refit_txt = {"train": "C, alpha and pairs chosen with classifiers fitted on the fit rows "
                              "and scored on the validation rows, then refitted on all training "
                              "subjects",
                     "fit": "classifiers fitted on the fit rows only (no refit)"}[settings["refit"]]
        calib_txt = (f"Platt scaling of cross-validated decision values "
                     f"(at most {settings['calibration_cv']} folds)")
    lines += ["", "Settings:", "",
              f"- model selection: {held}",
              f"- SVMs: linear, C in {settings['C_grid']} chosen by held-out accuracy; "
              f"probabilities by {calib_txt}",
              f"- alpha: {alpha_txt}",
              f"- epsilon (action pairs): {eps_txt}",
              f"- refit policy: {refit_txt}",
              f"- seed: {settings['seed']}"]
    if "environment" in report:
        lines.append("- " + environment_line(report["environment"]))
    lines.append("")

    keys = ACCURACY_KEYS
    header = "| | " + " | ".join(COLUMN_TITLES[k] for k in keys) + " |"
    sep = "|---" * (len(keys) + 1) + "|"
    lines += ["## Accuracy (layout of Table 3.2, with Table 3.4's before/after pairs)", "",
              header, sep]
    m, s = report["mean"], report["std"]
    lines.append("| ours (mean ± std) | " + " | ".join(
        "-" if m[k] is None else f"{m[k]:.2f} ± {s[k]:.2f}" for k in keys) + " |")
    if ds in THESIS_ACCURACY:
        t = THESIS_ACCURACY[ds]
        lines.append("| thesis (Tables 3.2, 3.4) | " + " | ".join(_fmt(t.get(k)) for k in keys)
                     + " |")
    lines.append("")
    pooled = report.get("pooled")
    if pooled:
        lines += [f"Pooled over the {pooled['n_test']} test videos of all folds: "
                  + "; ".join(f"{COLUMN_TITLES[k]} top-1 {_fmt(pooled[k]['top1'])} %, mean "
                              f"per-class {_fmt(pooled[k]['mean_per_class'])} %"
                              for k in ("two_level", "two_level_pairs"))
                  + " (mean per-class accuracy is Toyota Smarthome's metric).", ""]
    if ds in THESIS_ACCURACY:
        caveats = _comparability(report)
        if caveats:
            lines += ["Not comparable with the thesis's row as it stands: " + "; ".join(caveats)
                      + ".", ""]
    if ds in THESIS_ACCURACY:
        prior, name = THESIS_PRIOR_ART[ds]
        lines += [f"Thesis Table 3.4 gives {THESIS_BEFORE_PAIRS[ds]:.2f} before and "
                  f"{THESIS_ACCURACY[ds]['two_level_pairs']:.2f} after the binary pair "
                  f"classifiers; best prior art quoted (Tables 6.1-6.3): {prior:.2f} ({name}).", ""]

    lines += ["## Per fold", "",
              "| fold | test subjects | n_test | alpha | " + " | ".join(COLUMN_TITLES[k] for k in keys)
              + " |", "|---" * (len(keys) + 4) + "|"]
    for f in report["folds"]:
        lines.append(f"| {f['fold']} | {', '.join(f['test_subjects'])} | {f['n_test']} | "
                     f"{_fmt(f['alpha'])} | " + " | ".join(_fmt(f['accuracy'][k]) for k in keys)
                     + " |")
    lines.append("")

    lines += ["## Action-pair memory (layout of Table 3.3; held-out confusion of the training "
              "videos, C(i,j)+C(j,i) >= epsilon)", "",
              "| split | epsilon | action pair | C(i,j)+C(j,i) | features | pair held-out acc. |",
              "|---|---|---|---|---|---|"]
    for f, fd in zip(report["folds"], details["folds"]):
        eps_f = "inf (none)" if fd["epsilon"] is None else f"{fd['epsilon']:.3g}"
        if not fd["pairs"]:
            lines.append(f"| {f['fold']} | {eps_f} | (none) | - | - | - |")
        for p in fd["pairs"]:
            lines.append(f"| {f['fold']} | {eps_f} | {p['classes'][0]} & {p['classes'][1]} | "
                         f"{p['score']:.2f} | {p['features']} | {p['val_accuracy']:.1f} |")
    lines.append("")
    if ds == "cad120":
        lines += ["Thesis Table 3.3 (CAD-120, threshold 0.4):", "",
                  "| split | action pair | C(i,j)+C(j,i) |", "|---|---|---|"]
        lines += [f"| {s_} | {p} | {v:.2f} |" for s_, p, v in THESIS_PAIRS_CAD120]
        lines.append("")
    lines += ["## Confusion matrices (test videos, summed over folds)", "",
              "![before pairs](confusion_before_pairs.png) ![after pairs](confusion_after_pairs.png)",
              "", f"Run time: {report['seconds']:.1f} s.", ""]
    return "\n".join(lines)


def _environment_text(env: dict) -> str:
    libs = env.get("libraries", {})
    names = ", ".join(f"{k} {v}" for k, v in libs.items() if v is not None)
    flags = env.get("cpu_flags")
    cpu = ("unknown" if flags is None
           else "+".join(f for f, on in flags.items() if on) or f"none of {'/'.join(flags)}")
    return (f"Python {env.get('python')}, {names}; F2 descriptors "
            f"{env.get('f2_descriptor_backend')}; CPU {cpu}")


def environment_line(env: dict) -> str:
    """One line naming what besides the data and the seed shaped the numbers:
    where the features were computed and where they were fused (one text
    when both are the same)."""
    features, fusion = env.get("features"), env.get("fusion") or {}
    if features is None:
        where = f"fusion: {_environment_text(fusion)}; features: not recorded (cache before adl 0.2)"
    elif features == fusion:
        where = f"features and fusion: {_environment_text(fusion)}"
    else:
        where = (f"features: {_environment_text(features)}; fusion: "
                 f"{_environment_text(fusion)}")
    return (f"environment (same seed, same numbers only with the same): {where} "
            f"(report.json: environment)")


def _method_name(details: dict) -> str:
    """What 'proposed' is in this run: the two-level fusion or one classifier alone."""
    modes = {f.get("mode") for f in details.get("folds", [])}
    names = {"two_level": "two-level fusion", "rgb_only": "clf1 alone (RGB only)",
             "skeleton_only": "clf2 alone (skeleton only)"}
    return " / ".join(names.get(m, str(m)) for m in sorted(modes, key=str)) or "two-level fusion"


def plot_confusion(counts: np.ndarray, classes: Sequence[str], title: str, out_png) -> Path:
    """Confusion matrix PNG: colour = row-normalised rate, text = counts."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    k = len(classes)
    size = max(5.0, 0.45 * k + 2.5)
    fig = Figure(figsize=(size, size))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    rate = row_rates(counts)
    im = ax.imshow(rate, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xticklabels(classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticklabels(classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    if k <= 30:
        for i in range(k):
            for j in range(k):
                if counts[i, j]:
                    ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if rate[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    out_png = Path(out_png)
    fig.savefig(out_png, dpi=100)
    return out_png


def write_outputs(out: Path, report: dict, details: dict, results, classes: Sequence[str],
                  seconds_fn) -> None:
    """Write the PNGs, then ``report.json`` (with ``seconds``), ``details.json``
    and ``report.md``."""
    out = Path(out)
    y_true = np.concatenate([r.y_true for r in results])
    for name, attr, what in (("confusion_before_pairs.png", "pred_before", "before"),
                             ("confusion_after_pairs.png", "pred_after", "after")):
        pred = np.concatenate([getattr(r, attr) for r in results])
        M = confusion_counts(y_true.tolist(), pred.tolist(), classes)
        acc = 100.0 * np.trace(M) / max(1, M.sum())
        plot_confusion(M, classes, f"{report['dataset']}: {_method_name(details)}, {what} action "
                                   f"pairs\n{acc:.1f} % of {M.sum()} test videos pooled, "
                                   f"{len(results)} fold(s)",
                       out / name)
    report["seconds"] = round(float(seconds_fn()), 3)
    write_json(out / "report.json", report)
    write_json(out / "details.json", details)
    atomic_write_text(out / "report.md", render_markdown(report, details), fsync=False)
