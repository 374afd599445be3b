"""PyTorch-style printing of tensors."""

from __future__ import annotations

import contextlib
import sys

import numpy as np

from . import dtypes as D
from .errors import ArgumentTypeError, InvalidArgumentError

#: Print options, as ``ember.set_printoptions`` sets them (PyTorch's names and defaults).
_DEFAULTS = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80, "sci_mode": None}
_PROFILES = {"default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
             "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
             "full": {"precision": 4, "threshold": float("inf"), "edgeitems": 3, "linewidth": 80}}
_OPTS = dict(_DEFAULTS)


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None,
                     sci_mode=None) -> None:
    """Set how tensors print, as torch.set_printoptions: a profile ('default', 'short', 'full') first,
    then the options given; ``sci_mode`` True/False forces or forbids scientific notation, None chooses."""
    if profile is not None:
        if profile not in _PROFILES:
            raise InvalidArgumentError(f"set_printoptions(): unknown profile {profile!r}; expected one of "
                                       f"{', '.join(map(repr, _PROFILES))}")
        _OPTS.update(_PROFILES[profile])
    for name, v in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                    ("linewidth", linewidth)):
        if v is not None:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise ArgumentTypeError(f"set_printoptions(): {name} must be a non-negative number, got {v!r}")
            _OPTS[name] = v
    if sci_mode is not None and not isinstance(sci_mode, bool):
        raise ArgumentTypeError(f"set_printoptions(): sci_mode must be True, False or None, got {sci_mode!r}")
    _OPTS["sci_mode"] = sci_mode


def get_printoptions() -> dict:
    """The current print options, as keyword arguments for set_printoptions."""
    return dict(_OPTS)


@contextlib.contextmanager
def printoptions(**kwargs):
    """Change the print options inside a ``with`` block only."""
    old = get_printoptions()
    set_printoptions(**kwargs)
    try:
        yield
    finally:
        set_printoptions(**old)


def _suffix(t, head: str) -> str:
    """The ", dtype=..., grad_fn=..." tail; a part that would pass the line width starts a new line, as
    in PyTorch (``head`` is the text before it)."""
    parts = []
    if t._device.type != "cpu":
        parts.append(f"device='{t._device}'")
    default = (D.get_default_dtype(), D.int64, D.bool, D.to_complex(D.get_default_dtype()))
    if t._dtype not in default or (t.numel() == 0 and t._dtype is not D.get_default_dtype()):
        parts.append(f"dtype={t._dtype!r}")
    if getattr(t, "requires_grad", False):
        gf = getattr(t, "grad_fn", None)
        parts.append(f"grad_fn=<{type(gf).__name__}>" if gf is not None else "requires_grad=True")
    out, width = "", len(head) - head.rfind("\n") + 1
    for p in parts:
        if width + len(p) + 2 > _OPTS["linewidth"]:
            out += ",\n" + " " * len("tensor(") + p
            width = len("tensor(") + len(p)
        else:
            out += ", " + p
            width += len(p) + 2
    return out


def tensor_repr(t) -> str:
    if t._device.type == "meta":
        return f"tensor(..., device='meta', size={tuple(t._shape)}{'' if t._dtype is D.get_default_dtype() else f', dtype={t._dtype!r}'})"
    arr = t._to_numpy_copy()
    if t._dtype is D.bfloat16:
        arr = arr.astype(np.float32)
    if t.numel() == 0:
        head = f"tensor([], size={tuple(t._shape)}" if t._shape != (0,) else "tensor([]"
        return f"{head}{_suffix(t, head)})"
    threshold = _OPTS["threshold"]
    opts = {"separator": ", ", "prefix": "tensor(", "edgeitems": int(_OPTS["edgeitems"]),
            "threshold": sys.maxsize if threshold == float("inf") else int(threshold),
            # numpy counts the closing comma that PyTorch's per-line element count leaves out
            "max_line_width": int(_OPTS["linewidth"]) + 1}
    if arr.dtype.kind == "f":
        # Decide the style in float64: float16 would overflow comparing with 1e8 (and warn).
        # PyTorch's rule: scientific when the nonzero magnitudes span over 1000x, exceed 1e8 or go below 1e-4.
        finite = arr[np.isfinite(arr)].astype(np.float64)
        mag = np.abs(finite)
        nz = mag[mag != 0]
        whole = finite.size > 0 and bool(np.all(finite == np.round(finite)))
        sci = False
        if nz.size:  # with no nonzero finite value the style stays plain, whatever sci_mode says
            hi, lo = nz.max(), nz.min()
            sci = hi / lo > 1000 or hi > 1e8 if whole else hi / lo > 1000 or hi > 1e8 or lo < 1e-4
            if _OPTS["sci_mode"] is not None:
                sci = _OPTS["sci_mode"]
        prec = int(_OPTS["precision"])
        if sci:
            opts["formatter"] = {"float_kind": _padded(arr, lambda v: _scientific(v, prec))}
        elif whole:
            opts["formatter"] = {"float_kind": _padded(arr, _whole)}
        else:  # fixed, and never numpy's own choice of scientific notation
            opts["formatter"] = {"float_kind": _padded(arr, lambda v: _fixed(v, prec))}
    elif arr.dtype.kind == "c":
        opts["formatter"] = {"complex_kind": _complex_format(arr, int(_OPTS["precision"]))}
    # PyTorch pads a summary's "..." like an element: [0, 1, 2,  ..., 7, 8, 9].
    body = np.array2string(arr, **opts).replace(", ...,", ",  ...,")
    return f"tensor({body}{_suffix(t, 'tensor(' + body)})"


def _complex_format(arr, precision):
    """PyTorch's a+bj: both parts whole ("1.+2.j") or fixed to the precision ("1.0000-0.5000j")."""
    parts = np.concatenate([arr.real.ravel(), arr.imag.ravel()]).astype(np.float64)
    finite = parts[np.isfinite(parts)]
    part = _whole if finite.size and np.all(finite == np.round(finite)) else (lambda v: _fixed(v, precision))

    def fmt(v):
        im = part(abs(v.imag)) if not np.isnan(v.imag) else "nan"
        return f"{part(v.real)}{'-' if np.signbit(v.imag) and not np.isnan(v.imag) else '+'}{im}j"
    return fmt


def _padded(arr, fmt):
    """fmt, right-aligned to the widest element, as PyTorch aligns its columns ([ 1.,  7.] over [ 5., 11.])."""
    vals = arr[np.isfinite(arr) & (arr != 0)]  # PyTorch sizes columns by the nonzero finite values
    width = max((len(fmt(v)) for v in vals.flat), default=0)
    return lambda v: fmt(v).rjust(width)


def _special(v):
    if np.isnan(v):
        return "nan"
    return "inf" if v > 0 else "-inf"


def _whole(v) -> str:
    return f"{v:.0f}." if np.isfinite(v) else _special(v)


def _fixed(v, precision) -> str:
    return f"{v:.{precision}f}" if np.isfinite(v) else _special(v)


def _scientific(v, precision=4) -> str:
    return f"{v:.{precision}e}" if np.isfinite(v) else _special(v)
