"""The per-video, fold-independent stages of the features pipeline.

Each computation returns ``(arrays, meta)`` for one cache entry
(:meth:`adl.features.store.FeatureStore.put`); ``meta["source"]`` is the
video's :func:`~adl.features.keys.source_fingerprint`.

* :func:`compute_skeleton_entry` -- ``skeleton``: the LSTM input (F3), the 2D
  joints in the frames' pixels (F1's body parts), the frame ids;
* :class:`F1VideoComputer` -- ``f1_video``: the body parts' frame descriptors
  and their pooled video descriptors (thesis Eq. 3.1-3.4);
* :func:`compute_f2_entry` -- ``f2_raw``: the raw dense-trajectory
  descriptors; :func:`f2_encoder_input` is what a fold's Fisher encoder reads
  from it.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Dict, Optional, Tuple

import numpy as np

from adl.data.errors import AdlError
from adl.data.record import VideoRecord

from .config import FeaturesConfig
from .f1 import F1Config
from .f2_config import DESCRIPTOR_TYPES, F2Config
from .keys import source_fingerprint


def frame_size(record: VideoRecord) -> Tuple[int, int]:
    """``(width, height)`` of the record's RGB frames."""
    from adl.data.video import FrameSource
    return FrameSource(record.rgb, record.rgb_glob).frame_size()


def joints_2d_pixels(seq, record: VideoRecord, size) -> Optional[np.ndarray]:
    """2D joints ``(T, J, 2)`` float32 in the pixels of the actual RGB frames
    (the camera model's image size is rescaled to ``size``, e.g. for
    down-scaled data); None without screen coordinates and camera model."""
    from adl.data.geometry import get_camera
    if record.camera is None and seq.screen is None:
        return None
    cam = get_camera(record.camera) if record.camera else None
    uv = np.asarray(seq.screen if seq.screen is not None else cam.project(seq.joints), np.float64)
    if cam is not None and size is not None:
        uv = uv * (np.asarray(size, np.float64) / np.asarray(cam.image_size, np.float64))
    return uv.astype(np.float32)


def compact_float(values: np.ndarray) -> np.ndarray:
    """``values`` as float16 when every value keeps its finiteness, else float32.

    float16 halves the cache, but a finite value beyond its range (65504)
    would become inf; such an array is stored as float32 instead (readers
    take both).

    Parameters
    ----------
    values : ndarray
        Any shape, float.

    Returns
    -------
    ndarray, same shape, float16 or float32
    """
    values = np.asarray(values)
    with np.errstate(over="ignore"):
        half = values.astype(np.float16)
    if np.array_equal(np.isfinite(half), np.isfinite(values)):
        return half
    return values.astype(np.float32)


def compute_skeleton_entry(record: VideoRecord, cfg: FeaturesConfig) -> Tuple[dict, dict]:
    """Prepared LSTM input and 2D joints of one video (stage ``skeleton``).

    Returns
    -------
    arrays : dict
        ``sequence`` (T, J * 3) float32 (:func:`adl.features.f3.prepare_sequence`),
        ``frame_ids`` (T,) int64, and ``joints_2d`` (T, J, 2) float32 when the
        skeleton can be placed in the image.
    meta : dict
        ``source`` and ``frame_size`` (empty without RGB).
    """
    from .f3 import prepare_sequence
    seq = record.load_skeleton()
    layout = record.joint_layout
    prepared = prepare_sequence(seq, layout, per_frame=cfg.f3.per_frame)
    size = frame_size(record) if record.has_rgb else None
    uv = joints_2d_pixels(seq, record, size)
    arrays = {"sequence": prepared, "frame_ids": np.asarray(seq.frame_ids, np.int64)}
    if uv is not None:
        arrays["joints_2d"] = uv
    meta = {"source": source_fingerprint(record), "frame_size": list(size or ())}
    return arrays, meta


