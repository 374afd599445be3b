"""Sample generators for the operators of core/ops/breadth.py and core/ops/special.py (their
references are in tensor_breadth_refs.py).

Float-valued composites are sampled in float32 and float64: they round at every step, and
their 16-bit results are checked against PyTorch in tests/test_tensor_breadth.py instead.
"""

from __future__ import annotations

import numpy as np

from . import tensor_breadth_refs  # noqa: F401  (fills REFERENCES)
from .samples import Sample, arr, gen, is_int

I64 = np.int64


def _wide(dt):
    return dt.name in ("float32", "float64")


def _refused(dt, make):
    """The sample that expects a DTypeError (a TypeError) for a dtype the operator refuses."""
    return [Sample(f"{dt.name}_refused", make(), error=TypeError)]


@gen("xlogy")
def xlogy(name, dt, rng):
    if not (_wide(dt) or is_int(dt)):
        return []
    x = lambda s, lo=-3, hi=3: arr(rng, s, dt, lo, hi)  # noqa: E731
    zeros = np.zeros((3, 4), dt.np)
    return [Sample("plain", (x((3, 4)), x((3, 4), 1, 4))), Sample("broadcast", (x((3, 1)), x((4,), 1, 4))),
            Sample("zero_x", (zeros, x((3, 4), 0, 4)), tags=("special",))]   # PyTorch's gradient there is 0


@gen("logit")
def logit(name, dt, rng):
    if not _wide(dt):
        return []
    return [Sample("plain", (arr(rng, (3, 4), dt, 0.02, 0.98),)), Sample("eps", (arr(rng, (3, 4), dt, -1, 2), 0.1))]


def _float_unary(lo, hi):
    def make(name, dt, rng):
        if not (_wide(dt) or is_int(dt)):
            return []
        return [Sample("plain", (arr(rng, (3, 4), dt, lo, hi),)), Sample("empty", (arr(rng, (0, 3), dt),),
                                                                        tags=("empty",))]
    return make


gen("sinc")(_float_unary(-3, 3))
gen("deg2rad", "rad2deg")(_float_unary(-360, 360))
gen("lgamma")(_float_unary(-6.5, 12))
gen("i0")(_float_unary(-12, 12))


@gen("digamma")
def digamma(name, dt, rng):
    if not _wide(dt):
        return []
    return [Sample("positive", (arr(rng, (3, 4), dt, 0.1, 20),)), Sample("negative", (arr(rng, (3, 4), dt, -4.9, -4.1),))]


@gen("polygamma")
def polygamma(name, dt, rng):
    if not _wide(dt):
        return []
    x = arr(rng, (3, 4), dt, 0.2, 15)
    return [Sample("n0", (0, x)), Sample("n1", (1, x)), Sample("n2", (2, x)),
            Sample("negative_n", (-1, x), error=ValueError)]


@gen("mvlgamma")
def mvlgamma(name, dt, rng):
    if not _wide(dt):
        return [] if dt.is_floating_point else _refused(dt, lambda: (arr(rng, (3,), dt, 2, 5), 2))
    return [Sample("p1", (arr(rng, (3, 4), dt, 0.5, 6), 1)), Sample("p3", (arr(rng, (3, 4), dt, 1.5, 6), 3)),
            Sample("p0", (arr(rng, (3,), dt, 1, 2), 0), error=ValueError)]


@gen("_special_ndtri")
def special_ndtri(name, dt, rng):
    if not _wide(dt):
        return []
    return [Sample("plain", (arr(rng, (3, 4), dt, 0.001, 0.999),)),
            Sample("edges", (np.array([0.0, 1.0, 0.5, -0.5, 1.5, 1e-30], dt.np),), tags=("special",))]


@gen("heaviside")
def heaviside(name, dt, rng):
    if dt.is_complex:
        return []
    x = arr(rng, (3, 4), dt, -2, 2)
    other = "int64" if dt.name != "int64" else "float64"
    return [Sample("plain", (x, arr(rng, (4,), dt, -2, 2))),
            Sample("mixed_dtypes", (x, np.zeros((4,), other)), error=TypeError)]


@gen("gcd", "lcm")
def gcd(name, dt, rng):
    if not is_int(dt):
        return _refused(dt, lambda: (arr(rng, (3, 4), dt), arr(rng, (3, 4), dt)))
    x = lambda s: arr(rng, s, dt, -30, 30)  # noqa: E731
    return [Sample("plain", (x((3, 4)), x((3, 4)))), Sample("broadcast", (x((3, 1)), x((4,)))),
            Sample("zeros", (np.zeros((3,), dt.np), x((3,))))]


