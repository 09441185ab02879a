"""``adl.deep.inputs``: a tiny synthetic NTU-60 deep cache (2 subjects x 6
designed-cue classes, 24 frames at 96x72, I3D with random weights, clips of 8
frames at 64 px, granularities 1-3) read as clip and video samples; splits
and validation; segment poses; the errors; poses-only data from a synthetic
CAD-60; hand-written caches for the layouts, persons and missing joints."""
from __future__ import annotations

import copy
import json
import pickle
import shutil

import numpy as np
import pytest
import torch

from adl.data.layouts import get_layout
from adl.deep.clips import segment_bounds
from adl.deep.extract import DEEP_INDEX_NAME, ExtractConfig, run_extract
from adl.deep.inputs import (DeepData, DeepSamples, Split, normalise_poses, persons_for)
from adl.features.store import FeatureStore, StageKey

N_FRAMES = 24
CFG = ExtractConfig(weights="random", device="cpu", precision="float32", clip_frames=8,
                    clip_size=64, granularities=(1, 2, 3), seed=0)
CLIP_KEYS = ("gap", "maps", "parts", "poses")
VIDEO_KEYS = ("poses", "segments_G1", "segments_G2", "segments_G3", "segment_poses_G1",
              "segment_poses_G2", "segment_poses_G3")


@pytest.fixture(scope="module")
def deep_cache(tmp_path_factory):
    """``adl synth --dataset ntu60 --cues deep --subjects 2 --videos-per-class 1
    --frames 24 --image-size 96x72`` then ``adl deep extract --weights random
    --clip-frames 8 --clip-size 64 --granularities 1,2,3 --jobs 1``."""
    from adl.data.synth.ntu import generate_ntu
    base = tmp_path_factory.mktemp("inputs")
    root = base / "ntu60"
    generate_ntu("ntu60", root, cues="deep", subjects=2, videos_per_class=1, frames=N_FRAMES,
                 image_size=(96, 72))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_extract("ntu60", root, base / "cache", CFG, jobs=1, progress=False,
                    log=lambda m: None)
    finally:
        torch.set_num_threads(before)
    return base / "cache"


@pytest.fixture(scope="module")
def data(deep_cache):
    return DeepData.from_cache("ntu60", deep_cache)


def cached(cache, stage, video_id, dataset="ntu60"):
    """One entry's arrays and meta, from the stage's only digest folder."""
    (folder,) = [p for p in (cache / dataset / stage).iterdir() if p.is_dir()]
    with np.load(folder / f"{video_id}.npz") as z:
        arrays = {k: z[k] for k in z.files if k != "__meta__.json"}
        meta = json.loads(bytes(z["__meta__.json"]).decode())
    return arrays, meta


# -- what the cache gives ------------------------------------------------------------

def test_the_cache_metadata(data):
    assert len(data) == 12 and data.dataset == "ntu60"
    assert data.classes == sorted(data.classes) and len(data.classes) == 6
    assert data.labels.dtype == np.int64
    assert [data.classes[i] for i in data.labels] == data.label_names
    assert sorted(set(data.subjects)) == ["1", "2"]
    assert data.layout == "kinect_v2_25" and data.n_joints == 25
    assert data.persons == persons_for("ntu60") == 2 and data.tp == 20
    assert data.feature_dim == 1024 and data.granularities == (1, 2, 3)
    assert data.segment_steps == 5 and data.skipped == {}
    assert data.model_fields() == {"n_classes": 6, "feature_dim": 1024,
                                   "layout": "kinect_v2_25", "n_joints": 25, "persons": 2,
                                   "tp": 20}
    assert set(data.available_inputs) == set(CLIP_KEYS + VIDEO_KEYS)


