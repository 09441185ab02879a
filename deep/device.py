"""Where a deep backbone runs and in which precision (``--device``, ``--precision``).

The helper lives in :mod:`adl.features.device` (shared with ``adl features``:
F1's CNN and F3's LSTM; ``deep -> features`` is the allowed import direction)
and is re-exported here with the same behaviour:

* ``device="auto"`` is the first CUDA device when one is usable, else the CPU;
  an explicit ``cpu`` / ``cuda`` / ``cuda:N`` that does not exist is refused.
* Reduced precision only where native: float16 and (compute capability >= 8.0)
  bfloat16 on CUDA; bfloat16 on a CPU with AVX-512 BF16 or AMX
  (:func:`adl.features.cnn.cpu_supports_bf16`); ``"auto"`` picks bfloat16
  where native, else float16 on CUDA, else float32.

torch is imported inside the functions: the module is cheap to import.
"""
from __future__ import annotations

from adl.features import device as _shared
from adl.features.cnn import cpu_supports_bf16
from adl.features.device import PRECISIONS, autocast, resolve_device

__all__ = ["PRECISIONS", "autocast", "cpu_supports_bf16", "native_precisions",
           "resolve_device", "resolve_precision"]


def native_precisions(device) -> tuple:
    """The precisions ``device`` runs natively, float32 first
    (:func:`adl.features.device.native_precisions`; the CPU probe is this
    module's ``cpu_supports_bf16``)."""
    import torch
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    return _shared.native_precisions(dev, cpu_bf16=cpu_supports_bf16() if dev.type == "cpu"
                                     else None)


def resolve_precision(precision: str = "auto", device="cpu") -> str:
    """The precision a backbone runs in on ``device``
    (:func:`adl.features.device.resolve_precision`).

    Raises
    ------
    ValueError
        An unknown precision, or a reduced precision the device does not run
        natively.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of "
                         f"{', '.join(PRECISIONS)}")
    return _shared.resolve_precision(precision, device, native=native_precisions(device))
