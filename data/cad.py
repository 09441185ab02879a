"""Cornell Activity Datasets CAD-60 and CAD-120: readers, skeleton parser and
the writers the synthetic data generator uses.

Formats (``/work/shared/DATASETS.md`` sections 1 and 2):

* **Skeleton** ``<id>.txt`` (both datasets): one row per frame,
  ``Frame#,ORI(1),P(1),...,ORI(11),P(11),P(12),...,P(15),`` = 171 values and a
  trailing comma (172 fields), then a final line ``END``.  ``ORI(i)`` is a
  row-major 3x3 rotation followed by its confidence, ``P(i)`` is
  ``x,y,z,CONF`` in **millimetres**.  Joints 1-11 carry an orientation,
  joints 12-15 (hands, feet) only a position.  ``Frame#`` starts at 1.
* **CAD-60** ``ROOT/data{1..4}/activityLabel.txt`` (``<id>,<activity>,`` lines,
  last line ``END``), ``ROOT/dataN/<id>.txt``, ``ROOT/dataN/<id>/RGB_<n>.png``
  with ``n`` = 1, 2, ... .  Subject = ``N``.
* **CAD-120** ``ROOT/Subject{N}_annotations/<activity>/{activityLabel.txt,
  labeling.txt,<id>.txt}`` and ``ROOT/Subject{N}_rgbd_images/<activity>/<id>/
  RGB_<n>.png``; ``activityLabel.txt`` lines are
  ``<id>,<activity>,<subject>,<obj>:<type>,...``; ``labeling.txt`` lines are
  ``<id>,<start>,<end>,<sub-activity>,<affordance>,...`` (1-based frames).

Design choices (documented here because the public sources leave them open):

* **Video ids** are ``cad60_s<subject>_<id>`` / ``cad120_s<subject>_<id>``
  (e.g. ``cad120_s1_0510175411``): unique, file-name safe, and readable in
  per-fold reports.  The raw sequence ids (recording time stamps, kept as
  strings so leading zeros survive) must be unique across the whole dataset:
  a repeated id is a :class:`DataFormatError` naming both places.
* **Missing joints**: a joint whose position confidence is 0 *and* whose
  position is exactly ``(0, 0, 0)`` is missing and becomes NaN.  A textual
  ``nan``/``inf`` in a skeleton file is **an error** (OpenNI/NITE never writes
  one; the format marks missing joints with zeros, so a non-finite value means
  a corrupted or foreign file).  A skeleton whose joints are all ``(0,0,0)`` in
  every frame is an error ("all-zero skeleton").
* **Rows**: blank lines are ignored; the trailing comma is optional (171
  values are required either way); frame numbers must be positive integers,
  strictly increasing; gaps are allowed and show in ``frame_ids``
  (``Frame# - 1``).  Nothing but blank lines may follow ``END``.
* **CAD-60 labels**: every label found is kept, including ``still`` and
  ``random`` (filter them with the protocol if wanted).  ``END`` is required.
* **CAD-120 labels**: the activity must be one of the 10 CAD-120 activities and
  equal the folder name.  The third field (subject) is checked against the
  folder's ``SubjectN`` when it reads ``N`` or ``SubjectN``.  ``END`` is
  optional.  ``labeling.txt`` is optional; when present it is parsed strictly
  and its segments go into ``meta["segments"]``.  A doubled folder
  ``SubjectN_annotations/SubjectN_annotations/<activity>`` (and likewise for
  ``_rgbd_images``) is accepted.
* **RGB frames** may be absent (the folder is missing or holds no
  ``RGB_*.png``): the record is then skeleton-only (``rgb=None``,
  ``meta["rgb"] == "missing"``).  Frame numbering is checked (no gap, first
  frame ``RGB_1.png``) only with ``check_frames=True``; otherwise
  ``adl inspect`` (:class:`data.video.FrameSource`) reports gaps.
* **Frame rate**: 30 fps for both datasets (Kinect v1 nominal rate; the CAD-120
  frame rate is not stated in the sources seen).
"""
from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .errors import DataFormatError, DatasetLayoutError, UnsafePathError, short_repr
from .record import SkeletonSequence, VideoRecord, expected_number, unusable_numbers
from .video import frame_number, list_frames

