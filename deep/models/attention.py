"""The pose-driven attention models of thesis ch. 4, trained on cached I3D
features (the I3D is not fine-tuned here: the thesis's feature map ``g`` is
the cached Mixed_5c map or GAP, :mod:`adl.deep.extract`).

Registered models (``adl deep train --model NAME``)
---------------------------------------------------
``i3d``
    The "no attention" baseline (Table 4.4 "No Att", Table 4.5 l1): dropout
    and a linear classifier on the clip's GAP (the thesis's 1x1x1 convolution
    on the GAP is the same map).
``p-i3d``
    Spatial attention over three body-part streams (section 4.3, Eq. 4.5-4.8).
``sep-sta``
    Separable spatio-temporal attention (section 4.4, Eq. 4.10-4.13); the
    other strategies of Table 4.4 are its ``variant`` and have their own
    names: ``sa``, ``ta``, ``sa-ta``, ``ta-sa``, ``joint-sta``.
``vpn``
    Video-Pose Network (section 4.5, Eq. 4.15-4.21): pose-driven coupled
    attention with a residual modulation and a spatial RGB-pose embedding.

Every pose-driven model builds its pose backbone with
:func:`adl.deep.models.pose.build_pose_encoder` from the pose fields of its
config (:class:`adl.deep.models.pose.PoseConfig`), can load a pre-trained
backbone (:meth:`PoseDrivenModel.load_pose_backbone`, Algorithms 1-3 step 3)
and keeps it fixed when ``config.freeze_pose`` (Algorithm 1 step 6).

Choices where the thesis is silent (each a config field)
--------------------------------------------------------
- ``attention_hidden`` (256): width of the tanh layer of Eq. 4.5/4.10/4.15;
  the thesis gives no size.
- ``shared_hidden`` (False): Eq. 4.10 and 4.15 give each branch r its own
  tanh layer ``W_hr``; Algorithms 2-3 describe one tanh layer followed by two
  branches.  False follows the equations, True the algorithms.
- ``equal_init`` (True; False for VPN, see :class:`VPNConfig`): "initialize
  the attention scores with equal values and the remaining network
  parameters using Gaussian" (Algorithms 1-2 step 4, Algorithm 3 step 3):
  the score layer starts at zero (every sigmoid weight 0.5, every softmax
  uniform); the tanh layer (and, without ``equal_init``, the score layer) is
  Xavier-normal with zero biases.
- Penalties are summed over the attention weights and averaged over the
  batch (the thesis writes them for one sample): :func:`adl.deep.losses.
  attention_regularizer` (``sum (1 - w)^2``) and :func:`adl.deep.losses.
  attention_l2` (``sum w^2``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from ..losses import EMBEDDING_LOSSES, attention_l2, attention_regularizer
from .base import DeepModel, ModelConfig, ModelOutput, ModelSpec, register_model
from .pose import POSE_BACKBONES, PoseConfig, build_pose_encoder, freeze_encoder

__all__ = ["I3DConfig", "I3DBaseline", "PI3DConfig", "PI3D", "SepSTAConfig", "SeparableSTA",
           "VPNConfig", "VPN", "PoseDrivenModel", "ScoreHead", "STA_VARIANTS", "SAConfig",
           "TAConfig", "SATAConfig", "TASAConfig", "JointSTAConfig"]

#: Table 4.4's strategies: "separable" (the proposed Separable STA), "sa"
#: spatial only, "ta" temporal only, "sa-ta" temporal applied after spatial,
#: "ta-sa" spatial applied after temporal, "joint" one m x n x t attention.
STA_VARIANTS = ("separable", "sa", "ta", "sa-ta", "ta-sa", "joint")


# --------------------------------------------------------------------------- helpers

def _check_choice(model: str, field: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{model}: unknown {field} {value!r}; expected one of "
                         f"{', '.join(repr(c) for c in choices)}")


def _check_tensor(model: str, batch: Mapping[str, torch.Tensor], key: str,
                  tail: Tuple[int, ...], layout: str) -> torch.Tensor:
    """``batch[key]`` after checking that it exists and ends with ``tail``."""
    if key not in batch:
        raise KeyError(f"{model}: the batch has no {key!r} (expected {layout}); it has "
                       f"{', '.join(sorted(batch)) or 'no keys'}")
    x = batch[key]
    if x.dim() != len(tail) + 1 or tuple(x.shape[1:]) != tuple(tail):
        raise ValueError(f"{model}: expected batch[{key!r}] of shape {layout} = "
                         f"(B, {', '.join(map(str, tail))}); got {tuple(x.shape)}")
    return x


def _gap(x: torch.Tensor) -> torch.Tensor:
    """Global average pooling of a (B, D, t, h, w) map -> (B, D)."""
    return x.mean(dim=(2, 3, 4))


class ScoreHead(nn.Module):
    """``s = W_s tanh(W_h h + b_h) + b_s`` (Eq. 4.5, 4.10, 4.15's z_r).

    Parameters
    ----------
    in_dim : int
        Size of the pose feature h* (plus any context).
    hidden : int
        Width of the tanh layer.
    out_dim : int
        Number of scores (3 parts, m*n positions, t steps, ...).
    equal_init : bool
        Start the score layer at zero so that every score is equal
        (Algorithms 1-2 step 4, 3 step 3); otherwise it is Xavier-normal,
        as the tanh layer always is (the algorithms' "Gaussian").
    tanh_layer : nn.Linear, optional
        A tanh layer shared with another head (``shared_hidden``).
    """

    def __init__(self, in_dim: int, hidden: int, out_dim: int, equal_init: bool = True,
                 tanh_layer: Optional[nn.Linear] = None):
        super().__init__()
        if tanh_layer is None:
            tanh_layer = nn.Linear(in_dim, hidden)
            nn.init.xavier_normal_(tanh_layer.weight)
            nn.init.zeros_(tanh_layer.bias)
        self.hidden = tanh_layer
        self.score = nn.Linear(tanh_layer.out_features, out_dim)
        if equal_init:
            nn.init.zeros_(self.score.weight)
        else:
            nn.init.xavier_normal_(self.score.weight)
        nn.init.zeros_(self.score.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """(B, in_dim) -> scores (B, out_dim)."""
        return self.score(torch.tanh(self.hidden(h)))


# --------------------------------------------------------------------------- I3D baseline

@dataclass(frozen=True)
class I3DConfig(ModelConfig):
    """The no-attention baseline.

    Attributes
    ----------
    lambda_w : float
        Weight of ``||W||^2`` on the classifier: "a regularization with a
        weighting factor of 0.001 between the penultimate layer and the
        classification layer in I3D" (section 4.6.1).
    stream : {"full_body", "left_hand", "right_hand"}
        Which crop's feature the classifier reads: the full-body crop (the
        baseline, ``gap``) or one hand's P-I3D stream (``parts``), for the
        single-stream rows of Table 4.2 ("left hand", "right hand").
    """

    lambda_w: float = 1e-3
    stream: str = "full_body"


class I3DBaseline(DeepModel):
    """I3D without attention: dropout + linear on the clip's GAP (Table 4.4
    "No Att", Table 4.5 l1).

    Input ``gap`` (B, D); output logits (B, C); penalty ``"weights"`` =
    ``lambda_w * ||W||^2`` of the classifier.
    """

    inputs = ("gap",)
    #: ``stream`` -> index in the ``parts`` streams (adl.deep.clips.PART_STREAMS)
    STREAMS = {"left_hand": 0, "right_hand": 1}

    def __init__(self, config: I3DConfig):
        _check_choice("i3d", "stream", config.stream, ("full_body",) + tuple(self.STREAMS))
        super().__init__(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.feature_dim, config.n_classes)

    def required_inputs(self):
        return ("gap",) if self.config.stream == "full_body" else ("parts",)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> ModelOutput:
        if self.config.stream == "full_body":
            gap = _check_tensor("i3d", batch, "gap", (self.config.feature_dim,), "(B, D)")
        else:
            parts = _check_tensor("i3d", batch, "parts", (3, self.config.feature_dim),
                                  "(B, 3, D)")
            gap = parts[:, self.STREAMS[self.config.stream]]
        logits = self.classifier(self.dropout(gap))
        penalties = {}
        if self.config.lambda_w:
            penalties["weights"] = self.config.lambda_w * self.classifier.weight.pow(2).sum()
        return ModelOutput(logits=logits, penalties=penalties)


# --------------------------------------------------------------------------- pose-driven base

class PoseDrivenModel(DeepModel):
    """Common part of the pose-driven models: the pose backbone, its features
    h*, loading a pre-trained backbone and freezing it.

    h* is, for the LSTM backbone, "the concatenated hidden state vector of all
    the tp time steps from the last LSTM layer" (section 4.3.2, 4.6.1):
    ``forward_steps(poses)`` flattened, size ``tp * lstm_units``; for the GCN
    backbone the encoder's output, size ``out_dim`` (section 4.5.2.1).
    """

    name = "pose-driven"

    def __init__(self, config: PoseConfig):
        super().__init__(config)
        _check_choice(self.name, "pose_backbone", config.pose_backbone, POSE_BACKBONES)
        self.pose_encoder = build_pose_encoder(config)
        if config.pose_backbone == "lstm":
            self.pose_dim = config.tp * config.lstm_units
        else:
            self.pose_dim = int(self.pose_encoder.out_dim)
        if config.freeze_pose:
            self._freeze_pose()

    def _freeze_pose(self) -> None:
        freeze_encoder(self.pose_encoder)

    def train(self, mode: bool = True):
        """As :meth:`torch.nn.Module.train`, but a frozen pose backbone stays in
        eval mode (its dropout off, its batch-norm statistics fixed)."""
        super().train(mode)
        if self.config.freeze_pose:
            self.pose_encoder.eval()
        return self

    def pose_features(self, batch: Mapping[str, torch.Tensor],
                      with_joints: bool = False):
        """h* of the batch's poses.

        Parameters
        ----------
        batch : dict
            With ``poses`` (B, tp, M, J, 3).
        with_joints : bool
            Also return, for the GCN backbone, each joint node's share of the
            last block's activation (mean over channels and steps of
            ``forward_nodes``, divided by its sum over the M*J nodes); None
            for the LSTM.

        Returns
        -------
        h_star : Tensor, shape (B, pose_dim)
        joints : Tensor, shape (B, M*J), or None
            Only when ``with_joints``.
        """
        c = self.config
        poses = _check_tensor(self.name, batch, "poses", (c.tp, c.persons, c.n_joints, 3),
                              "(B, tp, M, J, 3)")
        joints = None
        if c.pose_backbone == "lstm":
            h_star = self.pose_encoder.forward_steps(poses).flatten(1)
        elif with_joints:
            nodes = self.pose_encoder.forward_nodes(poses)     # (B, out_dim, tp, M*J), >= 0
            h_star = nodes.mean(dim=(2, 3))                      # = encoder(poses)
            act = nodes.detach().mean(dim=(1, 2))
            joints = act / act.sum(dim=1, keepdim=True).clamp_min(1e-12)
        else:
            h_star = self.pose_encoder(poses)
        return (h_star, joints) if with_joints else h_star

    def load_pose_backbone(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Load a pre-trained pose backbone (Algorithms 1-2 step 3).

        Parameters
        ----------
        state_dict : mapping
            The encoder's own state dict, or that of a model holding it under
            one prefix (for instance a whole pose-classification model's
            ``state_dict()`` with keys ``"<prefix>.<encoder key>"``): the one
            prefix after which the keys are exactly the encoder's is stripped.

        Raises
        ------
        ValueError
            When no prefix makes the keys those of this model's encoder.
        """
        own = set(self.pose_encoder.state_dict())
        keys = list(state_dict)
        if set(keys) == own:
            chosen = dict(state_dict)
        else:
            chosen = None
            prefixes = sorted({k[:i + 1] for k in keys for i, ch in enumerate(k) if ch == "."})
            for prefix in prefixes:
                sub = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
                if set(sub) == own:
                    chosen = sub
                    break
            if chosen is None:
                missing = sorted(own - set(keys))[:5]
                raise ValueError(
                    f"{self.name}: the state dict does not hold a {self.config.pose_backbone} "
                    f"pose backbone of this config: expected keys such as "
                    f"{', '.join(sorted(own)[:5])} (alone or under one prefix); got "
                    f"{', '.join(keys[:5]) or 'no keys'}"
                    + (f" (missing e.g. {', '.join(missing)})" if missing else ""))
        self.pose_encoder.load_state_dict(chosen)
        if self.config.freeze_pose:
            self._freeze_pose()


