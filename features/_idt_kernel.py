"""Compiled (numba) kernels of F2's hot loops.

* :func:`tube_cells_kernel` (:func:`adl.features.idt_descriptors.tube_cells`):
  one pass over the rows of a frame builds the integral histograms of all
  channels (HOG 8, HOF 8 + "no motion", MBHx 8, MBHy 8) *one row at a time*
  and copies each point's patch corners out of the row as the sweep reaches
  them; the per-point cell sums and their normalisation follow, and each
  point's cells are added straight into its trajectory's accumulator (F2's
  slot pool), so no per-frame descriptor array is written and read back.  It
  computes what the OpenCV path computes (IDT ``BuildDescMat`` +
  ``GetDesc``: same binning, float32 sums, same normalisation) without its
  ``(C, H+1, W+1)`` integral images: the working set is one integral row of
  ``(W+1) x C`` floats and the points' corners (the gathers from full-frame
  integrals are memory-latency bound).  9.0 against 16.6 ms per 320x240
  frame (six scales) on the benchmark's calls.  Results agree with the
  OpenCV path to float32 rounding: both sum float32 integrals whose large
  values cancel in the cell sums (about 1e-4 at the 99.9th percentile
  against exact sums on 320x240 frames, a few 1e-3 at worst, below the
  float16 step of the cache for almost every value).
* :func:`median_flow_at`, :func:`dense_sample_kernel`, :func:`emit_kernel`:
  the tracker's 3x3 flow medians at the points only, the dense-sampling
  grid, and the pruning of finished trajectories; their results are the
  numpy / OpenCV functions' exactly (the tests compare them).

numba is imported when this module is, so the callers import it lazily;
compiled code is cached beside this file (``__pycache__``) when that folder
is writable (``NUMBA_CACHE_DIR`` elsewhere).  That cache records the
module's import name and is keyed by this file's size and modification time:
when the name changed (``features._idt_kernel`` became
``adl.features._idt_kernel`` in 0.2) this file had to change too, or
entries compiled under the old name would be loaded and fail to import it.
"""
from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True, boundscheck=False)
def tube_cells_kernel(mag, ang, zero, hof, px, py, patch, n_cells, starts, stops, eps,
                      acc, slot, tcell):  # pragma: no cover - compiled
    """Normalised per-frame cells of every point's patch, added to ``acc``.

    Parameters
    ----------
    mag, ang : float32 (F, H, W)
        Magnitude and angle (degrees, [0, 360]) of the F orientation fields;
        HOF's magnitude is already zero below the "no motion" threshold.
    zero : float32 (H, W)
        HOF's "no motion" weight (1 below the threshold); unused when ``hof < 0``.
    hof : int
        Index of the HOF field in ``mag`` (its channel ``starts[hof] + 8`` is
        "no motion"), or -1.
    px, py : float32 (N,)
        Point coordinates at this scale.
    patch, n_cells : int
        Patch side and cells per side; ``H, W >= patch``.
    starts, stops : int64 (F,)
        Channel range of each field's histogram type (normalised separately).
    eps : float
        Added to each bin before the L1 normalisation.
    acc : float32 (M, T, n_cells, n_cells, C)
        Accumulators: point ``p``'s cells (y cell, x cell, channel) are added
        to ``acc[slot[p], tcell[p]]`` (F2's trajectory pool: slot and
        temporal cell; a plain output is ``acc`` of zeros with ``T = 1``,
        ``slot = arange(N)``, ``tcell = 0``).
    slot, tcell : int64 (N,)
        The points' rows and temporal cells in ``acc`` (in range: no bounds
        checks here).  Slots must be distinct.
    """
    nf, h, w = mag.shape
    C = acc.shape[4]
    n = px.shape[0]
    step = patch // n_cells
    k = n_cells + 1
    half = patch // 2
    max_x = w - patch
    max_y = h - patch
    # patch anchors (IDT GetRect): round, centre, clamp inside the frame
    x0 = np.empty(n, np.int64)
    y0 = np.empty(n, np.int64)
    for p in range(n):
        x0[p] = min(max(np.int64(np.rint(px[p])) - half, 0), max_x)
        y0[p] = min(max(np.int64(np.rint(py[p])) - half, 0), max_y)
    # (point, corner row) pairs sorted by integral row (a counting sort)
    first = np.zeros(h + 2, np.int64)
    for p in range(n):
        for j in range(k):
            first[y0[p] + j * step + 1] += 1
    for r in range(1, h + 2):
        first[r] += first[r - 1]
    nxt = first.copy()
    who = np.empty(n * k, np.int64)
    which = np.empty(n * k, np.int64)
    for p in range(n):
        for j in range(k):
            r = y0[p] + j * step
            q = nxt[r]
            who[q] = p
            which[q] = j
            nxt[r] = q + 1
    # the sweep: integral row r = sum over rows [0, r) of the row running sums
    corners = np.empty((n, k, k, C), np.float32)
    row = np.zeros((w + 1, C), np.float32)
    plane = np.empty((w, C), np.float32)      # one image row of per-pixel bin weights
    run = np.empty(C, np.float32)
    to_bins = np.float32(8.0 / 360.0)
    for r in range(h + 1):
        if r > 0:
            y = r - 1
            plane[:, :] = 0.0
            for f in range(nf):
                o = starts[f]
                for x in range(w):
                    m = mag[f, y, x]
                    a = ang[f, y, x] * to_bins
                    whole = np.floor(a)
                    b0 = np.int64(whole) & 7         # 360 degrees is bin 0 (weight 0 above)
                    w1 = (a - whole) * m             # the next bin's share
                    plane[x, o + b0] = m - w1
                    plane[x, o + ((b0 + 1) & 7)] = w1
            if hof >= 0:
                o = starts[hof] + 8
                for x in range(w):
                    plane[x, o] = zero[y, x]
            run[:] = 0.0
            for x in range(w):
                src = plane[x]
                dst = row[x + 1]
                for c in range(C):
                    run[c] += src[c]
                    dst[c] += run[c]
        for q in range(first[r], first[r + 1]):
            p = who[q]
            j = which[q]
            for i in range(k):
                src = row[x0[p] + i * step]
                dst = corners[p, j, i]
                for c in range(C):
                    dst[c] = src[c]
    # per point: cell sums, then sqrt((v + eps) / sum(v + eps)) per type (GetDesc),
    # added to the point's accumulator (same layout as v: y cell, x cell, channel)
    nc2 = n_cells * n_cells
    v = np.empty((nc2, C), np.float32)
    zero32 = np.float32(0.0)
    eps32 = np.float32(eps)
    n_types = starts.shape[0]
    inv = np.empty(C, np.float32)         # per channel: 1 / its type's sum, and eps times that
    add = np.empty(C, np.float32)
    sums = np.empty(nc2, np.float32)
    for p in range(n):
        cp = corners[p]
        for j in range(n_cells):
            for i in range(n_cells):
                c11 = cp[j + 1, i + 1]
                c01 = cp[j, i + 1]
                c10 = cp[j + 1, i]
                c00 = cp[j, i]
                d = v[j * n_cells + i]
                for c in range(C):
                    d[c] = max(((c11[c] - c01[c]) - c10[c]) + c00[c], zero32)
        for t in range(n_types):
            # one running sum per cell (independent chains), then the cells in order
            for q in range(nc2):
                d = v[q]
                part = zero32
                for c in range(starts[t], stops[t]):
                    part += d[c]
                sums[q] = part
            total = zero32
            for q in range(nc2):
                total += sums[q]
            s = np.float32(1.0) / (total + eps32 * np.float32((stops[t] - starts[t]) * nc2))
            a = s * eps32
            for c in range(starts[t], stops[t]):
                inv[c] = s
                add[c] = a
        dst = acc[slot[p], tcell[p]]
        for j in range(n_cells):
            for i in range(n_cells):
                d = v[j * n_cells + i]
                out = dst[j, i]
                for c in range(C):                        # one loop over all channels
                    out[c] += np.sqrt(d[c] * inv[c] + add[c])
    return acc



