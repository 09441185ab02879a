"""Rooms and furniture: per-subject textured backgrounds and per-activity scenes.

A *room* (wall, floor, wall decorations) belongs to a subject and is fixed
for all its videos; a *scene* (table, counter, sofa, desk...) belongs to an
activity and is placed relative to the subject's floor spot.  Paired classes
(see :mod:`data.synth`) share their scene, so that their backgrounds are
identical and only the person and the objects differ.

Furniture behind the person is baked into the background image; furniture
in front of it (tables, counters, cabinets) is pre-rendered into an overlay
that the renderer pastes between the lower body and the upper body -- a
two-layer painter's algorithm that is right for a person standing or sitting
behind a table (legs hidden, hands and objects above the table top visible).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np

from ..geometry import CameraModel
from ._body import base_to_camera

TABLE_TOP = 0.85      # kitchen table / bathroom counter height (m, scale 1)
DESK_TOP = 0.72       # office desk height
SEAT = 0.46           # chair / sofa seat height
CABINET_TOP = 1.04    # side cabinet (microwave stand) height
SHELF = 1.60          # wall shelf above the side cabinet


@dataclass(frozen=True)
class Item:
    """A piece of furniture: an axis-aligned box in the base frame.

    ``centre`` = (side, up, fwd) with side > 0 towards the active hand,
    ``size`` = (width along side, height, depth along fwd), metres for scale 1.
    ``kind``: ``box`` (top + front + the side facing the camera), ``table``
    (a slab on four legs), ``panel`` (front face only), ``basin`` (an ellipse
    on a counter top).  ``front`` items are drawn over the lower body.
    """

    kind: str
    centre: Tuple[float, float, float]
    size: Tuple[float, float, float]
    color: Tuple[int, int, int]
    front: bool = False
    color2: Tuple[int, int, int] | None = None


def _table(top, centre_side, fwd, width, depth, color):
    return Item("table", (centre_side, top - 0.02, fwd), (width, 0.04, depth), color, True,
                (int(color[0] * 0.6), int(color[1] * 0.6), int(color[2] * 0.6)))


SCENES: Dict[str, Tuple[Item, ...]] = {
    "kitchen": (
        _table(TABLE_TOP, 0.0, 0.55, 1.1, 0.5, (70, 110, 150)),
        Item("box", (0.85, CABINET_TOP / 2, 0.05), (0.44, CABINET_TOP, 0.55), (150, 165, 175),
             True),
        Item("box", (0.85, CABINET_TOP + 0.15, -0.05), (0.46, 0.30, 0.36), (60, 60, 64), True,
             (35, 30, 25)),
        Item("box", (0.85, SHELF - 0.02, 0.05), (0.50, 0.04, 0.30), (90, 120, 150), True),
        Item("box", (0.47, 0.09, 0.30), (0.30, 0.18, 0.30), (60, 100, 130), True),
        Item("box", (-0.9, 0.45, -0.9), (0.6, 0.9, 0.6), (120, 140, 160)),
    ),
    "bathroom": (
        Item("box", (0.0, TABLE_TOP / 2, 0.55), (0.9, TABLE_TOP, 0.45), (200, 200, 195), True),
        Item("basin", (0.05, TABLE_TOP, 0.55), (0.40, 0.0, 0.28), (230, 230, 230), True,
             (170, 165, 160)),
        Item("panel", (0.0, 1.45, -1.55), (0.7, 0.6, 0.02), (205, 190, 175), False, (90, 90, 90)),
    ),
    "office": (
        _table(DESK_TOP, 0.0, 0.55, 1.3, 0.6, (60, 80, 100)),
        Item("panel", (-0.38, DESK_TOP + 0.25, 0.72), (0.46, 0.32, 0.03), (35, 35, 35), True,
             (120, 90, 60)),
        Item("box", (0.0, SEAT / 2, -0.18), (0.46, SEAT, 0.44), (40, 40, 90)),
        Item("box", (0.0, SEAT + 0.28, -0.42), (0.46, 0.56, 0.06), (40, 40, 90)),
    ),
    "living": (
        Item("box", (0.0, SEAT / 2, -0.18), (1.9, SEAT, 0.72), (70, 90, 140)),
        Item("box", (0.0, 0.68, -0.48), (1.9, 0.44, 0.16), (60, 80, 125)),
        Item("box", (1.02, 0.32, -0.18), (0.16, 0.64, 0.72), (55, 70, 115)),
        Item("box", (-1.02, 0.32, -0.18), (0.16, 0.64, 0.72), (55, 70, 115)),
    ),
    "whiteboard": (
        Item("panel", (0.0, 1.40, -1.20), (1.7, 0.95, 0.02), (245, 245, 245), False, (80, 80, 80)),
    ),
    "open": (),
}


def _rgb(rng, lo, hi):
    return tuple(int(v) for v in rng.integers(lo, hi, size=3))


@dataclass(frozen=True)
class View:
    """How a subject's base frame lands in the output image."""

    camera: CameraModel
    base: Tuple[float, float, float, float]   # (x, floor_y, z, yaw_deg)
    scale: float                              # subject scale (scene scales with it)
    mirrored: bool
    size: Tuple[int, int]                     # output (width, height)

    @property
    def pixel_scale(self) -> Tuple[float, float]:
        return (self.size[0] / self.camera.image_size[0], self.size[1] / self.camera.image_size[1])

    def project(self, cam_xyz: np.ndarray) -> np.ndarray:
        """Camera-space metres -> output pixels (..., 2)."""
        uv = self.camera.project(cam_xyz).astype(np.float64)
        return uv * np.asarray(self.pixel_scale)

    def scene_to_camera(self, side_up_fwd: np.ndarray) -> np.ndarray:
        p = np.asarray(side_up_fwd, np.float64) * self.scale
        l = -p[..., 0] if not self.mirrored else p[..., 0]
        return base_to_camera(np.stack([l, p[..., 1], p[..., 2]], -1), self.base)

    def pixels_per_metre(self, cam_xyz: np.ndarray) -> np.ndarray:
        """Horizontal pixels per metre at camera-space points (...,)."""
        p = np.asarray(cam_xyz, np.float64)
        d = self.project(p + np.array([0.05, 0.0, 0.0])) - self.project(p)
        return np.abs(d[..., 0]) / 0.05


