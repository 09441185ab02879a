"""Feature F2: improved dense trajectories (raw descriptors of one video).

Thesis section 3.3.1 ("Short-term Motion Extraction"): the thesis runs the
improved dense trajectories toolbox [40] (Wang & Schmid, ICCV 2013) and
encodes HOG/HOF/MBH with Fisher vectors (:mod:`features.fisher`).  This
module is the extractor: it streams over the frames of one video (only the
previous frame's pyramid and the live trajectories are kept in memory) and
returns every surviving trajectory's descriptors.

Per frame t -> t+1:

1. grey pyramid (:func:`features.trajectories.pyramid_scales`), dense flow
   at every scale (:func:`features.trajectories.flow_pyramid`);
2. camera motion: a homography from ORB matches and flow matches outside the
   person boxes, RANSAC; the camera-compensated ("warped") flow;
3. at every scale, each live trajectory gets its frame-t descriptors
   (:func:`features.idt_descriptors.tube_cells`, from the warped flow and
   frame t) and moves by the median-filtered flow; one that leaves the frame
   is dropped;
4. a trajectory that reaches L = 15 steps is pruned (static, erratic, and,
   with compensation, still after compensation) and output;
5. new points are sampled in the empty cells of frame t+1.

The live trajectories of a scale sit in one *pool* of reusable slots
(:class:`_Pool`), so that every update is one vectorised operation over all
of them, and the compiled descriptor kernel adds each frame's cells
straight into their accumulators.  Finished trajectories are output in
birth order (sampling frame, then grid order), as in the reference.

Deviations from the reference release (``DenseTrackStab``), each a parameter
of :class:`F2Config` whose docstring gives the reference value:

* ``warped_flow="analytic"``: the compensated flow maps the flow's end points
  back through the homography instead of computing a second optical flow on
  the warped frame (``"recompute"`` is the reference).
* ``median_filter=True``: points move by the 3x3 median of the flow (the DT
  release and the thesis's description); the IDT release reads the flow at
  the rounded point (``False``).
* ``flow="farneback"`` is the reference's coarse-to-fine scheme over the scale
  pyramid, with OpenCV's Farneback per level (OpenCV recomputes both frames'
  polynomial expansions per call); ``"farneback_per_scale"`` and ``"dis"``
  are alternatives.
* Homography: ORB (``orb_features``) replaces SURF, which is not free; the
  flow matches start from the previous frame's strongest sampling candidates
  instead of ``goodFeaturesToTrack`` (see :mod:`features.trajectories`).
* ``descriptor_stride`` > 1 (not the default) computes HOG/HOF/MBH on every
  k-th frame only.

Everything else (scales, sampling, pruning thresholds, descriptor bins,
cells, normalisation and order) is the reference's; the descriptors are
pixel-exact (:mod:`features.idt_descriptors`).
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional

import numpy as np

from adl.data.errors import DataFormatError
from adl.data.video import FrameSource

from . import idt_descriptors as D
from . import trajectories as T

DESCRIPTOR_TYPES = ("traj", "hog", "hof", "mbhx", "mbhy")
WARPED_FLOW_MODES = ("analytic", "recompute")
DTYPES = ("float16", "float32")


class NoTrajectoryWarning(UserWarning):
    """A video produced no trajectory (its Fisher vector will be zero)."""


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
    max_scales: int = T.MAX_SCALES
    scale_stride: float = T.SCALE_STRIDE
    trajectory_length: int = T.TRACK_LENGTH
    sampling_step: int = T.MIN_DISTANCE
    quality: float = T.QUALITY
    init_gap: int = 1
    median_filter: bool = True
    min_var: float = T.MIN_VAR
    max_var: float = T.MAX_VAR
    max_dis: float = T.MAX_DIS
    min_camera_disp: float = T.MIN_CAMERA_DISP
    patch_size: int = D.PATCH_SIZE
    n_xy_cells: int = D.N_XY_CELLS
    n_t_cells: int = D.N_T_CELLS
    hog: bool = True
    compensate: bool = True
    warped_flow: str = "analytic"
    orb_features: int = 500
    match_window: float = 25.0
    flow_match_points: int = 1000
    ransac_threshold: float = 1.0
    min_matches: int = 50
    min_inliers: int = 25
    min_flow: float = D.MIN_FLOW
    epsilon: float = D.EPSILON
    descriptor_stride: int = 1
    max_width: Optional[int] = None
    dtype: str = "float16"

    def __post_init__(self):
        if self.flow not in T.FLOW_METHODS:
            raise ValueError(f"F2Config.flow: expected one of {', '.join(T.FLOW_METHODS)}, "
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
        return D.descriptor_dims(hog=self.hog, n_xy_cells=self.n_xy_cells,
                                 n_t_cells=self.n_t_cells, track_length=self.trajectory_length)

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- person boxes
def person_boxes_from_record(record, *, margin: float = 0.15,
                             frame_size: Optional[tuple] = None) -> Dict[int, np.ndarray]:
    """Person boxes per RGB frame from the record's skeleton projected to 2D.

    The box of a frame is the extent of its valid joints, widened by
    ``margin`` times its width / height on each side (joints sit inside the
    body), clipped to the frame.

    Parameters
    ----------
    record : data.record.VideoRecord
    margin : float
        Relative margin on each side.
    frame_size : (width, height), optional
        RGB frame size; read from the video when omitted.  Projected pixels
        are rescaled from the camera model's image size to it.

    Returns
    -------
    dict int -> ndarray, shape (1, 4), float32
        ``frame index -> [[x0, y0, x1, y1]]``; frames without a valid skeleton
        are absent.  Empty for a record without skeleton.

    Raises
    ------
    ValueError
        When the skeleton has neither screen coordinates nor a camera model.
    """
    from adl.data.geometry import get_camera

    if not getattr(record, "has_skeleton", False):
        return {}
    skel = record.load_skeleton()
    camera = get_camera(record.camera) if record.camera else None
    if skel.screen is not None:
        uv = np.asarray(skel.screen, dtype=np.float64)
    elif camera is not None:
        uv = np.asarray(camera.project(skel.joints), dtype=np.float64)
    else:
        raise ValueError(f"video {record.video_id!r}: expected a camera model (record.camera) or "
                         f"screen coordinates to project the skeleton, got neither; pass "
                         f"person_boxes explicitly")
    if frame_size is None:
        frame_size = FrameSource(record.rgb, record.rgb_glob).frame_size() if record.has_rgb \
            else (camera.image_size if camera is not None else None)
    if frame_size is not None and camera is not None:
        uv = uv * (np.asarray(frame_size, dtype=np.float64) / np.asarray(camera.image_size))
    boxes: Dict[int, np.ndarray] = {}
    for row, fid in enumerate(np.asarray(skel.frame_ids)):
        pts = uv[row]
        pts = pts[np.isfinite(pts).all(1)]
        if len(pts) < 2:
            continue
        lo, hi = pts.min(0), pts.max(0)
        pad = (hi - lo) * margin
        lo, hi = lo - pad, hi + pad
        if frame_size is not None:
            lo = np.clip(lo, 0, np.asarray(frame_size) - 1)
            hi = np.clip(hi, 0, np.asarray(frame_size) - 1)
        if (hi > lo).all():
            boxes[int(fid)] = np.array([[lo[0], lo[1], hi[0], hi[1]]], dtype=np.float32)
    return boxes


def _boxes_at(person_boxes, t: int):
    if person_boxes is None:
        return None
    if isinstance(person_boxes, Mapping):
        return person_boxes.get(t)
    if 0 <= t < len(person_boxes):
        return person_boxes[t]
    return None


# --------------------------------------------------------------------------- tracking state
def _as_items(xy: np.ndarray) -> np.ndarray:
    """(N, 2) float32 pairs as N 8-byte items (the same bits)."""
    return np.ascontiguousarray(xy, np.float32).view(np.uint64).reshape(-1)


class _Pool:
    """The live trajectories of one scale, in reusable slots.

    Slot ``i`` holds a trajectory's points (``points[i, :age + 1]``), its
    camera-compensated displacements, and, per temporal cell, the sum of its
    per-frame descriptor cells and their count.  ``idx`` lists the live
    slots; a trajectory that leaves the frame or finishes frees its slot at
    once (the reference erases it), and new points fill free slots, so
    nothing is copied when trajectories end.  ``serial`` numbers the
    trajectories in birth order (the output order).
    """

    __slots__ = ("length", "points", "disp", "acc", "count", "age", "serial", "live", "idx",
                 "n_born", "_pv", "_dv")

    def __init__(self, length: int, n_t: int, cell_shape: tuple, capacity: int = 64):
        self.length = length
        self.points = np.empty((capacity, length + 1, 2), np.float32)
        self.disp = np.empty((capacity, length, 2), np.float32)
        # per slot and temporal cell, the sum of the per-frame cells (y cell, x cell,
        # channel: accumulate_tube_cells' layout) and how many were summed
        self.acc = np.empty((capacity, n_t) + tuple(cell_shape), np.float32)
        self.count = np.empty((capacity, n_t), np.int64)
        self.age = np.zeros(capacity, np.int64)
        self.serial = np.zeros(capacity, np.int64)
        self.live = np.zeros(capacity, bool)
        self.idx = np.zeros(0, np.int64)
        self.n_born = 0
        self._flat_views()

    def _flat_views(self):
        # an (x, y) float32 pair as one 8-byte item: 1-D fancy indexing on these is
        # several times faster than on (N, 2) rows, and moves the same bits
        self._pv = self.points.view(np.uint64).reshape(-1)
        self._dv = self.disp.view(np.uint64).reshape(-1)

    def __len__(self):
        return len(self.idx)

    def positions(self, age: np.ndarray) -> np.ndarray:
        """Positions of the live trajectories at ages ``age`` (aligned with ``idx``), (N, 2)."""
        return self._pv[self.idx * (self.length + 1) + age].view(np.float32).reshape(-1, 2)

    def current(self) -> np.ndarray:
        """Current positions of the live trajectories (order of ``idx``)."""
        return self.positions(self.age[self.idx])

    def advance(self, age: np.ndarray, new: np.ndarray, disp: np.ndarray):
        """Record one step of every live trajectory: aged ``age``, moved to ``new`` by ``disp``."""
        self._dv[self.idx * self.length + age] = _as_items(disp)
        self._pv[self.idx * (self.length + 1) + age + 1] = _as_items(new)
        self.age[self.idx] = age + 1

    def counted(self, slot: np.ndarray, cell: np.ndarray):
        """One more frame summed in temporal cell ``cell`` of the trajectories in ``slot``."""
        self.count.reshape(-1)[slot * self.count.shape[1] + cell] += 1

    def add(self, start: np.ndarray):
        """Start a trajectory at each point of ``start`` (N, 2)."""
        k = len(start)
        free = np.flatnonzero(~self.live)
        if len(free) < k:
            self._grow(len(self.live) - len(free) + k)
            free = np.flatnonzero(~self.live)
        slots = free[:k]
        self.points[slots, 0] = start
        self.acc[slots] = 0
        self.count[slots] = 0
        self.age[slots] = 0
        self.serial[slots] = np.arange(self.n_born, self.n_born + k)
        self.n_born += k
        self.live[slots] = True
        # ascending slots: the descriptor kernel then walks the accumulators in memory order
        self.idx = np.sort(np.concatenate([self.idx, slots]))

    def drop(self, keep: np.ndarray):
        """Keep the live slots where ``keep`` (aligned with ``idx``) is true; free the rest."""
        self.live[self.idx[~keep]] = False
        self.idx = self.idx[keep]

    def _grow(self, need: int):
        cap = len(self.live)
        new = max(need, 2 * cap)
        for name in ("points", "disp", "acc", "count", "age", "serial", "live"):
            old = getattr(self, name)
            arr = np.zeros((new,) + old.shape[1:], old.dtype)
            arr[:cap] = old
            setattr(self, name, arr)
        self._flat_views()


class _Output:
    """Surviving trajectories, appended into large per-type blocks.

    Blocks are over 32 MiB of address space each, so the allocator maps them
    directly (pages become resident only when written) instead of carving
    them out of the heap among the per-frame temporaries, which fragments it
    over a long video.  A type that fits one block is returned as a view of
    it, without a copy.
    """

    BLOCK_BYTES = 34 << 20

    def __init__(self, types, dtype, dims):
        self.dtype = np.dtype(dtype)
        self.width = dict(dims)
        self.width["positions"] = 3
        self.keys = tuple(types) + ("positions",)
        self.blocks: Dict[str, List[np.ndarray]] = {k: [] for k in self.keys}
        self.fill = {k: 0 for k in self.keys}       # rows used in the key's last block
        self.total = 0

    def _dt(self, k):
        return np.dtype(np.float32) if k == "positions" else self.dtype

    def _rows(self, k):
        return max(1024, -(-self.BLOCK_BYTES // (self.width[k] * self._dt(k).itemsize)))

    def add(self, arrays: Dict[str, np.ndarray]):
        n = len(arrays["positions"])
        for k in self.keys:
            src = arrays[k]
            done = 0
            while done < n:
                blocks = self.blocks[k]
                if not blocks or self.fill[k] == len(blocks[-1]):
                    blocks.append(np.empty((self._rows(k), self.width[k]), self._dt(k)))
                    self.fill[k] = 0
                f = self.fill[k]
                take = min(n - done, len(blocks[-1]) - f)
                blocks[-1][f:f + take] = src[done:done + take]
                self.fill[k] = f + take
                done += take
        self.total += n

    def result(self) -> Dict[str, np.ndarray]:
        out = {}
        for k in self.keys:
            blocks = self.blocks[k]
            if len(blocks) <= 1:
                out[k] = blocks[0][:self.total] if blocks else \
                    np.zeros((0, self.width[k]), self._dt(k))
                continue
            arr = np.empty((self.total, self.width[k]), self._dt(k))
            o = 0
            while blocks:                 # free each block once copied
                b = blocks.pop(0)
                m = min(len(b), self.total - o)
                arr[o:o + m] = b[:m]
                o += m
                del b
            out[k] = arr
        self.blocks = {k: [] for k in self.keys}
        return out


def _name_and_source(record_or_path):
    if isinstance(record_or_path, (str, Path)):
        return str(record_or_path), FrameSource(record_or_path)
    rec = record_or_path
    if getattr(rec, "rgb", None) is None:
        raise ValueError(f"video {getattr(rec, 'video_id', rec)!r}: expected a record with an RGB "
                         f"source (record.rgb), got none")
    return rec.video_id, FrameSource(rec.rgb, rec.rgb_glob)


# --------------------------------------------------------------------------- extraction
def extract_f2(record_or_path, config: Optional[F2Config] = None, person_boxes=None, *,
               frames=None) -> Dict[str, np.ndarray]:
    """Improved dense trajectories of one video (raw descriptors, fold-independent).

    Parameters
    ----------
    record_or_path : data.record.VideoRecord or path
        The video (file or frame folder).
    config : F2Config, optional
        Defaults to ``F2Config()``.
    person_boxes : mapping int -> array (k, 4), sequence, or None
        Per-frame ``(x0, y0, x1, y1)`` boxes (full-resolution pixels)
        excluded from homography estimation.  ``None`` with a record that
        has a skeleton: :func:`person_boxes_from_record`; pass ``{}`` for none.
    frames : iterable of (index, BGR frame), optional
        Frames to use instead of reading the video (tests, benchmarks).

    Returns
    -------
    dict
        ``traj`` (N, 30), ``hog`` (N, 96) (only with ``config.hog``), ``hof``
        (N, 108), ``mbhx`` (N, 96), ``mbhy`` (N, 96) in ``config.dtype``
        (float16 by default), and ``positions`` (N, 3) float32: mean x, mean
        y (full-resolution pixels) and the index of the trajectory's last
        frame.  Memory: one previous frame's pyramid, the live trajectories
        and the output (about 0.9 kB per trajectory); no whole-video arrays.

    Warns
    -----
    NoTrajectoryWarning
        When no trajectory survives (the dict then holds empty arrays).
    """
    cfg = config if config is not None else F2Config()
    if not isinstance(cfg, F2Config):
        raise TypeError(f"expected an F2Config, got {type(cfg).__name__}")
    if frames is None:
        name, source = _name_and_source(record_or_path)
        frames = source.frames()
    else:
        name = getattr(record_or_path, "video_id", None) or str(record_or_path)
    if person_boxes is None and not isinstance(record_or_path, (str, Path)) \
            and getattr(record_or_path, "has_skeleton", False) and cfg.compensate:
        try:
            person_boxes = person_boxes_from_record(record_or_path)
        except ValueError as err:
            warnings.warn(f"F2: no person boxes for {name!r} ({err})", stacklevel=2)
            person_boxes = None
    extractor = _Extractor(cfg, person_boxes, name)
    n = 0
    for t, bgr in frames:
        extractor.push(int(t), bgr)
        n += 1
    out = extractor.finish()
    if len(out["positions"]) == 0:
        warnings.warn(f"F2: no trajectory survived in video {name!r} ({n} frames); its Fisher "
                      f"vector will be zero", NoTrajectoryWarning, stacklevel=2)
    return out


class _Extractor:
    """The streaming state of :func:`extract_f2` (previous frame + one trajectory pool per scale)."""

    def __init__(self, cfg: F2Config, person_boxes, name: str):
        self.cfg = cfg
        self.boxes = person_boxes
        self.name = name
        self.types = D.histogram_types(cfg.hog)
        self.dims = cfg.dims()
        n_chan = sum(D.TYPE_BINS[t] for t in self.types)
        self.cell_shape = (cfg.n_xy_cells, cfg.n_xy_cells, n_chan)
        self.t_stride = cfg.trajectory_length // cfg.n_t_cells
        self.slices = D.type_channels(self.types)
        self.flow_fn = T.make_flow_estimator(cfg.flow)
        # compiled kernels (features._idt_kernel) or OpenCV/numpy, chosen once per video
        self.backend = D.resolve_backend()
        self.out = _Output(cfg.descriptor_types, cfg.dtype, self.dims)
        self.size = None
        self.in_size = None       # frame size as read
        self.shrink = None        # (x, y) factors of the max_width resize, None without one
        self.shrunk_size = None
        self.prev_pyr = None
        self.prev_t = None
        self.pools: List[_Pool] = []
        self.since_sample = 0
        self.orb = None
        self.matcher = None
        self.prev_orb = (np.zeros((0, 2), np.float32), None)
        self.prev_corners = np.zeros((0, 2), np.float32)

    # ---------------------------------------------------------------- frames
    def push(self, t: int, bgr: np.ndarray):
        cv2 = T._cv2()
        grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if bgr.ndim == 3 else bgr
        if self.size is None:
            self._start(t, grey)
            return
        if (grey.shape[1], grey.shape[0]) != self.in_size:
            raise DataFormatError(self.name, f"frames of {self.in_size[0]}x{self.in_size[1]} px",
                                  f"a {grey.shape[1]}x{grey.shape[0]} frame", frame=t + 1)
        grey = self._shrunk(grey)
        pyr = T.build_pyramid(grey, self.sizes)
        flows = self.flow_fn(self.prev_pyr, pyr)
        warped = self._compensated(t, grey, pyr, flows)
        for s in range(len(self.sizes)):
            self._track_scale(s, t, flows[s], warped[s])
        self.since_sample += 1
        if self.since_sample >= self.cfg.init_gap:
            self._sample(pyr, t)
            self.since_sample = 0
        self.prev_pyr = pyr
        self.prev_t = t

    def _start(self, t, grey):
        cfg = self.cfg
        w, h = grey.shape[1], grey.shape[0]
        self.in_size = (w, h)
        if cfg.max_width is not None and w > cfg.max_width:
            size = (int(cfg.max_width), max(1, int(round(h * cfg.max_width / w))))
            self.shrink = np.array([size[0] / w, size[1] / h], np.float32)   # x, y factors
            self.shrunk_size = size
        grey = self._shrunk(grey)
        self.scales, self.sizes = T.pyramid_scales(grey.shape[1], grey.shape[0],
                                                   max_scales=cfg.max_scales,
                                                   scale_stride=cfg.scale_stride,
                                                   min_size=cfg.patch_size)
        self.size = self.sizes[0]
        self.pools = [_Pool(cfg.trajectory_length, cfg.n_t_cells, self.cell_shape)
                      for _ in self.sizes]
        pyr = T.build_pyramid(grey, self.sizes)
        self._sample(pyr, t)
        if cfg.compensate:
            self._orb_frame(grey, t)
        self.prev_pyr = pyr
        self.prev_t = t

    def _shrunk(self, grey):
        """The frame at the processing size (``max_width``)."""
        if self.shrink is None:
            return grey
        cv2 = T._cv2()
        return cv2.resize(grey, self.shrunk_size, interpolation=cv2.INTER_AREA)

    def _boxes(self, t):
        """Person boxes of frame ``t`` in the processed frame's pixels."""
        boxes = _boxes_at(self.boxes, t)
        if boxes is None or self.shrink is None:
            return boxes
        return np.asarray(boxes, np.float32) * np.tile(self.shrink, 2)

    # ---------------------------------------------------------------- camera motion
    def _orb_frame(self, grey, t):
        cv2 = T._cv2()
        if self.cfg.orb_features <= 0:
            return None
        if self.orb is None:
            self.orb = T.make_orb(self.cfg.orb_features)
            self.matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
        cur = T.orb_features(grey, boxes=self._boxes(t), detector=self.orb)
        prev = self.prev_orb
        self.prev_orb = cur
        return prev, cur

    def _compensated(self, t, grey, pyr, flows):
        cfg = self.cfg
        if not cfg.compensate:
            return flows
        prev_boxes = self._boxes(self.prev_t)
        cur_boxes = self._boxes(t)
        pairs = []
        orb = self._orb_frame(grey, t)
        if orb:
            (pp, pd), (cp, cd) = orb
            pairs.append(T.match_features(pp, pd, cp, cd, window=cfg.match_window,
                                          matcher=self.matcher))
        corners = self.prev_corners
        if len(corners):
            a, b = T.flow_matches(corners, flows[0])
            pairs.append((a, b))
        if pairs:
            a = np.concatenate([p[0] for p in pairs])
            b = np.concatenate([p[1] for p in pairs])
            ok = T.outside_boxes(a, prev_boxes) & T.outside_boxes(b, cur_boxes)
            H = T.estimate_homography(a[ok], b[ok], ransac_threshold=cfg.ransac_threshold,
                                      min_matches=cfg.min_matches, min_inliers=cfg.min_inliers)
        else:
            H = np.eye(3)
        if np.array_equal(H, np.eye(3)):
            return flows
        if cfg.warped_flow == "recompute":
            warp = T.warp_frame(self.prev_pyr[0], grey, H)
            return self.flow_fn(self.prev_pyr, T.build_pyramid(warp, self.sizes))
        return [T.compensate_flow(f, T.scale_homography(H, sc)) for f, sc in zip(flows, self.scales)]

    # ---------------------------------------------------------------- tracking
    def _track_scale(self, s, t, flow, warped):
        pool = self.pools[s]
        if not len(pool):
            return
        cfg = self.cfg
        idx = pool.idx
        age = pool.age[idx]
        cur = pool.positions(age)
        new, inside = T.track_points(cur, flow, median=cfg.median_filter, backend=self.backend)
        if self.prev_t % cfg.descriptor_stride == 0:
            # frame t's cells, added to each trajectory's temporal cell (ages past the
            # last whole cell, when L is not a multiple of n_t_cells, are not described)
            cell = age // self.t_stride
            use = cell < cfg.n_t_cells
            if not use.all():
                cur_d, slot, cell = cur[use], idx[use], cell[use]
            else:
                cur_d, slot = cur, idx
            D.accumulate_tube_cells(self.prev_pyr[s] if cfg.hog else None, warped, cur_d,
                                    pool.acc, slot, cell, hog=cfg.hog, min_flow=cfg.min_flow,
                                    patch=cfg.patch_size, n_cells=cfg.n_xy_cells,
                                    epsilon=cfg.epsilon, backend=self.backend)
            pool.counted(slot, cell)
        pool.advance(age, new, T.sample_field(warped, cur, rounding="round"))
        done = age >= cfg.trajectory_length - 1
        finished = done & inside
        if finished.any():
            fin = idx[finished]
            self._emit(pool, fin[np.argsort(pool.serial[fin], kind="stable")], s, t)
        keep = inside & ~done
        if not keep.all():
            pool.drop(keep)

    def _emit(self, pool: _Pool, fin: np.ndarray, s: int, t: int):
        """Prune the finished trajectories in slots ``fin`` and output the survivors."""
        cfg = self.cfg
        scale = np.float32(self.scales[s])
        points = pool.points[fin]
        if self.backend == "numba":
            from ._idt_kernel import emit_kernel
            idx, shape, mean = emit_kernel(
                points, pool.disp[fin], np.ones(len(fin), bool), scale, cfg.compensate,
                *(np.float32(v) for v in (cfg.min_camera_disp, cfg.min_var, cfg.max_var,
                                          cfg.max_dis)))
            if len(idx):
                self._output(pool, fin[idx], shape.reshape(len(idx), -1), mean, t)
            return
        if cfg.compensate:
            # the cheap camera-motion test first: it removes most trajectories
            moving, shape = T.camera_motion_filter(pool.disp[fin] * scale,
                                                   min_disp=cfg.min_camera_disp)
            idx = np.flatnonzero(moving)
            shape = shape[moving]
        else:
            idx = np.arange(len(fin))
        if not len(idx):
            return
        valid, plain_shape, mean = T.trajectory_validity(points[idx] * scale,
                                                         min_var=cfg.min_var, max_var=cfg.max_var,
                                                         max_dis=cfg.max_dis)
        if not valid.any():
            return
        if not cfg.compensate:
            shape = plain_shape
        idx = idx[valid]
        self._output(pool, fin[idx], shape[valid].reshape(len(idx), -1), mean[valid], t)

    def _output(self, pool: _Pool, slots, traj, mean, t: int):
        """Append the finished trajectories in ``slots`` to the output."""
        k = len(slots)
        acc = pool.acc[slots]                              # (k, n_t, y, x, C)
        acc /= np.maximum(pool.count[slots], 1).astype(np.float32)[:, :, None, None, None]
        arrays = {"traj": traj}
        for typ in self.types:
            arrays[typ] = D.cells_to_descriptor(acc, self.slices[typ], channels_last=True)
        pos = np.empty((k, 3), np.float32)
        pos[:, :2] = mean
        if self.shrink is not None:
            pos[:, :2] /= self.shrink           # back to the original frame's pixels
        pos[:, 2] = t
        arrays["positions"] = pos
        self.out.add(arrays)

    # ---------------------------------------------------------------- sampling
    def _sample(self, pyr, t):
        cfg = self.cfg
        for s, grey in enumerate(pyr):
            eig = T.min_eigenvalue_map(grey)
            pool = self.pools[s]
            occupied = pool.current() if len(pool) else None
            pts = T.dense_sample(eig, occupied, step=cfg.sampling_step, quality=cfg.quality,
                                 backend=self.backend)
            if len(pts):
                pool.add(pts)
            if s == 0 and cfg.compensate:
                corners = T.strongest_corners(eig, step=cfg.sampling_step, quality=cfg.quality,
                                              max_points=cfg.flow_match_points)
                self.prev_corners = corners[T.outside_boxes(corners, self._boxes(t))]

    def finish(self) -> Dict[str, np.ndarray]:
        return self.out.result()


def save_f2(path, descriptors: Mapping[str, np.ndarray]) -> Path:
    """Write raw F2 descriptors compressed: descriptor types as float16, positions float32."""
    path = Path(path)
    arrays = {k: np.asarray(v, dtype=np.float32 if k == "positions" else np.float16)
              for k, v in descriptors.items()}
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return path


def load_f2(path) -> Dict[str, np.ndarray]:
    """Read descriptors written by :func:`save_f2` (descriptor types come back as float16)."""
    with np.load(Path(path)) as z:
        return {k: z[k] for k in z.files}
