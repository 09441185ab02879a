"""Tests of features.f2: F2 extraction on synthetic videos made here."""
from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from adl.data.errors import DataFormatError
from adl.data.record import SkeletonSequence, VideoRecord
from adl.features.f2 import (F2Config, NoTrajectoryWarning, extract_f2, load_f2,
                         person_boxes_from_record, save_f2)

W, H = 160, 120


def texture(h, w, seed, blur=1.2):
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur((rng.random((h, w)) * 255).astype(np.uint8), (0, 0), blur)


def square_frames(n=22, speed=3.0, pan=0.0):
    """A textured 32-px square moving right over a textured background (optionally panning)."""
    bg = texture(H + 20, W + int(abs(pan) * n) + 40, seed=0)
    sq = texture(32, 32, seed=1, blur=0.8)
    out = []
    for t in range(n):
        ox = 20 + int(round(pan * t))
        f = bg[10:10 + H, ox:ox + W].copy()
        x = int(round(30 + speed * t))
        f[44:76, x:x + 32] = sq
        out.append(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
    return out


def pan_frames(n=22, pan=2.0):
    bg = texture(H, W + int(pan * n) + 10, seed=2)
    return [cv2.cvtColor(np.ascontiguousarray(bg[:, int(pan * t):int(pan * t) + W]),
                         cv2.COLOR_GRAY2BGR) for t in range(n)]


def run(frames, name="synthetic", **cfg):
    return extract_f2(name, F2Config(**cfg), frames=enumerate(frames))


@pytest.fixture(scope="module")
def square_out():
    return run(square_frames())


# --------------------------------------------------------------------------- config
def test_config_dims_are_426_and_types_follow_hog():
    cfg = F2Config()
    assert cfg.dims() == {"traj": 30, "hog": 96, "hof": 108, "mbhx": 96, "mbhy": 96}
    assert sum(cfg.dims().values()) == 426
    assert cfg.descriptor_types == ("traj", "hog", "hof", "mbhx", "mbhy")
    assert F2Config(hog=False).descriptor_types == ("traj", "hof", "mbhx", "mbhy")
    assert F2Config().to_dict()["trajectory_length"] == 15


@pytest.mark.parametrize("kw, match", [
    ({"flow": "tvl1"}, "F2Config.flow: expected one of"),
    ({"warped_flow": "exact"}, "F2Config.warped_flow"),
    ({"dtype": "float64"}, "F2Config.dtype"),
    ({"sampling_step": 0}, "F2Config.sampling_step: expected an integer >= 1"),
    ({"max_scales": 2.5}, "F2Config.max_scales: expected an integer >= 1"),
    ({"scale_stride": 1.0}, "F2Config.scale_stride: expected > 1"),
    ({"trajectory_length": 2}, "trajectory_length >= n_t_cells"),
    ({"descriptor_stride": 6}, "descriptor_stride: expected at most"),
    ({"patch_size": 31}, "patch_size to be a multiple of n_xy_cells"),
    ({"max_width": 16}, r"F2Config.max_width: expected None or an integer >= patch_size \(32\)"),
    ({"max_width": True}, "F2Config.max_width"),
])
def test_config_rejects_bad_values(kw, match):
    with pytest.raises(ValueError, match=match):
        F2Config(**kw)


def test_extract_rejects_a_non_config():
    with pytest.raises(TypeError, match="expected an F2Config"):
        extract_f2("x", {"hog": False}, frames=[])


# --------------------------------------------------------------------------- extraction
def test_moving_square_gives_trajectories_on_the_square_only(square_out):
    out = square_out
    n = len(out["positions"])
    assert n > 20
    assert {k: v.shape for k, v in out.items()} == {
        "traj": (n, 30), "hog": (n, 96), "hof": (n, 108), "mbhx": (n, 96), "mbhy": (n, 96),
        "positions": (n, 3)}
    x, y, t = out["positions"].T
    # the square spans y in [44, 76) and moves right from x = 30 at 3 px / frame
    assert y.min() > 44 - 12 and y.max() < 76 + 12
    assert x.min() > 30 - 12 and x.max() < 30 + 3 * 21 + 32 + 12
    assert t.min() >= 15 and t.max() <= 21
    # the trajectory shape points right: every step's x component is positive
    traj = out["traj"].reshape(n, 15, 2)
    assert (traj[..., 0].mean(1) > 0.05).mean() > 0.9


def test_moving_square_hof_peaks_in_the_rightward_bin(square_out):
    hof = square_out["hof"].reshape(-1, 3, 4, 9).mean((1, 2))    # (traj, bin); 8 = no motion
    # patches straddle the square and the still background, so the "no motion"
    # bin is large; among directions, rightward (bin 0) wins everywhere
    assert (hof[:, :8].argmax(-1) == 0).mean() > 0.9
    assert hof[:, 0].mean() > 5 * hof[:, 4].mean()
    # every per-frame block is sqrt(L1-normalised): squares sum to 1, averaged over 5 frames
    assert np.all(square_out["hog"] > 0) and np.all(square_out["hog"] < 1)


def test_camera_pan_is_cancelled_by_compensation():
    frames = pan_frames()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoTrajectoryWarning)
        compensated = run(frames)
    plain = run(frames, compensate=False)
    assert len(plain["positions"]) > 300
    assert len(compensated["positions"]) < 0.02 * len(plain["positions"])
    # without compensation the pan is a leftward motion: HOF bin 4 (180 degrees)
    hof = plain["hof"].reshape(-1, 3, 4, 9).mean((1, 2))
    assert np.bincount(hof.argmax(-1), minlength=9).argmax() == 4


