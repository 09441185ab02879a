"""Tests of features.idt_descriptors: orientation binning, integral histograms, tube cells."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from adl.features import idt_descriptors


def texture(h=96, w=128, seed=0):
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur((rng.random((h, w)) * 255).astype(np.uint8), (0, 0), 1.5)


def uniform_flow(h, w, dx, dy):
    f = np.empty((h, w, 2), np.float32)
    f[..., 0], f[..., 1] = dx, dy
    return f


def test_descriptor_dims_are_the_references():
    dims = idt_descriptors.descriptor_dims()
    assert dims == {"traj": 30, "hog": 96, "hof": 108, "mbhx": 96, "mbhy": 96}
    assert sum(dims.values()) == 426
    assert "hog" not in idt_descriptors.descriptor_dims(hog=False)
    assert idt_descriptors.histogram_types(False) == ("hof", "mbhx", "mbhy")


# --------------------------------------------------------------------------- per pixel
def test_orientation_bins_split_the_magnitude_between_the_two_nearest_bins():
    dx = np.array([1.0, 0.0, np.cos(np.radians(22.5)), np.cos(np.radians(337.5)), -2.0])
    dy = np.array([0.0, 1.0, np.sin(np.radians(22.5)), np.sin(np.radians(337.5)), 0.0])
    h = idt_descriptors.orientation_bins(dx, dy)
    assert h.shape == (5, 8)
    np.testing.assert_allclose(h[0], np.eye(8)[0], atol=1e-3)            # 0 deg -> bin 0
    np.testing.assert_allclose(h[1], np.eye(8)[2], atol=1e-3)            # 90 deg (y down) -> bin 2
    np.testing.assert_allclose(h[2, :2], [0.5, 0.5], atol=2e-3)          # half way 0/1
    np.testing.assert_allclose(h[3, [7, 0]], [0.5, 0.5], atol=2e-3)      # wraps 7/0
    np.testing.assert_allclose(h[4], 2 * np.eye(8)[4], atol=5e-3)        # 180 deg, magnitude 2
    np.testing.assert_allclose(h.sum(1), [1, 1, 1, 1, 2], rtol=1e-5)


def test_orientation_bins_no_motion_bin():
    h = idt_descriptors.orientation_bins(np.array([0.3, 0.0, 3.0]), np.array([0.0, -0.2, 0.0]), min_flow=0.4)
    assert h.shape == (3, 9)
    np.testing.assert_allclose(h[:2], [np.eye(9)[8]] * 2)
    np.testing.assert_allclose(h[2], 3 * np.eye(9)[0], atol=1e-3)
    with pytest.raises(ValueError, match="dx and dy of the same shape"):
        idt_descriptors.orientation_bins(np.zeros(3), np.zeros(4))


# --------------------------------------------------------------------------- integral
def reference_histograms(grey, flow, min_flow=0.4):
    """Per-pixel histograms (H, W, 33) built from orientation_bins, the slow way."""
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=1)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=1)
    fx, fy = np.ascontiguousarray(flow[..., 0]), np.ascontiguousarray(flow[..., 1])
    parts = [idt_descriptors.orientation_bins(gx, gy), idt_descriptors.orientation_bins(fx, fy, min_flow=min_flow)]
    for comp in (fx, fy):
        parts.append(idt_descriptors.orientation_bins(cv2.Sobel(comp, cv2.CV_32F, 1, 0, ksize=1),
                                        cv2.Sobel(comp, cv2.CV_32F, 0, 1, ksize=1)))
    return np.concatenate(parts, axis=-1)


def smooth_flow(h, w, seed=1):
    rng = np.random.default_rng(seed)
    f = cv2.GaussianBlur(rng.normal(0, 2, (h, w, 2)).astype(np.float32), (0, 0), 3)
    f[: h // 3] *= 0.1                       # a slow band for the "no motion" bin
    return f


def test_frame_integral_matches_per_pixel_histograms():
    grey = texture()
    flow = smooth_flow(*grey.shape)
    block = idt_descriptors.frame_integral(grey, flow)
    ref = reference_histograms(grey, flow)
    assert block.integral.shape == (33, 97, 129)
    assert block.types == ("hog", "hof", "mbhx", "mbhy")
    assert block.slices["hof"] == slice(8, 17)
    # sum over [10, 40) x [20, 60), from the four corners of every channel
    I = block.integral.astype(np.float64)
    box = I[:, 40, 60] - I[:, 10, 60] - I[:, 40, 20] + I[:, 10, 20]
    np.testing.assert_allclose(box, ref[10:40, 20:60].sum((0, 1)), rtol=1e-4, atol=1e-2)
    # the "no motion" channel counts the slow pixels
    assert I[16, -1, -1] == pytest.approx((np.hypot(flow[..., 0], flow[..., 1]) <= 0.4).sum())


def test_frame_integral_without_hog_and_input_errors():
    flow = smooth_flow(40, 50)
    assert idt_descriptors.frame_integral(None, flow, hog=False).integral.shape == (25, 41, 51)
    with pytest.raises(ValueError, match=r"flow of shape \(H, W, 2\)"):
        idt_descriptors.frame_integral(None, flow[..., 0], hog=False)
    with pytest.raises(ValueError, match="grey frame of shape"):
        idt_descriptors.frame_integral(np.zeros((10, 10), np.uint8), flow)


# --------------------------------------------------------------------------- per point
def test_tube_anchors_centre_and_clamp_the_patch():
    x0, y0 = idt_descriptors.tube_anchors(np.array([[50.4, 40.6], [3.0, 2.0], [127.0, 95.0]]), 128, 96)
    np.testing.assert_array_equal(x0, [34, 0, 96])
    np.testing.assert_array_equal(y0, [25, 0, 64])


def brute_descriptor(ref, point, width, height, sl, eps=0.05):
    """IDT GetDesc on a per-pixel histogram, by hand (x cells outer, y cells inner)."""
    x0, y0 = (int(v[0]) for v in idt_descriptors.tube_anchors(np.array([point]), width, height))
    vec = []
    for cx in range(2):
        for cy in range(2):
            cell = ref[y0 + 16 * cy: y0 + 16 * cy + 16, x0 + 16 * cx: x0 + 16 * cx + 16, sl]
            vec.extend(np.maximum(cell.sum((0, 1)), 0) + eps)
    vec = np.array(vec)
    return np.sqrt(vec / vec.sum())


def test_tube_descriptors_equal_the_reference_computation():
    grey = texture(seed=3)
    flow = smooth_flow(*grey.shape, seed=4)
    ref = reference_histograms(grey, flow)
    pts = np.array([[40.3, 30.7], [5.0, 90.0], [120.0, 10.2], [64.0, 48.0]], np.float32)
    desc = idt_descriptors.tube_descriptors(idt_descriptors.frame_integral(grey, flow), pts)
    assert {k: v.shape for k, v in desc.items()} == {
        "hog": (4, 32), "hof": (4, 36), "mbhx": (4, 32), "mbhy": (4, 32)}
    slices = idt_descriptors.type_channels(idt_descriptors.histogram_types(True))
    for t, v in desc.items():
        for i, p in enumerate(pts):
            np.testing.assert_allclose(v[i], brute_descriptor(ref, p, 128, 96, slices[t]),
                                       rtol=2e-3, atol=2e-4)
        np.testing.assert_allclose((v ** 2).sum(1), 1.0, rtol=1e-5)   # sqrt of an L1-normalised vector


def test_tube_cells_fast_path_equals_the_two_step_path():
    grey = texture(seed=5)
    flow = smooth_flow(*grey.shape, seed=6)
    pts = np.random.default_rng(0).random((50, 2)).astype(np.float32) * [128, 96]
    cells, slices = idt_descriptors.tube_cells(grey, flow, pts)
    assert cells.shape == (33, 2, 2, 50)
    desc = idt_descriptors.tube_descriptors(idt_descriptors.frame_integral(grey, flow), pts)
    for t, v in desc.items():
        np.testing.assert_allclose(idt_descriptors.cells_to_descriptor(cells, slices[t]), v, rtol=1e-5, atol=1e-6)
    empty, _ = idt_descriptors.tube_cells(grey, flow, np.zeros((0, 2), np.float32))
    assert empty.shape == (33, 2, 2, 0)
    with pytest.raises(ValueError, match="multiple of n_cells"):
        idt_descriptors.tube_cells(grey, flow, pts, patch=31)


numba_only = pytest.mark.skipif(idt_descriptors.resolve_backend("auto") != "numba", reason="numba not installed")


def _points_with_borders(n, w, h, seed):
    pts = np.random.default_rng(seed).random((n, 2)).astype(np.float32) * [w, h]
    border = np.array([[0, 0], [w - 1, h - 1], [0.5, h / 2], [w - 0.5, 3], [15.5, 16.5],
                       [16.5, 15.5], [w / 2, h - 16.5]], np.float32)
    return np.concatenate([pts, border])


@numba_only
@pytest.mark.parametrize("hog", [True, False])
def test_tube_cells_numba_kernel_equals_the_opencv_path(hog):
    grey = texture(seed=9)
    flow = smooth_flow(*grey.shape, seed=10)
    pts = _points_with_borders(300, 128, 96, seed=2)
    a, sa = idt_descriptors.tube_cells(grey, flow, pts, hog=hog, backend="opencv")
    b, sb = idt_descriptors.tube_cells(grey, flow, pts, hog=hog, backend="numba")
    assert sa == sb and b.shape == a.shape == ((33 if hog else 25), 2, 2, len(pts))
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
    # the point-major layout holds the same values, in both implementations
    for backend, want in (("numba", b), ("opencv", a)):
        pm, _ = idt_descriptors.tube_cells(grey, flow, pts, hog=hog, backend=backend, point_major=True)
        np.testing.assert_array_equal(pm, np.moveaxis(want, -1, 0))
        for t, sl in sb.items():
            np.testing.assert_array_equal(idt_descriptors.cells_to_descriptor(pm, sl, point_major=True),
                                          idt_descriptors.cells_to_descriptor(want, sl))
    empty, _ = idt_descriptors.tube_cells(grey, flow, pts[:0], hog=hog, point_major=True)
    assert empty.shape == (0, a.shape[0], 2, 2)
    # and both are IDT GetDesc on the per-pixel histograms (brute-force sums)
    if hog:
        ref = reference_histograms(grey, flow)
        for t, sl in sb.items():
            got = idt_descriptors.cells_to_descriptor(b, sl)
            for i in (0, 1, len(pts) - 3, len(pts) - 1):
                np.testing.assert_allclose(got[i], brute_descriptor(ref, pts[i], 128, 96, sl),
                                           rtol=2e-3, atol=2e-4)


@numba_only
def test_tube_cells_numba_kernel_other_geometry_and_small_frames():
    grey = texture(h=70, w=90, seed=11)
    flow = smooth_flow(70, 90, seed=12)
    pts = _points_with_borders(40, 90, 70, seed=3)
    kw = dict(patch=24, n_cells=3, epsilon=0.1, min_flow=0.2)
    a, _ = idt_descriptors.tube_cells(grey, flow, pts, backend="opencv", **kw)
    b, _ = idt_descriptors.tube_cells(grey, flow, pts, backend="numba", **kw)
    assert b.shape == (33, 3, 3, len(pts))
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
    # a frame narrower than the patch takes the OpenCV path whatever the backend
    small = idt_descriptors.tube_cells(grey[:20, :30], flow[:20, :30], pts[:5] / 4, backend="numba")[0]
    np.testing.assert_array_equal(small, idt_descriptors.tube_cells(grey[:20, :30], flow[:20, :30], pts[:5] / 4,
                                                      backend="opencv")[0])


@pytest.mark.parametrize("backend", ["opencv", pytest.param("numba", marks=numba_only)])
def test_accumulate_tube_cells_adds_each_points_cells_to_its_slot(backend):
    grey = texture(seed=13)
    flow = smooth_flow(*grey.shape, seed=14)
    pts = _points_with_borders(50, 128, 96, seed=4)
    cells, slices = idt_descriptors.tube_cells(grey, flow, pts, backend=backend, point_major=True)
    rng = np.random.default_rng(5)
    acc = rng.random((80, 3, 2, 2, 33)).astype(np.float32)       # (slot, t, y, x, channel)
    before = acc.copy()
    slot = rng.choice(80, len(pts), replace=False)
    tcell = rng.integers(0, 3, len(pts))
    idt_descriptors.accumulate_tube_cells(grey, flow, pts, acc, slot, tcell, backend=backend)
    # the same float32 additions; other slots and temporal cells untouched
    want = before.copy()
    want[slot, tcell] += cells.transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(acc, want)
    # from zero, channels-last accumulators give tube_cells' descriptors
    zero = np.zeros((len(pts), 1, 2, 2, 33), np.float32)
    idt_descriptors.accumulate_tube_cells(grey, flow, pts, zero, np.arange(len(pts)), np.zeros(len(pts), int),
                            backend=backend)
    for sl in slices.values():
        np.testing.assert_array_equal(idt_descriptors.cells_to_descriptor(zero, sl, channels_last=True),
                                      idt_descriptors.cells_to_descriptor(cells, sl, point_major=True))
    with pytest.raises(ValueError, match=r"accumulators of shape \(M, T, 2, 2, 33\)"):
        idt_descriptors.accumulate_tube_cells(grey, flow, pts, np.zeros((80, 3, 33, 2, 2), np.float32), slot,
                                tcell, backend=backend)
    with pytest.raises(ValueError, match=r"temporal cells in \[0, 3\)"):
        idt_descriptors.accumulate_tube_cells(grey, flow, pts, acc, slot, tcell + 1, backend=backend)
    with pytest.raises(ValueError, match="expected 57 slots"):
        idt_descriptors.accumulate_tube_cells(grey, flow, pts, acc, slot[:3], tcell, backend=backend)


def test_backend_choice(monkeypatch):
    monkeypatch.setenv(idt_descriptors.BACKEND_ENV, "opencv")
    assert idt_descriptors.resolve_backend() == "opencv"
    monkeypatch.setenv(idt_descriptors.BACKEND_ENV, "cuda")
    with pytest.raises(ValueError, match=r"unknown descriptor backend 'cuda'.*ADL_IDT_BACKEND"):
        idt_descriptors.resolve_backend()
    monkeypatch.delenv(idt_descriptors.BACKEND_ENV)
    # without numba: "auto" falls back to OpenCV, "numba" says what to do
    import sys
    import adl.features
    monkeypatch.setitem(sys.modules, "numba", None)
    monkeypatch.delitem(sys.modules, "adl.features._idt_kernel", raising=False)
    monkeypatch.delattr(adl.features, "_idt_kernel", raising=False)
    assert idt_descriptors.resolve_backend("auto") == "opencv"
    with pytest.raises(ImportError, match="ADL_IDT_BACKEND=opencv"):
        idt_descriptors.resolve_backend("numba")
    grey = texture(seed=5)
    flow = smooth_flow(*grey.shape, seed=6)
    cells, _ = idt_descriptors.tube_cells(grey, flow, np.array([[40.0, 40.0]], np.float32))
    assert cells.shape == (33, 2, 2, 1)


def test_tube_cells_chunk_large_point_sets(monkeypatch):
    grey = texture(seed=7)
    flow = smooth_flow(*grey.shape, seed=8)
    pts = np.random.default_rng(1).random((23, 2)).astype(np.float32) * [128, 96]
    whole, _ = idt_descriptors.tube_cells(grey, flow, pts, backend="opencv")
    monkeypatch.setattr(idt_descriptors, "_MAX_MAP", 5)             # remap is limited to 32767 px a side
    chunked, _ = idt_descriptors.tube_cells(grey, flow, pts, backend="opencv")
    np.testing.assert_array_equal(chunked, whole)


@pytest.mark.parametrize("dx, dy, peak", [(3.0, 0.0, 0), (0.0, -3.0, 6), (-2.0, 2.0, 3),
                                          (0.1, 0.1, 8)])
def test_hof_of_a_uniform_translation_peaks_in_its_direction_bin(dx, dy, peak):
    grey = texture()
    flow = uniform_flow(96, 128, dx, dy)
    desc = idt_descriptors.tube_descriptors(idt_descriptors.frame_integral(grey, flow), np.array([[64.0, 48.0], [20, 20]]))
    hof = desc["hof"].reshape(2, 4, 9)          # (point, cell, bin)
    assert (hof.argmax(-1) == peak).all()
    # motion boundaries of a uniform flow are zero: MBH is flat (epsilon only)
    np.testing.assert_allclose(desc["mbhx"], np.sqrt(1 / 32), rtol=1e-4)


def test_cells_to_descriptor_orders_x_cells_before_y_cells():
    cells = np.zeros((2, 2, 2, 1), np.float32)        # (channel, y, x, point)
    cells[0, 0, 1, 0] = 1.0                            # y cell 0, x cell 1, channel 0
    out = idt_descriptors.cells_to_descriptor(cells, slice(0, 2))
    # order: (x0 y0), (x0 y1), (x1 y0), (x1 y1), two bins each
    np.testing.assert_array_equal(out[0], [0, 0, 0, 0, 1, 0, 0, 0])
    pooled = np.zeros((3, 2, 2, 2, 1), np.float32)     # with a temporal axis first
    pooled[2, 1, 1, 0, 0] = 5
    assert idt_descriptors.cells_to_descriptor(pooled, slice(0, 2))[0].tolist().index(5) == 2 * 8 + 0 * 4 + 1 * 2 + 1
    # point first: the same order
    np.testing.assert_array_equal(
        idt_descriptors.cells_to_descriptor(np.moveaxis(cells, -1, 0), slice(0, 2), point_major=True)[0], out[0])
    pm = np.moveaxis(pooled, -1, 0)                     # (point, t, channel, y, x)
    assert idt_descriptors.cells_to_descriptor(pm, slice(0, 2), point_major=True)[0].tolist().index(5) == 19
    # channels last (point, t, y, x, channel): the same order again
    cl = pm.transpose(0, 1, 3, 4, 2)
    assert idt_descriptors.cells_to_descriptor(cl, slice(0, 2), channels_last=True)[0].tolist().index(5) == 19
    np.testing.assert_array_equal(
        idt_descriptors.cells_to_descriptor(np.moveaxis(cells, -1, 0).transpose(0, 2, 3, 1), slice(0, 2),
                              channels_last=True)[0], out[0])


def test_pool_temporal_averages_cells_of_five_frames():
    fd = np.arange(15, dtype=np.float32).reshape(1, 15, 1).repeat(2, axis=2)
    np.testing.assert_allclose(idt_descriptors.pool_temporal(fd), [[2, 2, 7, 7, 12, 12]])
    with pytest.raises(ValueError, match=r"shape \(N, L, d\)"):
        idt_descriptors.pool_temporal(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="trajectory length >= n_t_cells"):
        idt_descriptors.pool_temporal(np.zeros((1, 2, 4)))


# --------------------------------------------------------------------------- mirroring
def test_mirror_bin_maps_follow_a_flipped_vector_field():
    """A left-right flip turns a gradient/flow vector (a, b) into (-a, b) (HOG,
    HOF, MBHy) or, for the gradient of the flow's x component, (a, -b) (MBHx):
    the per-pixel histograms of the flipped vectors are the permuted ones."""
    rng = np.random.default_rng(3)
    dx, dy = rng.normal(0, 2, (2, 40, 50)).astype(np.float32)
    for kind, (fx, fy) in {"hog": (-dx, dy), "mbhy": (-dx, dy), "mbhx": (dx, -dy)}.items():
        m = idt_descriptors.mirror_bin_map(kind)
        np.testing.assert_allclose(idt_descriptors.orientation_bins(fx, fy), idt_descriptors.orientation_bins(dx, dy)[..., m],
                                   atol=1e-4, err_msg=kind)
    m = idt_descriptors.mirror_bin_map("hof")
    assert len(m) == 9 and m[8] == 8
    np.testing.assert_allclose(idt_descriptors.orientation_bins(-dx, dy, min_flow=0.4),
                               idt_descriptors.orientation_bins(dx, dy, min_flow=0.4)[..., m], atol=1e-4)
    assert np.array_equal(idt_descriptors.mirror_bin_map("hog"), [4, 3, 2, 1, 0, 7, 6, 5])
    assert np.array_equal(idt_descriptors.mirror_bin_map("mbhx"), [0, 7, 6, 5, 4, 3, 2, 1])
    with pytest.raises(ValueError, match="unknown histogram type"):
        idt_descriptors.mirror_bin_map("traj")


def test_mirror_descriptors_swaps_x_cells_permutes_bins_and_negates_dx():
    rng = np.random.default_rng(0)
    n = 7
    desc = {t: rng.random((n, d)).astype(np.float16) for t, d in idt_descriptors.descriptor_dims().items()}
    desc["positions"] = rng.random((n, 3)).astype(np.float32)
    m = idt_descriptors.mirror_descriptors(desc)
    assert {k: (v.shape, v.dtype) for k, v in m.items()} == \
        {k: (v.shape, v.dtype) for k, v in desc.items()}
    assert np.array_equal(m["positions"], desc["positions"])
    assert np.array_equal(m["traj"][:, 0::2], -desc["traj"][:, 0::2])
    assert np.array_equal(m["traj"][:, 1::2], desc["traj"][:, 1::2])
    # HOF: (t, x, y, bin); value of cell (t=1, x=0, y=1, bin 2) moves to (1, 1, 1, 4 - 2)
    a = desc["hof"].reshape(n, 3, 2, 2, 9)
    b = m["hof"].reshape(n, 3, 2, 2, 9)
    assert np.array_equal(b[:, 1, 1, 1, 2], a[:, 1, 0, 1, 2])
    assert np.array_equal(b[:, 2, 0, 0, 8], a[:, 2, 1, 0, 8])       # "no motion" stays
    # MBHx bin 1 -> 7
    a = desc["mbhx"].reshape(n, 3, 2, 2, 8)
    b = m["mbhx"].reshape(n, 3, 2, 2, 8)
    assert np.array_equal(b[:, 0, 0, 1, 7], a[:, 0, 1, 1, 1])
    # an involution
    twice = idt_descriptors.mirror_descriptors(m)
    assert all(np.array_equal(twice[k], desc[k]) for k in desc)
    with pytest.raises(ValueError, match="expected hog descriptors"):
        idt_descriptors.mirror_descriptors({"hog": np.zeros((2, 95))})
