"""Body-part regions for the appearance features F1 (thesis Eq. 3.1 and 4.3).

Pure numpy: every frame of a video gets five boxes, in the order of
:data:`PART_NAMES`::

    0 left_hand    square centred on the left-hand joint
    1 right_hand   square centred on the right-hand joint
    2 upper_body   extent of the layout's upper-body joints, plus a margin
    3 full_body    extent of every joint, plus a margin
    4 full_image   the whole frame

Boxes are ``(x0, y0, x1, y1)`` float32 pixels, ``x1``/``y1`` exclusive,
clamped to the image ``[0, W] x [0, H]`` (clamped, not padded: a crop cut by
the border keeps only what is inside the image and is then resized to the
network's input, as a plain crop-and-resize does).

**Scale.** Sizes follow the person's 2D *body scale* ``s_t``: the distance in
pixels between the head and the hip centre of frame ``t`` (the trunk, visible
from the front and from the side, unlike the shoulder width).  Frames where it
is missing use the median over the video's valid frames; a video with no
valid trunk uses a fifth of the image height.

**Margin (Eq. 4.3's lambda).** The thesis adds an excess of ``lambda`` pixels
around the extent of the joints; since datasets range from 320x240 to
1920x1080 pixels we express it relative to the body, ``lambda_t = margin *
s_t`` (default ``margin = 0.15``).  Hands are squares of side ``hand_size *
s_t`` (default 0.5, about 30 cm for a 60 cm trunk: the hand and what it
holds).

**Fallback.** A region is *missing* in a frame when its joints are missing
(the hand joint is NaN; fewer than half of the body joints are finite) or when
its box, once clamped, is thinner than ``min_size`` pixels -- in particular a
crop lying entirely outside the image.  A missing region takes the last valid
box of that region (the first valid one for frames before it); a region never
valid in the whole video takes the full image.  ``return_valid=True`` tells
which boxes were observed.
"""
from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np

from adl.data.geometry import get_camera
from adl.data.layouts import JointLayout
from adl.data.record import SkeletonSequence, VideoRecord

PART_NAMES: Tuple[str, ...] = ("left_hand", "right_hand", "upper_body", "full_body", "full_image")
N_PARTS = len(PART_NAMES)
LEFT_HAND, RIGHT_HAND, UPPER_BODY, FULL_BODY, FULL_IMAGE = range(N_PARTS)


def joints_2d(source: Union[VideoRecord, SkeletonSequence], camera: Optional[str] = None) -> np.ndarray:
    """2D joints in pixels, ``(T, J, 2)`` float32, NaN where missing.

    Uses the skeleton's own ``screen`` coordinates when the dataset ships them
    (MSRDailyActivity3D), otherwise projects the 3D joints with the camera
    model (``camera`` or the record's ``camera``; see :mod:`adl.data.geometry`).
    """
    if isinstance(source, VideoRecord):
        camera = camera or source.camera
        skel = source.load_skeleton()
    elif isinstance(source, SkeletonSequence):
        skel = source
    else:
        raise TypeError(f"expected a VideoRecord or a SkeletonSequence, got {type(source).__name__}")
    if skel.screen is not None:
        return np.asarray(skel.screen, dtype=np.float32)
    if camera is None:
        raise ValueError("the skeleton has no screen coordinates and no camera model was given "
                         "to project its 3D joints; pass camera=<name> (see data.geometry.CAMERAS)")
    return get_camera(camera).project(skel.joints)


def _fill_missing(boxes: np.ndarray, valid: np.ndarray, full: np.ndarray) -> np.ndarray:
    """Forward-fill invalid rows from the last valid one, back-fill the leading
    rows from the first valid one; the full image when nothing is valid."""
    if not valid.any():
        return np.broadcast_to(full, boxes.shape).copy()
    idx = np.where(valid, np.arange(len(valid)), -1)
    idx = np.maximum.accumulate(idx)
    idx[idx < 0] = int(np.flatnonzero(valid)[0])
    return boxes[idx]


def check_image_size(image_size) -> Tuple[int, int]:
    """``(width, height)`` as positive integers; TypeError for something that
    is not a pair of numbers, ValueError for a size that is not positive."""
    try:
        width, height = (int(v) for v in image_size)
    except (TypeError, ValueError):
        raise TypeError(f"expected image_size as (width, height), got {image_size!r}") from None
    if width <= 0 or height <= 0:
        raise ValueError(f"expected a positive image size (width, height), got {image_size!r}")
    return width, height


