"""The deep stage's data layer: cached backbone features and 3D poses as torch
samples for the models of :mod:`adl.deep.models` (thesis 4.6.1, 5.4.1).

Two kinds of sample (:class:`~adl.deep.models.base.ModelSpec` ``sample``):

* a **clip** (thesis 4.6.1): one cached test clip of a video, i.e. row ``i``
  of the video's ``deep_clips`` / ``deep_parts`` / ``deep_poses`` entries
  (:mod:`adl.deep.extract`).  Keys ``gap`` (D,), ``maps`` (D, t, h, w),
  ``parts`` (3, D) and ``poses`` (tp, M, J, 3).  Evaluation max-pools the
  softmax over a video's clips (:attr:`DeepSamples.video_index` tells which
  video each item is).
* a **video** (thesis 5.2.1, 5.4.1): the temporal model's input.  Keys
  ``segments_G{g}`` (g, D), one backbone feature per segment of granularity
  ``g`` (``deep_segments``' ``gap_G{g}``), ``segment_poses_G{g}``
  (g, s, M, J, 3), ``s`` poses uniformly resampled inside each segment, and
  ``poses`` (tp, M, J, 3) resampled over the whole video.

Every value is a float32 tensor without a batch dimension (the cached float16
maps are widened); an item is ``(inputs, label, video_index)``.

**Poses.**  Every video's pose sequence is normalised once with
:func:`adl.data.geometry.normalise_skeleton` (thesis 3.3.1: hip centre at the
origin, X along right hip -> left hip, Y along the spine, unit spine length).
The thesis does not say which frame of reference its pose streams use; the
default, ``pose_reference="first_frame"``, is the frame of reference of the
first valid frame of the first person, for every frame and every person
(F3's default, :class:`adl.features.f3_config.F3Config` ``per_frame=False``: a
per-frame reference re-rotates and re-scales each frame by the noisy hip and
spine joints, and erases the body's own translation and the two persons'
relative position in NTU's interactions); ``"per_frame"`` gives each frame
and person its own (the thesis's chapter 3 description).  Persons are then
padded or cut to ``persons`` (2 for NTU RGB+D 60 / 120, 1 otherwise: extra
persons dropped, missing ones zeros), and missing joints (NaN / inf) become 0,
as do the frames of a video that have no skeleton row (and every pose of a
video without a skeleton, listed in :attr:`DeepData.skipped`).

**Segment poses** (thesis 5.2.1, 5.4.1 "we uniformly sample the pose
segments into sub-sequences of respectively 5 and 4 frames for NTU and
N-UCLA"): for granularity ``g`` the video's frames are split by
:func:`adl.deep.clips.segment_bounds` (the split ``deep_segments`` used) and
``segment_steps`` frames are resampled uniformly inside each segment
(:func:`adl.deep.clips.resample_steps`; first and last frame included);
:data:`SEGMENT_STEPS` gives 5 for NTU, 4 for N-UCLA and 5 elsewhere.

Entries are read lazily through :class:`adl.features.store.FeatureStore`
(memory-mapped), only for the requested keys.  Same cache, same arguments:
same tensors in the same order.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from adl.data.geometry import normalise_skeleton
from adl.data.layouts import LAYOUTS, JointLayout, get_layout
from adl.data.protocols import (OFFICIAL_SPLITS, leave_one_subject_out, official_split,
                                validation_split)
from adl.data.registry import DATASETS, get_dataset, load_records
from adl.features.store import FeatureStore, StageKey

from .clips import resample_steps, segment_bounds
from .extract import DEEP_INDEX_NAME, DEEP_STAGES

__all__ = ["Split", "DeepData", "DeepSamples", "SEGMENT_STEPS", "POSE_REFERENCES",
           "CLIP_KEYS", "VIDEO_KEYS", "PROTOCOL_ALIASES", "persons_for", "normalise_poses"]

#: Poses per segment, s (thesis 5.4.1: 5 for NTU, 4 for N-UCLA); 5 elsewhere.
SEGMENT_STEPS = {"ntu60": 5, "ntu120": 5, "nucla": 4}
DEFAULT_SEGMENT_STEPS = 5
#: The frames of reference :func:`normalise_poses` offers (module docstring).
POSE_REFERENCES = ("first_frame", "per_frame")
#: Keys of a clip sample and of a video sample (``segments`` / ``segment_poses``
#: stand for ``segments_G{g}`` / ``segment_poses_G{g}``).
CLIP_KEYS = ("gap", "maps", "parts", "poses")
VIDEO_KEYS = ("poses", "segments", "segment_poses")
#: The thesis's protocol names (Table 4.x: NTU-60 CS/CV, NTU-120 CS1/CS2) for
#: the names of :data:`adl.data.protocols.OFFICIAL_SPLITS`.
PROTOCOL_ALIASES = {("ntu60", "cs"): "xsub", ("ntu60", "cv"): "xview",
                    ("ntu120", "cs1"): "xsub", ("ntu120", "cs2"): "xset"}
#: Stage each clip key reads.
_CLIP_STAGE = {"gap": "deep_clips", "maps": "deep_clips", "parts": "deep_parts",
               "poses": "deep_poses"}
_POSE_CACHE_SIZE = 64
_GRANULAR_KEY = re.compile(r"^(segments|segment_poses)_G([1-9][0-9]*)$")


def persons_for(dataset: str) -> int:
    """M: 2 for NTU RGB+D 60 / 120 (two-person interactions), 1 otherwise."""
    return 2 if dataset in ("ntu60", "ntu120") else 1


def normalise_poses(poses: np.ndarray, layout: JointLayout, persons: int,
                    reference: str = "first_frame") -> np.ndarray:
    """One video's pose sequence, normalised (module docstring).

    Parameters
    ----------
    poses : ndarray, shape (T, M, J, 3)
        Camera-space joints; NaN where missing.
    layout : JointLayout
        J joints.
    persons : int
        M of the output: extra persons dropped, missing ones zeros.
    reference : {"first_frame", "per_frame"}
        ``"first_frame"``: the frame of reference of the first valid frame of
        the first person (the second person's if the first has none), shared
        by every frame and person; ``"per_frame"``: each frame and person its
        own (:func:`adl.data.geometry.normalise_skeleton`).

    Returns
    -------
    ndarray, shape (T, persons, J, 3), float32
        Missing joints, persons and frames are 0.
    """
    if reference not in POSE_REFERENCES:
        raise ValueError(f"expected pose reference one of {POSE_REFERENCES}, got {reference!r}")
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 4 or poses.shape[2:] != (layout.n_joints, 3):
        raise ValueError(f"expected poses of shape (T, M, {layout.n_joints}, 3) for layout "
                         f"{layout.name}, got {poses.shape}")
    t, m = poses.shape[:2]
    poses = poses[:, :persons]
    # persons-major rows: with per_frame=False the reference is the first
    # valid row, i.e. the first person's first valid frame
    rows = np.ascontiguousarray(poses.transpose(1, 0, 2, 3)).reshape(-1, layout.n_joints, 3)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if rows.shape[0]:
            rows = normalise_skeleton(rows, layout, per_frame=reference == "per_frame")
    norm = np.asarray(rows, np.float32).reshape(poses.shape[1], t, layout.n_joints, 3) \
        .transpose(1, 0, 2, 3)
    out = np.zeros((t, persons, layout.n_joints, 3), np.float32)
    out[:, :norm.shape[1]] = np.nan_to_num(norm, nan=0.0, posinf=0.0, neginf=0.0)
    return out


def _by_frame(values: np.ndarray, frame_ids: np.ndarray, n_frames: int) -> np.ndarray:
    """Rows of ``values`` (T, ...) placed at ``frame_ids`` among ``n_frames``
    rows, zeros elsewhere (ids outside the video dropped): the placement
    :func:`adl.deep.video_io.video_skeleton` makes, after normalisation."""
    out = np.zeros((n_frames,) + values.shape[1:], np.float32)
    frame_ids = np.asarray(frame_ids, np.int64)
    keep = (frame_ids >= 0) & (frame_ids < n_frames)
    out[frame_ids[keep]] = values[keep]
    return out


@dataclass(frozen=True)
class Split:
    """One train/test split of a :class:`DeepData`.

    Attributes
    ----------
    name : str
        ``subject_<s>`` (leave-one-subject-out) or the official protocol's
        name (``ntu60_xsub``...).
    train, test : ndarray of int64
        Video indices, sorted.
    """

    name: str
    train: np.ndarray
    test: np.ndarray


class DeepData:
    """A dataset's videos for the deep stage: labels, metadata, and the
    samples the models read (module docstring).

    Build it with :meth:`from_cache` (after ``adl deep extract``) or
    :meth:`from_skeletons` (poses only, datasets without a deep cache).

    Attributes
    ----------
    dataset : str
    video_ids : list of str
    classes : list of str
        Sorted label names; ``labels`` index into it.
    labels : ndarray, shape (N,), int64
    subjects, views, setups : list of str
        ``""`` where the reader has none.
    layout : str
        Joint layout name, ``""`` without poses.
    n_joints : int
        J (0 without poses).
    persons : int
        M.
    tp : int
        Poses per clip / per video sample.
    feature_dim : int
        D (0 without backbone features).
    granularities : tuple of int
        Those of the cached ``deep_segments``.
    segment_steps : int
        s, poses per segment.
    pose_reference : str
        :data:`POSE_REFERENCES`.
    available_inputs : tuple of str
        Every key :meth:`samples` can give.
    source : str
        The cache folder or the dataset root (for messages).
    skipped : dict of str -> str
        What the data leaves out, with why: the index's ``skipped`` (a video
        without RGB; ``<video>/deep_poses``: no skeleton, its poses are
        zeros), or the videos without a skeleton of :meth:`from_skeletons`.
    """

    def __init__(self, dataset: str, video_ids: Sequence[str], labels: Sequence[str],
                 subjects: Sequence, views: Sequence, setups: Sequence, *, layout: str,
                 persons: int, tp: int, feature_dim: int, granularities: Tuple[int, ...],
                 available_inputs: Tuple[str, ...], source: str, segment_steps: int,
                 pose_reference: str, digests: dict, store: Optional[FeatureStore] = None,
                 keys: Optional[Dict[str, StageKey]] = None,
                 sequences: Optional[List[Tuple[np.ndarray, np.ndarray, int]]] = None):
        n = len(video_ids)
        for name, values in (("labels", labels), ("subjects", subjects), ("views", views),
                             ("setups", setups)):
            if len(values) != n:
                raise ValueError(f"{source}: expected {n} {name} (one per video), found "
                                 f"{len(values)}")
        if pose_reference not in POSE_REFERENCES:
            raise ValueError(f"expected pose_reference one of {POSE_REFERENCES}, got "
                             f"{pose_reference!r}")
        if isinstance(segment_steps, bool) or not isinstance(segment_steps, (int, np.integer)) \
                or segment_steps < 1:
            raise ValueError(f"expected segment_steps to be an integer >= 1, got "
                             f"{segment_steps!r}")
        self.dataset = dataset
        self.video_ids = [str(v) for v in video_ids]
        self.label_names = [str(v) for v in labels]
        self.classes = sorted(set(self.label_names))
        lookup = {c: i for i, c in enumerate(self.classes)}
        self.labels = np.array([lookup[c] for c in self.label_names], dtype=np.int64)
        self.subjects = ["" if v is None else str(v) for v in subjects]
        self.views = ["" if v is None else str(v) for v in views]
        self.setups = ["" if v is None else str(v) for v in setups]
        self.layout = layout
        self.n_joints = get_layout(layout).n_joints if layout else 0
        self.persons = int(persons)
        self.tp = int(tp)
        self.feature_dim = int(feature_dim)
        self.granularities = tuple(int(g) for g in granularities)
        self.segment_steps = int(segment_steps)
        self.pose_reference = pose_reference
        self.available_inputs = tuple(available_inputs)
        self.source = str(source)
        self._digests = dict(digests)
        self._store = store
        self._keys = dict(keys or {})
        self._sequences = sequences
        #: videos the data leaves out, with why (pose-only data: no skeleton)
        self.skipped: Dict[str, str] = {}
        self._clip_counts: Dict[int, int] = {}
        self._pose_cache: "OrderedDict[int, Tuple[np.ndarray, int]]" = OrderedDict()

    def __len__(self) -> int:
        return len(self.video_ids)

    def __repr__(self) -> str:
        return (f"DeepData({self.dataset!r}, {len(self)} videos, {len(self.classes)} classes, "
                f"inputs {', '.join(self.available_inputs)}; {self.source})")

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_pose_cache"] = OrderedDict()         # DataLoader workers start empty
        return state

    # -- building -------------------------------------------------------------------

    @classmethod
    def from_cache(cls, dataset: str, cache, *, segment_steps: Optional[int] = None,
                   pose_reference: str = "first_frame",
                   persons: Optional[int] = None) -> "DeepData":
        """The videos ``adl deep extract`` cached in ``<cache>/<dataset>/``.

        Parameters
        ----------
        dataset : str
        cache : path
            The cache root given to ``adl deep extract``.
        segment_steps : int, optional
            s; default :data:`SEGMENT_STEPS` of the dataset (5 elsewhere).
        pose_reference : {"first_frame", "per_frame"}
        persons : int, optional
            M; default :func:`persons_for` the dataset.

        Raises
        ------
        FileNotFoundError
            No ``deep_index.json``, or a stage it lists has no entry for its
            first video (the cache was moved or cleared).
        ValueError
            An index that is not a deep-stage index.
        """
        path = Path(cache) / dataset / DEEP_INDEX_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{path}: expected the deep-stage index that `adl deep "
                                    f"extract --dataset {dataset}` writes, found no file")
        try:
            index = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: expected a JSON deep-stage index, found unreadable "
                             f"content ({exc})") from None
        needed = ("video_ids", "labels", "subjects", "views", "setups", "stages", "tp")
        missing = [k for k in needed if k not in index] if isinstance(index, dict) else needed
        if missing:
            raise ValueError(f"{path}: expected a deep-stage index with {', '.join(needed)}; "
                             f"missing {', '.join(missing)}")
        if not index["video_ids"]:
            raise ValueError(f"{path}: expected at least one video, found none")
        store = FeatureStore(cache, dataset, fsync=False)
        keys, digests = {}, {}
        for stage, manifest in sorted(index["stages"].items()):
            if stage not in DEEP_STAGES:
                continue
            key = StageKey(stage, manifest["config"], manifest["version"])
            keys[stage] = key
            digests[stage] = key.digest
        skipped = index.get("skipped", {})
        with_poses = [v for v in index["video_ids"] if f"{v}/deep_poses" not in skipped]
        if "deep_poses" not in keys or not with_poses:
            keys.pop("deep_poses", None)
        first = {s: (with_poses[0] if s == "deep_poses" else index["video_ids"][0])
                 for s in keys}
        for stage, key in keys.items():
            if not store.has(key, first[stage]):
                raise FileNotFoundError(
                    f"{store.entry_path(key, first[stage])}: expected the {stage} entry of "
                    f"{first[stage]!r} that {path} lists (config {key.digest}), found no file; "
                    f"rerun `adl deep extract` with the same options")
        layout = ""
        if "deep_poses" in keys:
            j = store.get(keys["deep_poses"], with_poses[0])["poses"].shape[2]
            info_layout = get_dataset(dataset).layout if dataset in DATASETS else ""
            if info_layout in LAYOUTS:          # the reader's layout (NTU: kinect_v2_25)
                expected = f"{get_layout(info_layout).n_joints} ({info_layout})"
                layout = info_layout if get_layout(info_layout).n_joints == j else ""
            else:                               # a manifest: the layout with that many joints
                expected = ", ".join(f"{v.n_joints} ({k})" for k, v in sorted(LAYOUTS.items()))
                fits = [k for k, v in sorted(LAYOUTS.items()) if v.n_joints == j]
                layout = fits[0] if len(fits) == 1 else ""
            if not layout:
                raise ValueError(f"{path}: expected deep_poses of {expected} joints, found {j}")
        grans: Tuple[int, ...] = ()
        if "deep_segments" in keys:
            grans = tuple(int(g) for g in keys["deep_segments"].config.get("granularities", []))
        feature_dim = 0
        if "deep_clips" in keys:
            feature_dim = int(index.get("backbone", {}).get("feature_dim", 0)) or int(
                store.get(keys["deep_clips"], index["video_ids"][0])["gap"].shape[1])
        avail = []
        if "deep_clips" in keys:
            avail += ["gap", "maps"]
        if "deep_parts" in keys:
            avail.append("parts")
        if "deep_poses" in keys:
            avail.append("poses")
        avail += [f"segments_G{g}" for g in grans]
        if "deep_poses" in keys:
            avail += [f"segment_poses_G{g}" for g in grans]
        data = cls(dataset, index["video_ids"], index["labels"], index["subjects"],
                   index["views"], index["setups"], layout=layout,
                   persons=persons_for(dataset) if persons is None else persons,
                   tp=int(index["tp"]), feature_dim=feature_dim, granularities=grans,
                   available_inputs=tuple(avail), source=str(Path(cache) / dataset),
                   segment_steps=SEGMENT_STEPS.get(dataset, DEFAULT_SEGMENT_STEPS)
                   if segment_steps is None else segment_steps,
                   pose_reference=pose_reference, digests=digests, store=store, keys=keys)
        data.skipped = {str(k): str(v) for k, v in skipped.items()}
        return data

    @classmethod
    def from_skeletons(cls, dataset: str, root, *, tp: int = 20,
                       reader_options: Optional[dict] = None,
                       pose_reference: str = "first_frame",
                       persons: Optional[int] = None) -> "DeepData":
        """Poses only, read with :func:`adl.data.registry.load_records`: for a
        dataset with skeletons but no deep cache (a UTKinect manifest, CAD).

        One sample per video: ``tp`` poses resampled uniformly over the whole
        skeleton sequence (:func:`adl.deep.clips.resample_steps`), key
        ``poses`` only.  Videos without a skeleton are left out
        (:attr:`skipped`).  NTU ``.skeleton`` files give every kept body
        (:func:`adl.data.ntu.parse_ntu_skeleton`), other readers one person.

        Raises
        ------
        ValueError
            No video of the dataset has a skeleton; ``tp`` < 1.
        """
        if isinstance(tp, bool) or not isinstance(tp, (int, np.integer)) or tp < 1:
            raise ValueError(f"expected tp to be an integer >= 1, got {tp!r}")
        records = load_records(dataset, root, **(reader_options or {}))
        usable = [r for r in records if r.has_skeleton]
        if not usable:
            raise ValueError(f"{root}: expected videos with a skeleton for dataset {dataset}, "
                             f"found none among {len(records)} videos")
        layouts = sorted({r.layout for r in usable})
        if len(layouts) != 1:
            raise ValueError(f"{root}: expected one joint layout for the poses, found "
                             f"{', '.join(map(str, layouts))}")
        sequences = []
        for r in usable:
            if r.dataset in ("ntu60", "ntu120") and str(r.skeleton).endswith(".skeleton"):
                from adl.data.ntu import parse_ntu_skeleton
                joints = np.asarray(parse_ntu_skeleton(r.skeleton).joints, np.float32)
            else:
                joints = np.asarray(r.load_skeleton().joints, np.float32)[:, None]
            rows = np.arange(joints.shape[0], dtype=np.int64)
            sequences.append((joints, rows, int(joints.shape[0])))
        m = persons_for(dataset) if persons is None else persons
        digests = {"skeletons": hashlib.sha256(json.dumps(
            {"tp": int(tp), "layout": layouts[0], "persons": int(m),
             "reference": pose_reference}, sort_keys=True).encode()).hexdigest()[:16]}
        data = cls(dataset, [r.video_id for r in usable], [r.label for r in usable],
                   [r.subject for r in usable], [r.view for r in usable],
                   [r.setup for r in usable], layout=layouts[0], persons=m, tp=int(tp),
                   feature_dim=0, granularities=(), available_inputs=("poses",),
                   source=str(root), segment_steps=SEGMENT_STEPS.get(dataset,
                                                                     DEFAULT_SEGMENT_STEPS),
                   pose_reference=pose_reference, digests=digests, sequences=sequences)
        data.skipped = {r.video_id: "no skeleton" for r in records if not r.has_skeleton}
        return data

    # -- identity -------------------------------------------------------------------

    def fingerprint(self) -> str:
        """16 hex digits identifying the data a model is trained on: dataset,
        video ids, labels, the cached stages' digests (or the skeleton
        settings) and the pose settings.  A checkpoint stores it and refuses
        other data."""
        payload = {"dataset": self.dataset, "video_ids": self.video_ids,
                   "labels": self.label_names, "stages": self._digests,
                   "persons": self.persons, "segment_steps": self.segment_steps,
                   "pose_reference": self.pose_reference}
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def model_fields(self) -> dict:
        """The :class:`~adl.deep.models.base.ModelConfig` fields this data
        fixes: ``n_classes``, ``feature_dim``, ``layout``, ``n_joints``,
        ``persons``, ``tp``."""
        return {"n_classes": len(self.classes), "feature_dim": self.feature_dim,
                "layout": self.layout, "n_joints": self.n_joints, "persons": self.persons,
                "tp": self.tp}

    # -- splits ---------------------------------------------------------------------

    def _records(self):
        return [SimpleNamespace(video_id=v, label=l, subject=s or None, view=w or None,
                                setup=u or None)
                for v, l, s, w, u in zip(self.video_ids, self.label_names, self.subjects,
                                         self.views, self.setups)]

    def splits(self, protocol: str) -> List[Split]:
        """The train/test splits of ``protocol``.

        Parameters
        ----------
        protocol : str
            ``"loso"``: leave-one-subject-out, one :class:`Split` per subject
            (``subject_<s>``); or an official split of the dataset
            (:data:`adl.data.protocols.OFFICIAL_SPLITS`: ntu60 ``xsub`` /
            ``xview``, ntu120 ``xsub`` / ``xset``, smarthome ``cs`` / ``cv1``
            / ``cv2``, nucla ``v3_12``; also the thesis's names
            :data:`PROTOCOL_ALIASES`, and the full names like ``ntu60_xsub``):
            one Split (videos outside the protocol's classes, or of its
            validation camera, on neither side).

        Raises
        ------
        ValueError
            An unknown protocol, fewer than 2 subjects for ``loso``, or an
            official split that leaves no training or no test video here.
        """
        records = self._records()
        if protocol in ("loso", "leave-one-subject-out"):
            folds = leave_one_subject_out(records)
            return [Split(f.name, *(np.asarray(a, np.int64) for a in f.split(records)))
                    for f in folds]
        name = PROTOCOL_ALIASES.get((self.dataset, protocol), protocol)
        if name.startswith(f"{self.dataset}_"):
            name = name[len(self.dataset) + 1:]
        if (self.dataset, name) not in OFFICIAL_SPLITS:
            known = ["loso"] + [p for d, p in OFFICIAL_SPLITS if d == self.dataset] \
                + [a for d, a in PROTOCOL_ALIASES if d == self.dataset]
            raise ValueError(f"unknown protocol {protocol!r} for dataset {self.dataset}; "
                             f"expected one of {', '.join(known)}")
        split = official_split(self.dataset, name)
        train, test = (np.asarray(a, np.int64) for a in split.split(records))
        for side, idx in (("training", train), ("test", test)):
            if idx.size == 0:
                values = sorted(set(getattr(r, split.attribute) or "" for r in records))
                raise ValueError(f"protocol {split.name} leaves no {side} video in "
                                 f"{self.source}: its {split.attribute} values here are "
                                 f"{', '.join(values)}")
        return [Split(split.name, train, test)]

    def validation(self, train_idx, fraction: float = 0.1,
                   seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
        """Carve a validation set out of training videos, stratified by class
        and seeded (:func:`adl.data.protocols.validation_split`: each class of
        at least 2 videos gives ``round(fraction * n)``, at least 1).

        Returns
        -------
        fit_idx, val_idx : ndarray of int64
            Video indices, sorted, disjoint, together ``train_idx``.
        """
        train_idx = np.asarray(train_idx, np.int64)
        fit, val = validation_split(self.labels[train_idx], fraction, seed)
        return np.sort(train_idx[fit]), np.sort(train_idx[val])

    # -- samples --------------------------------------------------------------------

    def _refuse(self, key: str, why: str = ""):
        raise ValueError(f"input {key!r} is not available in {self.dataset} ({self.source})"
                         f"{why}; it has {', '.join(self.available_inputs) or 'nothing'}")

    def check_inputs(self, inputs: Sequence[str], sample: str = "clip") -> Tuple[str, ...]:
        """``inputs`` as a tuple, after checking that this data gives each of
        them for ``sample`` (ValueError naming the key, the data and what it
        has; a missing granularity names the cached ones)."""
        if sample not in ("clip", "video"):
            raise ValueError(f"expected sample 'clip' or 'video', got {sample!r}")
        inputs = tuple(inputs)
        if not inputs:
            raise ValueError("expected at least one input key, got none")
        for key in inputs:
            match = _GRANULAR_KEY.match(key)
            base = match.group(1) if match else key
            if match and key not in self.available_inputs and self.granularities \
                    and (base == "segments" or "poses" in self.available_inputs):
                g = int(match.group(2))
                raise ValueError(
                    f"granularity {g} ({key!r}) is not cached in {self.source}: deep_segments "
                    f"has G = {', '.join(map(str, self.granularities))}; compute it with `adl "
                    f"deep extract --dataset {self.dataset} --granularities "
                    f"{','.join(map(str, sorted(set(self.granularities) | {g})))}`")
            if key not in self.available_inputs:
                self._refuse(key)
            allowed = CLIP_KEYS if sample == "clip" else VIDEO_KEYS
            if base not in allowed:
                raise ValueError(f"input {key!r} is not part of a {sample} sample; a {sample} "
                                 f"sample has {', '.join(allowed)}")
        return inputs

    def samples(self, video_idx, inputs: Sequence[str], sample: str = "clip") -> "DeepSamples":
        """The samples of videos ``video_idx`` with the keys ``inputs``.

        Parameters
        ----------
        video_idx : array of int
            Video indices (e.g. a :class:`Split`'s ``train``), in the order
            the items follow.
        inputs : tuple of str
            Keys among :attr:`available_inputs`.
        sample : {"clip", "video"}
            A clip: every cached test clip of each video (pose-only data: one
            per video, the whole video); a video: one item per video.

        Returns
        -------
        DeepSamples

        Raises
        ------
        ValueError
            A key this data lacks (naming it, the data and what it has), a
            granularity the cache lacks, a key of the other sample kind, a
            video index out of range.
        """
        inputs = self.check_inputs(inputs, sample)
        video_idx = np.asarray(video_idx, np.int64).reshape(-1)
        if video_idx.size and (video_idx.min() < 0 or video_idx.max() >= len(self)):
            raise ValueError(f"expected video indices in 0..{len(self) - 1}, found "
                             f"{int(video_idx.min())}..{int(video_idx.max())}")
        items: List[Tuple[int, int]] = []
        for v in video_idx.tolist():
            if sample == "clip" and self._store is not None:
                items += [(v, i) for i in range(self.clip_count(v))]
            else:
                items.append((v, -1))
        return DeepSamples(self, inputs, sample, items)

    def clip_video_index(self, dataset_obj: "DeepSamples") -> np.ndarray:
        """The video index of each item of ``dataset_obj`` (for max-pooling a
        video's clip scores, thesis 4.6.1)."""
        return dataset_obj.video_index

    def clip_count(self, video: int) -> int:
        """Test clips of video ``video`` (rows of its ``deep_clips`` entry; 1
        for pose-only data)."""
        if self._store is None:
            return 1
        if video not in self._clip_counts:
            stage = "deep_clips" if "deep_clips" in self._keys else "deep_poses"
            member = "frame_indices" if stage == "deep_clips" else "clip_frame_indices"
            self._clip_counts[video] = int(
                self._entry(stage, video)[member].shape[0])
        return self._clip_counts[video]

    # -- loading --------------------------------------------------------------------

    def _entry(self, stage: str, video: int) -> Dict[str, np.ndarray]:
        key = self._keys[stage]
        try:
            return self._store.get(key, self.video_ids[video])
        except KeyError:
            raise FileNotFoundError(
                f"{self._store.entry_path(key, self.video_ids[video])}: expected the {stage} "
                f"entry of {self.video_ids[video]!r} listed in {self.source}/{DEEP_INDEX_NAME}, "
                f"found no file; rerun `adl deep extract`") from None

    def _has_poses(self, video: int) -> bool:
        if self._sequences is not None:
            return True
        return self._store.has(self._keys["deep_poses"], self.video_ids[video])

    def video_poses(self, video: int) -> Tuple[np.ndarray, np.ndarray]:
        """The video's normalised poses placed on its frames.

        Returns
        -------
        poses : ndarray, shape (n_frames, persons, J, 3), float32
            Zeros on frames without a skeleton (and for a video without one).
        frame_ids : ndarray, shape (T,), int64
            The frames that have a skeleton row.
        """
        if video in self._pose_cache:
            self._pose_cache.move_to_end(video)
            return self._pose_cache[video]
        layout = get_layout(self.layout)
        if self._sequences is not None:
            joints, frame_ids, n_frames = self._sequences[video]
        elif self._has_poses(video):
            entry = self._entry("deep_poses", video)
            joints, frame_ids = np.asarray(entry["poses"]), np.asarray(entry["frame_ids"])
            n_frames = int(self._store.get_meta(self._keys["deep_poses"],
                                                self.video_ids[video])["n_frames"])
        else:
            joints = np.zeros((0, self.persons, layout.n_joints, 3), np.float32)
            frame_ids = np.zeros(0, np.int64)
            n_frames = int(self._store.get_meta(self._keys["deep_clips"],
                                                self.video_ids[video])["n_frames"])
        norm = normalise_poses(joints, layout, self.persons, self.pose_reference)
        value = (_by_frame(norm, frame_ids, n_frames), np.asarray(frame_ids, np.int64))
        self._pose_cache[video] = value
        if len(self._pose_cache) > _POSE_CACHE_SIZE:
            self._pose_cache.popitem(last=False)
        return value

    def segment_pose_frames(self, video: int, granularity: int) -> np.ndarray:
        """Frames of ``segment_poses_G{granularity}``: ``segment_steps``
        frames uniformly resampled inside each segment of
        :func:`adl.deep.clips.segment_bounds` (thesis 5.4.1).

        Returns
        -------
        ndarray, shape (granularity, segment_steps), int64
        """
        n_frames = self.video_poses(video)[0].shape[0]
        return np.stack([resample_steps(np.arange(a, b, dtype=np.int64), self.segment_steps)
                         for a, b in segment_bounds(n_frames, granularity)])

    def clip_pose_frames(self, video: int, clip: int) -> np.ndarray:
        """Frames of the ``poses`` of clip ``clip`` (tp,): the cached
        ``clip_frame_indices`` row (a video without a skeleton: ``tp`` of the
        clip's frames); for a video sample (``clip`` -1) and for pose-only
        data, ``tp`` frames uniformly over the video's skeleton frames."""
        if self._sequences is not None:
            _, frame_ids, _ = self._sequences[video]
            return resample_steps(np.asarray(frame_ids, np.int64), self.tp)
        if clip < 0:                # the whole video: over the frames with a skeleton row
            poses, frame_ids = self.video_poses(video)
            frame_ids = frame_ids[(frame_ids >= 0) & (frame_ids < poses.shape[0])]
            if frame_ids.size == 0:
                frame_ids = np.arange(poses.shape[0], dtype=np.int64)
            return resample_steps(np.unique(frame_ids), self.tp)
        if self._has_poses(video):
            return np.asarray(self._entry("deep_poses", video)["clip_frame_indices"][clip],
                              np.int64)
        frames = np.asarray(self._entry("deep_clips", video)["frame_indices"][clip], np.int64)
        return resample_steps(frames, self.tp)

    def load(self, video: int, clip: int, inputs: Tuple[str, ...]) -> Dict[str, torch.Tensor]:
        """One item's tensors (``clip`` -1 for a video sample)."""
        out: Dict[str, torch.Tensor] = {}
        entries: Dict[str, Dict[str, np.ndarray]] = {}

        def entry(stage: str) -> Dict[str, np.ndarray]:      # each stage read once per item
            if stage not in entries:
                entries[stage] = self._entry(stage, video)
            return entries[stage]

        for key in inputs:
            if key == "gap":
                arr = entry("deep_clips")["gap"][clip]
            elif key == "maps":
                arr = entry("deep_clips")["maps"][clip]
            elif key == "parts":
                arr = entry("deep_parts")["gap"][clip]
            elif key == "poses":
                poses, _ = self.video_poses(video)
                frames = np.minimum(self.clip_pose_frames(video, clip), poses.shape[0] - 1)
                arr = poses[frames]
            elif key.startswith("segments_G"):
                g = int(key[len("segments_G"):])
                arr = entry("deep_segments")[f"gap_G{g}"]
            else:                                            # segment_poses_G{g}
                g = int(key[len("segment_poses_G"):])
                poses, _ = self.video_poses(video)
                arr = poses[self.segment_pose_frames(video, g)]
            out[key] = torch.from_numpy(np.array(arr, dtype=np.float32, copy=True))
        return out


class DeepSamples(torch.utils.data.Dataset):
    """The items of :meth:`DeepData.samples`: ``(inputs, label, video_index)``
    with ``inputs`` a dict key -> float32 tensor (no batch dimension).

    Attributes
    ----------
    data : DeepData
    inputs : tuple of str
    sample : {"clip", "video"}
    items : list of (video, clip)
        ``clip`` -1 for a video sample and for pose-only data.
    video_index : ndarray, shape (len,), int64
        The video of each item.
    labels : ndarray, shape (len,), int64
        The label of each item.
    """

    def __init__(self, data: DeepData, inputs: Tuple[str, ...], sample: str,
                 items: List[Tuple[int, int]]):
        self.data = data
        self.inputs = tuple(inputs)
        self.sample = sample
        self.items = list(items)
        self.video_index = np.array([v for v, _ in self.items], dtype=np.int64)
        self.labels = data.labels[self.video_index] if self.items \
            else np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        video, clip = self.items[i]
        return self.data.load(video, clip, self.inputs), int(self.data.labels[video]), video
