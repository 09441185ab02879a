"""The bring-your-own CSV manifest: round trips and every error path."""
import os
import pickle
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from adl.data.errors import DatasetLayoutError, DataFormatError, UnsafePathError
from adl.data.manifest import (COLUMNS, load_npy_skeleton, manifest_path, read_manifest,
                           write_manifest)
from adl.data.record import VideoRecord
from adl.data.video import FrameSource

HEADER = "video_id,label,subject,rgb,skeleton,layout"


def _skeleton(t=6, j=20, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(t, j, 3)) * 0.3 + [0, 0, 2.5]).astype(np.float32)


def _video(path, n=5, size=(32, 24)):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    assert w.isOpened()
    for i in range(n):
        w.write(np.full((size[1], size[0], 3), 40 * i, np.uint8))
    w.release()
    return path


def _frames(folder, n=4, ext="png"):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, n + 1):
        cv2.imwrite(str(folder / f"RGB_{i}.{ext}"), np.full((12, 16, 3), 20 * i, np.uint8))
    return folder


def _csv(root, *lines, header=HEADER):
    path = root / "manifest.csv"
    path.write_text("\n".join((header,) + lines) + "\n")
    return path


@pytest.fixture
def ds(tmp_path):
    """A dataset root with one skeleton, one video and one frame folder."""
    root = tmp_path / "ds"
    (root / "skel").mkdir(parents=True)
    np.save(root / "skel" / "a.npy", _skeleton(6))
    np.save(root / "skel" / "b.npy", _skeleton(4, seed=1))
    _video(root / "a.avi", n=5)
    _frames(root / "frames_b", n=4)
    return root


# ------------------------------------------------------------------ round trip
def test_round_trip_both_modalities_skeleton_only_rgb_only(ds):
    rows = [
        {"video_id": "a", "label": "drink", "subject": "1", "rgb": Path("a.avi"),
         "skeleton": Path("skel/a.npy"), "layout": "kinect_v1_20", "view": "front"},
        {"video_id": "b", "label": "eat", "subject": "S02", "skeleton": "skel/b.npy",
         "layout": "kinect_v1_20", "camera": "kinect_v2", "fps": 15.0},
        {"video_id": "c-1.x", "label": "eat", "subject": "S02", "rgb": "frames_b"},
    ]
    written = write_manifest(ds, rows)
    assert written == ds / "manifest.csv"
    assert written.read_text().splitlines()[0] == HEADER + ",view,camera,fps"
    recs = read_manifest(ds)
    assert [r.video_id for r in recs] == ["a", "b", "c-1.x"]
    a, b, c = recs
    assert (a.dataset, a.label, a.subject, a.view, a.layout, a.camera, a.fps) == \
        ("manifest", "drink", "1", "front", "kinect_v1_20", "kinect_v1", 30.0)
    assert a.rgb == (ds / "a.avi").resolve() and a.has_rgb and a.has_skeleton
    assert len(FrameSource(a.rgb, a.rgb_glob)) == 5
    seq = a.load_skeleton()
    assert seq.joints.dtype == np.float32 and seq.joints.shape == (6, 20, 3)
    np.testing.assert_array_equal(seq.joints, np.load(ds / "skel" / "a.npy"))
    np.testing.assert_array_equal(seq.frame_ids, np.arange(6))
    # skeleton only: explicit camera and fps kept
    assert (b.rgb, b.camera, b.fps, b.view, b.subject) == (None, "kinect_v2", 15.0, None, "S02")
    assert b.load_skeleton().joints.shape == (4, 20, 3)
    # RGB only: a frame folder, no layout, no camera
    assert (c.skeleton, c.layout, c.camera, c.has_skeleton) == (None, None, None, False)
    assert c.rgb_glob == "*.png" and len(FrameSource(c.rgb, c.rgb_glob)) == 4
    assert c.meta_dict() == {"manifest_line": "4"}


