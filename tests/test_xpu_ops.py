"""Operators on xpu (kernelgen's OpenCL kernels) give what the cpu backend gives.

The cpu backend is itself checked against numpy and PyTorch; here each case
runs once on cpu and once on xpu and the results must agree in values, dtype
and shape: broadcast, 0-d, empty and non-contiguous inputs, over dtypes.
Runs on pocl's CPU device where no Intel GPU is present (see
test_xpu_runtime.py); skips with the reason where OpenCL is missing.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyopencl", reason="pyopencl is not installed (pip install pyopencl)")
pytest.importorskip("ember_xpu", reason="ember-xpu is not installed (pip install -e backends/xpu)")
pytest.importorskip("ember_kernelgen", reason="ember-kernelgen is not installed (pip install -e backends/kernelgen)")

import ember  # noqa: E402
from ember import dtypes as D  # noqa: E402
from ember.device import get_backend  # noqa: E402
from xpu_device import xpu_runtime  # noqa: E402



@pytest.fixture(scope="module", autouse=True)
def xpu():
    return xpu_runtime()


def _has_kernel(name):
    from ember.dispatch import registry
    op = registry.get(name)
    b = get_backend("xpu")
    return op is not None and b.key.index in op.kernels


def needs(*names):
    missing = [n for n in names if not _has_kernel(n)]
    return pytest.mark.skipif(bool(missing), reason=f"xpu has no kernel for {', '.join(missing)} yet")


def _arr(shape, dt, rng, low=-3, high=3):
    if dt is D.bool:
        return np.asarray(rng.random(shape) < 0.5)
    if dt.category == 1:
        lo = 0 if dt is D.uint8 else low
        return np.asarray(rng.integers(lo, high + 1, size=shape)).astype(dt.np)
    return np.asarray(rng.uniform(low, high, size=shape)).astype(dt.np)


def _pair(a):
    return ember.tensor(a, device="cpu"), ember.tensor(a, device="xpu")


def _close(got, want, dt=None):
    """got: an xpu result, want: the cpu one (tensors or tuples of them)."""
    if isinstance(want, (tuple, list)):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _close(g, w)
        return
    assert got.device.type == "xpu"
    assert got.dtype is want.dtype, (got.dtype, want.dtype)
    assert tuple(got.shape) == tuple(want.shape)
    g, w = got.to("cpu").numpy(), want.numpy()
    if want.dtype.is_floating_point:
        tol = {D.float16: 2e-3, D.bfloat16: 1.6e-2, D.float32: 2e-5, D.float64: 1e-12}[want.dtype]
        np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=tol, atol=tol,
                                   equal_nan=True)
    else:
        np.testing.assert_array_equal(g, w)


def _dtypes(xpu):
    return [dt for dt in xpu.dtypes()]


def _strided(a, dev):
    """A non-contiguous tensor on dev equal to a (a step-2 slice of a bigger array)."""
    big = np.zeros(a.shape[:-1] + (a.shape[-1] * 2,), a.dtype) if a.ndim else a
    if a.ndim:
        big[..., ::2] = a
        return ember.tensor(big, device=dev)[..., ::2]
    return ember.tensor(a, device=dev)


# -- elementwise -------------------------------------------------------------------------

UNARY_FLOAT = ["neg", "abs", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "floor", "ceil",
               "round", "trunc", "reciprocal", "expm1", "log1p", "erf", "sign", "square", "rsqrt"]


@needs("neg", "exp", "copy_")
@pytest.mark.parametrize("name", UNARY_FLOAT)
def test_unary_float_ops(name):
    rng = np.random.default_rng(0)
    # float16/bfloat16 share the float32 math (widened on load): three ops cover their loads and stores
    for dt in (D.float32, D.float16, D.bfloat16) if name in ("exp", "neg", "sqrt") else (D.float32,):
        a = _arr((3, 5), dt, rng, 0.1, 3) if name in ("log", "sqrt", "rsqrt", "log1p") else _arr((3, 5), dt, rng)
        c, x = _pair(a)
        _close(getattr(ember, name)(x), getattr(ember, name)(c))
        _close(getattr(ember, name)(x.t()), getattr(ember, name)(c.t()))


@needs("neg", "abs", "bitwise_not")
def test_unary_integer_ops_over_dtypes(xpu):
    rng = np.random.default_rng(1)
    for dt in _dtypes(xpu):
        if dt.category != 1:
            continue
        a = _arr((4, 3), dt, rng)
        c, x = _pair(a)
        for name in ("neg", "abs", "bitwise_not", "square"):
            if dt is D.uint8 and name == "neg":
                continue
            _close(getattr(ember, name)(x), getattr(ember, name)(c))


BINARY = ["add", "sub", "mul", "maximum", "minimum", "eq", "lt", "ge", "ne"]


@needs(*BINARY)
@pytest.mark.parametrize("name", BINARY)
def test_binary_ops_broadcast_and_dtypes(name, xpu):
    rng = np.random.default_rng(2)
    for dt in _dtypes(xpu):
        if dt is D.bool and name in ("sub",):
            continue
        a, b = _arr((4, 1, 3), dt, rng), _arr((5, 1), dt, rng)
        (ca, xa), (cb, xb) = _pair(a), _pair(b)
        _close(getattr(ember, name)(xa, xb), getattr(ember, name)(ca, cb))


@needs("add", "mul", "true_divide")
def test_binary_with_python_scalars_and_promotion():
    rng = np.random.default_rng(3)
    ci, xi = _pair(_arr((6,), D.int32, rng))
    cf, xf = _pair(_arr((6,), D.float32, rng))
    _close(xi + 2, ci + 2)
    _close(xi * 1.5, ci * 1.5)
    _close(xi / 2, ci / 2)
    _close(xi + xf, ci + cf)
    _close(2.5 - xf, 2.5 - cf)


@needs("add")
def test_non_contiguous_and_zero_d_and_empty():
    rng = np.random.default_rng(4)
    a, b = _arr((3, 4), D.float32, rng), _arr((3, 4), D.float32, rng)
    xa, xb = _strided(a, "xpu"), _strided(b, "xpu")
    assert not xa.is_contiguous()
    np.testing.assert_allclose((xa + xb).to("cpu").numpy(), a + b, rtol=1e-6)
    np.testing.assert_allclose((xa.t() + xb.t()).to("cpu").numpy(), (a + b).T, rtol=1e-6)
    z = ember.tensor(np.float32(2.0), device="xpu")
    assert (z + z).shape == () and (z + z).item() == 4.0
    e = ember.tensor(np.zeros((0, 3), np.float32), device="xpu")
    assert tuple((e + e).shape) == (0, 3)


@needs("add_", "mul_")
def test_in_place_ops_write_through_views():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    x = ember.tensor(a, device="xpu")
    x[:, 1].add_(10)
    x.t()[2].mul_(2)
    ref = a.copy()
    ref[:, 1] += 10
    ref[:, 2] *= 2
    np.testing.assert_array_equal(x.to("cpu").numpy(), ref)


@needs("copy_")
def test_casts_to_and_from_every_dtype(xpu):
    # every dtype to and from float32 and int64, and the 16-bit floats to each other
    # (each pair is a kernel of its own: pocl compiles each on first use)
    rng = np.random.default_rng(5)
    dts = _dtypes(xpu)
    pairs = {(a, b) for a in dts for b in (D.float32, D.int64)} | {(b, a) for a in dts for b in (D.float32, D.int64)}
    pairs |= {(D.float16, D.bfloat16), (D.bfloat16, D.float16), (D.bool, D.uint8), (D.int8, D.bool)}
    for src, dst in sorted(pairs, key=lambda p: (p[0].name, p[1].name)):
        c, x = _pair(_arr((2, 3), src, rng, -2, 100))
        _close(x.to(dst), c.to(dst))


@needs("fill_", "where")
def test_fill_and_where():
    rng = np.random.default_rng(6)
    x = ember.empty((3, 4), dtype=ember.int64, device="xpu")
    x.fill_(7)
    assert (x.to("cpu").numpy() == 7).all()
    cond = _arr((3, 1), D.bool, rng)
    a, b = _arr((1, 4), D.float32, rng), _arr((3, 4), D.float32, rng)
    (cc, xc), (ca, xa), (cb, xb) = _pair(cond), _pair(a), _pair(b)
    _close(ember.where(xc, xa, xb), ember.where(cc, ca, cb))


# -- reductions, scans, indexing, sorting, linear algebra -----------------------------------------

@needs("sum", "amax", "prod")
@pytest.mark.parametrize("dims", [None, 0, 1, (0, 2), -1])
def test_reductions_along_dims(dims):
    rng = np.random.default_rng(7)
    for dt in (D.float32, D.int32, D.bool, D.bfloat16):
        a = _arr((3, 4, 5), dt, rng)
        c, x = _pair(a)
        for name in ("sum", "amax", "amin", "prod", "any", "all"):
            kw = {} if dims is None else {"dim": dims}
            if name in ("amax", "amin") and dt is D.bool:
                continue
            _close(getattr(ember, name)(x, **kw), getattr(ember, name)(c, **kw))
        _close(x.sum(dim=dims, keepdim=True) if dims is not None else x.sum(),
               c.sum(dim=dims, keepdim=True) if dims is not None else c.sum())


@needs("sum")
def test_large_sum_uses_two_passes_and_stays_accurate():
    a = np.random.default_rng(8).standard_normal(1 << 20).astype(np.float32)
    x = ember.tensor(a, device="xpu")
    np.testing.assert_allclose(x.sum().item(), a.astype(np.float64).sum(), rtol=1e-4, atol=1e-2)
    got = x.reshape(1024, 1024).sum(0).to("cpu").numpy()
    np.testing.assert_allclose(got, a.reshape(1024, 1024).astype(np.float64).sum(0), rtol=1e-4, atol=1e-3)


@needs("argmax", "argmin")
def test_argmax_argmin():
    rng = np.random.default_rng(9)
    a = _arr((4, 6), D.float32, rng)
    c, x = _pair(a)
    for dim in (None, 0, 1):
        _close(x.argmax(dim), c.argmax(dim))
        _close(x.argmin(dim), c.argmin(dim))


@needs("cumsum", "cumprod")
def test_scans():
    rng = np.random.default_rng(10)
    for dt in (D.float32, D.int64):
        a = _arr((3, 7), dt, rng)
        c, x = _pair(a)
        for dim in (0, 1):
            _close(ember.cumsum(x, dim), ember.cumsum(c, dim))
            _close(ember.cumprod(x, dim), ember.cumprod(c, dim))


@needs("bmm")
@pytest.mark.parametrize("shape", [((5, 3), (3, 4)), ((2, 6, 7), (2, 7, 5)), ((1, 9), (9, 1)), ((0, 3), (3, 2)),
                                   ((4, 0), (0, 3)), ((70, 33), (33, 65))])
def test_matmul(shape):
    rng = np.random.default_rng(11)
    for dt in (D.float32, D.int64, D.bfloat16):
        a, b = _arr(shape[0], dt, rng), _arr(shape[1], dt, rng)
        (ca, xa), (cb, xb) = _pair(a), _pair(b)
        got, want = xa @ xb, ca @ cb
        if dt is D.bfloat16:
            np.testing.assert_allclose(got.to("cpu").to(ember.float32).numpy(),
                                       want.to(ember.float32).numpy(), rtol=3e-2, atol=0.3)
        else:
            _close(got, want)


@needs("bmm")
def test_matmul_of_transposed_and_sliced_operands():
    rng = np.random.default_rng(12)
    a, b = _arr((8, 6), D.float32, rng), _arr((8, 5), D.float32, rng)
    (ca, xa), (cb, xb) = _pair(a), _pair(b)
    _close(xa.t() @ xb, ca.t() @ cb)
    _close(xa[::2].t() @ xb[::2], ca[::2].t() @ cb[::2])


@needs("gather", "scatter_add_")
def test_gather_and_scatter_add():
    rng = np.random.default_rng(13)
    a = _arr((4, 5), D.float32, rng)
    idx = rng.integers(0, 4, size=(3, 5))
    (ca, xa), (ci, xi) = _pair(a), _pair(idx)
    _close(ember.gather(xa, 0, xi), ember.gather(ca, 0, ci))
    src = _arr((3, 5), D.float32, rng)
    cs, xs = _pair(src)
    _close(xa.clone().scatter_add_(0, xi, xs), ca.clone().scatter_add_(0, ci, cs))


@needs("gather")
def test_gather_out_of_range_index_is_an_error():
    x = ember.tensor(np.zeros((3, 2), np.float32), device="xpu")
    i = ember.tensor(np.array([[5, 0]]), device="xpu")
    with pytest.raises(IndexError, match="5"):
        ember.gather(x, 0, i)


@needs("sort")
def test_sort_and_argsort():
    rng = np.random.default_rng(14)
    for dt in (D.float32, D.int32):
        a = _arr((4, 9), dt, rng, -20, 20)
        c, x = _pair(a)
        for desc in (False, True):
            vx, ix = ember.sort(x, dim=1, descending=desc, stable=True)
            vc, ic = ember.sort(c, dim=1, descending=desc, stable=True)
            _close(vx, vc)
            _close(ix, ic)


@needs("nonzero", "gather")
def test_advanced_indexing_and_masks():
    rng = np.random.default_rng(15)
    a = _arr((5, 4), D.float32, rng)
    c, x = _pair(a)
    ci, xi = _pair(np.array([4, 0, 2]))
    _close(x[xi], c[ci])
    _close(x[x > 0], c[c > 0])
    _close(ember.nonzero(x > 0), ember.nonzero(c > 0))


@needs("philox_random")
def test_random_is_bitwise_identical_to_cpu():
    ember.manual_seed(1234)
    r_cpu = ember.rand(1000)
    ember.manual_seed(1234)
    r_xpu = ember.rand(1000, device="xpu")
    np.testing.assert_array_equal(r_xpu.to("cpu").numpy(), r_cpu.numpy())


@needs("sum", "exp", "amax")
def test_composites_run_on_xpu_through_decompositions():
    rng = np.random.default_rng(16)
    a = _arr((3, 8), D.float32, rng)
    c, x = _pair(a)
    _close(ember.softmax(x, 1), ember.softmax(c, 1))
    _close(x.mean(1), c.mean(1))
    _close(ember.logsumexp(x, [1]), ember.logsumexp(c, [1]))


def test_float64_follows_the_device(xpu):
    x = ember.tensor(np.ones(3), device="xpu") if D.float64 in xpu.dtypes() else None
    if x is None:
        pytest.skip("this OpenCL device has no cl_khr_fp64")
    assert x.dtype is D.float64
    if _has_kernel("add"):
        assert (x + x).to("cpu").numpy().tolist() == [2.0, 2.0, 2.0]


@needs("ceil_", "floor_", "round_", "trunc_")
def test_in_place_rounding_leaves_integers_whole(xpu):
    a = np.arange(-3, 3).astype(np.int32)
    for name in ("ceil_", "floor_", "round_", "trunc_"):
        x = ember.tensor(a, device="xpu")
        assert getattr(x, name)() is x
        np.testing.assert_array_equal(x.to("cpu").numpy(), a)


# -- reductions: the GPU-shaped kernels (trees in local memory) and the CPU-shaped ones (long runs
# -- per work-item, then a pass over the partial results), whichever this device measured faster --

@pytest.fixture(params=["tree", "cpu"])
def reductions(request):
    """Runs the test with the xpu device's reductions on one kernel shape, then restores its choice."""
    from ember_xpu import kernels as XK
    kernel = XK._table.get("sum")
    if kernel is None or not hasattr(kernel, "choose"):
        pytest.skip("xpu's sum is not the generator's kernel")
    dev = ember.zeros(1, device="xpu")._device
    before = kernel.choice(dev)
    kernel.choose(dev, ("tree",) if request.param == "tree" else ("cpu", 16, 16))
    yield request.param
    kernel.choose(dev, before)


