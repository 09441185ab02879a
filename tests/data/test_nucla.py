"""N-UCLA (DATASETS.md section 6): skeleton files, fileList.txt, the reader,
the synthetic writer and the V3_12 cross-view protocol."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from adl.cli.main import main
from adl.data.errors import DataFormatError, DatasetLayoutError
from adl.data.nucla import (NUCLA_ACTIONS, nucla_rgb_frames, parse_nucla_sample,
                            parse_nucla_skeleton_file, read_nucla, write_nucla_sample)
from adl.data.protocols import nucla_cross_view, official_split
from adl.data.registry import load_records
from adl.data.synth import class_names, generate
from adl.data.synth.nucla import generate_nucla
from adl.data.video import FrameSource

SMALL = (64, 48)


def _joints(T=5, seed=0):
    return np.random.default_rng(seed).normal(size=(T, 20, 3)) + [0, 0, 3]


def test_sample_round_trip_with_a_frame_without_skeleton_and_a_missing_joint(tmp_path):
    j = _joints()
    j[1] = np.nan
    j[3, 7] = np.nan
    folder = write_nucla_sample(tmp_path / "view_1" / "a01_s01_e00", j)
    lines = (folder / "fileList.txt").read_text().split()
    assert lines[:8] == ["0", "10000", "10003", "1", "10033", "2", "10067", "10070"]
    assert not (folder / "frame_1_tc_10036_skeletons.txt").exists()
    seq = parse_nucla_sample(folder)
    assert seq.joints.shape == (5, 20, 3) and seq.frame_ids.tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(seq.joints, j, atol=1e-5, equal_nan=True)
    with pytest.raises(ValueError, match=r"joints_m must have shape \(T, 20, 3\)"):
        write_nucla_sample(tmp_path / "x", j[:, :15])
    with pytest.raises(ValueError, match="frame_ids, rgb_tc and ske_tc must have 5 values each"):
        write_nucla_sample(tmp_path / "x", j, frame_ids=[1, 2])


def test_an_empty_skeleton_file_is_a_frame_without_skeleton(tmp_path):
    folder = write_nucla_sample(tmp_path / "s", _joints(T=3))
    (folder / "frame_1_tc_10036_skeletons.txt").write_text("")
    seq = parse_nucla_sample(folder)
    assert np.isnan(seq.joints[1]).all() and np.isfinite(seq.joints[0]).all()
    assert parse_nucla_skeleton_file(folder / "frame_1_tc_10036_skeletons.txt") is None


@pytest.mark.parametrize("text, match", [
    ("x\n" + "1,2,3,2\n" * 20, r"line 1: expected one integer on the first line"),
    ("1\n" + "1,2,3,2\n" * 19, r"line 20: expected 20 joint lines 'x,y,z,c' after line 1, "
                               r"found 19 lines"),
    ("1\n" + "1,2,3\n" + "1,2,3,2\n" * 19, r"line 2: expected 4 comma-separated values"),
    ("1\n" + "1,a,3,2\n" + "1,2,3,2\n" * 19, r"line 2: expected numbers 'x,y,z,c'"),
    ("1\n" + "1,inf,3,2\n" + "1,2,3,2\n" * 19, r"line 2: expected a finite number in column 2"),
])
def test_malformed_skeleton_files_are_refused(tmp_path, text, match):
    path = tmp_path / "frame_0_tc_1_skeletons.txt"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=match) as info:
        parse_nucla_skeleton_file(path)
    assert str(path) in str(info.value)


def test_malformed_samples_are_refused(tmp_path):
    folder = write_nucla_sample(tmp_path / "s", _joints(T=3))
    fl = folder / "fileList.txt"
    fl.write_text("0 10000 10003\n1 x 2\n")
    with pytest.raises(DataFormatError, match=r"fileList.txt, line 2: expected '<frame> <rgb tc> "
                                              r"<skeleton tc>'"):
        parse_nucla_sample(folder)
    fl.write_text("0 10000 99\n")
    with pytest.raises(DataFormatError, match=r"fileList.txt, line 1, frame 1: expected a "
                                              r"skeleton file for the frame this line names, "
                                              r"found no file frame_0_tc_99_skeletons.txt"):
        parse_nucla_sample(folder)
    with pytest.raises(DataFormatError, match=r"fileList.txt, line 1, frame 1: expected an RGB "
                                              r"frame .* found no file frame_0_tc_10000_rgb.jpg"):
        nucla_rgb_frames(folder)
    fl.write_text("0 10000\n1 10033\n")
    with pytest.raises(DataFormatError, match="expected at least one frame with a skeleton, "
                                              "found none in 2 frames"):
        parse_nucla_sample(folder)
    fl.write_text("\n")
    with pytest.raises(DataFormatError, match="expected one line per frame, found an empty file"):
        parse_nucla_sample(folder)
    fl.write_bytes(b"0 1\xff\n")
    with pytest.raises(DataFormatError, match=r"line 1: expected an N-UCLA fileList.txt \(text\), "
                                              r"found undecodable bytes"):
        parse_nucla_sample(folder)
    with pytest.raises(DataFormatError, match="expected an N-UCLA fileList.txt, found no such file"):
        parse_nucla_sample(tmp_path / "nowhere")
    with pytest.raises(DataFormatError, match="expected an N-UCLA skeleton file, found a folder"):
        parse_nucla_skeleton_file(folder)


# ----------------------------------------------------------------------- synthetic + reader

@pytest.fixture(scope="module")
def nucla(tmp_path_factory):
    root = tmp_path_factory.mktemp("nucla")
    summary = generate_nucla("nucla", root, subjects=2, frames=8, image_size=SMALL,
                             classes=["walk around", "sit down"])
    return root, summary


def test_synthetic_nucla_reads_back(nucla):
    root, summary = nucla
    recs = load_records("nucla", root)
    assert [r.video_id for r in recs] == sorted(v["video_id"] for v in summary["videos"])
    assert len(recs) == 2 * 2 * 3
    r = recs[0]
    assert r.video_id == "a04_s01_e00_v1" and r.label == "walk around" and r.view == "1"
    assert r.subject == "1" and r.meta_dict() == {"action_number": "04", "environment": "00"}
    assert r.load_skeleton().joints.shape == (8, 20, 3)
    frames = nucla_rgb_frames(r.rgb)
    assert len(frames) == 8 and frames[0].name == "frame_0_tc_10000_rgb.jpg"
    assert read_nucla(root / "multiview_action")[0].video_id == r.video_id


def test_frame_source_reads_nucla_frames(nucla):
    r = load_records("nucla", nucla[0])[0]
    assert len(FrameSource(r.rgb, r.rgb_glob)) == 8


def test_the_three_views_see_one_performance(nucla):
    recs = {r.video_id: r for r in load_records("nucla", nucla[0])}
    seqs = [recs[f"a05_s02_e00_v{v}"].load_skeleton().joints for v in (1, 2, 3)]
    dropped = [np.isnan(s).all(axis=(1, 2)) for s in seqs]
    assert (dropped[0] == dropped[1]).all() and (dropped[1] == dropped[2]).all()
    assert np.nanmax(np.abs(seqs[0] - seqs[2])) > 0.1


def test_synthetic_nucla_through_generate_and_its_argument_checks(tmp_path):
    s = generate("nucla", tmp_path / "a", subjects=1, frames=4, image_size=SMALL,
                 classes=["stand up"])
    assert [v["video_id"] for v in s["videos"]] == [f"a06_s01_e00_v{v}" for v in (1, 2, 3)]
    assert "stand up" in class_names("nucla")
    for kw, match in [(dict(subjects=100), r"subjects must be an integer in 1..99"),
                      (dict(videos_per_class=0), r"videos_per_class must be 1..99"),
                      (dict(frames=3), "frames must be an integer >= 4"),
                      (dict(image_size=(4, 4)), "image_size must be"),
                      (dict(classes=["dance"]), r"unknown or no classes \['dance'\]")]:
        with pytest.raises(ValueError, match=match):
            generate_nucla("nucla", tmp_path / "b", **kw)
    with pytest.raises(TypeError, match="classes must be a list of class names"):
        generate_nucla("nucla", tmp_path / "b", classes="walk around")
    with pytest.raises(ValueError, match="expected dataset 'nucla', got 'ntu60'"):
        generate_nucla("ntu60", tmp_path / "b")


def test_reader_refusals(tmp_path):
    with pytest.raises(DatasetLayoutError, match="not a folder"):
        read_nucla(tmp_path / "nowhere")
    with pytest.raises(DatasetLayoutError, match=r"no view_<V>/a<AA>_s<SS>_e<EE> sample folder"):
        read_nucla(tmp_path)
    (tmp_path / "view_4").mkdir()
    with pytest.raises(DataFormatError, match="expected view_1, view_2 or view_3, found 'view_4'"):
        read_nucla(tmp_path)
    (tmp_path / "view_4").rmdir()
    for name, match in [("walk", r"expected a sample folder a<AA>_s<SS>_e<EE>, found 'walk'"),
                        ("a07_s01_e00", r"expected an action a01-a06, a08, a09, a11 or a12, "
                                        r"found a07"),
                        ("a01_s00_e00", r"expected a subject s01 or higher, found s00"),
                        ("a01_s01_e00", r"fileList.txt: expected the sample's list of frames, "
                                        r"found no such file")]:
        d = tmp_path / "view_1" / name
        d.mkdir(parents=True)
        with pytest.raises(DataFormatError, match=match):
            read_nucla(tmp_path)
        d.rmdir()


def test_nucla_actions_skip_7_and_10():
    assert sorted(NUCLA_ACTIONS) == [1, 2, 3, 4, 5, 6, 8, 9, 11, 12]


def test_v3_12_trains_on_views_1_and_2(nucla):
    recs = load_records("nucla", nucla[0])
    train, test = nucla_cross_view().split(recs)
    assert {recs[i].view for i in train} == {"1", "2"} and {recs[i].view for i in test} == {"3"}
    assert len(train) == 8 and len(test) == 4
    assert official_split("nucla", "v3_12") == nucla_cross_view()


def test_adl_synth_and_inspect_cover_nucla(tmp_path):
    runner = CliRunner()
    out = runner.invoke(main, ["synth", "--dataset", "nucla", "--out", str(tmp_path),
                               "--subjects", "1", "--frames", "4", "--image-size", "32x24"])
    assert out.exit_code == 0, out.output
    res = runner.invoke(main, ["inspect", "--dataset", "nucla", "--root", str(tmp_path),
                               "--no-frames"])
    assert res.exit_code == 0, res.output
    assert "videos: 12  classes: 4" in res.output and "skeleton in 12/12" in res.output
    assert "nucla: Northwestern-UCLA" in runner.invoke(main, ["datasets"]).output
