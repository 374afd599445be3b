"""Reductions, scans and softmax against numpy in float64 (PyTorch where the two differ).

Each test loops over input layouts (0-d, empty, contiguous, transposed,
step-sliced, broadcast, permuted) and over dims and keepdim, so a failure
message names the case.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import ember
from ember import dtypes as D
from ember.dispatch import registry
from ember.ops.views import slice_

FLOATS = (D.float16, D.bfloat16, D.float32, D.float64)
INTS = (D.uint8, D.int8, D.int16, D.int32, D.int64)
ALL = (D.bool,) + INTS + FLOATS

# (rtol, atol) for a result of this dtype against a float64 reference: one rounding
# of the result (float16/bfloat16 accumulate in float32), with room for summation order.
TOL = {D.float16: (2e-3, 2e-3), D.bfloat16: (1.6e-2, 1.6e-2), D.float32: (2e-5, 2e-5),
       D.float64: (1e-12, 1e-12)}

rng = np.random.default_rng(0)


def _values(shape, dt, kind="normal"):
    """Random values representable in dt, as a numpy array of dt."""
    if dt is D.bool:
        return rng.random(shape) < 0.5
    if dt.is_floating_point:
        if kind == "prod":
            v = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
        else:
            v = rng.standard_normal(shape) * 2
        return v.astype(dt.np)
    lo, hi = ((0, 4) if dt is D.uint8 else (-3, 4)) if kind == "prod" else ((0, 10) if dt is D.uint8 else (-5, 6))
    return rng.integers(lo, hi, shape).astype(dt.np)


# layout -> (base shape, numpy view, ember view)
LAYOUTS = {
    "0d": ((), lambda a: a, lambda t: t),
    "vec": ((7,), lambda a: a, lambda t: t),
    "empty": ((0, 3), lambda a: a, lambda t: t),
    "empty3": ((2, 0, 3), lambda a: a, lambda t: t),
    "mat": ((3, 4), lambda a: a, lambda t: t),
    "cube": ((2, 3, 4), lambda a: a, lambda t: t),
    "transposed": ((4, 3), lambda a: a.T, lambda t: t.transpose(0, 1)),
    "stepped": ((6, 9), lambda a: a[::2, 1::3], lambda t: slice_(slice_(t, 0, None, None, 2), 1, 1, None, 3)),
    "expanded": ((1, 4), lambda a: np.broadcast_to(a, (3, 4)), lambda t: t.expand(3, 4)),
    "permuted": ((2, 3, 4), lambda a: a.transpose(2, 0, 1), lambda t: t.permute(2, 0, 1)),
}
NONCONTIG = ("transposed", "stepped", "expanded", "permuted")


def cases(dt, kind="normal", layouts=LAYOUTS):
    for name in layouts:
        shape, fa, ft = LAYOUTS[name]
        base = _values(shape, dt, kind)
        a = fa(base)
        t = ft(ember.tensor(base))
        assert tuple(t.shape) == a.shape
        if name in NONCONTIG:
            assert not t.is_contiguous(), name
        yield name, t, np.asarray(a)


def dim_choices(nd):
    """Dim arguments for a tensor of nd dims: None, ints (also negative), tuples, lists, ()."""
    if nd == 0:
        return [None, 0, -1, (0,), [-1], ()]
    if nd == 1:
        return [None, 0, -1, (0,), []]
    if nd == 2:
        return [None, 0, 1, -1, (0, 1), (-1, 0), [1], ()]
    return [None, 0, 2, -2, (0, 2), (2, 0, 1), [-1, -3], ()]


def axis_of(dim, nd, empty_means_all=True):
    """The numpy axis tuple a dim argument names."""
    if dim is None:
        return tuple(range(nd))
    if isinstance(dim, int):
        dim = (dim,)
    if len(dim) == 0:
        return tuple(range(nd)) if empty_means_all else ()
    if nd == 0:
        return ()
    return tuple(sorted(d % nd for d in dim))


def reduced_shape(shape, axes, keepdim):
    if keepdim:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def f64(a):
    return np.asarray(a).astype(np.float64)


def check(got, ref, dtype, shape, ctx=""):
    """got's dtype and shape exactly, its values against the float64 reference."""
    assert got.dtype is dtype, f"{ctx}: dtype {got.dtype} != {dtype}"
    assert tuple(got.shape) == tuple(shape), f"{ctx}: shape {tuple(got.shape)} != {tuple(shape)}"
    ref = np.broadcast_to(np.asarray(ref), shape)
    g = got.numpy()
    if dtype.is_floating_point:
        rtol, atol = TOL[dtype]
        np.testing.assert_allclose(f64(g), f64(ref), rtol=rtol, atol=atol, equal_nan=True, err_msg=ctx)
    else:
        np.testing.assert_array_equal(g, ref.astype(dtype.np), err_msg=ctx)


