"""MSRDailyActivity3D: skeleton parser, writer and reader (DATASETS.md section 3)."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from adl.data.geometry import get_camera
from adl.data.msr_daily import (MSR_ACTIONS, load_msr_skeleton, parse_msr_skeleton,
                            read_msr_daily, write_msr_skeleton)
from adl.data.registry import load_records


def _joints(T, seed=0):
    rng = np.random.default_rng(seed)
    j = rng.normal(scale=0.3, size=(T, 20, 3))
    j[..., 2] += 2.5
    return j


def _row_block(j, uv01):
    return "".join(f"{x} {y} {z} 1\n{u} {v} 20000 1\n" for (x, y, z), (u, v) in zip(j, uv01))


def test_round_trip_with_empty_frames_and_missing_joints(tmp_path):
    j = _joints(8)
    j[2] = np.nan                      # no skeleton -> row count 0
    j[5, 7] = np.nan                   # one missing joint -> written 0 0 0
    p = write_msr_skeleton(tmp_path / "a01_s01_e01_skeleton.txt", j)
    text = p.read_text().split("\n")
    assert text[0] == "8 20" and text[1] == "40"
    assert text[1 + 41 + 41] == "0"    # third frame: header, 2 frames of 1 + 40 lines
    seq = parse_msr_skeleton(p)
    assert seq.joints.shape == (8, 20, 3) and seq.joints.dtype == np.float32
    assert seq.frame_ids.tolist() == list(range(8))
    assert np.array_equal(np.isnan(seq.joints), np.isnan(j))
    np.testing.assert_allclose(seq.joints, j, atol=1e-3)
    # default screen: the kinect_v1 projection, written normalised, read back in pixels
    expected = get_camera("kinect_v1").project(j)
    assert seq.screen.shape == (8, 20, 2)
    assert np.array_equal(np.isnan(seq.screen[..., 0]), np.isnan(j[..., 0]))
    np.testing.assert_allclose(seq.screen, expected, atol=0.01)


def test_screen_is_normalised_uv_times_640_480_and_depth_is_written(tmp_path):
    j = _joints(2)
    uv = np.full((2, 20, 2), 0.25)
    uv[1, 3] = (0.5, 1.0)
    depth = np.full((2, 20), 12345.0)
    p = write_msr_skeleton(tmp_path / "s.txt", j, uv, depth=depth)
    assert p.read_text().split("\n")[3] == "0.250000 0.250000 12345.0 1"
    seq = parse_msr_skeleton(p)
    np.testing.assert_allclose(seq.screen[0, 0], (160.0, 120.0))
    np.testing.assert_allclose(seq.screen[1, 3], (320.0, 480.0))


def test_default_depth_is_packed_kinect_depth(tmp_path):
    j = _joints(1)
    p = write_msr_skeleton(tmp_path / "s.txt", j)
    d = float(p.read_text().split("\n")[3].split()[2])
    assert d == pytest.approx(j[0, 0, 2] * 8000, abs=0.1)


def test_row_count_80_keeps_the_first_skeleton(tmp_path):
    a, b = _joints(1, 1)[0], _joints(1, 2)[0]
    uv = np.full((20, 2), 0.5)
    p = tmp_path / "two.txt"
    p.write_text("2 20\n80\n" + _row_block(a, uv) + _row_block(b, uv) + "40\n"
                 + _row_block(b, uv))
    seq = parse_msr_skeleton(p)
    np.testing.assert_allclose(seq.joints[0], a, atol=1e-6)
    np.testing.assert_allclose(seq.joints[1], b, atol=1e-6)


def test_header_on_two_lines_and_blank_lines_between_frames(tmp_path):
    a = _joints(1)[0]
    uv = np.full((20, 2), 0.5)
    p = tmp_path / "h.txt"
    p.write_text("2\n20\n\n40\n" + _row_block(a, uv) + "\n0\n\n")
    seq = parse_msr_skeleton(p)
    assert len(seq) == 2 and np.isnan(seq.joints[1]).all() and np.isnan(seq.screen[1]).all()
    np.testing.assert_allclose(seq.joints[0], a, atol=1e-6)


def test_parsing_1000_frames_is_linear_with_a_few_calls_per_line(tmp_path, python_calls):
    """The parser does at most 12 Python-level calls per line of the file
    (today about 6; 41 lines per frame), counted on 100 and 1000 frames, so
    the work grows linearly (counted, not timed: the count does not depend on
    the machine's load)."""
    short = write_msr_skeleton(tmp_path / "short.txt", _joints(100))
    long = write_msr_skeleton(tmp_path / "long.txt", _joints(1000))
    seq = parse_msr_skeleton(long)
    assert len(seq) == 1000 and np.isfinite(seq.joints).all()
    np.testing.assert_allclose(seq.joints, _joints(1000), atol=1e-3)
    lines = [len(p.read_text().splitlines()) for p in (short, long)]
    n_short, n_long = python_calls(parse_msr_skeleton, short), python_calls(parse_msr_skeleton, long)
    assert (n_long - n_short) / (lines[1] - lines[0]) <= 12, (n_short, n_long, lines)
    assert n_long <= 12 * lines[1] + 200, (n_long, lines)


@pytest.mark.parametrize("args, kwargs, match", [
    ((np.zeros((0, 20, 3)),), {}, r"shape \(T, 20, 3\) with T >= 1"),
    ((np.zeros((2, 15, 3)),), {}, r"shape \(T, 20, 3\)"),
    ((np.ones((2, 20, 3)), np.ones((2, 20, 3))), {}, r"screen_uv01 must have shape \(2, 20, 2\)"),
    ((np.ones((2, 20, 3)),), dict(depth=np.ones((2, 19))), r"depth must have shape \(2, 20\)"),
])
def test_writer_rejects_bad_arrays(tmp_path, args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        write_msr_skeleton(tmp_path / "s.txt", *args, **kwargs)


def _dataset(root):
    write_msr_skeleton(root / "a01_s01_e01_skeleton.txt", _joints(3, 1))
    (root / "a01_s01_e01_rgb.avi").write_bytes(b"")
    (root / "a01_s01_e01_depth.bin").write_bytes(b"")            # ignored
    write_msr_skeleton(root / "a16_s10_e02_skeleton.txt", _joints(4, 2))
    (root / "a08_s03_e02_rgb.avi").write_bytes(b"")               # RGB only
    (root / "readme.txt").write_text("not a sequence")           # ignored
    return root


def test_read_msr_daily_records(tmp_path):
    recs = read_msr_daily(_dataset(tmp_path))
    assert [r.video_id for r in recs] == ["a01_s01_e01", "a08_s03_e02", "a16_s10_e02"]
    assert [r.label for r in recs] == ["drink", "cheer up", "sit down"]
    assert [r.subject for r in recs] == ["1", "3", "10"]
    assert [r.setup for r in recs] == ["sitting", "standing", "standing"]
    r0, r1, r2 = recs
    assert (r0.dataset, r0.layout, r0.camera, r0.fps) == ("msr_daily", "kinect_v1_20",
                                                          "kinect_v1", 30.0)
    assert r0.rgb == tmp_path / "a01_s01_e01_rgb.avi" and r0.rgb_glob is None
    assert r0.meta_dict() == {"action_number": "01", "environment": "01"}
    assert not r1.has_skeleton and r1.rgb == tmp_path / "a08_s03_e02_rgb.avi"
    assert r2.rgb is None and r2.skeleton_loader is load_msr_skeleton
    np.testing.assert_allclose(r2.load_skeleton().joints, _joints(4, 2), atol=1e-3)
    back = pickle.loads(pickle.dumps(r2))
    assert len(back.load_skeleton()) == 4
    assert len(MSR_ACTIONS) == 16


def test_msr_through_the_registry(tmp_path):
    recs = load_records("msr_daily", _dataset(tmp_path))
    assert [r.video_id for r in recs] == ["a01_s01_e01", "a08_s03_e02", "a16_s10_e02"]


def test_crlf_line_endings_and_a_bom_are_accepted(tmp_path):
    j = _joints(3)
    text = write_msr_skeleton(tmp_path / "s.txt", j).read_text()
    p = tmp_path / "crlf.txt"
    p.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    np.testing.assert_allclose(parse_msr_skeleton(p).joints, j, atol=1e-3)
