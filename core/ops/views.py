"""View operators: new geometry over the same storage, computed once in core for every backend.

A view op has no kernel: its implementation only rewrites (shape, strides,
offset), so every backend, meta included, gets it for free.
"""

from __future__ import annotations

from .._tensor import Tensor, contiguous_strides
from ..dispatch import defop
from ..errors import IndexOutOfRangeError, InvalidReshapeError, ShapeError
from ._helpers import SizeError, Spec, as_shape, check_int, check_size, numel, wrap_dim, wrap_dims
from ..errors import InvalidArgumentError


def _infer_size(shape, n, opname):
    shape = list(shape)
    neg = [i for i, s in enumerate(shape) if s == -1]
    if len(neg) > 1:
        raise InvalidReshapeError(f"{opname}(): only one dimension can be inferred (-1), got shape {tuple(shape)}")
    for s in shape:
        if s < -1:
            raise InvalidReshapeError(f"{opname}(): invalid dimension {s} in shape {tuple(shape)}")
    known = numel([s for s in shape if s != -1])
    if neg:
        if known == 0 or n % known:
            raise InvalidReshapeError(
                f"{opname}(): shape {tuple(shape)} is invalid for input of size {n}")
        shape[neg[0]] = n // known
    elif known != n:
        raise InvalidReshapeError(f"{opname}(): shape {tuple(shape)} is invalid for input of size {n}")
    return tuple(shape)


def _view_strides(old_shape, old_strides, new_shape):
    """Strides viewing the same memory with new_shape, or None when not expressible (PyTorch's computeStride)."""
    if numel(old_shape) == 0:
        return contiguous_strides(new_shape)
    new_strides = [0] * len(new_shape)
    view_d = len(new_shape) - 1
    chunk_base_stride = old_strides[-1] if old_strides else 1
    tensor_numel = 1
    view_numel = 1
    for tensor_d in range(len(old_shape) - 1, -1, -1):
        tensor_numel *= old_shape[tensor_d]
        if tensor_d == 0 or (old_shape[tensor_d - 1] != 1 and
                             old_strides[tensor_d - 1] != tensor_numel * chunk_base_stride):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                new_strides[view_d] = view_numel * chunk_base_stride
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if tensor_d > 0:
                chunk_base_stride = old_strides[tensor_d - 1]
                tensor_numel = 1
                view_numel = 1
    if view_d != -1:
        return None
    return tuple(new_strides)


def _view(x, size):
    shape = _infer_size(as_shape((size,) if isinstance(size, int) else size, "view"), x.numel(), "view")
    if x.is_contiguous():
        return x._view(shape, contiguous_strides(shape))
    strides = _view_strides(x._shape, x._strides, shape)
    if strides is None:
        raise InvalidReshapeError(
            f"view(): view size {shape} is not compatible with input size {tuple(x._shape)} and stride "
            f"{x._strides} (at least one dimension spans two contiguous subspaces); use .reshape(...) instead")
    return x._view(shape, strides)


def _reshape(x, size):
    shape = _infer_size(as_shape((size,) if isinstance(size, int) else size, "reshape"), x.numel(), "reshape")
    strides = contiguous_strides(shape) if x.is_contiguous() else _view_strides(x._shape, x._strides, shape)
    if strides is not None:
        return x._view(shape, strides)
    return x.contiguous()._view(shape, contiguous_strides(shape))


def _permute(x, dims):
    dims = as_shape((dims,) if isinstance(dims, int) else dims, "permute")
    nd = len(x._shape)
    if len(dims) != nd:
        raise ShapeError(f"permute(): number of dims {len(dims)} does not match the tensor's {nd} dimensions "
                         f"(dims={dims}, shape={tuple(x._shape)})")
    w = tuple(wrap_dim(d, nd, "permute") for d in dims)
    if len(set(w)) != nd:
        raise InvalidArgumentError(f"permute(): dims {dims} repeat a dimension")
    return x._view(tuple(x._shape[d] for d in w), tuple(x._strides[d] for d in w))


