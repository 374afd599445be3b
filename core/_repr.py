"""PyTorch-style printing of tensors."""

from __future__ import annotations

import numpy as np

from . import dtypes as D


def _suffix(t) -> str:
    parts = []
    if t._device.type != "cpu":
        parts.append(f"device='{t._device}'")
    default = (D.get_default_dtype(), D.int64, D.bool)
    if t._dtype not in default or (t.numel() == 0 and t._dtype is not D.get_default_dtype()):
        parts.append(f"dtype={t._dtype!r}")
    if getattr(t, "requires_grad", False):
        gf = getattr(t, "grad_fn", None)
        parts.append(f"grad_fn=<{type(gf).__name__}>" if gf is not None else "requires_grad=True")
    return "".join(", " + p for p in parts)


def tensor_repr(t) -> str:
    if t._device.type == "meta":
        return f"tensor(..., device='meta', size={tuple(t._shape)}{'' if t._dtype is D.get_default_dtype() else f', dtype={t._dtype!r}'})"
    arr = t._to_numpy_copy()
    if t._dtype is D.bfloat16:
        arr = arr.astype(np.float32)
    if t.numel() == 0:
        return f"tensor([], size={tuple(t._shape)}{_suffix(t)})" if t._shape != (0,) else f"tensor([]{_suffix(t)})"
    opts = {"separator": ", ", "prefix": "tensor(", "threshold": 1000, "edgeitems": 3}
    if arr.dtype.kind == "f":
        # Decide the style in float64: float16 would overflow comparing with 1e8 (and warn).
        finite = arr[np.isfinite(arr)].astype(np.float64)
        mag = np.abs(finite)
        whole = finite.size > 0 and np.all(finite == np.round(finite)) and mag.max() < 1e8
        if whole:
            opts["formatter"] = {"float_kind": _padded(arr, _whole)}
        else:
            opts["precision"] = 4
            opts["floatmode"] = "fixed"
            big = finite.size and (mag.max() >= 1e8 or (mag[mag != 0].min(initial=1) < 1e-4))
            if big:
                opts["formatter"] = {"float_kind": _padded(arr, _scientific)}
    body = np.array2string(arr, **opts)
    return f"tensor({body}{_suffix(t)})"


def _padded(arr, fmt):
    """fmt, right-aligned to the widest element, as PyTorch aligns its columns ([ 1.,  7.] over [ 5., 11.])."""
    width = max(len(fmt(v)) for v in arr.flat)
    return lambda v: fmt(v).rjust(width)


def _special(v):
    if np.isnan(v):
        return "nan"
    return "inf" if v > 0 else "-inf"


def _whole(v) -> str:
    return f"{v:.0f}." if np.isfinite(v) else _special(v)


def _scientific(v) -> str:
    return f"{v:.4e}" if np.isfinite(v) else _special(v)
