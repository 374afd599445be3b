"""PyTorch's shape helpers, dtype queries and aliases, as plain functions over Ember's operators.

None of these is an operator of its own: an alias is the same function object as the
operator it names (``ember.arccos is ember.acos``), and the helpers (``atleast_2d``,
``hstack``, ``tensor_split``, ``broadcast_tensors``, ...) call views and operators, so
every backend runs them and autograd follows them. ``finfo`` and ``iinfo`` describe a
dtype's numbers as ``torch.finfo`` and ``torch.iinfo`` do.
"""

from __future__ import annotations

import builtins

import numpy as np

from .. import dtypes as D
from .._tensor import Tensor
from ..errors import DTypeError, InvalidArgumentError, ShapeError
from . import breadth as B
from . import elementwise as E
from . import shape as S
from . import views as V
from ._helpers import as_shape, broadcast_shapes as _bshapes, dtype_arg, wrap_dim
from ..errors import ArgumentTypeError


# -- dtype queries --------------------------------------------------------------------------------

class finfo:
    """The numbers of a floating dtype: bits, eps, max, min, tiny (= smallest_normal), resolution."""

    def __init__(self, type=None):
        dt = D.get_default_dtype() if type is None else dtype_arg(type, "finfo")
        if not (dt.is_floating_point or dt.is_complex):
            raise DTypeError(f"finfo(): {dt.name} is not a floating point dtype; use ember.iinfo for integers")
        if dt.is_complex:
            dt = D.float32 if dt is D.complex64 else D.float64
        if dt is D.bfloat16:
            import ml_dtypes
            info = ml_dtypes.finfo(dt.np)
        else:
            info = np.finfo(dt.np)
        self.bits = int(info.bits)
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = self.smallest_normal = float(info.smallest_normal)
        self.resolution = float(10.0 ** -int(info.precision))
        self.dtype = dt.name

    def __repr__(self):
        return (f"finfo(resolution={self.resolution}, min={self.min}, max={self.max}, eps={self.eps}, "
                f"smallest_normal={self.smallest_normal}, tiny={self.tiny}, dtype={self.dtype})")


class iinfo:
    """The range of an integer (or bool) dtype: bits, min, max."""

    def __init__(self, type):
        dt = dtype_arg(type, "iinfo")
        if dt is D.bool:
            self.bits, self.min, self.max = 8, 0, 1
        elif dt.category == 1:
            info = np.iinfo(dt.np)
            self.bits, self.min, self.max = int(info.bits), int(info.min), int(info.max)
        else:
            raise DTypeError(f"iinfo(): {dt.name} is not an integer dtype; use ember.finfo for floats")
        self.dtype = dt.name

    def __repr__(self):
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"


def is_floating_point(input) -> bool:
    """True for a tensor of a floating dtype (float16, bfloat16, float32, float64)."""
    return input._dtype.is_floating_point


def is_signed(input) -> bool:
    return input._dtype.is_floating_point or input._dtype.is_complex or input._dtype.is_signed


def is_nonzero(input) -> bool:
    """The truth of a one-element tensor; an error for any other number of elements (as bool(t))."""
    if input.numel() != 1:
        raise InvalidArgumentError(f"is_nonzero(): a tensor with {input.numel()} elements has no single truth "
                                   f"value; expected exactly one element")
    return builtins.bool(input.item())


def can_cast(from_, to) -> bool:
    """Whether PyTorch's casting rules allow from_ -> to: never to a lower kind (float -> int, int -> bool)."""
    return from_.category <= to.category


# -- broadcasting ---------------------------------------------------------------------------------

def broadcast_shapes(*shapes):
    """The shape that tensors of the given shapes (ints count as 1-d shapes) broadcast to."""
    return tuple(_bshapes(*[(s,) if isinstance(s, int) else tuple(s) for s in shapes]))


def broadcast_to(input, size):
    return V.expand(input, as_shape((size,), "broadcast_to"))


