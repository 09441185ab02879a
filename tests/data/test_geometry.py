import numpy as np
import pytest

from adl.data.geometry import get_camera, normalise_skeleton
from adl.data.layouts import CAD_15, KINECT_V1_20, KINECT_V2_25, LCRNET_13, get_layout


def _rot_y(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _random_body(layout, rng, T=5):
    skel = rng.normal(0, 0.3, size=(T, layout.n_joints, 3))
    skel[..., 2] += 3.0
    return skel


@pytest.mark.parametrize("layout", [KINECT_V1_20, CAD_15, KINECT_V2_25, LCRNET_13])
def test_normalisation_anchors(layout):
    rng = np.random.default_rng(0)
    skel = _random_body(layout, rng)
    out = normalise_skeleton(skel, layout).astype(np.float64)
    # hip centre at the origin
    np.testing.assert_allclose(layout.point(out, layout.hip_center), 0, atol=1e-5)
    # right hip -> left hip along +X
    x = layout.point(out, layout.hip_left) - layout.point(out, layout.hip_right)
    np.testing.assert_allclose(x[:, 1:], 0, atol=1e-5)
    assert (x[:, 0] > 0).all()
    # spine segment has unit length and no Z component
    up = layout.point(out, layout.spine) - layout.point(out, layout.spine_base)
    np.testing.assert_allclose(np.linalg.norm(up, axis=-1), 1, atol=1e-5)
    np.testing.assert_allclose(up[:, 2], 0, atol=1e-5)
    assert (up[:, 1] > 0).all()


def test_normalisation_invariant_to_rigid_motion_and_scale():
    rng = np.random.default_rng(1)
    skel = _random_body(KINECT_V1_20, rng)
    moved = 1.7 * skel @ _rot_y(0.8).T + np.array([0.4, -0.2, 1.0])
    np.testing.assert_allclose(normalise_skeleton(skel, KINECT_V1_20),
                               normalise_skeleton(moved, KINECT_V1_20), atol=1e-4)


def test_normalisation_marks_frames_with_missing_anchor():
    rng = np.random.default_rng(2)
    skel = _random_body(CAD_15, rng)
    skel[2, CAD_15.hip_left] = np.nan
    out = normalise_skeleton(skel, CAD_15)
    assert np.isnan(out[2]).all()
    assert np.isfinite(out[[0, 1, 3, 4]]).all()


def test_normalisation_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"expected a skeleton of shape \(T, 15, 3\).*got \(4, 20, 3\)"):
        normalise_skeleton(np.zeros((4, 20, 3)), CAD_15)


def test_cad60_projection_matches_readme_formula():
    cam = get_camera("cad60")
    xyz_mm = np.array([100.0, -200.0, 2500.0])
    u = 156.8584456124928 + 0.0976862095248 * 100 - 0.0006444357104 * -200 + 0.0015715946682 * 2500
    v = 125.5357201011431 + 0.0002153447766 * 100 - 0.1184874093530 * -200 - 0.0022134485957 * 2500
    np.testing.assert_allclose(cam.project(xyz_mm / 1000.0), [u, v], rtol=1e-5)
    np.testing.assert_allclose(get_camera("cad120").project(xyz_mm / 1000.0), [2 * u, 2 * v], rtol=1e-5)


def test_pinhole_round_trip_and_nan():
    cam = get_camera("kinect_v1")
    pts = np.array([[0.3, 0.2, 2.5], [-0.5, -0.4, 3.0]])
    uv = cam.project(pts)
    np.testing.assert_allclose(cam.unproject(uv, pts[:, 2]), pts, atol=1e-4)
    # up in camera space is up in the image (smaller v)
    assert uv[0, 1] < 239.5
    assert np.isnan(cam.project(np.array([np.nan, 0, 2]))).all()


def test_unknown_names():
    with pytest.raises(ValueError, match="unknown joint layout 'foo'; expected one of"):
        get_layout("foo")
    with pytest.raises(ValueError, match="unknown camera model 'bar'"):
        get_camera("bar")


def test_layout_bones_are_valid():
    for layout in (KINECT_V1_20, CAD_15, KINECT_V2_25, LCRNET_13):
        assert len(set(layout.joints)) == layout.n_joints
        for a, b in layout.bones:
            assert 0 <= a < layout.n_joints and 0 <= b < layout.n_joints and a != b
    assert (KINECT_V1_20.n_joints, CAD_15.n_joints, KINECT_V2_25.n_joints, LCRNET_13.n_joints) == (20, 15, 25, 13)
