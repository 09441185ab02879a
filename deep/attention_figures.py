"""The attention figures of a trained run (``adl deep evaluate``; thesis
Fig. 4.12/4.14, 4.16, 4.18, 4.19 and 5.10).

:func:`write_attention_figures` loads a run folder's ``best.pt``, runs the
split's test samples through the model in eval mode and draws, with the
plotting functions of :mod:`adl.deep.figures`, what its
:attr:`~adl.deep.models.base.ModelOutput.attention` holds, into
``<run_dir>/figures/``::

    part_weights.png        "parts" (P-I3D, section 4.3, Eq. 4.6): the mean
                            weight of each body part per class over every
                            test clip (Fig. 4.12)
    spatial_<video>.png     "spatial" / "spatiotemporal" and "temporal"
                            (Separable STA and its variants, Eq. 4.11; VPN,
                            Eq. 4.15): frames of one clip of the video with the
                            spatial map blended over the clip's crop box and
                            the temporal weights as a strip (Fig. 4.16, 4.19)
    joints_<video>.png      "joints" (VPN with the GCN, section 4.5): the
                            clip's middle pose with the first person's joint
                            activations (Fig. 4.18)
    temporal_<video>.png    "segments_G{g}" and "granularity" (the Temporal
                            Model, Eq. 5.2 and 5.6): the video's segment and
                            granularity attention (Fig. 5.10)

A model without attention (``i3d``, ``pose-lstm``, ``pose-gcn``) gets no
figure.  The per-video figures are drawn for the chosen videos: by default
the first test video (lowest index) of each class, classes in index order, at
most ``max_videos``; or the video ids given.

Choices the thesis leaves open (arguments of :func:`write_attention_figures`)
---------------------------------------------------------------------------
* Which clip of a video the spatial and joint figures show (the thesis draws
  "a clip"): ``clip="middle"`` (default: row ``n // 2`` of the video's
  ``n`` test clips, away from the video's start and end), ``"first"``, or
  ``"best"``: the clip whose softmax gives the video's true class the
  highest probability (what the model attended to when it was most right).
* How many frames of the clip are drawn, ``n_frames`` (4 by default): spread
  evenly over the clip, frame i at position ``floor((i + 0.5) * T / k)`` of
  its T frame indices, on feature step ``floor(position * t / T)`` of the t
  steps of the map (a step of I3D's Mixed_5c covers T / t frames).
* Which map is drawn: A_S (``"spatial"``, sigmoid, Eq. 4.11 / 4.15) when the
  model gives one (VPN also gives A_ST = A_T o A_S, whose values are A_S
  scaled by the temporal weights; the strip shows A_T), else the joint
  m x n x t map (``"spatiotemporal"``, the "joint-sta" variant; divided by
  its maximum when its activation is a softmax, whose values are tiny).  A
  model with temporal attention only ("ta") gets its frames unblended with
  the strip below.
* Without ``root`` the frames cannot be read: the map is drawn on a blank
  grey frame of the crop box's size and the title says "no video: --root not
  given".

Same run, same data, same arguments: same figures (eval mode, no sampling).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from adl.data.layouts import get_layout
from adl.data.registry import load_records
from adl.data.video import FrameSource
from adl.features.store import FeatureStore, StageKey

from .device import resolve_device
from .extract import DEEP_INDEX_NAME
from .figures import (plot_joint_activations, plot_part_weights, plot_spatial_attention,
                      plot_temporal_attention)
from .evaluate import load_best
from .train import build_from_checkpoint, collate_samples

__all__ = ["FIGURES_DIR", "PART_WEIGHTS_NAME", "CLIP_CHOICES", "NO_VIDEO_NOTE",
           "write_attention_figures", "choose_videos", "frame_positions"]

#: The folder of a run the figures go to.
FIGURES_DIR = "figures"
PART_WEIGHTS_NAME = "part_weights.png"
#: How the clip of a video's spatial and joint figures is chosen (module docstring).
CLIP_CHOICES = ("middle", "first", "best")
#: Said in a spatial figure's title when the frames could not be read.
NO_VIDEO_NOTE = "no video: --root not given"
_BLANK_GREY = 128


# ----------------------------------------------------------------------------
# choosing videos, clips and frames
# ----------------------------------------------------------------------------

def choose_videos(data, test_idx: np.ndarray, videos: Optional[Sequence[str]] = None,
                  max_videos: int = 4, *, where: str = "") -> List[int]:
    """The videos whose per-video figures are drawn.

    Parameters
    ----------
    data : DeepData
        ``video_ids`` and ``labels``.
    test_idx : ndarray of int
        The split's test videos.
    videos : sequence of str, optional
        Video ids, each one of the test videos; all of them are drawn, in the
        order given.  None: the first test video (lowest index) of each
        class, classes in index order, at most ``max_videos``.
    max_videos : int
        >= 1.
    where : str
        Named in the errors (the run folder).

    Returns
    -------
    list of int
        Video indices.

    Raises
    ------
    ValueError
        ``max_videos`` < 1, or a video id that is not a test video of the split.
    """
    if isinstance(max_videos, bool) or not isinstance(max_videos, (int, np.integer)) \
            or max_videos < 1:
        raise ValueError(f"{where}: expected max_videos to be an integer >= 1, got "
                         f"{max_videos!r}")
    test = np.unique(np.asarray(test_idx, np.int64))
    if videos is not None:
        by_id = {data.video_ids[v]: int(v) for v in test}
        if isinstance(videos, str):
            videos = [videos]
        missing = [str(v) for v in videos if str(v) not in by_id]
        if missing:
            raise ValueError(f"{where}: video(s) {', '.join(map(repr, missing))} are not test "
                             f"videos of this split ({test.size} test videos, e.g. "
                             f"{', '.join(data.video_ids[v] for v in test[:3])})")
        out: List[int] = []
        for v in videos:
            if by_id[str(v)] not in out:
                out.append(by_id[str(v)])
        return out
    firsts: Dict[int, int] = {}
    for v in test.tolist():
        firsts.setdefault(int(data.labels[v]), v)
    return [firsts[c] for c in sorted(firsts)][:int(max_videos)]


def frame_positions(n_clip_frames: int, n_shown: int, t: Optional[int]):
    """Which frames of a clip are drawn and on which feature step each lies.

    Parameters
    ----------
    n_clip_frames : int
        T, the clip's frame indices.
    n_shown : int
        k, frames drawn (at most T are).
    t : int or None
        Time steps of the attention map (None: no time axis).

    Returns
    -------
    positions : ndarray (k,) int
        ``floor((i + 0.5) * T / k)``: positions in the clip's frame indices.
    steps : ndarray (k,) int or None
        ``floor(position * t / T)``.
    """
    k = max(1, min(int(n_shown), int(n_clip_frames)))
    positions = np.minimum(np.floor((np.arange(k) + 0.5) * n_clip_frames / k).astype(np.int64),
                           n_clip_frames - 1)
    if t is None:
        return positions, None
    steps = np.minimum((positions * int(t)) // int(n_clip_frames), int(t) - 1).astype(np.int64)
    return positions, steps


def _pick_clip(rows: List[int], probs: List[np.ndarray], label: int, how: str) -> int:
    """Index into ``rows`` (the video's samples in clip order)."""
    if how == "first":
        return 0
    if how == "middle":
        return len(rows) // 2
    return int(np.argmax([p[label] for p in probs]))           # "best"; first on ties


# ----------------------------------------------------------------------------
# the cache's clip entries and the video frames
# ----------------------------------------------------------------------------

class _ClipEntries:
    """``deep_clips`` entries (``frame_indices`` (n, T), ``boxes`` (n, 4),
    meta ``frame_size``) of the deep cache ``data`` was read from, opened as
    :meth:`adl.deep.inputs.DeepData.from_cache` opens it."""

    def __init__(self, data, where: str):
        folder = Path(data.source)
        path = folder / DEEP_INDEX_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{where}: the spatial figures need the clips' frames and "
                                    f"crop boxes from the deep cache, expected {path}, found no "
                                    f"file (data from {data.source})")
        index = json.loads(path.read_text())
        manifest = index.get("stages", {}).get("deep_clips")
        if manifest is None:
            raise ValueError(f"{where}: {path} lists no deep_clips stage; the spatial figures "
                             f"need its frame_indices and boxes")
        self.key = StageKey("deep_clips", manifest["config"], manifest["version"])
        self.store = FeatureStore(folder.parent, data.dataset, fsync=False)
        self.data = data

    def get(self, video: int) -> Tuple[np.ndarray, np.ndarray, Tuple[int, int]]:
        vid = self.data.video_ids[video]
        entry = self.store.get(self.key, vid)
        meta = self.store.get_meta(self.key, vid)
        size = tuple(int(v) for v in meta.get("frame_size", (0, 0)))
        return (np.asarray(entry["frame_indices"], np.int64),
                np.asarray(entry["boxes"], np.float64), size)


