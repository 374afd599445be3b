"""ember.backends: switches that PyTorch programs set for vendor libraries, one module each as in PyTorch.

Which switches Ember honours and which it accepts and ignores is documented in each module and in
docs/device-api.md: ``cuda.matmul`` is read by the cuda plugin's cuBLAS calls; ``cudnn``, ``mkldnn``
and ``opt_einsum`` are plain attributes a program may set and read (no Ember backend runs cuDNN or
oneDNN, and einsum contracts left to right). ``mps.is_available()`` asks Ember's device registry.
"""

from . import cpu, cuda, cudnn, mkldnn, mps, opt_einsum  # noqa: F401

__all__ = ["cpu", "cuda", "cudnn", "mkldnn", "mps", "opt_einsum"]
