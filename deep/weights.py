"""Weights of the video backbones and the preprocessing they carry (thesis 4.6.1).

As in torchvision's ``models/_api.py``, a weights entry
(:class:`BackboneWeights`) says everything a clip needs before it reaches the
network and what comes out: clip length and size, the pixel normalisation
(I3D: [-1, 1]; S3D: Kinetics mean/std), the endpoint read and its channels.
:meth:`BackboneWeights.meta` is that metadata as a JSON-able dict, meant for
the cache key of backbone features.

``weights=`` of a backbone (``--weights``) is one of

* the backbone's standard name (the default), e.g. ``"rgb_imagenet"`` for I3D:
  its file is looked up in ``torch.hub.get_dir()/checkpoints/`` and never
  downloaded; when it is absent, :class:`WeightsNotFoundError` names the file to
  put there (and the alternatives) in one line;
* a path to a state dict of the backbone (``torch.load(..., weights_only=True)``,
  loaded with ``strict=True``, see :func:`load_checkpoint`);
* ``"random"``: explicit seeded random initialisation (tests, demos).

torch is imported inside the functions.
"""
from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Tuple

from adl.features.cnn import WeightsError, WeightsNotFoundError

__all__ = ["ClipNormalization", "BackboneWeights", "ResolvedWeights", "WeightsError",
           "WeightsNotFoundError", "hub_checkpoint_dir", "resolve_weights",
           "describe_weights", "load_checkpoint", "load_state_dict_strict",
           "unreadable_checkpoint", "file_digest", "CHECKPOINT_READ_ERRORS"]

NORMALIZATIONS = ("minus_one_one", "mean_std")


@dataclass(frozen=True)
class ClipNormalization:
    """How uint8 RGB pixels become network input.

    Attributes
    ----------
    kind : {"minus_one_one", "mean_std"}
        ``"minus_one_one"``: ``x / 255 * 2 - 1`` (I3D, no mean/std);
        ``"mean_std"``: ``(x / 255 - mean) / std`` per channel.
    mean, std : tuple of 3 floats
        RGB statistics for ``"mean_std"`` (unused otherwise).
    """

    kind: str
    mean: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: Tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self):
        if self.kind not in NORMALIZATIONS:
            raise ValueError(f"unknown normalisation {self.kind!r}; expected one of "
                             f"{', '.join(NORMALIZATIONS)}")
        if self.kind == "mean_std" and any(s <= 0 for s in self.std):
            raise ValueError(f"expected positive std, got {self.std}")

    def __call__(self, clips):
        """Normalised float32 network input.

        Parameters
        ----------
        clips : Tensor, shape (N, T, H, W, 3), uint8, RGB

        Returns
        -------
        Tensor, shape (N, 3, T, H, W), float32, on the device of ``clips``
        """
        import torch
        if clips.ndim != 5 or clips.shape[-1] != 3 or clips.dtype != torch.uint8:
            raise ValueError(f"expected uint8 RGB clips of shape (N, T, H, W, 3), got "
                             f"{clips.dtype} {tuple(clips.shape)}")
        x = clips.permute(0, 4, 1, 2, 3).float()
        if self.kind == "minus_one_one":
            return x / 255.0 * 2.0 - 1.0
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1, 1)
        return (x / 255.0 - mean) / std


