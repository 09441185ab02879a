"""Paths read from dataset files and cache keys never leave their roots
(property-based: arbitrary strings, including '..', absolute paths, NUL,
separators of both kinds and symlinks)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adl.data.errors import AdlError, UnsafePathError
from adl.data.manifest import read_manifest, write_manifest
from adl.features.store import FeatureStore, StageKey

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))

# path-like strings biased towards escapes
_PIECES = st.sampled_from(["..", ".", "", "a", "b.npy", "/", "\\", "..\\", "/etc", "~", "%2e%2e",
                           "\0", "link", "inside", "x" * 300, "\u2024\u2024", "..."])
PATHISH = st.one_of(st.lists(_PIECES, min_size=1, max_size=6).map("/".join),
                    st.lists(_PIECES, min_size=1, max_size=6).map("".join),
                    st.text(max_size=40))


def _inside(path: Path, root: Path) -> bool:
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(root))
        return True
    except ValueError:
        return False


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    base = tmp_path_factory.mktemp("paths")
    root, outside = base / "root", base / "outside"
    (root / "inside").mkdir(parents=True)
    outside.mkdir()
    skel = np.zeros((3, 20, 3), np.float32)
    skel[:, :, 2] = 2.0
    np.save(root / "inside" / "b.npy", skel)
    np.save(outside / "b.npy", skel)
    (root / "link").symlink_to(outside, target_is_directory=True)
    return root


@SETTINGS
@given(cell=PATHISH)
def test_manifest_media_paths_stay_inside_the_media_root(media, cell):
    csv = media / "manifest.csv"
    write_manifest(csv, [{"video_id": "v1", "label": "a", "subject": "1", "skeleton": cell,
                          "layout": "kinect_v1_20"},
                         {"video_id": "v2", "label": "b", "subject": "1",
                          "skeleton": "inside/b.npy", "layout": "kinect_v1_20"}])
    try:
        records = read_manifest(media)
    except UnsafePathError as exc:
        assert "manifest.csv, line 2" in str(exc)
        return
    except AdlError as exc:  # e.g. no such file: named, with its line
        assert "manifest.csv" in str(exc)
        return
    for r in records:
        assert r.skeleton is None or _inside(r.skeleton, media), f"{cell!r} -> {r.skeleton}"


def test_symlinked_folder_pointing_outside_is_refused(media):
    write_manifest(media / "manifest.csv",
                   [{"video_id": "v1", "label": "a", "subject": "1", "skeleton": "link/b.npy",
                     "layout": "kinect_v1_20"}])
    with pytest.raises(UnsafePathError, match="line 2: skeleton path 'link/b.npy' resolves to"):
        read_manifest(media)


@SETTINGS
@given(dataset=PATHISH, stage=PATHISH, item=PATHISH)
def test_cache_keys_stay_inside_the_cache_root(tmp_path_factory, dataset, stage, item):
    root = tmp_path_factory.getbasetemp() / "cache_root"
    try:
        store = FeatureStore(root, dataset)
        key = StageKey(stage, {"a": 1}, "1")
        path = store.entry_path(key, item)
    except UnsafePathError:
        return
    assert _inside(path, root) and _inside(store.stage_dir(key), root), (dataset, stage, item)
    assert path.parent == store.stage_dir(key) and path.name == item + ".npz"


def test_video_ids_from_dataset_files_cannot_escape(tmp_path):
    """A CAD-60 label line naming '../x' as its sequence is refused before any
    path is built from it."""
    from adl.data.cad import read_cad60, write_cad60_labels
    folder = tmp_path / "data1"
    folder.mkdir()
    write_cad60_labels(folder / "activityLabel.txt", [("0510160858", "drinking water")])
    text = (folder / "activityLabel.txt").read_text().replace("0510160858", "../../etc")
    (folder / "activityLabel.txt").write_text(text)
    with pytest.raises(UnsafePathError, match=r"activityLabel\.txt, line 1"):
        read_cad60(tmp_path)