def _read_frames(record, indices: np.ndarray, where: str) -> np.ndarray:
    """RGB frames ``indices`` of ``record`` (k, H, W, 3) uint8; a frame the
    decoder does not deliver takes the last decoded one (as
    :func:`adl.deep.video_io.read_clip_crops`)."""
    import cv2
    if record.rgb is None:
        raise ValueError(f"{where}: expected an RGB source for video {record.video_id!r} to "
                         f"draw the attention on, its record has none")
    wanted = sorted(set(int(i) for i in indices))
    got: Dict[int, np.ndarray] = {}
    for i, bgr in FrameSource(record.rgb, record.rgb_glob).frames(indices=wanted):
        got[i] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if not got:
        raise ValueError(f"{where}: expected the frames {wanted} of {record.rgb}, decoded "
                         f"none of them")
    last_key = max(got)
    return np.stack([got.get(int(i), got[last_key]) for i in indices])


def _blank_frames(box: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
    """k grey frames of the crop box's size (rounded to whole pixels) and the
    box covering them."""
    w = max(1, int(round(float(box[2] - box[0]))))
    h = max(1, int(round(float(box[3] - box[1]))))
    frames = np.full((k, h, w, 3), _BLANK_GREY, np.uint8)
    return frames, np.array([0.0, 0.0, float(w), float(h)])


# ----------------------------------------------------------------------------
# running the model
# ----------------------------------------------------------------------------

def _run(model, dataset, device, batch_size: int):
    """Attention (numpy, per item) and softmax of every item of ``dataset``."""
    import torch
    from torch.utils.data import DataLoader

    attention: List[Dict[str, np.ndarray]] = []
    probs: List[np.ndarray] = []
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False,
                        collate_fn=collate_samples)
    with torch.inference_mode():
        for batch, _, _ in loader:
            out = model({k: v.to(device) for k, v in batch.items()})
            p = torch.softmax(out.logits.double(), dim=1).cpu().numpy()
            att = {k: v.detach().double().cpu().numpy() for k, v in out.attention.items()}
            for i in range(p.shape[0]):
                probs.append(p[i])
                attention.append({k: v[i] for k, v in att.items()})
    return attention, probs


