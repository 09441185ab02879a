"""Manifest conversion of real public recordings (../shared/data/real).

Skipped, with the reason, when the folder is absent; ``ADL_REAL_DATA``
points elsewhere.  Conversions are written to ``tmp_path``: the research-only
data are never copied into the repository.
"""
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from adl.data.convert import biisc_to_manifest, count_rgb_frames, utkinect_to_manifest
from adl.data.manifest import read_manifest

pytestmark = pytest.mark.realdata

REAL = Path(os.environ.get("ADL_REAL_DATA")
            or Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real")


def _require(sub, probe):
    folder = REAL / sub
    if not (folder / probe).exists():
        pytest.skip(f"real data absent: {folder / probe} not found "
                    f"(set ADL_REAL_DATA to the folder holding utkinect/ and biisc/)")
    return folder


def test_utkinect_to_manifest(tmp_path):
    src = _require("utkinect", "actionLabel.txt")
    s = utkinect_to_manifest(src, tmp_path / "utk")
    assert s.n_records == 199
    assert s.classes == ("carry", "clapHands", "pickUp", "pull", "push", "sitDown", "standUp",
                         "throw", "walk", "waveHands")
    assert s.subjects == tuple(str(i) for i in range(1, 11))
    assert len(s.skipped) == 1 and s.skipped[0][0] == "s10_e02_carry"
    assert "NaN NaN" in s.skipped[0][1]
    assert s.n_duplicate_frames == 542  # of 15 860 rows in the 20 files

    recs = read_manifest(tmp_path / "utk")
    assert len(recs) == 199
    per_class = Counter(r.label for r in recs)
    assert per_class["carry"] == 19 and set(per_class.values()) == {19, 20}
    lengths = []
    for r in recs:
        j = r.load_skeleton().joints
        assert j.shape[1:] == (20, 3) and j.shape[0] > 0 and j.dtype == np.float32
        # metres, camera coordinates: the subject stands 1-5 m in front of the sensor
        assert 0.5 < np.nanmedian(j[..., 2]) < 5.0
        lengths.append(j.shape[0])
    assert (min(lengths), max(lengths), sum(lengths)) == (5, 170, 6053)


def test_utkinect_modified_labels(tmp_path):
    src = _require("utkinect", "actionLabel_modified.txt")
    s = utkinect_to_manifest(src, tmp_path / "utk", labels_file="actionLabel_modified.txt")
    assert s.n_records == 199 and [k for k, _ in s.skipped] == ["s10_e02_carry"]


def test_biisc_to_manifest_and_frame_counts(tmp_path):
    src = _require("biisc", "S001_M_CALL_STD_FCE.avi")
    s = biisc_to_manifest(src, tmp_path / "biisc")
    assert (s.n_records, len(s.classes), s.subjects, s.skipped) == (192, 8, ("S001", "S002"), ())
    recs = read_manifest(tmp_path / "biisc", media_root=s.media_root)
    assert len(recs) == 192
    assert Counter(r.label for r in recs) == {a: 24 for a in s.classes}
    assert Counter(r.view for r in recs) == {"FCE": 64, "LFT": 64, "RGT": 64}
    assert sum(r.video_id.endswith("_HF") for r in recs) == 96
    counts = count_rgb_frames(recs)
    assert sorted(counts) == sorted(r.video_id for r in recs)
    n = np.array(list(counts.values()))
    print(f"BIISC frames per video: min {n.min()}, max {n.max()}, total {n.sum()}")
    assert n.min() > 0
    assert (n.min(), n.max(), n.sum()) == (31, 101, 12562)
    # header counts are what decoding gives (checked on a sample: decoding is the slow part)
    sample = recs[::24]
    assert count_rgb_frames(sample, decode=True) == {r.video_id: counts[r.video_id] for r in sample}