def test_clip_samples_have_every_key_in_the_models_shapes(data, deep_cache):
    ds = data.samples([0, 3], CLIP_KEYS)
    assert isinstance(ds, DeepSamples) and isinstance(ds, torch.utils.data.Dataset)
    assert len(ds) == 4                                  # 24 frames, span 16: 2 clips a video
    np.testing.assert_array_equal(ds.video_index, [0, 0, 3, 3])
    np.testing.assert_array_equal(data.clip_video_index(ds), [0, 0, 3, 3])
    np.testing.assert_array_equal(ds.labels, data.labels[[0, 0, 3, 3]])
    x, label, video = ds[3]
    assert (label, video) == (int(data.labels[3]), 3)
    assert {k: tuple(v.shape) for k, v in x.items()} == {
        "gap": (1024,), "maps": (1024, 1, 2, 2), "parts": (3, 1024), "poses": (20, 2, 25, 3)}
    assert all(v.dtype == torch.float32 for v in x.values())
    clips, _ = cached(deep_cache, "deep_clips", data.video_ids[3])
    parts, _ = cached(deep_cache, "deep_parts", data.video_ids[3])
    assert clips["maps"].dtype == np.float16
    np.testing.assert_array_equal(x["maps"].numpy(), clips["maps"][1].astype(np.float32))
    np.testing.assert_array_equal(x["gap"].numpy(), clips["gap"][1])
    np.testing.assert_array_equal(x["parts"].numpy(), parts["gap"][1])
    # a loader batches them as the models take them
    batch, labels, videos = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch["maps"].shape == (4, 1024, 1, 2, 2) and labels.tolist() == ds.labels.tolist()


def test_only_the_requested_keys_are_loaded(data):
    x, _, _ = data.samples([1], ("parts",))[0]
    assert list(x) == ["parts"]


def test_video_samples_have_every_key_in_the_models_shapes(data, deep_cache):
    ds = data.samples([2, 5, 7], VIDEO_KEYS, sample="video")
    assert len(ds) == 3 and ds.video_index.tolist() == [2, 5, 7]
    x, label, video = ds[1]
    assert (label, video) == (int(data.labels[5]), 5)
    shapes = {k: tuple(v.shape) for k, v in x.items()}
    assert shapes == {"poses": (20, 2, 25, 3), "segments_G1": (1, 1024),
                      "segments_G2": (2, 1024), "segments_G3": (3, 1024),
                      "segment_poses_G1": (1, 5, 2, 25, 3), "segment_poses_G2": (2, 5, 2, 25, 3),
                      "segment_poses_G3": (3, 5, 2, 25, 3)}
    assert all(v.dtype == torch.float32 for v in x.values())
    segs, _ = cached(deep_cache, "deep_segments", data.video_ids[5])
    for g in (1, 2, 3):
        np.testing.assert_array_equal(x[f"segments_G{g}"].numpy(), segs[f"gap_G{g}"])


def test_the_same_arguments_give_the_same_tensors(deep_cache, data):
    again = DeepData.from_cache("ntu60", deep_cache)
    for sample, keys in (("clip", CLIP_KEYS), ("video", VIDEO_KEYS)):
        a, b = data.samples([4, 1], keys, sample), again.samples([4, 1], keys, sample)
        assert a.items == b.items
        for i in range(len(a)):
            for k in keys:
                assert torch.equal(a[i][0][k], b[i][0][k])


# -- poses ---------------------------------------------------------------------------

