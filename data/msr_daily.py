"""MSRDailyActivity3D: reader, skeleton parser and the skeleton writer the
synthetic data generator uses.

Format (``/work/shared/DATASETS.md`` section 3): a flat folder of
``aXX_sYY_eZZ_skeleton.txt`` and ``aXX_sYY_eZZ_rgb.avi`` (XX action 01-16,
YY subject, ZZ 01 = sitting / 02 = standing).  A skeleton file is whitespace
separated: a header ``<frames> <joints>`` (joints = 20), then per frame a row
count (40 = one skeleton, 0 = no skeleton, 80 = two skeletons) followed by that
many rows of 4 numbers; each joint takes two rows, ``x y z c`` (metres) then
``u v depth c`` (``u, v`` normalised to [0, 1] of the 640x480 image).

Design choices:

* **Video ids** are the file stem ``aXX_sYY_eZZ`` (unique in a flat folder,
  file-name safe).  ``subject`` = ``str(int(YY))``; ``setup`` =
  ``"sitting"``/``"standing"`` from ZZ (``view`` stays None: one camera).
* **Row count 0** gives an all-NaN frame (kept, so ``frame_ids`` stays the
  file's frame index); **80** keeps the *first* skeleton (rows 1-40) and
  ignores the second: the dataset has one actor per video, two-skeleton frames
  are rare, and keeping the first is deterministic and matches what readers
  that assume 40 rows per frame see first.
* A joint at exactly ``(0, 0, 0)`` is missing (NaN in ``joints`` and
  ``screen``): a tracked Kinect joint cannot sit on the sensor.  A file whose
  skeletons are all zeros, or whose every frame has row count 0, is an error.
* Non-finite values (``nan``) are errors.  The header may sit on one line or on
  two; blank lines are ignored between frames (not inside a frame's rows).
  The file is read line by line and the header's frame count is never used
  to allocate memory: a header claiming 10**9 frames on a short file is a
  :class:`DataFormatError` at the end of the file.
* **Frame rate** 30 fps (Kinect v1).
"""
from __future__ import annotations

import io
import re
from pathlib import Path
from itertools import islice
from typing import List, Optional, Tuple

import numpy as np

from .errors import DataFormatError, DatasetLayoutError, short_repr
from .geometry import get_camera
from .record import SkeletonSequence, VideoRecord, expected_number, unusable_numbers

__all__ = ["MSR_ACTIONS", "MSR_SETUPS", "MSR_SCREEN_SIZE", "parse_msr_skeleton",
           "load_msr_skeleton", "read_msr_daily", "write_msr_skeleton"]

MSR_ACTIONS = ("drink", "eat", "read book", "call cellphone", "write on a paper", "use laptop",
               "use vacuum cleaner", "cheer up", "sit still", "toss paper", "play game",
               "lie down on sofa", "walk", "play guitar", "stand up", "sit down")
"""The 16 actions, in the order of the ``aXX`` numbers (a01 = drink)."""

MSR_SETUPS = {1: "sitting", 2: "standing"}
"""``eZZ`` -> setup name."""

MSR_SCREEN_SIZE = (640, 480)
"""(width, height) in pixels of the RGB video; ``u, v`` are normalised by it."""

MSR_N_JOINTS = 20
MSR_FPS = 30.0
_ROW_COUNTS = (0, 2 * MSR_N_JOINTS, 4 * MSR_N_JOINTS)
_NAME_RE = re.compile(r"a(\d{2})_s(\d{2})_e(\d{2})_(skeleton\.txt|rgb\.avi)")
_INT_RE = re.compile(r"[+-]?\d{1,18}")  # bounded: int() of a huge digit string raises


# --------------------------------------------------------------------------- parser