def part_boxes(joints2d: np.ndarray, layout: JointLayout, image_size: Tuple[int, int], *,
               margin: float = 0.15, hand_size: float = 0.5, min_size: float = 4.0,
               min_valid_fraction: float = 0.5,
               return_valid: bool = False):
    """Five body-part boxes per frame (thesis Eq. 3.1; extents as Eq. 4.3).

    Parameters
    ----------
    joints2d : ndarray, shape (T, J, 2)
        Pixel coordinates (x right, y down); NaN where a joint is missing.
    layout : JointLayout
        Gives the hand, head, hip-centre and upper-body joints.
    image_size : (int, int)
        ``(width, height)`` of the frames.
    margin : float
        Excess around joint extents, as a fraction of the body scale ``s_t``
        (Eq. 4.3's lambda = ``margin * s_t`` pixels).
    hand_size : float
        Side of the hand squares as a fraction of ``s_t``.
    min_size : float
        A clamped box narrower or shorter than this (pixels) counts as missing.
    min_valid_fraction : float
        Fraction of a body region's joints that must be finite.
    return_valid : bool
        Also return the ``(T, 5)`` bool mask of boxes observed in their frame
        (False where the fallback supplied them).

    Returns
    -------
    boxes : ndarray, shape (T, 5, 4), float32
        ``(x0, y0, x1, y1)`` per frame and part, in :data:`PART_NAMES` order.
    valid : ndarray, shape (T, 5), bool
        Only with ``return_valid=True``.
    """
    joints2d = np.asarray(joints2d, dtype=np.float64)
    if joints2d.ndim != 3 or joints2d.shape[-1] != 2 or joints2d.shape[1] != layout.n_joints:
        raise ValueError(f"expected 2D joints of shape (T, {layout.n_joints}, 2) for layout "
                         f"{layout.name}, got {joints2d.shape}")
    width, height = check_image_size(image_size)
    for name, value in (("margin", margin), ("hand_size", hand_size), ("min_size", min_size)):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"expected {name} >= 0, got {value!r}")
    if hand_size == 0:
        raise ValueError("expected hand_size > 0, got 0")
    if not 0 < min_valid_fraction <= 1:
        raise ValueError(f"expected 0 < min_valid_fraction <= 1, got {min_valid_fraction!r}")

    n_frames = joints2d.shape[0]
    full = np.array([0.0, 0.0, width, height])

    trunk = np.linalg.norm(layout.point(joints2d, layout.head) - layout.point(joints2d, layout.hip_center),
                           axis=-1)                                      # (T,)
    good = np.isfinite(trunk) & (trunk > 1.0)
    fallback_scale = float(np.median(trunk[good])) if good.any() else height / 5.0
    scale = np.where(good, trunk, fallback_scale)                        # (T,)

    boxes = np.empty((n_frames, N_PARTS, 4))
    valid = np.zeros((n_frames, N_PARTS), dtype=bool)

    half = 0.5 * hand_size * scale
    for part, ref in ((LEFT_HAND, layout.hand_left), (RIGHT_HAND, layout.hand_right)):
        centre = layout.point(joints2d, ref)                             # (T, 2)
        boxes[:, part] = np.concatenate([centre - half[:, None], centre + half[:, None]], axis=-1)
        valid[:, part] = np.isfinite(centre).all(-1)

    lam = (margin * scale)[:, None]
    for part, joints in ((UPPER_BODY, list(layout.upper_body)), (FULL_BODY, slice(None))):
        pts = joints2d[:, joints]                                        # (T, k, 2)
        finite = np.isfinite(pts).all(-1)                                # (T, k)
        enough = finite.sum(-1) >= max(2, int(np.ceil(min_valid_fraction * pts.shape[1])))
        # +-inf stand in for missing joints; a frame with none stays infinite
        # and is caught as invalid below.
        lo = np.where(finite[..., None], pts, np.inf).min(axis=1)
        hi = np.where(finite[..., None], pts, -np.inf).max(axis=1)
        boxes[:, part] = np.concatenate([lo - lam, hi + lam], axis=-1)
        valid[:, part] = enough

    boxes[:, FULL_IMAGE] = full
    valid[:, FULL_IMAGE] = True

    boxes[..., 0::2] = np.clip(boxes[..., 0::2], 0, width)
    boxes[..., 1::2] = np.clip(boxes[..., 1::2], 0, height)
    with np.errstate(invalid="ignore"):
        big_enough = ((boxes[..., 2] - boxes[..., 0]) >= min_size) & ((boxes[..., 3] - boxes[..., 1]) >= min_size)
    valid &= big_enough & np.isfinite(boxes).all(-1)
    valid[:, FULL_IMAGE] = True

    for part in range(N_PARTS - 1):
        boxes[:, part] = _fill_missing(boxes[:, part], valid[:, part], full)
    boxes = boxes.astype(np.float32)
    return (boxes, valid) if return_valid else boxes


def crop_pixels(box: np.ndarray, image_shape: Tuple[int, ...]) -> Tuple[int, int, int, int]:
    """Integer crop window ``(x0, y0, x1, y1)`` covering a float box in an image
    of shape ``(H, W, ...)``; the whole image when the box does not intersect it
    (e.g. boxes computed for a different frame size)."""
    height, width = int(image_shape[0]), int(image_shape[1])
    x0 = int(np.clip(np.floor(box[0]), 0, width))
    y0 = int(np.clip(np.floor(box[1]), 0, height))
    x1 = int(np.clip(np.ceil(box[2]), 0, width))
    y1 = int(np.clip(np.ceil(box[3]), 0, height))
    if x1 - x0 < 1 or y1 - y0 < 1:
        return 0, 0, width, height
    return x0, y0, x1, y1
