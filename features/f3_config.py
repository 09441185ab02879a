"""Configuration of F3, the stacked LSTM over normalised skeletons (thesis
section 3.3.1, Fig. 3.3-3.4, Eq. 3.5; hidden units per dataset: section 3.4.1).
Free of torch and scikit-learn (the CLI reads its defaults).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from adl.data.layouts import JointLayout

from ._config import config_from_dict

F3_VERSION = 1
#: LSTM units per layer in the thesis (section 3.4.1).
HIDDEN_BY_DATASET = {"cad60": 64, "cad120": 64, "msr_daily": 128, "ntu60": 512}
#: Ranges of the optional training-time augmentation.
AUGMENT_ROTATION_DEG = 30.0      # rotation about the vertical (spine) axis, +-
AUGMENT_SCALE = (0.9, 1.1)       # isotropic scale
AUGMENT_CROP = (0.8, 1.0)        # fraction of the video kept by the temporal crop


@dataclass(frozen=True)
class F3Config:
    """Configuration of the F3 stage (written into the cache manifest).

    Fields are :class:`SkeletonLSTM`'s hyper-parameters plus ``per_frame``
    (:func:`prepare_sequence`).  :meth:`for_dataset` sets ``hidden`` to the
    thesis's value for the dataset (:data:`HIDDEN_BY_DATASET`, 64 otherwise).

    Four defaults depart from the thesis, chosen on real skeletons
    (UTKinect-Action3D, leave-one-subject-out, and the maintainers' held-out
    Kinect-v1 measurements; README "F3"): ``per_frame=False`` (the first
    frame's reference), ``inputs="joints+velocity+bones"``, ``augment=True``,
    ``pyramid=3`` and ``pool="mean"``; ``mirror`` is off, as in the thesis.
    adl's F3 before these (the thesis's, with [mean, max, last] pooling) is
    ``F3Config(per_frame=True, inputs="joints", augment=False, pyramid=0,
    pool="mean+max+last")``.
    """

    hidden: int = 64
    layers: int = 3
    dropout: float = 0.5
    lr: float = 0.005
    max_epochs: int = 60
    patience: int = 10
    batch_size: int = 16
    augment: bool = True
    #: Seeds the LSTM (its weights, batch order and augmentation); hashed
    #: into the ``f3_fold`` key, and the seed the fold's fit uses.
    seed: int = 0
    max_len: int = 100
    clip_norm: float = 1.0
    standardize: bool = True
    #: The normalisation reference (:func:`adl.data.geometry.normalise_skeleton`):
    #: True, each frame its own (the thesis); False, the first valid frame's.
    per_frame: bool = False
    mirror: bool = False
    #: The LSTM's input channels (:mod:`adl.features.f3_inputs`); "joints" is the thesis.
    inputs: str = "joints+velocity+bones"
    #: Levels of the temporal pyramid of the input channels added to the F3
    #: vector (:mod:`adl.features.f3_inputs`); 0, none (the thesis).
    pyramid: int = 3
    #: How the LSTM's last-layer hidden states are pooled over time ("mean",
    #: "max", "last" joined by "+"; adl before 0.2: "mean+max+last").
    pool: str = "mean"
    #: Where the LSTM trains: "cpu" or a CUDA device ("cuda", "cuda:N"; issue 18's
    #: GPU path).  In the f3_fold key when not the CPU (a GPU's rounding differs).
    device: str = "cpu"

    def __post_init__(self):
        check_lstm_params(self.hidden, self.layers, self.dropout, self.lr, self.max_epochs,
                         self.patience, self.batch_size, self.max_len, self.clip_norm)
        from .f3_inputs import parse_inputs, parse_pool
        parse_inputs(self.inputs)
        parse_pool(self.pool)
        if not isinstance(self.pyramid, (int, np.integer)) or isinstance(self.pyramid, bool) \
                or self.pyramid < 0:
            raise ValueError(f"expected pyramid levels as an integer >= 0 (0: no pyramid), "
                             f"got {self.pyramid!r}")

    @classmethod
    def for_dataset(cls, dataset: str, **overrides) -> "F3Config":
        """The thesis's configuration for ``dataset`` (hidden units per dataset)."""
        overrides.setdefault("hidden", HIDDEN_BY_DATASET.get(dataset, 64))
        return cls(**overrides)

    def sequence_key(self) -> dict:
        """Fields that determine the fold-independent prepared sequences."""
        return {"per_frame": self.per_frame, "f3_version": F3_VERSION}

    def estimator(self, layout: Optional[JointLayout] = None):
        """The :class:`adl.features.f3.SkeletonLSTM` of this configuration
        (``seed`` as its ``random_state``); ``mirror=True`` needs the joint
        ``layout`` of the sequences (their left/right joints)."""
        from .f3 import SkeletonLSTM
        d = asdict(self)
        d.pop("per_frame")
        d["random_state"] = d.pop("seed")
        mirror = d.pop("mirror")
        if mirror and layout is None:
            raise ValueError("F3Config(mirror=True) needs the joint layout of the sequences")
        needs_bones = "bones" in self.inputs.split("+")
        if needs_bones and layout is None:
            raise ValueError(f"F3Config(inputs={self.inputs!r}) needs the joint layout of the "
                             f"sequences (its bones)")
        return SkeletonLSTM(**d, mirror_joints=layout.mirror_permutation if mirror else None,
                            bones=layout.bones if needs_bones else None)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "F3Config":
        """The configuration :meth:`to_dict` wrote (unknown keys refused by name); a
        field it lacks, written before that field existed, takes the value that
        reproduces the older behaviour (:data:`BEFORE_FIELDS`)."""
        return config_from_dict(cls, {**BEFORE_FIELDS, **d})


#: Fields added after version 0.2.0, at the values that reproduce a configuration
#: written before them (the thesis's input, no pyramid).
BEFORE_FIELDS = {"inputs": "joints", "pyramid": 0, "pool": "mean+max+last"}


def check_lstm_params(hidden, layers, dropout, lr, max_epochs, patience, batch_size, max_len,
                     clip_norm):
    """Refuse LSTM hyper-parameters out of range (ValueError naming the parameter)."""
    for name, value, low in (("hidden", hidden, 1), ("layers", layers, 1),
                             ("max_epochs", max_epochs, 1), ("patience", patience, 1),
                             ("batch_size", batch_size, 1), ("max_len", max_len, 2)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ValueError(f"expected {name} to be an integer >= {low}, got {value!r}")
    if not (isinstance(dropout, (int, float)) and 0 <= dropout < 1):
        raise ValueError(f"expected 0 <= dropout < 1, got {dropout!r}")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"expected lr > 0, got {lr!r}")
    if clip_norm is not None and not (isinstance(clip_norm, (int, float)) and clip_norm > 0):
        raise ValueError(f"expected clip_norm > 0 or None, got {clip_norm!r}")