class _Lines:
    """Lazy reader of a binary file's lines, decoded one by one (so that an
    undecodable byte is reported on its own line), with 1-based line numbers."""

    def __init__(self, path: Path, f):
        self.path = path
        self._f = f
        self.last = 0  # number of the last line read (for "end of file" messages)

    def _decode(self, raw: bytes) -> str:
        if self.last == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DataFormatError(self.path, "an MSRDailyActivity3D skeleton text file",
                                  "undecodable bytes", line=self.last) from None

    def next(self) -> Optional[Tuple[int, str]]:
        """The next non-blank line, stripped, or None at end of file."""
        for raw in self._f:
            self.last += 1
            s = self._decode(raw).strip()
            if s:
                return self.last, s
        return None

    def block(self, n: int) -> List[str]:
        """The next ``n`` lines, stripped (fewer at end of file)."""
        out = []
        for raw in islice(self._f, n):
            self.last += 1
            out.append(self._decode(raw).strip())
        return out


def _as_int(path: Path, line: int, text: str, what: str, frame: Optional[int] = None) -> int:
    if not _INT_RE.fullmatch(text):
        raise DataFormatError(path, f"an integer {what}", short_repr(text), line=line, frame=frame)
    return int(text)


def _read_header(path: Path, lines: _Lines) -> Tuple[int, int]:
    """``(n_frames, header_line)`` from ``<frames> <joints>`` on one or two lines."""
    first = lines.next()
    if first is None:
        raise DataFormatError(path, "a header '<frames> <joints>' and per-frame rows",
                              "an empty file", line=1)
    ln, s = first
    tok = s.split()
    if len(tok) == 1:
        nxt = lines.next()
        if nxt is None:
            raise DataFormatError(path, "the joint count (20) after the frame count",
                                  "end of file", line=lines.last + 1)
        if len(nxt[1].split()) != 1:
            raise DataFormatError(path, "the joint count (20) on its own line",
                                  short_repr(nxt[1]), line=nxt[0])
        tok.append(nxt[1])
        jl = nxt[0]
    elif len(tok) == 2:
        jl = ln
    else:
        raise DataFormatError(path, "a header '<frames> <joints>' (2 integers)",
                              f"{len(tok)} values: {short_repr(s)}", line=ln)
    n_frames = _as_int(path, ln, tok[0], "frame count (header)")
    n_joints = _as_int(path, jl, tok[1], "joint count (header)")
    if n_frames < 1:
        raise DataFormatError(path, "a frame count >= 1 in the header", str(n_frames), line=ln)
    if n_joints != MSR_N_JOINTS:
        raise DataFormatError(path, f"{MSR_N_JOINTS} joints in the header", str(n_joints), line=jl)
    return n_frames, ln