REDUCE_DTYPES = (D.float32, D.float64, D.int8, D.uint8, D.int16, D.int32, D.int64, D.bool, D.bfloat16)


@needs("sum", "amax", "prod")
@pytest.mark.parametrize("shape", [(100003,), (37, 1001), (5, 33, 129), (1,), (), (3, 0), (0,)])
def test_reductions_over_all_and_each_dim(reductions, xpu, shape):
    """Odd sizes (partial unrolled steps and runs), 0-d, one element and empty inputs, every dim,
    keepdim, each dtype the device has."""
    rng = np.random.default_rng(20)
    nd = len(shape)
    dim_sets = [None] + [d for d in range(nd)] + ([(0, nd - 1)] if nd > 1 else [])
    for dt in REDUCE_DTYPES:
        if dt not in xpu.dtypes():
            continue
        a = _arr(shape, dt, rng)
        c, x = _pair(a)
        # products of floats near 1, so that no order of the factors overflows
        pc, px = _pair(1 + a / 300 if dt.is_floating_point else a)
        for dims in dim_sets:
            kw = {} if dims is None else {"dim": dims}
            picked = dims if isinstance(dims, tuple) else (dims,)
            reduced = shape if dims is None else [shape[d] for d in picked]
            for name in ("sum", "amax", "amin", "any", "all"):
                if name in ("amax", "amin") and (dt is D.bool or 0 in reduced):
                    continue       # no identity: an error on every backend
                _close(getattr(ember, name)(x, **kw), getattr(ember, name)(c, **kw))
            _close(ember.prod(px, **kw) if dims is None or isinstance(dims, int) else px.sum(**kw),
                   ember.prod(pc, **kw) if dims is None or isinstance(dims, int) else pc.sum(**kw))
            if dims is not None:
                _close(x.sum(dim=dims, keepdim=True), c.sum(dim=dims, keepdim=True))