def test_square_on_a_panning_background_survives_compensation():
    out = run(square_frames(pan=2.0))
    n = len(out["positions"])
    assert n > 10
    y = out["positions"][:, 1]
    assert (np.abs(y - 60) < 28).mean() > 0.9          # on the square's rows


def test_static_video_gives_no_trajectory_and_a_warning_naming_it():
    frames = [cv2.cvtColor(texture(H, W, seed=5), cv2.COLOR_GRAY2BGR)] * 20
    with pytest.warns(NoTrajectoryWarning, match="no trajectory survived in video 'still_life'"):
        out = run(frames, name="still_life")
    assert all(len(v) == 0 for v in out.values())
    assert out["hof"].shape == (0, 108) and out["positions"].shape == (0, 3)


def test_extraction_is_deterministic(square_out):
    again = run(square_frames())
    for k, v in square_out.items():
        np.testing.assert_array_equal(again[k], v)


def test_no_hog_variant_and_float32_output(square_out):
    assert square_out["hof"].dtype == np.float16                 # the default, as cached
    assert square_out["positions"].dtype == np.float32
    out = run(square_frames(), hog=False, dtype="float32")
    assert "hog" not in out and out["hof"].dtype == np.float32
    np.testing.assert_allclose(out["hof"], square_out["hof"].astype(np.float32), atol=2e-3)


def test_descriptor_stride_keeps_the_trajectories_and_close_descriptors(square_out):
    out = run(square_frames(), descriptor_stride=2)
    np.testing.assert_array_equal(out["positions"], square_out["positions"])
    np.testing.assert_array_equal(out["traj"], square_out["traj"])
    assert np.abs(out["hof"].astype(np.float32) - square_out["hof"]).mean() < 0.02


@pytest.mark.parametrize("kw", [{"warped_flow": "recompute"}, {"flow": "dis"},
                                {"median_filter": False, "orb_features": 0}])
def test_alternative_settings_find_the_square(kw):
    out = run(square_frames(), **kw)
    assert len(out["positions"]) > 10
    assert (np.abs(out["positions"][:, 1] - 60) < 28).mean() > 0.9


def test_frame_size_change_is_a_data_error():
    frames = square_frames(4)
    frames[2] = cv2.resize(frames[2], (80, 60))
    with pytest.raises(DataFormatError, match=r"frame 3: expected frames of 160x120 px"):
        run(frames, name="bad.avi")


@pytest.mark.parametrize("cfg", [{}, {"compensate": False}, {"hog": False, "trajectory_length": 8}])
def test_compiled_and_numpy_paths_give_the_same_trajectories(monkeypatch, cfg):
    from adl.features import idt_descriptors
    if idt_descriptors.resolve_backend("auto") != "numba":
        pytest.skip("numba not installed")
    frames = square_frames(pan=1.0)
    monkeypatch.setenv(idt_descriptors.BACKEND_ENV, "opencv")
    slow = run(frames, **cfg)
    monkeypatch.setenv(idt_descriptors.BACKEND_ENV, "numba")
    fast = run(frames, **cfg)
    assert set(fast) == set(slow) and len(fast["positions"]) > 10
    # tracking, sampling and pruning are exact; the tube cells agree to float32 rounding
    np.testing.assert_array_equal(fast["positions"], slow["positions"])
    np.testing.assert_array_equal(fast["traj"], slow["traj"])
    for k in set(fast) - {"positions", "traj"}:
        np.testing.assert_allclose(fast[k].astype(np.float32), slow[k].astype(np.float32),
                                   atol=1e-3)


