"""Rendering a posed person and its objects into RGB frames with OpenCV.

The person is drawn from the *clean* camera-space joints through the
dataset's camera model (so the written skeleton, a noisy measurement of the
same joints, projects onto the drawn body): limbs are thick anti-aliased
lines with a dark outline and a highlight (cheap shading), the torso a
polygon, the head a circle with hair (the back of the head when the torso
faces away from the camera), hands skin-coloured discs.  Primitives are
depth-sorted (far first) in two layers with the front furniture pasted in
between (see :mod:`data.synth._scene`).  Every frame gets a small global
brightness change (auto-exposure flicker, sigma 1.5 grey levels) -- no
per-pixel noise, which would make PNG frames several times larger and slower
to write.  Sub-pixel coordinates (``shift`` = 3) keep
slow and small motions smooth, which matters to optical flow.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, List, Tuple

import numpy as np

from ._body import JI
from ._scene import View

SHIFT = 3
ONE = 1 << SHIFT

# radii in metres
_R = {"upper_arm": 0.048, "forearm": 0.038, "thigh": 0.072, "shin": 0.052, "foot": 0.040,
      "neck": 0.050, "hand": 0.045, "head": 0.105, "pelvis": 0.075}

_LOWER = (("hip_left", "knee_left", "thigh", "pants"), ("knee_left", "ankle_left", "shin", "pants"),
          ("ankle_left", "foot_left", "foot", "shoes"),
          ("hip_right", "knee_right", "thigh", "pants"),
          ("knee_right", "ankle_right", "shin", "pants"),
          ("ankle_right", "foot_right", "foot", "shoes"),
          ("hip_left", "hip_right", "pelvis", "pants"))
_UPPER = (("shoulder_center", "head", "neck", "skin"),
          ("shoulder_left", "elbow_left", "upper_arm", "shirt"),
          ("elbow_left", "wrist_left", "forearm", "skin"),
          ("shoulder_right", "elbow_right", "upper_arm", "shirt"),
          ("elbow_right", "wrist_right", "forearm", "skin"))
_LOWER_IDX = [(JI[a], JI[b], _R[r], c) for a, b, r, c in _LOWER]
_UPPER_IDX = [(JI[a], JI[b], _R[r], c) for a, b, r, c in _UPPER]


@dataclass(frozen=True)
class Look:
    """A subject's colours (BGR)."""

    skin: Tuple[int, int, int]
    shirt: Tuple[int, int, int]
    pants: Tuple[int, int, int]
    hair: Tuple[int, int, int]
    shoes: Tuple[int, int, int] = (30, 30, 35)


def _shade(c, f):
    return tuple(int(min(255, max(0, v * f))) for v in c)


def _pt(p):
    return (int(round(p[0] * ONE)), int(round(p[1] * ONE)))


