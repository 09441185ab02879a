"""Toyota Smarthome (DATASETS.md section 5): the LCR-Net pose JSON parser and
writer, malformed files, the reader, the synthetic writer and the CS / CV1 / CV2
protocols."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from adl.cli.main import main
from adl.data.errors import DataFormatError, DatasetLayoutError
from adl.data.layouts import KINECT_V1_20, LCRNET_13
from adl.data.protocols import (official_split, smarthome_cross_subject,
                                smarthome_cross_view_1, smarthome_cross_view_2)
from adl.data.registry import load_records
from adl.data.smarthome import (SMARTHOME_ACTIVITIES, SMARTHOME_CV_ACTIVITIES, SmarthomeClip,
                                parse_smarthome_pose, read_smarthome, write_smarthome_pose)
from adl.data.synth import class_names, generate
from adl.data.synth.smarthome import generate_smarthome, lcrnet_joints, subject_id
from adl.data.video import FrameSource

SMALL = (64, 48)


def _poses(T=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(T, 13, 3)), rng.uniform(0, 600, (T, 13, 2))


def test_planar_layout_round_trip(tmp_path):
    p3, p2 = _poses()
    p3[2] = np.nan
    path = write_smarthome_pose(tmp_path / "Walk_p03_r00_v01_c01_pose3d.json", p3, p2)
    doc = json.loads(path.read_text())
    assert doc["frames"][2] == []
    person = doc["frames"][0][0]
    # planar: all x, then all y (then all z)
    assert person["pose2d"][0] == pytest.approx(p2[0, 0, 0], abs=1e-3)
    assert person["pose2d"][13] == pytest.approx(p2[0, 0, 1], abs=1e-3)
    assert person["pose3d"][26 + 12] == pytest.approx(p3[0, 12, 2], abs=1e-5)
    seq = parse_smarthome_pose(path)
    assert seq.joints.shape == (4, 13, 3) and seq.screen.shape == (4, 13, 2)
    np.testing.assert_allclose(seq.joints, p3, atol=1e-5, equal_nan=True)
    p2[2] = np.nan                            # a frame without a person has no pixels either
    np.testing.assert_allclose(seq.screen, p2, atol=1e-3, equal_nan=True)
    with pytest.raises(ValueError, match=r"pose3d must have shape \(T, 13, 3\)"):
        write_smarthome_pose(tmp_path / "x.json", p3[:, :12], p2)
    with pytest.raises(ValueError, match=r"pose2d must have shape \(4, 13, 2\)"):
        write_smarthome_pose(tmp_path / "x.json", p3, p2[:, :, :1])


def test_the_person_with_the_highest_score_is_kept(tmp_path):
    p3, p2 = _poses(T=1)
    a = {"pose2d": p2[0].T.reshape(-1).tolist(), "pose3d": p3[0].T.reshape(-1).tolist(),
         "cumscore": 1.0}
    b = {"pose2d": (p2[0] + 5).T.reshape(-1).tolist(),
         "pose3d": (p3[0] + 1).T.reshape(-1).tolist(), "cumscore": 4.0}
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"frames": [[a, b]]}))
    np.testing.assert_allclose(parse_smarthome_pose(path).joints[0], p3[0] + 1, atol=1e-6)
    path.write_text(json.dumps({"frames": [[dict(a, cumscore=None), dict(b, cumscore=None)]]}))
    np.testing.assert_allclose(parse_smarthome_pose(path).joints[0], p3[0], atol=1e-6)


def _person(**over):
    p = {"pose2d": [1.0] * 26, "pose3d": [0.5] * 39}
    p.update(over)
    return p


@pytest.mark.parametrize("doc, match", [
    ("not json", r"expected a JSON document, found invalid JSON"),
    ([], r"expected a top-level object with a non-empty 'frames' list"),
    ({"frames": []}, r"non-empty 'frames' list"),
    ({"frames": [{}]}, r"frame 1: expected a list of persons per frame, found dict"),
    ({"frames": [[1]]}, r"frame 1: expected a person object"),
    ({"frames": [[], [_person(pose2d=[1.0] * 25)]]},
     r"frame 2: expected 'pose2d' as a list of 26 numbers \(person 1\), found a list of 25"),
    ({"frames": [[{"pose2d": [1.0] * 26}]]}, r"'pose3d' as a list of 39 numbers .*no such key"),
    ({"frames": [[_person(pose3d=[0.5] * 38 + ["x"])]]}, r"expected numbers in 'pose3d'"),
    ({"frames": [[_person(pose3d=[0.5] * 38 + [True])]]}, r"expected numbers in 'pose3d'"),
    ("{\"frames\": [[{\"pose2d\": [" + ",".join(["1"] * 25) + ", NaN], \"pose3d\": ["
     + ",".join(["1"] * 39) + "]}]]}", r"expected finite numbers .* in 'pose2d'"),
    ({"frames": [[_person(pose3d=[0.5] * 38 + [10 ** 400])]]}, r"expected finite numbers"),
    ({"frames": [[_person(cumscore="high")]]}, r"expected a finite number as 'cumscore'"),
    ({"frames": [[], []]}, r"expected at least one frame with a detected person, found an "
                           r"empty person list in all 2 frames"),
    ("[" * 100000 + "]" * 100000, r"nesting too deep|top-level object"),
])
def test_malformed_pose_files_are_refused_naming_the_file(tmp_path, doc, match):
    path = tmp_path / "Walk_p03_r00_v01_c01_pose3d.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    with pytest.raises(DataFormatError, match=match) as info:
        parse_smarthome_pose(path)
    assert str(path) in str(info.value)


def test_unreadable_pose_files_are_refused(tmp_path):
    with pytest.raises(DataFormatError, match="found no such file"):
        parse_smarthome_pose(tmp_path / "none.json")
    with pytest.raises(DataFormatError, match="found a folder"):
        parse_smarthome_pose(tmp_path)
    bad = tmp_path / "b.json"
    bad.write_bytes(b'{"frames": "\xff"}')
    with pytest.raises(DataFormatError, match="expected a UTF-8 JSON file, found undecodable"):
        parse_smarthome_pose(bad)


@pytest.mark.parametrize("name, match", [
    ("Walk_p3_r00_v01_c01", "clip name <Activity>_pPP_rRR_vVV_cCC"),
    ("Dance_p03_r00_v01_c01", "one of the 31 Toyota Smarthome activities, found 'Dance'"),
    ("Walk_p00_r00_v01_c01", "a subject p01 or higher and a camera c01 or higher"),
])
def test_bad_clip_names_are_refused(name, match):
    with pytest.raises(DataFormatError, match=match):
        SmarthomeClip(name)


# ----------------------------------------------------------------------- synthetic + reader

@pytest.fixture(scope="module")
def smarthome(tmp_path_factory):
    root = tmp_path_factory.mktemp("smarthome")
    summary = generate_smarthome("smarthome", root, subjects=2, videos_per_class=3, frames=10,
                                 image_size=SMALL, classes=["Walk", "Cook.Stir"])
    return root, summary


def test_synthetic_smarthome_reads_back(smarthome):
    root, summary = smarthome
    recs = load_records("smarthome", root)
    assert [r.video_id for r in recs] == sorted(v["video_id"] for v in summary["videos"])
    assert {r.subject for r in recs} == {"3", "2"} and {r.view for r in recs} == {"1", "2", "5"}
    r = next(x for x in recs if x.video_id == "Walk_p03_r00_v01_c01")
    assert r.label == "Walk" and r.layout == "lcrnet_13" and r.camera is None
    assert r.meta_dict() == {"r": "00", "v": "01"}
    seq = r.load_skeleton()
    assert seq.joints.shape == (10, 13, 3)
    src = FrameSource(r.rgb)
    assert len(src) == 10 and src.frame_size() == SMALL
    # pose2d is in the video's own pixels
    ok = np.isfinite(seq.screen).all(axis=(1, 2))
    assert ok.any()
    assert (seq.screen[ok] >= -5).all() and (seq.screen[ok, :, 0] <= SMALL[0] + 5).all()


def test_synthetic_smarthome_is_reached_through_generate_and_checks_arguments(tmp_path):
    s = generate("smarthome", tmp_path / "a", subjects=1, frames=5, image_size=SMALL,
                 classes=["Sitdown"])
    assert [v["video_id"] for v in s["videos"]] == ["Sitdown_p03_r00_v01_c01"]
    assert "Walk" in class_names("smarthome")
    for kw, match in [(dict(videos_per_class=8), "videos_per_class must be 1..7"),
                      (dict(subjects=23), r"subjects must be an integer in 1..22"),
                      (dict(frames=2), "frames must be an integer >= 4"),
                      (dict(image_size=(4, 4)), "image_size must be"),
                      (dict(classes=["Dance"]), r"unknown or no classes \['Dance'\]")]:
        with pytest.raises(ValueError, match=match):
            generate_smarthome("smarthome", tmp_path / "b", **kw)
    with pytest.raises(TypeError, match="classes must be a list of class names"):
        generate_smarthome("smarthome", tmp_path / "b", classes="Walk")
    with pytest.raises(ValueError, match="expected dataset 'smarthome', got 'ntu60'"):
        generate_smarthome("ntu60", tmp_path / "b")


def test_pose_json_is_deterministic(tmp_path):
    kw = dict(subjects=1, frames=5, image_size=SMALL, classes=["Walk"])
    a = generate_smarthome("smarthome", tmp_path / "a", seed=2, **kw)
    generate_smarthome("smarthome", tmp_path / "b", seed=2, **kw)
    f = a["videos"][0]["skeleton"]
    assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()


def test_lcrnet_joints_and_subject_ids():
    j20 = np.random.default_rng(0).normal(size=(2, 20, 3))
    j13 = lcrnet_joints(j20)
    np.testing.assert_array_equal(j13[:, LCRNET_13.index("head")],
                                  j20[:, KINECT_V1_20.index("head")])
    assert [subject_id(k) for k in range(4)] == [3, 2, 4, 5]


def test_reader_refusals(smarthome, tmp_path):
    with pytest.raises(DatasetLayoutError, match="not a folder"):
        read_smarthome(tmp_path / "nowhere")
    with pytest.raises(DatasetLayoutError, match=r"no <Activity>_pPP_rRR_vVV_cCC.mp4"):
        read_smarthome(tmp_path)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "Walk_p03.mp4").write_bytes(b"")
    with pytest.raises(DataFormatError, match=r"Walk_p03.mp4: expected a Toyota Smarthome clip"):
        read_smarthome(tmp_path)
    (tmp_path / "x" / "Walk_p03.mp4").unlink()
    for sub in ("x", "y"):
        (tmp_path / sub).mkdir(exist_ok=True)
        (tmp_path / sub / "Walk_p03_r00_v01_c01.mp4").write_bytes(b"")
    with pytest.raises(DataFormatError, match=r"expected one .mp4 file per clip, found a second "
                                              r"copy of Walk_p03_r00_v01_c01"):
        read_smarthome(tmp_path)


# ----------------------------------------------------------------------- protocols

def test_protocols_split_by_subject_and_camera_on_their_class_subsets(smarthome):
    root, _ = smarthome
    recs = load_records("smarthome", root)
    cs = smarthome_cross_subject()
    train, test = cs.split(recs)
    assert {recs[i].subject for i in train} == {"3"} and {recs[i].subject for i in test} == {"2"}
    assert len(train) + len(test) == len(recs)              # Cook.Stir is a CS class
    cv1 = smarthome_cross_view_1()
    train, test = cv1.split(recs)
    val = cv1.validation(recs)
    assert {recs[i].view for i in train} == {"1"} and {recs[i].view for i in test} == {"2"}
    assert {recs[i].view for i in val} == {"5"}
    # Cook.Stir is not one of the 19 cross-view classes: on no side
    assert {recs[i].label for i in np.concatenate([train, test, val])} == {"Walk"}
    assert smarthome_cross_view_2().train_values == ("1", "3", "4", "6", "7")
    assert official_split("smarthome", "cv1") == cv1
    assert len(SMARTHOME_ACTIVITIES) == 31 and len(SMARTHOME_CV_ACTIVITIES) == 19
    assert set(SMARTHOME_CV_ACTIVITIES) <= set(SMARTHOME_ACTIVITIES)


def test_adl_synth_and_inspect_cover_smarthome(tmp_path):
    runner = CliRunner()
    out = runner.invoke(main, ["synth", "--dataset", "smarthome", "--out", str(tmp_path),
                               "--subjects", "1", "--frames", "5", "--image-size", "32x24"])
    assert out.exit_code == 0, out.output
    res = runner.invoke(main, ["inspect", "--dataset", "smarthome", "--root", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "videos: 8  classes: 8" in res.output and "problems found: none" in res.output
