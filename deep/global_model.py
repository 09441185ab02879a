"""The Global Model (thesis 5.3): late, score-level fusion of the Temporal
Model (thesis 5.2) with a Basic Model (the video backbone on the whole video,
G = 1: the I3D baseline, P-I3D, Separable STA or VPN).

The operation
-------------
The thesis fuses the two models "by performing dot product operation of the
model scores at logit level" (5.3).  A dot product of two score vectors is
one number, not a class score, so the phrase is read as the element-wise
(Hadamard) product of the two models' class probabilities, renormalised::

    p_global(c) = p_basic(c) p_temporal(c) / sum_k p_basic(k) p_temporal(k)

Why this reading: in log space it is log p_basic + log p_temporal (plus a
per-video constant), and for softmax outputs that equals
softmax(z_basic + z_temporal) -- a fusion "at logit level" -- so both halves
of the sentence hold.  It is ``mode="product"`` (default).  Because the
Basic Model's video score is the max-pool of its clip softmaxes (4.6.1),
its rows need not sum to 1; the renormalisation makes the fused rows
probabilities again and does not change the argmax.

The alternative, ``mode="logsum"``, weighs the two log-probabilities::

    p_global = softmax(w log p_basic + (1 - w) log p_temporal)

``w = 0.5`` has the argmax of "product" (it is its square root,
renormalised); other ``w`` favour one model.  Probabilities are floored at
``EPS`` before the log so that a zero score does not give -inf (a class
both models score 0 then gets EPS^2 before renormalising; a row where every
product is 0 becomes uniform).

Files
-----
:func:`fuse_runs` reads two ``scores.npz`` files (written by the evaluation
of each model) with keys ``video_ids`` (V,), ``labels`` (V,), ``probs``
(V, C) max-pooled clip softmax and ``logits`` (V, C) (the mean over clips
for a clip model, :mod:`adl.deep.evaluate`), checks that they score the
same videos in the same order (and agree on the labels), and fuses them.
:func:`global_report` gives top-1, mean per-class accuracy and per-class
accuracy in percent (Table 5.1, 5.2).

This module imports numpy only.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

from adl.data.errors import DataFormatError

__all__ = ["MODES", "SOURCES", "EPS", "FusedScores", "fuse_scores", "load_scores", "fuse_runs",
           "global_report"]

MODES = ("product", "logsum")
SOURCES = ("probs", "logits")
#: Floor of a probability before its log.
EPS = 1e-12
SCORE_KEYS = ("video_ids", "labels", "probs", "logits")


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _check_scores(name: str, a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.size == 0:
        found = f"shape {a.shape}"
    elif not np.isfinite(a).all():
        found = "non-finite values"
    elif (a < 0).any():
        found = f"a negative value ({a.min():g})"
    else:
        return a
    raise ValueError(f"{name}: expected a non-empty (V, C) array of finite non-negative "
                     f"probabilities, got {found}")


def fuse_scores(basic, temporal, mode: str = "product", weight: float = 0.5) -> np.ndarray:
    """Global Model scores from the two models' class probabilities (thesis 5.3).

    Parameters
    ----------
    basic, temporal : array-like, shape (V, C)
        Per-video class probabilities (non-negative; rows need not sum to 1,
        e.g. the Basic Model's max-pooled clip softmaxes).
    mode : {"product", "logsum"}
        "product": element-wise product, renormalised (the thesis's
        operation, module docstring); "logsum":
        softmax(w log basic + (1 - w) log temporal).
    weight : float in [0, 1]
        w of "logsum" (the Basic Model's share); unused by "product".

    Returns
    -------
    ndarray, shape (V, C)
        Fused probabilities, rows summing to 1.
    """
    if mode not in MODES:
        raise ValueError(f"expected mode one of {', '.join(MODES)}, got {mode!r}")
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"expected weight in [0, 1], got {weight!r}")
    b = _check_scores("basic", basic)
    t = _check_scores("temporal", temporal)
    if b.shape != t.shape:
        raise ValueError(f"expected basic and temporal scores of the same shape (V, C), got "
                         f"{b.shape} and {t.shape}")
    lb = np.log(np.maximum(b, EPS))
    lt = np.log(np.maximum(t, EPS))
    if mode == "product":
        # log space: the same as p_b * p_t / sum, without underflow for many classes
        return _softmax(lb + lt)
    return _softmax(weight * lb + (1.0 - weight) * lt)


@dataclass
class FusedScores:
    """The Global Model's scores on a set of videos.

    Attributes
    ----------
    video_ids : ndarray of str, shape (V,)
    labels : ndarray of int, shape (V,)
    probs : ndarray, shape (V, C)
        Fused probabilities (:func:`fuse_scores`).
    mode : str
    weight : float
    """

    video_ids: np.ndarray
    labels: np.ndarray
    probs: np.ndarray
    mode: str
    weight: float


def load_scores(path) -> Dict[str, np.ndarray]:
    """Read one ``scores.npz`` (keys video_ids, labels, probs, logits).

    Returns
    -------
    dict
        ``video_ids`` (V,) str, ``labels`` (V,) int64, ``probs`` and
        ``logits`` (V, C) float64.

    Raises
    ------
    DataFormatError
        Missing or unreadable file, missing key, or inconsistent shapes.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in SCORE_KEYS if k not in z.files]
            if missing:
                raise DataFormatError(path, f"keys {', '.join(SCORE_KEYS)}",
                                      f"no {', '.join(missing)} (keys: {', '.join(z.files)})")
            d = {k: z[k] for k in SCORE_KEYS}
    except (OSError, ValueError) as e:
        if isinstance(e, DataFormatError):
            raise
        raise DataFormatError(path, "a readable scores.npz", f"{type(e).__name__}: {e}") from None
    ids = d["video_ids"].astype(str)
    v = len(ids)
    probs = np.asarray(d["probs"], dtype=np.float64)
    logits = np.asarray(d["logits"], dtype=np.float64)
    labels = np.asarray(d["labels"])
    if (ids.ndim != 1 or labels.shape != (v,) or probs.ndim != 2 or probs.shape[0] != v
            or logits.shape != probs.shape):
        raise DataFormatError(path, "video_ids (V,), labels (V,), probs and logits (V, C)",
                              f"video_ids {d['video_ids'].shape}, labels {labels.shape}, "
                              f"probs {probs.shape}, logits {logits.shape}")
    if len(set(ids.tolist())) != v:
        seen, dup = set(), None
        for i in ids.tolist():
            if i in seen:
                dup = i
                break
            seen.add(i)
        raise DataFormatError(path, "each video id once", f"{dup!r} more than once")
    return {"video_ids": ids, "labels": labels.astype(np.int64), "probs": probs,
            "logits": logits}


def fuse_runs(basic_scores_npz, temporal_scores_npz, mode: str = "product",
              weight: float = 0.5, source: str = "probs") -> FusedScores:
    """Fuse a Basic Model run and a Temporal Model run (thesis 5.3).

    Parameters
    ----------
    basic_scores_npz, temporal_scores_npz : str or Path
        Their ``scores.npz`` files.
    mode, weight
        See :func:`fuse_scores`.
    source : {"probs", "logits"}
        Which scores to fuse: the stored probabilities (default; the Basic
        Model's are max-pooled clip softmaxes, the video score of 4.6.1) or
        the softmax of the stored logits (then "product" is
        softmax(z_basic + z_temporal), the literal "logit level" reading).

    Returns
    -------
    FusedScores

    Raises
    ------
    ValueError
        The two files score different videos, in a different order, with
        different labels or a different number of classes (the message names
        both files and an example id).
    """
    if source not in SOURCES:
        raise ValueError(f"expected source one of {', '.join(SOURCES)}, got {source!r}")
    b = load_scores(basic_scores_npz)
    t = load_scores(temporal_scores_npz)
    files = f"basic {basic_scores_npz} and temporal {temporal_scores_npz}"
    bi, ti = b["video_ids"], t["video_ids"]
    only_b = sorted(set(bi.tolist()) - set(ti.tolist()))
    only_t = sorted(set(ti.tolist()) - set(bi.tolist()))
    if only_b or only_t:
        example = (f"{only_b[0]!r} only in basic" if only_b else f"{only_t[0]!r} only in temporal")
        raise ValueError(f"{files} score different videos ({len(only_b)} only in basic, "
                         f"{len(only_t)} only in temporal; e.g. {example}); evaluate both models "
                         "on the same split")
    if not np.array_equal(bi, ti):
        k = int(np.flatnonzero(bi != ti)[0])
        raise ValueError(f"{files} list the same videos in a different order (position {k}: "
                         f"{bi.tolist()[k]!r} in basic, {ti.tolist()[k]!r} in temporal); "
                         "expected the same order")
    if not np.array_equal(b["labels"], t["labels"]):
        k = int(np.flatnonzero(b["labels"] != t["labels"])[0])
        raise ValueError(f"{files} disagree on the label of {bi.tolist()[k]!r}: {int(b['labels'][k])} "
                         f"in basic, {int(t['labels'][k])} in temporal")
    if b["probs"].shape[1] != t["probs"].shape[1]:
        raise ValueError(f"{files}: expected the same number of classes, got "
                         f"{b['probs'].shape[1]} and {t['probs'].shape[1]}")
    if source == "probs":
        pb, pt = b["probs"], t["probs"]
    else:
        pb, pt = _softmax(b["logits"]), _softmax(t["logits"])
    return FusedScores(video_ids=bi, labels=b["labels"],
                       probs=fuse_scores(pb, pt, mode=mode, weight=weight),
                       mode=mode, weight=float(weight))


def global_report(probs, labels, class_names: Optional[Sequence[str]] = None) -> dict:
    """Accuracies of (fused) scores, in percent (Tables 5.1, 5.2).

    Parameters
    ----------
    probs : array-like, shape (V, C)
    labels : array-like of int, shape (V,)
    class_names : sequence of str, optional
        C names for the per-class keys (default: the class indices).

    Returns
    -------
    dict
        ``top1`` (% of videos whose argmax is the label),
        ``mean_class_accuracy`` (mean over the classes present in
        ``labels`` of their top-1, the Smarthome metric), ``per_class``
        (class -> % for the classes present), ``n_videos``.
    """
    p = np.asarray(probs)
    y = np.asarray(labels)
    if p.ndim != 2 or y.shape != (p.shape[0],) or p.shape[0] == 0:
        raise ValueError(f"expected probs (V, C) with V > 0 and labels (V,), got probs "
                         f"{p.shape} and labels {y.shape}")
    c = p.shape[1]
    if class_names is not None and len(class_names) != c:
        raise ValueError(f"expected {c} class names, got {len(class_names)}")
    if y.min() < 0 or y.max() >= c:
        raise ValueError(f"expected labels in [0, {c - 1}], got values from {y.min()} to "
                         f"{y.max()}")
    correct = p.argmax(axis=1) == y
    per_class = {}
    for k in np.unique(y):
        name = class_names[k] if class_names is not None else int(k)
        per_class[name] = 100.0 * float(correct[y == k].mean())
    return {"top1": 100.0 * float(correct.mean()),
            "mean_class_accuracy": float(np.mean(list(per_class.values()))),
            "per_class": per_class, "n_videos": int(len(y))}


def evaluate_global(basic_run, temporal_run, data, protocol: str, out_dir,
                    mode: str = "product", weight: float = 0.5, source: str = "probs") -> dict:
    """The Global Model's evaluation (thesis 5.3, Tables 5.1-5.2): fuse the
    ``scores.npz`` of a Basic Model run and of a Temporal Model run, both
    evaluated on ``protocol`` (:func:`adl.deep.evaluate.evaluate_protocol`
    writes them; pooled over the splits for leave-one-subject-out), and write
    ``report.json`` (the shape of ``adl deep evaluate``'s, ``model`` =
    ``"global"``, ``config`` naming both runs and the fusion), ``scores.npz``
    and ``confusion.png`` into ``out_dir``.

    Returns
    -------
    dict
        The report, plus ``"run_dir"``.
    """
    import json
    import time

    from adl.data.atomic import atomic_write_text

    from .evaluate import (CONFUSION_NAME, REPORT_NAME, SCORES_NAME, accuracy_report,
                           plot_confusion, write_scores)

    t0 = time.perf_counter()
    basic_run, temporal_run, out_dir = Path(basic_run), Path(temporal_run), Path(out_dir)
    for run in (basic_run, temporal_run):
        if not (run / SCORES_NAME).is_file():
            raise FileNotFoundError(f"no {SCORES_NAME} in {run}; evaluate that run first "
                                    f"(adl deep evaluate on protocol {protocol})")
    fused = fuse_runs(basic_run / SCORES_NAME, temporal_run / SCORES_NAME, mode=mode,
                      weight=weight, source=source)
    reports = {}
    for name, run in (("basic", basic_run), ("temporal", temporal_run)):
        path = run / REPORT_NAME
        reports[name] = json.loads(path.read_text()) if path.is_file() else {}
    classes = list(data.classes)
    pred = fused.probs.argmax(axis=1)
    report = {"model": "global", "dataset": data.dataset, "protocol": protocol,
              **accuracy_report(fused.labels, pred, classes),
              "config": {"basic": {"run": str(basic_run),
                                   "model": reports["basic"].get("model"),
                                   "top1": reports["basic"].get("top1")},
                         "temporal": {"run": str(temporal_run),
                                      "model": reports["temporal"].get("model"),
                                      "top1": reports["temporal"].get("top1")},
                         "fusion": {"mode": mode, "weight": float(weight), "source": source}},
              "n_test_videos": int(fused.labels.size)}
    out_dir.mkdir(parents=True, exist_ok=True)
    write_scores(out_dir / SCORES_NAME, fused.video_ids, fused.labels, fused.probs,
                 np.log(np.clip(fused.probs, EPS, None)))
    plot_confusion(fused.labels, pred, classes, out_dir / CONFUSION_NAME,
                   title=f"Global ({reports['basic'].get('model')} + temporal) on "
                         f"{data.dataset} {protocol}")
    report["seconds"] = time.perf_counter() - t0
    atomic_write_text(out_dir / REPORT_NAME, json.dumps(report, indent=2) + "\n")
    return dict(report, run_dir=str(out_dir))
