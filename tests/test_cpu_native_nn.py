"""The cpu backend's native nn kernels (backends/cpu/ember_cpu/native/conv.cpp, norm_pool.cpp, activation.cpp)
against PyTorch: conv2d forward and backward (the register-tiled products, at stride 1 through shifted rows and
otherwise through columns, on every vector instruction set the cpu has), conv_transpose2d (conv2d's input
gradient) and its backward, batch norm with the batch's statistics and its running statistics, max pooling with
indices, the Adam/AdamW update and relu's gradient (threshold_backward); float32 and float64, odd shapes,
padding, stride, output_padding, dilation, groups, non-contiguous inputs, infs and NaNs."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember_cpu import _native
from ember_cpu.kernels import nn as cpu_nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOL = {"float32": 3e-5, "float64": 1e-11}
LEVELS = [lv for lv in ("avx512", "avx2", "sse2")
          if ("sse2", "avx2", "avx512").index(lv) <= ("sse2", "avx2", "avx512").index(_native.simd_level()[1])]


@pytest.fixture(params=LEVELS)
def simd(request):
    """Run the test on one vector instruction set, then restore the widest."""
    before = _native.simd_level()[0]
    _native.simd_level(request.param)
    assert _native.simd_level()[0] == request.param
    yield request.param
    _native.simd_level(before)


def _close(e, t, tol, what=""):
    np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=tol, atol=tol, err_msg=what)


def _conv_both(x, w, b, g, dtype, fns=(F.conv2d, TF.conv2d), **kw):
    """(ember out, x.grad, w.grad, b.grad), (torch ...) of conv2d (or fns) with upstream gradient g."""
    res = []
    for lib, fn in zip((ember, torch), fns):
        tx = lib.tensor(x.astype(dtype), requires_grad=True)
        tw = lib.tensor(w.astype(dtype), requires_grad=True)
        tb = None if b is None else lib.tensor(b.astype(dtype), requires_grad=True)
        out = fn(tx, tw, tb, **kw)
        out.backward(lib.tensor(g.astype(dtype)))
        res.append((out, tx.grad, tw.grad, None if tb is None else tb.grad))
    return res


# (N, C, H, W, O, groups, kernel, stride, padding, dilation)
CONV_CASES = [
    (32, 1, 8, 8, 16, 1, (3, 3), 1, 1, 1),          # the digits CNN's layers
    (32, 16, 8, 8, 32, 1, (3, 3), 1, 1, 1),
    (3, 4, 7, 9, 6, 2, (3, 2), 1, (1, 0), (1, 2)),  # groups, dilation, a width that is no whole vector
    (2, 6, 11, 5, 9, 3, (2, 3), 1, (0, 1), (2, 1)),
    (1, 1, 1, 1, 1, 1, (1, 1), 1, 0, 1),
    (2, 8, 6, 6, 8, 8, (3, 3), 1, 1, 1),            # depthwise
    (4, 5, 9, 10, 13, 1, (1, 1), 1, 0, 1),
    (2, 3, 4, 4, 5, 1, (2, 2), 1, 3, 1),            # padding beyond the kernel's extent
    (5, 3, 13, 17, 7, 1, (5, 5), 2, 2, 1),          # strides: columns
    (3, 6, 9, 8, 4, 2, (3, 3), (2, 1), 1, 1),
    (2, 3, 5, 5, 4, 1, (3, 3), 3, 2, 2),
    (2, 2, 3, 20, 3, 1, (1, 4), (1, 3), (0, 2), 1),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "x".join(map(str, c[:6])))
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_matches_torch(simd, case, dtype, bias):
    N, C, H, W, O, G, k, s, p, d = case
    rng = np.random.default_rng(sum(case[:6]))
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((O, C // G) + k)
    b = rng.standard_normal(O) if bias else None
    tout = TF.conv2d(torch.tensor(x), torch.tensor(w), None, s, p, d, G)
    g = rng.standard_normal(tuple(tout.shape))
    e, t = _conv_both(x, w, b, g, dtype, stride=s, padding=p, dilation=d, groups=G)
    tol = TOL[dtype] * (1 + np.sqrt(C // G * k[0] * k[1]))
    for i, what in enumerate(("output", "grad input", "grad weight", "grad bias")):
        if t[i] is not None:
            assert e[i].dtype == getattr(ember, dtype)
            _close(e[i], t[i], tol * (N if i == 3 else 1), what)


def test_conv2d_takes_the_native_kernels():
    # the bench's shapes go through the register-tiled kernels; a wide layer goes through im2col + BLAS
    assert cpu_nn._tiled(np.dtype(np.float32), 32, 32, 16 * 9, (1, 1), 8, 8)[:2] == ("conv2d_f32",
                                                                                     "conv2d_backward_f32")
    assert cpu_nn._tiled(np.dtype(np.float64), 2, 4, 9, (2, 2), 5, 5)[:2] == ("conv2d_f64", "conv2d_backward_f64")
    assert cpu_nn._tiled(np.dtype(np.float32), 4, 256, 256 * 9, (1, 1), 7, 7) is None
    assert cpu_nn._tiled(np.dtype(np.float32), 64, 256, 64 * 9, (2, 2), 56, 56) is None


@pytest.mark.parametrize("case", [(2, 130, 5, 5, 3, 1, (3, 3), 1, 1, 1),      # K = 1170: im2col + BLAS
                                  (8, 64, 16, 16, 64, 1, (3, 3), 2, 1, 1)],   # strided, 2^24+ MACs
                         ids=["wide", "strided-large"])
def test_conv2d_beyond_the_native_kernels_matches_torch(case):
    N, C, H, W, O, G, k, s, p, d = case
    assert cpu_nn._tiled(np.dtype(np.float64), N, O, C * 9, (s, s), (H + 2 * p - 3) // s + 1,
                         (W + 2 * p - 3) // s + 1) is None
    rng = np.random.default_rng(10)
    x, w, b = rng.standard_normal((N, C, H, W)), rng.standard_normal((O, C) + k), rng.standard_normal(O)
    g = rng.standard_normal(tuple(TF.conv2d(torch.tensor(x), torch.tensor(w), None, s, p).shape))
    e, t = _conv_both(x, w, b, g, "float64", stride=s, padding=p)
    for i in range(4):
        _close(e[i], t[i], 1e-9)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv2d_non_contiguous_inputs(dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 10, 7, 4))     # used as its (3, 4, 7, 10) transpose
    w = rng.standard_normal((3, 5, 3, 4))      # used as its (5, 4, 3, 3) transpose: not contiguous either
    res = []
    for lib, fn in ((ember, F.conv2d), (torch, TF.conv2d)):
        tx = lib.tensor(x.astype(dtype), requires_grad=True)
        tw = lib.tensor(w.astype(dtype), requires_grad=True)
        out = fn(tx.permute(0, 3, 2, 1), tw.permute(1, 3, 0, 2), None, 1, 1)
        (out * out).sum().backward()
        res.append((out, tx.grad, tw.grad))
    for e, t in zip(*res):
        _close(e, t, 10 * TOL[dtype])


@pytest.mark.parametrize("stride", [1, 2])
def test_conv2d_infs_and_nans_as_torch(simd, stride):
    # a dropped column of the stride-1 layout must not turn an inf of the input into a NaN of grad weight
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 6, 7))
    x[0, 1, 2, 6] = np.inf
    x[1, 0, 5, 0] = -np.inf
    x[1, 2, 0, 3] = np.nan
    w = rng.standard_normal((4, 3, 3, 3))
    g = rng.standard_normal(tuple(TF.conv2d(torch.tensor(x), torch.tensor(w), None, stride, 1).shape))
    e, t = _conv_both(x, w, None, g, "float64", stride=stride, padding=1)
    for i in range(3):
        en, tn = e[i].detach().numpy(), t[i].detach().numpy()
        np.testing.assert_array_equal(np.isnan(en), np.isnan(tn))
        np.testing.assert_array_equal(np.isinf(en), np.isinf(tn))
        fin = np.isfinite(tn)
        np.testing.assert_allclose(en[fin], tn[fin], rtol=1e-10, atol=1e-10)


def test_conv2d_inf_weight_as_torch(simd):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 2, 5, 5))
    w = rng.standard_normal((3, 2, 3, 3))
    w[1, 0, 0, 2] = np.inf
    g = rng.standard_normal((2, 3, 5, 5))
    e, t = _conv_both(x, w, None, g, "float64", padding=1)
    for i in range(3):
        en, tn = e[i].detach().numpy(), t[i].detach().numpy()
        np.testing.assert_array_equal(np.isnan(en), np.isnan(tn))
        fin = np.isfinite(tn)
        np.testing.assert_allclose(en[fin], tn[fin], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_conv2d_half_computes_in_float32(dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    ex = ember.tensor(x).to(getattr(ember, dtype)).requires_grad_()
    ew = ember.tensor(w).to(getattr(ember, dtype)).requires_grad_()
    tx = torch.tensor(x).to(getattr(torch, dtype)).requires_grad_()
    tw = torch.tensor(w).to(getattr(torch, dtype)).requires_grad_()
    eo, to = F.conv2d(ex, ew, padding=1), TF.conv2d(tx, tw, padding=1)
    eo.sum().backward()
    to.sum().backward()
    assert eo.dtype == getattr(ember, dtype) and ex.grad.dtype == getattr(ember, dtype)
    tol = 2e-2 if dtype == "bfloat16" else 2e-3
    for e, t in ((eo, to), (ex.grad, tx.grad), (ew.grad, tw.grad)):
        np.testing.assert_allclose(e.float().detach().numpy(), t.float().detach().numpy(), rtol=tol, atol=tol * 8)


def test_native_conv_rejects_inconsistent_shapes():
    x = np.zeros((2, 4, 5, 5), np.float32)
    with pytest.raises(ValueError, match="groups"):
        _native.conv2d_f32(x, np.zeros((3, 3, 3, 3), np.float32), None, 1, 1, 0, 0, 1, 1, 1)
    with pytest.raises(ValueError, match="larger than the padded input"):
        _native.conv2d_f32(x, np.zeros((3, 4, 7, 7), np.float32), None, 1, 1, 0, 0, 1, 1, 1)
    with pytest.raises(ValueError, match="grad_output"):
        _native.conv2d_backward_f32(np.zeros((2, 3, 4, 4), np.float32), x, np.zeros((3, 4, 3, 3), np.float32),
                                    1, 1, 0, 0, 1, 1, 1)
    with pytest.raises(ValueError, match="simd_level"):
        _native.simd_level("avx9")


def test_conv2d_nan_grad_in_a_padding_wider_than_the_kernel_as_torch(simd):
    # padding 3 > the kernel's extent 2: the last output columns of a row read padding only; a NaN of grad there
    # makes the whole weight gradient of its channel NaN, as in PyTorch (not lost to the stride-1 row layout)
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((4, 3, 3, 3))
    g = rng.standard_normal((2, 4, 8, 9))
    g[0, 1, 2, 8] = np.nan
    g[1, 2, 3, 0] = np.inf
    e, t = _conv_both(x, w, None, g, "float64", padding=3)
    for i in range(3):
        en, tn = e[i].detach().numpy(), t[i].detach().numpy()
        np.testing.assert_array_equal(np.isnan(en), np.isnan(tn))
        fin = np.isfinite(tn)
        np.testing.assert_allclose(en[fin], tn[fin], rtol=1e-10, atol=1e-10)
    assert np.isnan(e[2].detach().numpy()[1]).all()


# -- conv_transpose2d -------------------------------------------------------------------------------------------

def _convt_both(x, w, b, g, dtype, fns=(F.conv_transpose2d, TF.conv_transpose2d), **kw):
    """(ember out, x.grad, w.grad, b.grad), (torch ...) of conv_transpose2d with upstream gradient g."""
    return _conv_both(x, w, b, g, dtype, fns, **kw)


# (N, C, H, W, out_channels/groups, groups, kernel, stride, padding, output_padding, dilation)
CONVT_CASES = [
    (8, 16, 8, 8, 8, 1, (4, 4), 2, 1, 0, 1),                # bench/convt shapes: strided (columns)
    (2, 32, 16, 16, 16, 1, (3, 3), 1, 1, 0, 1),             # stride 1: flipped kernels over shifted rows
    (2, 4, 5, 7, 3, 2, (3, 2), 2, (1, 0), 1, 1),            # groups, output_padding, a width of no whole vector
    (3, 6, 4, 5, 2, 3, (2, 3), (1, 2), (0, 1), (0, 1), (2, 1)),
    (2, 3, 3, 4, 2, 1, (2, 2), 1, 0, 1, 2),                 # output_padding >= stride (< dilation)
    (1, 1, 1, 1, 1, 1, (1, 1), 1, 0, 0, 1),
    (2, 4, 6, 6, 1, 4, (3, 3), 1, 1, 0, 1),                 # depthwise
    (2, 3, 4, 4, 5, 1, (2, 2), 1, 2, 0, 1),                 # padding beyond the kernel's extent
    (2, 2, 3, 20, 3, 1, (1, 4), (1, 3), (0, 2), (0, 2), 1),
    (2, 5, 7, 9, 3, 1, (5, 5), 3, 2, 2, 1),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CONVT_CASES, ids=lambda c: "x".join(map(str, c[:6])) + f"s{c[7]}")
@pytest.mark.parametrize("bias", [True, False])
def test_conv_transpose2d_matches_torch(simd, case, dtype, bias):
    N, C, H, W, Og, G, k, s, p, op, d = case
    rng = np.random.default_rng(sum(case[:6]))
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((C, Og) + k)
    b = rng.standard_normal(Og * G) if bias else None
    kw = dict(stride=s, padding=p, output_padding=op, groups=G, dilation=d)
    tout = TF.conv_transpose2d(torch.tensor(x), torch.tensor(w), None, **kw)
    g = rng.standard_normal(tuple(tout.shape))
    e, t = _convt_both(x, w, b, g, dtype, **kw)
    assert e[0].grad_fn.name() == "ConvTranspose2dBackward0"
    tol = TOL[dtype] * (1 + np.sqrt(C // G * k[0] * k[1] + Og * k[0] * k[1]))
    for i, what in enumerate(("output", "grad input", "grad weight", "grad bias")):
        if t[i] is not None:
            assert e[i].dtype == getattr(ember, dtype) and tuple(e[i].shape) == tuple(t[i].shape)
            _close(e[i], t[i], tol * (N if i == 3 else 1), what)


def test_conv_transpose2d_is_one_operator_with_a_cpu_kernel():
    op = ember.dispatch.get("conv_transpose2d")
    assert op.implementation("cpu") == "kernel"
    assert ember.dispatch.get("conv_transpose2d_backward").implementation("cpu") == "kernel"
    x = ember.tensor(np.ones((1, 2, 3, 3), np.float32), requires_grad=True)
    out = F.conv_transpose2d(x, ember.tensor(np.ones((2, 3, 2, 2), np.float32)), stride=2)
    assert out.grad_fn.name() == "ConvTranspose2dBackward0"   # one node, not the composition's


@pytest.mark.parametrize("case", [(2, 4, 5, 5, 130, 2, (3, 3), 1, 1, 0, 1),      # K = 1170: BLAS for all
                                  (2, 160, 5, 5, 2, 1, (3, 3), 1, 1, 0, 1),      # O/G*K = 1440: BLAS forward
                                  (8, 64, 14, 14, 32, 1, (4, 4), 2, 1, 1, 1)],   # strided, 2^24+ MACs
                         ids=["wide", "many-inputs", "strided-large"])
def test_conv_transpose2d_beyond_the_native_kernels_matches_torch(case):
    N, C, H, W, Og, G, k, s, p, op, d = case
    rng = np.random.default_rng(11)
    x, w, b = rng.standard_normal((N, C, H, W)), rng.standard_normal((C, Og) + k), rng.standard_normal(Og * G)
    kw = dict(stride=s, padding=p, output_padding=op, groups=G)
    g = rng.standard_normal(tuple(TF.conv_transpose2d(torch.tensor(x), torch.tensor(w), None, **kw).shape))
    e, t = _convt_both(x, w, b, g, "float64", **kw)
    for i in range(4):
        _close(e[i], t[i], 1e-9)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv_transpose2d_decomposition_matches_the_kernel(dtype):
    # the decomposition is what every other backend runs: the same values as the cpu kernel, forward and backward
    rng = np.random.default_rng(12)
    x = ember.tensor(rng.standard_normal((2, 4, 5, 6)).astype(dtype))
    w = ember.tensor(rng.standard_normal((4, 3, 3, 2)).astype(dtype))
    b = ember.tensor(rng.standard_normal(6).astype(dtype))
    args = (x, w, b, (2, 1), (1, 0), (1, 0), 2, (1, 2))
    fwd, bwd = ember.dispatch.get("conv_transpose2d"), ember.dispatch.get("conv_transpose2d_backward")
    tol = 10 * TOL[dtype]
    _close(fwd.fn(*args), fwd.decomposition(*args), tol)
    g = ember.tensor(rng.standard_normal(tuple(fwd.fn(*args).shape)).astype(dtype))
    for e, t in zip(bwd.fn(g, *args[:2], *args[3:]), bwd.decomposition(g, *args[:2], *args[3:])):
        _close(e, t, tol)


def test_conv_transpose_unbatched_and_1d_as_torch():
    rng = np.random.default_rng(13)
    x, w, b = rng.standard_normal((3, 5, 4)), rng.standard_normal((3, 2, 2, 3)), rng.standard_normal(2)
    kw = dict(stride=2, padding=(1, 0), output_padding=1)
    g = rng.standard_normal(tuple(TF.conv_transpose2d(torch.tensor(x), torch.tensor(w), **kw).shape))
    assert g.ndim == 3
    e, t = _convt_both(x, w, b, g, "float64", **kw)
    for i in range(4):
        _close(e[i], t[i], 1e-10)
    x1, w1, b1 = rng.standard_normal((2, 4, 7)), rng.standard_normal((4, 3, 3)), rng.standard_normal(6)
    kw = dict(stride=2, padding=1, output_padding=1, groups=2, dilation=1)
    g1 = rng.standard_normal(tuple(TF.conv_transpose1d(torch.tensor(x1), torch.tensor(w1), **kw).shape))
    e, t = _convt_both(x1, w1, b1, g1, "float64", fns=(F.conv_transpose1d, TF.conv_transpose1d), **kw)
    for i in range(4):
        _close(e[i], t[i], 1e-10)


@pytest.mark.parametrize("stride", [1, 2])
def test_conv_transpose2d_infs_and_nans_as_torch(simd, stride):
    # float64: PyTorch's own float32 kernels (oneDNN) place NaNs otherwise than its reference ones
    rng = np.random.default_rng(14)
    x = rng.standard_normal((2, 3, 6, 7))
    x[0, 1, 2, 6], x[1, 0, 5, 0], x[1, 2, 0, 3] = np.inf, -np.inf, np.nan
    w = rng.standard_normal((3, 4, 3, 3))
    wi = w.copy()
    wi[1, 0, 0, 2] = np.inf
    for xx, ww, p in ((x, w, 1), (x, w, 3), (rng.standard_normal((2, 3, 6, 7)), wi, 1)):
        kw = dict(stride=stride, padding=p)
        g = rng.standard_normal(tuple(TF.conv_transpose2d(torch.tensor(xx), torch.tensor(ww), None, **kw).shape))
        e, t = _convt_both(xx, ww, None, g, "float64", **kw)
        for i in range(3):
            en, tn = e[i].detach().numpy(), t[i].detach().numpy()
            np.testing.assert_array_equal(np.isnan(en), np.isnan(tn))
            np.testing.assert_array_equal(np.isinf(en), np.isinf(tn))
            fin = np.isfinite(tn)
            np.testing.assert_allclose(en[fin], tn[fin], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_conv_transpose2d_half_computes_in_float32(dtype):
    rng = np.random.default_rng(15)
    x = rng.standard_normal((2, 4, 5, 5)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    res = []
    for lib in (ember, torch):
        tx = lib.tensor(x).to(getattr(lib, dtype)).requires_grad_()
        tw = lib.tensor(w).to(getattr(lib, dtype)).requires_grad_()
        out = lib.nn.functional.conv_transpose2d(tx, tw, stride=2, padding=1, output_padding=1)
        out.sum().backward()
        res.append((out, tx.grad, tw.grad))
    assert res[0][0].dtype == getattr(ember, dtype) and res[0][2].dtype == getattr(ember, dtype)
    tol = 3e-2 if dtype == "bfloat16" else 3e-3
    for e, t in zip(*res):
        np.testing.assert_allclose(e.float().detach().numpy(), t.float().detach().numpy(), rtol=tol, atol=tol * 8)


def test_conv_transpose2d_non_contiguous_inputs():
    rng = np.random.default_rng(16)
    x = rng.standard_normal((2, 6, 5, 3))      # used as its (2, 3, 5, 6) transpose
    w = rng.standard_normal((2, 3, 3, 4))      # used as its (3, 2, 4, 3) transpose
    res = []
    for lib in (ember, torch):
        tx, tw = lib.tensor(x, requires_grad=True), lib.tensor(w, requires_grad=True)
        out = lib.nn.functional.conv_transpose2d(tx.permute(0, 3, 2, 1), tw.permute(1, 0, 3, 2), stride=2)
        (out * out).sum().backward()
        res.append((out, tx.grad, tw.grad))
    for e, t in zip(*res):
        _close(e, t, 1e-10)


def test_conv_transpose2d_checks_its_arguments():
    x, w = ember.zeros((1, 4, 3, 3)), ember.zeros((4, 2, 3, 3))
    with pytest.raises(ember.errors.InvalidArgumentError, match="output_padding"):
        F.conv_transpose2d(x, w, stride=2, output_padding=2)
    with pytest.raises(ember.errors.ShapeError, match="channels"):
        F.conv_transpose2d(ember.zeros((1, 3, 3, 3)), w)
    with pytest.raises(ember.errors.DTypeError, match="floating"):
        F.conv_transpose2d(ember.zeros((1, 4, 3, 3), dtype=ember.int64), w)
    with pytest.raises(ember.errors.ShapeError, match="grad_output"):
        ember.conv_transpose2d_backward(ember.zeros((1, 2, 4, 4)), x, w)
    with pytest.raises(ValueError, match="grad_output"):
        _native.conv2d_input_grad_f32(np.zeros((1, 4, 2, 2), np.float32), np.zeros((4, 2, 3, 3), np.float32), None,
                                      6, 6, 1, 1, 0, 0, 1, 1, 1)
    with pytest.raises(ValueError, match="bias"):
        _native.conv2d_input_grad_f32(np.zeros((1, 4, 1, 1), np.float32), np.zeros((4, 2, 3, 3), np.float32),
                                      np.zeros(3, np.float32), 3, 3, 1, 1, 0, 0, 1, 1, 1)
    with pytest.raises(ValueError, match="groups"):
        _native.conv2d_weight_grad_f32(np.zeros((1, 4, 1, 1), np.float32), np.zeros((1, 3, 3, 3), np.float32),
                                       3, 3, 1, 1, 0, 0, 1, 1, 2)


# -- batch norm -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(32, 16, 8, 8), (5, 3), (4, 7, 13), (2, 3, 5, 6, 7), (3, 2, 1, 17), (1, 4, 3, 3)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_train_matches_torch(simd, shape, dtype, affine):
    rng = np.random.default_rng(sum(shape))
    C = shape[1]
    x = rng.standard_normal(shape) * 3 + 5        # an offset mean: the variance must not cancel
    w, b = rng.standard_normal(C), rng.standard_normal(C)
    g = rng.standard_normal(shape)
    res = []
    for lib, fn in ((ember, F.batch_norm), (torch, TF.batch_norm)):
        tx = lib.tensor(x.astype(dtype), requires_grad=True)
        tw = lib.tensor(w.astype(dtype), requires_grad=True) if affine else None
        tb = lib.tensor(b.astype(dtype), requires_grad=True) if affine else None
        rm, rv = lib.zeros(C, dtype=getattr(lib, dtype)), lib.ones(C, dtype=getattr(lib, dtype))
        out = fn(tx, rm, rv, tw, tb, training=True, momentum=0.3, eps=1e-3)
        out.backward(lib.tensor(g.astype(dtype)))
        res.append([out, tx.grad, rm, rv] + ([tw.grad, tb.grad] if affine else []))
    tol = TOL[dtype] * 10
    for e, t in zip(*res):
        _close(e, t, tol)


def test_batch_norm_train_non_contiguous_and_half():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 5, 4, 3)).astype(np.float32)
    ex = ember.tensor(x).permute(0, 3, 1, 2).requires_grad_()   # (6, 3, 5, 4), channels strided
    tx = torch.tensor(x).permute(0, 3, 1, 2).requires_grad_()
    eo = F.batch_norm(ex, None, None, training=True)
    to = TF.batch_norm(tx, None, None, training=True)
    (eo * eo * eo).sum().backward()
    (to * to * to).sum().backward()
    _close(eo, to, 1e-4)
    _close(ex.grad, tx.grad, 1e-3)
    eh = ember.tensor(x).to(ember.float16).requires_grad_()
    th = torch.tensor(x).to(torch.float16).requires_grad_()
    F.batch_norm(eh, None, None, training=True).sum().backward()
    TF.batch_norm(th, None, None, training=True).sum().backward()
    assert eh.grad.dtype == ember.float16
    np.testing.assert_allclose(eh.grad.float().numpy(), th.grad.float().numpy(), atol=2e-3)


# -- max pooling ------------------------------------------------------------------------------------------------

# (N, C, H, W, kernel, stride, padding, dilation, ceil_mode)
POOL_CASES = [
    (32, 32, 8, 8, 2, 2, 0, 1, False),
    (2, 3, 9, 7, 3, 1, 1, 1, False),
    (2, 3, 9, 7, 3, 2, 1, 1, True),
    (1, 2, 10, 11, (2, 3), (3, 2), (1, 1), (2, 1), False),
    (3, 1, 5, 5, 2, 2, 1, 2, True),
    (1, 1, 1, 1, 1, 1, 0, 1, False),
    (2, 2, 6, 13, 4, 3, 2, 1, True),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: "x".join(map(str, c[:4])))
def test_max_pool2d_matches_torch(case, dtype):
    N, C, H, W, k, s, p, d, ceil = case
    rng = np.random.default_rng(H * W)
    x = np.maximum(rng.standard_normal((N, C, H, W)), 0)   # ReLU output: many ties at 0, first one wins
    res = []
    for lib, fn in ((ember, F.max_pool2d), (torch, TF.max_pool2d)):
        tx = lib.tensor(x.astype(dtype), requires_grad=True)
        v, i = fn(tx, k, s, p, d, ceil_mode=ceil, return_indices=True)
        (v * v).sum().backward()
        res.append((v, i, tx.grad))
    (ev, ei, eg), (tv, ti, tg) = res
    np.testing.assert_array_equal(ev.detach().numpy(), tv.detach().numpy())
    np.testing.assert_array_equal(ei.numpy(), ti.numpy())
    assert ei.dtype == ember.int64
    _close(eg, tg, 0)


def test_max_pool2d_nans_and_infs_as_torch():
    x = np.array([[[[1.0, np.nan, 3.0, -np.inf],
                    [np.nan, 2.0, -np.inf, -np.inf],
                    [np.inf, 0.0, 5.0, 5.0],
                    [np.inf, np.nan, 5.0, 4.0]]]], np.float32)
    ev, ei = F.max_pool2d(ember.tensor(x), 2, return_indices=True)
    tv, ti = TF.max_pool2d(torch.tensor(x), 2, return_indices=True)
    np.testing.assert_array_equal(ev.numpy(), tv.numpy())          # NaN propagates; the last NaN's index
    np.testing.assert_array_equal(ei.numpy(), ti.numpy())
    ev, ei = F.max_pool2d(ember.tensor(x), 3, 1, 1, return_indices=True)
    tv, ti = TF.max_pool2d(torch.tensor(x), 3, 1, 1, return_indices=True)
    np.testing.assert_array_equal(ev.numpy(), tv.numpy())
    np.testing.assert_array_equal(ei.numpy(), ti.numpy())


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int32", "int64", "float16", "bfloat16"])
def test_max_pool2d_other_dtypes(dtype):
    rng = np.random.default_rng(6)
    x = rng.integers(0, 100, (2, 3, 7, 6))
    if dtype == "int8":
        x[0, 0] = -128                       # the lowest value, everywhere in a plane: the first index wins
    ex = ember.tensor(x).to(getattr(ember, dtype))
    tx = torch.tensor(x).to(getattr(torch, dtype))
    ev, ei = F.max_pool2d(ex, 3, 2, 1, return_indices=True)
    tv, ti = TF.max_pool2d(tx, 3, 2, 1, return_indices=True)
    assert ev.dtype == getattr(ember, dtype)
    np.testing.assert_array_equal(ev.to(ember.float64).numpy(), tv.to(torch.float64).numpy())
    np.testing.assert_array_equal(ei.numpy(), ti.numpy())


@pytest.mark.parametrize("dtype", ["float32", "float64", "int8", "uint8", "int16", "int32", "int64"])
def test_native_max_pool2d_takes_equivalent_dtypes(dtype):
    # an unpickled array's dtype equals, but is not, numpy's own int32 (arrays from another process)
    x = pickle.loads(pickle.dumps(np.arange(32).reshape(1, 2, 4, 4).astype(dtype)))
    assert x.dtype == np.dtype(dtype) and x.dtype is not np.dtype(dtype)
    v, i = _native.max_pool2d(x, 2, 2, 2, 2, 0, 0, 1, 1, 2, 2)
    assert v.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(i[0, 0], [[5, 7], [13, 15]])
    with pytest.raises(TypeError, match="no native kernel for dtype float16"):
        _native.max_pool2d(x.astype(np.float16), 2, 2, 2, 2, 0, 0, 1, 1, 2, 2)


def test_max_pool2d_non_contiguous():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 9, 8, 2)).astype(np.float32)
    ev, ei = F.max_pool2d(ember.tensor(x).permute(0, 3, 1, 2), 2, return_indices=True)
    tv, ti = TF.max_pool2d(torch.tensor(x).permute(0, 3, 1, 2), 2, return_indices=True)
    np.testing.assert_array_equal(ev.numpy(), tv.numpy())
    np.testing.assert_array_equal(ei.numpy(), ti.numpy())


# -- Adam / AdamW ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("opt, kw", [("AdamW", {}), ("AdamW", {"amsgrad": True, "weight_decay": 0.1}),
                                     ("Adam", {"weight_decay": 0.05}), ("Adam", {"betas": (0.8, 0.9), "eps": 1e-3})])
def test_adam_matches_torch(simd, opt, kw, dtype):
    rng = np.random.default_rng(8)
    shapes = [(37,), (16, 9), (3, 5, 7), ()]                    # lengths that are no whole number of vectors
    ps = [rng.standard_normal(s) for s in shapes]
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(4)]
    out = []
    for lib in (ember, torch):
        params = [lib.tensor(p.astype(dtype), requires_grad=True) for p in ps]
        o = getattr(lib.optim, opt)(params, lr=1e-2, **kw)
        for step in grads:
            for p, g in zip(params, step):
                p.grad = lib.tensor(g.astype(dtype))
            o.step()
        out.append(params)
    for e, t in zip(*out):
        _close(e, t, 1e-5 if dtype == "float32" else 1e-12)


def test_adam_non_contiguous_grad_and_half_param():
    rng = np.random.default_rng(9)
    p = rng.standard_normal((4, 6)).astype(np.float32)
    g = rng.standard_normal((6, 4)).astype(np.float32)
    res = []
    for lib in (ember, torch):
        a = lib.tensor(p, requires_grad=True)
        h = lib.tensor(p).to(lib.float16).requires_grad_()
        o = lib.optim.AdamW([a, h], lr=1e-2)
        for _ in range(3):
            a.grad = lib.tensor(g).t()                                  # a strided gradient
            h.grad = lib.tensor(g).t().to(lib.float16)
            o.step()
        res.append((a, h))
    _close(res[0][0], res[1][0], 1e-6)
    np.testing.assert_allclose(res[0][1].float().detach().numpy(), res[1][1].float().detach().numpy(), atol=2e-3)


def test_native_adam_rejects_what_it_cannot_update_in_place():
    p = np.zeros(5, np.float32)
    with pytest.raises(ValueError, match="exp_avg"):
        _native.adam_step(p, p.copy(), np.zeros(5, np.float64), p.copy(), None, 1e-3, 0.9, 0.999, 1e-8, 0.0,
                          0.1, 0.001, True)
    with pytest.raises(ValueError, match="grad"):
        _native.adam_step(p, np.zeros(10, np.float32)[::2], p.copy(), p.copy(), None, 1e-3, 0.9, 0.999, 1e-8, 0.0,
                          0.1, 0.001, True)
    with pytest.raises(TypeError, match="dtype"):
        _native.adam_step(np.zeros(5, np.int32), p, p, p, None, 1e-3, 0.9, 0.999, 1e-8, 0.0, 0.1, 0.001, True)


# -- relu's gradient: threshold_backward ------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threshold", [0, 0.25, -1.5])
def test_threshold_backward_matches_torch(dtype, threshold):
    rng = np.random.default_rng(20)
    g = rng.standard_normal((4, 5, 7, 3))
    x = rng.standard_normal((4, 5, 7, 3))
    x.flat[::11] = threshold                        # ties: not above the threshold, so 0
    x.flat[3], x.flat[7], x.flat[9] = np.nan, np.inf, -np.inf
    g.flat[5], g.flat[12], g.flat[3] = np.inf, np.nan, 2.5
    e = ember.threshold_backward(ember.tensor(g.astype(dtype)), ember.tensor(x.astype(dtype)), threshold)
    t = torch.ops.aten.threshold_backward(torch.tensor(g.astype(dtype)), torch.tensor(x.astype(dtype)), threshold)
    assert e.dtype == getattr(ember, dtype)
    np.testing.assert_array_equal(e.numpy(), t.numpy())
    assert e.numpy().flat[3] == 2.5                 # a NaN in self passes the gradient, as PyTorch


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "int32", "int64"])
def test_threshold_backward_other_dtypes(dtype):
    rng = np.random.default_rng(21)
    g = (rng.standard_normal((3, 8)) * 4).astype(np.float32)
    x = (rng.standard_normal((3, 8)) * 4).astype(np.float32)
    e = ember.threshold_backward(ember.tensor(g).to(getattr(ember, dtype)), ember.tensor(x).to(getattr(ember, dtype)),
                                 1)
    t = torch.ops.aten.threshold_backward(torch.tensor(g).to(getattr(torch, dtype)),
                                          torch.tensor(x).to(getattr(torch, dtype)), 1)
    assert e.dtype == getattr(ember, dtype)
    np.testing.assert_array_equal(e.float().numpy(), t.float().numpy())


def test_threshold_backward_broadcasts_and_promotes_as_torch():
    rng = np.random.default_rng(22)
    g, x = rng.standard_normal((2, 1, 4)).astype(np.float32), rng.standard_normal((3, 1))
    e = ember.threshold_backward(ember.tensor(g), ember.tensor(x), 0.1)
    t = torch.ops.aten.threshold_backward(torch.tensor(g), torch.tensor(x), 0.1)
    assert e.dtype == ember.float64 and tuple(e.shape) == tuple(t.shape) == (2, 3, 4)
    np.testing.assert_array_equal(e.numpy(), t.numpy())
    with pytest.raises(ember.errors.DTypeError, match="bool"):
        ember.threshold_backward(ember.tensor([True]), ember.tensor([True]), 0)


def test_relu_backward_is_threshold_backward_with_torchs_nans():
    x = np.array([np.nan, -1.0, 0.0, 2.0, np.inf, -np.inf, 3.0], np.float32)
    g = np.array([1.0, np.inf, np.nan, 4.0, 5.0, 6.0, np.nan], np.float32)
    res = []
    for lib in (ember, torch):
        tx = lib.tensor(x, requires_grad=True)
        lib.relu(tx).backward(lib.tensor(g))
        res.append(tx.grad.numpy())
    np.testing.assert_array_equal(res[0], res[1])    # [1, 0, 0, 4, 5, 0, nan]
    gg = ember.autograd.gradgradcheck if hasattr(ember.autograd, "gradgradcheck") else None
    if gg is not None:   # the formula is differentiable again: d/dgrad is threshold_backward itself
        xs = ember.tensor(np.array([[-1.0, 0.5], [2.0, -0.3]]), requires_grad=True)
        assert gg(ember.relu, (xs,))


# -- batch norm's running statistics ----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(32, 16, 8, 8), (5, 3), (4, 7, 13), (3, 2, 1, 17)])
def test_batch_norm_update_stats_matches_torch(simd, dtype, shape):
    rng = np.random.default_rng(sum(shape))
    C = shape[1]
    x = (rng.standard_normal(shape) * 3 + 5).astype(dtype)
    rm, rv = rng.standard_normal(C).astype(dtype), rng.random(C).astype(dtype) + 0.5
    erm, erv = ember.tensor(rm), ember.tensor(rv)
    out = ember.batch_norm_update_stats_(erm, erv, ember.tensor(x), 0.3)
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    torch.batch_norm_update_stats(torch.tensor(x), trm, trv, 0.3)
    assert out is erm
    tol = 1e-6 if dtype == "float32" else 1e-12
    _close(erm, trm, tol)
    _close(erv, trv, tol)
    # the decomposition (every other backend) agrees
    drm, drv = ember.tensor(rm), ember.tensor(rv)
    ember.dispatch.get("batch_norm_update_stats_").decomposition(drm, drv, ember.tensor(x), 0.3)
    _close(drm, trm, 10 * tol)
    _close(drv, trv, 10 * tol)


def test_batch_norm_running_stats_half_and_strided():
    rng = np.random.default_rng(23)
    x = rng.standard_normal((6, 5, 4, 3)).astype(np.float32) * 2 + 1
    for dtype in ("float16", "bfloat16"):
        res = []
        for lib in (ember, torch):
            m = lib.nn.BatchNorm2d(3).to(getattr(lib, dtype))
            t = lib.tensor(x).to(getattr(lib, dtype)).permute(0, 3, 1, 2)     # channels strided
            for _ in range(3):
                m(t)
            res.append((m.running_mean, m.running_var))
        for e, t in zip(*res):
            assert e.dtype == getattr(ember, dtype)
            np.testing.assert_allclose(e.float().numpy(), t.float().numpy(), rtol=1e-2, atol=1e-2)


def test_batch_norm_update_stats_is_in_place_and_not_differentiable():
    x = ember.tensor(np.arange(24, dtype=np.float32).reshape(4, 3, 2), requires_grad=True)
    rm, rv = ember.zeros(3), ember.ones(3)
    F.batch_norm(x, rm, rv, training=True, momentum=0.5).sum().backward()
    assert not rm.requires_grad and not rv.requires_grad and x.grad is not None
    np.testing.assert_allclose(rm.numpy(), 0.5 * x.detach().numpy().mean(axis=(0, 2)), rtol=1e-6)
    with pytest.raises(ember.errors.InvalidArgumentError, match="neither"):
        F.batch_norm(x, rm, None, training=True)
    with pytest.raises(ember.errors.ShapeError, match="running_var"):
        ember.batch_norm_update_stats_(rm, ember.ones(4), x, 0.1)
    with pytest.raises(ember.errors.InvalidArgumentError, match="more than 1 value"):
        ember.batch_norm_update_stats_(rm, rv, ember.zeros((1, 3)), 0.1)


# -- cross-entropy (loss.cpp) ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore", [False, True])
def test_cross_entropy_matches_torch(dtype, reduction, ignore):
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((37, 11)) * 4).astype(dtype)
    x[3, 2] = np.inf          # a row with +inf, a row of -inf, a row with a NaN: PyTorch's infs and NaNs
    x[5, :] = -np.inf
    x[7, 4] = np.nan
    t = rng.integers(0, 11, 37)
    t[9] = 2
    if ignore:
        t[[0, 4, 10]] = -100
    e = ember.tensor(x, requires_grad=True)
    tt = torch.tensor(x, requires_grad=True)
    le = F.cross_entropy(e, ember.tensor(t), reduction=reduction)
    lt = TF.cross_entropy(tt, torch.tensor(t), reduction=reduction)
    np.testing.assert_allclose(le.detach().numpy(), lt.detach().numpy(), rtol=TOL[dtype], atol=TOL[dtype])
    w = rng.standard_normal(le.shape).astype(dtype)
    le.backward(ember.tensor(w))
    lt.backward(torch.tensor(w))
    np.testing.assert_allclose(e.grad.numpy(), tt.grad.numpy(), rtol=TOL[dtype], atol=TOL[dtype])


def test_cross_entropy_takes_the_native_kernel_for_the_common_case():
    x = np.random.default_rng(1).standard_normal((8, 5)).astype(np.float32)
    t = np.arange(8) % 5
    r = _native.cross_entropy(x, t, -100, "mean")
    assert isinstance(r, np.ndarray) and r.shape == () and r.dtype == np.float32
    g = _native.cross_entropy_backward(np.array(1.0, np.float32), x, t, -100, "mean")
    assert g.shape == (8, 5) and g.dtype == np.float32
    # other operands are the numpy kernel's: None here
    assert _native.cross_entropy(x[:, ::2], t, -100, "mean") is None
    assert _native.cross_entropy(x, t.astype(np.int32), -100, "mean") is None
    assert _native.cross_entropy(x, np.array([0, 1, 2, 3, 4, 5, 0, 1]), -100, "mean") is None   # 5 >= C
    with pytest.raises(ValueError, match="reduction"):
        _native.cross_entropy(x, t, -100, "avg")


def test_cross_entropy_every_target_ignored_and_other_cases_as_torch():
    x = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    t = np.full(4, -100)
    e, tt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    le, lt = F.cross_entropy(e, ember.tensor(t)), TF.cross_entropy(tt, torch.tensor(t))
    assert np.isnan(le.item()) and np.isnan(lt.item())
    le.backward()
    lt.backward()
    np.testing.assert_array_equal(e.grad.numpy(), tt.grad.numpy())
    # weights, label smoothing, class dim elsewhere: the numpy kernel, same answers as torch
    t = np.array([0, 2, 1, 2])
    wt = np.array([0.5, 2.0, 1.0], np.float32)
    for kw_e, kw_t in [({"weight": ember.tensor(wt)}, {"weight": torch.tensor(wt)}),
                       ({"label_smoothing": 0.1}, {"label_smoothing": 0.1})]:
        np.testing.assert_allclose(F.cross_entropy(ember.tensor(x), ember.tensor(t), **kw_e).item(),
                                   TF.cross_entropy(torch.tensor(x), torch.tensor(t), **kw_t).item(), rtol=1e-6)
    with pytest.raises(Exception, match="3"):
        F.cross_entropy(ember.tensor(x), ember.tensor(np.array([0, 3, 1, 2])))
