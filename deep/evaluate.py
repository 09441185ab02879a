"""Evaluating a trained deep model on a split's test videos (``adl deep
evaluate``; thesis 4.6.1 and 4.6.2).

Inference follows 4.6.1: every cached clip of a test video is classified and
"the final classification is obtained by max-pooling the softmax scores"
(a video sample, the temporal model's, gives one score).  Two figures are
always reported: top-1 accuracy over videos and the mean per-class accuracy,
Toyota Smarthome's metric (4.6.2: it weighs a rare activity as a frequent one).

Files of a run folder after :func:`evaluate`::

    report.json    model, dataset, protocol, top1, mean_class_accuracy,
                   per_class {class: accuracy}, config {model, train},
                   n_test_videos, seconds (accuracies in %)
    scores.npz     video_ids, labels, probs (V, C) max-pooled softmax,
                   logits (V, C) mean over clips (for the Global Model)
    confusion.png  the test confusion matrix, class names on the axes

:func:`evaluate_protocol` evaluates every split of a protocol (one run folder
per split, :func:`adl.deep.train.split_run_dirs`) and, with several splits,
writes a pooled ``report.json`` and ``scores.npz`` at the top: top-1 over all
test videos and the per-class accuracies of the pooled predictions.

Per-class accuracies cover the classes that have test videos; the mean is
over them (a class without a test video has no accuracy).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from adl.data.atomic import atomic_write, atomic_write_text

from .device import resolve_device
from .train import BEST_NAME, build_from_checkpoint, load_checkpoint, score_videos, split_run_dirs

__all__ = ["REPORT_NAME", "SCORES_NAME", "CONFUSION_NAME", "evaluate", "evaluate_protocol",
           "accuracy_report", "plot_confusion", "write_scores", "load_best"]

REPORT_NAME = "report.json"
SCORES_NAME = "scores.npz"
CONFUSION_NAME = "confusion.png"


def accuracy_report(labels: np.ndarray, predictions: np.ndarray,
                    classes: Sequence[str]) -> dict:
    """Top-1, mean per-class accuracy and per-class accuracies, in %.

    Parameters
    ----------
    labels, predictions : ndarray (V,) int
        Class indices into ``classes``.
    classes : sequence of str

    Returns
    -------
    dict
        ``top1``, ``mean_class_accuracy``, ``per_class`` {class: accuracy}
        over the classes present in ``labels``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    if labels.shape != predictions.shape or labels.ndim != 1:
        raise ValueError(f"expected labels and predictions of one shape (V,), got "
                         f"{labels.shape} and {predictions.shape}")
    if labels.size == 0:
        raise ValueError("expected at least one test video, got none")
    per_class = {}
    for c in np.unique(labels):
        mask = labels == c
        per_class[str(classes[int(c)])] = 100.0 * float(np.mean(predictions[mask] == c))
    return {"top1": 100.0 * float(np.mean(labels == predictions)),
            "mean_class_accuracy": float(np.mean(list(per_class.values()))),
            "per_class": per_class}