def test_clip_poses_are_the_cached_clip_poses_normalised(data, deep_cache):
    vid = data.video_ids[6]
    raw, meta = cached(deep_cache, "deep_poses", vid)
    layout = get_layout("kinect_v2_25")
    norm = normalise_poses(raw["poses"], layout, 2)                       # (T, 2, 25, 3)
    x, _, _ = data.samples([6], ("poses",))[1]
    picks = raw["clip_frame_indices"][1]
    np.testing.assert_array_equal(data.clip_pose_frames(6, 1), picks)
    pos = np.searchsorted(raw["frame_ids"], picks)
    assert (raw["frame_ids"][pos] == picks).all()
    np.testing.assert_array_equal(x["poses"].numpy(), norm[pos])
    # the same frames the extractor took, before normalisation
    np.testing.assert_array_equal(raw["clip_poses"][1], raw["poses"][pos])
    # first frame's frame of reference: hip centre of the first frame at the origin,
    # its spine of unit length in the XY plane, upwards; the synthetic videos have one person
    first = data.video_poses(6)[0][0, 0]
    np.testing.assert_allclose(first[layout.hip_center], 0, atol=1e-6)
    spine = first[layout.spine] - first[layout.spine_base]
    np.testing.assert_allclose([np.linalg.norm(spine), spine[2]], [1, 0], atol=1e-5)
    assert spine[1] > 0.5
    assert not x["poses"][:, 1].any() and x["poses"][:, 0].abs().sum() > 0


def test_normalise_poses_pads_cuts_and_zeroes_missing_joints():
    layout = get_layout("kinect_v1_20")
    rng = np.random.default_rng(0)
    poses = rng.normal(size=(6, 3, 20, 3)).astype(np.float32)
    poses[2, 0, 5] = np.nan                                   # a missing joint
    poses[3, 1] = np.nan                                      # a missing person in a frame
    poses[4, 0, 7, 1] = np.inf
    one = normalise_poses(poses, layout, 1)
    two = normalise_poses(poses, layout, 2)
    four = normalise_poses(poses, layout, 4)
    assert one.shape == (6, 1, 20, 3) and two.shape == (6, 2, 20, 3) and four.shape == (6, 4, 20, 3)
    for out in (one, two, four):
        assert out.dtype == np.float32 and np.isfinite(out).all()
    assert (two[2, 0, 5] == 0).all() and (two[3, 1] == 0).all() and (two[4, 0, 7] == 0).all()
    np.testing.assert_array_equal(two[:, 0], one[:, 0])      # person 1 alone sets the reference
    np.testing.assert_array_equal(four[:, :3], normalise_poses(poses, layout, 3))
    assert not four[:, 3].any()                               # a padded person is zeros
    # the first frame's reference is shared: a rigid shift of the whole video
    # does not move anything; per frame, each frame's hip centre is the origin
    moved = poses + np.array([1.0, -2.0, 0.5], np.float32)
    np.testing.assert_allclose(normalise_poses(moved, layout, 2), two, atol=1e-4)
    per = normalise_poses(poses, layout, 2, reference="per_frame")
    np.testing.assert_allclose(per[:, 0, layout.hip_center], 0, atol=1e-5)
    assert np.abs(two[1:, 0, layout.hip_center]).max() > 0.1


def test_normalise_poses_refuses_a_bad_shape_or_reference():
    layout = get_layout("kinect_v1_20")
    with pytest.raises(ValueError, match=r"expected poses of shape \(T, M, 20, 3\).*\(5, 20, 3\)"):
        normalise_poses(np.zeros((5, 20, 3)), layout, 1)
    with pytest.raises(ValueError, match="expected pose reference one of.*'middle'"):
        normalise_poses(np.zeros((5, 1, 20, 3)), layout, 1, reference="middle")


def test_segment_poses_stay_inside_their_segments(data):
    n_frames = data.video_poses(0)[0].shape[0]
    assert n_frames == N_FRAMES
    for g in (1, 2, 3, 4):
        bounds = segment_bounds(n_frames, g)
        covered = np.zeros(n_frames, np.int64)
        for a, b in bounds:
            covered[a:b] += 1
        assert (covered == 1).all()                           # every frame in one segment
        frames = data.segment_pose_frames(0, g)
        assert frames.shape == (g, 5)
        for (a, b), row in zip(bounds, frames):
            assert (row >= a).all() and (row < b).all()
            assert row[0] == a and row[-1] == b - 1 and (np.diff(row) >= 0).all()
    x, _, _ = data.samples([0], ("segment_poses_G3", "poses"), sample="video")[0]
    poses = data.video_poses(0)[0]
    np.testing.assert_array_equal(x["segment_poses_G3"].numpy(),
                                  poses[data.segment_pose_frames(0, 3)])
    np.testing.assert_array_equal(x["poses"].numpy(),
                                  poses[np.rint(np.linspace(0, N_FRAMES - 1, 20)).astype(int)])


