"""Advanced indexing and ``Tensor.__getitem__`` / ``__setitem__``, on Ember operators only.

``index`` and ``index_put_`` are the operators behind ``x[idx]`` and
``x[idx] = v`` when idx holds tensors, lists or bool masks; their
decompositions go through storage positions and ``index_select`` /
``scatter_``, so every backend with the indexing prims has them.

``__getitem__`` applies the basic part of a key (ints, slices, None, Ellipsis,
bool scalars) as views, as PyTorch does, then hands what is left to
``index``, which places the broadcast index dims by numpy's rule: where the
first indexed dim was when the indexed dims are adjacent, else first. Ints
are basic indices (a select, as in PyTorch): ``x[0, :, [0, 1]]`` has shape
(3, 2) for x of shape (2, 3, 4), where numpy gives (2, 3).
"""

from __future__ import annotations

import operator

import numpy as np

from . import dtypes as D
from ._factory import tensor
from ._tensor import Tensor
from .dispatch import defop
from .errors import DTypeError, IndexOutOfRangeError, ShapeError
from .ops import creation as C
from .ops import elementwise as E
from .ops import indexing as I
from .ops import views as V
from .ops._helpers import Spec, broadcast_shapes, numel
from .errors import ArgumentTypeError


def _expand_indices(x, indices, opname, mask_expand):
    """Check the entries of an indices list and turn bool masks into one int64 index per masked dim."""
    if isinstance(indices, Tensor) or indices is None:
        indices = (indices,)
    out, masks = [], False
    nd = len(x._shape)
    for i in indices:
        if i is None:
            out.append(None)
            continue
        if not isinstance(i, Tensor):
            raise ArgumentTypeError(f"{opname}(): indices must be tensors or None, got {type(i).__name__}")
        dt = i._dtype
        if dt is D.bool:
            k, d0 = len(i._shape), len(out)
            if k == 0:
                raise ShapeError(f"{opname}(): a 0-d bool index is not supported here; index with "
                                 f"tensor[bool(mask)] instead")
            if d0 + k > nd or i._shape != x._shape[d0:d0 + k]:
                raise IndexOutOfRangeError(
                    f"{opname}(): the shape of the mask {tuple(i._shape)} at index {d0} does not match the "
                    f"shape of the indexed tensor {tuple(x._shape)} (dimensions {d0}..{d0 + k - 1} are "
                    f"{tuple(x._shape[d0:d0 + k])})")
            masks = True
            if mask_expand:
                out.extend(V.unbind(I.nonzero(i), 1))
            else:
                out.extend([None] * k)
        elif dt.category == 1:
            out.append(i if dt is D.int64 else i.to(D.int64))
        else:
            raise DTypeError(f"{opname}(): tensors used as indices must be integer or bool tensors, got "
                             f"dtype {dt.name}")
    if len(out) > nd:
        raise IndexOutOfRangeError(f"{opname}(): too many indices for a tensor of dimension {nd} "
                                   f"(got {len(out)} indexed dimensions)")
    while out and out[-1] is None:
        out.pop()
    return out, masks


def _result_layout(x, idx, bshape):
    """(result shape, position of the broadcast index dims in it, indexed dims) per numpy's rules."""
    pos = [d for d, t in enumerate(idx) if t is not None]
    rest = [d for d in range(len(x._shape)) if d not in pos]
    if pos[-1] - pos[0] + 1 == len(pos):   # adjacent: the index dims replace the indexed ones in place
        p = pos[0]
        return x._shape[:p] + bshape + x._shape[pos[-1] + 1:], p, pos
    return bshape + tuple(x._shape[d] for d in rest), 0, pos


def _prepare(x, indices, opname):
    """(int64 indices broadcast to one shape, or None per dim; that shape or None; result shape, ...)."""
    idx, _ = _expand_indices(x, indices, opname, True)
    tensors = [t for t in idx if t is not None]
    if not tensors:
        return idx, None, x._shape, 0, []
    shapes = [t._shape for t in tensors]
    try:
        bshape = broadcast_shapes(*shapes)
    except ShapeError:
        raise ShapeError(f"{opname}(): indexing tensors could not be broadcast together with shapes "
                         f"{', '.join(str(tuple(s)) for s in shapes)}") from None
    idx = [t if t is None or t._shape == bshape else V.expand(t, bshape) for t in idx]
    shape, p, pos = _result_layout(x, idx, bshape)
    return idx, bshape, shape, p, pos


