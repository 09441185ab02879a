"""Frame descriptors of body-part crops with a 2D CNN (F1, thesis Eq. 3.1).

``z_it = f_CNN(crop(I_t, patch_i))``: torchvision ResNets cut before their
classifier (the 2048-d global-average-pooled features of ResNet-152 and
ResNet-50, 512-d for ResNet-18), ImageNet preprocessing (RGB, [0, 1], mean
``(0.485, 0.456, 0.406)``, std ``(0.229, 0.224, 0.225)``), crops resized to
``input_size`` x ``input_size`` (aspect ratio not kept).

Weights (``weights=``):

* ``"imagenet"`` -- torchvision's ImageNet checkpoint (``IMAGENET1K_V1``, the
  classic weights, e.g. ``resnet152-394f9c45.pth``) read from
  ``torch.hub.get_dir()/checkpoints/``.  Nothing is downloaded unless
  ``allow_download=True``; otherwise a missing file raises
  :class:`WeightsNotFoundError` naming the file and the alternatives.
* a path -- a state dict (``torch.load(..., weights_only=True)``; a
  ``{"state_dict": ...}`` wrapper and DataParallel ``module.`` prefixes are
  accepted; the classifier ``fc.*`` may be absent).  Anything else raises
  :class:`WeightsError`.
* ``"random"`` -- explicit, seeded random initialisation (tests, demos).

torch/torchvision are imported inside functions: this module may be imported
to build cache keys or error messages without paying for them.
"""
from __future__ import annotations

import hashlib
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence, Tuple

import numpy as np

from adl.data.errors import AdlError, DataFormatError
from adl.data.video import FrameSource

from .body_parts import N_PARTS, crop_pixels

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class BackboneSpec:
    """What a backbone is: its torchvision builder, output size and the
    ImageNet checkpoint torchvision expects (``IMAGENET1K_V1``)."""

    name: str
    feature_dim: int
    checkpoint: str                # file name in torch.hub.get_dir()/checkpoints
    layer: str = "avgpool"         # the layer whose output is the descriptor
    mean: Tuple[float, float, float] = IMAGENET_MEAN
    std: Tuple[float, float, float] = IMAGENET_STD


BACKBONES: Dict[str, BackboneSpec] = {
    "resnet152": BackboneSpec("resnet152", 2048, "resnet152-394f9c45.pth"),
    "resnet50": BackboneSpec("resnet50", 2048, "resnet50-0676ba61.pth"),
    "resnet18": BackboneSpec("resnet18", 512, "resnet18-f37072fd.pth"),
}
PRECISIONS = ("auto", "float32", "bfloat16")
#: How the network is run (:func:`prepare_engine`): PyTorch eager (the default),
#: TorchScript frozen with oneDNN fusions (``torch.jit.freeze`` +
#: ``optimize_for_inference``), or ``torch.compile`` (inductor, frozen weights).
#: Measured on a 2-core AVX-512 EPYC, ResNet-152 at 224, float32, batch 16, same
#: rounds (tests/benchmarks/bench_limits.py, 2026-12-07, machine loaded): jit
#: x0.97 of eager after 175 s of tracing, compile x1.04 after 250 s of compiling --
#: neither a measurable gain, so eager stays the default.
ENGINES = ("eager", "jit", "compile")


class WeightsError(AdlError, ValueError):
    """A weights file that cannot be used for the requested backbone."""


class WeightsNotFoundError(AdlError, FileNotFoundError):
    """The requested weights are not on this machine."""


def get_backbone_spec(name: str) -> BackboneSpec:
    try:
        return BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; expected one of "
                         f"{', '.join(sorted(BACKBONES))}") from None


def hub_checkpoint_path(name: str) -> Path:
    """Where torchvision keeps (and looks for) the ImageNet checkpoint of ``name``."""
    import torch
    return Path(torch.hub.get_dir()) / "checkpoints" / get_backbone_spec(name).checkpoint