@dataclass(frozen=True)
class BackboneWeights:
    """One standard set of weights of a backbone, with its preprocessing and
    output (the metadata torchvision's ``Weights(url, transforms, meta)``
    carries).

    Attributes
    ----------
    backbone : str
        Registry name of the backbone (``"i3d"``, ``"s3d"``).
    name : str
        The standard name users pass as ``--weights``.
    file_name : str
        The checkpoint's file name in ``torch.hub.get_dir()/checkpoints``.
    description : str
        What the file is, for error messages.
    normalization : ClipNormalization
    clip_frames, clip_size : int
        The clip the weights were trained on (frames, square side); thesis
        4.6.1: 64 x 224 x 224.
    endpoint : str
        The module whose output is the feature map.
    feature_dim : int
        Channels of that map.
    stride : tuple of 3 ints
        ``(T, H, W)`` reduction from input to map (8, 32, 32).
    url : str, optional
        Where the file is published (documentation only: nothing downloads it).
    """

    backbone: str
    name: str
    file_name: str
    description: str
    normalization: ClipNormalization
    clip_frames: int = 64
    clip_size: int = 224
    endpoint: str = "Mixed_5c"
    feature_dim: int = 1024
    stride: Tuple[int, int, int] = (8, 32, 32)
    url: Optional[str] = field(default=None, compare=False)

    def meta(self) -> dict:
        """The metadata that changes the features, JSON-able (for cache keys)."""
        norm = self.normalization
        meta = {"backbone": self.backbone, "clip_frames": self.clip_frames,
                "clip_size": self.clip_size, "normalization": norm.kind}
        if norm.kind == "mean_std":
            meta.update(mean=list(norm.mean), std=list(norm.std))
        meta.update(endpoint=self.endpoint, feature_dim=self.feature_dim, stride=list(self.stride))
        return meta

    def hub_path(self) -> Path:
        """Where the file is looked up: ``torch.hub.get_dir()/checkpoints/<file_name>``."""
        return hub_checkpoint_dir() / self.file_name


@dataclass(frozen=True)
class ResolvedWeights:
    """What a ``weights=`` value resolved to.

    Attributes
    ----------
    kind : {"standard", "file", "random"}
    entry : BackboneWeights
        The standard entry (for ``"file"`` and ``"random"``: the backbone's
        default, whose preprocessing applies).
    path : Path, optional
        The file to load (``"standard"`` and ``"file"``).
    """

    kind: str
    entry: BackboneWeights
    path: Optional[Path] = None


def hub_checkpoint_dir() -> Path:
    """``torch.hub.get_dir()/checkpoints``: where torchvision caches weights files."""
    import torch
    return Path(torch.hub.get_dir()) / "checkpoints"


def resolve_weights(entries: Tuple[BackboneWeights, ...],
                    weights: Optional[str]) -> ResolvedWeights:
    """Resolve a ``weights=`` value against a backbone's standard entries.

    Parameters
    ----------
    entries : tuple of BackboneWeights
        The backbone's standard weights, the default first.
    weights : str, os.PathLike or None
        ``None`` (the default entry), a standard name (case-insensitive),
        ``"random"`` or a path.

    Returns
    -------
    ResolvedWeights

    Raises
    ------
    WeightsNotFoundError
        A standard name whose file is not in the hub cache, or a path that is
        not a file; one line naming the file to provide.
    """
    if not entries:
        raise ValueError("expected at least one standard weights entry, got none")
    default = entries[0]
    backbone = default.backbone
    if weights is None:
        weights = default.name
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"expected weights as a standard name, 'random' or a path, got "
                        f"{type(weights).__name__}")
    text = os.fspath(weights)
    if text == "random":
        return ResolvedWeights("random", default)
    names = ", ".join(e.name for e in entries)
    by_name = {e.name.lower(): e for e in entries}
    entry = by_name.get(text.lower())
    if entry is not None:
        path = entry.hub_path()
        if not path.is_file():
            raise WeightsNotFoundError(
                f"{backbone} weights {entry.name!r} not found: put {entry.file_name} "
                f"({entry.description}) at {path}, or pass --weights PATH (a state dict of "
                f"{backbone}), or --weights random (tests and demos only)")
        return ResolvedWeights("standard", entry, path)
    path = Path(text).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(
            f"weights file {path} not found: expected a state dict of {backbone} "
            f"({default.description}), a standard name ({names}) or 'random'")
    return ResolvedWeights("file", default, path)


