"""Convolution, pooling, normalization, losses and optimizer updates on numpy and native kernels.

conv2d and its backward, and conv_transpose2d (conv2d's input gradient) and its backward, run natively
(native/conv.cpp: register-tiled products) for float32/float64 up to moderate channel counts, else as im2col +
one BLAS product per group; max pooling (float32, float64, the signed integers and uint8; the halves through
float32), batch norm with the batch's statistics, its running statistics and the Adam update (float32/float64)
run natively (native/norm_pool.cpp), and so does relu's gradient, threshold_backward (native/activation.cpp);
what the native kernels do not cover runs on numpy.

Core has normalized every pair (kernel, stride, padding, dilation) and checked
shapes and dtypes; inputs are 4-D. float16 and bfloat16 compute in float32
and round once.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.lib.stride_tricks import as_strided


from ..runtime import arr, is_half, wrap
from .elementwise import _erf, _sigmoid

_F32 = np.dtype(np.float32)

# inf * 0 and the like give NaN here as in PyTorch, without numpy's RuntimeWarning (see elementwise.py)
warnings.filterwarnings("ignore", category=RuntimeWarning, module=__name__)


def _padded(x, p, value=0, extra=(0, 0)):
    if p == (0, 0) and extra == (0, 0):
        return x
    return np.pad(x, ((0, 0), (0, 0), (p[0], p[0] + extra[0]), (p[1], p[1] + extra[1])), constant_values=value)


def _windows(xp, k, d, s, o):
    """(N, C, KH, KW, OH, OW) view of the windows of a padded array."""
    sn, sc, sh, sw = xp.strides
    return as_strided(xp, (xp.shape[0], xp.shape[1], k[0], k[1], o[0], o[1]),
                      (sn, sc, d[0] * sh, d[1] * sw, s[0] * sh, s[1] * sw), writeable=False)


_nat = None


def _native():
    global _nat
    if _nat is None:
        from .. import _native as n
        _nat = n
    return _nat


_NATIVE_WINDOWS = {np.dtype(np.float32): ("im2col_f32", "col2im_f32"),
                   np.dtype(np.float64): ("im2col_f64", "col2im_f64")}


def _columns(X, c0, Cg, k, d, p, s, o):
    """(Cg*KH*KW, N*OH*OW) columns of X[:, c0:c0+Cg]: natively for float32/float64, else a numpy copy."""
    names = _NATIVE_WINDOWS.get(X.dtype)
    if names is not None:
        return getattr(_native(), names[0])(X, c0, Cg, k, d, p, s, o)
    win = _windows(_padded(X, p), k, d, s, o)[:, c0:c0 + Cg]
    return win.transpose(1, 2, 3, 0, 4, 5).reshape(Cg * k[0] * k[1], X.shape[0] * o[0] * o[1])


def _add_columns(out, cols, c0, k, d, p, s, o):
    """out[:, c0:c0+Cg] += the windows in ``cols`` (the adjoint of :func:`_columns`), out unpadded."""
    names = _NATIVE_WINDOWS.get(out.dtype)
    if names is not None:
        getattr(_native(), names[1])(np.ascontiguousarray(cols), out, c0, k, d, p, s, o)
        return
    N, _, H, W = out.shape
    Cg = cols.shape[0] // (k[0] * k[1])
    hp = max(H + 2 * p[0], (o[0] - 1) * s[0] + d[0] * (k[0] - 1) + 1)
    wp = max(W + 2 * p[1], (o[1] - 1) * s[1] + d[1] * (k[1] - 1) + 1)
    acc = np.zeros((N, Cg, hp, wp), dtype=out.dtype)
    gc = cols.reshape(Cg, k[0], k[1], N, o[0], o[1])
    for i in range(k[0]):
        h0 = i * d[0]
        for j in range(k[1]):
            w0 = j * d[1]
            acc[:, :, h0:h0 + s[0] * (o[0] - 1) + 1:s[0], w0:w0 + s[1] * (o[1] - 1) + 1:s[1]] += \
                gc[:, i, j].transpose(1, 0, 2, 3)
    out[:, c0:c0 + Cg] += acc[:, :, p[0]:p[0] + H, p[1]:p[1] + W]


# Register-tiled convolutions (native/conv.cpp) run ahead of im2col + BLAS up to about 128 input channels of a
# 3x3 kernel per group at stride 1 (on one thread, 1.5-4x), and for small strided problems; beyond, BLAS's
# blocking wins.
_TILED = {np.dtype(t): tuple(f"{k}_{sfx}" for k in ("conv2d", "conv2d_backward", "conv2d_input_grad",
                                                     "conv2d_weight_grad"))
          for t, sfx in ((np.float32, "f32"), (np.float64, "f64"))}
_TILED_MAX_K = 1152                  # Cg * KH * KW
_TILED_MAX_STRIDED_MACS = 1 << 24    # N * O * Cg*KH*KW * OH*OW, stride other than 1


def _tiled(dt, N, O, K, s, oh, ow):
    """The native (forward, backward, input gradient, weight gradient) kernel names for this convolution, or None
    for im2col + BLAS."""
    names = _TILED.get(dt)
    if names is None or K > _TILED_MAX_K or (s != (1, 1) and N * O * K * oh * ow > _TILED_MAX_STRIDED_MACS):
        return None
    return names


def _conv2d(X, Wt, B, s, p, d, groups):
    """conv2d of arrays of one float dtype (B: the bias or None), natively or as im2col + BLAS."""
    N, C, H, W = X.shape
    O, Cg, KH, KW = Wt.shape
    oh = (H + 2 * p[0] - d[0] * (KH - 1) - 1) // s[0] + 1
    ow = (W + 2 * p[1] - d[1] * (KW - 1) - 1) // s[1] + 1
    names = _tiled(X.dtype, N, O, Cg * KH * KW, s, oh, ow)
    if names is not None:
        return getattr(_native(), names[0])(X, Wt, B, s[0], s[1], p[0], p[1], d[0], d[1], groups)
    og = O // groups
    # one GEMM per group over the whole batch: (og, Cg*K) @ (Cg*K, N*L)
    out = np.empty((O, N, oh, ow), dtype=X.dtype)
    for g in range(groups):
        cols = _columns(X, g * Cg, Cg, (KH, KW), d, p, s, (oh, ow))
        np.matmul(Wt[g * og:(g + 1) * og].reshape(og, -1), cols, out=out[g * og:(g + 1) * og].reshape(og, -1))
    out = np.ascontiguousarray(out.transpose(1, 0, 2, 3))
    if B is not None:
        out += B.reshape(O, 1, 1)
    return out


def _input_grad(G, Wt, B, hw, s, p, d, groups):
    """conv2d's input gradient (N, Cg*groups, *hw) for grad G (N, O, OH, OW) and weight Wt, plus the bias B (one
    value per input channel) or None: natively, or one GEMM per group over the whole batch and col2im."""
    N, O, oh, ow = G.shape
    _, Cg, KH, KW = Wt.shape
    names = _tiled(G.dtype, N, O, Cg * KH * KW, s, oh, ow)
    # the native kernel's products also reduce over O/groups * KH * KW (the flipped kernels at stride 1)
    if names is not None and O // groups * KH * KW <= _TILED_MAX_K:
        return getattr(_native(), names[2])(G, Wt, B, hw[0], hw[1], s[0], s[1], p[0], p[1], d[0], d[1], groups)
    og = O // groups
    G2 = np.ascontiguousarray(G.transpose(1, 0, 2, 3)).reshape(O, N * oh * ow)
    if B is None:
        gi = np.zeros((N, Cg * groups) + tuple(hw), dtype=G.dtype)
    else:
        gi = np.empty((N, Cg * groups) + tuple(hw), dtype=G.dtype)
        gi[...] = B.reshape(-1, 1, 1)
    for g in range(groups):
        os_ = slice(g * og, (g + 1) * og)
        _add_columns(gi, Wt[os_].reshape(og, -1).T @ G2[os_], g * Cg, (KH, KW), d, p, s, (oh, ow))
    return gi


def _weight_grad(G, X, khw, s, p, d, groups):
    """conv2d's weight gradient (O, C/groups, *khw) for grad G (N, O, OH, OW) and input X (N, C, H, W): natively,
    or one GEMM per group over the whole batch."""
    N, O, oh, ow = G.shape
    Cg = X.shape[1] // groups
    names = _tiled(G.dtype, N, O, Cg * khw[0] * khw[1], s, oh, ow)
    if names is not None:
        return getattr(_native(), names[3])(G, X, khw[0], khw[1], s[0], s[1], p[0], p[1], d[0], d[1], groups)
    og = O // groups
    G2 = np.ascontiguousarray(G.transpose(1, 0, 2, 3)).reshape(O, N * oh * ow)
    gw = np.empty((O, Cg) + tuple(khw), dtype=G.dtype)
    for g in range(groups):
        os_ = slice(g * og, (g + 1) * og)
        cols = _columns(X, g * Cg, Cg, khw, d, p, s, (oh, ow))
        np.matmul(G2[os_], cols.T, out=gw[os_].reshape(og, -1))
    return gw


def conv2d(x, weight, bias, s, p, d, groups):
    X, Wt = arr(x), arr(weight)
    dt = X.dtype
    if is_half(dt):
        X, Wt = X.astype(_F32), Wt.astype(_F32)
    B = None if bias is None else arr(bias).astype(X.dtype, copy=False)
    return wrap(_conv2d(X, Wt, B, s, p, d, groups).astype(dt, copy=False))


def im2col(x, k, d, p, s, o):
    X = arr(x)
    N, C = X.shape[:2]
    win = _windows(_padded(X, p), k, d, s, o)
    return wrap(np.ascontiguousarray(win).reshape(N, C * k[0] * k[1], o[0] * o[1]))


def col2im(x, out_hw, k, d, p, s, o):
    X = arr(x)
    dt = X.dtype
    if is_half(dt):
        X = X.astype(_F32)
    N = X.shape[0]
    C = X.shape[1] // (k[0] * k[1])
    H, W = out_hw
    hp = max(H + 2 * p[0], (o[0] - 1) * s[0] + d[0] * (k[0] - 1) + 1)
    wp = max(W + 2 * p[1], (o[1] - 1) * s[1] + d[1] * (k[1] - 1) + 1)
    out = np.zeros((N, C, hp, wp), dtype=X.dtype)
    cols = X.reshape(N, C, k[0], k[1], o[0], o[1])
    for i in range(k[0]):
        h0 = i * d[0]
        for j in range(k[1]):
            w0 = j * d[1]
            out[:, :, h0:h0 + s[0] * (o[0] - 1) + 1:s[0], w0:w0 + s[1] * (o[1] - 1) + 1:s[1]] += cols[:, :, i, j]
    out = out[:, :, p[0]:p[0] + H, p[1]:p[1] + W]
    return wrap(np.ascontiguousarray(out, dtype=dt))


_POOL_NATIVE = frozenset(np.dtype(t) for t in (np.float32, np.float64, np.int8, np.uint8, np.int16, np.int32,
                                                np.int64))


def max_pool2d_with_indices(x, k, s, p, d, o):
    X = arr(x)
    dt = X.dtype
    Xn = X.astype(_F32) if is_half(dt) else X   # a half's maximum is exact in float32
    if Xn.dtype in _POOL_NATIVE:
        v, i = _native().max_pool2d(Xn, k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1], o[0], o[1])
        return wrap(v.astype(dt, copy=False)), wrap(i)
    N, C, H, W = X.shape
    low = -np.inf if X.dtype.kind == "f" or is_half(X.dtype) else np.iinfo(X.dtype).min
    eh = max(0, (o[0] - 1) * s[0] + d[0] * (k[0] - 1) + 1 - (H + 2 * p[0]))
    ew = max(0, (o[1] - 1) * s[1] + d[1] * (k[1] - 1) + 1 - (W + 2 * p[1]))
    if p == (0, 0) and (eh, ew) == (0, 0) and k == s and d == (1, 1) and H == k[0] * o[0] and W == k[1] * o[1]:
        # non-overlapping windows tiling the input: a reshape, no padding
        win = X.reshape(N, C, o[0], k[0], o[1], k[1]).transpose(0, 1, 2, 4, 3, 5).reshape(N, C, o[0], o[1], -1)
    else:
        xp = _padded(X, p, low, (eh, ew))
        win = _windows(xp, k, d, s, o).transpose(0, 1, 4, 5, 2, 3).reshape(N, C, o[0], o[1], -1)
    kidx = np.argmax(win, axis=-1)
    vals = np.take_along_axis(win, kidx[..., None], -1)[..., 0]
    kh, kw = np.divmod(kidx, k[1])
    h = kh * d[0] + (np.arange(o[0]) * s[0] - p[0])[:, None]
    w = kw * d[1] + (np.arange(o[1]) * s[1] - p[1])
    return wrap(np.ascontiguousarray(vals)), wrap((h * W + w).astype(np.int64))


def _ce_prep(x, target, weight, ignore_index, cdim):
    """(N, C) float logits, int64 targets, keep mask, safe targets, weights; raises on a bad target."""
    X = arr(x)
    dt = X.dtype
    if is_half(dt):
        X = X.astype(_F32)
    C = X.shape[cdim]
    if X.ndim != 2 or cdim != 1:
        X = np.moveaxis(X, cdim, -1).reshape(-1, C)
    t = arr(target).reshape(-1).astype(np.int64, copy=False)
    keep = t != ignore_index
    bad = keep & ((t < 0) | (t >= C))
    if bad.any():
        from ember.ops.nn import target_out_of_range
        raise target_out_of_range("cross_entropy", t[bad][0], C, ignore_index)
    safe = np.where(keep, t, 0)
    W = None if weight is None else arr(weight).astype(X.dtype, copy=False)
    return X, dt, C, keep, safe, W


def _log_softmax_rows(X):
    # the max unguarded, as PyTorch's: a row with +inf, or of -inf only, is NaN (x - max is NaN there)
    m = X.max(axis=1, keepdims=True)
    s = X - m
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))


def cross_entropy(x, target, weight, reduction, ignore_index, label_smoothing, cdim):
    if weight is None and not label_smoothing and cdim == 1:   # the common case: one native pass
        r = _native().cross_entropy(arr(x), arr(target), ignore_index, reduction)
        if r is not None:
            return wrap(r)
    X, dt, C, keep, safe, W = _ce_prep(x, target, weight, ignore_index, cdim)
    logp = _log_softmax_rows(X)
    rows = np.arange(len(safe))
    wy = np.ones(len(safe), X.dtype) if W is None else W[safe]
    wy = wy * keep
    loss = -logp[rows, safe] * wy
    eps = label_smoothing
    if eps > 0:
        smooth = -(logp.sum(axis=1) if W is None else logp @ W) * keep
        loss = loss * (1 - eps) + smooth * (eps / C)
    if reduction == "mean":
        r = loss.sum() / wy.sum()
    elif reduction == "sum":
        r = loss.sum()
    else:
        out_shape = tuple(n for i, n in enumerate(arr(x).shape) if i != cdim)
        r = loss.reshape(out_shape)
    return wrap(np.asarray(r, dtype=dt))


def cross_entropy_backward(grad, x, target, weight, reduction, ignore_index, label_smoothing, cdim):
    if weight is None and not label_smoothing and cdim == 1:
        r = _native().cross_entropy_backward(arr(grad), arr(x), arr(target), ignore_index, reduction)
        if r is not None:
            return wrap(r)
    X, dt, C, keep, safe, W = _ce_prep(x, target, weight, ignore_index, cdim)
    G = arr(grad).astype(X.dtype, copy=False)
    p = np.exp(_log_softmax_rows(X))
    rows = np.arange(len(safe))
    wy = np.ones(len(safe), X.dtype) if W is None else W[safe]
    g = p * wy[:, None] if W is not None else p.copy()
    g[rows, safe] -= wy
    eps = label_smoothing
    if eps > 0:
        S = C if W is None else W.sum()
        g = g * (1 - eps) + (p * S - (1 if W is None else W)) * (eps / C)
    g *= keep[:, None]
    if reduction == "mean":
        total = (wy * keep).sum()
        g *= G / (total if total != 0 else 1)  # every target ignored: g is 0 and so is the gradient (PyTorch)
    elif reduction == "sum":
        g *= G
    else:
        g *= G.reshape(-1)[:, None]
    shape = arr(x).shape
    if len(shape) != 2 or cdim != 1:
        moved = tuple(n for i, n in enumerate(shape) if i != cdim) + (C,)
        g = np.moveaxis(g.reshape(moved), -1, cdim)
    return wrap(np.ascontiguousarray(g, dtype=dt))


KERNELS = {"conv2d": conv2d, "im2col": im2col, "col2im": col2im,
           "max_pool2d_with_indices": max_pool2d_with_indices, "cross_entropy": cross_entropy,
           "cross_entropy_backward": cross_entropy_backward}


_ADAM_NATIVE = frozenset((np.dtype(np.float32), np.dtype(np.float64)))


def _in_place(a, dt):
    return a.dtype == dt and a.flags.c_contiguous and a.flags.writeable


def adam_step_(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step,
               decoupled):
    """One Adam/AdamW update in place: natively in one pass for float32/float64 C-contiguous state of the
    parameter's dtype, else with numpy's in-place ufuncs (no temporaries beyond two)."""
    P, G, M, V = arr(param), arr(grad), arr(exp_avg), arr(exp_avg_sq)
    dt = P.dtype
    if (dt in _ADAM_NATIVE and _in_place(P, dt) and _in_place(M, dt) and _in_place(V, dt) and G.dtype == dt
            and G.flags.c_contiguous):
        X = None if max_exp_avg_sq is None else arr(max_exp_avg_sq)
        if X is None or _in_place(X, dt):
            _native().adam_step(P, G, M, V, X, lr, beta1, beta2, eps, weight_decay, 1 - beta1 ** step,
                                1 - beta2 ** step, bool(decoupled))
            return param
    if is_half(P.dtype):  # compute in float32, write back rounded
        P32, G = P.astype(_F32), G.astype(_F32)
        M32, V32 = M.astype(_F32), V.astype(_F32)
    else:
        P32, M32, V32 = P, M, V
    if weight_decay:
        if decoupled:
            P32 *= 1 - lr * weight_decay
        else:
            G = G + P32 * weight_decay
    M32 *= beta1
    M32 += (1 - beta1) * G
    V32 *= beta2
    V32 += (1 - beta2) * (G * G)
    v = V32
    if max_exp_avg_sq is not None:
        X = arr(max_exp_avg_sq)
        np.maximum(X, V32, out=X, casting="unsafe")
        v = X.astype(P32.dtype, copy=False)
    denom = np.sqrt(v)
    denom /= np.sqrt(1 - beta2 ** step)
    denom += eps
    upd = M32 / denom
    upd *= lr / (1 - beta1 ** step)
    P32 -= upd
    if P32 is not P:
        np.copyto(P, P32, casting="unsafe")
        np.copyto(M, M32, casting="unsafe")
        np.copyto(V, V32, casting="unsafe")
    return param


KERNELS["adam_step_"] = adam_step_


def sgd_step_(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov, first):
    """One SGD update in place."""
    P, G = arr(param), arr(grad)
    half = is_half(P.dtype)
    P32 = P.astype(_F32) if half else P
    if half:
        G = G.astype(_F32)
    if weight_decay:
        G = G + P32 * weight_decay
    if momentum_buffer is not None:
        B = arr(momentum_buffer)
        B32 = B.astype(_F32) if half else B
        if first:
            np.copyto(B32, G)
        else:
            B32 *= momentum
            B32 += G if dampening == 0 else G * (1 - dampening)
        if half:
            np.copyto(B, B32, casting="unsafe")
        G = G + B32 * momentum if nesterov else B32
    if half:
        P32 -= G * lr
        np.copyto(P, P32, casting="unsafe")
    elif G.dtype == P.dtype:
        P -= G * lr
    else:
        np.subtract(P, G * lr, out=P, casting="unsafe")
    return param


KERNELS["sgd_step_"] = sgd_step_


def _bn_stats(X):
    """Per-channel mean and 1/sqrt(var + eps)-ready biased variance over all dims but 1."""
    axes = (0,) + tuple(range(2, X.ndim))
    m = X.mean(axis=axes, keepdims=True)
    xm = X - m
    v = np.mean(np.square(xm), axis=axes, keepdims=True)
    return axes, xm, v


_BN_NATIVE = {np.dtype(np.float32): ("batch_norm_train_f32", "batch_norm_train_backward_f32"),
              np.dtype(np.float64): ("batch_norm_train_f64", "batch_norm_train_backward_f64")}


def batch_norm_train(x, weight, bias, eps):
    X = arr(x)
    dt = X.dtype
    if is_half(dt):
        X = X.astype(_F32)
    names = _BN_NATIVE.get(X.dtype)
    if names is not None:
        Wn = None if weight is None else arr(weight).astype(X.dtype, copy=False)
        Bn = None if bias is None else arr(bias).astype(X.dtype, copy=False)
        return wrap(getattr(_native(), names[0])(X, Wn, Bn, float(eps)).astype(dt, copy=False))
    axes, xm, v = _bn_stats(X)
    bshape = (-1,) + (1,) * (X.ndim - 2)
    scale = 1.0 / np.sqrt(v + eps)
    if weight is not None:
        scale = scale * arr(weight).astype(X.dtype, copy=False).reshape(bshape)
    out = xm
    out *= scale
    if bias is not None:
        out += arr(bias).astype(X.dtype, copy=False).reshape(bshape)
    return wrap(out.astype(dt, copy=False))


def batch_norm_train_backward(grad, x, weight, eps):
    X, G = arr(x), arr(grad)
    dt = X.dtype
    if is_half(dt):
        X, G = X.astype(_F32), G.astype(_F32)
    names = _BN_NATIVE.get(X.dtype)
    if names is not None:
        Wn = None if weight is None else arr(weight).astype(X.dtype, copy=False)
        gi, gw, gb = getattr(_native(), names[1])(G.astype(X.dtype, copy=False), X, Wn, float(eps))
        wdt = dt if weight is None else arr(weight).dtype
        return wrap(gi.astype(dt, copy=False)), wrap(gw.astype(wdt, copy=False)), wrap(gb.astype(wdt, copy=False))
    axes, xm, v = _bn_stats(X)
    rstd = 1.0 / np.sqrt(v + eps)
    xhat = xm
    xhat *= rstd
    gb = G.sum(axis=axes, keepdims=True)
    gw = np.sum(G * xhat, axis=axes, keepdims=True)
    n = X.size // X.shape[1]
    bshape = (-1,) + (1,) * (X.ndim - 2)
    scale = rstd if weight is None else rstd * arr(weight).astype(X.dtype, copy=False).reshape(bshape)
    gi = xhat
    gi *= -gw / n
    gi += G
    gi -= gb / n
    gi *= scale
    wdt = dt if weight is None else arr(weight).dtype
    return (wrap(gi.astype(dt, copy=False)), wrap(np.ascontiguousarray(gw.reshape(-1), dtype=wdt)),
            wrap(np.ascontiguousarray(gb.reshape(-1), dtype=wdt)))


_BN_STATS = {np.dtype(np.float32): "batch_norm_stats_f32", np.dtype(np.float64): "batch_norm_stats_f64"}


def batch_norm_update_stats_(running_mean, running_var, x, momentum):
    """The batch's per-channel mean and variance (natively; the halves through float32), then running <- momentum
    * stat + (1 - momentum) * running in float64, written back in the buffers' dtype (PyTorch updates in its
    accumulation type, double on cpu)."""
    X = arr(x)
    if is_half(X.dtype):
        X = X.astype(_F32)
    mean, var = getattr(_native(), _BN_STATS[X.dtype])(X)   # core admits floating inputs only
    n = X.size // X.shape[1]
    var *= n / (n - 1)   # the running variance is the unbiased one
    for buf, stat in ((arr(running_mean), mean), (arr(running_var), var)):
        stat *= momentum
        stat += (1 - momentum) * buf.astype(np.float64)
        np.copyto(buf, stat, casting="unsafe")
    return running_mean


KERNELS["batch_norm_train"] = batch_norm_train
KERNELS["batch_norm_train_backward"] = batch_norm_train_backward
KERNELS["batch_norm_update_stats_"] = batch_norm_update_stats_


_THRESHOLD_NATIVE = {np.dtype(np.float32): "threshold_backward_f32", np.dtype(np.float64): "threshold_backward_f64"}


def threshold_backward(grad, x, threshold):
    """0 where x <= threshold, else grad (one shape and dtype): natively for float32/float64 (one pass; numpy's
    where with a random mask is ~20x slower), else numpy's where."""
    G, X = arr(grad), arr(x)
    name = _THRESHOLD_NATIVE.get(X.dtype)
    if name is not None:
        return wrap(getattr(_native(), name)(G, X, threshold))
    if is_half(X.dtype):   # the threshold in the tensor's dtype, as PyTorch compares
        t = np.asarray(threshold, dtype=X.dtype)
    else:
        t = threshold
    return wrap(np.ascontiguousarray(np.where(X <= t, np.zeros((), G.dtype), G)))