def plot_confusion(labels: np.ndarray, predictions: np.ndarray, classes: Sequence[str],
                   path: Path, title: str = "") -> Path:
    """Write the row-normalised confusion matrix (true class rows, predicted
    columns; counts written in the cells) to ``path`` (PNG, atomic)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(classes)
    counts = np.zeros((n, n), dtype=np.int64)
    np.add.at(counts, (np.asarray(labels, int), np.asarray(predictions, int)), 1)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    side = max(4.0, 0.45 * n + 2.5)
    fig, ax = plt.subplots(figsize=(side, side))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(classes, rotation=90, fontsize=8)
    ax.set_yticklabels(classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 40:
        for i in range(n):
            for j in range(n):
                if counts[i, j]:
                    ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if rates[i, j] > 0.5 else "black")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)
    return path


def write_scores(path: Path, video_ids, labels, probs, logits) -> None:
    def write(f):
        np.savez(f, video_ids=np.asarray(video_ids, dtype=str), labels=labels, probs=probs,
                 logits=logits)
    atomic_write(Path(path), write)


def load_best(run_dir, data, split) -> dict:
    """The ``best.pt`` payload of ``run_dir``, checked to be of ``data`` and ``split``.

    Raises
    ------
    FileNotFoundError
        No ``best.pt`` in ``run_dir``.
    ValueError
        A checkpoint of other data (fingerprint) or of another split.
    """
    path = Path(run_dir) / BEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no {BEST_NAME} in {run_dir}; train the model first "
                                f"(adl deep train with the same options)")
    payload = load_checkpoint(path)
    diffs = []
    if payload.get("data_fingerprint") != data.fingerprint():
        diffs.append(f"data fingerprint {payload.get('data_fingerprint')!r} in the file, "
                     f"{data.fingerprint()!r} here ({data.dataset}, {data.source})")
    if payload.get("split") != split.name:
        diffs.append(f"split {payload.get('split')!r} in the file, {split.name!r} here")
    if diffs:
        raise ValueError(f"{path} was trained on other data: {'; '.join(diffs)}")
    return payload


def evaluate(run_dir, data, split, device: str = "auto", *, protocol: Optional[str] = None,
             batch_size: int = 32) -> dict:
    """Evaluate ``run_dir``'s ``best.pt`` on ``split``'s test videos.

    Parameters
    ----------
    run_dir : path
        A folder :func:`adl.deep.train.train` wrote.
    data : DeepData
        The same data it was trained on (its fingerprint is checked).
    split : Split
        The same split (its name is checked).
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    protocol : str, optional
        Written into the report (default: the split's name).
    batch_size : int

    Returns
    -------
    dict
        The report written to ``report.json`` (module docstring), plus
        ``"run_dir"``.

    Raises
    ------
    FileNotFoundError
        No ``best.pt`` in ``run_dir``.
    ValueError
        A checkpoint of other data or of another split.
    """
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    payload = load_best(run_dir, data, split)
    spec, model = build_from_checkpoint(payload)
    dev = resolve_device(device)
    model.to(dev)
    test_idx = np.asarray(split.test, dtype=np.int64).reshape(-1)
    dataset = data.samples(test_idx, tuple(model.required_inputs()), sample=spec.sample)
    videos, labels, probs, logits = score_videos(model, dataset, dev, batch_size)
    if videos.size != np.unique(test_idx).size:
        raise ValueError(f"expected scores for the {np.unique(test_idx).size} test videos of "
                         f"split {split.name}, got {videos.size}")
    classes = list(data.classes)
    video_ids = [data.video_ids[v] for v in videos]
    report = {"model": payload["model"], "dataset": data.dataset,
              "protocol": protocol or split.name, "split": split.name,
              **accuracy_report(labels, probs.argmax(axis=1), classes),
              "config": {"model": payload["model_config"], "train": payload["train_config"]},
              "best_epoch": int(payload.get("best_epoch", payload.get("epoch", 0))),
              "n_test_videos": int(videos.size)}
    write_scores(run_dir / SCORES_NAME, video_ids, labels, probs, logits)
    plot_confusion(labels, probs.argmax(axis=1), classes, run_dir / CONFUSION_NAME,
                   title=f"{payload['model']} on {data.dataset} {split.name}")
    report["seconds"] = time.perf_counter() - t0
    atomic_write_text(run_dir / REPORT_NAME, json.dumps(report, indent=2) + "\n")
    return dict(report, run_dir=str(run_dir))


def evaluate_protocol(run_root, data, protocol: str, device: str = "auto",
                      batch_size: int = 32) -> dict:
    """Evaluate every split of ``protocol`` under ``run_root``.

    One split: :func:`evaluate` on ``run_root`` itself.  Several
    (leave-one-subject-out): each split's folder, then a pooled
    ``report.json`` / ``scores.npz`` / ``confusion.png`` in ``run_root``:
    top-1 over all test videos, per-class accuracies of the pooled
    predictions, and ``splits`` {name: {top1, mean_class_accuracy}}.

    Returns
    -------
    dict
        The top-level report, plus ``"run_dir"``.
    """
    t0 = time.perf_counter()
    run_root = Path(run_root)
    splits = data.splits(protocol)
    dirs = split_run_dirs(run_root, splits)
    reports = [evaluate(dirs[s.name], data, s, device, protocol=protocol,
                        batch_size=batch_size) for s in splits]
    if len(splits) == 1:
        return reports[0]
    ids, labels, probs, logits = [], [], [], []
    for s in splits:
        with np.load(dirs[s.name] / SCORES_NAME, allow_pickle=False) as z:
            ids.append(z["video_ids"])
            labels.append(z["labels"])
            probs.append(z["probs"])
            logits.append(z["logits"])
    labels_all = np.concatenate(labels)
    probs_all = np.concatenate(probs)
    classes = list(data.classes)
    first = reports[0]
    report = {"model": first["model"], "dataset": data.dataset, "protocol": protocol,
              **accuracy_report(labels_all, probs_all.argmax(axis=1), classes),
              "config": first["config"], "n_test_videos": int(labels_all.size),
              "splits": {r["split"]: {"top1": r["top1"],
                                      "mean_class_accuracy": r["mean_class_accuracy"],
                                      "n_test_videos": r["n_test_videos"]} for r in reports}}
    write_scores(run_root / SCORES_NAME, np.concatenate(ids), labels_all, probs_all,
                  np.concatenate(logits))
    plot_confusion(labels_all, probs_all.argmax(axis=1), classes, run_root / CONFUSION_NAME,
                   title=f"{first['model']} on {data.dataset} {protocol} (pooled)")
    report["seconds"] = time.perf_counter() - t0
    atomic_write_text(run_root / REPORT_NAME, json.dumps(report, indent=2) + "\n")
    return dict(report, run_dir=str(run_root))
