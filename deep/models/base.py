"""What every trainable model of the deep stage shares (thesis ch. 4-5): the
output record, the module base class, the per-model frozen configuration and
the registry users name models from (``adl deep train --model NAME``).

The contract
------------
A model is a :class:`DeepModel` (a :class:`torch.nn.Module`) whose
``forward(batch)`` takes a dict of float32 tensors and returns a
:class:`ModelOutput`.  The keys a model reads are its class attribute
``inputs``; the data layer (:mod:`adl.deep.inputs`) loads only those.  Batch
keys and shapes (B samples; D = backbone feature size, 1024 for I3D; tp pose
steps; M persons; J joints of the dataset's layout)::

    gap                  (B, D)               GAP of the clip's Mixed_5c map
    maps                 (B, D, t, h, w)      the clip's Mixed_5c map
    parts                (B, 3, D)            GAP of the P-I3D streams, in
                                              adl.deep.clips.PART_STREAMS order
                                              (left hand, right hand, full body)
    poses                (B, tp, M, J, 3)     normalised 3D poses of the clip
    segments_G{g}        (B, g, D)            one clip feature per segment of
                                              granularity g (thesis 5.2.1)
    segment_poses_G{g}   (B, g, s, M, J, 3)   s poses per segment (5 NTU, 4 N-UCLA)

A sample is a clip for the clip models (evaluation max-pools the softmax over
a video's clips, thesis 4.6.1) and a video for the temporal model.

``model.loss(output, target)`` returns ``(total, parts)``: the training loss
of the model's equation (cross-entropy plus its weighted regularisers by
default; VPN's Eq. 4.20 overrides it) and a dict of its terms as floats for
the progress lines.

This module imports torch (the package ``adl.deep`` does not).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Callable, ClassVar, Dict, List, Optional, Tuple, Type

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["INPUT_KEYS", "ModelOutput", "DeepModel", "ModelConfig", "ModelSpec",
           "register_model", "get_model_spec", "list_models", "build_model"]

#: The batch keys a model may read (``segments_G{g}`` / ``segment_poses_G{g}``
#: stand for one key per granularity g).
INPUT_KEYS = ("gap", "maps", "parts", "poses", "segments", "segment_poses")


@dataclass
class ModelOutput:
    """What a forward pass returns.

    Attributes
    ----------
    logits : Tensor, shape (B, C)
        Class scores before the softmax.
    attention : dict of str -> Tensor
        Named attention weights, batch first (e.g. ``"spatial"`` (B, h*w),
        ``"temporal"`` (B, t), ``"parts"`` (B, 3), ``"segments_G3"`` (B, 3),
        ``"granularity"`` (B, n_G)), for the figures and tests.
    penalties : dict of str -> Tensor
        Scalar regularisation terms, already multiplied by their lambda,
        that the default :meth:`DeepModel.loss` adds to the cross-entropy.
    embedding : tuple of Tensor or None
        ``(visual, pose)`` embeddings (B, E) for an embedding loss (VPN).
    """

    logits: torch.Tensor
    attention: Dict[str, torch.Tensor] = field(default_factory=dict)
    penalties: Dict[str, torch.Tensor] = field(default_factory=dict)
    embedding: Optional[Tuple[torch.Tensor, torch.Tensor]] = None


@dataclass(frozen=True)
class ModelConfig:
    """Fields every model configuration has; a model's own config subclasses
    it (frozen) and adds its hyper-parameters, with the thesis's values as
    defaults (Table 4.1, section 4.6.1, 5.4.1).

    Attributes
    ----------
    n_classes : int
    feature_dim : int
        D, the backbone's channels (1024 for I3D and S3D).
    layout : str
        The joint layout's name (:data:`adl.data.layouts.LAYOUTS`), "" for
        models without poses.
    n_joints : int
    persons : int
        M, persons per pose (2 for NTU, 1 elsewhere); missing persons are zeros.
    tp : int
        Pose steps per sample.
    dropout : float
        0.3 (section 4.6.1).
    """

    n_classes: int
    feature_dim: int = 1024
    layout: str = ""
    n_joints: int = 25
    persons: int = 1
    tp: int = 20
    dropout: float = 0.3

    def to_dict(self) -> dict:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        names = {f.name: f for f in fields(cls)}
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown field(s) {', '.join(unknown)}; expected "
                             f"some of {', '.join(names)}")
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})


class DeepModel(nn.Module):
    """Base class of the deep stage's trainable models.

    Subclasses set ``inputs`` (the batch keys they read, :data:`INPUT_KEYS`;
    the per-granularity keys as ``segments_G{g}``) and implement ``forward``.
    ``self.config`` is the frozen :class:`ModelConfig` the model was built from.
    """

    inputs: ClassVar[Tuple[str, ...]] = ()

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        # Per-channel standardisation of the cached backbone features, fitted on
        # the training videos (fit_input_normalization); identity until fitted.
        d = int(config.feature_dim)
        self.register_buffer("input_mean", torch.zeros(d))
        self.register_buffer("input_std", torch.ones(d))
        self.register_buffer("map_mean", torch.zeros(d))
        self.register_buffer("map_std", torch.ones(d))
        self.register_buffer("input_norm_fitted", torch.zeros((), dtype=torch.bool))
        self.register_forward_pre_hook(_standardize_inputs)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """As :meth:`torch.nn.Module.load_state_dict`; a state dict written
        before the feature standardisation existed (no ``input_mean`` ...)
        loads with the identity standardisation."""
        state = dict(state_dict)
        for name in _NORM_BUFFERS:
            if name not in state:
                current = getattr(self, name)
                identity = torch.ones_like(current) if name.endswith("_std") else \
                    torch.zeros_like(current)
                state[name] = identity
        return super().load_state_dict(state, strict=strict, assign=assign)

    @torch.no_grad()
    def fit_input_normalization(self, batches) -> "DeepModel":
        """Fit the per-channel standardisation of the backbone features.

        ``gap``, ``parts`` and ``segments_G{g}`` (channel last) are
        standardised with the mean and standard deviation of the training
        samples' ``gap``-like vectors, ``maps`` (channel second) with those of
        every position of the training maps; a channel whose deviation is
        under 1e-6 is only centred.  Not in the thesis (which fine-tunes the
        I3D end to end): ``TrainConfig.standardize`` turns it on.

        Parameters
        ----------
        batches : iterable of dict
            Mini-batches of the training samples (the model's input keys).

        Returns
        -------
        self
        """
        d = self.input_mean.numel()
        acc = {"vec": [torch.zeros(d, dtype=torch.float64) for _ in range(2)] + [0],
               "map": [torch.zeros(d, dtype=torch.float64) for _ in range(2)] + [0]}
        for batch in batches:
            for key, x in batch.items():
                kind = _norm_kind(key)
                if kind is None:
                    continue
                x = x.detach().to("cpu", torch.float64)
                rows = x.movedim(1, -1).reshape(-1, d) if kind == "map" else x.reshape(-1, d)
                a = acc[kind]
                a[0] += rows.sum(0)
                a[1] += (rows * rows).sum(0)
                a[2] += rows.shape[0]
        for kind, (mean_buf, std_buf) in (("vec", (self.input_mean, self.input_std)),
                                          ("map", (self.map_mean, self.map_std))):
            s1, s2, n = acc[kind]
            if n == 0:
                continue
            mean = s1 / n
            std = (s2 / n - mean * mean).clamp_min(0).sqrt()
            std = torch.where(std < 1e-6, torch.ones_like(std), std)
            mean_buf.copy_(mean.to(mean_buf.dtype))
            std_buf.copy_(std.to(std_buf.dtype))
        self.input_norm_fitted.fill_(True)
        return self

    def required_inputs(self) -> Tuple[str, ...]:
        """The batch keys this instance reads (a model whose keys depend on
        its config, such as the temporal model's granularities, overrides it)."""
        return tuple(self.inputs)

    def loss(self, output: ModelOutput, target: torch.Tensor):
        """Cross-entropy plus the output's penalties.

        Returns
        -------
        total : Tensor (scalar)
        parts : dict of str -> float
            ``{"ce": ..., <penalty name>: ...}``.
        """
        ce = F.cross_entropy(output.logits, target)
        total = ce
        parts = {"ce": float(ce.detach())}
        for name, value in output.penalties.items():
            total = total + value
            parts[name] = float(value.detach())
        return total, parts


_NORM_BUFFERS = ("input_mean", "input_std", "map_mean", "map_std", "input_norm_fitted")


def _norm_kind(key: str) -> Optional[str]:
    if key in ("gap", "parts") or key.startswith("segments_G"):
        return "vec"
    if key == "maps":
        return "map"
    return None


def _standardize_inputs(module: "DeepModel", args):
    """Forward pre-hook: the batch's backbone features standardised with the
    fitted statistics (:meth:`DeepModel.fit_input_normalization`)."""
    if not bool(module.input_norm_fitted) or not args or not isinstance(args[0], dict):
        return None
    batch = dict(args[0])
    for key, x in batch.items():
        kind = _norm_kind(key)
        if kind == "vec":
            batch[key] = (x - module.input_mean) / module.input_std
        elif kind == "map":
            shape = (1, -1) + (1,) * (x.dim() - 2)
            batch[key] = (x - module.map_mean.view(shape)) / module.map_std.view(shape)
    return (batch,) + tuple(args[1:])


@dataclass(frozen=True)
class ModelSpec:
    """A model users can name.

    Attributes
    ----------
    name : str
        ``--model`` value.
    config_cls : type
        Its :class:`ModelConfig` subclass.
    build : callable
        ``build(config) -> DeepModel``.
    summary : str
        One line for ``--help`` and the reports (with the thesis section).
    sample : {"clip", "video"}
        What one training sample is.
    """

    name: str
    config_cls: Type[ModelConfig]
    build: Callable[[ModelConfig], DeepModel]
    summary: str
    sample: str = "clip"


_REGISTRY: Dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the registry (a name is registered once)."""
    if spec.name in _REGISTRY and _REGISTRY[spec.name] is not spec:
        raise ValueError(f"a model named {spec.name!r} is already registered")
    if spec.sample not in ("clip", "video"):
        raise ValueError(f"expected sample 'clip' or 'video', got {spec.sample!r}")
    _REGISTRY[spec.name] = spec
    return spec


def _load_all() -> None:
    # The model modules register themselves on import.
    from . import registry  # noqa: F401


def get_model_spec(name: str) -> ModelSpec:
    """The registered model ``name``; a clear error lists the known names."""
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; expected one of "
                         f"{', '.join(sorted(_REGISTRY))}") from None


def list_models() -> List[str]:
    _load_all()
    return sorted(_REGISTRY)


def build_model(name: str, **config) -> DeepModel:
    """``get_model_spec(name).build(config_cls(**config))``."""
    spec = get_model_spec(name)
    return spec.build(spec.config_cls(**config))
