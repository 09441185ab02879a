"""Tests of features.store: the resumable, crash-safe feature cache."""
from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from adl.data.errors import StoreError, UnsafePathError
from adl.features import store as store_mod
from adl.features.store import FeatureStore, StageKey, compute_missing

# the child-process writer/reader; its folder is on the test path (setup.cfg's
# [tool:pytest] pythonpath), so the entries it writes are checked with its own
# definitions
import _store_worker as worker  # noqa: E402

WORKER = Path(worker.__file__)


@pytest.fixture
def store(tmp_path):
    return FeatureStore(tmp_path / "cache", "cad120")


@pytest.fixture
def key():
    return StageKey("f1_frames", {"backbone": "resnet", "parts": ["head", "hands"], "crop": 224})


def _temps(store):
    return sorted(p for p in store.path.rglob(".*") if ".tmp-" in p.name)


def _run_worker(*args, **kw):
    return subprocess.Popen([sys.executable, str(WORKER), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


# ---------------------------------------------------------------------------
# round trip


ARRAYS = {
    "float32_2d": np.arange(12, dtype=np.float32).reshape(3, 4),
    "float16": np.linspace(-1, 1, 10, dtype=np.float16),
    "int64_3d": np.arange(24, dtype=np.int64).reshape(2, 3, 4) - 7,
    "bool": np.array([True, False, True]),
    "fortran": np.asfortranarray(np.arange(35, dtype=np.float64).reshape(5, 7)),
    "scalar": np.array(3.25),
    "empty": np.zeros((0, 4), dtype=np.float32),
    "strings": np.array(["head", "hands", "x"]),
    "structured": np.array([(1, 2.5), (3, 4.5)], dtype=[("a", "<i4"), ("b", "<f8")]),
}


@pytest.mark.parametrize("mmap", [True, False])
def test_round_trip_keeps_dtype_shape_values_and_order(store, key, mmap):
    store.put(key, "video_1", ARRAYS, meta={"n_frames": 12, "fps": 30.0})
    got = store.get(key, "video_1", mmap=mmap)
    assert list(got) == list(ARRAYS)
    for name, want in ARRAYS.items():
        assert got[name].dtype == want.dtype, name
        assert got[name].shape == want.shape, name
        np.testing.assert_array_equal(got[name], want)
    assert got["fortran"].flags.f_contiguous
    assert store.get_meta(key, "video_1") == {"n_frames": 12, "fps": 30.0}


def test_mmap_returns_read_only_aligned_memmaps(store, key):
    store.put(key, "v", {"a": np.ones((50, 3), np.float32), "b": np.arange(7, dtype=np.int16)})
    got = store.get(key, "v", mmap=True)
    for arr in got.values():
        assert isinstance(arr, np.memmap)
        assert not arr.flags.writeable
        assert arr.ctypes.data % 64 == 0  # members are 64-byte aligned in the file
    with pytest.raises(ValueError, match="read-only"):
        got["a"][0, 0] = 5
    copied = store.get(key, "v", mmap=False)
    assert not any(isinstance(a, np.memmap) for a in copied.values())
    assert all(a.flags.writeable for a in copied.values())


def test_compressed_entry_is_smaller_and_not_mapped(store, key):
    desc = np.zeros((2000, 96), dtype=np.float16)
    desc[::7] = 1.5
    store.put(key, "raw", {"desc": desc})
    store.put(key, "raw_z", {"desc": desc}, compress=True)
    got = store.get(key, "raw_z", mmap=True)["desc"]
    assert not isinstance(got, np.memmap)
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, desc)
    size = store.entry_path(key, "raw").stat().st_size
    assert store.entry_path(key, "raw_z").stat().st_size < size / 10


def test_entry_is_a_plain_npz(store, key):
    store.put(key, "v", {"a": np.arange(5)}, meta={"k": 1})
    with np.load(store.entry_path(key, "v")) as npz:
        np.testing.assert_array_equal(npz["a"], np.arange(5))


def test_has_keys_and_meta_default(store, key):
    assert store.keys(key) == []
    assert not store.has(key, "b")
    for item in ["c", "a", "b"]:
        store.put(key, item, {"x": np.zeros(2)})
    assert store.has(key, "b")
    assert store.keys(key) == ["a", "b", "c"]
    assert store.get_meta(key, "a") == {}
    assert store.remove(key, "b") is True
    assert store.remove(key, "b") is False
    assert store.keys(key) == ["a", "c"]


def test_get_missing_raises_key_error(store, key):
    with pytest.raises(KeyError, match="no entry 'nope' for stage 'f1_frames'"):
        store.get(key, "nope")
    with pytest.raises(KeyError, match="no entry 'nope'"):
        store.get_meta(key, "nope")


def test_put_overwrites_atomically(store, key):
    store.put(key, "v", {"a": np.zeros(3)})
    store.put(key, "v", {"a": np.ones(4)})
    np.testing.assert_array_equal(store.get(key, "v")["a"], np.ones(4))


def test_layout_and_deterministic_manifest(tmp_path, key):
    s1 = FeatureStore(tmp_path / "one", "cad120")
    s2 = FeatureStore(tmp_path / "two", "cad120")
    for s in (s1, s2):
        s.put(key, "video_1", ARRAYS, meta={"n": 1})
        s.put(key, "video_2", ARRAYS, meta={"n": 2}, compress=True)
    d = s1.stage_dir(key)
    assert d == tmp_path / "one" / "cad120" / "f1_frames" / key.digest
    assert sorted(p.name for p in d.iterdir()) == ["manifest.json", "video_1.npz",
                                                   "video_2.npz"]
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest == {"format": store_mod.FORMAT, "stage": "f1_frames", "version": "1",
                        "digest": key.digest, "config": key.config}
    # no time stamps anywhere: the same puts give bit-identical files
    for name in ["manifest.json", "video_1.npz", "video_2.npz"]:
        assert (d / name).read_bytes() == (s2.stage_dir(key) / name).read_bytes(), name


def test_tampered_manifest_is_refused(tmp_path, key):
    s = FeatureStore(tmp_path, "cad120")
    s.put(key, "v", {"a": np.zeros(1)})
    mf = s.stage_dir(key) / "manifest.json"
    data = json.loads(mf.read_text())
    data["config"]["crop"] = 112
    mf.write_text(json.dumps(data))
    fresh = FeatureStore(tmp_path, "cad120")
    with pytest.raises(StoreError, match="describes stage 'f1_frames'.*delete"):
        fresh.put(key, "w", {"a": np.zeros(1)})
    mf.write_text("{not json")
    with pytest.raises(StoreError, match="unreadable manifest"):
        FeatureStore(tmp_path, "cad120").stage_dir(key)


# ---------------------------------------------------------------------------
# keys and digests

GOLDEN = StageKey("f1_frames", {"backbone": "resnet", "parts": ["head", "hands"], "crop": 224})


def test_digest_is_pinned():
    # Changing this value silently invalidates every existing cache: bump
    # FORMAT / the stage version on purpose instead.
    assert GOLDEN.digest == "24e782b72cb5e011"
    canonical = ('{"config":{"backbone":"resnet","crop":224,"parts":["head","hands"]},'
                 '"stage":"f1_frames","version":"1"}')
    assert GOLDEN.digest == hashlib.sha256(canonical.encode()).hexdigest()[:16]


def test_digest_ignores_key_order_and_container_types():
    a = StageKey("s", {"a": 1, "b": {"y": 2, "x": [1, 2]}})
    b = StageKey("s", {"b": {"x": (1, 2), "y": np.int64(2)}, "a": 1})
    assert a.digest == b.digest
    assert a == b and hash(a) == hash(b)
    assert len({a, b}) == 1


def test_digest_stable_across_processes():
    config = {"crop": 224, "parts": ["head", "hands"], "backbone": "resnet"}
    outs = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, str(WORKER), "digest", "f1_frames", "1",
                              json.dumps(config)], env=env, capture_output=True, text=True,
                             check=True, timeout=60)
        outs.add(out.stdout.strip())
    assert outs == {GOLDEN.digest}


