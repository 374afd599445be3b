"""Convolutions (3-D, transposed, padding modes), F.pad, pooling, interpolation and pixel shuffles
against torch 2.x: values and gradients on the same inputs and weights, float32 and float64, the layers'
state dicts and reprs, PyTorch's errors, and the same code on the npy fixture device."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.errors import ShapeError

torch = pytest.importorskip("torch")
TF = torch.nn.functional

DTYPES = {"float32": (np.float32, 2e-5), "float64": (np.float64, 1e-10)}


def _np(t):
    return t.detach().numpy()


def _check(e, t, tol):
    np.testing.assert_allclose(_np(e), _np(t), rtol=tol, atol=tol)


def _compare(efn, tfn, arrays, dtype, *args, grads=None, **kw):
    """Run efn/tfn on the same arrays; compare outputs (every tensor of a tuple) and every array's gradient."""
    npdt, tol = DTYPES[dtype]
    rng = np.random.default_rng(len(arrays) + sum(a.size for a in arrays if a is not None))
    es = [None if a is None else ember.tensor(a.astype(npdt)).requires_grad_() for a in arrays]
    ts = [None if a is None else torch.tensor(a.astype(npdt), requires_grad=True) for a in arrays]
    eo, to = efn(*es, *args, **kw), tfn(*ts, *args, **kw)
    if isinstance(to, tuple):
        for e, t in zip(eo[1:], to[1:]):
            np.testing.assert_array_equal(e.numpy(), t.numpy())
        eo, to = eo[0], to[0]
    assert tuple(eo.shape) == tuple(to.shape)
    _check(eo, to, tol)
    g = rng.standard_normal(tuple(to.shape)).astype(npdt)
    eo.backward(ember.tensor(g))
    to.backward(torch.tensor(g))
    for e, t in zip(es, ts):
        if e is not None:
            _check(e.grad, t.grad, tol)


def _rnd(*shape, seed=0, shift=0.0):
    return np.random.default_rng(seed).standard_normal(shape) + shift


# -- convolution -----------------------------------------------------------------------------

