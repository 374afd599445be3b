"""F.pad in every mode: constant, reflect, replicate and circular.

The non-constant modes read each padded dim through one ``index_select``
with a host-built index (reflection, clamping or wrap-around of the source
position), so they run on every backend and their gradient (an
``index_add``) comes from autograd.
"""

from __future__ import annotations

from ..errors import ShapeError
from ..ops import nn as _nn
from ..ops.indexing import index_select
from .._factory import tensor as _tensor
from .. import dtypes as D
from ..errors import InvalidArgumentError, UnsupportedError

MODES = ("constant", "reflect", "replicate", "circular")


def _source_index(mode, n, lo, hi):
    """For each output position of a dim of size n padded by (lo, hi): the input position it reads."""
    if mode == "circular":  # negative pads crop first; the wrap reads the cropped dim, as PyTorch does
        c0, m = max(-lo, 0), n - max(-lo, 0) - max(-hi, 0)
        return [c0 + (j - max(lo, 0)) % m for j in range(n + lo + hi)]
    out = []
    for j in range(n + lo + hi):
        i = j - lo
        if mode == "reflect":
            if i < 0:
                i = -i
            if i >= n:
                i = 2 * (n - 1) - i
        else:
            i = min(max(i, 0), n - 1)
        out.append(i)
    return out


def _check_nonconstant(mode, x, pad):
    npad = len(pad) // 2
    if npad not in (1, 2, 3) or x.ndim not in (npad + 1, npad + 2):
        raise UnsupportedError(
            f"pad(): padding size {len(pad)} is not supported for a {x.ndim}-D input in mode {mode!r}; "
            f"non-constant padding takes 2 values for a 2-D or 3-D input, 4 for 3-D or 4-D, 6 for 4-D or 5-D")
    for i in range(npad):
        d = x.ndim - 1 - i
        n, lo, hi = x._shape[d], pad[2 * i], pad[2 * i + 1]
        if n + lo + hi < 0 or (n == 0 and (lo or hi)):
            raise ShapeError(f"pad(): padding {tuple(pad)} gives dim {d} of input shape {tuple(x._shape)} a "
                             f"negative or empty-source size")
        if mode == "reflect" and (lo >= n or hi >= n):
            raise ShapeError(f"pad(): reflect padding must be less than the input size, but got padding "
                             f"({lo}, {hi}) at dim {d} of input shape {tuple(x._shape)}")
        if mode == "circular" and (lo > n or hi > n):
            raise ShapeError(f"pad(): circular padding ({lo}, {hi}) at dim {d} of input shape "
                             f"{tuple(x._shape)} wraps around more than once; use padding <= {n}")


def pad(input, pad, mode="constant", value=None):
    """Pads the last len(pad) // 2 dims; pad lists (left, right) pairs starting from the last dim."""
    pad = tuple(pad)
    if len(pad) % 2:
        raise InvalidArgumentError(f"pad(): padding length must be divisible by 2, got {len(pad)} ({pad})")
    if len(pad) // 2 > input.ndim:
        raise InvalidArgumentError(f"pad(): padding length must be at most two times the input's {input.ndim} dims, "
                                   f"got padding length {len(pad)}")
    if mode == "constant":
        return _nn.constant_pad_nd(input, pad, 0 if value is None else value)
    if mode not in MODES:
        raise UnsupportedError(f"pad(): unrecognised padding mode {mode!r}; use one of {MODES}")
    if value is not None and value != 0:
        raise InvalidArgumentError(f"pad(): padding mode {mode!r} doesn't take a value argument (got {value!r})")
    _check_nonconstant(mode, input, pad)
    x = input
    for i in range(len(pad) // 2):
        d = x.ndim - 1 - i
        lo, hi = pad[2 * i], pad[2 * i + 1]
        if lo == 0 and hi == 0:
            continue
        idx = _source_index(mode, x._shape[d], lo, hi)
        x = index_select(x, d, _tensor(idx, dtype=D.int64, device=x._device))
    return x
