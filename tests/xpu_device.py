"""The xpu device the xpu tests run on: pocl's CPU device where this machine has no Intel GPU
(as CI), bound before the plugin is used; tests skip with the reason where OpenCL is missing."""

from __future__ import annotations

import os

import pytest
from ember.device import get_backend
from ember_xpu import runtime as R

POCL = "Portable Computing Language"

if not os.environ.get(R.PLATFORM_ENV) and not R.discover("")[0] and R.discover(POCL)[0]:
    os.environ[R.PLATFORM_ENV] = POCL


def xpu_runtime():
    """The xpu runtime, rebound to the platform chosen above if the plugin loaded before it was set;
    skips the calling test (or module) when no OpenCL device is usable."""
    rt = get_backend("xpu").runtime
    if not rt.is_available() and os.environ.get(R.PLATFORM_ENV):
        from ember_xpu.plugin import rebind
        rebind()
    if not rt.is_available():
        pytest.skip(f"no usable OpenCL device for xpu: {rt.unavailable_reason()}")
    return rt
