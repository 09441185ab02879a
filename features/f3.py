"""F3 -- pose-based motion: a 3-layer stacked LSTM over normalised 3D
skeletons (thesis section 3.3.1, Fig. 3.3-3.4, Eq. 3.5).

Sequences (:func:`prepare_sequence`, fold-independent)
    The video is normalised with :func:`adl.data.geometry.normalise_skeleton`
    (hip centre origin, X right->left hip, Y up the spine, scale = spine
    length) and each frame flattened to ``J * 3`` values.  The reference is
    ``per_frame``: every frame its own body frame (the thesis), or the first
    valid frame's for the whole video (default, ``F3Config(per_frame=False)``),
    which keeps how the body moves and turns and does not re-rotate and
    re-scale every frame by the noisy hip and spine joints.  Missing values
    (a joint or a whole frame NaN, or a frame whose anchors are missing) are **linearly
    interpolated in time** from the nearest valid frames, per coordinate,
    and held constant before the first / after the last valid frame; a joint
    never seen in the video is 0 (the hip centre).  A video with no valid
    frame at all becomes zeros, with a warning.

Length (``max_len``)
    Sequences longer than ``max_len`` steps are resampled to exactly
    ``max_len`` steps by uniform nearest-frame sampling over the whole video
    (CAD-120's ~1000 frames at 30 fps -> 100 steps = ~3 steps/s); shorter ones
    keep every frame.  Training with ``augment=True`` instead samples a
    random 80-100 % window of the video (temporal crop) before resampling.

Padding and masks
    A batch is right-padded with zeros to its longest sequence (the thesis
    pads with zeros) and a mask marks the valid steps.  The LSTM is causal and
    the padding comes after the valid steps, so padded steps never change a
    valid step's output; the loss, the pooled features and the averaged
    probabilities use valid steps only.

Loss (Eq. 3.5)
    Cross-entropy of the video's label against the prediction at *every*
    valid time step, averaged over the valid steps of each sequence, then
    over the sequences of the batch (each video weighs the same whatever its
    length).

Input scaling (``standardize=True``, default)
    Not in the thesis: each input coordinate is centred by its mean over the
    training frames and all are divided by one global scale (the RMS of the
    centred training values), fitted on the fit split only.  It removes the
    large constant offsets of joints that barely move (head, feet) without
    blowing up their noise, and markedly speeds up learning (on the synthetic
    10-class CAD-120-like fold of ``tests/benchmarks/bench_f3.py``, test
    accuracy goes from ~20 % without it to 40-67 % with it, same epochs).
    ``standardize=False`` feeds the normalised skeletons as they are.

Input channels (``inputs``, :mod:`adl.features.f3_inputs`)
    What the LSTM reads at each step: the normalised joints (``"joints"``,
    the thesis), and optionally their velocities and the bone vectors
    (default ``"joints+velocity+bones"``), derived after any augmentation or
    mirroring, then standardised as above.

Left-right mirroring (``mirror=True``; off by default)
    Not in the thesis: every training sequence is also presented mirrored
    (X of the normalised body frame negated, ``*_left`` and ``*_right``
    joints swapped, :attr:`adl.data.layouts.JointLayout.mirror_permutation`), so
    a left-handed subject's activity looks like a right-handed one's.  With
    leave-one-subject-out a held-out left-handed subject is otherwise never
    seen mirrored in training (CAD-120 has one).  It doubles the training
    set, hence the LSTM's training time; the temporal pyramid (below) is then
    the mean of a video's and its mirror image's, so the whole F3 vector is
    handedness-invariant.  ``mirror=False`` is the thesis.

Augmentation (``augment``; on by default)
    Not in the thesis: each training batch draws, per sequence, a rotation
    about the body's vertical axis, an isotropic scale and a temporal crop
    (:data:`AUGMENT_ROTATION_DEG`, :data:`AUGMENT_SCALE`, :data:`AUGMENT_CROP`).
    Describing videos (``transform``, ``predict``) never augments.

Features (the F3 vector)
    The last layer's hidden states ``h_t`` over the valid steps (the thesis's
    "latent vectors from every time step"), pooled as ``pool`` names: their
    mean over time (``"mean"``, default in :class:`F3Config`, ``hidden``
    values) or ``[mean_t h_t, max_t h_t, h_last]`` (``"mean+max+last"``,
    ``3 * hidden`` values, this estimator's default and adl's F3 before 0.2).
    With ``pyramid > 0`` (default 3 in :class:`F3Config`) the temporal
    pyramid of the input channels follows
    (:func:`adl.features.f3_inputs.temporal_pyramid`), and every value of
    the vector is standardised with the fold's training videos (not in the
    thesis).

torch is imported inside functions only (``features`` stays torch-free).
"""
from __future__ import annotations

