"""The transform operators on jnp.fft (XLA's FFT), and the complex parts on jax.numpy.

Every call runs with 64-bit types on (see _engine), so float64 and complex128 are transformed in double
precision, while a float32 signal stays single: float32 gives complex64, as PyTorch. XLA transforms at
most three dims in one op; jnp.fft chains them for more.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from ember import dtypes as D

from .._engine import read, run
from ..runtime import geom, val, wrap
from .creation import zeros_key

#: ATen's normalization code -> numpy's norm, for a forward and for an inverse transform.
_FORWARD = {0: "backward", 1: "ortho", 2: "forward"}
_INVERSE = {0: "forward", 1: "ortho", 2: "backward"}


def _fft_maker(key):
    _, kind, g, dims, normalization, arg, out_shape, odt = key
    npdt = odt.np
    if kind == "c2c":
        f = jnp.fft.fftn if arg else jnp.fft.ifftn
        norm = (_FORWARD if arg else _INVERSE)[normalization]

        def fn(x):
            return (f(read(x, g), axes=dims, norm=norm).astype(npdt).reshape(-1),)
    elif kind == "r2c":
        f = jnp.fft.rfftn if arg else jnp.fft.fftn
        norm = _FORWARD[normalization]

        def fn(x):
            return (f(read(x, g), axes=dims, norm=norm).astype(npdt).reshape(-1),)
    else:
        s = tuple(out_shape[d] for d in dims)
        norm = _INVERSE[normalization]

        def fn(x):
            return (jnp.fft.irfftn(read(x, g), s=s, axes=dims, norm=norm).astype(npdt).reshape(-1),)
    return fn


def _transform(kind, x, dim, normalization, arg, out_shape, odt):
    dev = x._storage.dev
    if 0 in x._shape or 0 in out_shape:  # nothing to transform (XLA's FFT wants sizes >= 1): the empty sum
        n = 1
        for s in out_shape:
            n *= s
        return wrap(run(zeros_key(n, odt, dev), (), dev)[0], out_shape, odt, dev)
    key = (_fft_maker, kind, geom(x), tuple(dim), int(normalization), arg, out_shape, odt)
    return wrap(run(key, (val(x),), dev)[0], out_shape, odt, dev)


def _fft_c2c(x, dim, normalization, forward):
    return _transform("c2c", x, dim, normalization, bool(forward), x._shape, x._dtype)


def _fft_r2c(x, dim, normalization, onesided):
    shape = list(x._shape)
    if onesided:
        shape[dim[-1]] = shape[dim[-1]] // 2 + 1
    return _transform("r2c", x, dim, normalization, bool(onesided), tuple(shape), D.to_complex(x._dtype))


def _fft_c2r(x, dim, normalization, last_dim_size):
    shape = list(x._shape)
    shape[dim[-1]] = last_dim_size
    return _transform("c2r", x, dim, normalization, int(last_dim_size), tuple(shape), D.to_real(x._dtype))


# -- the complex parts -------------------------------------------------------------------------

def _part_maker(key):
    _, name, g = key
    f = _PARTS[name]

    def fn(x):
        return (f(read(x, g)).reshape(-1),)
    return fn


_PARTS = {"real": jnp.real, "imag": jnp.imag, "conj_physical": jnp.conj,
          "view_as_real": lambda v: jnp.stack([jnp.real(v), jnp.imag(v)], -1)}


def _part(name):
    def kernel(x):
        if name in ("real", "conj_physical") and not x._dtype.is_complex:
            return x
        dev = x._storage.dev
        r = run((_part_maker, name, geom(x)), (val(x),), dev)[0]
        dt = x._dtype if name == "conj_physical" else D.to_real(x._dtype)
        shape = x._shape + (2,) if name == "view_as_real" else x._shape
        return wrap(r, shape, dt, dev)
    kernel.__name__ = name
    return kernel


def _complex_maker(key):
    _, ga, gb, shape = key

    def fn(a, b):
        return (lax.complex(jnp.broadcast_to(read(a, ga), shape), jnp.broadcast_to(read(b, gb), shape)).reshape(-1),)
    return fn


def complex(re, im):
    from ember.ops._helpers import broadcast_shapes
    shape = tuple(broadcast_shapes(re._shape, im._shape))
    dev = re._storage.dev
    r = run((_complex_maker, geom(re), geom(im), shape), (val(re), val(im)), dev)[0]
    return wrap(r, shape, D.to_complex(re._dtype), dev)


KERNELS = {"_fft_c2c": _fft_c2c, "_fft_r2c": _fft_r2c, "_fft_c2r": _fft_c2r, "real": _part("real"),
           "imag": _part("imag"), "view_as_real": _part("view_as_real"), "conj_physical": _part("conj_physical"),
           "conj": _part("conj_physical"), "complex": complex}
