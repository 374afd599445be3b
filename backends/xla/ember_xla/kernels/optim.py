"""Optimizer updates as one XLA call per parameter (sgd_step_, adam_step_).

Hyper-parameters are arguments of the jitted function, so a changing learning rate or
Adam's step count never retraces. Tensors that are views of a larger storage take the
operator's decomposition instead.
"""

from __future__ import annotations

import jax.numpy as jnp

from ember.dispatch import registry

from ..runtime import geom, set_val, val


def _whole(*ts):
    return all(t is None or geom(t) == t._shape for t in ts)


def _sgd_maker(key):
    _, has_buf, nesterov, first, wd, damp = key

    def fn(p, g, buf, lr, momentum, dampening, weight_decay):
        if wd:
            g = g + p * weight_decay
        if has_buf:
            buf = g if first else buf * momentum + (g if not damp else g * (1 - dampening))
            g = g + buf * momentum if nesterov else buf
        return (p - g * lr, buf)
    return fn


def sgd_step_(param, grad, momentum_buffer=None, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
              nesterov=False, first=False):
    op = registry["sgd_step_"]
    op.meta(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov, first)
    if not _whole(param, grad, momentum_buffer) or grad._dtype is not param._dtype or (
            momentum_buffer is not None and momentum_buffer._dtype is not param._dtype):
        return op.decomposition(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov,
                                first)
    from .._engine import run
    has_buf = momentum_buffer is not None
    key = (_sgd_maker, has_buf, bool(nesterov), bool(first), bool(weight_decay), bool(dampening))
    c = param._storage
    r = run(key, (val(param), val(grad), val(momentum_buffer) if has_buf else 0.0, float(lr), float(momentum),
                  float(dampening), float(weight_decay)), c.dev)
    set_val(c, r[0])
    if has_buf:
        set_val(momentum_buffer._storage, r[1])
    return param


def _adam_maker(key):
    _, amsgrad, wd, decoupled = key

    def fn(p, g, m, v, vmax, lr, beta1, beta2, eps, weight_decay, step):
        if wd:
            if decoupled:
                p = p * (1 - lr * weight_decay)
            else:
                g = g + p * weight_decay
        m = m * beta1 + g * (1 - beta1)
        v = v * beta2 + (g * g) * (1 - beta2)
        bc1 = 1 - beta1 ** step
        bc2_sqrt = jnp.sqrt(1 - beta2 ** step)
        d = v
        if amsgrad:
            vmax = jnp.maximum(vmax, v)
            d = vmax
        denom = jnp.sqrt(d) / bc2_sqrt.astype(p.dtype) + eps
        return (p - (m / denom) * (lr / bc1).astype(p.dtype), m, v, vmax)
    return fn


def adam_step_(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, lr=1e-3, beta1=0.9, beta2=0.999,
               eps=1e-8, weight_decay=0.0, step=1.0, decoupled=False):
    op = registry["adam_step_"]
    args = (param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step, decoupled)
    op.meta(*args)
    ts = (param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq)
    if not _whole(*ts) or any(t is not None and t._dtype is not param._dtype for t in ts):
        return op.decomposition(*args)
    from .._engine import run
    ams = max_exp_avg_sq is not None
    key = (_adam_maker, ams, bool(weight_decay), bool(decoupled))
    r = run(key, (val(param), val(grad), val(exp_avg), val(exp_avg_sq), val(max_exp_avg_sq) if ams else 0.0,
                  float(lr), float(beta1), float(beta2), float(eps), float(weight_decay), float(step)),
            param._storage.dev)
    set_val(param._storage, r[0])
    set_val(exp_avg._storage, r[1])
    set_val(exp_avg_sq._storage, r[2])
    if ams:
        set_val(max_exp_avg_sq._storage, r[3])
    return param


KERNELS = {"sgd_step_": sgd_step_, "adam_step_": adam_step_}