@gen("float_power")
def float_power(name, dt, rng):
    if not (_wide(dt) or is_int(dt)):
        return []
    return [Sample("plain", (arr(rng, (3, 4), dt, 0.5, 3), arr(rng, (3, 4), dt, -2, 2))),
            Sample("scalar", (arr(rng, (3, 4), dt, -3, 3), 2))]


@gen("fmax", "fmin")
def fminmax(name, dt, rng):
    if dt.is_complex or dt.name == "bool":
        return []
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    out = [Sample("plain", (x((3, 4)), x((3, 4)))), Sample("broadcast", (x((3, 1)), x((4,))))]
    if dt.is_floating_point:
        a = x((3, 4))
        a[0, 0] = a[1, 2] = np.nan
        b = x((3, 4))
        b[1, 2] = b[2, 3] = np.nan
        out.append(Sample("nan", (a, b), tags=("special",)))
    return out


@gen("nansum")
def nansum(name, dt, rng):
    if dt.is_complex or not (_wide(dt) or is_int(dt)):
        return []
    x = arr(rng, (3, 4), dt)
    if dt.is_floating_point:
        x[0, 1] = x[2, 2] = np.nan
    return [Sample("all", (x,)), Sample("dim", (x, [1], True)), Sample("dims", (x, [0, 1]))]


@gen("nanmean")
def nanmean(name, dt, rng):
    if not _wide(dt):
        return [] if dt.is_floating_point or dt.is_complex else _refused(dt, lambda: (arr(rng, (3, 4), dt),))
    x = arr(rng, (3, 4), dt)
    x[0, 1] = x[2, 2] = np.nan
    return [Sample("all", (x,)), Sample("dim", (x, [1], True))]


@gen("trace")
def trace(name, dt, rng):
    if dt.is_complex or not (_wide(dt) or is_int(dt)):
        return []
    return [Sample("square", (arr(rng, (3, 3), dt),)), Sample("wide", (arr(rng, (2, 4), dt),)),
            Sample("vector", (arr(rng, (3,), dt),), error=ValueError)]


@gen("diff")
def diff(name, dt, rng):
    if dt.is_complex or not (_wide(dt) or is_int(dt) or dt.name == "bool"):
        return []
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("last", (x((3, 5)),)), Sample("n2_dim0", (x((4, 3)), 2, 0)),
            Sample("prepend_append", (x((3, 4)), 1, 1, x((3, 1)), x((3, 2)))),
            Sample("0d", (x(()),), error=ValueError)]


def _float_pair(make):
    def g(name, dt, rng):
        if not _wide(dt):
            return [] if dt.is_floating_point or dt.is_complex else _refused(dt, lambda: make(
                lambda s: arr(rng, s, dt))[0].args)
        return make(lambda s: arr(rng, s, dt))
    return g


gen("dist")(_float_pair(lambda x: [Sample("p2", (x((3, 4)), x((3, 4)))), Sample("p1", (x((3, 4)), x((4,)), 1)),
                                   Sample("pinf", (x((3, 4)), x((3, 4)), float("inf")))]))
gen("cosine_similarity")(_float_pair(lambda x: [Sample("dim1", (x((3, 4)), x((3, 4)))),
                                                Sample("dim0_bcast", (x((3, 4)), x((3, 1)), 0))]))
gen("pdist")(_float_pair(lambda x: [Sample("p2", (x((4, 3)),)), Sample("p1", (x((4, 3)), 1.0)),
                                    Sample("vector", (x((3,)),), error=ValueError)]))
gen("renorm")(_float_pair(lambda x: [Sample("dim0", (x((3, 4)), 2, 0, 1.5)), Sample("dim1_p1", (x((3, 4)), 1, 1, 2.0)),
                                     Sample("vector", (x((3,)), 2, 0, 1.0), error=ValueError)]))


@gen("corrcoef")
def corrcoef(name, dt, rng):
    if not (_wide(dt) or is_int(dt)):
        return []
    return [Sample("vars", (arr(rng, (3, 5), dt),)), Sample("one_var", (arr(rng, (5,), dt),))]