def _index_meta(x, indices):
    idx, masks = _expand_indices(x, indices, "index", False)
    if masks:
        raise I._data_dependent("index", "indexing with a bool mask gives a shape that depends on the mask's "
                              "values")
    return Spec(_prepare(x, idx, "index")[2], x._dtype)


def _check_bounds(t, n):
    """The first value of t outside [-n, n), or None: Ember ops only, for decompositions."""
    bad = E.logical_or(E.lt(t, -n), E.ge(t, n))
    hits = I.nonzero(V.reshape(bad, (-1,)))
    if not hits._shape[0]:
        return None
    first = V.reshape(V.narrow(hits, 0, 0, 1), (1,))
    return I.index_select(V.reshape(t, (-1,)), 0, first).item()


def _storage_positions(x, idx, bshape, shape, p, pos):
    """Storage positions of the elements x[idx] selects, laid out in the result's shape.

    The broadcast index dims sit at p in the result; the j-th dim of x that is not
    indexed sits at j when it comes before them, else at j + len(bshape).
    """
    nb, nr = len(bshape), len(shape)
    total, j = None, 0
    for d, n in enumerate(x._shape):
        if d in pos:
            t = idx[d]
            v = _check_bounds(t, n)
            if v is not None:
                raise IndexOutOfRangeError(f"index {v} is out of bounds for dimension {d} with size {n}")
            t = E.where(E.lt(t, 0), E.add(t, n), t)
            c = V.reshape(t, (1,) * p + bshape + (1,) * (nr - p - nb))
        else:
            at = j if d < p else j + nb
            j += 1
            c = V.reshape(C.arange(n, device=x._device), (1,) * at + (n,) + (1,) * (nr - at - 1))
        term = E.mul(c, x._strides[d])
        total = term if total is None else E.add(total, term)
    return E.add(total, x._offset) if x._offset else total


def _flat_storage(x):
    cap = x._backend.runtime.storage_numel(x._storage)
    return V.as_strided(x, (cap,), (1,), 0)


def _index(x, indices):
    idx, bshape, shape, p, pos = _prepare(x, indices, "index")
    if bshape is None:
        return x._view(x._shape, x._strides)
    try:
        where = V.reshape(_storage_positions(x, idx, bshape, shape, p, pos), (-1,))
    except IndexOutOfRangeError as e:
        raise I._out_of_range("index", e) from None
    if numel(shape) == 0:
        return C.empty(shape, dtype=x._dtype, device=x._device)
    return V.reshape(I.index_select(_flat_storage(x), 0, where), shape)


def _index_adapter(op, kernel, backend):
    def entry(x, indices):
        idx, bshape, shape, p, pos = _prepare(x, indices, "index")
        if bshape is None:
            return x._view(x._shape, x._strides)
        try:
            return kernel(x, tuple(idx))
        except IndexError as e:
            raise I._out_of_range("index", e) from None
    return entry


index = defop("index(Tensor self, Tensor[] indices) -> Tensor", meta=_index_meta, decomposition=_index,
              adapter=_index_adapter, family="indexing",
              doc="Advanced indexing, x[indices] with numpy's placement of the index dims. "
                  "kernel(x, indices) -> Tensor: indices is a tuple of at most x.ndim entries, each None "
                  "(the whole dim) or an int64 tensor, all tensors of one shape, at least one tensor; "
                  "values in [-size, size) count from the end when negative. IndexError otherwise.")


def _put_values(opname, values, shape):
    """values broadcast to the indexing result's shape (leading size-1 dims of values may be dropped)."""
    vs = values._shape
    while len(vs) > len(shape) and vs[0] == 1:
        vs = vs[1:]
    if vs != values._shape:
        values = V.reshape(values, vs)
    if vs == shape:
        return values
    try:
        if broadcast_shapes(vs, shape) != shape:
            raise ShapeError("")
    except ShapeError:
        raise ShapeError(f"{opname}(): values of shape {tuple(values._shape)} cannot be broadcast to the "
                         f"indexing result's shape {tuple(shape)}") from None
    return V.expand(values, shape)


def _check_put_values(x, values):
    if not isinstance(values, Tensor):
        raise ArgumentTypeError(f"index_put_(): values must be a tensor, got {type(values).__name__}")
    I._same_dtype("index_put_", x, values, "values")


