"""N-UCLA (Northwestern-UCLA Multiview Action3D): the per-frame skeleton
files, the sample folders and the reader (thesis sections 2.5.7, 4.2;
``/work/shared/DATASETS.md`` section 6).

Layout (lshiwjx/DSTA-Net ``prepare/ucla/gendata.py``)::

    ROOT[/multiview_action]/view_<V>/a<AA>_s<SS>_e<EE>/    V 1-3, e.g. a01_s01_e00
        fileList.txt                     one line per frame: "<i_f> <i_rgb> <i_ske>"
                                         ("<i_f> <i_rgb>": the frame has no skeleton)
        frame_<i_f>_tc_<i_rgb>_rgb.jpg
        frame_<i_f>_tc_<i_ske>_skeletons.txt

A skeleton file holds one integer on its first line, then 20 lines
``x,y,z,c`` (metres, Kinect v1 camera space, ``c`` an integer tracking flag),
joints in :data:`data.layouts.KINECT_V1_20` order; it may be empty.

Design choices:

* **Frames** follow ``fileList.txt``: row ``k`` of the sequence is its
  ``k``-th line (``frame_ids`` = ``0 .. T-1``).  A line without a skeleton
  index, an empty skeleton file, or a joint at ``(0, 0, 0)`` gives NaN.
  Further blocks after the first 20 joint lines (a second skeleton) are
  ignored.  A sample with no skeleton in any frame is an error.
* **Actions**: folder ids a01-a06, a08, a09, a11, a12 (7 and 10 do not
  exist), named as :data:`NUCLA_ACTIONS`.
* ``video_id`` = ``a<AA>_s<SS>_e<EE>_v<V>``; ``subject`` = ``str(int(SS))``,
  ``view`` = ``str(V)`` (the cross-view protocol's attribute), ``meta``
  ``environment`` = ``EE``.  RGB: the sample folder, frames ``*_rgb.jpg``.
* **Frame rate** 30 fps (nominal; not documented).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from .errors import DataFormatError, DatasetLayoutError, read_file_bytes, short_repr
from .record import SkeletonSequence, VideoRecord, expected_number, unusable_numbers

__all__ = ["NUCLA_ACTIONS", "NUCLA_FPS", "parse_nucla_skeleton_file", "parse_nucla_sample",
           "load_nucla_skeleton", "write_nucla_sample", "read_nucla", "nucla_rgb_frames"]

NUCLA_ACTIONS = {1: "pick up with one hand", 2: "pick up with two hands", 3: "drop trash",
                 4: "walk around", 5: "sit down", 6: "stand up", 8: "donning", 9: "doffing",
                 11: "throw", 12: "carry"}
"""Folder action id -> name (ids 7 and 10 do not exist; labels 0-9 in this order)."""

NUCLA_FPS = 30.0
N_JOINTS = 20
_SAMPLE_RE = re.compile(r"a(\d{2})_s(\d{2})_e(\d{2})")
_VIEW_RE = re.compile(r"view_(\d+)")
_INT_RE = re.compile(r"[+-]?\d{1,18}")


def _text_lines(path: Path, what: str) -> List[str]:
    data = read_file_bytes(path, what)
    try:
        return data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as e:
        raise DataFormatError(path, f"{what} (text)", "undecodable bytes",
                              line=data.count(b"\n", 0, e.start) + 1) from None


def parse_nucla_skeleton_file(path) -> Optional[np.ndarray]:
    """One ``frame_*_skeletons.txt``: the first skeleton as ``(20, 3)`` float64
    metres (NaN at ``(0, 0, 0)``), or None for an empty file.

    Raises
    ------
    DataFormatError
        Naming file and line: a first line that is not one integer, fewer
        than 20 joint lines, a joint line that is not 4 comma-separated
        numbers, a non-finite value.
    """
    path = Path(path)
    lines = [(i, s.strip()) for i, s in enumerate(_text_lines(path, "an N-UCLA skeleton file"), 1)]
    lines = [(i, s) for i, s in lines if s]
    if not lines:
        return None
    ln, head = lines[0]
    if not _INT_RE.fullmatch(head):
        raise DataFormatError(path, "one integer on the first line of a skeleton block",
                              short_repr(head), line=ln)
    rows = lines[1:1 + N_JOINTS]
    if len(rows) < N_JOINTS:
        raise DataFormatError(path, f"{N_JOINTS} joint lines 'x,y,z,c' after line {ln}",
                              f"{len(rows)} lines", line=rows[-1][0] if rows else ln)
    values = np.empty((N_JOINTS, 4))
    for j, (i, s) in enumerate(rows):
        tok = s.split(",")
        if len(tok) != 4:
            raise DataFormatError(path, "4 comma-separated values 'x,y,z,c' per joint line",
                                  f"{len(tok)} values: {short_repr(s)}", line=i)
        try:
            values[j] = [float(t) for t in tok]
        except ValueError:
            raise DataFormatError(path, "numbers 'x,y,z,c' on a joint line", short_repr(s),
                                  line=i) from None
    bad = unusable_numbers(values)
    if bad.any():
        j, c = np.argwhere(bad)[0]
        raise DataFormatError(path, f"{expected_number(values[j, c])} in column {c + 1}",
                              short_repr(rows[j][1]), line=rows[j][0])
    xyz = values[:, :3]
    return np.where((xyz == 0).all(-1, keepdims=True), np.nan, xyz)


def _file_list(folder: Path):
    """``[(line, i_f, i_rgb, i_ske or None)]`` of ``folder/fileList.txt``."""
    path = folder / "fileList.txt"
    out = []
    for i, raw in enumerate(_text_lines(path, "an N-UCLA fileList.txt"), 1):
        tok = raw.split()
        if not tok:
            continue
        if len(tok) not in (2, 3) or not all(_INT_RE.fullmatch(t) for t in tok):
            raise DataFormatError(path, "'<frame> <rgb tc> <skeleton tc>' (3 integers, or 2 for "
                                  "a frame without skeleton)", short_repr(raw.strip()), line=i)
        vals = [int(t) for t in tok]
        out.append((i, vals[0], vals[1], vals[2] if len(vals) == 3 else None))
    if not out:
        raise DataFormatError(path, "one line per frame", "an empty file")
    return out


def parse_nucla_sample(folder) -> SkeletonSequence:
    """The skeleton sequence of one sample folder (``a<AA>_s<SS>_e<EE>``).

    Returns
    -------
    SkeletonSequence
        ``joints`` ``(T, 20, 3)`` float32 metres, T = lines of
        ``fileList.txt``; ``frame_ids`` ``0 .. T-1``; NaN without skeleton.

    Raises
    ------
    DataFormatError
        A bad ``fileList.txt`` line, a skeleton file it names that does not
        exist or is malformed, no skeleton in any frame.
    """
    folder = Path(folder)
    entries = _file_list(folder)
    joints = np.full((len(entries), N_JOINTS, 3), np.nan, dtype=np.float32)
    found = 0
    for k, (line, i_f, _, i_ske) in enumerate(entries):
        if i_ske is None:
            continue
        path = folder / f"frame_{i_f}_tc_{i_ske}_skeletons.txt"
        if not path.is_file():
            raise DataFormatError(folder / "fileList.txt", "a skeleton file for the frame this "
                                  "line names", f"no file {path.name}", line=line, frame=k + 1)
        xyz = parse_nucla_skeleton_file(path)
        if xyz is not None and np.isfinite(xyz).any():
            joints[k] = xyz
            found += 1
    if not found:
        raise DataFormatError(folder / "fileList.txt", "at least one frame with a skeleton",
                              f"none in {len(entries)} frames")
    return SkeletonSequence(joints=joints, frame_ids=np.arange(len(entries), dtype=np.int64))


def load_nucla_skeleton(record: VideoRecord) -> SkeletonSequence:
    """``VideoRecord.skeleton_loader`` of N-UCLA records (picklable); the
    record's ``skeleton`` is the sample's ``fileList.txt``."""
    return parse_nucla_sample(Path(record.skeleton).parent)


def nucla_rgb_frames(folder) -> List[Path]:
    """The RGB frame files of a sample in ``fileList.txt`` order.

    Raises
    ------
    DataFormatError
        A frame file that ``fileList.txt`` names and that does not exist."""
    folder = Path(folder)
    out = []
    for k, (line, i_f, i_rgb, _) in enumerate(_file_list(folder)):
        p = folder / f"frame_{i_f}_tc_{i_rgb}_rgb.jpg"
        if not p.is_file():
            raise DataFormatError(folder / "fileList.txt", "an RGB frame for the frame this line "
                                  "names", f"no file {p.name}", line=line, frame=k + 1)
        out.append(p)
    return out


def write_nucla_sample(folder, joints_m, *, frame_ids=None, rgb_tc=None, ske_tc=None,
                       frames=None) -> Path:
    """Write one sample folder in the N-UCLA format.

    Parameters
    ----------
    folder : str or Path
        ``.../view_<V>/a<AA>_s<SS>_e<EE>`` (created).
    joints_m : array_like, shape (T, 20, 3)
        Metres, Kinect v1 order; an all-NaN frame has no skeleton file (its
        fileList line has two numbers); a NaN joint is written ``0,0,0,0``.
    frame_ids, rgb_tc, ske_tc : sequence of int, optional
        ``i_f`` (default 0..T-1) and the time codes (default 33.4 ms apart
        from 10000; the skeleton's 3 later).
    frames : iterable of ndarray, optional
        BGR images written as ``frame_<i_f>_tc_<i_rgb>_rgb.jpg``.

    Returns
    -------
    Path
        ``folder``.
    """
    import cv2
    j = np.asarray(joints_m, dtype=np.float64)
    if j.ndim != 3 or j.shape[1:] != (N_JOINTS, 3) or j.shape[0] < 1:
        raise ValueError(f"joints_m must have shape (T, 20, 3) with T >= 1, got {j.shape}")
    T = j.shape[0]
    f_ids = list(range(T)) if frame_ids is None else [int(v) for v in frame_ids]
    r_tc = [10000 + int(round(t * 33.4)) for t in range(T)] if rgb_tc is None \
        else [int(v) for v in rgb_tc]
    s_tc = [v + 3 for v in r_tc] if ske_tc is None else [int(v) for v in ske_tc]
    if not len(f_ids) == len(r_tc) == len(s_tc) == T:
        raise ValueError(f"frame_ids, rgb_tc and ske_tc must have {T} values each")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    missing = ~np.isfinite(j).all(-1)
    empty = missing.all(-1)
    lines = []
    for t in range(T):
        if empty[t]:
            lines.append(f"{f_ids[t]} {r_tc[t]}")
            continue
        lines.append(f"{f_ids[t]} {r_tc[t]} {s_tc[t]}")
        rows = ["1"] + ["0,0,0,0" if missing[t, k] else
                        f"{x:.6g},{y:.6g},{z:.6g},2" for k, (x, y, z) in enumerate(j[t].tolist())]
        (folder / f"frame_{f_ids[t]}_tc_{s_tc[t]}_skeletons.txt").write_text(
            "\r\n".join(rows) + "\r\n", encoding="ascii", newline="")
    (folder / "fileList.txt").write_text("\r\n".join(lines) + "\r\n", encoding="ascii",
                                         newline="")
    if frames is not None:
        for t, img in enumerate(frames):
            p = folder / f"frame_{f_ids[t]}_tc_{r_tc[t]}_rgb.jpg"
            if not cv2.imwrite(str(p), img, [cv2.IMWRITE_JPEG_QUALITY, 90]):
                raise OSError(f"{p}: OpenCV could not write the frame")
    return folder


def _view_folders(root: Path) -> Dict[int, Path]:
    base = root / "multiview_action" if (root / "multiview_action").is_dir() else root
    views = {}
    for p in sorted(base.iterdir()):
        m = _VIEW_RE.fullmatch(p.name)
        if m and p.is_dir():
            v = int(m.group(1))
            if not 1 <= v <= 3:
                raise DataFormatError(p, "view_1, view_2 or view_3", short_repr(p.name))
            views[v] = p
    return views


def read_nucla(root) -> List[VideoRecord]:
    """Read N-UCLA into records (layout in the module docstring).

    Parameters
    ----------
    root : str or Path
        The ``multiview_action`` folder or its parent.

    Returns
    -------
    list of VideoRecord
        One per sample folder holding a ``fileList.txt``, sorted by id.

    Raises
    ------
    DatasetLayoutError
        ``root`` is not a folder, or holds no ``view_<V>/a<AA>_s<SS>_e<EE>``.
    DataFormatError
        A view other than 1-3, a sample folder name not ``a<AA>_s<SS>_e<EE>``,
        an action id that does not exist (7, 10, > 12), a subject s00, a
        sample folder without ``fileList.txt``.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: not a folder (expected the N-UCLA multiview_action "
                                 f"folder of view_<V>/a<AA>_s<SS>_e<EE>/ samples)")
    records = []
    for v, vdir in _view_folders(root).items():
        for sdir in sorted(vdir.iterdir()):
            if not sdir.is_dir():
                continue
            m = _SAMPLE_RE.fullmatch(sdir.name)
            if m is None:
                raise DataFormatError(sdir, "a sample folder a<AA>_s<SS>_e<EE>",
                                      short_repr(sdir.name))
            a, s, e = (int(g) for g in m.groups())
            if a not in NUCLA_ACTIONS:
                raise DataFormatError(sdir, "an action a01-a06, a08, a09, a11 or a12",
                                      f"a{m.group(1)}")
            if s < 1:
                raise DataFormatError(sdir, "a subject s01 or higher", f"s{m.group(2)}")
            file_list = sdir / "fileList.txt"
            if not file_list.is_file():
                raise DataFormatError(file_list, "the sample's list of frames", "no such file")
            records.append(VideoRecord(
                dataset="nucla", video_id=f"{sdir.name}_v{v}", label=NUCLA_ACTIONS[a],
                subject=str(s), view=str(v), rgb=sdir, rgb_glob="*_rgb.jpg",
                skeleton=file_list, skeleton_loader=load_nucla_skeleton, layout="kinect_v1_20",
                camera="kinect_v1", fps=NUCLA_FPS,
                meta=(("action_number", f"{a:02d}"), ("environment", m.group(3)))))
    if not records:
        raise DatasetLayoutError(f"{root}: no view_<V>/a<AA>_s<SS>_e<EE> sample folder; expected "
                                 f"the N-UCLA layout (see `adl datasets`)")
    return sorted(records, key=lambda r: r.video_id)
