"""Training the deep stage's models (``adl deep train``; thesis 4.6.1, Table 4.1,
5.4.1, Algorithms 1-2).

One run trains one registered model (:mod:`adl.deep.models.base`) on the
training videos of one split of a protocol:

* the model is built from the registry with its frozen configuration, the
  data-dependent fields (``n_classes``, ``feature_dim``, ``layout``,
  ``n_joints``, ``persons``, ``tp``) filled from the data;
* only ``model.required_inputs()`` are loaded;
* 10 % of the training videos (``val_fraction``) are held out for early
  stopping (thesis 4.6.1: "We sample 10% of initial training set as a
  validation set, for hyper-parameters optimization and for early stopping"):
  the weights of the best validation epoch are kept (``best.pt``);
* Adam, initial learning rate 0.01, x0.1 every 10 epochs, 30 epochs
  (Table 4.1); the temporal model uses Adam 5e-4 (5.4.1), see
  :data:`MODEL_TRAIN_DEFAULTS`;
* validation accuracy is per video: the softmax is max-pooled over a video's
  clips, as at test time (4.6.1).

Files of a run folder (everything loads with ``torch.load(weights_only=True)``:
state dicts, tensors and plain dicts/lists/str/numbers)::

    checkpoint.pt   after every epoch (atomic write): model, optimizer and
                    scheduler state, torch RNG states, history, identity
    best.pt         the best validation epoch's weights and the identity

A run whose folder holds ``checkpoint.pt`` resumes after its last epoch and
ends with the same weights as an uninterrupted run (the shuffling order of an
epoch is a function of the seed and the epoch; the RNG states are restored).
A checkpoint written for another model, model configuration, training
configuration, data set (its fingerprint) or split is refused.

Distributed training: under ``torchrun`` (``WORLD_SIZE`` > 1) the model is
wrapped in :class:`~torch.nn.parallel.DistributedDataParallel` (gloo on the
CPU, nccl on CUDA), each process reads its share of the fit videos' samples
through a seeded :class:`~torch.utils.data.distributed.DistributedSampler`,
``batch_size`` is the global mini-batch (``batch_size // world_size`` per
process), the validation videos are sharded over the processes and the
correct counts all-reduced, and only rank 0 logs and writes files.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from adl.data.atomic import atomic_write

from .device import resolve_device
from .models.base import DeepModel, ModelConfig, ModelSpec, get_model_spec

__all__ = ["TrainConfig", "TrainResult", "MODEL_TRAIN_DEFAULTS", "DATA_FIELDS",
           "CHECKPOINT_NAME", "BEST_NAME", "train", "make_model_config", "build_from_checkpoint",
           "load_checkpoint", "score_videos", "save_checkpoint", "split_run_dirs",
           "fit_epoch", "collate_samples", "shutdown_distributed"]

CHECKPOINT_NAME = "checkpoint.pt"
BEST_NAME = "best.pt"
#: Model configuration fields the data decides (:func:`make_model_config`).
DATA_FIELDS = ("n_classes", "feature_dim", "layout", "n_joints", "persons", "tp")
#: Training configuration fields that may differ when a run resumes: where it
#: runs and how data is loaded do not change the result; ``epochs`` may grow
#: (a run continued for more epochs follows the same schedule).
RESUMABLE_FIELDS = ("device", "num_workers", "epochs")

#: Per-model defaults that replace :class:`TrainConfig`'s (thesis 5.4.1 for the
#: temporal model: "the classification network is trained using the Adam
#: Optimizer with an initial learning rate of 0.0005. We use mini-batches of
#: size 32"; the thesis names no decay there, so the rate stays constant:
#: ``lr_gamma`` 1.0).
MODEL_TRAIN_DEFAULTS: Dict[str, Dict[str, object]] = {
    "temporal": {"lr": 5e-4, "batch_size": 32, "lr_gamma": 1.0},
}


def _check_int(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"expected {name} to be an integer >= {low}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained (thesis 4.6.1 and Table 4.1 for the defaults).

    Attributes
    ----------
    epochs : int
        30 (4.6.1).
    lr : float
        Adam's initial learning rate, 0.01 (4.6.1).
    lr_step, lr_gamma : int, float
        The rate is multiplied by ``lr_gamma`` every ``lr_step`` epochs
        (0.1 every 10, 4.6.1).
    batch_size : int
        The global mini-batch (16 in the thesis: 4 GPUs x 4 clips; 32 here
        as in 5.4.1, which suits cached features). Under DDP each process
        takes ``batch_size // world_size``.
    val_fraction : float
        Share of the training videos held out for early stopping (0.1,
        4.6.1); 0 trains on all of them and keeps the last epoch.
    seed : int
        Initial weights, validation draw, shuffling, dropout.
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (:func:`adl.deep.device.resolve_device`).
    num_workers : int
        DataLoader worker processes.
    pose_checkpoint : str or None
        A ``best.pt`` of ``pose-lstm`` / ``pose-gcn`` whose weights initialise
        the attention model's pose backbone (Algorithms 1-2: the pose backbone
        is pre-trained for classification first), through the model's
        ``load_pose_backbone(state_dict)``.
    standardize : bool
        Standardise the cached backbone features per channel with the
        statistics of the training (fit) videos before the model
        (:meth:`adl.deep.models.base.DeepModel.fit_input_normalization`).
        Off by default (the thesis fine-tunes the I3D instead); the demo and
        the synthetic experiments turn it on: features of a randomly
        initialised I3D share a large common component (mean 0.79, spread
        0.07 across clips), on which the I3D baseline and Separable STA
        stayed at chance (validation 16.7 %, 6 classes) at Adam 0.01.
    """

    epochs: int = 30
    lr: float = 0.01
    lr_step: int = 10
    lr_gamma: float = 0.1
    batch_size: int = 32
    val_fraction: float = 0.1
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    pose_checkpoint: Optional[str] = None
    standardize: bool = False

    def __post_init__(self):
        _check_int(self.epochs, "epochs", 1)
        _check_int(self.lr_step, "lr_step", 1)
        _check_int(self.batch_size, "batch_size", 1)
        _check_int(self.seed, "seed", 0)
        _check_int(self.num_workers, "num_workers", 0)
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"expected lr > 0, got {self.lr!r}")
        if not (isinstance(self.lr_gamma, (int, float)) and 0 < self.lr_gamma <= 1):
            raise ValueError(f"expected 0 < lr_gamma <= 1, got {self.lr_gamma!r}")
        if not (isinstance(self.val_fraction, (int, float)) and 0 <= self.val_fraction < 1):
            raise ValueError(f"expected 0 <= val_fraction < 1, got {self.val_fraction!r}")
        if not isinstance(self.device, str):
            raise ValueError(f"expected device as a string, got {self.device!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"TrainConfig: unknown field(s) {', '.join(unknown)}; expected some "
                             f"of {', '.join(sorted(names))}")
        return cls(**d)

    @classmethod
    def for_model(cls, model: str, **overrides) -> "TrainConfig":
        """The defaults of ``model`` (:data:`MODEL_TRAIN_DEFAULTS` over the
        class defaults), then ``overrides`` (None values are ignored)."""
        values = dict(MODEL_TRAIN_DEFAULTS.get(model, {}))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(values)