KERNELS["threshold_backward"] = threshold_backward


def conv2d_backward(grad, x, weight, s, p, d, groups):
    """(grad_input, grad_weight, grad_bias): natively in one call, or one GEMM per group for each over the whole
    batch."""
    X, Wt, G = arr(x), arr(weight), arr(grad)
    dt = X.dtype
    if is_half(dt):
        X, Wt, G = X.astype(_F32), Wt.astype(_F32), G.astype(_F32)
    N, C, H, W = X.shape
    O, Cg, KH, KW = Wt.shape
    oh, ow = G.shape[2], G.shape[3]
    wdt = arr(weight).dtype
    names = _tiled(X.dtype, N, O, Cg * KH * KW, s, oh, ow)
    if names is not None:
        gi, gw, gb = getattr(_native(), names[1])(G, X, Wt, s[0], s[1], p[0], p[1], d[0], d[1], groups)
        return wrap(gi.astype(dt, copy=False)), wrap(gw.astype(wdt, copy=False)), wrap(gb.astype(wdt, copy=False))
    gi = _input_grad(G, Wt, None, (H, W), s, p, d, groups)
    gw = _weight_grad(G, X, (KH, KW), s, p, d, groups)
    gb = G.sum(axis=(0, 2, 3))
    return (wrap(gi.astype(dt, copy=False)), wrap(gw.astype(wdt, copy=False)),
            wrap(np.ascontiguousarray(gb, dtype=wdt)))


