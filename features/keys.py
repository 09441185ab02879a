"""The features stage's cache keys: what each entry is computed from.

Each stage's :class:`~adl.features.store.StageKey` hashes its own
configuration *and the digests of the stages it reads* (:class:`Stages`), so a
changed value recomputes that stage and its dependants and nothing else.  An
entry also records, in its metadata, what it was computed from beyond the
configuration: a per-video entry the :func:`source_fingerprint` of its files,
a fold entry the :func:`inputs_digest` of the dataset's videos.
:func:`is_current` is the one check of both.

The key contents are frozen: a cache written by an earlier version of this
code is found current as long as :data:`PIPELINE_VERSION` is unchanged.
"""
from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import asdict
from typing import Optional, Sequence

from adl.data.errors import StoreError
from adl.data.record import VideoRecord

from .config import FeaturesConfig
from .store import FeatureStore, StageKey

PIPELINE_VERSION = "1"
#: The stages, per video then per fold, in the order ``index.json`` lists them.
VIDEO_STAGES = ("skeleton", "f1_video", "f2_raw")
FOLD_STAGES = ("split", "f1_fold", "f2_fold", "f3_fold")


def source_fingerprint(record: VideoRecord) -> str:
    """What a video's per-video entries are computed from: size and mtime of
    its skeleton file and RGB source (for a folder of frames, of every file in
    it: frames rewritten in place leave the folder's own stat unchanged), and
    the record's camera, layout and frame pattern (the camera model places
    the body-part and person boxes, the layout the joints).

    Returns
    -------
    str
        16 hex digits.
    """
    parts = [f"camera={record.camera}", f"layout={record.layout}", f"glob={record.rgb_glob}"]
    for p in (record.skeleton, record.rgb):
        if p is None:
            parts.append("-")
            continue
        try:
            st = os.stat(p)
            parts.append(f"{p}:{st.st_size}:{st.st_mtime_ns}")
            if stat.S_ISDIR(st.st_mode):
                with os.scandir(p) as it:
                    files = sorted((e.name, e.stat(follow_symlinks=True)) for e in it
                                   if not e.name.startswith("."))
                parts.extend(f"{n}:{fs.st_size}:{fs.st_mtime_ns}" for n, fs in files)
        except OSError:
            parts.append(f"{p}:missing")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def inputs_digest(records: Sequence[VideoRecord],
                  fingerprints: Optional[Sequence[str]] = None) -> str:
    """What a fold entry was computed from: every video's id, label, subject
    and split group if it has one (the split), and with ``fingerprints`` (one
    :func:`source_fingerprint` per record) their sources (the fits).

    Fold entries are keyed by configuration; this digest, kept in their
    metadata, makes a changed, added or removed video refit them.
    """
    h = hashlib.sha256()
    for i, r in enumerate(records):
        fp = fingerprints[i] if fingerprints is not None else ""
        group = f"\x00group={r.group}" if r.group else ""   # no group: the digest of old caches
        h.update(f"{r.video_id}\x00{r.label}\x00{r.subject}\x00{fp}{group}\n".encode())
    return h.hexdigest()[:16]


def is_current(store: FeatureStore, key: StageKey, item: str, *, source: Optional[str] = None,
               inputs: Optional[str] = None) -> bool:
    """Whether the entry of ``item`` exists and was computed from what is given.

    Parameters
    ----------
    store, key, item
        The entry.
    source : str, optional
        A per-video entry's expected ``source`` metadata
        (:func:`source_fingerprint`); None: not checked.
    inputs : str, optional
        A fold entry's expected ``inputs`` metadata (:func:`inputs_digest`);
        None: not checked.

    Returns
    -------
    bool
        False for a missing entry, an entry computed from other sources or
        inputs, and a corrupt one (it is recomputed).
    """
    if not store.has(key, item):
        return False
    if source is None and inputs is None:
        return True
    try:
        meta = store.get_meta(key, item)
    except StoreError:
        return False  # a corrupt entry is recomputed
    return ((source is None or meta.get("source") == source)
            and (inputs is None or meta.get("inputs") == inputs))


