"""Defects the operator fuzz (tests/fuzz) found, each checked against torch on the input that showed
it: a NaN Poisson rate that never finished, NaN tolerances, int arguments beyond int64, Scalar values
that overflow the result dtype, lgamma(-inf), a float32 std whose variance overflows."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember
from ember.errors import EmberError, InvalidArgumentError, ValueOverflowError

torch = pytest.importorskip("torch")


def raises_like(e_fn, t_fn, ember_cls):
    """Both libraries refuse; Ember's error is an EmberError of ``ember_cls``."""
    with pytest.raises(Exception):
        t_fn()
    with pytest.raises(ember_cls) as info:
        e_fn()
    assert isinstance(info.value, EmberError)
    return str(info.value)


def same(e, t, rtol=1e-6):
    assert tuple(e.shape) == tuple(t.shape) and e.dtype.name == str(t.dtype).replace("torch.", "")
    np.testing.assert_allclose(e.numpy().astype(np.float64), t.numpy().astype(np.float64), rtol=rtol)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_poisson_nan_rate_raises_instead_of_looping(dtype):
    rates = np.array([math.nan, 3.0], dtype=dtype)
    msg = raises_like(lambda: ember.poisson(ember.tensor(rates)),
                      lambda: torch.poisson(torch.from_numpy(rates)), InvalidArgumentError)
    assert "poisson()" in msg and "NaN" in msg


def test_poisson_infinite_rate_is_infinite():
    out = ember.poisson(ember.tensor(np.array([math.inf, 0.0, 4.0]))).numpy()
    assert out[0] == math.inf and out[1] == 0 and out[2] >= 0


@pytest.mark.parametrize("kw", [{"rtol": math.nan}, {"atol": math.nan}, {"rtol": -1.0}])
def test_isclose_nan_or_negative_tolerance(kw):
    msg = raises_like(lambda: ember.isclose(ember.ones(2), ember.ones(2), **kw),
                      lambda: torch.isclose(torch.ones(2), torch.ones(2), **kw), InvalidArgumentError)
    assert "isclose()" in msg


@pytest.mark.parametrize("call", [lambda m, x: m.triu(x, 2 ** 64), lambda m, x: m.tril(x, -(2 ** 63) - 1),
                                  lambda m, x: m.rot90(x, 2 ** 63), lambda m, x: m.diagonal(x, 2 ** 70)])
def test_int_argument_beyond_int64_is_value_overflow(call):
    msg = raises_like(lambda: call(ember, ember.ones(3, 3)), lambda: call(torch, torch.ones(3, 3)),
                      ValueOverflowError)
    assert "int64" in msg


@pytest.mark.parametrize("fn", ["triu", "tril"])
@pytest.mark.parametrize("diagonal", [-(2 ** 63), 2 ** 63 - 1, -4, 4, 1])
def test_tri_extreme_diagonal_matches_torch(fn, diagonal):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    same(getattr(ember, fn)(ember.tensor(a), diagonal), getattr(torch, fn)(torch.from_numpy(a), diagonal))
    e = ember.tensor(a)
    getattr(e, fn + "_")(diagonal)
    same(e, getattr(torch, fn)(torch.from_numpy(a), diagonal))


@pytest.mark.parametrize("name", ["addcmul", "addcdiv"])
@pytest.mark.parametrize("dtype,value", [("float32", 1e308), ("float16", 1e39), ("int8", 1000)])
def test_addc_value_overflowing_the_result_dtype(name, dtype, value):
    if name == "addcdiv" and dtype == "int8":
        return  # integer addcdiv is refused whatever the value
    e = [ember.ones(3, dtype=getattr(ember, dtype)) for _ in range(3)]
    t = [torch.ones(3, dtype=getattr(torch, dtype)) for _ in range(3)]
    msg = raises_like(lambda: getattr(ember, name)(*e, value=value), lambda: getattr(torch, name)(*t, value=value),
                      ValueOverflowError)
    assert name in msg and "without overflow" in msg


