"""The live trajectories of one scale of F2, in reusable slots (thesis section
3.3.1; the improved dense trajectories' tracking state).

:func:`adl.features.f2.extract_f2` keeps one :class:`TrajectoryPool` per
spatial scale, so that every update is one vectorised operation over all live
trajectories and the compiled descriptor kernel adds each frame's cells
straight into their accumulators.
"""
from __future__ import annotations

import numpy as np


def as_items(xy: np.ndarray) -> np.ndarray:
    """(N, 2) float32 pairs as N 8-byte items (the same bits)."""
    return np.ascontiguousarray(xy, np.float32).view(np.uint64).reshape(-1)


class TrajectoryPool:
    """The live trajectories of one scale, in reusable slots.

    Slot ``i`` holds a trajectory's points (``points[i, :age + 1]``), its
    camera-compensated displacements, and, per temporal cell, the sum of its
    per-frame descriptor cells and their count.  ``idx`` lists the live
    slots; a trajectory that leaves the frame or finishes frees its slot at
    once (the reference erases it), and new points fill free slots, so
    nothing is copied when trajectories end.  ``serial`` numbers the
    trajectories in birth order (the output order).
    """

    __slots__ = ("length", "points", "disp", "acc", "count", "age", "serial", "live", "idx",
                 "n_born", "_pv", "_dv")

    def __init__(self, length: int, n_t: int, cell_shape: tuple, capacity: int = 64):
        self.length = length
        self.points = np.empty((capacity, length + 1, 2), np.float32)
        self.disp = np.empty((capacity, length, 2), np.float32)
        # per slot and temporal cell, the sum of the per-frame cells (y cell, x cell,
        # channel: accumulate_tube_cells' layout) and how many were summed
        self.acc = np.empty((capacity, n_t) + tuple(cell_shape), np.float32)
        self.count = np.empty((capacity, n_t), np.int64)
        self.age = np.zeros(capacity, np.int64)
        self.serial = np.zeros(capacity, np.int64)
        self.live = np.zeros(capacity, bool)
        self.idx = np.zeros(0, np.int64)
        self.n_born = 0
        self._flat_views()

    def _flat_views(self):
        # an (x, y) float32 pair as one 8-byte item: 1-D fancy indexing on these is
        # several times faster than on (N, 2) rows, and moves the same bits
        self._pv = self.points.view(np.uint64).reshape(-1)
        self._dv = self.disp.view(np.uint64).reshape(-1)

    def __len__(self):
        return len(self.idx)

    def positions(self, age: np.ndarray) -> np.ndarray:
        """Positions of the live trajectories at ages ``age`` (aligned with ``idx``), (N, 2)."""
        return self._pv[self.idx * (self.length + 1) + age].view(np.float32).reshape(-1, 2)

    def current(self) -> np.ndarray:
        """Current positions of the live trajectories (order of ``idx``)."""
        return self.positions(self.age[self.idx])

    def advance(self, age: np.ndarray, new: np.ndarray, disp: np.ndarray):
        """Record one step of every live trajectory: aged ``age``, moved to ``new`` by ``disp``."""
        self._dv[self.idx * self.length + age] = as_items(disp)
        self._pv[self.idx * (self.length + 1) + age + 1] = as_items(new)
        self.age[self.idx] = age + 1

    def counted(self, slot: np.ndarray, cell: np.ndarray):
        """One more frame summed in temporal cell ``cell`` of the trajectories in ``slot``."""
        self.count.reshape(-1)[slot * self.count.shape[1] + cell] += 1

    def add(self, start: np.ndarray):
        """Start a trajectory at each point of ``start`` (N, 2)."""
        k = len(start)
        free = np.flatnonzero(~self.live)
        if len(free) < k:
            self._grow(len(self.live) - len(free) + k)
            free = np.flatnonzero(~self.live)
        slots = free[:k]
        self.points[slots, 0] = start
        self.acc[slots] = 0
        self.count[slots] = 0
        self.age[slots] = 0
        self.serial[slots] = np.arange(self.n_born, self.n_born + k)
        self.n_born += k
        self.live[slots] = True
        # ascending slots: the descriptor kernel then walks the accumulators in memory order
        self.idx = np.sort(np.concatenate([self.idx, slots]))

    def drop(self, keep: np.ndarray):
        """Keep the live slots where ``keep`` (aligned with ``idx``) is true; free the rest."""
        self.live[self.idx[~keep]] = False
        self.idx = self.idx[keep]

    def _grow(self, need: int):
        cap = len(self.live)
        new = max(need, 2 * cap)
        for name in ("points", "disp", "acc", "count", "age", "serial", "live"):
            old = getattr(self, name)
            arr = np.zeros((new,) + old.shape[1:], old.dtype)
            arr[:cap] = old
            setattr(self, name, arr)
        self._flat_views()
