"""`VideoRecord`: one labelled sequence of a dataset, whatever its native format."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Tuple

import numpy as np

from .layouts import JointLayout, get_layout

#: Largest |value| a skeleton file may hold: beyond it a number (1e308...) is
#: corrupt, and scaled to metres or pixels it would overflow float32 to inf.
MAX_ABS_VALUE = 1e30


def unusable_numbers(values: np.ndarray) -> np.ndarray:
    """Mask of the values a reader must refuse: NaN, infinities and magnitudes
    above :data:`MAX_ABS_VALUE`."""
    with np.errstate(invalid="ignore"):
        return ~np.isfinite(values) | (np.abs(values) > MAX_ABS_VALUE)


def expected_number(value: float) -> str:
    """What a reader expected in place of a refused ``value``."""
    return "a finite number" if not np.isfinite(value) else f"a number with |x| <= {MAX_ABS_VALUE:g}"


@dataclass(frozen=True)
class SkeletonSequence:
    """A 3D skeleton sequence as a reader returns it.

    Attributes
    ----------
    joints : ndarray, shape (T, J, 3), float32
        Camera-space joints in metres; NaN where a joint or a whole frame is
        missing (dropped frames are kept as all-NaN rows when the file tells
        where they are).
    frame_ids : ndarray, shape (T,), int64
        0-based index of the RGB frame each row belongs to.
    screen : ndarray, shape (T, J, 2), float32, optional
        Pixel coordinates when the dataset ships them (MSRDailyActivity3D);
        otherwise the camera model projects ``joints``.
    """

    joints: np.ndarray
    frame_ids: np.ndarray
    screen: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return int(self.joints.shape[0])


SkeletonLoader = Callable[["VideoRecord"], SkeletonSequence]


@dataclass(frozen=True)
class VideoRecord:
    """One labelled video of a dataset.

    Attributes
    ----------
    dataset : str
        Reader name (``cad60``, ``cad120``, ``msr_daily``, ``manifest``...).
    video_id : str
        Unique within the dataset; safe as a file name.
    label : str
        Class name.
    subject : str
        Subject/performer id as a string (``"1"``, ``"s03"``...).
    view, setup : str, optional
        Camera/view and setup/environment ids where the dataset has them.
    rgb : Path, optional
        A video file or a folder of frames (``rgb_glob`` selects the frames).
    rgb_glob : str, optional
        Glob of the frame files inside ``rgb`` when it is a folder; frames
        are ordered by the integer in their names.
    skeleton : Path, optional
        The skeleton file.
    skeleton_loader : callable, optional
        ``loader(record) -> SkeletonSequence``; the reader's parser.
    layout : str, optional
        Joint layout name (see :mod:`data.layouts`).
    camera : str, optional
        Camera model name used to project joints (see :mod:`data.geometry`).
    fps : float
        Nominal frame rate.
    meta : tuple of (str, str)
        Extra dataset-specific facts (e.g. segment boundaries), hashable.
    group : str, optional
        Videos that share a group are never split between the fitting and
        the validation side of a fold (the validation split and the inner
        cross-validation): a clip and its horizontally flipped copy, several
        crops of one recording.  A group stays within one subject.  None:
        the video is a group of its own.
    """

    dataset: str
    video_id: str
    label: str
    subject: str
    view: Optional[str] = None
    setup: Optional[str] = None
    rgb: Optional[Path] = None
    rgb_glob: Optional[str] = None
    skeleton: Optional[Path] = None
    skeleton_loader: Optional[SkeletonLoader] = field(default=None, compare=False, repr=False)
    layout: Optional[str] = None
    camera: Optional[str] = None
    fps: float = 30.0
    meta: Tuple[Tuple[str, str], ...] = ()
    group: Optional[str] = None

    @property
    def split_group(self) -> str:
        """The group the splits keep together: :attr:`group`, else the video
        alone (prefixed, so that a group named like another video's id stays
        apart from it)."""
        return f"group:{self.group}" if self.group else f"video:{self.video_id}"

    @property
    def has_rgb(self) -> bool:
        return self.rgb is not None

    @property
    def has_skeleton(self) -> bool:
        return self.skeleton_loader is not None

    @property
    def joint_layout(self) -> Optional[JointLayout]:
        return get_layout(self.layout) if self.layout else None

    def load_skeleton(self) -> SkeletonSequence:
        """Parse the skeleton (raises :class:`data.errors.DataFormatError`)."""
        if self.skeleton_loader is None:
            raise ValueError(f"video {self.video_id!r} of {self.dataset} has no skeleton")
        return self.skeleton_loader(self)

    def meta_dict(self) -> dict:
        return dict(self.meta)
