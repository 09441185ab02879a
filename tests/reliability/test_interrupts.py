"""`adl features` killed and resumed, run twice at once, and hit by write
failures: the cache always ends identical to an uninterrupted run.

Every scenario runs the real command line on the suite's tiny synthetic
CAD-120 dataset (9 videos, every stage of the pipeline): the killed and the
concurrent runs in child processes, the others in this process through
click's runner.
"""
import os
import random
import subprocess
from pathlib import Path

import numpy as np
import pytest

N_KILLS = 5
KILL_SEED = 20261125


@pytest.fixture(scope="module")
def reference(tiny_cad120, tmp_path_factory, adl_cli, cache_snapshot, cad120_fusion_report):
    """One uninterrupted run of ``adl features`` (in this process, through
    click's runner; the runs compared with it are child processes): its cache
    snapshot and fusion report."""
    from click.testing import CliRunner

    from adl.cli.main import main

    base = tmp_path_factory.mktemp("interrupts")
    cache = base / "reference"
    done = CliRunner().invoke(main, adl_cli.features_args(tiny_cad120, cache))
    assert done.exit_code == 0, done.output
    snap = cache_snapshot(cache)
    return {"root": tiny_cad120, "cache": cache, "snapshot": snap,
            "n_entries": sum(name.endswith(".npz") for name in snap),
            "report": cad120_fusion_report(cache, base / "ref_report")}


@pytest.fixture
def assert_same_cache(reference, cache_snapshot, cache_temps):
    def check(cache):
        assert cache_temps(cache) == [], "temp files left behind after completion"
        snap = cache_snapshot(cache)
        assert sorted(snap) == sorted(reference["snapshot"])
        for name, value in snap.items():
            assert value == reference["snapshot"][name], f"{name} differs from the uninterrupted run"
    return check


def _readable_entries(cache):
    """Every visible entry of a (possibly interrupted) cache loads completely."""
    n = 0
    for path in Path(cache).rglob("*.npz"):
        with np.load(path, allow_pickle=False) as z:
            for name in z.files:
                z[name]
        n += 1
    return n


def test_killed_at_random_moments_and_resumed(reference, tmp_path, adl_cli, assert_same_cache,
                                             cad120_fusion_report, killer):
    """One cache, five runs of ``adl features`` in child processes, each
    resuming what the last left and SIGKILLed after the cache's k-th entry
    (k seeded, 5 distinct values drawn from 1 .. n - 1 of the n entries of a
    complete cache, so the kills land in every stage); after each kill every
    visible entry is complete, and a last run (in this process, through
    click's runner) completes the cache to the uninterrupted run's, bit for
    bit, and the same fusion report."""
    from click.testing import CliRunner

    from adl.cli.main import main

    n = reference["n_entries"]
    moments = sorted(random.Random(KILL_SEED).sample(range(1, n), N_KILLS))
    cache = tmp_path / "killed"
    for k in moments:
        proc = adl_cli.popen(adl_cli.features_command(reference["root"], cache),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert killer(proc, cache, k), \
            f"the run finished before its kill after entry {k} of {n}"
        assert _readable_entries(cache) >= k   # whatever the moment, no half entry
    done = CliRunner().invoke(main, adl_cli.features_args(reference["root"], cache))
    assert done.exit_code == 0, f"the run after kills at entries {moments} failed:\n{done.output}"
    assert_same_cache(cache)
    assert cad120_fusion_report(cache, tmp_path / "report") == reference["report"]
    print(f"killed after entries {moments} of {n}")


def test_two_concurrent_runs_give_a_consistent_store(reference, tmp_path, adl_cli,
                                                     assert_same_cache):
    cache = tmp_path / "shared"
    cmd = adl_cli.features_command(reference["root"], cache)
    procs = [adl_cli.popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err
    assert_same_cache(cache)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_disk_full_is_one_clear_error_and_nothing_is_lost(reference, tmp_path, monkeypatch,
                                                          adl_cli, assert_same_cache,
                                                          cache_temps):
    """The 12th entry's file is written to a full disk (the kernel's ENOSPC:
    its descriptor is redirected to /dev/full): `adl features` exits 2 with
    one line naming the file; the entries already written stay, and the
    re-run completes to the uninterrupted result."""
    from click.testing import CliRunner

    from adl.cli.main import main

    cache = tmp_path / "full"
    real_open = os.open
    entries = []   # the temp files of .npz entries, in the order they were opened

    def filling(path, flags, *args, **kwargs):
        fd = real_open(path, flags, *args, **kwargs)
        name = os.path.basename(path)
        if str(path).startswith(str(cache)) and flags & os.O_CREAT and ".npz.tmp-" in name:
            entries.append(Path(path))
            if len(entries) == 12:
                full = real_open("/dev/full", os.O_WRONLY)
                os.dup2(full, fd)
                os.close(full)
        return fd

    monkeypatch.setattr(os, "open", filling)
    args = adl_cli.features_args(reference["root"], cache)
    result = CliRunner().invoke(main, args)
    monkeypatch.setattr(os, "open", real_open)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "No space left on device" in lines[0] and "the disk is full" in lines[0]
    failed = entries[11].with_name(entries[11].name[1:].split(".tmp-")[0])
    assert str(failed) in lines[0]
    assert cache_temps(cache) == [] and not failed.exists()
    # nothing computed is lost: the 11 entries before it are complete
    before = [p.with_name(p.name[1:].split(".tmp-")[0]) for p in entries[:11]]
    assert all(p.is_file() for p in before)
    assert _readable_entries(cache) == len(set(before))
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert_same_cache(cache)


def test_read_only_cache_is_one_clear_error(tiny_cad120, tmp_path, monkeypatch, adl_cli,
                                            cache_temps):
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
    result = CliRunner().invoke(main, adl_cli.features_args(tiny_cad120, cache))
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Permission denied" in lines[0] and "permission" in lines[0]
    assert cache_temps(cache) == []