import copy
import warnings
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from adl.data.geometry import normalise_skeleton
from adl.data.layouts import JointLayout
from adl.data.record import SkeletonSequence, VideoRecord

from .f3_config import (AUGMENT_CROP, AUGMENT_ROTATION_DEG, AUGMENT_SCALE, HIDDEN_BY_DATASET,
                        F3Config, check_lstm_params)
from .f3_inputs import channel_width, input_channels, parse_inputs, parse_pool, temporal_pyramid

__all__ = ["HIDDEN_BY_DATASET", "F3Config", "SkeletonLSTM", "mirror_sequence", "prepare_sequence",
           "resample_indices", "sequence_loss"]

#: Values of the parameters added after version 0.2.0, for models pickled before them.
_BEFORE_INPUTS = {"inputs": "joints", "bones": None, "pyramid": 0, "pool": "mean+max+last",
                  "device": "cpu"}


def check_pyramid(levels) -> None:
    """Refuse pyramid levels that are not an integer >= 0 (ValueError)."""
    if not isinstance(levels, (int, np.integer)) or isinstance(levels, bool) or levels < 0:
        raise ValueError(f"expected pyramid levels as an integer >= 0 (0: no pyramid), "
                         f"got {levels!r}")


# -- sequences -------------------------------------------------------------------
def _interpolate_missing(x: np.ndarray) -> np.ndarray:
    """Fill NaN in ``(T, D)`` by linear interpolation along T, per column."""
    x = x.copy()
    t = np.arange(x.shape[0])
    finite = np.isfinite(x)
    for col in np.flatnonzero(~finite.all(axis=0)):
        ok = finite[:, col]
        x[:, col] = np.interp(t, t[ok], x[ok, col]) if ok.any() else 0.0
    return x


def prepare_sequence(source: Union[VideoRecord, SkeletonSequence, np.ndarray],
                     layout: Optional[JointLayout] = None, *, per_frame: bool = True) -> np.ndarray:
    """The LSTM input of one video: normalised, gap-filled, flattened skeletons.

    Parameters
    ----------
    source : VideoRecord, SkeletonSequence or ndarray (T, J, 3)
        Camera-space joints in metres, NaN where missing.
    layout : JointLayout, optional
        Required unless ``source`` is a record with a layout.
    per_frame : bool
        Passed to :func:`adl.data.geometry.normalise_skeleton`.

    Returns
    -------
    ndarray, shape (T, J * 3), float32
        No NaN (see the module docstring for the filling rule).
    """
    name = "skeleton"
    if isinstance(source, VideoRecord):
        name = f"video {source.video_id!r}"
        layout = layout or source.joint_layout
        joints = source.load_skeleton().joints
    elif isinstance(source, SkeletonSequence):
        joints = source.joints
    elif isinstance(source, np.ndarray):
        joints = source
    else:
        raise TypeError(f"expected a VideoRecord, SkeletonSequence or (T, J, 3) array, "
                        f"got {type(source).__name__}")
    if layout is None:
        raise ValueError(f"{name}: no joint layout; pass layout=<JointLayout>")
    joints = np.asarray(joints)
    if joints.ndim != 3 or joints.shape[0] == 0:
        raise ValueError(f"{name}: expected joints of shape (T >= 1, {layout.n_joints}, 3), got {joints.shape}")
    norm = normalise_skeleton(joints, layout, per_frame=per_frame)
    flat = norm.reshape(norm.shape[0], -1).astype(np.float64)
    if not np.isfinite(flat).any():
        warnings.warn(f"{name}: no frame with a usable skeleton (hips and spine); "
                      f"its F3 input is all zeros", RuntimeWarning, stacklevel=2)
        return np.zeros(flat.shape, dtype=np.float32)
    return _interpolate_missing(flat).astype(np.float32)