@nb.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _sort2(a, b):  # pragma: no cover - compiled
    return min(a, b), max(a, b)


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _median9(p0, p1, p2, p3, p4, p5, p6, p7, p8):  # pragma: no cover - compiled
    """Median of 9 values by a 19-exchange network (Paeth); returns one of them exactly."""
    p1, p2 = _sort2(p1, p2)
    p4, p5 = _sort2(p4, p5)
    p7, p8 = _sort2(p7, p8)
    p0, p1 = _sort2(p0, p1)
    p3, p4 = _sort2(p3, p4)
    p6, p7 = _sort2(p6, p7)
    p1, p2 = _sort2(p1, p2)
    p4, p5 = _sort2(p4, p5)
    p7, p8 = _sort2(p7, p8)
    p0, p3 = _sort2(p0, p3)
    p5, p8 = _sort2(p5, p8)
    p4, p7 = _sort2(p4, p7)
    p3, p6 = _sort2(p3, p6)
    p1, p4 = _sort2(p1, p4)
    p2, p5 = _sort2(p2, p5)
    p4, p7 = _sort2(p4, p7)
    p4, p2 = _sort2(p4, p2)
    p6, p4 = _sort2(p6, p4)
    p4, p2 = _sort2(p4, p2)
    return p4


@nb.njit(cache=True, nogil=True, boundscheck=False)
def median_flow_at(flow, xi, yi, out):  # pragma: no cover - compiled
    """``out[p] =`` the 3x3 median of each flow component around ``(xi[p], yi[p])``.

    What ``cv2.medianBlur(component, 3)[yi, xi]`` gives (borders
    replicated), computed at the points only.
    """
    h, w = flow.shape[0], flow.shape[1]
    for p in range(xi.shape[0]):
        x = xi[p]
        y = yi[p]
        ya, yc = max(y - 1, 0), min(y + 1, h - 1)
        xa, xc = max(x - 1, 0), min(x + 1, w - 1)
        for c in range(2):
            out[p, c] = _median9(flow[ya, xa, c], flow[ya, x, c], flow[ya, xc, c],
                                 flow[y, xa, c], flow[y, x, c], flow[y, xc, c],
                                 flow[yc, xa, c], flow[yc, x, c], flow[yc, xc, c])
    return out


