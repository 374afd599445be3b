"""ember.nn.init: fill tensors in place, with PyTorch's formulas, drawing from Ember's generator.

Every initializer runs on the tensor's own device through Ember operators (no host round trip), so
the same call works on any backend and one seed gives the same numbers everywhere.
"""

from __future__ import annotations

import math
import warnings

from .module import _no_grad
from ..errors import InvalidArgumentError

__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_",
           "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
           "sparse_", "uniform", "normal", "constant", "eye", "dirac", "xavier_uniform", "xavier_normal",
           "kaiming_uniform", "kaiming_normal", "orthogonal", "sparse"]

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
           "sigmoid")
_GAINS = {"tanh": 5.0 / 3, "relu": math.sqrt(2.0), "selu": 3.0 / 4}


def calculate_gain(nonlinearity, param=None):
    """The recommended scale of weights feeding ``nonlinearity`` (PyTorch's table)."""
    if nonlinearity in _LINEAR:
        return 1
    if nonlinearity in _GAINS:
        return _GAINS[nonlinearity]
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif (not isinstance(param, bool) and isinstance(param, int)) or isinstance(param, float):
            slope = param
        else:
            raise InvalidArgumentError(f"negative_slope {param} not a valid number: pass an int or float slope for "
                                       f"'leaky_relu'")
        return math.sqrt(2.0 / (1 + slope ** 2))
    raise InvalidArgumentError(f"Unsupported nonlinearity {nonlinearity!r}; supported: {', '.join(_LINEAR)}, "
                               f"{', '.join(_GAINS)}, leaky_relu")


def _shape(t):
    return tuple(t._shape)


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out): dims 1 and 0 times the receptive field (the product of dims 2 and on)."""
    if tensor.ndim < 2:
        raise InvalidArgumentError(f"Fan in and fan out can not be computed for tensor with fewer than 2 dims (got "
                                   f"shape {_shape(tensor)}); use a weight of 2 or more dimensions")
    recept = 1
    for s in tensor._shape[2:]:
        recept *= s
    return tensor._shape[1] * recept, tensor._shape[0] * recept


_fans = _calculate_fan_in_and_fan_out


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise InvalidArgumentError(f"Mode {mode} not supported, please use one of ['fan_in', 'fan_out']")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with U(a, b)."""
    with _no_grad():
        return tensor.uniform_(a, b, generator=generator)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with N(mean, std^2)."""
    with _no_grad():
        return tensor.normal_(mean, std, generator=generator)


def _norm_cdf(x):
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Fill with N(mean, std^2) truncated to [a, b].

    Drawn by inverting the normal CDF over [cdf(a), cdf(b)]: exact, and with no host round trip
    (PyTorch's rejection loop gives the same distribution but checks on the host each round)."""
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
                      "The distribution of values may be incorrect.", stacklevel=2)
    lo, hi = _norm_cdf((a - mean) / std), _norm_cdf((b - mean) / std)
    with _no_grad():
        tensor.uniform_(2 * lo - 1, 2 * hi - 1, generator=generator)
        tensor.erfinv_()
        tensor.mul_(std * math.sqrt(2.0))
        tensor.add_(mean)
        tensor.clamp_(a, b)
        return tensor


def constant_(tensor, val):
    """Fill with the value ``val``."""
    with _no_grad():
        return tensor.fill_(val)


def ones_(tensor):
    return constant_(tensor, 1.0)


def zeros_(tensor):
    with _no_grad():
        return tensor.zero_()


def eye_(tensor):
    """The identity matrix in a 2-D tensor (Linear layers then pass their inputs through)."""
    if tensor.ndim != 2:
        raise InvalidArgumentError(f"Only tensors with 2 dimensions are supported (eye_ got shape {_shape(tensor)})")
    import ember
    with _no_grad():
        return tensor.copy_(ember.eye(*tensor._shape, dtype=tensor._dtype, device=tensor._device))


