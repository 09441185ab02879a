"""Designed cues for the deep stage: synthetic NTU classes whose only
difference is confined in space (one hand) or in time (one segment).

``generate_ntu(..., cues="deep")`` (and ``adl synth --dataset ntu60 --cues
deep``) writes these classes instead of :data:`data.synth.ntu.NTU_SYNTH_CLASSES`.
They exist so that the attention models of thesis chapter 4 (P-I3D, Separable
STA, VPN: attention over body parts and frames, sections 4.3-4.5) and the
Temporal Model of chapter 5 (temporal segments at several granularities,
section 5.2) have something to find, and so that a test can check *where*
they looked.  Members of a group perform the same body motion with the same
per-video randomness (jitter, tracker noise, dropped frames, brightness
flicker: one random stream per group, subject and replication), so two
members' files differ only where the designed cue is.

Groups
------
``hand`` (spatial cue, appearance only), actions A029 / A032 / A031 (and A023):
    both hands rise together to the front of the chest, hold there, and come
    down; during the middle of the hold (phase 0.35-0.65) a phone is in the
    **right** hand (A029 "playing with phone/tablet"), in the **left** hand
    (A032 "taking a selfie") or in neither (A031 "pointing to something with
    finger").  The skeletons of the three are identical: only the RGB crop of
    one hand, in one time window, tells them apart.  The hand is the
    subject's own (a left-handed subject's scene is mirrored, so its script
    holds the object in the other script hand).  For P-I3D's hand streams and
    Separable STA's spatial attention (the discriminative crop is one hand),
    and for VPN, whose attention is driven by the pose: the pose says where
    the hands are but not which holds the phone.
    A023 "hand waving" is the pose counterpart in the same group: no object,
    the **right** hand waves up and down (4 cm, 10 frames a cycle) during the
    same window.  Against A031 only the skeleton's right arm moves (elbow,
    wrist, hand, hand tip, thumb) in those frames: a cue that the pose carries
    and that VPN's pose-driven attention should point at.
``order`` (temporal cue, pose and appearance), actions A016 / A017:
    standing still but for one bend-down with both hands to the foot, in the
    first part of the video (phase 0.06-0.40, A016 "wear a shoe") or in the
    last part (phase 0.60-0.94, A017 "take off a shoe").  The bend is a
    palindrome (down, pull, down, up), and a subject's pace is symmetric in
    time (:func:`data.synth._generate.phase_and_time`), so one video is the
    other played backwards: the two have the same frames, in another order.
    A video-level average over time (one segment, granularity 1) cannot
    separate them; two or more segments can (the Temporal Model's
    granularities, temporal attention).

Ground truth (per video, in the writer's summary, ``videos[i]["cue"]``)
----------------------------------------------------------------------
``kind`` (``"spatial"`` / ``"pose"`` / ``"temporal"``), ``group``, ``hand``
(``"left"``, ``"right"`` or None: the subject's hand that holds the object
or waves), ``joints`` (the Kinect v2 joints whose motion is the cue: the
waving arm; empty for the other kinds), ``frames``
(0-based frame indices of the cue window), ``boxes`` (``[frame, x0, y0, x1,
y1]`` output-image pixels, inclusive, containing every pixel the object can
change in that frame; empty without an object) and ``segments`` (``{G:
[indices of the G equal temporal segments that hold a cue frame]}`` for G =
1..4; segment ``i`` of ``G`` holds frames ``floor(i T / G)`` to
``floor((i + 1) T / G) - 1``, as the deep stage splits a video).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..ntu import NTU_ACTIONS
from ._classes import ClassDef
from ._motion import A, P, W, Key, Obj, Osc, Script

__all__ = ["CueSpec", "DEEP_CUE_CLASSES", "CUE_GROUPS", "GRANULARITIES", "for_subject",
           "cue_ground_truth", "cue_design"]

K = Key.at
#: Granularities whose segments the ground truth lists (thesis 5.2.1; the deep stage's default).
GRANULARITIES = (1, 2, 3, 4)
#: Sub-activity name of the cue window in a script's ``subacts``.
CUE = "cue"
#: The phone of the ``hand`` group (BGR), larger and brighter than the classical one.
PHONE_CUE = dict(shape="phone", color=(30, 200, 250), size=(0.08, 0.15), color2=(90, 40, 20))
_HELD_UP = (0.0, 0.05, 0.05)          # object offset from the hand: above and in front
_OUTLINE_PX = 2.0                     # outline and anti-aliasing around a drawn object
_ARM = ("elbow", "wrist", "hand", "handtip", "thumb")   # Kinect v2 joints a hand target moves


@dataclass(frozen=True)
class CueSpec:
    """Where one class's designed cue is.

    ``kind`` ``"spatial"``, ``"pose"`` or ``"temporal"``; ``group`` the
    classes that share the body motion; ``hand`` the subject's hand holding
    the object or waving (``"left"``/``"right"``, None for none); ``window``
    the cue's phase interval; ``purpose`` what it is for (one line).
    """

    kind: str
    group: str
    hand: Optional[str]
    window: Tuple[float, float]
    purpose: str


# --------------------------------------------------------------------------- scripts
_REST_R, _REST_L = A(0.04, -0.56, 0.06), P(0.04, -0.56, 0.06)
_FRONT_R, _FRONT_L = A(0.0, -0.18, 0.32), P(0.0, -0.18, 0.32)
_LIFT_R, _LIFT_L = A(0.02, -0.10, 0.36), P(0.02, -0.10, 0.36)


def hands_up_holding(hand: Optional[str], window: Tuple[float, float] = (0.35, 0.65), *,
                     wave: Optional[str] = None) -> Script:
    """Both hands to the front of the chest and back, symmetric; an object in
    the script hand ``hand`` (``"rh"``, ``"lh"`` or None) during ``window``,
    or the script hand ``wave`` waving up and down inside it (4 cm, 10 frames
    a cycle: slow enough for the tracker to follow it fully; the ramps of the
    oscillation's envelope end at the window's edges)."""
    s0, s1 = window
    keys = (K(0.0, rh=_REST_R, lh=_REST_L, nod=0), K(0.12, rh=_REST_R, lh=_REST_L, nod=0),
            K(0.28, rh=_FRONT_R, lh=_FRONT_L, nod=12), K(0.50, rh=_LIFT_R, lh=_LIFT_L, nod=15),
            K(0.72, rh=_FRONT_R, lh=_FRONT_L, nod=12), K(0.88, rh=_REST_R, lh=_REST_L, nod=0),
            K(1.0, rh=_REST_R, lh=_REST_L, nod=0))
    objects = ()
    if hand is not None:
        objects = (Obj(name="phone", track=((0.0, "hidden", None), (s0, hand, _HELD_UP),
                                            (s1, "hidden", None)), **PHONE_CUE),)
    oscs = ()
    if wave is not None:
        ramp = 0.025                     # half the envelope's ramp (_motion._envelope)
        oscs = (Osc(wave, amp=(0.0, 0.04, 0.0), period=10, window=(s0 + ramp, s1 - ramp)),)
    return Script(keys=keys, scene="open", objects=objects, oscs=oscs,
                  subacts=((s0, "before"), (s1, CUE), (1.0, "after")))


def bend_to_foot(window: Tuple[float, float]) -> Script:
    """Stand still but for one palindromic bend with both hands to the foot
    (down, pull up a little, down, up) inside the phase ``window``."""
    s0, s1 = window
    w = s1 - s0
    rest = dict(rh=_REST_R, lh=_REST_L, bend=0, crouch=0, nod=0)
    down = dict(rh=W(0.12, 0.16, 0.30), lh=W(-0.02, 0.18, 0.30), bend=72, crouch=0.7, nod=20)
    pull = dict(rh=W(0.12, 0.26, 0.30), lh=W(-0.02, 0.28, 0.30), bend=64, crouch=0.65, nod=20)
    keys = [K(0.0, **rest), K(s0, **rest), K(s0 + 0.3 * w, **down), K(s0 + 0.5 * w, **pull),
            K(s1 - 0.3 * w, **down), K(s1, **rest), K(1.0, **rest)]
    return Script(keys=tuple(keys), scene="open",
                  subacts=((s0, "before"), (s1, CUE), (1.0, "after")))


def _table() -> Dict[int, Tuple[ClassDef, CueSpec]]:
    spatial = "the only difference is the object in one hand during the hold: the RGB crop of " \
              "that hand (P-I3D hand streams, Separable STA spatial attention, VPN)"
    pose = "the only difference is the right arm's motion during the hold, carried by the pose " \
           "(VPN's pose-driven attention, P-I3D's pose-weighted hand streams)"
    temporal = "the only difference is when the bend happens: same frames in another order " \
               "(Temporal Model granularities >= 2, temporal attention)"
    hold, early, late = (0.35, 0.65), (0.06, 0.40), (0.60, 0.94)
    rows = {
        29: (hands_up_holding("rh", hold), CueSpec("spatial", "hand", "right", hold, spatial),
             "phone in the right hand during the hold"),
        32: (hands_up_holding("lh", hold), CueSpec("spatial", "hand", "left", hold, spatial),
             "phone in the left hand during the hold"),
        31: (hands_up_holding(None, hold), CueSpec("spatial", "hand", None, hold, spatial),
             "same motion, empty hands"),
        23: (hands_up_holding(None, hold, wave="rh"), CueSpec("pose", "hand", "right", hold, pose),
             "same motion, the right hand waves during the hold"),
        16: (bend_to_foot(early), CueSpec("temporal", "order", None, early, temporal),
             "bend to the foot in the first part"),
        17: (bend_to_foot(late), CueSpec("temporal", "order", None, late, temporal),
             "bend to the foot in the last part"),
    }
    return {a: (ClassDef(NTU_ACTIONS[a - 1], script, pair=spec.group, modality="deep", note=note),
                spec) for a, (script, spec, note) in sorted(rows.items())}


DEEP_CUE_CLASSES: Dict[int, Tuple[ClassDef, CueSpec]] = _table()
"""NTU action number -> (:class:`ClassDef` for a right-handed subject, :class:`CueSpec`)."""
#: Group name -> index; the members of a group share one random stream per video.
CUE_GROUPS: Dict[str, int] = {g: i for i, g in enumerate(
    dict.fromkeys(spec.group for _, spec in DEEP_CUE_CLASSES.values()))}


def for_subject(cdef: ClassDef, left_handed: bool) -> ClassDef:
    """The class as a subject performs it.  A left-handed subject's scene is
    mirrored after evaluation (:func:`data.synth._body.mirror`), which moves
    what the script's ``rh`` holds into the subject's left hand; the object
    is given to the other script hand so that it stays in the hand the
    class names; a waving hand likewise.  The keys are not swapped: the
    ``hand`` group's are left-right symmetric, and the ``order`` group names
    no hand (a left-handed subject bends to the other foot)."""
    if not left_handed or not (cdef.script.objects or cdef.script.oscs):
        return cdef
    swap = {"rh": "lh", "lh": "rh"}
    objects = tuple(dataclasses.replace(ob, track=tuple((s, swap.get(a, a), w)
                                                        for s, a, w in ob.track))
                    for ob in cdef.script.objects)
    oscs = tuple(dataclasses.replace(o, param=swap.get(o.param, o.param))
                 for o in cdef.script.oscs)
    return dataclasses.replace(cdef, script=dataclasses.replace(cdef.script, objects=objects,
                                                                oscs=oscs))


def _segments(frames: List[int], T: int) -> Dict[str, List[int]]:
    """``{G: segments holding a frame of frames}``: segment ``i`` of ``G`` is
    frames ``floor(i T / G)`` .. ``floor((i + 1) T / G) - 1`` (thesis 5.2.1:
    non-overlapping segments of equal length; the deep stage's split)."""
    out = {}
    for G in GRANULARITIES:
        edges = (np.arange(G + 1) * T) // G
        seg = np.searchsorted(edges, np.asarray(frames, dtype=np.int64), side="right") - 1
        out[str(G)] = sorted({int(i) for i in np.clip(seg, 0, G - 1)})
    return out


def cue_ground_truth(spec: CueSpec, video, view) -> dict:
    """Where the cue is in one simulated video.

    Parameters
    ----------
    spec : CueSpec
    video : data.synth._generate.Video
        The simulated video (``subacts`` per frame, ``objects`` with camera-
        space positions ``(T, 3)`` and visibility ``(T,)``).
    view : data.synth._scene.View
        The camera view it is rendered through (output-image pixels).

    Returns
    -------
    dict
        ``kind``, ``group``, ``hand``, ``joints``, ``frames``, ``boxes``,
        ``segments`` (module docstring).
    """
    T = len(video.subacts)
    frames = [t for t, name in enumerate(video.subacts) if name == CUE]
    boxes = []
    W_img, H_img = view.size
    for ob, pos, vis, _ in video.objects:
        uv = view.project(pos)
        ppm = view.pixels_per_metre(pos)
        for t in np.flatnonzero(vis):
            w, h = max(2.0, ob.size[0] * ppm[t]), max(2.0, ob.size[1] * ppm[t])
            half = 0.5 * float(np.hypot(w, h)) + _OUTLINE_PX
            x0, y0 = int(np.floor(uv[t, 0] - half)), int(np.floor(uv[t, 1] - half))
            x1, y1 = int(np.ceil(uv[t, 0] + half)), int(np.ceil(uv[t, 1] + half))
            boxes.append([int(t), max(0, x0), max(0, y0), min(W_img - 1, x1), min(H_img - 1, y1)])
    joints = [f"{j}_{spec.hand}" for j in _ARM] if spec.kind == "pose" else []
    return {"kind": spec.kind, "group": spec.group, "hand": spec.hand, "joints": joints,
            "frames": frames, "boxes": sorted(boxes), "segments": _segments(frames, T)}


def cue_design(actions) -> dict:
    """Class name -> the design of its cue (``kind``, ``group``, ``hand``,
    ``phase`` window, ``partners`` in its group, ``purpose``) for ``actions``."""
    out = {}
    for a in actions:
        cdef, spec = DEEP_CUE_CLASSES[a]
        partners = [c.name for b, (c, s) in DEEP_CUE_CLASSES.items()
                    if s.group == spec.group and b != a]
        out[cdef.name] = {"kind": spec.kind, "group": spec.group, "hand": spec.hand,
                          "phase": list(spec.window), "partners": partners, "note": cdef.note,
                          "purpose": spec.purpose}
    return out