# -- splits --------------------------------------------------------------------------

def test_loso_tests_every_video_once_on_disjoint_subjects(data):
    splits = data.splits("loso")
    assert [s.name for s in splits] == ["subject_1", "subject_2"]
    assert all(isinstance(s, Split) for s in splits)
    tested = np.concatenate([s.test for s in splits])
    assert sorted(tested.tolist()) == list(range(len(data)))
    subjects = np.array(data.subjects)
    for s in splits:
        assert not set(subjects[s.train]) & set(subjects[s.test])
        assert sorted(np.concatenate([s.train, s.test]).tolist()) == list(range(len(data)))


def test_an_official_split_reads_its_attribute(data):
    other = copy.copy(data)
    other.views = [str(1 + i % 3) for i in range(len(data))]
    for name in ("cv", "xview", "ntu60_xview"):
        (split,) = other.splits(name)
        assert split.name == "ntu60_xview"
        views = np.array(other.views)
        assert set(views[split.train]) == {"2", "3"} and set(views[split.test]) == {"1"}
        assert len(split.train) + len(split.test) == len(data)


def test_an_official_split_without_a_side_or_an_unknown_protocol_is_refused(data):
    with pytest.raises(ValueError, match="ntu60_xsub leaves no test video.*subject values "
                                         "here are 1, 2"):
        data.splits("cs")
    with pytest.raises(ValueError, match="ntu60_xview leaves no training video"):
        data.splits("cv")
    with pytest.raises(ValueError, match="unknown protocol 'cs1' for dataset ntu60; expected "
                                         "one of loso, xsub, xview"):
        data.splits("cs1")


def pose_only_data(n_classes=4, per_class=20, subjects=5, frames=10):
    """A :class:`DeepData` of in-memory poses (the constructor's own path)."""
    rng = np.random.default_rng(0)
    n = n_classes * per_class
    seqs = [(rng.normal(size=(frames, 1, 20, 3)).astype(np.float32),
             np.arange(frames, dtype=np.int64), frames) for _ in range(n)]
    return DeepData("nucla", [f"v{i:03d}" for i in range(n)],
                    [f"class{i % n_classes}" for i in range(n)],
                    [str(i % subjects + 1) for i in range(n)], [""] * n, [""] * n,
                    layout="kinect_v1_20", persons=1, tp=6, feature_dim=0, granularities=(),
                    available_inputs=("poses",), source="memory", segment_steps=4,
                    pose_reference="first_frame", digests={}, sequences=seqs)


def test_validation_is_a_seeded_stratified_tenth_of_training():
    d = pose_only_data()
    (split, *_) = d.splits("loso")
    fit, val = d.validation(split.train, fraction=0.1, seed=3)
    assert not set(fit) & set(val)
    assert sorted(np.concatenate([fit, val]).tolist()) == sorted(split.train.tolist())
    assert len(split.train) == 64 and len(val) == 8           # 16 a class: round(1.6) = 2 each
    assert np.bincount(d.labels[val]).tolist() == [2, 2, 2, 2]
    again, val2 = d.validation(split.train, fraction=0.1, seed=3)
    assert np.array_equal(val, val2) and np.array_equal(fit, again)
    assert not np.array_equal(val, d.validation(split.train, fraction=0.1, seed=4)[1])


# -- refusals ------------------------------------------------------------------------