@gen("cov")
def cov(name, dt, rng):
    if not _wide(dt):
        return []
    x = arr(rng, (3, 5), dt)
    return [Sample("plain", (x,)), Sample("biased", (x,), {"correction": 0}), Sample("vector", (arr(rng, (5,), dt),)),
            Sample("weights", (x,), {"fweights": np.array([1, 2, 1, 3, 1], I64),
                                     "aweights": arr(rng, (5,), dt, 0.2, 2)}),
            Sample("3d", (arr(rng, (2, 2, 2), dt),), error=ValueError)]


@gen("addmv", "addr", "baddbmm", "addbmm")
def addprod(name, dt, rng):
    if not (_wide(dt) or dt.name in ("int32", "int64")):
        return []
    x = lambda s: arr(rng, s, dt, -2, 2)  # noqa: E731
    shapes = {"addmv": ((3,), (3, 4), (4,)), "addr": ((3, 4), (3,), (4,)),
              "baddbmm": ((2, 3, 5), (2, 3, 4), (2, 4, 5)), "addbmm": ((3, 5), (2, 3, 4), (2, 4, 5))}[name]
    s0, s1, s2 = shapes
    return [Sample("plain", (x(s0), x(s1), x(s2))), Sample("scaled", (x(s0), x(s1), x(s2)), {"beta": 2, "alpha": 3}),
            Sample("beta0", (x(s0), x(s1), x(s2)), {"beta": 0}),
            Sample("broadcast_self", (x(s0[-1:]), x(s1), x(s2))),
            Sample("mismatch", (x(s0), x(s1), x(s1)), error=ValueError)]


@gen("take")
def take(name, dt, rng):
    x = arr(rng, (3, 4), dt)
    return [Sample("plain", (x, np.array([[0, 11], [-1, 5]], I64))), Sample("empty", (x, np.zeros((0,), I64))),
            Sample("out_of_range", (x, np.array([12], I64)), error=IndexError)]


@gen("take_along_dim")
def take_along_dim(name, dt, rng):
    x = arr(rng, (3, 4), dt)
    return [Sample("dim1", (x, np.array([[0, 3], [1, 1], [2, 0]], I64), 1)),
            Sample("flat", (x, np.array([11, 0, 5], I64))),
            Sample("broadcast", (x, np.array([[2, 0, 1, 2]], I64), 0)),
            Sample("ndim_mismatch", (x, np.array([0], I64), 0), error=ValueError)]


@gen("scatter_reduce")
def scatter_reduce(name, dt, rng):
    if dt.is_complex or not (_wide(dt) or dt.name in ("int32", "int64")):
        return []
    x = arr(rng, (3, 5), dt)
    src = arr(rng, (2, 4), dt)
    idx = np.array([[0, 1, 0, 2], [2, 2, 1, 0]], I64)
    out = [Sample(f"{r}_{inc}", (x, 1, idx, src, r), {"include_self": inc})
           for r in ("sum", "prod", "mean", "amax", "amin") for inc in (True, False)]
    return out + [Sample("dim0", (x, 0, np.array([[0, 2, 2, 0]], I64), src, "sum")),
                  Sample("bad_reduce", (x, 1, idx, src, "median"), error=ValueError)]


@gen("index_copy")
def index_copy(name, dt, rng):
    x = arr(rng, (3, 4), dt)
    return [Sample("dim1", (x, 1, np.array([3, 0], I64), arr(rng, (3, 2), dt))),
            Sample("dim0", (x, 0, np.array([2], I64), arr(rng, (1, 4), dt))),
            Sample("mismatch", (x, 0, np.array([0], I64), arr(rng, (2, 4), dt)), error=IndexError)]


@gen("index_fill")
def index_fill(name, dt, rng):
    x = arr(rng, (3, 4), dt)
    v = True if dt.name == "bool" else 1
    return [Sample("dim0", (x, 0, np.array([2, 0], I64), v)), Sample("dim1", (x, 1, np.array([-1], I64), v)),
            Sample("2d_index", (x, 0, np.array([[0]], I64), v), error=ValueError)]


@gen("masked_scatter")
def masked_scatter(name, dt, rng):
    x = arr(rng, (3, 4), dt)
    mask = rng.random((3, 4)) < 0.5
    return [Sample("plain", (x, mask, arr(rng, (12,), dt))),
            Sample("broadcast_mask", (x, np.array([True, False, True, True]), arr(rng, (3, 4), dt))),
            Sample("short_source", (x, np.ones((3, 4), bool), arr(rng, (5,), dt)), error=ValueError)]
