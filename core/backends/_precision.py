"""The float32 matmul precision, PyTorch's ``set_float32_matmul_precision`` / ``get_float32_matmul_precision``.

One setting with two spellings: ``"highest"`` computes float32 products in float32; ``"high"`` and
``"medium"`` let a backend use TF32 tensor cores (cuBLAS in the cuda plugin). As in PyTorch,
``ember.backends.cuda.matmul.allow_tf32`` is the same switch: it reads ``precision != "highest"``,
and setting it True or False sets ``"high"`` or ``"highest"``.
"""

from __future__ import annotations

import warnings

__all__ = ["set_float32_matmul_precision", "get_float32_matmul_precision"]

PRECISIONS = ("highest", "high", "medium")

#: The current precision; a one-element list so the cuda flags read it without a global statement.
state = ["highest"]


def set_float32_matmul_precision(precision: str) -> None:
    """Set the internal precision of float32 matrix products: "highest" (default), "high" or "medium".

    Another value warns and changes nothing, as in PyTorch."""
    if precision not in PRECISIONS:
        warnings.warn(f"set_float32_matmul_precision(): {precision!r} is not one of 'highest', 'high' or 'medium'; "
                      f"the call has no effect", UserWarning, stacklevel=2)
        return
    state[0] = precision


def get_float32_matmul_precision() -> str:
    """The current float32 matmul precision: "highest", "high" or "medium"."""
    return state[0]