# --------------------------------------------------------------------------- P-I3D

@dataclass(frozen=True)
class PI3DConfig(PoseConfig):
    """P-I3D (section 4.3; Table 4.1; section 4.6.1).

    Attributes
    ----------
    pose_backbone : str
        "lstm" (the thesis's 3-layer LSTM); "gcn" is accepted.
    fusion : {"sum", "concat"}
        Aggregation of the weighted part features: Eq. 4.7's weighted sum
        (sum_0 of Table 4.2, the thesis's choice) or their concatenation
        (concat_0).
    lambda1 : float
        Weight of ``sum_k (1 - alpha_k)^2`` (Eq. 4.8).  The thesis uses 1e-5
        for NTU-60, NTU-120 and Smarthome and 1e-4 for N-UCLA (section
        4.6.1); the default is 1e-5, set 1e-4 for N-UCLA.
    lambda2 : float
        Weight of ``||W_uv||^2`` (Eq. 4.8), 1e-3.
    weight_penalty : {"classifier", "attention"}
        Which W_uv: the thesis applies it "in the last layer of the
        framework" (the classifier, default); "attention" puts it on the
        attention's score layer W_s instead.
    attention_hidden : int
    equal_init : bool
    attention : bool
        False: no pose-driven attention, the streams weighted equally (1/3):
        Table 4.2's "sum_0" / "concat_0" rows; the poses are then not read.
    """

    pose_backbone: str = "lstm"
    fusion: str = "sum"
    lambda1: float = 1e-5
    lambda2: float = 1e-3
    weight_penalty: str = "classifier"
    attention_hidden: int = 256
    equal_init: bool = True
    attention: bool = True


