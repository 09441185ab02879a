"""The bring-your-own dataset: a CSV manifest of videos and ``.npy`` skeletons.

Format
------
``ROOT/manifest.csv`` (or any ``.csv`` file given directly), UTF-8, one header
line then one row per video.  Columns, in any order (names are matched after
stripping spaces and lower-casing):

=========  ========  ==========================================================
column     required  meaning
=========  ========  ==========================================================
video_id   yes       unique; ``[A-Za-z0-9._-]+`` not starting with ``.`` (it
                     names cache files)
label      yes       class name, non-empty
subject    yes       subject id, non-empty, kept as a string (``"S001"``, ``"3"``)
rgb        yes       video file (``.avi``, ``.mp4``...) or a folder of numbered
                     frames (all ``*.png`` or all ``*.jpg``/``*.jpeg``); may be
                     empty
skeleton   yes       ``.npy`` array of shape ``(T, J, 3)``, metres, camera
                     coordinates, NaN for missing joints/frames; may be empty
layout     yes       joint layout name (:data:`data.layouts.LAYOUTS`); required
                     when ``skeleton`` is set, may be empty otherwise
view       no        camera / view id
setup      no        setup / recording-condition id
camera     no        camera model (:data:`data.geometry.CAMERAS`); default
                     ``kinect_v1`` for ``kinect_v1_20``, ``kinect_v2`` for
                     ``kinect_v2_25``, none otherwise
fps        no        nominal frame rate (default 30)
group      no        videos that must stay on one side of every validation
                     split (a clip and its flipped copy); within one subject
=========  ========  ==========================================================

A row needs ``rgb`` or ``skeleton`` (or both).  Any other column is an error
that names it: a misspelt optional column (``veiw``) would otherwise be
silently dropped.

Paths and safety
----------------
Media paths are relative to the *media root*: the folder holding the CSV, or
the ``media_root`` the caller passes.  Every path -- relative, absolute, or
through a symlink, and every frame file of a frame folder -- must resolve
inside that root, otherwise :class:`data.errors.UnsafePathError` names the CSV
line.  The media root is deliberately never read from the manifest itself: a
manifest is data, and only the person running the tool may widen what it can
read.  Converters of datasets whose media sit in a read-only folder (BIISC)
write the CSV elsewhere and tell the caller to pass that folder as
``media_root`` (see :mod:`data.convert`).

Skeletons are checked when loaded (:func:`load_npy_skeleton`), not when the
manifest is read, so that reading a large manifest stays cheap.
"""
from __future__ import annotations

import csv
import io
import math
import os
import re
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Tuple

import numpy as np

from .errors import DatasetLayoutError, DataFormatError, UnsafePathError, short_repr
from .geometry import CAMERAS
from .layouts import LAYOUTS, get_layout
from .record import SkeletonSequence, VideoRecord
from .video import VIDEO_SUFFIXES

MANIFEST_NAME = "manifest.csv"
REQUIRED_COLUMNS = ("video_id", "label", "subject", "rgb", "skeleton", "layout")
OPTIONAL_COLUMNS = ("view", "setup", "camera", "fps", "group")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
FRAME_PATTERNS = ("*.png", "*.jpg", "*.jpeg")
DEFAULT_FPS = 30.0
DEFAULT_CAMERAS = {"kinect_v1_20": "kinect_v1", "kinect_v2_25": "kinect_v2"}

_VIDEO_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*\Z")


def is_safe_video_id(video_id: str) -> bool:
    """``[A-Za-z0-9._-]+`` not starting with ``.``: usable as a file name."""
    return bool(_VIDEO_ID.match(video_id))


def manifest_path(root) -> Path:
    """The CSV of a manifest dataset: ``root`` itself if it is a ``.csv``
    file, else ``root/manifest.csv``."""
    root = Path(root)
    if root.suffix.lower() == ".csv" and not root.is_dir():
        return root
    return root / MANIFEST_NAME


