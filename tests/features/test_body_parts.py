"""Body-part boxes (thesis Eq. 3.1 / 4.3) and their fallback rules."""
import numpy as np
import pytest

from adl.data.geometry import get_camera
from adl.data.layouts import CAD_15
from adl.data.record import SkeletonSequence, VideoRecord
from adl.features.body_parts import (FULL_BODY, FULL_IMAGE, LEFT_HAND, PART_NAMES, RIGHT_HAND,
                                 UPPER_BODY, crop_pixels, joints_2d, part_boxes)

W, H = 320, 240
# CAD_15 joints in pixels: head on top, hips 60 px below the head.
POSE = np.array([
    [160, 60],   # head
    [160, 80],   # neck
    [160, 100],  # torso
    [140, 80], [130, 100],   # shoulder/elbow left
    [180, 80], [190, 100],   # shoulder/elbow right
    [150, 120], [150, 160],  # hip/knee left
    [170, 120], [170, 160],  # hip/knee right
    [120, 115],  # hand left
    [200, 115],  # hand right
    [150, 200], [170, 200],  # feet
], dtype=np.float32)
TRUNK = 60.0  # |head - mean(hips)| in pixels


def video(n=3):
    return np.repeat(POSE[None], n, axis=0).copy()


def test_five_regions_in_order_with_hand_squares_and_margins():
    boxes, valid = part_boxes(video(), CAD_15, (W, H), margin=0.1, hand_size=0.5, return_valid=True)
    assert PART_NAMES == ("left_hand", "right_hand", "upper_body", "full_body", "full_image")
    assert boxes.shape == (3, 5, 4) and boxes.dtype == np.float32
    assert valid.all()
    half = 0.25 * TRUNK
    np.testing.assert_allclose(boxes[0, LEFT_HAND], [120 - half, 115 - half, 120 + half, 115 + half])
    np.testing.assert_allclose(boxes[0, RIGHT_HAND], [200 - half, 115 - half, 200 + half, 115 + half])
    lam = 0.1 * TRUNK
    upper = POSE[list(CAD_15.upper_body)]
    np.testing.assert_allclose(boxes[0, UPPER_BODY], [*(upper.min(0) - lam), *(upper.max(0) + lam)], rtol=1e-6)
    np.testing.assert_allclose(boxes[0, FULL_BODY], [114, 54, 206, 206], rtol=1e-6)
    np.testing.assert_array_equal(boxes[:, FULL_IMAGE], np.tile([0, 0, W, H], (3, 1)))


def test_boxes_scale_with_the_body():
    small = part_boxes(video(1), CAD_15, (W, H))
    big_pose = (POSE - POSE[0]) * 2 + POSE[0]
    big = part_boxes(big_pose[None], CAD_15, (2 * W, 2 * H))
    side = lambda b: b[0, LEFT_HAND, 2] - b[0, LEFT_HAND, 0]
    assert side(big) == pytest.approx(2 * side(small))


def test_boxes_are_clamped_to_the_image():
    pose = video(1)
    pose[0, CAD_15.hand_left] = [5, 5]  # hand square sticks out top-left
    boxes = part_boxes(pose, CAD_15, (W, H))
    assert boxes[0, LEFT_HAND, 0] == 0 and boxes[0, LEFT_HAND, 1] == 0
    assert boxes[0, LEFT_HAND, 2] == pytest.approx(5 + 0.25 * TRUNK)
    assert (boxes[..., 2] <= W).all() and (boxes[..., 3] <= H).all() and (boxes >= 0).all()


def test_missing_joints_take_the_last_valid_box_of_that_region():
    pose = video(4)
    pose[1, CAD_15.hand_left] += 10
    pose[2, CAD_15.hand_left] = np.nan        # hand lost in frame 2 -> frame 1's box
    pose[3, :] = np.nan                       # whole skeleton lost in frame 3
    boxes, valid = part_boxes(pose, CAD_15, (W, H), return_valid=True)
    np.testing.assert_array_equal(boxes[2, LEFT_HAND], boxes[1, LEFT_HAND])
    np.testing.assert_array_equal(boxes[3], boxes[2])
    assert not valid[2, LEFT_HAND] and valid[2, RIGHT_HAND]
    assert not valid[3, :4].any() and valid[3, FULL_IMAGE]


def test_leading_missing_frames_take_the_first_valid_box():
    pose = video(3)
    pose[0, CAD_15.hand_right] = np.nan
    boxes = part_boxes(pose, CAD_15, (W, H))
    np.testing.assert_array_equal(boxes[0, RIGHT_HAND], boxes[1, RIGHT_HAND])


