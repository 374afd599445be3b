"""Ember's ROCm backend on AMD's hip-python (HIP runtime, hiprtc) and hipBLAS.

Users write ``x.to("rocm")`` (``"rocm:1"`` for the second GPU). PyTorch's ROCm
build calls AMD GPUs ``"cuda"``; Ember keeps a separate device type so that a
machine with both vendors' GPUs can use both in one process, and so that an
error, a certificate or ``ember info`` says which vendor's stack ran. Code
written for PyTorch-on-ROCm changes its device string (or reads it from a
variable). No ``"hip"`` alias is registered: two names for one device would
make ``Device("hip") != Device("rocm")`` for the same GPU and split caches,
streams and allocator statistics keyed by device type.

Importing this package touches no library: HIP is loaded the first time a rocm
device is asked for (``ember_rocm.driver.get()``), so ``import ember`` and
``ember info`` work on machines without ROCm.
"""

__version__ = "0.1.0"