# --------------------------------------------------------------------- reading
def read_manifest(root, *, media_root=None) -> List[VideoRecord]:
    """Read a CSV manifest into records (in file order).

    Parameters
    ----------
    root : str or Path
        The dataset folder holding ``manifest.csv``, or the ``.csv`` file.
    media_root : str or Path, optional
        Folder that relative ``rgb``/``skeleton`` paths are resolved against
        and must stay inside.  Defaults to the folder of the CSV.

    Returns
    -------
    list of VideoRecord
        ``dataset="manifest"``; skeleton rows carry :func:`load_npy_skeleton`
        as their loader; ``meta`` holds ``("manifest_line", "<n>")``.

    Raises
    ------
    DatasetLayoutError
        No CSV at ``root`` or ``media_root`` is not a folder.
    DataFormatError
        Bad header, bad cell, duplicate ``video_id`` (both lines named),
        missing referenced file; the message names the CSV line.
    UnsafePathError
        A media path resolves outside the media root.
    """
    csv_path = manifest_path(root)
    if not csv_path.is_file():
        raise DatasetLayoutError(f"{csv_path}: no manifest CSV (expected a header line "
                                 f"{','.join(REQUIRED_COLUMNS)}[,{','.join(OPTIONAL_COLUMNS)}]; "
                                 f"see `adl datasets`)")
    base = Path(media_root) if media_root is not None else csv_path.parent
    if not base.is_dir():
        raise DatasetLayoutError(f"{base}: media root is not a folder")
    base = base.resolve()

    raw = csv_path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataFormatError(csv_path, "UTF-8 text", f"the byte {raw[exc.start:exc.start + 1]!r} "
                              f"at column {column} ({exc.reason})", line=line) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header, header_line = None, 0
    records: List[VideoRecord] = []
    first_line: Dict[str, int] = {}
    group_owner: Dict[str, Tuple[str, int]] = {}
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DataFormatError(csv_path, "CSV text", str(exc), line=reader.line_num) from None
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue  # blank line
        if header is None:
            header, header_line = _parse_header(csv_path, row, line), line
            continue
        if len(row) != len(header):
            raise DataFormatError(csv_path, f"{len(header)} comma-separated fields (as the header)",
                                  f"{len(row)} fields", line=line)
        cells = {name: cell.strip() for name, cell in zip(header, row)}
        rec = _parse_row(csv_path, base, cells, line, first_line)
        first_line[rec.video_id] = line
        if rec.group:
            first = group_owner.setdefault(rec.group, (rec.subject, line))
            if first[0] != rec.subject:
                raise DataFormatError(
                    csv_path, f"one subject per group (group {short_repr(rec.group)} is subject "
                    f"{short_repr(first[0])} on line {first[1]})",
                    f"subject {short_repr(rec.subject)}", line=line)
        records.append(rec)
    if header is None:
        raise DataFormatError(csv_path, f"a header line {','.join(REQUIRED_COLUMNS)}", "an empty file")
    if not records:
        raise DataFormatError(csv_path, "at least one row after the header",
                              "none", line=header_line)
    return records


def _parse_header(csv_path: Path, row: List[str], line: int) -> Tuple[str, ...]:
    names = tuple(c.strip().lower() for c in row)
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise DataFormatError(csv_path, "each column once", f"repeated column(s) {', '.join(dups)}",
                              line=line)
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise DataFormatError(csv_path, f"columns {','.join(REQUIRED_COLUMNS)} "
                              f"(optional {','.join(OPTIONAL_COLUMNS)})",
                              f"no column {', '.join(missing)} in header {short_repr(','.join(row), 120)}",
                              line=line)
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        raise DataFormatError(csv_path, f"only the columns {','.join(COLUMNS)}",
                              f"unknown column(s) {', '.join(map(repr, unknown))}", line=line)
    return names