@dataclass
class TrainResult:
    """What :func:`train` did.

    Attributes
    ----------
    run_dir : Path
    model : str
    best_epoch : int
        1-based epoch whose weights are in ``best.pt``.
    best_val : float
        Its validation accuracy in % (NaN without validation).
    epochs_run : int
        Epochs trained by this call (0 when the checkpoint was complete).
    start_epoch : int
        Epochs already done when this call started (resume).
    history : list of dict
        One record per epoch: epoch, lr, loss terms, val accuracy, seconds.
    """

    run_dir: Path
    model: str
    best_epoch: int
    best_val: float
    epochs_run: int
    start_epoch: int
    history: List[dict] = field(default_factory=list)


# --------------------------------------------------------------------------- configuration

def make_model_config(spec: ModelSpec, model_config, data) -> ModelConfig:
    """``spec``'s configuration: the user's fields plus those the data decides.

    Parameters
    ----------
    spec : ModelSpec
    model_config : dict, ModelConfig or None
        The model's hyper-parameters (its :class:`ModelConfig` subclass's
        fields); the fields of :data:`DATA_FIELDS` come from ``data``.
    data : DeepData
        Gives ``classes``, ``feature_dim``, ``layout``, ``n_joints``,
        ``persons``, ``tp``.

    Raises
    ------
    ValueError
        A data field set to another value than the data's, or an unknown field.
    """
    if model_config is None:
        given = {}
    elif isinstance(model_config, ModelConfig):
        given = model_config.to_dict()
    elif isinstance(model_config, dict):
        given = dict(model_config)
    else:
        raise ValueError(f"expected the model configuration as a dict or a ModelConfig, got "
                         f"{type(model_config).__name__}")
    from_data = {"n_classes": len(data.classes), "feature_dim": data.feature_dim,
                 "layout": data.layout or "", "n_joints": data.n_joints,
                 "persons": data.persons, "tp": data.tp,
                 "segment_steps": getattr(data, "segment_steps", None)}
    names = {f.name for f in fields(spec.config_cls)}
    if "map_size" in names and "maps" in tuple(data.available_inputs) and len(data):
        # the cached Mixed_5c maps decide (t, h, w) (8 x 7 x 7 for 64 x 224 x 224 clips)
        from_data["map_size"] = tuple(int(s) for s in
                                      data.load(0, 0, ("maps",))["maps"].shape[1:])
    for key, value in from_data.items():
        if key not in names or value is None:
            continue
        if key in given and tuple(np.atleast_1d(given[key])) != tuple(np.atleast_1d(value)) \
                and isinstance(model_config, dict):
            raise ValueError(f"model configuration field {key}={given[key]!r} contradicts the "
                             f"data ({data.dataset}: {key}={value!r}); leave it out, the data "
                             f"decides it")
        given[key] = value
    return spec.config_cls.from_dict(given)


