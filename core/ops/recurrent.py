"""Operators: the fused LSTM cell, forward and backward (what nn.LSTM and nn.LSTMCell run each step).

``_lstm_cell(gates, cx) -> (hy, cy)`` takes the pre-activation gates of one step, (B, 4H) in PyTorch's
order (input, forget, cell, output) with every projection and bias already added, and the previous cell
state (B, H)::

    i, f, g, o = sigmoid(gates[:, :H]), sigmoid(gates[:, H:2H]), tanh(gates[:, 2H:3H]), sigmoid(gates[:, 3H:])
    cy = f * cx + i * g
    hy = o * tanh(cy)

Written with Ember operators that is ten operators and ten autograd nodes per step; as one operator it
is one node, whose backward is ``_lstm_cell_backward`` (one operator again). Both decompose, so every
backend runs them; a backend registers kernels for the two to run a step in two calls. The backward
recomputes the activations from ``gates`` (saved for backward anyway) instead of keeping four more
tensors per step. Double backward differentiates the backward's decomposition.
"""

from __future__ import annotations

from ..dispatch import defop
from ..errors import DTypeError, ShapeError
from ._helpers import Spec
from .nn import _checked_adapter
from .elementwise import add, mul, sigmoid, sub, tanh
from .shape import cat


def _lstm_cell_meta(gates, cx):
    if gates.ndim != 2 or cx.ndim != 2 or gates._shape[1] != 4 * cx._shape[1] or gates._shape[0] != cx._shape[0]:
        raise ShapeError(f"_lstm_cell(): expected gates of shape (B, 4H) and cx of shape (B, H), got "
                         f"{tuple(gates._shape)} and {tuple(cx._shape)}")
    if gates._dtype is not cx._dtype or not gates._dtype.is_floating_point:
        raise DTypeError(f"_lstm_cell(): gates and cx must share one floating dtype, got {gates._dtype.name} "
                         f"and {cx._dtype.name}")
    return (Spec(cx._shape, cx._dtype), Spec(cx._shape, cx._dtype))


def _activations(gates):
    i, f, g, o = gates.chunk(4, 1)
    return sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)


def _lstm_cell(gates, cx):
    _lstm_cell_meta(gates, cx)
    i, f, g, o = _activations(gates)
    cy = add(mul(f, cx), mul(i, g))
    return mul(o, tanh(cy)), cy


def _lstm_cell_backward_meta(grad_hy, grad_cy, gates, cx, cy):
    specs = _lstm_cell_meta(gates, cx)
    for name, t in (("grad_hy", grad_hy), ("grad_cy", grad_cy), ("cy", cy)):
        if t._shape != cx._shape or t._dtype is not cx._dtype:
            raise ShapeError(f"_lstm_cell_backward(): {name} must have cx's shape {tuple(cx._shape)} and dtype "
                             f"{cx._dtype.name}, got {tuple(t._shape)} {t._dtype.name}")
    return (Spec(gates._shape, gates._dtype), specs[0])


def _one_minus(t):
    return sub(1, t)


def _lstm_cell_backward(grad_hy, grad_cy, gates, cx, cy):
    """(grad_gates, grad_cx): the chain rule through the gates, activations recomputed from ``gates``."""
    _lstm_cell_backward_meta(grad_hy, grad_cy, gates, cx, cy)
    i, f, g, o = _activations(gates)
    tc = tanh(cy)
    gc = add(grad_cy, mul(mul(grad_hy, o), _one_minus(mul(tc, tc))))   # dL/dcy, through hy too
    d_i = mul(mul(gc, g), mul(i, _one_minus(i)))
    d_f = mul(mul(gc, cx), mul(f, _one_minus(f)))
    d_g = mul(mul(gc, i), _one_minus(mul(g, g)))
    d_o = mul(mul(grad_hy, tc), mul(o, _one_minus(o)))
    return cat([d_i, d_f, d_g, d_o], 1), mul(gc, f)


_lstm_cell_op = defop("_lstm_cell(Tensor gates, Tensor cx) -> (Tensor, Tensor)", meta=_lstm_cell_meta,
                      decomposition=_lstm_cell, adapter=_checked_adapter, family="nn",
                      doc="One LSTM step from its pre-activation gates (B, 4H), order (i, f, g, o), and cx (B, H): "
                          "(hy, cy). A kernel receives the two tensors, shapes and dtype checked, and returns "
                          "two new (B, H) tensors of their dtype (16-bit floats computed in float32).")
_lstm_cell_backward_op = defop(
    "_lstm_cell_backward(Tensor grad_hy, Tensor grad_cy, Tensor gates, Tensor cx, Tensor cy) -> (Tensor, Tensor)",
    meta=_lstm_cell_backward_meta, decomposition=_lstm_cell_backward, adapter=_checked_adapter, family="nn",
    doc="(grad_gates, grad_cx) of _lstm_cell, activations recomputed from gates. A kernel receives the five "
        "tensors, shapes and dtype checked, and returns a new (B, 4H) and a new (B, H) tensor of their dtype.")


def lstm_cell(gates, cx):
    """(hy, cy) of one LSTM step: see the module docstring."""
    return _lstm_cell_op(gates, cx)


def _register_derivatives(derivative):
    @derivative("_lstm_cell", save=("gates", "cx", "result"))
    def _lstm_cell_grad(grads, gates, cx, result=None):
        return _lstm_cell_backward_op(grads[0], grads[1], gates, cx, result[1])


try:
    from ..autograd.registry import derivative as _derivative
except ImportError:  # a core without autograd
    _derivative = None
if _derivative is not None:
    _register_derivatives(_derivative)
