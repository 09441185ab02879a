"""Subprocess helper for tests/features/test_store.py (not a test module):
run as a script in a child process, and imported by the test (its folder is
on pytest's ``pythonpath``) for :func:`worker_key` and :func:`expected`.

Usage::

    python _store_worker.py write ROOT N SIZE [--slow] [--go PATH]
    python _store_worker.py read ROOT N SIZE STOP_PATH [--go PATH]
    python _store_worker.py digest STAGE VERSION CONFIG_JSON
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from adl.features import store as store_mod
from adl.features.store import FeatureStore, StageKey

DATASET = "toy"


def worker_key(size: int) -> StageKey:
    return StageKey("f2_raw", {"kind": "worker", "size": size}, "1")


def expected(i: int, size: int) -> dict:
    return {"x": np.arange(size, dtype=np.float32) * (i + 1),
            "y": np.full((3, 4), i, dtype=np.int64)}


def _slow_write_npy(fh, arr):
    """Write in 256 KiB chunks with a pause, so a test can kill us mid-write."""

    class Slow:
        def write(self, data):
            view = memoryview(data).cast("B")
            for j in range(0, len(view), 1 << 18):
                fh.write(view[j:j + (1 << 18)])
                time.sleep(0.005)
            return len(view)

    np.lib.format.write_array(Slow(), arr, allow_pickle=False)


def _option(argv, name):
    return argv[argv.index(name) + 1] if name in argv else None


def _wait_for_go(argv) -> None:
    """With ``--go PATH``: say ``ready``, then wait until PATH exists (the
    test creates it once every process is ready, so all start together)."""
    go = _option(argv, "--go")
    if go is None:
        return
    print("ready", flush=True)
    while not Path(go).exists():
        time.sleep(0.001)


def _read_until(store, key, n: int, size: int, stop: Path) -> dict:
    """Read random items until ``stop`` exists and at least one item was read
    whole; every item read must be complete and equal to :func:`expected`."""
    counts = {"ok": 0, "missing": 0}
    rng = np.random.default_rng(0)
    while not (stop.exists() and counts["ok"] > 0):
        i = int(rng.integers(n))
        try:
            got = store.get(key, f"item_{i}", mmap=bool(i % 2))
        except KeyError:
            counts["missing"] += 1
            continue
        want = expected(i, size)
        if sorted(got) != sorted(want) or any(not np.array_equal(got[k], want[k]) for k in want):
            raise SystemExit(f"MISMATCH item_{i}")
        counts["ok"] += 1
    return counts


def main(argv):
    mode = argv[0]
    if mode == "digest":
        print(StageKey(argv[1], json.loads(argv[3]), argv[2]).digest)
        return 0
    root, n, size = argv[1], int(argv[2]), int(argv[3])
    store = FeatureStore(root, DATASET)
    key = worker_key(size)
    _wait_for_go(argv)
    if mode == "write":
        if "--slow" in argv:
            store_mod._write_npy = _slow_write_npy
        for i in range(n):
            print(f"start item_{i}", flush=True)
            store.put(key, f"item_{i}", expected(i, size), meta={"i": i})
            print(f"done item_{i}", flush=True)
        return 0
    if mode == "read":
        print(json.dumps(_read_until(store, key, n, size, Path(argv[4]))), flush=True)
        return 0
    raise SystemExit(f"unknown mode {mode!r}")

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