# --------------------------------------------------------------------------- distributed

@dataclass(frozen=True)
class _Dist:
    world: int = 1
    rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1


def _setup_distributed(device: torch.device) -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return _Dist(world=dist.get_world_size(), rank=dist.get_rank())


def _device_for(train_config: TrainConfig) -> torch.device:
    device = resolve_device(train_config.device)
    if device.type == "cuda" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return device


def _all_reduce_sum(values: torch.Tensor, dist_info: _Dist, device: torch.device) -> torch.Tensor:
    if not dist_info.active:
        return values
    import torch.distributed as dist
    buf = values.to(device=device, dtype=torch.float64)
    dist.all_reduce(buf)
    return buf.cpu()


def _gather_rng(dist_info: _Dist, device: torch.device) -> Dict[str, List[torch.Tensor]]:
    """Every process's torch RNG states (rank order): ``"cpu"`` and, on CUDA
    (where dropout draws), ``"cuda"``."""
    states = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    if not dist_info.active:
        return {k: [v] for k, v in states.items()}
    import torch.distributed as dist
    out = {}
    for key, state in states.items():
        local = state.to(device)
        parts = [torch.empty_like(local) for _ in range(dist_info.world)]
        dist.all_gather(parts, local)
        out[key] = [p.cpu() for p in parts]
    return out


def _restore_rng(states: dict, dist_info: _Dist, device: torch.device) -> bool:
    """Restore this process's RNG states from a checkpoint's ``rng_states``;
    False when they were written by another number of processes."""
    cpu = states.get("cpu") or []
    if len(cpu) != dist_info.world:
        return False
    torch.set_rng_state(cpu[dist_info.rank])
    cuda = states.get("cuda") or []
    if device.type == "cuda" and len(cuda) == dist_info.world:
        torch.cuda.set_rng_state(cuda[dist_info.rank], device)
    return True


# --------------------------------------------------------------------------- batches