def _parse_row(csv_path: Path, base: Path, c: Mapping[str, str], line: int,
               first_line: Mapping[str, int]) -> VideoRecord:
    def bad(expected, found):
        return DataFormatError(csv_path, expected, found, line=line)

    vid = c["video_id"]
    if not is_safe_video_id(vid):
        raise bad("a video_id of [A-Za-z0-9._-] characters not starting with '.'", short_repr(vid))
    if vid in first_line:
        raise bad("unique video_id values",
                  f"{vid!r} on line {first_line[vid]} and again on line {line}")
    for col in ("label", "subject"):
        if not c[col]:
            raise bad(f"a non-empty {col}", "an empty cell")
    layout = c["layout"] or None
    if layout is not None and layout not in LAYOUTS:
        raise bad(f"a joint layout among {', '.join(sorted(LAYOUTS))}", short_repr(layout))
    if not c["rgb"] and not c["skeleton"]:
        raise bad("an rgb path, a skeleton path or both", "both empty")

    skeleton = None
    if c["skeleton"]:
        if layout is None:
            raise bad("a layout for the skeleton", "an empty layout cell")
        skeleton = _resolve_inside(csv_path, base, c["skeleton"], line, "skeleton")
        if skeleton.suffix.lower() != ".npy":
            raise bad("a .npy skeleton file", short_repr(c["skeleton"]))
        if not skeleton.is_file():
            raise bad(f"an existing skeleton file (paths resolve against {base}; "
                      f"pass media_root= if the media live elsewhere)",
                      f"nothing at {skeleton}")

    rgb, rgb_glob = None, None
    if c["rgb"]:
        rgb = _resolve_inside(csv_path, base, c["rgb"], line, "rgb")
        if rgb.is_dir():
            rgb_glob = _frame_pattern(csv_path, base, rgb, line)
        elif rgb.is_file():
            if rgb.suffix.lower() not in VIDEO_SUFFIXES:
                raise bad(f"a video file ({', '.join(sorted(VIDEO_SUFFIXES))}) or a frame folder",
                          short_repr(c["rgb"]))
        else:
            raise bad(f"an existing RGB video or frame folder (paths resolve against {base}; "
                      f"pass media_root= if the media live elsewhere)",
                      f"nothing at {rgb}")

    camera = c.get("camera") or (DEFAULT_CAMERAS.get(layout) if layout else None)
    if camera is not None and camera not in CAMERAS:
        raise bad(f"a camera model among {', '.join(sorted(CAMERAS))}", short_repr(camera))
    fps = DEFAULT_FPS
    if c.get("fps"):
        try:
            fps = float(c["fps"])
        except ValueError:
            fps = math.nan
        if not (math.isfinite(fps) and fps > 0):
            raise bad("a positive frame rate", short_repr(c["fps"]))

    return VideoRecord(
        dataset="manifest", video_id=vid, label=c["label"], subject=c["subject"],
        view=c.get("view") or None, setup=c.get("setup") or None,
        rgb=rgb, rgb_glob=rgb_glob, skeleton=skeleton,
        skeleton_loader=load_npy_skeleton if skeleton is not None else None,
        layout=layout, camera=camera, fps=fps,
        meta=(("manifest_line", str(line)),), group=c.get("group") or None,
    )


def _resolve_inside(csv_path: Path, base: Path, cell: str, line: int, column: str) -> Path:
    """``cell`` resolved (symlinks followed) against ``base``; must stay inside it."""
    if "\0" in cell:
        raise DataFormatError(csv_path, f"a {column} path", f"{short_repr(cell)} (a NUL character)",
                              line=line)
    p = Path(cell)
    try:
        resolved = (p if p.is_absolute() else base / p).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # symlink loop, name too long...
        raise DataFormatError(csv_path, f"a resolvable {column} path", f"{short_repr(cell)} ({exc})",
                              line=line) from None
    if not resolved.is_relative_to(base):
        raise UnsafePathError(
            f"{csv_path}, line {line}: {column} path {cell!r} resolves to {resolved}, outside the "
            f"media root {base}; keep media inside it (or pass the folder holding them as media_root)")
    return resolved


def _frame_pattern(csv_path: Path, base: Path, folder: Path, line: int) -> str:
    """The one frame glob that matches files in ``folder``."""
    found = {pat: sorted(folder.glob(pat)) for pat in FRAME_PATTERNS}
    found = {pat: files for pat, files in found.items() if files}
    if len(found) != 1:
        kinds = ", ".join(FRAME_PATTERNS)
        raise DataFormatError(csv_path, f"a frame folder with one kind of frames ({kinds})",
                              f"{' and '.join(found) or 'none'} in {folder}", line=line)
    (pattern, files), = found.items()
    for f in files:  # a frame may be a symlink leading out of the root
        if not f.resolve().is_relative_to(base):
            raise UnsafePathError(f"{csv_path}, line {line}: frame {f} resolves to {f.resolve()}, "
                                  f"outside the media root {base}")
    return pattern