__all__ = [
    "CAD60_ACTIVITIES", "CAD120_ACTIVITIES", "CAD120_SUBACTIVITIES", "CAD_VALUES_PER_ROW",
    "parse_cad_skeleton", "load_cad_skeleton", "read_cad60", "read_cad120",
    "write_cad_skeleton", "write_cad60_labels", "write_cad120_labels", "write_cad120_labeling",
]

CAD60_ACTIVITIES = (
    "talking on the phone", "writing on whiteboard", "drinking water",
    "rinsing mouth with water", "brushing teeth", "wearing contact lenses",
    "talking on couch", "relaxing on couch", "cooking (chopping)", "cooking (stirring)",
    "opening pill container", "working on computer", "still", "random",
)
"""The 12 CAD-60 activities plus the ``still`` and ``random`` sequences
(informative only: the reader keeps every label it finds)."""

CAD120_ACTIVITIES = (
    "arranging_objects", "cleaning_objects", "having_meal", "making_cereal",
    "microwaving_food", "picking_objects", "stacking_objects", "taking_food",
    "taking_medicine", "unstacking_objects",
)
"""The 10 CAD-120 high-level activities (folder names and labels)."""

CAD120_SUBACTIVITIES = ("reaching", "moving", "pouring", "eating", "drinking", "opening",
                        "placing", "closing", "cleaning", "null")
"""The 10 CAD-120 sub-activities (informative: ``labeling.txt`` names are kept as written)."""

CAD_N_JOINTS = 15
CAD_ORIENTED = 11
# 1 + 11 x (9 + 1 + 3 + 1) + 4 x (3 + 1) = 171 values per row (172 fields with the trailing comma)
CAD_VALUES_PER_ROW = 1 + CAD_ORIENTED * (9 + 1 + 3 + 1) + (CAD_N_JOINTS - CAD_ORIENTED) * (3 + 1)
CAD_FPS = 30.0
RGB_GLOB = "RGB_*.png"


def _columns():
    """0-based column indices of a CAD row (Frame# is column 0)."""
    pos = np.zeros((CAD_N_JOINTS, 3), dtype=np.intp)
    conf = np.zeros(CAD_N_JOINTS, dtype=np.intp)
    ori = np.zeros((CAD_ORIENTED, 9), dtype=np.intp)
    ori_conf = np.zeros(CAD_ORIENTED, dtype=np.intp)
    for j in range(1, CAD_N_JOINTS + 1):
        if j <= CAD_ORIENTED:
            base = 14 * j - 13              # ORI(j) starts here
            ori[j - 1] = np.arange(base, base + 9)
            ori_conf[j - 1] = base + 9
            pos[j - 1] = np.arange(base + 10, base + 13)   # = 14*j - 3 (DATASETS.md)
            conf[j - 1] = base + 13
        else:
            base = 155 + 4 * (j - 12)
            pos[j - 1] = np.arange(base, base + 3)
            conf[j - 1] = base + 3
    return pos, conf, ori, ori_conf


_POS_COLS, _CONF_COLS, _ORI_COLS, _ORI_CONF_COLS = _columns()


def _column_name(c: int) -> str:
    """Human name of 0-based column ``c`` of a CAD row, for error messages."""
    if c == 0:
        return "Frame#"
    if c < 155:
        j, off = (c - 1) // 14 + 1, (c - 1) % 14
        if off < 9:
            return f"ORI({j}) element {off + 1}"
        if off == 9:
            return f"ORI({j}) CONF"
        return f"P({j}) " + ("x", "y", "z", "CONF")[off - 10]
    j, off = 12 + (c - 155) // 4, (c - 155) % 4
    return f"P({j}) " + ("x", "y", "z", "CONF")[off]


# --------------------------------------------------------------------------- text helpers

