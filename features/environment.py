"""What shaped a run's numbers besides the data and the seed: library
versions, the F2 descriptor backend and the CPU's vector instructions.

Recorded twice: by the features stage in the cache's ``index.json`` (where
F1, F2 and F3 were computed) and by the fusion stage in ``report.json``,
which carries both (``environment.features``, ``environment.fusion``).

The same seed gives the same report on one machine only: the GMM and PCA
fits of F2, the LSTM of F3 and the SVM solvers run through numpy / scipy /
scikit-learn / torch / numba code whose floating-point results depend on
their versions and on the instructions the CPU offers (AVX2, AVX-512, FMA
change summation orders).  ``report.json`` records them (``environment``)
so that two reports can be compared knowingly.
"""
from __future__ import annotations

import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Dict, Optional, Sequence

#: Libraries recorded: report key -> distribution names to try, first found wins.
LIBRARIES: Dict[str, Sequence[str]] = {
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "scikit-learn": ("scikit-learn",),
    "opencv": ("opencv-contrib-python-headless", "opencv-contrib-python",
               "opencv-python-headless", "opencv-python"),
    "numba": ("numba",),
    "torch": ("torch",),
    "joblib": ("joblib",),
}
#: CPU flags that change floating-point results of the vectorised code; the
#: bf16 ones decide F1's precision under ``precision="auto"``.
CPU_FLAGS = ("avx2", "avx512f", "fma", "avx512_bf16", "amx_bf16")


def library_versions(libraries: Optional[Dict[str, Sequence[str]]] = None
                     ) -> Dict[str, Optional[str]]:
    """Installed version of every library (None when not installed).

    Read from the installed distributions' metadata: nothing is imported.
    An OpenCV version names its distribution (``"5.1.0.95
    (opencv-contrib-python-headless)"``) when it is not the first one tried.
    """
    libraries = LIBRARIES if libraries is None else libraries
    out: Dict[str, Optional[str]] = {}
    for key, dists in libraries.items():
        out[key] = None
        for i, dist in enumerate(dists):
            try:
                version = metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
            out[key] = version if i == 0 else f"{version} ({dist})"
            break
    return out


def cpu_flags(cpuinfo="/proc/cpuinfo", flags: Sequence[str] = CPU_FLAGS
              ) -> Optional[Dict[str, bool]]:
    """``{flag: present}`` from the first ``flags`` line of ``/proc/cpuinfo``
    (``Features`` on ARM); None when the file is missing, unreadable or has no
    such line (not Linux, a sandbox): unknown, not absent."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("flags", "features"):
            have = set(value.lower().split())
            return {f: f in have for f in flags}
    return None


def descriptor_backend() -> str:
    """The F2 descriptor backend this process resolves (``"numba"`` or
    ``"opencv"``, :func:`adl.features.idt_descriptors.resolve_backend`, from
    ``$ADL_IDT_BACKEND``), or ``"unresolved (<why>)"`` when it cannot."""
    from .idt_descriptors import resolve_backend

    try:
        return resolve_backend()
    except (ValueError, ImportError) as exc:
        return f"unresolved ({exc})"


def environment_record() -> dict:
    """The environment of this process (``index.json``'s ``environment``; one
    half of ``report.json``'s).

    Returns
    -------
    dict
        ``python``, ``platform``, ``machine``, ``libraries`` (name -> version
        or None), ``f2_descriptor_backend`` and ``cpu_flags`` (flag -> bool,
        or None when unknown).
    """
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "libraries": library_versions(),
        "f2_descriptor_backend": descriptor_backend(),
        "cpu_flags": cpu_flags(),
    }
