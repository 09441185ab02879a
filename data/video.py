"""Frame access for RGB sources: a video file or a folder of numbered frames.

Frames are read lazily, one at a time (no whole-video arrays), as BGR uint8
``(H, W, 3)`` arrays as OpenCV returns them.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

import numpy as np

from .errors import DataFormatError

VIDEO_SUFFIXES = {".avi", ".mp4", ".mkv", ".mov", ".mpg", ".mpeg", ".webm", ".m4v"}
_INT = re.compile(r"(\d+)(?!.*\d)")
#: ``frame_<f>...``: N-UCLA's ``frame_<f>_tc_<timecode>_rgb.jpg`` ends with a time code.
_FRAME_TOKEN = re.compile(r"(?:^|_)frame_(\d+)(?=_|$)", re.IGNORECASE)


def _cv2():
    import cv2  # imported lazily: keeps `adl --help` fast
    return cv2


def frame_number(path: Path) -> int:
    """The frame number in a frame file name: the integer after ``frame_``
    when the name has one (N-UCLA's ``frame_12_tc_4711_rgb.jpg`` -> 12, not its
    time code), else the last integer (``RGB_12.png`` -> 12)."""
    m = _FRAME_TOKEN.search(path.stem) or _INT.search(path.stem)
    if m is None:
        raise DataFormatError(path, "a frame file name containing its frame number", repr(path.name))
    return int(m.group(1))


def list_frames(folder: Path, pattern: str = "*.png", *, check_gaps: bool = True) -> List[Path]:
    """Frame files of ``folder`` matching ``pattern``, ordered by frame number.

    Raises
    ------
    DataFormatError
        If the folder has no frame, or (with ``check_gaps``) the numbering has
        a gap (the first missing number is named).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFormatError(folder, "a folder of frames", "no such folder")
    files = sorted(folder.glob(pattern), key=frame_number)
    if not files:
        raise DataFormatError(folder, f"frame files matching {pattern!r}", "none (zero frames)")
    if check_gaps:
        nums = [frame_number(f) for f in files]
        for prev, cur in zip(nums, nums[1:]):
            if cur != prev + 1:
                raise DataFormatError(folder, f"consecutive frame numbers ({pattern})",
                                      f"a gap: frame {prev + 1} missing after {prev}", frame=prev + 1)
    return files


class FrameSource:
    """Sequential frame reader over a video file or a frame folder.

    Parameters
    ----------
    path : Path
        Video file or folder of frames.
    pattern : str
        Glob of frames when ``path`` is a folder.
    """

    def __init__(self, path, pattern: Optional[str] = None):
        self.path = Path(path)
        self.pattern = pattern or "*.png"
        self._files: Optional[List[Path]] = None
        if self.path.is_dir():
            self._files = list_frames(self.path, self.pattern)
        elif not self.path.is_file():
            raise DataFormatError(self.path, "an RGB video file or frame folder", "nothing at that path")

    @property
    def is_folder(self) -> bool:
        return self._files is not None

    def __len__(self) -> int:
        """Number of frames (from the container header for videos; decoded count may differ)."""
        if self._files is not None:
            return len(self._files)
        cv2 = _cv2()
        cap = cv2.VideoCapture(str(self.path))
        try:
            if not cap.isOpened():
                raise DataFormatError(self.path, "a video readable by OpenCV", "a file OpenCV cannot open")
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        finally:
            cap.release()
        if n <= 0:
            n = sum(1 for _ in self.frames())
        if n == 0:
            raise DataFormatError(self.path, "at least one frame", "zero frames")
        return n

    def frames(self, stride: int = 1, indices: Optional[Sequence[int]] = None) -> Iterator[tuple]:
        """Yield ``(index, frame)`` pairs, index 0-based, frames BGR uint8.

        ``stride`` keeps every ``stride``-th frame; ``indices`` (sorted) keeps
        only those frames.
        """
        cv2 = _cv2()
        wanted = None if indices is None else set(int(i) for i in indices)
        if self._files is not None:
            for i, f in enumerate(self._files):
                if (wanted is not None and i not in wanted) or (wanted is None and i % stride):
                    continue
                img = cv2.imread(str(f), cv2.IMREAD_COLOR)
                if img is None:
                    raise DataFormatError(f, "a readable image", "an undecodable file", frame=i + 1)
                yield i, img
            return
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise DataFormatError(self.path, "a video readable by OpenCV", "a file OpenCV cannot open")
        try:
            i = 0
            last = max(wanted) if wanted else None
            while True:
                keep = (i in wanted) if wanted is not None else (i % stride == 0)
                ok = cap.grab()
                if not ok:
                    break
                if keep:
                    ok, img = cap.retrieve()
                    if not ok or img is None:
                        raise DataFormatError(self.path, "a decodable frame", "a decoding failure",
                                              frame=i + 1)
                    yield i, img
                i += 1
                if last is not None and i > last:
                    break
            if i == 0:
                raise DataFormatError(self.path, "at least one decodable frame", "zero frames")
        finally:
            cap.release()

    def frame_size(self) -> tuple:
        """(width, height) of the first frame."""
        for _, img in self.frames(indices=[0]):
            return img.shape[1], img.shape[0]
        raise DataFormatError(self.path, "at least one frame", "zero frames")
