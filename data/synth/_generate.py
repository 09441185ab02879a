"""`generate`: simulate subjects and videos and write them in a native layout."""
from __future__ import annotations

import csv
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..cad import (write_cad60_labels, write_cad120_labeling, write_cad120_labels,
                   write_cad_skeleton)
from ..geometry import get_camera
from ..layouts import CAD_15, KINECT_V1_20, JointLayout
from ..msr_daily import write_msr_skeleton
from ._body import (JI, Body, Motion, base_to_camera, direction_to_camera, evaluate, mirror,
                    to_layout, torso_orientation)
from ._classes import CLASSES, ClassDef
from ._render import Look, VideoRenderer
from ._scene import View, room_background, scene_layers

SKELETON_NOISE_M = 0.007     # per-coordinate Gaussian jitter (~1.2 cm per joint in 3D)
HAND_EXTRA_NOISE_M = 0.008   # hands and wrists are tracked worse
TRACKER_FAST_GAIN = 0.3     # share of the fast small oscillations the skeleton tracker resolves
DROP_RATE = 0.03             # fraction of dropped skeleton frames (at least one per video)
OCCLUSION_PROB = 0.3         # probability that a video has a short hand-joint dropout
FPS = 30.0
_REVERSED_SUBACT = {"reaching": "placing", "placing": "reaching", "opening": "closing",
                    "closing": "opening", "leaning": "rising", "rising": "leaning"}


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    code: int                 # part of every seed, so datasets never share randomness
    camera: str
    layout: JointLayout
    default_subjects: int
    subject_ids: Callable[[int], List[str]]


def _cad120_ids(n: int) -> List[str]:
    base = [1, 3, 4, 5]
    ids = base[:n] + list(range(6, 6 + max(0, n - 4)))
    return [str(i) for i in ids]


def _plain_ids(n: int) -> List[str]:
    return [str(i + 1) for i in range(n)]


#: Datasets written by a module of their own ("module:function" in this package):
#: the deep-stage datasets, whose layouts and samples differ from the classical ones.
NATIVE_WRITERS: Dict[str, str] = {"ntu60": "ntu:generate_ntu", "ntu120": "ntu:generate_ntu",
                                  "smarthome": "smarthome:generate_smarthome",
                                  "nucla": "nucla:generate_nucla"}

SPECS: Dict[str, DatasetSpec] = {
    "cad60": DatasetSpec("cad60", 60, "cad60", CAD_15, 4, _plain_ids),
    "cad120": DatasetSpec("cad120", 120, "cad120", CAD_15, 4, _cad120_ids),
    "msr_daily": DatasetSpec("msr_daily", 3, "kinect_v1", KINECT_V1_20, 10, _plain_ids),
    "manifest": DatasetSpec("manifest", 7, "kinect_v1", KINECT_V1_20, 4, _plain_ids),
}


# --------------------------------------------------------------------------- subjects

@dataclass(frozen=True)
class Subject:
    """A synthetic person: body, handedness, pace, colours, spot in its room."""

    index: int
    sid: str
    body: Body
    left_handed: bool
    speed: float              # >= 1: the activity is done faster, with pauses at both ends
    warp: float               # symmetric time-warp amplitude (keeps time reversal exact)
    look: Look
    base: Tuple[float, float, float, float]
    room_seed: Tuple[int, ...]

    def describe(self) -> dict:
        return {"height_m": round(1.77 * self.body.scale, 3),
                "handedness": "left" if self.left_handed else "right",
                "speed": round(self.speed, 3), "shirt_bgr": list(self.look.shirt)}


_SKIN = ((175, 200, 235), (140, 170, 215), (105, 140, 190), (70, 100, 150), (50, 70, 110))


def _hsv_bgr(h, s, v):
    import cv2
    px = np.uint8([[[int(h) % 180, int(s), int(v)]]])
    return tuple(int(c) for c in cv2.cvtColor(px, cv2.COLOR_HSV2BGR)[0, 0])


