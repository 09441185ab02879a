"""HOG, HOF and MBH in the trajectory tube, from integral histograms (pure functions).

The descriptor half of feature F2 (thesis 3.3.1; Wang et al. IJCV 2013,
section 4; the IDT release's ``Descriptors.h``).  For every frame and scale:

1. Three (or four) orientation fields are binned per pixel
   (``BuildDescMat``): the image gradient for HOG, the camera-compensated
   flow for HOF, the gradients of its x and y components for MBHx / MBHy.
   Gradients are ``Sobel`` with aperture 1 (``[-1, 0, 1]``).  8 orientation
   bins over 360 degrees, each pixel's magnitude split linearly between the
   two nearest bins; HOF has a 9th "no motion" bin that takes weight 1 for a
   flow shorter than ``min_flow`` = 0.4 px.
2. Their integral histograms give, for any tracked point, the 2 x 2 spatial
   cells of its 32 x 32 patch (``GetRect``: patch centred on the rounded point,
   clamped inside the frame).  Each frame's cell vector gets ``+0.05`` per bin
   (after clamping at 0), L1 normalisation and a square root (``GetDesc``,
   i.e. RootSIFT).
3. :mod:`adl.features.f2` averages these per-frame vectors over the 3 temporal
   cells of 5 frames (``PrintDesc``): HOG 2*2*3*8 = 96, HOF 2*2*3*9 = 108,
   MBHx 96, MBHy 96 values.

Speed.  Step 2 is where the reference spends its time: every frame and
scale it fills ``(H+1) x (W+1) x bins`` integral images in a per-pixel loop.
:func:`tube_cells` has two implementations of it, equal to float32
rounding.  The default (:mod:`adl.features._idt_kernel`, compiled with numba)
sweeps the rows once, building all channels' integral histograms one row
at a time and copying the points' patch corners out of the current row,
so no full-frame integral is ever stored.  The OpenCV path vectorises the
per-pixel binning over all fields of a scale, assembles each bin's weight
plane with masked accumulation, integrates it with ``cv2.integral`` and
reads it at all points' patch corners while still in cache.  The result is
the reference's, pixel for pixel (float32 rounding aside).

Cell order inside a frame vector is the reference's: x cell outer, y cell
inner, then bins.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

N_ORIENTATIONS = 8          # orientation bins of HOG, HOF and MBH
MIN_FLOW = 0.4              # HOF "no motion" threshold (px)
EPSILON = 0.05              # added to each bin before L1 normalisation
PATCH_SIZE = 32
N_XY_CELLS = 2
N_T_CELLS = 3

# bins per descriptor type and frame-level cell
TYPE_BINS = {"hog": 8, "hof": 9, "mbhx": 8, "mbhy": 8}
#: F2's descriptor types in their canonical (output) order: the trajectory
#: shape, then the histograms.  The one definition (F2Config, the Fisher
#: encoder and the pipeline read it from here).
DESCRIPTOR_TYPES = ("traj", "hog", "hof", "mbhx", "mbhy")


def _cv2():
    import cv2
    return cv2


def descriptor_dims(*, hog: bool = True, n_xy_cells: int = N_XY_CELLS,
                    n_t_cells: int = N_T_CELLS, track_length: int = 15) -> Dict[str, int]:
    """Dimensions of each descriptor type (trajectory shape, HOG, HOF, MBHx, MBHy).

    With the reference parameters: ``traj`` 30, ``hog`` 96, ``hof`` 108,
    ``mbhx`` 96, ``mbhy`` 96 (426 in all).
    """
    cells = n_xy_cells * n_xy_cells * n_t_cells
    dims = {"traj": 2 * track_length}
    for t in histogram_types(hog):
        dims[t] = cells * TYPE_BINS[t]
    return dims


def histogram_types(hog: bool = True) -> Tuple[str, ...]:
    """The histogram descriptor types computed, in output order."""
    return tuple(t for t in DESCRIPTOR_TYPES if t in TYPE_BINS and (hog or t != "hog"))


# --------------------------------------------------------------------------- per pixel
def orientation_bins(dx: np.ndarray, dy: np.ndarray, *, n_bins: int = N_ORIENTATIONS,
                     min_flow: Optional[float] = None):
    """Per-pixel linear orientation binning (the inner loop of IDT ``BuildDescMat``).

    The angle ``atan2(dy, dx)`` in [0, 360) degrees (image axes, y down) is
    mapped to ``f = angle * n_bins / 360``; the magnitude is split between bin
    ``floor(f)`` (weight ``1 - frac(f)``) and the next bin, circularly.  With
    ``min_flow`` (HOF), a vector of magnitude <= ``min_flow`` instead puts
    weight 1 in the extra bin ``n_bins``.

    Parameters
    ----------
    dx, dy : ndarray, same shape
    n_bins : int
        Orientation bins.
    min_flow : float, optional
        Enables the "no motion" bin.

    Returns
    -------
    hist : ndarray, shape dx.shape + (n_bins,) or (n_bins + 1,), float32
        The per-pixel histogram (two non-zero bins at most).
    """
    dx = np.asarray(dx, dtype=np.float32)
    dy = np.asarray(dy, dtype=np.float32)
    if dx.shape != dy.shape:
        raise ValueError(f"expected dx and dy of the same shape, got {dx.shape} and {dy.shape}")
    b0, b1, w0, w1, zero = _split_bins(dx.ravel(), dy.ravel(), n_bins, min_flow)
    n = b0.size
    out = np.zeros((n, n_bins + (1 if min_flow is not None else 0)), np.float32)
    rows = np.arange(n)
    out[rows, b1] += w1
    out[rows, b0] += w0
    if zero is not None:
        out[zero, :] = 0.0
        out[zero, n_bins] = 1.0
    return out.reshape(dx.shape + (out.shape[1],))


def _split_bins(dx, dy, n_bins, min_flow):
    cv2 = _cv2()
    mag, ang = cv2.cartToPolar(dx.reshape(1, -1), dy.reshape(1, -1), angleInDegrees=True)
    mag, ang = mag.ravel(), ang.ravel()
    f = ang * np.float32(n_bins / 360.0)
    frac, whole = np.modf(f)
    b0 = whole.astype(np.int64) % n_bins
    b1 = (b0 + 1) % n_bins
    w1 = frac * mag
    w0 = mag - w1
    zero = (mag <= min_flow) if min_flow is not None else None
    return b0, b1, w0, w1, zero


# --------------------------------------------------------------------------- fields
_SCRATCH = threading.local()


def _buffer(name: str, shape: tuple, dtype=np.float32) -> np.ndarray:
    """A reusable scratch array (per thread): fresh large arrays cost page faults."""
    store = getattr(_SCRATCH, "store", None)
    if store is None:
        store = _SCRATCH.store = {}
    key = (name, shape, np.dtype(dtype).str)
    buf = store.get(key)
    if buf is None:
        if len(store) > 256:         # ~10 buffers per pyramid level are in use
            store.clear()
        buf = store[key] = np.empty(shape, dtype)
    return buf


def type_channels(types: Sequence[str]) -> Dict[str, slice]:
    """Channel range of each histogram type in the planar layout (HOG 8, HOF 9, MBH 8 each)."""
    out, o = {}, 0
    for t in types:
        out[t] = slice(o, o + TYPE_BINS[t])
        o += TYPE_BINS[t]
    return out


def _polar_fields(grey: Optional[np.ndarray], flow: np.ndarray, hog: bool, min_flow: float):
    """Magnitude and angle (degrees) of every orientation field of one frame and scale.

    Returns ``(types, mag, ang, zero, hof)``: ``mag``, ``ang`` of shape
    (F, H, W) float32 scratch buffers in :func:`histogram_types` order
    (HOG's image gradient, the flow, the gradients of its x and y
    components), HOF's magnitude already zero at or below ``min_flow``;
    ``zero`` (H, W) is HOF's "no motion" weight (1 there, else 0) and
    ``hof`` the HOF field's index (``None`` without HOF).
    """
    cv2 = _cv2()
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"expected a flow of shape (H, W, 2), got {flow.shape}")
    h, w = flow.shape[:2]
    if hog and (grey is None or grey.shape[:2] != (h, w)):
        got = None if grey is None else grey.shape
        raise ValueError(f"expected a grey frame of shape {(h, w)} for HOG, got {got}")
    types = histogram_types(hog)
    nf = len(types)
    fx = _buffer("fx", (nf, h, w))
    fy = _buffer("fy", (nf, h, w))
    k = 0
    if hog:
        cv2.Sobel(grey, cv2.CV_32F, 1, 0, dst=fx[0], ksize=1)
        cv2.Sobel(grey, cv2.CV_32F, 0, 1, dst=fy[0], ksize=1)
        k = 1
    np.copyto(fx[k], flow[..., 0])
    np.copyto(fy[k], flow[..., 1])
    for j, comp in enumerate((fx[k], fy[k])):        # MBHx, MBHy
        cv2.Sobel(comp, cv2.CV_32F, 1, 0, dst=fx[k + 1 + j], ksize=1)
        cv2.Sobel(comp, cv2.CV_32F, 0, 1, dst=fy[k + 1 + j], ksize=1)
    mag = _buffer("mag", (nf * h, w))
    ang = _buffer("ang", (nf * h, w))
    cv2.cartToPolar(fx.reshape(nf * h, w), fy.reshape(nf * h, w), magnitude=mag, angle=ang,
                    angleInDegrees=True)
    mag = mag.reshape(nf, h, w)
    ang = ang.reshape(nf, h, w)
    hof = k if "hof" in types else None
    zero = None
    if hof is not None:                  # a short flow only counts in "no motion"
        zero = _buffer("zero", (h, w))
        cv2.threshold(mag[hof], min_flow, 1.0, cv2.THRESH_BINARY_INV, dst=zero)
        cv2.threshold(mag[hof], min_flow, 0.0, cv2.THRESH_TOZERO, dst=mag[hof])
    return types, mag, ang, zero, hof


def _bin_planes(grey: Optional[np.ndarray], flow: np.ndarray, hog: bool, min_flow: float):
    """Yield ``(channel, plane)``: each bin's per-pixel weight, shape (H, W) float32.

    The plane is a scratch buffer, valid until the next item.  Channels:
    HOG 8, HOF 8 + "no motion", MBHx 8, MBHy 8 (in :func:`histogram_types` order).
    """
    cv2 = _cv2()
    types, mag, ang, zero, hof = _polar_fields(grey, flow, hog, min_flow)
    nf, h, w = mag.shape
    ang *= np.float32(N_ORIENTATIONS / 360.0)
    whole = _buffer("whole", (nf, h, w))
    np.floor(ang, out=whole)
    bin0 = _buffer("bin0", (nf, h, w), np.uint8)
    np.copyto(bin0, whole, casting="unsafe")
    bin0 &= N_ORIENTATIONS - 1           # an angle rounded up to 360 degrees is bin 0 (frac 0)
    ang -= whole
    ang *= mag                           # weight of the next bin
    mag -= ang                           # weight of bin0
    w0, w1 = mag, ang
    plane = _buffer("plane", (h, w))
    flat_bins = bin0.reshape(nf * h, w)
    masks = [cv2.compare(flat_bins, b, cv2.CMP_EQ).reshape(nf, h, w) for b in range(N_ORIENTATIONS)]
    c = 0
    for f, t in enumerate(types):
        for b in range(N_ORIENTATIONS):
            plane.fill(0.0)
            cv2.accumulate(w0[f], plane, mask=masks[b][f])
            cv2.accumulate(w1[f], plane, mask=masks[b - 1][f])
            yield c, plane
            c += 1
        if t == "hof":
            yield c, zero
            c += 1


@dataclass(frozen=True)
class IntegralHistogram:
    """Integral histograms of one frame at one scale, channel-planar.

    Attributes
    ----------
    integral : ndarray, shape (C, H + 1, W + 1), float32
        ``integral[c, y, x]`` sums channel ``c`` over pixels ``[0, y) x [0, x)``.
    width, height : int
        Image size at this scale.
    types : tuple of str
        Histogram types, in channel order; ``slices[t]`` selects type ``t``.
    slices : dict str -> slice
    """

    integral: np.ndarray
    width: int
    height: int
    types: Tuple[str, ...]
    slices: Dict[str, slice]


def frame_integral(grey: Optional[np.ndarray], flow: np.ndarray, *, hog: bool = True,
                   min_flow: float = MIN_FLOW) -> IntegralHistogram:
    """Integral histograms of HOG (on ``grey``), HOF and MBH (on ``flow``) for one frame and scale.

    IDT ``HogComp``, ``HofComp`` and ``MbhComp``: every bin of every field
    is a float32 plane (each pixel's weight in that bin, as
    :func:`orientation_bins`), integrated with ``cv2.integral``.

    Parameters
    ----------
    grey : ndarray, shape (H, W), uint8, or None when ``hog`` is False
        Frame t at this scale.
    flow : ndarray, shape (H, W, 2), float32
        Camera-compensated flow from t to t+1 at this scale.
    hog : bool
        Include HOG.
    min_flow : float
        HOF "no motion" threshold.

    Returns
    -------
    IntegralHistogram
        Channels: HOG 8, HOF 8 + "no motion", MBHx 8, MBHy 8 (in that order).
    """
    cv2 = _cv2()
    types = histogram_types(hog)
    h, w = flow.shape[:2]
    C = sum(TYPE_BINS[t] for t in types)
    integral = np.empty((C, h + 1, w + 1), np.float32)
    for c, plane in _bin_planes(grey, flow, hog, min_flow):
        cv2.integral(plane, sum=integral[c], sdepth=cv2.CV_32F)
    return IntegralHistogram(integral, w, h, types, type_channels(types))


# --------------------------------------------------------------------------- per point
def tube_anchors(points: np.ndarray, width: int, height: int, *,
                 patch: int = PATCH_SIZE) -> Tuple[np.ndarray, np.ndarray]:
    """Top-left corner of each point's patch (IDT ``GetRect``).

    ``x0 = clip(round(x) - patch//2, 0, width - patch)``, same for y.

    Returns
    -------
    x0, y0 : ndarray, shape (N,), int64
    """
    points = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    x0 = np.clip(np.rint(points[:, 0]).astype(np.int64) - patch // 2, 0, max(width - patch, 0))
    y0 = np.clip(np.rint(points[:, 1]).astype(np.int64) - patch // 2, 0, max(height - patch, 0))
    return x0, y0


_MAX_MAP = 30000     # cv2.remap wants images under 32767 px a side


def _corner_maps(points, width, height, patch, n_cells):
    if patch % n_cells:
        raise ValueError(f"expected the patch side {patch} to be a multiple of n_cells {n_cells}")
    x0, y0 = tube_anchors(points, width, height, patch=patch)
    steps = np.arange(n_cells + 1, dtype=np.float32) * (patch // n_cells)
    k = n_cells + 1
    # (y corner, x corner, point)
    map_y = np.repeat(y0.astype(np.float32)[None, :] + steps[:, None], k, axis=0)
    map_x = np.tile(x0.astype(np.float32)[None, :] + steps[:, None], (k, 1))
    return map_x, map_y


def _gather(integral_plane, map_x, map_y, out):
    """``out[j, i] = integral_plane[map_y[j, i], map_x[j, i]]`` (nearest remap as a gather)."""
    cv2 = _cv2()
    n = map_x.shape[1]
    for s in range(0, n, _MAX_MAP):
        e = min(n, s + _MAX_MAP)
        if s == 0 and e == n:
            cv2.remap(integral_plane, map_x, map_y, cv2.INTER_NEAREST, dst=out)
        else:
            out[:, s:e] = cv2.remap(integral_plane, np.ascontiguousarray(map_x[:, s:e]),
                                    np.ascontiguousarray(map_y[:, s:e]), cv2.INTER_NEAREST)


def _normalise_cells(corners: np.ndarray, slices: Dict[str, slice], n_cells: int,
                     epsilon: float) -> np.ndarray:
    """Cell sums from integral corners, then IDT ``GetDesc``'s normalisation.

    corners : (C, k*k, N) with k = n_cells + 1 -> returns (C, n_cells, n_cells, N):
    ``sqrt(v / sum(v))`` per type and point, ``v = max(cell sum, 0) + epsilon``.
    """
    C, _, n = corners.shape
    k = n_cells + 1
    c = corners.reshape(C, k, k, n)
    cells = np.empty((C, n_cells, n_cells, n), np.float32)
    np.subtract(c[:, 1:, 1:], c[:, :-1, 1:], out=cells)
    cells -= c[:, 1:, :-1]
    cells += c[:, :-1, :-1]                                      # (C, y, x, N)
    np.maximum(cells, 0.0, out=cells)
    eps = np.float32(epsilon)
    for sl in slices.values():
        part = cells[sl].reshape(-1, n)
        inv = part.sum(0)
        inv += eps * part.shape[0]
        np.divide(1.0, inv, out=inv)
        part *= inv
        inv *= eps
        part += inv                                              # (v + eps) / sum(v + eps)
    np.sqrt(cells, out=cells)
    return cells


BACKENDS = ("auto", "numba", "opencv")
BACKEND_ENV = "ADL_IDT_BACKEND"


def resolve_backend(backend: Optional[str] = None) -> str:
    """``"numba"`` or ``"opencv"``: the implementation :func:`tube_cells` runs.

    ``None`` reads ``$ADL_IDT_BACKEND`` (default ``"auto"``); ``"auto"`` is
    numba when it imports, else OpenCV.
    """
    if backend is None:
        backend = os.environ.get(BACKEND_ENV, "auto") or "auto"
    if backend not in BACKENDS:
        raise ValueError(f"unknown descriptor backend {backend!r} (from the argument or "
                         f"${BACKEND_ENV}); expected one of {', '.join(BACKENDS)}")
    if backend == "opencv":
        return backend
    try:
        from . import _idt_kernel  # noqa: F401  (imports numba)
    except ImportError as exc:
        if backend == "numba":
            raise ImportError(f"the numba descriptor backend needs numba ({exc}); install it "
                              f"(pip install numba) or set {BACKEND_ENV}=opencv") from exc
        return "opencv"
    return "numba"


def tube_cells(grey: Optional[np.ndarray], flow: np.ndarray, points: np.ndarray, *,
               hog: bool = True, min_flow: float = MIN_FLOW, patch: int = PATCH_SIZE,
               n_cells: int = N_XY_CELLS, epsilon: float = EPSILON,
               backend: Optional[str] = None, point_major: bool = False):
    """Normalised per-frame cell histograms of every point's patch, from the fields directly.

    What :func:`frame_integral` + :func:`tube_descriptors` compute, in one
    call per frame and scale.  Two implementations, equal to float32
    rounding (see :mod:`adl.features._idt_kernel`):

    * ``"numba"`` (the default when numba imports): one compiled sweep over
      the rows builds all channels' integral histograms a row at a time and
      reads the patch corners from the current row (about twice as fast);
    * ``"opencv"``: each bin's integral image (``cv2.integral``) is read at
      the points' patch corners right after it is computed, while it is in
      cache, and all arithmetic runs on channel-planar arrays.

    Parameters
    ----------
    backend : {"auto", "numba", "opencv"}, optional
        Default: ``$ADL_IDT_BACKEND``, else ``"auto"``
        (:func:`resolve_backend`).  Frames smaller than the patch always
        take the OpenCV path.
    point_major : bool
        Return the points first: shape (N, C, n_cells, n_cells).

    Returns
    -------
    cells : ndarray, shape (C, n_cells, n_cells, N), float32
        Axes: channel, y cell, x cell, point (point first with ``point_major``).
    slices : dict str -> slice
        Channels of each type.
    """
    cv2 = _cv2()
    types = histogram_types(hog)
    slices = type_channels(types)
    h, w = flow.shape[:2]
    points = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    C = sum(TYPE_BINS[t] for t in types)
    k = n_cells + 1
    n = len(points)
    if patch % n_cells:
        raise ValueError(f"expected the patch side {patch} to be a multiple of n_cells {n_cells}")
    if n == 0:
        shape = (0, C, n_cells, n_cells) if point_major else (C, n_cells, n_cells, 0)
        return np.zeros(shape, np.float32), slices
    if h >= patch and w >= patch and resolve_backend(backend) == "numba":
        acc = np.zeros((n, 1, n_cells, n_cells, C), np.float32)
        _tube_cells_numba(grey, flow, points, hog, min_flow, patch, n_cells, epsilon, slices,
                          acc, np.arange(n, dtype=np.int64), np.zeros(n, np.int64))
        # (N, y, x, C) -> (N, C, y, x), or (C, y, x, N)
        order = (0, 3, 1, 2) if point_major else (3, 1, 2, 0)
        return np.ascontiguousarray(acc.reshape(n, n_cells, n_cells, C).transpose(order)), slices
    map_x, map_y = _corner_maps(points, w, h, patch, n_cells)
    corners = np.empty((C, k * k, n), np.float32)
    integ = _buffer("integral", (h + 1, w + 1))
    direct = n <= _MAX_MAP
    for c, plane in _bin_planes(grey, flow, hog, min_flow):
        cv2.integral(plane, sum=integ, sdepth=cv2.CV_32F)
        if direct:
            cv2.remap(integ, map_x, map_y, cv2.INTER_NEAREST, dst=corners[c])
        else:
            _gather(integ, map_x, map_y, corners[c])
    cells = _normalise_cells(corners, slices, n_cells, epsilon)
    return (np.ascontiguousarray(np.moveaxis(cells, -1, 0)) if point_major else cells), slices


def _tube_cells_numba(grey, flow, points, hog, min_flow, patch, n_cells, epsilon, slices,
                      acc, slot, tcell):
    from ._idt_kernel import tube_cells_kernel
    types, mag, ang, zero, hof = _polar_fields(grey, flow, hog, min_flow)
    bounds = np.array([(slices[t].start, slices[t].stop) for t in types], np.int64)
    tube_cells_kernel(mag, ang, zero if zero is not None else mag[0], -1 if hof is None else hof,
                      np.ascontiguousarray(points[:, 0]), np.ascontiguousarray(points[:, 1]),
                      patch, n_cells, np.ascontiguousarray(bounds[:, 0]),
                      np.ascontiguousarray(bounds[:, 1]), float(epsilon), acc, slot, tcell)


def accumulate_tube_cells(grey: Optional[np.ndarray], flow: np.ndarray, points: np.ndarray,
                          acc: np.ndarray, slot: np.ndarray, tcell: np.ndarray, *,
                          hog: bool = True, min_flow: float = MIN_FLOW,
                          patch: int = PATCH_SIZE, n_cells: int = N_XY_CELLS,
                          epsilon: float = EPSILON, backend: Optional[str] = None) -> None:
    """Add each point's :func:`tube_cells` to ``acc[slot[p], tcell[p]]``, in place.

    F2's accumulation of the per-frame cells over a temporal cell
    (``PrintDesc`` sums, then divides by the count).  The compiled backend
    adds the cells as it normalises them; the OpenCV one adds
    :func:`tube_cells`' point-major result.  The sums are the same float32
    additions in both.

    Parameters
    ----------
    acc : ndarray, shape (M, T, n_cells, n_cells, C), float32
        Accumulators (C-contiguous; y cell, x cell, channel), e.g. a pool of
        M trajectories with T temporal cells each
        (:func:`cells_to_descriptor` with ``channels_last``).
    slot, tcell : ndarray, shape (N,), int
        Row of ``acc`` and temporal cell of each point; slots must be
        distinct, and ``0 <= tcell < T``.
    """
    points = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    slot = np.asarray(slot, dtype=np.int64)
    tcell = np.asarray(tcell, dtype=np.int64)
    n = len(points)
    if slot.shape != (n,) or tcell.shape != (n,):
        raise ValueError(f"expected {n} slots and temporal cells, got {slot.shape} and "
                         f"{tcell.shape}")
    if not n:
        return
    if slot.min() < 0 or slot.max() >= acc.shape[0] or tcell.min() < 0 \
            or tcell.max() >= acc.shape[1]:
        raise ValueError(f"expected slots in [0, {acc.shape[0]}) and temporal cells in "
                         f"[0, {acc.shape[1]}), got slots {slot.min()}..{slot.max()} and "
                         f"cells {tcell.min()}..{tcell.max()}")
    h, w = flow.shape[:2]
    types = histogram_types(hog)
    C = sum(TYPE_BINS[t] for t in types)
    if acc.dtype != np.float32 or acc.ndim != 5 or acc.shape[2:] != (n_cells, n_cells, C) \
            or not acc.flags.c_contiguous:
        raise ValueError(f"expected C-contiguous float32 accumulators of shape (M, T, "
                         f"{n_cells}, {n_cells}, {C}), got {acc.dtype} {acc.shape}")
    if h >= patch and w >= patch and patch % n_cells == 0 \
            and resolve_backend(backend) == "numba":
        _tube_cells_numba(grey, flow, points, hog, min_flow, patch, n_cells, epsilon,
                          type_channels(types), acc, slot, tcell)
        return
    cells, _ = tube_cells(grey, flow, points, hog=hog, min_flow=min_flow, patch=patch,
                          n_cells=n_cells, epsilon=epsilon, backend="opencv", point_major=True)
    acc[slot, tcell] += cells.transpose(0, 2, 3, 1)


def cells_to_descriptor(cells: np.ndarray, sl: slice, *, point_major: bool = False,
                        channels_last: bool = False) -> np.ndarray:
    """One type's channels of planar cells in the reference order.

    Parameters
    ----------
    cells : ndarray, shape ([n_t,] C, y, x, N), or (N, [n_t,] C, y, x) with
        ``point_major``, or (N, [n_t,] y, x, C) with ``channels_last``
        (:func:`accumulate_tube_cells`' layout; implies ``point_major``)
    sl : slice
        The type's channels.

    Returns
    -------
    ndarray, shape (N, [n_t *] x * y * bins)
        Per temporal cell: x cell, y cell, bin (IDT ``GetDesc`` / ``PrintDesc``).
    """
    if channels_last:
        part = cells[..., sl]
        lead = part.ndim - 3                       # N and [t]
        # (N, [t], y, x, bins) -> (N, [t], x, y, bins)
        order = tuple(range(lead)) + (lead + 1, lead, lead + 2)
        return np.ascontiguousarray(part.transpose(order)).reshape(len(part), -1)
    if point_major:
        part = cells[..., sl, :, :]
        lead = part.ndim - 3                       # N and [t]
        # (N, [t], bins, y, x) -> (N, [t], x, y, bins)
        order = tuple(range(lead)) + (lead + 2, lead + 1, lead)
        return np.ascontiguousarray(part.transpose(order)).reshape(len(part), -1)
    part = cells[..., sl, :, :, :]
    lead = part.ndim - 4
    # ([t], bins, y, x, N) -> (N, [t], x, y, bins)
    order = (part.ndim - 1,) + tuple(range(lead)) + (lead + 2, lead + 1, lead)
    n = part.shape[-1]
    return np.ascontiguousarray(part.transpose(order)).reshape(n, -1)


def tube_descriptors(block: IntegralHistogram, points: np.ndarray, *, patch: int = PATCH_SIZE,
                     n_cells: int = N_XY_CELLS, epsilon: float = EPSILON) -> Dict[str, np.ndarray]:
    """Normalised per-frame descriptors of every point's patch (IDT ``GetDesc``).

    Parameters
    ----------
    block : IntegralHistogram
        From :func:`frame_integral`.
    points : ndarray, shape (N, 2)
        ``(x, y)`` at frame t, at this scale.
    patch : int
        Patch side (32 px).
    n_cells : int
        Spatial cells per side (2).
    epsilon : float
        Added to each bin before the L1 normalisation.

    Returns
    -------
    dict str -> ndarray, shape (N, n_cells * n_cells * bins), float32
        One entry per type of ``block.types``; rows are
        ``sqrt(v / sum(v))`` with ``v = max(cell sums, 0) + epsilon`` in the
        order x cell, y cell, bin.
    """
    points = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    C = block.integral.shape[0]
    k = n_cells + 1
    map_x, map_y = _corner_maps(points, block.width, block.height, patch, n_cells)
    corners = np.empty((C, k * k, len(points)), np.float32)
    if len(points):
        for c in range(C):
            _gather(block.integral[c], map_x, map_y, corners[c])
    cells = _normalise_cells(corners, block.slices, n_cells, epsilon)
    return {t: cells_to_descriptor(cells, block.slices[t]) for t in block.types}


def pool_temporal(frame_descriptors: np.ndarray, *, n_t_cells: int = N_T_CELLS) -> np.ndarray:
    """Average per-frame descriptors over temporal cells (IDT ``PrintDesc``).

    Parameters
    ----------
    frame_descriptors : ndarray, shape (N, L, d)
        A trajectory's per-frame vectors (``L`` = trajectory length).

    Returns
    -------
    ndarray, shape (N, n_t_cells * d), float32
        Cell ``i`` averages frames ``[i*s, (i+1)*s)`` with
        ``s = L // n_t_cells``; frames beyond ``n_t_cells * s`` are unused,
        as in the reference.
    """
    fd = np.asarray(frame_descriptors, dtype=np.float32)
    if fd.ndim != 3:
        raise ValueError(f"expected per-frame descriptors of shape (N, L, d), got {fd.shape}")
    n, L, d = fd.shape
    s = L // n_t_cells
    if s < 1:
        raise ValueError(f"expected a trajectory length >= n_t_cells = {n_t_cells}, got {L}")
    pooled = fd[:, : s * n_t_cells].reshape(n, n_t_cells, s, d).mean(2)
    return pooled.reshape(n, n_t_cells * d)


# --------------------------------------------------------------------------- mirroring
def mirror_bin_map(kind: str, n_bins: int = N_ORIENTATIONS) -> np.ndarray:
    """Where each orientation bin goes when the video is flipped left-right.

    Bin ``b`` is centred on the angle ``b * 360 / n_bins`` (image axes, y
    down).  A flip maps a vector ``(a, b)`` of the image gradient (HOG), the
    flow (HOF) or the gradient of the flow's y component (MBHy) to
    ``(-a, b)``: angle ``180 - theta``, bin ``(n/2 - b) mod n``.  The gradient
    of the flow's x component (MBHx) becomes ``(a, -b)`` (the x component
    and the x derivative both change sign): angle ``-theta``, bin ``-b mod n``.
    HOF's "no motion" bin stays.  The linear split between neighbouring bins
    is preserved exactly, since bin centres map onto bin centres.
    """
    b = np.arange(n_bins)
    if kind in ("hog", "hof", "mbhy"):
        out = (n_bins // 2 - b) % n_bins
    elif kind == "mbhx":
        out = (-b) % n_bins
    else:
        raise ValueError(f"unknown histogram type {kind!r}; expected hog, hof, mbhx or mbhy")
    if kind == "hof":
        out = np.append(out, n_bins)
    return out


def mirror_descriptors(descriptors, *, n_xy_cells: int = N_XY_CELLS,
                       n_t_cells: int = N_T_CELLS) -> Dict[str, np.ndarray]:
    """The descriptors a left-right flipped video would give (up to the pixel grid).

    Trajectory shape: ``dx`` changes sign.  HOG/HOF/MBH: the x cells are
    swapped and the bins permuted (:func:`mirror_bin_map`); the per-frame
    normalisation is over all cells and bins, so it commutes with this
    permutation.  Other keys (``positions``) are returned unchanged.

    Parameters
    ----------
    descriptors : mapping str -> ndarray (N, d)
        As returned by :func:`adl.features.f2.extract_f2` (any subset of types).

    Returns
    -------
    dict str -> ndarray
        Same keys, shapes and dtypes.
    """
    out = {}
    for t, a in descriptors.items():
        a = np.asarray(a)
        if t == "traj":
            m = a.copy()
            m[:, 0::2] *= -1
        elif t in TYPE_BINS:
            bins = TYPE_BINS[t]
            expect = n_t_cells * n_xy_cells * n_xy_cells * bins
            if a.ndim != 2 or a.shape[1] != expect:
                raise ValueError(f"expected {t} descriptors of shape (N, {expect}), got {a.shape}")
            v = a.reshape(len(a), n_t_cells, n_xy_cells, n_xy_cells, bins)   # t, x, y, bin
            m = np.ascontiguousarray(v[:, :, ::-1][..., mirror_bin_map(t, N_ORIENTATIONS)])
            m = m.reshape(a.shape)
        else:
            m = a
        out[t] = m
    return out
