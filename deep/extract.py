"""``adl deep extract``: the cached backbone features of a dataset (thesis 4.2,
4.6.1, 5.4.1).

Per video, through the feature store (:class:`adl.features.store.FeatureStore`:
atomic, resumable, config-keyed; every entry records the video's
:func:`adl.features.keys.source_fingerprint`, so a changed file is
recomputed), four stages::

    deep_clips     every test clip's full-body crop: Mixed_5c maps (n, 1024, t, h, w)
                   float16, their GAP (n, 1024) float32, frame indices, boxes
    deep_parts     P-I3D streams (left hand, right hand, full body) per clip: GAP
                   (n, 3, 1024) float32, boxes (n, 3, 4)
    deep_segments  per granularity G: the video in G equal segments, one clip each,
                   GAP (G, 1024) float32 (the temporal model, thesis 5.4.1)
    deep_poses     the full pose sequence (T, M, J, 3) and t_p poses uniformly
                   sampled from each clip (n, t_p, M, J, 3) (videos with a skeleton)

The clips and crops are :mod:`adl.deep.clips`'s.  Every stage's key hashes
the backbone's :meth:`~adl.deep.backbones.VideoBackbone.cache_meta` (weights
identity, preprocessing, precision, seed of random weights) and the clip
configuration it depends on, so a changed value recomputes the stages that
read it and nothing else.  The device is not in the key (the same weights
and precision give the same features up to rounding), nor the batch size.

The per-video work (:func:`extract_video`) is a pure function of the record,
the configuration and the backbone; :func:`run_extract` runs it in this
process, in joblib worker processes (``jobs``) or on a Dask cluster
(``scheduler``), the same mechanism as ``adl features``.  A video is decoded
once for all its stale stages.  ``<cache>/<dataset>/deep_index.json`` lists
the videos and the stage keys.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from adl.data.atomic import atomic_write_text
from adl.data.errors import AdlError
from adl.data.record import VideoRecord
from adl.data.registry import load_records
from adl.features.keys import is_current, source_fingerprint
from adl.features.store import FeatureStore, StageKey

from .clips import (CLIP_FRAMES, CLIP_SIZE, CLIP_STRIDE, CROP_MARGIN, PART_STREAMS,
                    eval_clip_indices, part_clip_boxes, person_box, resample_steps,
                    segment_clip_indices)
from .video_io import read_clip_crops, video_frame_count, video_skeleton

__all__ = ["DEEP_VERSION", "DEEP_STAGES", "DEFAULT_TP", "DEEP_INDEX_NAME", "ExtractConfig",
           "ExtractSummary", "DeepStages", "extract_video", "run_extract"]

#: Bump when the content of an entry changes for the same configuration.
DEEP_VERSION = "1"
DEEP_STAGES: Tuple[str, ...] = ("deep_clips", "deep_parts", "deep_segments", "deep_poses")
#: Poses per clip, t_p (thesis 4.6.1); other datasets use NTU's value.
DEFAULT_TP = {"ntu60": 20, "ntu120": 20, "smarthome": 30, "nucla": 5}
DEEP_INDEX_NAME = "deep_index.json"


def _int_at_least(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"expected {name} to be an integer >= {low}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class ExtractConfig:
    """What ``adl deep extract`` computes.

    Attributes
    ----------
    backbone : {"i3d", "s3d"}
    weights : str or None
        A path, a standard name or ``"random"``; None: the standard weights
        (:func:`adl.deep.weights.resolve_weights`).
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    precision : str
        ``"auto"``, ``"float32"``, ``"float16"``, ``"bfloat16"``.
    batch_size : int
        Clips per forward pass.
    clip_frames, clip_size, stride : int
        Frames per clip, side of the square crop, frame stride (thesis 4.6.1:
        64, 224, 2).
    margin : float
        Eq. 4.3's lambda as a fraction of the trunk length.
    granularities : tuple of int
        The segmentations of ``deep_segments`` (thesis 5.4.1; default 1-4).
    tp : int or None
        Poses per clip; None: :data:`DEFAULT_TP` of the dataset.
    seed : int
        Seed of random weights.
    """

    backbone: str = "i3d"
    weights: Optional[str] = None
    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 4
    clip_frames: int = CLIP_FRAMES
    clip_size: int = CLIP_SIZE
    stride: int = CLIP_STRIDE
    margin: float = CROP_MARGIN
    granularities: Tuple[int, ...] = (1, 2, 3, 4)
    tp: Optional[int] = None
    seed: int = 0

    def __post_init__(self):
        from .backbones import get_backbone_spec
        get_backbone_spec(self.backbone)
        if self.weights is not None:
            object.__setattr__(self, "weights", str(self.weights))
        _int_at_least(self.batch_size, "batch_size", 1)
        _int_at_least(self.clip_frames, "clip_frames", 1)
        _int_at_least(self.clip_size, "clip_size", 8)
        _int_at_least(self.stride, "stride", 1)
        if not isinstance(self.margin, (int, float)) or isinstance(self.margin, bool) \
                or not np.isfinite(self.margin) or self.margin < 0:
            raise ValueError(f"expected margin to be a number >= 0, got {self.margin!r}")
        grans = tuple(self.granularities)
        if not grans or len(set(grans)) != len(grans):
            raise ValueError(f"expected distinct granularities, at least one, got {grans!r}")
        for g in grans:
            _int_at_least(g, "each granularity", 1)
        object.__setattr__(self, "granularities", tuple(sorted(int(g) for g in grans)))
        if self.tp is not None:
            _int_at_least(self.tp, "tp", 1)
        _int_at_least(self.seed, "seed", 0)

    def tp_for(self, dataset: str) -> int:
        """``tp``, or the thesis's value for ``dataset`` (20 elsewhere)."""
        return int(self.tp) if self.tp is not None else DEFAULT_TP.get(dataset, 20)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["granularities"] = list(self.granularities)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ExtractConfig":
        """The configuration ``to_dict`` wrote; an unknown field is refused."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown ExtractConfig fields {unknown}; expected some of "
                             f"{sorted(known)}")
        d = dict(d)
        if "granularities" in d:
            d["granularities"] = tuple(d["granularities"])
        return cls(**d)

    def backbone_args(self) -> tuple:
        """What builds the :class:`~adl.deep.backbones.VideoBackbone`."""
        return (self.backbone, self.weights, self.device, self.precision, self.batch_size,
                self.seed)


class DeepStages:
    """The four stage keys of a configuration and a backbone.

    Parameters
    ----------
    dataset : str
    cfg : ExtractConfig
    backbone_meta : dict
        :meth:`VideoBackbone.cache_meta`.
    """

    def __init__(self, dataset: str, cfg: ExtractConfig, backbone_meta: dict):
        clip = {"dataset": dataset, "backbone": backbone_meta, "clip_frames": cfg.clip_frames,
                "clip_size": cfg.clip_size, "stride": cfg.stride, "margin": cfg.margin}
        self.deep_clips = StageKey("deep_clips", clip, DEEP_VERSION)
        self.deep_parts = StageKey("deep_parts", {**clip, "parts": list(PART_STREAMS)},
                                   DEEP_VERSION)
        self.deep_segments = StageKey("deep_segments",
                                      {**clip, "granularities": list(cfg.granularities)},
                                      DEEP_VERSION)
        self.deep_poses = StageKey("deep_poses", {"dataset": dataset, "tp": cfg.tp_for(dataset),
                                                  "clip_frames": cfg.clip_frames,
                                                  "stride": cfg.stride}, DEEP_VERSION)

    def key(self, stage: str) -> StageKey:
        if stage not in DEEP_STAGES:
            raise ValueError(f"unknown deep stage {stage!r}; expected one of {DEEP_STAGES}")
        return getattr(self, stage)

    def manifests(self) -> dict:
        return {s: self.key(s).manifest() for s in DEEP_STAGES}


@dataclass
class ExtractSummary:
    """What :func:`run_extract` did.

    Attributes
    ----------
    dataset : str
    n_videos : int
        Videos the reader listed.
    computed, reused : dict str -> int
        Entries computed and found current, per stage.
    skipped : dict str -> str
        Videos (or ``video_id/stage``) left out, with why.
    fallback : list of str
        Videos cropped on the full image (no skeleton, or one that cannot be
        placed in the image).
    seconds : float
    index : Path
    """

    dataset: str
    n_videos: int
    computed: Dict[str, int]
    reused: Dict[str, int]
    skipped: Dict[str, str] = field(default_factory=dict)
    fallback: List[str] = field(default_factory=list)
    seconds: float = 0.0
    index: Optional[Path] = None

    def line(self) -> str:
        """One line for the user."""
        parts = [f"{s} {self.computed.get(s, 0)} computed / {self.reused.get(s, 0)} reused"
                 for s in DEEP_STAGES]
        return (f"{self.dataset}: {self.n_videos} videos; " + "; ".join(parts)
                + f"; {len(self.skipped)} skipped; {len(self.fallback)} on the full image; "
                f"{self.seconds:.1f} s; index {self.index}")


# -- one video ----------------------------------------------------------------------

def _gap(maps: np.ndarray) -> np.ndarray:
    """Global average pooling ``(n, C, t, h, w) -> (n, C)`` float32."""
    return maps.reshape(maps.shape[0], maps.shape[1], -1).mean(axis=-1, dtype=np.float64) \
        .astype(np.float32)


def extract_video(record: VideoRecord, cfg: ExtractConfig, backbone, stages: Sequence[str],
                  tp: int) -> Dict[str, Tuple[dict, dict]]:
    """The entries of ``stages`` for one video (module docstring), decoding it once.

    Parameters
    ----------
    record : VideoRecord
        With RGB.
    cfg : ExtractConfig
    backbone : VideoBackbone
    stages : sequence of str
        Among :data:`DEEP_STAGES`; ``deep_poses`` only for a video with a
        skeleton.
    tp : int
        Poses per clip.

    Returns
    -------
    dict stage -> (arrays, meta)
        ``meta`` holds ``source`` (the fingerprint), ``n_frames``,
        ``frame_size``, ``fallback`` (the full image was the crop) and, for
        the RGB stages, ``frames_missing`` (frames of the stage's clips that
        the container announced but the decoder did not deliver).

    Notes
    -----
    Each group of clips (full-body clips, hand clips, each granularity's
    segment clips) goes through its own forward passes, so that an entry is
    the same bytes whichever other stages of the video were stale: a batch
    of other size or content would change the rounding.
    """
    from adl.features.video_stages import compact_float
    unknown = [s for s in stages if s not in DEEP_STAGES]
    if unknown:
        raise ValueError(f"unknown deep stages {unknown}; expected some of {DEEP_STAGES}")
    if "deep_poses" in stages and not record.has_skeleton:
        raise ValueError(f"video {record.video_id!r} has no skeleton: no deep_poses entry")
    n_frames, size = video_frame_count(record)
    skel = video_skeleton(record, n_frames, size) if record.has_skeleton else None
    joints2d = None if skel is None else skel.joints_2d
    layout = None if skel is None else skel.layout
    fallback = joints2d is None
    clips = eval_clip_indices(n_frames, cfg.clip_frames, cfg.stride)             # (n, T)
    requests: List[Tuple[np.ndarray, np.ndarray]] = []
    slots: Dict[str, object] = {}
    out: Dict[str, Tuple[dict, dict]] = {}
    if "deep_clips" in stages or "deep_parts" in stages:
        part = [part_clip_boxes(joints2d, layout, size, c, margin=cfg.margin) for c in clips]
        boxes = np.stack([p[0] for p in part])                                  # (n, 3, 4)
        observed = np.stack([p[1] for p in part])                               # (n, 3)
        body = PART_STREAMS.index("full_body")
        slots["body"] = len(requests)
        requests += [(c, b[body]) for c, b in zip(clips, boxes)]
        if "deep_parts" in stages:
            slots["hands"] = len(requests)
            requests += [(c, b[i]) for c, b in zip(clips, boxes)
                         for i in range(len(PART_STREAMS)) if i != body]
    seg_clips = {}
    if "deep_segments" in stages:
        for g in cfg.granularities:
            idx = segment_clip_indices(n_frames, g, cfg.clip_frames, cfg.stride)
            b = np.stack([person_box(joints2d, layout, size, c, margin=cfg.margin)[0]
                          for c in idx])
            seg_clips[g] = (idx, b, len(requests))
            requests += list(zip(idx, b))
    base_meta = {"source": source_fingerprint(record), "n_frames": int(n_frames),
                 "frame_size": [int(v) for v in size], "fallback": bool(fallback)}
    if requests:
        crops, missing = read_clip_crops(record, [r[0] for r in requests],
                                         [r[1] for r in requests], cfg.clip_size)

        def rgb_meta(*frames):
            # frames the container announced but the decoder did not deliver, among
            # the stage's own (the last decoded frame stands in for them)
            used = np.unique(np.concatenate([np.ravel(f) for f in frames]))
            return {**base_meta, "frames_missing": int(np.isin(used, missing).sum())}

        def gap_of(start: int, count: int, keep_maps: bool = False):
            # one forward per group of clips: a clip's features never depend on
            # which other stages were stale (batch composition changes rounding)
            maps = backbone.forward_clips(crops[start:start + count])
            return (maps if keep_maps else None), _gap(maps)

        n = len(clips)
        if "body" in slots:
            body_maps, body_gap = gap_of(slots["body"], n, keep_maps="deep_clips" in stages)
        if "deep_clips" in stages:
            out["deep_clips"] = ({"maps": compact_float(body_maps), "gap": body_gap,
                                  "frame_indices": clips, "boxes": boxes[:, body],
                                  "observed": observed[:, body]}, rgb_meta(clips))
        if "deep_parts" in stages:
            _, hand_gap = gap_of(slots["hands"], 2 * n)
            streams = np.concatenate([hand_gap.reshape(n, 2, -1), body_gap[:, None]], axis=1)
            out["deep_parts"] = ({"gap": streams, "boxes": boxes, "observed": observed},
                                 {**rgb_meta(clips), "parts": list(PART_STREAMS)})
        if "deep_segments" in stages:
            arrays = {}
            for g, (idx, b, start) in seg_clips.items():
                arrays[f"gap_G{g}"] = gap_of(start, g)[1]
                arrays[f"frame_indices_G{g}"] = idx
                arrays[f"boxes_G{g}"] = b.astype(np.float32)
            used = rgb_meta(*(idx for idx, _, _ in seg_clips.values()))
            out["deep_segments"] = (arrays, {**used, "granularities": list(cfg.granularities)})
    if "deep_poses" in stages:
        picks = np.stack([resample_steps(c, tp) for c in clips])                # (n, tp)
        per_frame = skel.joints_by_frame
        out["deep_poses"] = ({"poses": skel.joints, "frame_ids": skel.frame_ids,
                              "clip_poses": per_frame[np.minimum(picks, len(per_frame) - 1)],
                              "clip_frame_indices": picks},
                             {**base_meta, "tp": int(tp)})
    return out


# -- the run -------------------------------------------------------------------------

_BACKBONES: Dict[tuple, object] = {}


def _backbone(cfg: ExtractConfig):
    """The process's :class:`VideoBackbone` for ``cfg`` (built once per process)."""
    args = cfg.backbone_args()
    if args not in _BACKBONES:
        from .backbones import VideoBackbone
        backbone, weights, device, precision, batch_size, seed = args
        _BACKBONES.clear()
        _BACKBONES[args] = VideoBackbone(backbone, weights, device=device, precision=precision,
                                         batch_size=batch_size, seed=seed)
    return _BACKBONES[args]


