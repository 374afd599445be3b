"""The rest of torch.nn's activation layers: thin modules over ember.nn.functional, with PyTorch's arguments."""

from __future__ import annotations

from ...ops.creation import empty
from .. import functional as F
from .. import init as _init
from .._activations import softmax2d
from ..module import Module
from ..parameter import Parameter
from ...errors import InvalidArgumentError


class _Inplace(Module):
    """A parameterless activation f(input, *args, inplace)."""

    _fn = None
    _args = ()

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return type(self)._fn(input, *[getattr(self, a) for a in self._args], inplace=self.inplace)

    def extra_repr(self):
        parts = [f"{a}={getattr(self, a)}" for a in self._args]
        return ", ".join(parts + (["inplace=True"] if self.inplace else []))


class _Plain(Module):
    """A parameterless activation f(input)."""

    _fn = None

    def forward(self, input):
        return type(self)._fn(input)


class LeakyReLU(_Inplace):
    _fn, _args = F.leaky_relu, ("negative_slope",)

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False):
        super().__init__(inplace)
        self.negative_slope = negative_slope


class ELU(_Inplace):
    _fn, _args = F.elu, ("alpha",)

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__(inplace)
        self.alpha = alpha


class CELU(_Inplace):
    _fn, _args = F.celu, ("alpha",)

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__(inplace)
        self.alpha = alpha


class SELU(_Inplace):
    _fn = F.selu


class Mish(_Inplace):
    _fn = F.mish


class Hardswish(_Inplace):
    _fn = F.hardswish


class Hardsigmoid(_Inplace):
    _fn = F.hardsigmoid


class Hardtanh(_Inplace):
    _fn, _args = F.hardtanh, ("min_val", "max_val")

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        super().__init__(inplace)
        if max_val <= min_val:
            raise InvalidArgumentError(f"Hardtanh: max_val ({max_val}) must be greater than min_val ({min_val})")
        self.min_val, self.max_val = min_val, max_val


class ReLU6(Hardtanh):
    def __init__(self, inplace: bool = False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class Threshold(_Inplace):
    _fn, _args = F.threshold, ("threshold", "value")

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__(inplace)
        self.threshold, self.value = threshold, value


class RReLU(Module):
    """Leaky ReLU whose negative slope is drawn from U(lower, upper) per element in training."""

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False):
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, input):
        return F.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self):
        return f"lower={self.lower}, upper={self.upper}" + (", inplace=True" if self.inplace else "")


class PReLU(Module):
    """Leaky ReLU with a learned slope: one shared, or one per channel (num_parameters)."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters, self.init = num_parameters, init
        self.weight = Parameter(empty((num_parameters,), dtype=dtype, device=device))
        self.reset_parameters()

    def reset_parameters(self):
        _init.constant_(self.weight, self.init)

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class Softplus(Module):
    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input):
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class _Lambd(Module):
    _fn = None

    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input):
        return type(self)._fn(input, self.lambd)

    def extra_repr(self):
        return f"{self.lambd}"


class Hardshrink(_Lambd):
    _fn = F.hardshrink


class Softshrink(_Lambd):
    _fn = F.softshrink


class Softsign(_Plain):
    _fn = F.softsign


class Tanhshrink(_Plain):
    _fn = F.tanhshrink


class LogSigmoid(_Plain):
    _fn = F.logsigmoid


class Softmax2d(_Plain):
    _fn = softmax2d


class GLU(Module):
    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.glu(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmin(Module):
    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.softmin(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"