def test_addcmul_half_value_checked_against_float32_as_torch():
    e, t = ember.ones(3, dtype=ember.float16), torch.ones(3, dtype=torch.float16)
    same(ember.addcmul(e, e, e, value=1e5), torch.addcmul(t, t, t, value=1e5))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_lgamma_at_both_infinities(dtype):
    a = np.array([-math.inf, math.inf, 0.0, -2.0, 2.5], dtype=dtype)
    same(ember.lgamma(ember.tensor(a)), torch.lgamma(torch.from_numpy(a)), rtol=1e-3)


@pytest.mark.parametrize("name", ["std", "std_mean"])
def test_std_stays_finite_where_the_variance_overflows(name):
    a = np.array([[3.4e38, 1.0, 2.0], [1.0, 2.0, 4.0]], dtype=np.float32)
    for kw in ({}, {"dim": 1}, {"dim": 0, "keepdim": True}):
        e, t = getattr(ember, name)(ember.tensor(a), **kw), getattr(torch, name)(torch.from_numpy(a), **kw)
        for x, y in zip(e if name == "std_mean" else [e], t if name == "std_mean" else [t]):
            same(x, y, rtol=1e-5)


def test_mvlgamma_huge_p_is_refused_at_once():
    # it once looped p times (never finishing for p = 2**63 - 1); now the p terms are one allocation
    with pytest.raises(EmberError):
        ember.mvlgamma(ember.tensor(4.8), 2 ** 63 - 1)
    a = np.array([[4.8, 10.0], [3.9, 6.1]])
    for p in (1, 3, 7):
        same(ember.mvlgamma(ember.tensor(a), p), torch.mvlgamma(torch.from_numpy(a), p), rtol=1e-10)


def test_arange_too_large_for_memory_is_ember_error():
    from ember.errors import OutOfMemoryError
    for start, end in ((0, 10 ** 12), (0.0, 1e12)):
        with pytest.raises(OutOfMemoryError):
            ember.arange(start, end)


@pytest.mark.parametrize("name", ["fweights", "aweights"])
def test_cov_negative_weights(name):
    x = np.array([[1.0, 2.0, 3.0], [2.0, 5.0, 1.0]])
    w = np.array([1, -1, 2]) if name == "fweights" else np.array([1.0, -0.5, 2.0])
    msg = raises_like(lambda: ember.cov(ember.tensor(x), **{name: ember.tensor(w)}),
                      lambda: torch.cov(torch.from_numpy(x), **{name: torch.from_numpy(w)}), InvalidArgumentError)
    assert name in msg and "negative" in msg


def test_index_copy_refuses_negative_indices_as_torch():
    from ember.errors import IndexOutOfRangeError
    raises_like(lambda: ember.ones(3).index_copy(0, ember.tensor([-1]), ember.zeros(1)),
                lambda: torch.ones(3).index_copy(0, torch.tensor([-1]), torch.zeros(1)), IndexOutOfRangeError)
    same(ember.ones(3).index_copy(0, ember.tensor([2]), ember.zeros(1)),
         torch.ones(3).index_copy(0, torch.tensor([2]), torch.zeros(1)))


@pytest.mark.parametrize("dtype", ["uint8", "int32", "float32", "float16"])
@pytest.mark.parametrize("value", [300, 1e39, -1, 2.5])
def test_alpha_beta_checked_like_torch(dtype, value):
    e, t = ember.ones(2, 2, dtype=getattr(ember, dtype)), torch.ones(2, 2, dtype=getattr(torch, dtype))
    calls = [(lambda m, x: m.addmm(x, x, x, alpha=value)), (lambda m, x: m.addmm(x, x, x, beta=value)),
             (lambda m, x: m.baddbmm(x[None], x[None], x[None], alpha=value)),
             (lambda m, x: m.addmv(x[0], x, x[0], beta=value)),
             (lambda m, x: x.index_add(0, m.tensor([0]), x[:1], alpha=value))]
    for call in calls:
        try:
            want = call(torch, t)
        except RuntimeError:
            raises_like(lambda: call(ember, e), lambda: call(torch, t), ValueOverflowError)
            continue
        except TypeError:  # a float alpha for an integer tensor: torch refuses the type
            continue
        same(call(ember, e), want)