def _read_lines(path: Path, what: str) -> List[str]:
    """Lines of a text file; a missing or undecodable file is a DataFormatError."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataFormatError(path, what, "no such file") from None
    except IsADirectoryError:
        raise DataFormatError(path, what, "a folder") from None
    except UnicodeDecodeError as e:
        raise DataFormatError(path, f"{what} (ASCII text)",
                              f"undecodable bytes at byte offset {e.start}") from None
    return text.splitlines()


def _check_seq_id(path: Path, line: int, seq_id: str) -> str:
    """A sequence id read from a label file is used to build paths: keep it safe."""
    if "/" in seq_id or "\\" in seq_id or ".." in seq_id:
        raise UnsafePathError(f"{path}, line {line}: sequence id {short_repr(seq_id)} would "
                              f"escape the dataset folder; expected a plain id such as 0510175411")
    if not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z_-]*", seq_id):
        raise DataFormatError(path, "a sequence id made of letters, digits, '_' or '-' "
                              "(e.g. 0510175411)", short_repr(seq_id), line=line)
    return seq_id


def _split_fields(text: str) -> List[str]:
    """Comma fields of a label line, stripped, without the trailing empty field(s)."""
    fields = [f.strip() for f in text.split(",")]
    while fields and fields[-1] == "":
        fields.pop()
    return fields


# --------------------------------------------------------------------------- skeleton parser

def parse_cad_skeleton(path) -> SkeletonSequence:
    """Parse a CAD-60 / CAD-120 skeleton file.

    Each frame row holds ``Frame#`` then ``ORI(i),P(i)`` for joints 1-11 and
    ``P(i)`` for joints 12-15 (171 values, trailing comma), positions in
    millimetres; the file ends with ``END`` (DATASETS.md section 1).  Joint
    order is :data:`data.layouts.CAD_15`.

    Parameters
    ----------
    path : str or Path
        The ``<id>.txt`` skeleton file.

    Returns
    -------
    SkeletonSequence
        ``joints`` of shape ``(T, 15, 3)`` float32 in **metres** (NaN where a
        joint has confidence 0 and position ``(0, 0, 0)``), ``frame_ids`` of
        shape ``(T,)`` = ``Frame# - 1``, ``screen`` None.

    Raises
    ------
    DataFormatError
        Naming the file, the 1-based line and what was expected/found, for: a
        missing or empty file, a row without 171 values (truncated line), a
        non-numeric or non-finite value (``nan`` is an error, see the module
        notes), a non-integer or non-increasing frame number, a missing ``END``
        line, content after ``END``, no frame row, an all-zero skeleton.
    """
    path = Path(path)
    lines = _read_lines(path, "a CAD skeleton file (171 values per frame row, then END)")
    nonblank = [i for i, s in enumerate(lines) if s.strip()]
    if not nonblank:
        raise DataFormatError(path, "frame rows of 171 comma-separated values then an END line",
                              "an empty file", line=1)
    last_nonblank = nonblank[-1]
    rows: List[str] = []
    row_lines: List[int] = []
    end_line: Optional[int] = None
    for i in nonblank:
        s = lines[i].strip()
        if end_line is not None:
            raise DataFormatError(path, f"nothing after the END line (line {end_line})",
                                  short_repr(s), line=i + 1)
        if s == "END":
            end_line = i + 1
            continue
        n_values = s.count(",") + (0 if s.endswith(",") else 1)
        if n_values != CAD_VALUES_PER_ROW:
            found = f"{n_values} values"
            if i == last_nonblank and n_values < CAD_VALUES_PER_ROW:
                found += " (truncated line: the file ends here without an END line)"
            raise DataFormatError(path, f"{CAD_VALUES_PER_ROW} comma-separated values per frame "
                                  "row (Frame#, 11 x (ORI 9 + CONF + x,y,z + CONF), "
                                  "4 x (x,y,z + CONF)) and a trailing comma", found, line=i + 1)
        rows.append(s)
        row_lines.append(i + 1)
    if end_line is None:
        raise DataFormatError(path, "a final line 'END' after the frame rows",
                              f"end of file after the frame row at line {row_lines[-1]} "
                              "(missing END)", line=len(lines) + 1)
    if not rows:
        raise DataFormatError(path, "at least one frame row before END",
                              "only the END line", line=end_line)

    try:
        values = np.loadtxt(io.StringIO("\n".join(rows)), delimiter=",", dtype=np.float64,
                            usecols=range(CAD_VALUES_PER_ROW), ndmin=2, comments=None)
    except ValueError:
        _raise_bad_value(path, rows, row_lines)
        raise  # pragma: no cover - _raise_bad_value always raises
    bad = unusable_numbers(values)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        text = rows[r].split(",")[c].strip()
        raise DataFormatError(path, f"{expected_number(values[r, c])} in column {c + 1} "
                              f"({_column_name(c)}); "
                              "missing joints are written 0,0,0 with CONF 0",
                              short_repr(text), line=row_lines[r])

    fnum = values[:, 0]
    nonint = (fnum != np.floor(fnum)) | (fnum < 1) | (fnum > 2 ** 31)
    if nonint.any():
        r = int(np.flatnonzero(nonint)[0])
        raise DataFormatError(path, "a positive integer frame number (Frame#, column 1)",
                              short_repr(rows[r].split(",")[0].strip()), line=row_lines[r])
    back = np.flatnonzero(np.diff(fnum) <= 0)
    if back.size:
        r = int(back[0]) + 1
        raise DataFormatError(path, "strictly increasing frame numbers",
                              f"frame {int(fnum[r])} after frame {int(fnum[r - 1])}",
                              line=row_lines[r], frame=int(fnum[r]))

    pos = values[:, _POS_COLS]                       # (T, 15, 3) mm
    conf = values[:, _CONF_COLS]                     # (T, 15)
    zero = (pos == 0).all(axis=-1)
    if zero.all():
        raise DataFormatError(path, "at least one joint position different from 0,0,0",
                              f"an all-zero skeleton (every joint is 0,0,0 in all {len(rows)} "
                              f"frames, lines {row_lines[0]}-{row_lines[-1]})")
    joints = (pos / 1000.0).astype(np.float32)
    joints[zero & (conf == 0)] = np.nan
    return SkeletonSequence(joints=joints, frame_ids=(fnum - 1).astype(np.int64))


_NUMBER = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*"
                     r"|\s*[+-]?(?:nan|inf|infinity)\s*", re.IGNORECASE)


def _raise_bad_value(path: Path, rows: Sequence[str], row_lines: Sequence[int]) -> None:
    """Locate the first field of ``rows`` that is not a number and raise."""
    for text, ln in zip(rows, row_lines):
        for c, field in enumerate(text.split(",")[:CAD_VALUES_PER_ROW]):
            if not _NUMBER.fullmatch(field):
                raise DataFormatError(path, f"a number in column {c + 1} ({_column_name(c)})",
                                      short_repr(field.strip()), line=ln)
    raise DataFormatError(path, "comma-separated numbers", "a row numpy cannot parse",
                          line=row_lines[0])


def load_cad_skeleton(record: VideoRecord) -> SkeletonSequence:
    """``VideoRecord.skeleton_loader`` of CAD records (module level: picklable)."""
    return parse_cad_skeleton(record.skeleton)


# --------------------------------------------------------------------------- shared reader bits

def _rgb_folder(folder: Path, check_frames: bool) -> Optional[Path]:
    """``folder`` if it holds ``RGB_<n>.png`` frames, else None (skeleton-only record)."""
    if not folder.is_dir() or next(folder.glob(RGB_GLOB), None) is None:
        return None
    if check_frames:
        files = list_frames(folder, RGB_GLOB, check_gaps=True)
        first = frame_number(files[0])
        if first != 1:
            raise DataFormatError(folder, "RGB frames numbered from RGB_1.png",
                                  f"first frame {files[0].name}", frame=1)
    return folder


def _claim_id(seen: Dict[str, Tuple[Path, int]], seq_id: str, path: Path, line: int) -> None:
    if seq_id in seen:
        prev_path, prev_line = seen[seq_id]
        raise DataFormatError(path, "sequence ids unique in the dataset",
                              f"id {seq_id!r} already listed in {prev_path}, line {prev_line}",
                              line=line)
    seen[seq_id] = (path, line)


def _numbered_dirs(root: Path, pattern: str) -> List[Tuple[int, Path]]:
    rx = re.compile(pattern)
    out = []
    for d in root.iterdir():
        m = rx.fullmatch(d.name)
        if m and d.is_dir():
            out.append((int(m.group(1)), d))
    return sorted(out)


def _undouble(folder: Path) -> Path:
    """``X/X`` when the archive extracted into a doubled folder, else ``X``."""
    inner = folder / folder.name
    return inner if inner.is_dir() else folder


# --------------------------------------------------------------------------- CAD-60

def _read_cad60_labels(path: Path) -> List[Tuple[int, str, str]]:
    """``(line, seq_id, activity)`` of a CAD-60 ``activityLabel.txt``."""
    lines = _read_lines(path, "the CAD-60 label file activityLabel.txt "
                              "('<id>,<activity>,' lines, last line END)")
    out: List[Tuple[int, str, str]] = []
    end_line = None
    for i, raw in enumerate(lines, 1):
        s = raw.strip()
        if not s:
            continue
        if end_line is not None:
            raise DataFormatError(path, f"nothing after the END line (line {end_line})",
                                  short_repr(s), line=i)
        if s == "END":
            end_line = i
            continue
        fields = _split_fields(s)
        if len(fields) < 2 or not fields[0] or not fields[1]:
            raise DataFormatError(path, "a label line '<id>,<activity>,'", short_repr(s), line=i)
        out.append((i, _check_seq_id(path, i, fields[0]), fields[1]))
    if end_line is None:
        raise DataFormatError(path, "a final line 'END' after the label lines",
                              "end of file (missing END)", line=len(lines) + 1)
    if not out:
        raise DataFormatError(path, "at least one '<id>,<activity>,' label line",
                              "no label line", line=end_line)
    return out


def read_cad60(root, *, check_frames: bool = False) -> List[VideoRecord]:
    """Read CAD-60 (DATASETS.md section 1) into records.

    Parameters
    ----------
    root : str or Path
        Folder holding ``data1`` ... ``data4``.
    check_frames : bool
        Also list every RGB folder and fail on a numbering gap or a first
        frame other than ``RGB_1.png`` (slower; ``adl inspect`` checks this too).

    Returns
    -------
    list of VideoRecord
        One per label line, in folder then file order; ``video_id`` =
        ``cad60_s<N>_<id>``, ``subject`` = ``"N"`` from ``dataN``, ``layout`` =
        ``cad_15``, ``camera`` = ``cad60``, ``fps`` = 30, ``rgb`` = the
        ``<id>/`` folder or None when it has no RGB frame, ``meta`` =
        ``data_dir``, ``sequence_id``, ``rgb`` (``present``/``missing``).

    Raises
    ------
    DatasetLayoutError
        No ``dataN`` folder under ``root``.
    DataFormatError
        A missing/malformed ``activityLabel.txt``, a missing skeleton file, a
        duplicate sequence id, or (``check_frames``) an RGB numbering gap.
    UnsafePathError
        A sequence id containing a path separator or ``..``.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: not a folder (expected the CAD-60 root holding "
                                 "data1 ... data4)")
    dirs = _numbered_dirs(root, r"data(\d+)")
    if not dirs:
        raise DatasetLayoutError(f"{root}: no data1 ... data4 folders; expected the CAD-60 layout "
                                 "ROOT/dataN/activityLabel.txt, ROOT/dataN/<id>.txt, "
                                 "ROOT/dataN/<id>/RGB_<n>.png")
    records: List[VideoRecord] = []
    seen: Dict[str, Tuple[Path, int]] = {}
    for n, d in dirs:
        label_path = d / "activityLabel.txt"
        for line, sid, activity in _read_cad60_labels(label_path):
            _claim_id(seen, sid, label_path, line)
            skel = d / f"{sid}.txt"
            if not skel.is_file():
                raise DataFormatError(skel, f"the skeleton file of sequence {sid} (listed in "
                                      f"{label_path}, line {line})", "no such file")
            rgb = _rgb_folder(d / sid, check_frames)
            records.append(VideoRecord(
                dataset="cad60", video_id=f"cad60_s{n}_{sid}", label=activity, subject=str(n),
                rgb=rgb, rgb_glob=RGB_GLOB if rgb is not None else None,
                skeleton=skel, skeleton_loader=load_cad_skeleton, layout="cad_15",
                camera="cad60", fps=CAD_FPS,
                meta=(("data_dir", d.name), ("sequence_id", sid),
                      ("rgb", "present" if rgb is not None else "missing"))))
    return records