def test_trajectory_pool_frees_slots_at_once_and_reuses_them():
    from adl.features.trajectory_pool import TrajectoryPool
    pool = TrajectoryPool(length=4, n_t=2, cell_shape=(2, 2, 3), capacity=2)
    start = np.array([[1, 1], [2, 2], [3, 3]], np.float32)
    pool.add(start)                                          # grows past its capacity
    assert len(pool) == 3 and pool.serial[pool.idx].tolist() == [0, 1, 2]
    np.testing.assert_array_equal(pool.current(), start)
    age = pool.age[pool.idx]
    pool.advance(age, start + 0.5, np.full((3, 2), 0.25, np.float32))
    pool.counted(pool.idx[:2], np.array([0, 1]))
    np.testing.assert_array_equal(pool.current(), start + 0.5)
    np.testing.assert_array_equal(pool.positions(age), start)
    assert pool.age[pool.idx].tolist() == [1, 1, 1]
    np.testing.assert_array_equal(pool.disp[pool.idx, 0], np.full((3, 2), 0.25))
    assert pool.count[pool.idx].tolist() == [[1, 0], [0, 1], [0, 0]]
    pool.acc[pool.idx] = 7.0
    # the second point leaves the frame: its slot is free at once (the reference erases
    # it), so its position no longer occupies a sampling cell
    freed = pool.idx[1]
    pool.drop(np.array([True, False, True]))
    assert len(pool) == 2 and freed not in pool.idx
    assert not (pool.current() == [2.5, 2.5]).all(1).any()
    pool.add(np.array([[9, 9]], np.float32))                 # takes the freed slot
    assert pool.idx.tolist() == sorted(pool.idx.tolist()) and freed in pool.idx
    assert pool.serial[freed] == 3 and pool.age[freed] == 0
    assert not pool.acc[freed].any() and not pool.count[freed].any()
    np.testing.assert_array_equal(pool.current()[pool.idx.tolist().index(freed)], [9, 9])


def test_trajectories_are_output_in_end_frame_then_birth_order(square_out):
    t = square_out["positions"][:, 2]
    assert len(t) > 10 and (np.diff(t) >= 0).all()


def _doubled(frames):
    return [cv2.resize(f, (2 * W, 2 * H), interpolation=cv2.INTER_NEAREST) for f in frames]


def test_max_width_processes_the_shrunk_frames_and_reports_original_pixels(square_out):
    # a 2x nearest-neighbour enlargement shrunk back by area is the original frame exactly
    out = run(_doubled(square_frames()), max_width=W)
    assert set(out) == set(square_out)
    for k in ("traj", "hog", "hof", "mbhx", "mbhy"):
        np.testing.assert_array_equal(out[k], square_out[k])
    np.testing.assert_allclose(out["positions"], square_out["positions"] * [2, 2, 1], rtol=1e-6)
    # frames already narrow enough are used as they are
    same = run(square_frames(), max_width=W)
    np.testing.assert_array_equal(same["positions"], square_out["positions"])


def test_max_width_scales_the_person_boxes(monkeypatch):
    """Boxes are given in the original frame's pixels; with ``max_width`` they
    follow the frame into the shrunk pixels before excluding matches."""
    from adl.features import trajectories
    seen = []
    real = trajectories.estimate_homography

    def spy(a, b, **kw):
        seen.append(np.asarray(a))
        return real(a, b, **kw)
    monkeypatch.setattr(trajectories, "estimate_homography", spy)
    box = np.array([[40, 40, 120, 120]], np.float32)          # original (320x240) pixels
    frames = _doubled(square_frames(8, pan=2.0))
    with pytest.warns(NoTrajectoryWarning):            # 8 frames: too short for L = 15
        extract_f2("boxed", F2Config(max_width=W), person_boxes={t: box for t in range(8)},
                   frames=enumerate(frames))
    pts = np.concatenate(seen)
    assert len(pts) > 100
    x, y = pts.T

    def inside(x0, y0, x1, y1):
        return (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
    assert not inside(20, 20, 60, 60).any()           # the box at 160x120
    assert inside(62, 62, 120, 120).sum() > 10        # where the unscaled box would have been


def test_max_width_frame_size_change_names_the_original_size():
    frames = _doubled(square_frames(4))
    frames[2] = cv2.resize(frames[2], (W, H))
    with pytest.raises(DataFormatError, match=r"frame 3: expected frames of 320x240 px"):
        run(frames, name="bad.avi", max_width=W)


# --------------------------------------------------------------------------- sources
def write_avi(path: Path, frames) -> Path:
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (W, H))
    for f in frames:
        vw.write(f)
    vw.release()
    return path


