"""Toyota Smarthome (trimmed): clip names, the LCR-Net pose JSON parser and
writer, and the reader (thesis sections 2.5.6, 4.2; ``/work/shared/DATASETS.md``
section 5).

Format: a clip is ``<Activity>_p<PP>_r<RR>_v<VV>_c<CC>.mp4`` (e.g.
``Cook.Cleandishes_p02_r00_v02_c03.mp4``: activity, subject PP, camera CC; the
meaning of ``r`` and ``v`` is not documented, they are kept in ``meta``); its
skeleton (v1.2) is ``<clip>_pose3d.json``::

    {"frames": [                     one entry per video frame
        [                            the persons LCR-Net detected ([] = none)
          {"pose2d": [x0..x12, y0..y12],            26 numbers, image pixels
           "pose3d": [X0..X12, Y0..Y12, Z0..Z12],   39 numbers
           "cumscore": 3.1},                        optional detection score
          ...], ...]}

Joints are the 13 LCR-Net joints (:data:`data.layouts.LCRNET_13`): 0 Rank,
1 Lank, 2 Rkne, 3 Lkne, 4 Rhip, 5 Lhip, 6 Rwri, 7 Lwri, 8 Relb, 9 Lelb,
10 Rsho, 11 Lsho, 12 head; the coordinate lists are *planar* (all x, then
all y, then all z), as the dataset's tools and LCR-Net's plotting code read them.

Design choices:

* **One person per frame.**  Smarthome has one actor per clip; when LCR-Net
  reports several persons in a frame the one with the highest ``cumscore`` is
  kept (the first listed when there is no score or a tie).  A frame without
  a detection is all NaN.  A file without any detection is an error.
* ``pose3d`` is returned as given (the unit is not documented; LCR-Net's 3D
  poses are in metres).  ``pose2d`` is the record's ``screen`` in the video's
  own pixels (no camera model: ``camera`` stays None).
* **Which files.**  ``*.mp4`` and ``*_pose3d.json`` anywhere under the root
  (the archives' folder names are not documented).  A clip needs one of them.
* **Frame rate** 20 fps (nominal; the video's own rate is what decoding uses).
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from .errors import DataFormatError, DatasetLayoutError, read_file_bytes, short_repr
from .record import MAX_ABS_VALUE, SkeletonSequence, VideoRecord

__all__ = ["SMARTHOME_ACTIVITIES", "SMARTHOME_CV_ACTIVITIES", "SMARTHOME_FPS", "SmarthomeClip",
           "parse_smarthome_pose", "load_smarthome_pose", "write_smarthome_pose",
           "read_smarthome"]

SMARTHOME_ACTIVITIES = (
    "Cook.Cleandishes", "Cook.Cleanup", "Cook.Cut", "Cook.Stir", "Cook.Usestove", "Cutbread",
    "Drink.Frombottle", "Drink.Fromcan", "Drink.Fromcup", "Drink.Fromglass", "Eat.Attable",
    "Eat.Snack", "Enter", "Getup", "Laydown", "Leave", "Makecoffee.Pourgrains",
    "Makecoffee.Pourwater", "Maketea.Boilwater", "Maketea.Insertteabag", "Pour.Frombottle",
    "Pour.Fromcan", "Pour.Fromkettle", "Readbook", "Sitdown", "Takepills", "Uselaptop",
    "Usetelephone", "Usetablet", "Walk", "WatchTV")
"""The 31 activities of the cross-subject protocol, in their 0-based label order."""

SMARTHOME_CV_ACTIVITIES = (
    "Cutbread", "Drink.Frombottle", "Drink.Fromcan", "Drink.Fromcup", "Drink.Fromglass",
    "Eat.Attable", "Eat.Snack", "Enter", "Getup", "Leave", "Pour.Frombottle", "Pour.Fromcan",
    "Readbook", "Sitdown", "Takepills", "Uselaptop", "Usetablet", "Usetelephone", "Walk")
"""The 19 activities of the cross-view protocols (CV1, CV2)."""

SMARTHOME_FPS = 20.0
N_JOINTS = 13
_CLIP_RE = re.compile(r"([A-Za-z]+(?:\.[A-Za-z]+)?)_p(\d{2})_r(\d{2})_v(\d{2})_c(\d{2})")
_POSE_SUFFIX = "_pose3d.json"


class SmarthomeClip:
    """The parts of a clip name ``<Activity>_pPP_rRR_vVV_cCC``."""

    __slots__ = ("name", "activity", "subject", "r", "v", "camera")

    def __init__(self, name: str, path=None):
        m = _CLIP_RE.fullmatch(name)
        if m is None:
            raise DataFormatError(path if path is not None else name,
                                  "a Toyota Smarthome clip name <Activity>_pPP_rRR_vVV_cCC",
                                  short_repr(name))
        self.name = name
        self.activity = m.group(1)
        self.subject, self.r, self.v, self.camera = (int(g) for g in m.groups()[1:])
        if self.activity not in SMARTHOME_ACTIVITIES:
            raise DataFormatError(path if path is not None else name,
                                  "one of the 31 Toyota Smarthome activities",
                                  short_repr(self.activity))
        if self.subject < 1 or self.camera < 1:
            raise DataFormatError(path if path is not None else name,
                                  "a subject p01 or higher and a camera c01 or higher",
                                  short_repr(name))


# --------------------------------------------------------------------------- parser

def _person(path: Path, frame: int, k: int, person) -> tuple:
    """(pose2d (13, 2), pose3d (13, 3), score) of one detection."""
    if not isinstance(person, dict):
        raise DataFormatError(path, "a person object {\"pose2d\": [...], \"pose3d\": [...]}",
                              type(person).__name__, frame=frame)
    out = []
    for key, n in (("pose2d", 2 * N_JOINTS), ("pose3d", 3 * N_JOINTS)):
        v = person.get(key)
        if not isinstance(v, list) or len(v) != n:
            found = f"a list of {len(v)}" if isinstance(v, list) else (
                "no such key" if v is None else type(v).__name__)
            raise DataFormatError(path, f"{key!r} as a list of {n} numbers (person {k + 1})",
                                  found, frame=frame)
        for x in v:
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                raise DataFormatError(path, f"numbers in {key!r} (person {k + 1})",
                                      short_repr(x), frame=frame)
            if abs(x) > MAX_ABS_VALUE or not math.isfinite(x):   # this order: no overflow
                raise DataFormatError(path, f"finite numbers with |x| <= {MAX_ABS_VALUE:g} in "
                                      f"{key!r} (person {k + 1})", short_repr(x), frame=frame)
        out.append(v)
    score = person.get("cumscore", None)
    if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))
                              or abs(score) > MAX_ABS_VALUE or not math.isfinite(score)):
        raise DataFormatError(path, f"a finite number as 'cumscore' (person {k + 1})",
                              short_repr(score), frame=frame)
    p2 = np.asarray(out[0], dtype=np.float64).reshape(2, N_JOINTS).T
    p3 = np.asarray(out[1], dtype=np.float64).reshape(3, N_JOINTS).T
    return p2, p3, (-math.inf if score is None else float(score))


def parse_smarthome_pose(path) -> SkeletonSequence:
    """Parse a Toyota Smarthome ``<clip>_pose3d.json`` file.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    SkeletonSequence
        ``joints`` ``(T, 13, 3)`` float32 (pose3d), ``screen`` ``(T, 13, 2)``
        float32 (pose2d pixels), ``frame_ids`` ``0 .. T-1``; one person per
        frame (highest ``cumscore``), NaN where no person was detected.

    Raises
    ------
    DataFormatError
        Naming the file (and frame), for: a missing, undecodable or
        non-JSON file, no ``frames`` list, a frame that is not a list, a
        person without ``pose2d`` of 26 / ``pose3d`` of 39 numbers, a
        non-numeric or non-finite value, no detection in any frame.
    """
    path = Path(path)
    data = read_file_bytes(path, "a Toyota Smarthome pose JSON file")
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise DataFormatError(path, "a UTF-8 JSON file", "undecodable bytes") from None
    except RecursionError:
        raise DataFormatError(path, "a JSON document", "nesting too deep to parse") from None
    except ValueError as e:
        raise DataFormatError(path, "a JSON document", f"invalid JSON ({e})") from None
    frames = doc.get("frames") if isinstance(doc, dict) else None
    if not isinstance(frames, list) or not frames:
        raise DataFormatError(path, "a top-level object with a non-empty 'frames' list",
                              short_repr(type(doc).__name__ if not isinstance(doc, dict)
                                         else sorted(doc)[:5]))
    T = len(frames)
    joints = np.full((T, N_JOINTS, 3), np.nan, dtype=np.float32)
    screen = np.full((T, N_JOINTS, 2), np.nan, dtype=np.float32)
    found = 0
    for t, persons in enumerate(frames):
        if not isinstance(persons, list):
            raise DataFormatError(path, "a list of persons per frame", type(persons).__name__,
                                  frame=t + 1)
        best = None
        for k, person in enumerate(persons):
            p2, p3, score = _person(path, t + 1, k, person)
            if best is None or score > best[2]:
                best = (p2, p3, score)
        if best is not None:
            screen[t], joints[t] = best[0], best[1]
            found += 1
    if not found:
        raise DataFormatError(path, "at least one frame with a detected person",
                              f"an empty person list in all {T} frames")
    return SkeletonSequence(joints=joints, frame_ids=np.arange(T, dtype=np.int64), screen=screen)


def load_smarthome_pose(record: VideoRecord) -> SkeletonSequence:
    """``VideoRecord.skeleton_loader`` of Smarthome records (picklable)."""
    return parse_smarthome_pose(record.skeleton)


def write_smarthome_pose(path, pose3d, pose2d, scores: Optional[Sequence[float]] = None) -> Path:
    """Write one person per frame in the LCR-Net JSON format of Smarthome.

    Parameters
    ----------
    path : str or Path
        Output ``<clip>_pose3d.json`` (parent folders created).
    pose3d : array_like, shape (T, 13, 3)
        3D joints, :data:`data.layouts.LCRNET_13` order; a frame with any NaN
        is written as an empty person list (no detection).
    pose2d : array_like, shape (T, 13, 2)
        Pixels in the video frame.
    scores : sequence of float, optional
        ``cumscore`` per frame (default 1.0).

    Returns
    -------
    Path
    """
    p3 = np.asarray(pose3d, dtype=np.float64)
    p2 = np.asarray(pose2d, dtype=np.float64)
    if p3.ndim != 3 or p3.shape[1:] != (N_JOINTS, 3) or p3.shape[0] < 1:
        raise ValueError(f"pose3d must have shape (T, 13, 3) with T >= 1, got {p3.shape}")
    if p2.shape != p3.shape[:2] + (2,):
        raise ValueError(f"pose2d must have shape ({p3.shape[0]}, 13, 2), got {p2.shape}")
    frames = []
    for t in range(p3.shape[0]):
        if not (np.isfinite(p3[t]).all() and np.isfinite(p2[t]).all()):
            frames.append([])
            continue
        frames.append([{"pose2d": [round(v, 3) for v in p2[t].T.reshape(-1).tolist()],
                        "pose3d": [round(v, 5) for v in p3[t].T.reshape(-1).tolist()],
                        "cumscore": 1.0 if scores is None else float(scores[t])}])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"frames": frames}, separators=(",", ":")), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- reader

def read_smarthome(root) -> List[VideoRecord]:
    """Read Toyota Smarthome (trimmed) into records.

    Parameters
    ----------
    root : str or Path
        Folder holding ``<clip>.mp4`` and/or ``<clip>_pose3d.json`` (any depth).

    Returns
    -------
    list of VideoRecord
        One per clip, sorted by name: ``video_id`` = the clip name, ``label``
        = the activity, ``subject`` = ``str(int(PP))``, ``view`` =
        ``str(int(CC))`` (the camera the CV protocols split by), ``layout`` =
        ``lcrnet_13``, ``camera`` None (``screen`` holds the pixels), ``fps``
        20, ``meta`` = ``r``, ``v`` (two digits each).

    Raises
    ------
    DatasetLayoutError
        ``root`` is not a folder, or holds no clip.
    DataFormatError
        A ``.mp4`` / ``_pose3d.json`` name that is not a clip name of a
        Smarthome activity, or a clip present twice.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: not a folder (expected the Toyota Smarthome folder of "
                                 f"<Activity>_pPP_rRR_vVV_cCC.mp4 / _pose3d.json files)")
    files: Dict[str, Dict[str, Path]] = {}
    for suffix, kind in ((".mp4", "rgb"), (_POSE_SUFFIX, "skeleton")):
        for p in sorted(root.rglob(f"*{suffix}")):
            if not p.is_file():
                continue
            name = p.name[:-len(suffix)]
            SmarthomeClip(name, p)
            other = files.setdefault(name, {}).get(kind)
            if other is not None:
                raise DataFormatError(p, f"one {suffix} file per clip",
                                      f"a second copy of {name} (also {other})")
            files[name][kind] = p
    if not files:
        raise DatasetLayoutError(f"{root}: no <Activity>_pPP_rRR_vVV_cCC.mp4 or _pose3d.json "
                                 f"file; expected the Toyota Smarthome layout (see `adl datasets`)")
    records = []
    for name in sorted(files):
        f = files[name]
        clip = SmarthomeClip(name)
        skel = f.get("skeleton")
        records.append(VideoRecord(
            dataset="smarthome", video_id=name, label=clip.activity, subject=str(clip.subject),
            view=str(clip.camera), rgb=f.get("rgb"), skeleton=skel,
            skeleton_loader=load_smarthome_pose if skel is not None else None,
            layout="lcrnet_13", camera=None, fps=SMARTHOME_FPS,
            meta=(("r", f"{clip.r:02d}"), ("v", f"{clip.v:02d}"))))
    return records
