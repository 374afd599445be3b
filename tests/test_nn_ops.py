"""The nn operator family against PyTorch: values, gradients, the decompositions, meta, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember
from ember import dispatch

torch = pytest.importorskip("torch")
F = torch.nn.functional

HAS_AUTOGRAD = hasattr(ember.Tensor, "backward")
needs_autograd = pytest.mark.skipif(not HAS_AUTOGRAD, reason="autograd is not in this build")


def rnd(rng, *shape, dtype=np.float32, low=-2, high=2):
    return rng.uniform(low, high, size=shape).astype(dtype)


def E(a, **kw):
    return ember.tensor(a, **kw)


def T(a):
    return torch.tensor(a)


def close(e, t, tol=1e-4):
    e = e.detach().numpy() if isinstance(e, ember.Tensor) else np.asarray(e)
    t = t.detach().numpy()
    assert e.shape == t.shape, (e.shape, t.shape)
    np.testing.assert_allclose(e.astype(np.float64), t.astype(np.float64), rtol=tol, atol=tol, equal_nan=True)


# Each case: name -> (ember fn, torch fn, input-shape builder). Both fns take the same positional inputs.
def _cases():
    rng = np.random.default_rng(0)
    c = {}
    x = rnd(rng, 2, 6, 9, 8)
    c["conv2d"] = (lambda x, w, b: ember.conv2d(x, w, b, 1, 1),
                   lambda x, w, b: F.conv2d(x, w, b, 1, 1), [x, rnd(rng, 4, 6, 3, 3), rnd(rng, 4)])
    c["conv2d_strided_groups"] = (
        lambda x, w, b: ember.conv2d(x, w, b, (2, 1), (1, 2), (2, 1), 2),
        lambda x, w, b: F.conv2d(x, w, b, (2, 1), (1, 2), (2, 1), 2), [x, rnd(rng, 4, 3, 3, 2), rnd(rng, 4)])
    c["conv2d_unbatched"] = (lambda x, w: ember.conv2d(x, w), lambda x, w: F.conv2d(x, w),
                             [rnd(rng, 3, 5, 5), rnd(rng, 2, 3, 2, 2)])
    c["conv1d"] = (lambda x, w, b: ember.conv1d(x, w, b, 2, 1, 1, 2),
                   lambda x, w, b: F.conv1d(x, w, b, 2, 1, 1, 2), [rnd(rng, 2, 4, 10), rnd(rng, 6, 2, 3), rnd(rng, 6)])
    c["max_pool2d"] = (lambda x: ember.max_pool2d(x, 3, 2, 1), lambda x: F.max_pool2d(x, 3, 2, 1), [x])
    c["max_pool2d_ceil_dilated"] = (lambda x: ember.max_pool2d(x, (3, 2), (2, 2), (1, 0), (1, 2), True),
                                    lambda x: F.max_pool2d(x, (3, 2), (2, 2), (1, 0), (1, 2), True), [x])
    c["max_pool2d_tiling"] = (lambda x: ember.max_pool2d(x, 2), lambda x: F.max_pool2d(x, 2), [rnd(rng, 2, 3, 8, 6)])
    c["avg_pool2d"] = (lambda x: ember.avg_pool2d(x, 3, 2, 1), lambda x: F.avg_pool2d(x, 3, 2, 1), [x])
    c["avg_pool2d_ceil_nopad"] = (lambda x: ember.avg_pool2d(x, 3, 2, 1, True, False),
                                  lambda x: F.avg_pool2d(x, 3, 2, 1, True, False), [x])
    c["avg_pool2d_divisor"] = (lambda x: ember.avg_pool2d(x, 2, divisor_override=3),
                               lambda x: F.avg_pool2d(x, 2, divisor_override=3), [x])
    c["adaptive_avg_pool2d"] = (lambda x: ember.adaptive_avg_pool2d(x, (4, 5)),
                                lambda x: F.adaptive_avg_pool2d(x, (4, 5)), [x])
    c["adaptive_avg_pool2d_1"] = (lambda x: ember.adaptive_avg_pool2d(x, 1),
                                  lambda x: F.adaptive_avg_pool2d(x, 1), [x])
    c["layer_norm"] = (lambda x, w, b: ember.layer_norm(x, (9, 8), w, b),
                       lambda x, w, b: F.layer_norm(x, (9, 8), w, b), [x, rnd(rng, 9, 8), rnd(rng, 9, 8)])
    c["group_norm"] = (lambda x, w, b: ember.group_norm(x, 3, w, b),
                       lambda x, w, b: F.group_norm(x, 3, w, b), [x, rnd(rng, 6), rnd(rng, 6)])
    c["batch_norm_train"] = (lambda x, w, b: ember.batch_norm(x, None, None, w, b, True),
                             lambda x, w, b: F.batch_norm(x, None, None, w, b, True), [x, rnd(rng, 6), rnd(rng, 6)])
    c["batch_norm_eval"] = (
        lambda x, m, v, w, b: ember.batch_norm(x, m, v, w, b, False),
        lambda x, m, v, w, b: F.batch_norm(x, m, v, w, b, False),
        [x, rnd(rng, 6), rnd(rng, 6, low=0.5, high=2), rnd(rng, 6), rnd(rng, 6)])
    c["relu"] = (ember.relu, F.relu, [x])
    c["gelu"] = (ember.gelu, F.gelu, [x])
    c["gelu_tanh"] = (lambda x: ember.gelu(x, "tanh"), lambda x: F.gelu(x, approximate="tanh"), [x])
    c["silu"] = (ember.silu, F.silu, [x])
    y = rnd(rng, 2, 6, 9, 8)
    for r in ("mean", "sum", "none"):
        c[f"mse_{r}"] = (lambda a, b, r=r: ember.mse_loss(a, b, r), lambda a, b, r=r: F.mse_loss(a, b, reduction=r),
                         [x, y])
        c[f"l1_{r}"] = (lambda a, b, r=r: ember.l1_loss(a, b, r), lambda a, b, r=r: F.l1_loss(a, b, reduction=r),
                        [x, y])
        p = rnd(rng, 5, 7, low=0.05, high=0.95)
        t = (rng.random((5, 7)) > 0.5).astype(np.float32)
        c[f"bce_{r}"] = (lambda a, b, r=r: ember.binary_cross_entropy(a, b, None, r),
                         lambda a, b, r=r: F.binary_cross_entropy(a, b, reduction=r), [p, t])
        c[f"bce_logits_{r}"] = (
            lambda a, b, pw, r=r: ember.binary_cross_entropy_with_logits(a, b, None, pw, r),
            lambda a, b, pw, r=r: F.binary_cross_entropy_with_logits(a, b, pos_weight=pw, reduction=r),
            [rnd(rng, 5, 7, low=-5, high=5), t, rnd(rng, 7, low=0.1, high=3)])
    q, k, v = rnd(rng, 2, 3, 5, 4), rnd(rng, 2, 3, 6, 4), rnd(rng, 2, 3, 6, 7)
    c["sdpa"] = (ember.scaled_dot_product_attention, F.scaled_dot_product_attention, [q, k, v])
    c["sdpa_causal"] = (lambda q, k, v: ember.scaled_dot_product_attention(q, k, v, is_causal=True),
                        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), [q, rnd(rng, 2, 3, 5, 4),
                                                                                              rnd(rng, 2, 3, 5, 7)])
    c["sdpa_float_mask_scale"] = (
        lambda q, k, v, m: ember.scaled_dot_product_attention(q, k, v, m, scale=0.3),
        lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, m, scale=0.3), [q, k, v, rnd(rng, 5, 6)])
    c["pad"] = (lambda x: ember.constant_pad_nd(x, (1, 2, -1, 3), 0.5),
                lambda x: F.pad(x, (1, 2, -1, 3), value=0.5), [x])
    c["unfold"] = (lambda x: ember.im2col(x, (3, 2), (2, 1), (1, 0), (1, 2)),
                   lambda x: F.unfold(x, (3, 2), (2, 1), (1, 0), (1, 2)), [x])
    cols = rnd(rng, 2, 6 * 3 * 2, 7 * 4)
    c["fold"] = (lambda c_: ember.col2im(c_, (9, 8), (3, 2), (2, 1), (1, 0), (1, 2)),
                 lambda c_: F.fold(c_, (9, 8), (3, 2), (2, 1), (1, 0), (1, 2)), [cols])
    return c


CASES = _cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_torch(name):
    efn, tfn, arrays = CASES[name]
    close(efn(*[E(a) for a in arrays]), tfn(*[T(a) for a in arrays]))


@pytest.mark.parametrize("name", sorted(CASES))
def test_float64(name):
    efn, tfn, arrays = CASES[name]
    arrays = [a.astype(np.float64) for a in arrays]
    close(efn(*[E(a) for a in arrays]), tfn(*[T(a) for a in arrays]), 1e-10)


@needs_autograd
@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_match_torch(name):
    efn, tfn, arrays = CASES[name]
    arrays = [a.astype(np.float64) for a in arrays]
    # inputs PyTorch does not differentiate: bce's target, running stats, pos_weight
    if name.startswith("bce_logits"):
        diff = [0, 1]
    elif name.startswith("bce_"):
        diff = [0]
    elif name == "batch_norm_eval":
        diff = [0, 3, 4]
    else:
        diff = range(len(arrays))
    et = [E(a) for a in arrays]
    tt = [T(a) for a in arrays]
    for i in diff:
        et[i].requires_grad_(True)
        tt[i].requires_grad_(True)
    eo, to = efn(*et), tfn(*tt)
    g = np.random.default_rng(1).standard_normal(tuple(to.shape))
    (eo * E(g)).sum().backward()
    (to * T(g)).sum().backward()
    for i in diff:
        assert et[i].grad is not None, f"input {i} got no gradient"
        close(et[i].grad, tt[i].grad, 1e-8)


def test_decompositions_match_kernels():
    """The ops with cpu kernels: their decompositions (what other backends run) give the same values."""
    rng = np.random.default_rng(2)
    x = rnd(rng, 2, 4, 7, 6)
    cases = [
        ("conv2d", (E(x), E(rnd(rng, 6, 2, 3, 2)), E(rnd(rng, 6)), (2, 1), (1, 1), (1, 2), 2)),
        ("im2col", (E(x), (2, 3), (1, 1), (1, 0), (2, 1))),
        ("col2im", (E(rnd(rng, 2, 4 * 6, 4 * 4)), (7, 6), (2, 3), (1, 1), (1, 0), (2, 1))),
        ("max_pool2d_with_indices", (E(x), (3, 3), (2, 2), (1, 1), (1, 1), True)),
        ("max_pool2d_with_indices", (E(x), (2, 2), (2, 2), (0, 0), (1, 1), False)),
    ]
    g, xx = E(rnd(rng, 6)), E(rnd(rng, 6, 5))
    tgt = ember.tensor([0, 4, 2, -100, 1, 3])
    cases += [
        ("cross_entropy", (xx, tgt, E(rnd(rng, 5, low=0.5)), "mean", -100, 0.1)),
        ("cross_entropy", (E(x), ember.tensor(rng.integers(0, 4, (2, 7, 6))), None, "none", 1, 0.0)),
        ("cross_entropy_backward", (E(np.float32(1.3)), xx, tgt, E(rnd(rng, 5, low=0.5)), "mean", -100, 0.1)),
        ("cross_entropy_backward", (g, xx, tgt, None, "none", -100, 0.0)),
    ]
    xb, wb = E(rnd(rng, 2, 4, 7, 6)), E(rnd(rng, 6, 2, 3, 2))
    gb = ember.conv2d(xb, wb, None, (2, 1), (1, 1), (1, 2), 2)
    cases += [
        ("conv2d_backward", (E(rnd(rng, *gb.shape)), xb, wb, (2, 1), (1, 1), (1, 2), 2)),
        ("conv2d_backward", (E(rnd(rng, 2, 6, 5, 4)), xb, E(rnd(rng, 6, 4, 3, 3)), 1, 0, 1, 1)),
        ("batch_norm_train", (xb, E(rnd(rng, 4)), E(rnd(rng, 4)), 1e-5)),
        ("batch_norm_train", (E(rnd(rng, 5, 4)), None, None, 1e-3)),
        ("batch_norm_train_backward", (E(rnd(rng, 2, 4, 7, 6)), xb, E(rnd(rng, 4)), 1e-5)),
        ("batch_norm_train_backward", (E(rnd(rng, 5, 4, 3)), E(rnd(rng, 5, 4, 3)), None, 1e-5)),
    ]
    for name, args in cases:
        op = dispatch.get(name)
        k = op.fn(*args)
        d = op.decomposition(*args)
        for a, b in zip(k if isinstance(k, tuple) else (k,), d if isinstance(d, tuple) else (d,)):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["adam_step_", "sgd_step_"])
def test_fused_optimizer_updates_match_their_decompositions(name):
    rng = np.random.default_rng(11)
    base = [rnd(rng, 4, 3).astype(np.float64) for _ in range(5)]
    base[3] = np.abs(base[3])
    for variant in range(3):
        outs = []
        for fn in (dispatch.get(name).fn, dispatch.get(name).decomposition):
            ts = [E(a.copy()) for a in base]
            if name == "adam_step_":
                fn(ts[0], ts[1], ts[2], ts[3], ts[4] if variant == 2 else None, 0.1, 0.8, 0.99, 1e-8,
                   0.05 * variant, 3.0, variant == 1)
            else:
                fn(ts[0], ts[1], ts[2] if variant else None, 0.1, 0.9, 0.0, 0.01 * variant, variant == 2, False)
            outs.append([t.numpy() for t in ts])
        for a, b in zip(*outs):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@needs_autograd
def test_double_backward_through_conv_and_pooling():
    gg = getattr(ember.autograd, "gradgradcheck", None)
    if gg is None:
        pytest.skip("no gradgradcheck in this build")
    rng = np.random.default_rng(12)
    x = E(rng.standard_normal((1, 2, 5, 4))).requires_grad_(True)
    w = E(rng.standard_normal((3, 2, 2, 2))).requires_grad_(True)
    assert gg(lambda x, w: ember.conv2d(x, w, None, 1, 1), (x, w))
    assert gg(lambda x: ember.avg_pool2d(x, 2, 1, 1), (x,))
    assert gg(lambda x: ember.im2col(x, 2, 1, 1, 2), (x,))
    assert gg(lambda x, w: ember.batch_norm(x, None, None, w, None, True), (x, E(rng.standard_normal(2)).requires_grad_(True)))
    t = ember.tensor([1, 0, 2, 1, 2])
    z = E(rng.standard_normal((5, 3))).requires_grad_(True)
    assert gg(lambda z: ember.cross_entropy(z, t, None, "mean", -100, 0.1), (z,))


def test_non_contiguous_inputs():
    rng = np.random.default_rng(3)
    x = rnd(rng, 2, 3, 8, 10)
    et = E(x).transpose(2, 3)
    close(ember.conv2d(et, E(np.ones((2, 3, 3, 3), np.float32))),
          F.conv2d(T(x).transpose(2, 3), torch.ones(2, 3, 3, 3)))
    close(ember.max_pool2d(et[:, :, ::2], 2), F.max_pool2d(T(x).transpose(2, 3)[:, :, ::2], 2))
    close(ember.layer_norm(et, (8,)), F.layer_norm(T(x).transpose(2, 3), (8,)))


def test_max_pool_indices_match_torch():
    rng = np.random.default_rng(4)
    x = rnd(rng, 2, 3, 9, 7)
    v, i = ember.max_pool2d_with_indices(E(x), 3, 2, 1, 1, True)
    tv, ti = F.max_pool2d(T(x), 3, 2, 1, 1, True, return_indices=True)
    close(v, tv)
    assert i.dtype is ember.int64
    np.testing.assert_array_equal(i.numpy(), ti.numpy())


def test_batch_norm_updates_running_stats():
    rng = np.random.default_rng(5)
    x = rnd(rng, 8, 3, 4)
    rm, rv = E(np.zeros(3, np.float32)), E(np.ones(3, np.float32))
    trm, trv = torch.zeros(3), torch.ones(3)
    ember.batch_norm(E(x), rm, rv, None, None, True, 0.2, 1e-5)
    F.batch_norm(T(x), trm, trv, None, None, True, 0.2, 1e-5)
    close(rm, trm)
    close(rv, trv)


def test_embedding():
    rng = np.random.default_rng(6)
    w = rnd(rng, 10, 4)
    idx = rng.integers(0, 10, (3, 5))
    close(ember.embedding(E(w), E(idx)), F.embedding(T(idx), T(w)))


@needs_autograd
def test_embedding_padding_idx_gets_no_gradient():
    w = ember.tensor(np.ones((5, 3)), dtype=ember.float64).requires_grad_(True)
    idx = ember.tensor([[0, 2, 2], [4, 0, 1]])
    ember.embedding(w, idx, 2).sum().backward()
    tw = torch.ones(5, 3, dtype=torch.float64, requires_grad=True)
    F.embedding(torch.tensor([[0, 2, 2], [4, 0, 1]]), tw, padding_idx=2).sum().backward()
    close(w.grad, tw.grad)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy(reduction, smoothing, weighted):
    rng = np.random.default_rng(7)
    logits = rnd(rng, 7, 5, 3).astype(np.float64)
    target = rng.integers(0, 5, (7, 3))
    target[0, 0] = target[3, 2] = -100
    w = rnd(rng, 5, low=0.2, high=2).astype(np.float64) if weighted else None
    el, tl = E(logits), T(logits)
    ew, tw = (E(w), T(w)) if weighted else (None, None)
    if HAS_AUTOGRAD:
        el.requires_grad_(True)
        tl.requires_grad_(True)
    e = ember.cross_entropy(el, E(target), ew, reduction, -100, smoothing)
    t = F.cross_entropy(tl, T(target), tw, reduction=reduction, label_smoothing=smoothing)
    close(e, t, 1e-10)
    if HAS_AUTOGRAD:
        e.sum().backward()
        t.sum().backward()
        close(el.grad, tl.grad, 1e-10)
    # nll_loss on log-probabilities is cross_entropy without smoothing
    if smoothing == 0:
        close(ember.nll_loss(ember.log_softmax(E(logits), 1), E(target), ew, reduction),
              F.nll_loss(F.log_softmax(T(logits), 1), T(target), tw, reduction=reduction), 1e-10)


def test_cross_entropy_probability_targets():
    rng = np.random.default_rng(8)
    logits = rnd(rng, 6, 4).astype(np.float64)
    p = rng.random((6, 4))
    p /= p.sum(1, keepdims=True)
    w = rnd(rng, 4, low=0.5, high=2).astype(np.float64)
    for r in ("mean", "sum", "none"):
        close(ember.cross_entropy(E(logits), E(p), E(w), r, -100, 0.1),
              F.cross_entropy(T(logits), T(p), T(w), reduction=r, label_smoothing=0.1), 1e-10)


def test_sdpa_bool_mask():
    rng = np.random.default_rng(9)
    q, k, v = rnd(rng, 2, 5, 4), rnd(rng, 2, 6, 4), rnd(rng, 2, 6, 3)
    m = rng.random((5, 6)) > 0.4
    m[:, 0] = True
    close(ember.scaled_dot_product_attention(E(q), E(k), E(v), E(m)),
          F.scaled_dot_product_attention(T(q), T(k), T(v), T(m)))


@pytest.mark.parametrize("dtype", [ember.float16, ember.bfloat16])
def test_half_precision(dtype):
    rng = np.random.default_rng(10)
    x, w = rnd(rng, 2, 3, 6, 6), rnd(rng, 4, 3, 3, 3)
    tdt = torch.float16 if dtype is ember.float16 else torch.bfloat16
    out = ember.conv2d(E(x).to(dtype), E(w).to(dtype))
    assert out.dtype is dtype
    ref = F.conv2d(T(x).to(tdt).float(), T(w).to(tdt).float())
    np.testing.assert_allclose(out.float().numpy(), ref.numpy(), rtol=3e-2, atol=3e-2)
    ln = ember.layer_norm(E(x).to(dtype), (6,))
    assert ln.dtype is dtype
    np.testing.assert_allclose(ln.float().numpy(), F.layer_norm(T(x).to(tdt), (6,)).float().numpy(),
                               rtol=3e-2, atol=3e-2)


def test_meta_device_shapes():
    m = lambda *s: ember.empty(*s, device="meta")  # noqa: E731
    x = m(2, 6, 9, 8)
    assert ember.conv2d(x, m(4, 3, 3, 2), None, 2, 1, 1, 2).shape == (2, 4, 5, 5)
    assert ember.conv1d(m(2, 4, 10), m(6, 4, 3)).shape == (2, 6, 8)
    v, i = ember.max_pool2d_with_indices(x, 3, 2, 1)
    assert v.shape == (2, 6, 5, 4) and i.dtype is ember.int64
    assert ember.avg_pool2d(x, 2).shape == (2, 6, 4, 4)
    assert ember.adaptive_avg_pool2d(x, (2, 3)).shape == (2, 6, 2, 3)
    assert ember.layer_norm(x, (8,)).shape == x.shape
    assert ember.cross_entropy(m(4, 5), ember.empty(4, dtype=ember.int64, device="meta")).shape == ()
    assert ember.scaled_dot_product_attention(m(2, 5, 4), m(2, 6, 4), m(2, 6, 3)).shape == (2, 5, 3)
    assert ember.im2col(x, 3).shape == (2, 54, 42)
    assert ember.embedding(m(10, 3), ember.empty(2, 4, dtype=ember.int64, device="meta")).shape == (2, 4, 3)
    lbl = ember.empty(4, dtype=ember.int64, device="meta")
    assert ember.cross_entropy_backward(m(), m(4, 5), lbl).shape == (4, 5)
    gi, gw, gbias = ember.conv2d_backward(m(2, 4, 5, 5), x, m(4, 3, 3, 2), 2, 1, 1, 2)
    assert gi.shape == x.shape and gw.shape == (4, 3, 3, 2) and gbias.shape == (4,)
    assert ember.batch_norm_train(x, m(6), m(6)).shape == x.shape
    assert [t.shape for t in ember.batch_norm_train_backward(x, x, m(6))] == [x.shape, (6,), (6,)]
    p = m(3, 2)
    assert ember.adam_step_(p, m(3, 2), m(3, 2), m(3, 2)) is p
    assert ember.sgd_step_(p, m(3, 2)) is p


# -- bad input ---------------------------------------------------------------------------

def test_conv_errors_name_the_values():
    x = ember.zeros(1, 3, 5, 5)
    with pytest.raises(ember.ShapeError, match=r"3 channels.*\(4, 2, 3, 3\).*groups=1"):
        ember.conv2d(x, ember.zeros(4, 2, 3, 3))
    with pytest.raises(ember.ShapeError, match=r"smaller than the kernel's extent 7"):
        ember.conv2d(x, ember.zeros(4, 3, 7, 7))
    with pytest.raises(ember.DTypeError, match="int64"):
        ember.conv2d(x.long(), ember.zeros(4, 3, 3, 3).long())
    with pytest.raises(ember.DTypeError, match="float64"):
        ember.conv2d(x, ember.zeros(4, 3, 3, 3, dtype=ember.float64))
    with pytest.raises(ValueError, match=r"stride must be >= 1.*\(0, 0\)"):
        ember.conv2d(x, ember.zeros(4, 3, 3, 3), None, 0)
    with pytest.raises(ember.ShapeError, match=r"bias must have shape \(4,\)"):
        ember.conv2d(x, ember.zeros(4, 3, 3, 3), ember.zeros(5))
    with pytest.raises(ember.ShapeError, match=r"out_channels 4.*groups=3"):
        ember.conv2d(x, ember.zeros(4, 1, 3, 3), None, 1, 0, 1, 3)


def test_pool_and_norm_errors():
    with pytest.raises(ember.ShapeError, match=r"\(5, 5\)"):
        ember.max_pool2d(ember.zeros(5, 5), 2)
    with pytest.raises(ValueError, match="padding"):
        ember.max_pool2d(ember.zeros(1, 1, 5, 5), 2, 2, 2)
    with pytest.raises(ember.ShapeError, match=r"\(4,\).*\(2, 3, 5\)"):
        ember.layer_norm(ember.zeros(2, 3, 5), (4,))
    with pytest.raises(ember.ShapeError, match="num_groups=4"):
        ember.group_norm(ember.zeros(2, 6, 3), 4)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        ember.batch_norm(ember.zeros(1, 3), None, None, None, None, True)
    with pytest.raises(ember.ShapeError, match=r"running_mean must have shape \(3,\)"):
        ember.batch_norm(ember.zeros(4, 3), ember.zeros(2), ember.ones(3))


def test_loss_errors():
    with pytest.raises(ember.IndexOutOfRangeError, match="target 7 is out of bounds for 5 classes"):
        ember.cross_entropy(ember.zeros(3, 5), ember.tensor([0, 7, 1]))
    with pytest.raises(ember.ShapeError, match=r"target shape \(4,\).*\(3, 5\)"):
        ember.cross_entropy(ember.zeros(3, 5), ember.tensor([0, 1, 1, 2]))
    with pytest.raises(ValueError, match="'avg'"):
        ember.mse_loss(ember.zeros(3), ember.zeros(3), "avg")
    with pytest.raises(ember.ShapeError, match=r"\(3,\).*\(4,\)"):
        ember.mse_loss(ember.zeros(3), ember.zeros(4))
    with pytest.raises(ember.DTypeError, match="float32"):
        ember.nll_loss(ember.zeros(3, 5), ember.zeros(3))
    with pytest.raises(ember.DTypeError, match="int64 or int32"):
        ember.embedding(ember.zeros(3, 2), ember.zeros(4))


def test_sdpa_errors():
    with pytest.raises(ember.ShapeError, match=r"\(2, 5, 4\).*\(2, 6, 3\)"):
        ember.scaled_dot_product_attention(ember.zeros(2, 5, 4), ember.zeros(2, 6, 3), ember.zeros(2, 6, 3))
    with pytest.raises(ValueError, match="not both"):
        ember.scaled_dot_product_attention(ember.zeros(2, 5, 4), ember.zeros(2, 5, 4), ember.zeros(2, 5, 4),
                                           ember.ones(5, 5, dtype=ember.bool), is_causal=True)
    with pytest.raises(ember.ShapeError, match=r"attn_mask of shape \(3, 3\)"):
        ember.scaled_dot_product_attention(ember.zeros(2, 5, 4), ember.zeros(2, 6, 4), ember.zeros(2, 6, 4),
                                           ember.ones(3, 3, dtype=ember.bool))


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="'fast'"):
        ember.gelu(ember.zeros(3), "fast")


def test_inf_and_nan_propagate():
    x = ember.tensor([[[[1.0, math.nan], [2.0, 3.0]]]])
    assert math.isnan(ember.max_pool2d(x, 2).item())
    assert math.isnan(ember.relu(ember.tensor([math.nan])).item())
    lp = ember.log_softmax(ember.tensor([1000.0, 0.0]), 0)
    assert np.isfinite(lp.numpy()).all()


@needs_autograd
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_gradients_of_probability_targets_and_weights(reduction):
    rng = np.random.default_rng(13)
    x = rng.standard_normal((4, 3, 2))
    p = rng.random((4, 3, 2))
    p /= p.sum(1, keepdims=True)
    w = rng.uniform(0.5, 2, 3)
    et, tt = E(p).requires_grad_(True), T(p).requires_grad_(True)
    e = ember.cross_entropy(E(x), et, E(w), reduction, -100, 0.1)
    t = F.cross_entropy(T(x), tt, T(w), reduction=reduction, label_smoothing=0.1)
    e.sum().backward()
    t.sum().backward()
    close(et.grad, tt.grad, 1e-10)
    # class weights (PyTorch does not differentiate them): against central differences
    labels = rng.integers(0, 3, (4, 2))
    labels[0, 0] = -100
    ew = E(w).requires_grad_(True)
    ember.cross_entropy(E(x), E(labels), ew, reduction, -100, 0.2).sum().backward()
    num = np.zeros(3)
    for c in range(3):
        hi, lo = w.copy(), w.copy()
        hi[c] += 1e-6
        lo[c] -= 1e-6
        f = lambda v: float(ember.cross_entropy(E(x), E(labels), E(v), reduction, -100, 0.2).sum())  # noqa: E731
        num[c] = (f(hi) - f(lo)) / 2e-6
    np.testing.assert_allclose(ew.grad.numpy(), num, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dt", ["float16", "bfloat16"])
def test_half_decompositions_accumulate_in_float32(dt):
    """col2im and conv2d_backward's decompositions (what a backend without its own kernel runs) sum
    float16/bfloat16 in float32 and round once, as PyTorch does: overlapping large values that cancel
    stay within one rounding of the exact result."""
    from ember.ops import nn as NN
    dtype = getattr(ember, dt)
    rng = np.random.default_rng(3)
    eps = 2.0 ** -10 if dt == "float16" else 2.0 ** -7
    x = (rng.standard_normal((2, 2 * 9, 16)) * 64).astype(np.float32)
    x = x.astype(dtype.np).astype(np.float64)
    xe = ember.tensor(x).to(dtype)
    got = NN._col2im(xe, (6, 6), (3, 3), 1, 0, 1)
    ref = ember.col2im(ember.tensor(x), (6, 6), (3, 3)).numpy()
    assert got.dtype is dtype
    np.testing.assert_allclose(got.to(ember.float64).numpy(), ref, rtol=eps, atol=eps * 4)

    g = rng.standard_normal((2, 4, 5, 5)).astype(dtype.np)
    inp = rng.standard_normal((2, 3, 7, 7)).astype(dtype.np)
    w = (rng.standard_normal((4, 3, 3, 3)) * 8).astype(dtype.np)
    got = NN._conv2d_backward(ember.tensor(g), ember.tensor(inp), ember.tensor(w), 1, 0, 1, 1)
    ref = ember.conv2d_backward(*(ember.tensor(a.astype(np.float64)) for a in (g, inp, w)))
    for a, b in zip(got, ref):
        assert a.dtype is dtype
        b = b.numpy()
        np.testing.assert_allclose(a.to(ember.float64).numpy(), b, rtol=eps, atol=eps * np.abs(b).max())