def test_extract_from_a_video_file_and_a_record(tmp_path):
    path = write_avi(tmp_path / "square.avi", square_frames())
    from_path = extract_f2(path)
    rec = VideoRecord(dataset="synthetic", video_id="sq01", label="move", subject="1", rgb=path)
    from_record = extract_f2(rec)
    assert len(from_path["positions"]) > 10
    for k in from_path:
        np.testing.assert_array_equal(from_path[k], from_record[k])
    with pytest.raises(ValueError, match="expected a record with an RGB source"):
        extract_f2(dataclasses.replace(rec, rgb=None))


def skeleton_record(tmp_path):
    path = write_avi(tmp_path / "person.avi", square_frames(3))
    # a standing person 2 m in front of a Kinect v1, drifting right
    joints = np.zeros((3, 20, 3), np.float32)
    joints[:, :, 0] = np.linspace(-0.3, 0.3, 20)[None]
    joints[:, :, 1] = np.linspace(-0.8, 0.6, 20)[None]
    joints[:, :, 2] = 2.0
    joints[:, :, 0] += np.array([0.0, 0.05, 0.1])[:, None]
    joints[1, 5] = np.nan
    skel = SkeletonSequence(joints=joints, frame_ids=np.array([0, 1, 2]))
    return VideoRecord(dataset="synthetic", video_id="p01", label="stand", subject="1", rgb=path,
                       skeleton=path, skeleton_loader=lambda r: skel, layout="kinect_v1_20",
                       camera="kinect_v1")


def test_person_boxes_from_record_project_the_skeleton(tmp_path):
    rec = skeleton_record(tmp_path)
    boxes = person_boxes_from_record(rec, margin=0.0)
    assert sorted(boxes) == [0, 1, 2]
    # kinect_v1 is 640x480; the video is 160x120, so pixels are divided by 4
    x0, y0, x1, y1 = boxes[0][0]
    assert x0 == pytest.approx((525 * -0.3 / 2 + 319.5) / 4, abs=0.01)
    assert x1 == pytest.approx((525 * 0.3 / 2 + 319.5) / 4, abs=0.01)
    assert y0 == pytest.approx((239.5 - 525 * 0.6 / 2) / 4, abs=0.01)
    assert boxes[2][0][0] > boxes[0][0][0]
    wide = person_boxes_from_record(rec, margin=0.1)[0][0]
    assert wide[0] < x0 and wide[2] > x1
    plain = VideoRecord(dataset="synthetic", video_id="p02", label="x", subject="1", rgb=rec.rgb)
    assert person_boxes_from_record(plain) == {}
    with pytest.raises(ValueError, match="expected a camera model"):
        person_boxes_from_record(dataclasses.replace(rec, camera=None))


def test_extract_derives_person_boxes_from_a_record_skeleton(tmp_path, monkeypatch):
    from adl.features import f2
    rec = skeleton_record(tmp_path)
    seen = []
    real = f2.person_boxes_from_record
    monkeypatch.setattr(f2, "person_boxes_from_record",
                        lambda r, **kw: seen.append(r.video_id) or real(r, **kw))
    with pytest.warns(NoTrajectoryWarning):             # 3 frames: too short for a trajectory
        extract_f2(rec)
    assert seen == ["p01"]
    with pytest.warns(UserWarning, match="no person boxes for 'p01'.*expected a camera model"), \
            pytest.warns(NoTrajectoryWarning):
        extract_f2(dataclasses.replace(rec, camera=None))
    seen.clear()
    with pytest.warns(NoTrajectoryWarning):
        extract_f2(rec, person_boxes={})                # an explicit mapping is used as given
    assert seen == []