CONV_CASES = [
    ("conv3d", (2, 4, 5, 6, 5), (6, 2, 2, 3, 2), True, dict(stride=(1, 2, 1), padding=(1, 0, 1),
                                                             dilation=(2, 1, 1), groups=2)),
    ("conv3d", (4, 5, 6, 5), (6, 4, 3, 3, 3), False, dict(padding="same")),
    ("conv3d", (1, 2, 4, 4, 4), (3, 2, 1, 2, 3), True, dict(padding="valid", stride=2)),
    ("conv_transpose2d", (2, 4, 5, 6), (4, 3, 3, 3), True, dict(stride=2, padding=1, output_padding=1, groups=2)),
    ("conv_transpose2d", (2, 8, 4, 4), (8, 3, 4, 4), True, dict(stride=2, padding=1)),   # DCGAN's layer
    ("conv_transpose2d", (1, 8, 1, 1), (8, 4, 4, 4), False, dict(stride=1, padding=0)),   # DCGAN's first layer
    ("conv_transpose2d", (2, 4, 5, 6), (4, 3, 3, 2), True, dict(stride=(1, 2), padding=(2, 1),
                                                              output_padding=(1, 0), dilation=(2, 1))),
    ("conv_transpose2d", (4, 5, 6), (4, 2, 3, 3), False, dict(stride=3, padding=2, output_padding=2)),
    ("conv_transpose1d", (2, 4, 7), (4, 3, 3), True, dict(stride=3, padding=2, output_padding=2)),
    ("conv_transpose1d", (4, 7), (4, 3, 3), False, dict(dilation=2, groups=2)),
    ("conv_transpose3d", (2, 4, 3, 4, 3), (4, 2, 2, 3, 2), True, dict(stride=(2, 1, 2), padding=(1, 1, 0),
                                                                    output_padding=(1, 0, 1), groups=2)),
    ("conv_transpose3d", (4, 3, 4, 3), (4, 2, 3, 3, 3), False, dict(stride=2, dilation=(1, 2, 1), padding=1)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,xs,ws,bias,kw", CONV_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CONV_CASES)])
def test_conv_functional(name, xs, ws, bias, kw, dtype):
    out_ch = ws[0] if name == "conv3d" else ws[1] * kw.get("groups", 1)
    arrays = [_rnd(*xs, seed=1), _rnd(*ws, seed=2), _rnd(out_ch, seed=3) if bias else None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _compare(getattr(F, name), getattr(TF, name), arrays, dtype, **kw)


def _load(em, tm):
    sd = tm.state_dict()
    assert list(em.state_dict()) == list(sd)
    em.load_state_dict({k: ember.tensor(v.numpy()) for k, v in sd.items()})


def _module_run(em, tm, x, dtype="float32", **fw):
    npdt, tol = DTYPES[dtype]
    if dtype == "float64":
        em, tm = em.double(), tm.double()
    _load(em, tm)
    ex = ember.tensor(x.astype(npdt)).requires_grad_()
    tx = torch.tensor(x.astype(npdt), requires_grad=True)
    eo, to = em(ex, **fw), tm(tx, **fw)
    _check(eo, to, tol)
    eo.sum().backward()
    to.sum().backward()
    _check(ex.grad, tx.grad, tol)
    for (n, p), (_, q) in zip(em.named_parameters(), tm.named_parameters()):
        _check(p.grad, q.grad, tol * 10)
    assert repr(em) == repr(tm)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv_padding_modes(mode, dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _module_run(nn.Conv2d(3, 4, 3, padding=(1, 2), padding_mode=mode),
                    torch.nn.Conv2d(3, 4, 3, padding=(1, 2), padding_mode=mode), _rnd(2, 3, 6, 5), dtype)
        _module_run(nn.Conv1d(3, 4, 4, padding="same", padding_mode=mode),
                    torch.nn.Conv1d(3, 4, 4, padding="same", padding_mode=mode), _rnd(2, 3, 6), dtype)
        _module_run(nn.Conv3d(2, 4, 3, stride=2, padding=(1, 2, 1), padding_mode=mode),
                    torch.nn.Conv3d(2, 4, 3, stride=2, padding=(1, 2, 1), padding_mode=mode),
                    _rnd(2, 2, 5, 6, 5), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_transpose_modules(dtype):
    _module_run(nn.ConvTranspose2d(4, 6, 4, 2, 1, groups=2, bias=False),
                torch.nn.ConvTranspose2d(4, 6, 4, 2, 1, groups=2, bias=False), _rnd(2, 4, 5, 5), dtype)
    _module_run(nn.ConvTranspose2d(4, 6, 3, 2, 1), torch.nn.ConvTranspose2d(4, 6, 3, 2, 1), _rnd(2, 4, 5, 5),
                dtype, output_size=(10, 10))
    _module_run(nn.ConvTranspose1d(4, 6, 3, 2, 1, output_padding=1),
                torch.nn.ConvTranspose1d(4, 6, 3, 2, 1, output_padding=1), _rnd(2, 4, 5), dtype)
    _module_run(nn.ConvTranspose3d(4, 2, 3, 2, 1, dilation=2), torch.nn.ConvTranspose3d(4, 2, 3, 2, 1, dilation=2),
                _rnd(2, 4, 3, 4, 3), dtype, output_size=(2, 2, 8, 10, 8))


def test_conv_transpose_init_and_errors():
    m = nn.ConvTranspose2d(4, 6, 3, groups=2)
    assert tuple(m.weight.shape) == (4, 3, 3, 3) and tuple(m.bias.shape) == (6,)
    bound = 1 / np.sqrt(3 * 9)   # PyTorch's fan_in for a transposed weight: weight.size(1) * kernel
    assert np.abs(m.weight.detach().numpy()).max() <= bound + 1e-6
    with pytest.raises(ValueError, match="zeros"):
        nn.ConvTranspose2d(4, 6, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(4, 6, 3, padding_mode="wrap")
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d(ember.randn(1, 4, 3, 3), ember.randn(4, 2, 3, 3), stride=2, output_padding=2)
    with pytest.raises(ValueError, match="valid sizes range from"):
        nn.ConvTranspose2d(4, 6, 3, 2)(ember.randn(1, 4, 3, 3), output_size=(5, 5))
    with pytest.raises(ShapeError, match="channels"):
        F.conv_transpose2d(ember.randn(1, 5, 3, 3), ember.randn(4, 2, 3, 3))
    with pytest.raises(ShapeError, match="4-D .unbatched. or 5-D"):
        F.conv3d(ember.randn(2, 3, 3), ember.randn(4, 2, 3, 3, 3))


# -- padding ---------------------------------------------------------------------------------

PAD_CASES = [((2, 3, 7), (2, 1)), ((3, 7), (-1, 3)), ((2, 3, 5, 6), (2, 1, 3, 0)), ((3, 5, 6), (-1, 2, 1, 1)),
             ((2, 2, 4, 5, 6), (1, 2, 0, 3, 2, 1)), ((2, 4, 5, 6), (2, -1, -2, 1, 1, 0))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,pad", PAD_CASES)
def test_pad_modes(shape, pad, mode, dtype):
    _compare(F.pad, TF.pad, [_rnd(*shape)], dtype, pad, mode)


def test_pad_constant_value_and_errors():
    _compare(F.pad, TF.pad, [_rnd(2, 3)], "float64", (1, 2, 0, 1), "constant", 2.5)
    x = ember.randn(1, 2, 3)
    with pytest.raises(ShapeError, match="less than the input size"):
        F.pad(x, (3, 3), "reflect")
    with pytest.raises(ShapeError, match="more than once"):
        F.pad(x, (4, 0), "circular")
    with pytest.raises(ValueError, match="doesn't take a value"):
        F.pad(x, (1, 1), "reflect", 1.0)
    with pytest.raises(NotImplementedError, match="unrecognised padding mode"):
        F.pad(x, (1, 1), "wrap")
    with pytest.raises(NotImplementedError, match="not supported for a 2-D input"):
        F.pad(ember.randn(2, 3), (1, 1, 1, 1), "reflect")
    with pytest.raises(ValueError, match="divisible by 2"):
        F.pad(x, (1,), "reflect")


PAD_MODULES = [("ReflectionPad1d", 2, (2, 3, 5)), ("ReflectionPad2d", (1, 0, 2, 1), (2, 3, 4, 5)),
               ("ReflectionPad3d", 1, (1, 2, 3, 4, 5)), ("ReplicationPad1d", (3, 1), (3, 5)),
               ("ReplicationPad2d", 2, (2, 3, 4, 5)), ("ReplicationPad3d", (1, 2, 0, 1, 2, 0), (2, 3, 4, 5)),
               ("ZeroPad1d", 2, (2, 3, 5)), ("ZeroPad2d", (1, 0, 2, 1), (3, 4, 5)), ("ZeroPad3d", 1, (2, 3, 4, 5)),
               ("CircularPad1d", 2, (2, 3, 5)), ("CircularPad2d", (1, 0, 2, 1), (2, 3, 4, 5)),
               ("CircularPad3d", 1, (1, 2, 3, 4, 5))]


@pytest.mark.parametrize("name,padding,shape", PAD_MODULES, ids=[p[0] for p in PAD_MODULES])
def test_pad_modules(name, padding, shape):
    _module_run(getattr(nn, name)(padding), getattr(torch.nn, name)(padding), _rnd(*shape))


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_constant_pad_modules(nd):
    shape = (2, 3, 4, 5, 6)[: nd + 2]
    name = f"ConstantPad{nd}d"
    _module_run(getattr(nn, name)(2, -1.5), getattr(torch.nn, name)(2, -1.5), _rnd(*shape))


# -- pooling ---------------------------------------------------------------------------------

POOL_CASES = [
    ("max_pool1d", (2, 3, 9), (3, 2, 1), dict(return_indices=True)),
    ("max_pool1d", (3, 10), (3, 2, 1, 2), dict(ceil_mode=True, return_indices=True)),
    ("max_pool3d", (2, 2, 5, 6, 7), (3, 2, 1), dict(return_indices=True)),
    ("max_pool3d", (2, 5, 6, 7), ((2, 3, 2), (1, 2, 2), (1, 1, 0), (2, 1, 1)), dict(ceil_mode=True,
                                                                                      return_indices=True)),
    ("avg_pool1d", (2, 3, 9), (3, 2, 1), {}),
    ("avg_pool1d", (3, 10), (3, 2, 1), dict(ceil_mode=True, count_include_pad=False)),
    ("avg_pool3d", (2, 2, 5, 6, 7), (3, 2, 1), {}),
    ("avg_pool3d", (2, 5, 6, 7), ((2, 3, 2), (1, 2, 2), (1, 1, 0)), dict(ceil_mode=True, count_include_pad=False)),
    ("avg_pool3d", (2, 5, 6, 7), ((2, 3, 2), (1, 2, 2), (1, 1, 0)), dict(ceil_mode=True, divisor_override=5)),
    ("avg_pool3d", (2, 5, 6, 7), (3, 2, 1), dict(ceil_mode=True)),
    ("adaptive_avg_pool1d", (2, 3, 9), (4,), {}),
    ("adaptive_avg_pool3d", (2, 3, 9, 5, 7), ((4, None, 3),), {}),
    ("adaptive_max_pool1d", (2, 3, 9), (4,), dict(return_indices=True)),
    ("adaptive_max_pool2d", (3, 9, 7), ((4, 3),), dict(return_indices=True)),
    ("adaptive_max_pool2d", (2, 3, 9, 7), ((5, 9),), dict(return_indices=True)),
    ("adaptive_max_pool2d", (2, 3, 4, 4), (1,), {}),
    ("adaptive_max_pool3d", (2, 3, 5, 9, 7), ((2, 4, 3),), dict(return_indices=True)),
    ("lp_pool1d", (2, 3, 9), (2, 3, 2), {}),
    ("lp_pool2d", (2, 3, 9, 8), (3, (3, 2)), {}),
    ("lp_pool2d", (2, 3, 9, 8), (1.5, 2), dict(ceil_mode=True)),
    ("lp_pool3d", (2, 3, 5, 9, 8), (2, 2), {}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,shape,args,kw", POOL_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(POOL_CASES)])
def test_pool_functional(name, shape, args, kw, dtype):
    x = _rnd(*shape, shift=3.0 if name.startswith("lp") else 0.0)   # lp pools of negatives are NaN in both
    _compare(getattr(F, name), getattr(TF, name), [x], dtype, *args, **kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nd,shape,k,s,p", [(1, (2, 3, 9), 3, 2, 1), (2, (2, 3, 8, 8), 2, 2, 0),
                                            (2, (3, 7, 7), 3, 2, 1), (3, (2, 2, 6, 4, 6), 2, 2, 0)])
def test_max_unpool(nd, shape, k, s, p, dtype):
    x = _rnd(*shape)
    tv, ti = getattr(TF, f"max_pool{nd}d")(torch.tensor(x), k, s, p, return_indices=True)
    ei = ember.tensor(ti.numpy())
    _compare(lambda v: getattr(F, f"max_unpool{nd}d")(v, ei, k, s, p),
             lambda v: getattr(TF, f"max_unpool{nd}d")(v, ti, k, s, p), [tv.numpy()], dtype)
    size = tuple(n + 1 for n in shape[-nd:]) if s > 1 else None
    if size:
        e = getattr(nn, f"MaxUnpool{nd}d")(k, s, p)(ember.tensor(tv.numpy()), ei, output_size=size)
        t = getattr(torch.nn, f"MaxUnpool{nd}d")(k, s, p)(tv, ti, output_size=size)
        _check(e, t, 0)
    with pytest.raises(ValueError, match="invalid output_size"):
        getattr(F, f"max_unpool{nd}d")(ember.tensor(tv.numpy()), ei, k, s, p, output_size=(100,) * nd)


POOL_MODULES = [
    ("MaxPool1d", (3, 2, 1), (2, 3, 9)), ("MaxPool3d", (3, 2, 1), (2, 2, 5, 6, 7)),
    ("AvgPool1d", (3, 2, 1), (2, 3, 9)), ("AvgPool3d", (2,), (2, 2, 4, 6, 6)),
    ("AdaptiveAvgPool1d", (4,), (2, 3, 9)), ("AdaptiveAvgPool3d", ((1, 2, 3),), (2, 3, 5, 6, 7)),
    ("AdaptiveMaxPool1d", (4,), (2, 3, 9)), ("AdaptiveMaxPool2d", (3,), (2, 3, 8, 7)),
    ("AdaptiveMaxPool3d", (2,), (2, 3, 5, 6, 7)), ("LPPool1d", (2, 3), (2, 3, 9)),
    ("LPPool2d", (2, 3), (2, 3, 8, 7)),
]


@pytest.mark.parametrize("name,args,shape", POOL_MODULES, ids=[p[0] for p in POOL_MODULES])
def test_pool_modules(name, args, shape):
    x = _rnd(*shape, shift=3.0 if name.startswith("LP") else 0.0)
    _module_run(getattr(nn, name)(*args), getattr(torch.nn, name)(*args), x)


def test_pool_modules_return_indices():
    x = _rnd(2, 3, 9, seed=4)
    for e, t in ((nn.MaxPool1d(3, 2, return_indices=True), torch.nn.MaxPool1d(3, 2, return_indices=True)),
                 (nn.AdaptiveMaxPool1d(4, True), torch.nn.AdaptiveMaxPool1d(4, True))):
        (ev, ei), (tv, ti) = e(ember.tensor(x)), t(torch.tensor(x))
        _check(ev, tv, 0)
        np.testing.assert_array_equal(ei.numpy(), ti.numpy())


def test_pool_errors():
    with pytest.raises(ShapeError, match="5-D"):
        F.max_pool3d(ember.randn(2, 3, 4), 2)
    with pytest.raises(ValueError, match="at most half"):
        F.avg_pool3d(ember.randn(1, 1, 4, 4, 4), 2, padding=2)
    with pytest.raises(ValueError, match="output_size"):
        F.adaptive_max_pool2d(ember.randn(1, 1, 4, 4), (1, 2, 3))
    with pytest.raises(ShapeError, match="smaller than the kernel"):
        F.max_pool1d(ember.randn(1, 1, 2), 3)


# -- interpolation and pixel shuffles ---------------------------------------------------------

INTERP_CASES = [
    ((2, 3, 5, 7), dict(scale_factor=2, mode="nearest")),
    ((2, 3, 5, 7), dict(scale_factor=(1.7, 0.6), mode="nearest")),
    ((2, 3, 7), dict(size=13, mode="nearest")),
    ((2, 3, 4, 5, 7), dict(size=(3, 9, 11), mode="nearest")),
    ((2, 3, 5, 7), dict(scale_factor=(1.7, 2.3), mode="nearest", recompute_scale_factor=True)),
    ((2, 3, 5, 7), dict(scale_factor=(1.7, 0.6), mode="nearest-exact")),
    ((2, 3, 4, 5, 7), dict(size=(3, 9, 11), mode="nearest-exact")),
    ((2, 3, 5, 7), dict(scale_factor=2, mode="bilinear", align_corners=False)),
    ((2, 3, 5, 7), dict(scale_factor=2, mode="bilinear", align_corners=True)),
    ((2, 3, 5, 7), dict(size=(3, 11), mode="bilinear")),
    ((2, 3, 5, 7), dict(scale_factor=1.5, mode="bilinear", recompute_scale_factor=True)),
    ((2, 3, 5, 7), dict(scale_factor=(1.3, 2.7), mode="bicubic", align_corners=False)),
    ((2, 3, 5, 7), dict(size=(3, 11), mode="bicubic", align_corners=True)),
    ((2, 3, 7), dict(scale_factor=2.5, mode="linear")),
    ((2, 3, 7), dict(size=4, mode="linear", align_corners=True)),
    ((2, 3, 4, 5, 7), dict(size=(3, 9, 11), mode="trilinear")),
    ((2, 3, 4, 5, 7), dict(scale_factor=2, mode="trilinear", align_corners=True)),
    ((2, 3, 5, 7), dict(size=(3, 4), mode="area")),
    ((2, 3, 8), dict(scale_factor=0.5, mode="area")),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,kw", INTERP_CASES, ids=[f"{c[1]['mode']}-{i}" for i, c in enumerate(INTERP_CASES)])
def test_interpolate(shape, kw, dtype):
    _compare(F.interpolate, TF.interpolate, [_rnd(*shape)], dtype, **kw)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pixel_shuffle(dtype):
    _compare(F.pixel_shuffle, TF.pixel_shuffle, [_rnd(2, 12, 3, 4)], dtype, 2)
    _compare(F.pixel_shuffle, TF.pixel_shuffle, [_rnd(18, 3, 4)], dtype, 3)
    _compare(F.pixel_unshuffle, TF.pixel_unshuffle, [_rnd(2, 3, 6, 4)], dtype, 2)


UPSAMPLE_MODULES = [
    ("Upsample", dict(scale_factor=2), (2, 3, 4, 5)),
    ("Upsample", dict(size=(7, 3), mode="bilinear"), (2, 3, 4, 5)),
    ("Upsample", dict(scale_factor=2, mode="bicubic", align_corners=True), (2, 3, 4, 5)),
    ("Upsample", dict(scale_factor=(2, 1.5, 1), mode="trilinear"), (1, 2, 3, 4, 5)),
    ("UpsamplingNearest2d", dict(scale_factor=3), (2, 3, 4, 5)),
    ("UpsamplingBilinear2d", dict(size=(6, 9)), (2, 3, 4, 5)),
    ("PixelShuffle", dict(upscale_factor=2), (2, 8, 3, 4)),
    ("PixelUnshuffle", dict(downscale_factor=2), (2, 2, 4, 6)),
    ("Unfold", dict(kernel_size=(2, 3), padding=1, stride=2), (2, 3, 5, 6)),
    ("Fold", dict(output_size=(4, 5), kernel_size=2), (2, 12, 12)),
]


@pytest.mark.parametrize("name,kw,shape", UPSAMPLE_MODULES, ids=[f"{p[0]}-{i}" for i, p in
                                                                 enumerate(UPSAMPLE_MODULES)])
def test_resampling_modules(name, kw, shape):
    _module_run(getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw), _rnd(*shape))


def test_interpolate_errors():
    x = ember.randn(1, 2, 4, 4)
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        F.interpolate(x, size=3, scale_factor=2)
    with pytest.raises(ValueError, match="either size or scale_factor"):
        F.interpolate(x)
    with pytest.raises(NotImplementedError, match="linear mode needs a 3-D input"):
        F.interpolate(x, size=3, mode="linear")
    with pytest.raises(ValueError, match="align_corners"):
        F.interpolate(x, size=3, mode="nearest", align_corners=True)
    with pytest.raises(ValueError, match="same number of spatial dims"):
        F.interpolate(x, size=(3, 3, 3))
    with pytest.raises(ShapeError, match="divisible by upscale_factor"):
        F.pixel_shuffle(ember.randn(1, 6, 2, 2), 2)
    with pytest.raises(ShapeError, match="divisible by downscale_factor"):
        F.pixel_unshuffle(ember.randn(1, 1, 3, 4), 2)


def test_interpolate_nearest_integers():
    x = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(1, 2, 3, 4)
    e = F.interpolate(ember.tensor(x), scale_factor=(1.5, 0.75))
    t = TF.interpolate(torch.tensor(x), scale_factor=(1.5, 0.75))
    np.testing.assert_array_equal(e.numpy(), t.numpy())


# -- another device: the npy fixture (required prims only; everything else decomposes) ---------

def test_npy_device_matches_cpu():
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fixture_plugins import load
    load("npy")
    x = _rnd(2, 4, 5, 5, seed=7).astype(np.float32)
    w = _rnd(4, 3, 4, 4, seed=8).astype(np.float32)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)

    def chain(F_, xx, ww):
        y = F_.conv_transpose2d(xx, ww, stride=2, padding=1)                          # (2, 3, 10, 10)
        y = F_.pad(y, (1, 1, 1, 1), mode="reflect")
        y = F_.interpolate(y, scale_factor=0.5, mode="bilinear", align_corners=False)
        y = F_.max_pool2d(y, 2) + F_.avg_pool2d(y, 2)
        y = F_.pad(y, (1, 0, 0, 1), mode="replicate")
        y = F_.interpolate(y, scale_factor=2, mode="nearest")
        return F_.adaptive_max_pool2d(y, 3)

    ex = ember.tensor(x, device="npy").requires_grad_()
    ew = ember.tensor(w, device="npy").requires_grad_()
    eo, to = chain(F, ex, ew), chain(TF, tx, tw)
    assert eo.device.type == "npy"
    _check(eo.to("cpu"), to, 2e-5)
    eo.sum().backward()
    to.sum().backward()
    _check(ex.grad.to("cpu"), tx.grad, 2e-5)
    _check(ew.grad.to("cpu"), tw.grad, 2e-5)
    v = F.max_pool3d(ember.tensor(_rnd(1, 2, 4, 4, 4), device="npy"), 2, return_indices=True)
    tv = TF.max_pool3d(torch.tensor(_rnd(1, 2, 4, 4, 4)), 2, return_indices=True)
    np.testing.assert_array_equal(v[1].to("cpu").numpy(), tv[1].numpy())
