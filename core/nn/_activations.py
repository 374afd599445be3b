"""The activation functions of torch.nn.functional beyond relu/gelu/silu, as composites of Ember operators.

Each one is written with ``where`` on the input so that its value, its
gradient at the kinks (x == threshold, x == 0, ...) and its NaN behaviour are
PyTorch's; branches that are not taken are fed safe inputs so that their
gradients stay finite. ``inplace=True`` writes the result into the input.
"""

from __future__ import annotations

from ..errors import ShapeError
from ..ops.creation import zeros_like
from ..ops.elementwise import (abs, exp, expm1, ge, gt, le, log1p, logaddexp, logical_and, lt, mul, neg, sigmoid,
                               tanh, where)
from ..ops.reduction import softmax
from ..ops.views import narrow
from . import _random
from ..errors import DivisionByZeroError, InvalidArgumentError

__all__ = ["leaky_relu", "prelu", "elu", "selu", "celu", "mish", "hardswish", "hardsigmoid", "hardtanh", "relu6",
           "softplus", "softsign", "tanhshrink", "threshold", "glu", "logsigmoid", "softmin", "hardshrink",
           "softshrink", "rrelu", "softmax2d"]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _out(input, out, inplace):
    return input.copy_(out) if inplace else out


def _src(input, inplace):
    """The tensor to compute from: a copy when the result overwrites an input that autograd saves."""
    return input.clone() if inplace and input.requires_grad else input


def _zero(x):
    """Zeros of x's dtype, device and shape, without a graph edge to x (x * 0 would be NaN at inf)."""
    return zeros_like(x)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _out(input, where(gt(input, 0), input, mul(input, negative_slope)), inplace)


def prelu(input, weight):
    """x where x > 0, else weight * x; weight has one entry, or one per channel (dim 1)."""
    n = weight.numel()
    if n != 1:
        channels = input._shape[1] if input.ndim >= 2 else 1
        if weight.ndim != 1 or channels != n:
            raise ShapeError(f"prelu(): mismatch of parameter numbers and input channel size: weight has {n} "
                             f"entries, the input of shape {tuple(input._shape)} has {channels} channels (dim 1)")
        weight = weight.reshape((n,) + (1,) * (input.ndim - 2))
    elif weight.ndim > 0:
        weight = weight.reshape(())
    return where(gt(input, 0), input, mul(weight, input))


def _elu(x, alpha, scale, input_scale):
    """scale * (x if x > 0 else alpha * (exp(x * input_scale) - 1)), as PyTorch's elu kernel."""
    neg_part = mul(expm1(mul(where(gt(x, 0), _zero(x), x), input_scale)), alpha)
    out = where(gt(x, 0), x, neg_part)
    return out if scale == 1 else mul(out, scale)


def elu(input, alpha=1.0, inplace=False):
    return _out(input, _elu(input, alpha, 1.0, 1.0), inplace)


def selu(input, inplace=False):
    return _out(input, _elu(input, _SELU_ALPHA, _SELU_SCALE, 1.0), inplace)


def celu(input, alpha=1.0, inplace=False):
    if alpha == 0:
        raise DivisionByZeroError("celu(): alpha must not be 0 (the negative part is alpha * (exp(x / alpha) - 1))")
    return _out(input, _elu(input, alpha, 1.0, 1.0 / alpha), inplace)


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold (PyTorch's linear regime)."""
    bx = mul(input, beta) if beta != 1 else input
    big = gt(bx, threshold)
    soft = log1p(exp(where(big, _zero(bx), bx)))
    if beta != 1:
        soft = mul(soft, 1.0 / beta)
    return where(big, input, soft)


def _softplus0(x):
    """log(1 + exp(x)) without overflow for any x."""
    return logaddexp(x, _zero(x))


def mish(input, inplace=False):
    x = _src(input, inplace)
    return _out(input, mul(x, tanh(_softplus0(x))), inplace)


def logsigmoid(input):
    return neg(_softplus0(neg(input)))


def hardswish(input, inplace=False):
    """x * clamp(x + 3, 0, 6) / 6, as PyTorch computes it (NaN at -inf); the clamp's gradient is 0 at its ends."""
    x = _src(input, inplace)
    r = where(le(x, -3), _zero(x), where(ge(x, 3), _zero(x) + 6, x + 3))
    return _out(input, mul(x, r) / 6, inplace)


def hardsigmoid(input, inplace=False):
    mid = (input + 3) / 6
    out = where(le(input, -3), _zero(input), where(ge(input, 3), _zero(input) + 1, mid))
    return _out(input, out, inplace)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """clamp(x, min_val, max_val); the gradient is 0 at and beyond both bounds."""
    if min_val > max_val:
        raise InvalidArgumentError(f"hardtanh(): min_val ({min_val}) must not exceed max_val ({max_val})")
    z = _zero(input)
    out = where(le(input, min_val), z + min_val, where(ge(input, max_val), z + max_val, input))
    return _out(input, out, inplace)


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def softsign(input):
    return input / (abs(input) + 1)


def tanhshrink(input):
    return input - tanh(input)


def threshold(input, threshold, value, inplace=False):
    """value where x <= threshold, else x (NaN stays NaN)."""
    return _out(input, where(le(input, threshold), _zero(input) + value, input), inplace)


def glu(input, dim=-1):
    """a * sigmoid(b), where a and b are the two halves of input along dim."""
    if input.ndim == 0:
        raise ShapeError("glu(): does not support scalars because halving size must be even")
    d = dim + input.ndim if dim < 0 else dim
    n = input._shape[d]
    if n % 2:
        raise ShapeError(f"glu(): halving dimension must be even, but dimension {d} is size {n}")
    h = n // 2
    return mul(narrow(input, d, 0, h), sigmoid(narrow(input, d, h, h)))


def _softmax_dim(input, dim):
    if dim is None:  # PyTorch's legacy default
        return 0 if input.ndim in (0, 1, 3) else 1
    return dim


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    return softmax(neg(input), _softmax_dim(input, dim), dtype)


def softmax2d(input):
    """Softmax over the channels of a (C, H, W) or (N, C, H, W) input."""
    if input.ndim not in (3, 4):
        raise ShapeError(f"Softmax2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
                         f"{tuple(input._shape)}")
    return softmax(input, -3)


def hardshrink(input, lambd=0.5):
    """x where |x| > lambd, else 0 (NaN stays NaN)."""
    inside = logical_and(ge(input, -lambd), le(input, lambd))
    return where(inside, _zero(input), input)


def softshrink(input, lambd=0.5):
    """x - lambd above lambd, x + lambd below -lambd, 0 between."""
    if lambd < 0:
        raise InvalidArgumentError(f"softshrink(): lambda must be greater or equal to 0, but found to be {lambd}")
    return where(gt(input, lambd), input - lambd, where(lt(input, -lambd), input + lambd, mul(input, 0)))


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Leaky ReLU with a slope drawn from U(lower, upper) per element when training, (lower + upper) / 2 else."""
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    if lower > upper:
        raise InvalidArgumentError(f"rrelu(): lower bound ({lower}) must not exceed upper bound ({upper})")
    r = _random.rand(input._shape, dtype=input._dtype, device=input._device)
    slope = r * (upper - lower) + lower
    x = _src(input, inplace)
    return _out(input, where(le(x, 0), mul(x, slope), x), inplace)