@pytest.mark.parametrize("other", [
    StageKey("f1_frames", {"backbone": "resnet", "parts": ["head", "hands"], "crop": 112}),
    StageKey("f1_frames", {"backbone": "resnet", "parts": ["hands", "head"], "crop": 224}),
    StageKey("f1_frames", {"backbone": "resnet", "parts": ["head", "hands"], "crop": 224.0}),
    StageKey("f1_frames", {"backbone": "resnet", "parts": ["head", "hands"], "crop": 224},
             version="2"),
    StageKey("f2_raw", {"backbone": "resnet", "parts": ["head", "hands"], "crop": 224}),
    StageKey("f1_frames", {"backbone": "resnet", "parts": ["head", "hands"], "crop": 224,
                           "extra": None}),
])
def test_changed_config_or_version_never_reuses_entries(store, other):
    assert other.digest != GOLDEN.digest and other != GOLDEN
    store.put(GOLDEN, "video_1", {"a": np.zeros(3)})
    assert not store.has(other, "video_1")
    assert store.keys(other) == []
    with pytest.raises(KeyError):
        store.get(other, "video_1")
    assert store.stage_dir(other) != store.stage_dir(GOLDEN)
    calls = []
    computed = compute_missing(store, other, ["video_1"],
                               lambda item: calls.append(item) or {"a": np.ones(3)})
    assert computed == calls == ["video_1"]
    np.testing.assert_array_equal(store.get(GOLDEN, "video_1")["a"], np.zeros(3))