def make_subject(spec: DatasetSpec, seed: int, index: int, sid: str) -> Subject:
    """The ``index``-th subject of ``spec`` (deterministic in ``seed``)."""
    rng = np.random.default_rng([seed, spec.code, 1, index])
    body = Body(scale=float(rng.uniform(0.92, 1.08)), arm=float(rng.uniform(0.96, 1.04)),
                leg=float(rng.uniform(0.96, 1.04)), shoulder=float(rng.uniform(0.9, 1.1)))
    look = Look(skin=_SKIN[int(rng.integers(len(_SKIN)))],
                shirt=_hsv_bgr(rng.integers(0, 180), rng.integers(120, 255),
                               rng.integers(110, 230)),
                pants=_hsv_bgr(rng.integers(0, 180), rng.integers(40, 200), rng.integers(40, 120)),
                hair=_hsv_bgr(rng.integers(0, 30), rng.integers(60, 200), rng.integers(20, 90)))
    if get_camera(spec.camera).kind == "pinhole":
        base = (float(rng.uniform(-0.2, 0.2)), float(rng.uniform(-1.05, -0.92)),
                float(rng.uniform(2.7, 3.1)), float(rng.uniform(-15, 15)))
    else:
        base = (float(rng.uniform(-0.15, 0.15)), float(rng.uniform(-0.95, -0.88)),
                float(rng.uniform(2.6, 3.0)), float(rng.uniform(-12, 12)))
    return Subject(index=index, sid=sid, body=body, left_handed=(index % 4 == 1),
                   speed=float(rng.uniform(1.0, 1.3)), warp=float(rng.uniform(-0.35, 0.35)),
                   look=look, base=base, room_seed=(seed, spec.code, 3, index))


# --------------------------------------------------------------------------- one video

@dataclass
class Video:
    clean: np.ndarray         # (T, 21, 3) camera-space joints drawn in the frames
    skeleton: np.ndarray      # (T, J, 3) measured joints in the dataset layout, NaN = missing
    facing: np.ndarray        # (T, 3)
    objects: list             # (Obj, pos_cam, visible, angle)
    subacts: List[str]        # per frame
    dropped: np.ndarray       # (T,) bool: whole skeleton frame missing
    rng: np.random.Generator  # continues the video's stream (brightness flicker)


def phase_and_time(T: int, speed: float, warp: float) -> Tuple[np.ndarray, np.ndarray]:
    """Script phase ``s`` (T,) and oscillation time in frames (T,).

    ``s = g(0.5 + (t - 0.5) * speed)`` clipped to [0, 1], with
    ``g(u) = u + warp * sin(2 pi u) / (2 pi)``.  Both maps are point-symmetric
    about t = 0.5, so ``s(1 - t) = 1 - s(t)``: a reversed script played with
    the same warp is exactly the time reverse of the forward one.
    """
    tt = np.linspace(0.0, 1.0, T)
    u = 0.5 + (tt - 0.5) * speed
    s = np.clip(u + warp * np.sin(2 * np.pi * u) / (2 * np.pi), 0.0, 1.0)
    return s, np.arange(T, dtype=np.float64) * speed


def simulate(spec: DatasetSpec, cdef: ClassDef, ci: int, subject: Subject, rep: int, T: int,
             seed: int, *, sit: Optional[float] = None) -> Video:
    """Evaluate, mirror, place and measure one video (no rendering)."""
    # the pace of a repetition is shared by all classes of the subject, so that a
    # reversed class is the exact time reverse of its partner (up to jitter and noise)
    pace = np.random.default_rng([seed, spec.code, 4, subject.index, rep])
    speed = subject.speed * float(pace.uniform(0.95, 1.05))
    warp = float(np.clip(subject.warp + pace.normal(0, 0.05), -0.6, 0.6))
    rng = np.random.default_rng([seed, spec.code, 2, subject.index, ci, rep])
    s, t = phase_and_time(T, speed, warp)
    if cdef.reverse:
        s, t = 1.0 - s, t[::-1].copy()
    jitter = {"rh": rng.normal(0, 0.006, 3), "lh": rng.normal(0, 0.006, 3),
              "bend": float(rng.normal(0, 1.0)), "x": float(rng.normal(0, 0.01)),
              "z": float(rng.normal(0, 0.01)), "yaw": float(rng.normal(0, 1.0))}
    motion = evaluate(cdef.script, subject.body, s, t, sit=sit, jitter=jitter)
    tracked = evaluate(cdef.script, subject.body, s, t, sit=sit, jitter=jitter,
                       fast_gain=TRACKER_FAST_GAIN).joints
    if subject.left_handed:
        motion = mirror(motion)
        tracked = mirror(Motion(tracked, motion.facing, [])).joints
    clean = base_to_camera(motion.joints, subject.base)
    facing = direction_to_camera(motion.facing, subject.base)
    objects = [(ob, base_to_camera(p, subject.base), vis, ang)
               for ob, p, vis, ang in motion.objects]

    meas = base_to_camera(tracked, subject.base)
    meas = meas + rng.normal(0, SKELETON_NOISE_M, meas.shape)
    hw = [JI[n] for n in ("hand_left", "hand_right", "wrist_left", "wrist_right")]
    meas[:, hw] += rng.normal(0, HAND_EXTRA_NOISE_M, (T, len(hw), 3))
    dropped = np.zeros(T, bool)
    if T >= 8:
        n = min(T - 2, max(1, int(rng.binomial(T, DROP_RATE))))
        dropped[rng.choice(np.arange(1, T - 1), size=n, replace=False)] = True
        if rng.random() < OCCLUSION_PROB:
            side = ("left", "right")[int(rng.integers(2))]
            a = int(rng.integers(1, T - 4))
            meas[a:a + int(rng.integers(1, 4)), [JI[f"hand_{side}"], JI[f"wrist_{side}"]]] = np.nan
    meas[dropped] = np.nan
    skeleton = to_layout(meas, spec.layout).astype(np.float32)

    subacts = []
    for si in s:
        name = next((n for e, n in cdef.script.subacts if si <= e + 1e-9),
                    cdef.script.subacts[-1][1])
        subacts.append(_REVERSED_SUBACT.get(name, name) if cdef.reverse else name)
    return Video(clean=clean, skeleton=skeleton, facing=facing, objects=objects,
                 subacts=subacts, dropped=dropped, rng=rng)


