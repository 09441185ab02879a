"""The pose graph of VPN's GCN (thesis Eq. 4.14; the author's lists in
/work/shared/deep/VPN.md)."""
import numpy as np
import pytest

from adl.data.layouts import LAYOUTS, get_layout
from adl.deep.graph import (EXTRA_LINKS, VPN_NTU_BONES, normalized_adjacency, pose_adjacency,
                            pose_bones)

# VPN.md, 1-based NTU joint numbers, written out again here on purpose.
NTU_BONES_1 = [(1, 2), (1, 17), (1, 13), (2, 21), (17, 18), (13, 14), (18, 19), (19, 20),
               (14, 15), (15, 16), (21, 5), (21, 9), (21, 3), (3, 4), (9, 10), (5, 6), (6, 7),
               (10, 11), (11, 12), (12, 25), (12, 24), (7, 8), (8, 23), (8, 22)]
NTU_LINKS_1 = [(12, 19), (10, 18), (6, 14), (8, 15), (12, 8), (10, 6)]


def expected_ntu(alpha=5.0, beta=2.0):
    e = np.zeros((25, 25), dtype=np.float32)
    for a, b in NTU_LINKS_1:
        e[a - 1, b - 1] = e[b - 1, a - 1] = beta
    for a, b in NTU_BONES_1:
        e[a - 1, b - 1] = e[b - 1, a - 1] = alpha
    return e


def test_ntu_matrix_equals_the_authors_lists_entry_by_entry():
    a = pose_adjacency("kinect_v2_25")
    assert a.dtype == np.float32 and a.shape == (25, 25)
    np.testing.assert_array_equal(a, expected_ntu())
    assert (a == 5.0).sum() == 2 * 24 and (a == 2.0).sum() == 2 * 6
    # spot checks by name: right hand (12) - right ankle (19); spine base - spine mid
    k2 = get_layout("kinect_v2_25")
    assert a[k2.index("hand_right"), k2.index("ankle_right")] == 2.0
    assert a[k2.index("spine_base"), k2.index("spine_mid")] == 5.0
    assert a[k2.index("head"), k2.index("foot_left")] == 0.0


def test_ntu_bones_are_the_authors_not_the_layouts():
    assert VPN_NTU_BONES == tuple(NTU_BONES_1)
    ours = {frozenset(p) for p in pose_bones("kinect_v2_25")}
    drawing = {frozenset(p) for p in get_layout("kinect_v2_25").bones}
    # the author hangs each thumb on the hand (12-25, 8-23), the layout on the wrist
    assert ours - drawing == {frozenset((11, 24)), frozenset((7, 22))}
    assert drawing - ours == {frozenset((10, 24)), frozenset((6, 22))}


def test_alpha_beta_and_custom_links():
    a = pose_adjacency("kinect_v2_25", alpha=1.5, beta=0.25)
    np.testing.assert_array_equal(a, expected_ntu(1.5, 0.25))
    none = pose_adjacency("kinect_v2_25", links=())
    assert (none == 2.0).sum() == 0 and (none == 5.0).sum() == 48
    one = pose_adjacency("kinect_v2_25", links=[("head", "foot_left")])
    assert one[3, 15] == one[15, 3] == 2.0 and (one == 2.0).sum() == 2


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_every_layout_builds_symmetric_zero_diagonal(name):
    lay = get_layout(name)
    a = pose_adjacency(name)
    assert a.shape == (lay.n_joints,) * 2 and a.dtype == np.float32
    np.testing.assert_array_equal(a, a.T)
    np.testing.assert_array_equal(np.diag(a), 0)
    assert (a == 5.0).sum() == 2 * len(lay.bones)
    assert (a == 2.0).sum() == 2 * 6  # all six links of the rule exist in every layout
    assert set(np.unique(a)) <= {0.0, 2.0, 5.0}


def test_extra_links_name_every_layout_by_joint_name():
    assert set(EXTRA_LINKS) == set(LAYOUTS)
    for name, links in EXTRA_LINKS.items():
        joints = get_layout(name).joints
        assert len(links) == 6
        assert all(j in joints for pair in links for j in pair)
    assert EXTRA_LINKS["lcrnet_13"][4] == ("wrist_right", "wrist_left")
    assert EXTRA_LINKS["cad_15"][0] == ("hand_right", "foot_right")


def test_two_persons_block_diagonal():
    one = pose_adjacency("kinect_v2_25")
    two = pose_adjacency("kinect_v2_25", persons=2)
    assert two.shape == (50, 50)
    np.testing.assert_array_equal(two[:25, :25], one)
    np.testing.assert_array_equal(two[25:, 25:], one)
    np.testing.assert_array_equal(two[:25, 25:], 0)
    np.testing.assert_array_equal(two[25:, :25], 0)


def test_normalized_adjacency_by_hand():
    # path 0 -(2)- 1, node 2 isolated: A+I = [[1,2,0],[2,1,0],[0,0,1]], degrees 3, 3, 1
    a = np.array([[0, 2, 0], [2, 0, 0], [0, 0, 0]], dtype=np.float32)
    expected = np.array([[1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0], [0, 0, 1]], dtype=np.float32)
    np.testing.assert_allclose(normalized_adjacency(a), expected, rtol=1e-6)
    n = normalized_adjacency(pose_adjacency("kinect_v1_20"))
    np.testing.assert_allclose(n, n.T, rtol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="unknown joint layout 'coco_17'"):
        pose_adjacency("coco_17")
    with pytest.raises(ValueError, match="expected persons >= 1"):
        pose_adjacency("kinect_v2_25", persons=0)
    with pytest.raises(ValueError, match="layout 'lcrnet_13' has no joint 'hand_left'"):
        pose_adjacency("lcrnet_13", links=[("hand_left", "ankle_left")])
    with pytest.raises(ValueError, match=r"as a \(joint, joint\) name pair"):
        pose_adjacency("lcrnet_13", links=[("head",)])
    with pytest.raises(ValueError, match=r"expected a square \(N, N\) adjacency, got shape \(2, 3\)"):
        normalized_adjacency(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="expected non-negative adjacency weights"):
        normalized_adjacency(-np.ones((2, 2)))
