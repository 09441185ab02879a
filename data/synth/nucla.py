"""Synthetic N-UCLA (Northwestern-UCLA Multiview Action3D) in the native layout.

Files written (:func:`generate_nucla`, also ``generate("nucla", ...)`` and
``adl synth --dataset nucla``)::

    ROOT/multiview_action/view_<V>/a<AA>_s<SS>_e<EE>/
        fileList.txt, frame_<f>_tc_<tc>_rgb.jpg, frame_<f>_tc_<tc>_skeletons.txt

How a sample is made
--------------------
* Subject ``k`` (0-based) is ``s<k+1>``; ``videos_per_class`` repetitions are
  environments ``e00``, ``e01``...; every sample is seen by the three views
  (yaw -40, 0 and +40 degrees about the subject, :data:`VIEW_YAW`), which
  record one performance, as N-UCLA's three Kinects did.
* The skeleton is the generator's Kinect v1 skeleton (metres); a dropped frame
  has a ``fileList.txt`` line of two numbers and no skeleton file; a dropped
  hand is written ``0,0,0,0``.  Frame numbers start at 0, time codes are
  33.4 ms apart (RGB) with the skeleton's 3 ms later.

The class table (:data:`NUCLA_SYNTH_CLASSES`) reuses scripts of
:mod:`data.synth._classes` under N-UCLA action names so that the reader runs
round trip.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..geometry import get_camera
from ..layouts import KINECT_V1_20
from ..nucla import NUCLA_ACTIONS, write_nucla_sample

__all__ = ["NUCLA_SYNTH_CLASSES", "VIEW_YAW", "generate_nucla"]

#: Yaw (degrees) added to the subject's orientation for views 1-3.
VIEW_YAW = {1: -40.0, 2: 0.0, 3: 40.0}
_CODE = 2014


def _class_table():
    from ._classes import ClassDef, pick_up, stand_up, walk
    return {a: ClassDef(NUCLA_ACTIONS[a], script, reverse=rev) for a, script, rev in (
        (1, pick_up(), False), (4, walk("open"), False), (5, stand_up(), True),
        (6, stand_up(), False))}


NUCLA_SYNTH_CLASSES = _class_table()
"""Action folder id -> :class:`data.synth._classes.ClassDef` (N-UCLA's name)."""


def generate_nucla(dataset: str, out, *, seed: int = 0, subjects: Optional[int] = None,
                   videos_per_class: int = 1, frames: int = 48,
                   image_size: Optional[Tuple[int, int]] = None,
                   classes: Optional[List[str]] = None) -> dict:
    """Write a synthetic N-UCLA dataset (layout in the module docstring).

    Parameters
    ----------
    dataset : {"nucla"}
    out : str or Path
        Dataset root (created).
    seed : int
        Everything derives from it: the same arguments give identical files.
    subjects : int, optional
        Subjects s01.. (default 2, at most 99).
    videos_per_class : int
        Environments e00.. per subject and action (1-99); each in all 3 views.
    frames : int
        Frames per sample (>= 4).
    image_size : (width, height), optional
        Default 640x480.
    classes : list of str, optional
        Action names of :data:`NUCLA_SYNTH_CLASSES` (default all).

    Returns
    -------
    dict
        As :func:`data.synth.generate` (``n_videos`` counts one sample per view).

    Raises
    ------
    ValueError
        An argument out of range or an unknown class.
    """
    import cv2  # noqa: F401  (the writer needs OpenCV; fail before writing anything)
    from ._generate import DatasetSpec, _Stage, _plain_ids, make_subject, render, simulate
    if dataset != "nucla":
        raise ValueError(f"expected dataset 'nucla', got {dataset!r}")
    n_subj = 2 if subjects is None else subjects
    if isinstance(n_subj, bool) or not isinstance(n_subj, (int, np.integer)) \
            or not 1 <= n_subj <= 99:
        raise ValueError(f"subjects must be an integer in 1..99 (s01-s99), got {subjects!r}")
    if isinstance(videos_per_class, bool) or not isinstance(videos_per_class, (int, np.integer)) \
            or not 1 <= videos_per_class <= 99:
        raise ValueError(f"videos_per_class must be 1..99 (environments e00-e98), got "
                         f"{videos_per_class!r}")
    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 4:
        raise ValueError(f"frames must be an integer >= 4, got {frames!r}")
    cam = get_camera("kinect_v1")
    size = tuple(cam.image_size) if image_size is None else tuple(int(v) for v in image_size)
    if len(size) != 2 or min(size) < 16 or max(size) > 4096:
        raise ValueError(f"image_size must be (width, height) with 16 <= each <= 4096, got "
                         f"{image_size!r}")
    by_name = {c.name: a for a, c in NUCLA_SYNTH_CLASSES.items()}
    if classes is None:
        chosen = sorted(NUCLA_SYNTH_CLASSES)
    else:
        if isinstance(classes, str):
            raise TypeError("classes must be a list of class names, got a single string")
        unknown = [c for c in classes if c not in by_name]
        if unknown or not classes:
            raise ValueError(f"unknown or no classes {unknown!r} for synthetic nucla; expected "
                             f"a non-empty subset of {list(by_name)}")
        chosen = sorted({by_name[c] for c in classes})
    T = int(frames)
    spec = DatasetSpec("nucla", _CODE, "kinect_v1", KINECT_V1_20, 2, _plain_ids)
    root = Path(out)
    base_dir = root / "multiview_action"
    sids = _plain_ids(int(n_subj))
    names = [NUCLA_SYNTH_CLASSES[a].name for a in chosen]
    summary = {"dataset": dataset, "root": str(root), "seed": int(seed), "frames_per_video": T,
               "image_size": list(size), "camera": "kinect_v1",
               "camera_image_size": list(cam.image_size), "layout": KINECT_V1_20.name,
               "classes": names, "subjects": sids,
               "counts": {n: {s: 0 for s in sids} for n in names}, "subject_info": {},
               "videos": []}
    n_frames = 0
    for si, sid in enumerate(sids):
        subject = make_subject(spec, seed, si, sid)
        summary["subject_info"][sid] = subject.describe()
        stages: Dict[int, object] = {}
        for ci, a in enumerate(chosen):
            cdef = NUCLA_SYNTH_CLASSES[a]
            for rep in range(int(videos_per_class)):
                for view, yaw_off in VIEW_YAW.items():
                    x, y, z, yaw = subject.base
                    seen = dataclasses.replace(subject, base=(x, y, z, yaw + yaw_off))
                    if view not in stages:
                        stages[view] = _Stage(spec, seen, size)
                    video = simulate(spec, cdef, ci, seen, rep, T, seed)
                    folder = base_dir / f"view_{view}" / f"a{a:02d}_s{int(sid):02d}_e{rep:02d}"
                    imgs = list(render(stages[view], cdef, video))
                    write_nucla_sample(folder, video.skeleton, frames=imgs)
                    n_frames += len(imgs)
                    summary["counts"][cdef.name][sid] += 1
                    summary["videos"].append({
                        "video_id": f"{folder.name}_v{view}", "label": cdef.name,
                        "subject": sid, "view": view, "rep": rep, "frames": T,
                        "dropped": np.flatnonzero(video.dropped).tolist(),
                        "skeleton": (folder / "fileList.txt").relative_to(root).as_posix(),
                        "rgb": folder.relative_to(root).as_posix()})
    summary["n_videos"] = len(summary["videos"])
    summary["n_frames"] = n_frames
    summary["per_class"] = {c: sum(v.values()) for c, v in summary["counts"].items()}
    summary["per_subject"] = {s: sum(summary["counts"][c][s] for c in summary["counts"])
                              for s in sids}
    summary["dropped_frames"] = sum(len(v["dropped"]) for v in summary["videos"])
    return summary
