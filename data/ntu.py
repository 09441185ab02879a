"""NTU RGB+D 60 and 120: sample names, the ``.skeleton`` parser and writer,
the missing-skeleton list, and the dataset readers (thesis sections 2.5.4,
4.2; ``/work/shared/DATASETS.md`` section 4).

Format (shahroudy/NTURGB-D ``Matlab/read_skeleton_file.m``): a sample is named
``SsssCcccPpppRrrrAaaa`` (setup, camera 1-3, performer, replication 1-2,
action); its skeleton is ``<name>.skeleton``, its RGB video ``<name>_rgb.avi``
(1920x1080).  A ``.skeleton`` file is whitespace separated, one record per
line::

    <frame count>
    per frame: <body count>                     (0: the next line is the next frame)
      per body: bodyID clipedEdges handLeftConfidence handLeftState
                handRightConfidence handRightState isResticted leanX leanY
                trackingState                   (10 values)
                <joint count>                   (25)
                per joint: x y z depthX depthY colorX colorY
                           orientationW orientationX orientationY orientationZ
                           trackingState        (12 values)

Design choices:

* **Which bodies are kept.**  The sensor reports up to six bodies per frame
  (noise detections -- a coat on a chair, a second person passing -- among
  them).  Bodies are followed across frames by ``bodyID``; the
  ``max_bodies`` (default 2, as NTU's two-person actions need) with the
  largest *motion* are kept, motion = the sum over joints and coordinates of
  the variance of the 3D position over the frames where the body is present
  (the "energy" criterion of the public NTU preprocessing: a static false
  detection has almost none).  Ties go to the body seen first.  Slot 0 is the
  most active body: it is the skeleton of :func:`load_ntu_skeleton`.
* A joint at exactly ``(0, 0, 0)`` is missing (NaN): a tracked Kinect joint
  cannot sit on the sensor.  A frame without bodies is all NaN.  A file
  without any body in any frame is an error (such samples are the ones the
  official missing-skeleton list names).
* **Missing skeletons.**  The samples of the official list
  (``NTU_RGBD_samples_with_missing_skeletons.txt``, 302 names;
  ``NTU_RGBD120_samples_with_missing_skeletons.txt``, 535 names: three header
  lines, then one sample name per line), placed in the dataset root or passed
  as ``missing_list=``, are skipped whole (RGB too: every published protocol
  drops them), and the reader reports them (:func:`ntu60_skipped`,
  ``adl inspect``, one log line).
* **Which files.**  ``*.skeleton`` and ``*_rgb.avi`` anywhere under the root
  (the archives unpack to ``nturgb+d_skeletons/`` and ``nturgb+d_rgb/``).
  NTU RGB+D 60 is setups S001-S017 with actions A001-A060; read as NTU-60, a
  root that also holds the NTU-120 setups S018-S032 keeps the NTU-60 samples
  and reports the others as skipped.
* The parser never sizes memory from a count in the file: a frame count of
  10**9 on a short file ends as "end of file after k frames", and a body
  count is checked against the lines left before any body is read.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .errors import DataFormatError, DatasetLayoutError, read_file_bytes, short_repr
from .record import SkeletonSequence, VideoRecord, expected_number, unusable_numbers

__all__ = ["NTU_ACTIONS", "NTU_N_JOINTS", "NTU_MAX_SENSOR_BODIES", "NTU_COLOR_SIZE",
           "NTU_DEPTH_SIZE", "NTU_FPS", "MISSING_LIST_NAMES", "NtuSampleId", "NtuSkeleton",
           "NtuScan", "parse_ntu_skeleton", "load_ntu_skeleton", "write_ntu_skeleton",
           "read_missing_list", "write_missing_list", "scan_ntu", "read_ntu60", "read_ntu120",
           "ntu60_skipped", "ntu120_skipped", "ntu_record"]

log = logging.getLogger(__name__)

NTU_ACTIONS = (
    "drink water", "eat meal/snack", "brushing teeth", "brushing hair", "drop", "pickup",
    "throw", "sitting down", "standing up (from sitting position)", "clapping", "reading",
    "writing", "tear up paper", "wear jacket", "take off jacket", "wear a shoe",
    "take off a shoe", "wear on glasses", "take off glasses", "put on a hat/cap",
    "take off a hat/cap", "cheer up", "hand waving", "kicking something", "reach into pocket",
    "hopping (one foot jumping)", "jump up", "make a phone call/answer phone",
    "playing with phone/tablet", "typing on a keyboard", "pointing to something with finger",
    "taking a selfie", "check time (from watch)", "rub two hands together", "nod head/bow",
    "shake head", "wipe face", "salute", "put the palms together",
    "cross hands in front (say stop)", "sneeze/cough", "staggering", "falling",
    "touch head (headache)", "touch chest (stomachache/heart pain)", "touch back (backache)",
    "touch neck (neckache)", "nausea or vomiting condition",
    "use a fan (with hand or paper)/feeling warm", "punching/slapping other person",
    "kicking other person", "pushing other person", "pat on back of other person",
    "point finger at the other person", "hugging other person",
    "giving something to other person", "touch other person's pocket", "handshaking",
    "walking towards each other", "walking apart from each other",
    # NTU RGB+D 120 adds A061-A120
    "put on headphone", "take off headphone", "shoot at the basket", "bounce ball",
    "tennis bat swing", "juggling table tennis balls", "hush (quite)", "flick hair",
    "thumb up", "thumb down", "make ok sign", "make victory sign", "staple book",
    "counting money", "cutting nails", "cutting paper (using scissors)", "snapping fingers",
    "open bottle", "sniff (smell)", "squat down", "toss a coin", "fold paper", "ball up paper",
    "play magic cube", "apply cream on face", "apply cream on hand back", "put on bag",
    "take off bag", "put something into a bag", "take something out of a bag", "open a box",
    "move heavy objects", "shake fist", "throw up cap/hat", "hands up (both hands)",
    "cross arms", "arm circles", "arm swings", "running on the spot",
    "butt kicks (kick backward)", "cross toe touch", "side kick", "yawn", "stretch oneself",
    "blow nose", "hit other person with something", "wield knife towards other person",
    "knock over other person (hit with body)", "grab other person's stuff",
    "shoot at other person with a gun", "step on foot", "high-five", "cheers and drink",
    "carry something with other person", "take a photo of other person",
    "follow other person", "whisper in other person's ear",
    "exchange things with other person", "support somebody with hand",
    "finger-guessing game (playing rock-paper-scissors)")
"""The 120 action names; ``NTU_ACTIONS[a - 1]`` is action ``Aaaa`` (the first 60
are NTU RGB+D 60, as in its ``label_map``)."""

NTU_N_JOINTS = 25
NTU_MAX_SENSOR_BODIES = 6          # Kinect v2 tracks at most six bodies
NTU_COLOR_SIZE = (1920, 1080)      # (width, height) of the RGB video; colorX/Y are in it
NTU_DEPTH_SIZE = (512, 424)        # depth/IR frame; depthX/Y are in it
NTU_FPS = 30.0
MISSING_LIST_NAMES = {"ntu60": "NTU_RGBD_samples_with_missing_skeletons.txt",
                      "ntu120": "NTU_RGBD120_samples_with_missing_skeletons.txt"}
"""The official missing-skeleton lists' file names (looked for in the dataset root)."""