def parse_msr_skeleton(path) -> SkeletonSequence:
    """Parse an MSRDailyActivity3D ``aXX_sYY_eZZ_skeleton.txt`` file.

    The header gives ``<frames> <joints>``; each frame starts with a row count
    (40, 0 or 80) and holds, per joint, ``x y z c`` (metres) then
    ``u v depth c`` (``u, v`` in [0, 1]) (DATASETS.md section 3).  Joint order
    is :data:`data.layouts.KINECT_V1_20`.

    Parameters
    ----------
    path : str or Path
        The skeleton file.

    Returns
    -------
    SkeletonSequence
        ``joints`` of shape ``(T, 20, 3)`` float32 metres, ``screen`` of shape
        ``(T, 20, 2)`` float32 pixels (``u * 640``, ``v * 480``),
        ``frame_ids`` = ``0 .. T-1`` with T the header's frame count.  Frames
        with row count 0 are all NaN; with 80 rows the first skeleton is kept;
        joints at ``(0, 0, 0)`` are NaN.

    Raises
    ------
    DataFormatError
        Naming file, line (and frame) and expected/found, for: a missing or
        empty file, a bad header, a row count other than 0/40/80, a row
        without 4 numbers, a non-numeric or non-finite value, fewer or more
        frames than the header claims, no skeleton in any frame, an all-zero
        skeleton.
    """
    path = Path(path)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise DataFormatError(path, "an MSRDailyActivity3D skeleton file", "no such file") from None
    except IsADirectoryError:
        raise DataFormatError(path, "an MSRDailyActivity3D skeleton file", "a folder") from None
    with f:
        lines = _Lines(path, f)
        n_frames, header_line = _read_header(path, lines)
        kept: List[str] = []          # the 40 rows of every frame with a skeleton
        kept_first: List[int] = []    # line number of the first row of each kept skeleton
        present: List[int] = []       # 0-based frame index of each kept skeleton
        k = 0
        while k < n_frames:           # not range(n_frames): never sized by the header
            item = lines.next()
            if item is None:
                raise DataFormatError(path, f"frame {k + 1} of the {n_frames} frames the header "
                                      f"(line {header_line}) claims",
                                      f"end of file after {k} frames", line=lines.last + 1,
                                      frame=k + 1)
            ln, s = item
            rc = _as_int(path, ln, s, "per-frame row count (0, 40 or 80)", frame=k + 1)
            if rc not in _ROW_COUNTS:
                raise DataFormatError(path, "a per-frame row count of 0, 40 or 80", str(rc),
                                      line=ln, frame=k + 1)
            rows = lines.block(rc)
            first = lines.last - len(rows) + 1
            bad = [r for r, row in enumerate(rows) if len(row.split()) != 4]
            if bad:
                r = bad[0]
                n_tok = len(rows[r].split())
                raise DataFormatError(path, "4 numbers per joint row ('x y z c' or "
                                      "'u v depth c'; no blank line inside a frame)",
                                      f"{n_tok} values: {short_repr(rows[r])}",
                                      line=first + r, frame=k + 1)
            if len(rows) < rc:
                raise DataFormatError(path, f"{rc} joint rows in frame {k + 1} (row count "
                                      f"at line {ln})", f"end of file after {len(rows)} rows",
                                      line=lines.last + 1, frame=k + 1)
            if rc:   # 80 rows: keep the first skeleton only
                kept.extend(rows[:2 * MSR_N_JOINTS])
                kept_first.append(first)
                present.append(k)
            k += 1
        extra = lines.next()
        if extra is not None:
            raise DataFormatError(path, f"end of file after the {n_frames} frames the header "
                                  f"(line {header_line}) claims", short_repr(extra[1]),
                                  line=extra[0])

    if not present:
        raise DataFormatError(path, "at least one frame with a skeleton (row count 40 or 80)",
                              f"row count 0 in all {n_frames} frames")
    try:
        values = np.loadtxt(io.StringIO("\n".join(kept)), dtype=np.float64, ndmin=2,
                            comments=None)
    except ValueError:
        _raise_bad_value(path, kept, kept_first)
        raise  # pragma: no cover
    bad = unusable_numbers(values)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataFormatError(path, f"{expected_number(values[r, c])} in column {c + 1}",
                              short_repr(kept[r].split()[c]), line=_kept_line(kept_first, r))
    values = values.reshape(len(present), MSR_N_JOINTS, 2, 4)
    xyz = values[:, :, 0, :3]
    uv = values[:, :, 1, :2] * np.asarray(MSR_SCREEN_SIZE, dtype=np.float64)
    zero = (xyz == 0).all(axis=-1)
    if zero.all():
        raise DataFormatError(path, "at least one joint position different from 0 0 0",
                              f"an all-zero skeleton (every joint is 0 0 0 in all "
                              f"{len(present)} frames with a skeleton)")
    joints = np.full((n_frames, MSR_N_JOINTS, 3), np.nan, dtype=np.float32)
    screen = np.full((n_frames, MSR_N_JOINTS, 2), np.nan, dtype=np.float32)
    idx = np.asarray(present)
    xyz = np.where(zero[..., None], np.nan, xyz)
    uv = np.where(zero[..., None], np.nan, uv)
    joints[idx] = xyz
    screen[idx] = uv
    return SkeletonSequence(joints=joints, frame_ids=np.arange(n_frames, dtype=np.int64),
                            screen=screen)