def _poly(img, pts, color, cv2, outline=None):
    p = np.round(np.asarray(pts) * 8).astype(np.int32)
    if not np.isfinite(pts).all():
        return
    cv2.fillConvexPoly(img, p, color, cv2.LINE_AA, 3)
    if outline is not None:
        cv2.polylines(img, [p], True, outline, 1, cv2.LINE_AA, 3)


def _shade(c, f):
    return tuple(int(min(255, max(0, v * f))) for v in c)


def draw_item(img, item: Item, view: View, cv2) -> None:
    """Draw one piece of furniture into ``img``."""
    cs, cu, cf = item.centre
    w, h, d = item.size
    if item.kind == "table":
        top = Item("box", item.centre, item.size, item.color)
        legh = cu - h / 2
        for sx in (-1, 1):
            for sf in (-1, 1):
                leg = Item("box", (cs + sx * (w / 2 - 0.05), legh / 2, cf + sf * (d / 2 - 0.05)),
                           (0.04, legh, 0.04), item.color2 or item.color)
                draw_item(img, leg, view, cv2)
        draw_item(img, top, view, cv2)
        return
    if item.kind == "basin":
        n = 24
        a = np.linspace(0, 2 * np.pi, n, endpoint=False)
        ring = np.stack([cs + w / 2 * np.cos(a), np.full(n, cu + 0.002),
                         cf + d / 2 * np.sin(a)], -1)
        uv = view.project(view.scene_to_camera(ring))
        _poly(img, uv, item.color, cv2, item.color2)
        inner = np.stack([cs + w / 3 * np.cos(a), np.full(n, cu + 0.003),
                          cf + d / 3 * np.sin(a)], -1)
        _poly(img, view.project(view.scene_to_camera(inner)), item.color2 or item.color, cv2)
        return
    s0, s1, u0, u1, f0, f1 = cs - w / 2, cs + w / 2, cu - h / 2, cu + h / 2, cf - d / 2, cf + d / 2

    def face(pts):
        return view.project(view.scene_to_camera(np.asarray(pts, np.float64)))

    outline = _shade(item.color, 0.55)
    front = face([(s0, u0, f1), (s1, u0, f1), (s1, u1, f1), (s0, u1, f1)])
    if item.kind == "panel":
        _poly(img, front, item.color2 or outline, cv2)
        inset = face([(s0 + 0.03, u0 + 0.03, f1), (s1 - 0.03, u0 + 0.03, f1),
                      (s1 - 0.03, u1 - 0.03, f1), (s0 + 0.03, u1 - 0.03, f1)])
        _poly(img, inset, item.color, cv2)
        return
    # the side face the camera sees: compare the box sides with the camera's side coordinate
    sides = sorted((s0, s1), key=lambda ss: -np.linalg.norm(
        view.scene_to_camera(np.array([ss, cu, cf]))))      # farther side first
    for s_side in sides:
        pts = face([(s_side, u0, f0), (s_side, u0, f1), (s_side, u1, f1), (s_side, u1, f0)])
        _poly(img, pts, _shade(item.color, 0.72), cv2, outline)
    top_centre = view.scene_to_camera(np.array([cs, u1, cf]))
    if view.camera.kind != "pinhole" or top_centre[1] < 0:   # the camera sees the top face
        _poly(img, face([(s0, u1, f0), (s1, u1, f0), (s1, u1, f1), (s0, u1, f1)]),
              _shade(item.color, 1.18), cv2, outline)
    _poly(img, front, item.color, cv2, outline)
    if item.color2 is not None:     # a door / window on the front face (microwave)
        win = face([(s0 + 0.05 * w, u0 + 0.15 * h, f1), (s0 + 0.7 * w, u0 + 0.15 * h, f1),
                    (s0 + 0.7 * w, u1 - 0.15 * h, f1), (s0 + 0.05 * w, u1 - 0.15 * h, f1)])
        _poly(img, win, item.color2, cv2)