# --------------------------------------------------------------------------- rendering cache

class _Stage:
    """Per-subject rendering resources (room, scenes), built lazily."""

    def __init__(self, spec: DatasetSpec, subject: Subject, size: Tuple[int, int]):
        import cv2
        self.cv2 = cv2
        self.view = View(camera=get_camera(spec.camera), base=subject.base,
                         scale=subject.body.scale, mirrored=subject.left_handed, size=size)
        rng = np.random.default_rng(list(subject.room_seed))
        self.room = room_background(rng, self.view, cv2)
        self.look = subject.look
        self._scenes: Dict[str, VideoRenderer] = {}

    def renderer(self, scene: str) -> VideoRenderer:
        if scene not in self._scenes:
            bg, over, mask = scene_layers(scene, self.room, self.view, self.cv2)
            self._scenes[scene] = VideoRenderer(self.view, self.look, bg, over, mask)
        return self._scenes[scene]


def render(stage: _Stage, cdef: ClassDef, video: Video):
    return stage.renderer(cdef.script.scene).frames(video.clean, video.facing, video.objects,
                                                    video.rng)


# --------------------------------------------------------------------------- writers

def _png_params(cv2):
    # level 1 with the single "up" filter: twice as fast as level 1 with adaptive
    # filtering for 7 % larger files (measured on 640x480 synthetic frames)
    return [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]


def _write_pngs(folder: Path, frames, cv2) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    params = _png_params(cv2)
    n = 0
    for n, img in enumerate(frames, 1):
        if not cv2.imwrite(str(folder / f"RGB_{n}.png"), img, params):
            raise OSError(f"{folder / f'RGB_{n}.png'}: OpenCV could not write the frame")
    return n


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_writer_args(dataset: str, subjects, videos_per_class, frames, image_size, classes, *,
                      default_subjects: int, max_subjects: int, subjects_hint: str,
                      max_videos: int, videos_hint: str, native_size, class_names: Sequence[str]
                      ) -> Tuple[int, int, int, Tuple[int, int], set]:
    """The size arguments of a dataset writer, checked: ``(subjects,
    videos_per_class, frames, (width, height), chosen class names)``.

    Raises ValueError (TypeError for a single string as ``classes``) naming
    the argument, its allowed range (with the dataset's ``*_hint``) and the
    value found.
    """
    n_subj = default_subjects if subjects is None else subjects
    if not _is_int(n_subj) or not 1 <= n_subj <= max_subjects:
        raise ValueError(f"subjects must be an integer in 1..{max_subjects}{subjects_hint}, "
                         f"got {subjects!r}")
    if not _is_int(videos_per_class) or not 1 <= videos_per_class <= max_videos:
        raise ValueError(f"videos_per_class must be 1..{max_videos}{videos_hint}, got "
                         f"{videos_per_class!r}")
    if not _is_int(frames) or frames < 4:
        raise ValueError(f"frames must be an integer >= 4, got {frames!r}")
    size = tuple(native_size) if image_size is None else tuple(int(v) for v in image_size)
    if len(size) != 2 or min(size) < 16 or max(size) > 4096:
        raise ValueError(f"image_size must be (width, height) with 16 <= each <= 4096, got "
                         f"{image_size!r}")
    if classes is None:
        chosen = set(class_names)
    else:
        if isinstance(classes, str):
            raise TypeError("classes must be a list of class names, got a single string")
        unknown = [c for c in classes if c not in class_names]
        if unknown or not classes:
            raise ValueError(f"unknown or no classes {unknown!r} for synthetic {dataset}; "
                             f"expected a non-empty subset of {list(class_names)}")
        chosen = set(classes)
    return int(n_subj), int(videos_per_class), int(frames), size, chosen


