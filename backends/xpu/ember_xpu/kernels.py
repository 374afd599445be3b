"""The xpu kernel table: ember_kernelgen's kernels, rendered in OpenCL C, on the OpenCL driver."""

from __future__ import annotations


def build():
    from ember_kernelgen import build_kernels
    from .driver import driver
    return build_kernels(driver)
