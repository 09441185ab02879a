"""``adl.deep.attention_figures``: the attention figures of trained runs on a
tiny synthetic NTU-60 deep cache (3 subjects x 2 classes, 16 frames at 64x48,
I3D with random weights, clips of 16 frames at 64 px: Mixed_5c maps of
t, h, w = 2, 2, 2; granularity 2), each model trained 1 epoch on xsub: P-I3D's
part weights, Separable STA's and VPN's spatial figures (on the video's
frames with ``root``, on a blank crop without), VPN's GCN joints, the
Temporal Model's segment and granularity attention; no figure for I3D; the
refusals."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from adl.deep.attention_figures import (FIGURES_DIR, choose_videos, frame_positions,
                                        write_attention_figures)
from adl.deep.inputs import DeepData
from adl.deep.train import TrainConfig, train

SMALL_POSE = dict(lstm_units=8, lstm_layers=1, attention_hidden=8)
CONFIGS = {
    "i3d": {},
    "p-i3d": SMALL_POSE,
    "sep-sta": dict(SMALL_POSE, map_size=(2, 2, 2)),
    "vpn": dict(pose_backbone="gcn", gcn_proj=8, gcn_channels=(8,), attention_hidden=8,
                embed_dim=8, map_size=(2, 2, 2)),
    "temporal": dict(granularities=(2,), segment_units=8, pose_units=8),
}
FAST = TrainConfig(epochs=1, batch_size=4, val_fraction=0.0, device="cpu", seed=0)


@pytest.fixture(scope="module")
def cache(tmp_path_factory, tiny_ntu_cache):
    base = tmp_path_factory.mktemp("attention_figures")
    tiny_ntu_cache(base, clip_frames=16, clip_size=64, granularities=(2,))
    data = DeepData.from_cache("ntu60", base / "cache")
    (split,) = data.splits("xsub")
    return base, data, split


@pytest.fixture(scope="module")
def runs(cache):
    base, data, split = cache
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    out = {}
    try:
        for name, cfg in CONFIGS.items():
            torch.manual_seed(0)
            out[name] = base / "runs" / name
            train(name, cfg, FAST, data, split, out[name], log=lambda m: None)
    finally:
        torch.set_num_threads(before)
    return out


def read_png(path):
    import matplotlib.image as mpimg
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50
    return image


def first_per_class(data, split):
    firsts = {}
    for v in np.unique(split.test).tolist():
        firsts.setdefault(int(data.labels[v]), v)
    return [data.video_ids[firsts[c]] for c in sorted(firsts)]


def test_p_i3d_draws_the_class_means_of_the_part_weights(cache, runs):
    base, data, split = cache
    paths = write_attention_figures(runs["p-i3d"], data, split, "cpu")
    assert paths == [runs["p-i3d"] / FIGURES_DIR / "part_weights.png"]
    read_png(paths[0])


def test_sep_sta_spatial_figures_on_the_frames_and_without_them(cache, runs):
    base, data, split = cache
    ids = first_per_class(data, split)
    assert len(ids) == 2                          # one test video of each class in xsub
    blank = write_attention_figures(runs["sep-sta"], data, split, "cpu")
    assert [p.name for p in blank] == [f"spatial_{v}.png" for v in ids]
    no_root = [read_png(p) for p in blank]
    framed = write_attention_figures(runs["sep-sta"], data, split, "cpu", root=base / "ntu60")
    assert [p.name for p in framed] == [p.name for p in blank]
    with_root = [read_png(p) for p in framed]
    for a, b in zip(no_root, with_root):
        assert a.shape != b.shape or not np.array_equal(a, b)


def test_the_same_run_draws_the_same_figure(cache, runs):
    base, data, split = cache
    (first,) = write_attention_figures(runs["sep-sta"], data, split, "cpu", max_videos=1)
    once = first.read_bytes()
    (again,) = write_attention_figures(runs["sep-sta"], data, split, "cpu", max_videos=1)
    assert again == first and again.read_bytes() == once


def test_vpn_draws_the_spatial_figure_and_the_gcn_joints(cache, runs):
    base, data, split = cache
    vid = first_per_class(data, split)[1]
    paths = write_attention_figures(runs["vpn"], data, split, "cpu", videos=[vid],
                                    root=base / "ntu60", clip="best")
    assert [p.name for p in paths] == [f"spatial_{vid}.png", f"joints_{vid}.png"]
    for p in paths:
        read_png(p)


def test_the_temporal_model_draws_one_figure_per_chosen_video(cache, runs):
    base, data, split = cache
    paths = write_attention_figures(runs["temporal"], data, split, "cpu")
    assert [p.name for p in paths] == [f"temporal_{v}.png" for v in first_per_class(data, split)]
    for p in paths:
        read_png(p)


def test_a_model_without_attention_writes_nothing(cache, runs):
    base, data, split = cache
    assert write_attention_figures(runs["i3d"], data, split, "cpu") == []
    assert not (runs["i3d"] / FIGURES_DIR).exists()


def test_videos_are_chosen_per_class_and_capped(cache):
    base, data, split = cache
    ids = first_per_class(data, split)
    assert [data.video_ids[v] for v in choose_videos(data, split.test)] == ids
    assert [data.video_ids[v] for v in choose_videos(data, split.test, max_videos=1)] == ids[:1]
    assert [data.video_ids[v] for v in choose_videos(data, split.test, ids[::-1])] == ids[::-1]


def test_frames_spread_over_the_clip_and_their_feature_steps():
    positions, steps = frame_positions(16, 4, 2)
    assert positions.tolist() == [2, 6, 10, 14] and steps.tolist() == [0, 0, 1, 1]
    positions, steps = frame_positions(3, 8, None)
    assert positions.tolist() == [0, 1, 2] and steps is None


def test_refusals_name_the_run_or_the_video(cache, runs, tmp_path):
    base, data, split = cache
    train_id = data.video_ids[int(split.train[0])]
    with pytest.raises(ValueError, match=f"video\\(s\\) '{train_id}' are not test videos"):
        write_attention_figures(runs["sep-sta"], data, split, "cpu", videos=[train_id])
    with pytest.raises(ValueError, match="'nope' are not test videos"):
        write_attention_figures(runs["sep-sta"], data, split, "cpu", videos=["nope"])
    with pytest.raises(ValueError, match="expected max_videos to be an integer >= 1, got 0"):
        write_attention_figures(runs["sep-sta"], data, split, "cpu", max_videos=0)
    with pytest.raises(ValueError, match="expected clip one of middle, first, best, got 'last'"):
        write_attention_figures(runs["sep-sta"], data, split, "cpu", clip="last")
    with pytest.raises(ValueError, match="expected n_frames to be an integer >= 1, got 0"):
        write_attention_figures(runs["sep-sta"], data, split, "cpu", n_frames=0)
    with pytest.raises(FileNotFoundError, match=f"no best.pt in {tmp_path}"):
        write_attention_figures(tmp_path, data, split, "cpu")
    with pytest.raises(ValueError, match="was trained on other data: split"):
        from adl.deep.inputs import Split
        write_attention_figures(runs["sep-sta"], data, Split("other", split.train, split.test),
                                "cpu")


def test_missing_cache_frames_or_records_are_named(cache, runs, tmp_path, monkeypatch):
    import copy
    import dataclasses
    import json

    import adl.deep.attention_figures as af
    from adl.data.registry import load_records

    base, data, split = cache
    run = runs["sep-sta"]
    moved = copy.copy(data)
    moved.source = str(tmp_path)                   # same fingerprint, no deep_index.json there
    with pytest.raises(FileNotFoundError, match="need the clips' frames and crop boxes"):
        write_attention_figures(run, moved, split, "cpu")
    (tmp_path / "deep_index.json").write_text(json.dumps({"stages": {}}))
    with pytest.raises(ValueError, match="lists no deep_clips stage"):
        write_attention_figures(run, moved, split, "cpu")

    root = base / "ntu60"
    records = load_records("ntu60", root)
    monkeypatch.setattr(af, "load_records", lambda *a, **k: records[:1])
    absent = first_per_class(data, split)[0]
    assert absent != records[0].video_id
    with pytest.raises(ValueError, match=f"video '{absent}' is not among the 1 videos the "
                                         f"ntu60 reader lists at"):
        write_attention_figures(run, data, split, "cpu", root=root, videos=[absent])
    no_rgb = [dataclasses.replace(r, rgb=None) for r in records]
    monkeypatch.setattr(af, "load_records", lambda *a, **k: no_rgb)
    with pytest.raises(ValueError, match=f"{run}: expected an RGB source for video"):
        write_attention_figures(run, data, split, "cpu", root=root)

    class Undecodable:
        def __init__(self, *args):
            pass

        def frames(self, indices=None):
            return iter(())

    monkeypatch.setattr(af, "load_records", lambda *a, **k: records)
    monkeypatch.setattr(af, "FrameSource", Undecodable)
    with pytest.raises(ValueError, match="expected the frames .* decoded none of them"):
        write_attention_figures(run, data, split, "cpu", root=root)