@nb.njit(cache=True, nogil=True, boundscheck=False)
def dense_sample_kernel(eig, occupied, step, threshold):  # pragma: no cover - compiled
    """The grid candidates of :func:`adl.features.trajectories.dense_sample`, (M, 2) float32.

    A cell's centre is kept when its eigenvalue is above ``threshold``
    (float32, as numpy compares a float32 image with a Python float) and no
    point of ``occupied`` (N, 2) lies in the cell; row-major cell order.
    """
    h, w = eig.shape
    gw, gh = w // step, h // step
    off = step // 2
    free = np.ones((gh, gw), np.bool_)
    for p in range(occupied.shape[0]):
        fx = np.floor(occupied[p, 0])
        fy = np.floor(occupied[p, 1])
        if fx >= 0 and fy >= 0 and fx < gw * step and fy < gh * step:
            free[np.int64(fy) // step, np.int64(fx) // step] = False
    out = np.empty((gh * gw, 2), np.float32)
    m = 0
    for i in range(gh):
        y = i * step + off
        for j in range(gw):
            x = j * step + off
            if free[i, j] and eig[y, x] > threshold:
                out[m, 0] = x
                out[m, 1] = y
                m += 1
    return out[:m].copy()


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _sum_pairwise(a):  # pragma: no cover - compiled
    """numpy's float32 sum of a short contiguous row (its 8-way unrolled pairwise loop)."""
    n = a.shape[0]
    if n < 8:
        res = np.float32(0.0)
        for i in range(n):
            res += a[i]
        return res
    r0, r1, r2, r3, r4, r5, r6, r7 = a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]
    i = 8
    while i < n - (n % 8):
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[i]
        i += 1
    return res


