"""Elementwise operators against PyTorch (dtype rules) and numpy (values), in every layout."""

import numpy as np
import pytest

import ember
from ember import dtypes as D
from ember.ops import elementwise as E

from layouts import LAYOUTS, assert_close, make, random_array, to_f64

torch = pytest.importorskip("torch")

TORCH_NAME = {"true_divide": "true_divide", "trunc_divide": None, "bitwise_left_shift": "bitwise_left_shift",
              "bitwise_right_shift": "bitwise_right_shift"}

# Inputs inside each function's domain, so values are comparable.
DOMAIN = {"log": (0.1, 4), "log2": (0.1, 4), "log10": (0.1, 4), "log1p": (-0.5, 4), "sqrt": (0, 4),
          "rsqrt": (0.1, 4), "asin": (-0.9, 0.9), "acos": (-0.9, 0.9), "acosh": (1.1, 4),
          "atanh": (-0.9, 0.9), "erfinv": (-0.9, 0.9), "reciprocal": (0.5, 4), "exp": (-3, 3),
          "tan": (-1.2, 1.2)}


def _torch_of(name):
    return getattr(torch, TORCH_NAME.get(name, name))


def _torch_tensor(a, dt):
    return torch.from_numpy(np.array(to_f64(a) if dt in (D.bfloat16,) else a, order="C")).to(getattr(torch, dt.name))


def _expect(fn, *args):
    try:
        return fn(*args), None
    except Exception as e:  # noqa: BLE001 - torch's refusal is what we compare with
        return None, e


@pytest.mark.parametrize("name", sorted(E.UNARY))
@pytest.mark.parametrize("layout", LAYOUTS)
def test_unary(name, layout):
    rng = np.random.default_rng(abs(hash((name, layout))) % 2**32)
    lo, hi = DOMAIN.get(name, (-3, 3))
    for dt in D.all_dtypes:
        x, a = make(layout, dt, rng, low=lo, high=hi)
        want, err = _expect(_torch_of(name), _torch_tensor(a, dt))
        if err is not None:
            with pytest.raises((ember.DTypeError, NotImplementedError)):
                getattr(ember, name)(x)
            continue
        got = getattr(ember, name)(x)
        assert got.dtype.name == str(want.dtype).split(".")[1], (name, dt)
        w = want.to(torch.float64).numpy() if want.dtype in (torch.bfloat16, torch.float16) else want.numpy()
        tol_dt = got.dtype
        if dt in (D.float16, D.bfloat16) and name in ("tan", "expm1", "exp", "exp2", "sinh", "cosh", "erfinv", "acosh"):
            w = np.asarray(w, np.float64)
        assert_close(got, w, tol_dt)


BINARY_SAMPLE_DTYPES = [(D.float32, D.float32), (D.float64, D.float32), (D.int32, D.int64), (D.int8, D.uint8),
                        (D.bool, D.bool), (D.float16, D.float16), (D.bfloat16, D.float32), (D.int64, D.float16),
                        (D.int16, D.int16), (D.bool, D.int32)]


def _positive_domain(name):
    return name in ("pow", "floor_divide", "trunc_divide", "remainder", "fmod", "true_divide",
                    "bitwise_left_shift", "bitwise_right_shift")


@pytest.mark.parametrize("name", sorted(E.BINARY))
@pytest.mark.parametrize("layout", LAYOUTS)
def test_binary(name, layout):
    rng = np.random.default_rng(abs(hash((name, layout, 1))) % 2**32)
    lo, hi = (1, 4) if _positive_domain(name) else (-4, 4)
    for da, db in BINARY_SAMPLE_DTYPES:
        x, a = make(layout, da, rng, low=lo, high=hi)
        y, b = make(layout, db, rng, low=lo, high=hi)
        if name == "trunc_divide":
            tfn = lambda p, q: torch.div(p, q, rounding_mode="trunc")  # noqa: E731
        else:
            tfn = _torch_of(name)
        want, err = _expect(tfn, _torch_tensor(a, da), _torch_tensor(b, db))
        if err is not None:
            with pytest.raises((ember.DTypeError, ZeroDivisionError, NotImplementedError, ValueError)):
                getattr(ember, name)(x, y)
            continue
        got = getattr(ember, name)(x, y)
        assert got.dtype.name == str(want.dtype).split(".")[1], (name, da, db)
        w = want.to(torch.float64).numpy() if want.dtype in (torch.bfloat16, torch.float16) else want.numpy()
        assert_close(got, w)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "true_divide", "maximum", "lt", "eq", "pow", "remainder"])
