"""CAD-60 / CAD-120: skeleton parser, writers and readers (DATASETS.md sections 1-2)."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from adl.data.cad import (CAD120_ACTIVITIES, load_cad_skeleton, parse_cad_skeleton, read_cad60,
                      read_cad120, write_cad60_labels, write_cad120_labeling,
                      write_cad120_labels, write_cad_skeleton)
from adl.data.layouts import CAD_15
from adl.data.registry import load_records
from adl.data.video import FrameSource


def _joints(T, seed=0):
    rng = np.random.default_rng(seed)
    j = rng.normal(scale=0.4, size=(T, 15, 3))
    j[..., 2] += 2.5
    return j


def _frames(folder, n):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, n + 1):
        (folder / f"RGB_{i}.png").write_bytes(b"")
        (folder / f"Depth_{i}.png").write_bytes(b"")


# --------------------------------------------------------------------------- skeleton file

def test_skeleton_round_trip_units_missing_joints_and_frame_ids(tmp_path):
    j = _joints(12)
    j[3, 5] = np.nan          # one missing joint
    j[7, :] = np.nan          # a frame where every joint is missing
    fn = np.array([1, 2, 3, 5, 6, 7, 9, 10, 11, 12, 20, 21])
    p = write_cad_skeleton(tmp_path / "0510160858.txt", j, frame_numbers=fn)
    seq = parse_cad_skeleton(p)
    assert seq.joints.shape == (12, 15, 3) and seq.joints.dtype == np.float32
    assert np.array_equal(np.isnan(seq.joints), np.isnan(j))
    np.testing.assert_allclose(seq.joints, j, atol=1e-3)
    assert seq.frame_ids.dtype == np.int64
    assert seq.frame_ids.tolist() == (fn - 1).tolist()
    assert seq.screen is None


def test_written_file_has_the_exact_cad_layout(tmp_path):
    j = _joints(2)
    ori = np.tile(np.arange(9.0).reshape(3, 3) / 10, (2, 11, 1, 1))
    conf = np.ones((2, 15))
    conf[1, 13] = 0.5
    p = write_cad_skeleton(tmp_path / "s.txt", j, orientations=ori, confidence=conf)
    lines = p.read_text().split("\n")
    assert lines[-2:] == ["END", ""]
    fields = lines[0].split(",")
    assert len(fields) == 172 and fields[-1] == ""                 # 171 values + trailing comma
    assert fields[0] == "1" and lines[1].split(",")[0] == "2"
    assert [float(v) for v in fields[1:10]] == pytest.approx(list(np.arange(9.0) / 10))
    assert float(fields[10]) == 1.0                                  # ORI(1) CONF
    for jj, col in ((0, 11), (10, 151), (11, 155), (14, 167)):       # x of joint 1, 11, 12, 15
        assert [float(v) for v in fields[col:col + 3]] == pytest.approx(
            list(j[0, jj] * 1000), abs=0.01)
    assert float(lines[1].split(",")[166]) == 0.5                     # P(14) CONF
    assert float(lines[1].split(",")[170]) == 1.0                     # P(15) CONF


def test_missing_needs_zero_confidence_and_zero_position(tmp_path):
    j = _joints(3)
    j[0, 2] = 0.0                           # at the origin but confident: kept as (0,0,0)
    conf = np.ones((3, 15))
    conf[1, 4] = 0.0                        # not confident but with a position: kept
    seq = parse_cad_skeleton(write_cad_skeleton(tmp_path / "s.txt", j, confidence=conf))
    assert not np.isnan(seq.joints).any()
    assert seq.joints[0, 2].tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(seq.joints[1, 4], j[1, 4], atol=1e-3)


def test_parser_tolerates_crlf_blank_lines_and_a_missing_trailing_comma(tmp_path):
    j = _joints(3)
    p = write_cad_skeleton(tmp_path / "s.txt", j)
    lines = p.read_text().splitlines()
    lines[1] = lines[1].rstrip(",")
    (tmp_path / "w.txt").write_bytes(("\r\n".join(lines[:2] + ["", lines[2], lines[3], "", ""]))
                                     .encode())
    seq = parse_cad_skeleton(tmp_path / "w.txt")
    np.testing.assert_allclose(seq.joints, j, atol=1e-3)


def test_parsing_1000_frames_is_linear_with_a_few_calls_per_row(tmp_path, python_calls):
    """The parser converts each frame row in bulk: at most 12 Python-level
    calls per row (today about 6; a per-value loop would make 171), counted
    on 100 and 1000 frames, so the work grows linearly (counted, not timed:
    the count does not depend on the machine's load)."""
    short = write_cad_skeleton(tmp_path / "short.txt", _joints(100))
    long = write_cad_skeleton(tmp_path / "long.txt", _joints(1000))
    seq = parse_cad_skeleton(long)
    assert len(seq) == 1000 and np.isfinite(seq.joints).all()
    np.testing.assert_allclose(seq.joints, _joints(1000), atol=1e-3)
    n_short, n_long = python_calls(parse_cad_skeleton, short), python_calls(parse_cad_skeleton, long)
    assert (n_long - n_short) / 900 <= 12, (n_short, n_long)
    assert n_long <= 12 * 1000 + 200, n_long


def test_layout_matches_the_parser_joint_count(tmp_path):
    seq = parse_cad_skeleton(write_cad_skeleton(tmp_path / "s.txt", _joints(2)))
    assert seq.joints.shape[1] == CAD_15.n_joints == 15


@pytest.mark.parametrize("kwargs, match", [
    (dict(joints_m=np.zeros((0, 15, 3))), r"shape \(T, 15, 3\) with T >= 1"),
    (dict(joints_m=np.zeros((2, 20, 3))), r"shape \(T, 15, 3\)"),
    (dict(joints_m=np.ones((2, 15, 3)), frame_numbers=[2, 1]), "strictly increasing"),
    (dict(joints_m=np.ones((2, 15, 3)), frame_numbers=[1.0, 2.0]), "must be 2 integers"),
    (dict(joints_m=np.ones((2, 15, 3)), orientations=np.ones((2, 15, 3, 3))),
     r"orientations must be finite with shape \(2, 11, 3, 3\)"),
    (dict(joints_m=np.ones((2, 15, 3)), confidence=np.ones((2, 11))),
     r"confidence must be finite with shape \(2, 15\)"),
])
def test_skeleton_writer_rejects_bad_arrays(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        write_cad_skeleton(tmp_path / "s.txt", **kwargs)


def test_label_writers_write_the_documented_lines(tmp_path):
    p60 = write_cad60_labels(tmp_path / "a" / "activityLabel.txt",
                             [("0510160858", "drinking water"), ("0511121410", "still")])
    assert p60.read_text() == "0510160858,drinking water,\n0511121410,still,\nEND\n"
    p120 = write_cad120_labels(tmp_path / "b" / "activityLabel.txt",
                               [("0510175411", "arranging_objects", "Subject1",
                                 [(1, "plate"), (2, "bowl")])])
    assert p120.read_text() == "0510175411,arranging_objects,Subject1,1:plate,2:bowl,\n"
    pl = write_cad120_labeling(tmp_path / "b" / "labeling.txt",
                               [("0510175411", 1, 25, "reaching", "reachable"),
                                ("0510175411", 26, 60, "moving", "movable", "stationary")])
    assert pl.read_text() == ("0510175411,1,25,reaching,reachable\n"
                              "0510175411,26,60,moving,movable,stationary\n")


@pytest.mark.parametrize("item", [("05,10", "still"), ("0510", "a\nb"), ("", "still"),
                                  ("END", "still"), (" 0510", "still")])
def test_label_writer_rejects_fields_that_would_break_the_format(tmp_path, item):
    with pytest.raises(ValueError, match="without commas, newlines"):
        write_cad60_labels(tmp_path / "activityLabel.txt", [item])


# --------------------------------------------------------------------------- CAD-60 reader

def _cad60(root):
    """Two persons; data1 has RGB for one sequence only; data2 has a 'still' sequence."""
    write_cad60_labels(root / "data1" / "activityLabel.txt",
                       [("0510160858", "drinking water"), ("0510161326", "brushing teeth")])
    write_cad_skeleton(root / "data1" / "0510160858.txt", _joints(5, 1))
    write_cad_skeleton(root / "data1" / "0510161326.txt", _joints(4, 2))
    _frames(root / "data1" / "0510160858", 5)
    write_cad60_labels(root / "data2" / "activityLabel.txt", [("0511121410", "still")])
    write_cad_skeleton(root / "data2" / "0511121410.txt", _joints(3, 3))
    (root / "data2" / "0511121410").mkdir()          # folder present but no RGB frame
    return root


def test_read_cad60_records(tmp_path):
    recs = read_cad60(_cad60(tmp_path))
    assert [r.video_id for r in recs] == ["cad60_s1_0510160858", "cad60_s1_0510161326",
                                          "cad60_s2_0511121410"]
    assert [r.label for r in recs] == ["drinking water", "brushing teeth", "still"]
    assert [r.subject for r in recs] == ["1", "1", "2"]
    r0, r1, r2 = recs
    assert (r0.dataset, r0.layout, r0.camera, r0.fps) == ("cad60", "cad_15", "cad60", 30.0)
    assert r0.rgb == tmp_path / "data1" / "0510160858" and r0.rgb_glob == "RGB_*.png"
    assert len(FrameSource(r0.rgb, r0.rgb_glob)) == 5         # Depth_*.png not counted
    assert r1.rgb is None and r1.rgb_glob is None and r1.meta_dict()["rgb"] == "missing"
    assert r2.rgb is None and r2.has_skeleton
    assert r0.meta_dict() == {"data_dir": "data1", "sequence_id": "0510160858", "rgb": "present"}
    np.testing.assert_allclose(r0.load_skeleton().joints, _joints(5, 1), atol=1e-3)
    assert r0.skeleton_loader is load_cad_skeleton


def test_cad60_records_pickle_with_their_loader(tmp_path):
    rec = read_cad60(_cad60(tmp_path))[1]
    back = pickle.loads(pickle.dumps(rec))
    assert back == rec
    np.testing.assert_allclose(back.load_skeleton().joints, _joints(4, 2), atol=1e-3)


def test_cad60_through_the_registry_and_with_frame_checks(tmp_path):
    _cad60(tmp_path)
    recs = load_records("cad60", tmp_path)
    assert [r.video_id for r in recs] == sorted(r.video_id for r in recs)
    assert len(read_cad60(tmp_path, check_frames=True)) == 3


# --------------------------------------------------------------------------- CAD-120 reader

def _cad120(root, doubled=True):
    """Subject1 (plain layout, 2 activities) and Subject3 (doubled folders)."""
    a1 = root / "Subject1_annotations" / "arranging_objects"
    write_cad120_labels(a1 / "activityLabel.txt",
                        [("0510175411", "arranging_objects", "Subject1",
                          [(1, "plate"), (2, "bowl")]),
                         ("0510175431", "arranging_objects", "Subject1", [(1, "cup")])])
    write_cad120_labeling(a1 / "labeling.txt", [("0510175411", 1, 3, "reaching", "reachable"),
                                                ("0510175411", 4, 6, "moving", "movable"),
                                                ("0510175431", 1, 4, "placing", "placeable")])
    write_cad_skeleton(a1 / "0510175411.txt", _joints(6, 4))
    write_cad_skeleton(a1 / "0510175431.txt", _joints(4, 5))
    _frames(root / "Subject1_rgbd_images" / "arranging_objects" / "0510175411", 6)
    a2 = root / "Subject1_annotations" / "taking_medicine"
    write_cad120_labels(a2 / "activityLabel.txt",
                        [("1204142227", "taking_medicine", "1", [(1, "medcinebox")])])
    write_cad_skeleton(a2 / "1204142227.txt", _joints(3, 6))
    s3 = "Subject3_annotations/Subject3_annotations" if doubled else "Subject3_annotations"
    a3 = root / s3 / "having_meal"
    write_cad120_labels(a3 / "activityLabel.txt",
                        [("0126141638", "having_meal", "Subject3", [(1, "bowl")])])
    write_cad_skeleton(a3 / "0126141638.txt", _joints(5, 7))
    img3 = "Subject3_rgbd_images/Subject3_rgbd_images" if doubled else "Subject3_rgbd_images"
    _frames(root / img3 / "having_meal" / "0126141638", 5)
    return root


def test_read_cad120_records(tmp_path):
    recs = read_cad120(_cad120(tmp_path))
    assert [r.video_id for r in recs] == ["cad120_s1_0510175411", "cad120_s1_0510175431",
                                          "cad120_s1_1204142227", "cad120_s3_0126141638"]
    assert [r.label for r in recs] == ["arranging_objects", "arranging_objects",
                                       "taking_medicine", "having_meal"]
    assert [r.subject for r in recs] == ["1", "1", "1", "3"]
    assert all(r.label in CAD120_ACTIVITIES for r in recs)
    r0, r1, r2, r3 = recs
    assert (r0.dataset, r0.layout, r0.camera, r0.fps) == ("cad120", "cad_15", "cad120", 30.0)
    assert r0.meta_dict() == {"activity_dir": "arranging_objects", "sequence_id": "0510175411",
                              "subject_field": "Subject1", "objects": "1:plate;2:bowl",
                              "segments": "1-3:reaching;4-6:moving", "rgb": "present"}
    assert r0.rgb == tmp_path / "Subject1_rgbd_images" / "arranging_objects" / "0510175411"
    assert r1.rgb is None and r2.rgb is None
    assert "segments" not in r2.meta_dict()                 # no labeling.txt there
    assert r3.rgb == (tmp_path / "Subject3_rgbd_images" / "Subject3_rgbd_images"
                      / "having_meal" / "0126141638")
    assert r3.meta_dict()["sequence_id"] == "0126141638"    # leading zero kept
    np.testing.assert_allclose(r3.load_skeleton().joints, _joints(5, 7), atol=1e-3)
    assert len(FrameSource(r3.rgb, r3.rgb_glob)) == 5


def test_cad120_plain_layout_and_registry(tmp_path):
    _cad120(tmp_path, doubled=False)
    recs = load_records("cad120", tmp_path)
    assert [r.subject for r in recs].count("3") == 1
    assert len(read_cad120(tmp_path, check_frames=True)) == 4
