"""Sample generators for the operators of core/ops/tensor_more.py, counting.py, statistics.py
and sampling.py (their references are in tensor_more_refs.py).

Arithmetic composites (tensordot, cdist, logcumsumexp, quantile, histc) are sampled in
float32 and float64 only: they round at every step, and their 16-bit results are checked
against PyTorch in tests/test_tensor_more.py instead.
"""

from __future__ import annotations

import numpy as np

from . import tensor_more_refs  # noqa: F401  (fills REFERENCES)
from .opsamples import _distinct, _distinct_cols
from .samples import Sample, arr, gen, is_float, is_int, special

I64 = np.int64


def _wide_float(dt):
    return dt.name in ("float32", "float64")


def _float_error(name, dt, rng, make):
    """The sample that expects a DTypeError (a TypeError) for a dtype the operator refuses."""
    return [Sample(f"{dt.name}_refused", make(arr(rng, (3, 4), dt)), error=TypeError)]


@gen("diag")
def diag(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("1d", (x((4,)),)), Sample("1d_above", (x((3,)), 2)), Sample("1d_below", (x((3,)), -1)),
            Sample("2d", (x((3, 4)),)), Sample("2d_above", (x((3, 4)), 1)), Sample("2d_below", (x((4, 3)), -2)),
            Sample("2d_outside", (x((3, 4)), 7), tags=("empty",)), Sample("3d", (x((2, 2, 2)),), error=ValueError)]


@gen("diag_embed")
def diag_embed(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("2d", (x((2, 3)),)), Sample("offset_dims", (x((2, 3)), 1, 0, 2)),
            Sample("1d_below", (x((3,)), -1)), Sample("0d", (x(()),), error=ValueError)]


@gen("tensordot")
def tensordot(name, dt, rng):
    if not (_wide_float(dt) or is_int(dt)):
        return []
    x = lambda s: arr(rng, s, dt, -2, 2)  # noqa: E731
    return [Sample("dims2", (x((3, 4, 5)), x((4, 5, 2)))), Sample("dims1", (x((3, 4)), x((4, 2)), 1)),
            Sample("lists", (x((3, 4, 2)), x((4, 3, 5)), ([1, 0], [0, 1]))), Sample("outer", (x((2,)), x((3,)), 0)),
            Sample("mismatch", (x((3, 4)), x((5, 2)), 1), error=ValueError)]


@gen("kron")
def kron(name, dt, rng):
    if dt.name == "bool":
        return []
    x = lambda s: arr(rng, s, dt, -2, 2)  # noqa: E731
    return [Sample("2d", (x((2, 3)), x((3, 2)))), Sample("mixed_ndim", (x((2, 2)), x((3,)))),
            Sample("3d", (x((2, 1, 2)), x((1, 2, 2))))]


@gen("cross")
def cross(name, dt, rng):
    if not (_wide_float(dt) or dt.name in ("int32", "int64")):
        return []
    x = lambda s: arr(rng, s, dt, -3, 3)  # noqa: E731
    return [Sample("last", (x((4, 3)), x((4, 3)), 1)), Sample("dim0", (x((3, 5)), x((3, 5)), 0)),
            Sample("first_size3", (x((2, 3)), x((2, 3)))), Sample("broadcast", (x((1, 3)), x((4, 3)), -1)),
            Sample("not_3", (x((3, 2)), x((3, 2)), 1), error=ValueError)]