def describe_weights(name: str, weights: str) -> str:
    """A stable identity of (backbone, weights) for cache keys.

    ``imagenet:<checkpoint file>``, ``file:<sha256 prefix of the file>`` or
    ``random`` (the seed is a separate config field).
    """
    spec = get_backbone_spec(name)
    if weights == "imagenet":
        return f"imagenet:{spec.checkpoint}"
    if weights == "random":
        return "random"
    path = Path(weights)
    if not path.is_file():
        raise WeightsNotFoundError(f"weights file {path} not found (expected a {name} state dict, "
                                   f"'imagenet' or 'random')")
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return f"file:{digest.hexdigest()[:16]}"


def _extract_state_dict(obj, path: Path) -> dict:
    import torch
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise WeightsError(f"{path}: expected a state dict (a mapping of parameter names to "
                           f"tensors), found {type(obj).__name__}")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}


def _load_state_dict_file(model, name: str, path: Path) -> None:
    import pickle
    import torch
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError,
            AttributeError, ImportError, IndexError, KeyError, TypeError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise WeightsError(f"{path}: expected a PyTorch state dict of {name} readable with "
                           f"torch.load(weights_only=True), found an unreadable or foreign file "
                           f"({reason[:160]}); save weights with torch.save(model.state_dict(), PATH)") from None
    state = _extract_state_dict(obj, path)
    own = model.state_dict()
    # The classifier is dropped anyway: a feature-extractor checkpoint without
    # (or with another) fc is fine.
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing = [k for k in own if not k.startswith("fc.") and k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise WeightsError(f"{path}: not a {name} state dict: {len(missing)} parameters missing "
                           f"(e.g. {missing[:2]}), {len(unexpected)} unexpected "
                           f"(e.g. {unexpected[:2]})")
    for key, value in state.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise WeightsError(f"{path}: not a {name} state dict: {key} has shape "
                               f"{tuple(value.shape)}, {name} expects {tuple(own[key].shape)}")
    model.load_state_dict(state, strict=False)


def build_backbone(name: str = "resnet152", weights: str = "imagenet", *,
                   allow_download: bool = False, seed: int = 0):
    """A torchvision ResNet returning its pooled features, in eval mode.

    Parameters
    ----------
    name : {"resnet152", "resnet50", "resnet18"}
    weights : str
        ``"imagenet"``, ``"random"`` or the path of a state dict (see the
        module docstring).
    allow_download : bool
        Let torchvision download the ImageNet checkpoint when it is missing.
    seed : int
        Seed of the random initialisation (``weights="random"``).

    Returns
    -------
    torch.nn.Module
        ``model(x (N, 3, S, S)) -> (N, feature_dim)``; ``model.fc`` is
        ``Identity``.

    Raises
    ------
    WeightsNotFoundError
        ImageNet weights not in the hub cache (and no download allowed), or a
        weights path that does not exist.
    WeightsError
        A weights file that is not a state dict of this backbone.
    """
    import torch
    import torchvision

    spec = get_backbone_spec(name)
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"expected weights as 'imagenet', 'random' or a path, got {type(weights).__name__}")
    weights = os.fspath(weights)
    builder = getattr(torchvision.models, name)
    if weights == "random":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = builder(weights=None)
    elif weights == "imagenet":
        path = hub_checkpoint_path(name)
        if path.is_file():
            model = builder(weights=None)
            _load_state_dict_file(model, name, path)
        elif allow_download:
            enum = torchvision.models.get_model_weights(name).IMAGENET1K_V1
            model = builder(weights=enum)
        else:
            raise WeightsNotFoundError(
                f"ImageNet weights for {name} not found: put torchvision's {spec.checkpoint} at "
                f"{path}, or pass --weights PATH (a {name} state dict), or --weights random "
                f"(tests and demos only)")
    else:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsNotFoundError(f"weights file {path} not found: expected a {name} state "
                                       f"dict, or --weights imagenet / --weights random")
        model = builder(weights=None)
        _load_state_dict_file(model, name, path)
    model.fc = torch.nn.Identity()
    return model.eval()