def test_group_column_and_a_group_across_subjects(ds):
    rows = [{"video_id": "a", "label": "drink", "subject": "1", "rgb": "a.avi", "group": "clip1"},
            {"video_id": "a_flip", "label": "drink", "subject": "1", "rgb": "a.avi",
             "group": "clip1"},
            {"video_id": "c", "label": "eat", "subject": "2", "rgb": "frames_b"}]
    written = write_manifest(ds, rows)
    assert written.read_text().splitlines()[0] == HEADER + ",group"
    recs = read_manifest(ds)
    assert [(r.group, r.split_group) for r in recs] == \
        [("clip1", "group:clip1"), ("clip1", "group:clip1"), (None, "video:c")]
    rows[2]["group"] = "clip1"          # the same group under another subject: refused
    write_manifest(ds, rows)
    with pytest.raises(DataFormatError, match=r"manifest.csv, line 4: expected one subject per "
                       r"group \(group 'clip1' is subject '1' on line 2\).*found subject '2'"):
        read_manifest(ds)


def test_csv_path_any_column_order_blank_lines_and_defaults(ds):
    path = ds / "other.csv"
    path.write_text("Layout , skeleton,rgb,subject,label,video_id,camera\n\n"
                    "kinect_v2_25,skel/x.npy,,3,walk,x,\n")
    np.save(ds / "skel" / "x.npy", _skeleton(3, j=25))
    (rec,) = read_manifest(path)
    assert (rec.video_id, rec.layout, rec.camera, rec.subject) == ("x", "kinect_v2_25", "kinect_v2", "3")
    assert rec.meta_dict() == {"manifest_line": "3"}
    assert manifest_path(ds) == ds / "manifest.csv" and manifest_path(path) == path


def test_jpg_frame_folder_and_absolute_path_inside_root(ds):
    _frames(ds / "jpgs", n=3, ext="jpg")
    _csv(ds, f"v,l,1,{(ds / 'jpgs').resolve()},,")
    (rec,) = read_manifest(ds)
    assert rec.rgb_glob == "*.jpg" and len(FrameSource(rec.rgb, rec.rgb_glob)) == 3


def test_media_root_resolves_and_confines_media(tmp_path, ds):
    out = tmp_path / "out"
    write_manifest(out / "manifest.csv", [{"video_id": "a", "label": "l", "subject": "1",
                                           "rgb": "a.avi"}])
    (rec,) = read_manifest(out, media_root=ds)
    assert rec.rgb == (ds / "a.avi").resolve()
    with pytest.raises(DataFormatError, match=r"manifest\.csv, line 2: .*pass media_root="):
        read_manifest(out)
    with pytest.raises(DatasetLayoutError, match="media root is not a folder"):
        read_manifest(out, media_root=tmp_path / "nope")


def test_records_pickle_with_their_loader(ds):
    _csv(ds, "a,l,1,,skel/a.npy,kinect_v1_20")
    (rec,) = read_manifest(ds)
    back = pickle.loads(pickle.dumps(rec))
    assert back.skeleton_loader is load_npy_skeleton
    np.testing.assert_array_equal(back.load_skeleton().joints, rec.load_skeleton().joints)


def test_nan_frames_kept_and_zero_frames_become_nan(ds):
    s = _skeleton(5)
    s[1] = np.nan          # sensor drop
    s[3] = 0.0             # "not tracked" written as zeros
    s[4, 2] = np.nan       # one missing joint
    np.save(ds / "skel" / "n.npy", s.astype(np.float64))
    _csv(ds, "n,l,1,,skel/n.npy,kinect_v1_20")
    j = read_manifest(ds)[0].load_skeleton().joints
    assert j.dtype == np.float32
    assert np.isnan(j).all(axis=(1, 2)).tolist() == [False, True, False, True, False]
    assert np.isnan(j[4]).any(axis=1).tolist() == [False, False, True] + [False] * 17


def test_write_manifest_error_paths(tmp_path):
    ok = {"video_id": "a", "label": "l", "subject": "1"}
    with pytest.raises(ValueError, match=r"row 0: unknown manifest column\(s\) lable"):
        write_manifest(tmp_path, [{**ok, "lable": "x"}])
    with pytest.raises(ValueError, match="row 1: expected a non-empty 'label', got None"):
        write_manifest(tmp_path, [ok, {**ok, "video_id": "b", "label": None}])
    with pytest.raises(ValueError, match=r"row 0: video_id '\.hidden' is not"):
        write_manifest(tmp_path, [{**ok, "video_id": ".hidden"}])
    with pytest.raises(ValueError, match="row 1: video_id 'a' already used by row 0"):
        write_manifest(tmp_path, [ok, ok])
    assert not (tmp_path / "manifest.csv").exists()
    assert set(COLUMNS) >= {"video_id", "view", "camera"}