def collate_samples(items):
    """Collate ``(dict of tensors, label, video index)`` samples into
    ``(batch dict, labels (B,) int64, video indices (B,) int64)``."""
    keys = items[0][0].keys()
    batch = {k: torch.stack([torch.as_tensor(it[0][k]) for it in items]).float() for k in keys}
    labels = torch.as_tensor([int(it[1]) for it in items], dtype=torch.int64)
    videos = torch.as_tensor([int(it[2]) for it in items], dtype=torch.int64)
    return batch, labels, videos


class _WithLoss(nn.Module):
    """The model and its loss in one forward, so that DDP sees plain tensors."""

    def __init__(self, model: DeepModel):
        super().__init__()
        self.model = model

    def forward(self, batch, target):
        output = self.model(batch)
        total, parts = self.model.loss(output, target)
        return total, parts


def fit_epoch(module: nn.Module, loader, optimizer,
              device: torch.device) -> Tuple[Dict[str, float], int]:
    """One epoch of ``module`` (a :class:`_WithLoss`, maybe DDP-wrapped) over ``loader``.

    Returns
    -------
    sums : dict of str -> float
        Each loss term (``"loss"`` the total) summed over samples.
    n : int
        Samples seen.
    """
    module.train()
    sums: Dict[str, float] = {}
    n = 0
    for batch, labels, _ in loader:
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        labels = labels.to(device)
        optimizer.zero_grad(set_to_none=True)
        total, parts = module(batch, labels)
        total.backward()
        optimizer.step()
        b = int(labels.shape[0])
        n += b
        sums["loss"] = sums.get("loss", 0.0) + float(total.detach()) * b
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + float(v) * b
    return sums, n


@torch.no_grad()
def score_videos(model: DeepModel, dataset, device: torch.device, batch_size: int = 32,
                 num_workers: int = 0):
    """Per-video scores of ``dataset``'s samples (thesis 4.6.1: "The final
    classification is obtained by max-pooling the softmax scores").

    Parameters
    ----------
    model : DeepModel
    dataset : torch Dataset of (dict of tensors, label, video index)
    device : torch.device
    batch_size, num_workers : int

    Returns
    -------
    videos : ndarray (V,) int
        Video indices, ascending.
    labels : ndarray (V,) int
    probs : ndarray (V, C) float64
        Softmax max-pooled over each video's samples.
    logits : ndarray (V, C) float64
        Logits averaged over each video's samples.
    """
    from torch.utils.data import DataLoader
    model.eval()
    probs: Dict[int, np.ndarray] = {}
    logit_sum: Dict[int, np.ndarray] = {}
    counts: Dict[int, int] = {}
    labels: Dict[int, int] = {}
    if len(dataset) == 0:
        return (np.zeros(0, int), np.zeros(0, int), np.zeros((0, 0)), np.zeros((0, 0)))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        collate_fn=collate_samples)
    for batch, y, videos in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        logits = model(batch).logits.double().cpu()
        p = torch.softmax(logits, dim=1).numpy()
        logits = logits.numpy()
        for i, v in enumerate(videos.tolist()):
            if v in probs:
                probs[v] = np.maximum(probs[v], p[i])
                logit_sum[v] = logit_sum[v] + logits[i]
                counts[v] += 1
            else:
                probs[v], logit_sum[v], counts[v] = p[i].copy(), logits[i].copy(), 1
                labels[v] = int(y[i])
    order = np.array(sorted(probs), dtype=np.int64)
    return (order, np.array([labels[v] for v in order], dtype=np.int64),
            np.stack([probs[v] for v in order]),
            np.stack([logit_sum[v] / counts[v] for v in order]))


# --------------------------------------------------------------------------- checkpoints

def save_checkpoint(path: Path, payload: dict) -> Path:
    """Write ``payload`` with :func:`torch.save` atomically (temp file + rename)."""
    return atomic_write(Path(path), lambda f: torch.save(payload, f))


