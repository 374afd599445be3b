"""Host side of the fused nn kernels (kernels_nn.py): cross_entropy and its backward, softmax and
log_softmax, the SGD step. Each function is the raw kernel core's adapter calls (see each op's
doc=); a layout a kernel does not take (an empty input, a grad of another dtype than its parameter)
goes to core's decomposition, as it would without a kernel.

cross_entropy's range check is the one readback of a training step: the row kernel (or, on many
rows, one block after it) reports the first bad target in a two-word buffer read back once.
"""

from __future__ import annotations

from ember import dtypes as D
from ember._tensor import contiguous_strides
from ember.errors import IndexOutOfRangeError
from ember.ops import nn as _N
from ember.ops import reduction as _R

from . import kernels as KD
from . import kernels_nn as KN
from .host import _numel, coalesce

_MODES = {"none": 0, "sum": 1, "mean": 2}
_BIG_GRID = 65535
#: a row kernel runs as one block (and finishes the reduction itself) up to this many passes
_SINGLE_PASSES = 8
#: the backward kernel's blocks each sum the 'mean' denominator themselves up to this many rows
_INLINE_DEN_ROWS = 2048


def _pow2_floor(n):
    p = 1
    while p * 2 <= n:
        p *= 2
    return p


def _pow2_ceil(n):
    p = 1
    while p < n:
        p *= 2
    return p


def _one_stride(shape, strides):
    """The stride that walks ``shape`` as one run (0 when it has one element), or None."""
    cs, (st,) = coalesce(shape, [strides])
    if not cs:
        return 0
    return st[0] if len(cs) == 1 else None


def _copy(b, t, dtype=None):
    """A contiguous copy of t (cast to dtype), through the copy kernel."""
    out = b.empty(t._shape, dtype or t._dtype, t._device)
    return b.elementwise("copy", out, t._dtype, (t,), t._shape, t._device)


def _rows_of(b, x, d):
    """(x, outer, inner, s_outer, s_dim, s_inner): x seen as (outer, x.shape[d], inner), copied
    contiguous first when its dims before or after d do not walk as one stride each."""
    shape, st = x._shape, x._strides
    so, si = _one_stride(shape[:d], st[:d]), _one_stride(shape[d + 1:], st[d + 1:])
    if so is None or si is None:
        x = _copy(b, x)
        shape, st = x._shape, x._strides
        so, si = _one_stride(shape[:d], st[:d]), _one_stride(shape[d + 1:], st[d + 1:])
    return x, _numel(shape[:d]), _numel(shape[d + 1:]), so, st[d], si


def _pair_of(b, t, dtype):
    """(t, s_outer, s_inner) for a tensor of the rows' shape (x without its class dim: target,
    grad): as dtype, its first dim and the rest each walked by one stride."""
    if t._dtype is not dtype:
        t = _copy(b, t, dtype)
    if not t._shape:
        return t, 0, 0
    so, si = _one_stride(t._shape[:1], t._strides[:1]), _one_stride(t._shape[1:], t._strides[1:])
    if si is None:
        t = _copy(b, t)
        so, si = _one_stride(t._shape[:1], t._strides[:1]), _one_stride(t._shape[1:], t._strides[1:])
    return t, so, si


def _weight_of(b, weight, x):
    """(weight tensor, has_w) in a dtype the kernels take (KN.weight_dtypes)."""
    if weight is None:
        return x, 0
    if weight._dtype.name not in KN.weight_dtypes(x._dtype.name) or not weight.is_contiguous():
        weight = _copy(b, weight, getattr(D, KD.acc_dtype(x._dtype.name)))
    return weight, 1


