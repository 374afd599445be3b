"""ember_kernelgen: Ember's GPU kernels, each described once and rendered in CUDA C, HIP C and OpenCL C.

    from ember_kernelgen import build_kernels, Driver, DeviceLimits
    KERNELS = build_kernels(my_driver)      # {operator name: kernel}, for the plugin's kernel table

A library shared by the GPU backends (not a plugin): it imports ember core, never a backend.
"""

from .driver import DIALECTS, DeviceLimits, Driver
from .cache import KernelCache, cache_dir

__all__ = ["Driver", "DeviceLimits", "DIALECTS", "KernelCache", "cache_dir", "build_kernels", "render"]


def build_kernels(driver, registered_only=True):
    """The kernel table {operator name: kernel} for every prim (and kernel-able composites) on ``driver``."""
    from .host import build_kernels as _b
    return _b(driver, registered_only)


def render(*args, **kwargs):
    from .render import render as _r
    return _r(*args, **kwargs)
