"""`adl features` killed and resumed, run twice at once, and hit by write
failures: the cache always ends identical to an uninterrupted run.

Each scenario runs the real command line in a child process on a tiny
synthetic CAD-120 dataset (9 videos, every stage of the pipeline).
"""
import importlib.util
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location("_reliability_common",
                                               Path(__file__).with_name("_common.py"))
C = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(C)

pytestmark = pytest.mark.slow

N_KILLS = 5
KILL_SEED = 20261125


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted run: its cache snapshot, fusion report and duration."""
    base = tmp_path_factory.mktemp("interrupts")
    root = C.make_tiny_dataset(base / "data")
    cache = base / "reference"
    t0 = time.perf_counter()
    done = C.run_adl(C.features_command(root, cache))
    seconds = time.perf_counter() - t0
    assert done.returncode == 0, done.stderr
    return {"root": root, "base": base, "cache": cache, "seconds": seconds,
            "snapshot": C.snapshot(cache), "report": C.fusion_report(cache, base / "ref_report")}


def _assert_same_cache(cache, reference):
    assert C.temp_files(cache) == [], "temp files left behind after completion"
    snap = C.snapshot(cache)
    assert sorted(snap) == sorted(reference["snapshot"])
    for name, value in snap.items():
        assert value == reference["snapshot"][name], f"{name} differs from the uninterrupted run"


def _readable_entries(cache):
    """Every visible entry of a (possibly interrupted) cache loads completely."""
    n = 0
    for path in Path(cache).rglob("*.npz"):
        with np.load(path, allow_pickle=False) as z:
            for name in z.files:
                z[name]
        n += 1
    return n


def test_kill_at_random_moments_then_resume(reference, tmp_path):
    """SIGKILL at 5 seeded random moments of a run; every re-run completes and
    the final cache (bit for bit) and fusion report equal the uninterrupted run's."""
    rng = random.Random(KILL_SEED)
    moments = [rng.uniform(0.1, 0.9) * reference["seconds"] for _ in range(N_KILLS)]
    killed_with_entries = 0
    for i, moment in enumerate(moments):
        cache = tmp_path / f"killed_{i}"
        proc = subprocess.Popen(C.features_command(reference["root"], cache), env=C.child_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(moment)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        if cache.exists():
            killed_with_entries += _readable_entries(cache) > 0
        done = C.run_adl(C.features_command(reference["root"], cache))
        assert done.returncode == 0, f"re-run {i} after a kill at {moment:.1f} s failed:\n{done.stderr}"
        _assert_same_cache(cache, reference)
        assert C.fusion_report(cache, tmp_path / f"report_{i}") == reference["report"]
    # the moments really interrupted work in progress (not only start-up)
    assert killed_with_entries >= 2
    print(f"kill moments (s): {[round(m, 1) for m in moments]} of a {reference['seconds']:.1f} s run")


def test_two_concurrent_runs_give_a_consistent_store(reference, tmp_path):
    cache = tmp_path / "shared"
    cmd = C.features_command(reference["root"], cache)
    procs = [subprocess.Popen(cmd, env=C.child_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err
    _assert_same_cache(cache, reference)


def test_disk_full_is_one_clear_error_and_nothing_is_lost(reference, tmp_path, monkeypatch):
    """The 12th store write fails with ENOSPC: `adl features` exits 2 with one
    line naming the file; the entries already written stay, and the re-run
    completes to the uninterrupted result."""
    import errno

    from click.testing import CliRunner

    from adl.cli.main import main
    from adl.features import store as S

    cache = tmp_path / "full"
    original = S._atomic_write
    calls = {"n": 0}
    written = []

    def failing(final, write, *, fsync):
        calls["n"] += 1
        if calls["n"] == 12:
            raise S._write_error(final, OSError(errno.ENOSPC, "No space left on device"))
        original(final, write, fsync=fsync)
        written.append(Path(final))

    monkeypatch.setattr(S, "_atomic_write", failing)
    args = C.features_command(reference["root"], cache)[3:]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "No space left on device" in lines[0] and "the disk is full" in lines[0]
    assert ".npz" in lines[0] and str(cache) in lines[0]
    assert C.temp_files(cache) == []
    entries = [p for p in written if p.suffix == ".npz"]
    assert entries and all(p.is_file() for p in entries)  # nothing computed is lost
    assert _readable_entries(cache) == len(entries)
    monkeypatch.setattr(S, "_atomic_write", original)
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    _assert_same_cache(cache, reference)


def test_read_only_cache_is_one_clear_error(reference, tmp_path, monkeypatch):
    """A cache folder that cannot be written (EACCES, as for a read-only
    mount; root ignores chmod, so the failure is simulated at os.open)."""
    import errno

    from click.testing import CliRunner

    from adl.cli.main import main

    cache = tmp_path / "ro"
    real_open = os.open

    def refusing(path, flags, *args, **kwargs):
        if str(path).startswith(str(cache)) and flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing)
    result = CliRunner().invoke(main, C.features_command(reference["root"], cache)[3:])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Permission denied" in lines[0] and "permission" in lines[0]
    assert C.temp_files(cache) == []