_VERSIONS = {"ntu60": (17, 60, "NTU RGB+D 60"), "ntu120": (32, 120, "NTU RGB+D 120")}
_NAME_RE = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")
_INT_RE = re.compile(r"[+-]?\d{1,20}")   # bodyID is a 64-bit integer (%ld)
_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:nan|inf|infinity)",
                        re.IGNORECASE)
_JOINT_VALUES = 12
_BODY_VALUES = 10
_LINES_PER_BODY = 2 + NTU_N_JOINTS


# --------------------------------------------------------------------------- sample names

@dataclass(frozen=True)
class NtuSampleId:
    """The five numbers of an NTU sample name ``SsssCcccPpppRrrrAaaa``."""

    setup: int
    camera: int
    performer: int
    replication: int
    action: int

    @property
    def name(self) -> str:
        return (f"S{self.setup:03d}C{self.camera:03d}P{self.performer:03d}"
                f"R{self.replication:03d}A{self.action:03d}")

    @classmethod
    def parse(cls, name: str, path=None) -> "NtuSampleId":
        """``"S001C002P003R002A013"`` -> its numbers.

        Raises
        ------
        DataFormatError
            Naming ``path`` (or the name) when the name is not
            ``SsssCcccPpppRrrrAaaa`` with camera 1-3, replication 1-2, setup,
            performer and action >= 1.
        """
        m = _NAME_RE.fullmatch(name)
        where = path if path is not None else name
        if m is None:
            raise DataFormatError(where, "an NTU sample name SsssCcccPpppRrrrAaaa (3 digits each)",
                                  short_repr(name))
        s, c, p, r, a = (int(g) for g in m.groups())
        if not 1 <= c <= 3:
            raise DataFormatError(where, "camera C001-C003", f"C{m.group(2)}")
        if not 1 <= r <= 2:
            raise DataFormatError(where, "replication R001 or R002", f"R{m.group(4)}")
        if s < 1 or p < 1 or a < 1:
            raise DataFormatError(where, "setup, performer and action numbers >= 1",
                                  short_repr(name))
        return cls(s, c, p, r, a)


