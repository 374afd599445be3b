"""Ember's cpu backend: numpy, plus native kernels through pybind11 where numpy is slow."""

__version__ = "0.1.0"
