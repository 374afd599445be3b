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
        finite = arr[np.isfinite(arr)]
        whole = finite.size > 0 and np.all(finite == np.round(finite)) and np.abs(finite).max() < 1e8
        if whole:
            opts["formatter"] = {"float_kind": lambda v: _whole(v)}
        else:
            opts["precision"] = 4
            opts["floatmode"] = "fixed"
            mag = np.abs(finite.astype(np.float64))
            big = finite.size and (mag.max() >= 1e8 or (mag[mag != 0].min(initial=1) < 1e-4))
            if big:
                opts["formatter"] = {"float_kind": lambda v: f"{v:.4e}"}
    body = np.array2string(arr, **opts)
    return f"tensor({body}{_suffix(t)})"


def _whole(v) -> str:
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.0f}."