class PI3D(PoseDrivenModel):
    """Pose-driven attention over body-part streams (section 4.3).

    ``s = W_s tanh(W_h h* + b_s) + b_us`` (Eq. 4.5), ``alpha = softmax(s)``
    over the K = 3 parts (Eq. 4.6), ``F = sum_k alpha_k g_k`` (Eq. 4.7; g_k
    the part's GAP, so ``inflate`` is the identity) or the concatenation of the
    ``alpha_k g_k``; dropout and a linear classifier.

    Inputs ``parts`` (B, 3, D) [left hand, right hand, full body] and
    ``poses`` (B, tp, M, J, 3).  Output ``attention["parts"]`` (B, 3);
    penalties ``"parts"`` = ``lambda1 * sum_k (1 - alpha_k)^2`` and
    ``"weights"`` = ``lambda2 * ||W||^2`` (Eq. 4.8).
    """

    name = "p-i3d"
    inputs = ("parts", "poses")
    n_parts = 3

    def required_inputs(self):
        return self.inputs if self.config.attention else ("parts",)

    def __init__(self, config: PI3DConfig):
        _check_choice(self.name, "fusion", config.fusion, ("sum", "concat"))
        _check_choice(self.name, "weight_penalty", config.weight_penalty,
                      ("classifier", "attention"))
        super().__init__(config)
        self.attention = ScoreHead(self.pose_dim, config.attention_hidden, self.n_parts,
                                   config.equal_init)
        width = config.feature_dim * (self.n_parts if config.fusion == "concat" else 1)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(width, config.n_classes)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> ModelOutput:
        c = self.config
        parts = _check_tensor(self.name, batch, "parts", (self.n_parts, c.feature_dim),
                              "(B, 3, D)")
        if c.attention:
            alpha = torch.softmax(self.attention(self.pose_features(batch)), dim=1)
        else:
            alpha = parts.new_full((parts.shape[0], self.n_parts), 1.0 / self.n_parts)
        weighted = alpha.unsqueeze(2) * parts
        fused = weighted.sum(1) if c.fusion == "sum" else weighted.flatten(1)
        logits = self.classifier(self.dropout(fused))
        w = self.classifier.weight if c.weight_penalty == "classifier" else \
            self.attention.score.weight
        penalties = {"weights": c.lambda2 * w.pow(2).sum()}
        if c.attention:
            penalties["parts"] = attention_regularizer(alpha, c.lambda1)
        return ModelOutput(logits=logits, attention={"parts": alpha}, penalties=penalties)


