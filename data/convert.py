"""Converters of real public datasets to CSV manifests (:mod:`data.manifest`).

* :func:`utkinect_to_manifest` -- UTKinect-Action3D skeletons (DATASETS.md
  section 7): one ``.npy`` per labelled action segment, written next to the
  manifest, so the output folder is a self-contained dataset.
* :func:`biisc_to_manifest` -- BII Sneeze-Cough videos: RGB only.  The videos
  are not copied (they may live in a read-only folder) and cannot be
  symlinked either (a symlink leading out of the manifest's folder is refused
  by the path-safety rule).  The manifest's ``rgb`` paths are therefore
  relative to the source folder, returned as ``summary.media_root``; read it
  with ``read_manifest(out, media_root=summary.media_root)``.  The media root
  comes from the caller, never from the manifest, so a manifest alone can
  still not reach outside the folder it is read against.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np

from .errors import DataFormatError, short_repr
from .manifest import MANIFEST_NAME, write_manifest
from .record import VideoRecord, expected_number, unusable_numbers
from .video import FrameSource


@dataclass(frozen=True)
class ConversionSummary:
    """What a converter wrote.

    Attributes
    ----------
    manifest : Path
        The CSV written.
    n_records : int
        Rows in the manifest.
    classes, subjects : tuple of str
        Sorted distinct labels and subjects of the rows.
    skipped : tuple of (str, str)
        ``(item, reason)`` for every source item not converted.
    media_root : Path, optional
        Folder to pass as ``read_manifest(..., media_root=)``; ``None`` when
        the media sit beside the manifest.
    n_duplicate_frames : int
        Source frames dropped as repeats of an earlier frame id.
    """

    manifest: Path
    n_records: int
    classes: Tuple[str, ...]
    subjects: Tuple[str, ...]
    skipped: Tuple[Tuple[str, str], ...] = ()
    media_root: Optional[Path] = None
    n_duplicate_frames: int = 0


def _summary(manifest: Path, rows: List[dict], skipped, **kw) -> ConversionSummary:
    def key(s):
        return (0, int(s), s) if s.isdigit() else (1, 0, s)
    return ConversionSummary(
        manifest=manifest, n_records=len(rows),
        classes=tuple(sorted({r["label"] for r in rows})),
        subjects=tuple(sorted({r["subject"] for r in rows}, key=key)),
        skipped=tuple(skipped), **kw)


# -------------------------------------------------------------------- UTKinect
UTK_JOINTS = 20
_UTK_FIELDS = 1 + 3 * UTK_JOINTS
_UTK_RUN = re.compile(r"s(\d+)_e(\d+)\Z")
_UTK_SEGMENT = re.compile(r"(\w+)\s*:\s*(.*)\Z")


def read_utkinect_joints(path) -> Tuple[np.ndarray, np.ndarray, int]:
    """Parse a UTKinect ``joints_sSS_eEE.txt`` file.

    Each non-blank line is a frame id then 20 joints ``x y z`` (metres), 61
    numbers separated by runs of whitespace.  About 3 % of the frame ids
    appear twice with slightly different joints (measured: 542 of 15 860
    rows); the first occurrence is kept, as the file order is the capture
    order.

    Returns
    -------
    frame_ids : ndarray, shape (T,), int64
        Sorted, unique.
    joints : ndarray, shape (T, 20, 3), float32
    n_duplicates : int
        Rows dropped.

    Raises
    ------
    DataFormatError
        A line without 61 numbers, a non-integer frame id, or no frame
        (file and line named).
    """
    path = Path(path)
    rows, lines = [], []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for n, text in enumerate(fh, start=1):
            fields = text.split()
            if not fields:
                continue
            if len(fields) != _UTK_FIELDS:
                raise DataFormatError(path, f"{_UTK_FIELDS} whitespace-separated numbers "
                                      f"(frame id, then x y z of {UTK_JOINTS} joints)",
                                      f"{len(fields)} fields", line=n)
            rows.append(fields)
            lines.append(n)
    if not rows:
        raise DataFormatError(path, "at least one frame line", "none")
    try:
        data = np.array(rows, dtype=np.float64)
    except ValueError:  # find the culprit only on failure: the fast path stays fast
        for fields, n in zip(rows, lines):
            for tok in fields:
                try:
                    float(tok)
                except ValueError:
                    raise DataFormatError(path, "numbers", short_repr(tok), line=n) from None
        raise
    ids = data[:, 0]
    bad = np.flatnonzero(~np.isfinite(ids) | (ids != np.round(ids)) | (ids < 0) | (ids > 2 ** 53))
    if bad.size:
        raise DataFormatError(path, "a non-negative integer frame id first", short_repr(rows[bad[0]][0]),
                              line=lines[bad[0]])
    # NaN marks a missing value; an infinity or a huge value is corrupt
    coords = data[:, 1:]
    refused = unusable_numbers(coords) & ~np.isnan(coords)
    if refused.any():
        r, c = np.argwhere(refused)[0]
        raise DataFormatError(path, f"{expected_number(coords[r, c])} (joint coordinates in metres)",
                              short_repr(rows[r][c + 1]), line=lines[r])
    uniq, first = np.unique(ids.astype(np.int64), return_index=True)
    joints = coords[first].reshape(-1, UTK_JOINTS, 3).astype(np.float32)
    return uniq, joints, int(len(ids) - len(uniq))


def read_utkinect_labels(path) -> Dict[str, List[Tuple[str, Optional[int], Optional[int], int]]]:
    """Parse ``actionLabel.txt``: ``{run: [(action, start, end, line), ...]}``.

    A run header is ``sSS_eEE``; each following line is ``action: start end``
    (inclusive frame ids).  ``NaN NaN`` gives ``start = end = None``.

    Raises
    ------
    DataFormatError
        A segment line before any header, a line that is neither, a
        non-integer bound, ``start > end``, or an action repeated in a run
        (file and line named).
    """
    path = Path(path)
    runs: Dict[str, List[Tuple[str, Optional[int], Optional[int], int]]] = {}
    run = None
    with open(path, encoding="utf-8", errors="replace") as fh:
        for n, text in enumerate(fh, start=1):
            text = text.strip()
            if not text:
                continue
            if _UTK_RUN.match(text):
                if text in runs:
                    raise DataFormatError(path, "each run header once", f"{text!r} again", line=n)
                run = text
                runs[run] = []
                continue
            m = _UTK_SEGMENT.match(text)
            if m is None:
                raise DataFormatError(path, "a run header 'sSS_eEE' or a line 'action: start end'",
                                      short_repr(text), line=n)
            if run is None:
                raise DataFormatError(path, "a run header 'sSS_eEE' before the first action",
                                      short_repr(text), line=n)
            action, bounds = m.group(1), m.group(2).split()
            if len(bounds) != 2:
                raise DataFormatError(path, "two frame ids 'start end' (or 'NaN NaN')",
                                      short_repr(m.group(2)), line=n)
            if all(b.lower() == "nan" for b in bounds):
                start = end = None
            else:
                try:
                    start, end = int(bounds[0]), int(bounds[1])
                except ValueError:
                    raise DataFormatError(path, "integer frame ids 'start end' (or 'NaN NaN')",
                                          short_repr(m.group(2)), line=n) from None
                if start > end:
                    raise DataFormatError(path, "start <= end", f"{start} > {end}", line=n)
            for prev in runs[run]:
                if prev[0] == action:
                    raise DataFormatError(path, f"each action once per run ({run})",
                                          f"{action!r} on line {prev[3]} and line {n}", line=n)
            runs[run].append((action, start, end, n))
    if not runs:
        raise DataFormatError(path, "at least one run header 'sSS_eEE'", "none")
    return runs


def utkinect_to_manifest(src, out, *, labels_file: str = "actionLabel.txt") -> ConversionSummary:
    """Convert UTKinect-Action3D skeletons to a manifest dataset.

    Parameters
    ----------
    src : str or Path
        Folder holding ``joints_sSS_eEE.txt`` (or a ``joints/`` sub-folder)
        and ``labels_file``.
    out : str or Path
        Output folder: ``manifest.csv`` and ``skeletons/<video_id>.npy``.
    labels_file : str
        Label file name inside ``src`` (``actionLabel_modified.txt`` for
        the corrected boundaries) or a path.

    Returns
    -------
    ConversionSummary
        One row per labelled segment: ``video_id = sSS_eEE_<action>``,
        label = action name, subject = ``str(int(SS))``, layout
        ``kinect_v1_20``, skeleton ``(T, 20, 3)`` float32 of the frames
        whose ids lie in ``[start, end]``.  ``NaN NaN`` segments and
        segments with no frame in range are in ``skipped``; joints files
        without a label run are too.

    Notes
    -----
    Skeleton rows are the tracked frames only (ids jump where the sensor
    dropped frames); the manifest's ``frame_ids`` are positions ``0..T-1``.

    Raises
    ------
    DataFormatError
        Malformed label or joints line (file and line named), or a label run
        without its joints file.
    """
    src, out = Path(src), Path(out)
    labels_path = src / labels_file
    if not labels_path.is_file():
        raise DataFormatError(labels_path, "the UTKinect label file", "no such file")
    joints_dir = src / "joints" if not any(src.glob("joints_s*_e*.txt")) else src
    runs = read_utkinect_labels(labels_path)

    skel_dir = out / "skeletons"
    skel_dir.mkdir(parents=True, exist_ok=True)
    rows, skipped, n_dup = [], [], 0
    for run, segments in runs.items():
        joints_path = joints_dir / f"joints_{run}.txt"
        if not joints_path.is_file():
            raise DataFormatError(labels_path, f"a joints file {joints_path} for run {run}",
                                  "no such file")
        ids, joints, dup = read_utkinect_joints(joints_path)
        n_dup += dup
        subject = str(int(_UTK_RUN.match(run).group(1)))
        for action, start, end, line in segments:
            vid = f"{run}_{action}"
            if start is None:
                skipped.append((vid, f"{labels_path.name} line {line}: no frame range (NaN NaN)"))
                continue
            keep = (ids >= start) & (ids <= end)
            if not keep.any():
                skipped.append((vid, f"{labels_path.name} line {line}: no skeleton frame with id "
                                     f"in [{start}, {end}]"))
                continue
            np.save(skel_dir / f"{vid}.npy", np.ascontiguousarray(joints[keep]))
            rows.append({"video_id": vid, "label": action, "subject": subject,
                         "rgb": "", "skeleton": f"skeletons/{vid}.npy",
                         "layout": "kinect_v1_20", "view": ""})
    for f in sorted(joints_dir.glob("joints_s*_e*.txt")):
        run = f.stem[len("joints_"):]
        if run not in runs:
            skipped.append((f.name, f"no run {run} in {labels_path.name}"))
    if not rows:
        raise DataFormatError(labels_path, "at least one labelled segment with frames", "none")
    manifest = write_manifest(out / MANIFEST_NAME, rows)
    return _summary(manifest, rows, skipped, n_duplicate_frames=n_dup)


# ----------------------------------------------------------------------- BIISC
BIISC_ACTIONS = ("CALL", "COUG", "DRIN", "SCRA", "SNEE", "STRE", "WAVE", "WIPE")
BIISC_FPS = 10.0  # README and every container header of the S001/S002 subset
_BIISC_NAME = re.compile(
    r"(?P<subject>S\d{3})_(?P<gender>[MF])_(?P<action>" + "|".join(BIISC_ACTIONS) + r")_"
    r"(?P<motion>STD|WLK)_(?P<pose>FCE|LFT|RGT)(?P<flip>_HF)?\Z")


def biisc_to_manifest(src, out) -> ConversionSummary:
    """Write a manifest of the BII Sneeze-Cough videos in ``src``.

    Files ``{subject}_{M|F}_{action}_{STD|WLK}_{FCE|LFT|RGT}[_HF].avi``
    become rows with ``video_id`` = file stem, label = action code, subject
    = ``"S001"``..., view = pose, setup = ``STD``/``WLK`` (standing or
    walking), fps 10, ``rgb`` = file name.  ``_HF`` (horizontally flipped)
    copies keep their subject, so a subject-wise split never puts a video and
    its mirror on both sides; ``group`` = the stem without ``_HF``, so the
    splits inside a fold (validation split, inner cross-validation, which
    divide one subject's videos when a fold trains on one subject) never do
    either.

    The videos are neither copied nor linked: ``rgb`` is relative to ``src``,
    returned as ``summary.media_root``; read the result with
    ``read_manifest(out, media_root=summary.media_root)``.  ``.avi`` files
    whose name does not follow the pattern are listed in ``skipped``.

    Raises
    ------
    DataFormatError
        ``src`` holds no BIISC video.
    """
    src, out = Path(src), Path(out)
    rows, skipped = [], []
    for f in sorted(src.glob("*.avi")):
        m = _BIISC_NAME.match(f.stem)
        if m is None:
            skipped.append((f.name, "name does not follow {subject}_{M|F}_{action}_{STD|WLK}_"
                                    "{FCE|LFT|RGT}[_HF].avi"))
            continue
        rows.append({"video_id": f.stem, "label": m["action"], "subject": m["subject"],
                     "rgb": f.name, "skeleton": "", "layout": "", "view": m["pose"],
                     "setup": m["motion"], "fps": BIISC_FPS,
                     "group": f.stem[:-3] if m["flip"] else f.stem})
    if not rows:
        raise DataFormatError(src, "BIISC videos {subject}_{M|F}_{action}_{STD|WLK}_{pose}[_HF].avi",
                              "none")
    manifest = write_manifest(out / MANIFEST_NAME, rows)
    return _summary(manifest, rows, skipped, media_root=src.resolve())


def count_rgb_frames(records: Iterable[VideoRecord], *, decode: bool = False) -> Dict[str, int]:
    """Frames of each record's RGB source, through :class:`data.video.FrameSource`.

    Parameters
    ----------
    records : iterable of VideoRecord
        Records without RGB are left out.
    decode : bool
        Count decoded frames (slower) instead of the container's header
        count; for a frame folder, count readable images instead of files.

    Returns
    -------
    dict
        ``{video_id: n_frames}``.
    """
    counts = {}
    for r in records:
        if r.rgb is None:
            continue
        src = FrameSource(r.rgb, r.rgb_glob)
        counts[r.video_id] = sum(1 for _ in src.frames()) if decode else len(src)
    return counts
