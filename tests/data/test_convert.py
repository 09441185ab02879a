"""Converters of UTKinect and BIISC to manifests, on files written in their
native formats (the real data are exercised by test_real_data.py)."""
import cv2
import numpy as np
import pytest

from adl.data.convert import (BIISC_ACTIONS, biisc_to_manifest, count_rgb_frames,
                          read_utkinect_joints, read_utkinect_labels, utkinect_to_manifest)
from adl.data.errors import DataFormatError
from adl.data.manifest import read_manifest


def _joints_line(fid, joints):
    # as in the real files: frame id, three spaces, then values two spaces apart
    return f"{fid}   " + "  ".join(f"{v:.6f}" for v in joints.ravel()) + "  \n"


def _write_joints(path, ids, seed=0):
    rng = np.random.default_rng(seed)
    data = {}
    with open(path, "w") as fh:
        for fid in ids:
            j = np.round(rng.normal(size=(20, 3)), 6)  # exactly what "%.6f" writes
            data.setdefault(fid, j.astype(np.float32))  # the first occurrence is the one kept
            fh.write(_joints_line(fid, j))
    return data


LABELS = """s01_e01
walk: 10 14
sitDown: 20 30 
carry:  NaN NaN
s02_e01
walk: 5 6
pickUp: 100 200
"""


@pytest.fixture
def utk(tmp_path):
    src = tmp_path / "utk"
    src.mkdir()
    (src / "actionLabel.txt").write_text(LABELS)
    a = _write_joints(src / "joints_s01_e01.txt", [10, 12, 12, 14, 16, 20, 25, 31])
    b = _write_joints(src / "joints_s02_e01.txt", [4, 5, 6], seed=1)
    _write_joints(src / "joints_s03_e01.txt", [1], seed=2)
    return src, a, b


def test_utkinect_segments_duplicates_and_skips(utk, tmp_path):
    src, a, b = utk
    s = utkinect_to_manifest(src, tmp_path / "out")
    assert s.manifest == tmp_path / "out" / "manifest.csv"
    assert (s.n_records, s.classes, s.subjects, s.n_duplicate_frames, s.media_root) == \
        (3, ("sitDown", "walk"), ("1", "2"), 1, None)
    assert s.skipped == (
        ("s01_e01_carry", "actionLabel.txt line 4: no frame range (NaN NaN)"),
        ("s02_e01_pickUp", "actionLabel.txt line 7: no skeleton frame with id in [100, 200]"),
        ("joints_s03_e01.txt", "no run s03_e01 in actionLabel.txt"))
    recs = {r.video_id: r for r in read_manifest(tmp_path / "out")}
    assert sorted(recs) == ["s01_e01_sitDown", "s01_e01_walk", "s02_e01_walk"]
    walk = recs["s01_e01_walk"]
    assert (walk.label, walk.subject, walk.layout, walk.camera, walk.view) == \
        ("walk", "1", "kinect_v1_20", "kinect_v1", None)
    j = walk.load_skeleton().joints
    np.testing.assert_array_equal(j, np.stack([a[10], a[12], a[14]]))  # inclusive, first of the 12s
    np.testing.assert_array_equal(recs["s01_e01_sitDown"].load_skeleton().joints,
                                  np.stack([a[20], a[25]]))
    np.testing.assert_array_equal(recs["s02_e01_walk"].load_skeleton().joints, np.stack([b[5], b[6]]))


def test_utkinect_joints_subfolder_and_modified_labels(utk, tmp_path):
    src, a, _ = utk
    (src / "joints").mkdir()
    for f in src.glob("joints_*.txt"):
        f.rename(src / "joints" / f.name)
    (src / "actionLabel_modified.txt").write_text("s01_e01\nwalk: 12 16\n")
    s = utkinect_to_manifest(src, tmp_path / "out", labels_file="actionLabel_modified.txt")
    assert s.n_records == 1
    (rec,) = read_manifest(tmp_path / "out")
    np.testing.assert_array_equal(rec.load_skeleton().joints, np.stack([a[12], a[14], a[16]]))


@pytest.mark.parametrize("line, found", [
    ("7  1.0  2.0\n", "line 2: expected 61 whitespace-separated numbers .*found 3 fields"),
    ("7 " + "x " * 60 + "\n", "line 2: expected numbers, found 'x'"),
    ("7.5 " + "0 " * 60 + "\n", "line 2: expected a non-negative integer frame id first, found '7.5'"),
])
def test_utkinect_malformed_joints_line(tmp_path, line, found):
    p = tmp_path / "joints_s01_e01.txt"
    p.write_text(_joints_line(3, np.zeros((20, 3))) + line)
    with pytest.raises(DataFormatError, match=r"joints_s01_e01\.txt, " + found):
        read_utkinect_joints(p)