# --------------------------------------------------------------------------- Separable STA

@dataclass(frozen=True)
class SepSTAConfig(PoseConfig):
    """Separable STA and the other strategies of Table 4.4 (section 4.4).

    Attributes
    ----------
    pose_backbone : str
        "lstm" (the thesis); "gcn" is accepted.
    variant : str
        One of :data:`STA_VARIANTS`; "separable" is the thesis's model.
    map_size : tuple of int
        (t, h, w) of the feature map g: (8, 7, 7) for the Mixed_5c of a
        64-frame 224x224 clip (Table 4.1).
    lambda1, lambda2 : float
        Weights of the spatial ``sum ||alpha_j||^2`` and temporal
        ``sum (1 - beta_j)^2`` terms of Eq. 4.13, 1e-5 each (section 4.6.1).
    sequence_context : bool
        For "sa-ta" and "ta-sa" only.  If both attentions came from the poses
        alone, the two orders would multiply g by the same weights; what makes
        the order matter in Table 4.4 is that the second attention is
        computed after the first has modified the map.  True: the second
        attention's tanh layer takes ``[h*, GAP(first modulated map)]`` (in
        [113] the attention scores also read the attended features).  False:
        both from h* only (the orders then differ only through a staged
        training, as in [113]).
    joint_activation : {"sigmoid", "softmax"}
        Normalisation of the "joint" variant's m*n*t scores, which the thesis
        does not give.  Sigmoid (default) for the reason of section 4.4.2: a
        softmax over many elements yields extremely low weights; regularised
        like the spatial weights (lambda1 * sum a^2).  Softmax is regularised
        like the temporal weights (lambda2 * sum (1 - a)^2).
    shared_hidden : bool
        One tanh layer for both branches (Algorithm 2) instead of one per
        branch (Eq. 4.10); not for "sa-ta" / "ta-sa" with
        ``sequence_context``, whose second branch reads a wider input.
    attention_hidden : int
        Width of the tanh layer (256; the thesis gives none).
    equal_init : bool
        Start with equal scores (Algorithm 2 step 4).
    """

    pose_backbone: str = "lstm"
    variant: str = "separable"
    map_size: Tuple[int, int, int] = (8, 7, 7)
    lambda1: float = 1e-5
    lambda2: float = 1e-5
    sequence_context: bool = True
    joint_activation: str = "sigmoid"
    shared_hidden: bool = False
    attention_hidden: int = 256
    equal_init: bool = True


