"""The features stage's configuration: :class:`FisherConfig` and
:class:`FeaturesConfig` (which nests :class:`~adl.features.f1.F1Config`,
:class:`~adl.features.f2_config.F2Config`, :class:`~adl.features.f3.F3Config`
and :class:`FisherConfig`).

Every field is hashed into the cache keys (:mod:`adl.features.keys`) and
written into the cache's ``index.json``; :meth:`FeaturesConfig.from_dict`
reads it back.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional, Tuple

from adl.data.protocols import DEFAULT_VALIDATION_FRACTION

from ._config import config_from_dict
from .f1_config import F1Config
from .f2_config import F2Config
from .f3_config import F3Config
from .folds import FAMILIES

__all__ = ["F1Config", "F2Config", "F3Config", "FeaturesConfig", "FisherConfig"]


#: FisherConfig.gmm_backend values (also adl.features.fisher.GMM_BACKENDS).
GMM_BACKENDS = ("adl", "sklearn")


@dataclass(frozen=True)
class FisherConfig:
    """Fisher-vector encoding of F2 (fitted per fold; thesis section 3.3.1, [137]).

    The defaults are also :class:`adl.features.fisher.FisherVectorEncoder`'s:
    K = 256 Gaussians, PCA to half the dimension and 256 000 sampled
    descriptors, as Wang & Schmid (ICCV 2013).
    """

    n_components: int = 256
    pca_fraction: float = 0.5
    n_samples: int = 256_000
    #: EM iterations of each GMM (tolerance 1e-3 may stop it earlier).  The
    #: thesis does not say; 30 keeps a K = 256 fit on 256k descriptors to
    #: minutes per type on one core (scikit-learn's default, 100, took over
    #: 15 min per fold on BIISC).
    max_iter: int = 30
    #: Not in the thesis (default off): encode every video with its
    #: descriptors *and* their left-right mirror images
    #: (:func:`adl.features.idt_descriptors.mirror_descriptors`), PCA and GMM
    #: fitted on both, so that a video and its mirror image get the same F2 (a
    #: left-handed subject looks like a right-handed one).
    mirror: bool = False
    #: The GMM's implementation (issue 18): "adl" (float32 chunked EM on every
    #: core, k-means start on a 65,536-descriptor subsample; 6.9x less CPU on a
    #: CAD-120-sized fold, BIISC F2 33.9 % against 34.4 %) or "sklearn"
    #: (scikit-learn's GaussianMixture, adl < 0.3).  In the f2_fold key.
    gmm_backend: str = "adl"

    def __post_init__(self):
        if self.gmm_backend not in GMM_BACKENDS:
            raise ValueError(f"expected gmm_backend one of {', '.join(GMM_BACKENDS)}, got "
                             f"{self.gmm_backend!r}")

    @classmethod
    def from_dict(cls, d: dict) -> "FisherConfig":
        """The configuration :func:`dataclasses.asdict` wrote (unknown keys refused)."""
        return config_from_dict(cls, d)


@dataclass(frozen=True)
class FeaturesConfig:
    """Everything that determines the features stage's output.

    Attributes
    ----------
    families : tuple of str
        Some of :data:`adl.features.folds.FAMILIES`.
    f1, f2, f3, fisher
        The families' configurations.
    seed : int
        Seeds the validation split, the F1 part selection and the Fisher
        encoder (F3's LSTM uses ``f3.seed``; the CLI passes the same value).
    val_fraction : float
        Share of each fold's training videos kept for validation.
    protocol : str
        Fold protocol (``"loso"``: leave one subject out).
    train_subjects : tuple of str, optional
        An explicit training set instead of the protocol's folds.
    """

    families: Tuple[str, ...] = FAMILIES
    f1: F1Config = field(default_factory=F1Config)
    f2: F2Config = field(default_factory=F2Config)
    f3: F3Config = field(default_factory=F3Config)
    fisher: FisherConfig = field(default_factory=FisherConfig)
    seed: int = 0
    val_fraction: float = DEFAULT_VALIDATION_FRACTION
    protocol: str = "loso"
    train_subjects: Optional[Tuple[str, ...]] = None

    def __post_init__(self):
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown or not self.families:
            raise ValueError(f"unknown feature families {unknown or list(self.families)}; "
                             f"expected some of {', '.join(FAMILIES)}")

    def to_dict(self) -> dict:
        """JSON-ready fields (tuples as lists), as written into ``index.json``."""
        d = asdict(self)
        d["families"] = list(self.families)
        d["train_subjects"] = list(self.train_subjects or [])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "FeaturesConfig":
        """The configuration :meth:`to_dict` wrote, nested configurations included
        (unknown keys refused by name)."""
        d = dict(d)
        nested = {"f1": F1Config, "f2": F2Config, "f3": F3Config, "fisher": FisherConfig}
        for name, sub in nested.items():
            if name in d and isinstance(d[name], dict):
                d[name] = sub.from_dict(d[name])
        if "families" in d:
            d["families"] = tuple(d["families"])
        if "train_subjects" in d:
            d["train_subjects"] = tuple(d["train_subjects"] or ()) or None
        return config_from_dict(cls, d)
