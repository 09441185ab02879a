"""Synthetic Toyota Smarthome (trimmed) in the native layout.

Files written (:func:`generate_smarthome`, also ``generate("smarthome", ...)``
and ``adl synth --dataset smarthome``)::

    ROOT/mp4/<Activity>_pPP_r00_vVV_cCC.mp4                  MPEG-4 video (mp4v)
    ROOT/skeletonv12/<Activity>_pPP_r00_vVV_cCC_pose3d.json  LCR-Net 13-joint poses

How a clip is made
------------------
* Subject ``k`` (0-based) is person ``p`` = the ``k // 2``-th cross-subject
  training subject (3, 4, 6, ...) for even ``k`` and the ``k // 2``-th test
  subject (2, 5, 8, ...) for odd ``k``, so that two subjects already give
  both sides of the CS protocol.
* ``videos_per_class`` takes cameras in the order c01, c02, c05, c03, c04,
  c06, c07 (three give CV1's training, test and validation cameras).  The
  cameras see one performance from different yaws (:data:`CAMERA_YAW`);
  ``v`` is the camera's running number, ``r`` is 00.
* The poses are the generator's skeleton in the 13 LCR-Net joints; ``pose3d``
  in camera-space metres, ``pose2d`` projected by the ``kinect_v1`` camera
  model into the video's own pixels (LCR-Net ran on the frames).  A frame
  with a dropped or partly missing skeleton is an empty person list.

The class table (:data:`SMARTHOME_SYNTH_CLASSES`) reuses scripts of
:mod:`data.synth._classes` under Smarthome activity names so that the reader
runs round trip; ``Cook.Stir`` is a cross-subject-only class (not in CV's 19).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..geometry import get_camera
from ..layouts import KINECT_V1_20, LCRNET_13
from ..protocols import SMARTHOME_CS_TRAIN_SUBJECTS
from ..smarthome import SMARTHOME_ACTIVITIES, write_smarthome_pose

__all__ = ["SMARTHOME_SYNTH_CLASSES", "CAMERA_YAW", "CAMERA_ORDER", "lcrnet_joints",
           "generate_smarthome"]

#: Yaw (degrees) added to the subject's orientation for cameras c01-c07.
CAMERA_YAW = {1: 0.0, 2: 50.0, 3: -30.0, 4: 30.0, 5: -50.0, 6: 80.0, 7: -80.0}
#: The cameras ``videos_per_class`` takes, in order.
CAMERA_ORDER = (1, 2, 5, 3, 4, 6, 7)
_TEST_SUBJECTS = tuple(p for p in range(2, 100) if p not in SMARTHOME_CS_TRAIN_SUBJECTS)
_CODE = 1907
_FPS = 20.0


def _class_table():
    from ._classes import CUP, GLASS, PILLS, ClassDef, cooking, hand_to_mouth, phone, \
        stand_up, walk
    return {c.name: c for c in (
        ClassDef("Cook.Stir", cooking(fast=False), note="cross-subject only"),
        ClassDef("Drink.Fromcup", hand_to_mouth(CUP, "cup", sub="drinking")),
        ClassDef("Drink.Fromglass", hand_to_mouth(GLASS, "glass", sub="drinking")),
        ClassDef("Getup", stand_up()),
        ClassDef("Sitdown", stand_up(), reverse=True, note="Getup played backwards"),
        ClassDef("Takepills", hand_to_mouth(PILLS, "pill_bottle", sub="drinking")),
        ClassDef("Usetelephone", phone("living")),
        ClassDef("Walk", walk("open")),
    )}


SMARTHOME_SYNTH_CLASSES = _class_table()
"""Activity name -> :class:`data.synth._classes.ClassDef`."""
assert set(SMARTHOME_SYNTH_CLASSES) <= set(SMARTHOME_ACTIVITIES)


def lcrnet_joints(j20: np.ndarray) -> np.ndarray:
    """Kinect v1 20 joints ``(T, 20, 3)`` -> the 13 LCR-Net joints ``(T, 13, 3)``
    (the same named joints; LCR-Net has no spine, hands or feet)."""
    idx = [KINECT_V1_20.index(n) for n in LCRNET_13.joints]
    return np.asarray(j20)[:, idx]


def subject_id(k: int) -> int:
    """The Smarthome person number of synthetic subject ``k`` (0-based)."""
    return SMARTHOME_CS_TRAIN_SUBJECTS[k // 2] if k % 2 == 0 else _TEST_SUBJECTS[k // 2]


def generate_smarthome(dataset: str, out, *, seed: int = 0, subjects: Optional[int] = None,
                       videos_per_class: int = 1, frames: int = 48,
                       image_size: Optional[Tuple[int, int]] = None,
                       classes: Optional[List[str]] = None) -> dict:
    """Write a synthetic Toyota Smarthome dataset (layout in the module docstring).

    Parameters
    ----------
    dataset : {"smarthome"}
    out : str or Path
        Dataset root (created).
    seed : int
        Everything derives from it: the same arguments give identical files.
    subjects : int, optional
        Number of persons, 1-22 (default 2: one CS training, one test person).
    videos_per_class : int
        Cameras per person and activity, 1-7 (:data:`CAMERA_ORDER`).
    frames : int
        Frames per clip (>= 4).
    image_size : (width, height), optional
        Default 640x480.
    classes : list of str, optional
        Activities of :data:`SMARTHOME_SYNTH_CLASSES` (default all).

    Returns
    -------
    dict
        As :func:`data.synth.generate` (``n_videos``, ``n_frames``,
        ``per_class``, ``per_subject``, ``videos``...).

    Raises
    ------
    ValueError
        An argument out of range or an unknown class.
    """
    import cv2
    from ._generate import (DatasetSpec, check_writer_args, finish_summary, make_subject, _plain_ids, render,
                            simulate, _Stage)
    if dataset != "smarthome":
        raise ValueError(f"expected dataset 'smarthome', got {dataset!r}")
    cam = get_camera("kinect_v1")
    n_subj, videos_per_class, T, size, chosen = check_writer_args(
        "smarthome", subjects, videos_per_class, frames, image_size, classes,
        default_subjects=2, max_subjects=2 * len(SMARTHOME_CS_TRAIN_SUBJECTS), subjects_hint="",
        max_videos=len(CAMERA_ORDER), videos_hint=" for Smarthome (one per camera)",
        native_size=cam.image_size,
        class_names=sorted(SMARTHOME_SYNTH_CLASSES))
    names = sorted(chosen)
    spec = DatasetSpec("smarthome", _CODE, "kinect_v1", KINECT_V1_20, 2, _plain_ids)
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    pids = [str(subject_id(k)) for k in range(int(n_subj))]
    scale = np.asarray(size, np.float64) / np.asarray(cam.image_size, np.float64)
    summary = {"dataset": dataset, "root": str(root), "seed": int(seed), "frames_per_video": T,
               "image_size": list(size), "camera": None, "camera_image_size": list(size),
               "layout": LCRNET_13.name, "classes": names, "subjects": pids,
               "counts": {n: {s: 0 for s in pids} for n in names}, "subject_info": {},
               "videos": []}
    n_frames = 0
    for k, pid in enumerate(pids):
        subject = make_subject(spec, seed, k, pid)
        summary["subject_info"][pid] = subject.describe()
        stages: Dict[int, object] = {}
        for ci, name in enumerate(names):
            cdef = SMARTHOME_SYNTH_CLASSES[name]
            for v, camera in enumerate(CAMERA_ORDER[:int(videos_per_class)], 1):
                x, y, z, yaw = subject.base
                seen = dataclasses.replace(subject, base=(x, y, z, yaw + CAMERA_YAW[camera]))
                if camera not in stages:
                    stages[camera] = _Stage(spec, seen, size)
                video = simulate(spec, cdef, ci, seen, 0, T, seed)
                clip = f"{name}_p{int(pid):02d}_r00_v{v:02d}_c{camera:02d}"
                mp4 = root / "mp4" / f"{clip}.mp4"
                pose = root / "skeletonv12" / f"{clip}_pose3d.json"
                p3 = lcrnet_joints(video.skeleton)
                write_smarthome_pose(pose, p3, cam.project(p3) * scale)
                n_frames += _write_mp4(mp4, render(stages[camera], cdef, video), size, cv2)
                summary["counts"][name][pid] += 1
                summary["videos"].append({
                    "video_id": clip, "label": name, "subject": pid, "camera": camera,
                    "frames": T, "dropped": np.flatnonzero(video.dropped).tolist(),
                    "skeleton": pose.relative_to(root).as_posix(),
                    "rgb": mp4.relative_to(root).as_posix()})
    return finish_summary(summary, n_frames, pids)


def _write_mp4(path: Path, frames, size, cv2) -> int:
    from ._generate import write_video
    return write_video(path, frames, size, cv2, fourcc="mp4v", fps=_FPS, what="an MPEG-4 (mp4v)")