def accumulate_dtype(dt):
    return D.int64 if dt.category < 2 else dt


@pytest.fixture(autouse=True)
def _quiet_numpy():
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


# -- sum / prod --------------------------------------------------------------------

@pytest.mark.parametrize("dt", ALL, ids=lambda d: d.name)
@pytest.mark.parametrize("name", ["sum", "prod"])
def test_sum_prod(name, dt):
    ref_fn = {"sum": np.sum, "prod": np.prod}[name]
    for lay, t, a in cases(dt, "prod" if name == "prod" else "normal"):
        for dim in dim_choices(a.ndim):
            for keepdim in (False, True):
                ctx = f"{name} {dt.name} {lay} dim={dim} keepdim={keepdim}"
                axes = axis_of(dim, a.ndim)
                got = getattr(t, name)(dim, keepdim) if dim is not None else getattr(ember, name)(t, keepdim=keepdim)
                out_dt = accumulate_dtype(dt)
                src = a.astype(np.int64) if out_dt is D.int64 else f64(a)
                check(got, ref_fn(src, axis=axes, keepdims=keepdim), out_dt, reduced_shape(a.shape, axes, keepdim), ctx)


def test_sum_prod_of_empty_are_identities():
    e = ember.zeros(0, 3)
    assert e.sum().item() == 0 and e.prod().item() == 1
    check(e.sum(0), np.zeros(3), D.float32, (3,))
    check(e.prod(0), np.ones(3), D.float32, (3,))
    check(ember.zeros(0, dtype=ember.int8).sum(), 0, D.int64, ())
    check(ember.zeros(2, 0, dtype=ember.bool).prod(1, keepdim=True), np.ones((2, 1)), D.int64, (2, 1))


@pytest.mark.parametrize("src,dtype,expected", [
    ([1.7, 2.7], D.int64, 3),                  # each value is cast first, as in PyTorch
    ([100, 100], D.int8, -56),                 # wraps like a cast
    ([True, True, False], D.int32, 2),
    ([3, 4], D.bool, True),
    ([1, 2, 3], D.float32, 6.0),
    ([0.5, 0.25], D.float64, 0.75),
    ([1, 2, 3], D.bfloat16, 6.0),
])
def test_sum_dtype_argument(src, dtype, expected):
    t = ember.tensor(np.array(src, dtype=np.int8 if src == [100, 100] else None))
    got = t.sum(dtype=dtype)
    assert got.dtype is dtype
    assert got.item() == expected


def test_prod_and_cumsum_dtype_argument():
    x = ember.tensor([[1.5, 2.0], [3.0, 4.0]])
    check(x.prod(0, dtype=ember.int32), [3, 8], D.int32, (2,))
    check(x.prod(dtype=ember.float64), 36.0, D.float64, ())
    check(x.cumsum(1, dtype=ember.int64), [[1, 3], [3, 7]], D.int64, (2, 2))
    check(x.cumprod(0, dtype="float16"), [[1.5, 2.0], [4.5, 8.0]], D.float16, (2, 2))
    check(ember.tensor([0.1, 0.2]).sum(dtype=ember.float16), 0.3, D.float16, ())


@pytest.mark.parametrize("dt", [D.float16, D.bfloat16], ids=lambda d: d.name)
def test_half_precision_accumulates_in_float32(dt):
    # 4096 copies of 0.1: float32 accumulation is exact here; float16 accumulation would stall.
    x = ember.full((4096,), 0.1, dtype=dt)
    v = float(np.asarray(0.1, dtype=np.float32).astype(dt.np).astype(np.float64))
    exact = v * 4096
    assert float(x.sum()) == exact
    assert float(x.cumsum(0).numpy()[-1].astype(np.float64)) == exact
    assert abs(float(x.mean().numpy().astype(np.float64)) - v) <= TOL[dt][0] * v
    assert float(x.reshape(64, 64).sum((0, 1)).numpy().astype(np.float64)) == exact


def test_integer_sums_are_int64_and_do_not_overflow_small_dtypes():
    x = ember.tensor(np.full(300, 100, dtype=np.int8))
    check(x.sum(), 30000, D.int64, ())
    check(ember.tensor(np.full(4, 200, dtype=np.uint8)).cumsum(0), [200, 400, 600, 800], D.int64, (4,))


# -- mean / var / std ----------------------------------------------------------------

@pytest.mark.parametrize("dt", FLOATS, ids=lambda d: d.name)
def test_mean(dt):
    for lay, t, a in cases(dt):
        for dim in dim_choices(a.ndim):
            for keepdim in (False, True):
                axes = axis_of(dim, a.ndim)
                got = t.mean(dim, keepdim)
                check(got, np.mean(f64(a), axis=axes, keepdims=keepdim), dt,
                      reduced_shape(a.shape, axes, keepdim), f"mean {dt.name} {lay} dim={dim} keepdim={keepdim}")