@dataclass(frozen=True)
class SAConfig(SepSTAConfig):
    """``sa``: spatial attention only (Table 4.4 SA)."""

    variant: str = "sa"


@dataclass(frozen=True)
class TAConfig(SepSTAConfig):
    """``ta``: temporal attention only (Table 4.4 TA)."""

    variant: str = "ta"


@dataclass(frozen=True)
class SATAConfig(SepSTAConfig):
    """``sa-ta``: temporal attention applied after spatial (Table 4.4 SA+TA)."""

    variant: str = "sa-ta"


@dataclass(frozen=True)
class TASAConfig(SepSTAConfig):
    """``ta-sa``: spatial attention applied after temporal (Table 4.4 TA+SA)."""

    variant: str = "ta-sa"


@dataclass(frozen=True)
class JointSTAConfig(SepSTAConfig):
    """``joint-sta``: one m x n x t attention from the poses (Table 4.4 Joint STA)."""

    variant: str = "joint"


class SeparableSTA(PoseDrivenModel):
    """Separable spatio-temporal attention (section 4.4) and Table 4.4's
    other strategies (``config.variant``).

    From h*, ``s_r = W_sr tanh(W_hr h* + b_hr) + b_sr`` (Eq. 4.10); spatial
    weights ``alpha = sigmoid(s_1)`` over the m*n positions and temporal
    weights ``beta = softmax(s_2)`` over the t steps (Eq. 4.11);
    ``g_s = inflate(alpha) o g``, ``g_t = inflate(beta) o g`` (Eq. 4.12);
    GAP of each, concatenated, dropout, linear classifier (the thesis's
    1x1x1 convolution).  Variants: "sa" / "ta" classify GAP(g_s) / GAP(g_t);
    "sa-ta" / "ta-sa" apply the second attention to the first's output
    (see ``sequence_context``); "joint" one m*n*t attention.

    Inputs ``maps`` (B, D, t, h, w), ``poses`` (B, tp, M, J, 3).  Outputs
    ``attention["spatial"]`` (B, h*w), ``attention["temporal"]`` (B, t)
    (``attention["spatiotemporal"]`` (B, t, h*w) for "joint"); penalties
    ``"spatial"`` and/or ``"temporal"`` of Eq. 4.13, already weighted.
    """

    name = "sep-sta"
    inputs = ("maps", "poses")

    def __init__(self, config: SepSTAConfig):
        _check_choice(self.name, "variant", config.variant, STA_VARIANTS)
        _check_choice(self.name, "joint_activation", config.joint_activation,
                      ("sigmoid", "softmax"))
        if len(config.map_size) != 3:
            raise ValueError(f"{self.name}: expected map_size (t, h, w); got {config.map_size!r}")
        super().__init__(config)
        t, h, w = config.map_size
        hid, eq, v, D = config.attention_hidden, config.equal_init, config.variant, \
            config.feature_dim
        first_s = v in ("separable", "sa", "sa-ta")
        first_t = v in ("separable", "ta", "ta-sa")
        ctx = D if (v in ("sa-ta", "ta-sa") and config.sequence_context) else 0
        shared = None
        if config.shared_hidden and ctx == 0:
            shared = nn.Linear(self.pose_dim, hid)
            nn.init.xavier_normal_(shared.weight)
            nn.init.zeros_(shared.bias)
        if v == "joint":
            self.joint_head = ScoreHead(self.pose_dim, hid, t * h * w, eq)
        if v != "joint" and v != "ta":
            self.spatial_head = ScoreHead(self.pose_dim + (0 if first_s else ctx), hid, h * w,
                                          eq, shared)
        if v != "joint" and v != "sa":
            self.temporal_head = ScoreHead(self.pose_dim + (0 if first_t else ctx), hid, t,
                                           eq, shared)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(D * (2 if v == "separable" else 1), config.n_classes)

    def _spatial(self, h_star: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.spatial_head(h_star))

    def _temporal(self, h_star: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.temporal_head(h_star), dim=1)

    def _context(self, h_star: torch.Tensor, modulated: torch.Tensor) -> torch.Tensor:
        if self.config.sequence_context:
            return torch.cat([h_star, _gap(modulated)], dim=1)
        return h_star

    def forward(self, batch: Mapping[str, torch.Tensor]) -> ModelOutput:
        c = self.config
        t, h, w = c.map_size
        g = _check_tensor(self.name, batch, "maps", (c.feature_dim, t, h, w), "(B, D, t, h, w)")
        B = g.shape[0]
        h_star = self.pose_features(batch)
        v = c.variant
        att: Dict[str, torch.Tensor] = {}
        pen: Dict[str, torch.Tensor] = {}

        def spatial_map(alpha):
            return alpha.view(B, 1, 1, h, w)

        def temporal_map(beta):
            return beta.view(B, 1, t, 1, 1)

        if v == "joint":
            s = self.joint_head(h_star)
            if c.joint_activation == "sigmoid":
                a = torch.sigmoid(s)
                pen["spatiotemporal"] = attention_l2(a, c.lambda1)
            else:
                a = torch.softmax(s, dim=1)
                pen["spatiotemporal"] = attention_regularizer(a, c.lambda2)
            att["spatiotemporal"] = a.view(B, t, h * w)
            feat = _gap(a.view(B, 1, t, h, w) * g)
        elif v == "separable":
            alpha, beta = self._spatial(h_star), self._temporal(h_star)
            feat = torch.cat([_gap(spatial_map(alpha) * g), _gap(temporal_map(beta) * g)], 1)
        elif v == "sa":
            alpha, beta = self._spatial(h_star), None
            feat = _gap(spatial_map(alpha) * g)
        elif v == "ta":
            alpha, beta = None, self._temporal(h_star)
            feat = _gap(temporal_map(beta) * g)
        elif v == "sa-ta":
            alpha = self._spatial(h_star)
            g1 = spatial_map(alpha) * g
            beta = self._temporal(self._context(h_star, g1))
            feat = _gap(temporal_map(beta) * g1)
        else:  # "ta-sa"
            beta = self._temporal(h_star)
            g1 = temporal_map(beta) * g
            alpha = self._spatial(self._context(h_star, g1))
            feat = _gap(spatial_map(alpha) * g1)
        if v != "joint":
            if alpha is not None:
                att["spatial"] = alpha
                pen["spatial"] = attention_l2(alpha, c.lambda1)
            if beta is not None:
                att["temporal"] = beta
                pen["temporal"] = attention_regularizer(beta, c.lambda2)
        logits = self.classifier(self.dropout(feat))
        return ModelOutput(logits=logits, attention=att, penalties=pen)


