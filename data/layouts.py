"""Skeleton joint layouts: joint names, bones and the joints that anchor the
thesis's skeleton normalisation (section 3.3.1, "Pose based motion").

A *reference* is either a joint index or a tuple of joint indices whose mean
is used (a "virtual" joint).  This is how layouts without a hip-centre or spine
joint (CAD's 15-joint OpenNI skeleton, LCR-Net's 13 joints) provide the
anchors the normalisation needs:

* CAD 15 joints: hip centre = mean(LEFT_HIP, RIGHT_HIP); "spine" = TORSO.
* LCR-Net 13 joints: hip centre = mean(Rhip, Lhip); "spine" = the midpoint of
  the pelvis and the neck (neck = mean(Rsho, Lsho)).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple, Union

import numpy as np

Ref = Union[int, Tuple[int, ...]]


@dataclass(frozen=True)
class JointLayout:
    """A skeleton joint layout.

    Attributes
    ----------
    name : str
        Registry name (``kinect_v1_20``, ``cad_15``, ``kinect_v2_25``, ``lcrnet_13``).
    joints : tuple of str
        Joint names in file order (0-based index = position in this tuple).
    bones : tuple of (int, int)
        Parent/child pairs for drawing and bone features.
    hip_center, hip_left, hip_right, spine_base, spine : Ref
        Anchors of the normalisation (translate to ``hip_center``, X along
        ``hip_right -> hip_left``, Y towards ``spine_base -> spine``, scale by
        ``|spine - spine_base|``).
    hand_left, hand_right, head : Ref
        Anchors for body-part crops (F1, Eq. 3.1).
    upper_body : tuple of int
        Joints whose extent gives the upper-body box.
    """

    name: str
    joints: Tuple[str, ...]
    bones: Tuple[Tuple[int, int], ...]
    hip_center: Ref
    hip_left: Ref
    hip_right: Ref
    spine_base: Ref
    spine: Ref
    hand_left: Ref
    hand_right: Ref
    head: Ref
    upper_body: Tuple[int, ...]

    @property
    def n_joints(self) -> int:
        return len(self.joints)

    def index(self, name: str) -> int:
        return self.joints.index(name)

    @property
    def mirror_permutation(self) -> Tuple[int, ...]:
        """Joint order of the left-right mirror image: joint ``i`` of the
        mirrored skeleton is joint ``perm[i]`` of the original (every
        ``*_left`` swaps with its ``*_right``; other joints stay)."""
        perm = []
        for name in self.joints:
            if name.endswith("_left"):
                twin = name[: -len("_left")] + "_right"
            elif name.endswith("_right"):
                twin = name[: -len("_right")] + "_left"
            else:
                twin = name
            perm.append(self.joints.index(twin) if twin in self.joints else self.joints.index(name))
        return tuple(perm)

    def point(self, skel: np.ndarray, ref: Ref) -> np.ndarray:
        """Position of a reference joint in ``skel`` of shape ``(..., J, D)``."""
        if isinstance(ref, tuple):
            return skel[..., list(ref), :].mean(axis=-2)
        return skel[..., ref, :]


def _bones(names, pairs):
    return tuple((names.index(a), names.index(b)) for a, b in pairs)


_K1 = ("hip_center", "spine", "shoulder_center", "head",
       "shoulder_left", "elbow_left", "wrist_left", "hand_left",
       "shoulder_right", "elbow_right", "wrist_right", "hand_right",
       "hip_left", "knee_left", "ankle_left", "foot_left",
       "hip_right", "knee_right", "ankle_right", "foot_right")
KINECT_V1_20 = JointLayout(
    name="kinect_v1_20", joints=_K1,
    bones=_bones(_K1, [("hip_center", "spine"), ("spine", "shoulder_center"),
                       ("shoulder_center", "head"),
                       ("shoulder_center", "shoulder_left"), ("shoulder_left", "elbow_left"),
                       ("elbow_left", "wrist_left"), ("wrist_left", "hand_left"),
                       ("shoulder_center", "shoulder_right"), ("shoulder_right", "elbow_right"),
                       ("elbow_right", "wrist_right"), ("wrist_right", "hand_right"),
                       ("hip_center", "hip_left"), ("hip_left", "knee_left"),
                       ("knee_left", "ankle_left"), ("ankle_left", "foot_left"),
                       ("hip_center", "hip_right"), ("hip_right", "knee_right"),
                       ("knee_right", "ankle_right"), ("ankle_right", "foot_right")]),
    hip_center=0, hip_left=12, hip_right=16, spine_base=0, spine=1,
    hand_left=7, hand_right=11, head=3,
    upper_body=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11),
)

# CAD-60 / CAD-120 (OpenNI/NITE): joints 1-11 carry an orientation + confidence,
# joints 12-15 (hands, feet) are position only.
_CAD = ("head", "neck", "torso", "shoulder_left", "elbow_left", "shoulder_right",
        "elbow_right", "hip_left", "knee_left", "hip_right", "knee_right",
        "hand_left", "hand_right", "foot_left", "foot_right")
CAD_15 = JointLayout(
    name="cad_15", joints=_CAD,
    bones=_bones(_CAD, [("head", "neck"), ("neck", "torso"),
                        ("neck", "shoulder_left"), ("shoulder_left", "elbow_left"),
                        ("elbow_left", "hand_left"),
                        ("neck", "shoulder_right"), ("shoulder_right", "elbow_right"),
                        ("elbow_right", "hand_right"),
                        ("torso", "hip_left"), ("hip_left", "knee_left"), ("knee_left", "foot_left"),
                        ("torso", "hip_right"), ("hip_right", "knee_right"),
                        ("knee_right", "foot_right")]),
    hip_center=(7, 9), hip_left=7, hip_right=9, spine_base=(7, 9), spine=2,
    hand_left=11, hand_right=12, head=0,
    upper_body=(0, 1, 2, 3, 4, 5, 6, 11, 12),
)
CAD_ORIENTED_JOINTS = 11  # the first 11 CAD joints carry a 3x3 orientation

_K2 = ("spine_base", "spine_mid", "neck", "head",
       "shoulder_left", "elbow_left", "wrist_left", "hand_left",
       "shoulder_right", "elbow_right", "wrist_right", "hand_right",
       "hip_left", "knee_left", "ankle_left", "foot_left",
       "hip_right", "knee_right", "ankle_right", "foot_right",
       "spine_shoulder", "handtip_left", "thumb_left", "handtip_right", "thumb_right")
KINECT_V2_25 = JointLayout(
    name="kinect_v2_25", joints=_K2,
    bones=_bones(_K2, [("spine_base", "spine_mid"), ("spine_mid", "spine_shoulder"),
                       ("spine_shoulder", "neck"), ("neck", "head"),
                       ("spine_shoulder", "shoulder_left"), ("shoulder_left", "elbow_left"),
                       ("elbow_left", "wrist_left"), ("wrist_left", "hand_left"),
                       ("hand_left", "handtip_left"), ("wrist_left", "thumb_left"),
                       ("spine_shoulder", "shoulder_right"), ("shoulder_right", "elbow_right"),
                       ("elbow_right", "wrist_right"), ("wrist_right", "hand_right"),
                       ("hand_right", "handtip_right"), ("wrist_right", "thumb_right"),
                       ("spine_base", "hip_left"), ("hip_left", "knee_left"),
                       ("knee_left", "ankle_left"), ("ankle_left", "foot_left"),
                       ("spine_base", "hip_right"), ("hip_right", "knee_right"),
                       ("knee_right", "ankle_right"), ("ankle_right", "foot_right")]),
    hip_center=0, hip_left=12, hip_right=16, spine_base=0, spine=1,
    hand_left=7, hand_right=11, head=3,
    upper_body=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 20, 21, 22, 23, 24),
)

_LCR = ("ankle_right", "ankle_left", "knee_right", "knee_left", "hip_right", "hip_left",
        "wrist_right", "wrist_left", "elbow_right", "elbow_left", "shoulder_right",
        "shoulder_left", "head")
LCRNET_13 = JointLayout(
    name="lcrnet_13", joints=_LCR,
    bones=_bones(_LCR, [("ankle_right", "knee_right"), ("knee_right", "hip_right"),
                        ("ankle_left", "knee_left"), ("knee_left", "hip_left"),
                        ("hip_right", "hip_left"), ("hip_right", "shoulder_right"),
                        ("hip_left", "shoulder_left"), ("shoulder_right", "shoulder_left"),
                        ("shoulder_right", "elbow_right"), ("elbow_right", "wrist_right"),
                        ("shoulder_left", "elbow_left"), ("elbow_left", "wrist_left"),
                        ("shoulder_right", "head"), ("shoulder_left", "head")]),
    hip_center=(4, 5), hip_left=5, hip_right=4, spine_base=(4, 5), spine=(4, 5, 10, 11),
    hand_left=7, hand_right=6, head=12,
    upper_body=(4, 5, 6, 7, 8, 9, 10, 11, 12),
)

LAYOUTS = {l.name: l for l in (KINECT_V1_20, CAD_15, KINECT_V2_25, LCRNET_13)}


def get_layout(name: str) -> JointLayout:
    """Layout by registry name; raises ``ValueError`` listing the known names."""
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ValueError(f"unknown joint layout {name!r}; expected one of "
                         f"{', '.join(sorted(LAYOUTS))}") from None