def test_mean_dtype_argument_and_empty():
    x = ember.tensor([[1, 2], [3, 5]])
    check(x.mean(dtype=ember.float32), 2.75, D.float32, ())
    check(ember.mean(x, 0, True, dtype=ember.float64), [[2.0, 3.5]], D.float64, (1, 2))
    check(x.mean(1, dtype=ember.bfloat16), [1.5, 4.0], D.bfloat16, (2,))
    check(ember.zeros(0, 2).mean(), np.nan, D.float32, ())
    check(ember.zeros(0, 2).mean(0), [np.nan, np.nan], D.float32, (2,))


@pytest.mark.parametrize("dt", [D.bool, D.uint8, D.int32, D.int64], ids=lambda d: d.name)
def test_mean_of_integers_asks_for_dtype(dt):
    x = ember.tensor(np.array([1, 0, 1], dtype=dt.np))
    with pytest.raises(ember.DTypeError, match=rf"mean\(\).*{dt.name}.*dtype="):
        x.mean()
    with pytest.raises(ember.DTypeError, match=r"int64"):
        ember.tensor([1.0]).mean(dtype=ember.int64)


def _var_ref(a, axes, correction, keepdim):
    n = int(np.prod([a.shape[i] for i in axes])) if axes else 1
    m = np.mean(f64(a), axis=axes, keepdims=True) if a.size else np.full(reduced_shape(a.shape, axes, True), np.nan)
    ss = np.sum((f64(a) - m) ** 2, axis=axes, keepdims=keepdim)
    return ss / max(0, n - correction)


@pytest.mark.parametrize("dt", FLOATS, ids=lambda d: d.name)
def test_var_std(dt):
    for lay, t, a in cases(dt):
        for dim in dim_choices(a.ndim)[:5]:
            for keepdim in (False, True):
                for correction in (None, 0, 1, 2, 0.5):
                    c = 1 if correction is None else correction
                    axes = axis_of(dim, a.ndim)
                    shape = reduced_shape(a.shape, axes, keepdim)
                    ref = _var_ref(a, axes, c, keepdim)
                    ctx = f"var {dt.name} {lay} dim={dim} keepdim={keepdim} correction={correction}"
                    check(t.var(dim, correction=correction, keepdim=keepdim), ref, dt, shape, ctx)
                    check(ember.std(t, dim, correction=correction, keepdim=keepdim), np.sqrt(ref), dt, shape, ctx)


def test_var_std_legacy_unbiased_forms():
    a = rng.standard_normal((3, 4))
    x = ember.tensor(a)
    check(x.var(0, True), np.var(a, 0, ddof=1), D.float64, (4,))
    check(x.var(0, False), np.var(a, 0), D.float64, (4,))
    check(x.var(True), np.var(a, ddof=1), D.float64, ())
    check(x.std(False), np.std(a), D.float64, ())
    check(x.var(1, True, True), np.var(a, 1, ddof=1, keepdims=True), D.float64, (3, 1))
    check(ember.std(x, unbiased=False), np.std(a), D.float64, ())
    check(x.var([0, 1], correction=0), np.var(a), D.float64, ())
    check(ember.zeros(3).var(correction=5), np.nan, D.float32, ())   # 0 / 0
    check(ember.tensor([1.0, 3.0]).var(correction=3), np.inf, D.float32, ())  # 2 / max(0, -1)
    check(ember.tensor(2.5).var(), np.nan, D.float32, ())
    with pytest.raises(TypeError, match="not both"):
        x.var(0, unbiased=True, correction=1)
    with pytest.raises(TypeError, match="unbiased must be a bool"):
        x.var(0, 1)
    with pytest.raises(TypeError, match="correction must be a number"):
        x.var(0, correction="one")


def test_var_mean_std_mean():
    a = rng.standard_normal((3, 5)).astype(np.float32)
    x = ember.tensor(a)
    v, m = ember.var_mean(x, 1)
    check(v, np.var(f64(a), 1, ddof=1), D.float32, (3,))
    check(m, np.mean(f64(a), 1), D.float32, (3,))
    s, m = ember.std_mean(x, unbiased=False, keepdim=True)
    check(s, np.std(f64(a), keepdims=True), D.float32, (1, 1))
    check(m, np.mean(f64(a), keepdims=True), D.float32, (1, 1))
    s, m = ember.std_mean(x.to(ember.float16), 0, correction=0)
    check(s, np.std(f64(a.astype(np.float16)), 0), D.float16, (5,))


@pytest.mark.parametrize("name", ["var", "std", "var_mean", "std_mean"])
def test_var_of_integers_is_an_error(name):
    with pytest.raises(ember.DTypeError, match=rf"{name}\(\).*int64.*\.float\(\)"):
        getattr(ember, name)(ember.tensor([1, 2, 3]))