@gen("rot90")
def rot90(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    out = [Sample(f"k{k}", (x((3, 4)), k)) for k in (0, 1, 2, 3, -1)]
    return out + [Sample("dims", (x((2, 3, 4)), 1, [1, 2])), Sample("dims_rev", (x((2, 3, 4)), 1, [2, 0])),
                  Sample("same_dims", (x((3, 4)), 1, [0, 0]), error=ValueError)]


@gen("repeat_interleave")
def repeat_interleave(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    out = [Sample("int_flat", (x((2, 3)), 2)), Sample("int_dim", (x((2, 3)), 3, 1)),
           Sample("int_zero", (x((2, 3)), 0, 0), tags=("empty",)),
           Sample("tensor", (x((3, 2)), np.array([1, 0, 2], I64), 0)),
           Sample("tensor_sized", (x((3, 2)), np.array([2, 1], I64), 1), {"output_size": 3}),
           Sample("negative", (x((2,)), -1), error=ValueError)]
    if dt.name == "int64":
        out.append(Sample("repeats_only", (np.array([2, 0, 1], I64),)))
    return out


@gen("block_diag")
def block_diag(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("mixed", ([x((2, 3)), x((2,)), x(())],)), Sample("one", ([x((2, 2))],)),
            Sample("3d", ([x((2, 2, 2))],), error=ValueError)]


@gen("cdist")
def cdist(name, dt, rng):
    if not is_float(dt):
        return [Sample("not_floating", (arr(rng, (3, 2), dt), arr(rng, (4, 2), dt)), error=TypeError)]
    if not _wide_float(dt):
        return []
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample(f"p{p}", (x((3, 4)), x((5, 4)), p)) for p in (2.0, 1.0, 0.0, 3.0, float("inf"))] + [
        Sample("batched", (x((2, 3, 4)), x((2, 5, 4)))), Sample("columns", (x((3, 4)), x((5, 3))), error=ValueError)]


@gen("nan_to_num")
def nan_to_num(name, dt, rng):
    if not is_float(dt):
        return [Sample("copy", (arr(rng, (3, 4), dt),))]
    x = arr(rng, (3, 4), dt)
    x[0, 1] = np.nan
    return [Sample("nan_default", (x,)), Sample("special", (special(dt), 1.0, 2.0, -3.0), tags=("special",)),
            Sample("special_nan_only", (special(dt),), {"posinf": 5.0, "neginf": -5.0}, tags=("special",))]


def _grid(rng, shape, dt):
    """Values from a small grid, so ties between sequence and values happen."""
    return (rng.integers(0, 6, size=shape) * (0.5 if is_float(dt) else 1)).astype(dt.np)


@gen("searchsorted")
def searchsorted(name, dt, rng):
    if dt.name == "bool":
        return []
    seq = np.sort(_grid(rng, (7,), dt))
    vals = _grid(rng, (3, 4), dt)
    seq2 = np.sort(_grid(rng, (3, 5), dt), -1)
    perm = rng.permutation(7)
    return [Sample("left", (seq, vals)), Sample("right", (seq, vals), {"right": True}),
            Sample("side", (seq, vals), {"side": "right"}), Sample("int32", (seq, vals), {"out_int32": True}),
            Sample("batched", (seq2, vals)), Sample("0d", (seq, _grid(rng, (), dt))),
            Sample("sorter", (seq[perm], vals), {"sorter": np.argsort(seq[perm], kind="stable")}),
            Sample("empty", (seq, _grid(rng, (0,), dt)), tags=("empty",)),
            Sample("leading_dims", (seq2, _grid(rng, (2, 4), dt)), error=ValueError)]


@gen("bucketize")
def bucketize(name, dt, rng):
    if dt.name == "bool":
        return []
    b = np.sort(_grid(rng, (5,), dt))
    return [Sample("left", (_grid(rng, (3, 4), dt), b)), Sample("right", (_grid(rng, (3, 4), dt), b), {"right": True}),
            Sample("2d_boundaries", (_grid(rng, (3,), dt), _grid(rng, (2, 2), dt)), error=ValueError)]


@gen("histc")
def histc(name, dt, rng):
    if not is_float(dt):
        return _float_error(name, dt, rng, lambda a: (a,))
    if not _wide_float(dt):
        return []
    x = arr(rng, (20,), dt)
    return [Sample("auto_range", (x, 5)), Sample("range", (arr(rng, (4, 5), dt), 4, -1, 1)),
            Sample("constant", (np.full((3,), 2.0, dt.np), 3)), Sample("bad_range", (x, 4, 2, 1), error=ValueError)]


@gen("bincount")
def bincount(name, dt, rng):
    if is_float(dt) or dt.name == "bool":
        return [Sample("not_integer", (arr(rng, (5,), dt),), error=TypeError)]
    if dt.name != "int64":   # the result is int64 whatever the input's integer dtype (tests check the others)
        return []
    x = rng.integers(0, 5, size=(12,)).astype(np.int64)
    return [Sample("plain", (x,)), Sample("minlength", (x, None, 9)),
            Sample("empty", (np.zeros((0,), np.int64), None, 3), tags=("empty",)),
            Sample("negative", (np.array([1, -1], np.int64),), error=ValueError)]


@gen("unique", "unique_consecutive")
def unique(name, dt, rng):
    x = lambda s: _grid(rng, s, dt) if dt.name != "bool" else arr(rng, s, dt)  # noqa: E731
    rows = x((5, 3))
    rows[3] = rows[1]
    return [Sample("2d", (x((3, 4)),)), Sample("dim0", (rows,), {"dim": 0}), Sample("dim1", (rows.T.copy(),), {"dim": 1}),
            Sample("0d", (x(()),)), Sample("empty", (x((0,)),), tags=("empty",))]


def _median_inputs(rng, dt):
    # distinct values across the whole tensor (the full median's position is then unambiguous)
    whole = arr(rng, (3, 4), dt) if is_float(dt) else _distinct(rng, (3, 4), dt)
    out = [Sample("1d", (_distinct(rng, (5,), dt),)), Sample("2d", (whole,)),
           Sample("0d", (arr(rng, (), dt),))]
    if is_float(dt):
        x = _distinct(rng, (3, 5), dt)
        x[1, 2] = np.nan
        out.append(Sample("nan", (x,), tags=("special",)))
    return out


@gen("median", "nanmedian")
def median(name, dt, rng):
    return [] if dt.name == "bool" else _median_inputs(rng, dt)


@gen("median_dim", "nanmedian_dim")
def median_dim(name, dt, rng):
    if dt.name == "bool":
        return []
    out = [Sample(s.name + "_last", s.args + (-1,), tags=s.tags) for s in _median_inputs(rng, dt)]
    return out + [Sample("dim0_keepdim", (_distinct_cols(rng, (4, 3), dt), 0, True)),
                  Sample("bad_dim", (arr(rng, (3, 4), dt), 2), error=IndexError)]


@gen("kthvalue")
def kthvalue(name, dt, rng):
    if dt.name == "bool":
        return []
    return [Sample("k2", (_distinct(rng, (3, 4), dt), 2)), Sample("dim0", (_distinct_cols(rng, (4, 3), dt), 1, 0, True)),
            Sample("0d", (arr(rng, (), dt), 1)), Sample("k0", (arr(rng, (3, 4), dt), 0), error=IndexError),
            Sample("k_too_big", (arr(rng, (3, 4), dt), 5), error=IndexError)]


def _ties(rng, s, dt):
    return _grid(rng, s, dt) if dt.name != "bool" else arr(rng, s, dt)


@gen("mode")
def mode(name, dt, rng):
    out = [Sample("last", (_ties(rng, (3, 7), dt),)), Sample("dim0_keepdim", (_ties(rng, (6, 3), dt), 0, True)),
           Sample("0d", (_ties(rng, (), dt),))]
    if is_float(dt):   # distinct values first: finite differences of a mode among ties are not its gradient
        out[:0] = [Sample("distinct", (arr(rng, (3, 5), dt),)),
                   Sample("distinct_dim0", (arr(rng, (4, 3), dt), 0, True)), Sample("distinct_0d", (arr(rng, (), dt),))]
    return out


@gen("cummax", "cummin")
def cummax(name, dt, rng):
    # floats: distinct values first (finite differences need them), then ties (the latest index wins)
    x = (lambda s: arr(rng, s, dt)) if is_float(dt) else (lambda s: _ties(rng, s, dt))  # noqa: E731
    out = [Sample("dim1", (x((3, 7)), 1)), Sample("dim0", (x((5, 3)), 0)), Sample("0d", (x(()), 0)),
           Sample("empty", (x((0, 3)), 0), tags=("empty",)), Sample("bad_dim", (x((3, 4)), 2), error=IndexError),
           Sample("ties", (_ties(rng, (3, 7), dt), 1))]
    if is_float(dt):
        out.append(Sample("special", (special(dt), 1), tags=("special",)))
    return out


@gen("logcumsumexp")
def logcumsumexp(name, dt, rng):
    if not is_float(dt):
        return _float_error(name, dt, rng, lambda a: (a, 0))
    if not _wide_float(dt):
        return []
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("dim1", (x((3, 6)), 1)), Sample("dim0", (x((5, 2)), 0)), Sample("0d", (x(()), 0)),
            Sample("wide_range", (np.array([-30.0, 5.0, -2.0, 40.0, 1.0], dt.np), 0))]


