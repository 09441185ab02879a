"""Feature F2: improved dense trajectories (raw descriptors of one video).

Thesis section 3.3.1 ("Short-term Motion Extraction"): the thesis runs the
improved dense trajectories toolbox [40] (Wang & Schmid, ICCV 2013) and
encodes HOG/HOF/MBH with Fisher vectors (:mod:`adl.features.fisher`).  This
module is the extractor: it streams over the frames of one video (only the
previous frame's pyramid and the live trajectories are kept in memory) and
returns every surviving trajectory's descriptors.

Per frame t -> t+1:

1. grey pyramid (:func:`adl.features.trajectories.pyramid_scales`), dense flow
   at every scale (:func:`adl.features.trajectories.flow_pyramid`);
2. camera motion: a homography from ORB matches and flow matches outside the
   person boxes, RANSAC; the camera-compensated ("warped") flow;
3. at every scale, each live trajectory gets its frame-t descriptors
   (:func:`adl.features.idt_descriptors.tube_cells`, from the warped flow and
   frame t) and moves by the median-filtered flow; one that leaves the frame
   is dropped;
4. a trajectory that reaches L = 15 steps is pruned (static, erratic, and,
   with compensation, still after compensation) and output;
5. new points are sampled in the empty cells of frame t+1.

The live trajectories of a scale sit in one *pool* of reusable slots
(:class:`~adl.features.trajectory_pool.TrajectoryPool`), so that every update is one
vectorised operation over all
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
  instead of ``goodFeaturesToTrack`` (see :mod:`adl.features.trajectories`).
* ``descriptor_stride`` > 1 (not the default) computes HOG/HOF/MBH on every
  k-th frame only.

Everything else (scales, sampling, pruning thresholds, descriptor bins,
cells, normalisation and order) is the reference's; the descriptors are
pixel-exact (:mod:`adl.features.idt_descriptors`).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Dict, List, Mapping, Optional

import numpy as np

from adl.data.errors import DataFormatError
from adl.data.video import FrameSource

from . import idt_descriptors
from . import trajectories
from .f2_config import DESCRIPTOR_TYPES, DTYPES, WARPED_FLOW_MODES, F2Config
from .person_boxes import boxes_at, person_boxes_from_record
from .trajectory_pool import TrajectoryPool

__all__ = ["DESCRIPTOR_TYPES", "DTYPES", "WARPED_FLOW_MODES", "F2Config", "NoTrajectoryWarning",
           "extract_f2", "load_f2", "person_boxes_from_record", "save_f2"]


class NoTrajectoryWarning(UserWarning):
    """A video produced no trajectory (its Fisher vector will be zero)."""


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
        self.types = idt_descriptors.histogram_types(cfg.hog)
        self.dims = cfg.dims()
        n_chan = sum(idt_descriptors.TYPE_BINS[t] for t in self.types)
        self.cell_shape = (cfg.n_xy_cells, cfg.n_xy_cells, n_chan)
        self.t_stride = cfg.trajectory_length // cfg.n_t_cells
        self.slices = idt_descriptors.type_channels(self.types)
        self.flow_fn = trajectories.make_flow_estimator(cfg.flow)
        # compiled kernels (features._idt_kernel) or OpenCV/numpy, chosen once per video
        self.backend = idt_descriptors.resolve_backend()
        self.out = _Output(cfg.descriptor_types, cfg.dtype, self.dims)
        self.size = None
        self.in_size = None       # frame size as read
        self.shrink = None        # (x, y) factors of the max_width resize, None without one
        self.shrunk_size = None
        self.prev_pyr = None
        self.prev_t = None
        self.pools: List[TrajectoryPool] = []
        self.since_sample = 0
        self.orb = None
        self.matcher = None
        self.prev_orb = (np.zeros((0, 2), np.float32), None)
        self.prev_corners = np.zeros((0, 2), np.float32)

    # ---------------------------------------------------------------- frames
    def push(self, t: int, bgr: np.ndarray):
        cv2 = trajectories._cv2()
        grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if bgr.ndim == 3 else bgr
        if self.size is None:
            self._start(t, grey)
            return
        if (grey.shape[1], grey.shape[0]) != self.in_size:
            raise DataFormatError(self.name, f"frames of {self.in_size[0]}x{self.in_size[1]} px",
                                  f"a {grey.shape[1]}x{grey.shape[0]} frame", frame=t + 1)
        grey = self._shrunk(grey)
        pyr = trajectories.build_pyramid(grey, self.sizes)
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
        self.scales, self.sizes = trajectories.pyramid_scales(grey.shape[1], grey.shape[0],
                                                   max_scales=cfg.max_scales,
                                                   scale_stride=cfg.scale_stride,
                                                   min_size=cfg.patch_size)
        self.size = self.sizes[0]
        self.pools = [TrajectoryPool(cfg.trajectory_length, cfg.n_t_cells, self.cell_shape)
                      for _ in self.sizes]
        pyr = trajectories.build_pyramid(grey, self.sizes)
        self._sample(pyr, t)
        if cfg.compensate:
            self._orb_frame(grey, t)
        self.prev_pyr = pyr
        self.prev_t = t

    def _shrunk(self, grey):
        """The frame at the processing size (``max_width``)."""
        if self.shrink is None:
            return grey
        cv2 = trajectories._cv2()
        return cv2.resize(grey, self.shrunk_size, interpolation=cv2.INTER_AREA)

    def _boxes(self, t):
        """Person boxes of frame ``t`` in the processed frame's pixels."""
        boxes = boxes_at(self.boxes, t)
        if boxes is None or self.shrink is None:
            return boxes
        return np.asarray(boxes, np.float32) * np.tile(self.shrink, 2)

    # ---------------------------------------------------------------- camera motion
    def _orb_frame(self, grey, t):
        cv2 = trajectories._cv2()
        if self.cfg.orb_features <= 0:
            return None
        if self.orb is None:
            self.orb = trajectories.make_orb(self.cfg.orb_features)
            self.matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
        cur = trajectories.orb_features(grey, boxes=self._boxes(t), detector=self.orb)
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
            pairs.append(trajectories.match_features(pp, pd, cp, cd, window=cfg.match_window,
                                          matcher=self.matcher))
        corners = self.prev_corners
        if len(corners):
            a, b = trajectories.flow_matches(corners, flows[0])
            pairs.append((a, b))
        if pairs:
            a = np.concatenate([p[0] for p in pairs])
            b = np.concatenate([p[1] for p in pairs])
            ok = (trajectories.outside_boxes(a, prev_boxes)
                  & trajectories.outside_boxes(b, cur_boxes))
            H = trajectories.estimate_homography(a[ok], b[ok],
                                                 ransac_threshold=cfg.ransac_threshold,
                                                 min_matches=cfg.min_matches,
                                                 min_inliers=cfg.min_inliers)
        else:
            H = np.eye(3)
        if np.array_equal(H, np.eye(3)):
            return flows
        if cfg.warped_flow == "recompute":
            warp = trajectories.warp_frame(self.prev_pyr[0], grey, H)
            return self.flow_fn(self.prev_pyr, trajectories.build_pyramid(warp, self.sizes))
        return [trajectories.compensate_flow(f, trajectories.scale_homography(H, sc))
                for f, sc in zip(flows, self.scales)]

    # ---------------------------------------------------------------- tracking
    def _track_scale(self, s, t, flow, warped):
        pool = self.pools[s]
        if not len(pool):
            return
        cfg = self.cfg
        idx = pool.idx
        age = pool.age[idx]
        cur = pool.positions(age)
        new, inside = trajectories.track_points(cur, flow, median=cfg.median_filter,
                                                backend=self.backend)
        if self.prev_t % cfg.descriptor_stride == 0:
            # frame t's cells, added to each trajectory's temporal cell (ages past the
            # last whole cell, when L is not a multiple of n_t_cells, are not described)
            cell = age // self.t_stride
            use = cell < cfg.n_t_cells
            if not use.all():
                cur_d, slot, cell = cur[use], idx[use], cell[use]
            else:
                cur_d, slot = cur, idx
            idt_descriptors.accumulate_tube_cells(self.prev_pyr[s] if cfg.hog else None, warped, cur_d,
                                    pool.acc, slot, cell, hog=cfg.hog, min_flow=cfg.min_flow,
                                    patch=cfg.patch_size, n_cells=cfg.n_xy_cells,
                                    epsilon=cfg.epsilon, backend=self.backend)
            pool.counted(slot, cell)
        pool.advance(age, new, trajectories.sample_field(warped, cur, rounding="round"))
        done = age >= cfg.trajectory_length - 1
        finished = done & inside
        if finished.any():
            fin = idx[finished]
            self._emit(pool, fin[np.argsort(pool.serial[fin], kind="stable")], s, t)
        keep = inside & ~done
        if not keep.all():
            pool.drop(keep)

    def _emit(self, pool: TrajectoryPool, fin: np.ndarray, s: int, t: int):
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
            moving, shape = trajectories.camera_motion_filter(pool.disp[fin] * scale,
                                                   min_disp=cfg.min_camera_disp)
            idx = np.flatnonzero(moving)
            shape = shape[moving]
        else:
            idx = np.arange(len(fin))
        if not len(idx):
            return
        valid, plain_shape, mean = trajectories.trajectory_validity(points[idx] * scale,
                                                         min_var=cfg.min_var, max_var=cfg.max_var,
                                                         max_dis=cfg.max_dis)
        if not valid.any():
            return
        if not cfg.compensate:
            shape = plain_shape
        idx = idx[valid]
        self._output(pool, fin[idx], shape[valid].reshape(len(idx), -1), mean[valid], t)

    def _output(self, pool: TrajectoryPool, slots, traj, mean, t: int):
        """Append the finished trajectories in ``slots`` to the output."""
        k = len(slots)
        acc = pool.acc[slots]                              # (k, n_t, y, x, C)
        acc /= np.maximum(pool.count[slots], 1).astype(np.float32)[:, :, None, None, None]
        arrays = {"traj": traj}
        for typ in self.types:
            arrays[typ] = idt_descriptors.cells_to_descriptor(acc, self.slices[typ],
                                                              channels_last=True)
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
            eig = trajectories.min_eigenvalue_map(grey)
            pool = self.pools[s]
            occupied = pool.current() if len(pool) else None
            pts = trajectories.dense_sample(eig, occupied, step=cfg.sampling_step, quality=cfg.quality,
                                 backend=self.backend)
            if len(pts):
                pool.add(pts)
            if s == 0 and cfg.compensate:
                corners = trajectories.strongest_corners(eig, step=cfg.sampling_step, quality=cfg.quality,
                                              max_points=cfg.flow_match_points)
                self.prev_corners = corners[trajectories.outside_boxes(corners, self._boxes(t))]

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