# -- amax / amin / max / min -----------------------------------------------------------

@pytest.mark.parametrize("dt", ALL, ids=lambda d: d.name)
@pytest.mark.parametrize("name", ["amax", "amin"])
def test_amax_amin(name, dt):
    ref_fn = {"amax": np.max, "amin": np.min}[name]
    for lay, t, a in cases(dt):
        for dim in dim_choices(a.ndim):
            for keepdim in (False, True):
                ctx = f"{name} {dt.name} {lay} dim={dim} keepdim={keepdim}"
                axes = axis_of(dim, a.ndim)
                if any(a.shape[i] == 0 for i in axes) or (a.size == 0 and not axes):
                    with pytest.raises(ember.IndexOutOfRangeError, match=rf"{name}\(\).*(zero-size dim|empty)"):
                        getattr(t, name)(dim, keepdim)
                    continue
                got = getattr(t, name)(dim, keepdim)
                ref = ref_fn(a if dt is D.bool or not dt.is_floating_point else f64(a), axis=axes, keepdims=keepdim)
                check(got, ref, dt, reduced_shape(a.shape, axes, keepdim), ctx)


@pytest.mark.parametrize("dt", ALL, ids=lambda d: d.name)
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_forms(name, dt):
    ref_val, ref_idx = {"max": (np.max, np.argmax), "min": (np.min, np.argmin)}[name]
    fn = getattr(ember, name)
    for lay, t, a in cases(dt):
        ra = a if not dt.is_floating_point else f64(a)
        if a.size:
            check(fn(t), ref_val(ra), dt, (), f"{name} full {lay}")
            check(getattr(t, name)(), ref_val(ra), dt, (), f"{name} full {lay}")
        else:
            with pytest.raises(ember.IndexOutOfRangeError, match=rf"{name}\(\).*empty tensor"):
                fn(t)
        for dim in range(-max(a.ndim, 1), max(a.ndim, 1)):
            for keepdim in (False, True):
                ctx = f"{name} {dt.name} {lay} dim={dim} keepdim={keepdim}"
                d = dim % a.ndim if a.ndim else None
                if a.ndim and a.shape[d] == 0:
                    with pytest.raises(ember.IndexOutOfRangeError, match=rf"{name}\(\).*zero-size dim.*dim {d} "):
                        getattr(t, name)(dim, keepdim)
                    continue
                r = getattr(t, name)(dim, keepdim=keepdim)
                assert type(r).__name__ == name and r.values is r[0] and r.indices is r[1]
                shape = reduced_shape(a.shape, (d,), keepdim) if a.ndim else ()
                check(r.values, ref_val(ra, axis=d, keepdims=keepdim and a.ndim > 0), dt, shape, ctx)
                check(r.indices, ref_idx(ra, axis=d, keepdims=keepdim and a.ndim > 0), D.int64, shape, ctx)


def test_max_min_binary_and_argument_errors():
    a, b = ember.tensor([1.0, 5.0, 3.0]), ember.tensor([4.0, 2.0, 3.0])
    check(ember.max(a, b), [4, 5, 3], D.float32, (3,))
    check(a.min(b), [1, 2, 3], D.float32, (3,))
    check(ember.max(a, other=ember.tensor(2)), [2, 5, 3], D.float32, (3,))
    check(ember.min(ember.tensor([1, 7]), ember.tensor([2.5, 0.5])), [1, 0.5], D.float32, (2,))
    with pytest.raises(TypeError, match="keepdim=True needs a dim"):
        a.max(keepdim=True)
    with pytest.raises(TypeError, match="no dim or keepdim"):
        ember.max(a, b, True)
    with pytest.raises(TypeError, match="dim must be an integer"):
        a.max(1.5)
    with pytest.raises(TypeError, match="dim must be an integer"):
        a.max((0,))


def test_max_dim_decomposition_matches_kernel():
    # cpu runs max_dim/min_dim with its one-pass kernel; backends without one use amax + argmax.
    a = rng.standard_normal((4, 5)).astype(np.float32)
    a[1, 2] = np.nan
    x = ember.tensor(a).transpose(0, 1)
    for name in ("max_dim", "min_dim"):
        op = registry[name]
        for dim in (0, 1, -1):
            for keepdim in (False, True):
                v1, i1 = getattr(ember, name)(x, dim, keepdim)
                v2, i2 = op.decomposition(x, dim, keepdim)
                np.testing.assert_array_equal(v1.numpy(), v2.numpy())
                np.testing.assert_array_equal(i1.numpy(), i2.numpy())
                assert v1.dtype is v2.dtype and i1.dtype is i2.dtype is D.int64
        v, i = op.decomposition(ember.tensor(3.0), 0, True)
        assert v.shape == () and i.item() == 0


