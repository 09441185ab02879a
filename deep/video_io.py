"""What the deep stage reads of one video: its frame count and size, its
skeleton (every kept person) and the cropped, resized clips (thesis 4.6.1).

* :func:`video_frame_count` -- frames and ``(width, height)`` of the RGB source;
* :func:`video_skeleton` -- the 3D joints and the 2D joints in the frames'
  pixels of *every* person the reader keeps (NTU: the two most active bodies,
  :func:`adl.data.ntu.parse_ntu_skeleton`; other datasets: the record's one
  skeleton), laid out per video frame;
* :func:`read_clip_crops` -- one pass over the video: each needed frame is
  decoded once, converted to RGB, and every (clip, box) that uses it gets its
  crop resized to ``clip_size`` (``INTER_AREA`` when shrinking, bilinear
  when enlarging).  No whole-video array is ever held: a 1920x1080 video
  costs one frame plus the clips.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from adl.data.layouts import JointLayout
from adl.data.ntu import NTU_COLOR_SIZE, parse_ntu_skeleton
from adl.data.record import VideoRecord
from adl.data.video import FrameSource
from adl.features.body_parts import crop_pixels
from adl.features.video_stages import joints_2d_pixels

__all__ = ["VideoSkeleton", "video_frame_count", "video_skeleton", "read_clip_crops"]

_NTU = ("ntu60", "ntu120")


@dataclass(frozen=True)
class VideoSkeleton:
    """Every kept person of a video's skeleton.

    Attributes
    ----------
    joints : ndarray, shape (T, M, J, 3), float32
        3D joints per skeleton frame, NaN where missing.
    frame_ids : ndarray, shape (T,), int64
        The RGB frame of each skeleton frame.
    joints_by_frame : ndarray, shape (n_frames, M, J, 3), float32
        ``joints`` placed on the video's frames (NaN on frames without one).
    joints_2d : ndarray, shape (n_frames, M, J, 2), float32, or None
        Pixels in the actual RGB frames per video frame; None when the
        skeleton cannot be placed in the image.
    layout : JointLayout
    """

    joints: np.ndarray
    frame_ids: np.ndarray
    joints_by_frame: np.ndarray
    joints_2d: Optional[np.ndarray]
    layout: JointLayout


def video_frame_count(record: VideoRecord) -> Tuple[int, Tuple[int, int]]:
    """``(n_frames, (width, height))`` of the record's RGB source (the
    container's frame count for a video file)."""
    source = FrameSource(record.rgb, record.rgb_glob)
    return len(source), tuple(int(v) for v in source.frame_size())


def _by_frame(values: np.ndarray, frame_ids: np.ndarray, n_frames: int) -> np.ndarray:
    """Rows of ``values`` (T, ...) placed at ``frame_ids`` among ``n_frames``
    rows, NaN elsewhere (ids outside the video are dropped)."""
    out = np.full((n_frames,) + values.shape[1:], np.nan, np.float32)
    keep = (frame_ids >= 0) & (frame_ids < n_frames)
    out[frame_ids[keep]] = values[keep]
    return out


