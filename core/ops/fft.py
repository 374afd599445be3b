"""The discrete Fourier transform operators behind ``ember.fft``, as in ATen.

Three operators carry every transform; ``ember.fft`` (core/fft.py) resizes the
input, picks the operator and the normalization, exactly as ``torch.fft`` does:

    _fft_c2c(self, dim, normalization, forward)   complex -> complex
    _fft_r2c(self, dim, normalization, onesided)  real -> complex (onesided: the last dim keeps n//2+1)
    _fft_c2r(self, dim, normalization, last_dim_size)  onesided complex -> real

``normalization`` scales by 1 (0), 1/sqrt(n) (1) or 1/n (2), n the product of the
signal sizes. A backend registers fast kernels for them (cpu: pocketfft through
numpy.fft; xla: jnp.fft); elsewhere they decompose into dense DFT matrices and
matmuls, which any backend with complex dtypes runs.
"""

from __future__ import annotations

import math

from .. import dtypes as D
from ..dispatch import defop
from ..errors import DTypeError, ShapeError
from . import complex as Cx
from . import elementwise as E
from ._helpers import Spec, wrap_dim
from ..errors import InvalidArgumentError


def _dims(opname, x, dim):
    dims = tuple(wrap_dim(d, x.ndim, opname) for d in dim)
    if len(set(dims)) != len(dims):
        raise InvalidArgumentError(f"{opname}(): FFT dims must be unique, got {tuple(dim)}")
    if not dims:
        raise InvalidArgumentError(f"{opname}(): must transform at least one dimension")
    return dims


def _check_norm(opname, normalization):
    if normalization not in (0, 1, 2):
        raise InvalidArgumentError(f"{opname}(): normalization must be 0 (none), 1 (1/sqrt(n)) or 2 (1/n), "
                                   f"got {normalization!r}")


def _c2c_meta(x, dim, normalization, forward):
    if not x._dtype.is_complex:
        raise DTypeError(f"_fft_c2c(): expects a complex input tensor, got {x._dtype.name}")
    _dims("_fft_c2c", x, dim)
    _check_norm("_fft_c2c", normalization)
    return Spec(x._shape, x._dtype)


def _r2c_meta(x, dim, normalization, onesided):
    if x._dtype not in (D.float32, D.float64):
        raise DTypeError(f"_fft_r2c(): expects a float32 or float64 input tensor, got {x._dtype.name}")
    dims = _dims("_fft_r2c", x, dim)
    _check_norm("_fft_r2c", normalization)
    shape = list(x._shape)
    if onesided:
        shape[dims[-1]] = shape[dims[-1]] // 2 + 1
    return Spec(tuple(shape), D.to_complex(x._dtype))


def _c2r_meta(x, dim, normalization, last_dim_size):
    if not x._dtype.is_complex:
        raise DTypeError(f"_fft_c2r(): expects a complex input tensor, got {x._dtype.name}")
    dims = _dims("_fft_c2r", x, dim)
    _check_norm("_fft_c2r", normalization)
    if last_dim_size < 1 or x._shape[dims[-1]] != last_dim_size // 2 + 1:
        raise ShapeError(f"_fft_c2r(): the last transformed dim has {x._shape[dims[-1]]} elements; an output of "
                         f"last_dim_size={last_dim_size} needs last_dim_size // 2 + 1 = {last_dim_size // 2 + 1}")
    shape = list(x._shape)
    shape[dims[-1]] = last_dim_size
    return Spec(tuple(shape), D.to_real(x._dtype))


# -- decompositions: dense DFT matrices ----------------------------------------------------------

def _angles(n_in, n_out, n, device, dt, sign):
    """sign * 2*pi * (j*k mod n) / n for j < n_in, k < n_out, as a (n_in, n_out) tensor of dtype dt."""
    from .creation import arange
    from .views import unsqueeze
    j = arange(n_in, device=device)
    k = arange(n_out, device=device)
    jk = E.remainder(E.mul(unsqueeze(j, 1), unsqueeze(k, 0)), n)  # exact in int64
    return E.mul(jk.to(dt), sign * 2.0 * math.pi / n)


