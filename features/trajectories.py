"""Dense trajectories and their camera-motion compensation: the pure per-frame steps.

Implements the tracking half of feature F2 (thesis section 3.3.1, "Short-term
Motion Extraction", which uses the improved dense trajectories toolbox [40]):
dense trajectories (Wang, Klaser, Schmid, Liu, IJCV 2013) and their
"improved" camera-motion compensation (Wang & Schmid, ICCV 2013).  Every
function here is pure and vectorised over all points of a frame;
:mod:`adl.features.f2` strings them together frame by frame.

Reference behaviour (the authors' C++ release, ``DenseTrackStab``) and where
this module departs from it:

* Scale pyramid (``InitPry``): scales ``scale_stride ** i``, as many as fit
  while the smaller image side stays >= the 32-px patch, at most 8.  Same.
* Dense sampling (``DenseSample``): one candidate per ``W x W`` cell at the
  cell centre, kept when its minimum eigenvalue (``cornerMinEigenVal``, block
  3, aperture 3) exceeds ``quality`` times the frame's maximum, and only in
  cells that no tracked point occupies.  Same.
* Optical flow: the reference computes Farneback flow once per frame "for all
  scales", coarse to fine over the scale pyramid itself (window 10,
  2 iterations, polynomial 7 / 1.5).  :func:`flow_pyramid` does the same with
  OpenCV's ``calcOpticalFlowFarneback`` called per scale with the upsampled
  coarser flow as initial flow (``method="farneback"``); OpenCV recomputes
  the polynomial expansion of both frames at each call, which the reference
  caches.  ``"farneback_per_scale"`` (OpenCV's default parameters on every
  scale independently) and ``"dis"`` (DIS, medium preset, per scale) are
  selectable.
* Tracking: each point moves by the 3x3 median of the flow around it (the
  DT release's ``OpticalFlowTracker``; the later IDT release reads the flow
  at the rounded point without the median); :func:`track_points`'s
  ``median`` switches between the two.
* Pruning (``IsValid``, ``IsCameraMotion``): static (both position standard
  deviations < sqrt(3) px), erratic (a deviation > 50 px, or one step
  > 20 px and > 70 % of the length) and, with compensation, trajectories whose
  largest camera-compensated displacement is <= 1 px.  Same.
* Homography (``ComputeMatch`` + ``MatchFromFlow`` + ``findHomography``):
  the reference matches SURF keypoints (not free) within a 25-px window and
  adds the flow displacement of up to 1000 ``goodFeaturesToTrack`` corners.
  Here ORB replaces SURF (:func:`orb_features`, :func:`match_features`, same
  window) and the flow matches start from the strongest dense-sampling
  candidates of the previous frame (:func:`strongest_corners`; the
  eigenvalue map is already computed for sampling, so this costs nothing).
  RANSAC threshold 1 px, at least 50 matches and 25 inliers, else identity.
  Points inside person boxes are excluded as in the reference's human mask.
* Warped flow: the reference warps the second frame with the homography and
  computes the optical flow a second time.  :func:`compensate_flow` instead
  maps each flow end point through the inverse homography
  (``H^-1 (p + f(p)) - p``), which is what the second flow estimates, at no
  flow cost; :func:`warp_frame` reproduces the reference's warp for the
  faithful "recompute" mode of :class:`adl.features.f2_config.F2Config`.
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .idt_descriptors import PATCH_SIZE   # the descriptor tube's side: the smallest scale

# The IDT release's defaults (DenseTrackStab.h).
SCALE_STRIDE = math.sqrt(2.0)
MAX_SCALES = 8
TRACK_LENGTH = 15
MIN_DISTANCE = 5
QUALITY = 0.001
MIN_VAR = math.sqrt(3.0)
MAX_VAR = 50.0
MAX_DIS = 20.0
MIN_CAMERA_DISP = 1.0

FLOW_METHODS = ("farneback", "farneback_per_scale", "dis")
# my::calcOpticalFlowFarneback(prev_poly_pyr, poly_pyr, flow_pyr, 10, 2) with a
# polynomial expansion of size 7, sigma 1.5 (DenseTrackStab.cpp).
FARNEBACK_IDT = dict(winsize=10, iterations=2, poly_n=7, poly_sigma=1.5)
# OpenCV's documented default call, used per scale by "farneback_per_scale".
FARNEBACK_OPENCV = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5,
                        poly_sigma=1.2)


def _cv2():
    import cv2  # lazily: keeps `adl --help` fast
    return cv2


# --------------------------------------------------------------------------- pyramid
def pyramid_scales(width: int, height: int, *, max_scales: int = MAX_SCALES,
                   scale_stride: float = SCALE_STRIDE,
                   min_size: int = PATCH_SIZE) -> Tuple[Tuple[float, ...], Tuple[Tuple[int, int], ...]]:
    """Scale factors and image sizes of the spatial pyramid (IDT ``InitPry``).

    Parameters
    ----------
    width, height : int
        Full-resolution frame size.
    max_scales : int
        Upper bound on the number of scales (IDT: 8).
    scale_stride : float
        Ratio between consecutive scales (IDT: sqrt(2)).
    min_size : int
        A scale is kept while the smaller side, divided by the scale, is
        >= ``min_size`` (the 32-px descriptor patch).

    Returns
    -------
    scales : tuple of float
        ``scales[i] = scale_stride ** i``; full-resolution coordinates are
        scale-``i`` coordinates times ``scales[i]``.
    sizes : tuple of (int, int)
        ``(width, height)`` at each scale, rounded.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"expected a positive frame size, got {width}x{height}")
    if max_scales < 1:
        raise ValueError(f"expected max_scales >= 1, got {max_scales}")
    if scale_stride <= 1.0:
        raise ValueError(f"expected scale_stride > 1, got {scale_stride}")
    side = float(min(width, height))
    n = 0
    while side >= min_size:
        side /= scale_stride
        n += 1
    n = max(1, min(n, max_scales))
    scales = [1.0]
    sizes = [(int(width), int(height))]
    for _ in range(1, n):
        scales.append(scales[-1] * scale_stride)
        sizes.append((int(round(width / scales[-1])), int(round(height / scales[-1]))))
    return tuple(scales), tuple(sizes)


