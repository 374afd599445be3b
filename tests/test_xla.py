"""The xla backend (ember-xla on JAX) against the cpu backend and numpy: every prim family,
every layout a kernel must read and write, dtypes, errors, and the no-retrace rule."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="ember-xla needs jax and jaxlib (pip install jax)")
ember_xla = pytest.importorskip("ember_xla", reason="ember-xla is not installed (pip install -e backends/xla)")

import ember  # noqa: E402
from ember import dtypes as D  # noqa: E402
from ember.ops import elementwise as E  # noqa: E402

from layouts import LAYOUTS, random_array, to_f64  # noqa: E402

X = "xla"
TOL = {"float16": (2e-3, 2e-3), "bfloat16": (1.6e-2, 1e-2), "float32": (2e-6, 2e-5), "float64": (1e-12, 1e-12)}
DOMAIN = {"log": (0.1, 4), "log2": (0.1, 4), "log10": (0.1, 4), "log1p": (-0.5, 4), "sqrt": (0, 4),
          "rsqrt": (0.1, 4), "asin": (-0.9, 0.9), "acos": (-0.9, 0.9), "acosh": (1.1, 4),
          "atanh": (-0.9, 0.9), "erfinv": (-0.9, 0.9), "reciprocal": (0.5, 4), "tan": (-1.2, 1.2)}


def both(a, dtype, layout="contiguous"):
    """The same values as a cpu tensor and an xla tensor, in the given layout."""
    out = []
    for dev in ("cpu", X):
        if layout == "transposed" and a.ndim >= 2:
            t = ember.tensor(np.ascontiguousarray(a.T), dtype=dtype, device=dev).t()
        elif layout == "stepped" and a.ndim >= 2:
            big = np.zeros((2 * a.shape[0] + 1, 3 * a.shape[1]), a.dtype)
            big[1::2, ::3] = a
            t = ember.tensor(big, dtype=dtype, device=dev)[1::2, ::3]
        else:
            t = ember.tensor(a, dtype=dtype, device=dev)
        out.append(t)
    return out


def check(got, want, label=""):
    """xla result ``got`` equals cpu result ``want``: values, dtype and shape."""
    assert got.device.type == X
    assert got.dtype is want.dtype, (label, got.dtype, want.dtype)
    assert tuple(got.shape) == tuple(want.shape), label
    g, w = to_f64(got.cpu().numpy()), to_f64(want.numpy())
    if want.dtype.is_floating_point:
        rtol, atol = TOL[want.dtype.name]
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, equal_nan=True, err_msg=label)
    else:
        np.testing.assert_array_equal(g, w, err_msg=label)


def sweep(cases):
    """Run (label, fn, cpu args, xla args) cases: cpu eagerly, xla in one lazy graph (one XLA
    compile for the whole sweep), then compare. Cases that cpu refuses are skipped."""
    want = []
    for label, fn, cargs, xargs in cases:
        try:
            want.append((label, fn, fn(*cargs), xargs))
        except (ember.DTypeError, TypeError, ZeroDivisionError, ValueError):
            pass
    with ember_xla.lazy():
        got = [(label, fn(*xargs), w) for label, fn, w, xargs in want]
    for label, g, w in got:
        if isinstance(w, tuple):
            for gi, wi in zip(g, w):
                check(gi, wi, label)
        else:
            check(g, w, label)
    return len(got)


def arr(shape, dtype, rng, lo=-3.0, hi=3.0):
    return random_array(shape, dtype, rng, low=lo, high=hi)


def shape_of(layout):
    return {"scalar": (), "empty": (0, 4)}.get(layout, (3, 4))


# -- elementwise ------------------------------------------------------------------------

def test_unary_matches_cpu():
    rng = np.random.default_rng(0)
    cases = []
    for name in sorted(E.UNARY):
        lo, hi = DOMAIN.get(name, (-3, 3))
        dtype = D.int32 if name == "bitwise_not" else D.float32
        c, x = both(arr((3, 4), dtype, rng, lo, hi), dtype)
        cases.append((name, getattr(ember, name), (c,), (x,)))
    assert sweep(cases) == len(E.UNARY)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_unary_layouts_and_dtypes(layout):
    rng = np.random.default_rng(1)
    cases = []
    dtypes = (D.float32, D.bfloat16, D.int64, D.bool) if layout == "stepped" else (D.float64, D.uint8)
    for dtype in dtypes:
        c, x = both(arr(shape_of(layout), dtype, rng), dtype, layout)
        for name in ("neg", "exp", "sign", "isnan", "bitwise_not"):
            cases.append((f"{name} {dtype.name}", getattr(ember, name), (c,), (x,)))
    assert sweep(cases) >= 5


def test_binary_matches_cpu():
    rng = np.random.default_rng(2)
    cases = []
    for name in sorted(E.BINARY):
        for dtype in ((D.int64,) if "shift" in name or "bitwise" in name else (D.float32, D.bool)):
            shift = "shift" in name
            ca, xa = both(arr((3, 4), dtype, rng, 0 if shift else -3, 5 if shift else 3), dtype)
            cb, xb = both(arr((3, 4), dtype, rng, 1, 5 if shift else 3) if dtype is not D.bool
                          else arr((3, 4), dtype, rng), dtype)
            cases.append((f"{name} {dtype.name}", getattr(ember, name), (ca, cb), (xa, xb)))
    assert sweep(cases) > len(E.BINARY)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_binary_layouts_broadcast_and_scalars(layout):
    rng = np.random.default_rng(3)
    shape = shape_of(layout)
    cases = []
    for dtype in ((D.float32, D.int8) if layout == "stepped" else (D.float16,)):
        ca, xa = both(arr(shape, dtype, rng), dtype, layout)
        cr, xr = both(arr(shape[-1:] if shape else (), dtype, rng), dtype)
        for name in ("add", "maximum", "lt"):
            fn = getattr(ember, name)
            cases += [(f"{name} broadcast {dtype.name}", fn, (ca, cr), (xa, xr)),
                      (f"{name} scalar {dtype.name}", fn, (ca, 2), (xa, 2)),
                      (f"{name} aliased {dtype.name}", fn, (ca, ca), (xa, xa))]
        cases += [("true_divide", ember.true_divide, (ca, 3), (xa, 3)),
                  ("float scalar", ember.add, (ca, 2.5), (xa, 2.5))]
    assert sweep(cases) == len(cases)


def test_scalar_value_never_retraces():
    x = ember.ones(4, 4, device=X)
    x * 0.5
    before = ember_xla.stats["traces"]
    for v in (0.25, 1.5, 3.0, -2.0):
        y = x * v
    assert ember_xla.stats["traces"] == before
    assert y.cpu().numpy()[0, 0] == -2.0


def test_repeated_operator_never_retraces():
    a, b = ember.ones(8, 8, device=X), ember.ones(8, 8, device=X)
    for _ in range(2):
        (a + b).sum(), (a @ b).t().contiguous(), a.exp().amax(1)
    before = ember_xla.stats["traces"]
    for _ in range(5):
        a2, b2 = ember.full((8, 8), 2.0, device=X), ember.ones(8, 8, device=X)
        (a2 + b2).sum(), (a2 @ b2).t().contiguous(), a2.exp().amax(1)
    assert ember_xla.stats["traces"] == before


def test_eager_cache_is_bounded_and_releases_executables(monkeypatch):
    from ember_xla import _engine
    monkeypatch.setattr(_engine, "CACHE_SIZE", 8)
    first = None
    for n in range(1, 30):   # every length is a new key: a new jitted function
        x = ember.ones(n, device=X)
        assert (x + x).sum().item() == 2.0 * n
        if first is None:
            first = next(iter(_engine._FNS.values()))
        assert len(_engine._FNS) <= 8
    assert first not in _engine._FNS.values()
    assert first._cache_size() == 0      # its compiled executables were released



@pytest.mark.parametrize("mode", ["eager", "lazy"])
def test_inplace_on_views_writes_through(mode):
    rng = np.random.default_rng(4)
    c, x = both(arr((6, 8), D.float32, rng), D.float32)

    def edit(t):
        v = t[1::2, 2:7:2].t()           # a strided, transposed view
        v.add_(1.5)
        v.mul_(v)
        t[0].exp_()
        t[:, 0].clamp_(-1.0, 1.0)
        t[2:4, 1:3].neg_()
        t.diagonal().sub_(t[5, :6])

    edit(c)
    if mode == "lazy":
        with ember_xla.lazy():
            edit(x)
    else:
        edit(x)
    check(x, c)


def test_inplace_dtype_cast_and_alias():
    c, x = both(np.arange(12, dtype=np.float32).reshape(3, 4), D.float32)
    for t in (c, x):
        t.add_(t.t().contiguous().t())   # a different storage with the same values
        t[0].mul_(t[1])                   # a row times another row of the same storage
        t[:, 1] = t[:, 2]
    check(x, c)


def test_where_and_scalars():
    rng = np.random.default_rng(5)
    cc, xc = both(arr((3, 4), D.bool, rng), D.bool)
    ca, xa = both(arr((3, 4), D.float32, rng), D.float32)
    check(ember.where(xc, xa, 0.0), ember.where(cc, ca, 0.0))
    check(ember.where(xc, 1.0, xa.t().contiguous().t()), ember.where(cc, 1.0, ca))
    check(ember.where(xc, 1, 0), ember.where(cc, 1, 0))


def test_integer_division_by_zero_and_negative_power_raise():
    x = ember.tensor([5, 7], device=X)
    with pytest.raises(ZeroDivisionError):
        x // ember.tensor([0, 1], device=X)
    with pytest.raises(ZeroDivisionError):
        x % 0
    with pytest.raises(ValueError, match="negative integer powers"):
        x ** -1
    # a negative tensor exponent gives PyTorch's values (0 here), on xla as on cpu
    check(x ** ember.tensor([-1, 2], device=X), ember.tensor([5, 7]) ** ember.tensor([-1, 2]))
    check(x // 2, ember.tensor([5, 7]) // 2)


# -- copies, creation, dtypes ----------------------------------------------------------------

def test_casts_match_cpu():
    rng = np.random.default_rng(6)
    cases = []
    for src in (D.float32, D.float64, D.bfloat16, D.int64, D.bool):
        c, x = both(arr((3, 5), src, rng, -100, 100), src, "stepped")
        for dst in (D.float16, D.int32, D.bool, D.uint8):
            cases.append((f"{src.name} -> {dst.name}", lambda t, d=dst: t.to(d), (c,), (x,)))
    assert sweep(cases) == len(cases)


def test_int64_and_float64_are_64_bit_without_touching_jax_flag():
    flag = jax.config.jax_enable_x64
    big = 2**40 + 3
    x = ember.tensor([big, -big], device=X)
    assert x.dtype is D.int64 and (x * 2).tolist() == [2 * big, -2 * big]
    f = ember.tensor([1 + 2**-40], dtype=D.float64, device=X)
    assert (f - 1).item() == 2**-40
    assert jax.config.jax_enable_x64 == flag
    assert jax.numpy.ones(1, dtype=int).dtype == (np.int64 if flag else np.int32)


def test_creation_ops():
    check(ember.arange(2, 11, 3, device=X), ember.arange(2, 11, 3))
    check(ember.arange(0.5, 3.0, 0.25, device=X), ember.arange(0.5, 3.0, 0.25))
    check(ember.linspace(-1, 1, 7, device=X), ember.linspace(-1, 1, 7))
    check(ember.eye(3, 4, device=X), ember.eye(3, 4))
    check(ember.full((2, 3), 7, dtype=D.uint8, device=X), ember.full((2, 3), 7, dtype=D.uint8))
    e = ember.empty(2, 3, device=X)
    assert e.shape == (2, 3) and e.dtype is D.float32
    assert ember.zeros(0, 3, device=X).cpu().numpy().shape == (0, 3)


def test_host_copies_both_ways_and_data_ptr():
    a = np.arange(6, dtype=np.int16).reshape(2, 3)
    x = ember.tensor(a, device=X)
    a[0, 0] = 99                                   # the device copy is independent
    assert x.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert x.to("cpu").device.type == "cpu"
    assert isinstance(x.data_ptr(), int) and x[1].data_ptr() == x.data_ptr() + 3 * 2
    with pytest.raises(TypeError, match="cpu"):
        x.numpy()                                  # not host memory: .cpu().numpy()
    ember_xla.runtime.runtime.synchronize(x.device)


# -- reductions, scans, products, shapes, sorting --------------------------------------------

@pytest.mark.parametrize("layout", ["contiguous", "transposed", "stepped", "scalar", "empty"])
def test_reductions(layout):
    rng = np.random.default_rng(7)
    cases = []
    for dtype in ((D.float32, D.bfloat16, D.int32, D.bool) if layout == "contiguous" else (D.float32,)):
        c, x = both(arr(shape_of(layout), dtype, rng), dtype, layout)
        nd = c.ndim
        for dim in [None] + ([0, (0, 1)] if nd == 2 else []):
            for keep in ((False, True) if dim == 0 else (False,)):
                cases += [(f"sum {dim} {keep}", lambda t, d=dim, k=keep: t.sum(d, k), (c,), (x,)),
                          (f"any {dim} {keep}", lambda t, d=dim, k=keep: t.any(d, k), (c,), (x,)),
                          (f"all {dim} {keep}", lambda t, d=dim, k=keep: t.all(d, k), (c,), (x,))]
                if dtype is not D.bool:
                    cases.append((f"prod {dim}", lambda t, d=dim, k=keep: t.prod(d, k, dtype=D.float64), (c,), (x,)))
                if c.numel():
                    cases += [(f"amax {dim}", lambda t, d=dim, k=keep: t.amax(d, k), (c,), (x,)),
                              (f"amin {dim}", lambda t, d=dim, k=keep: t.amin(d, k), (c,), (x,))]
        if c.numel() and dtype is not D.bool:
            cases += [("argmax", lambda t: t.argmax(), (c,), (x,)),
                      ("argmin", lambda t: t.argmin(-1 if t.ndim else None, True), (c,), (x,)),
                      ("cumsum", lambda t: t.cumsum(0), (c,), (x,)),
                      ("cumprod", lambda t: t.cumprod(-1), (c,), (x,))]
        if dtype.is_floating_point:
            cases.append(("mean", lambda t: t.mean(), (c,), (x,)))
            if c.numel() > 1:
                cases.append(("var", lambda t: t.var(), (c,), (x,)))
    assert sweep(cases) == len(cases)


def test_nan_propagation_and_argmax_of_nan():
    a = np.array([[1.0, np.nan, 3.0], [2.0, 0.5, 1.0]], np.float32)
    c, x = both(a, D.float32)
    check(x.amax(1), c.amax(1))
    check(x.argmax(1), c.argmax(1))
    check(x.sum(), c.sum())


def test_matmul_family():
    rng = np.random.default_rng(8)
    cases = []
    for dtype in (D.float32, D.float16, D.int8):
        ca, xa = both(arr((2, 3, 4), dtype, rng), dtype)
        cb, xb = both(arr((2, 4, 5), dtype, rng), dtype)
        z = (ember.zeros(2, 0, dtype=dtype), ember.zeros(0, 3, dtype=dtype))
        zx = tuple(t.to(X) for t in z)
        cases += [("bmm", ember.bmm, (ca, cb), (xa, xb)),
                  ("matmul batch", lambda a, b: a @ b[0], (ca, cb), (xa, xb)),
                  ("mv", lambda a, b: a[0] @ b[1, :, 0], (ca, cb), (xa, xb)),
                  ("dot", lambda a, b: ember.dot(a[0, 0], b[0, :, 1]), (ca, cb), (xa, xb)),
                  ("transposed", lambda a: a[0].t() @ a[1], (ca,), (xa,)),
                  ("k = 0", ember.mm, z, zx)]
        if dtype.is_floating_point:
            cases.append(("addmm", lambda a, b: ember.addmm(b[0, 0], a[0], b[0]), (ca, cb), (xa, xb)))
    assert sweep(cases) == len(cases)


def test_shape_ops():
    rng = np.random.default_rng(9)
    c, x = both(arr((3, 4), D.float32, rng), D.float32, "transposed")
    check(x.flip(0), c.flip(0))
    check(x.flip((0, 1)), c.flip((0, 1)))
    check(ember.cat([x, x * 2], 1), ember.cat([c, c * 2], 1))
    check(ember.cat([x, x.to(D.float64)], 0), ember.cat([c, c.to(D.float64)], 0))
    check(ember.stack([x, x], 1), ember.stack([c, c], 1))
    check(x.tril(), c.tril())
    check(x.triu(1), c.triu(1))
    check(x.repeat(2, 1), c.repeat(2, 1))
    check(x.roll(1, 0), c.roll(1, 0))
    check(ember.one_hot(ember.tensor([0, 2, 1], device=X), 4), ember.one_hot(ember.tensor([0, 2, 1]), 4))


def test_sort():
    rng = np.random.default_rng(10)
    cases = []
    for dtype in (D.float32, D.bfloat16, D.bool):
        a = arr((4, 6), dtype, rng, -2, 2)
        if dtype.is_floating_point:
            a[1, 2] = np.nan
        c, x = both(a, dtype, "transposed")
        for dim in (0, 1):
            for desc in (False, True):
                cases.append((f"sort {dtype.name} {dim} {desc}",
                               lambda t, d=dim, s=desc: tuple(ember.sort(t, d, s, stable=True)), (c,), (x,)))
        cases.append(("topk", lambda t: ember.topk(t.to(D.float32), 2).values, (c,), (x,)))
    assert sweep(cases) == len(cases)


# -- indexing ------------------------------------------------------------------------------

def test_gather_scatter_index_ops():
    rng = np.random.default_rng(11)
    c, x = both(arr((4, 5), D.float32, rng), D.float32, "stepped")
    ci, xi = both(rng.integers(0, 4, size=(3, 5)).astype(np.int64), D.int64)
    mc, mx = both(arr((4, 5), D.bool, rng), D.bool)
    cases = [("gather", lambda t, i: t.gather(0, i), (c, ci), (x, xi)),
             ("scatter", lambda t, i: t.scatter(0, i, t[:3] * 2), (c, ci), (x, xi)),
             ("scatter_add", lambda t, i: t.scatter_add(0, i, t[:3]), (c, ci), (x, xi)),
             ("index_select", lambda t, i: t.index_select(1, i[0]), (c, ci), (x, xi)),
             ("index_add", lambda t, i: t.index_add(0, i[0, :2], t[:2]), (c, ci), (x, xi)),
             ("masked_fill", lambda t, m: t.masked_fill(m, -1.0), (c, mc), (x, mx)),
             ("masked_select", lambda t, m: t.masked_select(m), (c, mc), (x, mx)),   # a sync point
             ("nonzero", lambda t: t.nonzero(), (c,), (x,)),
             ("index", lambda t, i: t[i[0, :2]], (c, ci), (x, xi)),
             ("bool index", lambda t, m: t[m], (c, mc), (x, mx))]
    assert sweep(cases) == len(cases)
    for t, i in ((c, ci), (x, xi)):
        t[i[0, :2]] = 0.5
        t[1:3, ::2] = t[0, ::2]
    check(x, c)


@pytest.mark.parametrize("op", ["gather", "scatter_", "index_select", "scatter_add_"])
def test_index_out_of_range_raises_before_writing(op):
    x = ember.zeros(3, 4, device=X)
    bad = ember.tensor([[0, 5, 1, 2]], device=X)
    with pytest.raises(ember.IndexOutOfRangeError, match="5") as e:
        if op == "gather":
            x.gather(1, bad)
        elif op == "index_select":
            x.index_select(1, bad[0])
        else:
            getattr(x, op)(1, bad, ember.ones(1, 4, device=X))
    assert "4" in str(e.value)
    assert x.sum().item() == 0                     # nothing was written


def test_meta_device_agrees_on_shapes():
    x = ember.ones(3, 4, device=X)
    m = ember.empty(3, 4, device="meta")
    for f in (lambda t: t.sum(1), lambda t: t @ t.t(), lambda t: ember.cat([t, t], 0), lambda t: t.flip(0)):
        assert f(x).shape == f(m).shape and f(x).dtype is f(m).dtype


def test_devices_are_jax_devices():
    assert ember_xla.runtime.runtime.device_count() == len(jax.devices())
    x = ember.ones(2, device="xla:0")
    assert x.device == ember.device("xla:0")
    with pytest.raises(ember.UnknownDeviceError, match="out of range"):
        ember.ones(2, device=f"xla:{len(jax.devices())}")


# -- random numbers ------------------------------------------------------------------------

def _philox_ref(counter, key):
    """Philox4x32-10 in Python integers (the reference the INTERFACES.md contract fixes)."""
    m = 0xFFFFFFFF
    c = [(counter >> (32 * i)) & m for i in range(4)]
    k0, k1 = key & m, (key >> 32) & m
    for r in range(10):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & m, (k1 + 0xBB67AE85) & m
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [((p1 >> 32) ^ c[1] ^ k0) & m, p1 & m, ((p0 >> 32) ^ c[3] ^ k1) & m, p0 & m]
    return c


def test_philox_kernel_known_answer_and_counter_carries():
    from ember_xla.kernels.random import philox_random
    assert _philox_ref(0, 0) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    seed, offset = 0x1234_5678_9ABC_DEF0, (1 << 64) - 2     # the counter carries into word 2
    out = ember.empty(11, dtype=D.int64, device=X)
    philox_random(out, seed, offset)
    want = [w for j in range(3) for w in _philox_ref(offset + j, seed)][:11]
    assert out.tolist() == want


@pytest.mark.skipif(not hasattr(ember, "manual_seed"), reason="this ember-core has no random operators")
def test_random_numbers_match_cpu_bit_for_bit():
    outs = {}
    for dev in ("cpu", X):
        ember.manual_seed(123)
        outs[dev] = [ember.rand(5, 3, device=dev), ember.randint(0, 100, (6,), device=dev),
                     ember.rand(4, dtype=D.float64, device=dev), ember.philox_random([9], 5, 2**70, device=dev)]
    for a, b in zip(outs["cpu"], outs[X]):
        np.testing.assert_array_equal(a.numpy(), b.cpu().numpy())
    ember.manual_seed(123)
    z = ember.randn(1000, device=X).cpu().numpy()       # transcendentals differ by an ulp: statistics only
    assert abs(z.mean()) < 0.1 and abs(z.std() - 1) < 0.1


# -- fused optimizer updates ------------------------------------------------------------------

@pytest.mark.skipif("adam_step_" not in ember.dispatch.registry, reason="this ember-core has no fused optimizer ops")
def test_fused_optimizer_steps_match_their_decompositions():
    rng = np.random.default_rng(12)
    vals = [arr((3, 4), D.float32, rng) for _ in range(5)]
    reg = ember.dispatch.registry

    def state():
        return [ember.tensor(v, device=X) for v in vals]

    for first in (True, False):
        a, b = state(), state()
        ember.sgd_step_(a[0], a[1], a[2], 0.1, 0.9, 0.0, 0.01, True, first)
        reg["sgd_step_"].decomposition(b[0], b[1], b[2], 0.1, 0.9, 0.0, 0.01, True, first)
        for x, y in zip(a, b):
            np.testing.assert_allclose(x.cpu().numpy(), y.cpu().numpy(), rtol=1e-6, atol=1e-7)
    for ams, decoupled in ((False, False), (True, True)):
        a, b = state(), state()
        for t in (a, b):
            t[3] = t[3].abs()
            t[4] = t[4].abs()
        ember.adam_step_(a[0], a[1], a[2], a[3], a[4] if ams else None, 0.01, 0.9, 0.999, 1e-8, 0.1, 3.0, decoupled)
        reg["adam_step_"].decomposition(b[0], b[1], b[2], b[3], b[4] if ams else None, 0.01, 0.9, 0.999, 1e-8, 0.1,
                                        3.0, decoupled)
        for x, y in zip(a, b):
            np.testing.assert_allclose(x.cpu().numpy(), y.cpu().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.skipif("cross_entropy" not in ember.dispatch.registry, reason="this ember-core has no nn operators")
def test_cross_entropy_kernel_matches_cpu_and_checks_targets():
    import ember.nn.functional as F
    rng = np.random.default_rng(13)
    x = rng.standard_normal((3, 4, 2)).astype(np.float32)
    t = rng.integers(0, 4, (3, 2))
    t[0, 0] = -100
    w = rng.random(4).astype(np.float32)
    cases = []
    for weight in (None, w):
        for red in ("mean", "sum", "none"):
            for eps in (0.0, 0.1):
                cw, xw = (None, None) if weight is None else both(weight, D.float32)
                cases.append((f"{red} {eps} {weight is not None}",
                              lambda a, b, ww=None, r=red, e=eps: F.cross_entropy(a, b, weight=ww, reduction=r,
                                                                                   label_smoothing=e),
                              (*both(x, D.float32)[:1], both(t, D.int64)[0], cw),
                              (both(x, D.float32)[1], both(t, D.int64)[1], xw)))
    assert sweep(cases) == len(cases)
    with pytest.raises(ember.IndexOutOfRangeError, match="target 7"):
        F.cross_entropy(ember.tensor(x, device=X), ember.tensor(np.full((3, 2), 7), device=X))
