"""``run_features(..., scheduler=ADDRESS)`` (``adl features --scheduler``):
the per-video F2 work runs on a Dask cluster and the cache is the one a local
run writes, byte for byte.

The cluster is a real :class:`distributed.LocalCluster` with two worker
processes of one thread each, so the entries are computed in other
interpreters and written into the cache by them.
"""
from __future__ import annotations

import sys

import distributed  # the dev extra installs it (setup.cfg: dask[distributed])
import pytest

from adl.data.errors import AdlError
from adl.features.pipeline import run_features


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as c:
        yield c


def test_cache_computed_on_a_cluster_equals_the_local_one(cluster, tiny_cad120, tiny_cache,
                                                          small_config, cache_snapshot, tmp_path):
    cache = tmp_path / "cache"
    summary = run_features("cad120", tiny_cad120, cache, small_config(), progress=False,
                           log=lambda m: None, scheduler=cluster.scheduler_address)
    # every video's F2 entry was a task of the cluster (none computed here)
    f2_tasks = [tp for name, tp in cluster.scheduler.task_prefixes.items() if "_f2_worker" in name]
    assert summary.computed["f2_raw"] == 9
    assert sum(tp.state_counts["memory"] for tp in f2_tasks) == 9
    local, remote = cache_snapshot(tiny_cache), cache_snapshot(cache)
    assert sorted(remote) == sorted(local)
    different = [name for name in local if remote[name] != local[name]]
    assert different == [], f"entries differ from the local run: {different}"


def test_scheduler_without_the_distributed_extra_is_one_clear_error(tiny_cad120, small_config,
                                                                    tmp_path, monkeypatch):
    """The extra missing (``import distributed`` fails): adl's own error, naming
    the extra to install, and no F2 entry written."""
    monkeypatch.setitem(sys.modules, "distributed", None)
    cache = tmp_path / "cache"
    with pytest.raises(AdlError, match=r"--scheduler needs the 'distributed' extra: "
                                       r"pip install 'adl\[distributed\]'"):
        run_features("cad120", tiny_cad120, cache, small_config(families=("f2",)),
                     progress=False, log=lambda m: None, scheduler="tcp://127.0.0.1:1")
    assert list(cache.rglob("*.npz")) == []
