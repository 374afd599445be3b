"""Operators: the shape family (cat, stack, flip, roll, repeat, tril, triu, one_hot).

``flip`` is the one prim: Ember's strides are non-negative, so a reversed
dimension is never a view. The rest are composites: cat copies each input
into a slice of one new tensor, stack is cat of unsqueezed inputs, roll is
cat of two slices, repeat is expand + reshape, tril/triu are where() with an
arange mask, one_hot is eq() against arange. A backend may register faster
kernels for cat, stack, tril and triu (the ``doc=`` of each says the contract).
"""

from __future__ import annotations

from .. import dtypes as D
from .._tensor import Tensor
from ..dispatch import defop
from ..errors import DeviceMismatchError, DTypeError, IndexOutOfRangeError, ShapeError
from ._helpers import Spec, as_shape, numel, wrap_dim
from .creation import arange, copy_, empty, full
from .elementwise import add, eq, ge, le, where
from .reduction import amax, amin
from ..errors import ArgumentTypeError, InvalidArgumentError


def _fmt(shape):
    return str(tuple(shape))


def _tensor_list(opname, tensors):
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise ArgumentTypeError(f"{opname}() expects a list or tuple of tensors, got {type(tensors).__name__}")
    if not tensors:
        raise InvalidArgumentError(f"{opname}(): expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise ArgumentTypeError(f"{opname}(): expected a tensor at position {i}, got {type(t).__name__}")
    dev = tensors[0]._device
    for i, t in enumerate(tensors):
        if t._device != dev:
            raise DeviceMismatchError(f"{opname}(): expected all tensors on one device, but tensor 0 is on {dev} "
                                      f"and tensor {i} on {t._device}; move them with .to(device) first")


# -- cat and stack ------------------------------------------------------------------

def _cat_meta(tensors, dim=0):
    """Spec with extra = (dim, the tensors that contribute): 1-D empty tensors are skipped, as in PyTorch."""
    _tensor_list("cat", tensors)
    for i, t in enumerate(tensors):
        if not t._shape:
            raise ShapeError(f"cat(): zero-dimensional tensor (at position {i}) cannot be concatenated; "
                             f"unsqueeze it to shape (1,) or use stack()")
    dtype = D.result_type(*tensors)
    parts = [t for t in tensors if t._shape != (0,)]
    if not parts:
        return Spec((0,), dtype, (0, parts))
    ref = parts[0]
    r = next(i for i, t in enumerate(tensors) if t is ref)
    nd = len(ref._shape)
    d = wrap_dim(dim, nd, "cat")
    total = 0
    for i, t in enumerate(tensors):
        s = t._shape
        if s == (0,):
            continue
        if len(s) != nd:
            raise ShapeError(f"cat(): tensors must have the same number of dimensions: tensor {r} has shape "
                             f"{_fmt(ref._shape)} and tensor {i} has shape {_fmt(s)}")
        for j in range(nd):
            if j != d and s[j] != ref._shape[j]:
                raise ShapeError(f"cat(): sizes of tensors must match except in dimension {d}: tensor {r} has "
                                 f"shape {_fmt(ref._shape)} and tensor {i} has shape {_fmt(s)} (dimension {j} "
                                 f"is {ref._shape[j]} and {s[j]})")
        total += s[d]
    return Spec(ref._shape[:d] + (total,) + ref._shape[d + 1:], dtype, (d, parts))


def _cat(tensors, dim=0):
    spec = _cat_meta(tensors, dim)
    d, parts = spec.extra
    out = empty(spec.shape, dtype=spec.dtype, device=tensors[0]._device)
    start = 0
    for t in parts:
        n = t._shape[d]
        if n:
            copy_(out.narrow(d, start, n), t)
            start += n
    return out


def _cat_adapter(op, kernel, backend):
    def entry(tensors, dim=0):
        spec = _cat_meta(tensors, dim)
        d, parts = spec.extra
        if not parts:
            return empty(spec.shape, dtype=spec.dtype, device=tensors[0]._device)
        return kernel(parts, d, spec.dtype)
    return entry


cat_ = defop("cat(Tensor[] tensors, int dim=0) -> Tensor", meta=_cat_meta, decomposition=_cat,
             adapter=_cat_adapter, family="shape",
             doc="Concatenate along dim; dtypes promote; 1-D empty tensors are skipped. A kernel: "
                 "kernel(tensors, dim, dtype) -> Tensor: a non-empty list of tensors of one ndim whose shapes "
                 "agree except along dim (non-negative); the result has dtype dtype.")


def _stack_meta(tensors, dim=0):
    _tensor_list("stack", tensors)
    ref = tensors[0]._shape
    for i, t in enumerate(tensors):
        if t._shape != ref:
            raise ShapeError(f"stack(): expects each tensor to be of equal size, but got {_fmt(ref)} at entry 0 "
                             f"and {_fmt(t._shape)} at entry {i}")
    d = wrap_dim(dim, len(ref) + 1, "stack")
    return Spec(ref[:d] + (len(tensors),) + ref[d:], D.result_type(*tensors), d)


def _stack(tensors, dim=0):
    d = _stack_meta(tensors, dim).extra
    return cat_([t.unsqueeze(d) for t in tensors], d)


def _stack_adapter(op, kernel, backend):
    def entry(tensors, dim=0):
        spec = _stack_meta(tensors, dim)
        return kernel(tensors, spec.extra, spec.dtype)
    return entry


stack_ = defop("stack(Tensor[] tensors, int dim=0) -> Tensor", meta=_stack_meta, decomposition=_stack,
               adapter=_stack_adapter, family="shape",
               doc="Join equal-shaped tensors along a new dimension dim; dtypes promote. A kernel: "
                   "kernel(tensors, dim, dtype) -> Tensor: a non-empty list of tensors of one shape, dim a "
                   "non-negative position of the new dimension, the result in dtype.")


def _as_list(opname, tensors):
    if not isinstance(tensors, (list, tuple)):
        if isinstance(tensors, Tensor):
            raise ArgumentTypeError(f"{opname}() expects a list or tuple of tensors, got a single tensor; wrap it in a list")
        try:
            tensors = list(tensors)
        except TypeError:
            raise ArgumentTypeError(f"{opname}() expects a list or tuple of tensors, got {type(tensors).__name__}") from None
    if not tensors:
        raise InvalidArgumentError(f"{opname}(): expected a non-empty list of tensors")
    return tensors


def cat(tensors, dim=0):
    """Concatenate tensors along an existing dimension (like torch.cat)."""
    if (tensors.__class__ is not list and tensors.__class__ is not tuple) or not tensors:
        tensors = _as_list("cat", tensors)
    return cat_(tensors, dim)


def stack(tensors, dim=0):
    """Join tensors along a new dimension (like torch.stack)."""
    if (tensors.__class__ is not list and tensors.__class__ is not tuple) or not tensors:
        tensors = _as_list("stack", tensors)
    return stack_(tensors, dim)


# -- flip: the prim ------------------------------------------------------------------

def _flip_meta(x, dims):
    dims = (dims,) if isinstance(dims, int) else dims
    nd = len(x._shape)
    w = tuple(wrap_dim(d, nd, "flip") for d in dims)
    if len(set(w)) != len(w):
        raise InvalidArgumentError(f"flip(): dims {tuple(dims)} name a dimension more than once")
    return Spec(x._shape, x._dtype, tuple(sorted(d for d in w if d < nd and x._shape[d] > 1)))


def _flip_adapter(op, kernel, backend):
    def entry(x, dims):
        spec = _flip_meta(x, dims)
        if not spec.extra or not numel(x._shape):
            return x.clone()
        return kernel(x, spec.extra)
    return entry


flip = defop("flip(Tensor self, int[] dims) -> Tensor", meta=_flip_meta, prim=True, adapter=_flip_adapter,
             family="shape",
             doc="kernel(x, dims) -> Tensor: a new tensor with x's shape and dtype, reversed along each of "
                 "dims (a non-empty sorted tuple of distinct non-negative dims, each of size > 1).")


def _fliplr(x):
    if x.ndim < 2:
        raise ShapeError(f"fliplr(): input must have at least 2 dimensions, got shape {_fmt(x._shape)}")
    return flip(x, (1,))


def _flipud(x):
    if x.ndim < 1:
        raise ShapeError("flipud(): input must have at least 1 dimension, got a 0-d tensor")
    return flip(x, (0,))


# -- roll ----------------------------------------------------------------------------

def _roll_args(x, shifts, dims):
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = () if dims is None else (dims,) if isinstance(dims, int) else tuple(dims)
    if not dims:
        if len(shifts) != 1:
            raise InvalidArgumentError(f"roll(): shifts and dims must align: got {len(shifts)} shifts {shifts} and no dims; "
                                       f"give one dim per shift, or a single shift to roll the flattened tensor")
        return shifts, None
    if len(shifts) != len(dims):
        raise InvalidArgumentError(f"roll(): shifts and dims must align: got {len(shifts)} shifts {shifts} and "
                                   f"{len(dims)} dims {dims}")
    nd = len(x._shape)
    if nd == 0:
        raise IndexOutOfRangeError(f"roll(): dims {dims} given for a 0-d tensor, which has no dimensions; "
                                   f"omit dims to roll it")
    return shifts, tuple(wrap_dim(d, nd, "roll") for d in dims)


def _roll_meta(x, shifts, dims=None):
    _roll_args(x, shifts, dims)
    return Spec(x._shape, x._dtype)


def _roll(x, shifts, dims=None):
    shifts, dims = _roll_args(x, shifts, dims)
    if dims is None:
        return _roll(x.flatten(), shifts, (0,)).reshape(x._shape)
    out = x
    for s, d in zip(shifts, dims):
        n = out._shape[d]
        s = s % n if n else 0
        if s:
            out = cat_([out.narrow(d, n - s, s), out.narrow(d, 0, n - s)], d)
    return out if out is not x else x.clone()


roll = defop("roll(Tensor self, int[] shifts, int[]? dims=None) -> Tensor", meta=_roll_meta, decomposition=_roll,
             family="shape",
             doc="Rotate elements along dims by shifts (elements leaving one end re-enter at the other); "
                 "with no dims the flattened tensor is rolled and the shape restored.")


# -- repeat --------------------------------------------------------------------------

def _repeat_meta(x, repeats):
    repeats = as_shape((repeats,) if isinstance(repeats, int) else repeats, "repeat")
    nd = len(x._shape)
    if len(repeats) < nd:
        raise ShapeError(f"repeat(): the number of repeats {len(repeats)} ({repeats}) can not be smaller than "
                         f"the number of dimensions of the tensor ({nd}, shape {_fmt(x._shape)})")
    for r in repeats:
        if r < 0:
            raise ShapeError(f"repeat(): repeats must be non-negative, got {repeats}")
    shape = (1,) * (len(repeats) - nd) + x._shape
    return Spec(tuple(r * s for r, s in zip(repeats, shape)), x._dtype, (repeats, shape))


def _repeat(x, repeats):
    spec = _repeat_meta(x, repeats)
    reps, shape = spec.extra
    # View x as (1, s0, 1, s1, ...), expand to (r0, s0, r1, s1, ...), then merge pairs: one copy.
    inter = tuple(v for s in shape for v in (1, s))
    big = tuple(v for r, s in zip(reps, shape) for v in (r, s))
    out = x.reshape(inter).expand(big).reshape(spec.shape)
    return out.clone() if out._storage is x._storage else out  # a copy, never a view, as in PyTorch


repeat = defop("repeat(Tensor self, int[] repeats) -> Tensor", meta=_repeat_meta, decomposition=_repeat,
               family="shape", doc="Tile the tensor: dim i of the result is repeats[i] copies of the input "
                                   "(leading dims added when repeats is longer than the shape).")


def _repeat_method(self, *repeats):
    return repeat(self, as_shape(repeats, "repeat"))


# -- tril and triu ---------------------------------------------------------------------

def _tri_meta(opname):
    def meta(x, diagonal=0):
        if len(x._shape) < 2:
            raise ShapeError(f"{opname}(): input must have at least 2 dimensions, got shape {_fmt(x._shape)}")
        return Spec(x._shape, x._dtype)
    return meta


def _tri_diagonal(x, diagonal):
    """``diagonal`` limited to [-(n + 1), m + 1]: the same triangle for an (n, m) matrix, and an offset
    every kernel can add to a row index without overflowing (PyTorch takes any int64)."""
    return min(max(diagonal, -(x._shape[-2] + 1)), x._shape[-1] + 1)


def _tri_mask(x, diagonal, lower):
    """Bool (n, m) mask of the kept triangle: col - row <= diagonal (lower) or >= diagonal (upper)."""
    n, m = x._shape[-2], x._shape[-1]
    diagonal = _tri_diagonal(x, diagonal)
    rows = add(arange(n, device=x._device), diagonal).unsqueeze(1)
    cols = arange(m, device=x._device)
    return le(cols, rows) if lower else ge(cols, rows)


def _tril(x, diagonal=0):
    _tri_meta("tril")(x, diagonal)
    return where(_tri_mask(x, diagonal, True), x, full((), 0, dtype=x._dtype, device=x._device))


def _triu(x, diagonal=0):
    _tri_meta("triu")(x, diagonal)
    return where(_tri_mask(x, diagonal, False), x, full((), 0, dtype=x._dtype, device=x._device))


def _tri_adapter(op, kernel, backend):
    meta = op.meta

    def entry(x, diagonal=0):
        meta(x, diagonal)
        return kernel(x, _tri_diagonal(x, diagonal))
    return entry


_TRI_DOC = " A kernel: kernel(x, diagonal) -> a new Tensor like x (at least 2-D), masked over its last two dims."
tril = defop("tril(Tensor self, int diagonal=0) -> Tensor", meta=_tri_meta("tril"), decomposition=_tril,
             adapter=_tri_adapter, family="shape",
             doc="The lower triangle of the last two dims (col - row <= diagonal); the rest zero." + _TRI_DOC)
triu = defop("triu(Tensor self, int diagonal=0) -> Tensor", meta=_tri_meta("triu"), decomposition=_triu,
             adapter=_tri_adapter, family="shape",
             doc="The upper triangle of the last two dims (col - row >= diagonal); the rest zero." + _TRI_DOC)


def _tril_(x, diagonal=0):
    return copy_(x, tril(x, diagonal))


def _triu_(x, diagonal=0):
    return copy_(x, triu(x, diagonal))


tril_ = defop("tril_(Tensor self, int diagonal=0) -> Tensor", meta=_tri_meta("tril_"), decomposition=_tril_,
              family="shape", doc="tril in place.")
triu_ = defop("triu_(Tensor self, int diagonal=0) -> Tensor", meta=_tri_meta("triu_"), decomposition=_triu_,
              family="shape", doc="triu in place.")


# -- one_hot ---------------------------------------------------------------------------

def _one_hot_meta(x, num_classes=-1):
    if x._dtype is not D.int64:
        raise DTypeError(f"one_hot(): the input must hold class indices of dtype int64, got {x._dtype.name}; "
                         f"convert it with .to(ember.int64)")
    if num_classes < -1:
        raise InvalidArgumentError(f"one_hot(): num_classes must be -1 (inferred) or non-negative, got {num_classes}")
    if not numel(x._shape) and num_classes <= 0:
        raise InvalidArgumentError(f"one_hot(): can not infer the number of classes from an empty tensor (num_classes="
                                   f"{num_classes}); pass a positive num_classes")
    if num_classes == -1:
        if x.is_meta:
            raise InvalidArgumentError("one_hot(): num_classes=-1 is inferred from the values, which meta tensors do not "
                                       "have; pass num_classes explicitly")
    return Spec(x._shape + (num_classes,), D.int64)


def _one_hot(x, num_classes=-1):
    _one_hot_meta(x, num_classes)
    if numel(x._shape):
        lo, hi = amin(x).item(), amax(x).item()
        if lo < 0:
            raise IndexOutOfRangeError(f"one_hot(): class values must be non-negative, got {lo}")
        if num_classes == -1:
            num_classes = hi + 1
        elif hi >= num_classes:
            raise IndexOutOfRangeError(f"one_hot(): class values must be smaller than num_classes "
                                       f"({num_classes}), got {hi}")
    classes = arange(num_classes, device=x._device)
    return eq(x.unsqueeze(-1), classes).to(D.int64)


one_hot = defop("one_hot(Tensor self, int num_classes=-1) -> Tensor", meta=_one_hot_meta, decomposition=_one_hot,
                family="shape",
                doc="out[..., c] = 1 where self == c, else 0 (int64); num_classes=-1 means max(self) + 1.")


FUNCTIONS = {"cat": cat, "concat": cat, "concatenate": cat, "stack": stack, "fliplr": _fliplr, "flipud": _flipud}
METHODS = {"repeat": _repeat_method, "fliplr": _fliplr, "flipud": _flipud}