# --------------------------------------------------------------------------- CAD-120

_OBJ_RE = re.compile(r"(\d+):(\S.*)")
_SUBJ_RE = re.compile(r"(?:subject)?_?(\d+)", re.IGNORECASE)


def _read_cad120_labels(path: Path, subject: int, activity_dir: str):
    """``(line, seq_id, activity, subject_field, objects)`` of a CAD-120 activityLabel.txt."""
    lines = _read_lines(path, "the CAD-120 label file activityLabel.txt "
                              "('<id>,<activity>,<subject>,<obj>:<type>,...' lines)")
    out = []
    end_line = None
    for i, raw in enumerate(lines, 1):
        s = raw.strip()
        if not s:
            continue
        if end_line is not None:
            raise DataFormatError(path, f"nothing after the END line (line {end_line})",
                                  short_repr(s), line=i)
        if s == "END":
            end_line = i
            continue
        fields = _split_fields(s)
        if len(fields) < 3 or not all(fields[:3]):
            raise DataFormatError(path, "a label line '<id>,<activity>,<subject>,"
                                  "<obj>:<type>,...'", short_repr(s), line=i)
        sid = _check_seq_id(path, i, fields[0])
        activity, subj_field = fields[1], fields[2]
        if activity not in CAD120_ACTIVITIES:
            raise DataFormatError(path, "one of the 10 CAD-120 activities ("
                                  + ", ".join(CAD120_ACTIVITIES) + ")",
                                  f"unknown label {short_repr(activity)}", line=i)
        if activity != activity_dir:
            raise DataFormatError(path, f"activity {activity_dir!r} (the name of its folder)",
                                  short_repr(activity), line=i)
        m = _SUBJ_RE.fullmatch(subj_field)
        if m and int(m.group(1)) != subject:
            raise DataFormatError(path, f"subject {subject} (the Subject{subject}_annotations "
                                  "folder)", short_repr(subj_field), line=i)
        objects = []
        for k, f in enumerate(fields[3:], 4):
            mo = _OBJ_RE.fullmatch(f)
            if mo is None:
                raise DataFormatError(path, f"'<object id>:<object type>' in field {k}",
                                      short_repr(f), line=i)
            objects.append(f"{int(mo.group(1))}:{mo.group(2).strip()}")
        out.append((i, sid, activity, subj_field, objects))
    if not out:
        raise DataFormatError(path, "at least one '<id>,<activity>,<subject>,...' label line",
                              "no label line", line=end_line or 1)
    return out