def test_binary_broadcast_and_scalars(name):
    rng = np.random.default_rng(7)
    a = rng.uniform(1, 3, (3, 1, 4)).astype(np.float32)
    b = rng.uniform(1, 3, (5, 1)).astype(np.float32)
    tfn = _torch_of(name)
    got = getattr(ember, name)(ember.tensor(a), ember.tensor(b))
    want = tfn(torch.from_numpy(a), torch.from_numpy(b))
    assert tuple(got.shape) == (3, 5, 4)
    assert_close(got, want.numpy())
    for s in (2, 2.5, True):
        for order in ("ts", "st"):
            ea, ta = ember.tensor(a), torch.from_numpy(a)
            for dt in (D.float32, D.int32, D.float16):
                if name in ("remainder", "pow", "true_divide") and dt is D.int32 and isinstance(s, bool):
                    continue
                e, t = ea.to(dt), ta.to(getattr(torch, dt.name))
                want, err = _expect(tfn, *((t, s) if order == "ts" else (s, t)))
                if err is not None:
                    continue
                got = getattr(ember, name)(*((e, s) if order == "ts" else (s, e)))
                assert got.dtype.name == str(want.dtype).split(".")[1], (name, dt, s, order)
                assert_close(got, want.to(torch.float64).numpy() if want.is_floating_point() else want.numpy(),
                             got.dtype)