def _geometry(b, device, C):
    """(B, L): threads a block, lanes a row."""
    B = _pow2_floor(min(KD.BLOCK, b.limits(device).max_block))
    return B, min(B, _pow2_ceil(max(1, -(-C // 4))))


def check_targets(b, info, C, ignore_index):
    """The range check's readback: raise for the first target outside [0, C) (not ignore_index)."""
    row, value = (int(v) for v in b.d.to_host(info))
    if row >= 0:
        raise IndexOutOfRangeError(f"cross_entropy(): target {value} is out of bounds for {C} classes "
                                   f"(valid: 0..{C - 1}, or ignore_index={ignore_index})")


def _cross_entropy(b):
    def cross_entropy(x, target, weight, reduction, ignore_index, label_smoothing, cdim):
        C = x._shape[cdim]
        M = _numel(x._shape) // C if C else 0
        if M == 0 or x._dtype.name not in KN.FLOATS:
            return _N._cross_entropy(x, target, weight, reduction, ignore_index, label_smoothing)
        device = x._device
        x, _, inner, x_so, x_sc, x_si = _rows_of(b, x, cdim)
        t, t_so, t_si = _pair_of(b, target, D.int64)
        w, has_w = _weight_of(b, weight, x)
        mode = _MODES[reduction]
        B, L = _geometry(b, device, C)
        blocks = -(-M // (B // L))
        single = blocks <= _SINGLE_PASSES
        xn = x._dtype.name
        acc = KD.acc_dtype(xn)
        out = b.empty(target._shape if mode == 0 else (), x._dtype, device)
        info = b.empty((2,), D.int64, device)
        part = b.empty((M, 2), getattr(D, acc), device) if mode and not single else info
        rows = b.desc(("ce_rows", xn, w._dtype.name, B), lambda: KN.cross_entropy_rows(xn, w._dtype.name, B))
        tb = b.buf(t)
        b.launch(rows, device, (1 if single else min(blocks, _BIG_GRID), 1, 1), (B, 1, 1),
                 (*b.buf(out), *b.buf(part), *b.buf(info), *b.buf(x), *tb, *b.buf(w), M, C, inner, x_so, x_sc,
                  x_si, t_so, t_si, L, has_w, int(ignore_index), mode, int(single), float(label_smoothing)))
        if not single:
            fin = b.desc(("ce_finish", xn, B), lambda: KN.cross_entropy_finish(xn, B))
            b.launch(fin, device, (1, 1, 1), (B, 1, 1),
                     (*b.buf(out), *b.buf(info), *b.buf(part), *tb, M, inner, t_so, t_si, C, int(ignore_index), mode))
        check_targets(b, info, C, ignore_index)
        return out
    return cross_entropy


def _cross_entropy_backward(b):
    def cross_entropy_backward(grad, x, target, weight, reduction, ignore_index, label_smoothing, cdim):
        C = x._shape[cdim]
        M = _numel(x._shape) // C if C else 0
        if M == 0 or x._dtype.name not in KN.FLOATS:
            return _N._cross_entropy_backward(grad, x, target, weight, reduction, ignore_index, label_smoothing)
        device = x._device
        gx = b.empty(x._shape, x._dtype, device)
        x, _, inner, x_so, x_sc, x_si = _rows_of(b, x, cdim)
        t, t_so, t_si = _pair_of(b, target, D.int64)
        g, g_so, g_si = _pair_of(b, grad, x._dtype)
        w, has_w = _weight_of(b, weight, x)
        mode = _MODES[reduction]
        B, L = _geometry(b, device, C)
        xn, wn = x._dtype.name, w._dtype.name
        inline = 1
        den = g
        if mode == 2 and M > _INLINE_DEN_ROWS:
            inline = 0
            den = b.empty((), getattr(D, KD.acc_dtype(xn)), device)
            dk = b.desc(("ce_den", xn, wn, B), lambda: KN.cross_entropy_denominator(xn, wn, B))
            b.launch(dk, device, (1, 1, 1), (B, 1, 1),
                     (*b.buf(den), *b.buf(t), *b.buf(w), M, inner, t_so, t_si, C, int(ignore_index), has_w))
        bwd = b.desc(("ce_bwd", xn, wn, B), lambda: KN.cross_entropy_backward(xn, wn, B))
        b.launch(bwd, device, (min(-(-M // (B // L)), _BIG_GRID), 1, 1), (B, 1, 1),
                 (*b.buf(gx), *b.buf(x), *b.buf(t), *b.buf(w), *b.buf(g), *b.buf(den), M, C, inner, x_so, x_sc,
                  x_si, t_so, t_si, g_so, g_si, L, has_w, int(ignore_index), mode, inline, float(label_smoothing)))
        return gx
    return cross_entropy_backward


def _softmax(b, log):
    meta = _R._log_softmax_meta if log else _R._softmax_meta
    decomposition = _R._log_softmax if log else _R._softmax
    kind = "log_softmax" if log else "softmax"

    def softmax(x, dim, dtype=None):
        spec = meta(x, dim, dtype)
        d, odt = spec.extra, spec.dtype
        n = _numel(x._shape)
        if n == 0 or x._dtype.name not in KN.FLOATS or odt.name not in KN.FLOATS:
            return decomposition(x, dim, dtype)
        device = x._device
        out = b.empty(x._shape, odt, device)
        if not x._shape:
            x = x._view((1,), (0,))
            d = 0
        x, outer, inner, x_so, x_sc, x_si = _rows_of(b, x, d)
        C, M = x._shape[d], outer * inner
        B, L = _geometry(b, device, C)
        xn, on = x._dtype.name, odt.name
        k = b.desc((kind, xn, on, B), lambda: KN.softmax_rows(xn, on, log, B))
        b.launch(k, device, (min(-(-M // (B // L)), _BIG_GRID), 1, 1), (B, 1, 1),
                 (*b.buf(out), *b.buf(x), M, C, inner, x_so, x_sc, x_si, L))
        return out
    softmax.__name__ = kind
    return softmax


def _contiguous(t):
    st = t._strides
    return st == contiguous_strides(t._shape) or t.is_contiguous()


def _sgd_step_(b):
    def sgd_step_(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov, first):
        dt = param._dtype
        buf = momentum_buffer
        if (grad._dtype is not dt or dt.name not in KN.FLOATS or not _contiguous(param) or not _contiguous(grad)
                or (buf is not None and (buf._dtype is not dt or not _contiguous(buf)))):
            return _N._sgd_step_(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov,
                                 first)
        n = _numel(param._shape)
        if n == 0:
            return param
        device = param._device
        k = b.desc(("sgd_step", dt.name), lambda: KN.sgd_step(dt.name))
        bb = b.buf(buf) if buf is not None else b.buf(param)
        b.launch_1d(k, device, n, (*b.buf(param), *b.buf(grad), *bb, n, float(lr), float(momentum),
                                   float(1 - dampening), float(weight_decay), int(buf is not None), int(bool(nesterov)),
                                   int(bool(first)), int(dampening != 0)))
        return param
    return sgd_step_


def kernels(b) -> dict:
    return {"cross_entropy": _cross_entropy(b), "cross_entropy_backward": _cross_entropy_backward(b),
            "softmax": _softmax(b, False), "log_softmax": _softmax(b, True), "sgd_step_": _sgd_step_(b)}