@needs("sum", "amax")
def test_reductions_of_non_contiguous_views(reductions):
    rng = np.random.default_rng(21)
    a = _arr((64, 300), D.float32, rng)
    c, x = _pair(a)
    views = [lambda t: t[:, ::3], lambda t: t.t(), lambda t: t[::2, 5:250], lambda t: t.reshape(8, 8, 300)[:, 2],
             lambda t: t.reshape(8, 8, 300).permute(2, 0, 1), lambda t: t[:1].expand(7, 300)]
    for view in views:
        vc, vx = view(c), view(x)
        for dims in (None, 0, 1, -1, (0, 1)):
            if dims is not None and isinstance(dims, int) and dims >= len(vc.shape):
                continue
            kw = {} if dims is None else {"dim": dims}
            _close(vx.sum(**kw), vc.sum(**kw))
            _close(vx.amax(**kw), vc.amax(**kw))
            _close(vx.mean(**kw), vc.mean(**kw))
    xi, ci = ember.tensor(a.astype(np.int32), device="xpu"), ember.tensor(a.astype(np.int32), device="cpu")
    _close(xi.t()[::2].sum(0), ci.t()[::2].sum(0))
    _close(xi[:, 1::4].prod(1), ci[:, 1::4].prod(1))


@needs("sum", "amax", "amin", "prod")
def test_reductions_keep_nan_and_inf_semantics(reductions):
    """NaN wins amax/amin and poisons sums wherever it sits; inf - inf sums to NaN; against PyTorch."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(22)
    a = rng.standard_normal((9, 4099)).astype(np.float32)
    a[1, 4098] = np.nan          # a row's last element
    a[3, 0] = np.nan
    a[4, 7] = np.inf
    a[5, 8], a[5, 9] = np.inf, -np.inf
    a[6, :] = -np.inf
    x, t = ember.tensor(a, device="xpu"), torch.tensor(a)
    for dims in (None, 0, 1):
        kx = {} if dims is None else {"dim": dims}
        for name in ("sum", "amax", "amin", "prod", "mean"):
            got = getattr(ember, name)(x, **kx).to("cpu").numpy()
            want = getattr(torch, name)(t, **kx).numpy() if name not in ("amax", "amin") or dims is not None \
                else getattr(torch, name)(t).numpy()
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3, equal_nan=True)
            assert (np.isnan(got) == np.isnan(want)).all(), (name, dims)


@needs("sum")
def test_large_sums_stay_accurate_and_deterministic(reductions, xpu):
    """float32 sums accumulate in float32 in bounded runs: a 2**22 sum stays within float32 rounding of
    the exact sum, and the same call gives the same bits; integer sums are exact."""
    rng = np.random.default_rng(23)
    a = rng.standard_normal(1 << 22).astype(np.float32)
    x = ember.tensor(a, device="xpu")
    s1, s2 = x.sum().item(), x.sum().item()
    assert s1 == s2
    assert abs(s1 - a.astype(np.float64).sum()) < 1e-5 * np.abs(a).sum()
    big = rng.integers(-2 ** 31, 2 ** 31, 1 << 20).astype(np.int32)
    assert ember.tensor(big, device="xpu").sum().item() == int(big.astype(np.int64).sum())
    if D.float64 in xpu.dtypes():
        f = rng.standard_normal((3, 100001))
        np.testing.assert_allclose(ember.tensor(f, device="xpu").sum(1).to("cpu").numpy(), f.sum(1), rtol=1e-12)
