"""Figures of the deep stage's attention (thesis ch. 4 and 5).

Pure plotting functions: each takes numpy arrays (never a model), validates
them, draws one figure and writes one PNG atomically
(:func:`adl.data.atomic.atomic_write_bytes`: a reader never sees half a
file), creating the parent folder, and returns the PNG's path.

- :func:`plot_part_weights` -- P-I3D's body-part attention (section 4.3,
  Eq. 4.6; Fig. 4.12/4.14): mean weight of each part per class;
- :func:`plot_spatial_attention` -- Separable STA's / VPN's spatial attention
  (Eq. 4.11, Eq. 4.15) blended over the frames inside the clip's crop box,
  the temporal attention as a bar strip below (Fig. 4.16, Fig. 4.19);
- :func:`blend_attention` -- the heat-map blend of one frame (what
  :func:`plot_spatial_attention` draws), as an image array;
- :func:`plot_joint_activations` -- VPN's GCN joint activations on the
  skeleton (section 4.5, Fig. 4.18);
- :func:`plot_temporal_attention` -- the Temporal Model's segment and
  granularity attention of one video (Eq. 5.2, Eq. 5.6; Fig. 5.10).

The confusion matrix is :func:`adl.deep.evaluate.plot_confusion`'s.

matplotlib is imported inside the functions (importing this module costs
nothing) and only through :class:`matplotlib.figure.Figure` with an Agg
canvas: no pyplot, so no global figure registry, no backend switch and no
figure left open; each figure is cleared once written.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Mapping, Optional, Sequence, Tuple

import numpy as np

from adl.data.atomic import atomic_write_bytes

from .clips import PART_STREAMS

__all__ = ["PART_NAMES", "blend_attention", "plot_part_weights", "plot_spatial_attention",
           "plot_joint_activations", "plot_temporal_attention"]

#: The P-I3D streams' display names, in :data:`adl.deep.clips.PART_STREAMS` order.
PART_NAMES: Tuple[str, ...] = tuple(s.replace("_", " ") for s in PART_STREAMS)

_SPREADS = ("std", "sem", "none")
_UPSAMPLINGS = ("bilinear", "nearest")
_NORMALISATIONS = ("max", "minmax")


# ----------------------------------------------------------------------------
# validation and output helpers
# ----------------------------------------------------------------------------

def _float_array(x, name: str) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"expected {name} as a numeric array, got {type(x).__name__}: "
                         f"{exc}") from exc
    if a.size and not np.all(np.isfinite(a)):
        raise ValueError(f"expected finite values in {name}, found "
                         f"{int(np.sum(~np.isfinite(a)))} NaN/inf")
    return a


def _check_unit_range(a: np.ndarray, name: str) -> None:
    if a.size and (a.min() < 0.0 or a.max() > 1.0):
        raise ValueError(f"expected {name} in [0, 1], found values in "
                         f"[{a.min():.4g}, {a.max():.4g}]")


def _check_softmax(a: np.ndarray, name: str, atol: float) -> None:
    """``a`` (..., n): weights in [0, 1] whose last axis sums to 1 within ``atol``."""
    _check_unit_range(a, name)
    sums = a.sum(axis=-1)
    worst = float(np.max(np.abs(sums - 1.0))) if sums.size else 0.0
    if worst > atol:
        raise ValueError(f"expected softmax weights in {name} (each summing to 1 within "
                         f"{atol:g}), found a sum off by {worst:.4g}")


def _check_choice(value: str, name: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"expected {name} one of {', '.join(map(repr, choices))}, "
                         f"got {value!r}")


def _new_figure(width: float, height: float, layout: Optional[str] = None):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _write_png(fig, path, dpi: int) -> Path:
    """Render ``fig`` to PNG bytes, write them atomically to ``path`` (parent
    folders created), then clear the figure."""
    path = Path(path)
    try:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        fig.clear()
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(path, buf.getvalue())


def _colormap(name: str):
    import matplotlib

    try:
        return matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(f"expected a matplotlib colormap name, got {name!r}") from None


# ----------------------------------------------------------------------------
# 1. P-I3D body-part attention
# ----------------------------------------------------------------------------

def plot_part_weights(weights, labels, classes: Sequence[str], path, *,
                      title: Optional[str] = None, spread: str = "std", atol: float = 1e-2,
                      dpi: int = 100) -> Path:
    """P-I3D's body-part attention per class (thesis 4.3, Eq. 4.6; Fig. 4.12).

    A grouped bar chart: for every class with at least one test sample, the
    mean attention weight of the left hand, the right hand and the full body
    over that class's samples, with the spread as error bars; a dashed line
    marks the uniform weight 1/3.  Classes without samples are left out (the
    subtitle counts them).

    Parameters
    ----------
    weights : array_like, shape (N, 3)
        Softmax attention weights (Eq. 4.6) of N test clips or videos, columns
        in :data:`PART_NAMES` order (left hand, right hand, full body); each
        in [0, 1], each row summing to 1 within ``atol``.
    labels : array_like of int, shape (N,)
        Class index of each row, in ``[0, len(classes))``.
    classes : sequence of str, length C
        Class names.
    path : str or Path
        The PNG written.
    title : str, optional
    spread : {"std", "sem", "none"}
        Error bars: the standard deviation over the class's samples, the
        standard error of the mean, or none.
    atol : float
        Tolerance of the row sums.
    dpi : int

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        On shapes, ranges, labels outside the classes, or an unknown ``spread``.
    """
    _check_choice(spread, "spread", _SPREADS)
    w = _float_array(weights, "weights")
    if w.ndim != 2 or w.shape[1] != len(PART_NAMES) or w.shape[0] == 0:
        raise ValueError(f"expected weights of shape (N, {len(PART_NAMES)}) with N >= 1 "
                         f"({', '.join(PART_NAMES)}), got {w.shape}")
    _check_softmax(w, "weights", atol)
    y = np.asarray(labels)
    if y.shape != (w.shape[0],) or (y.size and not np.issubdtype(y.dtype, np.integer)):
        raise ValueError(f"expected integer labels of shape ({w.shape[0]},), got "
                         f"{y.dtype} {y.shape}")
    classes = [str(c) for c in classes]
    if not classes:
        raise ValueError("expected at least one class name, got none")
    if y.min() < 0 or y.max() >= len(classes):
        raise ValueError(f"expected labels in [0, {len(classes)}) (one per class name), "
                         f"found values in [{y.min()}, {y.max()}]")

    shown = [c for c in range(len(classes)) if np.any(y == c)]
    counts = np.array([int(np.sum(y == c)) for c in shown])
    means = np.stack([w[y == c].mean(axis=0) for c in shown])
    if spread == "none":
        err = None
    else:
        err = np.stack([w[y == c].std(axis=0) for c in shown])
        if spread == "sem":
            err = err / np.sqrt(counts)[:, None]

    n = len(shown)
    fig = _new_figure(max(6.0, 0.55 * n + 2.0), 4.2)
    ax = fig.add_subplot(111)
    x = np.arange(n)
    width = 0.8 / len(PART_NAMES)
    colours = ("tab:blue", "tab:orange", "tab:green")
    for p, (name, colour) in enumerate(zip(PART_NAMES, colours)):
        ax.bar(x + (p - 1) * width, means[:, p], width, label=name, color=colour,
               yerr=None if err is None else err[:, p], capsize=2,
               error_kw={"elinewidth": 0.8, "ecolor": "0.25"})
    ax.axhline(1.0 / len(PART_NAMES), color="0.4", linestyle="--", linewidth=0.8,
               label="uniform (1/3)")
    ax.set_xticks(x)
    ax.set_xticklabels([f"{classes[c]} (n={k})" for c, k in zip(shown, counts)],
                       rotation=60 if n > 4 else 0, ha="right" if n > 4 else "center",
                       fontsize=8)
    top = float(np.max(means + (0 if err is None else err)))
    ax.set_ylim(0.0, min(1.05, max(0.5, top * 1.1)))
    ax.set_ylabel("mean attention weight")
    missing = len(classes) - n
    sub = f"{w.shape[0]} samples, error bars: {spread}"
    if missing:
        sub += f"; {missing} class(es) without samples not shown"
    ax.set_title((title + "\n" if title else "P-I3D body-part attention (Eq. 4.6)\n") + sub,
                 fontsize=9)
    ax.legend(fontsize=8, ncol=4, loc="upper right")
    fig.tight_layout()
    return _write_png(fig, path, dpi)


# ----------------------------------------------------------------------------
# 2. spatial (and temporal) attention on the frames
# ----------------------------------------------------------------------------

def _check_frame(frame: np.ndarray, name: str) -> None:
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3 or 0 in frame.shape:
        raise ValueError(f"expected {name} as uint8 RGB of shape (H, W, 3), got "
                         f"{frame.dtype} {frame.shape}")


def _check_box(box: np.ndarray, width: int, height: int, name: str) -> None:
    x0, y0, x1, y1 = box
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"expected {name} as [x0, y0, x1, y1] with x1 > x0 and y1 > y0, "
                         f"got {box.tolist()}")
    if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
        raise ValueError(f"expected {name} to overlap the {width}x{height} image, got "
                         f"{box.tolist()}")


def _axis_samples(lo: float, hi: float, n_cells: int, n_pixels: int, upsample: str):
    """Pixels of one image axis inside ``[lo, hi)`` (pixel p spans [p, p + 1),
    inside when its centre is) and where their centres fall on the map's
    ``n_cells`` cells: (pixel indices, i0, i1, fraction of i1)."""
    first = max(int(np.ceil(lo - 0.5)), 0)
    last = min(int(np.ceil(hi - 0.5)), n_pixels)
    pix = np.arange(first, max(first, last))
    pos = (pix + 0.5 - lo) / (hi - lo) * n_cells          # in cell units, 0 .. n_cells
    if upsample == "nearest":
        i0 = np.clip(np.floor(pos).astype(int), 0, n_cells - 1)
        return pix, i0, i0, np.zeros(pix.shape)
    # bilinear with cell centres at (i + 0.5) (PyTorch's align_corners=False),
    # clamped at the border cells
    u = np.clip(pos - 0.5, 0.0, n_cells - 1.0)
    i0 = np.floor(u).astype(int)
    i1 = np.minimum(i0 + 1, n_cells - 1)
    return pix, i0, i1, u - i0


def blend_attention(frame, box, spatial, *, alpha: float = 0.5, cmap: str = "jet",
                    upsample: str = "bilinear") -> np.ndarray:
    """One frame with a spatial attention map blended over its crop box.

    The map's h x w cells cover the box ``[x0, y0, x1, y1]`` (the crop the
    backbone saw, whose feature map the attention weighs), cell (i, j) the
    box's i-th of h rows and j-th of w columns.  Every pixel whose centre
    lies inside the box (and the image) becomes
    ``(1 - alpha) * frame + alpha * cmap(value)``, ``value`` the map
    upsampled at the pixel's centre; pixels outside the box keep the frame.
    A constant ``alpha`` (rather than one scaled by the attention) keeps the
    whole crop visible as the region the attention was computed over.

    Parameters
    ----------
    frame : ndarray, uint8, shape (H, W, 3)
        RGB frame.
    box : array_like, shape (4,)
        ``[x0, y0, x1, y1]`` image pixels (pixel p spans [p, p + 1)), as
        :func:`adl.deep.clips.person_box`; it must overlap the image.
    spatial : array_like, shape (h, w)
        Attention in [0, 1] (sigmoid, Eq. 4.11 / Eq. 4.15).
    alpha : float
        Heat-map opacity in [0, 1].
    cmap : str
        A matplotlib colormap, value 0 -> its low end, 1 -> its high end.
    upsample : {"bilinear", "nearest"}
        Map -> pixel interpolation; bilinear as ``F.interpolate(...,
        align_corners=False)``, nearest shows the cells as blocks.

    Returns
    -------
    ndarray, uint8, shape (H, W, 3)
        A new image.

    Raises
    ------
    ValueError
        On shapes, ranges, a box not overlapping the image, or an unknown
        ``upsample`` or ``cmap``.
    """
    _check_choice(upsample, "upsample", _UPSAMPLINGS)
    frame = np.asarray(frame)
    _check_frame(frame, "frame")
    box = _float_array(box, "box")
    if box.shape != (4,):
        raise ValueError(f"expected box of shape (4,) [x0, y0, x1, y1], got {box.shape}")
    height, width = frame.shape[:2]
    _check_box(box, width, height, "box")
    m = _float_array(spatial, "spatial")
    if m.ndim != 2 or 0 in m.shape:
        raise ValueError(f"expected spatial of shape (h, w), got {m.shape}")
    _check_unit_range(m, "spatial")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"expected alpha in [0, 1], got {alpha!r}")
    colour_of = _colormap(cmap)

    xs, c0, c1, fc = _axis_samples(box[0], box[2], m.shape[1], width, upsample)
    ys, r0, r1, fr = _axis_samples(box[1], box[3], m.shape[0], height, upsample)
    out = frame.copy()
    if xs.size == 0 or ys.size == 0:
        return out
    rows = m[r0] * (1.0 - fr)[:, None] + m[r1] * fr[:, None]          # (ny, w)
    values = rows[:, c0] * (1.0 - fc) + rows[:, c1] * fc               # (ny, nx)
    heat = colour_of(np.clip(values, 0.0, 1.0))[..., :3] * 255.0
    region = out[ys[0]:ys[-1] + 1, xs[0]:xs[-1] + 1].astype(np.float64)
    blended = (1.0 - alpha) * region + alpha * heat
    out[ys[0]:ys[-1] + 1, xs[0]:xs[-1] + 1] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return out


def plot_spatial_attention(frames, boxes, spatial, temporal, path, title: Optional[str] = None,
                           *, frame_steps=None, map_shape: Optional[Tuple[int, int]] = None,
                           normalise_map: bool = False, alpha: float = 0.5, cmap: str = "jet",
                           upsample: str = "bilinear", draw_box: bool = True,
                           atol: float = 1e-2, dpi: int = 100) -> Path:
    """Separable STA's / VPN's attention drawn on one clip (thesis 4.4-4.5;
    Fig. 4.16, 4.19).

    Top row: the chosen frames, each with the clip's spatial attention
    blended as a heat map inside the crop box (:func:`blend_attention`) and
    the box outlined.  Below, when ``temporal`` is given: the temporal
    attention as a bar strip over the clip's t feature steps, the steps of
    the shown frames highlighted, the uniform weight 1/t dashed, and the
    heat map's colour bar.

    Parameters
    ----------
    frames : ndarray, uint8, shape (k, H, W, 3)
        RGB frames of one clip.
    boxes : array_like, shape (4,) or (k, 4)
        The clip's crop box ``[x0, y0, x1, y1]`` in image pixels (one for the
        clip, as :func:`adl.deep.clips.person_box`, or one per frame).
    spatial : array_like, shape (h, w) or (t, h, w)
        Spatial attention in [0, 1] (sigmoid: Eq. 4.11, Eq. 4.15's A_S); a
        (t, h, w) map (joint spatio-temporal attention) gives each frame the
        map of its time step.  With ``map_shape``, the flat layouts the
        models output (``ModelOutput.attention["spatial"]`` (h*w,),
        ``["spatiotemporal"]`` (t, h*w)) are accepted too.
    temporal : array_like, shape (t,), or None
        Temporal softmax weights (Eq. 4.11's beta, Eq. 4.15's A_T), summing
        to 1 within ``atol``; None draws no strip.
    path : str or Path
        The PNG written.
    title : str, optional
    frame_steps : array_like of int, shape (k,), optional
        The feature time step of each frame (for a (t, h, w) map and the
        strip's highlight).  Default: the k frames spread evenly over the
        clip, frame i at step ``floor((i + 0.5) * t / k)``.
    map_shape : (int, int), optional
        (h, w) of a flat ``spatial`` (its last axis h*w, row-major as
        ``torch.flatten`` of an (h, w) map).
    normalise_map : bool
        Divide the map by its maximum before drawing (for a softmax-
        normalised joint map, whose values are all tiny); False draws the
        values as they are (sigmoid maps: 0.5 means 0.5).
    alpha, cmap, upsample
        As :func:`blend_attention`.
    draw_box : bool
        Outline the crop box (white, dashed).
    atol : float
        Tolerance of the temporal weights' sum.
    dpi : int

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        On shapes, ranges, t disagreeing between ``spatial`` and
        ``temporal``, frame steps outside [0, t), or as :func:`blend_attention`.
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3 or 0 in frames.shape:
        raise ValueError(f"expected frames as uint8 RGB of shape (k, H, W, 3), got "
                         f"{frames.dtype} {frames.shape}")
    k, height, width = frames.shape[:3]
    b = _float_array(boxes, "boxes")
    if b.shape == (4,):
        b = np.broadcast_to(b, (k, 4))
    if b.shape != (k, 4):
        raise ValueError(f"expected boxes of shape (4,) or ({k}, 4) for {k} frame(s), "
                         f"got {b.shape}")
    s = _float_array(spatial, "spatial")
    if map_shape is not None:
        mh, mw = (int(v) for v in map_shape)
        if mh < 1 or mw < 1 or s.ndim not in (1, 2) or s.shape[-1] != mh * mw:
            raise ValueError(f"expected a flat spatial of shape ({mh * mw},) or (t, {mh * mw}) "
                             f"for map_shape {tuple(map_shape)}, got {s.shape}")
        s = s.reshape(s.shape[:-1] + (mh, mw))
    if s.ndim not in (2, 3) or 0 in s.shape:
        raise ValueError(f"expected spatial of shape (h, w) or (t, h, w), got {s.shape}")
    _check_unit_range(s, "spatial")
    if normalise_map and s.max() > 0:
        s = s / s.max()
    tw = None
    if temporal is not None:
        tw = _float_array(temporal, "temporal")
        if tw.ndim != 1 or tw.size == 0:
            raise ValueError(f"expected temporal of shape (t,), got {tw.shape}")
        _check_softmax(tw, "temporal", atol)
        if s.ndim == 3 and s.shape[0] != tw.size:
            raise ValueError(f"expected spatial (t, h, w) and temporal (t,) with the same t, "
                             f"got {s.shape} and {tw.shape}")
    t = tw.size if tw is not None else (s.shape[0] if s.ndim == 3 else None)
    steps = None
    if t is not None:
        if frame_steps is None:
            steps = np.minimum(np.floor((np.arange(k) + 0.5) * t / k).astype(int), t - 1)
        else:
            steps = np.asarray(frame_steps)
            if steps.shape != (k,) or not np.issubdtype(steps.dtype, np.integer):
                raise ValueError(f"expected integer frame_steps of shape ({k},), got "
                                 f"{steps.dtype} {steps.shape}")
            if steps.min() < 0 or steps.max() >= t:
                raise ValueError(f"expected frame_steps in [0, {t}), found values in "
                                 f"[{steps.min()}, {steps.max()}]")
    elif frame_steps is not None:
        raise ValueError("frame_steps needs a time axis: expected spatial (t, h, w) or "
                         "temporal (t,), got a (h, w) map and no temporal weights")

    images = [blend_attention(frames[i], b[i], s[steps[i]] if s.ndim == 3 else s,
                              alpha=alpha, cmap=cmap, upsample=upsample) for i in range(k)]

    from matplotlib.colors import Normalize
    from matplotlib.cm import ScalarMappable
    from matplotlib.patches import Rectangle

    panel_w = 3.0 if k > 1 else 4.5
    panel_h = panel_w * height / width
    strip_h = 1.6 if tw is not None else 0.0
    label_h = 0.3 if steps is not None else 0.0
    title_h = 0.4 if title else 0.0
    fig = _new_figure(panel_w * k, panel_h + label_h + strip_h + title_h, layout="constrained")
    grid = fig.add_gridspec(2 if tw is not None else 1, k,
                            height_ratios=[panel_h + label_h, strip_h] if tw is not None else None)
    for i in range(k):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(images[i], interpolation="nearest")
        if draw_box:
            x0, y0, x1, y1 = b[i]
            ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False,
                                   edgecolor="white", linestyle="--", linewidth=1.0))
        ax.set_xlim(-0.5, width - 0.5)
        ax.set_ylim(height - 0.5, -0.5)
        ax.set_axis_off()
        if steps is not None:
            ax.set_title(f"frame {i + 1} (step {steps[i]})", fontsize=8)
    if tw is not None:
        ax = fig.add_subplot(grid[1, :max(1, k - 1)] if k > 1 else grid[1, 0])
        shown = np.zeros(t, bool)
        shown[steps] = True
        ax.bar(np.arange(t), tw, color=np.where(shown, "tab:orange", "0.6"), width=0.85)
        ax.axhline(1.0 / t, color="0.3", linestyle="--", linewidth=0.8)
        ax.set_xlim(-0.5, t - 0.5)
        ax.set_ylim(0.0, max(float(tw.max()) * 1.15, 1.5 / t))
        ax.set_xticks(np.arange(t))
        ax.tick_params(labelsize=7)
        ax.set_xlabel("clip feature step (orange: shown frames; dashed: 1/t)", fontsize=8)
        ax.set_ylabel("temporal\nweight", fontsize=8)
        mappable = ScalarMappable(norm=Normalize(0.0, 1.0), cmap=_colormap(cmap))
        if k > 1:
            holder = fig.add_subplot(grid[1, k - 1])
            holder.set_axis_off()
            bar = fig.colorbar(mappable, cax=holder.inset_axes([0.1, 0.55, 0.8, 0.18]),
                               orientation="horizontal")
        else:
            bar = fig.colorbar(mappable, ax=ax, orientation="vertical", fraction=0.08)
        bar.set_label("spatial attention", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return _write_png(fig, path, dpi)


# ----------------------------------------------------------------------------
# 3. GCN joint activations
# ----------------------------------------------------------------------------

def plot_joint_activations(joints, activations, bones, path, *, title: Optional[str] = None,
                           y_up: bool = True, normalise: str = "max",
                           joint_names: Optional[Sequence[str]] = None, annotate_top: int = 3,
                           cmap: str = "YlOrRd", dpi: int = 100) -> Path:
    """VPN's GCN joint activations on the skeleton (thesis 4.5; Fig. 4.18).

    The bones as grey segments; each joint a disc whose colour and size grow
    with its activation, normalised to [0, 1]; the ``annotate_top`` most
    activated joints labelled (name or index).

    Parameters
    ----------
    joints : array_like, shape (J, 3) or (J, 2)
        One pose; x and y are drawn (z ignored), equal aspect.
    activations : array_like, shape (J,)
        Activation of each joint at the output of the GCN pose backbone
        (e.g. the norm of its feature vector), >= 0.
    bones : sequence of (int, int)
        Joint index pairs, as ``adl.data.layouts.get_layout(name).bones``.
    path : str or Path
        The PNG written.
    title : str, optional
    y_up : bool
        True for body / camera coordinates (y up, NTU's 3D joints), False
        for image coordinates (y down: the plot flips the axis).
    normalise : {"max", "minmax"}
        ``a / max(a)`` (keeps 0 = no activation; the default) or
        ``(a - min) / (max - min)`` (stretches the contrast); all zeros stay
        zeros, a constant vector is all ones under "max" and zeros under
        "minmax".
    joint_names : sequence of str, length J, optional
        Labels of the annotated joints (default: their indices).
    annotate_top : int
        How many of the most activated joints to label (0: none).
    cmap : str
        A matplotlib colormap.
    dpi : int

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        On shapes, negative activations, bones naming missing joints, a
        wrong number of joint names, or an unknown ``normalise``.
    """
    _check_choice(normalise, "normalise", _NORMALISATIONS)
    p = _float_array(joints, "joints")
    if p.ndim != 2 or p.shape[1] not in (2, 3) or p.shape[0] == 0:
        raise ValueError(f"expected joints of shape (J, 3) or (J, 2), got {p.shape}")
    n = p.shape[0]
    a = _float_array(activations, "activations")
    if a.shape != (n,):
        raise ValueError(f"expected activations of shape ({n},) for {n} joints, got {a.shape}")
    if a.min() < 0.0:
        raise ValueError(f"expected activations >= 0, found a minimum of {a.min():.4g}")
    bones = list(bones)
    try:
        pairs = np.asarray(bones, dtype=np.int64).reshape(len(bones), -1) if bones else \
            np.zeros((0, 2), np.int64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"expected bones as (int, int) pairs, got {bones[:3]!r}...: "
                         f"{exc}") from exc
    if pairs.shape[1] != 2:
        raise ValueError(f"expected bones as (int, int) pairs, got pairs of "
                         f"{pairs.shape[1]} values")
    if pairs.size and (pairs.min() < 0 or pairs.max() >= n):
        raise ValueError(f"expected bones between joints 0..{n - 1}, found a bone naming "
                         f"joint {int(pairs.max() if pairs.max() >= n else pairs.min())}")
    if joint_names is not None and len(joint_names) != n:
        raise ValueError(f"expected {n} joint names, got {len(joint_names)}")
    if annotate_top < 0:
        raise ValueError(f"expected annotate_top >= 0, got {annotate_top}")

    top, low = float(a.max()), float(a.min())
    if normalise == "max":
        norm = a / top if top > 0 else np.zeros(n)
    else:
        norm = (a - low) / (top - low) if top > low else np.zeros(n)

    from matplotlib.colors import Normalize

    fig = _new_figure(4.6, 5.0)
    ax = fig.add_subplot(111)
    x, y = p[:, 0], p[:, 1]
    for i, j in pairs:
        ax.plot([x[i], x[j]], [y[i], y[j]], color="0.6", linewidth=2.0, zorder=1)
    order = np.argsort(norm, kind="stable")          # hot joints drawn on top
    sc = ax.scatter(x[order], y[order], c=norm[order], s=25.0 + 225.0 * norm[order],
                    cmap=_colormap(cmap), norm=Normalize(0.0, 1.0), edgecolors="0.2",
                    linewidths=0.6, zorder=2)
    for j in order[::-1][:annotate_top]:
        name = joint_names[j] if joint_names is not None else str(j)
        ax.annotate(f"{name} ({norm[j]:.2f})", (x[j], y[j]), xytext=(6, 6),
                    textcoords="offset points", fontsize=7, zorder=3)
    ax.set_aspect("equal", adjustable="datalim")
    if not y_up:
        ax.invert_yaxis()
    ax.set_xticks([])
    ax.set_yticks([])
    bar = fig.colorbar(sc, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label(f"activation (normalised: {normalise})", fontsize=8)
    ax.set_title(title or "GCN joint activations (VPN)", fontsize=10)
    fig.tight_layout()
    return _write_png(fig, path, dpi)


# ----------------------------------------------------------------------------
# 4. the Temporal Model's segment and granularity attention
# ----------------------------------------------------------------------------

def plot_temporal_attention(segment_weights: Mapping[int, object], granularity_weights, path,
                            title: Optional[str] = None, *, granularity_attention: bool = True,
                            atol: float = 1e-2, cmap: str = "YlOrRd", dpi: int = 100) -> Path:
    """The Temporal Model's attention for one video (thesis 5.2; Fig. 5.10).

    Left: one row per granularity G (ascending), G equal-width cells over
    the video's time axis [0, 1] (segment S_G,j covers [(j-1)/G, j/G)),
    each coloured by its segment attention alpha_G,j (Eq. 5.2; one colour
    scale 0-1 for all rows) with the value written in it; the row's most
    attended segment is outlined.  Right, beside each row: the granularity
    attention beta_G (Eq. 5.6) as a bar.

    Parameters
    ----------
    segment_weights : mapping int G -> array_like, shape (G,)
        Softmax segment weights per granularity (each summing to 1 within
        ``atol``).
    granularity_weights : array_like, shape (n_G,), or mapping int G -> float
        Granularity weights beta_G: an array follows the order of
        ``segment_weights``' keys as given (``TemporalConfig.granularities``
        order, as ``ModelOutput.attention["granularity"]``), a mapping names
        each G (the same keys).
    path : str or Path
        The PNG written.
    title : str, optional
    granularity_attention : bool
        True: beta are softmax weights (Eq. 5.6; summing to 1 within
        ``atol``).  False: the model sums the granularities without TG-att
        (Table 5.1's "simple summation"), beta are its constant weights
        (>= 0, all ones for the Temporal Model) and the bars say so.
    atol : float
        Tolerance of the sums.
    cmap : str
        A matplotlib colormap.
    dpi : int

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        On an empty mapping, a key that is not a positive integer, a
        segment vector whose length is not its G, weights that are not
        softmax weights, or granularity weights disagreeing with the
        mapping (count or keys).
    """
    if not segment_weights:
        raise ValueError("expected segment weights for at least one granularity, got none")
    given, rows = [], {}
    for key, weights in segment_weights.items():
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or key < 1:
            raise ValueError(f"expected granularities as positive integers, got {key!r}")
        g = int(key)
        v = _float_array(weights, f"segment_weights[{g}]")
        if v.shape != (g,):
            raise ValueError(f"expected segment_weights[{g}] of shape ({g},), got {v.shape}")
        _check_softmax(v, f"segment_weights[{g}]", atol)
        given.append(g)
        rows[g] = v
    if isinstance(granularity_weights, Mapping):
        keys = sorted(int(k) for k in granularity_weights)
        if keys != sorted(given):
            raise ValueError(f"expected granularity_weights for the granularities "
                             f"{sorted(given)}, got {keys}")
        by_g = {int(k): v for k, v in granularity_weights.items()}
        granularity_weights = [by_g[g] for g in given]
    beta = _float_array(granularity_weights, "granularity_weights")
    if beta.shape != (len(given),):
        raise ValueError(f"expected granularity_weights of shape ({len(given)},) for the "
                         f"granularities {given}, got {beta.shape}")
    if granularity_attention:
        _check_softmax(beta, "granularity_weights", atol)
    elif beta.min() < 0:
        raise ValueError(f"expected granularity_weights >= 0, found {beta.min():.4g}")
    gs = sorted(given)                       # rows drawn coarse to fine
    beta = beta[[given.index(g) for g in gs]]

    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.patches import Rectangle

    colour_of = _colormap(cmap)
    n = len(gs)
    fig = _new_figure(8.0, 1.3 + 0.6 * n, layout="constrained")
    grid = fig.add_gridspec(1, 2, width_ratios=[4.0, 1.0])
    ax = fig.add_subplot(grid[0, 0])
    side = fig.add_subplot(grid[0, 1], sharey=ax)
    small = max(gs) > 12                       # too many cells for the values to be written
    for r, g in enumerate(gs):
        best = int(np.argmax(rows[g]))
        for j, wgt in enumerate(rows[g]):
            rgba = colour_of(float(wgt))
            ax.add_patch(Rectangle((j / g, r - 0.4), 1.0 / g, 0.8, facecolor=rgba,
                                   edgecolor="0.3", linewidth=0.6))
            if not small:
                lum = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2]
                ax.text((j + 0.5) / g, r, f"S{g},{j + 1}\n{wgt:.2f}", ha="center",
                        va="center", fontsize=7, color="white" if lum < 0.5 else "black")
        ax.add_patch(Rectangle((best / g, r - 0.4), 1.0 / g, 0.8, fill=False,
                               edgecolor="tab:blue", linewidth=2.0))
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_yticks(range(n))
    ax.set_yticklabels([f"G = {g}" for g in gs], fontsize=8)
    ax.set_xlabel("video time (fraction); blue: most attended segment", fontsize=8)
    ax.tick_params(labelsize=7)
    side.barh(range(n), beta, height=0.6, color="tab:purple")
    side.set_xlim(0.0, 1.0 if granularity_attention else max(1.0, float(beta.max())) * 1.3)
    for r, v in enumerate(beta):
        inside = v > 0.7 * side.get_xlim()[1]            # a long bar holds its own label
        side.text(v - 0.02 if inside else v + 0.02, r, f"{v:.2f}", va="center", fontsize=7,
                  ha="right" if inside else "left", color="white" if inside else "black")
    side.tick_params(labelleft=False, labelsize=7)
    side.set_xlabel("granularity weight" if granularity_attention
                    else "granularity weight\n(plain sum, no TG-att)", fontsize=8)
    bar = fig.colorbar(ScalarMappable(norm=Normalize(0.0, 1.0), cmap=colour_of),
                       ax=[ax, side], fraction=0.03, pad=0.02)
    bar.set_label("segment weight", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    fig.suptitle(title or "Temporal Model attention (Eq. 5.2 segments, Eq. 5.6 granularities)",
                 fontsize=10)
    return _write_png(fig, path, dpi)