def dirac_(tensor, groups=1):
    """The Dirac delta in a 3-, 4- or 5-D convolution weight: the layer keeps its input channels
    (per group), the first ``min(out/groups, in)`` of them."""
    nd = tensor.ndim
    if nd not in (3, 4, 5):
        raise InvalidArgumentError(f"Only tensors with 3, 4, or 5 dimensions are supported (dirac_ got shape "
                                   f"{_shape(tensor)})")
    sizes = _shape(tensor)
    if sizes[0] % groups != 0:
        raise InvalidArgumentError(f"dim 0 must be divisible by groups (dirac_ got {sizes[0]} out channels and "
                                   f"groups={groups})")
    per = sizes[0] // groups
    k = min(per, sizes[1])
    import ember
    with _no_grad():
        tensor.zero_()
        if k == 0 or groups == 0:
            return tensor
        outs = [g * per + d for g in range(groups) for d in range(k)]
        ins = [d for _ in range(groups) for d in range(k)]
        idx = (ember.tensor(outs, device=tensor._device), ember.tensor(ins, device=tensor._device))
        idx += tuple(s // 2 for s in sizes[2:])
        tensor[idx] = 1
    return tensor


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio, 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def _kaiming_std(tensor, a, mode, nonlinearity):
    fan = _calculate_correct_fan(tensor, mode)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """U(-bound, bound) with bound = gain * sqrt(3 / fan) (He et al., 2015)."""
    if 0 in _shape(tensor):
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """N(0, std^2) with std = gain / sqrt(fan)."""
    if 0 in _shape(tensor):
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)


def _orthonormal_columns(a):
    """Q of the QR factorisation of a tall matrix with R's diagonal positive (Gram-Schmidt, twice per
    column for accuracy): the Q that PyTorch's orthogonal_ gets from linalg.qr after its sign fix."""
    import ember
    cols = []
    for j in range(a._shape[1]):
        v = a[:, j]
        if cols:
            q = ember.stack(cols, 1)
            for _ in range(2):
                v = v - q.mv(q.t().mv(v))
        cols.append(v / (v * v).sum().sqrt())
    return ember.stack(cols, 1)


def orthogonal_(tensor, gain=1, generator=None):
    """A (semi-)orthogonal matrix, over dims 1.. flattened: rows or columns orthonormal, times gain
    (Saxe et al., 2013)."""
    if tensor.ndim < 2:
        raise InvalidArgumentError(f"Only tensors with 2 or more dimensions are supported (orthogonal_ got shape "
                                   f"{_shape(tensor)})")
    if tensor.numel() == 0:
        return tensor
    import ember
    rows = tensor._shape[0]
    cols = tensor.numel() // rows
    with _no_grad():
        flat = ember.empty((rows, cols), dtype=tensor._dtype, device=tensor._device)
        flat.normal_(0, 1, generator=generator)
        if rows < cols:
            flat = flat.t()
        q = _orthonormal_columns(flat)
        if rows < cols:
            q = q.t()
        tensor.copy_(q.reshape(tensor._shape))
        tensor.mul_(gain)
    return tensor


def sparse_(tensor, sparsity, std=0.01, generator=None):
    """N(0, std^2) with ``ceil(sparsity * rows)`` entries of each column set to zero, rows drawn at
    random per column (Martens, 2010)."""
    if tensor.ndim != 2:
        raise InvalidArgumentError(f"Only tensors with 2 dimensions are supported (sparse_ got shape {_shape(tensor)})")
    rows, cols = _shape(tensor)
    num_zeros = int(math.ceil(sparsity * rows))
    import ember
    with _no_grad():
        tensor.normal_(0, std, generator=generator)
        if num_zeros > 0 and cols > 0:
            # a random permutation of the rows per column, all columns at once
            keys = ember.empty((rows, cols), dtype=tensor._dtype, device=tensor._device)
            keys.uniform_(generator=generator)
            idx = ember.argsort(keys, dim=0)[:num_zeros]
            tensor.scatter_(0, idx, 0.0)
    return tensor


def _make_deprecate(meth):
    new_name = meth.__name__
    old_name = new_name[:-1]

    def deprecated_init(*args, **kwargs):
        warnings.warn(f"`nn.init.{old_name}` is now deprecated in favor of `nn.init.{new_name}`.",
                      FutureWarning, stacklevel=2)
        return meth(*args, **kwargs)

    deprecated_init.__doc__ = f"Deprecated: use ember.nn.init.{new_name}."
    deprecated_init.__name__ = old_name
    return deprecated_init


uniform = _make_deprecate(uniform_)
normal = _make_deprecate(normal_)
constant = _make_deprecate(constant_)
eye = _make_deprecate(eye_)
dirac = _make_deprecate(dirac_)
xavier_uniform = _make_deprecate(xavier_uniform_)
xavier_normal = _make_deprecate(xavier_normal_)
kaiming_uniform = _make_deprecate(kaiming_uniform_)
kaiming_normal = _make_deprecate(kaiming_normal_)
orthogonal = _make_deprecate(orthogonal_)
sparse = _make_deprecate(sparse_)