def _work_dtype(x, real_dt):
    return D.float64 if D.float64 in x._backend.capabilities.dtypes else real_dt


def _scale(x, normalization, n):
    if normalization == 0 or n == 0:
        return x
    return E.mul(x, 1.0 / (math.sqrt(n) if normalization == 1 else n))


def _dft_along(x, d, forward):
    """A complex DFT of x along dim d, unnormalized, by a matmul with the twiddle matrix."""
    from .linalg import matmul
    from .views import movedim
    n = x._shape[d]
    if n == 0:
        return x
    wt = _work_dtype(x, D.to_real(x._dtype))
    a = _angles(n, n, n, x._device, wt, -1.0 if forward else 1.0)
    w = Cx.complex(E.cos(a).to(D.to_real(x._dtype)), E.sin(a).to(D.to_real(x._dtype)))
    return movedim(matmul(movedim(x, d, -1), w), -1, d)


def _c2c(x, dim, normalization, forward):
    _c2c_meta(x, dim, normalization, forward)
    dims = _dims("_fft_c2c", x, dim)
    for d in dims:
        x = _dft_along(x, d, forward)
    return _scale(x, normalization, _numel(x._shape, dims))


def _numel(shape, dims):
    n = 1
    for d in dims:
        n *= shape[d]
    return n


def _r2c(x, dim, normalization, onesided):
    spec = _r2c_meta(x, dim, normalization, onesided)
    dims = _dims("_fft_r2c", x, dim)
    out = _c2c(x.to(spec.dtype), dims, normalization, True)
    if onesided:
        from .views import narrow
        out = narrow(out, dims[-1], 0, spec.shape[dims[-1]]).contiguous()
    return out


def _c2r(x, dim, normalization, last_dim_size):
    from .linalg import matmul
    from .views import movedim
    spec = _c2r_meta(x, dim, normalization, last_dim_size)
    dims = _dims("_fft_c2r", x, dim)
    for d in dims[:-1]:
        x = _dft_along(x, d, False)
    d, m, n = dims[-1], x._shape[dims[-1]], last_dim_size
    rt = spec.dtype
    # out[t] = sum_k w_k (Re X_k cos(2 pi k t / n) - Im X_k sin(2 pi k t / n)), w_k = 2 except where X_k is
    # its own mirror image (k = 0, and k = n/2 for even n): the terms of the other half, by symmetry.
    a = _angles(m, n, n, x._device, _work_dtype(x, rt), 1.0)
    from .creation import full
    w = full((m, 1), 2.0, dtype=a._dtype, device=x._device)
    w[0] = 1.0
    if n % 2 == 0:
        w[m - 1] = 1.0
    cos_m, sin_m = E.mul(E.cos(a), w).to(rt), E.mul(E.sin(a), w).to(rt)
    xm = movedim(x, d, -1)
    out = E.sub(matmul(Cx.real(xm), cos_m), matmul(Cx.imag(xm), sin_m))
    out = movedim(out, -1, d)
    return _scale(out, normalization, _numel(spec.shape, dims))


def _adapter(op, kernel, backend):
    """Core's checks, then the kernel with dim normalized to distinct non-negative dims."""
    meta = op.meta

    def entry(x, dim, normalization, arg):
        meta(x, dim, normalization, arg)
        return kernel(x, list(_dims(op.name, x, dim)), normalization, arg)
    return entry


_CONTRACT = ("\nKernel: kernel{sig} -> Tensor\n"
             "Operands: self is a {src} tensor, any strides; dim a list of distinct non-negative dims; "
             "normalization 0 (none), 1 (scale by 1/sqrt(n)) or 2 (scale by 1/n), n the product of the "
             "signal sizes along dim{extra}.\n"
             "Out: none; the kernel returns a new tensor.\n"
             "Result: {result}.")