@gen("quantile", "nanquantile")
def quantile(name, dt, rng):
    if not _wide_float(dt):
        return [] if is_float(dt) else _float_error(name, dt, rng, lambda a: (a, 0.5))
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    q = np.array([0.15, 0.35, 0.65, 0.85], dt.np)      # inside (0, 1) and off whole ranks: the gradient check nudges q
    out = [Sample("all", (x((3, 4)), 0.3)), Sample("dim", (x((3, 5)), q, 1)),
           Sample("keepdim", (x((4, 3)), 0.75, 0, True)), Sample("all_keepdim", (x((2, 3)), q, None, True))]
    out += [Sample(m, (x((3, 6)), q, -1), {"interpolation": m}) for m in ("lower", "higher", "midpoint", "nearest")]
    nan = x((3, 5))
    nan[1, 3] = np.nan
    nan[2, :] = np.nan
    out += [Sample("nan", (nan, q, 1), tags=("special",)), Sample("q_range", (x((3,)), 1.5), error=ValueError),
            Sample("q_ends", (x((3, 4)), np.array([0.0, 1.0], dt.np), 0))]
    return out


@gen("aminmax")
def aminmax(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("all", (x((3, 4)),)), Sample("dim", (x((3, 4)),), {"dim": 1}),
            Sample("keepdim", (x((3, 4)),), {"dim": 0, "keepdim": True}),
            Sample("empty", (x((0, 3)),), {"dim": 0}, error=IndexError)]


