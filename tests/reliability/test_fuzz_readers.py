"""Property-based tests of every reader over mutated files.

Each valid synthetic file (written by the project's own generators in the
datasets' native formats) is mutated by hypothesis -- truncations, byte
flips, extra / missing columns, huge numbers, NaN / inf, negative counts,
non-UTF-8 bytes, duplicated / deleted lines, tampered .npy headers -- and
read back.  The only allowed outcomes are a valid parse or the project's own
error (:class:`data.errors.AdlError`) naming the file (its full path); any other
exception, a case over its budget of work (function calls counted, not
time: the count does not depend on the machine's load) or over its memory
budget (``tracemalloc`` peak) fails the test.

The number of cases tried per reader is printed (``pytest -s``) and
asserted in the reader's own test.
"""
from __future__ import annotations

import re
import sys
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
from adl.data.nucla import parse_nucla_sample, parse_nucla_skeleton_file
from adl.data.ntu import MISSING_LIST_NAMES, NtuSkeleton, parse_ntu_skeleton, read_ntu60
from adl.data.record import SkeletonSequence
from adl.data.smarthome import parse_smarthome_pose
from adl.data.synth import generate
from adl.data.synth.nucla import generate_nucla
from adl.data.synth.ntu import generate_ntu
from adl.data.synth.smarthome import generate_smarthome

CASES_PER_READER = 120
MEMORY_LIMIT = 64 * 2 ** 20      # bytes a parse of these tiny files may allocate at peak
CALL_LIMIT = 100_000             # function calls per case (the largest case today: ~8,300)

_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_SPECIAL = [b"nan", b"NaN", b"inf", b"-inf", b"1e308", b"-1e308", b"99999999999999999999999999",
            b"1000000000", b"-1", b"-7", b"0", b"1e-320", b"0x1F", b"", b"\xff\xfe", b"1,5"]
TEXT_MUTATIONS = ("truncate", "flip", "extra_column", "missing_column", "number", "non_utf8",
                  "duplicate_line", "delete_line", "insert_blank", "swap_lines")
NPY_MUTATIONS = ("truncate", "flip", "shape_claim", "dtype_claim")


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


class _OverBudget(BaseException):
    """Raised inside a parse that exceeds its call budget (a BaseException, so
    a reader's ``except Exception`` cannot swallow it)."""