def broadcast_tensors(*tensors):
    """Views of the tensors, all expanded to their common broadcast shape."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    shape = _bshapes(*[t._shape for t in tensors])
    return tuple(V.expand(t, shape) for t in tensors)


# -- atleast, stacks, splits ----------------------------------------------------------------------

def _atleast(n, tensors):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return tuple(_atleast(n, tensors[0]))
    out = []
    for t in tensors:
        if t.ndim == 0:
            t = V.reshape(t, (1,) * n)
        elif t.ndim < n:
            t = V.reshape(t, {2: (1,) + t._shape, 3: ((1,) + t._shape + (1,)) if t.ndim == 1 else t._shape + (1,)}[n])
        out.append(t)
    return out[0] if len(out) == 1 else tuple(out)


def atleast_1d(*tensors):
    return _atleast(1, tensors)


def atleast_2d(*tensors):
    return _atleast(2, tensors)


def atleast_3d(*tensors):
    return _atleast(3, tensors)


def _seq(tensors, opname):
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise ArgumentTypeError(f"{opname}(): expected a sequence of tensors, got {type(tensors).__name__}")
    if not tensors:
        raise InvalidArgumentError(f"{opname}(): expects a non-empty sequence of tensors")
    return list(tensors)


def hstack(tensors):
    ts = [atleast_1d(t) for t in _seq(tensors, "hstack")]
    return S.cat(ts, 0 if ts[0].ndim == 1 else 1)


def vstack(tensors):
    ts = [atleast_2d(t) for t in _seq(tensors, "vstack")]
    return S.cat(ts, 0)


row_stack = vstack


def dstack(tensors):
    ts = [atleast_3d(t) for t in _seq(tensors, "dstack")]
    return S.cat(ts, 2)


def column_stack(tensors):
    ts = [V.reshape(t, (-1, 1)) if t.ndim <= 1 else t for t in _seq(tensors, "column_stack")]
    return S.cat(ts, 1)


def tensor_split(input, indices_or_sections, dim=0):
    """Views of input split along dim: into n near-equal parts (an int), or at the given indices."""
    d = wrap_dim(dim, input.ndim, "tensor_split")
    size = input._shape[d]
    ios = indices_or_sections
    if isinstance(ios, Tensor):
        if ios._dtype.category != 1 or ios.ndim > 1:
            raise DTypeError(f"tensor_split(): indices_or_sections must be a 0-d or 1-d int64 tensor, got "
                             f"{ios.ndim}-d {ios._dtype.name}")
        ios = ios.tolist()
    if isinstance(ios, int):
        if ios <= 0:
            raise InvalidArgumentError(f"tensor_split(): number of sections must be larger than 0, got {ios}")
        q, r = divmod(size, ios)
        bounds, start = [], 0
        for i in range(ios):
            bounds.append((start, start + q + (1 if i < r else 0)))
            start = bounds[-1][1]
    else:
        cuts = [builtins.min(builtins.max(i + size if i < 0 else i, 0), size) for i in ios]
        edges = [0] + cuts + [size]
        bounds = [(a, builtins.max(a, b)) for a, b in zip(edges, edges[1:])]
    return tuple(V.narrow(input, d, a, b - a) for a, b in bounds)


def _split_like(opname, input, ios, dim, min_ndim):
    if input.ndim < min_ndim:
        raise ShapeError(f"torch.{opname} requires a tensor with at least {min_ndim} dimension(s), but got a "
                         f"tensor with {input.ndim} dimensions")
    if isinstance(ios, int) and input._shape[dim] % ios:
        raise InvalidArgumentError(f"torch.{opname} attempted to split along dimension {dim}, but the size of the "
                                   f"dimension {input._shape[dim]} is not divisible by the split_size {ios}")
    return tensor_split(input, ios, dim)


def hsplit(input, indices_or_sections):
    return _split_like("hsplit", input, indices_or_sections, 1 if input.ndim > 1 else 0, 1)


def vsplit(input, indices_or_sections):
    return _split_like("vsplit", input, indices_or_sections, 0, 2)


def dsplit(input, indices_or_sections):
    return _split_like("dsplit", input, indices_or_sections, 2, 3)


# -- reshaping ------------------------------------------------------------------------------------

def ravel(input):
    return V.reshape(input, (-1,))


def unflatten(input, dim, sizes):
    """Dim ``dim`` of input viewed as the shape ``sizes`` (one entry may be -1)."""
    d = wrap_dim(dim, input.ndim, "unflatten")
    sizes = tuple(sizes)
    if not sizes:
        raise InvalidArgumentError("unflatten(): sizes must be non-empty")
    known = 1
    for s in sizes:
        if s != -1:
            known *= s
    n = input._shape[d]
    if sizes.count(-1) > 1 or (-1 not in sizes and known != n) or (-1 in sizes and (known == 0 or n % known)):
        raise ShapeError(f"unflatten(): provided sizes {list(sizes)} don't multiply up to the size of dim {dim} "
                         f"({n}) in the input tensor")
    return V.reshape(input, input._shape[:d] + sizes + input._shape[d + 1:])


def msort(input):
    from .sorting import sort
    return sort(input, 0)[0]


def chain_matmul(*matrices):
    if len(matrices) == 1 and isinstance(matrices[0], (list, tuple)):
        matrices = tuple(matrices[0])
    if not matrices:
        raise InvalidArgumentError("chain_matmul(): expected one or more matrices")
    from ..linalg import multi_dot
    return multi_dot(list(matrices)) if len(matrices) > 1 else matrices[0].clone()


# -- arithmetic helpers ---------------------------------------------------------------------------

def clamp_min(input, min):
    return E.clamp(input, min, None)


def clamp_max(input, max):
    return E.clamp(input, None, max)


def positive(input):
    if input._dtype is D.bool:
        raise DTypeError("positive(): the + operator does not support bool tensors")
    return input


def rsub(input, other, *, alpha=1):
    """other - alpha * input."""
    return E.FUNCTIONS["sub"](other, input, alpha=alpha)


def sgn(input):
    """sign for real tensors; x / |x| (0 at 0) for complex ones."""
    if not input._dtype.is_complex:
        return E.sign(input)
    a = E.abs(input)
    nz = E.ne(a, 0)
    return E.where(nz, E.true_divide(input, E.where(nz, a, 1.0)), 0)


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """torch.norm: the Frobenius or p-norm over dim (all elements when None), or 'nuc' over two dims."""
    from .. import linalg as LA
    if isinstance(dim, int):
        dim = (dim,)
    if p == "fro":
        if dim is None or len(dim) <= 2:
            return LA.vector_norm(input, 2, dim, keepdim, dtype=dtype)
        raise InvalidArgumentError(f"norm(): 'fro' takes at most two dims, got {dim}")
    if p == "nuc":
        return LA.matrix_norm(input, "nuc", (-2, -1) if dim is None else dim, keepdim, dtype=dtype)
    if isinstance(p, str):
        raise InvalidArgumentError(f"norm(): p must be a number, 'fro' or 'nuc', got {p!r}")
    return LA.vector_norm(input, 2 if p is None else p, dim, keepdim, dtype=dtype)


def _inplace(op, name):
    def method(self, *args, **kwargs):
        return self.copy_(op(self, *args, **kwargs))
    method.__name__ = name
    method.__doc__ = f"In-place {op.__name__}: self.copy_({op.__name__}(self, ...))."
    return method


FUNCTIONS = {
    "finfo": finfo, "iinfo": iinfo, "is_floating_point": is_floating_point, "is_signed": is_signed,
    "is_nonzero": is_nonzero, "can_cast": can_cast,
    "broadcast_shapes": broadcast_shapes, "broadcast_to": broadcast_to, "broadcast_tensors": broadcast_tensors,
    "atleast_1d": atleast_1d, "atleast_2d": atleast_2d, "atleast_3d": atleast_3d,
    "hstack": hstack, "vstack": vstack, "row_stack": row_stack, "dstack": dstack, "column_stack": column_stack,
    "tensor_split": tensor_split, "hsplit": hsplit, "vsplit": vsplit, "dsplit": dsplit,
    "moveaxis": V.movedim, "swapaxes": V.transpose, "swapdims": V.transpose, "ravel": ravel,
    "unflatten": unflatten, "msort": msort, "chain_matmul": chain_matmul,
    "clamp_min": clamp_min, "clamp_max": clamp_max, "clip": E.clamp, "positive": positive, "rsub": rsub,
    "sgn": sgn, "norm": norm,
    "absolute": E.abs, "arccos": E.acos, "arcsin": E.asin, "arctan": E.atan, "arctan2": E.atan2,
    "arccosh": E.acosh, "arcsinh": E.asinh, "arctanh": E.atanh, "fix": E.trunc,
}

METHODS = {   # Tensor.is_floating_point is Tensor's own
    "is_signed": is_signed, "is_nonzero": is_nonzero,
    "broadcast_to": broadcast_to, "tensor_split": tensor_split, "hsplit": hsplit, "vsplit": vsplit,
    "dsplit": dsplit, "moveaxis": V.movedim, "ravel": ravel, "unflatten": unflatten, "msort": msort,
    "clamp_min": clamp_min, "clamp_max": clamp_max, "positive": positive, "sgn": sgn, "norm": norm,
    "absolute": E.abs, "arccos": E.acos, "arcsin": E.asin, "arctan": E.atan, "arctan2": E.atan2,
    "arccosh": E.acosh, "arcsinh": E.asinh, "arctanh": E.atanh, "fix": E.trunc,
}
METHODS.update({n + "_": _inplace(f, n + "_") for n, f in (
    ("clamp_min", clamp_min), ("clamp_max", clamp_max), ("sgn", sgn), ("absolute", E.abs), ("arccos", E.acos),
    ("arcsin", E.asin), ("arctan", E.atan), ("arctan2", E.atan2), ("arccosh", E.acosh), ("arcsinh", E.asinh),
    ("arctanh", E.atanh), ("fix", E.trunc))})
METHODS.update({n + "_": _inplace(getattr(B, n), n + "_") for n in (
    "xlogy", "logit", "sinc", "deg2rad", "rad2deg", "heaviside", "gcd", "lcm", "float_power", "fmax", "fmin",
    "renorm", "addmv", "addr", "baddbmm", "addbmm", "scatter_reduce", "index_copy", "index_fill",
    "masked_scatter")})
METHODS["nan_to_num_"] = lambda self, nan=0.0, posinf=None, neginf=None: self.copy_(
    self.nan_to_num(nan, posinf, neginf))