def _index_put_meta(x, indices, values, accumulate=False):
    _check_put_values(x, values)
    idx, masks = _expand_indices(x, indices, "index_put_", False)
    if not masks:   # with a mask the result's length is data-dependent: values are checked when it is known
        _put_values("index_put_", values, _prepare(x, idx, "index_put_")[2])
    return Spec(x._shape, x._dtype)


def _prepare_put(x, indices, values):
    """Checks and normalizes index_put_'s arguments, once for the kernel and the decomposition."""
    _check_put_values(x, values)
    idx, bshape, shape, p, pos = _prepare(x, indices, "index_put_")
    vals = _put_values("index_put_", I._not_aliased(x, values), shape)
    return idx, bshape, shape, p, pos, vals


def _index_put_(x, indices, values, accumulate=False):
    idx, bshape, shape, p, pos, vals = _prepare_put(x, indices, values)
    if bshape is None:
        return E.add_(x, vals) if accumulate else C.copy_(x, vals)
    try:
        where = V.reshape(_storage_positions(x, idx, bshape, shape, p, pos), (-1,))
    except IndexOutOfRangeError as e:
        raise I._out_of_range("index_put_", e) from None
    if numel(shape) == 0:
        return x
    flat, vals = _flat_storage(x), V.reshape(vals, (-1,))
    if accumulate:
        I.scatter_add_(flat, 0, where, vals)
    else:
        I.scatter_(flat, 0, where, vals)
    return x


def _index_put_adapter(op, kernel, backend):
    def entry(x, indices, values, accumulate=False):
        idx, bshape, shape, p, pos, vals = _prepare_put(x, indices, values)
        if bshape is None:
            return E.add_(x, vals) if accumulate else C.copy_(x, vals)
        try:
            kernel(x, tuple(idx), vals, bool(accumulate))
        except IndexError as e:
            raise I._out_of_range("index_put_", e) from None
        return x
    return entry


index_put_ = defop("index_put_(Tensor self, Tensor[] indices, Tensor values, bool accumulate=False) -> Tensor",
                   meta=_index_put_meta, decomposition=_index_put_, adapter=_index_put_adapter,
                   family="indexing",
                   doc="self[indices] = values (+= with accumulate, repeated indices adding up), in place. "
                       "kernel(self, indices, values, accumulate): indices as for index; values has self's "
                       "dtype and the indexing result's shape (possibly an expanded view).")


def _index_put(x, indices, values, accumulate=False):
    _index_put_meta(x, indices, values, accumulate)
    return index_put_(C.clone(x), indices, values, accumulate)


index_put = defop("index_put(Tensor self, Tensor[] indices, Tensor values, bool accumulate=False) -> Tensor",
                  meta=_index_put_meta, decomposition=_index_put, family="indexing")


# -- Tensor.__getitem__ / __setitem__ -------------------------------------------------------------

_NEW, _BOOL, _ELLIPSIS, _SLICE, _INT, _ADV = range(6)


def _as_index_tensor(x, k):
    """A sequence or numpy array used as an index, as a tensor on x's device."""
    t = tensor(k, device=x._device)
    if t._dtype.is_floating_point:
        if numel(t._shape):
            raise DTypeError(f"tensors used as indices must be integer or bool tensors, got {k!r} "
                             f"(dtype {t._dtype.name})")
        t = t.to(D.int64)   # x[[]]: an empty integer index
    return t