def mirror_sequence(seq: np.ndarray, permutation: Sequence[int]) -> np.ndarray:
    """Left-right mirror image of a prepared sequence (T, J*3) in the
    normalised body frame: X negated, joints reordered by ``permutation``."""
    perm = np.asarray(permutation, dtype=np.int64)
    seq = np.asarray(seq)
    if seq.ndim != 2 or seq.shape[1] != perm.size * 3:
        raise ValueError(f"mirroring needs (T, {perm.size * 3}) sequences for a {perm.size}-joint "
                         f"layout, got shape {seq.shape}")
    if np.any(np.sort(perm) != np.arange(perm.size)):
        raise ValueError("the mirror permutation must reorder the joints (each index once)")
    xyz = seq.reshape(len(seq), perm.size, 3)[:, perm].copy()
    xyz[..., 0] *= -1
    return xyz.reshape(len(seq), -1).astype(seq.dtype, copy=False)


def resample_indices(length: int, max_len: int) -> np.ndarray:
    """Frames kept from a ``length``-frame sequence: all of them when
    ``length <= max_len``, else ``max_len`` uniformly spaced (nearest frame)."""
    if length <= max_len:
        return np.arange(length)
    return np.round(np.linspace(0, length - 1, max_len)).astype(np.int64)


def sequence_loss(logits, y, mask):
    """Eq. 3.5: cross-entropy at every valid step, averaged per sequence, then
    over the batch.

    Parameters
    ----------
    logits : Tensor (B, L, C)
    y : Tensor (B,) int64
    mask : Tensor (B, L) bool
        True on valid (non-padded) steps; each row has at least one.
    """
    import torch
    B, L, C = logits.shape
    ce = torch.nn.functional.cross_entropy(logits.reshape(B * L, C), y.repeat_interleave(L),
                                           reduction="none").view(B, L)
    m = mask.to(ce.dtype)
    return ((ce * m).sum(1) / m.sum(1).clamp_min(1.0)).mean()