def test_region_never_valid_falls_back_to_the_full_image():
    pose = video(3)
    pose[:, CAD_15.hand_left] = np.nan
    boxes, valid = part_boxes(pose, CAD_15, (W, H), return_valid=True)
    np.testing.assert_array_equal(boxes[:, LEFT_HAND], np.tile([0, 0, W, H], (3, 1)))
    assert not valid[:, LEFT_HAND].any()


def test_crop_entirely_outside_the_image_is_treated_as_missing():
    pose = video(3)
    pose[1, CAD_15.hand_right] = [W + 200, 100]    # projected far right of the frame
    boxes, valid = part_boxes(pose, CAD_15, (W, H), return_valid=True)
    assert not valid[1, RIGHT_HAND]
    np.testing.assert_array_equal(boxes[1, RIGHT_HAND], boxes[0, RIGHT_HAND])
    # a hand that is *always* outside -> the full image, never an empty crop
    pose[:, CAD_15.hand_right] = [-500, -500]
    boxes = part_boxes(pose, CAD_15, (W, H))
    np.testing.assert_array_equal(boxes[:, RIGHT_HAND], np.tile([0, 0, W, H], (3, 1)))


def test_body_boxes_need_half_of_their_joints():
    pose = video(2)
    pose[1, :10] = np.nan     # 5 of 15 joints left for the full body
    _, valid = part_boxes(pose, CAD_15, (W, H), return_valid=True)
    assert not valid[1, FULL_BODY] and not valid[1, UPPER_BODY]
    pose = video(2)
    pose[1, [13, 14]] = np.nan  # feet missing: the full body still has 13 joints
    _, valid = part_boxes(pose, CAD_15, (W, H), return_valid=True)
    assert valid[1, FULL_BODY]


def test_missing_trunk_uses_the_median_scale():
    pose = video(3)
    pose[1, CAD_15.head] = np.nan
    boxes = part_boxes(pose, CAD_15, (W, H))
    np.testing.assert_allclose(boxes[1, LEFT_HAND], boxes[0, LEFT_HAND])


@pytest.mark.parametrize("kwargs, match", [
    (dict(joints2d=np.zeros((3, 14, 2))), r"expected 2D joints of shape \(T, 15, 2\)"),
    (dict(joints2d=np.zeros((3, 15, 3))), r"expected 2D joints of shape"),
    (dict(image_size=(0, 240)), "positive image size"),
    (dict(margin=-1.0), "margin >= 0"),
    (dict(hand_size=0.0), "hand_size > 0"),
    (dict(min_valid_fraction=0.0), "min_valid_fraction"),
])
def test_part_boxes_rejects_bad_input(kwargs, match):
    args = dict(joints2d=video(), image_size=(W, H))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        part_boxes(args.pop("joints2d"), CAD_15, args.pop("image_size"), **args)


def test_part_boxes_rejects_a_malformed_image_size():
    with pytest.raises(TypeError, match=r"image_size as \(width, height\)"):
        part_boxes(video(), CAD_15, 320)


def test_joints_2d_prefers_screen_coordinates_then_projects():
    xyz = np.random.default_rng(0).normal([0, 0, 2.5], 0.2, (4, 15, 3)).astype(np.float32)
    screen = np.ones((4, 15, 2), np.float32)
    assert np.array_equal(joints_2d(SkeletonSequence(xyz, np.arange(4), screen)), screen)
    projected = joints_2d(SkeletonSequence(xyz, np.arange(4)), camera="cad60")
    np.testing.assert_allclose(projected, get_camera("cad60").project(xyz))
    record = VideoRecord("cad60", "v", "a", "1", camera="cad60", layout="cad_15",
                         skeleton_loader=lambda r: SkeletonSequence(xyz, np.arange(4)))
    np.testing.assert_allclose(joints_2d(record), projected)


def test_joints_2d_needs_a_camera_or_screen_coordinates():
    with pytest.raises(ValueError, match="no camera model"):
        joints_2d(SkeletonSequence(np.zeros((2, 15, 3), np.float32), np.arange(2)))
    with pytest.raises(TypeError, match="VideoRecord or a SkeletonSequence"):
        joints_2d(np.zeros((2, 15, 3)))


def test_crop_pixels_rounds_outwards_and_falls_back_to_the_whole_frame():
    assert crop_pixels(np.array([10.2, 20.7, 30.1, 40.9]), (240, 320, 3)) == (10, 20, 31, 41)
    assert crop_pixels(np.array([400, 10, 500, 50.0]), (240, 320, 3)) == (0, 0, 320, 240)