KERNELS["conv2d_backward"] = conv2d_backward


# -- the transposed convolution: conv2d's input gradient ------------------------------------------------------
# conv_transpose2d of x (N, C, H, W) with weight (C, Og, KH, KW) is the input gradient of a conv2d from
# (N, Og*groups, HO, WO) to x's shape with that weight (C outputs, Og inputs per group), for grad_output x; its
# weight gradient is that conv2d's, with the transposed convolution's grad as input and x as grad_output.

def _pad_to_outputs(X, hw_out, khw, s, p, d):
    """x zero-padded to the conv2d's output size: an output_padding of at least the stride (allowed below the
    dilation) leaves rows and columns past the last window, whose grad_output is 0."""
    oh = (hw_out[0] + 2 * p[0] - d[0] * (khw[0] - 1) - 1) // s[0] + 1
    ow = (hw_out[1] + 2 * p[1] - d[1] * (khw[1] - 1) - 1) // s[1] + 1
    H, W = X.shape[2:]
    if (oh, ow) == (H, W):
        return X
    return np.pad(X, ((0, 0), (0, 0), (0, oh - H), (0, ow - W)))


def conv_transpose2d(x, weight, bias, s, p, op, d, groups):
    X, Wt = arr(x), arr(weight)
    dt = X.dtype
    if is_half(dt):   # computed in float32, rounded once
        X, Wt = X.astype(_F32), Wt.astype(_F32)
    k = Wt.shape[2:]
    hw = tuple((X.shape[2 + i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + op[i] + 1 for i in range(2))
    G = np.ascontiguousarray(_pad_to_outputs(X, hw, k, s, p, d))
    B = None if bias is None else np.ascontiguousarray(arr(bias), dtype=X.dtype)
    return wrap(_input_grad(G, np.ascontiguousarray(Wt), B, hw, s, p, d, groups).astype(dt, copy=False))


def conv_transpose2d_backward(grad, x, weight, s, p, op, d, groups):
    """(grad_input, grad_weight, grad_bias): conv2d of grad with weight, and conv2d's weight gradient with grad as
    the input and x as grad_output."""
    Gt, X, Wt = arr(grad), arr(x), arr(weight)
    dt = X.dtype
    if is_half(dt):
        Gt, X, Wt = Gt.astype(_F32), X.astype(_F32), Wt.astype(_F32)
    Gt, Wt = np.ascontiguousarray(Gt), np.ascontiguousarray(Wt)
    N, C, H, W = X.shape
    _, Og, KH, KW = Wt.shape
    Xp = np.ascontiguousarray(_pad_to_outputs(X, Gt.shape[2:], (KH, KW), s, p, d))
    oh, ow = Xp.shape[2:]
    if _tiled(Gt.dtype, N, C, Og * KH * KW, s, oh, ow) is not None:
        gi = _conv2d(Gt, Wt, None, s, p, d, groups)
        gw = _weight_grad(Xp, Gt, (KH, KW), s, p, d, groups)
    else:   # both products read the same columns of grad: made once per group
        cg = C // groups
        X2 = np.ascontiguousarray(Xp.transpose(1, 0, 2, 3)).reshape(C, N * oh * ow)
        gi = np.empty((C, N, oh, ow), dtype=Gt.dtype)
        gw = np.empty(Wt.shape, dtype=Gt.dtype)
        for g in range(groups):
            cs = slice(g * cg, (g + 1) * cg)
            cols = _columns(Gt, g * Og, Og, (KH, KW), d, p, s, (oh, ow))
            np.matmul(Wt[cs].reshape(cg, -1), cols, out=gi[cs].reshape(cg, -1))
            np.matmul(X2[cs], cols.T, out=gw[cs].reshape(cg, -1))
        gi = gi.transpose(1, 0, 2, 3)
    gi = gi[:, :, :H, :W]   # rows and columns past the input's: output_padding's
    gb = Gt.sum(axis=(0, 2, 3))
    wdt = arr(weight).dtype
    return (wrap(np.ascontiguousarray(gi, dtype=dt)), wrap(gw.astype(wdt, copy=False)),
            wrap(np.ascontiguousarray(gb, dtype=wdt)))


KERNELS["conv_transpose2d"] = conv_transpose2d
KERNELS["conv_transpose2d_backward"] = conv_transpose2d_backward


# -- the fused LSTM cell: a step's gate arithmetic in one call each way -------------------------

def _lstm_activations(G):
    """sigmoid over the whole (B, 4H) block, tanh over the cell gate: (i, f, g, o) views and the block."""
    H = G.shape[1] // 4
    act = _sigmoid(G)
    act[:, 2 * H:3 * H] = np.tanh(G[:, 2 * H:3 * H])
    return act[:, :H], act[:, H:2 * H], act[:, 2 * H:3 * H], act[:, 3 * H:], act


def _f32(a):
    return a.astype(_F32) if is_half(a.dtype) else a


def lstm_cell(gates, cx):
    G, C = arr(gates), arr(cx)
    dt = C.dtype
    i, f, g, o, _ = _lstm_activations(_f32(G))
    cy = f * _f32(C)
    cy += i * g
    hy = np.tanh(cy)
    hy *= o
    return wrap(hy.astype(dt, copy=False)), wrap(cy.astype(dt, copy=False))


def lstm_cell_backward(grad_hy, grad_cy, gates, cx, cy):
    dt = arr(cx).dtype
    gh, gcy, C, CY = (_f32(arr(t)) for t in (grad_hy, grad_cy, cx, cy))
    i, f, g, o, act = _lstm_activations(_f32(arr(gates)))
    tc = np.tanh(CY)
    gc = 1 - tc * tc
    gc *= o
    gc *= gh
    gc += gcy                                  # dL/dcy, through hy too
    d = np.empty_like(act)
    H = C.shape[1]
    np.multiply(gc * g, i * (1 - i), out=d[:, :H])
    np.multiply(gc * C, f * (1 - f), out=d[:, H:2 * H])
    np.multiply(gc * i, 1 - g * g, out=d[:, 2 * H:3 * H])
    np.multiply(gh * tc, o * (1 - o), out=d[:, 3 * H:])
    gc *= f
    return wrap(d.astype(dt, copy=False)), wrap(gc.astype(dt, copy=False))


KERNELS["_lstm_cell"] = lstm_cell
KERNELS["_lstm_cell_backward"] = lstm_cell_backward


# -- GELU forward and backward, each in one call (no autograd nodes for its pieces) ---------------

_SQRT1_2 = 0.7071067811865476
_SQRT_2_PI = 0.7978845608028654      # sqrt(2 / pi)
_INV_SQRT_2PI = 0.3989422804014327   # 1 / sqrt(2 pi)


def gelu(x, approximate):
    X = arr(x)
    dt, shape = X.dtype, X.shape
    X = np.atleast_1d(_f32(X))   # 0-d: numpy arithmetic would give scalars, which ufuncs cannot write into
    if approximate == "tanh":
        r = X * X
        r *= 0.044715 * X
        r += X
        r *= _SQRT_2_PI
        np.tanh(r, out=r)
    else:
        r = _erf(X * _SQRT1_2)
    r += 1
    r *= X
    r *= 0.5
    return wrap(r.astype(dt, copy=False).reshape(shape))


def gelu_backward(grad, x, approximate):
    X, G = arr(x), arr(grad)
    dt, shape = X.dtype, X.shape
    X, G = np.atleast_1d(_f32(X)), np.atleast_1d(_f32(G))
    x2 = X * X
    if approximate == "tanh":
        t = x2 * (0.044715 * X)
        t += X
        t *= _SQRT_2_PI
        np.tanh(t, out=t)
        d = 1 - t * t                       # 0.5 x (1 - t^2) u' + 0.5 (1 + t)
        d *= X
        x2 *= 3 * 0.044715
        x2 += 1
        d *= x2
        d *= _SQRT_2_PI
        d += t
        d += 1
        d *= 0.5
    else:
        x2 *= -0.5                          # Phi(x) + x phi(x)
        np.exp(x2, out=x2)
        x2 *= X
        x2 *= _INV_SQRT_2PI
        d = _erf(X * _SQRT1_2)
        d += 1
        d *= 0.5
        d += x2
    d *= G
    return wrap(d.astype(dt, copy=False).reshape(shape))


KERNELS["gelu"] = gelu
KERNELS["gelu_backward"] = gelu_backward
