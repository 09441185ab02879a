"""Tests of features.trajectories: dense sampling, flow, tracking, pruning, camera motion."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from adl.features import trajectories


def texture(h=120, w=160, seed=0, blur=1.5):
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur((rng.random((h, w)) * 255).astype(np.uint8), (0, 0), blur)


def shifted(img, dx, dy):
    """``img`` translated by (dx, dy) px (content moves right/down for positive values)."""
    M = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, M, (img.shape[1], img.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


# --------------------------------------------------------------------------- pyramid
def test_pyramid_scales_320x240_has_six_scales_of_ratio_sqrt2():
    scales, sizes = trajectories.pyramid_scales(320, 240)
    # 240 / sqrt(2)^k >= 32 for k = 0..5 (42.4 >= 32, 30 < 32)
    assert len(scales) == 6
    assert sizes[0] == (320, 240)
    assert sizes[1] == (226, 170)
    assert sizes[-1] == (57, 42)
    np.testing.assert_allclose(scales, [math.sqrt(2) ** k for k in range(6)])


def test_pyramid_scales_640x480_stops_at_max_scales():
    assert len(trajectories.pyramid_scales(640, 480)[0]) == 8
    assert len(trajectories.pyramid_scales(640, 480, max_scales=3)[0]) == 3
    assert len(trajectories.pyramid_scales(20, 20)[0]) == 1     # smaller than the patch: still one scale


@pytest.mark.parametrize("args, match", [
    ((0, 240, {}), "positive frame size"),
    ((320, 240, {"max_scales": 0}), "max_scales >= 1"),
    ((320, 240, {"scale_stride": 1.0}), "scale_stride > 1"),
])
def test_pyramid_scales_rejects_bad_arguments(args, match):
    w, h, kw = args
    with pytest.raises(ValueError, match=match):
        trajectories.pyramid_scales(w, h, **kw)


def test_build_pyramid_sizes_and_errors():
    img = texture()
    _, sizes = trajectories.pyramid_scales(160, 120)
    pyr = trajectories.build_pyramid(img, sizes)
    assert [(p.shape[1], p.shape[0]) for p in pyr] == list(sizes)
    with pytest.raises(ValueError, match="expected a 160x120 image"):
        trajectories.build_pyramid(img[:100], sizes)
    with pytest.raises(ValueError, match=r"grey image of shape \(H, W\)"):
        trajectories.build_pyramid(np.dstack([img] * 3), sizes)


# --------------------------------------------------------------------------- sampling
def test_dense_sample_takes_cell_centres_above_the_relative_threshold():
    eig = np.ones((20, 30), np.float32)
    eig[:, 15:] = 0.0005            # below 0.001 * max: homogeneous, removed
    pts = trajectories.dense_sample(eig, step=5, quality=0.001)
    # cells 6 x 4; centres at 2, 7, 12 in x for the textured half
    assert pts.shape == (3 * 4, 2)
    assert set(pts[:, 0]) == {2.0, 7.0, 12.0}
    assert set(pts[:, 1]) == {2.0, 7.0, 12.0, 17.0}


def test_dense_sample_skips_occupied_cells():
    eig = np.ones((10, 10), np.float32)
    full = trajectories.dense_sample(eig, step=5)
    assert len(full) == 4
    left = trajectories.dense_sample(eig, np.array([[1.2, 3.9], [8.0, 8.0], [-3.0, 2.0], [50.0, 2.0]]), step=5)
    # the first two points occupy cells (0, 0) and (1, 1); the others are outside
    np.testing.assert_array_equal(left, [[7, 2], [2, 7]])


def test_dense_sample_backends_give_the_same_points():
    from adl.features import idt_descriptors
    if idt_descriptors.resolve_backend("auto") != "numba":
        pytest.skip("numba not installed")
    rng = np.random.default_rng(5)
    for seed in range(5):
        img = texture(67, 93, seed)
        img[:20, :30] = 128                               # a homogeneous corner
        eig = trajectories.min_eigenvalue_map(img)
        occ = (rng.random((150, 2)) * [110, 80] - [5, 5]).astype(np.float32)   # some outside
        occ[:3] = [[4.9999, 5.0], [-0.5, 3.0], [92.999, 66.999]]
        for occupied in (None, occ, occ[:0]):
            for step in (5, 3):
                a = trajectories.dense_sample(eig, occupied, step=step, backend="opencv")
                b = trajectories.dense_sample(eig, occupied, step=step, backend="numba")
                assert b.dtype == a.dtype == np.float32
                np.testing.assert_array_equal(b, a)


def test_dense_sample_rejects_a_zero_step():
    with pytest.raises(ValueError, match="sampling step >= 1"):
        trajectories.dense_sample(np.ones((10, 10), np.float32), step=0)


def test_strongest_corners_orders_by_eigenvalue_and_caps():
    eig = np.zeros((10, 15), np.float32)
    eig[2, 2], eig[2, 7], eig[7, 12] = 3.0, 1.0, 2.0
    pts = trajectories.strongest_corners(eig, step=5, max_points=2)
    np.testing.assert_array_equal(pts, [[2, 2], [12, 7]])


def test_min_eigenvalue_map_is_zero_on_a_flat_image():
    flat = np.full((20, 20), 128, np.uint8)
    assert np.allclose(trajectories.min_eigenvalue_map(flat), 0)
    assert trajectories.min_eigenvalue_map(texture()).max() > 0


# --------------------------------------------------------------------------- flow
@pytest.mark.parametrize("method", ["farneback", "farneback_per_scale", "dis"])
def test_flow_pyramid_recovers_a_translation_at_every_scale(method):
    img = texture(seed=1)
    moved = shifted(img, 2.0, -1.0)
    _, sizes = trajectories.pyramid_scales(160, 120)
    flows = trajectories.flow_pyramid(trajectories.build_pyramid(img, sizes), trajectories.build_pyramid(moved, sizes),
                           method=method)
    assert [f.shape[:2] for f in flows] == [(h, w) for w, h in sizes]
    for s, f in enumerate(flows[:2]):
        h, w = f.shape[:2]
        centre = f[h // 4: 3 * h // 4, w // 4: 3 * w // 4].reshape(-1, 2)
        expected = np.array([2.0, -1.0]) / math.sqrt(2) ** s
        np.testing.assert_allclose(np.median(centre, 0), expected, atol=0.25)


def test_flow_pyramid_rejects_unknown_method_and_uneven_pyramids():
    img = texture()
    with pytest.raises(ValueError, match="unknown flow method 'tvl1'"):
        trajectories.flow_pyramid([img], [img], method="tvl1")
    with pytest.raises(ValueError, match="unknown flow method"):
        trajectories.make_flow_estimator("tvl1")
    with pytest.raises(ValueError, match="pyramids of equal depth"):
        trajectories.flow_pyramid([img], [img, img])


def test_track_points_moves_by_the_flow_and_drops_points_leaving_the_frame():
    flow = np.zeros((20, 30, 2), np.float32)
    flow[..., 0] = 1.5
    flow[..., 1] = -0.5
    pts = np.array([[10.2, 10.0], [29.0, 5.0], [5.0, 0.3]], np.float32)
    new, inside = trajectories.track_points(pts, flow)
    np.testing.assert_allclose(new, pts + [1.5, -0.5])
    np.testing.assert_array_equal(inside, [True, False, False])   # x = 30.5 >= W; y = -0.2 <= 0


def test_track_points_median_ignores_an_isolated_flow_spike():
    flow = np.zeros((20, 20, 2), np.float32)
    flow[..., 0] = 1.0
    flow[10, 10] = (40.0, 40.0)                          # one wrong vector
    pts = np.array([[10.4, 10.3]], np.float32)
    med, _ = trajectories.track_points(pts, flow, median=True)
    raw, _ = trajectories.track_points(pts, flow, median=False)
    np.testing.assert_allclose(med, [[11.4, 10.3]])
    np.testing.assert_allclose(raw, [[50.4, 50.3]])
    np.testing.assert_allclose(trajectories.median_filter_flow(flow)[10, 10], [1.0, 0.0])


def test_track_points_backends_take_the_same_medians():
    from adl.features import idt_descriptors
    if idt_descriptors.resolve_backend("auto") != "numba":
        pytest.skip("numba not installed")
    rng = np.random.default_rng(4)
    flow = rng.normal(0, 2, (37, 51, 2)).astype(np.float32)
    flow[5:9, 5:9] = 1.25                                 # ties
    pts = (rng.random((400, 2)) * [51, 37]).astype(np.float32)
    pts[:6] = [[0, 0], [50.9, 36.9], [0.4, 20], [50, 0.2], [25, 36.5], [6.5, 6.5]]
    a, ia = trajectories.track_points(pts, flow, backend="opencv")
    b, ib = trajectories.track_points(pts, flow, backend="numba")
    np.testing.assert_array_equal(b, a)
    np.testing.assert_array_equal(ib, ia)


def test_sample_field_rounds_or_floors_and_clamps():
    field = np.arange(12, dtype=np.float32).reshape(3, 4, 1)
    pts = np.array([[1.6, 0.4], [-3, 9]], np.float32)
    np.testing.assert_array_equal(trajectories.sample_field(field, pts)[:, 0], [2, 8])
    np.testing.assert_array_equal(trajectories.sample_field(field, pts, rounding="floor")[:, 0], [1, 8])


# --------------------------------------------------------------------------- pruning
def line_track(step=(2.0, 0.0), n=16, start=(50.0, 50.0)):
    return (np.asarray(start) + np.arange(n)[:, None] * np.asarray(step))[None].astype(np.float32)


def test_trajectory_validity_keeps_linear_motion_and_normalises_its_shape():
    valid, shape, mean = trajectories.trajectory_validity(line_track())
    assert valid.tolist() == [True]
    np.testing.assert_allclose(shape[0], np.tile([1 / 15, 0.0], (15, 1)), rtol=1e-5)
    np.testing.assert_allclose(mean[0], [65.0, 50.0])


def test_trajectory_validity_drops_static_erratic_and_jumping_tracks():
    rng = np.random.default_rng(0)
    static = 50 + rng.normal(0, 0.3, (1, 16, 2)).astype(np.float32)      # std << sqrt(3)
    erratic = line_track(step=(12.0, 0.0))                                # std_x ~ 55 > 50
    jump = line_track(step=(0.1, 0.0)).copy()
    jump[0, 8:, 0] += 30.0                                               # one 30-px step
    tracks = np.concatenate([static, erratic, jump, line_track()])
    valid, _, _ = trajectories.trajectory_validity(tracks)
    assert valid.tolist() == [False, False, False, True]


def test_trajectory_validity_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"shape \(N, L\+1, 2\)"):
        trajectories.trajectory_validity(np.zeros((3, 1, 2)))


def test_camera_motion_filter_keeps_tracks_with_a_step_above_one_pixel():
    disp = np.zeros((3, 15, 2), np.float32)
    disp[0] = 0.9                     # |step| = 1.27 > 1
    disp[1, :, 0] = 0.5               # at most 0.5: camera motion
    moving, shape = trajectories.camera_motion_filter(disp)
    assert moving.tolist() == [True, False, False]
    np.testing.assert_allclose(np.linalg.norm(shape[0], axis=1).sum(), 1.0, rtol=1e-6)
    assert np.all(shape[2] == 0)      # no motion: zero shape, no division by zero
    with pytest.raises(ValueError, match=r"shape \(N, L, 2\)"):
        trajectories.camera_motion_filter(np.zeros((3, 15)))


# --------------------------------------------------------------------------- boxes, matches
def test_boxes_helpers():
    pts = np.array([[5, 5], [15, 5], [50, 50]], np.float32)
    boxes = np.array([[0, 0, 10, 10], [np.nan, 0, 1, 1]])
    np.testing.assert_array_equal(trajectories.outside_boxes(pts, boxes), [False, True, True])
    np.testing.assert_array_equal(trajectories.outside_boxes(pts, None), [True, True, True])
    mask = trajectories.boxes_mask((20, 20), [[2, 3, 5, 6]])
    assert mask[3:7, 2:6].max() == 0 and mask.sum() == 255 * (400 - 16)
    assert trajectories.boxes_mask((20, 20), None) is None
    with pytest.raises(ValueError, match=r"person boxes of shape \(k, 4\)"):
        trajectories.boxes_array(np.zeros((2, 3)))


def test_flow_matches_adds_the_flow_at_the_rounded_point():
    flow = np.zeros((10, 10, 2), np.float32)
    flow[3, 4] = (1.5, -2.0)
    prev, nxt = trajectories.flow_matches(np.array([[4.2, 2.6]]), flow)
    np.testing.assert_allclose(prev, [[4, 3]])
    np.testing.assert_allclose(nxt, [[5.5, 1.0]])


def test_match_features_matches_within_the_window_only():
    rng = np.random.default_rng(0)
    desc = rng.integers(0, 256, (3, 32), dtype=np.uint8)
    prev_pts = np.array([[10, 10], [50, 50], [100, 10]], np.float32)
    cur_pts = prev_pts + np.array([[3, -2], [40, 0], [0, 24]], np.float32)
    a, b = trajectories.match_features(prev_pts, desc, cur_pts, desc, window=25)
    pairs = {(tuple(p), tuple(q)) for p, q in zip(a.tolist(), b.tolist())}
    assert ((10.0, 10.0), (13.0, 8.0)) in pairs
    assert ((100.0, 10.0), (100.0, 34.0)) in pairs
    # the second keypoint moved 40 px: outside the window, it cannot match itself
    assert ((50.0, 50.0), (90.0, 50.0)) not in pairs
    empty = trajectories.match_features(prev_pts, None, cur_pts, desc)
    assert empty[0].shape == (0, 2)


def test_orb_features_respect_the_person_box():
    img = texture(240, 320, blur=1.0)
    pts, desc = trajectories.orb_features(img, n_features=300)
    assert len(pts) > 50 and desc.shape == (len(pts), 32)
    none, d = trajectories.orb_features(img, boxes=[[0, 0, 319, 239]])
    assert len(none) == 0 and d is None
    half, _ = trajectories.orb_features(img, n_features=300, boxes=[[0, 0, 159, 239]])
    assert len(half) and half[:, 0].min() > 159


# --------------------------------------------------------------------------- homography
def test_estimate_homography_recovers_a_translation_despite_outliers():
    rng = np.random.default_rng(0)
    prev = rng.random((200, 2)).astype(np.float32) * [320, 240]
    nxt = prev + np.float32([3.0, -1.5])
    nxt[:60] = rng.random((60, 2)) * [320, 240]          # 30 % outliers
    H = trajectories.estimate_homography(prev, nxt)
    np.testing.assert_allclose(H / H[2, 2], [[1, 0, 3.0], [0, 1, -1.5], [0, 0, 1]], atol=1e-2)


def test_estimate_homography_falls_back_to_identity():
    pts = np.random.default_rng(0).random((40, 2)).astype(np.float32) * 100
    np.testing.assert_array_equal(trajectories.estimate_homography(pts, pts + 1), np.eye(3))  # <= 50 matches
    with pytest.raises(ValueError, match="as many points in both frames"):
        trajectories.estimate_homography(pts, pts[:10])


def homography_flow(H, h, w):
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    p = np.stack([xs, ys], -1).reshape(-1, 1, 2)
    q = cv2.perspectiveTransform(p, H).reshape(h, w, 2)
    return (q - np.stack([xs, ys], -1)).astype(np.float32)


def test_compensate_flow_cancels_camera_motion_and_keeps_object_motion():
    a = math.radians(0.5)
    H = np.array([[math.cos(a), -math.sin(a), 2.0], [math.sin(a), math.cos(a), -1.0], [1e-5, 0, 1]])
    flow = homography_flow(H, 120, 160)
    assert np.abs(trajectories.compensate_flow(flow, H)).max() < 1e-3
    moving = flow.copy()
    moving[40:60, 50:80] += (3.0, 0.0)      # an object moving right on top of the pan
    w = trajectories.compensate_flow(moving, H)
    np.testing.assert_allclose(np.median(w[45:55, 55:75].reshape(-1, 2), 0), [3.0, 0.0], atol=0.05)
    # the same camera motion expressed at the next pyramid level
    s = math.sqrt(2)
    Hs = trajectories.scale_homography(H, s)
    small = homography_flow(Hs, 85, 113)
    assert np.abs(trajectories.compensate_flow(small, Hs)).max() < 1e-3


def test_warp_frame_undoes_a_pan_and_keeps_uncovered_pixels():
    img = texture(120, 160)
    nxt = shifted(img, 4.0, 0.0)
    H = np.array([[1, 0, 4.0], [0, 1, 0], [0, 0, 1]])
    warped = trajectories.warp_frame(img, nxt, H)
    np.testing.assert_array_equal(warped[:, 10:140], img[:, 10:140])
    # pixels whose source is outside the frame keep frame t's values
    np.testing.assert_array_equal(warped[:, 157:], img[:, 157:])


@pytest.mark.parametrize("length, compensate", [(15, True), (15, False), (4, True), (9, False),
                                                (20, True)])
def test_compiled_emission_prunes_as_the_numpy_functions_do(length, compensate):
    from adl.features import idt_descriptors
    if idt_descriptors.resolve_backend("auto") != "numba":
        pytest.skip("numba not installed")
    from adl.features._idt_kernel import emit_kernel
    rng = np.random.default_rng(length)
    n = 400
    steps = rng.normal(0, 1.5, (n, length, 2)).astype(np.float32)
    steps[:60] *= 0.05                                    # static
    steps[60:90] *= 40                                    # erratic
    steps[90:110, length // 2] = 60                       # one jump
    points = np.concatenate([rng.random((n, 1, 2)) * 200, np.cumsum(steps, 1)], 1)
    points[:, 1:] += points[:, :1]
    points = points.astype(np.float32)
    disp = (rng.normal(0, 1, (n, length, 2)) * rng.random((n, 1, 1)) * 2).astype(np.float32)
    alive = rng.random(n) > 0.1
    scale = np.float32(1.4142135)
    kw = dict(min_disp=1.0, min_var=math.sqrt(3), max_var=50.0, max_dis=20.0)
    # the numpy path of features.f2 (_Extractor._emit)
    idx = np.flatnonzero(alive)
    if compensate:
        moving, shape = trajectories.camera_motion_filter(disp[alive] * scale, min_disp=kw["min_disp"])
        idx, shape = idx[moving], shape[moving]
    valid, plain, mean = trajectories.trajectory_validity(points[idx] * scale, min_var=kw["min_var"],
                                               max_var=kw["max_var"], max_dis=kw["max_dis"])
    want_rows = idx[valid]
    want_shape = (shape if compensate else plain)[valid]
    rows, got_shape, got_mean = emit_kernel(points, disp, alive, scale, compensate,
                                            *(np.float32(kw[k]) for k in kw))
    assert 30 < len(rows) < n - 100
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_array_equal(got_shape, want_shape)
    np.testing.assert_array_equal(got_mean, mean[valid])