def build_pyramid(grey: np.ndarray, sizes: Sequence[Tuple[int, int]]) -> List[np.ndarray]:
    """Grey-level pyramid: each level resized (bilinear) from the previous one, as IDT does.

    Parameters
    ----------
    grey : ndarray, shape (H, W), uint8
    sizes : sequence of (width, height)
        From :func:`pyramid_scales`; ``sizes[0]`` must be ``(W, H)``.
    """
    cv2 = _cv2()
    if grey.ndim != 2:
        raise ValueError(f"expected a grey image of shape (H, W), got shape {grey.shape}")
    if (grey.shape[1], grey.shape[0]) != tuple(sizes[0]):
        raise ValueError(f"expected a {sizes[0][0]}x{sizes[0][1]} image for this pyramid, "
                         f"got {grey.shape[1]}x{grey.shape[0]}")
    levels = [grey]
    for size in sizes[1:]:
        levels.append(cv2.resize(levels[-1], tuple(size), interpolation=cv2.INTER_LINEAR))
    return levels


# --------------------------------------------------------------------------- sampling
def min_eigenvalue_map(grey: np.ndarray) -> np.ndarray:
    """Minimum eigenvalue of the 3x3 structure tensor (``cornerMinEigenVal(grey, 3, 3)``).

    Returns
    -------
    ndarray, shape (H, W), float32
    """
    return _cv2().cornerMinEigenVal(grey, 3, ksize=3)