def file_digest(path: Path, length: int = 16) -> str:
    """The first ``length`` hex digits of the SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:length]


def describe_weights(resolved: ResolvedWeights) -> str:
    """A stable identity of resolved weights for cache keys: ``random``,
    ``<standard name>:<file name>`` or ``file:<sha256 prefix>`` (the content,
    not the path, so a moved file keeps its cache)."""
    if resolved.kind == "random":
        return "random"
    if resolved.kind == "standard":
        return f"{resolved.entry.name}:{resolved.entry.file_name}"
    return f"file:{file_digest(resolved.path)}"


def _unwrap(obj, path: Path, layout: str) -> dict:
    import torch
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(k, str) for k in obj):
        raise WeightsError(f"{path}: expected a state dict of {layout} (a mapping of parameter "
                           f"names to tensors), found {type(obj).__name__}")
    if all(k.startswith("module.") for k in obj):   # saved from DataParallel
        obj = {k[len("module."):]: v for k, v in obj.items()}
    bad = next((k for k, v in obj.items() if not isinstance(v, torch.Tensor)), None)
    if bad is not None:
        raise WeightsError(f"{path}: expected a state dict of {layout} (a mapping of parameter "
                           f"names to tensors), found {type(obj[bad]).__name__} at key {bad!r}")
    return obj


#: What torch.load raises on a file it cannot read (truncated, foreign, not a pickle).
CHECKPOINT_READ_ERRORS = (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError,
                          AttributeError, ImportError, IndexError, KeyError, TypeError)


def unreadable_checkpoint(path, layout: str, err: BaseException) -> WeightsError:
    """The error for a file ``torch.load(weights_only=True)`` could not read."""
    text = str(err).strip()
    reason = text.splitlines()[0] if text else type(err).__name__
    return WeightsError(f"{path}: expected a state dict of {layout} readable with "
                        f"torch.load(weights_only=True), found an unreadable, truncated or "
                        f"foreign file ({reason[:160]})")


def load_state_dict_strict(model, obj, *, source, layout: str) -> None:
    """Load a state dict read from ``source`` into ``model`` with ``strict=True``,
    naming the first offending key when the layouts differ.

    A ``{"state_dict": ...}`` wrapper and DataParallel ``module.`` prefixes are
    accepted.  The model's keys are walked in order and the first one that is
    missing from ``obj`` or has another shape is named; failing that, the
    first key the model does not have.

    Parameters
    ----------
    model : torch.nn.Module
    obj : object
        What ``torch.load`` returned.
    source : str or Path
        The file it came from (named in messages).
    layout : str
        What the file should be, e.g. ``"I3D (rgb_imagenet.pt)"``.

    Raises
    ------
    WeightsError
        Not a state dict, or names or shapes that differ from the model's (one
        message: the file, the first offending key, and the counts).
    """
    state = _unwrap(obj, source, layout)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    mismatched = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    unexpected = [k for k in state if k not in own]
    if missing or mismatched or unexpected:
        counts = (f"{len(missing)} missing, {len(mismatched)} with another shape, "
                  f"{len(unexpected)} unexpected; {layout} has {len(own)} keys")
        bad = set(missing) | set(mismatched)
        first = next((k for k in own if k in bad), None)
        if first is None:
            detail = f"first unexpected key {unexpected[0]!r}"
        elif first not in state:
            detail = f"first missing key {first!r} (shape {tuple(own[first].shape)})"
        else:
            detail = (f"first mismatched key {first!r}: shape {tuple(state[first].shape)} in the "
                      f"file, {tuple(own[first].shape)} expected")
        raise WeightsError(f"{source}: not a state dict of {layout}: {detail} ({counts})")
    model.load_state_dict(state, strict=True)


def load_checkpoint(model, path, *, layout: str) -> None:
    """Read a state-dict file with ``torch.load(..., weights_only=True)`` and
    load it into ``model`` with ``strict=True`` (:func:`load_state_dict_strict`).

    Parameters
    ----------
    model : torch.nn.Module
    path : str or Path
    layout : str
        What the file should be, for messages (e.g. "I3D (rgb_imagenet.pt)").

    Raises
    ------
    WeightsError
        An unreadable, truncated or foreign file, or a state dict whose names or
        shapes differ from the model's.
    """
    import torch
    path = Path(path)
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except CHECKPOINT_READ_ERRORS as err:
        raise unreadable_checkpoint(path, layout, err) from None
    load_state_dict_strict(model, obj, source=path, layout=layout)