def test_utkinect_empty_joints_file(tmp_path):
    (tmp_path / "joints_s01_e01.txt").write_text("\n")
    with pytest.raises(DataFormatError, match="expected at least one frame line, found none"):
        read_utkinect_joints(tmp_path / "joints_s01_e01.txt")


@pytest.mark.parametrize("text, found", [
    ("walk: 1 2\n", r"line 1: expected a run header 'sSS_eEE' before the first action"),
    ("s01_e01\nwalk 1 2\n", r"line 2: expected a run header 'sSS_eEE' or a line 'action: start end'"),
    ("s01_e01\nwalk: 1 2 3\n", r"line 2: expected two frame ids 'start end' \(or 'NaN NaN'\), found '1 2 3'"),
    ("s01_e01\nwalk: 1 NaN\n", r"line 2: expected integer frame ids"),
    ("s01_e01\nwalk: 9 2\n", r"line 2: expected start <= end, found 9 > 2"),
    ("s01_e01\nwalk: 1 2\nwalk: 3 4\n", r"line 3: expected each action once per run \(s01_e01\), "
                                         r"found 'walk' on line 2 and line 3"),
    ("s01_e01\nwalk: 1 2\ns01_e01\n", r"line 3: expected each run header once, found 's01_e01' again"),
    ("\n\n", r"expected at least one run header 'sSS_eEE', found none"),
])
def test_utkinect_malformed_labels(tmp_path, text, found):
    (tmp_path / "actionLabel.txt").write_text(text)
    with pytest.raises(DataFormatError, match=r"actionLabel\.txt(, |: )" + found):
        read_utkinect_labels(tmp_path / "actionLabel.txt")


def test_utkinect_missing_files_and_nothing_converted(utk, tmp_path):
    src, _, _ = utk
    with pytest.raises(DataFormatError, match=r"nolabels\.txt: expected the UTKinect label file"):
        utkinect_to_manifest(src, tmp_path / "o", labels_file="nolabels.txt")
    (src / "actionLabel.txt").write_text("s09_e02\nwalk: 1 2\n")
    with pytest.raises(DataFormatError, match=r"expected a joints file .*joints_s09_e02\.txt for run s09_e02"):
        utkinect_to_manifest(src, tmp_path / "o")
    (src / "actionLabel.txt").write_text("s01_e01\nwalk: 1000 2000\n")
    with pytest.raises(DataFormatError, match="expected at least one labelled segment with frames, found none"):
        utkinect_to_manifest(src, tmp_path / "o")


def _avi(path, n):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (16, 8))
    for i in range(n):
        w.write(np.full((8, 16, 3), 30 * i, np.uint8))
    w.release()


def test_biisc_names_media_root_and_frame_counts(tmp_path):
    src = tmp_path / "biisc"
    src.mkdir()
    names = ["S001_M_CALL_STD_FCE", "S001_M_CALL_STD_FCE_HF", "S002_F_WIPE_WLK_RGT"]
    for i, n in enumerate(names):
        _avi(src / f"{n}.avi", 3 + i)
    _avi(src / "S003_M_JUMP_STD_FCE.avi", 2)
    (src / "README.txt").write_text("not a video")
    s = biisc_to_manifest(src, tmp_path / "out")
    assert (s.n_records, s.classes, s.subjects, s.media_root) == \
        (3, ("CALL", "WIPE"), ("S001", "S002"), src.resolve())
    assert s.skipped[0][0] == "S003_M_JUMP_STD_FCE.avi" and len(s.skipped) == 1
    recs = read_manifest(s.manifest, media_root=s.media_root)
    assert [(r.video_id, r.label, r.subject, r.view, r.setup, r.fps) for r in recs] == [
        ("S001_M_CALL_STD_FCE", "CALL", "S001", "FCE", "STD", 10.0),
        ("S001_M_CALL_STD_FCE_HF", "CALL", "S001", "FCE", "STD", 10.0),
        ("S002_F_WIPE_WLK_RGT", "WIPE", "S002", "RGT", "WLK", 10.0)]
    assert not any(r.has_skeleton for r in recs)
    # a flipped copy shares its original's split group
    assert [r.group for r in recs] == ["S001_M_CALL_STD_FCE"] * 2 + ["S002_F_WIPE_WLK_RGT"]
    assert recs[0].split_group == recs[1].split_group != recs[2].split_group
    from adl.data.inspect import inspect_records
    rep = inspect_records(recs, dataset="manifest", root=str(tmp_path / "out"))
    assert rep.n_groups == 2 and "split groups: 2 " in "\n".join(rep.summary_lines())
    expected = {n: 3 + i for i, n in enumerate(names)}
    assert count_rgb_frames(recs) == expected == count_rgb_frames(recs, decode=True)
    assert len(BIISC_ACTIONS) == 8


def test_biisc_without_videos(tmp_path):
    with pytest.raises(DataFormatError, match=r"expected BIISC videos .*found none"):
        biisc_to_manifest(tmp_path, tmp_path / "out")