def _grid(shape: Tuple[int, int], step: int):
    h, w = shape
    gw, gh = w // step, h // step
    off = step // 2
    xs = np.arange(gw, dtype=np.int64) * step + off
    ys = np.arange(gh, dtype=np.int64) * step + off
    return gw, gh, xs, ys


def dense_sample(eig: np.ndarray, occupied: Optional[np.ndarray] = None, *,
                 step: int = MIN_DISTANCE, quality: float = QUALITY,
                 backend: Optional[str] = None) -> np.ndarray:
    """New points on a dense grid, skipping homogeneous areas and occupied cells (IDT ``DenseSample``).

    The image is cut into ``step x step`` cells; the candidate of a cell is its
    centre ``(j*step + step//2, i*step + step//2)``.  It is kept when no point
    of ``occupied`` falls into the cell and its minimum eigenvalue is
    strictly above ``quality * eig.max()``.

    Parameters
    ----------
    eig : ndarray, shape (H, W)
        From :func:`min_eigenvalue_map`.
    occupied : ndarray, shape (N, 2), optional
        ``(x, y)`` of the points currently tracked at this scale.
    step : int
        The sampling step W (IDT: 5 px).
    quality : float
        Relative eigenvalue threshold (IDT: 0.001).
    backend : {"auto", "numba", "opencv"}, optional
        Compiled loop or numpy (:func:`adl.features.idt_descriptors.resolve_backend`);
        the same points.

    Returns
    -------
    ndarray, shape (M, 2), float32
        ``(x, y)`` in row-major cell order.
    """
    if step < 1:
        raise ValueError(f"expected a sampling step >= 1, got {step}")
    gw, gh, xs, ys = _grid(eig.shape, step)
    if gw == 0 or gh == 0:
        return np.zeros((0, 2), np.float32)
    threshold = float(eig.max()) * quality
    from .idt_descriptors import resolve_backend
    if resolve_backend(backend) == "numba" and eig.dtype == np.float32:
        from ._idt_kernel import dense_sample_kernel
        occ = (np.zeros((0, 2)) if occupied is None
               else np.asarray(occupied, dtype=np.float64).reshape(-1, 2))
        return dense_sample_kernel(np.ascontiguousarray(eig), occ, int(step),
                                   np.float32(threshold))
    keep = eig[ys[:, None], xs[None, :]] > threshold            # (gh, gw)
    if occupied is not None and len(occupied):
        occ = np.floor(np.asarray(occupied, dtype=np.float64)).astype(np.int64)
        ok = (occ[:, 0] >= 0) & (occ[:, 1] >= 0) & (occ[:, 0] < gw * step) & (occ[:, 1] < gh * step)
        occ = occ[ok] // step
        keep[occ[:, 1], occ[:, 0]] = False
    iy, ix = np.nonzero(keep)
    return np.stack([xs[ix], ys[iy]], axis=1).astype(np.float32)


