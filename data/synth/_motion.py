"""Motion scripts: keyframed pose parameters, oscillations and object tracks.

A :class:`Script` describes one activity as a function of the *phase*
``s`` in [0, 1].  Pose parameters are keyframed (:class:`Key`) and
interpolated with a shape-preserving cubic (PCHIP, no overshoot); fast small
motions are :class:`Osc` oscillations added on top, whose period is given in
*frames* (at 30 fps nominal rate) so that a wiping hand stays a fast wiping
hand whatever the number of frames of the video.

Hand targets are given in one of two frames (``Target.frame``):

``"body"``
    relative to the hand's own shoulder as it would be with an upright torso,
    in the body frame ``(l, u, f)`` = (towards the person's left, up,
    forward); use :func:`A` for the active (right) hand and :func:`P` for the
    passive (left) hand, both taking ``(out, up, fwd)`` with ``out`` pointing
    away from the body midline.
``"world"``
    a fixed point of the scene, base frame ``(l, u, f)`` with ``u`` the height
    above the floor; use :func:`W` taking ``(side, up, fwd)`` with ``side``
    positive towards the active hand's side.

Every length is for a subject of scale 1.0 and is multiplied by the subject's
scale (the room is scaled with the subject, which keeps the hand/object
contacts exact).  Left-handed subjects are produced by mirroring the whole
scene (``l -> -l``) after evaluation, see :mod:`data.synth._body`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

Vec = Tuple[float, float, float]


@dataclass(frozen=True)
class Target:
    """A hand target or object position; ``vec`` is ``(l, u, f)`` metres."""

    frame: str           # "body" or "world"
    vec: Vec


def A(out: float, up: float, fwd: float) -> Target:
    """Active (right) hand target relative to its upright shoulder."""
    return Target("body", (-out, up, fwd))


def P(out: float, up: float, fwd: float) -> Target:
    """Passive (left) hand target relative to its upright shoulder."""
    return Target("body", (out, up, fwd))


def W(side: float, up: float, fwd: float) -> Target:
    """A scene point: ``side`` > 0 towards the active side, ``up`` above the floor."""
    return Target("world", (-side, up, fwd))


def side_deg(angle: float) -> float:
    """A lean/twist/yaw angle towards the active side (the signs turn the body to -l)."""
    return -angle


SCALAR_PARAMS: Dict[str, float] = {
    "x": 0.0, "z": 0.0,          # root offset on the floor (base frame l, f), metres
    "yaw": 0.0,                   # whole-body rotation about the vertical (deg, + towards l)
    "bend": 0.0,                  # torso pitch forward (deg), hinged at the hips
    "lean": 0.0,                  # torso roll (deg, + tilts the shoulders towards l)
    "twist": 0.0,                 # torso yaw relative to the pelvis (deg, + towards l)
    "sit": 0.0,                   # 0 standing .. 1 seated (pelvis at seat height, feet forward)
    "crouch": 0.0,                # 0 .. 1 knee bend lowering the pelvis while standing
    "nod": 0.0,                   # head pitch (deg, + down)
    "turn": 0.0,                  # head yaw (deg, + towards l)
    "relbow": 0.0, "lelbow": 0.0,  # 0 elbow hangs down-out .. 1 elbow raised out-up
    "stride": 0.0,                # walking gait amplitude 0 .. 1
    "feet_up": 0.0,               # 0 .. 1 legs lifted onto the sofa (lying down)
    "tilt": 0.0,                  # free parameter for object angles (deg)
}
VECTOR_PARAMS = ("rh", "lh")


@dataclass(frozen=True)
class Key:
    """A keyframe: parameter values at phase ``s``."""

    s: float
    values: Tuple[Tuple[str, object], ...]

    @staticmethod
    def at(s: float, **values) -> "Key":
        unknown = set(values) - set(SCALAR_PARAMS) - set(VECTOR_PARAMS)
        if unknown:
            raise ValueError(f"unknown pose parameter(s) {sorted(unknown)}; expected "
                             f"{sorted(SCALAR_PARAMS) + list(VECTOR_PARAMS)}")
        return Key(float(s), tuple(sorted(values.items())))


@dataclass(frozen=True)
class Osc:
    """An oscillation added to a parameter inside a phase window.

    ``value += env(s) * (amp * sin(2 pi t / period) + amp_cos * cos(...))``
    with ``t`` in frames (scaled by the subject's speed) and ``env`` a smooth
    ramp over the window.  ``amp`` is ``(out, up, fwd)`` for the hands (the
    sign of ``out`` follows the hand as for :func:`A`/:func:`P`) or a scalar.
    """

    param: str
    amp: Union[float, Vec]
    period: float
    window: Tuple[float, float] = (0.0, 1.0)
    amp_cos: Union[float, Vec, None] = None
    phase: float = 0.0   # in cycles


@dataclass(frozen=True)
class Obj:
    """An object of the scene.

    ``track`` is a sequence of ``(s_from, anchor, where)``: from phase
    ``s_from`` on, the object is at ``anchor`` -- ``"rh"``/``"lh"`` (a hand,
    ``where`` = offset ``(out, up, fwd)``), ``"hands"`` (between the hands),
    ``"torso"``, ``"base"`` (``where`` = a :func:`W` point) or ``"hidden"``.
    ``shape`` is drawn by :mod:`data.synth._render`; ``size`` = (width,
    height) metres; ``angle`` = image-plane angle (deg) or the name of a
    scalar parameter track.
    """

    name: str
    shape: str
    color: Tuple[int, int, int]               # BGR
    size: Tuple[float, float]
    track: Tuple[Tuple[float, str, object], ...]
    color2: Optional[Tuple[int, int, int]] = None
    angle: Union[float, str] = 0.0


@dataclass(frozen=True)
class Script:
    """One activity's motion: keys, oscillations, objects, scene, sub-activities.

    ``subacts`` = ``((s_end, name), ...)``: sub-activity ``name`` lasts until
    phase ``s_end`` (CAD-120 ``labeling.txt``).  ``posture`` ``"flex"`` lets
    the generator seat (``sit=1``) or stand (``sit=0``) the person
    (MSRDailyActivity3D environments); ``"fixed"`` keeps the keys' ``sit``.
    """

    keys: Tuple[Key, ...]
    scene: str
    oscs: Tuple[Osc, ...] = ()
    objects: Tuple[Obj, ...] = ()
    subacts: Tuple[Tuple[float, str], ...] = ((1.0, "null"),)
    posture: str = "fixed"


# ----------------------------------------------------------------------- evaluation

def _interp(knots: Sequence[Tuple[float, np.ndarray]], s: np.ndarray) -> np.ndarray:
    """PCHIP through ``knots`` at ``s`` (held constant outside the knots)."""
    xs = np.array([k[0] for k in knots], dtype=np.float64)
    ys = np.array([np.atleast_1d(k[1]) for k in knots], dtype=np.float64)
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], ys[order]
    if np.any(np.diff(xs) <= 0):
        raise ValueError(f"keyframes of a parameter must have distinct phases, got {xs.tolist()}")
    sc = np.clip(s, xs[0], xs[-1])
    if len(xs) == 1:
        return np.repeat(ys, len(s), axis=0)
    if len(xs) == 2:
        w = ((sc - xs[0]) / (xs[1] - xs[0]))[:, None]
        w = w * w * (3 - 2 * w)          # smoothstep: eases in and out
        return ys[0] * (1 - w) + ys[1] * w
    from scipy.interpolate import PchipInterpolator   # lazy: keeps `import data.synth` light
    return PchipInterpolator(xs, ys, axis=0)(sc)


def _envelope(s: np.ndarray, window: Tuple[float, float], ramp: float = 0.05) -> np.ndarray:
    a, b = window
    up = np.clip((s - a) / ramp + 0.5, 0.0, 1.0)
    down = np.clip((b - s) / ramp + 0.5, 0.0, 1.0)
    e = np.minimum(up, down)
    return e * e * (3 - 2 * e)


def scalar_tracks(script: Script, s: np.ndarray) -> Dict[str, np.ndarray]:
    """Keyframed scalar parameters at phases ``s`` (no oscillation)."""
    out = {}
    for name, default in SCALAR_PARAMS.items():
        knots = [(k.s, np.float64(v)) for k in script.keys for n, v in k.values if n == name]
        out[name] = _interp(knots, s)[:, 0] if knots else np.full(len(s), default)
    return out


def oscillation(o: Osc, s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Value of ``o`` at phases ``s`` and times ``t`` (frames), shape (T,) or (T, 3)."""
    env = _envelope(s, o.window)
    arg = 2 * np.pi * (t / o.period + o.phase)
    amp = np.asarray(o.amp, dtype=np.float64)
    val = np.sin(arg)[:, None] * np.atleast_1d(amp)[None]
    if o.amp_cos is not None:
        val = val + np.cos(arg)[:, None] * np.atleast_1d(np.asarray(o.amp_cos, np.float64))[None]
    val = val * env[:, None]
    return val[:, 0] if amp.ndim == 0 else val