# --------------------------------------------------------------------------- VPN

@dataclass(frozen=True)
class VPNConfig(PoseConfig):
    """Video-Pose Network (section 4.5; Table 4.1; section 4.6.1).

    Attributes
    ----------
    pose_backbone : {"gcn", "lstm"}
        GCN (the thesis's VPN, Table 4.6 l5/l7) or the 3-layer LSTM (l4/l6).
    coupler : bool
        True: ``A_ST = inflate(A_S) o inflate(A_T)`` (Eq. 4.16) modulates g
        (Table 4.6 l6/l7).  False: dissociated weights, "equivalent to the
        separable STA framework" (section 4.5.2.1; l4/l5): GAP of
        ``A_S o g`` and of ``A_T o g``, concatenated.
    residual : bool
        With the coupler, ``g' = g + A_ST o g``: "linearly multiplied with
        the input video feature map g, followed by a residual connection with
        the original feature map g" (section 4.5.2.1).  False: ``A_ST o g``.
    embedding : {"l2", "kl", "kl_rev", "bikl", "none"}
        The spatial embedding loss L_e (Eq. 4.18-4.19, Table 4.7): normalised
        Euclidean (default), D_KL(g_e||P_e), D_KL(P_e||g_e), both; "none"
        drops the embedding (Table 4.5 l2) and the loss is
        ``CE + lambda2 * L_a``.
    embed_dim : int
        D_e, the common embedding size (the thesis gives none): 128.
    embed_visual : {"flatten", "pool"}
        The visual side of Eq. 4.17: ``g_s = sum_t g(t)`` is "a
        D_v-dimensional vector"; "flatten" keeps its m x n positions
        (D_v = D*h*w, the spatial layout the embedding aligns with the
        joints), "pool" also averages over space (D_v = D).  The time
        average is used instead of the sum (the same up to the factor t,
        which the l2 loss's normalisation removes).
    map_size : tuple of int
        (t, h, w) of g, (8, 7, 7) (Table 4.1).
    lambda1 : float
        Eq. 4.20's trade-off: ``lambda1 * CE + (1 - lambda1) * L_e``, 0.8.
    lambda2 : float
        Weight of the attention regulariser L_a (Eq. 4.21), 1e-5.
    shared_hidden, attention_hidden
        As in :class:`SepSTAConfig`.
    equal_init : bool
        False by default, unlike the other models.  Algorithm 3 step 3
        starts the attention scores equal; with the spatial embedding that
        makes ``z_1`` the same zero vector for every sample, hence
        ``P_e = T_p z_1 = 0``, where the normalisation of Eq. 4.19 has a
        gradient of order ``1/sqrt(eps)``: on the tests' toy batch the
        spatial score layer's first gradient norm is about 1100 (0.2 from
        a Gaussian start) and one SGD step at lr 0.01 saturates the
        sigmoid.  True gives the algorithm's start (harmless with
        ``embedding="none"``, and bounded by Adam's step size).
    temporal_attention : bool
        False: spatial attention only, ``A_T`` uniform (1/t) and its
        regulariser term dropped (Table 4.8's rows without "+ temporal").
    """

    pose_backbone: str = "gcn"
    coupler: bool = True
    residual: bool = True
    embedding: str = "l2"
    embed_dim: int = 128
    embed_visual: str = "flatten"
    map_size: Tuple[int, int, int] = (8, 7, 7)
    lambda1: float = 0.8
    lambda2: float = 1e-5
    shared_hidden: bool = False
    attention_hidden: int = 256
    equal_init: bool = False
    temporal_attention: bool = True