# ------------------------------------------------------- manifest error paths
def test_no_manifest(tmp_path):
    with pytest.raises(DatasetLayoutError, match=r"manifest\.csv: no manifest CSV"):
        read_manifest(tmp_path)


def test_empty_file_and_no_rows(tmp_path):
    (tmp_path / "manifest.csv").write_text("\n")
    with pytest.raises(DataFormatError, match="expected a header line video_id.*found an empty file"):
        read_manifest(tmp_path)
    _csv(tmp_path)
    with pytest.raises(DataFormatError, match="line 1: expected at least one row after the header, found none"):
        read_manifest(tmp_path)


def test_missing_column(ds):
    _csv(ds, "a,l,1,,skel/a.npy", header="video_id,label,subject,rgb,skeleton")
    with pytest.raises(DataFormatError,
                       match=r"manifest\.csv, line 1: expected columns video_id,label,subject,rgb,"
                             r"skeleton,layout .*found no column layout"):
        read_manifest(ds)


def test_unknown_and_repeated_columns(ds):
    _csv(ds, "a,l,1,,skel/a.npy,kinect_v1_20,x", header=HEADER + ",veiw")
    with pytest.raises(DataFormatError, match=r"line 1: expected only the columns .*found unknown column\(s\) 'veiw'"):
        read_manifest(ds)
    _csv(ds, "a,l,1,,skel/a.npy,kinect_v1_20,l", header=HEADER + ",label")
    with pytest.raises(DataFormatError, match=r"line 1: expected each column once, found repeated column\(s\) label"):
        read_manifest(ds)


def test_wrong_field_count(ds):
    _csv(ds, "a,l,1,,skel/a.npy")
    with pytest.raises(DataFormatError, match="line 2: expected 6 comma-separated fields .*found 5 fields"):
        read_manifest(ds)


@pytest.mark.parametrize("vid", [".hidden", "a/b", "a b", "..", ""])
def test_unsafe_video_id(ds, vid):
    _csv(ds, f"{vid},l,1,,skel/a.npy,kinect_v1_20")
    with pytest.raises(DataFormatError, match=r"line 2: expected a video_id of \[A-Za-z0-9\._-\]"):
        read_manifest(ds)


def test_duplicate_ids_name_both_lines(ds):
    _csv(ds, "a,l,1,,skel/a.npy,kinect_v1_20", "b,l,1,,skel/b.npy,kinect_v1_20",
         "a,m,2,,skel/b.npy,kinect_v1_20")
    with pytest.raises(DataFormatError,
                       match="line 4: expected unique video_id values, found 'a' on line 2 and again on line 4"):
        read_manifest(ds)


@pytest.mark.parametrize("row, col", [("a,,1,,skel/a.npy,kinect_v1_20", "label"),
                                      ("a,l, ,,skel/a.npy,kinect_v1_20", "subject")])
def test_empty_label_or_subject(ds, row, col):
    _csv(ds, row)
    with pytest.raises(DataFormatError, match=f"line 2: expected a non-empty {col}, found an empty cell"):
        read_manifest(ds)


def test_unknown_layout(ds):
    _csv(ds, "a,l,1,,skel/a.npy,kinect_v3")
    with pytest.raises(DataFormatError,
                       match="line 2: expected a joint layout among cad_15, .*found 'kinect_v3'"):
        read_manifest(ds)


def test_no_media_and_skeleton_without_layout(ds):
    _csv(ds, "a,l,1,,,kinect_v1_20")
    with pytest.raises(DataFormatError, match="line 2: expected an rgb path, a skeleton path or both, found both empty"):
        read_manifest(ds)
    _csv(ds, "a,l,1,,skel/a.npy,")
    with pytest.raises(DataFormatError, match="line 2: expected a layout for the skeleton, found an empty layout"):
        read_manifest(ds)


def test_missing_referenced_files(ds):
    _csv(ds, "a,l,1,,skel/zz.npy,kinect_v1_20")
    with pytest.raises(DataFormatError, match=r"line 2: expected an existing skeleton file .*found nothing at .*zz\.npy"):
        read_manifest(ds)
    _csv(ds, "a,l,1,zz.avi,,")
    with pytest.raises(DataFormatError, match=r"line 2: expected an existing RGB video .*found nothing at .*zz\.avi"):
        read_manifest(ds)


