"""The weighted pose graph of VPN's GCN pose backbone (thesis section 4.5.2,
"Pose Backbone", and Eq. 4.14).

For a pose with J joints the thesis builds a J x J weighted adjacency E::

    e_ij = 0      if i == j
    e_ij = alpha  if joints i and j are connected (a bone)
    e_ij = beta   if joints i and j are "disconnected"

with alpha = 5 and beta = 2 (section 4.6.1).  Read literally, "disconnected"
would give every non-bone pair the weight beta (a dense graph).  The author's
public code (``/work/shared/deep/VPN.md``) instead puts beta only on a short
list of *extra links* joining joints that move together (hand-ankle,
elbow-knee on each side, the two hands, the two elbows) and 0 elsewhere.  We
follow the author's lists: :data:`EXTRA_LINKS` names them per layout, by joint
name.

Layouts
-------
* ``kinect_v2_25`` (NTU): the bones are the author's list
  (:data:`VPN_NTU_BONES`), which differs from
  :data:`adl.data.layouts.KINECT_V2_25`'s drawing bones in two pairs: the
  author attaches each thumb to the hand (NTU 12-25, 8-23), the layout to the
  wrist (11-25, 7-23).  The extra links are exactly the author's
  12-19, 10-18, 6-14, 8-15, 12-8, 10-6 (1-based NTU numbers).
* ``kinect_v1_20`` (N-UCLA), ``lcrnet_13`` (Smarthome), ``cad_15``: the
  author's code has no list; we derive the same rule by joint name from the
  layout's bones.  Where a layout lacks the joint the rule names, the limb's
  end joint that the layout does have stands in for it (the layout already
  uses it as that body part's anchor): LCR-Net's wrists for the hands
  (``lcrnet_13`` has no hand joints), CAD's feet for the ankles (``cad_15``
  has no ankle joints).  A link whose joints a layout lacks altogether would
  be skipped; with these substitutions every layout keeps all six links.

Several persons (NTU's M = 2) get a block-diagonal copy of the graph: no edge
joins two persons.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from adl.data.layouts import get_layout

__all__ = ["VPN_NTU_BONES", "EXTRA_LINKS", "pose_bones", "pose_adjacency",
           "normalized_adjacency"]

NamePair = Tuple[str, str]

#: The author's bone list for the 25-joint NTU / Kinect v2 skeleton, as
#: 1-based NTU joint numbers (``/work/shared/deep/VPN.md``).
VPN_NTU_BONES: Tuple[Tuple[int, int], ...] = (
    (1, 2), (1, 17), (1, 13), (2, 21), (17, 18), (13, 14), (18, 19), (19, 20),
    (14, 15), (15, 16), (21, 5), (21, 9), (21, 3), (3, 4), (9, 10), (5, 6),
    (6, 7), (10, 11), (11, 12), (12, 25), (12, 24), (7, 8), (8, 23), (8, 22))

#: The extra (beta-weighted) links per layout, by joint name; order: right
#: hand-right ankle, right elbow-right knee, left elbow-left knee, left
#: hand-left ankle, the two hands, the two elbows (the author's NTU order).
EXTRA_LINKS: Dict[str, Tuple[NamePair, ...]] = {
    "kinect_v2_25": (("hand_right", "ankle_right"), ("elbow_right", "knee_right"),
                     ("elbow_left", "knee_left"), ("hand_left", "ankle_left"),
                     ("hand_right", "hand_left"), ("elbow_right", "elbow_left")),
    "kinect_v1_20": (("hand_right", "ankle_right"), ("elbow_right", "knee_right"),
                     ("elbow_left", "knee_left"), ("hand_left", "ankle_left"),
                     ("hand_right", "hand_left"), ("elbow_right", "elbow_left")),
    # LCR-Net 13 joints: no hand joints; the wrists end the arms.
    "lcrnet_13": (("wrist_right", "ankle_right"), ("elbow_right", "knee_right"),
                  ("elbow_left", "knee_left"), ("wrist_left", "ankle_left"),
                  ("wrist_right", "wrist_left"), ("elbow_right", "elbow_left")),
    # CAD 15 joints (OpenNI): no ankle joints; the feet end the legs.
    "cad_15": (("hand_right", "foot_right"), ("elbow_right", "knee_right"),
               ("elbow_left", "knee_left"), ("hand_left", "foot_left"),
               ("hand_right", "hand_left"), ("elbow_right", "elbow_left")),
}


def pose_bones(layout: str) -> Tuple[Tuple[int, int], ...]:
    """The alpha-weighted joint pairs (0-based) of ``layout``'s graph.

    ``kinect_v2_25`` uses the author's list :data:`VPN_NTU_BONES`; the other
    layouts their :class:`~adl.data.layouts.JointLayout` bones.

    Raises
    ------
    ValueError
        ``layout`` is not in :data:`adl.data.layouts.LAYOUTS`.
    """
    lay = get_layout(layout)
    if lay.name == "kinect_v2_25":
        return tuple((a - 1, b - 1) for a, b in VPN_NTU_BONES)
    return tuple(lay.bones)


def _link_indices(layout: str, links: Sequence[NamePair]) -> Tuple[Tuple[int, int], ...]:
    lay = get_layout(layout)
    out = []
    for pair in links:
        if len(pair) != 2:
            raise ValueError(f"expected each extra link as a (joint, joint) name pair, got {pair!r}")
        missing = [n for n in pair if n not in lay.joints]
        if missing:
            raise ValueError(f"extra link {tuple(pair)!r}: layout {layout!r} has no joint "
                             f"{', '.join(map(repr, missing))}; expected names among "
                             f"{', '.join(lay.joints)}")
        out.append((lay.index(pair[0]), lay.index(pair[1])))
    return tuple(out)


def pose_adjacency(layout: str, persons: int = 1, alpha: float = 5.0, beta: float = 2.0,
                   links: Optional[Sequence[NamePair]] = None) -> np.ndarray:
    """The weighted adjacency E of thesis section 4.5.2 (input of Eq. 4.14).

    Parameters
    ----------
    layout : str
        A joint layout name (:data:`adl.data.layouts.LAYOUTS`).
    persons : int
        M, the persons per pose; the graph is copied block-diagonally.
    alpha : float
        Weight of the bones (5 in the thesis, section 4.6.1).
    beta : float
        Weight of the extra links (2 in the thesis).
    links : sequence of (str, str), optional
        Extra links by joint name; ``None`` takes :data:`EXTRA_LINKS`
        ``[layout]``, ``()`` none.

    Returns
    -------
    ndarray, shape (M*J, M*J), float32
        Symmetric, zero diagonal; node ``m*J + j`` is joint j of person m.
        A pair that is both a bone and a link keeps the bone's alpha.

    Raises
    ------
    ValueError
        Unknown layout, ``persons < 1``, or a link naming a joint the layout
        lacks.
    """
    lay = get_layout(layout)
    if int(persons) != persons or persons < 1:
        raise ValueError(f"expected persons >= 1 (an integer), got {persons!r}")
    persons = int(persons)
    if links is None:
        links = EXTRA_LINKS.get(lay.name, ())
    J = lay.n_joints
    one = np.zeros((J, J), dtype=np.float32)
    for i, j in _link_indices(lay.name, links):
        one[i, j] = one[j, i] = beta
    for i, j in pose_bones(lay.name):
        one[i, j] = one[j, i] = alpha
    np.fill_diagonal(one, 0.0)
    return np.kron(np.eye(persons, dtype=np.float32), one).astype(np.float32)


def normalized_adjacency(adjacency: np.ndarray) -> np.ndarray:
    """``D^-1/2 (E + I) D^-1/2`` of Eq. 4.14, with ``D_ii = sum_j (E_ij + I_ij)``.

    The GCN then computes ``P+_t = normalized_adjacency(E) @ P_t @ W_t``.  The
    identity adds the self-loops the adjacency itself leaves out (its
    diagonal is 0), so every degree is at least 1.

    Parameters
    ----------
    adjacency : ndarray, shape (N, N)
        Non-negative weights, e.g. :func:`pose_adjacency`.

    Returns
    -------
    ndarray, shape (N, N), float32

    Raises
    ------
    ValueError
        Not a square 2-D matrix, or negative weights.
    """
    a = np.asarray(adjacency, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"expected a square (N, N) adjacency, got shape {a.shape}")
    if (a < 0).any():
        raise ValueError(f"expected non-negative adjacency weights, got minimum {a.min():g}")
    a = a + np.eye(a.shape[0])
    d = 1.0 / np.sqrt(a.sum(axis=1))
    return (d[:, None] * a * d[None, :]).astype(np.float32)

