"""The designed deep-stage cues of the synthetic NTU data (data.synth.deep_cues):
determinism, each cue where the summary says it is (skeletons and RGB differ
only there), and the round trip through the NTU reader."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from adl.cli.main import main
from adl.data.ntu import parse_ntu_skeleton, read_ntu60, read_ntu120
from adl.data.synth.deep_cues import DEEP_CUE_CLASSES, GRANULARITIES
from adl.data.synth.ntu import NTU_SYNTH_CLASSES, generate_ntu
from adl.data.video import FrameSource

SIZE = (160, 120)
T = 20
MCU = 16          # MJPG codes 16x16 blocks (4:2:0 chroma): a changed pixel touches its block
HAND = ("playing with phone/tablet", "taking a selfie", "pointing to something with finger")
ORDER = ("wear a shoe", "take off a shoe")
WAVE = "hand waving"


@pytest.fixture(scope="module")
def deep(tmp_path_factory):
    root = tmp_path_factory.mktemp("ntu60_deep")
    # two performers: P002 is left-handed (its scene is mirrored); cameras C001 and C002
    summary = generate_ntu("ntu60", root, seed=3, subjects=2, videos_per_class=2, frames=T,
                           image_size=SIZE, cues="deep")
    return root, summary


def _video(summary, label, performer, camera):
    return next(v for v in summary["videos"] if v["label"] == label
                and v["subject"] == str(performer) and v["camera"] == camera)


def _joints(root, v):
    return parse_ntu_skeleton(root / v["skeleton"]).joints[:, 0]      # (T, 25, 3), one body


def _frames(root, v):
    return np.stack([img for _, img in FrameSource(root / v["rgb"]).frames()]).astype(int)


def _colour_px(root, v, joint):
    """(T, 2) output-image pixels of a joint, from the file's 1920x1080 colour coordinates."""
    from adl.data.layouts import KINECT_V2_25
    seq = parse_ntu_skeleton(root / v["skeleton"])
    xy = seq.color_xy[:, 0, KINECT_V2_25.joints.index(joint)].astype(np.float64)
    return xy * np.array([SIZE[0] / 1920.0, SIZE[1] / 1080.0])