def test_python_operators_match_functions():
    x = ember.tensor([[1.0, -2.0], [3.0, 4.0]])
    y = ember.tensor([[2.0, 2.0], [-1.0, 0.5]])
    n = x.numpy()
    m = y.numpy()
    assert_close(x + y, n + m)
    assert_close(x - y, n - m)
    assert_close(2 - x, 2 - n)
    assert_close(x * y, n * m)
    assert_close(x / y, n / m)
    assert_close(1 / y, 1 / m)
    assert_close(x // y, n // m)
    assert_close(x % y, np.mod(n, m))
    assert_close(x ** 2, n ** 2)
    assert_close(2 ** x, 2 ** n)
    assert_close(-x, -n)
    assert_close(abs(x), abs(n))
    assert_close(x < y, n < m)
    assert_close(x == y, n == m)
    i = ember.tensor([5, 6, 7])
    assert_close(i & 3, np.array([5, 6, 7]) & 3)
    assert_close(i | 8, np.array([5, 6, 7]) | 8)
    assert_close(i ^ 1, np.array([5, 6, 7]) ^ 1)
    assert_close(~i, ~np.array([5, 6, 7]))
    assert_close(i << 1, np.array([5, 6, 7]) << 1)


def test_inplace_ops_write_through_views_to_base():
    base = ember.zeros(3, 4)
    col = base.t().select(0, 1)         # a strided view: column 1
    col.add_(ember.ones(3))
    col.mul_(3.0)
    expect = np.zeros((3, 4), np.float32)
    expect[:, 1] = 3.0
    assert_close(base, expect)
    row = base.select(0, 2)
    row.exp_()
    expect[2] = np.exp(expect[2])
    assert_close(base, expect)
    x = ember.ones(2, 3)
    x += 1
    x *= ember.tensor([1.0, 2.0, 3.0])
    assert_close(x, np.array([[2, 4, 6], [2, 4, 6]], np.float32))


def test_inplace_casting_rules():
    i = ember.ones(3, dtype=ember.int64)
    with pytest.raises(ember.DTypeError, match="Float can't be cast|float32 can't be cast"):
        i.add_(ember.ones(3))
    with pytest.raises(ember.ShapeError, match=r"\(3,\)"):
        ember.ones(3).add_(ember.ones(2, 3))
    h = ember.ones(3, dtype=ember.float16)
    h.add_(ember.ones(3, dtype=ember.float32) * 2)   # computed in float32, stored as float16
    assert h.dtype is ember.float16
    assert_close(h, np.full(3, 3.0, np.float16))


def test_integer_scalar_wraps_like_torch():
    x = ember.tensor([1, 2], dtype=ember.int8)
    want = torch.tensor([1, 2], dtype=torch.int8) + 1000
    got = x + 1000
    assert got.dtype is ember.int8
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_div_rounding_modes():
    a = np.array([7, -7, 7, -7], np.int64)
    b = np.array([2, 2, -2, -2], np.int64)
    for mode in (None, "trunc", "floor"):
        want = torch.div(torch.from_numpy(a), torch.from_numpy(b), rounding_mode=mode)
        got = ember.div(ember.tensor(a), ember.tensor(b), rounding_mode=mode)
        assert got.dtype.name == str(want.dtype).split(".")[1]
        assert_close(got, want.numpy())
    with pytest.raises(ValueError, match="'round'"):
        ember.div(ember.tensor(a), ember.tensor(b), rounding_mode="round")


def test_integer_division_by_zero_raises():
    with pytest.raises(ZeroDivisionError):
        ember.tensor([1, 2]) // ember.tensor([0, 1])


def test_where_clamp_lerp_addcmul_addcdiv():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((4,)).astype(np.float32)
    c = a > 0
    ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
    ea, eb, ec = ember.tensor(a), ember.tensor(b), ember.tensor(c)
    assert_close(ember.where(ec, ea, eb), torch.where(tc, ta, tb).numpy())
    assert_close(ember.where(ec, ea, 0.0), torch.where(tc, ta, 0.0).numpy())
    got = ember.where(ec, 1, 2.5)
    want = torch.where(tc, 1, 2.5)
    assert got.dtype.name == str(want.dtype).split(".")[1]
    assert_close(got, want.numpy())
    assert_close(ember.clamp(ea, -0.5, 0.5), torch.clamp(ta, -0.5, 0.5).numpy())
    assert_close(ember.clamp(ea, min=eb), torch.clamp(ta, min=tb).numpy())
    assert_close(ember.clamp(ea, max=0.1), torch.clamp(ta, max=0.1).numpy())
    assert_close(ember.lerp(ea, eb, 0.3), torch.lerp(ta, tb, 0.3).numpy())
    assert_close(ember.lerp(ea, eb, ember.tensor(a) * 0 + 0.25), torch.lerp(ta, tb, ta * 0 + 0.25).numpy())
    assert_close(ember.addcmul(ea, ea, eb, value=0.5), torch.addcmul(ta, ta, tb, value=0.5).numpy())
    assert_close(ember.addcdiv(ea, ea, eb, value=2), torch.addcdiv(ta, ta, tb, value=2).numpy())
    x = ember.tensor(a.copy())
    x.clamp_(0, 1)
    assert_close(x, np.clip(a, 0, 1))
    with pytest.raises(ember.DTypeError, match="int64"):
        ember.where(ember.tensor([1, 0]), ea[0:1] if False else ember.ones(2), ember.zeros(2))
    with pytest.raises(ValueError, match="min and max"):
        ember.clamp(ea)


def test_nan_and_inf_propagate():
    x = ember.tensor([np.nan, np.inf, -np.inf, 0.0])
    got = ember.maximum(x, ember.zeros(4))
    want = torch.maximum(torch.tensor([np.nan, np.inf, -np.inf, 0.0]), torch.zeros(4))
    assert_close(got, want.numpy())
    assert_close(ember.isnan(x), np.array([True, False, False, False]))
    assert_close(ember.isfinite(x), np.array([False, False, False, True]))
    assert_close(x / 0, np.array([np.nan, np.inf, -np.inf, np.nan]))


def test_errors_carry_values():
    with pytest.raises(ember.ShapeError, match=r"\(2, 3\).*\(4,\)"):
        ember.ones(2, 3) + ember.ones(4)
    with pytest.raises(ember.DTypeError, match="float32"):
        ember.bitwise_and(ember.ones(2), ember.ones(2))
    with pytest.raises(ember.DTypeError, match="bool"):
        ember.sub(ember.tensor([True]), ember.tensor([False]))


def test_meta_device_shapes_and_dtypes():
    a = ember.empty(3, 1, 4, device="meta")
    b = ember.empty(5, 1, dtype=ember.int32, device="meta")
    out = a + b
    assert out.device.type == "meta" and tuple(out.shape) == (3, 5, 4) and out.dtype is ember.float32
    assert (b < 2).dtype is ember.bool
    assert ember.sqrt(b).dtype is ember.float32
    assert ember.where(ember.empty(4, dtype=ember.bool, device="meta"), a, 0).shape == (3, 1, 4)
    with pytest.raises(ember.ShapeError):
        a + ember.empty(2, device="meta")
    a.add_(1)
    assert a.shape == (3, 1, 4)


@pytest.mark.parametrize("name", ["floor", "ceil", "round", "trunc"])
def test_inplace_rounding_of_integers_returns_self_without_a_kernel(name):
    """Integers are already whole: op_ returns self untouched, like op's clone, and reaches no kernel
    (C's floor/trunc overloads are only for floating types)."""
    from ember.device import get_backend
    from ember.dispatch import get
    op = get(name + "_")
    calls = []

    def kernel(*a):
        calls.append(a)
        raise AssertionError("the kernel was reached")
    entry = op.adapter(op, kernel, get_backend("cpu"))    # core's entry around a backend's raw kernel
    for dt in (ember.uint8, ember.int8, ember.int16, ember.int32, ember.int64):
        a = np.arange(12).reshape(3, 4).astype(dt.np) - (0 if dt is ember.uint8 else 6)
        x = ember.tensor(a)
        v = x.t()                                   # non-contiguous views too
        assert entry(x) is x and entry(v) is v
        assert getattr(x, name + "_")() is x
        assert not calls and np.array_equal(x.numpy(), a) and x.dtype is dt
    with pytest.raises(ember.DTypeError):
        getattr(ember.tensor(np.array([True, False])), name + "_")()
