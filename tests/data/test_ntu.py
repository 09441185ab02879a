"""NTU RGB+D 60 / 120 (DATASETS.md section 4): the .skeleton parser and writer,
body selection, malformed files, the readers with the missing-skeleton list,
the synthetic writer, and the official split sizes on full-size id lists."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from adl.cli.main import main
from adl.data.errors import DataFormatError, DatasetLayoutError
from adl.data.layouts import KINECT_V1_20, KINECT_V2_25
from adl.data.ntu import (MISSING_LIST_NAMES, NTU_ACTIONS, NtuSampleId, load_ntu_skeleton,
                          ntu_record, parse_ntu_skeleton, read_missing_list, read_ntu60,
                          read_ntu120, scan_ntu, write_missing_list, write_ntu_skeleton)
from adl.data.protocols import (AttributeSplit, Fold, ntu60_cross_subject, ntu60_cross_view,
                                ntu120_cross_setup, ntu120_cross_subject, official_split)
from adl.data.registry import load_records, skipped_samples
from adl.data.synth import NATIVE_DATASETS, class_names, generate
from adl.data.synth.ntu import (generate_ntu, kinect_v2_joints, ntu_missing_names,
                                ntu_sample_names)
from adl.data.video import FrameSource

REAL_NTU = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "ntu"
SMALL = (96, 54)


def _bodies(T=6, M=2, seed=0, motion=None):
    """(T, M, 25, 3) joints of M bodies, body m oscillating with amplitude motion[m]
    (default 0.2 - 0.05 m)."""
    rng = np.random.default_rng(seed)
    motion = np.linspace(0.2, 0.05, M) if motion is None else motion
    base = rng.uniform(-0.5, 0.5, (M, 25, 3)) + np.array([0.0, 0.0, 3.0])
    t = np.arange(T)[:, None, None, None]
    amp = np.asarray(motion, dtype=np.float64)[None, :, None, None]
    return base[None] + amp * np.sin(t * 0.9 + np.arange(3))


def _write(path, joints, ids=None):
    T, M = joints.shape[:2]
    ids = list(range(100, 100 + M)) if ids is None else ids
    color = joints[..., :2] * 100 + 900
    depth = joints[..., :2] * 30 + 250
    return write_ntu_skeleton(path, joints, color_xy=color, depth_xy=depth, body_ids=ids)


# ----------------------------------------------------------------------- names

def test_sample_names_parse_and_format():
    s = NtuSampleId.parse("S001C002P003R002A013")
    assert (s.setup, s.camera, s.performer, s.replication, s.action) == (1, 2, 3, 2, 13)
    assert s.name == "S001C002P003R002A013"
    assert NTU_ACTIONS[12] == "tear up paper" and len(NTU_ACTIONS) == 120
    assert NTU_ACTIONS[119].startswith("finger-guessing game")


@pytest.mark.parametrize("name, match", [
    ("S001C004P003R002A013", "expected camera C001-C003, found C004"),
    ("S001C001P003R003A013", "expected replication R001 or R002, found R003"),
    ("S000C001P003R001A013", "setup, performer and action numbers >= 1"),
    ("S1C1P3R1A13", "SsssCcccPpppRrrrAaaa"),
])
def test_bad_sample_names_are_refused(name, match):
    with pytest.raises(DataFormatError, match=match):
        NtuSampleId.parse(name)


# ----------------------------------------------------------------------- parser / writer

def test_round_trip_of_two_bodies_with_a_missing_joint_and_an_empty_frame(tmp_path):
    joints = _bodies(T=5, M=2)
    joints[2] = np.nan                        # no body in frame 3
    joints[1, 1] = np.nan                     # body 2 absent in frame 2
    joints[3, 0, 7] = np.nan                  # a missing hand
    path = _write(tmp_path / "S001C001P001R001A050.skeleton", joints,
                  ids=[72057594037944738, 72057594037944739])
    sk = parse_ntu_skeleton(path)
    assert sk.joints.shape == (5, 2, 25, 3) and sk.joints.dtype == np.float32
    assert sk.bodies_reported.tolist() == [2, 1, 0, 2, 2]
    assert sk.body_ids == (72057594037944738, 72057594037944739)   # 64-bit ids survive
    np.testing.assert_allclose(sk.joints, joints, atol=1e-5, equal_nan=True)
    np.testing.assert_allclose(sk.color_xy, joints[..., :2] * 100 + 900, rtol=1e-6,
                               equal_nan=True)
    np.testing.assert_allclose(sk.depth_xy, joints[..., :2] * 30 + 250, rtol=1e-6, equal_nan=True)
    assert sk.tracking[3, 0, 7] == 0 and sk.tracking[0, 0, 0] == 2 and sk.tracking[2, 0, 0] == -1
    np.testing.assert_array_equal(sk.orientation[0, 0, 0], [1, 0, 0, 0])
    seq = sk.sequence(0)
    assert seq.joints.shape == (5, 25, 3) and seq.screen.shape == (5, 25, 2)
    assert seq.frame_ids.tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match=r"expected a body slot in 0..1, got 2"):
        sk.sequence(2)


def test_the_two_most_active_bodies_are_kept_most_active_first(tmp_path):
    # body 100: a static false detection seen first; 101 moves a little, 102 a lot
    joints = _bodies(T=8, M=3, motion=(0.0, 0.05, 0.3))
    path = _write(tmp_path / "x.skeleton", joints)
    sk = parse_ntu_skeleton(path)
    assert sk.body_ids == (102, 101) and sk.dropped_body_ids == (100,)
    np.testing.assert_allclose(sk.joints[:, 0], joints[:, 2], atol=1e-5)
    one = parse_ntu_skeleton(path, max_bodies=1)
    assert one.body_ids == (102,) and one.joints.shape[1] == 1
    with pytest.raises(ValueError, match="max_bodies must be a positive integer, got 0"):
        parse_ntu_skeleton(path, max_bodies=0)


def test_bodies_are_followed_by_id_whatever_their_order_in_the_frame(tmp_path):
    joints = _bodies(T=4, M=2, motion=(0.3, 0.01))
    path = _write(tmp_path / "x.skeleton", joints, ids=[7, 9])
    lines = path.read_bytes().decode().split("\r\n")
    # swap the two bodies of frame 2 (lines of body 1 then body 2, 27 lines each)
    start = 1 + 1 + 2 * 27 + 1
    b1, b2 = lines[start:start + 27], lines[start + 27:start + 54]
    lines[start:start + 54] = b2 + b1
    path.write_text("\r\n".join(lines))
    sk = parse_ntu_skeleton(path)
    assert sk.body_ids == (7, 9)
    np.testing.assert_allclose(sk.joints[:, 0], joints[:, 0], atol=1e-5)


def test_writer_refuses_bad_shapes(tmp_path):
    j = _bodies(T=3, M=1)
    c = np.zeros((3, 1, 25, 2))
    with pytest.raises(ValueError, match=r"joints_m must have shape \(T, M, 25, 3\)"):
        write_ntu_skeleton(tmp_path / "a", j[:, :, :20], color_xy=c, depth_xy=c, body_ids=[1])
    with pytest.raises(ValueError, match="at most 6 bodies per frame, got 7"):
        big = np.zeros((3, 7, 25, 3))
        write_ntu_skeleton(tmp_path / "a", big, color_xy=np.zeros((3, 7, 25, 2)),
                           depth_xy=np.zeros((3, 7, 25, 2)), body_ids=range(7))
    with pytest.raises(ValueError, match=r"color_xy must have shape \(3, 1, 25, 2\)"):
        write_ntu_skeleton(tmp_path / "a", j, color_xy=c[:, :, :3], depth_xy=c, body_ids=[1])
    with pytest.raises(ValueError, match="expected 1 distinct body ids"):
        write_ntu_skeleton(tmp_path / "a", j, color_xy=c, depth_xy=c, body_ids=[1, 2])


# ----------------------------------------------------------------------- malformed files

@pytest.fixture
def valid_lines(tmp_path):
    """A valid 3-frame file of one body, as lines: frame f's body count is at line
    2 + 28 (f - 1), its body header, joint count and 25 joints follow."""
    path = _write(tmp_path / "S001C001P001R001A001.skeleton", _bodies(T=3, M=1, motion=(0.1,)))
    return path, path.read_bytes().decode().split("\r\n")


def _refused(path, lines, match):
    path.write_text("\r\n".join(lines))
    with pytest.raises(DataFormatError, match=match) as info:
        parse_ntu_skeleton(path)
    assert str(path) in str(info.value)
    return info.value


def test_truncated_body_is_refused_naming_file_and_frame(valid_lines):
    path, lines = valid_lines
    # frame 3: body count at line 58, header 59, joint count 60, joints 61-85
    err = _refused(path, lines[:70], r"frame 3: expected 1 bodies of 27 lines each")
    assert err.frame == 3


def test_truncated_file_between_frames_names_the_missing_frame(valid_lines):
    path, lines = valid_lines
    _refused(path, lines[:57], r"frame 3: expected frame 3 of the 3 frames the header "
                               r"\(line 1\) claims, found end of file after 2 frames")


def test_wrong_joint_count_is_refused(valid_lines):
    path, lines = valid_lines
    lines[31] = "24"                          # frame 2's joint count (line 32)
    err = _refused(path, lines, r"line 32, frame 2: expected 25 joints per body \(Kinect v2\), "
                                r"found 24")
    assert err.line == 32


def test_a_missing_joint_line_is_refused_by_its_neighbour(valid_lines):
    path, lines = valid_lines
    del lines[40]                             # one joint line of frame 2 gone
    _refused(path, lines, r"frame 2: expected 12 values per joint line")


def test_a_body_count_larger_than_the_bodies_written_is_refused(valid_lines):
    path, lines = valid_lines
    lines[29] = "2"                           # frame 2 (line 30) claims 2 bodies, has 1
    _refused(path, lines, r"line 58, frame 2: expected a body header of 10 values \(body 2 of "
                          r"the 2 the body count claims\), found 1 values")


def test_a_body_count_that_lies_past_the_end_is_refused(valid_lines):
    path, lines = valid_lines
    lines[57] = "3"                           # frame 3 (line 58) claims 3 bodies
    _refused(path, lines, r"line 58, frame 3: expected 3 bodies of 27 lines each .* found 27 "
                          r"lines left")


def test_a_body_count_smaller_than_the_bodies_written_is_refused(valid_lines):
    path, lines = valid_lines
    lines[1] = "0"                            # frame 1 claims no body; its body follows
    _refused(path, lines, r"line 3, frame 2: expected a body count alone on its line \(the body "
                          r"count of frame 1 may be smaller")


@pytest.mark.parametrize("count", ["7", "-1", "1000000000"])
def test_impossible_body_counts_are_refused(valid_lines, count):
    path, lines = valid_lines
    lines[1] = count
    _refused(path, lines, rf"line 2, frame 1: expected a body count of 0-6 .*found {count}")


def test_a_huge_frame_count_on_a_short_file_is_refused_at_its_end(valid_lines):
    path, lines = valid_lines
    lines[0] = "1000000000"
    _refused(path, lines, r"frame 4: expected frame 4 of the 1000000000 frames")


@pytest.mark.parametrize("edit, match", [
    (lambda ls: ls.__setitem__(0, "abc"), r"line 1: expected an integer frame count, found 'abc'"),
    (lambda ls: ls.__setitem__(0, "0"), r"line 1: expected a frame count >= 1, found 0"),
    (lambda ls: ls.__setitem__(0, "3 25"), "the frame count alone on the first line"),
    (lambda ls: ls.insert(len(ls) - 1, "1"), r"expected end of file after the 3 frames"),
    (lambda ls: ls.__setitem__(5, " ".join(ls[5].split()[:2] + ["x1"] + ls[5].split()[3:])),
     r"line 6, frame 1: expected a number in column 3 of a joint line, found 'x1'"),
    (lambda ls: ls.__setitem__(5, "nan " + ls[5].split(" ", 1)[1]),
     r"line 6, frame 1: expected a finite number in column 1 of a joint line, found 'nan'"),
    (lambda ls: ls.__setitem__(2, "12a 0 1 1 1 1 0 0 0 2"),
     r"line 3, frame 1: expected an integer bodyID"),
    (lambda ls: ls.__setitem__(2, "12 0 1 1 1 1 0 zz 0 2"),
     r"line 3, frame 1: expected a number in column 8 of a body header line"),
])
def test_other_malformed_files_are_refused(valid_lines, edit, match):
    path, lines = valid_lines
    edit(lines)
    _refused(path, lines, match)


def test_a_body_id_twice_in_one_frame_is_refused(tmp_path):
    path = _write(tmp_path / "x.skeleton", _bodies(T=2, M=2), ids=[5, 6])
    text = path.read_bytes().decode().replace("\r\n6 0 1", "\r\n5 0 1")
    path.write_text(text)
    with pytest.raises(DataFormatError, match=r"frame 1: expected distinct body ids within a "
                                              r"frame, found bodyID 5 twice"):
        parse_ntu_skeleton(path)


def test_a_file_without_any_body_is_refused(tmp_path):
    path = tmp_path / "x.skeleton"
    path.write_text("3\r\n0\r\n0\r\n0\r\n")
    with pytest.raises(DataFormatError, match="expected at least one frame with a body, found "
                                              "body count 0 in all 3 frames"):
        parse_ntu_skeleton(path)


def test_unreadable_files_are_refused(tmp_path):
    with pytest.raises(DataFormatError, match="found no such file"):
        parse_ntu_skeleton(tmp_path / "none.skeleton")
    with pytest.raises(DataFormatError, match="found a folder"):
        parse_ntu_skeleton(tmp_path)
    bad = tmp_path / "bad.skeleton"
    bad.write_bytes(b"1\n1\n\xff\xfe\n")
    with pytest.raises(DataFormatError, match=r"line 3: expected an NTU RGB\+D .skeleton text "
                                              r"file, found undecodable bytes"):
        parse_ntu_skeleton(bad)
    empty = tmp_path / "empty.skeleton"
    empty.write_text("")
    with pytest.raises(DataFormatError, match="expected a frame count on the first line, found "
                                              "end of file"):
        parse_ntu_skeleton(empty)


# ----------------------------------------------------------------------- missing list

def test_missing_list_round_trip_and_bad_line(tmp_path):
    path = write_missing_list(tmp_path / "list.txt", ["S001C002P003R002A013",
                                                      "S017C003P020R002A060"])
    assert read_missing_list(path) == ("S001C002P003R002A013", "S017C003P020R002A060")
    path.write_text("header\nheader\n\nS001C002P003R002A013.skeleton\nnot-a-name\n")
    with pytest.raises(DataFormatError, match=r"line 5: expected one sample name "
                                              r"SsssCcccPpppRrrrAaaa per line"):
        read_missing_list(path)
    with pytest.raises(DataFormatError, match="expected an NTU missing-skeleton list, found "
                                              "FileNotFoundError"):
        read_missing_list(tmp_path / "nope.txt")


# ----------------------------------------------------------------------- synthetic + readers

@pytest.fixture(scope="module")
def ntu60(tmp_path_factory):
    root = tmp_path_factory.mktemp("ntu60")
    summary = generate_ntu("ntu60", root, subjects=2, videos_per_class=3, frames=12,
                           image_size=SMALL, classes=["drink water", "sitting down"],
                           missing_skeletons=1)
    return root, summary


def test_synthetic_ntu60_reads_back_with_the_missing_sample_skipped(ntu60):
    root, summary = ntu60
    assert summary["n_videos"] == 2 * 3 * 2 and len(summary["missing"]) == 1
    assert (root / MISSING_LIST_NAMES["ntu60"]).is_file()
    recs = load_records("ntu60", root)
    names = sorted(v["video_id"] for v in summary["videos"])
    assert [r.video_id for r in recs] == [n for n in names if n not in summary["missing"]]
    assert {r.view for r in recs} == {"1", "2", "3"} and {r.setup for r in recs} == {"1", "2"}
    assert {r.label for r in recs} == {"drink water", "sitting down"}
    r = recs[0]
    assert r.layout == "kinect_v2_25" and r.camera == "kinect_v2" and r.has_rgb
    assert r.meta_dict() == {"action_number": "A001", "replication": "1"}
    seq = r.load_skeleton()
    assert seq.joints.shape == (12, 25, 3)
    assert len(FrameSource(r.rgb)) == 12 and FrameSource(r.rgb).frame_size() == SMALL
    # colour pixels stay in 1920x1080, where the kinect_v2 camera model puts them
    from adl.data.geometry import get_camera
    np.testing.assert_allclose(seq.screen, get_camera("kinect_v2").project(seq.joints), atol=0.01)
    skipped = skipped_samples("ntu60", root)
    assert [s for s, _ in skipped] == summary["missing"]
    assert "missing skeleton" in skipped[0][1] and MISSING_LIST_NAMES["ntu60"] in skipped[0][1]
    missing = root / "nturgb+d_skeletons" / f"{summary['missing'][0]}.skeleton"
    with pytest.raises(DataFormatError, match="at least one frame with a body"):
        parse_ntu_skeleton(missing)


def test_the_three_cameras_see_one_performance(ntu60):
    root, summary = ntu60
    recs = {r.video_id: r for r in load_records("ntu60", root)}
    seqs = [recs[f"S001C00{c}P001R001A001"].load_skeleton().joints for c in (1, 2, 3)]
    dropped = [np.isnan(s).all(axis=(1, 2)) for s in seqs]
    assert (dropped[0] == dropped[1]).all() and (dropped[0] == dropped[2]).all()
    ok = ~dropped[0]
    # same body, other viewpoint: bone lengths agree, positions do not
    bone = [np.linalg.norm(s[ok, 5] - s[ok, 4], axis=-1) for s in seqs]
    np.testing.assert_allclose(bone[0], bone[1], atol=0.03)     # up to the tracker noise
    assert np.nanmax(np.abs(seqs[0] - seqs[1])) > 0.1


def test_synthetic_ntu_is_deterministic_and_reached_through_generate(tmp_path):
    kw = dict(subjects=1, frames=6, image_size=SMALL, classes=["open bottle"])
    a = generate("ntu120", tmp_path / "a", seed=4, **kw)
    b = generate("ntu120", tmp_path / "b", seed=4, **kw)
    for key in ("skeleton", "rgb"):
        f = a["videos"][0][key]
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert a["videos"][0]["video_id"] == "S018C001P001R001A078"
    assert set(NATIVE_DATASETS) == {"ntu60", "ntu120", "smarthome", "nucla"}
    assert "open bottle" in class_names("ntu120") and "open bottle" not in class_names("ntu60")
    recs = read_ntu120(tmp_path / "a")
    assert [r.label for r in recs] == ["open bottle"]


@pytest.mark.parametrize("kw, match", [
    (dict(videos_per_class=7), "videos_per_class must be 1..6 for NTU"),
    (dict(subjects=0), r"subjects must be an integer in 1..999"),
    (dict(frames=3), "frames must be an integer >= 4"),
    (dict(image_size=(8, 8)), "image_size must be"),
    (dict(classes=["open bottle"]), r"unknown or no classes \['open bottle'\] for synthetic ntu60"),
    (dict(missing_skeletons=2), r"missing_skeletons must be in 0..1"),
])
def test_synthetic_ntu_arguments_are_checked(tmp_path, kw, match):
    args = dict(subjects=1, frames=6, image_size=SMALL, classes=["drink water"])
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        generate_ntu("ntu60", tmp_path, **args)


def test_synthetic_ntu_refuses_other_datasets_and_a_string_of_classes(tmp_path):
    with pytest.raises(ValueError, match="unknown synthetic NTU dataset 'ntu30'"):
        generate_ntu("ntu30", tmp_path)
    with pytest.raises(TypeError, match="classes must be a list of class names"):
        generate_ntu("ntu60", tmp_path, classes="drink water")


def test_kinect_v2_joints_keep_the_shared_joints():
    j20 = np.random.default_rng(0).normal(size=(4, 20, 3))
    j25 = kinect_v2_joints(j20)
    assert j25.shape == (4, 25, 3)
    for name in ("head", "hand_left", "foot_right", "shoulder_right"):
        np.testing.assert_array_equal(j25[:, KINECT_V2_25.index(name)],
                                      j20[:, KINECT_V1_20.index(name)])
    np.testing.assert_array_equal(j25[:, KINECT_V2_25.index("spine_base")], j20[:, 0])


def _copy_sample(src_root: Path, name: str, dst: Path, new_name: str):
    for sub, suffix in (("nturgb+d_skeletons", ".skeleton"), ("nturgb+d_rgb", "_rgb.avi")):
        (dst / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy(src_root / sub / f"{name}{suffix}", dst / sub / f"{new_name}{suffix}")


def test_ntu60_leaves_the_ntu120_setups_out_with_a_report(ntu60, tmp_path):
    root, _ = ntu60
    _copy_sample(root, "S001C001P001R001A001", tmp_path, "S001C001P001R001A001")
    _copy_sample(root, "S001C001P001R001A001", tmp_path, "S018C001P001R001A061")
    scan = scan_ntu(tmp_path, "ntu60")
    assert [r.video_id for r in scan.records] == ["S001C001P001R001A001"]
    assert scan.skipped == [("1 samples of setups S018-S032",
                             "NTU RGB+D 120 setups, not part of NTU RGB+D 60")]
    assert [r.video_id for r in read_ntu120(tmp_path)] == ["S001C001P001R001A001",
                                                           "S018C001P001R001A061"]


@pytest.mark.parametrize("new_name, match", [
    ("S001C001P001R001A061", r"expected an action A001-A060 in setup S001, found A061"),
    ("S033C001P001R001A001", r"expected a setup S001-S032 \(NTU RGB\+D 120\), found S033"),
])
def test_samples_outside_the_dataset_are_refused(ntu60, tmp_path, new_name, match):
    _copy_sample(ntu60[0], "S001C001P001R001A001", tmp_path, new_name)
    with pytest.raises(DataFormatError, match=match):
        read_ntu120(tmp_path)


def test_bad_roots_are_refused(ntu60, tmp_path):
    with pytest.raises(DatasetLayoutError, match="not a folder"):
        read_ntu60(tmp_path / "nowhere")
    with pytest.raises(DatasetLayoutError, match=r"no SsssCcccPpppRrrrAaaa.skeleton"):
        read_ntu60(tmp_path)
    with pytest.raises(ValueError, match="unknown NTU version 'ntu30'"):
        scan_ntu(tmp_path, "ntu30")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "S01.skeleton").write_text("1")
    with pytest.raises(DataFormatError, match=r"S01.skeleton: expected an NTU sample name"):
        read_ntu60(tmp_path)
    (tmp_path / "a" / "S01.skeleton").unlink()
    _copy_sample(ntu60[0], "S001C001P001R001A001", tmp_path / "a", "S001C001P001R001A001")
    _copy_sample(ntu60[0], "S001C001P001R001A001", tmp_path / "b", "S001C001P001R001A001")
    with pytest.raises(DataFormatError, match=r"expected one .skeleton file per sample, found a "
                                              r"second copy of S001C001P001R001A001"):
        read_ntu60(tmp_path)


@pytest.mark.realdata
def test_the_real_ntu_clip_reads_as_an_rgb_only_sample(tmp_path):
    clip = REAL_NTU / "S001C001P001R001A001_rgb.avi"
    if not clip.is_file():
        pytest.skip(f"{clip} is absent (../shared/data/real/ntu)")
    (tmp_path / "nturgb+d_rgb").mkdir()
    (tmp_path / "nturgb+d_rgb" / clip.name).symlink_to(clip)
    (rec,) = read_ntu60(tmp_path)
    assert rec.label == "drink water" and rec.subject == "1" and rec.view == "1"
    assert not rec.has_skeleton and rec.has_rgb
    src = FrameSource(rec.rgb)
    assert src.frame_size() == (1920, 1080) and len(src) > 50


# ----------------------------------------------------------------------- protocols

@pytest.fixture(scope="module")
def full_lists():
    out = {}
    for version in ("ntu60", "ntu120"):
        recs = [ntu_record(NtuSampleId.parse(n), version) for n in ntu_sample_names(version)]
        out[version] = (recs, set(ntu_missing_names(version)))
    return out


def _sizes(split, recs, drop=frozenset()):
    kept = [r for r in recs if r.video_id not in drop]
    train, test = split.split(kept)
    return len(train), len(test)


def test_ntu60_official_split_sizes_on_the_full_size_list(full_lists):
    recs, missing = full_lists["ntu60"]
    assert len(recs) == 56_880 and len(missing) == 302
    assert _sizes(ntu60_cross_subject(), recs) == (40_320, 16_560)
    assert _sizes(ntu60_cross_view(), recs) == (37_920, 18_960)
    assert _sizes(ntu60_cross_subject(), recs, missing) == (40_091, 16_487)
    assert _sizes(ntu60_cross_view(), recs, missing) == (37_646, 18_932)
    # the disputed "even performer ids" reading gives other sizes on the same list
    even = AttributeSplit("even", "subject", range(2, 41, 2))
    assert _sizes(even, recs) != (40_320, 16_560)


def test_ntu120_official_split_sizes_on_the_full_size_list(full_lists):
    recs, missing = full_lists["ntu120"]
    assert len(recs) == 114_480 and len(missing) == 535
    xsub, xset = ntu120_cross_subject(), ntu120_cross_setup()
    assert sum(_sizes(xsub, recs)) == sum(_sizes(xset, recs)) == 114_480
    # the commonly quoted (unverified) sizes after dropping the 535
    assert _sizes(xsub, recs, missing) == (63_026, 50_919)
    assert _sizes(xset, recs, missing) == (54_468, 59_477)
    train, _ = xset.split(recs)
    assert {int(recs[i].setup) % 2 for i in train} == {0}


def test_cross_subject_is_a_fold_the_features_stage_runs(full_lists):
    recs = full_lists["ntu60"][0][:5000]
    fold = ntu60_cross_subject().as_fold(recs)
    assert isinstance(fold, Fold) and fold.name == "ntu60_xsub"
    assert set(fold.train_subjects) <= {str(p) for p in ntu60_cross_subject().train_values}
    np.testing.assert_array_equal(fold.split(recs)[0], ntu60_cross_subject().split(recs)[0])
    with pytest.raises(ValueError, match="protocol ntu60_xview splits by view; only a plain "
                                         "cross-subject split is a subject Fold"):
        ntu60_cross_view().as_fold(recs)


def test_make_folds_runs_a_published_cross_subject_split_by_name(full_lists):
    from adl.data.protocols import make_folds
    recs = full_lists["ntu60"][0][::40]
    (fold,) = make_folds(recs, "ntu60_xsub")
    assert fold == ntu60_cross_subject().as_fold(recs)
    with pytest.raises(ValueError, match="protocol ntu60_xview splits by view"):
        make_folds(recs, "ntu60_xview")


def test_attribute_split_checks(full_lists):
    with pytest.raises(ValueError, match="split attribute must be subject, view or setup, got "
                                         "'label'"):
        AttributeSplit("x", "label", ("a",))
    rec = full_lists["ntu60"][0][0]
    import dataclasses
    no_view = dataclasses.replace(rec, view=None)
    with pytest.raises(ValueError, match=r"protocol ntu60_xview splits by view, but video "
                                         r"'S001C001P001R001A001' has no view"):
        ntu60_cross_view().split([no_view])
    with pytest.raises(ValueError, match="no official split 'xview' for dataset 'ntu120'"):
        official_split("ntu120", "xview")
    assert official_split("ntu60", "xview") == ntu60_cross_view()


def test_a_class_subset_and_validation_values_leave_records_out(full_lists):
    recs = full_lists["ntu60"][0][::30]
    split = AttributeSplit("v", "view", ("2",), validation_values=("3",),
                           classes=("drink water",))
    train, test = split.split(recs)
    val = split.validation(recs)
    assert {recs[i].view for i in train} == {"2"} and {recs[i].view for i in test} == {"1"}
    assert {recs[i].view for i in val} == {"3"}
    assert {recs[i].label for i in np.concatenate([train, test, val])} == {"drink water"}


# ----------------------------------------------------------------------- CLI

def test_adl_synth_inspect_and_datasets_cover_ntu(tmp_path):
    runner = CliRunner()
    out = runner.invoke(main, ["synth", "--dataset", "ntu60", "--out", str(tmp_path),
                               "--subjects", "1", "--frames", "6", "--image-size", "64x36"])
    assert out.exit_code == 0, out.output
    assert re.search(r"wrote \d+ videos of ntu60", out.output)
    res = runner.invoke(main, ["inspect", "--dataset", "ntu60", "--root", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "problems found: none" in res.output and "videos: 6  classes: 6" in res.output
    assert "skeleton in 6/6" in res.output
    text = runner.invoke(main, ["datasets"]).output
    assert "ntu60: NTU RGB+D 60" in text and "ntu120: NTU RGB+D 120" in text
    assert "NTU_RGBD_samples_with_missing_skeletons.txt" in text


def test_adl_inspect_reports_the_skipped_samples(ntu60):
    root, summary = ntu60
    res = CliRunner().invoke(main, ["inspect", "--dataset", "ntu60", "--root", str(root),
                                    "--no-frames"])
    assert res.exit_code == 0, res.output
    assert "skipped by the reader: 1" in res.output
    assert f"{summary['missing'][0]}: listed in" in res.output


def test_the_loader_is_the_parser(ntu60):
    rec = load_records("ntu60", ntu60[0])[0]
    np.testing.assert_array_equal(load_ntu_skeleton(rec).joints,
                                  parse_ntu_skeleton(rec.skeleton).joints[:, 0])
