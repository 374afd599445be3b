"""Samples and numpy references for the complex-number operators (core/ops/complex.py) and the
discrete Fourier transforms (core/ops/fft.py). Their generators run for every dtype, complex
included; core refuses the dtypes an operator does not take, and the cases check that too."""

from __future__ import annotations

import numpy as np

from .references import ref
from .samples import Sample, arr, gen


@gen("real", "imag", "conj", "conj_physical", "angle", "view_as_real")
def complex_unary(name, dt, rng):
    return [Sample("2d", (arr(rng, (3, 4), dt),)), Sample("0d", (arr(rng, (), dt),), tags=("scalar",)),
            Sample("empty", (arr(rng, (0, 3), dt),), tags=("empty",)), Sample("3d", (arr(rng, (2, 3, 2), dt),))]


@gen("view_as_complex")
def view_as_complex(name, dt, rng):
    return [Sample("pairs", (arr(rng, (3, 2), dt),)), Sample("3d", (arr(rng, (2, 3, 2), dt),)),
            Sample("last_not_2", (arr(rng, (3, 3), dt),), error=ValueError)]


@gen("complex", "polar")
def complex_parts(name, dt, rng):
    lo = 0.0 if name == "polar" else -3.0
    return [Sample("same", (arr(rng, (3, 4), dt, lo), arr(rng, (3, 4), dt))),
            Sample("broadcast", (arr(rng, (3, 1), dt, lo), arr(rng, (4,), dt)), tags=("broadcast",)),
            Sample("0d", (arr(rng, (), dt, lo), arr(rng, (), dt)), tags=("scalar",))]


@gen("_fft_c2c")
def fft_c2c(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("last", (x((3, 8)), [1], 0, True)), Sample("inverse_1_over_n", (x((3, 8)), [1], 2, False)),
            Sample("two_dims_ortho", (x((2, 3, 5)), [0, 2], 1, True)), Sample("odd", (x((7,)), [0], 0, False)),
            Sample("negative_dim", (x((4, 6)), [-1, 0], 2, True)),
            Sample("repeated_dim", (x((4, 6)), [1, 1], 0, True), error=ValueError)]


@gen("_fft_r2c")
def fft_r2c(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("onesided", (x((3, 8)), [1], 0, True)), Sample("full", (x((3, 8)), [1], 0, False)),
            Sample("odd_ortho", (x((2, 7)), [1], 1, True)), Sample("two_dims", (x((2, 3, 5)), [0, 2], 2, True)),
            Sample("bad_norm", (x((3, 4)), [1], 3, True), error=ValueError)]


@gen("_fft_c2r")
def fft_c2r(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("even", (x((3, 5)), [1], 2, 8)), Sample("odd", (x((3, 4)), [1], 0, 7)),
            Sample("two_dims_ortho", (x((4, 3)), [0, 1], 1, 5)),
            Sample("wrong_length", (x((3, 4)), [1], 0, 12), error=ValueError)]


# -- references ------------------------------------------------------------------------------------

ref("real")(lambda x: np.real(x))
ref("conj", "conj_physical")(lambda x: np.conj(x))
ref("view_as_real")(lambda x: np.stack([x.real, x.imag], -1))
ref("view_as_complex")(lambda x: x[..., 0] + 1j * x[..., 1])
ref("complex")(lambda re, im: re + 1j * im)
ref("polar")(lambda a, t: a * np.cos(t) + 1j * (a * np.sin(t)))


@ref("imag")
def _imag(x):
    return np.imag(x)


@ref("angle")
def _angle(x):
    if np.iscomplexobj(x):
        return np.angle(x)
    x = np.asarray(x, np.float64)
    return np.where(np.isnan(x), x, np.where(x < 0, np.pi, 0.0))


def _scale(y, normalization, n):
    return y if normalization == 0 else y / (np.sqrt(n) if normalization == 1 else n)


def _n(shape, dims):
    return int(np.prod([shape[d] for d in dims]))


@ref("_fft_c2c")
def _c2c(x, dim, normalization, forward):
    y = np.fft.fftn(x, axes=dim) if forward else np.fft.ifftn(x, axes=dim) * _n(x.shape, dim)
    return _scale(y, normalization, _n(x.shape, dim))


@ref("_fft_r2c")
def _r2c(x, dim, normalization, onesided):
    y = np.fft.rfftn(x, axes=dim) if onesided else np.fft.fftn(x, axes=dim)
    return _scale(y, normalization, _n(x.shape, dim))


@ref("_fft_c2r")
def _c2r(x, dim, normalization, last_dim_size):
    s = [x.shape[d] for d in dim[:-1]] + [last_dim_size]
    y = np.fft.irfftn(x, s=s, axes=dim) * int(np.prod(s))
    return _scale(y, normalization, int(np.prod(s)))


# -- sparse COO: the product over the COO parts (core/ops/sparse.py) -----------------------------------

@gen("_sparse_mm")
def sparse_mm(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    idx = np.stack([rng.integers(0, 4, 7), rng.integers(0, 3, 7)]).astype(np.int64)
    idx[:, -1] = idx[:, 0]  # a duplicate coordinate adds up
    if dt.name == "bool":
        return [Sample("bool", (idx, x((7,)), x((3, 2)), 4), error=TypeError)]
    return [Sample("duplicates", (idx, x((7,)), x((3, 2)), 4)),
            Sample("empty", (np.zeros((2, 0), np.int64), x((0,)), x((3, 2)), 4), tags=("empty",)),
            Sample("bad_values", (idx, x((6,)), x((3, 2)), 4), error=ValueError)]


@ref("_sparse_mm")
def _sparse_mm_ref(indices, values, dense, rows):
    out = np.zeros((rows, np.shape(dense)[1]), np.result_type(values, dense))
    np.add.at(out, indices[0], np.asarray(values)[:, None] * np.asarray(dense)[indices[1]])
    return out