def test_config_is_a_frozen_json_copy():
    cfg = {"parts": ("head",)}
    k = StageKey("s", cfg)
    digest = k.digest
    cfg["parts"] = ("feet",)
    assert k.config == {"parts": ["head"]}
    assert k.digest == digest
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign"):
        k.stage = "t"


def test_dataclass_config_is_accepted():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Cfg:
        crop: int = 224
        parts: tuple = ("head", "hands")

    assert StageKey("s", Cfg()) == StageKey("s", {"crop": 224, "parts": ["head", "hands"]})


@pytest.mark.parametrize("config, exc, match", [
    ({"w": object()}, TypeError, r"config\['w'\] is a object .*not JSON-serialisable"),
    ({1: "a"}, TypeError, "has a key 1 of type int; config keys must be str"),
    ({"eps": float("nan")}, ValueError, r"config\['eps'\] is nan"),
    ({"a": {"b": [1, float("inf")]}}, ValueError, r"config\['a'\]\['b'\]\[1\] is inf"),
    (["not", "a", "dict"], TypeError, "config must be a mapping or a dataclass"),
])
def test_bad_config_is_rejected(config, exc, match):
    with pytest.raises(exc, match=match):
        StageKey("s", config)


def test_bad_version_and_stage_are_rejected(store):
    with pytest.raises(TypeError, match="version must be a non-empty str"):
        StageKey("s", {}, version=2)
    with pytest.raises(UnsafePathError, match="unsafe stage name '../up'"):
        StageKey("../up", {})
    with pytest.raises(UnsafePathError, match="unsafe dataset name 'a/b'"):
        FeatureStore("/tmp", "a/b")
    with pytest.raises(TypeError, match="key must be a StageKey"):
        store.has("f1_frames", "v")


# ---------------------------------------------------------------------------
# unsafe names and bad arrays


