"""Clips for the video backbone: which frames, which region (thesis 4.6.1, Eq. 4.3).

Pure numpy functions on frame counts and 2D joints; nothing here decodes a
video (:mod:`adl.deep.extract` does).

**Frames** (thesis 4.6.1).  The backbone takes ``T = 64`` frames sampled with
a stride of 2, so a clip spans ``span = 2 * 64 = 128`` frames of the video.

* *Training clip* (:func:`train_clip_indices`): its first frame is drawn
  uniformly in the first half of the video; frames past the end loop around
  to the beginning ("we loop around the video").
* *Test clips* (:func:`eval_clip_starts`, :func:`clip_indices`): every
  ``T``-frame stack, i.e. the stacks starting at ``0, span, 2 span, ...``.  A
  remainder of at least half a span gets one more stack (completed by
  looping); a shorter remainder is left out, as it would be more loop than
  video.  A video shorter than one span is one looped clip.
* *Segment clips* (:func:`segment_clip_indices`): for the temporal model, the
  video cut into ``G`` equal segments, one clip per segment, centred in it
  when the segment is longer than a span, else looping inside the segment
  (never borrowing frames of the neighbouring segments).

**Region** (thesis Eq. 4.3).  :func:`person_box` is the union, over the
clip's frames and over *every* person of the frame (NTU's two-person
actions: both people in one box), of the joints' extent plus a margin
``lambda = margin * s_t`` pixels, ``s_t`` the person's trunk length in that
frame (the head-to-hip distance: :func:`adl.features.body_parts.part_boxes`
expresses Eq. 4.3's excess pixels the same way, because the datasets range
from 320x240 to 1920x1080 pixels).  The box is then made square (about its
centre, kept inside the image where it fits) so that resizing to
``clip_size x clip_size`` does not distort the person.

The box is **fixed per clip**: I3D's and S3D's temporal convolutions read
motion as pixel displacement between consecutive frames.  A box that followed
the person frame by frame would move and rescale the background and cancel
the body's own translation, feeding the network a camera motion that is
not in the scene; one box for the clip keeps the frames registered, as the
Kinetics videos the backbone learned from are.  The hand streams of P-I3D
(:func:`part_clip_boxes`) follow the same rule: the union of the hand
squares over the clip.

**Fallback.**  A video without a skeleton, or a clip in which no joint of
any person is visible, takes the full image (:func:`full_image_box`).
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from adl.data.layouts import JointLayout
from adl.features.body_parts import FULL_BODY, LEFT_HAND, RIGHT_HAND, check_image_size, part_boxes

__all__ = ["CLIP_FRAMES", "CLIP_SIZE", "CLIP_STRIDE", "CROP_MARGIN", "PART_STREAMS",
           "clip_span", "clip_indices", "train_clip_indices", "eval_clip_starts",
           "eval_clip_indices", "segment_bounds", "segment_clip_indices", "full_image_box",
           "square_box", "person_box", "part_clip_boxes", "resample_steps"]

#: Frames per clip, stride between them, side of the square crop (thesis 4.6.1).
CLIP_FRAMES = 64
CLIP_STRIDE = 2
CLIP_SIZE = 224
#: Eq. 4.3's lambda as a fraction of the trunk length (as ``part_boxes``' default).
CROP_MARGIN = 0.15
#: The P-I3D streams (thesis 4.3): left hand, right hand, full body.
PART_STREAMS: Tuple[str, ...] = ("left_hand", "right_hand", "full_body")


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"expected {name} to be an integer >= 1, got {value!r}")
    return int(value)


def clip_span(clip_frames: int = CLIP_FRAMES, stride: int = CLIP_STRIDE) -> int:
    """Frames of the video one clip covers: ``clip_frames * stride``."""
    return _positive_int(clip_frames, "clip_frames") * _positive_int(stride, "stride")


def clip_indices(n_frames: int, start: int, clip_frames: int = CLIP_FRAMES,
                 stride: int = CLIP_STRIDE) -> np.ndarray:
    """Frame indices of the clip starting at ``start``, looping past the end.

    Parameters
    ----------
    n_frames : int
        Frames of the video (>= 1).
    start : int
        First frame, ``0 <= start < n_frames``.
    clip_frames, stride : int

    Returns
    -------
    ndarray, shape (clip_frames,), int64
        ``(start + stride * k) mod n_frames``.
    """
    n = _positive_int(n_frames, "n_frames")
    span_k = np.arange(_positive_int(clip_frames, "clip_frames"), dtype=np.int64)
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or not 0 <= start < n:
        raise ValueError(f"expected start in 0..{n - 1}, got {start!r}")
    return (int(start) + _positive_int(stride, "stride") * span_k) % n


def train_clip_indices(n_frames: int, rng: np.random.Generator, clip_frames: int = CLIP_FRAMES,
                       stride: int = CLIP_STRIDE) -> np.ndarray:
    """A training clip: first frame uniform in the first half of the video
    (``0 .. ceil(n_frames / 2) - 1``), then :func:`clip_indices` (thesis 4.6.1).

    Returns
    -------
    ndarray, shape (clip_frames,), int64
    """
    n = _positive_int(n_frames, "n_frames")
    start = int(rng.integers(0, (n + 1) // 2))
    return clip_indices(n, start, clip_frames, stride)


def eval_clip_starts(n_frames: int, clip_frames: int = CLIP_FRAMES,
                     stride: int = CLIP_STRIDE) -> np.ndarray:
    """First frames of the test clips: every stack, ``0, span, 2 span, ...``;
    a remainder shorter than half a span is left out, and a video shorter than
    a span has one clip (module docstring).

    Returns
    -------
    ndarray, shape (n_clips,), int64, n_clips >= 1
    """
    n = _positive_int(n_frames, "n_frames")
    span = clip_span(clip_frames, stride)
    full, rest = divmod(n, span)
    count = full + (1 if 2 * rest >= span else 0)
    return np.arange(max(1, count), dtype=np.int64) * span


def eval_clip_indices(n_frames: int, clip_frames: int = CLIP_FRAMES,
                      stride: int = CLIP_STRIDE) -> np.ndarray:
    """Frame indices of every test clip.

    Returns
    -------
    ndarray, shape (n_clips, clip_frames), int64
    """
    return np.stack([clip_indices(n_frames, int(s), clip_frames, stride)
                     for s in eval_clip_starts(n_frames, clip_frames, stride)])


def segment_bounds(n_frames: int, granularity: int) -> np.ndarray:
    """The video in ``granularity`` equal segments (thesis 5.4.1).

    Returns
    -------
    ndarray, shape (G, 2), int64
        ``[start, stop)`` of each segment, ``floor(g n / G)``; a segment of a
        video shorter than ``G`` frames holds at least its nearest frame.
    """
    n = _positive_int(n_frames, "n_frames")
    g = _positive_int(granularity, "granularity")
    edges = (np.arange(g + 1, dtype=np.int64) * n) // g
    starts = np.minimum(edges[:-1], n - 1)
    stops = np.maximum(edges[1:], starts + 1)
    return np.stack([starts, stops], axis=1)


def segment_clip_indices(n_frames: int, granularity: int, clip_frames: int = CLIP_FRAMES,
                         stride: int = CLIP_STRIDE) -> np.ndarray:
    """One clip per segment of :func:`segment_bounds`: centred in a segment
    longer than a span, else starting at the segment's first frame and
    looping inside the segment.

    Returns
    -------
    ndarray, shape (G, clip_frames), int64
    """
    span = clip_span(clip_frames, stride)
    k = np.arange(clip_frames, dtype=np.int64) * stride
    out = []
    for start, stop in segment_bounds(n_frames, granularity):
        length = int(stop - start)
        if length >= span:
            out.append(start + (length - span) // 2 + k)
        else:
            out.append(start + k % length)
    return np.stack(out).astype(np.int64)


def resample_steps(indices: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` entries of ``indices`` uniformly spaced over it (first and
    last included): the ``t_p`` poses of a clip (thesis 4.6.1).

    Returns
    -------
    ndarray, shape (steps,), same dtype as ``indices``
    """
    indices = np.asarray(indices)
    if indices.ndim != 1 or indices.size == 0:
        raise ValueError(f"expected a non-empty 1-D array of frame indices, got shape "
                         f"{indices.shape}")
    steps = _positive_int(steps, "steps")
    pick = np.rint(np.linspace(0, indices.size - 1, steps)).astype(np.int64)
    return indices[pick]