@pytest.mark.parametrize("dt", FLOATS, ids=lambda d: d.name)
def test_nan_propagation(dt):
    a = np.array([[1.0, np.nan, 3.0, np.nan], [2.0, -1.0, 0.5, 4.0]], dtype=dt.np)
    x = ember.tensor(a)
    assert np.isnan(float(x.amax().numpy().astype(np.float64)))
    assert np.isnan(float(x.min().numpy().astype(np.float64)))
    check(x.amax(1), [np.nan, 4.0], dt, (2,))
    check(x.amin(1), [np.nan, -1.0], dt, (2,))
    check(x.argmax(1), [1, 3], D.int64, (2,))   # the first NaN wins
    check(x.argmin(1), [1, 1], D.int64, (2,))
    check(x.argmax(), 1, D.int64, ())
    r = x.max(1)
    check(r.values, [np.nan, 4.0], dt, (2,))
    check(r.indices, [1, 3], D.int64, (2,))
    r = x.min(0)
    check(r.values, [1.0, np.nan, 0.5, np.nan], dt, (4,))
    check(r.indices, [0, 0, 1, 0], D.int64, (4,))
    check(x.sum(1), [np.nan, 5.5], dt, (2,))
    check(x.any(1), [True, True], D.bool, (2,))  # NaN is nonzero
    check(ember.tensor(np.array([np.nan, 0], dtype=dt.np)).all(), False, D.bool, ())


# -- argmax / argmin -----------------------------------------------------------------------

@pytest.mark.parametrize("dt", ALL, ids=lambda d: d.name)
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin(name, dt):
    ref_fn = {"argmax": np.argmax, "argmin": np.argmin}[name]
    for lay, t, a in cases(dt):
        ra = a if not dt.is_floating_point else f64(a)
        for dim in [None] + list(range(-max(a.ndim, 1), max(a.ndim, 1))):
            for keepdim in (False, True):
                ctx = f"{name} {dt.name} {lay} dim={dim} keepdim={keepdim}"
                d = None if dim is None else (dim % a.ndim if a.ndim else None)
                if (dim is None and a.size == 0) or (d is not None and a.shape[d] == 0):
                    with pytest.raises(ember.IndexOutOfRangeError, match=rf"{name}\(\)"):
                        getattr(t, name)(dim, keepdim)
                    continue
                got = getattr(ember, name)(t, dim, keepdim)
                if a.ndim == 0:
                    check(got, 0, D.int64, (), ctx)
                    continue
                shape = ((1,) * a.ndim if keepdim else ()) if d is None else reduced_shape(a.shape, (d,), keepdim)
                check(got, ref_fn(ra, axis=d, keepdims=keepdim), D.int64, shape, ctx)


# -- all / any ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dt", ALL, ids=lambda d: d.name)
@pytest.mark.parametrize("name", ["all", "any"])
def test_all_any(name, dt):
    ref_fn = {"all": np.all, "any": np.any}[name]
    for lay, t, a in cases(dt):
        if dt is not D.bool and a.size:
            a = a.copy()
            a.flat[::3] = 0  # some zeros, so that both answers occur
            t = ember.tensor(a)
        for dim in dim_choices(a.ndim):
            for keepdim in (False, True):
                ctx = f"{name} {dt.name} {lay} dim={dim} keepdim={keepdim}"
                axes = axis_of(dim, a.ndim, empty_means_all=False)  # dim=() reduces nothing, as in PyTorch
                got = getattr(t, name)(dim, keepdim)
                want = D.uint8 if dt is D.uint8 else D.bool  # PyTorch keeps uint8 for all/any
                check(got, ref_fn(a, axis=axes, keepdims=keepdim), want, reduced_shape(a.shape, axes, keepdim), ctx)


def test_all_any_of_empty():
    e = ember.zeros(0, 2)
    assert e.all().item() is True and e.any().item() is False
    check(e.all(0), [True, True], D.bool, (2,))
    check(e.any(1), np.zeros(0, bool), D.bool, (0,))


# -- logsumexp ----------------------------------------------------------------------------------

def _lse_ref(a, axes, keepdim):
    a = f64(a)
    if a.size == 0 or not all(a.shape[i] for i in axes):
        return np.log(np.sum(np.exp(a), axis=axes, keepdims=keepdim))
    m = np.max(a, axis=axes, keepdims=True)
    m = np.where(np.isinf(m), 0, m)
    r = np.log(np.sum(np.exp(a - m), axis=axes, keepdims=True)) + m
    return r if keepdim else np.squeeze(r, axis=axes)


@pytest.mark.parametrize("dt", (D.bool, D.int32, D.int64) + FLOATS, ids=lambda d: d.name)
def test_logsumexp(dt):
    out_dt = dt if dt.is_floating_point else D.float32
    for lay, t, a in cases(dt):
        for dim in dim_choices(a.ndim):
            if dim is None:
                continue  # dim is required, as in PyTorch
            for keepdim in (False, True):
                axes = axis_of(dim, a.ndim)
                check(t.logsumexp(dim, keepdim), _lse_ref(a, axes, keepdim), out_dt,
                      reduced_shape(a.shape, axes, keepdim), f"logsumexp {dt.name} {lay} dim={dim} keepdim={keepdim}")


