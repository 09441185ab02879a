"""``run_extract``: the cached backbone features of a tiny synthetic NTU-60
dataset (4 videos of 24 frames at 96x64), I3D with random weights, clips of 8
frames at 32 px, one torch thread (the ``one_thread`` fixture): what each
stage holds, resuming, what a changed configuration or source recomputes,
the full-image fallback, and a Dask ``LocalCluster`` giving the local cache
byte for byte."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys

import numpy as np
import pytest

from adl.data.errors import AdlError
from adl.data.registry import load_records
from adl.deep.clips import eval_clip_indices
from adl.deep.extract import (DEEP_STAGES, DEFAULT_TP, DeepStages, ExtractConfig, extract_video,
                              run_extract)

SMALL = ExtractConfig(weights="random", device="cpu", precision="float32", clip_frames=8,
                      clip_size=32, granularities=(1, 2, 3), seed=0)
N_VIDEOS = 4
N_FRAMES = 24


def quiet(**kw):
    return dict(progress=False, log=lambda m: None, **kw)


@pytest.fixture(scope="module")
def tiny_ntu(tmp_path_factory):
    from adl.data.synth import generate
    root = tmp_path_factory.mktemp("ntu") / "ntu60"
    generate("ntu60", root, subjects=2, frames=N_FRAMES, image_size=(96, 64),
             classes=["drink water", "pickup"])
    return root


@pytest.fixture(scope="module")
def reference(tiny_ntu, tmp_path_factory, cache_snapshot):
    """A complete cache of ``tiny_ntu`` with :data:`SMALL`, and its snapshot."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cache = tmp_path_factory.mktemp("deep_cache")
        summary = run_extract("ntu60", tiny_ntu, cache, SMALL, **quiet())
    finally:
        torch.set_num_threads(before)
    return {"cache": cache, "summary": summary, "snapshot": cache_snapshot(cache)}


def entries(cache, stage, video_id, dataset="ntu60"):
    """The arrays and metadata of one entry, read from the stage's only digest."""
    (folder,) = [p for p in (cache / dataset / stage).iterdir() if p.is_dir()]
    with np.load(folder / f"{video_id}.npz") as z:
        arrays = {k: z[k] for k in z.files if k != "__meta__.json"}
        meta = json.loads(bytes(z["__meta__.json"]).decode())
    return arrays, meta


def test_every_stage_holds_what_the_thesis_asks(reference, tiny_ntu):
    summary, cache = reference["summary"], reference["cache"]
    assert summary.n_videos == N_VIDEOS
    assert summary.computed == {s: N_VIDEOS for s in DEEP_STAGES}
    assert summary.reused == {s: 0 for s in DEEP_STAGES}
    assert summary.skipped == {} and summary.fallback == []
    vid = load_records("ntu60", tiny_ntu)[0].video_id
    clips = eval_clip_indices(N_FRAMES, 8, 2)                     # 24 frames, span 16: 2 clips
    assert clips.shape == (2, 8)

    full, meta = entries(cache, "deep_clips", vid)
    assert full["maps"].dtype == np.float16 and full["maps"].shape == (2, 1024, 1, 1, 1)
    np.testing.assert_allclose(full["gap"], full["maps"].reshape(2, 1024).astype(np.float32),
                               rtol=1e-3, atol=1e-3)           # GAP of a 1x1x1 map: the map
    np.testing.assert_array_equal(full["frame_indices"], clips)
    assert full["observed"].all() and meta["fallback"] is False
    assert meta["n_frames"] == N_FRAMES and meta["frame_size"] == [96, 64]
    box = full["boxes"][0]
    assert 0 <= box[0] < box[2] <= 96 and 0 <= box[1] < box[3] <= 64
    np.testing.assert_allclose(box[2] - box[0], box[3] - box[1], atol=1e-3)   # square crop
    assert box[3] - box[1] < 64                                  # a crop, not the full image

    parts, _ = entries(cache, "deep_parts", vid)
    assert parts["gap"].shape == (2, 3, 1024)
    np.testing.assert_array_equal(parts["gap"][:, 2], full["gap"])   # full-body stream
    assert not np.array_equal(parts["gap"][:, 0], parts["gap"][:, 1])
    np.testing.assert_array_equal(parts["boxes"][:, 2], full["boxes"])

    segs, meta = entries(cache, "deep_segments", vid)
    assert meta["granularities"] == [1, 2, 3]
    for g in (1, 2, 3):
        assert segs[f"gap_G{g}"].shape == (g, 1024)
        assert segs[f"frame_indices_G{g}"].shape == (g, 8)
        assert segs[f"boxes_G{g}"].shape == (g, 4)

    poses, meta = entries(cache, "deep_poses", vid)
    tp = DEFAULT_TP["ntu60"]
    assert meta["tp"] == tp == 20
    assert poses["poses"].shape == (N_FRAMES, 1, 25, 3)
    assert poses["clip_poses"].shape == (2, tp, 1, 25, 3)
    picks = poses["clip_frame_indices"]
    np.testing.assert_array_equal(picks[:, [0, -1]], clips[:, [0, -1]])
    np.testing.assert_array_equal(poses["clip_poses"][1, 3], poses["poses"][picks[1, 3]])

    index = json.loads((cache / "ntu60" / "deep_index.json").read_text())
    assert index["video_ids"] == [r.video_id for r in load_records("ntu60", tiny_ntu)]
    assert index["config"] == SMALL.to_dict() and index["tp"] == 20
    assert set(index["stages"]) == set(DEEP_STAGES)