@pytest.mark.parametrize("item, why", [
    ("", "it is empty"),
    (".", "starts with '.'"),
    ("..", "contains '..'"),
    ("../escape", "path separator"),
    ("a/b", "path separator"),
    ("/abs", "path separator"),
    ("a\\b", "path separator"),
    ("a\0b", "NUL"),
    ("a..b", "contains '..'"),
    (".hidden", "starts with '.'"),
    ("x" * 201, "201 characters long"),
    ("é" * 101, "202 bytes long in UTF-8"),
])
def test_unsafe_items_are_rejected_everywhere(store, key, item, why):
    shown = item if len(item) <= 60 else item[:57] + "..."
    pattern = re.escape(f"unsafe item {shown!r}") + ".*" + re.escape(why)
    for call in (lambda: store.has(key, item), lambda: store.get(key, item),
                 lambda: store.get_meta(key, item), lambda: store.remove(key, item),
                 lambda: store.put(key, item, {"a": np.zeros(1)}),
                 lambda: compute_missing(store, key, ["ok", item], lambda i: {})):
        with pytest.raises(UnsafePathError, match=pattern):
            call()
    assert store.keys(key) == []  # compute_missing validated before computing anything


def test_longest_safe_item_and_non_str_item(store, key):
    store.put(key, "x" * 200, {"a": np.zeros(1)})
    assert store.keys(key) == ["x" * 200]
    with pytest.raises(TypeError, match="item must be a str, got int"):
        store.has(key, 3)


@pytest.mark.parametrize("arrays, exc, match", [
    ({"a": np.array([{}, 1], dtype=object)}, TypeError, "dtype object, which holds Python"),
    ({"__meta__": np.zeros(1)}, ValueError, "'__meta__' is reserved"),
    ({"a/b": np.zeros(1)}, UnsafePathError, "unsafe array name 'a/b'"),
    ([np.zeros(1)], TypeError, "arrays must be a dict"),
])
def test_bad_arrays_are_rejected_and_nothing_written(store, key, arrays, exc, match):
    with pytest.raises(exc, match=match):
        store.put(key, "v", arrays)
    assert not store.has(key, "v")
    assert _temps(store) == []


def test_bad_meta_is_rejected(store, key):
    with pytest.raises(TypeError, match="meta must be a dict"):
        store.put(key, "v", {"a": np.zeros(1)}, meta=[1])
    with pytest.raises(ValueError, match=r"meta\['x'\] is nan"):
        store.put(key, "v", {"a": np.zeros(1)}, meta={"x": float("nan")})
    assert not store.has(key, "v")


# ---------------------------------------------------------------------------
# interrupted writes


@pytest.mark.parametrize("error", [KeyboardInterrupt, OSError])
def test_interrupt_before_rename_leaves_no_entry(store, key, monkeypatch, error):
    store.put(key, "done", {"a": np.arange(3)})
    written = []
    real_replace = os.replace

    def boom(src, dst):
        written.append(Path(src).stat().st_size)
        raise error("interrupted")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(StoreError if error is OSError else KeyboardInterrupt):
        store.put(key, "v", {"a": np.ones(10_000)})
    monkeypatch.setattr(os, "replace", real_replace)
    assert written and written[0] > 80_000  # the temp file was complete when we hit it
    assert not store.has(key, "v")
    assert store.keys(key) == ["done"]
    assert _temps(store) == []
    np.testing.assert_array_equal(store.get(key, "done")["a"], np.arange(3))


def test_sigkill_mid_write_leaves_no_half_entry(tmp_path):
    size = 4_000_000  # 16 MB per entry, written slowly in 256 KiB chunks
    proc = _run_worker("write", tmp_path, 3, size, "--slow")
    store = FeatureStore(tmp_path, worker.DATASET)
    key = worker.worker_key(size)
    try:
        for line in proc.stdout:
            if line.strip() == "start item_1":
                break
        deadline = time.time() + 20
        while time.time() < deadline:
            temps = [p for p in _temps(store) if p.name.startswith(".item_1.npz.tmp-")]
            if temps and temps[0].stat().st_size > 1_000_000:
                break
            time.sleep(0.002)
        else:
            pytest.fail(f"the writer never started item_1: {proc.stderr.read()}")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert store.has(key, "item_0")
    assert not store.has(key, "item_1")  # its temp file is half written
    assert store.keys(key) == ["item_0"]
    got = store.get(key, "item_0")
    for name, want in worker.expected(0, size).items():
        np.testing.assert_array_equal(got[name], want)
    leftovers = _temps(store)
    assert [p.name.split(".tmp-")[0] for p in leftovers] == [".item_1.npz"]
    assert str(proc.pid) in leftovers[0].name
    # the dead writer's temp goes, even though it is fresh; nothing else does
    assert store.cleanup_temp(older_than=3600) == leftovers
    assert _temps(store) == [] and store.keys(key) == ["item_0"]
    # the re-run computes only what is missing
    computed = compute_missing(store, key, [f"item_{i}" for i in range(3)],
                               lambda item: worker.expected(int(item[5:]), size))
    assert computed == ["item_1", "item_2"]