def test_person_box_excludes_a_large_mover_from_the_homography():
    """An object covering most of the frame drags the homography along if its
    matches are used: its own motion is then "compensated" away.  Excluding its
    box (as the skeleton's person box is) keeps the homography on the background."""
    bg = texture(H, W, seed=0)
    obj = texture(100, 110, seed=1, blur=0.8)
    frames = []
    for t in range(20):
        f = bg.copy()
        f[10:110, 5 + 2 * t:115 + 2 * t] = obj
        frames.append(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
    boxes = {t: np.array([[2 + 2 * t, 7, 118 + 2 * t, 113]], np.float32) for t in range(20)}
    free = extract_f2("free", F2Config(), person_boxes={}, frames=enumerate(frames))
    boxed = extract_f2("boxed", F2Config(), person_boxes=boxes, frames=enumerate(frames))
    assert len(boxed["positions"]) > 2 * len(free["positions"])
    assert (boxed["positions"][:, 1] > 10).mean() > 0.9


def test_save_and_load_roundtrip_in_float16(tmp_path, square_out):
    path = save_f2(tmp_path / "sq.npz", square_out)
    back = load_f2(path)
    assert back["hof"].dtype == np.float16 and back["positions"].dtype == np.float32
    np.testing.assert_allclose(back["hof"].astype(np.float32), square_out["hof"], atol=1e-3)
    np.testing.assert_array_equal(back["positions"], square_out["positions"])


def test_output_blocks_keep_rows_in_order_across_blocks(monkeypatch):
    from adl.features import f2
    monkeypatch.setattr(f2._Output, "BLOCK_BYTES", 1)        # 1024-row blocks
    out = f2._Output(("traj", "hof"), "float16", {"traj": 30, "hof": 108})
    rng = np.random.default_rng(0)
    parts = [{"traj": rng.random((n, 30)), "hof": rng.random((n, 108)),
              "positions": rng.random((n, 3))} for n in (700, 0, 900, 1500)]
    for p in parts:
        out.add(p)
    assert len(out.blocks["hof"]) == 4
    res = out.result()
    for k in ("traj", "hof", "positions"):
        want = np.concatenate([p[k] for p in parts]).astype(res[k].dtype)
        np.testing.assert_array_equal(res[k], want)


def test_mirrored_descriptors_resemble_those_of_the_flipped_video(square_out):
    """mirror_descriptors(F2(video)) ~ F2(flip(video)): per type, the mean
    descriptor of the mirrored set is far closer to the flipped video's than
    the unmirrored one (the pixel grid keeps them from being identical)."""
    from adl.features.idt_descriptors import mirror_descriptors
    flipped = run([np.ascontiguousarray(f[:, ::-1]) for f in square_frames()])
    mirrored = mirror_descriptors(square_out)
    assert abs(len(flipped["traj"]) - len(square_out["traj"])) <= 0.2 * len(square_out["traj"])
    for t in ("traj", "hog", "hof", "mbhx", "mbhy"):
        want = flipped[t].astype(np.float64).mean(0)
        near = np.linalg.norm(mirrored[t].astype(np.float64).mean(0) - want)
        far = np.linalg.norm(square_out[t].astype(np.float64).mean(0) - want)
        assert near < 0.2 * far, (t, near, far)


def test_cli_passes_f2_max_width_to_the_features_stage(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from adl.cli.main import main
    from adl.features import pipeline
    seen = {}

    def fake_run(dataset, root, cache, cfg, **kw):
        seen["cfg"] = cfg
        return pipeline.FeaturesSummary(dataset, 0, [], ["f2"], {}, {}, 0.0, tmp_path / "index.json")
    monkeypatch.setattr(pipeline, "run_features", fake_run)
    base = ["features", "--dataset", "cad120", "--root", str(tmp_path), "--cache",
            str(tmp_path / "c"), "--only", "f2"]
    result = CliRunner().invoke(main, base + ["--f2-max-width", "320"])
    assert result.exit_code == 0, result.output
    assert seen["cfg"].f2.max_width == 320
    assert CliRunner().invoke(main, base).exit_code == 0
    assert seen["cfg"].f2.max_width is None
    bad = CliRunner().invoke(main, base + ["--f2-max-width", "8"])
    assert bad.exit_code != 0 and "--f2-max-width" in bad.output