def test_logsumexp_is_stable_and_handles_infinities():
    inf, nan = np.inf, np.nan
    x = ember.tensor([[1000.0, 1000.0], [-1000.0, -1000.0], [-inf, -inf], [inf, 1.0], [inf, -inf], [nan, 1.0]])
    check(x.logsumexp(1), [1000 + np.log(2), -1000 + np.log(2), -inf, inf, inf, nan], D.float32, (6,))
    check(ember.logsumexp(ember.zeros(0), 0), -inf, D.float32, ())
    check(ember.zeros(0, 3).logsumexp(0), [-inf] * 3, D.float32, (3,))
    check(ember.zeros(0, 3).logsumexp(1, keepdim=True), np.zeros((0, 1)), D.float32, (0, 1))
    check(ember.tensor(1).logsumexp(0), 1.0, D.float32, ())
    with pytest.raises(TypeError):
        ember.logsumexp(x)


# -- cumsum / cumprod ------------------------------------------------------------------------------

@pytest.mark.parametrize("dt", ALL, ids=lambda d: d.name)
@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_cumsum_cumprod(name, dt):
    ref_fn = {"cumsum": np.cumsum, "cumprod": np.cumprod}[name]
    out_dt = accumulate_dtype(dt)
    for lay, t, a in cases(dt, "prod" if name == "cumprod" else "normal"):
        src = a.astype(np.int64) if out_dt is D.int64 else f64(a)
        for dim in range(-max(a.ndim, 1), max(a.ndim, 1)):
            ctx = f"{name} {dt.name} {lay} dim={dim}"
            got = getattr(t, name)(dim)
            ref = src if a.ndim == 0 else ref_fn(src, axis=dim)
            check(got, ref, out_dt, a.shape, ctx)


def test_cumsum_requires_one_int_dim():
    x = ember.ones(2, 3)
    with pytest.raises(TypeError):
        x.cumsum()
    with pytest.raises(TypeError, match="dim must be an integer"):
        x.cumsum((0,))
    with pytest.raises(ember.IndexOutOfRangeError, match=r"cumprod\(\): dimension 2 .* 2 dimension"):
        x.cumprod(2)


# -- softmax / log_softmax ---------------------------------------------------------------------------

def _softmax_ref(a, axis):
    a = f64(a)
    if a.size == 0:
        return a
    e = np.exp(a - np.max(a, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


@pytest.mark.parametrize("dt", FLOATS, ids=lambda d: d.name)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_log_softmax(name, dt):
    for lay, t, a in cases(dt):
        for dim in range(-max(a.ndim, 1), max(a.ndim, 1)):
            axis = dim if a.ndim else None
            ref = _softmax_ref(a, axis)
            if name == "log_softmax":
                ref = np.log(ref)
            check(getattr(t, name)(dim), ref, dt, a.shape, f"{name} {dt.name} {lay} dim={dim}")


def test_softmax_dtype_argument_stability_and_errors():
    x = ember.tensor([[1, 2, 3], [1000, 1000, 1000]])
    ref = _softmax_ref(np.array([[1, 2, 3], [1000, 1000, 1000]]), 1)
    check(x.softmax(1, dtype=ember.float64), ref, D.float64, (2, 3))
    check(ember.log_softmax(x, 1, ember.float32), np.log(ref), D.float32, (2, 3))
    check(ember.tensor([0.1, 0.9]).softmax(0, ember.float16), _softmax_ref(np.float16([0.1, 0.9]), 0),
          D.float16, (2,))
    big = ember.tensor([[1e4, 0.0], [-1e4, 0.0]])
    check(big.log_softmax(1), [[0.0, -1e4], [-1e4, 0.0]], D.float32, (2, 2))
    inf = np.inf
    check(ember.tensor([[-inf, -inf], [-inf, 1.0]]).softmax(1), [[np.nan, np.nan], [0.0, 1.0]], D.float32, (2, 2))
    check(ember.tensor([[-inf, 1.0]]).log_softmax(1), [[-inf, 0.0]], D.float32, (1, 2))
    check(ember.zeros(0, 3).softmax(0), np.zeros((0, 3)), D.float32, (0, 3))
    check(ember.tensor(2.0).softmax(0), 1.0, D.float32, ())
    with pytest.raises(ember.DTypeError, match=r"softmax\(\).*int64.*dtype="):
        x.softmax(1)
    with pytest.raises(ember.DTypeError, match=r"log_softmax\(\).*dtype= must be a floating dtype.*int32"):
        ember.tensor([1.0]).log_softmax(0, ember.int32)


# -- dims: errors and forms -----------------------------------------------------------------------------

DIM_OPS = ["sum", "prod", "mean", "amax", "amin", "all", "any", "argmax", "argmin", "var", "std",
           "logsumexp", "cumsum", "cumprod", "softmax", "log_softmax", "max", "min"]


@pytest.mark.parametrize("name", DIM_OPS)
@pytest.mark.parametrize("dim", [2, -3, 7])
def test_dim_out_of_range_names_dim_and_ndim(name, dim):
    x = ember.ones(2, 3)
    with pytest.raises(ember.IndexOutOfRangeError, match=rf"{name}\(\): dimension {dim} .* 2 dimension.*\[-2, 1\]"):
        getattr(x, name)(dim)


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "argmax", "cumsum", "softmax", "max"])
def test_zero_d_accepts_dim_0_and_minus_1_only(name):
    x = ember.tensor(1.5)
    for dim in (0, -1):
        r = getattr(x, name)(dim)
        r = r[0] if isinstance(r, tuple) else r
        assert r.shape == ()
    with pytest.raises(ember.IndexOutOfRangeError, match=r"dimension 1 .* 0 dimension.*\[-1, 0\]"):
        getattr(x, name)(1)


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "all", "any", "var", "logsumexp"])
def test_repeated_and_non_integer_dims(name):
    x = ember.ones(2, 3)
    with pytest.raises(ValueError, match=r"more than once"):
        getattr(x, name)((0, -2))
    with pytest.raises(TypeError, match=r"dim must be an integer.*1.5"):
        getattr(x, name)(1.5)


