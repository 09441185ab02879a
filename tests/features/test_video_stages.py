"""Per-video stages: what the cache stores of one video."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from adl.features.cnn import FrameDescriptors
from adl.features.f1 import F1Config
from adl.features.video_stages import F1VideoComputer, compact_float


def test_compact_float_keeps_float16_only_when_every_value_fits():
    small = np.array([[1.0, -2.5], [65504.0, 0.0]], np.float32)
    assert compact_float(small).dtype == np.float16
    huge = np.array([1.0, 70000.0, -1e6], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # no "overflow encountered in cast"
        out = compact_float(huge)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    np.testing.assert_array_equal(out, huge)
    # inf and NaN that were there stay there, in float16
    odd = np.array([np.inf, np.nan, 3.0], np.float32)
    out = compact_float(odd)
    assert out.dtype == np.float16
    np.testing.assert_array_equal(np.isfinite(out), np.isfinite(odd))


class _LoudExtractor:
    """Frame descriptors beyond float16's range (a random ResNet-152 gives such)."""

    def extract(self, source, boxes, frame_ids):
        n = len(frame_ids)
        feats = np.full((n, 5, 8), 1.0e5, np.float32)
        feats[:, :, 0] = np.arange(n)[:, None]
        return FrameDescriptors(features=feats, frame_indices=np.arange(n, dtype=np.int64))


def test_f1_frames_beyond_float16_are_stored_as_float32(tiny_cad120):
    from adl.data.registry import load_records
    rec = load_records("cad120", tiny_cad120)[0]
    computer = F1VideoComputer(F1Config(weights="random"), rgb_only=True,
                               extractor=_LoudExtractor())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        arrays, _ = computer(rec, None)
    assert arrays["frames"].dtype == np.float32
    assert np.isfinite(arrays["frames"]).all() and arrays["frames"].max() == pytest.approx(1e5)
    assert arrays["pooled"].shape == (5, 32)