# -------------------------------------------------------------------- skeleton
def load_npy_skeleton(record: VideoRecord) -> SkeletonSequence:
    """Load the ``.npy`` skeleton of a manifest record.

    The array must have shape ``(T, J, 3)`` with ``T >= 1`` and ``J`` the
    joint count of ``record.layout``, a real numeric dtype, no infinities,
    and at least one non-zero, non-NaN value.  NaN marks missing joints or
    frames (sensor drops); frames whose joints are all exactly zero (the
    Kinect's "not tracked") are turned into NaN frames.

    Returns
    -------
    SkeletonSequence
        ``joints`` float32 ``(T, J, 3)`` (an in-memory copy),
        ``frame_ids = arange(T)``.

    Raises
    ------
    DataFormatError
        Naming the ``.npy`` file, the expected shape and what was found.
    """
    path = Path(record.skeleton)
    layout = get_layout(record.layout)
    n_joints = layout.n_joints
    expected = f"an array of shape (T, {n_joints}, 3) with T >= 1 (layout {layout.name})"
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise DataFormatError(path, expected, "no such file") from None
    except Exception as exc:  # noqa: BLE001 -- numpy's header parser raises ValueError,
        # OverflowError, SyntaxError, tokenize errors...: all mean "not a valid .npy file"
        raise DataFormatError(path, expected, f"an unreadable .npy file "
                              f"({type(exc).__name__}: {exc})") from None
    if not isinstance(arr, np.ndarray):  # an .npz archive
        raise DataFormatError(path, expected, f"a {type(arr).__name__}, not a single .npy array")
    if arr.ndim != 3 or arr.shape[1:] != (n_joints, 3) or arr.shape[0] < 1:
        raise DataFormatError(path, expected, f"shape {tuple(arr.shape)}")
    if arr.dtype.kind not in "fiu":
        raise DataFormatError(path, "a float or integer array", f"dtype {arr.dtype}")
    joints = np.array(arr, dtype=np.float32)  # copy: detaches from the memory map
    del arr
    inf_frames = np.flatnonzero(np.isinf(joints).any(axis=(1, 2)))
    if inf_frames.size:
        raise DataFormatError(path, "finite coordinates or NaN", "an infinite value",
                              frame=int(inf_frames[0]) + 1)
    joints[(joints == 0).all(axis=(1, 2))] = np.nan
    if np.isnan(joints).all():
        raise DataFormatError(path, "at least one tracked joint (a non-zero, non-NaN value)",
                              "only NaN and zeros (an empty skeleton)")
    return SkeletonSequence(joints=joints, frame_ids=np.arange(joints.shape[0], dtype=np.int64))


# --------------------------------------------------------------------- writing
def write_manifest(path, rows: Iterable[Mapping[str, object]]) -> Path:
    """Write a manifest CSV.

    Parameters
    ----------
    path : str or Path
        A ``.csv`` file, or a folder (``manifest.csv`` is written in it);
        parent folders are created.  Written atomically.
    rows : iterable of mapping
        Keys among :data:`COLUMNS`; ``video_id``, ``label``, ``subject``
        required; ``None`` and missing values become empty cells; ``Path``
        values are written with ``/`` separators.  Paths should be relative
        to the media root the manifest will be read with.

    Returns
    -------
    Path
        The CSV written.  Columns: the required ones, then the optional
        columns that at least one row fills.

    Raises
    ------
    ValueError
        Unknown key, missing/empty required value, unsafe or duplicate
        ``video_id`` (the 0-based row index is named).
    """
    out = manifest_path(path)
    table: List[Dict[str, str]] = []
    seen: Dict[str, int] = {}
    for i, row in enumerate(rows):
        unknown = sorted(set(row) - set(COLUMNS))
        if unknown:
            raise ValueError(f"row {i}: unknown manifest column(s) {', '.join(unknown)}; "
                             f"expected keys among {', '.join(COLUMNS)}")
        cells = {k: _cell(row.get(k)) for k in COLUMNS}
        for k in ("video_id", "label", "subject"):
            if not cells[k]:
                raise ValueError(f"row {i}: expected a non-empty {k!r}, got {row.get(k)!r}")
        vid = cells["video_id"]
        if not is_safe_video_id(vid):
            raise ValueError(f"row {i}: video_id {vid!r} is not [A-Za-z0-9._-]+ "
                             f"(not starting with '.')")
        if vid in seen:
            raise ValueError(f"row {i}: video_id {vid!r} already used by row {seen[vid]}")
        seen[vid] = i
        table.append(cells)
    columns = list(REQUIRED_COLUMNS) + [c for c in OPTIONAL_COLUMNS if any(r[c] for r in table)]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(columns)
            for r in table:
                w.writerow([r[c] for c in columns])
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, os.PathLike):
        return Path(value).as_posix()
    if isinstance(value, float):
        return repr(value)
    return str(value).strip()
