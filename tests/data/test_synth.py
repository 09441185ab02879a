"""The synthetic dataset generator (data.synth): determinism, layouts read back
by the real readers, and the designed class confusions."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from adl.data.cad import CAD60_ACTIVITIES, CAD120_ACTIVITIES
from adl.data.geometry import get_camera
from adl.data.layouts import CAD_15, KINECT_V1_20
from adl.data.msr_daily import MSR_ACTIONS
from adl.data.registry import load_records
from adl.data.synth import DATASETS, class_names, generate
from adl.data.video import FrameSource

SMALL = (160, 120)


@pytest.fixture(scope="module")
def cad120(tmp_path_factory):
    root = tmp_path_factory.mktemp("cad120")
    summary = generate("cad120", root, subjects=2, frames=16, image_size=(320, 240),
                       classes=["having_meal", "taking_medicine", "stacking_objects",
                                "unstacking_objects"])
    return root, summary, load_records("cad120", root)


@pytest.fixture(scope="module")
def small_sets(tmp_path_factory):
    out = {}
    args = {"cad60": dict(classes=["drinking water", "relaxing on couch"]),
            "msr_daily": dict(classes=["drink", "sit down"], videos_per_class=2),
            "manifest": dict(classes=["walk", "get_up", "wipe_table"])}
    for name, kw in args.items():
        root = tmp_path_factory.mktemp(name)
        summary = generate(name, root, subjects=2, frames=16, image_size=SMALL, **kw)
        out[name] = (root, summary, load_records(name, root))
    return out


def _all_sets(cad120, small_sets):
    return {"cad120": cad120, **small_sets}


def _frames(rec):
    return [img for _, img in FrameSource(rec.rgb, rec.rgb_glob).frames()]


# ----------------------------------------------------------------------- determinism

def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path):
    kw = dict(subjects=1, frames=10, image_size=SMALL, classes=["picking_objects"])
    runs = {name: generate("cad120", tmp_path / name, seed=seed, **kw)
            for name, seed in (("a", 3), ("b", 3), ("c", 4))}
    rel = runs["a"]["videos"][0]
    files = [rel["skeleton"], rel["rgb"] + "/RGB_5.png",
             "Subject1_annotations/picking_objects/labeling.txt"]
    for f in files:
        a, b = (tmp_path / "a" / f).read_bytes(), (tmp_path / "b" / f).read_bytes()
        assert a == b, f
    for f in files[:2]:
        assert (tmp_path / "a" / f).read_bytes() != (tmp_path / "c" / f).read_bytes(), f
    assert runs["a"] == {**runs["b"], "root": runs["a"]["root"]}


def test_avi_and_npy_outputs_are_deterministic(tmp_path):
    kw = dict(subjects=1, frames=8, image_size=SMALL, classes=["walk"])
    a = generate("manifest", tmp_path / "a", **kw)
    generate("manifest", tmp_path / "b", **kw)
    for key in ("rgb", "skeleton"):
        f = a["videos"][0][key]
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert (tmp_path / "a/manifest.csv").read_bytes() == (tmp_path / "b/manifest.csv").read_bytes()


# ----------------------------------------------------------------------- layouts

def test_class_tables_use_the_real_label_names():
    assert class_names("cad120") == list(CAD120_ACTIVITIES)
    assert class_names("msr_daily") == list(MSR_ACTIONS)
    assert len(class_names("cad60")) == 12 and set(class_names("cad60")) <= set(CAD60_ACTIVITIES)
    assert len(class_names("manifest")) == 10
    assert set(DATASETS) == {"cad60", "cad120", "msr_daily", "manifest"}


def test_records_read_back_match_the_summary_counts(cad120, small_sets):
    for name, (root, summary, recs) in _all_sets(cad120, small_sets).items():
        assert len(recs) == summary["n_videos"], name
        counts = Counter((r.label, r.subject) for r in recs)
        expected = Counter({(c, s): n for c, per in summary["counts"].items()
                            for s, n in per.items() if n})
        assert counts == expected, name
        assert summary["per_subject"] == {s: sum(1 for r in recs if r.subject == s)
                                          for s in summary["subjects"]}
        assert sorted(v["video_id"] for v in summary["videos"]) == [r.video_id for r in recs]
        n_frames = sum(len(FrameSource(r.rgb, r.rgb_glob)) for r in recs)
        assert n_frames == summary["n_frames"] == 16 * len(recs), name


def test_subject_ids_follow_each_dataset(cad120, small_sets):
    assert cad120[1]["subjects"] == ["1", "3"]                 # CAD-120 subjects 1, 3, 4, 5
    assert {r.subject for r in cad120[2]} == {"1", "3"}
    root = small_sets["cad60"][0]
    assert sorted(p.name for p in root.iterdir()) == ["data1", "data2"]
    msr_root, _, msr = small_sets["msr_daily"]
    assert {r.video_id for r in msr} >= {"a01_s01_e01", "a01_s01_e02", "a16_s02_e02"}
    assert {r.setup for r in msr} == {"sitting", "standing"}


def test_skeletons_load_with_the_layouts_shape_and_frame_size(cad120, small_sets):
    expect = {"cad120": (CAD_15.n_joints, (320, 240)), "cad60": (CAD_15.n_joints, SMALL),
              "msr_daily": (KINECT_V1_20.n_joints, SMALL),
              "manifest": (KINECT_V1_20.n_joints, SMALL)}
    for name, (_, summary, recs) in _all_sets(cad120, small_sets).items():
        J, size = expect[name]
        for r in recs:
            seq = r.load_skeleton()
            assert seq.joints.shape == (16, J, 3), (name, r.video_id)
            assert seq.frame_ids.tolist() == list(range(16))
        assert FrameSource(recs[0].rgb, recs[0].rgb_glob).frame_size() == size
        assert summary["image_size"] == list(size)


def test_cad120_labeling_segments_cover_every_frame(cad120):
    for r in cad120[2]:
        segs = r.meta_dict()["segments"].split(";")
        bounds = [tuple(int(x) for x in s.split(":")[0].split("-")) for s in segs]
        assert bounds[0][0] == 1 and bounds[-1][1] == 16
        assert all(b[0] == a[1] + 1 for a, b in zip(bounds, bounds[1:]))
        assert r.meta_dict()["objects"]


def test_dropped_frames_are_present_and_match_the_summary(cad120, small_sets):
    for name, (_, summary, recs) in _all_sets(cad120, small_sets).items():
        by_id = {v["video_id"]: v for v in summary["videos"]}
        for r in recs:
            joints = r.load_skeleton().joints
            dropped = np.flatnonzero(np.isnan(joints).all(axis=(1, 2))).tolist()
            assert dropped == by_id[r.video_id]["dropped"], (name, r.video_id)
            assert 1 <= len(dropped) <= 3
            kept = joints[~np.isnan(joints).all(axis=(1, 2))]
            assert np.isfinite(kept[:, [0, 1, 2]]).all()       # body joints never missing


# ----------------------------------------------------------------------- class design

def _pick(recs, label, subject):
    return next(r for r in recs if r.label == label and r.subject == subject)


ARMS = [CAD_15.index(n) for n in ("hand_left", "hand_right", "elbow_left", "elbow_right")]


def test_order_only_pair_is_the_time_reverse(cad120):
    for subject in ("1", "3"):
        st = _pick(cad120[2], "stacking_objects", subject).load_skeleton().joints[:, ARMS]
        un = _pick(cad120[2], "unstacking_objects", subject).load_skeleton().joints[:, ARMS]
        before = np.nanmean(np.linalg.norm(st - un, axis=-1))
        after = np.nanmean(np.linalg.norm(st - un[::-1], axis=-1))
        assert after < 0.5 * before, (subject, before, after)
        assert after < 0.05


def _hand_colour(rec, hand, size):
    """Mean BGR in a box around the active hand over the middle of the video."""
    cam = get_camera(rec.camera)
    joints = rec.load_skeleton().joints
    scale = np.asarray(size) / np.asarray(cam.image_size)
    uv = cam.project(joints[:, CAD_15.index(hand)]) * scale
    frames = _frames(rec)
    half = max(2, int(round(0.05 * 2 * 97.7 * scale[0])))   # ~5 cm at the CAD-120 scale
    out = []
    for t in range(len(frames) // 4, 3 * len(frames) // 4):
        if not np.isfinite(uv[t]).all():
            continue
        x, y = np.round(uv[t]).astype(int)
        out.append(frames[t][max(0, y - half):y + half + 1, max(0, x - half):x + half + 1]
                   .reshape(-1, 3).mean(0))
    return np.mean(out, axis=0)


def test_appearance_only_pair_differs_only_in_the_hand_region(cad120):
    _, summary, recs = cad120
    for subject in ("1", "3"):
        left = summary["subject_info"][subject]["handedness"] == "left"
        hand = "hand_left" if left else "hand_right"
        meal, pill = _pick(recs, "having_meal", subject), _pick(recs, "taking_medicine", subject)
        # same motion: per-joint mean and spread (over the frames both videos
        # have) agree within a few centimetres, far closer than to another class
        a, b, c = (_pick(recs, label, subject).load_skeleton().joints for label in
                   ("having_meal", "taking_medicine", "stacking_objects"))
        both = np.isfinite(a).all(-1) & np.isfinite(b).all(-1) & np.isfinite(c).all(-1)
        a, b, c = (np.where(both[..., None], x, np.nan)[:, ARMS] for x in (a, b, c))
        stats = [np.concatenate([np.nanmean(x, 0), np.nanstd(x, 0)]) for x in (a, b, c)]
        assert np.abs(stats[0] - stats[1]).max() < 0.08
        assert np.abs(stats[0] - stats[1]).mean() < 0.4 * np.abs(stats[0] - stats[2]).mean()
        ca, cb = _hand_colour(meal, hand, (320, 240)), _hand_colour(pill, hand, (320, 240))
        assert np.linalg.norm(ca - cb) > 25, (ca, cb)          # orange bowl vs white bottle
        # ... while the whole frames are alike (same room, scene, person)
        fa, fb = _frames(meal)[0].astype(float), _frames(pill)[0].astype(float)
        assert (np.abs(fa - fb).max(-1) > 12).mean() < 0.06


def test_handedness_mirrors_the_active_hand(cad120):
    _, summary, recs = cad120
    assert summary["subject_info"]["1"]["handedness"] == "right"
    assert summary["subject_info"]["3"]["handedness"] == "left"   # subject index 1
    for subject, active in (("1", "hand_right"), ("3", "hand_left")):
        other = "hand_left" if active == "hand_right" else "hand_right"
        j = _pick(recs, "having_meal", subject).load_skeleton().joints
        top = {h: np.nanmax(j[:, CAD_15.index(h), 1]) for h in (active, other)}
        assert top[active] > top[other] + 0.2, (subject, top)     # only it reaches the mouth


def test_subtle_pair_fast_motion_is_seen_in_pixels_more_than_in_the_skeleton(tmp_path):
    generate("cad120", tmp_path, subjects=1, frames=36, image_size=(320, 240),
             classes=["arranging_objects", "cleaning_objects"])
    recs = load_records("cad120", tmp_path)
    cam = get_camera("cad120")
    stats = {}
    for r in recs:
        j = r.load_skeleton().joints[:, CAD_15.index("hand_right")]
        frames = np.stack(_frames(r)).astype(np.float32)
        uv = np.nanmedian(cam.project(j[10:26]), axis=0) * 0.5
        x, y = np.round(uv).astype(int)
        patch = frames[10:26, y - 12:y + 13, x - 16:x + 17]
        pixel_motion = np.abs(np.diff(patch, axis=0)).mean()
        d = np.diff(j[10:26], axis=0)
        skel_speed = np.nanmean(np.linalg.norm(d, axis=-1))
        stats[r.label] = (pixel_motion, skel_speed, np.nanmean(j[10:26], axis=0))
    fast, slow = stats["cleaning_objects"], stats["arranging_objects"]
    assert fast[0] > 1.5 * slow[0], stats                   # the pixels see the wiping ...
    assert fast[1] < 1.3 * slow[1], stats                   # ... the noisy skeleton hardly
    assert np.abs(fast[2] - slow[2]).max() < 0.03, stats    # same gross pose


def test_torso_joint_projects_onto_the_shirt_at_a_rescaled_size(cad120):
    _, summary, recs = cad120
    cam = get_camera("cad120")
    for r in recs:
        shirt = np.asarray(summary["subject_info"][r.subject]["shirt_bgr"], float)
        uv = cam.project(r.load_skeleton().joints[:, CAD_15.index("torso")]) * 0.5
        frames = _frames(r)
        dist = [np.abs(frames[t][int(round(v)), int(round(u))] - shirt).max()
                for t, (u, v) in enumerate(uv) if np.isfinite(u)]
        assert np.median(dist) < 20, (r.video_id, np.median(dist))


# ----------------------------------------------------------------------- arguments

@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(dataset="ntu"), ValueError, "unknown synthetic dataset"),
    (dict(classes=["flying"]), ValueError, "unknown or no classes"),
    (dict(classes=[]), ValueError, "unknown or no classes"),
    (dict(classes="having_meal"), TypeError, "list of class names"),
    (dict(frames=2), ValueError, "frames must be an integer >= 4"),
    (dict(subjects=0), ValueError, "subjects must be a positive integer"),
    (dict(videos_per_class=0), ValueError, "videos_per_class must be a positive integer"),
    (dict(image_size=(8, 8)), ValueError, "image_size must be"),
    (dict(image_size="big"), ValueError, "image_size must be"),
    (dict(dataset="msr_daily", videos_per_class=3), ValueError, "two environments"),
    (dict(dataset="msr_daily", subjects=100), ValueError, "two-digit subjects"),
])
def test_bad_arguments_are_refused(tmp_path, kwargs, exc, match):
    args = dict(dataset="cad120", out=tmp_path)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        generate(args.pop("dataset"), args.pop("out"), **args)
    assert not any(tmp_path.iterdir())


def test_class_names_refuses_an_unknown_dataset():
    with pytest.raises(ValueError, match="unknown synthetic dataset 'ntu'"):
        class_names("ntu")


def _tiny_motion(script):
    from adl.data.synth._body import Body, evaluate
    return evaluate(script, Body(), np.linspace(0, 1, 5), np.arange(5.0))


def test_script_errors_name_what_is_wrong():
    from adl.data.synth._motion import A, Key, Obj, Script
    with pytest.raises(ValueError, match="unknown pose parameter"):
        Key.at(0.0, elbow=3)
    with pytest.raises(ValueError, match="distinct phases"):
        _tiny_motion(Script(keys=(Key.at(0.5, bend=1), Key.at(0.5, bend=2), Key.at(1, bend=0)),
                            scene="open"))
    with pytest.raises(TypeError, match=r"A\(\), P\(\) or W\(\)"):
        _tiny_motion(Script(keys=(Key.at(0.0, rh=(0.1, 0.2, 0.3)),), scene="open"))
    elbow_obj = Obj("x", "rect", (0, 0, 0), (0.1, 0.1), ((0.0, "elbow", None),))
    with pytest.raises(ValueError, match="unknown object anchor 'elbow'"):
        _tiny_motion(Script(keys=(Key.at(0.0, rh=A(0, 0, 0.3)),), scene="open",
                            objects=(elbow_obj,)))


def test_layout_scene_and_shape_errors_name_what_is_wrong():
    import cv2
    from adl.data.layouts import KINECT_V2_25
    from adl.data.synth._body import base_to_camera, to_layout
    from adl.data.synth._motion import A, Key, Obj, Script
    from adl.data.synth._render import Look, VideoRenderer
    from adl.data.synth._scene import View, scene_layers
    with pytest.raises(ValueError, match="layouts kinect_v1_20 and cad_15"):
        to_layout(np.zeros((2, 21, 3)), KINECT_V2_25)
    view = View(get_camera("kinect_v1"), (0.0, -1.0, 3.0, 0.0), 1.0, False, (64, 48))
    blank = np.zeros((48, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="unknown scene 'garden'"):
        scene_layers("garden", blank, view, cv2)
    blob = Obj("thing", "blob", (0, 0, 0), (0.1, 0.1), ((0.0, "rh", None),))
    m = _tiny_motion(Script(keys=(Key.at(0.0, rh=A(0, 0, 0.3)),), scene="open", objects=(blob,)))
    objs = [(ob, base_to_camera(p, view.base), vis, ang) for ob, p, vis, ang in m.objects]
    r = VideoRenderer(view, Look((1, 2, 3), (4, 5, 6), (7, 8, 9), (0, 0, 0)), blank, None, None)
    with pytest.raises(ValueError, match="unknown object shape 'blob'"):
        list(r.frames(base_to_camera(m.joints, view.base), np.zeros((5, 3)), objs,
                      np.random.default_rng(0)))


def test_write_failures_are_reported(tmp_path, monkeypatch):
    import cv2

    class Closed:
        def __init__(self, *a):
            pass

        def isOpened(self):
            return False

    monkeypatch.setattr(cv2, "VideoWriter", Closed)
    with pytest.raises(OSError, match="cannot open an MJPG AVI writer"):
        generate("manifest", tmp_path / "m", subjects=1, frames=4, image_size=SMALL,
                 classes=["walk"])
    monkeypatch.setattr(cv2, "imwrite", lambda *a: False)
    with pytest.raises(OSError, match="could not write the frame"):
        generate("cad60", tmp_path / "c", subjects=1, frames=4, image_size=SMALL,
                 classes=["drinking water"])