def test_full_reductions_of_empty_without_identity():
    e = ember.zeros(2, 0)
    for name in ("amax", "amin", "argmax", "argmin", "max", "min"):
        with pytest.raises(ember.IndexOutOfRangeError, match=rf"{name}\(\).*empty tensor.*\(2, 0\)"):
            getattr(e, name)()
    with pytest.raises(ember.IndexOutOfRangeError, match=r"amax\(\).*zero-size dim.*dim 1 .*\(2, 0\)"):
        e.amax((0, 1))
    check(e.amax(0), np.zeros(0), D.float32, (0,))
    r = e.max(0)
    assert r.values.shape == (0,) and r.indices.dtype is D.int64


def test_dtype_names_and_numpy_dtypes_are_accepted():
    x = ember.tensor([1, 2, 3])
    assert x.sum(dtype="float64").dtype is D.float64
    assert x.sum(dtype=np.int32).dtype is D.int32
    with pytest.raises(ember.DTypeError):
        x.sum(dtype=object)


# -- the meta device ----------------------------------------------------------------------------------

META_CASES = [
    ("sum", (1,), {}), ("sum", ((0, 2),), {"keepdim": True}), ("sum", (), {"dtype": D.float16}),
    ("prod", (-1,), {}), ("mean", ((1, 2),), {}), ("amax", (0,), {"keepdim": True}), ("amin", (), {}),
    ("all", ((),), {}), ("any", (2,), {}), ("argmax", (), {"keepdim": True}), ("argmin", (1,), {}),
    ("var", (1,), {"correction": 0}), ("std", (), {}), ("logsumexp", ((0, 1),), {}),
    ("cumsum", (1,), {}), ("cumprod", (0,), {"dtype": D.float64}), ("softmax", (-1,), {}),
    ("log_softmax", (0,), {}), ("max", (), {}), ("min", (2,), {"keepdim": True}), ("max", (1,), {}),
]


@pytest.mark.parametrize("dt", [D.float32, D.bfloat16, D.int32], ids=lambda d: d.name)
def test_meta_device_matches_cpu_shapes_and_dtypes(dt):
    cpu = ember.tensor(_values((2, 3, 4), dt))
    meta = ember.empty(2, 3, 4, dtype=dt, device="meta")
    for name, args, kw in META_CASES:
        try:
            want = getattr(cpu, name)(*args, **kw)
        except ember.DTypeError:
            with pytest.raises(ember.DTypeError):
                getattr(meta, name)(*args, **kw)
            continue
        got = getattr(meta, name)(*args, **kw)
        want = tuple(want) if isinstance(want, tuple) else (want,)
        got = tuple(got) if isinstance(got, tuple) else (got,)
        assert len(got) == len(want), name
        for g, w in zip(got, want):
            assert g.device.type == "meta", name
            assert g.shape == w.shape and g.dtype is w.dtype, (name, args, kw, g.shape, w.shape, g.dtype, w.dtype)
    v, m = ember.var_mean(meta.to(ember.float32) if dt is D.int32 else meta, 1)
    assert v.shape == m.shape == (2, 4)


