"""Synthetic NTU RGB+D 60 / 120 in the native layout, and the full-size
synthetic sample-name lists the official split sizes are checked on.

Files written (:func:`generate_ntu`, also ``generate("ntu60" | "ntu120", ...)``
and ``adl synth --dataset ntu60``)::

    ROOT/nturgb+d_skeletons/SsssCcccPpppRrrrAaaa.skeleton   the .skeleton text format
    ROOT/nturgb+d_rgb/SsssCcccPpppRrrrAaaa_rgb.avi          MJPG video
    ROOT/NTU_RGBD_samples_with_missing_skeletons.txt        (NTU_RGBD120_... for ntu120)

How a sample is made
--------------------
* Performer ``k`` (``P00k``) is the synthetic subject of :mod:`data.synth`
  (body, look, pace, handedness).  Setup: ``S001``/``S002`` alternately by
  performer for actions A001-A060 and ``S018``/``S019`` for the NTU-120
  actions, so that every protocol has two sides on a few performers.
* ``videos_per_class`` takes the (camera, replication) pairs in the order
  C1R1, C2R1, C3R1, C1R2, C2R2, C3R2 (at most 6).  The three cameras see *one*
  performance (same motion, noise and dropped frames) from yaw -45, 0 and +45
  degrees about the performer, as NTU's three cameras record at once.
* The skeleton is the generator's Kinect v1 skeleton turned into the Kinect
  v2 25 joints (:func:`kinect_v2_joints`), one body (``bodyID`` derived from
  the seed and performer), colour pixels by the ``kinect_v2`` camera model at
  1920x1080 whatever the video size, depth pixels by a nominal 512x424
  depth camera.  A dropped frame has body count 0; a dropped hand is written
  ``0 0 0`` with tracking state 0.
* ``missing_skeletons`` samples (the last ones in name order) get a
  skeleton file whose every frame has body count 0 and are listed in the
  missing-skeleton list, as in the real dataset.

The class table (:data:`NTU_SYNTH_CLASSES`) reuses scripts of
:mod:`data.synth._classes` under real NTU action names; it exists so that
the readers run round trip, not to model NTU's classes.
``cues="deep"`` (``adl synth --cues deep``) writes the designed deep-stage
cue classes of :mod:`data.synth.deep_cues` instead (an object in one hand
during one window; a bend to the foot early or late), with where each cue
is in the summary.

Full-size id lists
------------------
:func:`ntu_sample_names` lists 56,880 (NTU-60) or 114,480 (NTU-120) names
with every sample a (setup, performer) pair has: 3 cameras x 2
replications x 60 actions (A001-A060 in S001-S017, A061-A120 in
S018-S032).  The real performer-to-setup table is not published here, so the
pairs are a synthetic composition with the published per-side counts: 158
NTU-60 pairs, 112 of them with a cross-subject training performer; 160 NTU-120
pairs, 64 with a training performer; 152 pairs in even setups.
:func:`ntu_missing_names` lists 302 / 535 names spread so that dropping
them gives the quoted split sizes (DATASETS.md section 4).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..geometry import CameraModel, get_camera
from ..layouts import KINECT_V1_20, KINECT_V2_25
from ..ntu import (MISSING_LIST_NAMES, NTU_ACTIONS, NtuSampleId, write_missing_list,
                   write_ntu_skeleton)
from ..protocols import NTU120_CS_TRAIN_SUBJECTS, NTU60_CS_TRAIN_SUBJECTS
from ._classes import ClassDef

__all__ = ["NTU_SYNTH_CLASSES", "CUE_TABLES", "NTU_DEPTH_CAMERA", "CAMERA_YAW", "kinect_v2_joints",
           "generate_ntu", "ntu_sample_names", "ntu_missing_names"]

#: Nominal Kinect v2 depth camera (512x424, f ~ 365 px) for ``depthX, depthY``.
NTU_DEPTH_CAMERA = CameraModel("kinect_v2_depth", "pinhole", (512, 424), (365.5, 365.5, 255.5, 211.5))
#: Yaw (degrees) added to the performer's orientation for cameras C001-C003.
CAMERA_YAW = {1: -45.0, 2: 0.0, 3: 45.0}
_COMBOS = [(c, r) for r in (1, 2) for c in (1, 2, 3)]
_CODES = {"ntu60": 601, "ntu120": 1201}
_BODY_ID_BASE = 72057594037927936          # 2**56, the magnitude of real NTU body ids


def _class_table():
    from ._classes import CUP, PILLS, SNACK, ClassDef, hand_to_mouth, phone, pick_up, \
        pill_container, stand_up

    def cd(a, script, **kw):
        return a, ClassDef(NTU_ACTIONS[a - 1], script, **kw)

    return dict((
        cd(1, hand_to_mouth(CUP, "cup", sub="drinking")),
        cd(2, hand_to_mouth(SNACK, "snack", sub="eating")),
        cd(6, pick_up()),
        cd(8, stand_up(), reverse=True, note="standing up played backwards"),
        cd(9, stand_up()),
        cd(28, phone("living")),
        cd(78, pill_container(), note="NTU-120 only"),
        cd(80, hand_to_mouth(PILLS, "pill_bottle", sub="drinking"), note="NTU-120 only"),
    ))


NTU_SYNTH_CLASSES = _class_table()
"""Action number -> :class:`data.synth._classes.ClassDef` (the name is NTU's)."""


def kinect_v2_joints(j20: np.ndarray) -> np.ndarray:
    """Kinect v1 20 joints ``(T, 20, 3)`` -> Kinect v2 25 joints ``(T, 25, 3)``.

    Shared joints are copied (hip centre = spine base, spine = spine mid,
    shoulder centre = spine shoulder); the neck is 30 % of the way from the
    spine shoulder to the head; a hand tip continues the wrist-to-hand bone by
    60 %, a thumb sits 30 % along it plus 2 cm up.  NaN stays NaN.
    """
    j20 = np.asarray(j20, dtype=np.float64)
    v1 = {n: j20[:, i] for i, n in enumerate(KINECT_V1_20.joints)}
    out = {
        "spine_base": v1["hip_center"], "spine_mid": v1["spine"],
        "neck": v1["shoulder_center"] + 0.3 * (v1["head"] - v1["shoulder_center"]),
        "spine_shoulder": v1["shoulder_center"],
    }
    for n in KINECT_V2_25.joints:
        if n in v1 and n not in out:
            out[n] = v1[n]
    for side in ("left", "right"):
        bone = v1[f"hand_{side}"] - v1[f"wrist_{side}"]
        out[f"handtip_{side}"] = v1[f"hand_{side}"] + 0.6 * bone
        out[f"thumb_{side}"] = v1[f"hand_{side}"] + 0.3 * bone + np.array([0.0, 0.02, 0.0])
    return np.stack([out[n] for n in KINECT_V2_25.joints], axis=1)


#: ``cues`` values of :func:`generate_ntu`: None, the readers' class table
#: (:data:`NTU_SYNTH_CLASSES`); ``"deep"``, the designed deep-stage cues
#: (:mod:`data.synth.deep_cues`).
CUE_TABLES = (None, "deep")


def _cue_table(cues) -> Dict[int, ClassDef]:
    if cues is None:
        return NTU_SYNTH_CLASSES
    if cues == "deep":
        from .deep_cues import DEEP_CUE_CLASSES
        return {a: cdef for a, (cdef, _) in DEEP_CUE_CLASSES.items()}
    raise ValueError(f"cues must be None (the readers' class table) or 'deep' (the designed "
                     f"deep-stage cues), got {cues!r}")


def _check(dataset, subjects, videos_per_class, frames, image_size, classes, cues=None):
    if dataset not in _CODES:
        raise ValueError(f"unknown synthetic NTU dataset {dataset!r}; expected ntu60 or ntu120")
    from ._generate import check_writer_args
    max_action = 60 if dataset == "ntu60" else 120
    table = {a: c for a, c in _cue_table(cues).items() if a <= max_action}
    by_name = {c.name: a for a, c in table.items()}
    subjects, videos_per_class, frames, size, names = check_writer_args(
        dataset, subjects, videos_per_class, frames, image_size, classes, default_subjects=3,
        max_subjects=999, subjects_hint=" (performers P001-P999)", max_videos=len(_COMBOS),
        videos_hint=" for NTU (3 cameras x 2 replications)",
        native_size=get_camera("kinect_v2").image_size, class_names=list(by_name))
    chosen = sorted(by_name[c] for c in names)
    return int(subjects), int(videos_per_class), int(frames), size, [(a, table[a]) for a in chosen]


def generate_ntu(dataset: str, out, *, seed: int = 0, subjects: Optional[int] = None,
                 videos_per_class: int = 1, frames: int = 48,
                 image_size: Optional[Tuple[int, int]] = None,
                 classes: Optional[List[str]] = None, missing_skeletons: int = 0,
                 cues: Optional[str] = None) -> dict:
    """Write a synthetic NTU RGB+D 60 / 120 dataset (layout in the module docstring).

    Parameters
    ----------
    dataset : {"ntu60", "ntu120"}
    out : str or Path
        Dataset root (created).
    seed : int
        Everything derives from it: the same arguments give identical files.
    subjects : int, optional
        Performers P001.. (default 3).
    videos_per_class : int
        (camera, replication) pairs per performer and action, 1-6.
    frames : int
        Frames per sample (>= 4).
    image_size : (width, height), optional
        Video size; default 1920x1080.  The skeleton's colour pixels stay in
        1920x1080 (the camera model's size), as in the real files.
    classes : list of str, optional
        NTU action names from the class table (default all of the version's).
    missing_skeletons : int
        Samples written with an empty skeleton and listed as missing.
    cues : {None, "deep"}
        The class table: None, :data:`NTU_SYNTH_CLASSES` (the readers' round
        trip); ``"deep"``, the designed deep-stage cues of
        :mod:`data.synth.deep_cues` (one hand, one segment).

    Returns
    -------
    dict
        As :func:`data.synth.generate` (``n_videos``, ``n_frames``,
        ``per_class``, ``per_subject``, ``videos``...), plus ``missing``
        (the listed names) and ``missing_list`` (its path relative to the root).
        With ``cues="deep"`` also ``cues``, ``cue_design`` (class -> its
        design) and, per video, ``cue`` (where the cue is:
        :func:`data.synth.deep_cues.cue_ground_truth`).

    Raises
    ------
    ValueError
        An argument out of range, an unknown class or ``cues`` value, or
        more missing skeletons than samples.
    """
    import cv2
    from ._generate import (DatasetSpec, finish_summary, make_subject, _plain_ids, render,
                            simulate, _Stage, write_video)
    n_subj, reps, T, size, chosen = _check(dataset, subjects, videos_per_class, frames,
                                           image_size, classes, cues)
    deep = None
    if cues == "deep":
        from . import deep_cues as deep
    n_total = n_subj * reps * len(chosen)
    if isinstance(missing_skeletons, bool) or not 0 <= int(missing_skeletons) <= n_total:
        raise ValueError(f"missing_skeletons must be in 0..{n_total} (the samples written), got "
                         f"{missing_skeletons!r}")
    spec = DatasetSpec(dataset, _CODES[dataset], "kinect_v2", KINECT_V1_20, 3, _plain_ids)
    color_cam = get_camera("kinect_v2")
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    sids = _plain_ids(n_subj)
    names = [c.name for _, c in chosen]
    summary = {"dataset": dataset, "root": str(root), "seed": int(seed), "frames_per_video": T,
               "image_size": list(size), "camera": "kinect_v2",
               "camera_image_size": list(color_cam.image_size), "layout": KINECT_V2_25.name,
               "classes": names, "subjects": sids,
               "counts": {n: {s: 0 for s in sids} for n in names}, "subject_info": {},
               "videos": []}
    if deep is not None:
        summary["cues"] = cues
        summary["cue_design"] = deep.cue_design([a for a, _ in chosen])
    samples = []
    for si, sid in enumerate(sids):
        subject = make_subject(spec, seed, si, sid)
        summary["subject_info"][sid] = subject.describe()
        stages: Dict[int, object] = {}
        for ci, (action, cdef) in enumerate(chosen):
            setup = (1 if action <= 60 else 18) + si % 2
            for camera, rep in _COMBOS[:reps]:
                x, y, z, yaw = subject.base
                seen = dataclasses.replace(subject, base=(x, y, z, yaw + CAMERA_YAW[camera]))
                if camera not in stages:
                    stages[camera] = _Stage(spec, seen, size)
                cue, performed = None, cdef
                if deep is None:
                    video = simulate(spec, cdef, ci, seen, rep - 1, T, seed)
                else:
                    # a group's members share one random stream (noise, drops, flicker),
                    # so that their files differ only where the designed cue is
                    spec_cue = deep.DEEP_CUE_CLASSES[action][1]
                    performed = deep.for_subject(cdef, seen.left_handed)
                    video = simulate(spec, performed, 1000 + deep.CUE_GROUPS[spec_cue.group],
                                     seen, rep - 1, T, seed)
                    cue = deep.cue_ground_truth(spec_cue, video, stages[camera].view)
                sample = NtuSampleId(setup, camera, si + 1, rep, action)
                samples.append((sample, seen, performed, video, stages[camera], cue))
    samples.sort(key=lambda item: item[0].name)
    missing = {s.name for s, *_ in samples[len(samples) - int(missing_skeletons):]} \
        if missing_skeletons else set()
    n_frames = 0
    for sample, seen, cdef, video, stage, cue in samples:
        skel = root / "nturgb+d_skeletons" / f"{sample.name}.skeleton"
        rgb = root / "nturgb+d_rgb" / f"{sample.name}_rgb.avi"
        j25 = kinect_v2_joints(video.skeleton)
        if sample.name in missing:
            j25 = np.full_like(j25, np.nan)
        body_id = _BODY_ID_BASE + (int(seed) % 10 ** 6) * 1000 + sample.performer
        write_ntu_skeleton(skel, j25[:, None], color_xy=color_cam.project(j25)[:, None],
                           depth_xy=NTU_DEPTH_CAMERA.project(j25)[:, None], body_ids=[body_id])
        n_frames += write_video(rgb, render(stage, cdef, video), size, cv2)
        sid = str(sample.performer)
        summary["counts"][cdef.name][sid] += 1
        summary["videos"].append({
            "video_id": sample.name, "label": cdef.name, "subject": sid,
            "rep": sample.replication, "camera": sample.camera, "setup": sample.setup,
            "frames": T, "dropped": np.flatnonzero(video.dropped).tolist(),
            "skeleton": skel.relative_to(root).as_posix(), "rgb": rgb.relative_to(root).as_posix()})
        if cue is not None:
            summary["videos"][-1]["cue"] = cue
    listed = sorted(missing)
    write_missing_list(root / MISSING_LIST_NAMES[dataset], listed, dataset)
    summary["missing"] = listed
    summary["missing_list"] = MISSING_LIST_NAMES[dataset]
    return finish_summary(summary, n_frames, sids)


# --------------------------------------------------------------------------- full-size id lists

def _deal(performers: Sequence[Tuple[int, int]], setup_sizes: Sequence[Tuple[int, int]]
          ) -> List[Tuple[int, int]]:
    """(setup, performer) pairs: performers with multiplicities (``(id, n)``)
    dealt round by round into setups of the given sizes; a performer's copies
    are at least a round apart, so never twice in one setup (rounds >= the
    largest setup)."""
    rounds = []
    r = 0
    while True:
        row = [p for p, n in performers if n > r]
        if not row:
            break
        rounds.extend(row)
        r += 1
    pairs, pos = [], 0
    for setup, n in setup_sizes:
        chunk = rounds[pos:pos + n]
        assert len(set(chunk)) == len(chunk) == n, "a performer dealt twice into one setup"
        pairs.extend((setup, p) for p in chunk)
        pos += n
    assert pos == len(rounds), "performer copies left over"
    return pairs


def _interleave(a: List[Tuple[int, int]], b: List[Tuple[int, int]]) -> List[Tuple[int, int]]:
    out = []
    for i in range(max(len(a), len(b))):
        out.extend(x[i] for x in (a, b) if i < len(x))
    return out


def _pairs(version: str) -> List[Tuple[int, int]]:
    train60 = list(NTU60_CS_TRAIN_SUBJECTS)
    test60 = [p for p in range(1, 41) if p not in train60]
    # 112 training pairs (12 performers in 6 setups, 8 in 5), 46 test pairs (6 x 3, 14 x 2)
    perf60 = _interleave([(p, 6 if i < 12 else 5) for i, p in enumerate(train60)],
                         [(p, 3 if i < 6 else 2) for i, p in enumerate(test60)])
    # 74 pairs in the 8 even setups, 84 in the 9 odd ones
    even, odd = iter([9] * 6 + [10] * 2), iter([9] * 6 + [10] * 3)
    sizes60 = [(s, next(even) if s % 2 == 0 else next(odd)) for s in range(1, 18)]
    pairs = _deal(perf60, sizes60)
    if version == "ntu120":
        train = [p for p in NTU120_CS_TRAIN_SUBJECTS if p > 40]
        test = [p for p in range(41, 107) if p not in train]
        # 64 training pairs (31 x 2, 2 x 1), 96 test pairs (30 x 3, 3 x 2)
        perf = _interleave([(p, 2 if i < 31 else 1) for i, p in enumerate(train)],
                           [(p, 3 if i < 30 else 2) for i, p in enumerate(test)])
        # 78 pairs in the 8 even setups, 82 in the 7 odd ones
        even, odd = iter([10] * 6 + [9] * 2), iter([12] * 5 + [11] * 2)
        pairs += _deal(perf, [(s, next(even) if s % 2 == 0 else next(odd))
                              for s in range(18, 33)])
    return pairs


def ntu_sample_names(version: str = "ntu60") -> List[str]:
    """All sample names of a full-size synthetic NTU RGB+D 60 (56,880) or 120
    (114,480) id list, sorted (composition in the module docstring)."""
    if version not in _CODES:
        raise ValueError(f"unknown NTU version {version!r}; expected ntu60 or ntu120")
    names = []
    for setup, perf in _pairs(version):
        actions = range(1, 61) if setup <= 17 else range(61, 121)
        names.extend(NtuSampleId(setup, c, perf, r, a).name
                     for c in (1, 2, 3) for r in (1, 2) for a in actions)
    return sorted(names)


def _pick(names: List[str], n: int) -> List[str]:
    """``n`` names spread evenly over ``names``."""
    if n > len(names):
        raise ValueError(f"cannot pick {n} of {len(names)} names")
    idx = np.linspace(0, len(names) - 1, n).round().astype(int) if n else []
    return [names[i] for i in idx]


def ntu_missing_names(version: str = "ntu60") -> List[str]:
    """A synthetic missing-skeleton list for :func:`ntu_sample_names`: 302
    (NTU-60) or 535 (NTU-120) names, spread so that dropping them leaves the
    quoted split sizes: NTU-60 cross-subject 40,091 / 16,487 and cross-view
    37,646 / 18,932; NTU-120 cross-subject 63,026 / 50,919 and cross-setup
    54,468 / 59,477 (DATASETS.md section 4; the NTU-120 figures are the
    commonly quoted, unverified ones)."""
    names = [NtuSampleId.parse(n) for n in ntu_sample_names(version)]
    train60 = set(NTU120_CS_TRAIN_SUBJECTS)

    def group(part60, train, cams, even):
        return [s.name for s in names if (s.setup <= 17) == part60
                and (s.performer in train60) == train and s.camera in cams
                and (s.setup % 2 == 0) == even]

    # (NTU-60 part, training performer, cameras, even setup) -> how many
    quotas = {(True, True, (2, 3), True): 115, (True, True, (2, 3), False): 114,
              (True, False, (1,), True): 14, (True, False, (1,), False): 14,
              (True, False, (2, 3), True): 22, (True, False, (2, 3), False): 23}
    if version == "ntu120":
        quotas.update({(False, True, (1, 2, 3), True): 52, (False, True, (1, 2, 3), False): 53,
                       (False, False, (1, 2, 3), True): 49, (False, False, (1, 2, 3), False): 79})
    out = []
    for key, n in quotas.items():
        out += _pick(group(*key), n)
    return sorted(out)