def video_skeleton(record: VideoRecord, n_frames: int, size: Tuple[int, int]) -> VideoSkeleton:
    """The skeleton of every kept person of ``record`` (module docstring).

    Parameters
    ----------
    record : VideoRecord
        With a skeleton.
    n_frames : int
        Frames of the RGB video.
    size : (width, height)
        Of the RGB frames (an NTU video smaller than 1920x1080 gets its colour
        pixels rescaled).

    Returns
    -------
    VideoSkeleton
    """
    layout = record.joint_layout
    if layout is None:
        raise ValueError(f"video {record.video_id!r}: expected a joint layout with its skeleton, "
                         f"got none")
    if record.dataset in _NTU and record.skeleton is not None \
            and str(record.skeleton).endswith(".skeleton"):
        sk = parse_ntu_skeleton(record.skeleton)
        joints = np.asarray(sk.joints, np.float32)                              # (T, M, J, 3)
        frame_ids = np.arange(len(sk), dtype=np.int64)
        scale = np.asarray(size, np.float64) / np.asarray(NTU_COLOR_SIZE, np.float64)
        uv = (np.asarray(sk.color_xy, np.float64) * scale).astype(np.float32)
        uv[~np.isfinite(joints).all(-1)] = np.nan            # absent body / missing joint
    else:
        seq = record.load_skeleton()
        joints = np.asarray(seq.joints, np.float32)[:, None]
        frame_ids = np.asarray(seq.frame_ids, np.int64)
        pix = joints_2d_pixels(seq, record, size)
        uv = None if pix is None else np.asarray(pix, np.float32)[:, None]
    return VideoSkeleton(joints=joints, frame_ids=frame_ids,
                         joints_by_frame=_by_frame(joints, frame_ids, n_frames),
                         joints_2d=None if uv is None else _by_frame(uv, frame_ids, n_frames),
                         layout=layout)


def read_clip_crops(record: VideoRecord, indices: Sequence[np.ndarray],
                    boxes: Sequence[np.ndarray], clip_size: int) -> Tuple[np.ndarray, np.ndarray]:
    """The clips ``indices[r]`` cropped to ``boxes[r]`` and resized, decoding
    the video once.

    Parameters
    ----------
    record : VideoRecord
    indices : sequence of ndarray, each (T,), int
        Frame indices of each clip (repeats allowed: looped clips).
    boxes : sequence of ndarray, each (4,)
        ``(x0, y0, x1, y1)`` pixels, fixed per clip.
    clip_size : int
        Side of the output frames.

    Returns
    -------
    clips : ndarray, shape (R, T, clip_size, clip_size, 3), uint8, RGB
    missing : ndarray, shape (k,), int64
        The frame indices the container announced but the decoder did not
        deliver; their places hold the last decoded frame.
    """
    import cv2
    if len(indices) != len(boxes) or not len(indices):
        raise ValueError(f"expected one box per clip and at least one clip, got "
                         f"{len(indices)} clips and {len(boxes)} boxes")
    length = len(indices[0])
    if any(len(i) != length for i in indices):
        raise ValueError(f"expected clips of equal length {length}, got lengths "
                         f"{sorted({len(i) for i in indices})}")
    uses: Dict[int, List[Tuple[int, int]]] = {}
    for r, idx in enumerate(indices):
        for t, f in enumerate(np.asarray(idx, np.int64).tolist()):
            uses.setdefault(f, []).append((r, t))
    out = np.zeros((len(indices), length, clip_size, clip_size, 3), np.uint8)
    filled = np.zeros((len(indices), length), bool)
    last = None
    source = FrameSource(record.rgb, record.rgb_glob)

    def place(frame_rgb, users):
        crops = {}
        for r, t in users:
            key = tuple(float(v) for v in boxes[r])
            if key not in crops:
                x0, y0, x1, y1 = crop_pixels(np.asarray(key), frame_rgb.shape)
                patch = frame_rgb[y0:y1, x0:x1]
                shrink = patch.shape[0] > clip_size or patch.shape[1] > clip_size
                crops[key] = cv2.resize(patch, (clip_size, clip_size),
                                        interpolation=cv2.INTER_AREA if shrink
                                        else cv2.INTER_LINEAR)
            out[r, t] = crops[key]
            filled[r, t] = True

    for i, bgr in source.frames(indices=sorted(uses)):
        last = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        place(last, uses[i])
    missing_frames = [f for f, users in uses.items() if not all(filled[r, t] for r, t in users)]
    if missing_frames:
        if last is None:
            from adl.data.errors import DataFormatError
            raise DataFormatError(record.rgb, "at least one decodable frame", "none decoded")
        for f in missing_frames:
            place(last, uses[f])
    return out, np.array(sorted(missing_frames), np.int64)