def prepare_engine(model, engine: str, example, *, precision: str = "float32"):
    """``model`` made ready to run in ``engine`` (see :data:`ENGINES`).

    Parameters
    ----------
    model : torch.nn.Module
        In eval mode, on its device and memory format.
    engine : {"eager", "jit", "compile"}
        ``"jit"``: ``torch.jit.trace`` on ``example`` then ``torch.jit.freeze``
        and ``torch.jit.optimize_for_inference`` (oneDNN convolution + batch
        norm + ReLU fusions; TorchScript is deprecated upstream but still
        works).  ``"compile"``: ``torch.compile`` (inductor, ``dynamic=False``)
        with ``torch._inductor.config.freezing`` so that weights are constant
        folded and pre-packed; compiled on ``example`` here, so that the cost
        is paid once and measured (:attr:`FrameDescriptorExtractor.compile_seconds`).
        Both specialise on ``example``'s shape: callers pad a short batch to it.
    example : torch.Tensor, shape (B, 3, S, S)
        A batch of the size and memory format the model will see.
    precision : {"float32", "bfloat16"}
        Autocast precision of the traced / compiled forward.

    Returns
    -------
    callable
        ``f(x (B, 3, S, S)) -> (B, d)``.

    Raises
    ------
    ValueError
        An unknown engine.
    """
    import torch
    import warnings
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    if engine == "eager":
        return model
    device_type = example.device.type
    amp = dict(device_type=device_type, dtype=torch.bfloat16, enabled=precision == "bfloat16")
    if engine == "jit":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            with torch.no_grad(), torch.autocast(**amp):
                traced = torch.jit.trace(model, example, check_trace=False)
                frozen = torch.jit.freeze(traced.eval())
                if device_type == "cpu":
                    frozen = torch.jit.optimize_for_inference(frozen)
                frozen(example)  # the profiling runs of the TorchScript executor
                frozen(example)
        return frozen
    import torch._inductor.config as inductor_config
    from .device import autocast
    compiled = torch.compile(model, backend="inductor", dynamic=False)
    # compiled in the very context forward_crops calls it in (an inference
    # tensor, inference mode, the same autocast state): a different context
    # would fail dynamo's guards and compile a second time on the first batch
    with inductor_config.patch(freezing=True), torch.inference_mode(), \
            autocast(example.device, precision):
        compiled(example.clone())
    return compiled