class VPN(PoseDrivenModel):
    """Video-Pose Network (section 4.5, Eq. 4.15-4.21).

    Attention network: from h*, ``z_r = W_zr tanh(W_hr h* + b_hr) + b_zr``;
    ``A_S = sigmoid(z_1)`` (B, h*w), ``A_T = softmax(z_2)`` (B, t)
    (Eq. 4.15); coupler ``A_ST = inflate(A_S) o inflate(A_T)`` (Eq. 4.16),
    ``g' = g + A_ST o g``; GAP, dropout, linear classifier.

    Spatial embedding: ``g_e = T_v g_s``, ``P_e = T_p z_1`` (Eq. 4.17) with
    ``||T_v|| = ||T_p|| = 1`` (Eq. 4.18; Frobenius norm, the weights divided
    by it in the forward pass); ``ModelOutput.embedding = (g_e, P_e)``,
    each (B, embed_dim); L_e is
    ``adl.deep.losses.EMBEDDING_LOSSES[config.embedding](g_e, P_e)``.

    Loss (Eq. 4.20): ``lambda1 * CE + (1 - lambda1) * L_e + lambda2 * L_a``
    with ``L_a = sum_j A_S(j)^2 + sum_j (1 - A_T(j))^2`` (Eq. 4.21).

    Outputs ``attention["spatial"]`` (B, h*w), ``["temporal"]`` (B, t) and,
    with the coupler, ``["spatiotemporal"]`` (B, t, h*w); with the GCN,
    ``["joints"]`` (B, M*J), each joint node's share of the GCN's last
    activations (for the figures: the model does not weight anything with
    it, and no gradient flows through it); penalty
    ``"attention"`` = ``lambda2 * L_a``.
    """

    name = "vpn"
    inputs = ("maps", "poses")

    def __init__(self, config: VPNConfig):
        _check_choice(self.name, "embedding", config.embedding,
                      tuple(EMBEDDING_LOSSES) + ("none",))
        _check_choice(self.name, "embed_visual", config.embed_visual, ("flatten", "pool"))
        if len(config.map_size) != 3:
            raise ValueError(f"{self.name}: expected map_size (t, h, w); got {config.map_size!r}")
        if not 0.0 <= config.lambda1 <= 1.0:
            raise ValueError(f"{self.name}: expected lambda1 in [0, 1] (Eq. 4.20's trade-off); "
                             f"got {config.lambda1}")
        super().__init__(config)
        t, h, w = config.map_size
        hid, eq = config.attention_hidden, config.equal_init
        shared = None
        if config.shared_hidden:
            shared = nn.Linear(self.pose_dim, hid)
            nn.init.xavier_normal_(shared.weight)
            nn.init.zeros_(shared.bias)
        self.spatial_head = ScoreHead(self.pose_dim, hid, h * w, eq, shared)
        self.temporal_head = ScoreHead(self.pose_dim, hid, t, eq, shared) \
            if config.temporal_attention else None
        D = config.feature_dim
        if config.embedding != "none":
            dv = D * h * w if config.embed_visual == "flatten" else D
            self.visual_embed = nn.Linear(dv, config.embed_dim, bias=False)
            self.pose_embed = nn.Linear(h * w, config.embed_dim, bias=False)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(D * (1 if config.coupler else 2), config.n_classes)

    @staticmethod
    def _unit_linear(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
        # ||T||_2 = 1 of Eq. 4.18 (Frobenius), kept by construction.
        return F.linear(x, layer.weight / layer.weight.norm().clamp_min(1e-12))

    def forward(self, batch: Mapping[str, torch.Tensor]) -> ModelOutput:
        c = self.config
        t, h, w = c.map_size
        g = _check_tensor(self.name, batch, "maps", (c.feature_dim, t, h, w), "(B, D, t, h, w)")
        B = g.shape[0]
        h_star, joints = self.pose_features(batch, with_joints=True)
        z1 = self.spatial_head(h_star)
        a_s = torch.sigmoid(z1)
        if c.temporal_attention:
            a_t = torch.softmax(self.temporal_head(h_star), dim=1)
        else:
            a_t = g.new_full((B, t), 1.0 / t)
        att = {"spatial": a_s, "temporal": a_t}
        if joints is not None:
            att["joints"] = joints
        if c.coupler:
            a_st = a_t.unsqueeze(2) * a_s.unsqueeze(1)  # (B, t, h*w), Eq. 4.16
            att["spatiotemporal"] = a_st
            modulated = a_st.view(B, 1, t, h, w) * g
            feat = _gap(g + modulated if c.residual else modulated)
        else:
            feat = torch.cat([_gap(a_s.view(B, 1, 1, h, w) * g),
                              _gap(a_t.view(B, 1, t, 1, 1) * g)], dim=1)
        logits = self.classifier(self.dropout(feat))
        embedding = None
        if c.embedding != "none":
            g_s = g.mean(dim=2)  # (B, D, h, w): the map over time (Eq. 4.17's g_s)
            if c.embed_visual == "pool":
                g_s = g_s.mean(dim=(2, 3))
            embedding = (self._unit_linear(self.visual_embed, g_s.flatten(1)),
                         self._unit_linear(self.pose_embed, z1))
        la = attention_l2(a_s, c.lambda2)
        if c.temporal_attention:
            la = la + attention_regularizer(a_t, c.lambda2)
        pen = {"attention": la}
        return ModelOutput(logits=logits, attention=att, penalties=pen, embedding=embedding)

    def loss(self, output: ModelOutput, target: torch.Tensor):
        """Eq. 4.20: ``lambda1 * CE + (1 - lambda1) * L_e + lambda2 * L_a``
        (``CE + lambda2 * L_a`` with ``embedding="none"``).

        Returns
        -------
        total : Tensor (scalar)
        parts : dict
            ``{"ce", "embedding" (unless "none"), "attention"}``: the
            unweighted CE and L_e, and ``lambda2 * L_a``.
        """
        c = self.config
        ce = F.cross_entropy(output.logits, target)
        parts = {"ce": float(ce.detach())}
        if c.embedding == "none":
            total = ce
        else:
            if output.embedding is None:
                raise ValueError(f"{self.name}: embedding={c.embedding!r} needs "
                                 "ModelOutput.embedding = (visual, pose); got None")
            le = EMBEDDING_LOSSES[c.embedding](*output.embedding)
            parts["embedding"] = float(le.detach())
            total = c.lambda1 * ce + (1.0 - c.lambda1) * le
        for name, value in output.penalties.items():
            total = total + value
            parts[name] = float(value.detach())
        return total, parts


# --------------------------------------------------------------------------- registry

def _sta_builder(name: str, variant: str):
    def build(config: SepSTAConfig) -> SeparableSTA:
        if config.variant != variant:
            raise ValueError(f"model {name!r} is the {variant!r} variant of Separable STA; got "
                             f"variant={config.variant!r} (use --model sep-sta to choose a "
                             f"variant)")
        return SeparableSTA(config)
    return build


register_model(ModelSpec("i3d", I3DConfig, I3DBaseline,
                         "I3D without attention: dropout + linear on the GAP (Table 4.4 No Att)"))
register_model(ModelSpec("p-i3d", PI3DConfig, PI3D,
                         "P-I3D: pose-driven attention over 3 body-part streams (4.3, Eq. 4.5-4.8)"))
register_model(ModelSpec("sep-sta", SepSTAConfig, SeparableSTA,
                         "Separable STA: pose-driven spatial and temporal attention "
                         "(4.4, Eq. 4.10-4.13); variant= for Table 4.4's strategies"))
for _name, _cls, _variant, _what in (
        ("sa", SAConfig, "sa", "spatial attention only"),
        ("ta", TAConfig, "ta", "temporal attention only"),
        ("sa-ta", SATAConfig, "sa-ta", "temporal attention after spatial"),
        ("ta-sa", TASAConfig, "ta-sa", "spatial attention after temporal"),
        ("joint-sta", JointSTAConfig, "joint", "one m x n x t pose-driven attention")):
    register_model(ModelSpec(_name, _cls, _sta_builder(_name, _variant),
                             f"Table 4.4 {_what} (Separable STA variant, 4.4, 4.6.3)"))
register_model(ModelSpec("vpn", VPNConfig, VPN,
                         "VPN: GCN pose attention with spatio-temporal coupler and RGB-pose "
                         "embedding (4.5, Eq. 4.15-4.21)"))