def test_sigkill_at_a_random_moment_never_leaves_a_half_entry(tmp_path):
    size = 200_000
    rng = np.random.default_rng(7)
    store = FeatureStore(tmp_path, worker.DATASET)
    key = worker.worker_key(size)
    proc = _run_worker("write", tmp_path, 5000, size)
    try:
        for line in proc.stdout:  # wait until one entry is complete
            if line.strip() == "done item_0":
                break
        time.sleep(float(rng.uniform(0.05, 0.25)))
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    items = store.keys(key)
    assert 0 < len(items) < 5000
    for item in items:  # every visible entry is complete and loadable
        got = store.get(key, item)
        for name, want in worker.expected(int(item[5:]), size).items():
            np.testing.assert_array_equal(got[name], want)
    assert all(not p.name.startswith(f".{i}.npz") for p in _temps(store) for i in items)


# ---------------------------------------------------------------------------
# re-runs and concurrency


def test_rerun_computes_only_missing(store, key):
    calls = []

    def fn(item):
        calls.append(item)
        return {"a": np.full(3, len(item))}, {"item": item}

    items = ["v1", "v2", "v3", "v2"]
    assert compute_missing(store, key, items, fn) == ["v1", "v2", "v3"]
    assert calls == ["v1", "v2", "v3"]
    store.remove(key, "v2")
    calls.clear()
    assert compute_missing(store, key, items + ["v4"], fn) == ["v2", "v4"]
    assert calls == ["v2", "v4"]
    assert compute_missing(store, key, items, fn) == []
    assert store.get_meta(key, "v4") == {"item": "v4"}


def test_compute_missing_rejects_bad_fn_result(store, key):
    with pytest.raises(TypeError, match="returned a tuple of 3 values"):
        compute_missing(store, key, ["v"], lambda item: ({}, {}, {}))


def _square(item):
    return {"a": np.full(4, int(item[1:]) ** 2)}


def test_compute_missing_in_parallel(store, key):
    items = [f"v{i}" for i in range(6)]
    assert compute_missing(store, key, items, _square, n_jobs=2) == items
    assert store.keys(key) == sorted(items)
    np.testing.assert_array_equal(store.get(key, "v5")["a"], np.full(4, 25))


def test_threads_writing_the_same_item(store, key):
    errors = []

    def run():
        try:
            for i in range(20):
                store.put(key, f"v{i % 4}", {"a": np.full(1000, i % 4)})
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.keys(key) == ["v0", "v1", "v2", "v3"]
    assert all((store.get(key, f"v{i}")["a"] == i).all() for i in range(4))
    assert _temps(store) == []


