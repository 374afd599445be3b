"""cross_entropy with class-index targets as one XLA call.

The decomposition checks the targets' range with ``.item()``, a device-to-host read that
would split every lazy training step in two; here the check is a flag computed in the same
call and read back in eager mode only (in lazy mode an out-of-range target is clipped).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ember.errors import IndexOutOfRangeError

from .. import _state as S
from .._engine import read, run
from ..runtime import geom, val, wrap


def _ce_maker(key):
    _, gx, gt, gw, reduction, ignore_index, eps, cdim, C = key

    def fn(x, t, w):
        v = read(x, gx)
        dt = v.dtype
        logp = jax.nn.log_softmax(v, axis=cdim)
        tgt = read(t, gt).astype(jnp.int64)
        keep = tgt != ignore_index
        safe = jnp.clip(jnp.where(keep, tgt, 0), 0, C - 1)
        picked = jnp.squeeze(jnp.take_along_axis(logp, jnp.expand_dims(safe, cdim), axis=cdim), cdim)
        if gw is not None:
            wv = read(w, gw)
            wt = jnp.where(keep, wv[safe], 0).astype(dt)
        else:
            wt = keep.astype(dt)
        loss = -(picked * wt)
        if reduction == "mean":
            out = jnp.sum(loss) / jnp.sum(wt)
        elif reduction == "sum":
            out = jnp.sum(loss)
        else:
            out = loss
        if eps > 0:
            wshape = (C,) + (1,) * (v.ndim - cdim - 1)
            lw = logp if gw is None else logp * wv.reshape(wshape)
            smooth = jnp.where(keep, -jnp.sum(lw, cdim), 0).astype(dt)
            if reduction == "mean":
                smooth = jnp.sum(smooth) / jnp.sum(wt)
            elif reduction == "sum":
                smooth = jnp.sum(smooth)
            out = out * (1 - eps) + smooth * (eps / C)
        bad = keep & ((tgt < 0) | (tgt > C - 1))
        first = jnp.where(jnp.any(bad), tgt.reshape(-1)[jnp.argmax(bad.reshape(-1))], 0)
        return (out.astype(dt).reshape(-1), jnp.stack([jnp.any(bad).astype(jnp.int64), first]))
    return fn


def cross_entropy(x, target, weight, reduction, ignore_index, label_smoothing, cdim):
    from ember.dispatch import registry
    C = x._shape[cdim] if x._shape else 0
    if C == 0 or x.numel() == 0:
        return registry["cross_entropy"].decomposition(x, target, weight, reduction, ignore_index, label_smoothing)
    dev = x._storage.dev
    gw = geom(weight) if weight is not None else None
    key = (_ce_maker, geom(x), geom(target), gw, reduction, int(ignore_index), float(label_smoothing), cdim, C)
    r = run(key, (val(x), val(target), val(weight) if weight is not None else 0.0), dev)
    if S.graphs is None and not S.jit_tracing:
        flag, first = (int(v) for v in r[1].tolist())
        if flag:
            raise IndexOutOfRangeError(
                f"cross_entropy(): target {first} is out of bounds for {C} classes (valid: 0..{C - 1}, "
                f"or ignore_index={ignore_index})")
    shape = () if reduction != "none" else x._shape[:cdim] + x._shape[cdim + 1:]
    return wrap(r[0], shape, x._dtype, dev)


KERNELS = {"cross_entropy": cross_entropy}