_fft_c2c = defop("_fft_c2c(Tensor self, int[] dim, int normalization, bool forward) -> Tensor", meta=_c2c_meta,
                 decomposition=_c2c, family="fft", tags=("complex",), adapter=_adapter,
                 doc="The complex DFT along dim (forward: exp(-2 pi i jk/n); else the inverse, exp(+...))."
                     + _CONTRACT.format(sig="(self, dim, normalization, forward)", src="complex64/complex128",
                                        extra="", result="self's dtype and shape"))
_fft_r2c = defop("_fft_r2c(Tensor self, int[] dim, int normalization, bool onesided) -> Tensor", meta=_r2c_meta,
                 decomposition=_r2c, family="fft", tags=("complex",), adapter=_adapter,
                 doc="The forward DFT of a real tensor along dim; onesided keeps the first n//2+1 elements of "
                     "the last transformed dim (the rest follow by Hermitian symmetry)."
                     + _CONTRACT.format(sig="(self, dim, normalization, onesided)", src="float32/float64",
                                        extra="", result="complex64 for float32, complex128 for float64"))
_fft_c2r = defop("_fft_c2r(Tensor self, int[] dim, int normalization, int last_dim_size) -> Tensor",
                 meta=_c2r_meta, decomposition=_c2r, family="fft", tags=("complex",), adapter=_adapter,
                 doc="The inverse DFT of a Hermitian-symmetric signal stored onesided, as a real tensor whose "
                     "last transformed dim has last_dim_size elements (the imaginary parts of the elements that "
                     "are their own mirror image are ignored, as pocketfft and cuFFT do)."
                     + _CONTRACT.format(sig="(self, dim, normalization, last_dim_size)", src="complex64/complex128",
                                        extra="; the last dim in dim has last_dim_size // 2 + 1 elements",
                                        result="float32 for complex64, float64 for complex128"))


# -- derivatives (torch's formulas) ----------------------------------------------------------------

def _c2c_grad(g, x, dim, normalization, forward):
    return _fft_c2c(g, dim, normalization, not forward)


def _r2c_grad(g, x, dim, normalization, onesided):
    dims = _dims("_fft_r2c", x, dim)
    if onesided:
        # The onesided transform drops the upper half: fill it with zeros, then the inverse complex DFT.
        from .nn import constant_pad_nd
        last = dims[-1]
        missing = x._shape[last] - g._shape[last]
        if missing > 0:
            pad = [0, 0] * (g.ndim - 1 - last) + [0, missing]
            g = constant_pad_nd(g, pad, 0.0)
    return Cx.real(_fft_c2c(g, dim, normalization, False))


def _c2r_grad(g, x, dim, normalization, last_dim_size):
    dims = _dims("_fft_c2r", x, dim)
    gi = _fft_r2c(g, dim, normalization, True)
    m, last = gi._shape[dims[-1]], dims[-1]
    double = last_dim_size - m  # the elements whose mirror image lies outside the onesided half count twice
    if double > 0:
        from .creation import full
        w = full((m,), 1.0, dtype=D.to_real(gi._dtype), device=gi._device)
        w[1:1 + double] = 2.0
        gi = E.mul(gi, w.reshape((m,) + (1,) * (gi.ndim - 1 - last)))
    return gi


def _register_derivatives(derivative):
    derivative("_fft_c2c", save=(), linear=("self",))(_c2c_grad)
    derivative("_fft_r2c", save=(), linear=("self",))(_r2c_grad)
    derivative("_fft_c2r", save=(), linear=("self",))(_c2r_grad)


try:
    from ..autograd.registry import derivative as _derivative
except ImportError:  # a core without autograd
    _derivative = None
if _derivative is not None:
    _register_derivatives(_derivative)