def load_checkpoint(path: Path) -> dict:
    """``torch.load(path, weights_only=True)`` with an error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; expected a file written by "
                                f"adl deep train")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors have many types
        raise ValueError(f"{path}: not a readable adl checkpoint ({type(exc).__name__}: "
                         f"{exc})") from None
    if not isinstance(payload, dict) or "model_state" not in payload or "model" not in payload:
        raise ValueError(f"{path}: expected an adl checkpoint (a dict with 'model' and "
                         f"'model_state'), found {type(payload).__name__}"
                         + (f" with keys {sorted(payload)[:8]}" if isinstance(payload, dict)
                            else ""))
    return payload


def _identity(spec_name: str, cfg: ModelConfig, train_config: TrainConfig, data, split) -> dict:
    tc = {k: v for k, v in train_config.to_dict().items() if k not in RESUMABLE_FIELDS}
    return {"model": spec_name, "model_config": cfg.to_dict(), "train_config": tc,
            "data_fingerprint": str(data.fingerprint()), "dataset": data.dataset,
            "split": split.name}


def _check_identity(path: Path, payload: dict, expected: dict) -> None:
    found = {"model": payload.get("model"), "model_config": payload.get("model_config"),
             "train_config": {k: v for k, v in (payload.get("train_config") or {}).items()
                              if k not in RESUMABLE_FIELDS},
             "data_fingerprint": payload.get("data_fingerprint"),
             "dataset": payload.get("dataset"), "split": payload.get("split")}
    diffs = []
    for key, want in expected.items():
        have = found.get(key)
        if isinstance(want, dict) and isinstance(have, dict):
            for sub in sorted(set(want) | set(have)):
                if want.get(sub) != have.get(sub):
                    diffs.append(f"{key}.{sub}: {have.get(sub)!r} in the file, "
                                 f"{want.get(sub)!r} here")
        elif have != want:
            diffs.append(f"{key}: {have!r} in the file, {want!r} here")
    if diffs:
        raise ValueError(f"{path} belongs to another run ({'; '.join(diffs)}); remove it or "
                         f"train into another --out folder")


def build_from_checkpoint(payload: dict) -> Tuple[ModelSpec, DeepModel]:
    """The model a checkpoint holds, with its weights."""
    spec = get_model_spec(payload["model"])
    model = spec.build(spec.config_cls.from_dict(dict(payload["model_config"])))
    model.load_state_dict(payload["model_state"])
    return spec, model


def split_run_dirs(run_root: Path, splits: Sequence) -> Dict[str, Path]:
    """Where each split's run lives: ``run_root`` itself for a protocol of one
    split, ``run_root/<split name>`` for several (leave-one-subject-out)."""
    run_root = Path(run_root)
    if len(splits) == 1:
        return {splits[0].name: run_root}
    return {s.name: run_root / str(s.name) for s in splits}


def _state_to_cpu(state: dict) -> dict:
    return {k: v.detach().cpu().clone() if torch.is_tensor(v) else v for k, v in state.items()}


# --------------------------------------------------------------------------- train

def _load_pose_backbone(model: DeepModel, path: str) -> None:
    payload = load_checkpoint(Path(path))
    if payload["model"] not in ("pose-lstm", "pose-gcn"):
        raise ValueError(f"{path}: expected a pose-lstm or pose-gcn checkpoint for the pose "
                         f"backbone, found one of {payload['model']!r}")
    loader = getattr(model, "load_pose_backbone", None)
    if loader is None:
        raise ValueError(f"model {type(model).__name__} has no pose backbone to load "
                         f"{path} into (no load_pose_backbone method)")
    loader(payload["model_state"])


def _split_indices(idx) -> np.ndarray:
    return np.asarray(idx, dtype=np.int64).reshape(-1)


def train(spec_name: str, model_config, train_config: TrainConfig, data, split, out_dir,
          log: Callable[[str], None] = print) -> TrainResult:
    """Train model ``spec_name`` on ``split``'s training videos into ``out_dir``.

    Parameters
    ----------
    spec_name : str
        A registered model (:func:`adl.deep.models.base.list_models`).
    model_config : dict, ModelConfig or None
        Its hyper-parameters; the data fields are filled from ``data``.
    train_config : TrainConfig
    data : DeepData
        The data layer (:mod:`adl.deep.inputs`): ``validation``, ``samples``,
        ``fingerprint`` and the fields of :func:`make_model_config`.
    split : Split
        ``name``, ``train`` and ``test`` video indices; the test videos are
        never read here.
    out_dir : path
        The run folder (created); resumed when it holds ``checkpoint.pt``.
    log : callable
        Receives one progress line per epoch (rank 0 only).

    Returns
    -------
    TrainResult

    Raises
    ------
    ValueError
        The model needs inputs the data lacks, a checkpoint of another run,
        a pose checkpoint that does not fit, or a batch too small for the
        number of processes.
    """
    from torch.utils.data import DataLoader
    from torch.utils.data.distributed import DistributedSampler

    if not isinstance(train_config, TrainConfig):
        raise ValueError(f"expected a TrainConfig, got {type(train_config).__name__}")
    spec = get_model_spec(spec_name)
    cfg = make_model_config(spec, model_config, data)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    per_process = train_config.batch_size // max(world, 1)
    if per_process < 1:
        raise ValueError(f"batch_size {train_config.batch_size} is smaller than the "
                         f"{world} processes; expected at least one sample each")
    device = _device_for(train_config)
    dist_info = _setup_distributed(device)
    is_main = dist_info.rank == 0
    say = log if is_main else (lambda m: None)
    out_dir = Path(out_dir)

    torch.manual_seed(train_config.seed)
    model = spec.build(cfg)
    if train_config.pose_checkpoint:
        _load_pose_backbone(model, train_config.pose_checkpoint)
    inputs = tuple(model.required_inputs())
    available = set(data.available_inputs)
    missing = [k for k in inputs if k not in available]
    if missing:
        raise ValueError(f"model {spec_name} reads {', '.join(missing)}, which the "
                         f"{data.dataset} data does not have (it has: "
                         f"{', '.join(sorted(available)) or 'nothing'})")
    model.to(device)

    train_idx = _split_indices(split.train)
    if train_config.val_fraction > 0:
        fit_idx, val_idx = data.validation(train_idx, train_config.val_fraction,
                                           train_config.seed)
        fit_idx, val_idx = _split_indices(fit_idx), _split_indices(val_idx)
    else:
        fit_idx, val_idx = train_idx, np.zeros(0, dtype=np.int64)
    fit_ds = data.samples(fit_idx, inputs, sample=spec.sample)
    val_shard = val_idx[dist_info.rank::dist_info.world]
    val_ds = data.samples(val_shard, inputs, sample=spec.sample) if val_shard.size else None

    optimizer = torch.optim.Adam(model.parameters(), lr=train_config.lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=train_config.lr_step,
                                                gamma=train_config.lr_gamma)
    identity = _identity(spec_name, cfg, train_config, data, split)
    start, best_val, best_epoch, history = 0, -math.inf, 0, []
    ckpt_path = out_dir / CHECKPOINT_NAME
    if ckpt_path.is_file():
        payload = load_checkpoint(ckpt_path)
        _check_identity(ckpt_path, payload, identity)
        model.load_state_dict(payload["model_state"])
        optimizer.load_state_dict(payload["optimizer_state"])
        scheduler.load_state_dict(payload["scheduler_state"])
        start = int(payload["epoch"])
        best_val = float(payload["best_val"])
        best_epoch = int(payload["best_epoch"])
        history = list(payload["history"])
        same_rng = _restore_rng(payload.get("rng_states") or {}, dist_info, device)
        say(f"{spec_name} [{split.name}]: resuming after epoch {start} of "
            f"{train_config.epochs} from {ckpt_path}"
            + ("" if same_rng else " (written by another number of processes: the dropout "
               "draws differ from an uninterrupted run)"))
    else:
        if train_config.standardize:
            stats = DataLoader(fit_ds, batch_size=train_config.batch_size, shuffle=False,
                               num_workers=train_config.num_workers, collate_fn=collate_samples)
            model.fit_input_normalization(batch for batch, _, _ in stats)
        if dist_info.active:
            # different dropout masks per process, the same on every run
            torch.manual_seed(train_config.seed * 1000 + dist_info.rank + 1)

    module: nn.Module = _WithLoss(model)
    if dist_info.active:
        from torch.nn.parallel import DistributedDataParallel
        module = DistributedDataParallel(
            module, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True)

    if is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    epochs_run = 0
    for epoch in range(start, train_config.epochs):
        t0 = time.perf_counter()
        if dist_info.active:
            sampler = DistributedSampler(fit_ds, num_replicas=dist_info.world,
                                         rank=dist_info.rank, shuffle=True,
                                         seed=train_config.seed)
            sampler.set_epoch(epoch)
            loader = DataLoader(fit_ds, batch_size=per_process, sampler=sampler,
                                num_workers=train_config.num_workers,
                                collate_fn=collate_samples)
        else:
            # the order of an epoch depends on (seed, epoch) only: a resumed
            # run shuffles as the uninterrupted one did
            gen = torch.Generator().manual_seed(train_config.seed * 100003 + epoch)
            loader = DataLoader(fit_ds, batch_size=per_process, shuffle=True,
                                generator=gen, num_workers=train_config.num_workers,
                                collate_fn=collate_samples)
        lr = optimizer.param_groups[0]["lr"]
        sums, n = fit_epoch(module, loader, optimizer, device)
        scheduler.step()
        keys = sorted(sums)
        reduced = _all_reduce_sum(torch.tensor([sums[k] for k in keys] + [n],
                                               dtype=torch.float64), dist_info, device)
        n_all = max(float(reduced[-1]), 1.0)
        terms = {k: float(reduced[i]) / n_all for i, k in enumerate(keys)}

        val_acc = math.nan
        if val_idx.size:
            correct, count = 0, 0
            if val_ds is not None and len(val_ds):
                _, y, probs, _ = score_videos(model, val_ds, device, per_process,
                                              train_config.num_workers)
                correct, count = int((probs.argmax(1) == y).sum()), int(y.size)
            tot = _all_reduce_sum(torch.tensor([correct, count], dtype=torch.float64),
                                  dist_info, device)
            val_acc = 100.0 * float(tot[0]) / max(float(tot[1]), 1.0)
        seconds = time.perf_counter() - t0
        record = {"epoch": epoch + 1, "lr": float(lr), **terms, "val_top1": val_acc,
                  "seconds": seconds}
        history.append(record)
        improved = (not val_idx.size) or val_acc > best_val
        if improved:
            best_val, best_epoch = (val_acc if val_idx.size else math.nan), epoch + 1
        rng_states = _gather_rng(dist_info, device)
        if is_main:
            state = _state_to_cpu(model.state_dict())
            common = dict(identity, train_config=train_config.to_dict(),
                          best_val=float(best_val), best_epoch=best_epoch,
                          history=list(history), classes=list(map(str, data.classes)))
            if improved:
                save_checkpoint(out_dir / BEST_NAME, dict(common, model_state=state,
                                                          epoch=epoch + 1))
            save_checkpoint(ckpt_path, dict(
                common, model_state=state, epoch=epoch + 1,
                optimizer_state=optimizer.state_dict(),
                scheduler_state=scheduler.state_dict(), rng_states=rng_states))
            loss_text = " ".join(f"{k} {terms[k]:.4f}" for k in
                                 ["loss"] + [k for k in keys if k != "loss"])
            val_text = "val -" if math.isnan(val_acc) else f"val {val_acc:.1f}%"
            say(f"{spec_name} [{split.name}] epoch {epoch + 1}/{train_config.epochs} "
                f"lr {lr:.2g} {loss_text} {val_text} {seconds:.1f} s"
                + (" *" if improved and val_idx.size else ""))
        epochs_run += 1
    if dist_info.active:
        import torch.distributed as dist
        dist.barrier()
    return TrainResult(run_dir=out_dir, model=spec_name, best_epoch=best_epoch,
                       best_val=float(best_val) if best_val != -math.inf else math.nan,
                       epochs_run=epochs_run, start_epoch=start, history=history)


def shutdown_distributed() -> None:
    """End the process group :func:`train` started under ``torchrun`` (call
    once, after the last split)."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