def _worker(store: FeatureStore, keys: Dict[str, StageKey], record: VideoRecord,
            cfg: ExtractConfig, stages: Tuple[str, ...], tp: int,
            threads: Optional[int]) -> Tuple[str, Tuple[str, ...]]:
    """Compute and store one video's stale entries; ``(video_id, stages)``."""
    if threads is not None:
        import torch
        torch.set_num_threads(threads)
    entries = extract_video(record, cfg, _backbone(cfg), stages, tp)
    for stage in stages:                      # fixed order: the cache fills reproducibly
        arrays, meta = entries[stage]
        store.put(keys[stage], record.video_id, arrays, meta)
    return record.video_id, stages


def _results(worker, calls, jobs: int, scheduler: Optional[str]):
    """Run ``worker(*args)`` for each of ``calls``, yielding results as they end."""
    if jobs <= 1 and scheduler is None:
        for args in calls:
            yield worker(*args)
        return
    from joblib import Parallel, delayed, parallel_backend
    tasks = [delayed(worker)(*args) for args in calls]
    if scheduler is not None:
        try:
            from distributed import Client
        except ImportError as exc:
            raise AdlError("--scheduler needs the 'distributed' extra: "
                           "pip install 'adl[distributed]'") from exc
        with Client(scheduler), parallel_backend("dask"):
            yield from Parallel(return_as="generator_unordered")(tasks)
    else:
        yield from Parallel(n_jobs=jobs, return_as="generator_unordered")(tasks)


