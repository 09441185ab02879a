"""Pose backbones of the attention models (thesis ch. 4) and the pose-only
classifiers that pre-train them.

* :class:`PoseLSTMEncoder` -- the 3-layer stacked LSTM of P-I3D and Separable
  STA (section 4.3.2, Table 4.1; 512 units per layer on NTU, 128 on
  Smarthome and N-UCLA, section 4.6.1).
* :class:`PoseGCNEncoder` -- VPN's GCN pose backbone (section 4.5.2,
  Eq. 4.14, Fig. 4.10 (A)): one graph convolution per pose step projecting
  the 3-D joints to 64 dimensions, the steps stacked, a residual connection
  with the input, then three Conv2d + BatchNorm + ReLU blocks (64, 64, 128
  channels, section 4.6.1).
* ``pose-lstm`` / ``pose-gcn`` -- :class:`PoseClassifier`: encoder + dropout +
  linear, the pose backbone's pre-training for action classification
  (Algorithm 1 step 3; Algorithm 2 and 3 load it).  An attention model takes
  the pre-trained encoder with :meth:`PoseClassifier.pose_state_dict` and
  fixes it with :func:`freeze_encoder` (``freeze_pose``, Algorithm 1 step 6).

Every encoder reads ``poses`` of shape (B, tp, M, J, 3) (missing persons are
zeros) and has an attribute ``out_dim``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from adl.data.layouts import get_layout
from adl.deep.graph import normalized_adjacency, pose_adjacency

from .base import DeepModel, ModelConfig, ModelOutput, ModelSpec, register_model

__all__ = ["PoseConfig", "default_lstm_units", "PoseLSTMEncoder", "PoseGCNEncoder",
           "build_pose_encoder", "freeze_encoder", "PoseClassifier", "POSE_BACKBONES"]

POSE_BACKBONES = ("lstm", "gcn")

#: LSTM units per layer (section 4.6.1 / Table 4.1): 512 on NTU-60 and
#: NTU-120, 128 on Smarthome and N-UCLA (and, by default, elsewhere).
_LSTM_UNITS = {"ntu60": 512, "ntu120": 512}


def default_lstm_units(dataset: str) -> int:
    """The thesis's LSTM units per layer for ``dataset`` (section 4.6.1):
    512 for ``ntu60`` / ``ntu120``, 128 otherwise (Smarthome, N-UCLA)."""
    return _LSTM_UNITS.get(dataset, 128)


@dataclass(frozen=True)
class PoseConfig(ModelConfig):
    """Configuration of a pose backbone (and of the pose-only classifiers).

    Attributes
    ----------
    pose_backbone : {"lstm", "gcn"}
        3-layer LSTM (P-I3D, Separable STA) or GCN (VPN), Table 4.1.
    lstm_units : int
        Units of every LSTM layer (:func:`default_lstm_units`).
    lstm_layers : int
        Stacked LSTM layers (3).
    gcn_alpha, gcn_beta : float
        Adjacency weights of the bones and of the extra links (5 and 2,
        section 4.6.1; :func:`adl.deep.graph.pose_adjacency`).
    gcn_proj : int
        Output dimension of the graph convolution (64).
    gcn_channels : tuple of int
        Output channels of the convolution blocks after it (64, 64, 128).
    gcn_per_step : bool
        True: one weight matrix W_t per pose step, as Eq. 4.14 writes W_t and
        section 4.6.1 says "we use tp number of GCNs, each processing a pose"
        (the input must then have exactly ``tp`` steps); False: one W shared
        by all steps (any number of steps).
    gcn_kernel : tuple of int
        (time, node) kernel of the convolution blocks; the thesis does not
        give it, we choose 3 x 3 with "same" padding.
    freeze_pose : bool
        Fix the encoder's parameters (and its BatchNorm statistics) while the
        rest trains (Algorithm 1 step 6).
    """

    pose_backbone: str = "lstm"
    lstm_units: int = 512
    lstm_layers: int = 3
    gcn_alpha: float = 5.0
    gcn_beta: float = 2.0
    gcn_proj: int = 64
    gcn_channels: tuple = (64, 64, 128)
    gcn_per_step: bool = True
    gcn_kernel: tuple = (3, 3)
    freeze_pose: bool = False


def _check_poses(poses: torch.Tensor, config: PoseConfig, who: str) -> None:
    if poses.dim() != 5 or poses.shape[2:] != (config.persons, config.n_joints, 3):
        raise ValueError(f"{who}: expected poses of shape (B, tp, {config.persons}, "
                         f"{config.n_joints}, 3) (persons, n_joints of the config), got "
                         f"{tuple(poses.shape)}")


def _positive(value, name: str) -> None:
    if int(value) != value or value < 1:
        raise ValueError(f"expected {name} >= 1 (an integer), got {value!r}")


class PoseLSTMEncoder(nn.Module):
    """3-layer stacked LSTM over the pose steps (section 4.3.2, Fig. 4.5).

    Each step's input is the flattened pose, M*J*3 values.

    Parameters
    ----------
    config : PoseConfig
        Reads ``persons``, ``n_joints``, ``lstm_units``, ``lstm_layers``.

    Attributes
    ----------
    out_dim : int
        ``lstm_units``.
    """

    def __init__(self, config: PoseConfig):
        super().__init__()
        _positive(config.lstm_units, "lstm_units")
        _positive(config.lstm_layers, "lstm_layers")
        self.config = config
        self.out_dim = int(config.lstm_units)
        self.lstm = nn.LSTM(config.persons * config.n_joints * 3, config.lstm_units,
                            num_layers=config.lstm_layers, batch_first=True)

    def forward_steps(self, poses: torch.Tensor) -> torch.Tensor:
        """Top-layer hidden states of every step.

        Parameters
        ----------
        poses : Tensor, shape (B, tp, M, J, 3)

        Returns
        -------
        Tensor, shape (B, tp, lstm_units)
            Concatenated over the steps this is the thesis's h* / h^s
            (section 4.6.1).
        """
        _check_poses(poses, self.config, type(self).__name__)
        out, _ = self.lstm(poses.reshape(poses.shape[0], poses.shape[1], -1))
        return out

    def forward(self, poses: torch.Tensor) -> torch.Tensor:
        """The last step's top-layer hidden state, shape (B, lstm_units)."""
        return self.forward_steps(poses)[:, -1]