def _block_mask(boxes, shape):
    """Frames x pixels inside the boxes grown to whole MJPG blocks (plus the
    decoder's one-pixel chroma upsampling)."""
    mask = np.zeros(shape, bool)
    for t, x0, y0, x1, y1 in boxes:
        bx0, by0 = max(0, x0 // MCU * MCU - 1), max(0, y0 // MCU * MCU - 1)
        bx1, by1 = (x1 // MCU + 1) * MCU + 1, (y1 // MCU + 1) * MCU + 1
        mask[t, by0:by1, bx0:bx1] = True
    return mask


# ----------------------------------------------------------------------- the class table

def test_the_deep_table_and_its_summary(deep):
    root, summary = deep
    assert summary["cues"] == "deep"
    assert summary["classes"] == ["wear a shoe", "take off a shoe", WAVE, *HAND[:1], HAND[2],
                                  HAND[1]]
    assert summary["n_videos"] == 6 * 2 * 2
    design = summary["cue_design"]
    assert {n: d["hand"] for n, d in design.items() if d["kind"] == "spatial"} == \
        dict(zip(HAND, ("right", "left", None)))
    assert design[WAVE]["kind"] == "pose" and design[WAVE]["hand"] == "right"
    assert set(design[WAVE]["partners"]) == set(HAND)
    assert design["wear a shoe"]["partners"] == ["take off a shoe"]
    assert all(d["purpose"] for d in design.values())
    for v in summary["videos"]:
        cue = v["cue"]
        assert cue["kind"] == design[v["label"]]["kind"] and cue["frames"]
        assert set(cue["segments"]) == {str(g) for g in GRANULARITIES}
    json.dumps(summary)                                    # the summary is plain JSON


def test_without_cues_the_readers_table_is_written(tmp_path):
    s = generate_ntu("ntu60", tmp_path, subjects=1, frames=6, image_size=(96, 54))
    assert s["classes"] == [c.name for a, c in sorted(NTU_SYNTH_CLASSES.items()) if a <= 60]
    assert "cues" not in s and all("cue" not in v for v in s["videos"])


def test_bad_cue_tables_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"cues must be None .* or 'deep' .*, got 'shallow'"):
        generate_ntu("ntu60", tmp_path, cues="shallow")
    with pytest.raises(ValueError, match=r"unknown or no classes \['drink water'\]"):
        generate_ntu("ntu60", tmp_path, cues="deep", classes=["drink water"])


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    kw = dict(subjects=2, frames=8, image_size=(96, 72), cues="deep",
              classes=["playing with phone/tablet", "wear a shoe"])
    a = generate_ntu("ntu120", tmp_path / "a", seed=5, **kw)
    b = generate_ntu("ntu120", tmp_path / "b", seed=5, **kw)
    c = generate_ntu("ntu120", tmp_path / "c", seed=6, **kw)
    assert [v["cue"] for v in a["videos"]] == [v["cue"] for v in b["videos"]]
    for v in a["videos"]:
        for key in ("skeleton", "rgb"):
            assert (tmp_path / "a" / v[key]).read_bytes() == (tmp_path / "b" / v[key]).read_bytes()
    v = a["videos"][0]
    assert (tmp_path / "a" / v["skeleton"]).read_bytes() != \
        (tmp_path / "c" / v["skeleton"]).read_bytes()


# ----------------------------------------------------------------------- spatial cue: one hand

@pytest.mark.parametrize("performer", [1, 2])       # P002 is left-handed
@pytest.mark.parametrize("camera", [1, 2])
def test_the_hand_group_has_one_skeleton(deep, performer, camera):
    root, summary = deep
    j = [_joints(root, _video(summary, c, performer, camera)) for c in HAND]
    np.testing.assert_array_equal(j[0], j[1])
    np.testing.assert_array_equal(j[0], j[2])
    frames = [_video(summary, c, performer, camera)["cue"]["frames"] for c in HAND]
    assert frames[0] == frames[1] == frames[2]


@pytest.mark.parametrize("performer", [1, 2])
def test_the_phone_is_in_the_named_hand_during_the_cue_frames(deep, performer):
    root, summary = deep
    for label, hand in (("playing with phone/tablet", "right"), ("taking a selfie", "left")):
        v = _video(summary, label, performer, 2)
        cue = v["cue"]
        assert cue["hand"] == hand and [b[0] for b in cue["boxes"]] == cue["frames"]
        named = _colour_px(root, v, f"hand_{hand}")
        other = _colour_px(root, v, f"hand_{'left' if hand == 'right' else 'right'}")
        for t, x0, y0, x1, y1 in cue["boxes"]:
            centre = np.array([x0 + x1, y0 + y1]) / 2
            if np.isfinite(named[t]).all() and np.isfinite(other[t]).all():
                assert np.linalg.norm(named[t] - centre) < np.linalg.norm(other[t] - centre)
    assert _video(summary, "pointing to something with finger", performer, 2)["cue"]["boxes"] == []


@pytest.mark.parametrize("performer, camera", [(1, 1), (2, 1), (2, 2)])
@pytest.mark.parametrize("label", ["playing with phone/tablet", "taking a selfie"])
def test_rgb_differs_from_the_empty_hands_only_inside_the_hand_box(deep, performer, camera,
                                                                   label):
    root, summary = deep
    v = _video(summary, label, performer, camera)
    empty = _frames(root, _video(summary, "pointing to something with finger", performer, camera))
    held = _frames(root, v)
    diff = np.abs(held - empty).max(axis=-1)                    # (T, H, W)
    inside = _block_mask(v["cue"]["boxes"], diff.shape)
    assert diff[~inside].max() == 0
    outside_frames = [t for t in range(T) if t not in v["cue"]["frames"]]
    assert diff[outside_frames].max() == 0
    for t, x0, y0, x1, y1 in v["cue"]["boxes"]:                  # and the phone is there
        assert diff[t, y0:y1 + 1, x0:x1 + 1].max() > 60


def test_left_and_right_differ_only_inside_both_hand_boxes(deep):
    root, summary = deep
    r, l_ = (_video(summary, c, 1, 2) for c in HAND[:2])
    diff = np.abs(_frames(root, r) - _frames(root, l_)).max(axis=-1)
    inside = _block_mask(r["cue"]["boxes"] + l_["cue"]["boxes"], diff.shape)
    assert diff[~inside].max() == 0 and diff[inside].max() > 60


# ----------------------------------------------------------------------- pose cue: one arm

@pytest.mark.parametrize("performer", [1, 2])       # P002 is left-handed
@pytest.mark.parametrize("camera", [1, 2])
def test_the_wave_moves_only_the_named_arm_inside_the_cue_frames(deep, performer, camera):
    from adl.data.layouts import KINECT_V2_25
    root, summary = deep
    v = _video(summary, WAVE, performer, camera)
    cue = v["cue"]
    assert cue["hand"] == "right" and cue["boxes"] == []
    assert cue["joints"] == ["elbow_right", "wrist_right", "hand_right", "handtip_right",
                             "thumb_right"]
    still = _joints(root, _video(summary, HAND[2], performer, camera))
    wave = _joints(root, v)
    arm = [KINECT_V2_25.joints.index(j) for j in cue["joints"]]
    body = [j for j in range(25) if j not in arm]
    rest = [t for t in range(T) if t not in cue["frames"]]
    np.testing.assert_array_equal(wave[:, body], still[:, body])
    np.testing.assert_array_equal(wave[rest], still[rest])
    assert np.nanmax(np.abs(wave[:, arm] - still[:, arm])) > 0.02     # metres
    rgb = np.abs(_frames(root, v) - _frames(root, _video(summary, HAND[2], performer, camera)))
    assert rgb[rest].max() == 0 and rgb[cue["frames"]].max() > 30
    # the RGB change is on the right arm's side of the body, in image pixels
    changed = np.argwhere(rgb.max(axis=-1) > 30)[:, 2].mean()
    xr, xl = (np.nanmean(_colour_px(root, v, f"hand_{h}")[cue["frames"], 0])
              for h in ("right", "left"))
    assert abs(changed - xr) < abs(changed - xl)


# ----------------------------------------------------------------------- temporal cue: one segment

@pytest.mark.parametrize("performer", [1, 2])
def test_the_order_pair_differs_only_inside_the_cue_segments(deep, performer):
    root, summary = deep
    early, late = (_video(summary, c, performer, 1) for c in ORDER)
    fe, fl = early["cue"]["frames"], late["cue"]["frames"]
    assert fe == list(range(fe[0], fe[-1] + 1)) and fl == list(range(fl[0], fl[-1] + 1))
    assert fe[-1] < T / 2 <= fl[0]
    je, jl = _joints(root, early), _joints(root, late)
    cue = sorted(set(fe) | set(fl))
    rest = [t for t in range(T) if t not in cue]
    np.testing.assert_array_equal(je[rest], jl[rest])            # same noise, same drops
    moved = np.nanmax(np.abs(je[cue] - jl[cue]), axis=(1, 2))
    assert np.nanmax(moved) > 0.3                                # metres: the bend
    rgb = np.abs(_frames(root, early) - _frames(root, late)).max(axis=(2, 3))   # (T, H)
    assert rgb[rest].max() == 0 and rgb[cue].max() > 60


def test_the_order_pair_is_the_same_frames_in_reverse_order(deep):
    root, summary = deep
    early, late = (_video(summary, c, 1, 1) for c in ORDER)
    je, jl = _joints(root, early), _joints(root, late)
    seen_e, seen_l = ~np.isnan(je).all(axis=(1, 2)), ~np.isnan(jl).all(axis=(1, 2))
    both = seen_e & seen_l[::-1]                                 # frame t of one, T-1-t of other
    reversed_gap = np.nanmedian(np.abs(je[both] - jl[::-1][both]), axis=(1, 2))
    assert reversed_gap.max() < 0.03                             # tracker noise only
    same_time = seen_e & seen_l
    assert np.nanmax(np.abs(je[same_time] - jl[same_time])) > 0.3


def test_the_segments_say_which_granularities_see_the_order(deep):
    _, summary = deep
    for performer in (1, 2):
        early, late = (_video(summary, c, performer, 1)["cue"]["segments"] for c in ORDER)
        assert early["1"] == late["1"] == [0]                   # one segment: indistinguishable
        assert early["2"] == [0] and late["2"] == [1]
        assert max(early["4"]) < min(late["4"])


def test_the_segments_are_the_deep_stages_split(deep):
    from adl.deep.clips import segment_bounds
    _, summary = deep
    for v in summary["videos"]:
        for G, held in v["cue"]["segments"].items():
            bounds = segment_bounds(T, int(G))
            expect = [i for i, (a, b) in enumerate(bounds)
                      if any(a <= t < b for t in v["cue"]["frames"])]
            assert held == expect


# ----------------------------------------------------------------------- readers and CLI

def test_every_class_round_trips_through_the_reader(deep):
    root, summary = deep
    recs = {r.video_id: r for r in read_ntu60(root)}
    assert sorted(recs) == sorted(v["video_id"] for v in summary["videos"])
    for v in summary["videos"]:
        r = recs[v["video_id"]]
        assert r.label == v["label"] and r.subject == v["subject"] and r.view == str(v["camera"])
        seq = r.load_skeleton()
        assert seq.joints.shape == (T, 25, 3)
        np.testing.assert_array_equal(np.isnan(seq.joints).all(axis=(1, 2)),
                                      np.isin(np.arange(T), v["dropped"]))
        assert len(FrameSource(r.rgb)) == T and FrameSource(r.rgb).frame_size() == SIZE
    assert {a for a in DEEP_CUE_CLASSES} == {16, 17, 23, 29, 31, 32}


def test_ntu120_takes_the_same_cue_classes(tmp_path):
    s = generate_ntu("ntu120", tmp_path, subjects=1, frames=6, image_size=(96, 72), cues="deep",
                     classes=["wear a shoe"])
    assert [r.label for r in read_ntu120(tmp_path)] == ["wear a shoe"]
    assert s["videos"][0]["video_id"] == "S001C001P001R001A016"


def test_cli_writes_the_cues_and_refuses_them_elsewhere(tmp_path):
    res = CliRunner().invoke(main, ["synth", "--dataset", "ntu60", "--out", str(tmp_path / "n"),
                                    "--subjects", "1", "--frames", "6", "--image-size", "96x72",
                                    "--cues", "deep"])
    assert res.exit_code == 0, res.output
    assert {r.label for r in read_ntu60(tmp_path / "n")} == set(HAND) | set(ORDER) | {WAVE}
    res = CliRunner().invoke(main, ["synth", "--dataset", "cad60", "--out", str(tmp_path / "c"),
                                    "--cues", "deep"])
    assert res.exit_code == 2
    assert "--cues deep is for --dataset ntu60 or ntu120, got cad60" in res.output
