"""Ember's CUDA backend on NVIDIA's cuda-python (driver API, NVRTC) and cuBLAS.

Importing this package touches no driver: the driver is loaded the first time
a cuda device is asked for (``ember_cuda.driver.get()``), so that
``import ember`` and ``ember info`` work on machines without a GPU.
"""

__version__ = "0.1.0"