def _bars(stages, counts, enabled: bool):
    if not enabled:
        return {}
    from tqdm import tqdm
    return {s: tqdm(total=counts[s], desc=s, unit="video", position=i, leave=False,
                    disable=None) for i, s in enumerate(stages) if counts[s]}


def run_extract(dataset: str, root, cache, config: Optional[ExtractConfig] = None, *,
                jobs: int = 1, scheduler: Optional[str] = None, progress: bool = True,
                log: Callable[[str], None] = print,
                reader_options: Optional[dict] = None) -> ExtractSummary:
    """Compute (or resume) the backbone features of every video of ``dataset``.

    Parameters
    ----------
    dataset : str
        Reader name (``ntu60``, ``smarthome``, ``nucla``, ``manifest``...).
    root : path
        Dataset root.
    cache : path
        Cache root; entries go to ``cache/<dataset>/<stage>/<digest>/``.
    config : ExtractConfig
    jobs : int
        joblib worker processes (one torch thread each).
    scheduler : str, optional
        Address of a Dask scheduler: the per-video work runs on that cluster
        (one torch thread per task).
    progress : bool
        A progress bar per stage on stderr.
    log : callable
        One-line messages (videos skipped, full-image fallback).
    reader_options : dict, optional
        Passed to the reader.

    Returns
    -------
    ExtractSummary

    Raises
    ------
    AdlError
        No video, or no video with RGB.
    """
    t0 = time.perf_counter()
    cfg = config or ExtractConfig()
    jobs = _int_at_least(jobs, "jobs", 1)
    records = load_records(dataset, root, **(reader_options or {}))
    if not records:
        raise AdlError(f"{root}: no video found for dataset {dataset}")
    skipped = {r.video_id: "no RGB video" for r in records if not r.has_rgb}
    usable = [r for r in records if r.has_rgb]
    if not usable:
        raise AdlError(f"{root}: none of the {len(records)} videos of {dataset} has RGB; the "
                       f"deep stage needs the videos")
    for vid, why in skipped.items():
        log(f"skipping {vid}: {why}")
    fallback = [r.video_id for r in usable if not r.has_skeleton]
    if fallback:
        log(f"{len(fallback)} of {len(usable)} videos have no skeleton: their crop is the full "
            f"image and they have no deep_poses entry")
    backbone = _backbone(cfg)
    stages = DeepStages(dataset, cfg, backbone.cache_meta())
    keys = {s: stages.key(s) for s in DEEP_STAGES}
    store = FeatureStore(cache, dataset)
    tp = cfg.tp_for(dataset)
    computed = {s: 0 for s in DEEP_STAGES}
    reused = {s: 0 for s in DEEP_STAGES}
    calls = []
    for r in usable:
        fp = source_fingerprint(r)
        wanted = DEEP_STAGES if r.has_skeleton else DEEP_STAGES[:-1]
        todo = []
        for s in wanted:
            if is_current(store, keys[s], r.video_id, source=fp):
                reused[s] += 1
            else:
                todo.append(s)
        if todo:
            calls.append((store, keys, r, cfg, tuple(todo), tp,
                          1 if (jobs > 1 or scheduler is not None) else None))
    counts = {s: sum(s in c[4] for c in calls) for s in DEEP_STAGES}
    bars = _bars(DEEP_STAGES, counts, progress)
    try:
        for _, done in _results(_worker, calls, jobs, scheduler):
            for s in done:
                computed[s] += 1
                if s in bars:
                    bars[s].update()
    finally:
        for bar in bars.values():
            bar.close()
    for r in usable:
        if not r.has_skeleton:
            skipped[f"{r.video_id}/deep_poses"] = "no skeleton"
    index = {"dataset": dataset, "version": DEEP_VERSION, "config": cfg.to_dict(), "tp": tp,
             "backbone": backbone.cache_meta(), "stages": stages.manifests(),
             "video_ids": [r.video_id for r in usable], "labels": [r.label for r in usable],
             "subjects": [r.subject for r in usable], "views": [r.view for r in usable],
             "setups": [r.setup for r in usable], "fallback": fallback, "skipped": skipped}
    index_path = Path(cache) / dataset / DEEP_INDEX_NAME
    atomic_write_text(index_path, json.dumps(index, indent=1, sort_keys=True))
    store.cleanup_temp()
    return ExtractSummary(dataset, len(records), computed, reused, skipped, fallback,
                          time.perf_counter() - t0, index_path)