@gen("count_nonzero")
def count_nonzero(name, dt, rng):
    x = lambda s: _grid(rng, s, dt) if dt.name != "bool" else arr(rng, s, dt)  # noqa: E731
    return [Sample("all", (x((3, 4)),)), Sample("dim", (x((3, 4)), 1)), Sample("dims", (x((2, 3, 4)), [0, 2])),
            Sample("bad_dim", (x((3, 4)), 2), error=IndexError)]


@gen("isclose")
def isclose(name, dt, rng):
    x = arr(rng, (3, 4), dt)
    if dt.name == "bool":
        return [Sample("plain", (x, arr(rng, (3, 4), dt)))]
    if is_int(dt):
        return [Sample("atol", (x, _grid(rng, (3, 4), dt), 0.0, 1.0)), Sample("exact", (x, x.copy(), 0.0, 0.0))]
    big = np.float64(np.finfo(np.float16).eps if dt.name != "float64" else 1e-3)
    near = (x.astype(np.float64) * (1 + rng.choice([0.1, 10.0], size=x.shape) * big)).astype(dt.np)
    s = special(dt)
    return [Sample("near", (x, near, 1e-2 if dt.name == "bfloat16" else float(big) * 3)),
            Sample("special", (s, s[::-1].copy()), tags=("special",)),
            Sample("equal_nan", (s, s.copy()), {"equal_nan": True}, tags=("special",)),
            Sample("broadcast", (x, x[0].copy())),
            Sample("dtypes", (x, x.astype(np.int64)), error=TypeError)]


@gen("poisson")
def poisson(name, dt, rng):
    if not is_float(dt):
        return _float_error(name, dt, rng, lambda a: (a,))
    return [Sample("rates", (arr(rng, (3, 4), dt, 0.5, 30.0),), tags=("random",))]


def _poisson_values_are_random():
    """poisson's values are draws (seeded alike on every backend, as the other random operators)."""
    from .divergence import _RANDOM_REASON, UNDEFINED_VALUES
    UNDEFINED_VALUES.setdefault("poisson", _RANDOM_REASON)


_poisson_values_are_random()