def test_meta_device_raises_the_same_errors():
    e = ember.empty(0, 3, device="meta")
    with pytest.raises(ember.IndexOutOfRangeError, match="empty tensor"):
        e.max()
    with pytest.raises(ember.IndexOutOfRangeError, match="zero-size dim.*dim 0 "):
        e.argmax(0)
    with pytest.raises(ember.IndexOutOfRangeError, match="dimension 2"):
        e.sum(2)
    with pytest.raises(ember.DTypeError):
        ember.empty(3, dtype=ember.int64, device="meta").mean()
    assert e.sum(0).shape == (3,) and e.amax(1).shape == (0,)


# -- registry and PyTorch agreement ---------------------------------------------------------------------

def test_prims_and_composites_are_declared():
    prims = {"sum", "amax"}
    kernel_forms = {"prod", "amin", "argmax", "argmin", "all", "any", "cumsum", "cumprod"}  # decomposed in kernel form
    composites = {"mean", "var", "std", "var_mean", "std_mean", "logsumexp", "softmax", "log_softmax",
                  "max", "min", "max_dim", "min_dim"}
    for n in prims:
        assert registry[n].is_prim and registry[n].family == "reduction" and "kernel(" in registry[n].doc
    for n in kernel_forms:
        op = registry[n]
        assert not op.is_prim and op.decomposition is not None and op.family == "reduction", n
        assert "kernel(" in op.doc, n
    for n in composites:
        assert not registry[n].is_prim and registry[n].decomposition is not None, n
    assert ember.Tensor.max is ember.max and ember.Tensor.var is ember.var


def test_composites_run_from_their_decompositions_alone():
    # What a backend with only the prims gets: the decompositions, called directly.
    a = rng.standard_normal((3, 4)).astype(np.float32)
    x = ember.tensor(a)
    check(registry["mean"].decomposition(x, 1, False, None), a.mean(1), D.float32, (3,))
    check(registry["softmax"].decomposition(x, 0, None), _softmax_ref(a, 0), D.float32, (3, 4))
    check(registry["logsumexp"].decomposition(x, (0, 1), True), _lse_ref(a, (0, 1), True), D.float32, (1, 1))
    check(registry["max"].decomposition(x), a.max(), D.float32, ())


torch_dtype_cases = [(n, dt) for n in ("sum", "prod", "cumsum", "cumprod", "amax", "argmax", "all", "any",
                                         "logsumexp", "mean", "softmax", "var") for dt in ALL]


@pytest.mark.parametrize("name,dt", torch_dtype_cases, ids=lambda v: getattr(v, "name", v))
def test_result_dtypes_match_pytorch(name, dt):
    torch = pytest.importorskip("torch")
    a = _values((2, 3), dt)
    tt = torch.from_numpy(a.astype(np.float32) if dt is D.bfloat16 else a)
    if dt is D.bfloat16:
        tt = tt.to(torch.bfloat16)
    args = (0,) if name in ("cumsum", "cumprod", "logsumexp", "softmax") else ()
    if name == "argmax" and dt is D.bool:
        # PyTorch refuses bool here; Ember answers (max(x, dim) of bool needs it, in both).
        check(ember.tensor(a).argmax(), np.argmax(a), D.int64, ())
        return
    try:
        want = getattr(tt, name)(*args)
    except (RuntimeError, NotImplementedError):
        with pytest.raises((ember.DTypeError, TypeError)):
            getattr(ember.tensor(a), name)(*args)
        return
    got = getattr(ember.tensor(a), name)(*args)
    want_name = str(want.dtype).replace("torch.", "")
    assert got.dtype.name == want_name
    np.testing.assert_allclose(f64(got.numpy()), want.double().numpy(), rtol=TOL.get(got.dtype, (0, 0))[0],
                               atol=TOL.get(got.dtype, (0, 0))[1])


def test_values_match_pytorch_on_edge_cases():
    torch = pytest.importorskip("torch")
    inf, nan = float("inf"), float("nan")
    rows = [[1.0, 2.0, 3.0], [inf, 1.0, 2.0], [-inf, -inf, -inf], [nan, 1.0, 2.0], [1e18, -1e18, 0.0]]
    tx, ex = torch.tensor(rows), ember.tensor(rows)
    for name, args in [("softmax", (1,)), ("log_softmax", (1,)), ("logsumexp", (1,)), ("amax", (1,)),
                       ("argmax", (1,)), ("argmin", (1,)), ("var", (1,)), ("std", (1,)), ("cumsum", (1,)),
                       ("cumprod", (1,)), ("sum", (1,)), ("mean", (1,))]:
        np.testing.assert_allclose(f64(getattr(ex, name)(*args).numpy()), getattr(tx, name)(*args).double().numpy(),
                                   rtol=1e-6, equal_nan=True, err_msg=name)
    tv, ti = tx.max(1)
    r = ex.max(1)
    np.testing.assert_array_equal(r.values.numpy(), tv.numpy())
    np.testing.assert_array_equal(r.indices.numpy(), ti.numpy())