def _parse_int(path: Path, line: int, text: str, what: str) -> int:
    if not re.fullmatch(r"[+-]?\d{1,18}", text):   # bounded: int() refuses huge strings
        raise DataFormatError(path, f"an integer {what}", short_repr(text), line=line)
    return int(text)


def _read_cad120_labeling(path: Path, ids: Dict[str, int]) -> Dict[str, List[str]]:
    """Sub-activity segments ``"start-end:subactivity"`` per sequence id."""
    lines = _read_lines(path, "the CAD-120 segment file labeling.txt")
    out: Dict[str, List[str]] = {}
    for i, raw in enumerate(lines, 1):
        s = raw.strip()
        if not s or s == "END":
            continue
        fields = _split_fields(s)
        if len(fields) < 4 or not fields[3]:
            raise DataFormatError(path, "a segment line '<id>,<start>,<end>,<sub-activity>,"
                                  "<affordance>,...'", short_repr(s), line=i)
        sid = fields[0]
        if sid not in ids:
            raise DataFormatError(path, "a sequence id listed in "
                                  f"{path.with_name('activityLabel.txt')} "
                                  f"({', '.join(sorted(ids)) or 'none'})", short_repr(sid), line=i)
        start = _parse_int(path, i, fields[1], "start frame (field 2)")
        end = _parse_int(path, i, fields[2], "end frame (field 3)")
        if not 1 <= start <= end:
            raise DataFormatError(path, "1 <= start frame <= end frame (1-based)",
                                  f"start {start}, end {end}", line=i)
        out.setdefault(sid, []).append(f"{start}-{end}:{fields[3]}")
    return out


