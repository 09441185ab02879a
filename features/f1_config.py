"""Configuration of F1, the appearance of body parts (thesis section 3.3.1,
Eq. 3.1-3.4): the backbone and its input, the crops, the pooling and the part
selection.  Free of torch and scikit-learn (the CLI reads its defaults).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ._config import config_from_dict

F1_VERSION = 1
#: How the fold keeps body parts: the best one on validation data (thesis) or all five.
SELECT_MODES = ("best", "all")


@dataclass(frozen=True)
class F1Config:
    """Configuration of the F1 stage (written into the cache manifest).

    Attributes
    ----------
    backbone : {"resnet152", "resnet50", "resnet18"}
        ResNet-152 in the thesis.
    weights : str
        ``"imagenet"``, ``"random"`` or a state-dict path.
    input_size : int
        Crop side fed to the network (224; 112 for speed).
    precision : {"auto", "float32", "bfloat16"}
        ``"auto"`` = bfloat16 autocast where the CPU/GPU runs it natively.
    channels_last : bool
    engine : {"eager", "jit", "compile"}
        How the CNN runs (:func:`adl.features.cnn.prepare_engine`): eager (the
        default, chosen by measurement: tests/benchmarks/bench_limits.py),
        TorchScript frozen with oneDNN fusions, or ``torch.compile`` with
        frozen weights.  In the cache key when not ``"eager"`` (so that the
        keys of the default path did not change when the option came).
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``
        (:func:`adl.features.device.resolve_device`); not in the cache key
        (the resolved precision is).
    batch_size : int
        Crops per forward pass (``adl features --f1-batch-size auto``: 16 on
        the CPU, 128 on a GPU, :data:`adl.features.device.AUTO_BATCH`).
    frame_stride : int
        Every ``frame_stride``-th skeleton frame is described.
    margin, hand_size : float
        Box geometry, see :func:`adl.features.body_parts.part_boxes`.
    delta : int
        Temporal offset of the dynamic descriptor, in *video frames* (4 in the
        thesis); :attr:`pool_delta` converts it to sampled steps.
    select : {"best", "all"}
        Keep the part with the best validation score (thesis) or all five.
    svm_C : float
        ``C`` of the per-part linear SVMs used for selection.
    seed : int
        Seed of random weights (the fold's part selection is seeded by
        :attr:`adl.features.config.FeaturesConfig.seed`).
    """

    backbone: str = "resnet152"
    weights: str = "imagenet"
    input_size: int = 224
    precision: str = "auto"
    channels_last: bool = True
    engine: str = "eager"
    device: str = "cpu"
    batch_size: int = 16
    frame_stride: int = 1
    margin: float = 0.15
    hand_size: float = 0.5
    delta: int = 4
    select: str = "best"
    svm_C: float = 1.0
    seed: int = 0

    def __post_init__(self):
        from .cnn import BACKBONES, ENGINES, PRECISIONS  # torch-free module-level names
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; expected one of "
                             f"{', '.join(ENGINES)}")
        if not isinstance(self.device, str) or not self.device.strip():
            raise ValueError(f"expected device as 'auto', 'cpu', 'cuda' or 'cuda:N', got "
                             f"{self.device!r}")
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; expected one of "
                             f"{', '.join(sorted(BACKBONES))}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; expected one of "
                             f"{', '.join(PRECISIONS)}")
        if self.select not in SELECT_MODES:
            raise ValueError(f"unknown select {self.select!r}; expected 'best' or 'all'")
        for name, low in (("input_size", 32), ("batch_size", 1), ("frame_stride", 1), ("delta", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"expected {name} to be an integer >= {low}, got {value!r}")
        if not (self.svm_C > 0):
            raise ValueError(f"expected svm_C > 0, got {self.svm_C!r}")

    @property
    def pool_delta(self) -> int:
        """``delta`` in sampled steps: ``max(1, round(delta / frame_stride))``."""
        return max(1, int(round(self.delta / self.frame_stride)))

    def frame_key(self) -> dict:
        """Fields that determine the fold-independent frame descriptors."""
        keep = ("backbone", "weights", "input_size", "precision", "frame_stride", "margin",
                "hand_size", "seed")
        d = {k: getattr(self, k) for k in keep}
        if self.engine != "eager":
            d["engine"] = self.engine
        d["f1_version"] = F1_VERSION
        return d

    def pool_key(self) -> dict:
        """Fields that determine the fold-independent pooled descriptors."""
        return {**self.frame_key(), "delta": self.delta}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "F1Config":
        """The configuration :meth:`to_dict` wrote (unknown keys refused by name)."""
        return config_from_dict(cls, d)
