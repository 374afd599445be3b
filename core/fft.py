"""``ember.fft``: discrete Fourier transforms, as ``torch.fft``.

Each function resizes its input to the requested signal sizes (zero padding or
trimming at the end of each dim), then calls one of the three transform
operators of ``ember.ops.fft`` with the normalization that ``norm`` names:

- "backward" (the default): no scaling forward, 1/n on the inverse;
- "ortho": 1/sqrt(n) both ways;
- "forward": 1/n forward, none on the inverse.

Integer and bool inputs become the default float dtype first; float16 and
bfloat16 are refused, as on PyTorch's cpu. Real inputs give complex64 (float32)
or complex128 (float64) results, and the real-output transforms (irfft, hfft)
give the matching real dtype.
"""

from __future__ import annotations

from . import dtypes as D
from ._tensor import Tensor
from .errors import DTypeError
from .ops import complex as _Cx
from .ops._helpers import wrap_dim
from .ops.fft import _fft_c2c, _fft_c2r, _fft_r2c
from .errors import ArgumentTypeError, InvalidArgumentError

__all__ = ["fft", "ifft", "rfft", "irfft", "fft2", "ifft2", "fftn", "ifftn", "rfft2", "irfft2", "rfftn",
           "irfftn", "hfft", "ihfft", "fftfreq", "rfftfreq", "fftshift", "ifftshift"]

_NORMS = ("backward", "ortho", "forward")


def _norm_mode(name, norm, forward):
    """ATen's normalization code: 0 none, 1 by 1/sqrt(n), 2 by 1/n."""
    if norm is None:
        norm = "backward"
    if norm not in _NORMS:
        raise InvalidArgumentError(f"{name}(): invalid normalization mode {norm!r}; expected one of "
                                   f"'backward', 'ortho', 'forward' (or None)")
    if norm == "ortho":
        return 1
    return 2 if (norm == "backward") != forward else 0


def _promote(name, x, require_complex):
    if not isinstance(x, Tensor):
        raise ArgumentTypeError(f"{name}(): input must be a tensor, got {type(x).__name__}")
    dt = x._dtype
    if dt in (D.float16, D.bfloat16):
        raise DTypeError(f"{name}(): Unsupported dtype {dt.name}; convert the input with .float()")
    if not dt.is_floating_point and not dt.is_complex:
        x = x.to(D.get_default_dtype())
    if require_complex and not x._dtype.is_complex:
        x = x.to(D.to_complex(x._dtype))
    return x


def _resize(x, dims, sizes):
    """x with each dim in dims trimmed or zero-padded at its end to the matching size."""
    pad = [0] * (2 * x.ndim)
    must_pad = False
    for d, n in zip(dims, sizes):
        have = x._shape[d]
        if have > n:
            x = x.narrow(d, 0, n)
        elif have < n:
            pad[2 * (x.ndim - 1 - d) + 1] = n - have
            must_pad = True
    if must_pad:
        from .ops.nn import constant_pad_nd
        while len(pad) > 2 and pad[-1] == 0 and pad[-2] == 0:
            pad = pad[:-2]
        x = constant_pad_nd(x, pad, 0.0)
    return x


def _one_dim(name, x, n, dim):
    d = wrap_dim(dim, x.ndim, name)
    if n is not None and n < 1:
        raise InvalidArgumentError(f"{name}(): Invalid number of data points ({n}) specified; n must be >= 1")
    return d


def _shape_and_dims(name, x, s, dim):
    """torch's canonical (sizes, dims) from s and dim: dims default to all (or the last len(s))."""
    nd = x.ndim
    if dim is not None:
        if isinstance(dim, int):
            dim = (dim,)
        dims = tuple(wrap_dim(d, nd, name) for d in dim)
        if len(set(dims)) != len(dims):
            raise InvalidArgumentError(f"{name}(): FFT dims must be unique, got {tuple(dim)}")
    if s is not None:
        if isinstance(s, int):
            s = (s,)
        s = tuple(s)
        if dim is not None and len(dims) != len(s):
            raise InvalidArgumentError(f"{name}(): When given, dim and shape arguments must have the same length "
                                       f"(s={s}, dim={tuple(dim)})")
        if len(s) > nd:
            raise InvalidArgumentError(f"{name}(): Got shape with {len(s)} values but input tensor only has {nd} "
                                       f"dimensions")
        if dim is None:
            dims = tuple(range(nd - len(s), nd))
        sizes = tuple(n if n != -1 else x._shape[d] for n, d in zip(s, dims))
    elif dim is None:
        dims, sizes = tuple(range(nd)), tuple(x._shape)
    else:
        sizes = tuple(x._shape[d] for d in dims)
    for n in sizes:
        if n <= 0:
            raise InvalidArgumentError(f"{name}(): Invalid number of data points ({n}) specified")
    return sizes, dims