def full_image_box(image_size) -> np.ndarray:
    """``(0, 0, W, H)`` float32: the region of a video without a skeleton."""
    width, height = check_image_size(image_size)
    return np.array([0, 0, width, height], np.float32)


def square_box(box, image_size) -> np.ndarray:
    """``box`` grown to a square about its centre, shifted inside the image
    where it fits, then clamped (a square larger than the image becomes the
    image's short side, centred as close to the box as possible).

    Parameters
    ----------
    box : array_like, shape (4,)
        ``(x0, y0, x1, y1)`` pixels.
    image_size : (width, height)

    Returns
    -------
    ndarray, shape (4,), float32
    """
    width, height = check_image_size(image_size)
    x0, y0, x1, y1 = (float(v) for v in box)
    if not all(np.isfinite([x0, y0, x1, y1])) or x1 <= x0 or y1 <= y0:
        raise ValueError(f"expected a finite box (x0, y0, x1, y1) with x1 > x0 and y1 > y0, "
                         f"got {box!r}")
    side = min(max(x1 - x0, y1 - y0), float(width), float(height))
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    nx0 = min(max(cx - side / 2.0, 0.0), width - side)
    ny0 = min(max(cy - side / 2.0, 0.0), height - side)
    return np.array([nx0, ny0, nx0 + side, ny0 + side], np.float32)


