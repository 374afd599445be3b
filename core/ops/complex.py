"""Complex numbers: which operators take them, and the operators made for them.

Tensors of ``complex64``/``complex128`` carry the Complex dispatch key. Every
operator that is not listed in ``COMPLEX_OPS`` (or defined with the "complex"
tag) gets a Complex entry that refuses them with a DTypeError before any meta
function or kernel runs; the operators that do take them have no entry there,
so the key costs real tensors nothing. A backend takes complex tensors only
where its capabilities list the complex dtypes (``empty`` refuses the others).

Ember's storage is one typed buffer per tensor, so ``real``, ``imag``,
``view_as_real``, ``view_as_complex`` and ``conj`` return new tensors (copies),
where PyTorch returns views: writing into their result leaves the input as it was.
"""

from __future__ import annotations

import math

from .. import dtypes as D
from .._tensor import Tensor
from ..dispatch import defop, registry
from ..dispatch import operator as _operator
from ..dispatch.keys import COMPLEX
from ..errors import DTypeError, ShapeError
from . import elementwise as E
from ._helpers import Spec
from .prims import COMPLEX as COMPLEX_PRIMS
from ..errors import ArgumentTypeError

#: Operators that take complex tensors, besides every view operator and those tagged "complex"; the prims
#: among them (ember.ops.prims.COMPLEX) are what their decompositions reach on any backend.
COMPLEX_OPS = frozenset({
    "empty", "full", "fill_", "copy_", "_to_copy", "clone", "contiguous",
    "add", "add_", "sub", "sub_", "mul", "mul_", "true_divide", "true_divide_", "div", "neg", "neg_",
    "exp", "exp_", "abs", "eq", "ne", "where", "sum", "mean", "bmm", "mm", "matmul",
    "cat", "stack", "flip", "roll", "constant_pad_nd", "dot", "scatter", "scatter_add",
}) | frozenset(COMPLEX_PRIMS)


def takes_complex(op) -> bool:
    return op.is_view or "complex" in op.tags or op.name in COMPLEX_OPS


def checked_adapter(op, kernel, backend):
    """A kernel behind the operator's meta function: bad input never reaches it."""
    meta = op.meta

    def entry(*args):
        meta(*args)
        return kernel(*args)
    return entry


def _first_complex(args):
    for a in args:
        if isinstance(a, Tensor) and a._dtype.is_complex:
            return a._dtype
        if isinstance(a, (list, tuple)):
            d = _first_complex(a)
            if d is not None:
                return d
    return None


def _refusal(op):
    name = op.name

    def refuse(*args, **kwargs):
        dt = _first_complex(args) or _first_complex(tuple(kwargs.values())) or D.complex64
        raise DTypeError(f"{name}() does not support {dt.name}; it takes real dtypes only. Apply it to the "
                         f"parts (ember.real(x), ember.imag(x)) or to ember.view_as_real(x)")
    return refuse


def _install_for(op):
    if op.name in _COMPLEX_KERNELS:
        op.register(COMPLEX, _COMPLEX_KERNELS[op.name])
    elif not takes_complex(op):
        op.register(COMPLEX, _refusal(op))
    else:
        op.tags = op.tags | {"complex"}


def install():
    """Give every operator its Complex entry, now and for each operator defined later."""
    for op in list(registry.values()):
        if not op.has_kernel(COMPLEX):
            _install_for(op)
    _operator._define_hooks.append(_install_for)


def check_backend_dtype(backend, dtype, opname=""):
    """DTypeError naming the backend when it does not declare a complex ``dtype``."""
    if dtype.is_complex and dtype not in backend.capabilities.dtypes:
        raise DTypeError(f"{opname}(): device type {backend.device_type!r} (plugin {backend.distribution}) does "
                         f"not support {dtype.name}: its declared dtypes are "
                         f"{', '.join(d.name for d in backend.capabilities.dtypes)}; compute on a device "
                         f"that has complex dtypes (such as cpu) instead")


def is_complex(x) -> bool:
    """Whether ``x`` has a complex dtype (torch.is_complex)."""
    return x._dtype.is_complex


def _need_complex(opname, x):
    if not x._dtype.is_complex:
        raise DTypeError(f"{opname}() is not implemented for tensors with non-complex dtypes "
                         f"(got {x._dtype.name}); it needs a complex64 or complex128 tensor")


def _part_meta(opname):
    def meta(x):
        if opname == "imag":
            _need_complex(opname, x)
        return Spec(x._shape, D.to_real(x._dtype))
    return meta


def _real(x):
    return x.to(D.to_real(x._dtype)) if x._dtype.is_complex else x


