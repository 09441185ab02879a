"""The articulated body: proportions, forward kinematics, script evaluation.

The body is a kinematic tree in metres: pelvis (hip centre) -> spine ->
shoulder centre -> head; shoulders -> elbows -> wrists -> hands solved by
two-bone inverse kinematics towards the script's hand targets; hips -> knees
-> ankles -> feet solved likewise towards foot targets that depend on the
posture (standing, seated, walking, lying).  It yields the 20 Kinect v1
joints (:data:`data.layouts.KINECT_V1_20`) plus the OpenNI ``torso`` point
that CAD's 15-joint layout needs (:func:`to_layout`).

Coordinates: the *body frame* ``(l, u, f)`` (person's left, up, forward,
origin on the floor under the pelvis) is rotated by the ``yaw`` track and
moved by ``x``/``z`` into the *base frame* (the subject's spot in its room);
:func:`base_to_camera` puts the base frame into Kinect camera space (X right
in the image, Y up, Z away from the camera) with the person facing the
camera (forward = -Z) up to the subject's small base yaw.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np

from ..layouts import CAD_15, KINECT_V1_20, JointLayout
from ._motion import (SCALAR_PARAMS, Obj, Script, Target, oscillation, scalar_tracks,
                      _interp)

JOINTS = KINECT_V1_20.joints + ("torso",)
JI = {n: i for i, n in enumerate(JOINTS)}
N_JOINTS = len(JOINTS)
MIRROR = np.array([JI[n.replace("left", "@").replace("right", "left").replace("@", "right")]
                   for n in JOINTS])
GAIT_PERIOD = 18.0        # frames per walking cycle at nominal speed

_CAD_FROM_INTERNAL = [JI[n] if n != "neck" else JI["shoulder_center"] for n in
                      ("head", "neck", "torso", "shoulder_left", "elbow_left", "shoulder_right",
                       "elbow_right", "hip_left", "knee_left", "hip_right", "knee_right",
                       "hand_left", "hand_right", "foot_left", "foot_right")]


@dataclass(frozen=True)
class Body:
    """Body proportions of a subject (lengths for ``scale`` 1 are ~1.72 m tall)."""

    scale: float = 1.0
    arm: float = 1.0
    leg: float = 1.0
    shoulder: float = 1.0

    # segment lengths in metres
    @property
    def upper_arm(self): return 0.29 * self.scale * self.arm
    @property
    def forearm(self): return 0.25 * self.scale * self.arm
    @property
    def hand(self): return 0.08 * self.scale * self.arm
    @property
    def thigh(self): return 0.44 * self.scale * self.leg
    @property
    def shin(self): return 0.42 * self.scale * self.leg
    @property
    def torso(self): return 0.48 * self.scale
    @property
    def shoulder_half(self): return 0.18 * self.scale * self.shoulder
    @property
    def hip_half(self): return 0.10 * self.scale
    @property
    def ankle_h(self): return 0.08 * self.scale
    @property
    def hip_drop(self): return 0.05 * self.scale
    @property
    def stand_h(self):
        """Hip-centre height when standing (legs nearly straight)."""
        return self.ankle_h + 0.985 * (self.thigh + self.shin) + self.hip_drop
    @property
    def sit_h(self):
        """Hip-centre height when seated (seat at 0.46 m x scale)."""
        return 0.56 * self.scale


# ----------------------------------------------------------------------- rotations

def _rx(a):   # about l: u -> f
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1),
                     np.stack([z, s, c], -1)], -2)


def _rz(a):   # about f: u -> l
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, s, z], -1), np.stack([-s, c, z], -1),
                     np.stack([z, z, o], -1)], -2)


def _ry(a):   # about u: f -> l
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1),
                     np.stack([-s, z, c], -1)], -2)


def _apply(R, v):
    """``R`` (T,3,3) times ``v`` (3,) or (T,3) -> (T,3)."""
    v = np.asarray(v, dtype=np.float64)
    if v.ndim == 1:
        return R @ v
    return np.einsum("tij,tj->ti", R, v)


def two_bone(root, target, a, b, pole):
    """Two-bone IK: middle joint and end point, shapes (T, 3).

    The end reaches ``target`` when it is within ``a + b`` of ``root`` (else
    it stops on the line towards it); the middle joint bends towards
    ``pole`` (T, 3) directions.
    """
    d_vec = target - root
    d = np.linalg.norm(d_vec, axis=-1, keepdims=True)
    u = d_vec / np.maximum(d, 1e-9)
    dc = np.clip(d, abs(a - b) + 1e-4, a + b - 1e-4)
    x = (a * a - b * b + dc * dc) / (2 * dc)
    r = np.sqrt(np.maximum(a * a - x * x, 0.0))
    p = pole - (pole * u).sum(-1, keepdims=True) * u
    pn = np.linalg.norm(p, axis=-1, keepdims=True)
    alt = np.cross(u, np.array([0.0, 0.0, 1.0]))
    p = np.where(pn > 1e-6, p / np.maximum(pn, 1e-9), alt / np.maximum(
        np.linalg.norm(alt, axis=-1, keepdims=True), 1e-9))
    return root + u * x + p * r, root + u * dc


# ----------------------------------------------------------------------- kinematics

def hip_centre(tr: Dict[str, np.ndarray], body: Body) -> np.ndarray:
    """Hip centre in the body frame, (T, 3)."""
    sit, crouch = np.clip(tr["sit"], 0, 1), np.clip(tr["crouch"], 0, 1)
    h = (1 - sit) * (body.stand_h - crouch * 0.35 * body.scale) + sit * body.sit_h
    hinge = -0.10 * body.scale * np.sin(np.deg2rad(tr["bend"])) * (1 - sit)
    return np.stack([np.zeros_like(h), h, hinge], -1)


def upright_shoulder(tr, body: Body, side: int) -> np.ndarray:
    """Shoulder of side +1 (left) / -1 (right) with an upright torso, body frame (T, 3)."""
    hc = hip_centre(tr, body)
    return hc + np.array([side * body.shoulder_half, body.torso - 0.03 * body.scale, 0.0])


def _body_to_base(p, tr):
    """Body-frame points (T, ..., 3) -> base frame using the yaw/x/z tracks."""
    R = _ry(np.deg2rad(tr["yaw"]))
    flat = p.reshape(p.shape[0], -1, 3)
    out = np.einsum("tij,tkj->tki", R, flat)
    out[..., 0] += tr["x"][:, None]
    out[..., 2] += tr["z"][:, None]
    return out.reshape(p.shape)


def _world_to_body(w, tr1):
    """A base-frame point -> body frame at one instant (tracks of length 1)."""
    v = np.asarray(w, np.float64) - np.array([tr1["x"][0], 0.0, tr1["z"][0]])
    R = _ry(np.deg2rad(tr1["yaw"]))[0]
    return R.T @ v


def forward_kinematics(tr, targets, body: Body, t: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """All 21 joints in the body frame, (T, 21, 3), and the torso rotation (T, 3, 3)."""
    T = len(t)
    sc = body.scale
    Rt = _ry(np.deg2rad(tr["twist"])) @ _rx(np.deg2rad(tr["bend"])) @ _rz(np.deg2rad(tr["lean"]))
    hc = hip_centre(tr, body)
    J = np.zeros((T, N_JOINTS, 3))
    J[:, JI["hip_center"]] = hc
    J[:, JI["spine"]] = hc + _apply(Rt, [0, 0.10 * sc, 0])
    J[:, JI["torso"]] = hc + _apply(Rt, [0, 0.24 * sc, 0])
    neck = hc + _apply(Rt, [0, body.torso, 0])
    J[:, JI["shoulder_center"]] = neck
    Rh = Rt @ _rx(np.deg2rad(tr["nod"])) @ _ry(np.deg2rad(tr["turn"]))
    J[:, JI["head"]] = neck + _apply(Rh, [0, 0.20 * sc, 0.01 * sc])
    for side, name, hand, elb in ((1, "left", "lh", "lelbow"), (-1, "right", "rh", "relbow")):
        sh = neck + _apply(Rt, [side * body.shoulder_half, -0.03 * sc, 0])
        e = np.clip(tr[elb], 0, 1)[:, None]
        pole = (1 - e) * np.array([side * 0.35, -1.0, -0.25]) + e * np.array([side, 0.5, -0.2])
        pole = _apply(Rt, pole)
        fore = body.forearm + body.hand
        elbow, h = two_bone(sh, targets[hand], body.upper_arm, fore, pole)
        J[:, JI[f"shoulder_{name}"]] = sh
        J[:, JI[f"elbow_{name}"]] = elbow
        J[:, JI[f"wrist_{name}"]] = elbow + (h - elbow) * (body.forearm / fore)
        J[:, JI[f"hand_{name}"]] = h
    sit = np.clip(tr["sit"], 0, 1)[:, None]
    up = np.clip(tr["feet_up"], 0, 1)[:, None]
    stride = np.clip(tr["stride"], 0, 1)
    for side, name, ph in ((1, "left", 0.0), (-1, "right", np.pi)):
        hip = hc + np.array([side * body.hip_half, -body.hip_drop, 0.0])
        stand = np.array([side * 0.11 * sc, body.ankle_h, 0.02 * sc])
        seat = np.array([side * 0.15 * sc, body.ankle_h, 0.40 * sc])
        lie = np.array([-0.80 * sc + side * 0.07 * sc, body.sit_h, 0.12 * sc])
        ankle = (1 - sit) * stand + sit * seat
        ankle = (1 - up) * ankle + up * lie
        g = 2 * np.pi * t / GAIT_PERIOD + ph
        ankle[:, 2] += stride * 0.22 * sc * np.sin(g)
        ankle[:, 1] += stride * 0.07 * sc * np.maximum(0.0, np.cos(g))
        knee, ank = two_bone(hip, ankle, body.thigh, body.shin,
                             np.array([side * 0.15, 0.0, 1.0]))
        J[:, JI[f"hip_{name}"]] = hip
        J[:, JI[f"knee_{name}"]] = knee
        J[:, JI[f"ankle_{name}"]] = ank
        J[:, JI[f"foot_{name}"]] = ank + np.array([0.0, -0.04 * sc, 0.10 * sc])
    return J, Rt


# ----------------------------------------------------------------------- evaluation

@dataclass
class Motion:
    """A script evaluated for one video, everything in the base frame.

    joints : (T, 21, 3) clean joints; facing : (T, 3) unit torso forward;
    objects : list of (Obj, position (T, 3), visible (T,), angle_deg (T,)).
    """

    joints: np.ndarray
    facing: np.ndarray
    objects: List[Tuple[Obj, np.ndarray, np.ndarray, np.ndarray]]


FAST_PERIOD = 8.0   # oscillations at most this many frames per cycle count as "fast"


def _gain(o, fast_gain: float) -> float:
    return fast_gain if o.period <= FAST_PERIOD else 1.0


def _apply_jitter(tr, jitter):
    for k, v in (jitter or {}).items():
        if k in tr:
            tr[k] = tr[k] + v


def evaluate(script: Script, body: Body, s: np.ndarray, t: np.ndarray, *,
             sit: float | None = None, jitter: Dict[str, object] | None = None,
             fast_gain: float = 1.0) -> Motion:
    """Evaluate ``script`` at phases ``s`` and times ``t`` (frames).

    Parameters
    ----------
    sit : float, optional
        Posture of a ``"flex"`` script (1 seated, 0 standing).
    jitter : dict, optional
        Per-video constant offsets: scalar tracks by name (``bend``, ``x``...)
        and ``"rh"``/``"lh"`` 3-vectors (body frame, metres).
    fast_gain : float
        Gain of the *fast* oscillations (period <= :data:`FAST_PERIOD`
        frames): 1 for the true motion, less for what a skeleton tracker
        resolves of it.
    """
    s = np.asarray(s, np.float64)
    t = np.asarray(t, np.float64)
    scalars = {k: v for k, v in (jitter or {}).items() if k in SCALAR_PARAMS}

    def tracks_at(ss):
        tr = scalar_tracks(script, ss)
        if sit is not None and script.posture == "flex":
            tr["sit"] = np.full(len(ss), float(sit))
        _apply_jitter(tr, scalars)
        return tr

    # key phases of world-frame hand targets are evaluated together with the frames
    # (one interpolator per parameter instead of one per key)
    key_s = sorted({k.s for k in script.keys for n, v in k.values
                    if n in ("rh", "lh") and isinstance(v, Target) and v.frame == "world"})
    both = tracks_at(np.concatenate([s, np.asarray(key_s, np.float64)]))
    tr = {k: v[:len(s)] for k, v in both.items()}
    at_key = {ks: {k: v[len(s) + i:len(s) + i + 1] for k, v in both.items()}
              for i, ks in enumerate(key_s)}
    for o in script.oscs:
        if o.param in SCALAR_PARAMS:
            tr[o.param] = tr[o.param] + oscillation(o, s, t) * _gain(o, fast_gain)

    targets = {}
    sc = body.scale
    rest = {"rh": np.array([-0.04, -0.56, 0.06]), "lh": np.array([0.04, -0.56, 0.06])}
    for hand, side in (("rh", -1), ("lh", 1)):
        knots = []
        for k in script.keys:
            for n, v in k.values:
                if n != hand:
                    continue
                if not isinstance(v, Target):
                    raise TypeError(f"hand target {hand} at s={k.s} must be built with "
                                    f"A(), P() or W(), got {v!r}")
                if v.frame == "body":
                    rel = np.asarray(v.vec) * sc
                else:
                    tr1 = at_key[k.s]
                    wb = _world_to_body(np.asarray(v.vec) * sc, tr1)
                    rel = wb - upright_shoulder(tr1, body, side)[0]
                knots.append((k.s, rel))
        rel = _interp(knots, s) if knots else np.tile(rest[hand] * sc, (len(s), 1))
        for o in script.oscs:
            if o.param == hand:
                osc = oscillation(o, s, t) * (sc * _gain(o, fast_gain))
                osc[:, 0] *= side          # (out, up, fwd) -> (l, u, f)
                rel = rel + osc
        if jitter and hand in jitter:
            rel = rel + np.asarray(jitter[hand]) * sc
        targets[hand] = upright_shoulder(tr, body, side) + rel

    Jb, Rt = forward_kinematics(tr, targets, body, t)
    joints = _body_to_base(Jb, tr)
    facing = _body_to_base(_apply(Rt, [0.0, 0.0, 1.0])[:, None, :], {**tr, "x": 0 * tr["x"],
                                                                     "z": 0 * tr["z"]})[:, 0]
    yaw = np.deg2rad(tr["yaw"])
    objects = []
    for ob in script.objects:
        pos = np.full((len(s), 3), np.nan)
        vis = np.zeros(len(s), bool)
        for i, (s0, anchor, where) in enumerate(ob.track):
            s1 = ob.track[i + 1][0] if i + 1 < len(ob.track) else np.inf
            m = (s >= s0) & (s < s1) if i > 0 else (s < s1)
            if not m.any() or anchor == "hidden":
                continue
            if anchor == "base":
                p = np.broadcast_to(np.asarray(where.vec) * sc, (int(m.sum()), 3))
            else:
                off = np.asarray(where if where is not None else (0.0, 0.0, 0.0), np.float64) * sc
                if anchor == "rh":
                    base_pt, off = joints[m, JI["hand_right"]], off * [-1, 1, 1]
                elif anchor == "lh":
                    base_pt = joints[m, JI["hand_left"]]
                elif anchor == "hands":
                    base_pt, off = joints[m][:, [JI["hand_left"], JI["hand_right"]]].mean(1), \
                        off * [-1, 1, 1]
                elif anchor == "torso":
                    base_pt, off = joints[m, JI["torso"]], off * [-1, 1, 1]
                else:
                    raise ValueError(f"unknown object anchor {anchor!r} of {ob.name}")
                off_b = _apply(_ry(yaw[m]), off)
                p = base_pt + off_b
            pos[m] = p
            vis[m] = True
        ang = tr[ob.angle] if isinstance(ob.angle, str) else np.full(len(s), float(ob.angle))
        objects.append((ob, pos, vis, np.asarray(ang, np.float64).copy()))
    return Motion(joints=joints, facing=facing, objects=objects)


def mirror(m: Motion) -> Motion:
    """Left-right mirror of a motion (left-handed subjects)."""
    j = m.joints[:, MIRROR].copy()
    j[..., 0] *= -1
    f = m.facing.copy()
    f[..., 0] *= -1
    objs = []
    for ob, pos, vis, ang in m.objects:
        p = pos.copy()
        p[..., 0] *= -1
        objs.append((ob, p, vis, -ang))
    return Motion(joints=j, facing=f, objects=objs)


def base_to_camera(p: np.ndarray, base: Tuple[float, float, float, float]) -> np.ndarray:
    """Base-frame points (..., 3) -> camera space metres.

    ``base`` = ``(x, floor_y, z, yaw_deg)``: camera position of the subject's
    floor spot and its facing (0 = facing the camera).
    """
    bx, by, bz, yaw = base
    a = np.deg2rad(yaw)
    L = np.array([np.cos(a), 0.0, np.sin(a)])
    U = np.array([0.0, 1.0, 0.0])
    F = np.array([np.sin(a), 0.0, -np.cos(a)])
    p = np.asarray(p, np.float64)
    return (np.array([bx, by, bz]) + p[..., 0:1] * L + p[..., 1:2] * U + p[..., 2:3] * F)


def direction_to_camera(d: np.ndarray, base) -> np.ndarray:
    """Base-frame directions (..., 3) -> camera space (no translation)."""
    return base_to_camera(d, (0.0, 0.0, 0.0, base[3]))


def to_layout(joints21: np.ndarray, layout: JointLayout) -> np.ndarray:
    """Internal 21 joints (T, 21, 3) -> ``layout`` order (kinect_v1_20 or cad_15)."""
    if layout.name == KINECT_V1_20.name:
        return joints21[:, :20]
    if layout.name == CAD_15.name:
        return joints21[:, _CAD_FROM_INTERNAL]
    raise ValueError(f"synthetic skeletons exist in layouts kinect_v1_20 and cad_15, "
                     f"got {layout.name!r}")


def torso_orientation(joints_cam: np.ndarray) -> np.ndarray:
    """OpenNI-style torso orientation (T, 3, 3) from camera-space joints.

    Columns are the torso's x (right hip -> left hip), y (hips -> neck) and
    z = x cross y axes, so a person facing the camera upright gets about the
    identity.  Used for all 11 oriented CAD joints (documented simplification).
    """
    x = joints_cam[:, JI["hip_left"]] - joints_cam[:, JI["hip_right"]]
    x /= np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)
    y = joints_cam[:, JI["shoulder_center"]] - joints_cam[:, JI["hip_center"]]
    y = y - (y * x).sum(-1, keepdims=True) * x
    y /= np.maximum(np.linalg.norm(y, axis=-1, keepdims=True), 1e-9)
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=-1)
