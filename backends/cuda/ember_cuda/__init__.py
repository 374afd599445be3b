"""Ember's CUDA backend on NVIDIA's cuda-python (driver API, NVRTC) and cuBLAS.

Importing this package touches no driver: the driver is loaded the first time
a cuda device is asked for (``ember_cuda.driver.get()``), so that
``import ember`` and ``ember info`` work on machines without a GPU.
"""
from ember.errors import AttributeNotFoundError

__version__ = "0.1.0"


def __getattr__(name):
    """``ember_cuda.matmul``: the same object as ``ember.backends.cuda.matmul`` (``allow_tf32``, ...)."""
    if name == "matmul":
        from ember.backends.cuda import matmul
        return matmul
    raise AttributeNotFoundError(f"module 'ember_cuda' has no attribute {name!r}")