class SkeletonLSTM(ClassifierMixin, TransformerMixin, BaseEstimator):
    """3-layer stacked LSTM trained with a per-time-step loss (Eq. 3.5);
    its last layer's pooled hidden states are the F3 features.

    Parameters
    ----------
    hidden : int
        Units per layer (64 CAD-60/CAD-120, 128 MSRDailyActivity3D, 512 NTU).
    layers : int
    dropout : float
        Between LSTM layers and before the classifier.
    lr : float
        Adam learning rate.
    max_epochs : int
    patience : int
        Early stopping: epochs without a lower validation loss (weights of the
        best epoch are restored).  Without validation data, ``max_epochs``
        epochs are run.
    batch_size : int
    augment : bool
        Training-time rotation about the vertical axis, scale and temporal
        crop (ranges :data:`AUGMENT_ROTATION_DEG`, :data:`AUGMENT_SCALE`,
        :data:`AUGMENT_CROP`); needs ``J * 3`` inputs.  Off = the thesis.
    random_state : int
        Seeds the weights, the batch order and the augmentation.
    max_len : int
        Longest sequence fed to the LSTM (see the module docstring).
    clip_norm : float or None
        Gradient-norm clipping (1 in the thesis).
    standardize : bool
        Centre and scale the inputs with training statistics (module doc).
    mirror_joints : tuple of int, optional
        A joint permutation (:attr:`adl.data.layouts.JointLayout.mirror_permutation`):
        every training sequence is also used left-right mirrored (module doc).
        None = no mirroring (the thesis).
    num_threads : int, optional
        torch threads while fitting/extracting (restored afterwards).  Default
        1: a recurrent step is too small to gain from intra-op threads (2
        threads: 59 vs 75 ms per batch-32 step on an idle 2-core machine) and
        several times *slower* when other processes share the cores; run
        folds in parallel instead.
    inputs : str
        The input channels, names joined by ``+``: ``joints`` (the thesis),
        ``velocity``, ``bones`` (:mod:`adl.features.f3_inputs`).  The
        sequences given to ``fit`` / ``transform`` are always the ``(T, J * 3)``
        joints; the other channels are derived from them.
    bones : tuple of (int, int), optional
        ``(parent, child)`` joint pairs (the layout's ``bones``); needed by
        the ``bones`` channel.
    pyramid : int
        Levels of the temporal pyramid of the input channels appended to the
        features (0: none, the thesis).
    pool : str
        How the last layer's hidden states are pooled over the valid steps:
        ``mean``, ``max``, ``last`` joined by ``+``.
    device : str
        Where the LSTM trains and runs: ``"cpu"`` (the default), ``"auto"``,
        ``"cuda"`` or ``"cuda:N"`` (:func:`adl.features.device.resolve_device`).
        The weights are initialised on the CPU from ``random_state`` whatever
        the device, so a GPU run starts from the same network; it trains in
        float32 (the network is small: autocast would save little and need
        loss scaling), and cuDNN's LSTM kernels and the GPU's dropout stream
        make its result differ from the CPU's (it is repeatable on one GPU
        only as far as cuDNN is).  The fitted model stays on the device;
        pickling stores CPU arrays.
    ----------
    classes_ : ndarray
    n_features_in_ : int
        Values per time step.
    model_ : torch.nn.ModuleDict
        ``lstm``, ``drop``, ``head``.
    best_epoch_, n_epochs_ : int
    input_mean_ : ndarray (D,), input_scale_ : float
        Input standardisation (identity when ``standardize=False``).
    history_ : list of dict
        Per epoch: ``train_loss``, ``val_loss``, ``val_accuracy``.
    block_stats_ : list of (ndarray, ndarray)
        With ``pyramid > 0``: mean and standard deviation of every value of
        the pooled states and of the pyramid over the training videos.
    """

    def __init__(self, hidden: int = 64, layers: int = 3, dropout: float = 0.5, lr: float = 0.005,
                 max_epochs: int = 60, patience: int = 10, batch_size: int = 16,
                 augment: bool = False, random_state: int = 0, max_len: int = 100,
                 clip_norm: Optional[float] = 1.0, standardize: bool = True,
                 num_threads: Optional[int] = None, mirror_joints: Optional[Tuple[int, ...]] = None,
                 inputs: str = "joints", bones: Optional[Tuple[Tuple[int, int], ...]] = None,
                 pyramid: int = 0, pool: str = "mean+max+last", device: str = "cpu"):
        self.device = device
        self.mirror_joints = mirror_joints
        self.pool = pool
        self.inputs = inputs
        self.bones = bones
        self.pyramid = pyramid
        self.hidden = hidden
        self.layers = layers
        self.dropout = dropout
        self.lr = lr
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.augment = augment
        self.random_state = random_state
        self.max_len = max_len
        self.clip_norm = clip_norm
        self.standardize = standardize
        self.num_threads = num_threads

    # -- input handling ------------------------------------------------------------
    def _check_sequences(self, sequences, name: str, n_features: Optional[int]) -> List[np.ndarray]:
        if isinstance(sequences, np.ndarray) and sequences.ndim == 3:
            sequences = list(sequences)
        if not isinstance(sequences, (list, tuple)) or len(sequences) == 0:
            raise ValueError(f"expected {name} as a non-empty list of (T, D) arrays, got "
                             f"{type(sequences).__name__}")
        out = []
        for i, s in enumerate(sequences):
            s = np.asarray(s, dtype=np.float32)
            if s.ndim != 2 or s.shape[0] == 0:
                raise ValueError(f"expected {name}[{i}] of shape (T >= 1, D), got {s.shape}")
            if n_features is not None and s.shape[1] != n_features:
                raise ValueError(f"expected {name}[{i}] with {n_features} values per step, got {s.shape[1]}")
            if not np.isfinite(s).all():
                raise ValueError(f"{name}[{i}] contains NaN/inf: fill gaps with prepare_sequence() first")
            n_features = s.shape[1]
            out.append(s)
        return out

    def _encode(self, y, name: str, n: int) -> np.ndarray:
        y = np.asarray(y)
        if y.shape != (n,):
            raise ValueError(f"expected {name} of shape ({n},), got {y.shape}")
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(f"{name} has labels not seen in training: {unknown[:5].tolist()}")
        return np.searchsorted(self.classes_, y)

    def _pad(self, seqs: Sequence[np.ndarray]):
        import torch
        lengths = np.array([len(s) for s in seqs])
        x = np.zeros((len(seqs), lengths.max(), seqs[0].shape[1]), dtype=np.float32)
        for i, s in enumerate(seqs):
            x[i, : len(s)] = s
        mask = np.arange(lengths.max())[None, :] < lengths[:, None]
        return torch.from_numpy(x), torch.from_numpy(mask)

    @staticmethod
    def _on(device, x, mask):
        """``(x, mask)`` on ``device`` (no copy on the CPU)."""
        if device.type == "cpu":
            return x, mask
        return x.to(device, non_blocking=True), mask.to(device, non_blocking=True)

    def _model_device(self):
        return next(self.model_.parameters()).device

    def _scaled(self, s: np.ndarray) -> np.ndarray:
        return ((s - self.input_mean_) / self.input_scale_).astype(np.float32)

    def _channels(self, s: np.ndarray) -> np.ndarray:
        return input_channels(s, self.inputs, self.bones)

    def _fixed(self, s: np.ndarray) -> np.ndarray:
        return self._scaled(self._channels(s[resample_indices(len(s), self.max_len)]))

    def _augmented(self, s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = len(s)
        keep = max(2, int(round(rng.uniform(*AUGMENT_CROP) * n))) if n > 2 else n
        start = int(rng.integers(0, n - keep + 1))
        s = s[start: start + keep]
        s = s[resample_indices(len(s), self.max_len)]
        theta = np.deg2rad(rng.uniform(-AUGMENT_ROTATION_DEG, AUGMENT_ROTATION_DEG))
        c, si = np.cos(theta), np.sin(theta)
        rot = np.array([[c, 0.0, si], [0.0, 1.0, 0.0], [-si, 0.0, c]], dtype=np.float32)
        xyz = s.reshape(len(s), -1, 3) @ rot.T * np.float32(rng.uniform(*AUGMENT_SCALE))
        return self._scaled(self._channels(xyz.reshape(len(s), -1)))

    # -- network ---------------------------------------------------------------------
    def _build(self, n_features: int, n_classes: int):
        import torch
        return torch.nn.ModuleDict({
            "lstm": torch.nn.LSTM(n_features, self.hidden, num_layers=self.layers, batch_first=True,
                                  dropout=self.dropout if self.layers > 1 else 0.0),
            "drop": torch.nn.Dropout(self.dropout),
            "head": torch.nn.Linear(self.hidden, n_classes),
        })

    def _run(self, x):
        h, _ = self.model_["lstm"](x)
        return h, self.model_["head"](self.model_["drop"](h))

    def _threads(self):
        import torch
        prev = torch.get_num_threads()
        torch.set_num_threads(self.num_threads or 1)
        return prev

    def fit(self, sequences, y, val_sequences=None, val_y=None):
        """Train on the fit videos of a fold, early-stopping on the validation ones.

        Parameters
        ----------
        sequences : list of ndarray (T_i, D)
            From :func:`prepare_sequence`.
        y : array-like (n,)
            Labels (any sortable type).
        val_sequences, val_y : optional
            Validation split (carved from the training subjects).
        """
        import torch
        from .device import resolve_device
        check_lstm_params(self.hidden, self.layers, self.dropout, self.lr, self.max_epochs,
                         self.patience, self.batch_size, self.max_len, self.clip_norm)
        device = resolve_device(self.device)
        channels = parse_inputs(self.inputs)
        if "bones" in channels and not self.bones:
            raise ValueError(f"inputs={self.inputs!r} needs bones=<(parent, child) joint pairs> "
                             f"(the layout's bones)")
        check_pyramid(self.pyramid)
        parse_pool(self.pool)
        seqs = self._check_sequences(sequences, "sequences", None)
        n_features = seqs[0].shape[1]
        if self.augment and n_features % 3:
            raise ValueError(f"augment=True rotates 3D joints: expected a multiple of 3 values per "
                             f"step, got {n_features}")
        if channels != ("joints",) and n_features % 3:
            raise ValueError(f"inputs={self.inputs!r} derives 3D vectors from the joints: expected "
                             f"a multiple of 3 values per step, got {n_features}")
        train_seqs = list(seqs)      # the fold's own videos, for the F3 vector's statistics
        self.classes_ = np.unique(np.asarray(y))
        y_idx = self._encode(y, "y", len(seqs))
        if self.mirror_joints is not None:
            seqs = seqs + [mirror_sequence(s, self.mirror_joints) for s in seqs]
            y_idx = np.concatenate([y_idx, y_idx])
        if len(self.classes_) < 2:
            raise ValueError(f"expected at least 2 classes in y, got {len(self.classes_)}")
        have_val = val_sequences is not None
        if have_val != (val_y is not None):
            raise ValueError("pass val_sequences and val_y together")
        if self.standardize:
            frames = np.concatenate([self._channels(s) for s in seqs]).astype(np.float64)
            self.input_mean_ = frames.mean(axis=0).astype(np.float32)
            rms = float(np.sqrt(((frames - self.input_mean_) ** 2).mean()))
            self.input_scale_ = rms if rms > 1e-8 else 1.0
        else:
            self.input_mean_ = np.zeros(channel_width(n_features, self.inputs, self.bones),
                                        dtype=np.float32)
            self.input_scale_ = 1.0
        if have_val:
            vseqs = self._check_sequences(val_sequences, "val_sequences", n_features)
            train_seqs += vseqs
            vy = torch.from_numpy(self._encode(val_y, "val_y", len(vseqs))).to(device)
            vx, vmask = self._on(device, *self._pad([self._fixed(s) for s in vseqs]))
        self.n_features_in_ = int(n_features)

        rng = np.random.default_rng(self.random_state)
        prev_threads = self._threads()
        try:
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(self.random_state)   # seeds the CUDA generators too
                self.model_ = self._build(channel_width(n_features, self.inputs, self.bones),
                                          len(self.classes_)).to(device)
                opt = torch.optim.Adam(self.model_.parameters(), lr=self.lr)
                fixed = None if self.augment else [self._fixed(s) for s in seqs]
                y_t = torch.from_numpy(y_idx).to(device)
                self.history_ = []
                best_loss, best_state, self.best_epoch_, waited = np.inf, None, 0, 0
                for epoch in range(1, self.max_epochs + 1):
                    self.model_.train()
                    order = rng.permutation(len(seqs))
                    total, count = 0.0, 0
                    for start in range(0, len(order), self.batch_size):
                        idx = order[start: start + self.batch_size]
                        batch = ([fixed[i] for i in idx] if fixed is not None
                                 else [self._augmented(seqs[i], rng) for i in idx])
                        x, mask = self._on(device, *self._pad(batch))
                        _, logits = self._run(x)
                        loss = sequence_loss(logits, y_t[torch.from_numpy(idx).to(device)], mask)
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        if self.clip_norm is not None:
                            torch.nn.utils.clip_grad_norm_(self.model_.parameters(), self.clip_norm)
                        opt.step()
                        total += loss.item() * len(idx)
                        count += len(idx)
                    record = {"epoch": epoch, "train_loss": total / count}
                    if have_val:
                        self.model_.eval()
                        with torch.inference_mode():
                            _, vlogits = self._run(vx)
                            vloss = float(sequence_loss(vlogits, vy, vmask))
                            vacc = float((self._mean_proba(vlogits, vmask).argmax(1) == vy).float().mean())
                        record.update(val_loss=vloss, val_accuracy=vacc)
                        if vloss < best_loss - 1e-6:
                            best_loss, self.best_epoch_, waited = vloss, epoch, 0
                            best_state = copy.deepcopy(self.model_.state_dict())
                        else:
                            waited += 1
                    self.history_.append(record)
                    if have_val and waited >= self.patience:
                        break
                self.n_epochs_ = len(self.history_)
                if best_state is not None:
                    self.model_.load_state_dict(best_state)
                else:
                    self.best_epoch_ = self.n_epochs_
                self.model_.eval()
        finally:
            torch.set_num_threads(prev_threads)
        self._fit_blocks(train_seqs)
        return self

    # -- pickling: weights as numpy arrays ------------------------------------------
    # torch's own pickling embeds storage keys derived from memory addresses, so
    # the same model would give different bytes in every process; plain arrays
    # make a saved fold model bit-identical between identical runs.
    def __getstate__(self):
        state = dict(super().__getstate__())
        model = state.pop("model_", None)
        if model is not None:
            state["_model_weights"] = {k: v.detach().cpu().numpy().copy()
                                       for k, v in model.state_dict().items()}
        return state

    def __setstate__(self, state):
        state = dict(state)
        if "seed" in state and "random_state" not in state:   # pickled before the rename
            state["random_state"] = state.pop("seed")
        for name, value in _BEFORE_INPUTS.items():     # pickled before these parameters
            state.setdefault(name, value)
        weights = state.pop("_model_weights", None)
        if weights is not None:
            state.setdefault("block_stats_", [])
        super().__setstate__(state)
        if weights is not None:
            import torch
            self.model_ = self._build(channel_width(self.n_features_in_, self.inputs, self.bones),
                                      len(self.classes_))
            self.model_.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})
            self.model_.eval()

    @staticmethod
    def _mean_proba(logits, mask):
        m = mask.to(logits.dtype).unsqueeze(-1)
        return (logits.softmax(-1) * m).sum(1) / m.sum(1)

    def _forward_all(self, sequences) -> Tuple[np.ndarray, np.ndarray]:
        """(pooled features (n, k * H) for ``k`` poolings, mean probabilities (n, C)), in batches."""
        import torch
        check_is_fitted(self, "model_")
        seqs = [self._fixed(s) for s in self._check_sequences(sequences, "sequences", self.n_features_in_)]
        feats, probas = [], []
        prev_threads = self._threads()
        try:
            self.model_.eval()
            device = self._model_device()
            with torch.inference_mode():
                for start in range(0, len(seqs), max(self.batch_size, 64)):
                    x, mask = self._on(device, *self._pad(seqs[start: start + max(self.batch_size, 64)]))
                    h, logits = self._run(x)
                    m = mask.unsqueeze(-1)
                    lengths = mask.sum(1)
                    mean = (h * m).sum(1) / lengths.unsqueeze(-1)
                    hmax = h.masked_fill(~m, float("-inf")).amax(1)
                    last = h[torch.arange(len(h), device=h.device), lengths - 1]
                    pooled = {"mean": mean, "max": hmax, "last": last}
                    feats.append(torch.cat([pooled[p] for p in parse_pool(self.pool)],
                                           dim=1).cpu().numpy())
                    probas.append(self._mean_proba(logits, mask).cpu().numpy())
        finally:
            torch.set_num_threads(prev_threads)
        return (np.concatenate(feats).astype(np.float32), np.concatenate(probas).astype(np.float64))

    # -- the F3 vector ----------------------------------------------------------------
    def _blocks(self, sequences, pooled: np.ndarray) -> List[np.ndarray]:
        """The F3 vector's blocks before scaling: the pooled hidden states, then
        (``pyramid > 0``) the temporal pyramid of the input channels."""
        blocks = [pooled]
        if self.pyramid:
            pyr = np.stack([temporal_pyramid(self._channels(s), self.pyramid) for s in sequences])
            if self.mirror_joints is not None:     # handedness-invariant, as the LSTM's training
                pyr = (pyr + np.stack([temporal_pyramid(
                    self._channels(mirror_sequence(s, self.mirror_joints)), self.pyramid)
                    for s in sequences])) / 2
            blocks.append(pyr)
        return blocks

    def _fit_blocks(self, train_seqs: List[np.ndarray]) -> None:
        """Mean and standard deviation of every value of each block over the
        fold's training videos (fit and validation, not their mirror images);
        none for a vector of one block (the thesis's, left as it is)."""
        self.block_stats_ = []
        if not self.pyramid:
            return
        blocks = self._blocks(train_seqs, self._forward_all(train_seqs)[0])
        for b in blocks:
            b = b.astype(np.float64)
            sd = b.std(axis=0)
            self.block_stats_.append((b.mean(axis=0).astype(np.float32),
                                      np.where(sd > 1e-8, sd, 1.0).astype(np.float32)))

    def transform(self, sequences) -> np.ndarray:
        """The F3 vector of each sequence, ``(n, d)`` float32.

        The last layer's hidden states pooled over the valid steps as ``pool``
        names (``"mean+max+last"``: ``[mean h, max h, last h]``, ``3 * hidden``
        values); with ``pyramid > 0`` followed by the temporal pyramid of the input
        channels (:func:`adl.features.f3_inputs.temporal_pyramid`), and every
        value standardised with the mean and standard deviation of the
        fold's training videos (a value constant over them is only centred),
        so that each value weighs alike in the linear SVM that follows.
        """
        pooled = self._forward_all(sequences)[0]
        if not self.pyramid:
            return pooled
        seqs = self._check_sequences(sequences, "sequences", self.n_features_in_)
        blocks = self._blocks(seqs, pooled)
        return np.concatenate([(b - m) / sc for b, (m, sc) in zip(blocks, self.block_stats_)],
                              axis=1).astype(np.float32)

    def predict_proba(self, sequences) -> np.ndarray:
        """Class probabilities averaged over the valid time steps, ``(n, n_classes)``."""
        return self._forward_all(sequences)[1]

    def predict(self, sequences) -> np.ndarray:
        """The class of each sequence (highest :meth:`predict_proba`), ``(n,)``."""
        check_is_fitted(self, "model_")
        return self.classes_[self.predict_proba(sequences).argmax(1)]