# --------------------------------------------------------------------------- parser

@dataclass(frozen=True)
class NtuSkeleton:
    """A parsed ``.skeleton`` file, the kept bodies in slots (most active first).

    Attributes
    ----------
    joints : ndarray, shape (T, M, 25, 3), float32
        Camera-space joints in metres; NaN where the body is absent in a frame
        or a joint is at ``(0, 0, 0)``.  ``M`` = kept bodies (1 .. max_bodies).
    depth_xy : ndarray, shape (T, M, 25, 2), float32
        ``depthX, depthY`` in the 512x424 depth frame.
    color_xy : ndarray, shape (T, M, 25, 2), float32
        ``colorX, colorY`` in the 1920x1080 RGB frame.
    orientation : ndarray, shape (T, M, 25, 4), float32
        Joint orientation quaternions ``w, x, y, z``.
    tracking : ndarray, shape (T, M, 25), int8
        Joint tracking state (0 not tracked, 1 inferred, 2 tracked); -1 where
        the body is absent.
    body_ids : tuple of int
        The ``bodyID`` of each slot.
    bodies_reported : ndarray, shape (T,), int64
        The body count of each frame as written in the file.
    dropped_body_ids : tuple of int
        Bodies the sensor reported that were not kept (least active).
    """

    joints: np.ndarray
    depth_xy: np.ndarray
    color_xy: np.ndarray
    orientation: np.ndarray
    tracking: np.ndarray
    body_ids: Tuple[int, ...]
    bodies_reported: np.ndarray
    dropped_body_ids: Tuple[int, ...] = ()

    def __len__(self) -> int:
        return int(self.joints.shape[0])

    def sequence(self, body: int = 0) -> SkeletonSequence:
        """Slot ``body`` as a :class:`SkeletonSequence` (``screen`` = colour pixels)."""
        if not 0 <= body < len(self.body_ids):
            raise ValueError(f"expected a body slot in 0..{len(self.body_ids) - 1}, got {body}")
        return SkeletonSequence(joints=self.joints[:, body].copy(),
                                frame_ids=np.arange(len(self), dtype=np.int64),
                                screen=self.color_xy[:, body].copy())


class _Cursor:
    """The non-blank lines of a text file with their 1-based line numbers."""

    def __init__(self, path: Path, text: str):
        self.path = path
        self.items = [(i, s) for i, s in enumerate((raw.strip() for raw in text.split("\n")), 1)
                      if s]
        self.pos = 0
        self.n_lines = text.count("\n") + 1

    def left(self) -> int:
        return len(self.items) - self.pos

    def take(self, expected: str, frame: Optional[int]) -> Tuple[int, str]:
        if self.pos >= len(self.items):
            raise DataFormatError(self.path, expected, "end of file", line=self.n_lines,
                                  frame=frame)
        item = self.items[self.pos]
        self.pos += 1
        return item


def _int(path: Path, line: int, text: str, what: str, frame: Optional[int] = None) -> int:
    if not _INT_RE.fullmatch(text):
        raise DataFormatError(path, f"an integer {what}", short_repr(text), line=line, frame=frame)
    return int(text)


def _read_text(path: Path) -> str:
    data = read_file_bytes(path, "an NTU RGB+D .skeleton file")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataFormatError(path, "an NTU RGB+D .skeleton text file", "undecodable bytes",
                              line=data.count(b"\n", 0, e.start) + 1) from None


