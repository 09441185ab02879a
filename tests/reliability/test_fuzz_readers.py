"""Property-based tests of every reader over mutated files.

Each valid synthetic file (written by the project's own generators in the
datasets' native formats) is mutated by hypothesis -- truncations, byte
flips, extra / missing columns, huge numbers, NaN / inf, negative counts,
non-UTF-8 bytes, duplicated / deleted lines, tampered .npy headers -- and
read back.  The only allowed outcomes are a valid parse or the project's own
error (:class:`data.errors.AdlError`) naming the file; any other exception,
a case over its time budget (hypothesis ``deadline``) or over its memory
budget (``tracemalloc`` peak) fails the test.

The number of cases tried is printed (``pytest -s``) and asserted.
"""
from __future__ import annotations

import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adl.data.cad import parse_cad_skeleton, read_cad60, read_cad120
from adl.data.convert import read_utkinect_joints, read_utkinect_labels
from adl.data.errors import AdlError
from adl.data.manifest import load_npy_skeleton, read_manifest
from adl.data.msr_daily import parse_msr_skeleton
from adl.data.record import SkeletonSequence
from adl.data.synth import generate

pytestmark = pytest.mark.slow

CASES_PER_READER = 120
MEMORY_LIMIT = 64 * 2 ** 20      # bytes a parse of these tiny files may allocate at peak
DEADLINE_MS = 3000               # per case

_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_SPECIAL = [b"nan", b"NaN", b"inf", b"-inf", b"1e308", b"-1e308", b"99999999999999999999999999",
            b"1000000000", b"-1", b"-7", b"0", b"1e-320", b"0x1F", b"", b"\xff\xfe", b"1,5"]
TEXT_MUTATIONS = ("truncate", "flip", "extra_column", "missing_column", "number", "non_utf8",
                  "duplicate_line", "delete_line", "insert_blank", "swap_lines")
NPY_MUTATIONS = ("truncate", "flip", "shape_claim", "dtype_claim")

CASES: dict = {}


def _flip(data: bytes, draw) -> bytes:
    """One byte XOR-ed with a non-zero mask."""
    if not data:
        return data
    pos = draw(st.integers(0, len(data) - 1))
    return data[:pos] + bytes([data[pos] ^ draw(st.integers(1, 255))]) + data[pos + 1:]


def _mutate_text(data: bytes, draw) -> bytes:
    kind = draw(st.sampled_from(TEXT_MUTATIONS))
    lines = data.split(b"\n")
    i = draw(st.integers(0, max(0, len(lines) - 1)))
    line = lines[i]
    sep = b"," if b"," in line else b" "
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    if kind == "flip":
        return _flip(data, draw)
    if kind == "extra_column":
        lines[i] = line + sep + draw(st.sampled_from(_SPECIAL + [b"3.5"]))
    elif kind == "missing_column":
        fields = line.split(sep)
        if fields:
            del fields[draw(st.integers(0, len(fields) - 1))]
        lines[i] = sep.join(fields)
    elif kind == "number":
        numbers = list(_NUMBER.finditer(data))
        if not numbers:
            return data
        m = numbers[draw(st.integers(0, len(numbers) - 1))]
        return data[: m.start()] + draw(st.sampled_from(_SPECIAL)) + data[m.end():]
    elif kind == "non_utf8":
        pos = draw(st.integers(0, len(line)))
        lines[i] = line[:pos] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\x80\x80", b"\x00"])) \
            + line[pos:]
    elif kind == "duplicate_line":
        lines.insert(i, line)
    elif kind == "delete_line":
        del lines[i]
    elif kind == "insert_blank":
        lines.insert(i, draw(st.sampled_from([b"", b"   ", b"\t", b"END", b"#"])))
    elif kind == "swap_lines":
        j = draw(st.integers(0, max(0, len(lines) - 1)))
        lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


def _mutate_npy(data: bytes, draw) -> bytes:
    kind = draw(st.sampled_from(NPY_MUTATIONS))
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    if kind == "flip":
        return _flip(data, draw)
    if b"\n" not in data:
        return data
    header_end = data.index(b"\n") + 1
    header = data[:header_end]
    if kind == "shape_claim":
        shape = draw(st.sampled_from([b"(1000000000, 20, 3)", b"(-5, 20, 3)", b"(0, 20, 3)",
                                      b"(4, 20)", b"(4, 20, 3, 2)", b"(4, 1000000000, 3)",
                                      b"(99999999999999999999, 3)"]))
        new = re.sub(rb"\([0-9, ]*\)", shape, header, count=1)
    else:
        dtype = draw(st.sampled_from([b"'<f8'", b"'|O'", b"'<U3'", b"'>i2'", b"'|b1'", b"'<c16'"]))
        new = re.sub(rb"'[<>|][a-zA-Z]\d*'", dtype, header, count=1)
    # keep the header length a multiple of 16 as numpy writes it (or not: both are tried)
    return new + data[header_end:]


