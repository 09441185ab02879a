"""Saving and loading a fitted fusion model (two-level fusion + pair memory).

File format: one ASCII header line, then a joblib pickle::

    ADL-FUSION-MODEL <version> sha256=<hex digest of the payload> size=<payload bytes>\\n
    <joblib payload>

The header is read and the payload's size and digest are checked *before*
anything is unpickled, so a foreign file (another pickle, a text file) or a
truncated / corrupted one is refused with a :class:`ModelFileError` without
running any of its content.

Trust boundary: the payload is a pickle, and unpickling runs code.  The
digest detects accidents, not attacks (whoever can write the file can write
a matching digest): only load model files you made yourself.

A saved model holds the normalised training features its SVMs need (the
linear kernels of a new video are computed against them), never the features
of the fold's test videos.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np

from adl.data.atomic import atomic_write_bytes
from adl.data.errors import AdlError

MAGIC = "ADL-FUSION-MODEL"
#: 2 (adl 0.2): the fitted classes moved modules (``fusion.svm``,
#: ``fusion.calibration``, ``fusion.feature_bank``) and the estimators' seed is
#: ``random_state``, so a version-1 payload cannot be unpickled; refitting
#: takes seconds (``adl fuse --save-model``).
FORMAT_VERSION = 2
#: Versions this adl knows it cannot read, and why.
_RETIRED_VERSIONS = {1: "adl < 0.2"}
_MAX_HEADER = 256


class ModelFileError(AdlError, ValueError):
    """A model file is missing, foreign, of an unknown version or corrupted."""


@dataclass
class FusionModel:
    """Everything needed to classify a new video of one fold's feature space.

    Attributes
    ----------
    dataset, fold : str
    classes : tuple of str
        Class names; ``scores`` of :func:`predict_video` follow this order.
    families : tuple of str
        Families the model uses (the video must provide them).
    fusion : TwoLevelFusion
        Fitted; its labels are positions in ``classes``.
    memory : ActionPairMemory or None
        Fitted pair memory (None: no pair step).
    info : dict
        ``config`` (the :class:`fusion.config.FusionConfig` as a dict), the
        held-out scheme (``selection``), the ``epsilon`` used and the fold
        entries the features came from (``fold_entries``).
    """

    dataset: str
    fold: str
    classes: Tuple[str, ...]
    families: Tuple[str, ...]
    fusion: object
    memory: Optional[object] = None
    info: Dict = field(default_factory=dict)


def save_model(path, model: FusionModel) -> Path:
    """Write ``model`` to ``path`` atomically (temp file + rename).

    Returns
    -------
    Path
    """
    import joblib

    if not isinstance(model, FusionModel):
        raise TypeError(f"expected a FusionModel, got {type(model).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    joblib.dump(model, buf)
    payload = buf.getvalue()
    header = (f"{MAGIC} {FORMAT_VERSION} sha256={hashlib.sha256(payload).hexdigest()} "
              f"size={len(payload)}\n").encode("ascii")
    atomic_write_bytes(path, header + payload)
    return path


def _parse_header(path: Path, line: bytes) -> Tuple[int, str, int]:
    expected = f"'{MAGIC} <version> sha256=<hex> size=<n>' header (a file written by adl save_model)"
    if not line.endswith(b"\n"):
        raise ModelFileError(f"{path}: not an adl fusion model: expected {expected}, "
                             f"found {line[:40]!r}")
    try:
        text = line.decode("ascii").strip()
    except UnicodeDecodeError:
        text = ""
    parts = text.split(" ")
    if len(parts) != 4 or parts[0] != MAGIC:
        raise ModelFileError(f"{path}: not an adl fusion model: expected {expected}, "
                             f"found {line[:40]!r}")
    try:
        version = int(parts[1])
        digest = parts[2].split("=", 1)[1] if parts[2].startswith("sha256=") else None
        size = int(parts[3].split("=", 1)[1]) if parts[3].startswith("size=") else None
    except ValueError:
        digest = size = None
        version = -1
    if version in _RETIRED_VERSIONS:
        raise ModelFileError(f"{path}: written by {_RETIRED_VERSIONS[version]} (format {version}); "
                             f"re-run adl fuse --save-model")
    if version != FORMAT_VERSION and version >= 0:
        raise ModelFileError(f"{path}: model format version {version} is not supported; this adl "
                             f"reads version {FORMAT_VERSION} (re-run `adl fuse --save-model`)")
    if digest is None or size is None or version < 0:
        raise ModelFileError(f"{path}: malformed model header: expected {expected}, found {text!r}")
    return version, digest, size


def load_model(path) -> FusionModel:
    """Read a model written by :func:`save_model`.

    Only load files you made: the payload is a pickle (see the module doc).

    Raises
    ------
    ModelFileError
        Missing, foreign, unsupported-version, truncated or corrupted file.
    """
    import joblib

    path = Path(path)
    try:
        with open(path, "rb") as fh:
            line = fh.readline(_MAX_HEADER)
            _, digest, size = _parse_header(path, line)
            payload = fh.read()
    except FileNotFoundError:
        raise ModelFileError(f"{path}: model file does not exist") from None
    except IsADirectoryError:
        raise ModelFileError(f"{path}: expected a model file, found a directory") from None
    if len(payload) != size:
        raise ModelFileError(f"{path}: model file is truncated or padded: expected {size} payload "
                             f"bytes, found {len(payload)}")
    if hashlib.sha256(payload).hexdigest() != digest:
        raise ModelFileError(f"{path}: model file is corrupted: the payload's sha256 does not "
                             "match its header")
    try:
        model = joblib.load(io.BytesIO(payload))
    except Exception as exc:  # a payload that passed the digest but does not unpickle here
        raise ModelFileError(f"{path}: the model payload cannot be read with this adl/scikit-learn "
                             f"({type(exc).__name__}: {exc})") from exc
    if not isinstance(model, FusionModel):
        raise ModelFileError(f"{path}: expected a FusionModel payload, found "
                             f"{type(model).__name__}")
    return model


def predict_video(model: FusionModel, features_by_family: Dict[str, np.ndarray]
                  ) -> Tuple[str, np.ndarray]:
    """Classify one video with a fitted model.

    Parameters
    ----------
    model : FusionModel
    features_by_family : dict str -> ndarray (d,) or (1, d)
        The video's features of (at least) ``model.families``, produced by
        the same fold's feature extractors.

    Returns
    -------
    label : str
        Class name after the two-level fusion and the pair memory.
    scores : ndarray, shape (len(model.classes),)
        Fused scores (Eq. 3.6), with the pair memory's re-decisions applied
        (the old and new label's scores swapped); 0 for classes the model
        never saw in training.
    """
    from .feature_bank import FeatureBank

    if not isinstance(features_by_family, dict):
        raise TypeError(f"expected a dict family -> feature vector, got "
                        f"{type(features_by_family).__name__}")
    missing = [f for f in model.families if features_by_family.get(f) is None]
    if missing:
        raise ValueError(f"the model needs features {list(model.families)}; missing {missing}")
    rows = {}
    for f in model.families:
        x = np.asarray(features_by_family[f], dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[0] != 1:
            raise ValueError(f"features {f!r}: expected one vector (d,) or (1, d), got {x.shape}")
        expected_d = _feature_dim(model, f)
        if expected_d is not None and x.shape[1] != expected_d:
            raise ValueError(f"features {f!r}: expected {expected_d} dimensions, got {x.shape[1]}")
        rows[f] = x
    bank = FeatureBank(rows)
    fusion = model.fusion
    pred, scores = fusion.predict_with_scores(bank)
    if model.memory is not None:
        pred, scores = model.memory.refine(bank, pred, scores)
    full = np.zeros(len(model.classes))
    full[np.asarray(fusion.classes_, dtype=np.int64)] = scores[0]
    return model.classes[int(pred[0])], full


def _feature_dim(model: FusionModel, family: str) -> Optional[int]:
    for clf in (getattr(model.fusion, "clf1_", None), getattr(model.fusion, "clf2_", None)):
        if clf is not None and family in clf.families_:
            return clf.train_bank_.features(family).shape[1]
    return None