def _numbers(path: Path, rows: List[str], where: List[Tuple[int, int]], n: int,
             what: str) -> np.ndarray:
    """``rows`` (each ``n`` tokens) as a float64 array ``(len(rows), n)``; the
    first bad token is reported with its line and frame (``where[i]``)."""
    if not rows:
        return np.zeros((0, n))
    try:
        values = np.array(" ".join(rows).split(), dtype=np.float64).reshape(len(rows), n)
    except ValueError:
        for r, row in enumerate(rows):
            for c, tok in enumerate(row.split()):
                if not _NUMBER_RE.fullmatch(tok):
                    raise DataFormatError(path, f"a number in column {c + 1} of a {what} line",
                                          short_repr(tok), line=where[r][0],
                                          frame=where[r][1]) from None
        raise DataFormatError(path, f"whitespace-separated numbers on {what} lines",
                              "a line numpy cannot parse", line=where[0][0]) from None
    bad = unusable_numbers(values)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataFormatError(path, f"{expected_number(values[r, c])} in column {c + 1} of a "
                              f"{what} line", short_repr(rows[r].split()[c]), line=where[r][0],
                              frame=where[r][1])
    return values


def parse_ntu_skeleton(path, max_bodies: int = 2) -> NtuSkeleton:
    """Parse an NTU RGB+D ``.skeleton`` file (format in the module docstring).

    Parameters
    ----------
    path : str or Path
        The ``SsssCcccPpppRrrrAaaa.skeleton`` file.
    max_bodies : int
        Bodies kept (the most active ones, see the module docstring).

    Returns
    -------
    NtuSkeleton
        ``T`` = the header's frame count, ``M`` = min(max_bodies, distinct
        body ids).

    Raises
    ------
    DataFormatError
        Naming the file, line and frame, for: a missing or undecodable file,
        a frame count that is not an integer >= 1, a body count that is not
        0-6 or that claims more bodies than the lines left, a body header
        without its 10 values (also the sign of a body count larger than the
        bodies written), a joint count other than 25, a joint line without
        its 12 values, a non-numeric or non-finite value, a body id repeated
        within a frame, fewer or more frames than the header claims, no body
        in any frame.
    """
    path = Path(path)
    if isinstance(max_bodies, bool) or not isinstance(max_bodies, (int, np.integer)) \
            or max_bodies < 1:
        raise ValueError(f"max_bodies must be a positive integer, got {max_bodies!r}")
    cur = _Cursor(path, _read_text(path))
    ln, s = cur.take("a frame count on the first line", None)
    if len(s.split()) != 1:
        raise DataFormatError(path, "the frame count alone on the first line",
                              f"{len(s.split())} values: {short_repr(s)}", line=ln)
    n_frames = _int(path, ln, s, "frame count")
    if n_frames < 1:
        raise DataFormatError(path, "a frame count >= 1", str(n_frames), line=ln)
    header_line = ln
    heads: List[str] = []                     # body header lines (10 values)
    rows: List[str] = []                      # joint lines (12 values)
    head_where: List[Tuple[int, int]] = []    # (line, frame) of each body header
    row_where: List[Tuple[int, int]] = []
    instances: List[Tuple[int, int]] = []     # (frame index, body id) of each body read
    reported: List[int] = []
    k = 0
    while k < n_frames:                       # never sized by the header
        frame = k + 1
        if cur.left() == 0:
            raise DataFormatError(path, f"frame {frame} of the {n_frames} frames the header "
                                  f"(line {header_line}) claims", f"end of file after {k} frames",
                                  line=cur.n_lines, frame=frame)
        ln, s = cur.take("a body count", frame)
        if len(s.split()) != 1:
            raise DataFormatError(path, f"a body count alone on its line (the body count of "
                                  f"frame {k} may be smaller than the bodies written)",
                                  f"{len(s.split())} values: {short_repr(s)}", line=ln,
                                  frame=frame)
        n_bodies = _int(path, ln, s, "body count", frame)
        if not 0 <= n_bodies <= NTU_MAX_SENSOR_BODIES:
            raise DataFormatError(path, f"a body count of 0-{NTU_MAX_SENSOR_BODIES} (Kinect v2 "
                                  f"tracks at most {NTU_MAX_SENSOR_BODIES} bodies)", str(n_bodies),
                                  line=ln, frame=frame)
        if n_bodies * _LINES_PER_BODY > cur.left():
            raise DataFormatError(path, f"{n_bodies} bodies of {_LINES_PER_BODY} lines each "
                                  f"(body count at line {ln})",
                                  f"{cur.left()} lines left in the file", line=ln, frame=frame)
        reported.append(n_bodies)
        seen = set()
        for b in range(1, n_bodies + 1):
            bl, head = cur.take("a body header", frame)
            tok = head.split()
            if len(tok) != _BODY_VALUES:
                raise DataFormatError(path, f"a body header of {_BODY_VALUES} values (body {b} of "
                                      f"the {n_bodies} the body count claims)",
                                      f"{len(tok)} values: {short_repr(head)}", line=bl,
                                      frame=frame)
            body_id = _int(path, bl, tok[0], "bodyID", frame)
            if body_id in seen:
                raise DataFormatError(path, "distinct body ids within a frame",
                                      f"bodyID {body_id} twice", line=bl, frame=frame)
            seen.add(body_id)
            jl, js = cur.take("a joint count", frame)
            n_joints = _int(path, jl, js, "joint count", frame)
            if n_joints != NTU_N_JOINTS:
                raise DataFormatError(path, f"{NTU_N_JOINTS} joints per body (Kinect v2)",
                                      str(n_joints), line=jl, frame=frame)
            block = cur.items[cur.pos:cur.pos + NTU_N_JOINTS]
            cur.pos += len(block)
            for rl, row in block:
                n_tok = len(row.split())
                if n_tok != _JOINT_VALUES:
                    raise DataFormatError(path, f"{_JOINT_VALUES} values per joint line (x y z "
                                          f"depthX depthY colorX colorY orientationW..Z "
                                          f"trackingState)", f"{n_tok} values: {short_repr(row)}",
                                          line=rl, frame=frame)
            if len(block) < NTU_N_JOINTS:
                raise DataFormatError(path, f"{NTU_N_JOINTS} joint lines of body {b}",
                                      f"end of file after {len(block)}", line=cur.n_lines,
                                      frame=frame)
            heads.append(head)
            head_where.append((bl, frame))
            rows.extend(row for _, row in block)
            row_where.extend((rl, frame) for rl, _ in block)
            instances.append((k, body_id))
        k += 1
    if cur.left():
        ln, s = cur.items[cur.pos]
        raise DataFormatError(path, f"end of file after the {n_frames} frames the header (line "
                              f"{header_line}) claims", short_repr(s), line=ln)
    if not instances:
        raise DataFormatError(path, "at least one frame with a body",
                              f"body count 0 in all {n_frames} frames (a sample of the "
                              f"missing-skeleton list?)")
    _numbers(path, heads, head_where, _BODY_VALUES, "body header")
    values = _numbers(path, rows, row_where, _JOINT_VALUES, "joint")
    return _assemble(values.reshape(len(instances), NTU_N_JOINTS, _JOINT_VALUES), instances,
                     np.asarray(reported, dtype=np.int64), n_frames, int(max_bodies))