def finish_summary(summary: dict, n_frames: int, subjects) -> dict:
    """Add the totals every writer's summary reports (videos, frames, per class,
    per subject, dropped frames) to ``summary`` and return it."""
    summary["n_videos"] = len(summary["videos"])
    summary["n_frames"] = n_frames
    summary["per_class"] = {c: sum(v.values()) for c, v in summary["counts"].items()}
    summary["per_subject"] = {s: sum(summary["counts"][c][s] for c in summary["counts"])
                              for s in subjects}
    summary["dropped_frames"] = sum(len(v["dropped"]) for v in summary["videos"])
    return summary


def write_video(path: Path, frames, size, cv2, *, fourcc: str = "MJPG", fps: float = FPS,
                what: str = "an MJPG AVI") -> int:
    """Write the BGR ``frames`` to the video file ``path``; returns the number written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, tuple(size))
    if not vw.isOpened():
        raise OSError(f"{path}: OpenCV cannot open {what} writer")
    n = 0
    try:
        for n, img in enumerate(frames, 1):
            vw.write(img)
    finally:
        vw.release()
    return n


def _segments(subacts: Sequence[str]) -> List[Tuple[int, int, str]]:
    """Run-length (start, end, name) with 1-based inclusive frames."""
    out, start = [], 0
    for i in range(1, len(subacts) + 1):
        if i == len(subacts) or subacts[i] != subacts[start]:
            out.append((start + 1, i, subacts[start]))
            start = i
    return out


def _affordances(video: Video, start: int, end: int) -> List[str]:
    out = []
    for ob, pos, vis, _ in video.objects:
        seg = pos[start - 1:end]
        seg = seg[np.isfinite(seg).all(-1)]
        moved = seg.shape[0] > 1 and float(np.ptp(seg, axis=0).max()) > 0.01
        out.append("movable" if moved else "stationary")
    return out


def _paths(dataset: str, root: Path, sid: str, si: int, ci: int, rep: int, label: str):
    """(video_id as the reader names it, skeleton path, RGB path) of one video."""
    if dataset in ("cad60", "cad120"):
        seq = f"05{si + 1:02d}{ci + 1:02d}{rep:04d}"     # 10 digits with a leading 0, as CAD's
        if dataset == "cad60":
            d = root / f"data{sid}"
            return f"cad60_s{sid}_{seq}", d / f"{seq}.txt", d / seq
        return (f"cad120_s{sid}_{seq}", root / f"Subject{sid}_annotations" / label / f"{seq}.txt",
                root / f"Subject{sid}_rgbd_images" / label / seq)
    if dataset == "msr_daily":
        stem = f"a{ci + 1:02d}_s{int(sid):02d}_e{rep + 1:02d}"
        return stem, root / f"{stem}_skeleton.txt", root / f"{stem}_rgb.avi"
    vid = f"s{int(sid):02d}_{label}_{rep + 1:02d}"
    return vid, root / "skeleton" / f"{vid}.npy", root / "rgb" / f"{vid}.avi"


class _LabelFiles:
    """Collects and writes the label files: CAD-60 ``activityLabel.txt`` per
    subject, CAD-120 ``activityLabel.txt`` + ``labeling.txt`` per subject and
    activity, the manifest CSV at the end."""

    def __init__(self, dataset: str, root: Path):
        self.dataset, self.root = dataset, root
        self.items: Dict[str, list] = {}
        self.rows: Dict[str, list] = {}
        self.manifest: List[list] = []

    def add(self, sid, label, vid, skel, rgb, video: Video):
        if self.dataset == "cad60":
            self.items.setdefault("", []).append((skel.stem, label))
        elif self.dataset == "cad120":
            seq = skel.stem
            objs = [(k + 1, ob.name) for k, (ob, *_) in enumerate(video.objects)]
            self.items.setdefault(label, []).append((seq, label, f"Subject{sid}", objs))
            rows = self.rows.setdefault(label, [])
            for a, b, name in _segments(video.subacts):
                rows.append((seq, a, b, name, *_affordances(video, a, b)))
        elif self.dataset == "manifest":
            self.manifest.append([vid, label, sid, rgb.relative_to(self.root).as_posix(),
                                  skel.relative_to(self.root).as_posix()])

    def flush_subject(self, sid):
        if self.dataset == "cad60" and self.items:
            write_cad60_labels(self.root / f"data{sid}" / "activityLabel.txt", self.items[""])
        elif self.dataset == "cad120":
            for act, items in self.items.items():
                ann = self.root / f"Subject{sid}_annotations" / act
                write_cad120_labels(ann / "activityLabel.txt", items)
                write_cad120_labeling(ann / "labeling.txt", self.rows[act])
        self.items, self.rows = {}, {}

    def finish(self, layout: str):
        if self.dataset != "manifest":
            return
        with open(self.root / "manifest.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["video_id", "label", "subject", "rgb", "skeleton", "layout", "view"])
            w.writerows(row + [layout, "1"] for row in self.manifest)


def _check_args(dataset, subjects, videos_per_class, frames, image_size, classes):
    if dataset not in SPECS:
        raise ValueError(f"unknown synthetic dataset {dataset!r}; expected one of "
                         f"{', '.join(SPECS)}")
    spec = SPECS[dataset]
    if subjects is None:
        subjects = spec.default_subjects
    if isinstance(subjects, bool) or not isinstance(subjects, (int, np.integer)) or subjects < 1:
        raise ValueError(f"subjects must be a positive integer, got {subjects!r}")
    if dataset == "msr_daily" and subjects > 99:
        raise ValueError(f"MSRDailyActivity3D file names hold two-digit subjects (s01-s99), "
                         f"got subjects={subjects}")
    if (isinstance(videos_per_class, bool) or not isinstance(videos_per_class, (int, np.integer))
            or videos_per_class < 1):
        raise ValueError(f"videos_per_class must be a positive integer, got {videos_per_class!r}")
    if dataset == "msr_daily" and videos_per_class > 2:
        raise ValueError("MSRDailyActivity3D has two environments per subject and action "
                         f"(e01 sitting, e02 standing): videos_per_class must be 1 or 2, "
                         f"got {videos_per_class}")
    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 4:
        raise ValueError(f"frames must be an integer >= 4, got {frames!r}")
    native = get_camera(spec.camera).image_size
    if image_size is None:
        size = tuple(native)
    else:
        try:
            size = tuple(int(v) for v in image_size)
        except (TypeError, ValueError):
            raise ValueError(f"image_size must be (width, height), got {image_size!r}") from None
        if len(size) != 2 or min(size) < 16 or max(size) > 4096:
            raise ValueError(f"image_size must be (width, height) with 16 <= each <= 4096, "
                             f"got {image_size!r}")
    all_names = [c.name for c in CLASSES[dataset]]
    if classes is None:
        chosen = list(range(len(all_names)))
    else:
        if isinstance(classes, str):
            raise TypeError("classes must be a list of class names, got a single string")
        unknown = [c for c in classes if c not in all_names]
        if unknown or not classes:
            raise ValueError(f"unknown or no classes {unknown!r} for {dataset}; expected a "
                             f"non-empty subset of {all_names}")
        chosen = [i for i, n in enumerate(all_names) if n in set(classes)]
    return spec, int(subjects), int(videos_per_class), int(frames), size, chosen


def generate(dataset: str, out, *, seed: int = 0, subjects: Optional[int] = None,
             videos_per_class: int = 1, frames: int = 48,
             image_size: Optional[Tuple[int, int]] = None,
             classes: Optional[List[str]] = None) -> dict:
    """Write a synthetic ADL dataset in the native layout of ``dataset``.

    Parameters
    ----------
    dataset : {"cad60", "cad120", "msr_daily", "manifest", "ntu60", "ntu120", "smarthome", "nucla"}
        Layout and class set (see the table in :mod:`data.synth`; the
        deep-stage datasets: :mod:`data.synth.ntu`, :mod:`data.synth.smarthome`,
        :mod:`data.synth.nucla`).
    out : str or Path
        Dataset root to create (existing files of the same names are overwritten).
    seed : int
        Everything (subjects, rooms, jitter, noise) derives from
        ``numpy.random.default_rng([seed, dataset, ...])``: the same arguments
        give bit-identical files.
    subjects : int, optional
        Number of subjects (default CAD-60 4, CAD-120 4 = ids 1, 3, 4, 5,
        MSR 10, manifest 4).  Subject ``k`` (0-based) is left-handed when
        ``k % 4 == 1``.
    videos_per_class : int
        Videos per class and subject (MSR: 1 or 2 = environments e01 sitting /
        e02 standing).
    frames : int
        Frames per video (>= 4).
    image_size : (width, height), optional
        Output frame size; default the camera's native size (CAD-60 320x240,
        CAD-120 640x480, MSR and manifest 640x480).  Frames are rendered with
        the dataset's camera model and scaled to this size, so a joint projects
        to ``camera.project(xyz) * (image_size / camera.image_size)``.
    classes : list of str, optional
        Subset of the dataset's classes (default all).

    Returns
    -------
    dict
        ``dataset``, ``root``, ``seed``, ``n_videos``, ``n_frames`` (RGB frames
        written), ``frames_per_video``, ``image_size``, ``camera``,
        ``camera_image_size``, ``layout``, ``classes``, ``subjects`` (ids),
        ``counts`` ({class: {subject: n}}), ``per_class``, ``per_subject``,
        ``subject_info`` ({subject: height, handedness, speed, shirt}),
        ``dropped_frames`` (total), ``videos`` (one dict per video: ``video_id``
        as the reader names it, ``label``, ``subject``, ``rep``, ``frames``,
        ``dropped`` frame indices, ``skeleton``/``rgb`` paths relative to the root).

    Raises
    ------
    ValueError
        Unknown dataset or class, or an argument out of range.
    """
    if dataset in NATIVE_WRITERS:                  # the deep-stage datasets' own writers
        module, func = NATIVE_WRITERS[dataset].split(":")
        writer = getattr(importlib.import_module(f"{__package__}.{module}"), func)
        return writer(dataset, out, seed=seed, subjects=subjects,
                      videos_per_class=videos_per_class, frames=frames, image_size=image_size,
                      classes=classes)
    import cv2
    spec, n_subj, reps, T, size, chosen = _check_args(dataset, subjects, videos_per_class,
                                                      frames, image_size, classes)
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    sids = spec.subject_ids(n_subj)
    cdefs = CLASSES[dataset]
    summary = {"dataset": dataset, "root": str(root), "seed": int(seed), "frames_per_video": T,
               "image_size": list(size), "camera": spec.camera,
               "camera_image_size": list(get_camera(spec.camera).image_size),
               "layout": spec.layout.name, "classes": [cdefs[i].name for i in chosen],
               "subjects": sids, "counts": {cdefs[i].name: {s: 0 for s in sids} for i in chosen},
               "subject_info": {}, "videos": []}
    labels = _LabelFiles(dataset, root)
    n_frames = 0
    for si, sid in enumerate(sids):
        subject = make_subject(spec, seed, si, sid)
        summary["subject_info"][sid] = subject.describe()
        stage = _Stage(spec, subject, size)
        for ci in chosen:
            cdef = cdefs[ci]
            for rep in range(reps):
                # MSR environments: e01 seated, e02 standing (posture-flexible scripts)
                sit = (1.0 if rep == 0 else 0.0) if dataset == "msr_daily" else None
                video = simulate(spec, cdef, ci, subject, rep, T, seed, sit=sit)
                vid, skel, rgb = _paths(dataset, root, sid, si, ci, rep, cdef.name)
                if dataset in ("cad60", "cad120"):
                    ori = np.broadcast_to(torso_orientation(video.clean)[:, None], (T, 11, 3, 3))
                    write_cad_skeleton(skel, video.skeleton, orientations=ori)
                    n_frames += _write_pngs(rgb, render(stage, cdef, video), cv2)
                else:
                    if dataset == "msr_daily":
                        write_msr_skeleton(skel, video.skeleton)
                    else:
                        skel.parent.mkdir(parents=True, exist_ok=True)
                        np.save(skel, video.skeleton)
                    n_frames += write_video(rgb, render(stage, cdef, video), size, cv2)
                labels.add(sid, cdef.name, vid, skel, rgb, video)
                summary["videos"].append({
                    "video_id": vid, "label": cdef.name, "subject": sid, "rep": rep, "frames": T,
                    "dropped": np.flatnonzero(video.dropped).tolist(),
                    "skeleton": skel.relative_to(root).as_posix(),
                    "rgb": rgb.relative_to(root).as_posix()})
                summary["counts"][cdef.name][sid] += 1
        labels.flush_subject(sid)
    labels.finish(spec.layout.name)
    return finish_summary(summary, n_frames, sids)