@nb.njit(cache=True, nogil=True, boundscheck=False)
def emit_kernel(points, disp, alive, scale, compensate, min_disp, min_var, max_var,
                max_dis):  # pragma: no cover - compiled
    """The finished trajectories (rows of ``points``) that survive pruning, their shape and mean.

    :func:`adl.features.trajectories.camera_motion_filter` (when ``compensate``)
    then :func:`adl.features.trajectories.trajectory_validity` on the live rows,
    with numpy's float32 arithmetic and summation orders (the results are
    those functions' exactly); the thresholds are float32, as numpy compares
    float32 arrays with Python floats.  Returns ``(rows, shape (k, L, 2),
    mean (k, 2))``: the surviving rows (live rows only), in order.
    """
    n, L1, _ = points.shape
    L = L1 - 1
    rows = np.empty(n, np.int64)
    shape = np.empty((n, L, 2), np.float32)
    mean = np.empty((n, 2), np.float32)
    tr = np.empty((L1, 2), np.float32)
    d = np.empty((L, 2), np.float32)
    norms = np.empty(L, np.float32)
    zero = np.float32(0.0)
    seven = np.float32(0.7)
    k = 0
    for p in range(n):
        if not alive[p]:
            continue
        if compensate:
            biggest = zero
            for s in range(L):
                d[s, 0] = disp[p, s, 0] * scale
                d[s, 1] = disp[p, s, 1] * scale
                norms[s] = np.sqrt(d[s, 0] * d[s, 0] + d[s, 1] * d[s, 1])
                biggest = max(biggest, norms[s])
            if not biggest > min_disp:
                continue
            total = _sum_pairwise(norms)
            inv = np.float32(1.0) / total if total > zero else zero
        for s in range(L1):
            tr[s, 0] = points[p, s, 0] * scale
            tr[s, 1] = points[p, s, 1] * scale
        mx = tr[0, 0]
        my = tr[0, 1]
        for s in range(1, L1):
            mx += tr[s, 0]
            my += tr[s, 1]
        mx = np.float32(np.float64(mx) / L1)       # numpy's mean: a float64 division
        my = np.float32(np.float64(my) / L1)
        vx = (tr[0, 0] - mx) * (tr[0, 0] - mx)
        vy = (tr[0, 1] - my) * (tr[0, 1] - my)
        for s in range(1, L1):
            vx += (tr[s, 0] - mx) * (tr[s, 0] - mx)
            vy += (tr[s, 1] - my) * (tr[s, 1] - my)
        sx = np.sqrt(np.float32(np.float64(vx) / L1))
        sy = np.sqrt(np.float32(np.float64(vy) / L1))
        if sx < min_var and sy < min_var:            # static
            continue
        if sx > max_var or sy > max_var:             # erratic
            continue
        big = zero
        for s in range(L):
            ex = tr[s + 1, 0] - tr[s, 0]
            ey = tr[s + 1, 1] - tr[s, 1]
            norms[s] = np.sqrt(ex * ex + ey * ey)
            big = max(big, norms[s])
        length = _sum_pairwise(norms)
        if big > max_dis and big > seven * length:   # a jump
            continue
        rows[k] = p
        mean[k, 0] = mx
        mean[k, 1] = my
        if compensate:
            for s in range(L):
                shape[k, s, 0] = d[s, 0] * inv
                shape[k, s, 1] = d[s, 1] * inv
        else:
            sc = np.float32(1.0) / length if length > zero else zero
            for s in range(L):
                shape[k, s, 0] = (tr[s + 1, 0] - tr[s, 0]) * sc
                shape[k, s, 1] = (tr[s + 1, 1] - tr[s, 1]) * sc
        k += 1
    return rows[:k].copy(), shape[:k].copy(), mean[:k].copy()