def test_a_resumed_run_computes_nothing_and_changes_no_file(reference, tiny_ntu, tmp_path,
                                                            cache_snapshot):
    cache = tmp_path / "cache"
    shutil.copytree(reference["cache"], cache)
    summary = run_extract("ntu60", tiny_ntu, cache, SMALL, **quiet())
    assert summary.computed == {s: 0 for s in DEEP_STAGES}
    assert summary.reused == {s: N_VIDEOS for s in DEEP_STAGES}
    assert cache_snapshot(cache) == reference["snapshot"]


def test_a_changed_value_recomputes_the_stages_that_read_it(reference, tiny_ntu, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(reference["cache"], cache)
    more = run_extract("ntu60", tiny_ntu, cache, dataclasses.replace(SMALL, granularities=(4,)),
                       **quiet())
    assert more.computed == {"deep_clips": 0, "deep_parts": 0, "deep_segments": N_VIDEOS,
                             "deep_poses": 0}
    bigger = run_extract("ntu60", tiny_ntu, cache, dataclasses.replace(SMALL, clip_size=40),
                         **quiet())
    assert bigger.computed == {"deep_clips": N_VIDEOS, "deep_parts": N_VIDEOS,
                               "deep_segments": N_VIDEOS, "deep_poses": 0}
    seeded = run_extract("ntu60", tiny_ntu, cache, dataclasses.replace(SMALL, seed=1), **quiet())
    assert seeded.computed["deep_clips"] == N_VIDEOS and seeded.computed["deep_poses"] == 0
    longer = run_extract("ntu60", tiny_ntu, cache, dataclasses.replace(SMALL, tp=5), **quiet())
    assert longer.computed == {"deep_clips": 0, "deep_parts": 0, "deep_segments": 0,
                               "deep_poses": N_VIDEOS}


def test_a_changed_video_is_recomputed_alone(reference, tiny_ntu, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(tiny_ntu, root)
    cache = tmp_path / "cache"
    run_extract("ntu60", root, cache, SMALL, **quiet())
    record = load_records("ntu60", root)[1]
    st = os.stat(record.rgb)
    os.utime(record.rgb, ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))
    again = run_extract("ntu60", root, cache, SMALL, **quiet())
    assert again.computed == {s: 1 for s in DEEP_STAGES}
    assert again.reused == {s: N_VIDEOS - 1 for s in DEEP_STAGES}


def test_a_video_without_skeleton_is_cropped_on_the_full_image(tiny_ntu):
    from adl.deep.backbones import VideoBackbone
    record = load_records("ntu60", tiny_ntu)[0]
    bare = dataclasses.replace(record, skeleton=None, skeleton_loader=None)
    backbone = VideoBackbone("i3d", "random", device="cpu", precision="float32")
    out = extract_video(bare, SMALL, backbone, ("deep_clips", "deep_parts"), tp=20)
    arrays, meta = out["deep_clips"]
    assert meta["fallback"] is True and not arrays["observed"].any()
    np.testing.assert_array_equal(arrays["boxes"], np.tile([0, 0, 96, 64], (2, 1)))
    np.testing.assert_array_equal(out["deep_parts"][0]["boxes"],
                                  np.tile([0, 0, 96, 64], (2, 3, 1)))
    with pytest.raises(ValueError, match=r"has no skeleton: no deep_poses entry"):
        extract_video(bare, SMALL, backbone, ("deep_poses",), tp=20)
    with pytest.raises(ValueError, match=r"unknown deep stages \['deep_nothing'\]"):
        extract_video(record, SMALL, backbone, ("deep_nothing",), tp=20)


def test_videos_without_rgb_are_skipped_and_none_at_all_is_an_error(tiny_ntu, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(tiny_ntu, root)
    videos = sorted(root.rglob("*_rgb.avi"))
    videos[0].unlink()
    logged = []
    summary = run_extract("ntu60", root, tmp_path / "cache", SMALL, progress=False,
                          log=logged.append)
    gone = videos[0].name[:-len("_rgb.avi")]
    assert summary.skipped == {gone: "no RGB video"}
    assert summary.computed["deep_clips"] == N_VIDEOS - 1
    assert f"skipping {gone}: no RGB video" in logged
    for v in videos[1:]:
        v.unlink()
    with pytest.raises(AdlError, match=r"none of the 4 videos of ntu60 has RGB"):
        run_extract("ntu60", root, tmp_path / "cache2", SMALL, **quiet())


def test_the_configuration_round_trips_and_refuses_bad_values():
    assert ExtractConfig.from_dict(SMALL.to_dict()) == SMALL
    assert ExtractConfig(granularities=(3, 1)).granularities == (1, 3)
    assert ExtractConfig().tp_for("smarthome") == 30 and ExtractConfig().tp_for("nucla") == 5
    assert ExtractConfig(tp=7).tp_for("ntu60") == 7
    with pytest.raises(ValueError, match=r"unknown ExtractConfig fields \['colour'\]"):
        ExtractConfig.from_dict({"colour": "red"})
    with pytest.raises(ValueError, match=r"unknown backbone 'c3d'"):
        ExtractConfig(backbone="c3d")
    with pytest.raises(ValueError, match=r"expected clip_size to be an integer >= 8, got 4"):
        ExtractConfig(clip_size=4)
    with pytest.raises(ValueError, match=r"expected distinct granularities, at least one"):
        ExtractConfig(granularities=(2, 2))
    with pytest.raises(ValueError, match=r"expected each granularity to be an integer >= 1"):
        ExtractConfig(granularities=(0,))
    with pytest.raises(ValueError, match=r"expected margin to be a number >= 0, got -1"):
        ExtractConfig(margin=-1)
    with pytest.raises(ValueError, match=r"expected jobs to be an integer >= 1, got 0"):
        run_extract("ntu60", "nowhere", "nowhere", SMALL, jobs=0, **quiet())
    stages = DeepStages("ntu60", SMALL, {"weights": "x"})
    with pytest.raises(ValueError, match=r"unknown deep stage 'deep_x'"):
        stages.key("deep_x")


# -- scale-out ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as c:
        yield c


def test_a_local_cluster_writes_the_local_cache_byte_for_byte(cluster, reference, tiny_ntu,
                                                              tmp_path, cache_snapshot):
    """Two worker processes of one thread each compute every video (none
    here), and the cache equals the one-process run's."""
    cache = tmp_path / "cache"
    summary = run_extract("ntu60", tiny_ntu, cache, SMALL, scheduler=cluster.scheduler_address,
                          **quiet())
    assert summary.computed == {s: N_VIDEOS for s in DEEP_STAGES}
    tasks = [tp for name, tp in cluster.scheduler.task_prefixes.items() if "_worker" in name]
    assert sum(tp.state_counts["memory"] for tp in tasks) == N_VIDEOS
    local, remote = reference["snapshot"], cache_snapshot(cache)
    assert sorted(remote) == sorted(local)
    different = [name for name in local if remote[name] != local[name]]
    assert different == [], f"entries differ from the local run: {different}"


def test_scheduler_without_the_distributed_extra_is_one_clear_error(tiny_ntu, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(AdlError, match=r"--scheduler needs the 'distributed' extra"):
        run_extract("ntu60", tiny_ntu, tmp_path / "cache", SMALL,
                    scheduler="tcp://127.0.0.1:1", **quiet())
    assert list((tmp_path / "cache").rglob("*.npz")) == []


def test_an_entry_is_the_same_whichever_other_stages_were_stale(tiny_ntu):
    """A resumed video computes only its stale stages; each stage's arrays
    and metadata equal those of a run computing all of them (each group of
    clips has its own forward passes)."""
    from adl.deep.backbones import VideoBackbone
    record = load_records("ntu60", tiny_ntu)[2]
    backbone = VideoBackbone("i3d", "random", device="cpu", precision="float32", batch_size=3)
    every = extract_video(record, SMALL, backbone, DEEP_STAGES, tp=20)
    for stage in DEEP_STAGES:
        alone = extract_video(record, SMALL, backbone, (stage,), tp=20)[stage]
        assert alone[1] == every[stage][1], stage
        assert sorted(alone[0]) == sorted(every[stage][0])
        for name, value in alone[0].items():
            np.testing.assert_array_equal(value, every[stage][0][name], err_msg=f"{stage}/{name}")


def test_joblib_workers_write_the_local_cache_byte_for_byte(reference, tiny_ntu, tmp_path,
                                                            cache_snapshot):
    cache = tmp_path / "cache"
    summary = run_extract("ntu60", tiny_ntu, cache, SMALL, jobs=2, **quiet())
    assert summary.computed == {s: N_VIDEOS for s in DEEP_STAGES}
    assert cache_snapshot(cache) == reference["snapshot"]


@pytest.mark.parametrize("dataset, n_joints", [("smarthome", 13), ("nucla", 20),
                                               ("manifest", 20), ("ntu120", 25)])
def test_every_deep_stage_reader_goes_through(dataset, n_joints, tmp_path):
    """Toyota Smarthome, N-UCLA, a manifest and NTU-120: person crops from their
    skeletons (not the full image) and t_p poses of the dataset (thesis 4.6.1)."""
    from adl.data.synth import class_names, generate
    generate(dataset, tmp_path / "root", subjects=2, frames=20, image_size=(96, 64),
             classes=list(class_names(dataset)[:2]))
    cfg = dataclasses.replace(SMALL, granularities=(1,))
    summary = run_extract(dataset, tmp_path / "root", tmp_path / "cache", cfg, **quiet())
    n = summary.n_videos
    assert n >= 4 and summary.computed == {s: n for s in DEEP_STAGES}
    assert summary.fallback == [] and summary.skipped == {}
    index = json.loads((tmp_path / "cache" / dataset / "deep_index.json").read_text())
    for vid in index["video_ids"]:
        clips, _ = entries(tmp_path / "cache", "deep_clips", vid, dataset)
        assert clips["observed"].all()
        assert clips["boxes"][0, 3] - clips["boxes"][0, 1] < 64          # a crop
        poses, meta = entries(tmp_path / "cache", "deep_poses", vid, dataset)
        assert meta["tp"] == DEFAULT_TP.get(dataset, 20)
        assert poses["clip_poses"].shape == (1, meta["tp"], 1, n_joints, 3)
