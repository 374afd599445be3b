"""Builds ember_cpu._native (pybind11) as part of a plain pip install."""

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup

setup(
    ext_modules=[
        Pybind11Extension(
            "ember_cpu._native",
            ["ember_cpu/native/module.cpp", "ember_cpu/native/windows.cpp", "ember_cpu/native/conv.cpp",
             "ember_cpu/native/norm_pool.cpp", "ember_cpu/native/activation.cpp", "ember_cpu/native/reduce.cpp",
             "ember_cpu/native/elementwise.cpp", "ember_cpu/native/loss.cpp"],
            depends=["ember_cpu/native/simd.h", "ember_cpu/native/small.h"],
            cxx_std=17,
            # -fno-trapping-math: no code here reads floating-point exception flags, and it lets loops with
            # comparisons (clamps) vectorize
            extra_compile_args=["-O3", "-fno-trapping-math"],
        )
    ],
    cmdclass={"build_ext": build_ext},
)