def test_cross_entropy_backward_with_every_target_ignored_is_zero():
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    t = np.full(4, -100)
    got = ember.dispatch.get("cross_entropy_backward").fn(ember.tensor(np.float32(2.0)), ember.tensor(x),
                                                           ember.tensor(t))
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.cross_entropy(xt, torch.from_numpy(t)).backward(torch.tensor(2.0))
    np.testing.assert_array_equal(np.abs(got.numpy()), np.abs(xt.grad.numpy()))


def test_isclose_integer_extremes_do_not_wrap():
    a, b = np.array([0, -2 ** 63, -3, 7, 2 ** 63 - 1]), np.array([2, 5, 1, 8, -1])
    got = ember.isclose(ember.tensor(a), ember.tensor(b), 0.0, 1.0).numpy()
    np.testing.assert_array_equal(got, torch.isclose(torch.from_numpy(a), torch.from_numpy(b), 0.0, 1.0).numpy())


@pytest.mark.parametrize("call", [lambda m: m.diag(m.ones(3, dtype=m.int8), 2 ** 31),
                                  lambda m: m.nn.functional.pad(m.ones(2, 3), (2 ** 31, 2 ** 31, 2 ** 31, 0))])
def test_padding_beyond_memory_fails_at_once(call):
    # constant_pad_nd once filled every intermediate piece (gigabytes) before the last allocation failed
    import time
    t0 = time.monotonic()
    raises_like(lambda: call(ember), lambda: call(torch), RuntimeError)  # OutOfMemoryError or SizeError
    assert time.monotonic() - t0 < 5


@pytest.mark.parametrize("pad", [(1, 2), (-1, 2), (1, -2, 0, 3), (-3, -1), (2, 2, -1, -1, 1, 0), (-4, 0), (0, 0)])
def test_constant_pad_matches_torch(pad):
    a = np.arange(24.0).reshape(2, 3, 4)
    same(ember.nn.functional.pad(ember.tensor(a), pad, value=7.0),
         torch.nn.functional.pad(torch.from_numpy(a), pad, value=7.0))


@pytest.mark.parametrize("size", [2 ** 64, [2, 2 ** 64]])
def test_split_size_beyond_int64(size):
    raises_like(lambda: ember.split(ember.ones(4), size), lambda: torch.split(torch.ones(4), size), ValueOverflowError)


@pytest.mark.parametrize("dtype,exponent", [("uint8", 300), ("int16", 70000), ("int32", 2 ** 40)])
def test_pow_integer_exponent_beyond_the_dtype(dtype, exponent):
    for name in ("pow", "pow_"):
        msg = raises_like(lambda: getattr(ember.ones(2, dtype=getattr(ember, dtype)), name)(exponent),
                          lambda: getattr(torch.ones(2, dtype=getattr(torch, dtype)), name)(exponent),
                          ValueOverflowError)
        assert "pow" in msg


def test_cov_nan_weights():
    x = np.ones((3, 4))
    w = np.array([1.0, math.nan, 1.0, 1.0])
    raises_like(lambda: ember.cov(ember.tensor(x), aweights=ember.tensor(w)),
                lambda: torch.cov(torch.from_numpy(x), aweights=torch.from_numpy(w)), InvalidArgumentError)


@pytest.mark.parametrize("p", [2.0, 3.0, 0.5])
def test_distances_propagate_nan(p):
    a = np.array([[0.6, -0.9], [math.nan, 1.2], [-2.7, 0.9]])
    np.testing.assert_allclose(ember.cdist(ember.tensor(a), ember.tensor(a), p).numpy(),
                               torch.cdist(torch.from_numpy(a), torch.from_numpy(a), p).numpy(), equal_nan=True)
    np.testing.assert_allclose(ember.pdist(ember.tensor(a), p).numpy(), torch.pdist(torch.from_numpy(a), p).numpy(),
                               equal_nan=True)


