"""What F3 reads of a normalised skeleton sequence: the per-step input
channels of the LSTM and the temporal pyramid added to the F3 vector.

Both start from a prepared sequence (:func:`adl.features.f3.prepare_sequence`):
``(T, J * 3)`` joints in the normalised body frame (thesis section 3.3.1,
Fig. 3.3), gap-filled.

Input channels (``inputs``, names joined by ``+``)
    ``joints``
        The normalised joints themselves, ``J * 3`` values per step -- the
        thesis's input ``v_t`` (section 3.3.1).
    ``velocity``
        ``v_t - v_{t-1}`` per joint (0 at the first step), ``J * 3`` values:
        the motion between consecutive frames, which the joints show only
        through differences the network has to learn.  Not in the thesis.
    ``bones``
        ``v_child - v_parent`` for each bone of the layout
        (:attr:`adl.data.layouts.JointLayout.bones`), ``B * 3`` values: limb
        directions and lengths, independent of where the body stands.  Not in
        the thesis.

    Every channel is a set of 3D vectors in the same body frame, so a
    rotation, a scale or a left-right mirror of the joints acts on each
    channel the same way (:func:`input_channels` of the transformed joints is
    the transformed channels).

Temporal pyramid (``pyramid`` levels; not in the thesis)
    Level ``l`` cuts the sequence into ``2 ** l`` equal segments in time; each
    segment is described by the mean and the standard deviation of every
    channel over its frames.  ``levels = 3`` gives 1 + 2 + 4 = 7 segments,
    ``7 * 2 * D`` values for ``D`` channel values per step.  The classic
    skeleton baseline of a temporal pyramid of joint statistics; it describes
    where the body is and how much it moves in each part of the action,
    without the training a recurrent network needs.

Pooling (``pool``)
    The names of the poolings over time of the LSTM's hidden states that
    start the F3 vector (:func:`parse_pool`); the network itself is in
    :mod:`adl.features.f3`.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

#: The channels ``inputs`` may name, in the order they are concatenated.
CHANNELS = ("joints", "velocity", "bones")
#: How the LSTM's last-layer hidden states may be pooled over the valid steps
#: (:class:`adl.features.f3.SkeletonLSTM`'s ``pool``).
POOLINGS = ("mean", "max", "last")


def parse_pool(pool: str) -> Tuple[str, ...]:
    """The poolings ``pool`` names (e.g. ``"mean+max+last"``), in :data:`POOLINGS` order.

    Raises
    ------
    ValueError
        An unknown or repeated name, or none.
    """
    names = pool.split("+") if isinstance(pool, str) else []
    if not names or any(n not in POOLINGS for n in names) or len(set(names)) != len(names):
        raise ValueError(f"expected pool as distinct names joined by '+' (some of "
                         f"{', '.join(POOLINGS)}), got {pool!r}")
    return tuple(p for p in POOLINGS if p in names)


def parse_inputs(inputs: str) -> Tuple[str, ...]:
    """The channel names of ``inputs`` (e.g. ``"joints+velocity"``), in
    :data:`CHANNELS` order.

    Raises
    ------
    ValueError
        An unknown or repeated name, or none.
    """
    if not isinstance(inputs, str):
        raise ValueError(f"expected inputs as channel names joined by '+' (some of "
                         f"{', '.join(CHANNELS)}), got {inputs!r}")
    names = [n.strip() for n in inputs.split("+")]
    unknown = [n for n in names if n not in CHANNELS]
    if unknown or not names:
        raise ValueError(f"expected inputs as channel names joined by '+' (some of "
                         f"{', '.join(CHANNELS)}), got {inputs!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"inputs {inputs!r} names a channel twice")
    return tuple(c for c in CHANNELS if c in names)


def channel_width(n_joint_values: int, inputs: str,
                  bones: Optional[Sequence[Tuple[int, int]]] = None) -> int:
    """Values per step of :func:`input_channels` for ``n_joint_values``
    (``J * 3``) joint values per step."""
    width = 0
    for name in parse_inputs(inputs):
        width += 3 * len(bones or ()) if name == "bones" else n_joint_values
    return width


def input_channels(seq: np.ndarray, inputs: str = "joints",
                   bones: Optional[Sequence[Tuple[int, int]]] = None) -> np.ndarray:
    """The per-step input of the LSTM: the channels ``inputs`` names.

    Parameters
    ----------
    seq : ndarray, shape (T, J * 3)
        Normalised joints (:func:`adl.features.f3.prepare_sequence`).
    inputs : str
        Channel names joined by ``+`` (module docstring).
    bones : sequence of (parent, child) joint indices
        Needed by the ``bones`` channel (the layout's ``bones``).

    Returns
    -------
    ndarray, shape (T, D), float32
        The channels side by side, in :data:`CHANNELS` order.
    """
    names = parse_inputs(inputs)
    seq = np.asarray(seq, dtype=np.float32)
    if seq.ndim != 2 or seq.shape[1] % 3:
        raise ValueError(f"expected joints of shape (T, J * 3), got {seq.shape}")
    if names == ("joints",):
        return seq
    parts = []
    for name in names:
        if name == "joints":
            parts.append(seq)
        elif name == "velocity":
            parts.append(np.diff(seq, axis=0, prepend=seq[:1]))
        else:
            if not bones:
                raise ValueError("the bones channel needs the layout's bones (parent, child) pairs")
            xyz = seq.reshape(len(seq), -1, 3)
            pairs = np.asarray(bones, dtype=np.int64)
            if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.min() < 0 \
                    or pairs.max() >= xyz.shape[1]:
                raise ValueError(f"expected bones as (parent, child) indices of the "
                                 f"{xyz.shape[1]} joints, got {bones!r}")
            parts.append((xyz[:, pairs[:, 1]] - xyz[:, pairs[:, 0]]).reshape(len(seq), -1))
    return np.concatenate(parts, axis=1).astype(np.float32, copy=False)


def pyramid_segments(length: int, levels: int):
    """``(start, stop)`` frame ranges of the pyramid's segments, level by level
    (``2 ** l`` equal parts of level ``l``; every segment keeps at least one
    frame, so a sequence shorter than a level's segment count repeats frames)."""
    if length < 1:
        raise ValueError(f"expected a sequence of at least 1 frame, got {length}")
    out = []
    for level in range(levels):
        n = 2 ** level
        bounds = np.linspace(0, length, n + 1)
        for i in range(n):
            start = min(int(np.floor(bounds[i])), length - 1)
            stop = min(max(start + 1, int(np.ceil(bounds[i + 1]))), length)
            out.append((start, stop))
    return out


def temporal_pyramid(channels: np.ndarray, levels: int = 3) -> np.ndarray:
    """Mean and standard deviation of every channel value over each segment of
    a temporal pyramid (module docstring).

    Parameters
    ----------
    channels : ndarray, shape (T, D)
    levels : int >= 1
        ``2 ** levels - 1`` segments.

    Returns
    -------
    ndarray, shape ((2 ** levels - 1) * 2 * D,), float32
        Per segment (level by level, in time order): ``[mean (D), std (D)]``.
    """
    if not isinstance(levels, (int, np.integer)) or isinstance(levels, bool) or levels < 1:
        raise ValueError(f"expected pyramid levels as an integer >= 1, got {levels!r}")
    x = np.asarray(channels, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected channels of shape (T, D), got {x.shape}")
    feats = []
    for start, stop in pyramid_segments(len(x), levels):
        seg = x[start:stop]
        feats.append(seg.mean(axis=0))
        feats.append(seg.std(axis=0))
    return np.concatenate(feats).astype(np.float32)
