"""Skeleton geometry: camera models (3D -> 2D) and the thesis's skeleton
normalisation (section 3.3.1, Fig. 3.3, after Shahroudy et al. [5]).

All 3D skeletons inside adl are in **metres**, camera coordinates, shape
``(T, J, 3)``; missing joints/frames are NaN.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np

from .layouts import JointLayout


@dataclass(frozen=True)
class CameraModel:
    """Maps camera-space 3D points (metres) to pixel coordinates.

    ``kind`` is ``"affine_mm"`` (CAD-60's published linear formula, which takes
    millimetres) or ``"pinhole"`` (``u = fx*x/z + cx``, ``v = cy - fy*y/z``:
    Kinect camera space has Y pointing up).
    """

    name: str
    kind: str
    image_size: Tuple[int, int]  # (width, height)
    params: Tuple[float, ...]

    def project(self, xyz: np.ndarray) -> np.ndarray:
        """Project ``(..., 3)`` metres to ``(..., 2)`` pixels (NaN stays NaN)."""
        xyz = np.asarray(xyz, dtype=np.float64)
        x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
        if self.kind == "affine_mm":
            scale = self.params[-1]
            a = self.params[:-1]
            xm, ym, zm = x * 1000.0, y * 1000.0, z * 1000.0
            u = a[0] + a[1] * xm + a[2] * ym + a[3] * zm
            v = a[4] + a[5] * xm + a[6] * ym + a[7] * zm
            uv = np.stack([u, v], axis=-1) * scale
        else:
            fx, fy, cx, cy = self.params
            with np.errstate(divide="ignore", invalid="ignore"):
                zz = np.where(z > 1e-6, z, np.nan)
                uv = np.stack([fx * x / zz + cx, cy - fy * y / zz], axis=-1)
        uv[~np.isfinite(xyz).all(axis=-1)] = np.nan  # a point missing any coordinate is missing
        return uv.astype(np.float32)

    def unproject(self, uv: np.ndarray, depth_m: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`project` given depth in metres (pinhole only)."""
        if self.kind != "pinhole":
            raise ValueError(f"camera {self.name!r} ({self.kind}) has no closed-form unprojection")
        fx, fy, cx, cy = self.params
        uv = np.asarray(uv, dtype=np.float64)
        z = np.asarray(depth_m, dtype=np.float64)
        x = (uv[..., 0] - cx) * z / fx
        y = (cy - uv[..., 1]) * z / fy
        return np.stack([x, y, z], axis=-1)


# CAD-60 README formula (x, y, z in mm -> (u, v) in a 320x240 image).
_CAD_AFFINE = (156.8584456124928, 0.0976862095248, -0.0006444357104, 0.0015715946682,
               125.5357201011431, 0.0002153447766, -0.1184874093530, -0.0022134485957)

CAMERAS = {
    "cad60": CameraModel("cad60", "affine_mm", (320, 240), _CAD_AFFINE + (1.0,)),
    # CAD-120 publishes no formula; its images are 640x480, so we use the
    # CAD-60 formula scaled by 2 (documented choice, as most public readers do).
    "cad120": CameraModel("cad120", "affine_mm", (640, 480), _CAD_AFFINE + (2.0,)),
    # Kinect v1 RGB camera (MSRDailyActivity3D, N-UCLA, UTKinect), 640x480,
    # nominal intrinsics (f ~ 525 px).
    "kinect_v1": CameraModel("kinect_v1", "pinhole", (640, 480), (525.0, 525.0, 319.5, 239.5)),
    # Kinect v2 colour camera (NTU RGB+D), 1920x1080, nominal intrinsics.
    "kinect_v2": CameraModel("kinect_v2", "pinhole", (1920, 1080), (1081.4, 1081.4, 959.5, 539.5)),
}


def get_camera(name: str) -> CameraModel:
    try:
        return CAMERAS[name]
    except KeyError:
        raise ValueError(f"unknown camera model {name!r}; expected one of "
                         f"{', '.join(sorted(CAMERAS))}") from None


def normalise_skeleton(skel: np.ndarray, layout: JointLayout, *, eps: float = 1e-6,
                       per_frame: bool = True) -> np.ndarray:
    """Normalise a 3D skeleton sequence (thesis 3.3.1, Fig. 3.3).

    Each frame is translated so that the hip centre is the origin, rotated so
    that X is parallel to ``right hip -> left hip`` and Y points along
    ``spine base -> spine`` (orthogonalised against X; Z = X x Y), and scaled
    by the length of the ``spine base -> spine`` segment.

    Parameters
    ----------
    skel : ndarray, shape (T, J, 3)
        Camera-space joints in metres; NaN marks missing joints.
    layout : JointLayout
        Gives the anchor joints (see :mod:`data.layouts` for CAD and LCR-Net).
    per_frame : bool
        If True (default) each frame uses its own frame of reference (the
        thesis's description); if False the frame of reference of the first
        valid frame is used for the whole sequence, which keeps global
        translation/rotation of the body (e.g. walking) in the features
        (F3's default, ``F3Config(per_frame=False)``: on real Kinect
        skeletons the per-frame reference re-rotates and re-scales every
        frame by the noisy hip and spine joints; docs/design.md "F3").
        On a rigid body that does not move the two agree.

    Returns
    -------
    ndarray, shape (T, J, 3), float32
        Frames whose anchors are missing or degenerate are all NaN.
    """
    skel = np.asarray(skel, dtype=np.float64)
    if skel.ndim != 3 or skel.shape[-1] != 3 or skel.shape[1] != layout.n_joints:
        raise ValueError(f"expected a skeleton of shape (T, {layout.n_joints}, 3) for layout "
                         f"{layout.name}, got {skel.shape}")
    origin = layout.point(skel, layout.hip_center)              # (T, 3)
    x_axis = layout.point(skel, layout.hip_left) - layout.point(skel, layout.hip_right)
    up = layout.point(skel, layout.spine) - layout.point(skel, layout.spine_base)
    scale = np.linalg.norm(up, axis=-1)                          # (T,)
    x_axis = x_axis / np.maximum(np.linalg.norm(x_axis, axis=-1, keepdims=True), eps)
    y_axis = up - (up * x_axis).sum(-1, keepdims=True) * x_axis
    y_norm = np.linalg.norm(y_axis, axis=-1, keepdims=True)
    bad = ~np.isfinite(scale) | (scale < eps) | ~np.isfinite(y_norm[:, 0]) | (y_norm[:, 0] < eps)
    bad |= ~np.isfinite(x_axis).all(-1) | ~np.isfinite(origin).all(-1)
    y_axis = y_axis / np.maximum(y_norm, eps)
    z_axis = np.cross(x_axis, y_axis)
    rot = np.stack([x_axis, y_axis, z_axis], axis=1)             # (T, 3, 3) rows = axes
    if not per_frame:
        good = np.flatnonzero(~bad)
        if good.size == 0:
            return np.full(skel.shape, np.nan, dtype=np.float32)
        f0 = good[0]
        origin = np.broadcast_to(origin[f0], origin.shape)
        rot = np.broadcast_to(rot[f0], rot.shape)
        scale = np.full_like(scale, scale[f0])
        bad = ~np.isfinite(origin).all(-1)
    centred = skel - origin[:, None, :]
    out = np.einsum("tij,tkj->tki", rot, centred) / np.maximum(scale, eps)[:, None, None]
    out[bad] = np.nan
    return out.astype(np.float32)
