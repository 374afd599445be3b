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
from ember.ops import nn as _N
from ember.ops import reduction as _R

from . import kernels as KD
from . import kernels_nn as KN
from .host import _numel, coalesce
from .host_more import _BIG_GRID, _pow2_ceil, _pow2_floor

_MODES = {"none": 0, "sum": 1, "mean": 2}
#: a row kernel runs as one block (and finishes the reduction itself) up to this many passes
_SINGLE_PASSES = 8
#: the backward kernel's blocks each sum the 'mean' denominator themselves up to this many rows
_INLINE_DEN_ROWS = 2048


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
    """The class weights (or None) contiguous in a dtype the kernels take (KN.weight_dtypes)."""
    if weight is not None and not _fits_weight(weight, x):
        weight = _copy(b, weight, getattr(D, KD.acc_dtype(x._dtype.name)))
    return weight


def _geometry(b, device, C):
    """(B, L): threads a block, lanes a row."""
    B = _pow2_floor(min(KD.BLOCK, b.limits(device).max_block))
    return B, min(B, _pow2_ceil(max(1, -(-C // 4))))


def _capturing(b) -> bool:
    probe = getattr(b.d, "capturing", None)
    return probe is not None and probe()


def check_targets(b, info, C, ignore_index):
    """The range check's readback: raise for the first target outside [0, C) (not ignore_index).
    Skipped while the stream captures a graph, which allows no host read (as a graph's kernels skip
    PyTorch's device-side asserts' host report): captured steps must be given valid targets."""
    if _capturing(b):
        return
    row, value = (int(v) for v in b.d.to_host(info))
    if row >= 0:
        raise _N.target_out_of_range("cross_entropy", value, C, ignore_index)


_DECOMPOSE = object()   # a plan: core's decomposition computes this call
_CONVERT = object()     # a plan: convert the operands to layouts the kernel takes, then plan again


def _fits(x, d):
    """(outer, inner, s_outer, s_dim, s_inner) of x seen as (outer, x.shape[d], inner), or None."""
    shape, st = x._shape, x._strides
    so, si = _one_stride(shape[:d], st[:d]), _one_stride(shape[d + 1:], st[d + 1:])
    if so is None or si is None:
        return None
    return _numel(shape[:d]), _numel(shape[d + 1:]), so, st[d], si


def _fits_pair(t, dtype):
    """(s_outer, s_inner) of a tensor of the rows' shape in dtype, or None."""
    if t._dtype is not dtype:
        return None
    if not t._shape:
        return 0, 0
    si = _one_stride(t._shape[1:], t._strides[1:])
    return None if si is None else (t._strides[0] if t._shape[0] > 1 else 0, si)


def _fits_weight(weight, x):
    return weight is None or (weight._dtype.name in KN.weight_dtypes(x._dtype.name) and _contiguous(weight))


def _cached(plans, key, make):
    plan = plans.get(key)
    if plan is None:
        if len(plans) > 1024:
            plans.clear()
        plan = plans[key] = make()
    return plan


def _ce_plan(b, x, target, weight, reduction, cdim):
    C = x._shape[cdim]
    M = _numel(x._shape) // C if C else 0
    if M == 0 or x._dtype.name not in KN.FLOATS:
        return _DECOMPOSE
    geo, tgeo = _fits(x, cdim), _fits_pair(target, D.int64)
    if geo is None or tgeo is None or not _fits_weight(weight, x):
        return _CONVERT
    device = x._device
    _, inner, x_so, x_sc, x_si = geo
    mode = _MODES[reduction]
    B, L = _geometry(b, device, C)
    blocks = -(-M // (B // L))
    single = int(blocks <= _SINGLE_PASSES)
    xn = x._dtype.name
    wn = xn if weight is None else weight._dtype.name
    acc = getattr(D, KD.acc_dtype(xn))
    rows = b.handle(b.desc(("ce_rows", xn, wn, B)), device)
    fin = None if single else b.handle(b.desc(("ce_finish", xn, B)),
                                       device)
    grid = (1 if single else min(blocks, _BIG_GRID), 1, 1)
    return (rows, fin, grid, (B, 1, 1), (M, C, inner, x_so, x_sc, x_si, *tgeo, L), (M, inner, *tgeo, C),
            int(weight is not None), mode, single, target._shape if mode == 0 else (),
            (M, 2) if mode and not single else None, acc, C)


def _cross_entropy(b):
    plans: dict = {}
    d = b.d

    def cross_entropy(x, target, weight, reduction, ignore_index, label_smoothing, cdim):
        key = (x._dtype, x._shape, x._strides, target._dtype, target._shape, target._strides,
               None if weight is None else (weight._dtype, weight._strides), reduction, cdim, x._device)
        plan = _cached(plans, key, lambda: _ce_plan(b, x, target, weight, reduction, cdim))
        if plan is _DECOMPOSE:
            return _N._cross_entropy(x, target, weight, reduction, ignore_index, label_smoothing)
        if plan is _CONVERT:
            x = _rows_of(b, x, cdim)[0]
            return cross_entropy(x, _pair_of(b, target, D.int64)[0], _weight_of(b, weight, x), reduction,
                                 ignore_index, label_smoothing, cdim)
        rows, fin, grid, block, geo, fgeo, has_w, mode, single, out_shape, part_shape, acc, C = plan
        device = x._device
        out = b.empty(out_shape, x._dtype, device)
        info = b.empty((2,), D.int64, device)
        part = b.empty(part_shape, acc, device) if part_shape else info
        tb = d.buffer(target)
        ign = int(ignore_index)
        stream = d.stream(device)
        d.launch(rows, grid, block, (*d.buffer(out), *d.buffer(part), *d.buffer(info), *d.buffer(x), *tb,
                                     *d.buffer(weight if has_w else x), *geo, has_w, ign, mode, single,
                                     float(label_smoothing)), stream)
        if fin is not None:
            d.launch(fin, (1, 1, 1), block, (*d.buffer(out), *d.buffer(info), *d.buffer(part), *tb, *fgeo, ign,
                                             mode), stream)
        check_targets(b, info, C, ignore_index)
        return out
    return cross_entropy


def _ce_backward_plan(b, grad, x, target, weight, reduction, cdim):
    C = x._shape[cdim]
    M = _numel(x._shape) // C if C else 0
    if M == 0 or x._dtype.name not in KN.FLOATS:
        return _DECOMPOSE
    geo, tgeo, ggeo = _fits(x, cdim), _fits_pair(target, D.int64), _fits_pair(grad, x._dtype)
    if geo is None or tgeo is None or ggeo is None or not _fits_weight(weight, x):
        return _CONVERT
    device = x._device
    _, inner, x_so, x_sc, x_si = geo
    mode = _MODES[reduction]
    B, L = _geometry(b, device, C)
    xn = x._dtype.name
    wn = xn if weight is None else weight._dtype.name
    has_w = int(weight is not None)
    den = None
    if mode == 2 and M > _INLINE_DEN_ROWS:
        den = b.handle(b.desc(("ce_den", xn, wn, B)), device)
    bwd = b.handle(b.desc(("ce_bwd", xn, wn, B)), device)
    return (bwd, den, (min(-(-M // (B // L)), _BIG_GRID), 1, 1), (B, 1, 1),
            (M, C, inner, x_so, x_sc, x_si, *tgeo, *ggeo, L, has_w), (M, inner, *tgeo, C), has_w,
            mode, getattr(D, KD.acc_dtype(xn)))


def _cross_entropy_backward(b):
    plans: dict = {}
    d = b.d

    def cross_entropy_backward(grad, x, target, weight, reduction, ignore_index, label_smoothing, cdim):
        key = (grad._dtype, grad._shape, grad._strides, x._dtype, x._shape, x._strides, target._dtype,
               target._shape, target._strides, None if weight is None else (weight._dtype, weight._strides),
               reduction, cdim, x._device)
        plan = _cached(plans, key, lambda: _ce_backward_plan(b, grad, x, target, weight, reduction, cdim))
        if plan is _DECOMPOSE:
            return _N._cross_entropy_backward(grad, x, target, weight, reduction, ignore_index, label_smoothing)
        if plan is _CONVERT:
            xc = _rows_of(b, x, cdim)[0]
            return cross_entropy_backward(_pair_of(b, grad, x._dtype)[0], xc, _pair_of(b, target, D.int64)[0],
                                          _weight_of(b, weight, xc), reduction, ignore_index, label_smoothing,
                                          cdim)
        bwd, den_k, grid, block, geo, dgeo, has_w, mode, acc = plan
        device = x._device
        gx = b.empty(x._shape, x._dtype, device)
        ign = int(ignore_index)
        stream = d.stream(device)
        wb = d.buffer(weight if has_w else x)
        tb = d.buffer(target)
        den = grad
        if den_k is not None:
            den = b.empty((), acc, device)
            d.launch(den_k, (1, 1, 1), block, (*d.buffer(den), *tb, *wb, *dgeo, ign, has_w), stream)
        d.launch(bwd, grid, block, (*d.buffer(gx), *d.buffer(x), *tb, *wb, *d.buffer(grad), *d.buffer(den), *geo,
                                    ign, mode, int(den_k is None), float(label_smoothing)), stream)
        return gx
    return cross_entropy_backward


def _softmax(b, log):
    meta = _R._log_softmax_meta if log else _R._softmax_meta
    decomposition = _R._log_softmax if log else _R._softmax
    kind = "log_softmax" if log else "softmax"
    plans: dict = {}
    drv = b.d

    def plan_of(x, dim, dtype):
        spec = meta(x, dim, dtype)
        d, odt = spec.extra, spec.dtype
        if _numel(x._shape) == 0 or x._dtype.name not in KN.FLOATS or odt.name not in KN.FLOATS:
            return _DECOMPOSE
        shape = x._shape
        if not shape:
            shape, d = (1,), 0
            x = x._view(shape, (0,))
        geo = _fits(x, d)
        if geo is None:
            return _CONVERT
        outer, inner, x_so, x_sc, x_si = geo
        C = shape[d]
        M = outer * inner
        device = x._device
        B, L = _geometry(b, device, C)
        xn, on = x._dtype.name, odt.name
        k = b.handle(b.desc((kind, xn, on, B)), device)
        return k, (min(-(-M // (B // L)), _BIG_GRID), 1, 1), (B, 1, 1), (M, C, inner, x_so, x_sc, x_si, L), odt

    def softmax(x, dim, dtype=None):
        plan = _cached(plans, (x._dtype, x._shape, x._strides, dim, dtype, x._device),
                       lambda: plan_of(x, dim, dtype))
        if plan is _DECOMPOSE:
            return decomposition(x, dim, dtype)
        if plan is _CONVERT:
            return softmax(_copy(b, x), dim, dtype)
        k, grid, block, geo, odt = plan
        out = b.empty(x._shape, odt, x._device)
        drv.launch(k, grid, block, (*drv.buffer(out), *drv.buffer(x), *geo), drv.stream(x._device))
        return out
    softmax.__name__ = kind
    return softmax


def _contiguous(t):
    """Whether t is row-major without gaps (a size-1 dim may have any stride)."""
    st = t._strides
    if st == contiguous_strides(t._shape):
        return True
    expected = 1
    for n, s in zip(reversed(t._shape), reversed(st)):
        if n != 1 and s != expected:
            return False
        expected *= n
    return True


def _sgd_step_(b):
    plans: dict = {}
    d = b.d

    def plan_of(param, grad, buf):
        dt = param._dtype
        if (grad._dtype is not dt or dt.name not in KN.FLOATS or not _contiguous(param) or not _contiguous(grad)
                or (buf is not None and (buf._dtype is not dt or not _contiguous(buf)))):
            return _DECOMPOSE
        n = _numel(param._shape)
        device = param._device
        k = b.handle(b.desc(("sgd_step", dt.name)), device)
        return (k, *b.grid_1d(device, n), n) if n else None

    def sgd_step_(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov, first):
        buf = momentum_buffer
        key = (param._dtype, param._shape, param._strides, grad._dtype, grad._strides,
               None if buf is None else (buf._dtype, buf._strides), param._device)
        plan = _cached(plans, key, lambda: plan_of(param, grad, buf))
        if plan is _DECOMPOSE:
            return _N._sgd_step_(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov,
                                 first)
        if plan is None:
            return param
        k, grid, block, n = plan
        pb = d.buffer(param)
        d.launch(k, grid, block, (*pb, *d.buffer(grad), *(d.buffer(buf) if buf is not None else pb), n,
                                  float(lr), float(momentum), float(1 - dampening), float(weight_decay),
                                  int(buf is not None), int(bool(nesterov)), int(bool(first)), int(dampening != 0)),
                 d.stream(param._device))
        return param
    return sgd_step_


def kernels(b) -> dict:
    return {"cross_entropy": _cross_entropy(b), "cross_entropy_backward": _cross_entropy_backward(b),
            "softmax": _softmax(b, False), "log_softmax": _softmax(b, True), "sgd_step_": _sgd_step_(b)}
