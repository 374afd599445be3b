"""ember.backends.cpu: what the host CPU offers Ember's cpu kernels (numpy and the pybind11 kernels)."""

from __future__ import annotations

import functools
import platform

__all__ = ["get_cpu_capability"]

#: PyTorch's capability names, best first, each with the numpy SIMD features it needs.
_CAPABILITIES = (
    ("AVX512", ("AVX512F", "AVX512BW", "AVX512VL", "AVX512DQ")),
    ("AVX2", ("AVX2", "FMA3")),
    ("SVE256", ("SVE",)),
    ("VSX", ("VSX",)),
    ("Z VECTOR", ("VX",)),
)
_X86 = ("x86_64", "amd64", "i386", "i686")


@functools.lru_cache(maxsize=1)
def get_cpu_capability() -> str:
    """The vector instruction set the host supports, in PyTorch's words: "AVX512", "AVX2", "SVE256", "VSX",
    "Z VECTOR", else "NO AVX" on x86 and "DEFAULT" elsewhere (read from numpy's CPU feature detection)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_features__ as features
    for name, needs in _CAPABILITIES:
        if all(features.get(f) for f in needs):
            return name
    return "NO AVX" if platform.machine().lower() in _X86 else "DEFAULT"