def _transpose(x, dim0, dim1):
    nd = len(x._shape)
    a, b = wrap_dim(dim0, nd, "transpose"), wrap_dim(dim1, nd, "transpose")
    if nd == 0:
        return x._view((), ())
    shape, strides = list(x._shape), list(x._strides)
    shape[a], shape[b] = shape[b], shape[a]
    strides[a], strides[b] = strides[b], strides[a]
    return x._view(tuple(shape), tuple(strides))


def _t(x):
    if len(x._shape) > 2:
        raise ShapeError(f"t() expects a tensor with <= 2 dimensions, got {len(x._shape)} (shape "
                         f"{tuple(x._shape)}); use transpose(dim0, dim1) or .mT")
    return x._view(x._shape[::-1], x._strides[::-1])


def _expand(x, size):
    size = as_shape((size,) if isinstance(size, int) else size, "expand")
    nd = len(x._shape)
    if len(size) < nd:
        raise ShapeError(f"expand(): the number of sizes given ({len(size)}) must be at least the number "
                         f"of dimensions of the tensor ({nd}); shape {tuple(x._shape)} -> {size}")
    off = len(size) - nd
    shape, strides = [], []
    for i, s in enumerate(size):
        if i < off:
            if s < 0:
                raise SizeError(f"expand(): The expanded size of the tensor ({s}) isn't allowed in a leading, "
                                f"non-existing dimension {i}; -1 only keeps the size of an existing dim, "
                                f"got {size}")
            shape.append(s)
            strides.append(0)
            continue
        n, st = x._shape[i - off], x._strides[i - off]
        if s < -1:
            raise SizeError(f"expand(): the expanded size of the tensor ({s}) isn't allowed: -1 (keep the "
                            f"size) is the only negative size; target sizes {size}, tensor sizes {tuple(x._shape)}")
        if s == -1 or s == n:
            shape.append(n)
            strides.append(st)
        elif n == 1:
            shape.append(s)
            strides.append(0)
        else:
            raise ShapeError(f"expand(): the expanded size of the tensor ({s}) must match the existing size "
                             f"({n}) at non-singleton dimension {i}; target sizes {size}, tensor sizes "
                             f"{tuple(x._shape)}")
    check_size(shape, "expand")
    return x._view(tuple(shape), tuple(strides))


def _squeeze(x, dim=None):
    nd = len(x._shape)
    dims = wrap_dims(dim, nd, "squeeze") if dim is not None else range(nd)
    keep = [i for i in range(nd) if not (i in dims and x._shape[i] == 1)]
    return x._view(tuple(x._shape[i] for i in keep), tuple(x._strides[i] for i in keep))


def _unsqueeze(x, dim):
    nd = len(x._shape)
    d = wrap_dim(dim, nd + 1, "unsqueeze")
    st = x._strides[d] * x._shape[d] if d < nd else 1
    return x._view(x._shape[:d] + (1,) + x._shape[d:], x._strides[:d] + (st,) + x._strides[d:])


def _flatten(x, start_dim=0, end_dim=-1):
    nd = len(x._shape)
    s, e = wrap_dim(start_dim, nd, "flatten"), wrap_dim(end_dim, nd, "flatten")
    if nd == 0:
        return _reshape(x, (1,))
    if s > e:
        raise InvalidArgumentError(f"flatten(): start_dim {start_dim} comes after end_dim {end_dim}")
    return _reshape(x, x._shape[:s] + (numel(x._shape[s:e + 1]),) + x._shape[e + 1:])


def _narrow(x, dim, start, length):
    nd = len(x._shape)
    if nd == 0:
        raise ShapeError("narrow() cannot be applied to a 0-d tensor")
    d = wrap_dim(dim, nd, "narrow")
    n = x._shape[d]
    if start < 0:
        start += n
    if start < 0 or length < 0 or start + length > n:
        raise IndexOutOfRangeError(f"narrow(): start {start} and length {length} are out of range for "
                                   f"dimension {d} of size {n}")
    return x._view(x._shape[:d] + (length,) + x._shape[d + 1:], x._strides,
                   x._offset + start * x._strides[d])