def test_a_missing_granularity_names_it_and_the_cached_ones(data):
    with pytest.raises(ValueError, match=r"granularity 4 \('segments_G4'\) is not cached in "
                                         r".*deep_segments has G = 1, 2, 3; compute it with "
                                         r"`adl deep extract --dataset ntu60 --granularities "
                                         r"1,2,3,4`"):
        data.samples([0], ("segments_G4",), sample="video")
    with pytest.raises(ValueError, match=r"granularity 7 \('segment_poses_G7'\)"):
        data.samples([0], ("segment_poses_G7",), sample="video")


def test_a_key_of_the_other_sample_kind_or_an_unknown_key_is_refused(data):
    with pytest.raises(ValueError, match="input 'gap' is not part of a video sample; a video "
                                         "sample has poses, segments, segment_poses"):
        data.samples([0], ("gap",), sample="video")
    with pytest.raises(ValueError, match="input 'segments_G2' is not part of a clip sample"):
        data.samples([0], ("segments_G2",))
    with pytest.raises(ValueError, match=r"input 'rgb' is not available in ntu60 \(.*cache"
                                         r"/ntu60\); it has gap, maps, parts, poses"):
        data.samples([0], ("rgb",))
    with pytest.raises(ValueError, match="expected sample 'clip' or 'video', got 'frame'"):
        data.samples([0], ("gap",), sample="frame")
    with pytest.raises(ValueError, match="expected at least one input key"):
        data.samples([0], ())
    with pytest.raises(ValueError, match=r"expected video indices in 0\.\.11, found 0\.\.12"):
        data.samples([0, 12], ("gap",))