def read_cad120(root, *, check_frames: bool = False) -> List[VideoRecord]:
    """Read CAD-120 (DATASETS.md section 2) into records.

    Parameters
    ----------
    root : str or Path
        Folder holding ``Subject{N}_annotations`` (and ``Subject{N}_rgbd_images``).
    check_frames : bool
        Also list every RGB folder and fail on a numbering gap.

    Returns
    -------
    list of VideoRecord
        One per ``activityLabel.txt`` line; ``video_id`` =
        ``cad120_s<N>_<id>`` (the 10-digit id kept as a string), ``label`` =
        the activity, ``subject`` = ``"N"``, ``layout`` = ``cad_15``,
        ``camera`` = ``cad120``, ``fps`` = 30, ``rgb`` = the
        ``Subject{N}_rgbd_images/<activity>/<id>`` folder or None; ``meta`` =
        ``activity_dir``, ``sequence_id``, ``subject_field``, ``objects``
        (``"1:plate;2:bowl"``), ``segments`` (``"1-25:reaching;26-60:moving"``,
        when ``labeling.txt`` exists), ``rgb`` (``present``/``missing``).

    Raises
    ------
    DatasetLayoutError
        No ``Subject{N}_annotations`` folder, or one without activity folders.
    DataFormatError
        Missing/malformed label files, an unknown activity, a label that
        differs from its folder, a missing skeleton, a duplicate id, or
        (``check_frames``) an RGB numbering gap.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: not a folder (expected the CAD-120 root holding "
                                 "Subject{N}_annotations)")
    subjects = _numbered_dirs(root, r"Subject(\d+)_annotations")
    if not subjects:
        raise DatasetLayoutError(f"{root}: no Subject{{N}}_annotations folders; expected the "
                                 "CAD-120 layout ROOT/Subject{N}_annotations/<activity>/"
                                 "{activityLabel.txt,labeling.txt,<id>.txt}")
    records: List[VideoRecord] = []
    seen: Dict[str, Tuple[Path, int]] = {}
    for n, ann in subjects:
        base = _undouble(ann)
        images = _undouble(root / f"Subject{n}_rgbd_images")
        activity_dirs = sorted(d for d in base.iterdir()
                               if d.is_dir() and not d.name.startswith((".", "__")))
        if not activity_dirs:
            raise DatasetLayoutError(f"{base}: no activity folder; expected "
                                     f"{base}/<activity>/activityLabel.txt")
        for adir in activity_dirs:
            label_path = adir / "activityLabel.txt"
            entries = _read_cad120_labels(label_path, n, adir.name)
            ids = {}
            for line, sid, *_ in entries:
                _claim_id(seen, sid, label_path, line)
                ids[sid] = line
            labeling = adir / "labeling.txt"
            segments = _read_cad120_labeling(labeling, ids) if labeling.is_file() else None
            for line, sid, activity, subj_field, objects in entries:
                skel = adir / f"{sid}.txt"
                if not skel.is_file():
                    raise DataFormatError(skel, f"the skeleton file of sequence {sid} (listed in "
                                          f"{label_path}, line {line})", "no such file")
                rgb = _rgb_folder(images / adir.name / sid, check_frames)
                meta = [("activity_dir", adir.name), ("sequence_id", sid),
                        ("subject_field", subj_field), ("objects", ";".join(objects))]
                if segments is not None:
                    meta.append(("segments", ";".join(segments.get(sid, []))))
                meta.append(("rgb", "present" if rgb is not None else "missing"))
                records.append(VideoRecord(
                    dataset="cad120", video_id=f"cad120_s{n}_{sid}", label=activity,
                    subject=str(n), rgb=rgb, rgb_glob=RGB_GLOB if rgb is not None else None,
                    skeleton=skel, skeleton_loader=load_cad_skeleton, layout="cad_15",
                    camera="cad120", fps=CAD_FPS, meta=tuple(meta)))
    return records


# --------------------------------------------------------------------------- writers

def _check_text_field(value, what: str) -> str:
    s = str(value)
    if not s or any(ch in s for ch in ",\n\r") or s != s.strip() or s == "END":
        raise ValueError(f"{what} must be a non-empty string without commas, newlines or "
                         f"surrounding spaces (and not 'END'), got {value!r}")
    return s


def _write_lines(path, lines: Iterable[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="ascii", newline="\n") as f:
        for line in lines:
            f.write(line)
            f.write("\n")
    return path


_ROW_FMT = "%d" + ",%.6g" * (CAD_VALUES_PER_ROW - 1) + ","


def write_cad_skeleton(path, joints_m, *, frame_numbers=None, orientations=None,
                       confidence=None) -> Path:
    """Write a skeleton file in the exact CAD-60/CAD-120 format.

    Parameters
    ----------
    path : str or Path
        Output ``<id>.txt`` (parent folders are created).
    joints_m : array_like, shape (T, 15, 3)
        Joints in metres, :data:`data.layouts.CAD_15` order; a joint with any
        NaN is missing and written ``0,0,0`` with CONF 0.
    frame_numbers : array_like of int, shape (T,), optional
        ``Frame#`` of each row (positive, strictly increasing); default 1..T.
    orientations : array_like, shape (T, 11, 3, 3), optional
        Joint orientations of joints 1-11, written row-major; default identity.
    confidence : array_like, shape (T, 15), optional
        CONF of each joint (also used as the ORI CONF of joints 1-11); default
        1 for present joints.  Missing joints always get 0.

    Returns
    -------
    Path
        ``path``.  Each row has 171 values and a trailing comma; positions in
        millimetres; the last line is ``END``.
    """
    j = np.asarray(joints_m, dtype=np.float64)
    if j.ndim != 3 or j.shape[1:] != (CAD_N_JOINTS, 3) or j.shape[0] < 1:
        raise ValueError(f"joints_m must have shape (T, 15, 3) with T >= 1, got {j.shape}")
    T = j.shape[0]
    missing = ~np.isfinite(j).all(axis=-1)
    if frame_numbers is None:
        fn = np.arange(1, T + 1, dtype=np.int64)
    else:
        fn = np.asarray(frame_numbers)
        if fn.shape != (T,) or not np.issubdtype(fn.dtype, np.integer):
            raise ValueError(f"frame_numbers must be {T} integers, got shape {fn.shape} "
                             f"dtype {fn.dtype}")
        if (fn < 1).any() or (np.diff(fn) <= 0).any():
            raise ValueError("frame_numbers must be positive and strictly increasing")
    if orientations is None:
        ori = np.broadcast_to(np.eye(3), (T, CAD_ORIENTED, 3, 3))
    else:
        ori = np.asarray(orientations, dtype=np.float64)
        if ori.shape != (T, CAD_ORIENTED, 3, 3) or not np.isfinite(ori).all():
            raise ValueError(f"orientations must be finite with shape ({T}, 11, 3, 3), "
                             f"got {ori.shape}")
    if confidence is None:
        conf = np.ones((T, CAD_N_JOINTS))
    else:
        conf = np.array(confidence, dtype=np.float64)
        if conf.shape != (T, CAD_N_JOINTS) or not np.isfinite(conf).all():
            raise ValueError(f"confidence must be finite with shape ({T}, 15), got {conf.shape}")
    conf[missing] = 0.0
    pos_mm = np.where(missing[..., None], 0.0, j * 1000.0)
    rows = np.zeros((T, CAD_VALUES_PER_ROW))
    rows[:, 0] = fn
    rows[:, _ORI_COLS] = ori.reshape(T, CAD_ORIENTED, 9)
    rows[:, _ORI_CONF_COLS] = conf[:, :CAD_ORIENTED]
    rows[:, _POS_COLS] = pos_mm
    rows[:, _CONF_COLS] = conf
    rows[rows == 0] = 0.0  # no "-0" in the file
    lines = [_ROW_FMT % tuple(r) for r in rows.tolist()]
    lines.append("END")
    return _write_lines(path, lines)


def write_cad60_labels(path, items: Iterable[Tuple[str, str]]) -> Path:
    """Write a CAD-60 ``activityLabel.txt``: ``<id>,<activity>,`` lines then ``END``.

    Parameters
    ----------
    path : str or Path
        Output file (parent folders are created).
    items : iterable of (seq_id, activity)
    """
    lines = [f"{_check_text_field(sid, 'seq_id')},{_check_text_field(act, 'activity')},"
             for sid, act in items]
    lines.append("END")
    return _write_lines(path, lines)


def write_cad120_labels(path, items) -> Path:
    """Write a CAD-120 ``activityLabel.txt``.

    Parameters
    ----------
    path : str or Path
        Output file (parent folders are created).
    items : iterable of (seq_id, activity, subject, objects)
        ``objects`` is a list of ``(obj_id, obj_type)``; each item becomes
        ``<id>,<activity>,<subject>,1:plate,2:bowl,`` (no ``END`` line: the
        CAD-120 sources show none; the reader accepts one).
    """
    lines = []
    for sid, act, subject, objects in items:
        parts = [_check_text_field(sid, "seq_id"), _check_text_field(act, "activity"),
                 _check_text_field(subject, "subject")]
        parts += [f"{int(k)}:{_check_text_field(t, 'object type')}" for k, t in objects]
        lines.append(",".join(parts) + ",")
    return _write_lines(path, lines)


def write_cad120_labeling(path, rows) -> Path:
    """Write a CAD-120 ``labeling.txt``.

    Parameters
    ----------
    path : str or Path
        Output file (parent folders are created).
    rows : iterable of (seq_id, start, end, subactivity, *affordances)
        One sub-activity segment per row, 1-based frames; written
        ``<id>,<start>,<end>,<sub-activity>,<affordance>,...``.
    """
    lines = []
    for row in rows:
        sid, start, end, sub, *aff = row
        parts = [_check_text_field(sid, "seq_id"), str(int(start)), str(int(end)),
                 _check_text_field(sub, "subactivity")]
        parts += [_check_text_field(a, "affordance") for a in aff]
        lines.append(",".join(parts))
    return _write_lines(path, lines)