def _assemble(values: np.ndarray, instances: List[Tuple[int, int]], reported: np.ndarray,
              n_frames: int, max_bodies: int) -> NtuSkeleton:
    """Follow bodies by id, keep the ``max_bodies`` most active, fill the slots."""
    frames = np.array([f for f, _ in instances], dtype=np.int64)
    ids = [b for _, b in instances]
    order: Dict[int, List[int]] = {}
    for i, b in enumerate(ids):
        order.setdefault(b, []).append(i)       # insertion order = first appearance
    xyz = values[..., :3]
    motion = {}
    for b, rows in order.items():
        pts = xyz[rows]                                   # (n, 25, 3)
        ok = ~(pts == 0).all(-1, keepdims=True)           # (0, 0, 0): a missing joint
        n = ok.sum(0)
        mean = np.where(ok, pts, 0.0).sum(0) / np.maximum(n, 1)
        var = (np.where(ok, pts - mean, 0.0) ** 2).sum(0) / np.maximum(n, 1)
        motion[b] = float(var.sum())
    first = {b: n for n, b in enumerate(order)}
    ranked = sorted(order, key=lambda b: (-motion[b], first[b]))
    kept, dropped = ranked[:max_bodies], ranked[max_bodies:]
    M = len(kept)
    joints = np.full((n_frames, M, NTU_N_JOINTS, 3), np.nan, dtype=np.float32)
    depth = np.full((n_frames, M, NTU_N_JOINTS, 2), np.nan, dtype=np.float32)
    color = np.full((n_frames, M, NTU_N_JOINTS, 2), np.nan, dtype=np.float32)
    orient = np.full((n_frames, M, NTU_N_JOINTS, 4), np.nan, dtype=np.float32)
    track = np.full((n_frames, M, NTU_N_JOINTS), -1, dtype=np.int8)
    for slot, b in enumerate(kept):
        rows = order[b]
        v = values[rows]
        zero = (v[..., :3] == 0).all(-1, keepdims=True)
        f = frames[rows]
        joints[f, slot] = np.where(zero, np.nan, v[..., 0:3])
        depth[f, slot] = np.where(zero, np.nan, v[..., 3:5])
        color[f, slot] = np.where(zero, np.nan, v[..., 5:7])
        orient[f, slot] = v[..., 7:11]
        track[f, slot] = np.clip(v[..., 11], -1, 127).astype(np.int8)
    return NtuSkeleton(joints=joints, depth_xy=depth, color_xy=color, orientation=orient,
                       tracking=track, body_ids=tuple(kept), bodies_reported=reported,
                       dropped_body_ids=tuple(dropped))