class VideoRenderer:
    """Draws the frames of one video.

    Parameters
    ----------
    view : View
        Camera, subject base and output size.
    look : Look
        The subject's colours.
    background : ndarray (H, W, 3) uint8
        Room plus the scene's back furniture.
    overlay, mask : ndarray or None
        The scene's front furniture and where it is.
    """

    def __init__(self, view: View, look: Look, background, overlay, mask):
        import cv2
        self.cv2 = cv2
        self.view = view
        self.look = look
        self.bg = background
        self.overlay = overlay
        self.mask = mask
        self.cols = {k: (getattr(look, k), _shade(getattr(look, k), 0.55),
                         _shade(getattr(look, k), 1.3))
                     for k in ("skin", "shirt", "pants", "shoes")}

    # -------------------------------------------------------------- primitives
    def _limb(self, img, a, b, rad_px, cols):
        cv2 = self.cv2
        t = max(2, int(round(2 * rad_px)))
        col, dark, light = cols
        cv2.line(img, a, b, dark, t + 2, cv2.LINE_AA, SHIFT)
        cv2.line(img, a, b, col, t, cv2.LINE_AA, SHIFT)
        if t >= 6:
            o = int(t * ONE / 4)
            cv2.line(img, (a[0] - o, a[1] - o // 2), (b[0] - o, b[1] - o // 2), light,
                     max(1, t // 4), cv2.LINE_AA, SHIFT)

    def _disc(self, img, c, rad_px, col, outline):
        cv2 = self.cv2
        r = max(1, int(round(rad_px * ONE)))
        cv2.circle(img, c, r + ONE, outline, -1, cv2.LINE_AA, SHIFT)
        cv2.circle(img, c, r, col, -1, cv2.LINE_AA, SHIFT)

    def _head(self, img, c, rad_px, facing_z):
        cv2 = self.cv2
        skin, dark, _ = self.cols["skin"]
        hair = self.look.hair
        r = max(2, int(round(rad_px * ONE)))
        if facing_z > 0.35:                       # seen from behind: all hair
            cv2.circle(img, c, r + ONE, _shade(hair, 0.6), -1, cv2.LINE_AA, SHIFT)
            cv2.circle(img, c, r, hair, -1, cv2.LINE_AA, SHIFT)
            return
        cv2.circle(img, c, r + ONE, dark, -1, cv2.LINE_AA, SHIFT)
        cv2.circle(img, c, r, skin, -1, cv2.LINE_AA, SHIFT)
        rr = r // ONE + 1
        cv2.ellipse(img, (c[0], c[1] - r // 6), (r, int(r * 0.8)), 0, 180, 360, hair, -1,
                    cv2.LINE_AA, SHIFT)
        if rr >= 6 and facing_z < -0.3:           # eyes when facing the camera
            e = r // 3
            for sx in (-1, 1):
                cv2.circle(img, (c[0] + sx * e, c[1] + r // 10), max(ONE, r // 9), (40, 30, 30),
                           -1, cv2.LINE_AA, SHIFT)

    def _torso(self, img, uv, ppm):
        cv2 = self.cv2
        sl, sr = uv[JI["shoulder_left"]], uv[JI["shoulder_right"]]
        hl, hr = uv[JI["hip_left"]], uv[JI["hip_right"]]
        d = sl - sr
        n = np.hypot(*d)
        d = d / n if n > 1e-6 else np.array([1.0, 0.0])
        e = d * 0.055 * ppm
        dh = hl - hr
        nh = np.hypot(*dh)
        dh = dh / nh if nh > 1e-6 else d
        eh = dh * 0.06 * ppm
        mid = uv[JI["torso"]]
        mw = d * (0.5 * n + 0.07 * ppm)
        pts = np.array([sl + e, mid + mw, hl + eh, hr - eh, mid - mw, sr - e])
        p = np.round(pts * ONE).astype(np.int32)
        col, dark, light = self.cols["shirt"]
        cv2.fillPoly(img, [p], col, cv2.LINE_AA, SHIFT)
        cv2.polylines(img, [p], True, dark, 2, cv2.LINE_AA, SHIFT)
        q = np.round(np.array([sl + e * 0.6, (sl + hl) / 2 + eh * 0.3]) * ONE).astype(np.int32)
        cv2.line(img, tuple(q[0]), tuple(q[1]), light, max(1, int(0.03 * ppm)), cv2.LINE_AA, SHIFT)

    def _object(self, img, ob, c, ppm, angle):
        cv2 = self.cv2
        w = max(2.0, ob.size[0] * ppm)
        h = max(2.0, ob.size[1] * ppm)
        col = ob.color
        c2 = ob.color2 if ob.color2 is not None else _shade(col, 0.6)
        dark = _shade(col, 0.45)
        cx, cy = c
        shape = ob.shape

        def rect(cx, cy, w, h, ang, color, outline=None):
            box = cv2.boxPoints(((float(cx), float(cy)), (float(w), float(h)), float(ang)))
            p = np.round(box * ONE).astype(np.int32)
            cv2.fillConvexPoly(img, p, color, cv2.LINE_AA, SHIFT)
            if outline is not None:
                cv2.polylines(img, [p], True, outline, 1, cv2.LINE_AA, SHIFT)

        def ell(cx, cy, ax, ay, a0, a1, color, thick=-1):
            cv2.ellipse(img, _pt((cx, cy)), (max(1, int(ax * ONE)), max(1, int(ay * ONE))), 0,
                        a0, a1, color, thick, cv2.LINE_AA, SHIFT)

        if shape in ("rect", "box", "book", "pad", "carton", "phone"):
            rect(cx, cy, w, h, angle, col, dark)
            a = np.deg2rad(angle)
            if shape == "box":        # lid band
                rect(cx + np.sin(a) * h * 0.35, cy - np.cos(a) * h * 0.35, w, h * 0.3, angle,
                     _shade(col, 1.25))
            elif shape == "book":     # spine
                rect(cx - np.cos(a) * w * 0.42, cy - np.sin(a) * w * 0.42, w * 0.16, h, angle, c2)
            elif shape in ("pad", "phone"):   # screen
                rect(cx, cy, w * 0.8, h * 0.75, angle, c2)
            elif shape == "carton" or ob.color2 is not None:   # label band
                rect(cx, cy, w, h * 0.3, angle, c2)
        elif shape == "stick":
            rect(cx, cy, w, h, angle, col, dark)
            a = np.deg2rad(angle)
            rect(cx + np.sin(a) * h * 0.4, cy - np.cos(a) * h * 0.4, w * 1.6, h * 0.2, angle, c2)
        elif shape == "bowl":
            ell(cx, cy, w / 2, h, 0, 180, col)
            ell(cx, cy, w / 2, h * 0.25, 0, 360, c2)
            ell(cx, cy, w / 2, h, 0, 180, dark, 1)
        elif shape == "plate":
            ell(cx, cy, w / 2, h / 2, 0, 360, col)
            ell(cx, cy, w / 3, h / 3, 0, 360, c2)
        elif shape == "bottle":
            rect(cx, cy + h * 0.12, w, h * 0.76, 0, col, dark)
            rect(cx, cy - h * 0.38, w * 0.8, h * 0.24, 0, c2)
        elif shape == "cup":
            p = np.array([[cx - w / 2, cy - h / 2], [cx + w / 2, cy - h / 2],
                          [cx + w * 0.38, cy + h / 2], [cx - w * 0.38, cy + h / 2]])
            q = np.round(p * ONE).astype(np.int32)
            cv2.fillConvexPoly(img, q, col, cv2.LINE_AA, SHIFT)
            cv2.polylines(img, [q], True, dark, 1, cv2.LINE_AA, SHIFT)
            ell(cx + w * 0.55, cy, w * 0.22, h * 0.22, 0, 360, c2, max(1, int(w / 6)))
        elif shape in ("ellipse", "ball"):
            ell(cx, cy, w / 2, h / 2, 0, 360, col)
            ell(cx, cy, w / 2, h / 2, 0, 360, dark, 1)
            if ob.color2 is not None:
                for sx in (-1, 1):
                    ell(cx + sx * w * 0.25, cy, max(1.0, h * 0.15), max(1.0, h * 0.15), 0, 360, c2)
        elif shape == "guitar":
            a = np.deg2rad(angle)
            d = np.array([np.cos(a), np.sin(a)])
            neck_end = np.array([cx, cy]) + d * h * 1.1
            cv2.line(img, _pt((cx, cy)), _pt(neck_end), c2, max(2, int(w * 0.12)), cv2.LINE_AA,
                     SHIFT)
            ell(cx, cy, w / 2, h / 2, 0, 360, col)
            ell(cx, cy, w / 2, h / 2, 0, 360, dark, 1)
            ell(cx, cy, w / 8, w / 8, 0, 360, (20, 20, 20))
        elif shape == "vacuum":
            a = np.deg2rad(angle)
            end = np.array([cx, cy]) + np.array([np.sin(a), np.cos(a)]) * h
            cv2.line(img, _pt((cx, cy)), _pt(end), (90, 90, 90), max(2, int(w)), cv2.LINE_AA,
                     SHIFT)
            rect(end[0], end[1], w * 6, w * 2.5, 0, col, dark)
        else:
            raise ValueError(f"unknown object shape {shape!r} ({ob.name})")

    # -------------------------------------------------------------- frames
    def frames(self, joints_cam, facing_cam, objects, rng) -> Iterator[np.ndarray]:
        """Yield BGR uint8 frames.

        joints_cam : (T, 21, 3) camera-space metres; facing_cam : (T, 3);
        objects : list of (Obj, pos_cam (T, 3), visible (T,), angle (T,));
        rng : generator of the per-frame brightness flicker.
        """
        cv2 = self.cv2
        view = self.view
        T = joints_cam.shape[0]
        uv = view.project(joints_cam)
        ppm = view.pixels_per_metre(joints_cam)
        z = joints_cam[..., 2]
        objs = []
        for ob, pos, vis, ang in objects:
            objs.append((ob, view.project(pos), view.pixels_per_metre(pos), pos[:, 2], vis, ang))
        flicker = np.round(rng.normal(0.0, 1.5, T)).astype(int)
        lower_cols = [self.cols[c] for *_, c in _LOWER_IDX]
        upper_cols = [self.cols[c] for *_, c in _UPPER_IDX]
        for t in range(T):
            img = self.bg.copy()
            u, p, zz = uv[t], ppm[t], z[t]
            pts = [_pt(q) for q in u]
            lower = sorted(range(len(_LOWER_IDX)),
                           key=lambda k: -(zz[_LOWER_IDX[k][0]] + zz[_LOWER_IDX[k][1]]))
            for k in lower:
                a, b, r, _ = _LOWER_IDX[k]
                self._limb(img, pts[a], pts[b], r * 0.5 * (p[a] + p[b]), lower_cols[k])
            if self.overlay is not None:
                cv2.copyTo(self.overlay, self.mask, img)
            prims: List[tuple] = [(zz[JI["torso"]], 0, None)]
            for k, (a, b, r, _) in enumerate(_UPPER_IDX):
                prims.append((0.5 * (zz[a] + zz[b]), 1, k))
            prims[1] = (max(prims[1][0], zz[JI["head"]] + 0.01), 1, 0)   # neck under the head
            for j in (JI["hand_left"], JI["hand_right"]):
                prims.append((zz[j] - 0.01, 2, j))
            prims.append((zz[JI["head"]], 3, None))
            for k, (ob, ouv, oppm, oz, vis, ang) in enumerate(objs):
                if vis[t]:
                    prims.append((oz[t] - 0.02, 4, k))
            prims.sort(key=lambda q: -q[0])
            for _, kind, k in prims:
                if kind == 0:
                    self._torso(img, u, p[JI["torso"]])
                elif kind == 1:
                    a, b, r, _ = _UPPER_IDX[k]
                    self._limb(img, pts[a], pts[b], r * 0.5 * (p[a] + p[b]), upper_cols[k])
                elif kind == 2:
                    col, dark, _ = self.cols["skin"]
                    self._disc(img, pts[k], _R["hand"] * p[k], col, dark)
                elif kind == 3:
                    j = JI["head"]
                    self._head(img, pts[j], _R["head"] * p[j], facing_cam[t, 2])
                else:
                    ob, ouv, oppm, oz, vis, ang = objs[k]
                    self._object(img, ob, ouv[t], oppm[t], ang[t])
            f = int(flicker[t])
            if f > 0:
                cv2.add(img, (f, f, f, 0), img)
            elif f < 0:
                cv2.subtract(img, (-f, -f, -f, 0), img)
            yield img
