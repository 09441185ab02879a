"""Clip sampling and the per-clip person crop (thesis 4.6.1, Eq. 4.3) on
hand-made frame counts and joints."""
from __future__ import annotations

import numpy as np
import pytest

from adl.data.layouts import get_layout
from adl.deep.clips import (PART_STREAMS, clip_indices, clip_span, eval_clip_indices,
                            eval_clip_starts, full_image_box, part_clip_boxes, person_box,
                            resample_steps, segment_bounds, segment_clip_indices, square_box,
                            train_clip_indices)

LAYOUT = get_layout("kinect_v2_25")


def standing_person(cx: float, cy: float, height: float = 100.0) -> np.ndarray:
    """(25, 2) joints of a person: every joint on a vertical line through
    ``cx`` from ``cy - height/2`` (head) to ``cy + height/2`` (feet), hands
    at ``cx -+ 20`` px at mid height."""
    j = np.zeros((LAYOUT.n_joints, 2))
    j[:, 0] = cx
    j[:, 1] = np.linspace(cy - height / 2, cy + height / 2, LAYOUT.n_joints)
    j[LAYOUT.head, 1] = cy - height / 2          # trunk (head to hip centre): height / 2
    j[LAYOUT.hip_center, 1] = cy
    j[LAYOUT.hand_left] = (cx - 20, cy)
    j[LAYOUT.hand_right] = (cx + 20, cy)
    return j


# -- frames --------------------------------------------------------------------------

def test_a_clip_takes_every_stride_th_frame_and_loops_past_the_end():
    assert clip_span(64, 2) == 128
    np.testing.assert_array_equal(clip_indices(100, 0, 4, 2), [0, 2, 4, 6])
    np.testing.assert_array_equal(clip_indices(10, 6, 4, 2), [6, 8, 0, 2])
    np.testing.assert_array_equal(clip_indices(3, 0, 5, 2), [0, 2, 1, 0, 2])


@pytest.mark.parametrize("bad, match", [
    (dict(n_frames=0), r"expected n_frames to be an integer >= 1, got 0"),
    (dict(start=10), r"expected start in 0\.\.9, got 10"),
    (dict(stride=0), r"expected stride to be an integer >= 1, got 0"),
    (dict(clip_frames=2.5), r"expected clip_frames to be an integer >= 1, got 2\.5"),
])
def test_clip_arguments_out_of_range_are_refused(bad, match):
    args = dict(n_frames=10, start=0, clip_frames=4, stride=2, **{})
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        clip_indices(**args)


def test_training_clips_start_in_the_first_half():
    rng = np.random.default_rng(0)
    starts = {int(train_clip_indices(101, rng, 4, 2)[0]) for _ in range(2000)}
    assert starts == set(range(51))      # 0 .. ceil(101 / 2) - 1, every one reached
    assert int(train_clip_indices(1, rng, 3, 2)[0]) == 0


def test_test_time_clips_are_every_stack_and_short_videos_loop():
    # span 8: 20 frames = 2 stacks + 4 (half a span: one more, looped)
    np.testing.assert_array_equal(eval_clip_starts(20, 4, 2), [0, 8, 16])
    # 19 frames = 2 stacks + 3 (less than half a span: left out)
    np.testing.assert_array_equal(eval_clip_starts(19, 4, 2), [0, 8])
    np.testing.assert_array_equal(eval_clip_starts(3, 4, 2), [0])
    clips = eval_clip_indices(20, 4, 2)
    assert clips.shape == (3, 4)
    np.testing.assert_array_equal(clips[2], [16, 18, 0, 2])
    np.testing.assert_array_equal(eval_clip_indices(3, 4, 2), [[0, 2, 1, 0]])
    assert eval_clip_starts(64 * 2 * 3).tolist() == [0, 128, 256]   # thesis: 64 frames, stride 2


def test_segments_cut_the_video_equally_and_their_clips_stay_inside():
    np.testing.assert_array_equal(segment_bounds(10, 3), [[0, 3], [3, 6], [6, 10]])
    np.testing.assert_array_equal(segment_bounds(2, 3), [[0, 1], [0, 1], [1, 2]])
    with pytest.raises(ValueError, match=r"expected granularity to be an integer >= 1, got 0"):
        segment_bounds(10, 0)
    # long segments: a centred clip; short ones loop inside the segment
    long = segment_clip_indices(40, 2, 4, 2)                  # segments of 20, span 8
    np.testing.assert_array_equal(long, [[6, 8, 10, 12], [26, 28, 30, 32]])
    short = segment_clip_indices(10, 2, 4, 2)                 # segments of 5
    np.testing.assert_array_equal(short, [[0, 2, 4, 1], [5, 7, 9, 6]])
    for g in (1, 2, 3, 4):
        idx = segment_clip_indices(37, g, 8, 2)
        for (lo, hi), row in zip(segment_bounds(37, g), idx):
            assert ((row >= lo) & (row < hi)).all()


def test_tp_poses_are_spread_over_the_clip_first_and_last_included():
    np.testing.assert_array_equal(resample_steps(np.arange(0, 128, 2), 5), [0, 32, 64, 94, 126])
    np.testing.assert_array_equal(resample_steps(np.array([4, 6]), 3), [4, 4, 6])
    with pytest.raises(ValueError, match=r"expected a non-empty 1-D array of frame indices, "
                                         r"got shape \(0,\)"):
        resample_steps(np.array([], np.int64), 3)


