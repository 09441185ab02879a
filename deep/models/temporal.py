"""The Temporal Model (thesis ch. 5, section 5.2; WACV 2020): pose-driven
two-level attention over temporal segments (TS-att) and temporal
granularities (TG-att) on top of per-segment backbone features.

Stages (Fig. 5.3)
-----------------
A. The video is cut, at each granularity G of a chosen set (e.g. {2, 3, 4} or
   {2, 5, 7}; G = 1 is the Basic Model, never an input here), into G
   non-overlapping segments of equal length (5.2.1).  That split is done by
   the extraction and data layers; this model reads, per G, one backbone
   feature per segment (``segments_G{g}``, (B, G, D), the GAP of I3D as in
   5.4.1) and s poses per segment (``segment_poses_G{g}``, (B, G, s, M, J, 3);
   s = 5 for NTU, 4 for N-UCLA, 5.4.1).
B. Per G (5.2.2, Fig. 5.5/5.6): a GRU R^S_G (512 units) over the G segment
   features gives U_{G,j} (Eq. 5.1).  TS-att: one pose GRU R^p_{G,j}
   (150 units) per segment over its s poses, then a GRU R^p_G (150 units)
   over their last outputs; its output at step j, scored, gives alpha_{G,j}
   after a softmax over j (Eq. 5.2, Algorithm 4 step 5);
   v_G = sum_j alpha_{G,j} U_{G,j} (Eq. 5.3).
C. TG-att (5.2.3, Fig. 5.7): the last outputs Y_G of the R^p_G are
   concatenated, passed through one fully connected layer and a softmax over
   the granularities, giving beta_G (Eq. 5.6 with Algorithm 4 step 6);
   prediction = softmax(classifier(sum_G beta_G v_G)) (Eq. 5.7).

Choices where the thesis is silent or ambiguous (all config fields)
------------------------------------------------------------------
* Scoring R^p_G's outputs: Eq. 5.2 exponentiates "R^p_G(...)" at step j as
  if it were a scalar, while Y_G, the same network's last output, is a
  150-dimensional feature (5.2.3).  A linear layer (150 -> 1) shared over
  the steps scores each step's output; that layer and TG-att's layer start
  at zero ("Initialize the attention scores with equal values",
  Algorithm 4 step 6), ``equal_attention_init``.
* Where the classifier sits (``classifier``): Eq. 5.7 sums the v_G (512-d
  features, Table 5.1 calls them "features") and applies a softmax "for C
  classes", so a class projection must sit somewhere.  "shared" (default):
  one linear layer 512 -> C after the weighted sum; "per_granularity": one
  linear layer per G applied to v_G, the weighted sum then adds the scores.
* Initialisation: "the remaining network parameters using Gaussian"
  (Algorithm 4 step 6) without a standard deviation: weights
  N(0, ``init_std``), biases zero; ``init_std = 0`` keeps PyTorch's defaults.
* Dropout (``dropout``, 0.3 from 4.6.1; ch. 5 does not mention one) sits
  before the classifier.
* Without TG-att the granularities are summed with weight 1 each ("simple
  summation of the features from each granularity", Table 5.1), and the
  reported ``"granularity"`` attention is then all ones.
* Without TS-att the segments are averaged (alpha = 1/G each).
* The pose branch always exists (the counts of Eq. 5.4 hold for every
  configuration); a branch neither attention uses gets no gradient.

Eq. 5.4 and Eq. 5.5
-------------------
Per G, the attention needs G + 1 recurrent networks: one R^p_{G,j} per
segment (not shared: each has its own theta^p_{G,j}) and R^p_G, so
eta = sum_G (G + 1) (:meth:`TemporalModel.n_recurrent`); for {2, 3, 4} the
first line of Eq. 5.4 reads 3 + 4 + 5 = 12.  The closed form the thesis
derives from it, Gmax(Gmax + 1)/2 - 2, gives 8 for Gmax = 4 and is an
arithmetic slip (the sum is (Gmax + 1)(Gmax + 2)/2 - 3); this module
follows the first line, generalised to any set of granularities.

Eq. 5.5, 4(nm + n^2 + n) parameters for a recurrent network "with
n-dimensional input and m-dimensional output", is the count of an LSTM layer
with one bias vector when n is its *hidden* size and m its input size
(gates x (input weights + recurrent weights + bias)); read with n the input
size the recurrent matrix would be n x n, which no LSTM has.
:func:`eq55_parameter_count` writes Eq. 5.5 out, and
:func:`recurrent_parameter_count` gives the count of the PyTorch layers used
here (GRU: 3 gates, two bias vectors).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from .base import DeepModel, ModelConfig, ModelOutput, ModelSpec, register_model

__all__ = ["TemporalConfig", "TemporalModel", "eq54_count", "eq55_parameter_count",
           "recurrent_parameter_count"]

CLASSIFIERS = ("shared", "per_granularity")


@dataclass(frozen=True)
class TemporalConfig(ModelConfig):
    """Hyper-parameters of the Temporal Model (thesis 5.2, 5.4.1).

    Attributes
    ----------
    granularities : tuple of int
        The set of granularities G (each >= 2, distinct), in the order the
        ``"granularity"`` attention columns follow; (2, 3, 4) in Table 5.1,
        a non-sequential set such as (2, 5, 7) is allowed (5.2.2.2).
    segment_units : int
        Hidden size of the segment GRUs R^S_G (512, 5.4.1).
    pose_units : int
        Hidden size of the pose GRUs R^p_{G,j} and R^p_G (150, 5.4.1).
    segment_steps : int
        s, poses per segment (5 for NTU, 4 for N-UCLA, 5.4.1).
    ts_attention : bool
        Temporal segment attention (Eq. 5.2); False: alpha = 1/G.
    tg_attention : bool
        Temporal granularity attention (Eq. 5.6); False: plain sum.
    classifier : {"shared", "per_granularity"}
        Where the class projection of Eq. 5.7 sits (module docstring).
    equal_attention_init : bool
        Start the attention scoring layers at zero so that every alpha and
        beta starts equal (Algorithm 4 step 6).
    init_std : float
        Standard deviation of the Gaussian initialisation of the other
        weights (biases zero); 0 keeps PyTorch's default initialisation.
    """

    granularities: tuple = (2, 3, 4)
    segment_units: int = 512
    pose_units: int = 150
    segment_steps: int = 5
    ts_attention: bool = True
    tg_attention: bool = True
    classifier: str = "shared"
    equal_attention_init: bool = True
    init_std: float = 0.05


def eq54_count(granularities) -> int:
    """Number of pose-driven recurrent networks of Eq. 5.4, first line:
    G + 1 per granularity (G segment GRUs R^p_{G,j} and one R^p_G).

    Parameters
    ----------
    granularities : iterable of int

    Returns
    -------
    int
        ``sum(G + 1 for G in granularities)`` (12 for {2, 3, 4}).
    """
    return int(sum(int(g) + 1 for g in granularities))


def eq55_parameter_count(n: int, m: int) -> int:
    """Eq. 5.5 as printed: ``4 (n m + n^2 + n)``.

    This equals an LSTM layer with one bias vector, hidden size ``n`` and
    input size ``m`` (see the module docstring on the roles of n and m).
    """
    return 4 * (n * m + n * n + n)


def recurrent_parameter_count(n_in: int, n_hidden: int, cell: str = "gru") -> int:
    """Parameters of one PyTorch recurrent layer (two bias vectors).

    Parameters
    ----------
    n_in, n_hidden : int
        Input and hidden sizes.
    cell : {"gru", "lstm"}

    Returns
    -------
    int
        ``gates * (n_in n_hidden + n_hidden^2 + 2 n_hidden)`` with 3 gates
        for a GRU and 4 for an LSTM.
    """
    gates = {"gru": 3, "lstm": 4}.get(cell)
    if gates is None:
        raise ValueError(f"expected cell 'gru' or 'lstm', got {cell!r}")
    return gates * (n_in * n_hidden + n_hidden * n_hidden + 2 * n_hidden)


def _check_config(c: TemporalConfig) -> Tuple[int, ...]:
    gs = c.granularities
    ok = (isinstance(gs, (tuple, list)) and len(gs) > 0
          and all(isinstance(g, int) and not isinstance(g, bool) and g >= 2 for g in gs)
          and len(set(gs)) == len(gs))
    if not ok:
        raise ValueError("TemporalConfig.granularities: expected a non-empty tuple of distinct "
                         f"integers >= 2 (G = 1 is the Basic Model, thesis 5.2.1), got {gs!r}")
    for name in ("segment_units", "pose_units", "segment_steps", "n_classes", "feature_dim",
                 "n_joints", "persons"):
        value = getattr(c, name)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"TemporalConfig.{name}: expected a positive integer, got {value!r}")
    if c.classifier not in CLASSIFIERS:
        raise ValueError(f"TemporalConfig.classifier: expected one of {', '.join(CLASSIFIERS)}, "
                         f"got {c.classifier!r}")
    if not c.init_std >= 0:
        raise ValueError(f"TemporalConfig.init_std: expected a number >= 0, got {c.init_std!r}")
    return tuple(int(g) for g in gs)


class TemporalModel(DeepModel):
    """The Temporal Model (thesis 5.2, Eq. 5.1-5.7); see the module docstring.

    Parameters
    ----------
    config : TemporalConfig

    Inputs (batch keys, for each G in ``config.granularities``)
    ----------------------------------------------------------
    segments_G{G} : (B, G, D)
    segment_poses_G{G} : (B, G, s, M, J, 3)

    Output attention
    ----------------
    ``"segments_G{G}"`` (B, G) alpha of Eq. 5.2; ``"granularity"`` (B, n_G)
    beta of Eq. 5.6 in ``config.granularities`` order.
    """

    inputs = ("segments", "segment_poses")

    def __init__(self, config: TemporalConfig):
        super().__init__(config)
        self.granularities = _check_config(config)
        c = config
        pose_dim = c.persons * c.n_joints * 3
        self.segment_rnn = nn.ModuleDict()    # R^S_G, Eq. 5.1
        self.pose_rnns = nn.ModuleDict()      # R^p_{G,j}, one per segment, Eq. 5.2
        self.combine_rnn = nn.ModuleDict()    # R^p_G, Eq. 5.2
        self.segment_score = nn.ModuleDict()  # step output of R^p_G -> score
        for g in self.granularities:
            k = str(g)
            self.segment_rnn[k] = nn.GRU(c.feature_dim, c.segment_units, batch_first=True)
            self.pose_rnns[k] = nn.ModuleList(
                nn.GRU(pose_dim, c.pose_units, batch_first=True) for _ in range(g))
            self.combine_rnn[k] = nn.GRU(c.pose_units, c.pose_units, batch_first=True)
            self.segment_score[k] = nn.Linear(c.pose_units, 1)
        n_g = len(self.granularities)
        self.granularity_fc = nn.Linear(n_g * c.pose_units, n_g)  # Eq. 5.6, Algorithm 4 step 6
        self.dropout = nn.Dropout(c.dropout)
        if c.classifier == "shared":
            self.classifier = nn.Linear(c.segment_units, c.n_classes)
        else:
            self.classifier = nn.ModuleList(nn.Linear(c.segment_units, c.n_classes)
                                            for _ in self.granularities)
        self._init_parameters()

    def _init_parameters(self) -> None:
        std = self.config.init_std
        if std > 0:
            for name, p in self.named_parameters():
                if "bias" in name:
                    nn.init.zeros_(p)
                else:
                    nn.init.normal_(p, 0.0, std)
        if self.config.equal_attention_init:
            for layer in list(self.segment_score.values()) + [self.granularity_fc]:
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)

    def required_inputs(self) -> Tuple[str, ...]:
        return (tuple(f"segments_G{g}" for g in self.granularities)
                + tuple(f"segment_poses_G{g}" for g in self.granularities))

    def n_recurrent(self, include_segment_rnns: bool = False) -> int:
        """Recurrent networks of the model.

        Parameters
        ----------
        include_segment_rnns : bool
            False: the pose-driven ones Eq. 5.4 counts (G + 1 per G);
            True: also the segment GRUs R^S_G (one per G).

        Returns
        -------
        int
            Counted from the modules built (equal to :func:`eq54_count`).
        """
        n = sum(len(self.pose_rnns[str(g)]) + 1 for g in self.granularities)
        if include_segment_rnns:
            n += len(self.segment_rnn)
        return n

    def _take(self, batch: Dict[str, torch.Tensor], key: str, shape: tuple) -> torch.Tensor:
        if key not in batch:
            raise ValueError(f"temporal model: batch has no {key!r} (granularities "
                             f"{self.granularities} need {', '.join(self.required_inputs())}); "
                             f"found keys {', '.join(sorted(batch)) or 'none'}")
        x = batch[key]
        want = tuple(shape)
        got = tuple(x.shape)
        if len(got) != len(want) or any(w is not None and w != s for w, s in zip(want, got)):
            shown = "(" + ", ".join("B" if w is None else str(w) for w in want) + ")"
            raise ValueError(f"temporal model: expected {key} of shape {shown}, got {got}")
        return x

    def granularity_branch(self, batch: Dict[str, torch.Tensor], g: int):
        """Stage B for one granularity (Eq. 5.1-5.3).

        Returns
        -------
        v : Tensor (B, segment_units)
            v_G of Eq. 5.3.
        alpha : Tensor (B, G)
            Segment weights (Eq. 5.2, or 1/G without TS-att).
        y : Tensor (B, pose_units)
            Y_G, the last output of R^p_G, for TG-att.
        """
        c = self.config
        k = str(g)
        seg = self._take(batch, f"segments_G{g}", (None, g, c.feature_dim))
        poses = self._take(batch, f"segment_poses_G{g}",
                           (None, g, c.segment_steps, c.persons, c.n_joints, 3))
        u, _ = self.segment_rnn[k](seg)                                   # (B, G, 512)
        b = seg.shape[0]
        x = poses.reshape(b, g, c.segment_steps, -1)
        last = [self.pose_rnns[k][j](x[:, j])[1][-1] for j in range(g)]  # G x (B, 150)
        h, h_n = self.combine_rnn[k](torch.stack(last, dim=1))           # (B, G, 150)
        if c.ts_attention:
            alpha = F.softmax(self.segment_score[k](h).squeeze(-1), dim=1)
        else:
            alpha = u.new_full((b, g), 1.0 / g)
        v = (alpha.unsqueeze(-1) * u).sum(dim=1)
        return v, alpha, h_n[-1]

    def forward(self, batch: Dict[str, torch.Tensor]) -> ModelOutput:
        vs, ys, attention = [], [], {}
        for g in self.granularities:
            v, alpha, y = self.granularity_branch(batch, g)
            vs.append(v)
            ys.append(y)
            attention[f"segments_G{g}"] = alpha
        v_all = torch.stack(vs, dim=1)                                    # (B, n_G, 512)
        if self.config.tg_attention:
            beta = F.softmax(self.granularity_fc(torch.cat(ys, dim=1)), dim=1)
        else:
            beta = v_all.new_ones(v_all.shape[:2])
        attention["granularity"] = beta
        if self.config.classifier == "shared":
            logits = self.classifier(self.dropout((beta.unsqueeze(-1) * v_all).sum(dim=1)))
        else:
            scores = torch.stack([fc(self.dropout(vs[i])) for i, fc in enumerate(self.classifier)],
                                 dim=1)                                   # (B, n_G, C)
            logits = (beta.unsqueeze(-1) * scores).sum(dim=1)
        return ModelOutput(logits=logits, attention=attention)


register_model(ModelSpec(
    name="temporal", config_cls=TemporalConfig, build=TemporalModel, sample="video",
    summary="Temporal Model: pose-driven attention over temporal segments and granularities "
            "(thesis 5.2, Eq. 5.1-5.7)"))