def cpu_supports_bf16() -> bool:
    """True when the CPU has native bfloat16 arithmetic (AVX-512 BF16 or AMX).

    Without it, oneDNN emulates bf16 and ResNet inference gets 10-30x *slower*
    than float32 (measured on an AVX2-only EPYC), so ``precision="auto"``
    keeps float32 there.
    """
    try:
        import torch
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # private API: fall back to the kernel's CPU flags
        try:
            flags = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
        return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: str = "cpu") -> str:
    """``"auto"`` -> ``"bfloat16"`` where the hardware runs it natively, else ``"float32"``."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if str(device).startswith("cuda"):
        import torch
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    return "bfloat16" if cpu_supports_bf16() else "float32"


@dataclass
class FrameDescriptors:
    """Frame-level descriptors of one video.

    Attributes
    ----------
    features : ndarray, shape (T', 5, d), float32
        ``z_it`` per processed frame and part (order of
        :data:`adl.features.body_parts.PART_NAMES`).
    frame_indices : ndarray, shape (T',), int64
        0-based RGB frame index of each row.
    """

    features: np.ndarray
    frame_indices: np.ndarray


class FrameDescriptorExtractor:
    """Batched CNN descriptors of the five body-part crops of every frame.

    A producer thread decodes frames, crops the five boxes and resizes them
    (OpenCV, which releases the GIL) into uint8 NHWC batches while the main
    thread runs the network on the previous batch.  An NHWC buffer permuted
    to NCHW *is* a channels-last tensor, so the batch reaches the network
    without a copy.

    Parameters
    ----------
    backbone : {"resnet152", "resnet50", "resnet18"}
    weights : str
        ``"imagenet"``, ``"random"`` or a state-dict path (see module doc).
    input_size : int
        Side of the square network input (224; 112 for speed).
    batch_size : int or "auto"
        Crops per forward pass (5 crops per frame; batches span frames);
        ``"auto"``: :data:`adl.features.device.AUTO_BATCH` of the device (16 on
        the CPU, 128 on a GPU).
    precision : {"auto", "float32", "bfloat16"}
        ``"bfloat16"`` runs under autocast; ``"auto"`` uses it only where the
        hardware supports it (:func:`resolve_precision`).
    channels_last : bool
        Run the network in channels-last memory format.
    engine : {"eager", "jit", "compile"}
        How the network runs (:func:`prepare_engine`); ``"jit"`` and
        ``"compile"`` are prepared here on a batch of ``batch_size`` crops
        (:attr:`compile_seconds`) and every shorter batch is padded to it.
    frame_stride : int
        Keep every ``frame_stride``-th skeleton-aligned frame.
    num_threads : int, optional
        torch intra-op threads during extraction (restored afterwards);
        default: every core (the producer is light next to the network).
    prefetch : int
        Batches the producer may prepare ahead.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``
        (:func:`adl.features.device.resolve_device`).
    allow_download, seed
        Passed to :func:`build_backbone`.
    model : torch.nn.Module, optional
        A ready backbone (skips :func:`build_backbone`); must return
        ``(N, feature_dim)``.

    Notes
    -----
    Identical boxes of one frame (every "part" of an RGB-only dataset is the
    full image) are cropped and forwarded once and their descriptor repeated,
    so such a dataset costs one forward per frame instead of five.
    """

    def __init__(self, backbone: str = "resnet152", weights: str = "imagenet", *,
                 input_size: int = 224, batch_size=16, precision: str = "auto",
                 channels_last: bool = True, engine: str = "eager", frame_stride: int = 1,
                 num_threads: Optional[int] = None, prefetch: int = 2, device: str = "cpu",
                 allow_download: bool = False, seed: int = 0, model=None):
        from .device import resolve_batch_size, resolve_device
        self.spec = get_backbone_spec(backbone)
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
        self.device = resolve_device(device)
        batch_size = resolve_batch_size(batch_size, self.device)
        for pname, value, low in (("input_size", input_size, 32), ("batch_size", batch_size, 1),
                                  ("frame_stride", frame_stride, 1), ("prefetch", prefetch, 1)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
                raise ValueError(f"expected {pname} to be an integer >= {low}, got {value!r}")
        if num_threads is not None and (not isinstance(num_threads, int) or num_threads < 1):
            raise ValueError(f"expected num_threads >= 1 or None, got {num_threads!r}")
        self.input_size = int(input_size)
        self.batch_size = int(batch_size)
        self.frame_stride = int(frame_stride)
        self.prefetch = int(prefetch)
        self.num_threads = num_threads
        self.precision = resolve_precision(precision, str(self.device))
        self.channels_last = bool(channels_last)
        self.engine = engine

        import time
        import torch
        if model is None:
            model = build_backbone(backbone, weights, allow_download=allow_download, seed=seed)
        model = model.eval().to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self._mean = torch.tensor(self.spec.mean, device=self.device).view(1, 3, 1, 1) * 255.0
        self._inv_std = 1.0 / (torch.tensor(self.spec.std, device=self.device).view(1, 3, 1, 1) * 255.0)
        #: Seconds spent preparing the engine (tracing / compiling), 0 for eager.
        self.compile_seconds = 0.0
        self._run = model
        if engine != "eager":
            example = torch.zeros(self.batch_size, 3, self.input_size, self.input_size,
                                  device=self.device)
            if self.channels_last:
                example = example.contiguous(memory_format=torch.channels_last)
            prev = torch.get_num_threads()
            torch.set_num_threads(num_threads or os.cpu_count() or 1)
            t0 = time.perf_counter()
            try:
                self._run = prepare_engine(model, engine, example, precision=self.precision)
                # the first real call belongs to the preparation (a recompilation
                # or the executor's profiling runs would show up there)
                self.forward_crops(np.zeros((self.batch_size, self.input_size, self.input_size, 3),
                                            np.uint8))
            finally:
                torch.set_num_threads(prev)
            self.compile_seconds = time.perf_counter() - t0

    @classmethod
    def from_config(cls, config, *, allow_download: bool = False, device: Optional[str] = None,
                    num_threads: Optional[int] = None) -> "FrameDescriptorExtractor":
        """The extractor an :class:`adl.features.f1.F1Config` describes (the one
        F1 uses: :class:`adl.features.video_stages.F1VideoComputer`); ``device``
        overrides ``config.device``."""
        return cls(config.backbone, config.weights, input_size=config.input_size,
                   batch_size=config.batch_size, precision=config.precision,
                   channels_last=config.channels_last, engine=config.engine,
                   frame_stride=config.frame_stride, num_threads=num_threads,
                   device=config.device if device is None else device,
                   allow_download=allow_download, seed=config.seed)

    @property
    def feature_dim(self) -> int:
        return self.spec.feature_dim

    # -- network side ---------------------------------------------------------
    def forward_crops(self, crops: np.ndarray) -> np.ndarray:
        """Descriptors of ready crops.

        Parameters
        ----------
        crops : ndarray, shape (N, S, S, 3), uint8, **RGB**

        Returns
        -------
        ndarray, shape (N, d), float32
        """
        import torch
        from .device import autocast
        if crops.ndim != 4 or crops.shape[-1] != 3 or crops.dtype != np.uint8:
            raise ValueError(f"expected uint8 RGB crops of shape (N, S, S, 3), got "
                             f"{crops.dtype} {crops.shape}")
        n = len(crops)
        if n == 0:
            return np.zeros((0, self.feature_dim), np.float32)
        if self.engine != "eager" and n != self.batch_size:
            if n > self.batch_size:   # the engine is specialised on batch_size crops
                return np.concatenate([self.forward_crops(crops[i:i + self.batch_size])
                                       for i in range(0, n, self.batch_size)])
            crops = np.concatenate([crops, np.zeros((self.batch_size - n,) + crops.shape[1:],
                                                    np.uint8)])
        with torch.inference_mode():
            x = torch.from_numpy(crops).to(self.device, non_blocking=True).permute(0, 3, 1, 2)
            if not self.channels_last:
                x = x.contiguous()
            # (x/255 - mean)/std with the constants pre-scaled by 255
            x = (x.float() - self._mean) * self._inv_std
            with autocast(self.device, self.precision):
                out = self._run(x)
            return out[:n].float().cpu().numpy()

    # -- data side --------------------------------------------------------------
    def _crop_batches(self, frames: Iterator[tuple], box_of: Dict[int, np.ndarray],
                      stop: threading.Event, rows: Optional[list] = None) -> Iterator[tuple]:
        """Yield ``(crops (n, S, S, 3) uint8 RGB, frame indices of the frames
        completed in this batch)``; crops run frame-major, part-minor.

        A box equal to an earlier box of the same frame is not cropped again:
        ``rows`` (when given) receives, for every (frame, part), the index of
        its crop among all crops yielded so far."""
        import cv2
        size = self.input_size
        buf = np.empty((self.batch_size, size, size, 3), dtype=np.uint8)
        fill, made = 0, 0
        done = []
        for idx, img in frames:
            if stop.is_set():
                return
            seen = []   # (box, crop number) of this frame
            for box in box_of[idx]:
                same = next((k for b, k in seen if np.array_equal(b, box)), None)
                if same is not None:
                    if rows is not None:
                        rows.append(same)
                    continue
                x0, y0, x1, y1 = crop_pixels(box, img.shape)
                crop = img[y0:y1, x0:x1]
                interp = cv2.INTER_AREA if (x1 - x0 > size and y1 - y0 > size) else cv2.INTER_LINEAR
                cv2.resize(crop, (size, size), dst=buf[fill], interpolation=interp)
                cv2.cvtColor(buf[fill], cv2.COLOR_BGR2RGB, dst=buf[fill])
                seen.append((box, made))
                if rows is not None:
                    rows.append(made)
                made += 1
                fill += 1
                if fill == self.batch_size:
                    yield buf, done
                    buf = np.empty_like(buf)
                    fill, done = 0, []
            done.append(idx)
        if fill or done:   # a last frame whose crops filled the previous batch exactly
            yield buf[:fill], done

    def extract(self, source: FrameSource, boxes: np.ndarray,
                frame_ids: Optional[Sequence[int]] = None) -> FrameDescriptors:
        """Descriptors of the five crops of every ``frame_stride``-th frame.

        Parameters
        ----------
        source : FrameSource
            The video or frame folder.
        boxes : ndarray, shape (T, 5, 4)
            From :func:`adl.features.body_parts.part_boxes`.
        frame_ids : sequence of int, shape (T,), optional
            RGB frame index of each row of ``boxes`` (the skeleton's
            ``frame_ids``); default ``0..T-1``.  Only these frames are
            processed; rows past the end of the video are dropped.

        Returns
        -------
        FrameDescriptors
            ``features`` ``(T', 5, d)`` float32 and ``frame_indices`` ``(T',)``.

        Raises
        ------
        DataFormatError
            No requested frame could be decoded.
        """
        import torch
        boxes = np.asarray(boxes, dtype=np.float32)
        if boxes.ndim != 3 or boxes.shape[1:] != (N_PARTS, 4):
            raise ValueError(f"expected boxes of shape (T, {N_PARTS}, 4), got {boxes.shape}")
        frame_ids = (np.arange(len(boxes)) if frame_ids is None
                     else np.asarray(frame_ids, dtype=np.int64).reshape(-1))
        if len(frame_ids) != len(boxes):
            raise ValueError(f"expected one frame id per box row ({len(boxes)}), got {len(frame_ids)}")
        rows = np.arange(0, len(boxes), self.frame_stride)
        box_of = {}
        for r in rows:  # a duplicated frame id keeps its first row
            box_of.setdefault(int(frame_ids[r]), boxes[r])
        wanted = sorted(i for i in box_of if i >= 0)
        if not wanted:
            raise ValueError("no frame to process: every frame id is negative or boxes is empty")

        stop = threading.Event()
        q: "queue.Queue" = queue.Queue(maxsize=self.prefetch)
        sentinel = object()

        def put(item) -> bool:
            # A plain blocking put: a polling producer would wake up (and
            # preempt a torch worker) many times per forward pass.  On
            # early exit the consumer drains the queue to unblock it.
            if stop.is_set():
                return False
            q.put(item)
            return not stop.is_set()

        rows: list = []   # crop number of every (frame, part), filled by the producer

        def produce():
            frames = source.frames(indices=wanted)
            try:
                for batch in self._crop_batches(frames, box_of, stop, rows):
                    if not put(batch):
                        return
                put(sentinel)
            except BaseException as err:  # re-raised in the consumer
                put(err)
            finally:
                frames.close()  # releases the VideoCapture now, not at GC time

        import cv2
        prev_threads, prev_cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
        torch.set_num_threads(self.num_threads or os.cpu_count() or 1)
        cv2.setNumThreads(1)  # the producer's resizes need no pool of their own
        producer = threading.Thread(target=produce, name="adl-f1-crops", daemon=True)
        producer.start()
        outputs, indices = [], []
        try:
            while True:
                item = q.get()
                if item is sentinel:
                    break
                if isinstance(item, BaseException):
                    raise item
                crops, done = item
                if len(crops):
                    outputs.append(self.forward_crops(crops))
                indices.extend(done)
        finally:
            stop.set()
            while producer.is_alive():
                try:
                    while True:
                        q.get_nowait()
                except queue.Empty:
                    pass
                producer.join(timeout=0.05)
            torch.set_num_threads(prev_threads)
            cv2.setNumThreads(prev_cv2_threads)
        feats = np.concatenate(outputs) if outputs else np.zeros((0, self.feature_dim), np.float32)
        n_frames = min(len(indices), len(rows) // N_PARTS)
        feats = feats[np.asarray(rows[: n_frames * N_PARTS], dtype=np.int64)]
        if n_frames == 0:
            raise DataFormatError(source.path, f"frames {wanted[0]}..{wanted[-1]} (the skeleton's frames)",
                                  "none of them in the video")
        return FrameDescriptors(
            features=np.ascontiguousarray(feats[: n_frames * N_PARTS].reshape(n_frames, N_PARTS, -1)),
            frame_indices=np.asarray(indices[:n_frames], dtype=np.int64))
