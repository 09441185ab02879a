"""``import adl.deep`` stays light: torch and torchvision load only when a
network is built."""
from __future__ import annotations

import subprocess
import sys


def test_importing_the_package_imports_neither_torch_nor_torchvision():
    code = ("import sys, adl.deep; from adl.deep import get_backbone_spec; "
            "get_backbone_spec('i3d').default_weights.meta(); "
            "print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