class PoseGCNEncoder(nn.Module):
    """VPN's GCN pose backbone (section 4.5.2, Eq. 4.14, Fig. 4.10 (A)).

    For each pose step t, with the N = M*J joints of all persons as nodes::

        P+_t = ELU( D^-1/2 (E + I) D^-1/2  P_t  W_t )        (N, gcn_proj)

    where E is :func:`adl.deep.graph.pose_adjacency` of ``config.layout``
    (block-diagonal over the M persons).  The ELU follows the author's code
    (the thesis names no activation).  The steps are stacked into
    (B, gcn_proj, tp, N); the residual connection with the input pose (the
    thesis: "combined with the original pose input by a residual connection")
    adds a learnt 1x1 convolution of the input, 3 -> gcn_proj channels, since
    the two differ in channels.  Three Conv2d + BatchNorm + ReLU blocks over
    (tp, N) follow (``gcn_channels``); :meth:`forward` averages them over
    steps and nodes.

    Parameters
    ----------
    config : PoseConfig
        Reads ``layout``, ``persons``, ``n_joints``, ``tp``, ``gcn_*``.

    Attributes
    ----------
    out_dim : int
        ``gcn_channels[-1]`` (128).
    adjacency : Tensor, shape (N, N)
        The normalised adjacency (a buffer, not saved in the state dict: it
        follows from the config).

    Raises
    ------
    ValueError
        Unknown layout, or ``n_joints`` not the layout's joint count.
    """

    def __init__(self, config: PoseConfig):
        super().__init__()
        layout = get_layout(config.layout)
        if layout.n_joints != config.n_joints:
            raise ValueError(f"PoseGCNEncoder: layout {config.layout!r} has {layout.n_joints} "
                             f"joints, but the config has n_joints={config.n_joints}")
        _positive(config.gcn_proj, "gcn_proj")
        channels = tuple(config.gcn_channels)
        if not channels:
            raise ValueError("expected at least one convolution block in gcn_channels, got ()")
        for c in channels:
            _positive(c, "every gcn_channels entry")
        if len(config.gcn_kernel) != 2:
            raise ValueError(f"expected gcn_kernel as (time, node) sizes, got {config.gcn_kernel!r}")
        for k in config.gcn_kernel:
            if int(k) != k or k < 1 or k % 2 == 0:
                raise ValueError(f"expected odd gcn_kernel sizes >= 1 ('same' padding), "
                                 f"got {config.gcn_kernel!r}")
        _positive(config.tp, "tp")
        self.config = config
        self.out_dim = int(channels[-1])
        a = normalized_adjacency(pose_adjacency(config.layout, config.persons,
                                                config.gcn_alpha, config.gcn_beta))
        self.register_buffer("adjacency", torch.from_numpy(a), persistent=False)
        steps = config.tp if config.gcn_per_step else 1
        self.gcn_weight = nn.Parameter(torch.empty(steps, 3, config.gcn_proj))
        for w in self.gcn_weight:
            nn.init.xavier_uniform_(w)
        self.residual = nn.Conv2d(3, config.gcn_proj, kernel_size=1)
        blocks = []
        c_in = config.gcn_proj
        kt, kn = (int(k) for k in config.gcn_kernel)
        for c in channels:
            blocks += [nn.Conv2d(c_in, c, (kt, kn), padding=(kt // 2, kn // 2)),
                       nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            c_in = c
        self.blocks = nn.Sequential(*blocks)

    def graph_features(self, poses: torch.Tensor) -> torch.Tensor:
        """The stacked GCN outputs with the residual, before the convolutions.

        Parameters
        ----------
        poses : Tensor, shape (B, tp, M, J, 3)

        Returns
        -------
        Tensor, shape (B, gcn_proj, tp, M*J)
        """
        _check_poses(poses, self.config, type(self).__name__)
        b, tp = poses.shape[:2]
        if self.config.gcn_per_step and tp != self.config.tp:
            raise ValueError(f"PoseGCNEncoder: one GCN per pose step (gcn_per_step) expects "
                             f"tp={self.config.tp} steps, got {tp}")
        x = poses.reshape(b, tp, -1, 3)                                   # (B, tp, N, 3)
        h = torch.einsum("nk,btkc->btnc", self.adjacency, x)
        w = self.gcn_weight if self.config.gcn_per_step else self.gcn_weight.expand(tp, -1, -1)
        h = F.elu(torch.einsum("btnc,tcd->btnd", h, w))                   # (B, tp, N, proj)
        h = h.permute(0, 3, 1, 2)                                         # (B, proj, tp, N)
        return h + self.residual(x.permute(0, 3, 1, 2))

    def forward_nodes(self, poses: torch.Tensor) -> torch.Tensor:
        """Per-joint activations of the last block, shape (B, out_dim, tp, M*J)
        (the "GCN joint activations" figure; VPN's h* before pooling)."""
        return self.blocks(self.graph_features(poses))

    def forward(self, poses: torch.Tensor) -> torch.Tensor:
        """Global average of :meth:`forward_nodes`, shape (B, out_dim)."""
        return self.forward_nodes(poses).mean(dim=(2, 3))


def build_pose_encoder(config: PoseConfig) -> nn.Module:
    """The encoder ``config.pose_backbone`` names ("lstm" or "gcn")."""
    if config.pose_backbone == "lstm":
        return PoseLSTMEncoder(config)
    if config.pose_backbone == "gcn":
        return PoseGCNEncoder(config)
    raise ValueError(f"unknown pose_backbone {config.pose_backbone!r}; expected one of "
                     f"{', '.join(POSE_BACKBONES)}")


def freeze_encoder(encoder: nn.Module) -> nn.Module:
    """Fix ``encoder``: no gradients for its parameters, eval mode (its
    BatchNorm statistics stop moving).  A model holding it must put it back
    in eval mode after ``model.train()`` (as :class:`PoseClassifier` does)."""
    for p in encoder.parameters():
        p.requires_grad_(False)
    return encoder.eval()


class PoseClassifier(DeepModel):
    """A pose encoder + dropout + linear layer: ``pose-lstm`` / ``pose-gcn``.

    The pre-training of the pose backbone for action classification
    (Algorithm 1 step 3, section 4.6.1's dropout 0.3); usable alone on any
    dataset with skeletons.

    Parameters
    ----------
    config : PoseConfig
    """

    inputs = ("poses",)

    def __init__(self, config: PoseConfig):
        super().__init__(config)
        _positive(config.n_classes, "n_classes")
        self.encoder = build_pose_encoder(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(self.encoder.out_dim, config.n_classes)
        if config.freeze_pose:
            freeze_encoder(self.encoder)

    def train(self, mode: bool = True) -> "PoseClassifier":
        super().train(mode)
        if self.config.freeze_pose:
            self.encoder.eval()
        return self

    def forward(self, batch: Dict[str, torch.Tensor]) -> ModelOutput:
        """``batch["poses"]`` (B, tp, M, J, 3) -> logits (B, n_classes)."""
        if "poses" not in batch:
            raise ValueError(f"{type(self).__name__}: expected batch key 'poses', got keys "
                             f"{', '.join(sorted(batch)) or '(none)'}")
        return ModelOutput(logits=self.classifier(self.dropout(self.encoder(batch["poses"]))))

    def pose_state_dict(self) -> Dict[str, torch.Tensor]:
        """The encoder's state dict, for an attention model to load
        (Algorithm 2: initialise from the pre-trained pose backbone)."""
        return self.encoder.state_dict()


def _builder(backbone: str):
    def build(config: PoseConfig) -> PoseClassifier:
        # The model name decides the backbone.
        return PoseClassifier(replace(config, pose_backbone=backbone))
    return build


register_model(ModelSpec(
    "pose-lstm", PoseConfig, _builder("lstm"),
    "3-layer stacked LSTM on the poses, the pose backbone's pre-training (thesis 4.3.2, Alg. 1)"))
register_model(ModelSpec(
    "pose-gcn", PoseConfig, _builder("gcn"),
    "VPN's GCN pose backbone on the poses, its pre-training (thesis 4.5.2, Eq. 4.14)"))