def _check_outcome(path: Path, call, check_value) -> None:
    tracemalloc.start()
    try:
        value = call()
    except AdlError as exc:
        assert path.name in str(exc) or str(path.parent.name) in str(exc), \
            f"error does not name the file {path.name}: {exc}"
        return
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < MEMORY_LIMIT, f"parsing {path.name} allocated {peak / 2**20:.0f} MiB"
    check_value(value)


def _valid_sequence(seq) -> None:
    assert isinstance(seq, SkeletonSequence)
    assert seq.joints.ndim == 3 and seq.joints.shape[0] >= 1 and seq.joints.shape[2] == 3
    assert not np.any(np.isinf(seq.joints))


def _valid_records(records) -> None:
    assert isinstance(records, list)
    for r in records:
        assert r.video_id and r.label and r.subject


def _fuzz(name: str, target: Path, call, check_value, mutate=_mutate_text):
    original = target.read_bytes()

    @settings(max_examples=CASES_PER_READER, deadline=DEADLINE_MS, derandomize=True,
              database=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data):
        mutated = original
        for _ in range(data.draw(st.integers(1, 3))):
            mutated = mutate(mutated, data.draw)
        target.write_bytes(mutated)
        try:
            _check_outcome(target, call, check_value)
        finally:
            target.write_bytes(original)
        CASES[name] = CASES.get(name, 0) + 1

    run()
    print(f"{name}: {CASES[name]} mutated cases")
    assert CASES[name] >= CASES_PER_READER // 2


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    out = {}
    for ds in ("cad60", "cad120", "msr_daily", "manifest"):
        root = tmp_path_factory.mktemp(ds)
        generate(ds, root, seed=0, subjects=2, frames=4, image_size=(32, 24))
        out[ds] = root
    return out


def _first(root: Path, pattern: str) -> Path:
    return sorted(root.glob(pattern))[0]


def test_fuzz_cad_skeleton(roots):
    path = _first(roots["cad60"], "data1/05*.txt")
    _fuzz("CAD skeleton", path, lambda: parse_cad_skeleton(path), _valid_sequence)


def test_fuzz_cad60_labels(roots):
    root = roots["cad60"]
    path = root / "data1" / "activityLabel.txt"
    _fuzz("CAD-60 activityLabel.txt", path, lambda: read_cad60(root), _valid_records)


def test_fuzz_cad120_labels(roots):
    root = roots["cad120"]
    path = _first(root, "Subject*_annotations/having_meal/activityLabel.txt")
    _fuzz("CAD-120 activityLabel.txt", path, lambda: read_cad120(root), _valid_records)


def test_fuzz_cad120_labeling(roots):
    root = roots["cad120"]
    path = _first(root, "Subject*_annotations/having_meal/labeling.txt")
    _fuzz("CAD-120 labeling.txt", path, lambda: read_cad120(root), _valid_records)


def test_fuzz_msr_skeleton(roots):
    path = _first(roots["msr_daily"], "*_skeleton.txt")
    _fuzz("MSR skeleton", path, lambda: parse_msr_skeleton(path), _valid_sequence)


def test_fuzz_manifest_csv(roots):
    root = roots["manifest"]
    path = root / "manifest.csv"
    _fuzz("manifest.csv", path, lambda: read_manifest(root), _valid_records)


def test_fuzz_manifest_npy(roots):
    root = roots["manifest"]
    record = read_manifest(root)[0]
    path = Path(record.skeleton)
    _fuzz("manifest skeleton .npy", path, lambda: load_npy_skeleton(record), _valid_sequence,
          mutate=_mutate_npy)


def _utk_joints(path: Path) -> Path:
    rng = np.random.default_rng(0)
    with open(path, "w") as fh:
        for fid in (10, 12, 12, 14, 16):
            fh.write(f"{fid}   " + "  ".join(f"{v:.6f}" for v in rng.normal(size=60)) + "  \n")
    return path


def test_fuzz_utkinect_joints(tmp_path):
    path = _utk_joints(tmp_path / "joints_s01_e01.txt")

    def check(value):
        ids, joints, duplicates = value
        assert joints.ndim == 3 and joints.shape[1:] == (20, 3) and len(ids) == len(joints)
        assert not np.any(np.isinf(joints)) and np.all(ids >= 0)

    _fuzz("UTKinect joints", path, lambda: read_utkinect_joints(path), check)


def test_fuzz_utkinect_labels(tmp_path):
    path = tmp_path / "actionLabel.txt"
    path.write_text("s01_e01\nwalk: 10 14\nsitDown: 20 30 \ncarry:  NaN NaN\ns02_e01\n"
                    "walk: 5 6\npickUp: 100 200\n")
    _fuzz("UTKinect actionLabel.txt", path, lambda: read_utkinect_labels(path),
          lambda value: isinstance(value, dict))


def test_zz_report_case_count():
    total = sum(CASES.values())
    print(f"hostile-input cases tried: {total} over {len(CASES)} readers: {CASES}")
    assert len(CASES) == 9 and total >= 9 * CASES_PER_READER // 2