def _union(boxes: np.ndarray, valid: np.ndarray) -> Optional[np.ndarray]:
    """Union box of the rows of ``boxes (n, 4)`` where ``valid``; None if none."""
    if not valid.any():
        return None
    b = boxes[valid]
    return np.array([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()])


def _persons_parts(joints2d: np.ndarray, layout: JointLayout, image_size, margin: float):
    """``part_boxes`` of every person: boxes (T, M, 5, 4) and valid (T, M, 5)."""
    joints2d = np.asarray(joints2d, np.float64)
    if joints2d.ndim != 4 or joints2d.shape[-1] != 2 or joints2d.shape[2] != layout.n_joints:
        raise ValueError(f"expected 2D joints of shape (T, persons, {layout.n_joints}, 2) for "
                         f"layout {layout.name}, got {joints2d.shape}")
    per = [part_boxes(joints2d[:, m], layout, image_size, margin=margin, return_valid=True)
           for m in range(joints2d.shape[1])]
    return np.stack([p[0] for p in per], axis=1), np.stack([p[1] for p in per], axis=1)


def person_box(joints2d: Optional[np.ndarray], layout: Optional[JointLayout], image_size,
               frames: Sequence[int], *, margin: float = CROP_MARGIN) -> Tuple[np.ndarray, bool]:
    """The crop of one clip: every person of every frame of the clip in one
    fixed, square box (thesis Eq. 4.3; module docstring).

    Parameters
    ----------
    joints2d : ndarray, shape (T, M, J, 2), or None
        Pixels of the ``M`` persons' joints per skeleton frame, NaN where
        missing; None: no skeleton.
    layout : JointLayout or None
    image_size : (width, height)
    frames : sequence of int
        The clip's frame indices (rows of ``joints2d``; an index beyond the
        skeleton's last frame reads its last frame).
    margin : float
        lambda as a fraction of the trunk length.

    Returns
    -------
    box : ndarray, shape (4,), float32
        ``(x0, y0, x1, y1)``.
    observed : bool
        False when the full-image fallback was used.
    """
    boxes, observed = part_clip_boxes(joints2d, layout, image_size, frames, margin=margin)
    body = PART_STREAMS.index("full_body")
    return boxes[body], bool(observed[body])


def part_clip_boxes(joints2d: Optional[np.ndarray], layout: Optional[JointLayout], image_size,
                    frames: Sequence[int], *, margin: float = CROP_MARGIN
                    ) -> Tuple[np.ndarray, np.ndarray]:
    """The P-I3D crops of one clip, in :data:`PART_STREAMS` order: the left
    and right hand of the first (most active) person and the full body of
    every person, each the union over the clip's frames, made square.

    The hand squares are :func:`adl.features.body_parts.part_boxes`' (side
    half the trunk length); a region not observed in any frame of the clip
    takes the full image.

    Parameters
    ----------
    As :func:`person_box`.

    Returns
    -------
    boxes : ndarray, shape (3, 4), float32
    observed : ndarray, shape (3,), bool
    """
    full = full_image_box(image_size)
    if joints2d is None:
        return np.tile(full, (len(PART_STREAMS), 1)), np.zeros(len(PART_STREAMS), bool)
    if layout is None:
        raise ValueError("expected the joint layout of the 2D joints, got None")
    frames = np.asarray(frames, np.int64)
    joints2d = np.asarray(joints2d)
    if frames.ndim != 1 or frames.size == 0 or frames.min() < 0:
        raise ValueError(f"expected a non-empty 1-D array of frame indices >= 0, got {frames!r}")
    if joints2d.ndim != 4 or len(joints2d) == 0:
        raise ValueError(f"expected 2D joints of shape (T, persons, J, 2) with T >= 1, got "
                         f"{joints2d.shape}")
    rows = np.minimum(frames, len(joints2d) - 1)
    boxes, valid = _persons_parts(joints2d[np.unique(rows)], layout, image_size, margin)
    out = np.tile(full, (len(PART_STREAMS), 1))
    observed = np.zeros(len(PART_STREAMS), bool)
    regions = ((LEFT_HAND, boxes[:, 0, LEFT_HAND], valid[:, 0, LEFT_HAND]),
               (RIGHT_HAND, boxes[:, 0, RIGHT_HAND], valid[:, 0, RIGHT_HAND]),
               (FULL_BODY, boxes[:, :, FULL_BODY].reshape(-1, 4),
                valid[:, :, FULL_BODY].reshape(-1)))
    for slot, (_, b, v) in enumerate(regions):
        union = _union(b, v)
        if union is not None:
            out[slot] = square_box(union, image_size)
            observed[slot] = True
    return out.astype(np.float32), observed
