from pathlib import Path

import cv2
import numpy as np
import pytest

from adl.data.errors import DataFormatError
from adl.data.video import FrameSource, list_frames


def _write_frames(folder, numbers, size=(32, 24)):
    folder.mkdir(parents=True, exist_ok=True)
    for n in numbers:
        img = np.full((size[1], size[0], 3), n * 10 % 255, np.uint8)
        cv2.imwrite(str(folder / f"RGB_{n}.png"), img)


def test_frame_folder_in_numeric_order(tmp_path):
    _write_frames(tmp_path / "v", [1, 2, 3, 10, 4, 5, 6, 7, 8, 9, 11])
    src = FrameSource(tmp_path / "v", "RGB_*.png")
    assert len(src) == 11
    vals = [int(img[0, 0, 0]) for _, img in src.frames()]
    assert vals == [n * 10 for n in range(1, 12)]
    assert [i for i, _ in src.frames(stride=3)] == [0, 3, 6, 9]


def test_frame_folder_with_gap(tmp_path):
    _write_frames(tmp_path / "v", [1, 2, 4])
    with pytest.raises(DataFormatError, match=r"frame 3: expected consecutive frame numbers .* a gap: frame 3 missing after 2"):
        list_frames(tmp_path / "v", "RGB_*.png")


def test_zero_frames(tmp_path):
    (tmp_path / "v").mkdir()
    with pytest.raises(DataFormatError, match=r"v: expected frame files matching 'RGB_\*.png', found none \(zero frames\)"):
        FrameSource(tmp_path / "v", "RGB_*.png")


def test_video_file_and_unreadable_video(tmp_path):
    path = tmp_path / "a.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(7):
        w.write(np.full((48, 64, 3), i * 30, np.uint8))
    w.release()
    src = FrameSource(path)
    assert len(src) == 7
    assert [i for i, _ in src.frames(indices=[1, 5])] == [1, 5]
    assert src.frame_size() == (64, 48)
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"not a video at all" * 10)
    with pytest.raises(DataFormatError, match=r"bad.avi: expected a video readable by OpenCV, found a file OpenCV cannot open"):
        len(FrameSource(bad))
    with pytest.raises(DataFormatError, match="nothing at that path"):
        FrameSource(tmp_path / "missing.avi")


@pytest.mark.parametrize("name, number", [
    ("RGB_12.png", 12), ("img_0007.jpg", 7), ("frame_12_tc_4711_rgb.jpg", 12),
    ("FRAME_3_tc_99_rgb.jpg", 3), ("cam1_frame_0012.png", 12), ("keyframe_5_7.png", 7)])
def test_frame_number_of_each_naming(name, number):
    from adl.data.video import frame_number
    assert frame_number(Path(name)) == number