def _imag(x):
    _need_complex("imag", x)
    return _real(E.mul(x, -1j))  # (a + bi)(-i) = b - ai


_PART_DOC = ("The {0} part of a complex tensor, as a new tensor of the matching real dtype (PyTorch returns "
             "a view; Ember's storage holds one dtype, so this is a copy).\n"
             "Kernel: kernel(self) -> Tensor\n"
             "Operands: self is a complex64/complex128 tensor, any strides.\n"
             "Out: none; the kernel returns a new tensor.\n"
             "Result: float32 for complex64, float64 for complex128.")

real = defop("real(Tensor self) -> Tensor", meta=_part_meta("real"), decomposition=_real, family="complex",
             tags=("complex",), adapter=checked_adapter,
             doc=_PART_DOC.format("real") + " A real input is returned as it is.")
imag = defop("imag(Tensor self) -> Tensor", meta=_part_meta("imag"), decomposition=_imag, family="complex",
             tags=("complex",), adapter=checked_adapter, doc=_PART_DOC.format("imaginary"))


def _check_parts(opname, re, im):
    for name, t in (("real", re), ("imag", im)):
        if not isinstance(t, Tensor):
            raise ArgumentTypeError(f"{opname}(): {name} must be a tensor, got {type(t).__name__}")
        if t._dtype not in (D.float32, D.float64):
            raise DTypeError(f"{opname}(): expected {name} to have dtype float32 or float64, got "
                             f"{t._dtype.name}; convert it with .float() or .double()")
    if re._dtype is not im._dtype:
        raise DTypeError(f"{opname}(): expected both inputs to have the same dtype, got {re._dtype.name} and "
                         f"{im._dtype.name}")


def _complex_meta(re, im):
    _check_parts("complex", re, im)
    from ._helpers import broadcast_shapes
    return Spec(broadcast_shapes(re._shape, im._shape), D.to_complex(re._dtype))


def _complex(re, im):
    ct = _complex_meta(re, im).dtype
    return E.add(re.to(ct), E.mul(im.to(ct), 1j))


complex = defop("complex(Tensor real, Tensor imag) -> Tensor", meta=_complex_meta, decomposition=_complex,
                family="complex", tags=("complex",), adapter=checked_adapter,
                doc="real + imag * 1j, broadcast, as a complex tensor (float32 parts give complex64).\n"
                    "Kernel: kernel(real, imag) -> Tensor\n"
                    "Operands: real and imag are float32 or float64 tensors of one dtype, of any shapes that "
                    "broadcast.\n"
                    "Out: none; the kernel returns a new tensor.\n"
                    "Result: complex64 for float32 parts, complex128 for float64.")


def _polar_meta(abs, angle):
    _check_parts("polar", abs, angle)
    return _complex_meta(abs, angle)


def _polar(abs, angle):
    _polar_meta(abs, angle)
    return complex(E.mul(abs, E.cos(angle)), E.mul(abs, E.sin(angle)))


polar = defop("polar(Tensor abs, Tensor angle) -> Tensor", meta=_polar_meta, decomposition=_polar,
              family="complex", tags=("complex",), adapter=checked_adapter,
              doc="abs * (cos(angle) + sin(angle) * 1j), as torch.polar.")


def _view_as_real_meta(x):
    _need_complex("view_as_real", x)
    return Spec(x._shape + (2,), D.to_real(x._dtype))


def _view_as_real(x):
    _view_as_real_meta(x)
    from .shape import stack
    return stack([real(x), imag(x)], -1)


view_as_real = defop("view_as_real(Tensor self) -> Tensor", meta=_view_as_real_meta, decomposition=_view_as_real,
                     family="complex", tags=("complex",), adapter=checked_adapter,
                     doc="A complex tensor as real numbers: a last dim of 2 holds (real, imag). A copy in Ember "
                         "(a view in PyTorch).")


def _view_as_complex_meta(x):
    if x._dtype not in (D.float32, D.float64):
        raise DTypeError(f"view_as_complex() is only supported for float32 and float64 tensors, but got a tensor "
                         f"of dtype {x._dtype.name}")
    if not x._shape or x._shape[-1] != 2:
        raise ShapeError(f"view_as_complex(): the tensor must have a last dimension of size 2, got shape "
                         f"{tuple(x._shape)}")
    return Spec(x._shape[:-1], D.to_complex(x._dtype))


def _view_as_complex(x):
    _view_as_complex_meta(x)
    from .views import select
    return complex(select(x, -1, 0), select(x, -1, 1))