def load_ntu_skeleton(record: VideoRecord) -> SkeletonSequence:
    """``VideoRecord.skeleton_loader`` of NTU records (picklable): the most
    active body, with its colour-frame pixels as ``screen``."""
    return parse_ntu_skeleton(record.skeleton).sequence(0)


# --------------------------------------------------------------------------- writer

def write_ntu_skeleton(path, joints_m, *, color_xy, depth_xy, body_ids: Sequence[int],
                       orientation=None, tracking=None, lean=None) -> Path:
    """Write bodies in the exact NTU RGB+D ``.skeleton`` format.

    Parameters
    ----------
    path : str or Path
        Output file (parent folders are created).
    joints_m : array_like, shape (T, M, 25, 3)
        Camera-space joints in metres, Kinect v2 order; a body whose joints
        are all NaN in a frame is absent from that frame (the frame's body
        count drops); a NaN joint of a present body is written ``0 0 0`` with
        tracking state 0 (read back as missing).
    color_xy, depth_xy : array_like, shape (T, M, 25, 2)
        Pixels in the 1920x1080 colour and 512x424 depth frames.
    body_ids : sequence of int, length M
        The 64-bit ``bodyID`` of each body.
    orientation : array_like, shape (T, M, 25, 4), optional
        Quaternions ``w x y z``; default the identity ``1 0 0 0``.
    tracking : array_like, shape (T, M, 25), optional
        Joint tracking states; default 2 (tracked).
    lean : array_like, shape (T, M, 2), optional
        ``leanX, leanY`` of each body header; default 0.

    Returns
    -------
    Path
    """
    j = np.asarray(joints_m, dtype=np.float64)
    if j.ndim != 4 or j.shape[2:] != (NTU_N_JOINTS, 3) or j.shape[0] < 1 or j.shape[1] < 1:
        raise ValueError(f"joints_m must have shape (T, M, 25, 3) with T, M >= 1, got {j.shape}")
    T, M = j.shape[:2]
    if M > NTU_MAX_SENSOR_BODIES:
        raise ValueError(f"at most {NTU_MAX_SENSOR_BODIES} bodies per frame, got {M}")
    col = np.asarray(color_xy, dtype=np.float64)
    dep = np.asarray(depth_xy, dtype=np.float64)
    for name, arr in (("color_xy", col), ("depth_xy", dep)):
        if arr.shape != (T, M, NTU_N_JOINTS, 2):
            raise ValueError(f"{name} must have shape ({T}, {M}, 25, 2), got {arr.shape}")
    ids = [int(b) for b in body_ids]
    if len(ids) != M or len(set(ids)) != M:
        raise ValueError(f"expected {M} distinct body ids, got {list(body_ids)!r}")
    ori = (np.broadcast_to([1.0, 0.0, 0.0, 0.0], (T, M, NTU_N_JOINTS, 4)) if orientation is None
           else np.asarray(orientation, dtype=np.float64))
    trk = (np.full((T, M, NTU_N_JOINTS), 2) if tracking is None
           else np.asarray(tracking)).astype(np.int64)
    lean_v = np.zeros((T, M, 2)) if lean is None else np.asarray(lean, dtype=np.float64)
    missing = ~np.isfinite(j).all(-1)
    present = ~missing.all(-1)
    xyz = np.where(missing[..., None], 0.0, j)
    col = np.where(missing[..., None] | ~np.isfinite(col), 0.0, col)
    dep = np.where(missing[..., None] | ~np.isfinite(dep), 0.0, dep)
    trk = np.where(missing, 0, trk)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = [f"{T}"]
    for t in range(T):
        bodies = np.flatnonzero(present[t])
        out.append(f"{len(bodies)}")
        for m in bodies.tolist():
            out.append(f"{ids[m]} 0 1 1 1 1 0 {lean_v[t, m, 0]:.7g} {lean_v[t, m, 1]:.7g} 2")
            out.append(f"{NTU_N_JOINTS}")
            out.extend(
                f"{x:.7g} {y:.7g} {z:.7g} {dx:.7g} {dy:.7g} {cx:.7g} {cy:.7g} "
                f"{ow:.7g} {ox:.7g} {oy:.7g} {oz:.7g} {s}"
                for (x, y, z), (dx, dy), (cx, cy), (ow, ox, oy, oz), s in zip(
                    xyz[t, m].tolist(), dep[t, m].tolist(), col[t, m].tolist(),
                    ori[t, m].tolist(), trk[t, m].tolist()))
    path.write_text("\r\n".join(out) + "\r\n", encoding="ascii", newline="")
    return path


