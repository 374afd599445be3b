"""ember.backends.cuda: PyTorch's matmul precision switches, kept as attributes Ember's kernels read
nowhere (they compute float32 matmuls in float32)."""

from __future__ import annotations

__all__ = ["matmul", "is_built"]


class _MatmulFlags:
    """``ember.backends.cuda.matmul``: ``allow_tf32`` (False), ``allow_fp16_reduced_precision_reduction``
    and ``allow_bf16_reduced_precision_reduction`` (True), PyTorch's defaults."""

    def __init__(self):
        self.allow_tf32 = False
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True


matmul = _MatmulFlags()


def is_built() -> bool:
    """True when a 'cuda' plugin is registered or installed."""
    from ..runtime.device import _known_type
    return _known_type("cuda")
