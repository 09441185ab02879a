"""adl.deep.figures: every figure writes a PNG that reads back at a sensible
size, the heat map lands where the crop box says, the drawn data move the
pixels they should, and bad inputs raise with expected vs found."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adl.data.layouts import get_layout
from adl.deep import figures as F

HOT = np.array([64, 0, 0])      # 0.5 * jet(1.0) * 255 over a black frame (alpha 0.5)
COLD = np.array([0, 0, 64])     # 0.5 * jet(0.0) * 255


def _read(path: Path) -> np.ndarray:
    """The PNG as uint8 RGB (H, W, 3)."""
    from matplotlib.image import imread

    assert path.is_file() and path.stat().st_size > 0
    img = imread(path)
    return np.rint(img[..., :3] * 255).astype(int)


def _mask(img: np.ndarray, colour, tol: int = 2) -> np.ndarray:
    return np.all(np.abs(img - np.asarray(colour)) <= tol, axis=-1)


def _bbox(mask: np.ndarray):
    rows, cols = np.nonzero(mask)
    return rows.min(), rows.max() + 1, cols.min(), cols.max() + 1


def _softmax_rows(rng, n, k):
    return rng.dirichlet(np.ones(k), size=n)


# --------------------------------------------------------------------------- module hygiene

def test_module_uses_no_pyplot_and_imports_matplotlib_lazily():
    source = Path(F.__file__).read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            assert not any("pyplot" in a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert "pyplot" not in (node.module or "")
            assert "pyplot" not in [a.name for a in node.names]
    out = subprocess.run([sys.executable, "-c", "import sys, adl.deep.figures; "
                          "print('matplotlib' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_png_written_atomically_into_a_new_folder_and_deterministic(tmp_path):
    rng = np.random.default_rng(0)
    w, y = _softmax_rows(rng, 12, 3), rng.integers(0, 3, 12)
    target = tmp_path / "new" / "parts.png"
    assert F.plot_part_weights(w, y, ["a", "b", "c"], target) == target
    first = target.read_bytes()
    F.plot_part_weights(w, y, ["a", "b", "c"], target)          # replaces it
    assert target.read_bytes() == first                            # same input, same bytes
    assert [p.name for p in target.parent.iterdir()] == ["parts.png"]   # no temp file left


# --------------------------------------------------------------------------- part weights

def test_part_weights_png_and_classes_without_samples_left_out(tmp_path):
    rng = np.random.default_rng(1)
    w = _softmax_rows(rng, 30, 3)
    y = np.repeat([0, 1], 15)
    two = _read(F.plot_part_weights(w, y, ["drink", "kick"], tmp_path / "two.png"))
    many = _read(F.plot_part_weights(w, y, ["drink", "kick"] + [f"c{i}" for i in range(18)],
                                     tmp_path / "many.png", spread="sem"))
    assert 350 <= two.shape[0] <= 500 and 550 <= two.shape[1] <= 700
    assert many.shape == two.shape          # the 18 empty classes take no room
    wide = _read(F.plot_part_weights(w, np.arange(30) % 20, [f"c{i}" for i in range(20)],
                                     tmp_path / "wide.png", spread="none"))
    assert wide.shape[1] > 1.5 * two.shape[1]


@pytest.mark.parametrize("weights, labels, classes, kw, match", [
    (np.full((4, 4), 0.25), [0] * 4, ["a"], {}, r"weights of shape \(N, 3\)"),
    (np.zeros((0, 3)), [], ["a"], {}, r"weights of shape \(N, 3\)"),
    (np.full((2, 3), 0.5), [0, 0], ["a"], {}, "softmax weights in weights"),
    (np.array([[1.2, -0.2, 0.0]] * 2), [0, 0], ["a"], {}, r"weights in \[0, 1\]"),
    (np.array([[np.nan, 0.5, 0.5]]), [0], ["a"], {}, "finite values in weights"),
    (np.full((2, 3), 1 / 3), [0, 2], ["a", "b"], {}, r"labels in \[0, 2\)"),
    (np.full((2, 3), 1 / 3), [0.0, 1.0], ["a", "b"], {}, r"integer labels of shape \(2,\)"),
    (np.full((2, 3), 1 / 3), [0], ["a", "b"], {}, r"integer labels of shape \(2,\)"),
    (np.full((2, 3), 1 / 3), [0, 0], [], {}, "at least one class name"),
    (np.full((2, 3), 1 / 3), [0, 0], ["a"], {"spread": "iqr"}, "spread one of"),
])
def test_part_weights_bad_input(tmp_path, weights, labels, classes, kw, match):
    with pytest.raises(ValueError, match=match):
        F.plot_part_weights(weights, labels, classes, tmp_path / "x.png", **kw)
    assert not (tmp_path / "x.png").exists()


def test_numeric_array_refused(tmp_path):
    with pytest.raises(ValueError, match="weights as a numeric array"):
        F.plot_part_weights([["a", "b", "c"]], [0], ["x"], tmp_path / "x.png")


# --------------------------------------------------------------------------- blend

@pytest.mark.parametrize("upsample", ["nearest", "bilinear"])
def test_blend_puts_the_hot_cell_where_the_box_maps_it(upsample):
    frame = np.zeros((64, 80, 3), np.uint8)
    box = [16, 8, 64, 56]                          # 48 x 48 pixels: 12 per cell
    spatial = np.zeros((4, 4))
    spatial[1, 2] = 1.0                            # row 1, column 2
    out = F.blend_attention(frame, box, spatial, upsample=upsample)
    # the hottest pixels: those whose colour is nearest jet(1.0)'s (jet's red darkens
    # monotonically towards 1, so the nearest colour is the highest value)
    dist = np.abs(out.astype(int) - HOT).sum(axis=-1)
    r0, r1, c0, c1 = _bbox(dist == dist.min())
    # cell (1, 2) covers x in [16 + 24, 16 + 36), y in [8 + 12, 8 + 24)
    assert 20 <= r0 and r1 <= 32 and 40 <= c0 and c1 <= 52
    if upsample == "nearest":
        assert (r0, r1, c0, c1) == (20, 32, 40, 52)
    else:                                           # only the pixels at the cell's centre
        assert (r0, r1, c0, c1) == (25, 27, 45, 47)
    inside = np.zeros((64, 80), bool)
    inside[8:56, 16:64] = True
    assert np.all(out[~inside] == 0)                # outside the box: the frame, untouched
    assert np.all(out[inside].sum(axis=-1) > 0)     # inside: all blended


def test_blend_clips_a_box_leaving_the_image_and_keeps_the_input():
    frame = np.full((20, 30, 3), 200, np.uint8)
    spatial = np.zeros((2, 2))
    spatial[1, 1] = 1.0
    out = F.blend_attention(frame, [20, 10, 40, 30], spatial, upsample="nearest", alpha=1.0)
    assert np.all(frame == 200)                     # a new image
    # the box's bottom-right cell [30, 40) x [20, 30) lies outside: only cold cells inside
    assert np.all(out[10:20, 20:30] == [0, 0, 128])
    assert np.all(out[:10] == 200) and np.all(out[:, :20] == 200)
    same = F.blend_attention(frame, [0, 0, 30, 20], spatial, alpha=0.0)
    assert np.array_equal(same, frame)


@pytest.mark.parametrize("frame, box, spatial, kw, match", [
    (np.zeros((8, 8, 3)), [0, 0, 8, 8], np.zeros((2, 2)), {}, "frame as uint8 RGB"),
    (np.zeros((8, 8), np.uint8), [0, 0, 8, 8], np.zeros((2, 2)), {}, "frame as uint8 RGB"),
    (np.zeros((8, 8, 3), np.uint8), [0, 0, 8], np.zeros((2, 2)), {}, r"box of shape \(4,\)"),
    (np.zeros((8, 8, 3), np.uint8), [4, 0, 2, 8], np.zeros((2, 2)), {}, "x1 > x0"),
    (np.zeros((8, 8, 3), np.uint8), [8, 0, 12, 8], np.zeros((2, 2)), {}, "overlap the 8x8"),
    (np.zeros((8, 8, 3), np.uint8), [0, 0, 8, 8], np.zeros((2, 2, 2)), {},
     r"spatial of shape \(h, w\)"),
    (np.zeros((8, 8, 3), np.uint8), [0, 0, 8, 8], np.full((2, 2), 1.5), {},
     r"spatial in \[0, 1\]"),
    (np.zeros((8, 8, 3), np.uint8), [0, 0, 8, 8], np.zeros((2, 2)), {"alpha": 2.0},
     r"alpha in \[0, 1\]"),
    (np.zeros((8, 8, 3), np.uint8), [0, 0, 8, 8], np.zeros((2, 2)), {"cmap": "nope"},
     "colormap name"),
    (np.zeros((8, 8, 3), np.uint8), [0, 0, 8, 8], np.zeros((2, 2)), {"upsample": "cubic"},
     "upsample one of"),
])
def test_blend_bad_input(frame, box, spatial, kw, match):
    with pytest.raises(ValueError, match=match):
        F.blend_attention(frame, box, spatial, **kw)


# --------------------------------------------------------------------------- spatial figure

def test_spatial_png_places_the_hot_cell_inside_the_box(tmp_path):
    frames = np.zeros((1, 64, 80, 3), np.uint8)
    spatial = np.zeros((4, 4))
    spatial[1, 2] = 1.0
    img = _read(F.plot_spatial_attention(frames, [16, 8, 64, 56], spatial, None,
                                         tmp_path / "s.png", upsample="nearest",
                                         draw_box=False))
    assert 300 <= img.shape[0] <= 400 and 430 <= img.shape[1] <= 470
    f0, f1, g0, g1 = _bbox(np.any(img < 250, axis=-1))     # the frame: all that is not white
    fh, fw = f1 - f0, g1 - g0
    assert abs(fw / fh - 80 / 64) < 0.03
    b0, b1, c0, c1 = _bbox(_mask(img, COLD) | _mask(img, HOT))   # the blended box
    assert abs((c0 - g0) / fw - 16 / 80) < 0.02 and abs((c1 - g0) / fw - 64 / 80) < 0.02
    assert abs((b0 - f0) / fh - 8 / 64) < 0.02 and abs((b1 - f0) / fh - 56 / 64) < 0.02
    h0, h1, k0, k1 = _bbox(_mask(img, HOT))                  # the hot cell
    assert abs((k0 - g0) / fw - 40 / 80) < 0.02 and abs((k1 - g0) / fw - 52 / 80) < 0.02
    assert abs((h0 - f0) / fh - 20 / 64) < 0.02 and abs((h1 - f0) / fh - 32 / 64) < 0.02


def test_spatial_joint_attention_takes_each_frames_step_and_the_strip_adds_height(tmp_path):
    frames = np.zeros((2, 40, 40, 3), np.uint8)
    spatial = np.zeros((4, 2, 2))
    spatial[0, 0, 0] = 1.0                # step 0: top-left hot
    spatial[3, 1, 1] = 1.0                # step 3: bottom-right hot
    temporal = np.array([0.1, 0.2, 0.3, 0.4])
    img = _read(F.plot_spatial_attention(frames, np.array([[0, 0, 40, 40]] * 2), spatial,
                                         temporal, tmp_path / "j.png", "clip",
                                         frame_steps=[0, 3], upsample="nearest"))
    no_strip = _read(F.plot_spatial_attention(frames, [0, 0, 40, 40], spatial, None,
                                              tmp_path / "n.png", frame_steps=[0, 3]))
    assert img.shape[0] > no_strip.shape[0] + 100
    hot = _mask(img, HOT)
    half = img.shape[1] // 2
    left_r, left_c = np.nonzero(hot[:, :half])
    right_r, right_c = np.nonzero(hot[:, half:])
    assert left_r.size and right_r.size
    assert left_r.mean() < right_r.mean()                 # top vs bottom row of the box
    assert left_c.mean() < right_c.mean()                 # left vs right column (per panel)


def test_spatial_default_steps_spread_frames_over_the_clip(tmp_path):
    frames = np.zeros((2, 16, 16, 3), np.uint8)
    spatial = np.zeros((4, 2, 2))
    spatial[1, 0, 0] = 1.0                # default steps for k=2, t=4: 1 and 3
    spatial[3, 0, 0] = 1.0
    img = _read(F.plot_spatial_attention(frames, [0, 0, 16, 16], spatial, None,
                                         tmp_path / "d.png", upsample="nearest"))
    half = img.shape[1] // 2
    assert _mask(img[:, :half], HOT).any() and _mask(img[:, half:], HOT).any()
    spatial[1] = 0.0                      # now frame 1's map (step 1) is cold
    img = _read(F.plot_spatial_attention(frames, [0, 0, 16, 16], spatial, None,
                                         tmp_path / "d.png", upsample="nearest"))
    assert not _mask(img[:, :half], HOT).any() and _mask(img[:, half:], HOT).any()


def test_spatial_flat_maps_and_map_normalisation(tmp_path):
    frames = np.zeros((1, 32, 32, 3), np.uint8)
    grid = np.zeros((4, 4))
    grid[2, 1] = 1.0
    a = F.plot_spatial_attention(frames, [0, 0, 32, 32], grid, None, tmp_path / "a.png")
    b = F.plot_spatial_attention(frames, [0, 0, 32, 32], grid.reshape(16), None,
                                 tmp_path / "b.png", map_shape=(4, 4))
    assert a.read_bytes() == b.read_bytes()          # row-major flat map, same figure
    tiny = np.full((3, 16), 0.001)                   # a softmax-normalised joint map
    tiny[:, 9] = 0.01
    plain = _read(F.plot_spatial_attention(frames, [0, 0, 32, 32], tiny, [0.2, 0.3, 0.5],
                                           tmp_path / "p.png", map_shape=(4, 4),
                                           upsample="nearest"))
    scaled = _read(F.plot_spatial_attention(frames, [0, 0, 32, 32], tiny, [0.2, 0.3, 0.5],
                                            tmp_path / "s.png", map_shape=(4, 4),
                                            upsample="nearest", normalise_map=True))
    top = slice(0, int(0.6 * plain.shape[0]))        # the frame, above the strip and colour bar
    assert not _mask(plain[top], HOT).any() and _mask(scaled[top], HOT).any()


@pytest.mark.parametrize("frames, boxes, spatial, temporal, kw, match", [
    (np.zeros((1, 8, 8, 3)), [0, 0, 8, 8], np.zeros((2, 2)), None, {},
     r"frames as uint8 RGB of shape \(k, H, W, 3\)"),
    (np.zeros((8, 8, 3), np.uint8), [0, 0, 8, 8], np.zeros((2, 2)), None, {},
     r"frames as uint8 RGB of shape \(k, H, W, 3\)"),
    (np.zeros((2, 8, 8, 3), np.uint8), np.zeros((3, 4)), np.zeros((2, 2)), None, {},
     r"boxes of shape \(4,\) or \(2, 4\)"),
    (np.zeros((1, 8, 8, 3), np.uint8), [0, 0, 8, 8], np.zeros(4), None, {},
     r"spatial of shape \(h, w\) or \(t, h, w\)"),
    (np.zeros((1, 8, 8, 3), np.uint8), [0, 0, 8, 8], np.full((2, 2), -0.1), None, {},
     r"spatial in \[0, 1\]"),
    (np.zeros((1, 8, 8, 3), np.uint8), [0, 0, 8, 8], np.zeros((2, 2)), np.ones((2, 2)) / 4, {},
     r"temporal of shape \(t,\)"),
    (np.zeros((1, 8, 8, 3), np.uint8), [0, 0, 8, 8], np.zeros((2, 2)), [0.5, 0.6], {},
     "softmax weights in temporal"),
    (np.zeros((1, 8, 8, 3), np.uint8), [0, 0, 8, 8], np.zeros((3, 2, 2)), [0.5, 0.5], {},
     "same t, got"),
    (np.zeros((1, 8, 8, 3), np.uint8), [0, 0, 8, 8], np.zeros((2, 2)), [0.5, 0.5],
     {"frame_steps": [2]}, r"frame_steps in \[0, 2\)"),
    (np.zeros((1, 8, 8, 3), np.uint8), [0, 0, 8, 8], np.zeros((2, 2)), [0.5, 0.5],
     {"frame_steps": [0.0]}, r"integer frame_steps of shape \(1,\)"),
    (np.zeros((1, 8, 8, 3), np.uint8), [0, 0, 8, 8], np.zeros((2, 2)), None,
     {"frame_steps": [0]}, "frame_steps needs a time axis"),
    (np.zeros((1, 8, 8, 3), np.uint8), [-9, 0, -1, 8], np.zeros((2, 2)), None, {},
     "overlap the 8x8 image"),
    (np.zeros((1, 8, 8, 3), np.uint8), [0, 0, 8, 8], np.zeros(16), None,
     {"map_shape": (3, 3)}, r"flat spatial of shape \(9,\) or \(t, 9\) for map_shape"),
])
def test_spatial_bad_input(tmp_path, frames, boxes, spatial, temporal, kw, match):
    with pytest.raises(ValueError, match=match):
        F.plot_spatial_attention(frames, boxes, spatial, temporal, tmp_path / "x.png", **kw)
    assert not (tmp_path / "x.png").exists()


# --------------------------------------------------------------------------- joints

def _pose():
    """Joint 0 at the bottom, joint 1 at the top, joint 2 at the right."""
    return np.array([[0.0, 0.0, 3.0], [0.0, 1.0, 3.0], [0.7, 0.3, 3.0]])


def test_joint_png_on_a_real_layout(tmp_path):
    layout = get_layout("kinect_v2_25")
    rng = np.random.default_rng(2)
    joints = rng.normal(size=(layout.n_joints, 3))
    img = _read(F.plot_joint_activations(joints, rng.random(layout.n_joints), layout.bones,
                                         tmp_path / "j.png", joint_names=layout.joints))
    assert 450 <= img.shape[0] <= 550 and 420 <= img.shape[1] <= 500
    img2 = _read(F.plot_joint_activations(joints[:, :2], rng.random(layout.n_joints),
                                          layout.bones, tmp_path / "j2.png", annotate_top=0))
    assert img2.shape == img.shape


def test_joint_hot_colour_follows_the_y_direction(tmp_path):
    hot = np.array([128, 0, 38])                     # YlOrRd(1.0)
    act = np.array([0.0, 5.0, 1.0])                  # joint 1 (top in body coordinates) hottest
    rows = {}
    for y_up in (True, False):
        img = _read(F.plot_joint_activations(_pose(), act, [(0, 1), (0, 2)],
                                             tmp_path / f"{y_up}.png", y_up=y_up,
                                             annotate_top=0))
        main = img[:, : int(0.7 * img.shape[1])]    # leave out the colour bar
        r, _ = np.nonzero(_mask(main, hot, tol=3))
        assert r.size
        rows[y_up] = r.mean() / img.shape[0]
    assert rows[True] < 0.4 < 0.6 < rows[False]     # top of the plot vs bottom


def test_joint_normalisation_choice(tmp_path):
    cold = np.array([255, 255, 204])                 # YlOrRd(0.0)
    counts = {}
    for how in ("max", "minmax"):
        img = _read(F.plot_joint_activations(_pose(), [1.0, 2.0, 3.0], [(0, 1)],
                                             tmp_path / f"{how}.png", normalise=how))
        counts[how] = int(_mask(img[:, : int(0.7 * img.shape[1])], cold, tol=2).sum())
    assert counts["max"] == 0 < counts["minmax"]     # only minmax maps the least to 0


@pytest.mark.parametrize("joints, act, bones, kw, match", [
    (np.zeros((3, 4)), np.ones(3), [], {}, r"joints of shape \(J, 3\) or \(J, 2\)"),
    (np.zeros((3, 3)), np.ones(4), [], {}, r"activations of shape \(3,\)"),
    (np.zeros((3, 3)), [1.0, -1.0, 0.0], [], {}, "activations >= 0"),
    (np.zeros((3, 3)), np.ones(3), [(0, 3)], {}, "bones between joints 0..2"),
    (np.zeros((3, 3)), np.ones(3), [(0, 1, 2)], {}, r"\(int, int\) pairs"),
    (np.zeros((3, 3)), np.ones(3), [(0, "x")], {}, r"\(int, int\) pairs"),
    (np.zeros((3, 3)), np.ones(3), [], {"joint_names": ["a"]}, "expected 3 joint names"),
    (np.zeros((3, 3)), np.ones(3), [], {"annotate_top": -1}, "annotate_top >= 0"),
    (np.zeros((3, 3)), np.ones(3), [], {"normalise": "z"}, "normalise one of"),
    (np.full((3, 3), np.inf), np.ones(3), [], {}, "finite values in joints"),
])
def test_joint_bad_input(tmp_path, joints, act, bones, kw, match):
    with pytest.raises(ValueError, match=match):
        F.plot_joint_activations(joints, act, bones, tmp_path / "x.png", **kw)


# --------------------------------------------------------------------------- temporal model

def test_temporal_png_rows_and_the_hot_segment(tmp_path):
    hot = np.array([128, 0, 38])                     # YlOrRd(1.0)
    one = _read(F.plot_temporal_attention({2: [1.0, 0.0]}, [1.0], tmp_path / "one.png"))
    three = _read(F.plot_temporal_attention({4: [0.1, 0.2, 0.3, 0.4], 2: [0.5, 0.5],
                                             np.int64(3): [0.2, 0.5, 0.3]},
                                            [0.2, 0.3, 0.5], tmp_path / "three.png", "video"))
    assert three.shape[0] > one.shape[0] + 100 and three.shape[1] == one.shape[1] == 800
    # G = 2 with all weight on S2,1: the hot colour fills the left half of the time axis
    cols = np.nonzero(_mask(one[:, : int(0.7 * one.shape[1])], hot, tol=3))[1]
    assert cols.size and cols.max() < 0.4 * one.shape[1]


def test_temporal_granularity_weights_follow_the_given_order(tmp_path):
    seg = {4: [0.1, 0.2, 0.3, 0.4], 2: [0.6, 0.4]}
    as_given = F.plot_temporal_attention(seg, [0.9, 0.1], tmp_path / "a.png")
    named = F.plot_temporal_attention({2: [0.6, 0.4], 4: [0.1, 0.2, 0.3, 0.4]},
                                      {4: 0.9, 2: 0.1}, tmp_path / "b.png")
    swapped = F.plot_temporal_attention(seg, [0.1, 0.9], tmp_path / "c.png")
    assert as_given.read_bytes() == named.read_bytes() != swapped.read_bytes()
    plain = _read(F.plot_temporal_attention(seg, [1.0, 1.0], tmp_path / "d.png",
                                            granularity_attention=False))
    assert plain.shape == _read(as_given).shape


@pytest.mark.parametrize("segments, beta, match", [
    ({}, [], "at least one granularity"),
    ({0: []}, [1.0], "positive integers, got 0"),
    ({"2": [0.5, 0.5]}, [1.0], "positive integers, got '2'"),
    ({True: [1.0]}, [1.0], "positive integers, got True"),
    ({3: [0.5, 0.5]}, [1.0], r"segment_weights\[3\] of shape \(3,\)"),
    ({2: [0.9, 0.9]}, [1.0], r"softmax weights in segment_weights\[2\]"),
    ({2: [0.5, 0.5], 3: [0.2, 0.3, 0.5]}, [1.0], r"granularity_weights of shape \(2,\)"),
    ({2: [0.5, 0.5]}, [0.5], "softmax weights in granularity_weights"),
    ({2: [0.5, 0.5], 3: [0.2, 0.3, 0.5]}, {2: 0.5, 4: 0.5},
     r"granularity_weights for the granularities \[2, 3\], got \[2, 4\]"),
])
def test_temporal_bad_input(tmp_path, segments, beta, match):
    with pytest.raises(ValueError, match=match):
        F.plot_temporal_attention(segments, beta, tmp_path / "x.png")


def test_temporal_plain_sum_weights_must_be_non_negative(tmp_path):
    with pytest.raises(ValueError, match="granularity_weights >= 0, found -1"):
        F.plot_temporal_attention({2: [0.5, 0.5]}, [-1.0], tmp_path / "x.png",
                                  granularity_attention=False)