def test_two_processes_write_the_same_items(tmp_path):
    """Two writers of the same 40 items and a reader start together (each
    says it is ready, then all are released at once); the reader reads
    until both writers are done and never sees a partial or mixed entry."""
    n, size = 40, 50_000
    go, stop = tmp_path / "go", tmp_path / "stop"
    procs = [_run_worker("write", tmp_path, n, size, "--go", go) for _ in range(2)]
    procs.append(_run_worker("read", tmp_path, n, size, stop, "--go", go))
    try:
        for p in procs:
            line = p.stdout.readline().strip()
            assert line == "ready", line + p.stderr.read()
        go.touch()
        writers = [p.communicate(timeout=120) for p in procs[:2]]
        stop.touch()
        reader = procs[2].communicate(timeout=120)
    finally:
        for p in procs:
            p.kill()
            p.wait(timeout=30)
    for p, (out, err) in zip(procs, writers + [reader]):
        assert p.returncode == 0, err + out
    reads = json.loads(reader[0].strip().splitlines()[-1])
    assert reads["ok"] > 0
    store = FeatureStore(tmp_path, worker.DATASET)
    key = worker.worker_key(size)
    assert store.keys(key) == sorted(f"item_{i}" for i in range(n))
    for i in range(n):
        got = store.get(key, f"item_{i}")
        for name, want in worker.expected(i, size).items():
            np.testing.assert_array_equal(got[name], want)
        assert store.get_meta(key, f"item_{i}") == {"i": i}
    assert json.loads((store.stage_dir(key) / "manifest.json").read_text())["digest"] \
        == key.digest
    assert _temps(store) == []


# ---------------------------------------------------------------------------
# corruption and write failures


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
@pytest.mark.parametrize("compress", [False, True])
def test_corrupt_entry_raises_store_error(store, key, damage, compress):
    store.put(key, "v", {"a": np.arange(10_000, dtype=np.float64)}, compress=compress)
    path = store.entry_path(key, "v")
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"not a zip" * 50,
                      "empty": b""}[damage])
    pattern = re.escape(f"corrupt feature entry {path}") + ".*delete this file and re-run"
    for mmap in (True, False):
        with pytest.raises(StoreError, match=pattern):
            store.get(key, "v", mmap=mmap)
    with pytest.raises(StoreError, match=pattern):
        store.get_meta(key, "v")
    assert store.remove(key, "v")
    assert compute_missing(store, key, ["v"], lambda i: {"a": np.zeros(2)}) == ["v"]


def test_flipped_byte_in_compressed_entry_is_detected(store, key):
    store.put(key, "v", {"a": np.arange(10_000, dtype=np.float64)}, compress=True)
    path = store.entry_path(key, "v")
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="corrupt feature entry"):
        store.get(key, "v")


def test_truncated_member_header_is_detected(store, key):
    store.put(key, "v", {"a": np.arange(1000, dtype=np.float64)})
    path = store.entry_path(key, "v")
    data = bytearray(path.read_bytes())
    # claim a bigger array in the .npy header than the member holds
    i = data.index(b"(1000,)")
    data[i:i + 7] = b"(9000,)"
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="member 'a.npy' is truncated"):
        store.get(key, "v", mmap=True)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_disk_full_raises_store_error_and_keeps_store_consistent(store, key, monkeypatch):
    """Entry files written to a full disk: the kernel's ENOSPC (each temp
    file's descriptor is redirected to /dev/full)."""
    store.put(key, "v", {"a": np.zeros(5)}, meta={"old": True})
    store.put(key, "w", {"a": np.ones(5)})
    real_open = os.open

    def full(path, flags, *args, **kw):
        fd = real_open(path, flags, *args, **kw)
        if ".npz.tmp-" in os.fspath(path):
            dev_full = real_open("/dev/full", os.O_WRONLY)
            os.dup2(dev_full, fd)
            os.close(dev_full)
        return fd

    monkeypatch.setattr(os, "open", full)
    for item in ("v", "new"):  # an overwrite and a fresh entry
        with pytest.raises(StoreError, match=r"could not write .*" + re.escape(f"{item}.npz")
                           + r": No space left on device\. Nothing was changed.*disk is full"
                           ) as info:
            store.put(key, item, {"a": np.arange(100_000)})
        assert info.value.errno == errno.ENOSPC
    monkeypatch.setattr(os, "open", real_open)
    assert _temps(store) == []
    assert store.keys(key) == ["v", "w"]
    np.testing.assert_array_equal(store.get(key, "v")["a"], np.zeros(5))
    assert store.get_meta(key, "v") == {"old": True}