# -- crops ---------------------------------------------------------------------------

def test_square_box_keeps_the_centre_and_stays_in_the_image():
    np.testing.assert_allclose(square_box([40, 20, 60, 80], (200, 100)), [20, 20, 80, 80])
    # pushed inside at the border
    np.testing.assert_allclose(square_box([0, 0, 10, 50], (200, 100)), [0, 0, 50, 50])
    # larger than the image: the short side
    np.testing.assert_allclose(square_box([0, 0, 200, 100], (200, 100)), [50, 0, 150, 100])
    with pytest.raises(ValueError, match=r"expected a finite box \(x0, y0, x1, y1\) with "
                                         r"x1 > x0 and y1 > y0"):
        square_box([5, 5, 5, 9], (200, 100))
    with pytest.raises(ValueError, match=r"expected a positive image size"):
        full_image_box((0, 10))


def test_the_person_box_holds_every_person_of_every_frame_of_the_clip():
    """Two persons, the second walking right: the box is the union over the
    clip's frames of both, plus the margin, made square; frames outside the
    clip do not count."""
    frames = 6
    joints = np.full((frames, 2, LAYOUT.n_joints, 2), np.nan)
    for t in range(frames):
        joints[t, 0] = standing_person(100, 200)
        joints[t, 1] = standing_person(200 + 20 * t, 200)
    size = (640, 480)
    box, observed = person_box(joints, LAYOUT, size, [0, 1, 2], margin=0.0)
    assert observed
    # x: 100 - 20 (left hand) .. 240 + 20 (right hand of the 2nd at t=2), y 150 .. 250:
    # 180 x 100, squared about its centre (170, 200)
    np.testing.assert_allclose(box, [80, 110, 260, 290], atol=1e-4)
    wider, _ = person_box(joints, LAYOUT, size, [0, 1, 2, 3, 4, 5], margin=0.0)
    assert wider[2] - wider[0] > box[2] - box[0]
    # the margin: lambda = margin * trunk (50 px) on each side before squaring
    with_margin, _ = person_box(joints, LAYOUT, size, [0, 1, 2], margin=0.2)
    np.testing.assert_allclose(with_margin[2] - with_margin[0], 180 + 2 * 10, atol=1e-4)


def test_the_box_is_fixed_per_clip_whatever_the_frame_order():
    joints = np.stack([standing_person(100 + 10 * t, 200) for t in range(8)])[:, None]
    a, _ = person_box(joints, LAYOUT, (640, 480), [0, 2, 4, 6])
    b, _ = person_box(joints, LAYOUT, (640, 480), [6, 4, 2, 0, 0])
    np.testing.assert_array_equal(a, b)


def test_hand_streams_follow_the_first_person_and_the_full_body_takes_all():
    joints = np.stack([standing_person(100, 200), standing_person(400, 200)])[None]  # (1, 2, J, 2)
    boxes, observed = part_clip_boxes(joints, LAYOUT, (640, 480), [0])
    assert PART_STREAMS == ("left_hand", "right_hand", "full_body")
    assert observed.all()
    left, right, body = boxes
    assert left[0] < 80 < left[2] and right[0] < 120 < right[2]       # the first person's hands
    assert body[0] <= 80 and body[2] >= 420                          # both persons
    for b in boxes:
        np.testing.assert_allclose(b[2] - b[0], b[3] - b[1], atol=1e-4)   # square


def test_no_skeleton_or_no_visible_joint_falls_back_to_the_full_image():
    boxes, observed = part_clip_boxes(None, None, (320, 240), [0, 1])
    np.testing.assert_array_equal(boxes, np.tile([0, 0, 320, 240], (3, 1)))
    assert not observed.any()
    empty = np.full((4, 1, LAYOUT.n_joints, 2), np.nan)
    box, seen = person_box(empty, LAYOUT, (320, 240), [0, 1, 2, 3])
    np.testing.assert_array_equal(box, [0, 0, 320, 240])
    assert not seen
    # an index beyond the skeleton's last frame reads its last frame
    joints = np.stack([standing_person(100, 120)] * 2)[:, None]
    box, seen = person_box(joints, LAYOUT, (320, 240), [5])
    assert seen and box[0] < 80


@pytest.mark.parametrize("joints, layout, frames, match", [
    (np.zeros((2, 1, 25, 2)), None, [0], r"expected the joint layout of the 2D joints, got None"),
    (np.zeros((2, 1, 25, 2)), LAYOUT, [], r"expected a non-empty 1-D array of frame indices"),
    (np.zeros((2, 25, 2)), LAYOUT, [0], r"expected 2D joints of shape \(T, persons, J, 2\)"),
    (np.zeros((2, 1, 20, 2)), LAYOUT, [0],
     r"expected 2D joints of shape \(T, persons, 25, 2\) for layout kinect_v2_25"),
])
def test_malformed_joints_are_refused(joints, layout, frames, match):
    with pytest.raises(ValueError, match=match):
        part_clip_boxes(joints, layout, (320, 240), frames)