# -- one dimension ---------------------------------------------------------------------------------

def _c2c_1d(name, x, n, dim, norm, forward):
    x = _promote(name, x, require_complex=True)
    d = _one_dim(name, x, n, dim)
    n = x._shape[d] if n is None else n
    x = _resize(x, (d,), (n,))
    return _fft_c2c(x, [d], _norm_mode(name, norm, forward), forward)


def _r2c_1d(name, x, n, dim, norm, forward, onesided):
    if x._dtype.is_complex:
        raise DTypeError(f"{name}() expects a real input tensor, but got {x._dtype.name}")
    x = _promote(name, x, require_complex=False)
    d = _one_dim(name, x, n, dim)
    n = x._shape[d] if n is None else n
    x = _resize(x, (d,), (n,))
    out = _fft_r2c(x, [d], _norm_mode(name, norm, forward), onesided)
    return out if forward else _Cx.conj(out)


def _c2r_1d(name, x, n, dim, norm, forward):
    x = _promote(name, x, require_complex=True)
    d = _one_dim(name, x, n, dim)
    last = n if n is not None else 2 * (x._shape[d] - 1)
    if last < 1:
        raise InvalidArgumentError(f"{name}(): Invalid number of data points ({last}) specified")
    x = _resize(x, (d,), (last // 2 + 1,))
    if forward:
        x = _Cx.conj(x)
    return _fft_c2r(x, [d], _norm_mode(name, norm, forward), last)


def fft(input, n=None, dim=-1, norm=None):
    """The 1-D discrete Fourier transform along dim (complex output; a real input is transformed as real)."""
    if input._dtype.is_complex:
        return _c2c_1d("fft", input, n, dim, norm, True)
    return _r2c_1d("fft", input, n, dim, norm, True, onesided=False)


def ifft(input, n=None, dim=-1, norm=None):
    """The inverse of fft."""
    if input._dtype.is_complex:
        return _c2c_1d("ifft", input, n, dim, norm, False)
    return _r2c_1d("ifft", input, n, dim, norm, False, onesided=False)


def rfft(input, n=None, dim=-1, norm=None):
    """The fft of a real input, keeping the n//2+1 non-negative frequencies."""
    return _r2c_1d("rfft", input, n, dim, norm, True, onesided=True)


def irfft(input, n=None, dim=-1, norm=None):
    """The inverse of rfft: a real output of n (default 2*(m-1)) points."""
    return _c2r_1d("irfft", input, n, dim, norm, False)


def hfft(input, n=None, dim=-1, norm=None):
    """The fft of a Hermitian-symmetric signal given by its first half: a real output."""
    return _c2r_1d("hfft", input, n, dim, norm, True)


def ihfft(input, n=None, dim=-1, norm=None):
    """The inverse of hfft: the onesided ifft of a real input."""
    return _r2c_1d("ihfft", input, n, dim, norm, False, onesided=True)


# -- n dimensions ----------------------------------------------------------------------------------

def _c2c_nd(name, x, s, dim, norm, forward):
    x = _promote(name, x, require_complex=True)
    sizes, dims = _shape_and_dims(name, x, s, dim)
    if not dims:
        return x
    x = _resize(x, dims, sizes)
    return _fft_c2c(x, list(dims), _norm_mode(name, norm, forward), forward)


def fftn(input, s=None, dim=None, norm=None):
    """The n-D discrete Fourier transform over dim (default: all dims, or the last len(s))."""
    return _c2c_nd("fftn", input, s, dim, norm, True)


def ifftn(input, s=None, dim=None, norm=None):
    """The inverse of fftn."""
    return _c2c_nd("ifftn", input, s, dim, norm, False)


def fft2(input, s=None, dim=(-2, -1), norm=None):
    """fftn over two dims (default the last two)."""
    return fftn(input, s, dim, norm)


def ifft2(input, s=None, dim=(-2, -1), norm=None):
    """ifftn over two dims (default the last two)."""
    return ifftn(input, s, dim, norm)


def rfftn(input, s=None, dim=None, norm=None):
    """fftn of a real input, keeping half of the last transformed dim."""
    if input._dtype.is_complex:
        raise DTypeError(f"rfftn expects a real-valued input tensor, but got {input._dtype.name}")
    x = _promote("rfftn", input, require_complex=False)
    sizes, dims = _shape_and_dims("rfftn", x, s, dim)
    if not dims:
        raise InvalidArgumentError("rfftn(): must transform at least one axis")
    x = _resize(x, dims, sizes)
    return _fft_r2c(x, list(dims), _norm_mode("rfftn", norm, True), True)


def irfftn(input, s=None, dim=None, norm=None):
    """The inverse of rfftn: a real output whose last transformed dim has s[-1] (default 2*(m-1)) points."""
    x = _promote("irfftn", input, require_complex=True)
    sizes, dims = _shape_and_dims("irfftn", x, s, dim)
    if not dims:
        raise InvalidArgumentError("irfftn(): must transform at least one axis")
    last = 2 * (x._shape[dims[-1]] - 1) if s is None or tuple(s if not isinstance(s, int) else (s,))[-1] == -1 \
        else sizes[-1]
    if last < 1:
        raise InvalidArgumentError(f"irfftn(): Invalid number of data points ({last}) specified")
    x = _resize(x, dims, sizes[:-1] + (last // 2 + 1,))
    return _fft_c2r(x, list(dims), _norm_mode("irfftn", norm, False), last)


def rfft2(input, s=None, dim=(-2, -1), norm=None):
    """rfftn over two dims (default the last two)."""
    return rfftn(input, s, dim, norm)


def irfft2(input, s=None, dim=(-2, -1), norm=None):
    """irfftn over two dims (default the last two)."""
    return irfftn(input, s, dim, norm)


# -- helpers -----------------------------------------------------------------------------------------

def _freq_dtype(name, dtype):
    from .ops._helpers import dtype_arg
    dt = dtype_arg(dtype, name) or D.get_default_dtype()
    if not dt.is_floating_point:
        raise DTypeError(f"{name}(): dtype must be a floating dtype, got {dt.name}")
    return dt


def fftfreq(n, d=1.0, *, dtype=None, device=None, requires_grad=False):
    """The sample frequencies of an n-point fft: [0, 1, ..., (n-1)//2, -(n//2), ..., -1] / (d*n)."""
    from .ops.creation import arange
    from .ops.elementwise import mul, sub, where
    dt = _freq_dtype("fftfreq", dtype)
    k = arange(n, device=device)
    k = where(k > (n - 1) // 2, sub(k, n), k)
    out = mul(k.to(dt), 1.0 / (n * d))
    return out.requires_grad_(True) if requires_grad else out


def rfftfreq(n, d=1.0, *, dtype=None, device=None, requires_grad=False):
    """The sample frequencies of an n-point rfft: [0, 1, ..., n//2] / (d*n)."""
    from .ops.creation import arange
    from .ops.elementwise import mul
    dt = _freq_dtype("rfftfreq", dtype)
    out = mul(arange(n // 2 + 1, device=device).to(dt), 1.0 / (n * d))
    return out.requires_grad_(True) if requires_grad else out


def _shift(x, dim, up):
    from .ops.shape import roll
    if dim is None:
        dims = tuple(range(x.ndim))
    else:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        dims = tuple(wrap_dim(d, x.ndim, "fftshift") for d in dims)
    if not dims:
        return x.clone()
    shifts = [x._shape[d] // 2 if up else (x._shape[d] + 1) // 2 for d in dims]
    return roll(x, shifts, list(dims))


def fftshift(input, dim=None):
    """Move the zero frequency to the middle: a roll by n//2 along dim (default every dim)."""
    return _shift(input, dim, True)


def ifftshift(input, dim=None):
    """The inverse of fftshift: a roll by (n+1)//2 along dim."""
    return _shift(input, dim, False)


from .amp.kernels import wrap_functions as _amp_wrap  # noqa: E402  (autocast: these run in float32 on cpu)
_amp_wrap(globals(), "fft.")
