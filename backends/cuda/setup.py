"""Builds the optional native launcher ember_cuda._launch (plain C, no CUDA headers needed).

If it cannot be built (no C compiler), the package still installs and launches kernels through ctypes.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("ember_cuda._launch", ["ember_cuda/native/launch.c"], extra_compile_args=["-O2"],
                  optional=True),
    ],
)
