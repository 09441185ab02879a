"""The code base's one atomic write (adl.data.atomic)."""
from __future__ import annotations

import joblib
import pytest

from adl.data.atomic import atomic_write, atomic_write_joblib, atomic_write_text
from adl.data.errors import StoreError


def test_text_and_joblib_round_trip(tmp_path):
    atomic_write_text(tmp_path / "a.json", "{\"é\": 1}")
    assert (tmp_path / "a.json").read_text(encoding="utf-8") == "{\"é\": 1}"
    atomic_write_joblib(tmp_path / "m.joblib", {"x": [1, 2]})
    assert joblib.load(tmp_path / "m.joblib") == {"x": [1, 2]}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_failed_write_names_the_path_and_leaves_nothing(tmp_path):
    target = tmp_path / "missing-folder" / "x.bin"
    with pytest.raises(StoreError, match=r"could not write .*missing-folder/x\.bin: No such file"):
        atomic_write_text(target, "x")

    class MyError(Exception):
        pass

    with pytest.raises(MyError, match="x.bin"):
        atomic_write_text(target, "x", error=lambda path, exc: MyError(str(path)))

    def failing(fh):
        fh.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(StoreError, match=r"could not write .*y\.bin: No space left on device"):
        atomic_write(tmp_path / "y.bin", failing)
    assert list(tmp_path.iterdir()) == []
