"""ember.backends.cuda: PyTorch's cuBLAS switches, read by the cuda plugin's matrix products.

``matmul.allow_tf32`` is honoured: float32 products run on TF32 tensor cores
(CUBLAS_COMPUTE_32F_FAST_TF32 and CUBLAS_TF32_TENSOR_OP_MATH) when it is True. It is
``ember.get_float32_matmul_precision() != "highest"``, as in PyTorch. The reduced-precision-reduction
switches are honoured too: False sets CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION for float16 or
bfloat16 products. ``allow_fp16_accumulation`` is accepted and ignored (Ember accumulates half
products in float32).
"""

from __future__ import annotations

from ._precision import state as _precision

__all__ = ["matmul", "is_built"]

_FP32 = {"tf32": "high", "ieee": "highest", "none": "highest"}


class _MatmulFlags:
    """``ember.backends.cuda.matmul``: ``allow_tf32`` (False), ``fp32_precision`` ("ieee" or "tf32"),
    ``allow_fp16_reduced_precision_reduction`` and ``allow_bf16_reduced_precision_reduction`` (True),
    ``allow_fp16_accumulation`` (False): PyTorch's defaults."""

    __slots__ = ("allow_fp16_reduced_precision_reduction", "allow_bf16_reduced_precision_reduction",
                 "allow_fp16_accumulation")

    def __init__(self):
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True
        self.allow_fp16_accumulation = False

    @property
    def allow_tf32(self) -> bool:
        return _precision[0] != "highest"

    @allow_tf32.setter
    def allow_tf32(self, value) -> None:
        _precision[0] = "high" if value else "highest"

    @property
    def fp32_precision(self) -> str:
        """PyTorch's newer spelling: "tf32" when TF32 is allowed, else "ieee"."""
        return "tf32" if self.allow_tf32 else "ieee"

    @fp32_precision.setter
    def fp32_precision(self, value) -> None:
        p = _FP32.get(value)
        if p is None:
            from ..errors import InvalidArgumentError
            raise InvalidArgumentError(f"ember.backends.cuda.matmul.fp32_precision: {value!r} is not one of "
                                       f"'ieee', 'tf32' or 'none'")
        _precision[0] = p

    def __repr__(self):
        return (f"ember.backends.cuda.matmul(allow_tf32={self.allow_tf32}, allow_fp16_reduced_precision_reduction="
                f"{self.allow_fp16_reduced_precision_reduction}, allow_bf16_reduced_precision_reduction="
                f"{self.allow_bf16_reduced_precision_reduction})")


matmul = _MatmulFlags()


def is_built() -> bool:
    """True when a 'cuda' plugin is registered or installed."""
    from ..runtime.device import _known_type
    return _known_type("cuda")