def _classify(x, key):
    """The key as (kind, value) items, the number of x's dims they consume, and whether any is advanced."""
    if not isinstance(key, tuple):
        key = (key,)
    items, consumed, has_adv, ellipsis = [], 0, False, False
    for k in key:
        if k is None:
            items.append((_NEW, None))
        elif k is Ellipsis:
            if ellipsis:
                raise IndexOutOfRangeError("an index can only have a single ellipsis ('...')")
            ellipsis = True
            items.append((_ELLIPSIS, None))
        elif isinstance(k, (bool, np.bool_)):
            items.append((_BOOL, bool(k)))
        elif isinstance(k, slice):
            items.append((_SLICE, k))
            consumed += 1
        else:
            if isinstance(k, (list, tuple, np.ndarray)):   # x[[0, 2]], x[:, (1, 3)], x[np_array]
                k = _as_index_tensor(x, k)
            if isinstance(k, Tensor):
                dt = k._dtype
                if dt is D.bool:
                    if not k._shape:
                        if k.is_meta:
                            raise I._data_dependent("__getitem__", "a 0-d bool index decides the result's "
                                                    "length from its value")
                        items.append((_BOOL, bool(k.item())))
                        continue
                    consumed += len(k._shape)
                elif dt.category == 1:
                    if not k._shape and not k.is_meta:   # a 0-d integer tensor selects, as an int does
                        items.append((_INT, int(k.item())))
                        consumed += 1
                        continue
                    consumed += 1
                else:
                    raise DTypeError(f"tensors used as indices must be integer or bool tensors, got dtype "
                                     f"{dt.name}")
                if k._device is not x._device:
                    k = k.to(x._device)
                items.append((_ADV, k))
                has_adv = True
            else:
                try:
                    items.append((_INT, operator.index(k)))
                except TypeError:
                    raise ArgumentTypeError(f"only integers, slices (:), ellipsis (...), None, bools, and integer or "
                                            f"bool tensors (or lists) are valid indices, got {type(k).__name__}: "
                                            f"{k!r}") from None
                consumed += 1
    nd = len(x._shape)
    if consumed > nd:
        raise IndexOutOfRangeError(f"too many indices for a tensor of dimension {nd}: the index {key!r} "
                                   f"indexes {consumed} dimensions")
    return items, nd - consumed, has_adv


def _apply_basic(x, key):
    """(view of x after the basic part of key, the advanced entries per remaining dim, or None)."""
    items, spare, has_adv = _classify(x, key)
    v, d, od = x, 0, 0            # d: dim of the view, od: dim of x (for error messages)
    adv = [] if has_adv else None
    for kind, k in items:
        if kind is _SLICE:
            step = 1 if k.step is None else k.step
            if k.start is not None or k.stop is not None or step != 1:
                v = V.slice_(v, d, k.start, k.stop, step)
            d += 1
            od += 1
            if has_adv:
                adv.append(None)
        elif kind is _INT:
            n = v._shape[d]
            if k < -n or k >= n:
                raise IndexOutOfRangeError(f"index {k} is out of bounds for dimension {od} with size {n}")
            v = V.select(v, d, k)
            od += 1
        elif kind is _ADV:
            adv.append(k)
            m = len(k._shape) if k._dtype is D.bool else 1
            d += m
            od += m
        elif kind is _NEW:
            v = V.unsqueeze(v, d)
            d += 1
            if has_adv:
                adv.append(None)
        elif kind is _ELLIPSIS:
            d += spare
            od += spare
            if has_adv:
                adv.extend([None] * spare)
        else:   # a bool: a new dim of length 1 (True) or 0 (False)
            v = V.unsqueeze(v, d)
            if has_adv:   # with other advanced indices it is one too, as in numpy
                adv.append(C.zeros(1 if k else 0, dtype=D.int64, device=x._device))
            elif not k:
                v = V.narrow(v, d, 0, 0)
            d += 1
    return v, adv


def getitem(x, key):
    """x[key]: basic indexing gives a view of x, advanced indexing (tensors, lists, masks) a copy."""
    if key.__class__ is int:
        return V.select(x, 0, key) if x._shape else _apply_basic(x, key)[0]
    if key.__class__ is slice and x._shape:
        return V.slice_(x, 0, key.start, key.stop, 1 if key.step is None else key.step)
    v, adv = _apply_basic(x, key)
    if adv is not None:
        return index(v, adv)
    return V.view(x, x._shape) if v is x else v   # an alias that autograd sees


def _strip_leading_ones(value, ndim):
    shape = value._shape
    while len(shape) > ndim and shape[0] == 1:
        shape = shape[1:]
    return value if shape is value._shape else V.reshape(value, shape)


def setitem(x, key, value):
    """x[key] = value: writes through views into x; value broadcasts and is cast to x's dtype."""
    v, adv = _apply_basic(x, key)
    if not isinstance(value, Tensor):
        if isinstance(value, (bool, int, float, np.number, np.bool_)):
            if adv is None:
                C.fill_(v, value)
                return
            value = C.full((), value, dtype=x._dtype, device=x._device)
        else:
            value = tensor(value, device=x._device)
    if adv is None:
        C.copy_(v, _strip_leading_ones(value, len(v._shape)))
        return
    if value._device is not x._device:
        value = value.to(x._device)
    if value._dtype is not x._dtype:
        value = value.to(x._dtype)
    index_put_(v, adv, value)
