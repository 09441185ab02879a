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
    from ._generate import (DatasetSpec, check_writer_args, finish_summary, make_subject, _plain_ids, render,
                            simulate, _Stage)
    if dataset != "nucla":
        raise ValueError(f"expected dataset 'nucla', got {dataset!r}")
    cam = get_camera("kinect_v1")
    by_name = {c.name: a for a, c in NUCLA_SYNTH_CLASSES.items()}
    n_subj, videos_per_class, T, size, names = check_writer_args(
        "nucla", subjects, videos_per_class, frames, image_size, classes, default_subjects=2,
        max_subjects=99, subjects_hint=" (s01-s99)", max_videos=99,
        videos_hint=" (environments e00-e98)", native_size=cam.image_size,
        class_names=list(by_name))
    chosen = sorted(by_name[c] for c in names)
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
    return finish_summary(summary, n_frames, sids)