_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:nan|inf|infinity)",
                     re.IGNORECASE)


def _kept_line(kept_first: List[int], r: int) -> int:
    """File line of kept row ``r`` (each kept skeleton is 40 consecutive lines)."""
    return kept_first[r // (2 * MSR_N_JOINTS)] + r % (2 * MSR_N_JOINTS)


def _raise_bad_value(path: Path, rows: List[str], kept_first: List[int]) -> None:
    for r, text in enumerate(rows):
        for c, tok in enumerate(text.split()):
            if not _NUMBER.fullmatch(tok):
                raise DataFormatError(path, f"a number in column {c + 1} of a joint row",
                                      short_repr(tok), line=_kept_line(kept_first, r))
    raise DataFormatError(path, "whitespace-separated numbers", "a row numpy cannot parse",
                          line=kept_first[0])


def load_msr_skeleton(record: VideoRecord) -> SkeletonSequence:
    """``VideoRecord.skeleton_loader`` of MSRDailyActivity3D records (picklable)."""
    return parse_msr_skeleton(record.skeleton)


# --------------------------------------------------------------------------- reader

def read_msr_daily(root) -> List[VideoRecord]:
    """Read MSRDailyActivity3D (DATASETS.md section 3) into records.

    Parameters
    ----------
    root : str or Path
        The flat folder of ``aXX_sYY_eZZ_skeleton.txt`` / ``aXX_sYY_eZZ_rgb.avi``.

    Returns
    -------
    list of VideoRecord
        One per ``aXX_sYY_eZZ`` stem having a skeleton and/or an RGB video,
        sorted by stem; ``video_id`` = the stem, ``label`` =
        ``MSR_ACTIONS[XX - 1]``, ``subject`` = ``str(int(YY))``, ``setup`` =
        ``sitting``/``standing``, ``layout`` = ``kinect_v1_20``, ``camera`` =
        ``kinect_v1``, ``fps`` = 30, ``meta`` = ``action_number``,
        ``environment`` (the two-digit XX and ZZ).  Other files (``_depth.bin``)
        are ignored.

    Raises
    ------
    DatasetLayoutError
        ``root`` is not a folder or holds no such file.
    DataFormatError
        A ``*_skeleton.txt`` / ``*_rgb.avi`` name not of the form
        ``aXX_sYY_eZZ``, an action number outside 01-16 (unknown label), a
        subject 00, an environment other than 01/02.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: not a folder (expected the MSRDailyActivity3D folder "
                                 "of aXX_sYY_eZZ_skeleton.txt / _rgb.avi files)")
    groups = {}
    for p in sorted(root.iterdir()):
        if not p.name.endswith(("_skeleton.txt", "_rgb.avi")) or not p.is_file():
            continue
        m = _NAME_RE.fullmatch(p.name)
        if m is None:
            raise DataFormatError(p, "a file name aXX_sYY_eZZ_skeleton.txt or aXX_sYY_eZZ_rgb.avi "
                                  "(two digits each)", short_repr(p.name))
        a, s, e = (int(g) for g in m.groups()[:3])
        if not 1 <= a <= len(MSR_ACTIONS):
            raise DataFormatError(p, "an action number a01-a16 (the 16 MSRDailyActivity3D "
                                  "actions)", f"unknown action a{m.group(1)}")
        if s < 1:
            raise DataFormatError(p, "a subject number s01 or higher", f"s{m.group(2)}")
        if e not in MSR_SETUPS:
            raise DataFormatError(p, "environment e01 (sitting) or e02 (standing)",
                                  f"e{m.group(3)}")
        stem = p.name[:11]
        g = groups.setdefault(stem, {"a": a, "s": s, "e": e})
        g["skeleton" if m.group(4) == "skeleton.txt" else "rgb"] = p
    if not groups:
        raise DatasetLayoutError(f"{root}: no aXX_sYY_eZZ_skeleton.txt or aXX_sYY_eZZ_rgb.avi "
                                 "file; expected the flat MSRDailyActivity3D folder")
    records = []
    for stem in sorted(groups):
        g = groups[stem]
        skel = g.get("skeleton")
        records.append(VideoRecord(
            dataset="msr_daily", video_id=stem, label=MSR_ACTIONS[g["a"] - 1],
            subject=str(g["s"]), setup=MSR_SETUPS[g["e"]], rgb=g.get("rgb"),
            skeleton=skel, skeleton_loader=load_msr_skeleton if skel is not None else None,
            layout="kinect_v1_20", camera="kinect_v1", fps=MSR_FPS,
            meta=(("action_number", f"{g['a']:02d}"), ("environment", f"{g['e']:02d}"))))
    return records


# --------------------------------------------------------------------------- writer

def write_msr_skeleton(path, joints_m, screen_uv01=None, *, depth=None) -> Path:
    """Write a skeleton file in the exact MSRDailyActivity3D format.

    Parameters
    ----------
    path : str or Path
        Output ``aXX_sYY_eZZ_skeleton.txt`` (parent folders are created).
    joints_m : array_like, shape (T, 20, 3)
        Joints in metres, :data:`data.layouts.KINECT_V1_20` order.  An all-NaN
        frame is written with row count 0; a NaN joint of another frame is
        written ``0 0 0`` (read back as missing).
    screen_uv01 : array_like, shape (T, 20, 2), optional
        Screen coordinates normalised to [0, 1]; default: the ``kinect_v1``
        camera projection divided by (640, 480).
    depth : array_like, shape (T, 20), optional
        The screen-row depth value; default ``z_mm * 8`` (Kinect v1 packed
        depth, about 20 000 at 2.5 m as in the real files).

    Returns
    -------
    Path
        ``path``: header ``<T> 20``, then per frame ``40`` (or ``0``) and 40
        rows ``x y z 1`` / ``u v depth 1``.
    """
    j = np.asarray(joints_m, dtype=np.float64)
    if j.ndim != 3 or j.shape[1:] != (MSR_N_JOINTS, 3) or j.shape[0] < 1:
        raise ValueError(f"joints_m must have shape (T, 20, 3) with T >= 1, got {j.shape}")
    T = j.shape[0]
    if screen_uv01 is None:
        uv = get_camera("kinect_v1").project(j).astype(np.float64) / np.asarray(MSR_SCREEN_SIZE)
    else:
        uv = np.asarray(screen_uv01, dtype=np.float64)
        if uv.shape != (T, MSR_N_JOINTS, 2):
            raise ValueError(f"screen_uv01 must have shape ({T}, 20, 2), got {uv.shape}")
    if depth is None:
        d = j[..., 2] * 1000.0 * 8.0
    else:
        d = np.asarray(depth, dtype=np.float64)
        if d.shape != (T, MSR_N_JOINTS):
            raise ValueError(f"depth must have shape ({T}, 20), got {d.shape}")
    joint_missing = ~np.isfinite(j).all(axis=-1)
    frame_empty = joint_missing.all(axis=-1)
    xyz = np.where(joint_missing[..., None], 0.0, j)
    uv = np.where(joint_missing[..., None] | ~np.isfinite(uv), 0.0, uv)
    d = np.where(joint_missing | ~np.isfinite(d), 0.0, d)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="ascii", newline="\n") as f:
        f.write(f"{T} {MSR_N_JOINTS}\n")
        for t in range(T):
            if frame_empty[t]:
                f.write("0\n")
                continue
            f.write(f"{2 * MSR_N_JOINTS}\n")
            f.write("".join(f"{x:.6f} {y:.6f} {z:.6f} 1\n{u:.6f} {v:.6f} {dd:.1f} 1\n"
                            for (x, y, z), (u, v), dd in zip(xyz[t].tolist(), uv[t].tolist(),
                                                             d[t].tolist())))
    return path
