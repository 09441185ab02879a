"""The environment record of report.json: library versions, CPU flags, backend."""
import platform

import numpy as np

from adl.features.environment import cpu_flags, environment_record, library_versions


def test_library_versions_from_metadata():
    got = library_versions({"numpy": ("numpy",), "ghost": ("no-such-dist-adl",),
                            "np-second": ("no-such-dist-adl", "numpy")})
    assert got["numpy"] == np.__version__
    assert got["ghost"] is None
    assert got["np-second"] == f"{np.__version__} (numpy)"   # names the distribution found


def test_cpu_flags_x86_arm_and_unknown(tmp_path):
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma avx512_bf16\n\nprocessor\t: 1\n"
                   "flags : avx512f\n")
    assert cpu_flags(x86) == {"avx2": True, "avx512f": False, "fma": True,   # first CPU's line
                              "avx512_bf16": True, "amx_bf16": False}
    arm = tmp_path / "arm"
    arm.write_text("processor : 0\nFeatures : fp asimd\n")
    assert cpu_flags(arm) == dict.fromkeys(("avx2", "avx512f", "fma", "avx512_bf16", "amx_bf16"),
                                           False)
    odd = tmp_path / "odd"
    odd.write_bytes(b"\xff\xfe garbage without a flags line\n")
    assert cpu_flags(odd) is None
    assert cpu_flags(tmp_path / "missing") is None
    assert cpu_flags(tmp_path) is None                                          # a directory


def test_environment_record(monkeypatch):
    env = environment_record()
    assert env["python"] == platform.python_version()
    assert env["libraries"]["numpy"] == np.__version__
    assert set(env["libraries"]) == {"numpy", "scipy", "scikit-learn", "opencv", "numba",
                                     "torch", "joblib"}
    assert env["f2_descriptor_backend"] in ("numba", "opencv")
    monkeypatch.setenv("ADL_IDT_BACKEND", "opencv")
    assert environment_record()["f2_descriptor_backend"] == "opencv"
    monkeypatch.setenv("ADL_IDT_BACKEND", "cuda")
    assert environment_record()["f2_descriptor_backend"].startswith(
        "unresolved (unknown descriptor backend 'cuda'")