def test_poses_of_a_cache_without_skeletons_are_refused(deep_cache, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(deep_cache, cache)
    path = cache / "ntu60" / DEEP_INDEX_NAME
    index = json.loads(path.read_text())
    index["skipped"] = {f"{v}/deep_poses": "no skeleton" for v in index["video_ids"]}
    path.write_text(json.dumps(index))
    d = DeepData.from_cache("ntu60", cache)
    assert "poses" not in d.available_inputs and d.layout == "" and d.n_joints == 0
    with pytest.raises(ValueError, match=r"input 'poses' is not available in ntu60 \(.*\); "
                                         r"it has gap, maps, parts, segments_G1"):
        d.samples([0], ("gap", "poses"))
    with pytest.raises(ValueError, match="input 'segment_poses_G2' is not available"):
        d.samples([0], ("segment_poses_G2",), sample="video")


def test_a_missing_or_broken_index_or_entry_is_named(deep_cache, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"ntu60/deep_index.json: expected the "
                                                r"deep-stage index .* found no file"):
        DeepData.from_cache("ntu60", tmp_path)
    cache = tmp_path / "cache"
    shutil.copytree(deep_cache, cache)
    path = cache / "ntu60" / DEEP_INDEX_NAME
    index = json.loads(path.read_text())
    path.write_text("{not json")
    with pytest.raises(ValueError, match="expected a JSON deep-stage index, found unreadable"):
        DeepData.from_cache("ntu60", cache)
    path.write_text(json.dumps({k: v for k, v in index.items() if k != "labels"}))
    with pytest.raises(ValueError, match="missing labels"):
        DeepData.from_cache("ntu60", cache)
    path.write_text(json.dumps({**index, "video_ids": [], "labels": [], "subjects": [],
                                "views": [], "setups": []}))
    with pytest.raises(ValueError, match="expected at least one video, found none"):
        DeepData.from_cache("ntu60", cache)
    path.write_text(json.dumps({**index, "labels": index["labels"][:-1]}))
    with pytest.raises(ValueError, match="expected 12 labels .one per video., found 11"):
        DeepData.from_cache("ntu60", cache)
    path.write_text(json.dumps(index))
    d = DeepData.from_cache("ntu60", cache)
    (entry,) = (cache / "ntu60" / "deep_parts").glob(f"*/{index['video_ids'][5]}.npz")
    entry.unlink()
    with pytest.raises(FileNotFoundError, match=f"{index['video_ids'][5]}.npz: expected the "
                                                f"deep_parts entry .* found no file"):
        d.samples([5], ("parts",))[0]
    (entry,) = (cache / "ntu60" / "deep_clips").glob(f"*/{index['video_ids'][0]}.npz")
    entry.unlink()
    with pytest.raises(FileNotFoundError, match="expected the deep_clips entry of "
                                                f"'{index['video_ids'][0]}' that .* lists"):
        DeepData.from_cache("ntu60", cache)


def test_constructor_arguments_are_checked():
    d = pose_only_data(n_classes=2, per_class=2)
    base = dict(layout="kinect_v1_20", persons=1, tp=6, feature_dim=0, granularities=(),
                available_inputs=("poses",), source="memory", segment_steps=4,
                pose_reference="first_frame", digests={}, sequences=d._sequences)
    args = (d.dataset, d.video_ids, d.label_names, d.subjects, d.views, d.setups)
    with pytest.raises(ValueError, match="expected pose_reference one of .*got 'last'"):
        DeepData(*args, **{**base, "pose_reference": "last"})
    with pytest.raises(ValueError, match="expected segment_steps to be an integer >= 1, got 0"):
        DeepData(*args, **{**base, "segment_steps": 0})


# -- identity ------------------------------------------------------------------------

def test_the_fingerprint_changes_with_a_label(deep_cache, data, tmp_path):
    assert data.fingerprint() == DeepData.from_cache("ntu60", deep_cache).fingerprint()
    assert len(data.fingerprint()) == 16
    cache = tmp_path / "cache"
    shutil.copytree(deep_cache, cache)
    path = cache / "ntu60" / DEEP_INDEX_NAME
    index = json.loads(path.read_text())
    index["labels"][0] = index["labels"][1]
    path.write_text(json.dumps(index))
    assert DeepData.from_cache("ntu60", cache).fingerprint() != data.fingerprint()
    assert DeepData.from_cache("ntu60", deep_cache, segment_steps=4).fingerprint() \
        != data.fingerprint()


# -- poses only ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def cad_root(tmp_path_factory):
    from adl.data.synth import generate
    root = tmp_path_factory.mktemp("cad") / "cad60"
    generate("cad60", root, subjects=2, frames=12, image_size=(64, 48),
             classes=None)
    return root


def test_from_skeletons_gives_one_pose_sample_per_video(cad_root):
    d = DeepData.from_skeletons("cad60", cad_root, tp=7)
    assert d.available_inputs == ("poses",) and d.layout == "cad_15" and d.persons == 1
    assert d.feature_dim == 0 and d.granularities == () and d.skipped == {}
    assert d.model_fields() == {"n_classes": len(d.classes), "feature_dim": 0,
                                "layout": "cad_15", "n_joints": 15, "persons": 1, "tp": 7}
    ds = d.samples(np.arange(len(d)), ("poses",))
    assert len(ds) == len(d) and ds.video_index.tolist() == list(range(len(d)))
    x, label, video = ds[2]
    assert tuple(x["poses"].shape) == (7, 1, 15, 3) and x["poses"].dtype == torch.float32
    assert torch.isfinite(x["poses"]).all() and (label, video) == (int(d.labels[2]), 2)
    video_x, _, _ = d.samples([2], ("poses",), sample="video")[0]
    assert torch.equal(video_x["poses"], x["poses"])
    assert d.fingerprint() != DeepData.from_skeletons("cad60", cad_root, tp=8).fingerprint()
    with pytest.raises(ValueError, match=r"input 'maps' is not available in cad60 .*; it has "
                                         r"poses$"):
        d.samples([0], ("maps",))
    with pytest.raises(ValueError, match="expected tp to be an integer >= 1, got 0"):
        DeepData.from_skeletons("cad60", cad_root, tp=0)
    assert len(d.splits("loso")) == 2


def rewrite_manifest(root, column, value, rows=None):
    """Set ``column`` of the manifest's rows ``rows`` (default all) to ``value``."""
    csv = root / "manifest.csv"
    lines = csv.read_text().splitlines()
    col = lines[0].split(",").index(column)
    table = [line.split(",") for line in lines[1:]]
    for i, r in enumerate(table):
        if rows is None or i in rows:
            r[col] = value
    csv.write_text("\n".join([lines[0]] + [",".join(r) for r in table]) + "\n")
    return len(table)


def test_from_skeletons_needs_skeletons_of_one_layout(tmp_path):
    from adl.data.synth import generate
    root = tmp_path / "m"
    generate("manifest", root, subjects=2, frames=6, image_size=(32, 24), classes=None)
    d = DeepData.from_skeletons("manifest", root, tp=3)
    assert d.layout == "kinect_v1_20"
    first = (root / "manifest.csv").read_text().splitlines()[1].split(",")[0]
    rewrite_manifest(root, "skeleton", "", rows={0})
    d = DeepData.from_skeletons("manifest", root, tp=3)
    assert d.skipped == {first: "no skeleton"} and first not in d.video_ids
    x, _, _ = d.samples([0], ("poses",))[0]
    assert tuple(x["poses"].shape) == (3, 1, 20, 3)
    n = rewrite_manifest(root, "skeleton", "")
    with pytest.raises(ValueError, match=f"expected videos with a skeleton for dataset "
                                         f"manifest, found none among {n} videos"):
        DeepData.from_skeletons("manifest", root)


def test_from_skeletons_refuses_two_layouts(tmp_path):
    from adl.data.synth import generate
    root = tmp_path / "m"
    generate("manifest", root, subjects=2, frames=6, image_size=(32, 24), classes=None)
    rewrite_manifest(root, "layout", "cad_15", rows={1})
    with pytest.raises(ValueError, match="expected one joint layout for the poses, found "
                                         "cad_15, kinect_v1_20"):
        DeepData.from_skeletons("manifest", root)


def test_samples_survive_pickling(data):
    ds = data.samples([1], ("gap", "poses"))
    ds[0]
    again = pickle.loads(pickle.dumps(ds))
    assert again.items == ds.items and again.data._pose_cache == {}
    for k in ("gap", "poses"):
        assert torch.equal(again[1][0][k], ds[1][0][k])


# -- hand-written caches -------------------------------------------------------------

def write_pose_cache(cache, dataset, poses_list, frame_ids_list, n_frames_list, tp=4):
    """A deep cache with deep_clips (2 clips a video, tiny features) and
    deep_poses entries written through the FeatureStore, and its index."""
    store = FeatureStore(cache, dataset, fsync=False)
    k_clips = StageKey("deep_clips", {"dataset": dataset, "test": 1}, "1")
    k_poses = StageKey("deep_poses", {"dataset": dataset, "tp": tp}, "1")
    vids = [f"vid{i}" for i in range(len(poses_list))]
    for vid, poses, fids, n in zip(vids, poses_list, frame_ids_list, n_frames_list):
        clips = np.stack([np.arange(0, n, 2)[:4] % n, (np.arange(0, n, 2)[:4] + 1) % n])
        store.put(k_clips, vid, {"maps": np.ones((2, 8, 1, 1, 1), np.float16),
                                 "gap": np.ones((2, 8), np.float32), "frame_indices": clips},
                  {"n_frames": n})
        picks = np.stack([np.rint(np.linspace(c[0], c[-1], tp)).astype(np.int64)
                          for c in clips])
        store.put(k_poses, vid, {"poses": poses.astype(np.float32),
                                 "frame_ids": np.asarray(fids, np.int64),
                                 "clip_poses": np.zeros((2, tp) + poses.shape[1:], np.float32),
                                 "clip_frame_indices": picks}, {"n_frames": n, "tp": tp})
    index = {"dataset": dataset, "video_ids": vids, "labels": ["a", "b"][:len(vids)],
             "subjects": ["1", "2"][:len(vids)], "views": ["1", "1"][:len(vids)],
             "setups": ["1", "1"][:len(vids)], "tp": tp, "backbone": {"feature_dim": 8},
             "stages": {"deep_clips": k_clips.manifest(), "deep_poses": k_poses.manifest()},
             "skipped": {}}
    (cache / dataset / DEEP_INDEX_NAME).write_text(json.dumps(index))


def test_a_cache_with_two_persons_and_gaps(tmp_path):
    rng = np.random.default_rng(1)
    poses = rng.normal(size=(6, 2, 25, 3)).astype(np.float32)
    poses[4, 1] = np.nan                                      # second body leaves
    poses[2, 0, 3] = np.nan
    other = rng.normal(size=(8, 3, 25, 3)).astype(np.float32)  # three bodies: one too many
    write_pose_cache(tmp_path, "ntu120", [poses, other], [[0, 1, 2, 4, 5, 6], range(8)], [8, 8])
    d = DeepData.from_cache("ntu120", tmp_path)
    assert d.persons == 2 and d.layout == "kinect_v2_25" and d.feature_dim == 8
    assert d.available_inputs == ("gap", "maps", "poses")
    placed, fids = d.video_poses(0)
    assert placed.shape == (8, 2, 25, 3) and np.isfinite(placed).all()
    assert not placed[3].any() and not placed[7].any()       # frames without a skeleton row
    assert not placed[5, 1].any() and not placed[2, 0, 3].any()
    np.testing.assert_array_equal(placed[fids], normalise_poses(poses, get_layout(
        "kinect_v2_25"), 2))
    assert d.video_poses(1)[0].shape == (8, 2, 25, 3)
    x, _, _ = d.samples([0, 1], ("poses", "gap"))[3]
    assert tuple(x["poses"].shape) == (4, 2, 25, 3) and tuple(x["gap"].shape) == (8,)


def test_a_cache_of_an_unexpected_joint_count_is_refused(tmp_path):
    poses = np.zeros((4, 1, 20, 3), np.float32)
    write_pose_cache(tmp_path, "ntu60", [poses], [range(4)], [4])
    with pytest.raises(ValueError, match=r"expected deep_poses of 25 \(kinect_v2_25\) joints, "
                                         r"found 20"):
        DeepData.from_cache("ntu60", tmp_path)
    write_pose_cache(tmp_path, "manifest", [np.zeros((4, 1, 17, 3), np.float32)], [range(4)],
                     [4])
    with pytest.raises(ValueError, match=r"expected deep_poses of 15 \(cad_15\), .* joints, "
                                         r"found 17"):
        DeepData.from_cache("manifest", tmp_path)
    write_pose_cache(tmp_path, "manifest", [poses], [range(4)], [4])
    assert DeepData.from_cache("manifest", tmp_path).layout == "kinect_v1_20"


def test_a_video_without_a_skeleton_has_zero_poses(tmp_path):
    rng = np.random.default_rng(2)
    poses = [rng.normal(size=(6, 1, 25, 3)).astype(np.float32) for _ in range(2)]
    write_pose_cache(tmp_path, "ntu60", poses, [range(6), range(6)], [6, 6])
    path = tmp_path / "ntu60" / DEEP_INDEX_NAME
    index = json.loads(path.read_text())
    index["skipped"] = {"vid1/deep_poses": "no skeleton"}
    path.write_text(json.dumps(index))
    for entry in (tmp_path / "ntu60" / "deep_poses").glob("*/vid1.npz"):
        entry.unlink()
    d = DeepData.from_cache("ntu60", tmp_path)
    assert "poses" in d.available_inputs and d.skipped == index["skipped"]
    x, _, video = d.samples([1], ("poses",))[1]
    assert video == 1 and tuple(x["poses"].shape) == (4, 2, 25, 3) and not x["poses"].any()
    assert d.samples([0], ("poses",))[0][0]["poses"][:, 0].abs().sum() > 0
