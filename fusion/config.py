"""Settings of the fusion stage: one frozen :class:`FusionConfig`.

The CLI builds it from its options (taking its defaults from here),
:func:`fusion.runner.run_fusion` passes it down to every fold and writes it
into ``report.json`` (``config``).  The defaults of the fusion stage live in
this module only; it imports nothing heavier than numpy, so the CLI can read
them at start-up.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Mapping, Optional, Tuple, Union

from adl.features.folds import FAMILIES

#: Candidate ``C`` of every linear SVM (chosen by held-out accuracy).
DEFAULT_C_GRID: Tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 100.0)
#: Maximum number of inner cross-validation folds.
DEFAULT_INNER_FOLDS = 5
#: Maximum number of Platt calibration folds (``selection="validation"``).
DEFAULT_CALIBRATION_CV = 3
#: Model-selection schemes (see :mod:`fusion.model_selection`).
SELECTIONS = ("inner_cv", "validation")
#: What the classifiers are refitted on after selection (see :mod:`fusion.svm`).
REFIT_POLICIES = ("train", "fit")


def family_order(families) -> Tuple[str, ...]:
    """Families in canonical order (``f1, f2, f3``, then any others sorted)."""
    fams = set(families)
    return tuple(f for f in FAMILIES if f in fams) + tuple(sorted(fams - set(FAMILIES)))


@dataclass(frozen=True)
class FusionConfig:
    """Everything that shapes a fusion run (thesis 3.3.2-3.3.3, 3.4.2).

    Parameters
    ----------
    alpha_search : bool, default False
        Search the late-fusion weight alpha of Eq. 3.6 on the held-out
        predictions of the training videos (grid 0..1, step 0.01); otherwise
        ``alpha`` is used as it is (the report says which).
    alpha : float in [0, 1], default 0.5
        The fixed weight when ``alpha_search`` is False.
    families : tuple of str, default ("f1", "f2", "f3")
        Families to fuse, among those the folds have.  Stored in canonical order.
    epsilon : None, float in [0, 2] or "auto"
        Action-pair threshold on ``C(i, j) + C(j, i)``; None: the dataset's
        default (:data:`fusion.pairs.DEFAULT_EPSILON`).
    selection : {"inner_cv", "validation"}
        How C, alpha and the pair memory are chosen: out-of-fold predictions
        of an inner cross-validation over the training subjects, or the
        features stage's validation split.
    inner_folds : int >= 2
        Maximum number of inner folds (leave-one-training-subject-out up to it).
    C_grid : tuple of float > 0
    refit : {"train", "fit"}
        ``"fit"`` (``selection="validation"`` only) keeps the classifiers
        fitted on the fit rows; ``"train"`` refits on all training videos.
    calibration_cv : int >= 2
        Maximum number of Platt calibration folds (``selection="validation"``).
    seed : int
        Seed of every split and calibration fold.
    blas_threads : int >= 1 or None, default 1
        BLAS threads while a fold runs (None: the library default).
    """

    alpha_search: bool = False
    alpha: float = 0.5
    families: Tuple[str, ...] = FAMILIES
    epsilon: Optional[Union[float, str]] = None
    selection: str = "inner_cv"
    inner_folds: int = DEFAULT_INNER_FOLDS
    C_grid: Tuple[float, ...] = DEFAULT_C_GRID
    refit: str = "train"
    calibration_cv: int = DEFAULT_CALIBRATION_CV
    seed: int = 0
    blas_threads: Optional[int] = 1

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        put("alpha_search", bool(self.alpha_search))
        alpha = float(self.alpha)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha!r}")
        put("alpha", alpha)
        if isinstance(self.families, str):
            raise TypeError(f"families must be a sequence of family names, got the string "
                            f"{self.families!r}")
        if not self.families:
            raise ValueError(f"expected at least one feature family of {FAMILIES}, got none")
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown:
            raise ValueError(f"unknown feature families {unknown}; expected a subset of {FAMILIES}")
        put("families", family_order(self.families))
        put("epsilon", _check_epsilon(self.epsilon))
        if self.selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {SELECTIONS}, got {self.selection!r}")
        if self.refit not in REFIT_POLICIES:
            raise ValueError(f"refit must be one of {REFIT_POLICIES}, got {self.refit!r}")
        if self.refit == "fit" and self.selection != "validation":
            raise ValueError("refit='fit' applies to selection='validation' only; with an inner "
                             "cross-validation the classifiers are refitted on all training videos")
        for name, low in (("inner_folds", 2), ("calibration_cv", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
            put(name, int(value))
        grid = tuple(float(c) for c in self.C_grid)
        if not grid or not all(c > 0 and math.isfinite(c) for c in grid):
            raise ValueError(f"C_grid must be a non-empty sequence of finite values > 0, "
                             f"got {self.C_grid!r}")
        put("C_grid", grid)
        put("seed", int(self.seed))
        if self.blas_threads is not None:
            if int(self.blas_threads) != self.blas_threads or self.blas_threads < 1:
                raise ValueError(f"blas_threads must be None or an integer >= 1, "
                                 f"got {self.blas_threads!r}")
            put("blas_threads", int(self.blas_threads))

    @property
    def alpha_mode(self) -> str:
        """``"search"`` or ``"fixed"`` (what the two-level fusion does with alpha)."""
        return "search" if self.alpha_search else "fixed"

    def to_dict(self) -> dict:
        """JSON-ready dict (tuples as lists); ``from_dict`` inverts it."""
        out = asdict(self)
        out["families"] = list(self.families)
        out["C_grid"] = list(self.C_grid)
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> "FusionConfig":
        """The config written by :meth:`to_dict` (missing keys take their default).

        Raises
        ------
        TypeError
            ``data`` is not a mapping.
        ValueError
            Unknown keys or invalid values.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"expected a mapping of FusionConfig fields, got {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown FusionConfig fields {unknown}; expected some of "
                             f"{sorted(names)}")
        values = dict(data)
        for key in ("families", "C_grid"):
            if key in values and not isinstance(values[key], str):
                values[key] = tuple(values[key])
        return cls(**values)


def _check_epsilon(epsilon):
    if epsilon is None or epsilon == "auto":
        return epsilon
    if isinstance(epsilon, str) or isinstance(epsilon, bool):
        raise ValueError(f"epsilon must be None, 'auto' or a number in [0, 2], got {epsilon!r}")
    eps = float(epsilon)
    if not 0.0 <= eps <= 2.0:
        raise ValueError(f"epsilon must be in [0, 2] (C(i,j)+C(j,i) of a normalised confusion), "
                         f"got {eps}")
    return eps