view_as_complex = defop("view_as_complex(Tensor self) -> Tensor", meta=_view_as_complex_meta,
                        decomposition=_view_as_complex, family="complex", tags=("complex",), adapter=checked_adapter,
                        doc="Pairs along a last dim of 2 as complex numbers (real, imag). A copy in Ember "
                            "(a view in PyTorch).")


def _same_meta(x):
    return Spec(x._shape, x._dtype)


def _conj_physical(x):
    if not x._dtype.is_complex:
        return x
    return complex(real(x), E.neg(imag(x)))


conj_physical = defop("conj_physical(Tensor self) -> Tensor", meta=_same_meta, decomposition=_conj_physical,
                      family="complex", tags=("complex",), adapter=checked_adapter,
                      doc="The complex conjugate, computed; a real input is returned as it is.")
conj = defop("conj(Tensor self) -> Tensor", meta=_same_meta, decomposition=_conj_physical, family="complex",
             tags=("complex",), adapter=checked_adapter,
             doc="The complex conjugate; a real input is returned as it is. PyTorch returns a lazily "
                 "conjugated view; Ember computes it (conj_physical).")


def _angle_meta(x):
    dt = x._dtype
    if dt.is_complex:
        return Spec(x._shape, D.to_real(dt))
    return Spec(x._shape, dt if dt.is_floating_point else D.get_default_dtype())


def _angle(x):
    if x._dtype.is_complex:
        return E.atan2(imag(x), real(x))
    dt = _angle_meta(x).dtype
    x = x.to(dt)
    return E.where(E.isnan(x), x, E.mul(E.lt(x, 0).to(dt), math.pi))


angle = defop("angle(Tensor self) -> Tensor", meta=_angle_meta, decomposition=_angle, family="complex",
              tags=("complex",), adapter=checked_adapter,
              doc="The argument of each element in radians: atan2(imag, real); for real inputs pi where "
                  "negative, else 0 (NaN stays NaN).")


def _complex_abs(x):
    """abs of a complex tensor: the modulus, in the real dtype of its parts (hypot avoids overflow)."""
    return E.hypot(real(x), imag(x))


def _complex_abs_(x):
    raise DTypeError("abs_(): in-place abs is not supported for complex tensors (the result is real); "
                     "use ember.abs(x)")


#: Operators whose complex case runs through their Complex entry instead of their kernels.
_COMPLEX_KERNELS = {"abs": _complex_abs, "abs_": _complex_abs_}

FUNCTIONS = {"is_complex": is_complex}
METHODS = {"real": property(real), "imag": property(imag), "is_complex": is_complex,
           "cfloat": lambda self: self.to(D.complex64), "cdouble": lambda self: self.to(D.complex128)}


# -- derivatives: PyTorch's convention, the conjugate Wirtinger derivative of a real loss --------------
# The engine casts a gradient to its input's dtype, so a complex gradient reaching a real input keeps
# its real part, as PyTorch's does.

def _sgn(x):
    """x / |x|, 0 where x is 0."""
    a = _complex_abs(x)
    return E.where(E.eq(a, 0), 0.0, E.true_divide(x, a.to(x._dtype)))


def _angle_grad(g, x):
    if not x._dtype.is_complex:
        return E.mul(g, 0)
    # d angle = Im(conj(x) dx) / |x|^2: the gradient is g * i x / |x|^2
    a = _complex_abs(x)
    r = E.true_divide(E.mul(x, 1j), E.mul(a, a).to(x._dtype))
    return E.where(E.eq(a, 0), 0.0, E.mul(g.to(x._dtype), r))


def _register_derivatives(derivative):
    derivative("real", save=(), linear=("self",))(lambda g, x: g)
    derivative("imag", save=(), linear=("self",))(lambda g, x: complex(E.mul(g, 0), g))
    derivative("view_as_real", save=(), linear=("self",))(lambda g, x: view_as_complex(g.contiguous()))
    derivative("view_as_complex", save=(), linear=("self",))(lambda g, x: view_as_real(g))
    derivative("complex", save=(), linear=("real", "imag"))(lambda g, re, im: (real(g), imag(g)))
    derivative("conj", save=(), linear=("self",))(lambda g, x: conj(g))
    derivative("conj_physical", save=(), linear=("self",))(lambda g, x: conj(g))
    derivative("angle", save=("self",))(_angle_grad)


def complex_abs_grad(g, x):
    """abs's gradient for a complex input: g * x / |x| (PyTorch's sgn)."""
    return E.mul(g.to(x._dtype), _sgn(x))


try:
    from ..autograd.registry import derivative as _derivative
except ImportError:  # a core without autograd
    _derivative = None
if _derivative is not None:
    _register_derivatives(_derivative)