class _CallBudget:
    """Counts every Python and built-in function call made inside the
    ``with`` block and aborts the block with :class:`_OverBudget` at
    ``limit + 1`` calls: a deterministic budget of work (the count does not
    depend on the machine's load, unlike a time limit)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.calls = 0

    def _count(self, frame, event, arg):
        if event == "call" or event == "c_call":
            self.calls += 1
            if self.calls > self.limit:
                raise _OverBudget

    def __enter__(self):
        sys.setprofile(self._count)
        return self

    def __exit__(self, *exc):
        sys.setprofile(None)
        return False


def _check_outcome(path: Path, call, check_value) -> int:
    """Run ``call`` once on the mutated ``path``: either it raises AdlError
    naming the file itself (its full path), or its value passes
    ``check_value`` (a function that asserts and returns None).  Either way it
    stays under the memory budget and the call budget; returns the calls made."""
    budget = _CallBudget(CALL_LIMIT)
    tracemalloc.start()
    try:
        with budget:
            value = call()
    except _OverBudget:
        pytest.fail(f"parsing {path.name} made over {CALL_LIMIT} function calls")
    except AdlError as exc:
        assert str(path) in str(exc), f"error does not name the file {path}: {exc}"
        return budget.calls
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < MEMORY_LIMIT, f"parsing {path.name} allocated {peak / 2**20:.0f} MiB"
    returned = check_value(value)
    # a check that returns its verdict instead of asserting it could never fail
    assert returned is None, f"{check_value.__name__} returned {returned!r} instead of asserting"
    return budget.calls


def _valid_sequence(seq) -> None:
    assert isinstance(seq, SkeletonSequence)
    assert seq.joints.ndim == 3 and seq.joints.shape[0] >= 1 and seq.joints.shape[2] == 3
    assert not np.any(np.isinf(seq.joints))


def _valid_records(records) -> None:
    assert isinstance(records, list)
    for r in records:
        assert r.video_id and r.label and r.subject


def _fuzz(name: str, target: Path, call, check_value, mutate=_mutate_text) -> int:
    """Read ``target`` after each of ``CASES_PER_READER`` hypothesis mutations
    (restored after each); returns the number of cases run."""
    original = target.read_bytes()
    cases = most_calls = 0

    @settings(max_examples=CASES_PER_READER, deadline=None, derandomize=True,
              database=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data):
        nonlocal cases, most_calls
        mutated = original
        for _ in range(data.draw(st.integers(1, 3))):
            mutated = mutate(mutated, data.draw)
        target.write_bytes(mutated)
        try:
            most_calls = max(most_calls, _check_outcome(target, call, check_value))
        finally:
            target.write_bytes(original)
        cases += 1

    run()
    print(f"{name}: {cases} mutated cases, at most {most_calls} function calls in one")
    return cases


@pytest.fixture(scope="module")
def roots(tmp_path_factory, tiny_writer):
    """One small dataset per native format (written here: the cases mutate it)."""
    out = {"cad120": tiny_writer(tmp_path_factory.mktemp("cad120"), seed=0, subjects=2,
                                 frames=4, image_size=(32, 24))}
    for ds in ("cad60", "msr_daily", "manifest"):
        root = tmp_path_factory.mktemp(ds)
        generate(ds, root, seed=0, subjects=2, frames=4, image_size=(32, 24))
        out[ds] = root
    out["ntu60"] = tmp_path_factory.mktemp("ntu60")
    generate_ntu("ntu60", out["ntu60"], seed=0, subjects=2, frames=4, image_size=(32, 24),
                 classes=["drink water", "sitting down"], missing_skeletons=1)
    out["smarthome"] = tmp_path_factory.mktemp("smarthome")
    generate_smarthome("smarthome", out["smarthome"], seed=0, subjects=1, frames=4,
                       image_size=(32, 24), classes=["Walk"])
    out["nucla"] = tmp_path_factory.mktemp("nucla")
    generate_nucla("nucla", out["nucla"], seed=0, subjects=1, frames=4, image_size=(32, 24),
                   classes=["walk around"])
    return out


def _first(root: Path, pattern: str) -> Path:
    return sorted(root.glob(pattern))[0]


def _utk_joints(path: Path) -> Path:
    rng = np.random.default_rng(0)
    with open(path, "w") as fh:
        for fid in (10, 12, 12, 14, 16):
            fh.write(f"{fid}   " + "  ".join(f"{v:.6f}" for v in rng.normal(size=60)) + "  \n")
    return path


def _valid_utk_joints(value) -> None:
    ids, joints, duplicates = value
    assert joints.ndim == 3 and joints.shape[1:] == (20, 3) and len(ids) == len(joints)
    assert not np.any(np.isinf(joints)) and np.all(ids >= 0)


def _valid_utk_labels(value) -> None:
    assert isinstance(value, dict), type(value)


def _cad_skeleton(roots, tmp_path):
    path = _first(roots["cad60"], "data1/05*.txt")
    return path, lambda: parse_cad_skeleton(path), _valid_sequence, _mutate_text


def _cad60_labels(roots, tmp_path):
    root = roots["cad60"]
    return root / "data1" / "activityLabel.txt", lambda: read_cad60(root), _valid_records, \
        _mutate_text


def _cad120_labels(roots, tmp_path):
    root = roots["cad120"]
    path = _first(root, "Subject*_annotations/having_meal/activityLabel.txt")
    return path, lambda: read_cad120(root), _valid_records, _mutate_text


def _cad120_labeling(roots, tmp_path):
    root = roots["cad120"]
    path = _first(root, "Subject*_annotations/having_meal/labeling.txt")
    return path, lambda: read_cad120(root), _valid_records, _mutate_text


def _msr_skeleton(roots, tmp_path):
    path = _first(roots["msr_daily"], "*_skeleton.txt")
    return path, lambda: parse_msr_skeleton(path), _valid_sequence, _mutate_text


def _valid_ntu(value) -> None:
    assert isinstance(value, NtuSkeleton)
    T, M = value.joints.shape[:2]
    assert value.joints.shape == (T, M, 25, 3) and T >= 1 and 1 <= M <= 2
    assert len(value.body_ids) == M and value.bodies_reported.shape == (T,)
    assert not np.any(np.isinf(value.joints)) and not np.any(np.isinf(value.color_xy))


def _ntu_skeleton(roots, tmp_path):
    path = _first(roots["ntu60"], "nturgb+d_skeletons/*.skeleton")
    return path, lambda: parse_ntu_skeleton(path), _valid_ntu, _mutate_text


def _ntu_missing_list(roots, tmp_path):
    root = roots["ntu60"]
    return root / MISSING_LIST_NAMES["ntu60"], lambda: read_ntu60(root), _valid_records, \
        _mutate_text


def _smarthome_pose(roots, tmp_path):
    path = _first(roots["smarthome"], "skeletonv12/*_pose3d.json")
    return path, lambda: parse_smarthome_pose(path), _valid_sequence, _mutate_text


def _valid_nucla_skeleton(value) -> None:
    assert value is None or (value.shape == (20, 3) and not np.any(np.isinf(value)))


def _nucla_skeleton(roots, tmp_path):
    path = _first(roots["nucla"], "multiview_action/view_1/*/frame_0_*_skeletons.txt")
    return path, lambda: parse_nucla_skeleton_file(path), _valid_nucla_skeleton, _mutate_text


def _nucla_file_list(roots, tmp_path):
    path = _first(roots["nucla"], "multiview_action/view_1/*/fileList.txt")
    return path, lambda: parse_nucla_sample(path.parent), _valid_sequence, _mutate_text


def _manifest_csv(roots, tmp_path):
    root = roots["manifest"]
    return root / "manifest.csv", lambda: read_manifest(root), _valid_records, _mutate_text


def _manifest_npy(roots, tmp_path):
    record = read_manifest(roots["manifest"])[0]
    return Path(record.skeleton), lambda: load_npy_skeleton(record), _valid_sequence, _mutate_npy


def _utkinect_joints(roots, tmp_path):
    path = _utk_joints(tmp_path / "joints_s01_e01.txt")
    return path, lambda: read_utkinect_joints(path), _valid_utk_joints, _mutate_text


def _utkinect_labels(roots, tmp_path):
    path = tmp_path / "actionLabel.txt"
    path.write_text("s01_e01\nwalk: 10 14\nsitDown: 20 30 \ncarry:  NaN NaN\ns02_e01\n"
                    "walk: 5 6\npickUp: 100 200\n")
    return path, lambda: read_utkinect_labels(path), _valid_utk_labels, _mutate_text


# reader name -> (the reader function fuzzed, the file it reads and how to check a value)
READERS = {
    "CAD skeleton": (parse_cad_skeleton, _cad_skeleton),
    "CAD-60 activityLabel.txt": (read_cad60, _cad60_labels),
    "CAD-120 activityLabel.txt": (read_cad120, _cad120_labels),
    "CAD-120 labeling.txt": (read_cad120, _cad120_labeling),
    "MSR skeleton": (parse_msr_skeleton, _msr_skeleton),
    "NTU .skeleton": (parse_ntu_skeleton, _ntu_skeleton),
    "NTU missing-skeleton list": (read_ntu60, _ntu_missing_list),
    "Smarthome pose JSON": (parse_smarthome_pose, _smarthome_pose),
    "N-UCLA skeleton file": (parse_nucla_skeleton_file, _nucla_skeleton),
    "N-UCLA fileList.txt": (parse_nucla_sample, _nucla_file_list),
    "manifest.csv": (read_manifest, _manifest_csv),
    "manifest skeleton .npy": (load_npy_skeleton, _manifest_npy),
    "UTKinect joints": (read_utkinect_joints, _utkinect_joints),
    "UTKinect actionLabel.txt": (read_utkinect_labels, _utkinect_labels),
}


def test_every_reader_of_a_dataset_file_is_fuzzed():
    """Fourteen input files, thirteen reader functions: the parametrisation below
    runs them all (a reader dropped from the table fails here)."""
    assert len(READERS) == 14
    assert {fn for fn, _ in READERS.values()} == {
        parse_cad_skeleton, read_cad60, read_cad120, parse_msr_skeleton, read_manifest,
        load_npy_skeleton, read_utkinect_joints, read_utkinect_labels, parse_ntu_skeleton,
        read_ntu60, parse_smarthome_pose, parse_nucla_skeleton_file, parse_nucla_sample}


@pytest.mark.parametrize("name", list(READERS))
def test_fuzz_reader(name, roots, tmp_path):
    path, call, check, mutate = READERS[name][1](roots, tmp_path)
    cases = _fuzz(name, path, call, check, mutate)
    # hypothesis may stop early on duplicates, but most cases must run
    assert cases >= CASES_PER_READER // 2, f"{name}: only {cases} cases ran"


# ---------------------------------------------------------------------------
# the checks above can fail


def test_an_error_naming_only_the_folder_fails_the_case(tmp_path):
    path = tmp_path / "activityLabel.txt"
    path.write_text("x")

    def folder_only():
        raise AdlError(f"{tmp_path}: something is wrong in this folder")

    with pytest.raises(AssertionError, match="error does not name the file"):
        _check_outcome(path, folder_only, _valid_records)


def test_a_check_returning_false_fails_the_case(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("x")
    with pytest.raises(AssertionError, match="returned False instead of asserting"):
        _check_outcome(path, lambda: 1, lambda value: isinstance(value, dict))


def test_a_runaway_parse_is_aborted_by_the_call_budget(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("x")

    def runaway():
        while True:
            try:
                len(path.name)
            except Exception:  # a reader's own handler cannot swallow the abort
                pass

    with pytest.raises(pytest.fail.Exception, match=f"made over {CALL_LIMIT} function calls"):
        _check_outcome(path, runaway, _valid_records)
    assert sys.getprofile() is None