@pytest.mark.parametrize("sa,sb", [((1, 3, 3), (4, 3, 2)), ((3, 3), (2, 4, 3, 2)), ((2, 1, 3, 3), (4, 3, 2))])
def test_solve_ex_info_has_the_batch_of_A(sa, sb):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    x, info = ember.linalg.solve_ex(ember.tensor(a), ember.tensor(b))
    want = torch.linalg.solve_ex(torch.from_numpy(a), torch.from_numpy(b))
    assert tuple(info.shape) == tuple(want.info.shape)
    same(x, want.result, rtol=1e-8)


@pytest.mark.parametrize("values", [[math.nan, 2.0, math.inf], [1.0, math.inf]])
def test_histc_auto_range_must_be_finite(values):
    a = np.array(values)
    msg = raises_like(lambda: ember.histc(ember.tensor(a), 3), lambda: torch.histc(torch.from_numpy(a), 3),
                      InvalidArgumentError)
    assert "not finite" in msg


def test_diff_with_n_zero_is_the_input():
    x = np.arange(12.0).reshape(3, 4)
    got = ember.diff(ember.tensor(x), 0, 1, ember.zeros(3, 1, dtype=ember.float64), ember.zeros(3, 2, dtype=ember.float64))
    same(got, torch.diff(torch.from_numpy(x), 0, 1, torch.zeros(3, 1, dtype=torch.float64),
                         torch.zeros(3, 2, dtype=torch.float64)))


@pytest.mark.parametrize("maxnorm", [1e308, 1.0, 3e38])
def test_renorm_maxnorm_beyond_float32(maxnorm):
    a = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    same(ember.renorm(ember.tensor(a), 2, 0, maxnorm), torch.renorm(torch.from_numpy(a), 2, 0, maxnorm), rtol=1e-5)


def test_histc_of_equal_huge_values_counts_them_all():
    h = np.full(20, 8.98846567e307)
    assert ember.histc(ember.tensor(h), 9).numpy().sum() == 20


@pytest.mark.parametrize("pad", [[-5, 2], [2, -5]])
def test_constant_pad_cropping_more_than_the_dim(pad):
    from ember.errors import ShapeError
    raises_like(lambda: ember.nn.functional.pad(ember.ones(3, 4), pad),
                lambda: torch.nn.functional.pad(torch.ones(3, 4), pad), ShapeError)


def test_scatter_reduce_refuses_negative_indices_as_torch():
    from ember.errors import IndexOutOfRangeError
    raises_like(lambda: ember.scatter_reduce(ember.zeros(3), 0, ember.tensor([-1]), ember.ones(1), "sum"),
                lambda: torch.scatter_reduce(torch.zeros(3), 0, torch.tensor([-1]), torch.ones(1), "sum"),
                IndexOutOfRangeError)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("op", ["mul", "add", "sub", "div", "lt", "mul_"])
def test_a_number_beyond_a_16_bit_float_range_computes_in_float32(op, dtype):
    """torch takes a Python number with a 16-bit float tensor in float32 (op math): 1e-3 * 1e5 is 100, not inf."""
    torch = pytest.importorskip("torch")
    vals = [1e-3, 2.0, -3.0]
    for s in (1e5, -1e5, 1e39):
        x, tx = ember.tensor(vals, dtype=getattr(ember, dtype)), torch.tensor(vals, dtype=getattr(torch, dtype))
        got, want = getattr(x, op)(s), getattr(tx, op)(s)
        assert got.dtype.name == str(want.dtype).split(".")[1]
        np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())


def test_pow_refuses_a_float_exponent_beyond_a_16_bit_float_range():
    x = ember.tensor([2.0], dtype=ember.float16)
    with pytest.raises(ember.ValueOverflowError, match="float16"):
        x.pow(1e5)
    with pytest.raises(ember.ValueOverflowError, match="bfloat16"):
        x.bfloat16() ** 1e300
    assert x.pow(2.5).dtype is ember.float16
