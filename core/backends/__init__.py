"""ember.backends: switches that PyTorch programs set for vendor libraries (cudnn, mps, cuda matmul).

Ember's kernels come from plugins, none of which wraps cuDNN, so ``cudnn`` behaves as PyTorch does on a
machine without it: the flags are plain attributes a program may set and read, and ``is_available()``
is False. ``mps.is_available()`` asks Ember's device registry about an 'mps' plugin.
"""

from . import cuda, cudnn, mps  # noqa: F401

__all__ = ["cuda", "cudnn", "mps"]