def strongest_corners(eig: np.ndarray, *, step: int = MIN_DISTANCE, quality: float = QUALITY,
                      max_points: int = 1000) -> np.ndarray:
    """The ``max_points`` dense-sampling candidates with the largest minimum eigenvalue.

    Stand-in for the reference's ``goodFeaturesToTrack(prev, 1000, 0.001, 3)``
    when building flow matches for the homography: same quality criterion,
    a minimum distance of ``step`` instead of 3 px, and no extra image pass.

    Returns
    -------
    ndarray, shape (M, 2), float32
        ``(x, y)``, strongest first.
    """
    gw, gh, xs, ys = _grid(eig.shape, step)
    if gw == 0 or gh == 0 or max_points <= 0:
        return np.zeros((0, 2), np.float32)
    vals = eig[ys[:, None], xs[None, :]].ravel()
    good = np.flatnonzero(vals > float(eig.max()) * quality)
    if good.size > max_points:
        good = good[np.argpartition(-vals[good], max_points - 1)[:max_points]]
    good = good[np.argsort(-vals[good], kind="stable")]
    return np.stack([xs[good % gw], ys[good // gw]], axis=1).astype(np.float32)


# --------------------------------------------------------------------------- flow
def make_flow_estimator(method: str = "farneback"):
    """A callable ``(prev_pyr, next_pyr) -> list of flows`` for :func:`flow_pyramid`.

    Holds the DIS object between frames (creating it per frame costs time).
    """
    if method not in FLOW_METHODS:
        raise ValueError(f"unknown flow method {method!r}; expected one of {', '.join(FLOW_METHODS)}")
    dis = None
    if method == "dis":
        cv2 = _cv2()
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def estimate(prev_pyr, next_pyr):
        return flow_pyramid(prev_pyr, next_pyr, method=method, dis=dis)
    return estimate


def flow_pyramid(prev_pyr: Sequence[np.ndarray], next_pyr: Sequence[np.ndarray], *,
                 method: str = "farneback", dis=None) -> List[np.ndarray]:
    """Dense optical flow at every scale of the pyramid.

    Parameters
    ----------
    prev_pyr, next_pyr : sequence of ndarray (H_s, W_s) uint8
        Pyramids of frames t and t+1 (:func:`build_pyramid`).
    method : {"farneback", "farneback_per_scale", "dis"}
        ``"farneback"``: the reference's scheme, Farneback coarse to fine over
        the scale pyramid itself (each scale refines the upsampled flow of the
        next coarser one with window 10, 2 iterations, polynomial 7 / 1.5).
        ``"farneback_per_scale"``: OpenCV's default Farneback call (its own
        3-level pyramid) on every scale independently.  ``"dis"``: DIS flow
        (medium preset) on every scale independently.
    dis : cv2.DISOpticalFlow, optional
        Reused DIS object (see :func:`make_flow_estimator`).

    Returns
    -------
    list of ndarray, shape (H_s, W_s, 2), float32
        ``flow[y, x] = (dx, dy)`` from frame t to t+1, in scale-s pixels.
    """
    cv2 = _cv2()
    if len(prev_pyr) != len(next_pyr):
        raise ValueError(f"expected pyramids of equal depth, got {len(prev_pyr)} and {len(next_pyr)}")
    n = len(prev_pyr)
    out: List[Optional[np.ndarray]] = [None] * n
    if method == "farneback":
        p = FARNEBACK_IDT
        flow = None
        for s in range(n - 1, -1, -1):
            a, b = prev_pyr[s], next_pyr[s]
            if flow is None:
                flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 0, p["winsize"], p["iterations"],
                                                    p["poly_n"], p["poly_sigma"], 0)
            else:
                h, w = a.shape
                init = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
                init[..., 0] *= w / flow.shape[1]
                init[..., 1] *= h / flow.shape[0]
                flow = cv2.calcOpticalFlowFarneback(a, b, init, 0.5, 0, p["winsize"], p["iterations"],
                                                    p["poly_n"], p["poly_sigma"],
                                                    cv2.OPTFLOW_USE_INITIAL_FLOW)
            out[s] = flow
    elif method == "farneback_per_scale":
        p = FARNEBACK_OPENCV
        for s in range(n):
            out[s] = cv2.calcOpticalFlowFarneback(prev_pyr[s], next_pyr[s], None, p["pyr_scale"],
                                                  p["levels"], p["winsize"], p["iterations"],
                                                  p["poly_n"], p["poly_sigma"], 0)
    elif method == "dis":
        if dis is None:
            dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        for s in range(n):
            out[s] = dis.calc(prev_pyr[s], next_pyr[s], None)
    else:
        raise ValueError(f"unknown flow method {method!r}; expected one of {', '.join(FLOW_METHODS)}")
    return out  # type: ignore[return-value]


def median_filter_flow(flow: np.ndarray) -> np.ndarray:
    """3x3 median of each flow component (borders replicated), float32 (H, W, 2).

    Sampling it at ``floor(p)`` gives the DT tracker's per-point median of the
    9 flow vectors around ``p`` (component-wise).
    """
    cv2 = _cv2()
    fx = cv2.medianBlur(np.ascontiguousarray(flow[..., 0]), 3)
    fy = cv2.medianBlur(np.ascontiguousarray(flow[..., 1]), 3)
    return np.stack([fx, fy], axis=-1)


def sample_field(field: np.ndarray, points: np.ndarray, *, rounding: str = "round") -> np.ndarray:
    """Values of an (H, W, C) field at integer-rounded, clamped point positions.

    ``rounding`` is ``"round"`` (IDT's ``cvRound``) or ``"floor"`` (DT's ``cvFloor``).
    """
    h, w = field.shape[:2]
    x, y = _pixel_index(points, w, h, rounding)
    return field[y, x]


def _pixel_index(points: np.ndarray, w: int, h: int, rounding: str):
    op = np.rint if rounding == "round" else np.floor
    xy = op(points).astype(np.intp)
    np.maximum(xy, 0, out=xy)
    x = np.minimum(xy[:, 0], w - 1)
    y = np.minimum(xy[:, 1], h - 1)
    return x, y


def track_points(points: np.ndarray, flow: np.ndarray, *, median: bool = True,
                 backend: Optional[str] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Move points by the (median-filtered) flow; report which stay strictly inside the frame.

    Parameters
    ----------
    points : ndarray, shape (N, 2)
        ``(x, y)`` at frame t, in the flow's pixel units.
    flow : ndarray, shape (H, W, 2)
    median : bool
        True: the DT tracker (component-wise median of the 3x3 flow vectors
        around ``floor(p)``, borders replicated); False: the IDT release
        (flow at ``round(p)``).
    backend : {"auto", "numba", "opencv"}, optional
        How the medians are taken (:func:`adl.features.idt_descriptors.resolve_backend`):
        compiled at the points only, or ``cv2.medianBlur`` over the whole
        field; the values are the same.

    Returns
    -------
    new_points : ndarray, shape (N, 2), float32
    inside : ndarray, shape (N,), bool
        ``0 < x < W`` and ``0 < y < H`` (the reference's test).
    """
    cv2 = _cv2()
    points = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    h, w = flow.shape[:2]
    new = points.copy()
    if median:
        x, y = _pixel_index(points, w, h, "floor")
        from .idt_descriptors import resolve_backend
        if resolve_backend(backend) == "numba":      # the same medians, at the points only
            from ._idt_kernel import median_flow_at
            new += median_flow_at(np.ascontiguousarray(flow, dtype=np.float32),
                                  x.astype(np.int64, copy=False), y.astype(np.int64, copy=False),
                                  np.empty_like(new))
        else:
            for c, comp in enumerate(cv2.split(flow)):
                new[:, c] += cv2.medianBlur(comp, 3)[y, x]
    else:
        new += sample_field(flow, points, rounding="round")
    inside = (new[:, 0] > 0) & (new[:, 0] < w) & (new[:, 1] > 0) & (new[:, 1] < h)
    return new, inside


# --------------------------------------------------------------------------- pruning
def trajectory_validity(tracks: np.ndarray, *, min_var: float = MIN_VAR, max_var: float = MAX_VAR,
                        max_dis: float = MAX_DIS):
    """Static / erratic trajectory pruning and trajectory shape (IDT ``IsValid``), vectorised.

    Parameters
    ----------
    tracks : ndarray, shape (N, L+1, 2)
        Point positions in full-resolution pixels.
    min_var, max_var : float
        A trajectory is static when both position standard deviations are
        below ``min_var`` and erratic when one exceeds ``max_var``.
    max_dis : float
        It is also erratic when its largest step exceeds ``max_dis`` and 70 %
        of its length.

    Returns
    -------
    valid : ndarray, shape (N,), bool
    shape : ndarray, shape (N, L, 2), float32
        Displacements divided by the trajectory length (sum of step norms);
        zero where the length is zero.
    mean : ndarray, shape (N, 2), float32
        Mean position.
    """
    tracks = np.asarray(tracks, dtype=np.float32)
    if tracks.ndim != 3 or tracks.shape[-1] != 2 or tracks.shape[1] < 2:
        raise ValueError(f"expected tracks of shape (N, L+1, 2) with L >= 1, got {tracks.shape}")
    mean = tracks.mean(axis=1)
    std = np.sqrt(np.square(tracks - mean[:, None, :]).mean(axis=1))
    static = (std[:, 0] < min_var) & (std[:, 1] < min_var)
    erratic = (std[:, 0] > max_var) | (std[:, 1] > max_var)
    disp = np.diff(tracks, axis=1)
    norms = np.sqrt(np.square(disp).sum(-1))
    length = norms.sum(1)
    biggest = norms.max(1)
    jump = (biggest > max_dis) & (biggest > 0.7 * length)
    valid = ~static & ~erratic & ~jump
    scale = np.divide(1.0, length, out=np.zeros_like(length), where=length > 0)
    return valid, disp * scale[:, None, None], mean


def camera_motion_filter(disp: np.ndarray, *, min_disp: float = MIN_CAMERA_DISP):
    """Drop trajectories that camera compensation leaves (almost) still (IDT ``IsCameraMotion``).

    Parameters
    ----------
    disp : ndarray, shape (N, L, 2)
        Per-step displacements read from the camera-compensated flow, in
        full-resolution pixels.
    min_disp : float
        A trajectory is kept when its largest step exceeds ``min_disp`` px.

    Returns
    -------
    moving : ndarray, shape (N,), bool
    shape : ndarray, shape (N, L, 2), float32
        ``disp`` divided by the sum of its step norms (the compensated
        trajectory shape the reference outputs); zero where that sum is zero.
    """
    disp = np.asarray(disp, dtype=np.float32)
    if disp.ndim != 3 or disp.shape[-1] != 2:
        raise ValueError(f"expected displacements of shape (N, L, 2), got {disp.shape}")
    norms = np.sqrt(np.square(disp).sum(-1))
    total = norms.sum(1)
    moving = norms.max(1, initial=0.0) > min_disp
    scale = np.divide(1.0, total, out=np.zeros_like(total), where=total > 0)
    return moving, disp * scale[:, None, None]


# --------------------------------------------------------------------------- homography
def boxes_array(boxes) -> np.ndarray:
    """Boxes as a float64 array of shape (k, 4) ``(x0, y0, x1, y1)``; NaN rows dropped."""
    if boxes is None:
        return np.zeros((0, 4))
    b = np.asarray(boxes, dtype=np.float64)
    if b.size == 0:
        return np.zeros((0, 4))
    b = b.reshape(-1, 4) if b.ndim == 1 else b
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"expected person boxes of shape (k, 4) as (x0, y0, x1, y1), got {b.shape}")
    return b[np.isfinite(b).all(1)]


def outside_boxes(points: np.ndarray, boxes) -> np.ndarray:
    """True for points ``(x, y)`` that lie in none of the boxes ``(x0, y0, x1, y1)``."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    b = boxes_array(boxes)
    if len(b) == 0 or len(points) == 0:
        return np.ones(len(points), dtype=bool)
    x, y = points[:, :1], points[:, 1:]
    inside = (x >= b[:, 0]) & (x <= b[:, 2]) & (y >= b[:, 1]) & (y <= b[:, 3])
    return ~inside.any(1)


def boxes_mask(shape: Tuple[int, int], boxes) -> Optional[np.ndarray]:
    """uint8 detection mask (255 outside the boxes, 0 inside); None without boxes."""
    b = boxes_array(boxes)
    if len(b) == 0:
        return None
    h, w = shape
    mask = np.full((h, w), 255, np.uint8)
    for x0, y0, x1, y1 in b:
        xa, ya = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
        xb, yb = min(int(np.ceil(x1)) + 1, w), min(int(np.ceil(y1)) + 1, h)
        if xb > xa and yb > ya:
            mask[ya:yb, xa:xb] = 0
    return mask


def make_orb(n_features: int = 500):
    """An ORB detector for frame-to-frame matching: one pyramid level.

    Consecutive frames have no scale change to be invariant to, and a single
    level costs about half of OpenCV's default 8.
    """
    return _cv2().ORB_create(nfeatures=n_features, nlevels=1)


def orb_features(grey: np.ndarray, *, n_features: int = 500, boxes=None, detector=None):
    """ORB keypoints and descriptors outside the person boxes.

    Returns
    -------
    points : ndarray, shape (K, 2), float32
    descriptors : ndarray, shape (K, 32), uint8, or None when K == 0
    """
    orb = detector if detector is not None else make_orb(n_features)
    kps, desc = orb.detectAndCompute(grey, boxes_mask(grey.shape[:2], boxes))
    if not kps or desc is None:
        return np.zeros((0, 2), np.float32), None
    return np.array([k.pt for k in kps], dtype=np.float32), desc


def match_features(prev_points: np.ndarray, prev_desc, points: np.ndarray, desc, *,
                   window: float = 25.0, matcher=None) -> Tuple[np.ndarray, np.ndarray]:
    """Nearest-descriptor matches within a spatial window (IDT ``ComputeMatch``).

    Each current keypoint is matched to the previous keypoint with the
    closest binary descriptor among those less than ``window`` px away in x
    and in y.

    Returns
    -------
    prev_pts, pts : ndarray, shape (M, 2), float32
    """
    cv2 = _cv2()
    empty = np.zeros((0, 2), np.float32)
    if prev_desc is None or desc is None or len(prev_points) == 0 or len(points) == 0:
        return empty, empty
    # |dx| < window and |dy| < window, on integer pixels: (d + w - 1) as unsigned < 2w - 1
    win = int(np.ceil(window))
    mask = None
    for axis in (0, 1):
        d = np.subtract.outer(np.rint(points[:, axis]).astype(np.int16),
                              np.rint(prev_points[:, axis]).astype(np.int16))
        d += np.int16(win - 1)
        ok = d.view(np.uint16) < np.uint16(2 * win - 1)
        mask = ok if mask is None else (mask & ok)
    bf = matcher if matcher is not None else cv2.BFMatcher(cv2.NORM_HAMMING)
    matches = bf.match(desc, prev_desc, mask.view(np.uint8))
    if not matches:
        return empty, empty
    qt = np.array([(m.queryIdx, m.trainIdx) for m in matches], dtype=np.int64)
    return prev_points[qt[:, 1]].astype(np.float32), points[qt[:, 0]].astype(np.float32)


def flow_matches(points: np.ndarray, flow: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Point pairs ``(p, p + flow(p))`` with ``p`` rounded and clamped (IDT ``MatchFromFlow``).

    Returns
    -------
    prev_pts, pts : ndarray, shape (M, 2), float32
    """
    points = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    h, w = flow.shape[:2]
    x = np.clip(np.rint(points[:, 0]), 0, w - 1).astype(np.int64)
    y = np.clip(np.rint(points[:, 1]), 0, h - 1).astype(np.int64)
    prev = np.stack([x, y], axis=1).astype(np.float32)
    return prev, prev + flow[y, x]


def estimate_homography(prev_pts: np.ndarray, pts: np.ndarray, *, ransac_threshold: float = 1.0,
                        min_matches: int = 50, min_inliers: int = 25) -> np.ndarray:
    """Frame-to-frame homography by RANSAC (IDT: > 50 matches, > 25 inliers, else identity).

    Parameters
    ----------
    prev_pts, pts : ndarray, shape (M, 2)
        Matched positions in frames t and t+1 (full resolution).

    Returns
    -------
    ndarray, shape (3, 3), float64
        ``H`` with ``pts ~ H @ prev_pts`` (homogeneous).
    """
    cv2 = _cv2()
    prev_pts = np.asarray(prev_pts, dtype=np.float32).reshape(-1, 2)
    pts = np.asarray(pts, dtype=np.float32).reshape(-1, 2)
    if len(prev_pts) != len(pts):
        raise ValueError(f"expected as many points in both frames, got {len(prev_pts)} and {len(pts)}")
    eye = np.eye(3)
    if len(pts) <= min_matches:
        return eye
    H, inl = cv2.findHomography(prev_pts, pts, cv2.RANSAC, ransac_threshold)
    if H is None or inl is None or int(inl.sum()) <= min_inliers or not np.isfinite(H).all():
        return eye
    return H.astype(np.float64)


def scale_homography(H: np.ndarray, scale: float) -> np.ndarray:
    """The homography acting on scale-``scale`` coordinates (``x_full = scale * x_s``)."""
    d = np.diag([scale, scale, 1.0])
    di = np.diag([1.0 / scale, 1.0 / scale, 1.0])
    return di @ np.asarray(H, dtype=np.float64) @ d


_GRIDS: dict = {}


def _pixel_grid(h: int, w: int) -> np.ndarray:
    key = (h, w)
    g = _GRIDS.get(key)
    if g is None:
        xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        g = np.stack([xs, ys], axis=-1)
        if len(_GRIDS) > 64:
            _GRIDS.clear()
        _GRIDS[key] = g
    return g


def compensate_flow(flow: np.ndarray, H: np.ndarray) -> np.ndarray:
    """Camera-compensated flow: each end point mapped back through the homography.

    ``w(p) = H^-1 (p + f(p)) - p``: the flow between frame t and frame t+1
    warped onto frame t, which is what the reference obtains by warping frame
    t+1 with ``H^-1`` and computing the flow again.  A pure camera motion
    (``p + f(p) = H p``) gives ``w = 0``.

    Parameters
    ----------
    flow : ndarray, shape (H, W, 2), float32
    H : ndarray, shape (3, 3)
        Homography from frame t to frame t+1 in the flow's pixel units
        (:func:`scale_homography` for a pyramid level).

    Returns
    -------
    ndarray, shape (H, W, 2), float32
    """
    cv2 = _cv2()
    h, w = flow.shape[:2]
    grid = _pixel_grid(h, w)
    ends = grid + flow
    Hinv = np.linalg.inv(np.asarray(H, dtype=np.float64))
    back = cv2.perspectiveTransform(ends.reshape(-1, 1, 2), Hinv)
    out = back.reshape(h, w, 2)
    out -= grid
    # The projective denominator is affine in (x, y): positive on the corners
    # of a region twice the frame means finite everywhere flow ends can be.
    cx = np.array([-w / 2, 1.5 * w, -w / 2, 1.5 * w])
    cy = np.array([-h / 2, -h / 2, 1.5 * h, 1.5 * h])
    if not (Hinv[2, 0] * cx + Hinv[2, 1] * cy + Hinv[2, 2] > 1e-6).all():
        np.nan_to_num(out, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return out


def warp_frame(prev_grey: np.ndarray, grey: np.ndarray, H: np.ndarray) -> np.ndarray:
    """Frame t+1 warped onto frame t (IDT ``MyWarpPerspective`` with ``H^-1``).

    ``out(p) = grey(H p)``; pixels whose source falls outside the frame keep
    frame t's value, so they carry no flow.
    """
    cv2 = _cv2()
    h, w = grey.shape[:2]
    out = prev_grey.copy()
    cv2.warpPerspective(grey, np.asarray(H, dtype=np.float64), (w, h), dst=out,
                        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                        borderMode=cv2.BORDER_TRANSPARENT)
    return out
