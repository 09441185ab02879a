"""Activity classes of the synthetic datasets: one motion script per class.

Each dataset's classes include the three confusions the thesis studies
(``pair`` names the partner, ``modality`` the feature meant to separate them)
plus classes told apart by gross body dynamics.  The table in the package
docstring (:mod:`data.synth`) summarises this module.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from ._motion import A, P, W, Key, Obj, Osc, Script, side_deg
from ._scene import CABINET_TOP, DESK_TOP, SHELF, TABLE_TOP

K = Key.at


@dataclass(frozen=True)
class ClassDef:
    """A synthetic activity class.

    ``reverse``: the class is ``script`` played backwards in time (the
    order-only pair); ``pair``: the partner class of a designed confusion;
    ``modality``: which feature family is meant to separate it (``F1`` RGB
    appearance, ``F2`` dense trajectories, ``F3`` skeleton LSTM, ``all`` gross
    dynamics visible to every modality).
    """

    name: str
    script: Script
    reverse: bool = False
    pair: Optional[str] = None
    modality: str = "all"
    note: str = ""


# --------------------------------------------------------------------------- poses
REST_A, REST_P = A(0.04, -0.56, 0.06), P(0.04, -0.56, 0.06)
LAP_A, LAP_P = A(-0.04, -0.42, 0.30), P(-0.04, -0.42, 0.30)
MOUTH = A(-0.14, 0.14, 0.13)
EAR = A(-0.09, 0.20, 0.03)
EYE = A(-0.15, 0.24, 0.13)
CHEST = A(-0.10, -0.17, 0.30)
HOLD_A, HOLD_P = A(-0.12, -0.20, 0.32), P(-0.12, -0.20, 0.32)


def _toward(v: float) -> float:
    """A base-frame ``x`` offset towards the active side."""
    return -v


# --------------------------------------------------------------------------- objects
# colours are BGR
BOWL = dict(shape="bowl", color=(40, 120, 235), size=(0.18, 0.08), color2=(60, 170, 250))
PILLS = dict(shape="bottle", color=(240, 240, 240), size=(0.06, 0.12), color2=(30, 30, 210))
CUP = dict(shape="cup", color=(200, 120, 40), size=(0.07, 0.11), color2=(170, 100, 30))
GLASS = dict(shape="cup", color=(235, 205, 150), size=(0.07, 0.12), color2=(200, 170, 120))
MUG = dict(shape="cup", color=(50, 50, 195), size=(0.08, 0.11), color2=(40, 40, 150))
SNACK = dict(shape="ellipse", color=(60, 150, 215), size=(0.11, 0.06))
ITEM = dict(shape="rect", color=(60, 205, 225), size=(0.10, 0.045))
UTENSIL = dict(shape="stick", color=(170, 170, 170), size=(0.022, 0.18), color2=(60, 60, 60))
PHONE = dict(shape="phone", color=(40, 40, 40), size=(0.055, 0.11), color2=(120, 90, 70))
BOOK = dict(shape="book", color=(225, 225, 225), size=(0.22, 0.28), color2=(140, 60, 30))
PAD = dict(shape="pad", color=(150, 150, 150), size=(0.26, 0.18), color2=(190, 190, 185))
GAME = dict(shape="ellipse", color=(35, 35, 35), size=(0.15, 0.065), color2=(40, 40, 230))
BOX_COLORS = ((40, 40, 200), (60, 170, 60), (200, 90, 40))


def _obj(name, spec, track, **kw) -> Obj:
    d = dict(spec)
    d.update(kw)
    return Obj(name=name, track=tuple(track), **d)


HELD = (0.0, -0.02, 0.04)     # object a little below and in front of the holding hand


# --------------------------------------------------------------------------- scripts
def hand_to_mouth(obj: dict, name: str, scene: str = "kitchen", sub: str = "eating") -> Script:
    """Take an object from the table, bring it to the mouth twice, put it back."""
    top = TABLE_TOP
    spot = W(0.02, top + 0.045, 0.38)
    obj_at = W(0.02, top + obj["size"][1] / 2, 0.38)
    rest_l = W(-0.30, top + 0.04, 0.36)
    keys = (K(0.0, rh=REST_A, lh=REST_P, bend=0, nod=0),
            K(0.14, rh=spot, bend=20),
            K(0.20, lh=rest_l),
            K(0.26, rh=CHEST, bend=6),
            K(0.38, rh=MOUTH, nod=10),
            K(0.48, rh=CHEST, nod=0),
            K(0.58, rh=MOUTH, nod=10),
            K(0.70, rh=CHEST, nod=0, bend=6),
            K(0.80, lh=rest_l),
            K(0.86, rh=spot, bend=20),
            K(1.0, rh=REST_A, lh=REST_P, bend=0))
    ob = _obj(name, obj, [(0.0, "base", obj_at), (0.14, "rh", HELD), (0.86, "base", obj_at)])
    return Script(keys=keys, scene=scene, objects=(ob,),
                  subacts=((0.14, "reaching"), (0.30, "moving"), (0.74, sub), (0.86, "moving"),
                           (1.0, "placing")))


def stack(n: int = 3) -> Script:
    """Move ``n`` boxes one by one from the active side onto a growing stack."""
    top, bh = TABLE_TOP, 0.11
    src = [W(0.50 - 0.13 * i, top + bh / 2, 0.40) for i in range(n)]   # farthest first
    dst = [W(-0.12, top + bh * (k + 0.5), 0.40) for k in range(n)]

    def above(p, dz):
        return W(-p.vec[0], p.vec[1] + dz, p.vec[2])

    keys = [K(0.0, rh=REST_A, lh=REST_P, bend=0), K(0.10, lh=W(-0.36, top + 0.04, 0.34))]
    objects, subacts = [], []
    for k in range(n):
        g = 0.12 + 0.30 * k
        keys += [K(g, rh=above(src[k], 0.03), bend=20),
                 K(g + 0.06, rh=above(src[k], 0.16)),
                 K(g + 0.13, rh=above(dst[k], 0.10)),
                 K(g + 0.18, rh=above(dst[k], 0.03), bend=16 - 5 * k)]
        objects.append(_obj("box", dict(shape="box", color=BOX_COLORS[k % 3], size=(0.12, bh)),
                            [(0.0, "base", src[k]), (g, "rh", (0.0, -0.03, 0.0)),
                             (g + 0.18, "base", dst[k])]))
        subacts += [(g, "reaching"), (g + 0.13, "moving"), (g + 0.18, "placing")]
    keys += [K(0.92, lh=W(-0.36, top + 0.04, 0.34)), K(1.0, rh=REST_A, lh=REST_P, bend=0)]
    subacts.append((1.0, "null"))
    return Script(keys=tuple(keys), scene="kitchen", objects=tuple(objects),
                  subacts=tuple(subacts))


def at_table(name: str, fast: bool, scene: str = "kitchen") -> Script:
    """Same gross pose over the table; ``fast``: a quick small wiping
    oscillation (period 6 frames, 3.5 cm); else a slow small displacement."""
    top = TABLE_TOP
    spot = W(0.0, top + 0.025, 0.38)
    keys = [K(0.0, rh=REST_A, lh=REST_P, bend=0), K(0.14, rh=spot, bend=22),
            K(0.20, lh=W(-0.32, top + 0.04, 0.34)), K(0.80, lh=W(-0.32, top + 0.04, 0.34)),
            K(0.86, rh=spot, bend=22), K(1.0, rh=REST_A, lh=REST_P, bend=0)]
    oscs = ()
    if fast:
        oscs = (Osc("rh", amp=(0.035, 0.0, 0.0), amp_cos=(0.0, 0.0, 0.012), period=6,
                    window=(0.18, 0.82)),)
        subs = ((0.14, "reaching"), (0.84, "cleaning"), (1.0, "null"))
    else:
        keys += [K(0.38, rh=W(0.045, top + 0.025, 0.40)), K(0.62, rh=W(-0.04, top + 0.025, 0.36))]
        subs = ((0.14, "reaching"), (0.84, "moving"), (1.0, "placing"))
    obj_at = W(0.0, top + ITEM["size"][1] / 2, 0.38)
    ob = _obj(name, ITEM, [(0.0, "base", obj_at), (0.14, "rh", (0.0, -0.02, 0.02)),
                           (0.86, "base", obj_at)])
    return Script(keys=tuple(keys), scene=scene, oscs=oscs, objects=(ob,), subacts=subs)


def pick_up(scene: str = "kitchen") -> Script:
    """Bend and crouch to a crate at the active side, pick a box, put it on the table."""
    low = W(0.45, 0.18 + 0.04, 0.30)
    keys = (K(0.0, rh=REST_A, lh=REST_P, bend=0, crouch=0, lean=0, twist=0),
            K(0.30, rh=W(0.45, 0.27, 0.30), lh=P(0.10, -0.45, 0.25), bend=70, crouch=0.8,
              lean=side_deg(15), twist=side_deg(10)),
            K(0.38, rh=W(0.45, 0.29, 0.30)),
            K(0.56, rh=CHEST, lh=REST_P, bend=10, crouch=0, lean=0, twist=0),
            K(0.72, rh=W(0.05, TABLE_TOP + 0.07, 0.38), bend=20),
            K(1.0, rh=REST_A, bend=0))
    ob = _obj("box", dict(shape="box", color=(150, 50, 120), size=(0.10, 0.08)),
              [(0.0, "base", low), (0.34, "rh", (0.0, -0.03, 0.02)),
               (0.72, "base", W(0.05, TABLE_TOP + 0.04, 0.38))])
    return Script(keys=keys, scene=scene, objects=(ob,),
                  subacts=((0.34, "reaching"), (0.72, "moving"), (0.80, "placing"), (1.0, "null")))


def microwave() -> Script:
    """Open the microwave door (high, to the side), put food in with both hands, close."""
    handle, open_ = W(0.64, 1.20, 0.20), W(0.85, 1.22, 0.42)
    food_at = W(0.0, TABLE_TOP + 0.02, 0.38)
    keys = (K(0.0, rh=REST_A, lh=REST_P, bend=0, lean=0, twist=0),
            K(0.12, rh=handle, lean=side_deg(10), twist=side_deg(20)),
            K(0.22, rh=open_),
            K(0.34, rh=W(0.05, TABLE_TOP + 0.05, 0.38), lh=W(-0.10, TABLE_TOP + 0.05, 0.38),
              bend=18, lean=0, twist=0),
            K(0.46, rh=W(0.32, 1.15, 0.30), lh=W(0.18, 1.15, 0.30), bend=4, twist=side_deg(15)),
            K(0.58, rh=W(0.84, 1.14, 0.14), lh=W(0.70, 1.14, 0.14), twist=side_deg(30),
              lean=side_deg(12)),
            K(0.68, rh=W(0.60, 1.10, 0.30), lh=REST_P, twist=side_deg(20)),
            K(0.78, rh=open_),
            K(0.88, rh=handle),
            K(0.94, rh=W(0.72, 1.30, 0.18), lean=side_deg(10)),
            K(1.0, rh=REST_A, lh=REST_P, bend=0, lean=0, twist=0))
    ob = _obj("plate", dict(shape="plate", color=(235, 235, 240), size=(0.16, 0.05),
                            color2=(40, 90, 150)),
              [(0.0, "base", food_at), (0.34, "hands", (0.0, -0.02, 0.02)),
               (0.58, "base", W(0.84, CABINET_TOP + 0.05, 0.10))])
    return Script(keys=keys, scene="kitchen", objects=(ob,),
                  subacts=((0.12, "reaching"), (0.24, "opening"), (0.34, "reaching"),
                           (0.58, "moving"), (0.68, "placing"), (0.88, "closing"), (1.0, "null")))


def cereal() -> Script:
    """Lift the cereal box over the bowl and pour with a big tilt (elbow up)."""
    top = TABLE_TOP
    box_at = W(0.30, top + 0.13, 0.40)
    grasp = W(0.30, top + 0.16, 0.38)
    over, pour = W(0.02, top + 0.32, 0.36), W(-0.02, top + 0.36, 0.34)
    keys = (K(0.0, rh=REST_A, lh=REST_P, bend=0, tilt=0, relbow=0, lean=0),
            K(0.14, rh=grasp, bend=18),
            K(0.20, lh=W(-0.12, top + 0.06, 0.36)),
            K(0.28, rh=over, bend=8, tilt=0, relbow=0, lean=0),
            K(0.40, rh=pour, tilt=105, relbow=1, lean=side_deg(-10)),
            K(0.62, tilt=110, relbow=1),
            K(0.72, rh=over, tilt=0, relbow=0, lean=0),
            K(0.80, lh=W(-0.12, top + 0.06, 0.36)),
            K(0.86, rh=grasp, bend=18),
            K(1.0, rh=REST_A, lh=REST_P, bend=0))
    oscs = (Osc("rh", amp=(0.0, 0.012, 0.0), period=8, window=(0.42, 0.62)),)
    box = _obj("box", dict(shape="carton", color=(30, 160, 230), size=(0.16, 0.26),
                           color2=(40, 40, 180)),
               [(0.0, "base", box_at), (0.14, "rh", (0.0, -0.03, 0.03)), (0.86, "base", box_at)],
               angle="tilt")
    bowl = _obj("bowl", dict(shape="bowl", color=(205, 205, 215), size=(0.16, 0.07),
                             color2=(225, 225, 230)),
                [(0.0, "base", W(-0.10, top + 0.035, 0.40))])
    return Script(keys=keys, scene="kitchen", oscs=oscs, objects=(box, bowl),
                  subacts=((0.14, "reaching"), (0.34, "moving"), (0.66, "pouring"),
                           (0.86, "moving"), (1.0, "placing")))


def take_food() -> Script:
    """Step and lean far to the active side, take food from the cabinet, bring it to the table."""
    food_at = W(0.80, CABINET_TOP + 0.09, 0.34)
    keys = (K(0.0, rh=REST_A, lh=REST_P, x=0, lean=0, twist=0, bend=0),
            K(0.25, rh=W(0.80, CABINET_TOP + 0.12, 0.32), lean=side_deg(25), twist=side_deg(15),
              x=_toward(0.10)),
            K(0.35, rh=W(0.80, CABINET_TOP + 0.14, 0.32)),
            K(0.55, rh=W(0.30, 1.15, 0.30), lean=side_deg(8), twist=0, x=0),
            K(0.72, rh=W(0.0, TABLE_TOP + 0.11, 0.38), bend=20, lean=0),
            K(0.84, rh=W(0.0, TABLE_TOP + 0.13, 0.36), bend=18),
            K(1.0, rh=REST_A, bend=0))
    ob = _obj("milk", dict(shape="carton", color=(240, 240, 240), size=(0.08, 0.18),
                           color2=(180, 100, 30)),
              [(0.0, "base", food_at), (0.30, "rh", (0.0, -0.02, 0.03)),
               (0.74, "base", W(0.0, TABLE_TOP + 0.09, 0.38))])
    return Script(keys=keys, scene="kitchen", objects=(ob,),
                  subacts=((0.30, "reaching"), (0.70, "moving"), (0.80, "placing"), (1.0, "null")))


def reach_shelf() -> Script:
    """Reach up to the wall shelf at the active side, take a box, put it on the table."""
    item_at = W(0.80, SHELF + 0.05, 0.08)
    keys = (K(0.0, rh=REST_A, lh=REST_P, lean=0, twist=0, bend=0),
            K(0.28, rh=W(0.78, SHELF + 0.08, 0.10), lean=side_deg(15), twist=side_deg(10)),
            K(0.36, rh=W(0.78, SHELF + 0.10, 0.12)),
            K(0.60, rh=CHEST, lean=0, twist=0),
            K(0.76, rh=W(0.02, TABLE_TOP + 0.08, 0.38), bend=20),
            K(1.0, rh=REST_A, bend=0))
    ob = _obj("box", dict(shape="box", color=(180, 80, 160), size=(0.12, 0.09)),
              [(0.0, "base", item_at), (0.32, "rh", (0.0, -0.03, 0.02)),
               (0.76, "base", W(0.02, TABLE_TOP + 0.045, 0.38))])
    return Script(keys=keys, scene="kitchen", objects=(ob,))


def phone(scene: str, posture: str = "fixed") -> Script:
    """Hand with a phone at the ear, the other hand gesturing."""
    rest_a, rest_p = (LAP_A, LAP_P) if posture == "flex" else (REST_A, REST_P)
    keys = (K(0.0, rh=rest_a, lh=rest_p, nod=0, turn=0),
            K(0.15, rh=EAR, nod=5, turn=side_deg(10)),
            K(0.32, lh=P(0.05, -0.35, 0.25)), K(0.50, lh=P(0.16, -0.28, 0.30)),
            K(0.68, lh=P(0.04, -0.40, 0.22)),
            K(0.85, rh=EAR, lh=rest_p, nod=5, turn=side_deg(10)),
            K(1.0, rh=rest_a, nod=0, turn=0))
    oscs = (Osc("x", amp=0.02, period=40),) if posture == "fixed" else ()
    ob = _obj("phone", PHONE, [(0.0, "rh", (0.03, 0.0, 0.0))])
    return Script(keys=keys, scene=scene, oscs=oscs, objects=(ob,), posture=posture)


def whiteboard() -> Script:
    """Face the whiteboard (back to the camera) and write strokes high in front."""
    keys = (K(0.0, rh=REST_A, lh=REST_P, yaw=165, z=-0.55),
            K(0.15, rh=A(-0.05, 0.12, 0.50)), K(0.35, rh=A(-0.26, 0.10, 0.50)),
            K(0.55, rh=A(0.06, 0.02, 0.50)), K(0.75, rh=A(-0.20, 0.00, 0.50)),
            K(0.86, rh=A(0.00, -0.02, 0.48)), K(1.0, rh=REST_A))
    oscs = (Osc("rh", amp=(0.0, 0.015, 0.0), period=5, window=(0.15, 0.85)),)
    ob = _obj("marker", dict(shape="stick", color=(40, 40, 200), size=(0.02, 0.12),
                             color2=(30, 30, 30)), [(0.0, "rh", (0.0, 0.0, 0.03))], angle=30.0)
    return Script(keys=keys, scene="whiteboard", oscs=oscs, objects=(ob,))


def at_mouth_fast(scene: str) -> Script:
    """Brush teeth: hand at the mouth with a quick side-to-side oscillation."""
    keys = (K(0.0, rh=REST_A, lh=REST_P, nod=0), K(0.15, rh=MOUTH, nod=5),
            K(0.20, lh=W(-0.30, TABLE_TOP + 0.04, 0.36)),
            K(0.80, lh=W(-0.30, TABLE_TOP + 0.04, 0.36)),
            K(0.85, rh=MOUTH, nod=5), K(1.0, rh=REST_A, lh=REST_P, nod=0))
    oscs = (Osc("rh", amp=(0.025, 0.0, 0.0), period=5, window=(0.2, 0.8)),)
    ob = _obj("toothbrush", dict(shape="stick", color=(230, 120, 40), size=(0.02, 0.16),
                                 color2=(250, 250, 250)), [(0.0, "rh", (0.05, 0.0, 0.03))],
              angle=90.0)
    return Script(keys=keys, scene=scene, oscs=oscs, objects=(ob,))


def contact_lenses(scene: str) -> Script:
    """Hands slowly to one eye, back to the lens case, then to the other eye."""
    case = P(-0.12, 0.02, 0.22)
    keys = (K(0.0, rh=REST_A, lh=REST_P, nod=0),
            K(0.18, rh=A(-0.10, -0.02, 0.26), lh=case, nod=5),
            K(0.32, rh=EYE), K(0.45, rh=A(-0.13, 0.22, 0.14)),
            K(0.55, rh=A(-0.10, -0.02, 0.26)), K(0.70, rh=A(-0.30, 0.24, 0.13)),
            K(0.82, rh=A(-0.28, 0.22, 0.14), lh=case),
            K(1.0, rh=REST_A, lh=REST_P, nod=0))
    ob = _obj("lens_case", dict(shape="rect", color=(240, 240, 240), size=(0.06, 0.03),
                                color2=(200, 160, 60)), [(0.0, "lh", (0.0, 0.0, 0.03))])
    return Script(keys=keys, scene=scene, objects=(ob,))


def couch_relax() -> Script:
    """Seated: lean back, stretch both arms up, then hands behind the head."""
    keys = (K(0.0, sit=1, bend=5, rh=LAP_A, lh=LAP_P, relbow=0, lelbow=0, nod=0),
            K(0.25, bend=-12),
            K(0.45, rh=A(0.12, 0.50, 0.05), lh=P(0.12, 0.50, 0.05), relbow=0.6, lelbow=0.6,
              bend=-18),
            K(0.70, rh=A(-0.13, 0.25, -0.10), lh=P(-0.13, 0.25, -0.10), relbow=1, lelbow=1,
              bend=-24),
            K(1.0, rh=A(-0.13, 0.25, -0.10), lh=P(-0.13, 0.25, -0.10), nod=-6, bend=-26))
    return Script(keys=keys, scene="living",
                  subacts=((0.30, "leaning"), (0.55, "stretching"), (1.0, "resting")))


def cooking(fast: bool) -> Script:
    """Same pose over the counter holding a utensil: fast small vertical
    chopping (period 5 frames) or a slow small stirring circle (period 20)."""
    top = TABLE_TOP
    spot, hold = W(-0.02, top + 0.09, 0.38), W(-0.26, top + 0.05, 0.38)
    keys = (K(0.0, rh=REST_A, lh=REST_P, bend=0), K(0.15, rh=spot, lh=hold, bend=18),
            K(0.85, rh=spot, lh=hold, bend=18), K(1.0, rh=REST_A, lh=REST_P, bend=0))
    if fast:
        oscs = (Osc("rh", amp=(0.0, 0.03, 0.0), period=5, window=(0.2, 0.8)),)
    else:
        oscs = (Osc("rh", amp=(0.035, 0.0, 0.0), amp_cos=(0.0, 0.0, 0.035), period=20,
                    window=(0.2, 0.8)),)
    ut = _obj("utensil", UTENSIL, [(0.0, "rh", (0.0, -0.06, 0.03))], angle=10.0)
    board = _obj("board", dict(shape="rect", color=(60, 110, 160), size=(0.32, 0.025)),
                 [(0.0, "base", W(-0.08, top + 0.012, 0.42))])
    return Script(keys=keys, scene="kitchen", oscs=oscs, objects=(board, ut))


def pill_container() -> Script:
    """Both hands at the chest twisting the cap of a pill bottle, then apart."""
    keys = (K(0.0, rh=REST_A, lh=REST_P, bend=0, nod=0),
            K(0.20, rh=A(-0.15, -0.14, 0.30), lh=P(-0.12, -0.20, 0.30), bend=8, nod=15),
            K(0.68, rh=A(-0.15, -0.14, 0.30), lh=P(-0.12, -0.20, 0.30)),
            K(0.80, rh=A(0.05, -0.18, 0.30), lh=P(-0.10, -0.22, 0.32)),
            K(1.0, rh=REST_A, lh=REST_P, bend=0, nod=0))
    oscs = (Osc("rh", amp=(0.015, 0.0, 0.0), amp_cos=(0.0, 0.0, 0.015), period=10,
                window=(0.25, 0.65)),)
    bottle = _obj("pill_bottle", PILLS, [(0.0, "lh", (0.0, 0.03, 0.03))])
    return Script(keys=keys, scene="kitchen", oscs=oscs, objects=(bottle,))


def computer() -> Script:
    """Seated at the desk typing (fast tiny finger taps), once reaching for the mouse."""
    kb_r, kb_l, mouse = W(0.10, DESK_TOP + 0.04, 0.38), W(-0.14, DESK_TOP + 0.04, 0.38), \
        W(0.34, DESK_TOP + 0.03, 0.36)
    keys = (K(0.0, sit=1, rh=LAP_A, lh=LAP_P, nod=0),
            K(0.10, rh=kb_r, lh=kb_l, nod=10), K(0.50, rh=kb_r),
            K(0.58, rh=mouse), K(0.70, rh=mouse), K(0.78, rh=kb_r),
            K(0.92, rh=kb_r, lh=kb_l, nod=10), K(1.0, rh=LAP_A, lh=LAP_P, nod=0))
    oscs = (Osc("lh", amp=(0.0, 0.012, 0.0), period=4, window=(0.12, 0.90)),
            Osc("rh", amp=(0.0, 0.012, 0.0), period=4, phase=0.5, window=(0.12, 0.48)))
    kb = _obj("keyboard", dict(shape="rect", color=(50, 50, 50), size=(0.40, 0.03)),
              [(0.0, "base", W(-0.02, DESK_TOP + 0.015, 0.40))])
    return Script(keys=keys, scene="office", oscs=oscs, objects=(kb,))


def drink_seated(obj: dict, name: str) -> Script:
    """Flexible posture: an object held all along, brought to the mouth twice."""
    keys = (K(0.0, rh=LAP_A, lh=LAP_P, nod=0), K(0.20, rh=CHEST),
            K(0.35, rh=MOUTH, nod=8), K(0.50, rh=CHEST, nod=0),
            K(0.62, rh=MOUTH, nod=8), K(0.78, rh=CHEST, nod=0), K(1.0, rh=LAP_A))
    ob = _obj(name, obj, [(0.0, "rh", HELD)])
    return Script(keys=keys, scene="living", objects=(ob,), posture="flex")


def hold_in_front(obj: dict, name: str) -> Script:
    """Flexible posture: an object held in both hands in front of the chest, looking at it."""
    keys = (K(0.0, rh=LAP_A, lh=LAP_P, nod=0), K(0.15, rh=HOLD_A, lh=HOLD_P, nod=20),
            K(0.85, rh=HOLD_A, lh=HOLD_P, nod=20), K(1.0, rh=LAP_A, lh=LAP_P, nod=0))
    oscs = (Osc("nod", amp=3.0, period=30, window=(0.15, 0.85)),)
    ob = _obj(name, obj, [(0.0, "hands", (0.0, 0.04, 0.03))])
    return Script(keys=keys, scene="living", oscs=oscs, objects=(ob,), posture="flex")


def write_or_type(fast: bool) -> Script:
    """Flexible posture: a pad held by the passive hand; the active hand types
    fast (period 4 frames, 1.5 cm) or writes slowly (period 24 frames)."""
    keys = (K(0.0, rh=LAP_A, lh=LAP_P, nod=0),
            K(0.15, rh=A(-0.16, -0.27, 0.34), lh=P(-0.08, -0.30, 0.32), nod=25),
            K(0.85, rh=A(-0.16, -0.27, 0.34), lh=P(-0.08, -0.30, 0.32), nod=25),
            K(1.0, rh=LAP_A, lh=LAP_P, nod=0))
    if fast:
        oscs = (Osc("rh", amp=(0.0, 0.015, 0.0), period=4, window=(0.18, 0.82)),)
    else:
        oscs = (Osc("rh", amp=(0.03, 0.0, 0.0), amp_cos=(0.0, 0.01, 0.0), period=24,
                    window=(0.18, 0.82)),)
    ob = _obj("pad", PAD, [(0.0, "lh", (-0.10, 0.02, 0.02))])
    return Script(keys=keys, scene="living", oscs=oscs, objects=(ob,), posture="flex")


def vacuum() -> Script:
    """Standing, bent, long slow back-and-forth strokes while drifting sideways."""
    keys = (K(0.0, rh=REST_A, lh=REST_P, bend=0), K(0.12, rh=A(0.0, -0.40, 0.38), bend=15),
            K(0.88, rh=A(0.0, -0.40, 0.38), bend=15), K(1.0, rh=REST_A, bend=0))
    oscs = (Osc("rh", amp=(0.0, 0.0, 0.15), period=20, window=(0.15, 0.85)),
            Osc("x", amp=0.10, period=44, window=(0.1, 0.9)))
    ob = _obj("vacuum", dict(shape="vacuum", color=(60, 60, 160), size=(0.035, 0.85)),
              [(0.0, "rh", (0.0, 0.0, 0.02))], angle=25.0)
    return Script(keys=keys, scene="living", oscs=oscs, objects=(ob,))


def cheer() -> Script:
    keys = (K(0.0, rh=LAP_A, lh=LAP_P), K(0.20, rh=A(0.15, 0.50, 0.10), lh=P(0.15, 0.50, 0.10)),
            K(0.80, rh=A(0.15, 0.50, 0.10), lh=P(0.15, 0.50, 0.10)), K(1.0, rh=LAP_A, lh=LAP_P))
    oscs = (Osc("rh", amp=(0.08, 0.0, 0.0), period=10, window=(0.22, 0.78)),
            Osc("lh", amp=(0.08, 0.0, 0.0), period=10, phase=0.5, window=(0.22, 0.78)))
    return Script(keys=keys, scene="living", oscs=oscs, posture="flex")


def sit_still() -> Script:
    keys = (K(0.0, rh=LAP_A, lh=LAP_P), K(1.0, rh=LAP_A, lh=LAP_P))
    oscs = (Osc("nod", amp=2.0, period=40), Osc("lean", amp=1.5, period=50))
    return Script(keys=keys, scene="living", oscs=oscs, posture="flex")


def toss_paper() -> Script:
    """Crumple a paper at the chest, draw the arm back and throw it forward."""
    keys = (K(0.0, rh=LAP_A, lh=LAP_P, relbow=0),
            K(0.15, rh=A(-0.13, -0.15, 0.30), lh=P(-0.13, -0.15, 0.30)),
            K(0.40, rh=A(-0.13, -0.15, 0.30), lh=P(-0.13, -0.15, 0.30), relbow=0),
            K(0.52, rh=A(0.10, 0.30, -0.12), lh=LAP_P, relbow=1),
            K(0.62, rh=A(0.0, 0.12, 0.55), relbow=0.3),
            K(0.75, rh=A(0.0, -0.30, 0.30), relbow=0), K(1.0, rh=LAP_A))
    oscs = (Osc("rh", amp=(0.015, 0.0, 0.0), period=6, window=(0.15, 0.40)),
            Osc("lh", amp=(0.015, 0.0, 0.0), period=6, phase=0.5, window=(0.15, 0.40)))
    ob = _obj("paper", dict(shape="ball", color=(245, 245, 245), size=(0.07, 0.07)),
              [(0.0, "hands", (0.0, 0.0, 0.04)), (0.45, "rh", (0.0, 0.0, 0.03)),
               (0.63, "hidden", None)])
    return Script(keys=keys, scene="living", oscs=oscs, objects=(ob,), posture="flex")


def lie_down() -> Script:
    """From seated, tip over sideways onto the sofa and lift the legs."""
    keys = (K(0.0, sit=1, rh=LAP_A, lh=LAP_P, lean=0, feet_up=0),
            K(0.30, lean=side_deg(-20)),
            K(0.62, lean=side_deg(-80), feet_up=1, rh=A(0.0, -0.30, 0.20), lh=P(-0.10, 0.20, 0.10)),
            K(1.0, lean=side_deg(-82), feet_up=1, rh=A(0.0, -0.30, 0.20), lh=P(-0.10, 0.20, 0.10)))
    return Script(keys=keys, scene="living")


def walk(scene: str) -> Script:
    """Walk across the room in profile (yaw 90)."""
    keys = (K(0.0, x=-0.8, yaw=90, stride=0, rh=REST_A, lh=REST_P), K(0.08, stride=1),
            K(0.92, stride=1), K(1.0, x=0.8, stride=0))
    oscs = (Osc("rh", amp=(0.0, 0.0, 0.14), period=18, window=(0.08, 0.92)),
            Osc("lh", amp=(0.0, 0.0, 0.14), period=18, phase=0.5, window=(0.08, 0.92)))
    return Script(keys=keys, scene=scene, oscs=oscs)


def guitar() -> Script:
    """Flexible posture: guitar at the belly, passive hand on the neck, fast strumming."""
    keys = (K(0.0, rh=LAP_A, lh=LAP_P), K(0.15, rh=A(-0.12, -0.34, 0.25), lh=P(0.20, -0.22, 0.30)),
            K(0.85, rh=A(-0.12, -0.34, 0.25), lh=P(0.20, -0.22, 0.30)), K(1.0, rh=LAP_A, lh=LAP_P))
    oscs = (Osc("rh", amp=(0.0, 0.04, 0.0), period=5, window=(0.2, 0.8)),)
    ob = _obj("guitar", dict(shape="guitar", color=(30, 90, 160), size=(0.30, 0.38),
                             color2=(20, 50, 90)), [(0.0, "torso", (0.02, -0.20, 0.16))],
              angle=200.0)
    return Script(keys=keys, scene="living", oscs=oscs, objects=(ob,), posture="flex")


def stand_up(scene: str = "living") -> Script:
    """From seated: lean forward, push on the knees, rise, straighten up."""
    keys = (K(0.0, sit=1, bend=5, rh=LAP_A, lh=LAP_P),
            K(0.30, sit=1, bend=38, rh=A(-0.02, -0.45, 0.32), lh=P(-0.02, -0.45, 0.32)),
            K(0.55, sit=0.45, bend=30),
            K(0.78, sit=0, bend=8, rh=REST_A, lh=REST_P),
            K(1.0, sit=0, bend=0))
    return Script(keys=keys, scene=scene,
                  subacts=((0.30, "leaning"), (0.78, "rising"), (1.0, "standing")))


# --------------------------------------------------------------------------- class tables
def _cad120():
    return (
        ClassDef("arranging_objects", at_table("box", fast=False), pair="cleaning_objects",
                 modality="F2", note="same pose as cleaning, slow small displacement"),
        ClassDef("cleaning_objects", at_table("cloth", fast=True), pair="arranging_objects",
                 modality="F2", note="same pose as arranging, fast small wiping"),
        ClassDef("having_meal", hand_to_mouth(BOWL, "bowl", sub="eating"),
                 pair="taking_medicine", modality="F1", note="bowl (orange)"),
        ClassDef("making_cereal", cereal(), note="lift and pour with a big tilt, elbow up"),
        ClassDef("microwaving_food", microwave(),
                 note="high reach to the side, door arcs, both-hand transfer"),
        ClassDef("picking_objects", pick_up(), note="deep bend and crouch"),
        ClassDef("stacking_objects", stack(), pair="unstacking_objects", modality="F3",
                 note="three boxes onto a growing stack"),
        ClassDef("taking_food", take_food(), note="step and lean far sideways"),
        ClassDef("taking_medicine", hand_to_mouth(PILLS, "medcinebox", sub="drinking"),
                 pair="having_meal", modality="F1", note="pill bottle (white, red cap)"),
        ClassDef("unstacking_objects", stack(), reverse=True, pair="stacking_objects",
                 modality="F3", note="stacking played backwards"),
    )


def _cad60():
    return (
        ClassDef("talking on the phone", phone("office"), note="hand at the ear"),
        ClassDef("writing on whiteboard", whiteboard(), note="back to the camera, arm high"),
        ClassDef("drinking water", hand_to_mouth(GLASS, "glass", "bathroom", "drinking"),
                 pair="rinsing mouth with water", modality="F1", note="glass (light blue)"),
        ClassDef("rinsing mouth with water", hand_to_mouth(MUG, "mug", "bathroom", "drinking"),
                 pair="drinking water", modality="F1", note="mug (red)"),
        ClassDef("brushing teeth", at_mouth_fast("bathroom"), note="fast oscillation at the mouth"),
        ClassDef("wearing contact lenses", contact_lenses("bathroom"), note="hands to the eyes"),
        ClassDef("talking on couch", couch_relax(), reverse=True, pair="relaxing on couch",
                 modality="F3", note="relaxing played backwards"),
        ClassDef("relaxing on couch", couch_relax(), pair="talking on couch", modality="F3",
                 note="lean back, stretch, hands behind the head"),
        ClassDef("cooking (chopping)", cooking(fast=True), pair="cooking (stirring)",
                 modality="F2", note="fast small vertical strokes"),
        ClassDef("cooking (stirring)", cooking(fast=False), pair="cooking (chopping)",
                 modality="F2", note="slow small circles"),
        ClassDef("opening pill container", pill_container(), note="both hands at the chest"),
        ClassDef("working on computer", computer(), note="seated at the desk, typing"),
    )


def _msr():
    return (
        ClassDef("drink", drink_seated(CUP, "cup"), pair="eat", modality="F1", note="cup (blue)"),
        ClassDef("eat", drink_seated(SNACK, "snack"), pair="drink", modality="F1",
                 note="snack (orange)"),
        ClassDef("read book", hold_in_front(BOOK, "book"), pair="play game", modality="F1",
                 note="large white book"),
        ClassDef("call cellphone", phone("living", posture="flex"), note="hand at the ear"),
        ClassDef("write on a paper", write_or_type(fast=False), pair="use laptop", modality="F2",
                 note="slow writing strokes"),
        ClassDef("use laptop", write_or_type(fast=True), pair="write on a paper", modality="F2",
                 note="fast tiny typing taps"),
        ClassDef("use vacuum cleaner", vacuum(), note="long strokes, drifting"),
        ClassDef("cheer up", cheer(), note="both arms up, waving"),
        ClassDef("sit still", sit_still(), note="almost static"),
        ClassDef("toss paper", toss_paper(), note="crumple then overhead throw"),
        ClassDef("play game", hold_in_front(GAME, "controller"), pair="read book", modality="F1",
                 note="small black controller"),
        ClassDef("lie down on sofa", lie_down(), note="torso tips over sideways"),
        ClassDef("walk", walk("living"), note="walks across in profile"),
        ClassDef("play guitar", guitar(), note="strumming at the belly"),
        ClassDef("stand up", stand_up(), pair="sit down", modality="F3",
                 note="seated to standing"),
        ClassDef("sit down", stand_up(), reverse=True, pair="stand up", modality="F3",
                 note="stand up played backwards"),
    )


def _manifest():
    return (
        ClassDef("drink", hand_to_mouth(CUP, "cup", sub="drinking"), pair="take_pills",
                 modality="F1", note="cup (blue)"),
        ClassDef("take_pills", hand_to_mouth(PILLS, "pill_bottle", sub="drinking"), pair="drink",
                 modality="F1", note="pill bottle (white, red cap)"),
        ClassDef("sit_down", stand_up(), reverse=True, pair="get_up", modality="F3",
                 note="get up played backwards"),
        ClassDef("get_up", stand_up(), pair="sit_down", modality="F3", note="seated to standing"),
        ClassDef("wipe_table", at_table("cloth", fast=True), pair="arrange_table", modality="F2",
                 note="fast small wiping"),
        ClassDef("arrange_table", at_table("box", fast=False), pair="wipe_table", modality="F2",
                 note="slow small displacement"),
        ClassDef("pick_up", pick_up(), note="deep bend and crouch"),
        ClassDef("reach_shelf", reach_shelf(), note="reach high to the side"),
        ClassDef("walk", walk("open"), note="walks across in profile"),
        ClassDef("use_telephone", phone("living"), note="hand at the ear"),
    )


CLASSES: Dict[str, Tuple[ClassDef, ...]] = {
    "cad120": _cad120(), "cad60": _cad60(), "msr_daily": _msr(), "manifest": _manifest(),
}