def _subset(dataset, rows: List[int]):
    import torch
    return torch.utils.data.Subset(dataset, rows)


# ----------------------------------------------------------------------------
# the figures
# ----------------------------------------------------------------------------

def write_attention_figures(run_dir, data, split, device: str = "auto", *,
                            root=None, reader_options: Optional[dict] = None,
                            videos: Optional[Sequence[str]] = None, max_videos: int = 4,
                            clip: str = "middle", n_frames: int = 4,
                            batch_size: int = 32) -> List[Path]:
    """Draw the attention of ``run_dir``'s ``best.pt`` on ``split``'s test
    videos into ``run_dir/figures/`` (module docstring).

    Parameters
    ----------
    run_dir : path
        A folder :func:`adl.deep.train.train` wrote.
    data : DeepData
        The data it was trained on (its fingerprint is checked).
    split : Split
        The same split (its name is checked).
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    root : path, optional
        The dataset root: the records are read with
        :func:`adl.data.registry.load_records` and the spatial figures drawn
        on the video's frames.  None: on blank frames of the crop box's size.
    reader_options : dict, optional
        Passed to the dataset's reader (e.g. ``media_root``).
    videos : sequence of str, optional
        Video ids of the per-video figures (each a test video of ``split``);
        default :func:`choose_videos`'s.
    max_videos : int
        At most this many default videos.
    clip : {"middle", "first", "best"}
        The clip of a video the spatial and joint figures show.
    n_frames : int
        Frames of the clip drawn in a spatial figure (>= 1).
    batch_size : int

    Returns
    -------
    list of Path
        The PNGs written, in the order: part weights, then per video
        (chosen order) spatial, joints, temporal.  Empty for a model
        without attention (nothing written).

    Raises
    ------
    FileNotFoundError
        No ``best.pt`` in ``run_dir``; the deep cache's index is gone.
    ValueError
        A checkpoint of other data or of another split; a video id that is
        not a test video of ``split``; a video ``root`` does not list; bad
        ``clip``, ``n_frames`` or ``max_videos``.
    """
    run_dir = Path(run_dir)
    where = str(run_dir)
    if clip not in CLIP_CHOICES:
        raise ValueError(f"{where}: expected clip one of {', '.join(CLIP_CHOICES)}, got {clip!r}")
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) \
            or n_frames < 1:
        raise ValueError(f"{where}: expected n_frames to be an integer >= 1, got {n_frames!r}")
    payload = load_best(run_dir, data, split)
    test_idx = np.asarray(split.test, np.int64).reshape(-1)
    chosen = choose_videos(data, test_idx, videos, max_videos, where=where)
    spec, model = build_from_checkpoint(payload)
    dev = resolve_device(device)
    model.to(dev).eval()
    cfg = model.config
    name = payload["model"]
    dataset = data.samples(test_idx, tuple(model.required_inputs()), sample=spec.sample)
    if len(dataset) == 0:
        return []
    probe, _ = _run(model, _subset(dataset, [0]), dev, 1)
    keys = set(probe[0])
    if not keys:
        return []
    items = dataset.items
    if "parts" in keys:                           # every test clip: the class means
        rows = list(range(len(items)))
    else:                                         # the chosen videos' samples only
        wanted = set(chosen)
        rows = [i for i, (v, _) in enumerate(items) if v in wanted]
    attention, probs = _run(model, _subset(dataset, rows), dev, batch_size)
    by_video: Dict[int, List[int]] = {}
    for j, i in enumerate(rows):
        by_video.setdefault(items[i][0], []).append(j)

    out_dir = run_dir / FIGURES_DIR
    written: List[Path] = []
    classes = list(data.classes)
    title_of = _titles(name, data, classes)

    if "parts" in keys:
        weights = np.stack([a["parts"] for a in attention])
        labels = data.labels[[items[i][0] for i in rows]]
        written.append(plot_part_weights(
            weights, labels, classes, out_dir / PART_WEIGHTS_NAME,
            title=f"{name} body-part attention (Eq. 4.6) on {data.dataset} {split.name}, "
                  f"mean over test clips"))

    spatial_key = "spatial" if "spatial" in keys else \
        ("spatiotemporal" if "spatiotemporal" in keys else None)
    has_time = "temporal" in keys
    granular = "granularity" in keys
    entries = None
    records = None
    if spatial_key is not None or (has_time and not granular):
        entries = _ClipEntries(data, where)
        if root is not None:
            records = {r.video_id: r for r in load_records(data.dataset, root,
                                                           **(reader_options or {}))}

    for v in chosen:
        vid = data.video_ids[v]
        js = by_video.get(v)
        if not js:                               # a video without a cached clip
            continue
        label = int(data.labels[v])
        pick = js[_pick_clip(js, [probs[j] for j in js], label, clip)]
        att = attention[pick]
        row = items[rows[pick]][1]
        video_probs = np.max(np.stack([probs[j] for j in js]), axis=0)
        head = title_of(v, video_probs)
        if entries is not None:
            written.append(_spatial_figure(
                att, spatial_key, cfg, entries, records, root, v, row, n_frames,
                out_dir / f"spatial_{vid}.png", head, where))
        if "joints" in keys:
            poses = data.load(v, row, ("poses",))["poses"].numpy()        # (tp, M, J, 3)
            n_j = poses.shape[2]
            layout = get_layout(data.layout)
            written.append(plot_joint_activations(
                poses[poses.shape[0] // 2, 0], att["joints"][:n_j], layout.bones,
                out_dir / f"joints_{vid}.png", joint_names=layout.joints,
                title=f"{head[0]}\n{head[1]}\nGCN joint activations, person 1, "
                      f"clip {row + 1}, middle pose"))
        if granular:
            gs = [int(g) for g in cfg.granularities]
            written.append(plot_temporal_attention(
                {g: att[f"segments_G{g}"] for g in gs}, att["granularity"],
                out_dir / f"temporal_{vid}.png",
                title=f"{', '.join(head)}\nsegment (Eq. 5.2) and granularity "
                      f"(Eq. 5.6) attention",
                granularity_attention=bool(cfg.tg_attention)))
    return written


def _titles(name: str, data, classes: List[str]):
    """``title(v, video_probs)``: (model and video id, true and predicted class)."""
    def title(v: int, video_probs: np.ndarray) -> Tuple[str, str]:
        pred = int(np.argmax(video_probs))
        return (f"{name}: {data.video_ids[v]}",
                f"true {classes[int(data.labels[v])]}, predicted {classes[pred]} "
                f"({video_probs[pred]:.2f})")
    return title


def _spatial_figure(att: Dict[str, np.ndarray], spatial_key: Optional[str], cfg, entries,
                    records, root, video: int, row: int, n_frames: int, path: Path,
                    head: Tuple[str, str], where: str) -> Path:
    """One clip's frames with its spatial map and temporal strip (Fig. 4.16, 4.19)."""
    t, h, w = (int(x) for x in cfg.map_size)
    indices, boxes, _ = entries.get(video)
    clip_idx, box = indices[row], boxes[row]
    temporal = att.get("temporal")
    time_axis = t if (temporal is not None or spatial_key == "spatiotemporal") else None
    positions, steps = frame_positions(len(clip_idx), n_frames, time_axis)
    frame_ids = clip_idx[positions]
    vid = entries.data.video_ids[video]
    if root is None:
        frames, box = _blank_frames(box, len(positions))
        note = f" [{NO_VIDEO_NOTE}]"
    else:
        if vid not in records:
            raise ValueError(f"{where}: video {vid!r} is not among the {len(records)} videos "
                             f"the {entries.data.dataset} reader lists at {root}")
        frames = _read_frames(records[vid], frame_ids, where)
        note = ""
    alpha = 0.5
    normalise = False
    if spatial_key is None:                       # temporal attention only: frames as they are
        spatial, alpha, what = np.ones((h, w)), 0.0, "temporal attention only"
    elif spatial_key == "spatial":
        spatial, what = att["spatial"], "spatial attention (sigmoid)"
    else:
        spatial = att["spatiotemporal"]
        normalise = getattr(cfg, "joint_activation", "sigmoid") == "softmax"
        what = "joint spatio-temporal attention" + (" (/ max)" if normalise else "")
    return plot_spatial_attention(
        frames, box, spatial, temporal, path,
        title=f"{', '.join(head)}\nclip {row + 1}, frames "
              f"{', '.join(map(str, frame_ids.tolist()))}: "
              f"{what}{note}",
        frame_steps=steps, map_shape=(h, w) if spatial_key else None,
        normalise_map=normalise, alpha=alpha)
