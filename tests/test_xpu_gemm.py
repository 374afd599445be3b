"""matmul, mm, bmm, addmm and baddbmm on xpu against PyTorch (float64 reference on the CPU).

The xpu GEMM is kernelgen's: on pocl the register-blocked kernel over packed panels of b, with the
tile measured for the device (ember_kernelgen.gemm); backends/kernelgen/tests runs every candidate
tile. Here: sizes that leave partial tiles, transposed and sliced operands, batches with a shared
operand, empty operands, and float32 and float64. Runs on pocl's CPU device where no Intel GPU is
present; skips with the reason where OpenCL is missing.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyopencl", reason="pyopencl is not installed (pip install pyopencl)")
pytest.importorskip("ember_xpu", reason="ember-xpu is not installed (pip install -e backends/xpu)")
pytest.importorskip("ember_kernelgen", reason="ember-kernelgen is not installed (pip install -e backends/kernelgen)")
torch = pytest.importorskip("torch", reason="PyTorch is the reference (pip install torch)")

import ember  # noqa: E402
from xpu_device import xpu_runtime  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def xpu():
    return xpu_runtime()


RNG = np.random.default_rng(2024)
DTYPES = {"float32": (np.float32, torch.float32), "float64": (np.float64, torch.float64)}


def _arr(shape, dt):
    return RNG.uniform(-2, 2, size=shape).astype(DTYPES[dt][0])


def _x(a):
    return ember.tensor(a, device="xpu")


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a)).to(torch.float64)


def _check(got, want, dt, k):
    """got: an xpu tensor; want: a torch float64 tensor; k: the length of the sums."""
    assert got.device.type == "xpu"
    assert got.dtype is getattr(ember, dt)
    assert tuple(got.shape) == tuple(want.shape)
    g = got.to("cpu").numpy().astype(np.float64)
    tol = (2e-5 if dt == "float32" else 1e-12) * max(1.0, np.sqrt(k))
    np.testing.assert_allclose(g, want.numpy(), rtol=tol, atol=tol)


SIZES = [(1, 1, 1), (1, 300, 1), (7, 13, 5), (33, 17, 65), (129, 70, 31), (16, 64, 48), (257, 300, 129)]


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("n,k,p", SIZES, ids=lambda v: str(v))
def test_matmul_sizes_with_partial_tiles(dt, n, k, p):
    a, b = _arr((n, k), dt), _arr((k, p), dt)
    want = _t(a) @ _t(b)
    _check(_x(a) @ _x(b), want, dt, k)
    _check(ember.mm(_x(a), _x(b)), want, dt, k)


@pytest.mark.parametrize("dt", DTYPES)
def test_transposed_and_sliced_operands(dt):
    a, b = _arr((37, 21), dt), _arr((45, 37), dt)     # used as a.T (21x37) and b.T (37x45)
    xa, xb = _x(a), _x(b)
    _check(xa.t() @ xb.t(), _t(a).T @ _t(b).T, dt, 37)
    c = _arr((21, 45), dt)
    _check(xa @ _x(c), _t(a) @ _t(c), dt, 21)
    _check(_x(c).t() @ xa.t(), _t(c).T @ _t(a).T, dt, 21)
    big_a, big_b = _arr((74, 42), dt), _arr((42, 90), dt)
    sa, sb = _x(big_a)[::2, ::2], _x(big_b)[::2, 1::2]       # strides 2 in both dims
    _check(sa @ sb, _t(big_a)[::2, ::2] @ _t(big_b)[::2, 1::2], dt, 21)


@pytest.mark.parametrize("dt", DTYPES)
def test_bmm_and_batched_matmul(dt):
    a, b = _arr((3, 19, 40), dt), _arr((3, 40, 23), dt)
    _check(ember.bmm(_x(a), _x(b)), torch.bmm(_t(a), _t(b)), dt, 40)
    # batch matrices transposed in place
    at = _arr((3, 40, 19), dt)
    _check(ember.bmm(_x(at).transpose(1, 2), _x(b)), torch.bmm(_t(at).transpose(1, 2), _t(b)), dt, 40)
    # one b for every batch, and one a for every batch
    w = _arr((40, 23), dt)
    _check(_x(a) @ _x(w), _t(a) @ _t(w), dt, 40)
    _check(_x(a[0]) @ _x(b), _t(a[0]) @ _t(b), dt, 40)
    four = _arr((2, 3, 9, 40), dt)
    _check(_x(four) @ _x(b), _t(four) @ _t(b), dt, 40)
    # a vector on either side
    v = _arr((40,), dt)
    _check(_x(a) @ _x(v), _t(a) @ _t(v), dt, 40)
    _check(_x(v) @ _x(b), _t(v) @ _t(b), dt, 40)


@pytest.mark.parametrize("dt", DTYPES)
def test_addmm_and_baddbmm(dt):
    x, m1, m2 = _arr((17, 29), dt), _arr((17, 30), dt), _arr((30, 29), dt)
    want = torch.addmm(_t(x), _t(m1), _t(m2), beta=0.5, alpha=-1.5)
    _check(ember.addmm(_x(x), _x(m1), _x(m2), beta=0.5, alpha=-1.5), want, dt, 30)
    row = _arr((29,), dt)
    _check(ember.addmm(_x(row), _x(m1), _x(m2)), torch.addmm(_t(row), _t(m1), _t(m2)), dt, 30)
    m1t = np.ascontiguousarray(m1.T)                   # m1 given transposed (a Linear layer's weight)
    _check(ember.addmm(_x(x), _x(m1t).t(), _x(m2), alpha=2.0), torch.addmm(_t(x), _t(m1), _t(m2), alpha=2.0),
           dt, 30)
    bx, b1, b2 = _arr((2, 5, 7), dt), _arr((2, 5, 11), dt), _arr((2, 11, 7), dt)
    _check(ember.baddbmm(_x(bx), _x(b1), _x(b2), beta=2.0, alpha=0.25),
           torch.baddbmm(_t(bx), _t(b1), _t(b2), beta=2.0, alpha=0.25), dt, 11)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("n,k,p", [(0, 3, 4), (4, 0, 3), (3, 4, 0), (0, 0, 0)], ids=lambda v: str(v))
def test_empty_operands(dt, n, k, p):
    a, b = _arr((n, k), dt), _arr((k, p), dt)
    _check(_x(a) @ _x(b), _t(a) @ _t(b), dt, 1)              # k == 0: zeros
    x = _arr((n, p), dt)
    _check(ember.addmm(_x(x), _x(a), _x(b), beta=3.0), torch.addmm(_t(x), _t(a), _t(b), beta=3.0), dt, 1)
    ba, bb = _arr((2, n, k), dt), _arr((2, k, p), dt)
    _check(ember.bmm(_x(ba), _x(bb)), torch.bmm(_t(ba), _t(bb)), dt, 1)
    _check(ember.bmm(_x(_arr((0, n, k), dt)), _x(_arr((0, k, p), dt))),
           torch.bmm(_t(_arr((0, n, k), dt)), _t(_arr((0, k, p), dt))), dt, 1)


def test_matmul_gradients_on_xpu():
    a, b = _arr((6, 9), "float32"), _arr((9, 5), "float32")
    xa, xb = _x(a).requires_grad_(), _x(b).requires_grad_()
    (xa @ xb).sum().backward()
    ta, tb = _t(a).requires_grad_(), _t(b).requires_grad_()
    (ta @ tb).sum().backward()
    _check(xa.grad, ta.grad, "float32", 5)
    _check(xb.grad, tb.grad, "float32", 6)


def test_clblast_gemm_where_pyclblast_is_installed():
    """EMBER_XPU_GEMM=clblast's kernel (float32/float64 through CLBlast, the rest through kernelgen)."""
    pytest.importorskip("pyclblast", reason="pyclblast is not installed (pip install ember-xpu[clblast])")
    from ember_xpu import kernels as XK
    bmm = XK._clblast_bmm(XK._gen["bmm"])
    for dt in DTYPES:
        a, b = _arr((2, 19, 37), dt), _arr((2, 37, 45), dt)
        _check(bmm(_x(a), _x(b)), torch.bmm(_t(a), _t(b)), dt, 37)
        bt = _x(np.ascontiguousarray(b.transpose(0, 2, 1))).transpose(1, 2)
        at = _x(np.ascontiguousarray(a.transpose(0, 2, 1))).transpose(1, 2)
        _check(bmm(at, bt), torch.bmm(_t(a), _t(b)), dt, 37)
        sliced = _x(np.concatenate([a, a], axis=1))[:, 19:]          # an operand at an offset
        _check(bmm(sliced, _x(b)), torch.bmm(_t(a), _t(b)), dt, 37)
    ints = RNG.integers(-3, 4, size=(1, 5, 6)), RNG.integers(-3, 4, size=(1, 6, 4))
    got = bmm(*map(_x, ints)).to("cpu").numpy()
    np.testing.assert_array_equal(got, ints[0] @ ints[1])