def test_unwritable_directory_raises_store_error(store, key, monkeypatch):
    store.put(key, "v", {"a": np.zeros(5)})
    real_open = os.open

    def deny(path, flags, *args, **kw):
        if ".tmp-" in os.fspath(path):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_open(path, flags, *args, **kw)

    monkeypatch.setattr(os, "open", deny)
    with pytest.raises(StoreError, match="Permission denied.*no permission to write in"):
        store.put(key, "w", {"a": np.zeros(5)})
    with pytest.raises(StoreError, match="could not write .*manifest.json: Permission denied"):
        store.put(StageKey("other", {}), "w", {"a": np.zeros(5)})
    monkeypatch.setattr(os, "open", real_open)
    assert store.keys(key) == ["v"] and _temps(store) == []


def test_read_only_directory_chmod(store, key):
    d = store.stage_dir(key)
    store.put(key, "v", {"a": np.zeros(5)})
    d.chmod(0o555)
    try:
        probe = d / "probe"
        try:
            probe.write_bytes(b"")
        except PermissionError:
            pass
        else:
            probe.unlink()
            pytest.skip("running as a user (root) that can write to read-only folders")
        with pytest.raises(StoreError, match="Permission denied.*no permission"):
            store.put(key, "w", {"a": np.zeros(5)})
        assert store.keys(key) == ["v"] and _temps(store) == []
    finally:
        d.chmod(0o755)


def test_uncreatable_root_raises_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="could not create the feature store folder"):
        FeatureStore(blocker, "cad120")


# ---------------------------------------------------------------------------
# housekeeping


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_cleanup_temp_removes_only_stale_temps(store, key):
    d = store.stage_dir(key)
    store.put(key, "v", {"a": np.zeros(5)})
    host = store_mod.HOST_TAG
    dead = d / f".w.npz.tmp-{host}-{_dead_pid()}-00aa"
    live = d / f".x.npz.tmp-{host}-{os.getpid()}-00bb"
    old_live = d / f".y.npz.tmp-{host}-{os.getpid()}-00cc"
    foreign = d / f".z.npz.tmp-{'f' * 8 if host != 'f' * 8 else 'e' * 8}-1-00dd"
    dead_dir = d.parent / f".{'0' * 16}.tmp-{host}-{_dead_pid()}-00ee"
    lookalike = d / ".notes.txt"
    for p in (dead, live, old_live, foreign, lookalike):
        p.write_bytes(b"partial")
    dead_dir.mkdir()
    (dead_dir / "x.npz").write_bytes(b"")
    past = time.time() - 7200
    os.utime(old_live, (past, past))
    assert store.keys(key) == ["v"]  # temps are never entries
    assert not store.has(key, "w")
    removed = store.cleanup_temp(older_than=3600)
    assert removed == sorted([dead, old_live, dead_dir])
    assert live.exists() and foreign.exists() and lookalike.exists()
    assert store.cleanup_temp(older_than=0) == sorted([live, foreign])
    assert lookalike.exists() and store.keys(key) == ["v"]


def test_clear_stale_removes_other_configs_only(store):
    keep = StageKey("f2_raw", {"L": 15})
    old = StageKey("f2_raw", {"L": 10})
    older = StageKey("f2_raw", {"L": 10}, version="0")
    other_stage = StageKey("skeleton", {"L": 10})
    for k in (keep, old, older, other_stage):
        store.put(k, "v", {"a": np.zeros(2)})
    (store.path / "f2_raw" / "README").write_text("user file")
    removed = store.clear_stale("f2_raw", keep)
    assert sorted(removed) == sorted([store.stage_dir(old), store.stage_dir(older)])
    assert not any(p.exists() for p in removed)
    assert store.keys(keep) == ["v"] and store.keys(other_stage) == ["v"]
    assert (store.path / "f2_raw" / "README").exists()
    assert store.clear_stale("f2_raw", keep) == []
    assert store.clear_stale("f1_fold", StageKey("f1_fold", {})) == []
    with pytest.raises(ValueError, match="keep must be a StageKey of stage 'f2_raw'"):
        store.clear_stale("f2_raw", other_stage)