def _slice(x, dim, start=None, end=None, step=1):
    d = wrap_dim(dim, len(x._shape), "slice")
    if step <= 0:
        raise InvalidArgumentError(f"slice step must be positive, got {step}")
    n = x._shape[d]
    start, end, step = slice(start, end, step).indices(n)
    length = max(0, (end - start + step - 1) // step)
    strides = x._strides[:d] + (x._strides[d] * step,) + x._strides[d + 1:]
    return x._view(x._shape[:d] + (length,) + x._shape[d + 1:], strides,
                   x._offset + (start * x._strides[d] if length else 0))


def _select(x, dim, index):
    nd = len(x._shape)
    if nd == 0:
        raise IndexOutOfRangeError("select() cannot be applied to a 0-d tensor")
    d = wrap_dim(dim, nd, "select")
    n = x._shape[d]
    if index < -n or index >= n:
        raise IndexOutOfRangeError(f"index {index} is out of bounds for dimension {d} with size {n}")
    if index < 0:
        index += n
    return x._view(x._shape[:d] + x._shape[d + 1:], x._strides[:d] + x._strides[d + 1:],
                   x._offset + index * x._strides[d])


def _unbind(x, dim=0):
    if not x._shape:
        raise IndexOutOfRangeError(f"unbind(): dimension {dim} was given but the tensor is 0-d and has no "
                                   "dimensions; use x.reshape(1).unbind() or x.item()")
    d = wrap_dim(dim, len(x._shape), "unbind")
    return tuple(_select(x, d, i) for i in range(x._shape[d]))


def _diagonal(x, offset=0, dim1=0, dim2=1):
    nd = len(x._shape)
    if nd < 2:
        raise ShapeError(f"diagonal() needs at least 2 dimensions, got shape {tuple(x._shape)}")
    a, b = wrap_dim(dim1, nd, "diagonal"), wrap_dim(dim2, nd, "diagonal")
    if a == b:
        raise InvalidArgumentError(f"diagonal(): dim1 and dim2 must differ, both are {a}")
    if offset >= 0:
        n = max(0, min(x._shape[a], x._shape[b] - offset))
        start = x._offset + offset * x._strides[b] if n else x._offset
    else:
        n = max(0, min(x._shape[a] + offset, x._shape[b]))
        start = x._offset - offset * x._strides[a] if n else x._offset
    keep = [i for i in range(nd) if i not in (a, b)]
    return x._view(tuple(x._shape[i] for i in keep) + (n,),
                   tuple(x._strides[i] for i in keep) + (x._strides[a] + x._strides[b],), start)


def _as_strided(x, size, stride, storage_offset=None):
    size, stride = as_shape(size, "as_strided"), as_shape(stride, "as_strided")
    if len(size) != len(stride):
        raise ShapeError(f"as_strided(): size {size} and stride {stride} must have the same length")
    off = x._offset if storage_offset is None else storage_offset
    if any(s < 0 for s in size) or any(s < 0 for s in stride) or off < 0:
        raise InvalidArgumentError(f"as_strided(): negative size, stride or offset: {size}, {stride}, {off}")
    if numel(size):
        last = off + sum((n - 1) * s for n, s in zip(size, stride))
        cap = x._backend.runtime.storage_numel(x._storage)
        if last >= cap:
            raise IndexOutOfRangeError(
                f"as_strided(): size {size}, stride {stride} and offset {off} reach element {last}, "
                f"past the storage's {cap} elements")
    return x._view(size, stride, off)


def _needs_dims(x, opname):
    """split and chunk cut along a dimension, so a 0-d tensor (none to cut) is refused as PyTorch does."""
    if not x._shape:
        raise ShapeError(f"{opname}() expects at least a 1-dimensional tensor, got a 0-d tensor; "
                         f"reshape it first, e.g. x.reshape(1).{opname}(...)")


def _split(x, split_size_or_sections, dim=0):
    _needs_dims(x, "split")
    d = wrap_dim(dim, len(x._shape), "split")
    n = x._shape[d]
    if isinstance(split_size_or_sections, int):
        s = check_int(split_size_or_sections, "split")  # beyond int64: ValueOverflowError, as PyTorch
        if s <= 0 and not (s == 0 and n == 0):
            raise InvalidArgumentError(f"split(): split_size must be positive, got {s}")
        sizes = [min(s, n - i) for i in range(0, n, s)] if n else [0]
    else:
        sizes = [check_int(k, "split") for k in split_size_or_sections]
        if sum(sizes) != n:
            raise ShapeError(f"split(): sections {sizes} sum to {sum(sizes)}, not to the size {n} of dim {d}")
    out, start = [], 0
    for s in sizes:
        out.append(_narrow(x, d, start, s))
        start += s
    return tuple(out)


def _chunk(x, chunks, dim=0):
    if chunks <= 0:
        raise InvalidArgumentError(f"chunk(): chunks must be positive, got {chunks}")
    _needs_dims(x, "chunk")
    d = wrap_dim(dim, len(x._shape), "chunk")
    n = x._shape[d]
    if n == 0:  # PyTorch returns `chunks` empty pieces of an empty dimension
        return tuple(_narrow(x, d, 0, 0) for _ in range(chunks))
    return _split(x, -(-n // chunks), d)


def _movedim(x, source, destination):
    nd = len(x._shape)
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    if len(src) != len(dst):
        raise InvalidArgumentError(f"movedim(): source {source} and destination {destination} differ in length")
    src = [wrap_dim(s, nd, "movedim") for s in src]
    dst = [wrap_dim(s, nd, "movedim") for s in dst]
    for name, ds, given in (("source", src, source), ("destination", dst, destination)):
        if len(set(ds)) != len(ds):
            raise InvalidArgumentError(f"movedim(): repeated dim in `{name}` ({given}); name each dimension once")
    if nd == 0:
        return x._view((), ())
    order = [None] * nd
    for s, t in zip(src, dst):
        order[t] = s
    rest = iter(i for i in range(nd) if i not in src)
    order = [o if o is not None else next(rest) for o in order]
    return _permute(x, order)


def _geometry_meta(fn):
    """Views compute their own geometry; their meta is the view applied to the input."""
    def meta(*args):
        out = fn(*args)
        if isinstance(out, tuple):
            return tuple(Spec(o._shape, o._dtype) for o in out)
        return Spec(out._shape, out._dtype)
    return meta


def _defview(schema, fn, doc=""):
    return defop(schema, meta=_geometry_meta(fn), decomposition=fn, view=True, family="view", doc=doc)


view = _defview("view(Tensor self, int[] size) -> Tensor", _view)
reshape = _defview("reshape(Tensor self, int[] shape) -> Tensor", _reshape,
                   "A view when the strides allow it, else a contiguous copy.")
permute = _defview("permute(Tensor self, int[] dims) -> Tensor", _permute)
transpose = _defview("transpose(Tensor self, int dim0, int dim1) -> Tensor", _transpose)
t = _defview("t(Tensor self) -> Tensor", _t)
expand = _defview("expand(Tensor self, int[] size) -> Tensor", _expand)
squeeze = _defview("squeeze(Tensor self, int[]? dim=None) -> Tensor", _squeeze)
unsqueeze = _defview("unsqueeze(Tensor self, int dim) -> Tensor", _unsqueeze)
flatten = _defview("flatten(Tensor self, int start_dim=0, int end_dim=-1) -> Tensor", _flatten)
narrow = _defview("narrow(Tensor self, int dim, int start, int length) -> Tensor", _narrow)
slice_ = _defview("slice(Tensor self, int dim=0, int? start=None, int? end=None, int step=1) -> Tensor", _slice)
select = _defview("select(Tensor self, int dim, int index) -> Tensor", _select)
unbind = _defview("unbind(Tensor self, int dim=0) -> Tensor[]", _unbind)
diagonal = _defview("diagonal(Tensor self, int offset=0, int dim1=0, int dim2=1) -> Tensor", _diagonal)
as_strided = _defview("as_strided(Tensor self, int[] size, int[] stride, int? storage_offset=None) -> Tensor",
                      _as_strided)
split = _defview("split(Tensor self, Any split_size_or_sections, int dim=0) -> Tensor[]", _split)
chunk = _defview("chunk(Tensor self, int chunks, int dim=0) -> Tensor[]", _chunk)
movedim = _defview("movedim(Tensor self, Any source, Any destination) -> Tensor", _movedim)