def test_wrong_file_kinds(ds):
    (ds / "skel" / "a.txt").write_text("1 2 3\n")
    _csv(ds, "a,l,1,,skel/a.txt,kinect_v1_20")
    with pytest.raises(DataFormatError, match=r"line 2: expected a \.npy skeleton file, found 'skel/a\.txt'"):
        read_manifest(ds)
    _csv(ds, "a,l,1,skel/a.txt,,")
    with pytest.raises(DataFormatError, match=r"line 2: expected a video file \(.*found 'skel/a\.txt'"):
        read_manifest(ds)


def test_frame_folder_empty_or_mixed(ds):
    (ds / "empty").mkdir()
    _csv(ds, "a,l,1,empty,,")
    with pytest.raises(DataFormatError, match="line 2: expected a frame folder with one kind of frames .*found none in"):
        read_manifest(ds)
    _frames(ds / "frames_b", n=1, ext="jpg")
    _csv(ds, "a,l,1,frames_b,,")
    with pytest.raises(DataFormatError, match=r"found \*\.png and \*\.jpg in"):
        read_manifest(ds)


def test_unknown_camera_and_bad_fps(ds):
    _csv(ds, "a,l,1,,skel/a.npy,kinect_v1_20,pinhole9", header=HEADER + ",camera")
    with pytest.raises(DataFormatError, match="line 2: expected a camera model among .*kinect_v1.*found 'pinhole9'"):
        read_manifest(ds)
    for fps in ("0", "-3", "nan", "fast"):
        _csv(ds, f"a,l,1,,skel/a.npy,kinect_v1_20,{fps}", header=HEADER + ",fps")
        with pytest.raises(DataFormatError, match=f"line 2: expected a positive frame rate, found '{fps}'"):
            read_manifest(ds)


# ---------------------------------------------------------------- path safety
def test_relative_path_escaping_root(tmp_path, ds):
    np.save(tmp_path / "x.npy", _skeleton())
    _csv(ds, "a,l,1,,skel/a.npy,kinect_v1_20", "b,l,1,,../x.npy,kinect_v1_20")
    with pytest.raises(UnsafePathError,
                       match=r"manifest\.csv, line 3: skeleton path '\.\./x\.npy' resolves to .*x\.npy, "
                             r"outside the media root"):
        read_manifest(ds)


def test_absolute_path_outside_root(tmp_path, ds):
    outside = _video(tmp_path / "o.avi")
    _csv(ds, f"a,l,1,{outside},,")
    with pytest.raises(UnsafePathError, match=f"line 2: rgb path '{re.escape(str(outside))}' resolves to"):
        read_manifest(ds)


def test_symlink_leading_outside_root(tmp_path, ds):
    np.save(tmp_path / "x.npy", _skeleton())
    os.symlink(tmp_path / "x.npy", ds / "skel" / "link.npy")
    _csv(ds, "a,l,1,,skel/link.npy,kinect_v1_20")
    with pytest.raises(UnsafePathError, match=r"line 2: skeleton path 'skel/link\.npy' resolves to .*/x\.npy"):
        read_manifest(ds)
    # a frame inside a frame folder may not lead out either
    outside = _frames(tmp_path / "outside", n=1)
    os.symlink(outside / "RGB_1.png", ds / "frames_b" / "RGB_5.png")
    _csv(ds, "a,l,1,frames_b,,")
    with pytest.raises(UnsafePathError, match=r"line 2: frame .*RGB_5\.png resolves to .*outside/RGB_1\.png"):
        read_manifest(ds)


def test_symlink_inside_root_is_fine_and_loop_is_an_error(ds):
    os.symlink(ds / "skel" / "a.npy", ds / "inner.npy")
    _csv(ds, "a,l,1,,inner.npy,kinect_v1_20")
    assert read_manifest(ds)[0].skeleton == (ds / "skel" / "a.npy").resolve()
    os.symlink(ds / "loop2", ds / "loop1")
    os.symlink(ds / "loop1", ds / "loop2")
    _csv(ds, "a,l,1,loop1,,")
    with pytest.raises(DataFormatError, match="line 2: expected a resolvable rgb path, found 'loop1'"):
        read_manifest(ds)