def key_from_manifest(manifest: dict) -> StageKey:
    """The :class:`StageKey` a ``StageKey.manifest()`` (e.g. in ``index.json``) describes."""
    return StageKey(manifest["stage"], manifest["config"], manifest["version"])


class Stages:
    """The stage keys of one configuration (digests chain dependencies).

    Parameters
    ----------
    dataset : str
    cfg : FeaturesConfig
    records : sequence of VideoRecord
        The dataset's videos (the split key hashes their ids, labels and
        subjects).
    rgb_only : bool
        F1 on the full image (a dataset without skeletons).

    Attributes
    ----------
    skeleton, f1_video, f2_raw : StageKey
        Per-video stages.
    split, f1_fold, f2_fold, f3_fold : StageKey
        Per-fold stages.
    """

    def __init__(self, dataset: str, cfg: FeaturesConfig, records: Sequence[VideoRecord],
                 rgb_only: bool):
        f1, f2, f3 = cfg.f1, cfg.f2, cfg.f3
        self.skeleton = StageKey("skeleton", {"dataset": dataset, **f3.sequence_key()},
                                 PIPELINE_VERSION)
        f1_cfg = {}
        if "f1" in cfg.families:
            from .cnn import describe_weights, resolve_precision
            # the weights' identity (file hash) and the precision actually used
            # ("auto" is bf16 on some CPUs and float32 on others) key the cache
            device = str(getattr(f1, "device", "cpu"))
            if device == "auto":
                from .device import resolve_device
                device = str(resolve_device("auto"))
            f1_cfg = {**f1.pool_key(), "weights": describe_weights(f1.backbone, f1.weights),
                      "precision": resolve_precision(f1.precision, device),
                      "batch_size": f1.batch_size, "channels_last": f1.channels_last}
        self.f1_video = StageKey("f1_video", {"dataset": dataset, "rgb_only": rgb_only, **f1_cfg},
                                 PIPELINE_VERSION)
        f2d = asdict(f2)
        f2d.pop("dtype")
        if f2d["max_width"] is None:    # frames at their own size: the key of older caches
            f2d.pop("max_width")
        self.f2_raw = StageKey("f2_raw", {"dataset": dataset, **f2d}, PIPELINE_VERSION)
        ids = hashlib.sha256("\n".join(f"{r.video_id},{r.label},{r.subject}" for r in records)
                             .encode()).hexdigest()[:16]
        self.split = StageKey("split", {"protocol": cfg.protocol,
                                        "train_subjects": list(cfg.train_subjects or []),
                                        "val_fraction": cfg.val_fraction, "seed": cfg.seed,
                                        "records": ids}, PIPELINE_VERSION)
        self.f1_fold = StageKey("f1_fold", {"f1_video": self.f1_video.digest,
                                            "split": self.split.digest, "select": f1.select,
                                            "svm_C": f1.svm_C, "seed": cfg.seed}, PIPELINE_VERSION)
        self.f2_fold = StageKey("f2_fold", {"f2_raw": self.f2_raw.digest, "split": self.split.digest,
                                            **asdict(cfg.fisher), "seed": cfg.seed},
                                PIPELINE_VERSION)
        # f3.seed is hashed here and is the seed the LSTM is fitted with
        f3d = asdict(f3)
        f3d.pop("per_frame")
        if f3d.get("device", "cpu") == "cpu":  # the key of caches before the GPU path
            f3d.pop("device", None)
        else:
            f3d["device"] = f3d["device"].split(":")[0]  # the device type, not its index
        self.f3_fold = StageKey("f3_fold", {"skeleton": self.skeleton.digest,
                                            "split": self.split.digest, **f3d}, PIPELINE_VERSION)

    def fold_key(self, family: str) -> StageKey:
        """The per-fold key of ``family`` (``"f1"``, ``"f2"`` or ``"f3"``)."""
        return getattr(self, f"{family}_fold")

    def manifests(self) -> dict:
        """``{stage: StageKey.manifest()}`` of every stage, as ``index.json`` records them."""
        return {name: getattr(self, name).manifest() for name in FOLD_STAGES + VIDEO_STAGES}
