"""`make demo` is deterministic: the same seed gives the same report.json,
a different seed a different one (the demo at a reduced size, same code path)."""
import json

from adl.cli.demo import run_demo

SMALL = dict(subjects=3, videos_per_class=1, frames=20, image_size=(160, 120),
             classes=["having_meal", "taking_medicine", "stacking_objects", "unstacking_objects"])


def _report(out):
    data = json.loads((out / "report.json").read_text())
    data.pop("seconds")  # wall time: the one field that may differ
    return data


def test_same_seed_same_report_different_seed_different_report(tmp_path):
    logs = []
    run_demo(tmp_path / "a", seed=0, log=logs.append, **SMALL)
    run_demo(tmp_path / "b", seed=0, log=logs.append, **SMALL)
    run_demo(tmp_path / "c", seed=1, log=logs.append, **SMALL)
    a, b, c = (_report(tmp_path / k) for k in "abc")
    assert a == b
    assert (tmp_path / "a" / "details.json").read_bytes() == (tmp_path / "b" / "details.json").read_bytes()
    assert a != c
    assert a["dataset"] == "cad120" and len(a["folds"]) == 3