# ------------------------------------------------------------ skeleton loader
def _record(path, layout="kinect_v1_20"):
    return VideoRecord(dataset="manifest", video_id="v", label="l", subject="1",
                       skeleton=path, skeleton_loader=load_npy_skeleton, layout=layout)


def test_wrong_joint_count(ds):
    np.save(ds / "skel" / "j19.npy", _skeleton(7, j=19))
    _csv(ds, "a,l,1,,skel/j19.npy,kinect_v1_20")
    (rec,) = read_manifest(ds)  # checked when loaded, not when listed
    with pytest.raises(DataFormatError,
                       match=r"j19\.npy: expected an array of shape \(T, 20, 3\) with T >= 1 "
                             r"\(layout kinect_v1_20\), found shape \(7, 19, 3\)"):
        rec.load_skeleton()


@pytest.mark.parametrize("arr, found", [
    (np.zeros((0, 20, 3), np.float32), r"shape \(0, 20, 3\)"),
    (np.zeros((5, 60), np.float32), r"shape \(5, 60\)"),
    (np.zeros((5, 20, 2), np.float32), r"shape \(5, 20, 2\)"),
])
def test_bad_shapes(tmp_path, arr, found):
    np.save(tmp_path / "s.npy", arr)
    with pytest.raises(DataFormatError, match=r"s\.npy: expected an array of shape \(T, 20, 3\).*found " + found):
        load_npy_skeleton(_record(tmp_path / "s.npy"))


@pytest.mark.parametrize("fill, found", [(0.0, "only NaN and zeros"), (np.nan, "only NaN and zeros")])
def test_all_zero_or_all_nan_skeleton(tmp_path, fill, found):
    np.save(tmp_path / "z.npy", np.full((4, 20, 3), fill, np.float32))
    with pytest.raises(DataFormatError, match=r"z\.npy: expected at least one tracked joint .*found " + found):
        load_npy_skeleton(_record(tmp_path / "z.npy"))


def test_infinite_value_names_frame(tmp_path):
    s = _skeleton(4)
    s[2, 5, 1] = np.inf
    np.save(tmp_path / "i.npy", s)
    with pytest.raises(DataFormatError, match=r"i\.npy, frame 3: expected finite coordinates or NaN"):
        load_npy_skeleton(_record(tmp_path / "i.npy"))


def test_bad_dtype_npz_unreadable_and_missing(tmp_path):
    np.save(tmp_path / "c.npy", _skeleton(3).astype(np.complex64))
    with pytest.raises(DataFormatError, match=r"c\.npy: expected a float or integer array, found dtype complex64"):
        load_npy_skeleton(_record(tmp_path / "c.npy"))
    np.save(tmp_path / "o.npy", np.array([None, 1], dtype=object), allow_pickle=True)
    with pytest.raises(DataFormatError, match=r"o\.npy: .*found an unreadable \.npy file"):
        load_npy_skeleton(_record(tmp_path / "o.npy"))
    np.savez(tmp_path / "z.npz", a=_skeleton(3))
    with pytest.raises(DataFormatError, match=r"z\.npz: .*found a NpzFile, not a single \.npy array"):
        load_npy_skeleton(_record(tmp_path / "z.npz"))
    with pytest.raises(DataFormatError, match=r"gone\.npy: .*found no such file"):
        load_npy_skeleton(_record(tmp_path / "gone.npy"))


def test_integer_skeleton_is_accepted_as_float32(tmp_path):
    np.save(tmp_path / "i.npy", np.ones((2, 13, 3), np.int16))
    seq = load_npy_skeleton(_record(tmp_path / "i.npy", layout="lcrnet_13"))
    assert seq.joints.dtype == np.float32 and seq.joints.shape == (2, 13, 3) and len(seq) == 2


def test_registry_reads_a_manifest_dataset(ds):
    from adl.data.registry import load_records
    _csv(ds, "z,l,1,,skel/a.npy,kinect_v1_20", "b,l,2,a.avi,,")
    recs = load_records("manifest", ds)
    assert [(r.video_id, r.dataset) for r in recs] == [("b", "manifest"), ("z", "manifest")]