# --------------------------------------------------------------------------- missing list

def read_missing_list(path) -> Tuple[str, ...]:
    """The sample names of an official missing-skeleton list.

    The file has three header lines, then one ``SsssCcccPpppRrrrAaaa`` per
    line (a ``.skeleton`` suffix is accepted); blank lines are ignored.

    Raises
    ------
    DataFormatError
        A line after the header that is not a sample name (file and line named).
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as e:
        raise DataFormatError(path, "an NTU missing-skeleton list", type(e).__name__) from None
    names = []
    for i, raw in enumerate(text.splitlines(), 1):
        s = raw.strip()
        if s.endswith(".skeleton"):
            s = s[:-len(".skeleton")]
        if i <= 3 and not _NAME_RE.fullmatch(s):
            continue                                    # the three header lines
        if not s:
            continue
        if not _NAME_RE.fullmatch(s):
            raise DataFormatError(path, "one sample name SsssCcccPpppRrrrAaaa per line after "
                                  "the three header lines", short_repr(s), line=i)
        names.append(s)
    return tuple(names)


def write_missing_list(path, names: Sequence[str], version: str = "ntu60") -> Path:
    """Write a missing-skeleton list as the official files are laid out
    (three header lines, then one name per line)."""
    title = _VERSIONS[version][2]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{title}: samples with missing or incomplete skeletons",
             f"{len(names)} samples", ""] + [str(n) for n in names]
    path.write_text("\r\n".join(lines) + "\r\n", encoding="ascii", newline="")
    return path


# --------------------------------------------------------------------------- readers

def ntu_record(sample: NtuSampleId, version: str = "ntu60", *, skeleton: Optional[Path] = None,
               rgb: Optional[Path] = None) -> VideoRecord:
    """The record of one NTU sample (``video_id`` = its name, ``subject`` =
    the performer, ``view`` = the camera, ``setup`` = the setup number, each
    without leading zeros)."""
    return VideoRecord(
        dataset=version, video_id=sample.name, label=NTU_ACTIONS[sample.action - 1],
        subject=str(sample.performer), view=str(sample.camera), setup=str(sample.setup),
        rgb=rgb, skeleton=skeleton,
        skeleton_loader=load_ntu_skeleton if skeleton is not None else None,
        layout="kinect_v2_25", camera="kinect_v2", fps=NTU_FPS,
        meta=(("action_number", f"A{sample.action:03d}"),
              ("replication", str(sample.replication))))


@dataclass(frozen=True)
class NtuScan:
    """What :func:`scan_ntu` found: the records and the samples it skipped."""

    records: List[VideoRecord]
    skipped: List[Tuple[str, str]]          # (sample name or group, reason)
    missing_list: Optional[Path]


def _sample_files(root: Path) -> Dict[str, Dict[str, Path]]:
    files: Dict[str, Dict[str, Path]] = {}
    for suffix, kind in ((".skeleton", "skeleton"), ("_rgb.avi", "rgb")):
        for p in sorted(root.rglob(f"*{suffix}")):
            if not p.is_file():
                continue
            name = p.name[:-len(suffix)]
            NtuSampleId.parse(name, p)
            other = files.setdefault(name, {}).get(kind)
            if other is not None:
                raise DataFormatError(p, f"one {suffix} file per sample",
                                      f"a second copy of {name} (also {other})")
            files[name][kind] = p
    return files


def scan_ntu(root, version: str = "ntu60", missing_list=None) -> NtuScan:
    """Read an NTU RGB+D 60 or 120 root into records, skipping the samples of
    the missing-skeleton list.

    Parameters
    ----------
    root : str or Path
        Folder holding ``*.skeleton`` and/or ``*_rgb.avi`` files (any depth).
    version : {"ntu60", "ntu120"}
    missing_list : str or Path, optional
        The official list; default ``ROOT/`` + :data:`MISSING_LIST_NAMES` [version]
        when that file exists (no list: nothing is skipped).

    Returns
    -------
    NtuScan
        ``records`` sorted by name (:func:`ntu_record`), ``skipped`` pairs.

    Raises
    ------
    DatasetLayoutError
        ``root`` is not a folder, or holds no sample of ``version``.
    DataFormatError
        A file name that is not a sample name, a sample present twice, an
        action outside the version's (A001-A060 in setups S001-S017,
        A001-A120 in NTU-120), a setup beyond S032, an unreadable list.
    """
    if version not in _VERSIONS:
        raise ValueError(f"unknown NTU version {version!r}; expected ntu60 or ntu120")
    max_setup, max_action, title = _VERSIONS[version]
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: not a folder (expected the {title} folder of "
                                 f"SsssCcccPpppRrrrAaaa.skeleton / _rgb.avi files)")
    if missing_list is None and (root / MISSING_LIST_NAMES[version]).is_file():
        missing_list = root / MISSING_LIST_NAMES[version]
    missing = set(read_missing_list(missing_list)) if missing_list is not None else set()
    records: List[VideoRecord] = []
    skipped: List[Tuple[str, str]] = []
    beyond = 0
    for name, f in sorted(_sample_files(root).items()):
        where = f.get("skeleton", f.get("rgb"))
        sample = NtuSampleId.parse(name, where)
        if sample.setup > 32:
            raise DataFormatError(where, "a setup S001-S032 (NTU RGB+D 120)", f"S{sample.setup:03d}")
        if sample.setup > max_setup:
            beyond += 1
            continue
        limit = 60 if sample.setup <= 17 else max_action
        if sample.action > limit:
            raise DataFormatError(where, f"an action A001-A{limit:03d} in setup "
                                  f"S{sample.setup:03d}", f"A{sample.action:03d}")
        if name in missing:
            skipped.append((name, f"listed in {missing_list} (missing skeleton)"))
            continue
        records.append(ntu_record(sample, version, skeleton=f.get("skeleton"), rgb=f.get("rgb")))
    if beyond:
        skipped.append((f"{beyond} samples of setups S018-S032",
                        f"NTU RGB+D 120 setups, not part of {title}"))
    if not records and not skipped:
        raise DatasetLayoutError(f"{root}: no SsssCcccPpppRrrrAaaa.skeleton or _rgb.avi file; "
                                 f"expected the {title} layout (see `adl datasets`)")
    if skipped:
        log.info("%s: skipped %s", title, "; ".join(f"{n}: {r}" for n, r in skipped[:3])
                 + (f"; ... ({len(skipped)} in all)" if len(skipped) > 3 else ""))
    return NtuScan(records=records, skipped=skipped,
                   missing_list=Path(missing_list) if missing_list is not None else None)


def read_ntu60(root, missing_list=None) -> List[VideoRecord]:
    """NTU RGB+D 60 records (:func:`scan_ntu` with ``version="ntu60"``)."""
    return scan_ntu(root, "ntu60", missing_list).records


def read_ntu120(root, missing_list=None) -> List[VideoRecord]:
    """NTU RGB+D 120 records (:func:`scan_ntu` with ``version="ntu120"``)."""
    return scan_ntu(root, "ntu120", missing_list).records


def ntu60_skipped(root, missing_list=None) -> List[Tuple[str, str]]:
    """The samples :func:`read_ntu60` skips, with the reason."""
    return scan_ntu(root, "ntu60", missing_list).skipped


def ntu120_skipped(root, missing_list=None) -> List[Tuple[str, str]]:
    """The samples :func:`read_ntu120` skips, with the reason."""
    return scan_ntu(root, "ntu120", missing_list).skipped
