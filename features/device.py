"""Where a network runs and in which precision (``--device``, ``--precision``),
for F1's CNN and F3's LSTM (``adl features``) and for :mod:`adl.deep`, which
re-exports these functions from :mod:`adl.deep.device` (``deep -> features``
is the allowed import direction, so the helper lives here).

``device="auto"`` is the first CUDA device when one is usable, else the CPU;
``"cpu"``, ``"cuda"`` and ``"cuda:N"`` name one explicitly and are refused when
that device does not exist here (an explicit request never falls back silently).

Reduced precision runs under :func:`torch.autocast` only where the hardware
executes it natively:

* CUDA: float16 on every GPU PyTorch supports; bfloat16 where
  :func:`torch.cuda.is_bf16_supported` says so (compute capability >= 8.0).
* CPU: bfloat16 only with the native bf16 instructions (AVX-512 BF16 or AMX,
  :func:`adl.features.cnn.cpu_supports_bf16`); oneDNN emulates it elsewhere
  and is then many times slower than float32.  float16 autocast on the CPU is
  never native and is refused.

``precision="auto"`` picks bfloat16 where it is native (its float32 exponent
range cannot overflow on activations of unbounded size), else float16 on CUDA,
else float32.

torch is imported inside the functions: the module is cheap to import.
"""
from __future__ import annotations

import contextlib
import numbers
import re
from typing import ContextManager, Optional, Sequence

PRECISIONS = ("auto", "float32", "float16", "bfloat16")
_CUDA_RE = re.compile(r"^cuda(?::(\d+))?$")
#: Crops per forward pass of F1 when ``batch_size="auto"``: 16 on the CPU
#: (ResNet-152's throughput there is within 10 % from 8 to 32 crops,
#: tests/benchmarks/bench_limits.py; 16 keeps the cache keys of earlier runs) and
#: 128 on a GPU, where small batches leave most of the device idle.
AUTO_BATCH = {"cpu": 16, "cuda": 128}


def resolve_device(device: str = "auto"):
    """The :class:`torch.device` a ``--device`` value names.

    Parameters
    ----------
    device : str
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or
        ``"cuda:N"``.

    Returns
    -------
    torch.device
        ``cuda`` resolves to ``cuda:<current device>`` so that the result names
        one GPU.

    Raises
    ------
    ValueError
        An unknown device string, or a CUDA device that is not available here
        (no CUDA, or ``N`` beyond the visible GPUs).
    """
    import torch
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(f"expected device as a string ('auto', 'cpu', 'cuda' or 'cuda:N'), "
                        f"got {type(device).__name__}")
    text = device.strip().lower()
    if text == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() \
            else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    match = _CUDA_RE.match(text)
    if match is None:
        raise ValueError(f"unknown device {device!r}; expected 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available on this machine "
                         f"(use --device cpu or --device auto)")
    count = torch.cuda.device_count()
    index = torch.cuda.current_device() if match.group(1) is None else int(match.group(1))
    if index >= count:
        raise ValueError(f"device {device!r} requested but this machine has {count} CUDA "
                         f"device(s) (cuda:0 .. cuda:{count - 1})")
    return torch.device("cuda", index)


def native_precisions(device, *, cpu_bf16: Optional[bool] = None) -> tuple:
    """The precisions ``device`` (a :class:`torch.device` or a string that
    :func:`resolve_device` accepts) runs natively, float32 first.

    ``cpu_bf16`` overrides the probe of the CPU's bf16 instructions
    (:func:`adl.features.cnn.cpu_supports_bf16`, called when None).
    """
    import torch
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    if dev.type == "cuda":
        return ("float32", "float16") + (("bfloat16",) if torch.cuda.is_bf16_supported() else ())
    if dev.type == "cpu":
        if cpu_bf16 is None:
            from .cnn import cpu_supports_bf16
            cpu_bf16 = cpu_supports_bf16()
        return ("float32",) + (("bfloat16",) if cpu_bf16 else ())
    return ("float32",)


def resolve_precision(precision: str = "auto", device="cpu", *,
                      native: Optional[Sequence[str]] = None,
                      allowed: Sequence[str] = PRECISIONS) -> str:
    """The precision a network runs in on ``device``.

    Parameters
    ----------
    precision : {"auto", "float32", "float16", "bfloat16"}
    device : torch.device or str
    native : sequence of str, optional
        The device's native precisions (default :func:`native_precisions`).
    allowed : sequence of str
        The precisions the caller accepts (F1 takes ``auto``, ``float32`` and
        ``bfloat16``).

    Returns
    -------
    str
        ``"float32"``, ``"float16"`` or ``"bfloat16"``; ``"auto"`` resolves to
        bfloat16 where native, else float16 on CUDA (when allowed), else
        float32.

    Raises
    ------
    ValueError
        An unknown precision, or a reduced precision the device does not run
        natively.
    """
    if precision not in allowed:
        raise ValueError(f"unknown precision {precision!r}; expected one of "
                         f"{', '.join(allowed)}")
    native = tuple(native_precisions(device) if native is None else native)
    if precision == "auto":
        for choice in ("bfloat16", "float16"):
            if choice in native and choice in allowed:
                return choice
        return "float32"
    if precision not in native:
        raise ValueError(f"precision {precision!r} is not native on device {str(device)!r} "
                         f"(native there: {', '.join(native)}); emulated autocast would be slower "
                         f"than float32, so it is refused")
    return precision


def autocast(device, precision: str) -> ContextManager:
    """The context a forward pass runs in: :func:`torch.autocast` for a reduced
    ``precision`` (as resolved by :func:`resolve_precision`), a no-op for
    float32."""
    import torch
    dev = device if isinstance(device, torch.device) else torch.device(device)
    if precision == "float32":
        return contextlib.nullcontext()
    dtypes = {"float16": torch.float16, "bfloat16": torch.bfloat16}
    if precision not in dtypes:
        raise ValueError(f"expected a resolved precision ('float32', 'float16' or 'bfloat16'), "
                         f"got {precision!r}")
    return torch.autocast(device_type=dev.type, dtype=dtypes[precision])


def resolve_batch_size(batch_size, device) -> int:
    """Crops (or sequences) per forward pass: ``batch_size`` itself, or for
    ``"auto"`` / None the device's :data:`AUTO_BATCH` entry.

    Raises
    ------
    ValueError
        Anything else than a positive integer, ``"auto"`` or None.
    """
    import torch
    if batch_size is None or batch_size == "auto":
        dev = device if isinstance(device, torch.device) else resolve_device(device)
        return AUTO_BATCH.get(dev.type, AUTO_BATCH["cpu"])
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
            or batch_size < 1:
        raise ValueError(f"expected batch_size to be an integer >= 1 or 'auto', got {batch_size!r}")
    return int(batch_size)