def room_background(rng: np.random.Generator, view: View, cv2) -> np.ndarray:
    """A subject's textured room (wall tiles, floor planks, decorations), BGR uint8."""
    W, H = view.size
    wall = np.array(_rgb(rng, 120, 230), np.float32)
    floor = np.array(_rgb(rng, 50, 140), np.float32)
    img = np.empty((H, W, 3), np.float32)
    img[:] = wall
    # low-frequency stains and per-tile brightness: texture for the appearance features
    lo = rng.normal(0, 1, (max(2, H // 48), max(2, W // 48), 3)).astype(np.float32)
    img += cv2.resize(lo, (W, H), interpolation=cv2.INTER_CUBIC) * 10
    ts = max(6, int(round(rng.integers(14, 30) * W / 320)))
    tiles = rng.normal(0, 1, (H // ts + 1, W // ts + 1, 1)).astype(np.float32)
    tiles = cv2.resize(tiles, ((W // ts + 1) * ts, (H // ts + 1) * ts),
                       interpolation=cv2.INTER_NEAREST)[:H, :W]
    img += (tiles * 7)[..., None] if tiles.ndim == 2 else tiles * 7
    img[::ts, :] *= 0.85
    img[:, ::ts] *= 0.85
    # floor below the line where it meets the back wall (1.6 m behind the subject)
    back = view.scene_to_camera(np.array([[0.0, 0.0, -1.6]]))
    fy = int(np.clip(view.project(back)[0, 1], 0, H))
    if fy < H:
        rows = np.arange(fy, H)
        plank = max(3, int(round(10 * H / 240)))
        stripes = ((rows - fy) // plank % 2).astype(np.float32) * 14 - 7
        img[fy:] = floor + stripes[:, None, None]
        img[fy:] += rng.normal(0, 1, (H - fy, 1, 3)).astype(np.float32) * 6
        img[fy:fy + max(1, H // 120)] *= 0.6
    # decorations: frames and cupboards on the wall
    for _ in range(int(rng.integers(2, 5))):
        w = int(rng.integers(W // 10, W // 4))
        h = int(rng.integers(H // 10, H // 4))
        x0 = int(rng.integers(0, W - w))
        y0 = int(rng.integers(0, max(1, fy - h)))
        col = np.array(_rgb(rng, 30, 220), np.float32)
        img[y0:y0 + h, x0:x0 + w] = col
        img[y0:y0 + h, x0:x0 + w] += np.linspace(-6, 6, h, dtype=np.float32)[:, None, None]
        b = max(1, W // 160)
        img[y0:y0 + b, x0:x0 + w] *= 0.5
        img[y0 + h - b:y0 + h, x0:x0 + w] *= 0.5
        img[y0:y0 + h, x0:x0 + b] *= 0.5
        img[y0:y0 + h, x0 + w - b:x0 + w] *= 0.5
    return np.clip(img, 0, 255).astype(np.uint8)


def scene_layers(scene: str, background: np.ndarray, view: View, cv2):
    """(background with the scene's back furniture, front overlay, front mask)."""
    try:
        items = SCENES[scene]
    except KeyError:
        raise ValueError(f"unknown scene {scene!r}; expected one of {sorted(SCENES)}") from None
    bg = background.copy()
    back = sorted((i for i in items if not i.front), key=lambda i: i.centre[2])
    for it in back:
        draw_item(bg, it, view, cv2)
    front = [i for i in items if i.front]
    if not front:
        return bg, None, None
    over = bg.copy()
    for it in sorted(front, key=lambda i: i.centre[2]):
        draw_item(over, it, view, cv2)
    mask = (np.any(over != bg, axis=-1)).astype(np.uint8) * 255
    return bg, over, mask