class F1VideoComputer:
    """Frame descriptors and pooled descriptors of one video (stage ``f1_video``,
    thesis section 3.3.1, Eq. 3.1-3.4).

    Parameters
    ----------
    cfg : F1Config
    rgb_only : bool
        Every "part" is the full image (a dataset without skeletons).
    num_threads : int, optional
        torch threads of the extractor.
    extractor : FrameDescriptorExtractor, optional
        A ready extractor (default: :meth:`FrameDescriptorExtractor.from_config`).
    """

    def __init__(self, cfg: F1Config, rgb_only: bool, num_threads: Optional[int] = None,
                 extractor=None):
        from .cnn import FrameDescriptorExtractor
        self.cfg = cfg
        self.rgb_only = rgb_only
        self.extractor = extractor if extractor is not None else \
            FrameDescriptorExtractor.from_config(cfg, num_threads=num_threads)

    def __call__(self, record: VideoRecord, skeleton_entry: Optional[dict]) -> Tuple[dict, dict]:
        """The ``f1_video`` entry of ``record``.

        Parameters
        ----------
        record : VideoRecord
        skeleton_entry : dict or None
            Its ``skeleton`` entry (:func:`compute_skeleton_entry`); unused
            with ``rgb_only``.

        Returns
        -------
        arrays : dict
            ``pooled`` (5, 4d) float32, ``frame_norms`` (5,) float32,
            ``n_frames`` int64, ``frames`` (T', 5, d) float16 (float32 when a
            value exceeds float16's range: :func:`compact_float`),
            ``frame_indices`` (T',) int64.
        meta : dict
            ``source``.
        """
        from adl.data.video import FrameSource
        from .body_parts import N_PARTS, part_boxes
        from .f1 import frame_norms, pool_video
        source = FrameSource(record.rgb, record.rgb_glob)
        width, height = source.frame_size()
        if not self.rgb_only and (skeleton_entry is None or "joints_2d" not in skeleton_entry):
            # full-image "parts" for this video only would be mixed with real crops
            why = ("has no skeleton" if skeleton_entry is None else
                   "has a skeleton that cannot be placed in the image (no camera model and no "
                   "2D joints)")
            raise AdlError(f"video {record.video_id!r} ({record.rgb}) {why}, while F1's body "
                           f"parts come from the skeletons of this dataset: give it a skeleton "
                           f"and a camera, or leave it out")
        if not self.rgb_only:
            boxes = part_boxes(skeleton_entry["joints_2d"], record.joint_layout, (width, height),
                               margin=self.cfg.margin, hand_size=self.cfg.hand_size)
            frame_ids = np.asarray(skeleton_entry["frame_ids"])
        else:
            # RGB-only: every part is the full image (the selector is told to
            # keep the full-image part only).
            n = len(source)
            boxes = np.tile(np.array([0, 0, width, height], np.float32), (n, N_PARTS, 1))
            frame_ids = np.arange(n)
        desc = self.extractor.extract(source, boxes, frame_ids)
        feats = desc.features
        arrays = {"pooled": pool_video(feats, delta=self.cfg.pool_delta).astype(np.float32),
                  "frame_norms": frame_norms(feats).astype(np.float32),
                  "n_frames": np.array(len(feats), np.int64),
                  "frames": compact_float(feats),
                  "frame_indices": desc.frame_indices}
        return arrays, {"source": source_fingerprint(record)}


def compute_f2_entry(record: VideoRecord, cfg: F2Config) -> Tuple[dict, dict]:
    """Raw dense-trajectory descriptors of one video (stage ``f2_raw``):
    :func:`adl.features.f2.extract_f2`'s output in float16, and ``source`` and
    ``n_trajectories`` metadata."""
    from .f2 import extract_f2
    out = extract_f2(record, replace(cfg, dtype="float16"))
    return out, {"source": source_fingerprint(record), "n_trajectories": int(len(out["positions"]))}


def f2_encoder_input(entry, cfg: FeaturesConfig) -> Dict[str, np.ndarray]:
    """One video's raw F2 descriptors ``{type: (n, d) float32}`` as the fold's
    Fisher encoder takes them (with ``cfg.fisher.mirror``, followed by their
    mirror images)."""
    from .idt_descriptors import mirror_descriptors
    types = [t for t in DESCRIPTOR_TYPES if t in entry]
    d = {t: np.asarray(entry[t], np.float32) for t in types}
    if cfg.fisher.mirror:
        m = mirror_descriptors(d, n_xy_cells=cfg.f2.n_xy_cells, n_t_cells=cfg.f2.n_t_cells)
        d = {t: np.concatenate([d[t], m[t]]) for t in types}
    return d
