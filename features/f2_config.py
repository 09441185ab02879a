"""Configuration of F2, the improved dense trajectories (thesis section 3.3.1).

:class:`F2Config` holds every parameter of the extractor
(:func:`adl.features.f2.extract_f2`); its fields but ``dtype`` are hashed into
the ``f2_raw`` cache key.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, Optional

import numpy as np

from . import idt_descriptors
from . import trajectories
from ._config import config_from_dict
from .idt_descriptors import DESCRIPTOR_TYPES

WARPED_FLOW_MODES = ("analytic", "recompute")
DTYPES = ("float16", "float32")


@dataclass(frozen=True)
class F2Config:
    """Every parameter of F2 extraction (written into the cache key and the report).

    Defaults are the IDT release's except where marked *deviation*.

    Attributes
    ----------
    flow : {"farneback", "farneback_per_scale", "dis"}
        ``"farneback"`` (default): the reference's scheme, Farneback coarse to
        fine over the scale pyramid (window 10, 2 iterations, polynomial 7 /
        1.5).  The other two compute each scale independently (OpenCV's
        default Farneback call; DIS medium preset).
    max_scales : int
        At most this many spatial scales (8), fewer when the frame is small
        (the smaller side over the scale must stay >= ``patch_size``): 6 at
        320x240, 8 at 640x480.
    scale_stride : float
        sqrt(2).
    trajectory_length : int
        L = 15 steps (16 points).
    sampling_step : int
        W = 5 px.
    quality : float
        Homogeneous-area threshold, relative to the frame's largest minimum
        eigenvalue (0.001).
    init_gap : int
        Re-sample every ``init_gap`` frames (1).
    median_filter : bool
        Move points by the 3x3 median of the flow (True, the DT release and
        the thesis's description); False reads the flow at the rounded point
        (the IDT release).
    min_var, max_var, max_dis : float
        Static / erratic pruning (sqrt(3), 50, 20 px).
    min_camera_disp : float
        With compensation, a trajectory whose largest compensated step is
        <= this (1 px) is camera motion and dropped.
    patch_size, n_xy_cells, n_t_cells : int
        32-px tube, 2 x 2 x 3 cells.
    hog : bool
        False gives the motion-only variant (no HOG; ``--no-hog``).
    compensate : bool
        Camera-motion compensation ("improved" trajectories).  False gives
        the original dense trajectories (unwarped flow, no camera pruning).
    warped_flow : {"analytic", "recompute"}
        *Deviation* (default ``"analytic"``): the compensated flow is the flow
        with its end points mapped back by the homography,
        ``H^-1 (p + f(p)) - p``, at no flow cost.  ``"recompute"`` is the
        reference: warp frame t+1 by ``H^-1`` and compute the flow again
        (doubles the flow time).
    orb_features : int
        ORB keypoints per frame for the homography (500; the reference uses
        SURF, which is not free).
    match_window : float
        Keypoint matches must be closer than this in x and y (25 px).
    flow_match_points : int
        Up to this many flow matches (1000), started from the previous
        frame's strongest sampling candidates (the reference: 1000
        ``goodFeaturesToTrack`` corners).
    ransac_threshold : float
        1 px.
    min_matches, min_inliers : int
        Below 50 matches or 25 inliers the homography is the identity.
    min_flow : float
        HOF "no motion" bin threshold (0.4 px).
    epsilon : float
        Added to each histogram bin before normalisation (0.05).
    descriptor_stride : int
        *Deviation when > 1*: HOG/HOF/MBH of the tube are computed on every
        ``descriptor_stride``-th frame only (frames whose index is a multiple
        of it) and each temporal cell averages the frames it has (2 or 3 of 5
        for a stride of 2).  1 is the reference (every frame); the
        descriptors are about a third of the extraction time.  At most
        ``trajectory_length // n_t_cells`` so that every cell has a frame.
    max_width : int or None
        *Not in the thesis* (default None: frames at their own size).  Frames
        wider than this are shrunk (area interpolation, aspect kept) before
        extraction, as if recorded at that size: e.g. 320 processes 640x480
        video at 320x240, with 2 fewer scales (3.3x faster on the
        benchmark's synthetic room video).  Sampling
        step, patch and pruning thresholds are then in the shrunk frame's
        pixels; ``positions`` stay in the original frame's pixels.
    dtype : {"float16", "float32"}
        Dtype of the returned descriptor arrays (positions stay float32).
        float16 (default) is the cache format and halves the memory of a long
        video's output (values are in [-1, 1], precision about 5e-4).
    """

    flow: str = "farneback"
    max_scales: int = trajectories.MAX_SCALES
    scale_stride: float = trajectories.SCALE_STRIDE
    trajectory_length: int = trajectories.TRACK_LENGTH
    sampling_step: int = trajectories.MIN_DISTANCE
    quality: float = trajectories.QUALITY
    init_gap: int = 1
    median_filter: bool = True
    min_var: float = trajectories.MIN_VAR
    max_var: float = trajectories.MAX_VAR
    max_dis: float = trajectories.MAX_DIS
    min_camera_disp: float = trajectories.MIN_CAMERA_DISP
    patch_size: int = idt_descriptors.PATCH_SIZE
    n_xy_cells: int = idt_descriptors.N_XY_CELLS
    n_t_cells: int = idt_descriptors.N_T_CELLS
    hog: bool = True
    compensate: bool = True
    warped_flow: str = "analytic"
    orb_features: int = 500
    match_window: float = 25.0
    flow_match_points: int = 1000
    ransac_threshold: float = 1.0
    min_matches: int = 50
    min_inliers: int = 25
    min_flow: float = idt_descriptors.MIN_FLOW
    epsilon: float = idt_descriptors.EPSILON
    descriptor_stride: int = 1
    max_width: Optional[int] = None
    dtype: str = "float16"

    def __post_init__(self):
        if self.flow not in trajectories.FLOW_METHODS:
            raise ValueError(f"F2Config.flow: expected one of "
                             f"{', '.join(trajectories.FLOW_METHODS)}, "
                             f"got {self.flow!r}")
        if self.warped_flow not in WARPED_FLOW_MODES:
            raise ValueError(f"F2Config.warped_flow: expected one of "
                             f"{', '.join(WARPED_FLOW_MODES)}, got {self.warped_flow!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"F2Config.dtype: expected one of {', '.join(DTYPES)}, got {self.dtype!r}")
        for name in ("max_scales", "trajectory_length", "sampling_step", "init_gap",
                     "patch_size", "n_xy_cells", "n_t_cells", "descriptor_stride"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"F2Config.{name}: expected an integer >= 1, got {value!r}")
        if self.max_width is not None and (
                not isinstance(self.max_width, (int, np.integer)) or isinstance(self.max_width, bool)
                or self.max_width < self.patch_size):
            raise ValueError(f"F2Config.max_width: expected None or an integer >= patch_size "
                             f"({self.patch_size}), got {self.max_width!r}")
        if self.scale_stride <= 1.0:
            raise ValueError(f"F2Config.scale_stride: expected > 1, got {self.scale_stride}")
        if self.trajectory_length < self.n_t_cells:
            raise ValueError(f"F2Config: expected trajectory_length >= n_t_cells, got "
                             f"{self.trajectory_length} < {self.n_t_cells}")
        if self.descriptor_stride > self.trajectory_length // self.n_t_cells:
            raise ValueError(f"F2Config.descriptor_stride: expected at most trajectory_length // "
                             f"n_t_cells = {self.trajectory_length // self.n_t_cells} (a frame per "
                             f"temporal cell), got {self.descriptor_stride}")
        if self.patch_size % self.n_xy_cells:
            raise ValueError(f"F2Config: expected patch_size to be a multiple of n_xy_cells, got "
                             f"{self.patch_size} and {self.n_xy_cells}")

    @property
    def descriptor_types(self) -> tuple:
        """Types returned by :func:`extract_f2`, in order (``hog`` only with ``hog=True``)."""
        return tuple(t for t in DESCRIPTOR_TYPES if t != "hog" or self.hog)

    def dims(self) -> Dict[str, int]:
        """Dimension of each descriptor type (traj 30, hog 96, hof 108, mbhx 96, mbhy 96)."""
        return idt_descriptors.descriptor_dims(hog=self.hog, n_xy_cells=self.n_xy_cells,
                                 n_t_cells=self.n_t_cells, track_length=self.trajectory_length)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "F2Config":
        """The configuration :meth:`to_dict` wrote (unknown keys refused by name)."""
        return config_from_dict(cls, d)
