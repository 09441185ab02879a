"""Person boxes: where the actor is in each RGB frame (thesis section 3.3.1, F2).

F2's camera-motion estimate ignores matches inside these boxes (the actor's
own motion is not the camera's), as the improved-trajectories reference does
with its human detector; here the boxes come from the skeleton.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional

import numpy as np

from adl.data.video import FrameSource


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


def boxes_at(person_boxes, t: int):
    """The boxes of frame ``t`` from a mapping ``frame -> (k, 4)`` or a
    per-frame sequence; None where there are none."""
    if person_boxes is None:
        return None
    if isinstance(person_boxes, Mapping):
        return person_boxes.get(t)
    if 0 <= t < len(person_boxes):
        return person_boxes[t]
    return None
