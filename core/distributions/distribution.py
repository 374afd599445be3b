"""Distribution: the base class of every probability distribution (PyTorch's ``torch.distributions.Distribution``).

A distribution has a ``batch_shape`` (independent, differently parameterised copies) and an ``event_shape`` (the
shape of one draw). ``sample(sample_shape)`` returns ``sample_shape + batch_shape + event_shape``. Arguments and
``log_prob`` values are checked against ``arg_constraints`` and ``support`` while validation is on (the default,
as in PyTorch; ``Distribution.set_default_validate_args(False)`` or ``validate_args=False`` turns it off)."""

from __future__ import annotations

import warnings

import ember

from . import constraints
from .utils import lazy_property
from ..errors import InvalidArgumentError, UnsupportedError

__all__ = ["Distribution"]


def _shape(shape) -> ember.Size:
    if isinstance(shape, int):
        return ember.Size((shape,))
    return ember.Size(tuple(shape))


class Distribution:
    """Base class: subclasses set ``arg_constraints`` and ``support`` and implement the methods they can."""

    has_rsample = False
    has_enumerate_support = False
    _validate_args = True

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        """Turn argument and sample validation on or off for distributions created afterwards."""
        if value not in (True, False):
            raise InvalidArgumentError(f"set_default_validate_args: expected True or False, got {value!r}")
        Distribution._validate_args = value

    def __init__(self, batch_shape=ember.Size(), event_shape=ember.Size(), validate_args=None):
        self._batch_shape = _shape(batch_shape)
        self._event_shape = _shape(event_shape)
        if validate_args is not None:
            self._validate_args = validate_args
        if self._validate_args:
            try:
                arg_constraints = self.arg_constraints
            except NotImplementedError:
                arg_constraints = {}
                warnings.warn(f"{self.__class__} does not define `arg_constraints`. Please set "
                              f"`arg_constraints = {{}}` or initialize the distribution with "
                              f"`validate_args=False` to turn off validation.")
            for param, constraint in arg_constraints.items():
                if constraints.is_dependent(constraint):
                    continue
                if param not in self.__dict__ and isinstance(getattr(type(self), param, None), lazy_property):
                    continue  # skip checking lazily-constructed args
                value = getattr(self, param)
                valid = constraint.check(value)
                if not bool(valid.all()):
                    raise InvalidArgumentError(f"Expected parameter {param} ({type(value).__name__} of shape "
                                               f"{tuple(value.shape)}) of distribution {self!r} to satisfy the constraint "
                                               f"{constraint!r}, but found invalid values:\n{value}")
        super().__init__()

    def expand(self, batch_shape, _instance=None):
        """A new distribution with batch dimensions expanded to ``batch_shape`` (parameters are expanded views)."""
        raise UnsupportedError

    @property
    def batch_shape(self) -> ember.Size:
        return self._batch_shape

    @property
    def event_shape(self) -> ember.Size:
        return self._event_shape

    @property
    def arg_constraints(self) -> dict:
        """Parameter name -> the constraint its value must satisfy."""
        raise UnsupportedError

    @property
    def support(self):
        """The constraint every sample satisfies."""
        raise UnsupportedError

    @property
    def mean(self):
        raise UnsupportedError(f"{self.__class__} does not implement mean")

    @property
    def mode(self):
        raise UnsupportedError(f"{self.__class__} does not implement mode")

    @property
    def variance(self):
        raise UnsupportedError(f"{self.__class__} does not implement variance")

    @property
    def stddev(self):
        return self.variance.sqrt()

    def sample(self, sample_shape=ember.Size()):
        """A sample of shape ``sample_shape + batch_shape + event_shape``, outside the autograd graph."""
        with ember.no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=ember.Size()):
        """A reparameterised sample: gradients flow back to the parameters."""
        raise UnsupportedError(f"{self.__class__.__name__} does not support rsample (has_rsample is False); "
                                  f"use sample() instead")

    def sample_n(self, n):
        warnings.warn("sample_n will be deprecated. Use .sample((n,)) instead", UserWarning)
        return self.sample(ember.Size((n,)))

    def log_prob(self, value):
        raise UnsupportedError

    def cdf(self, value):
        raise UnsupportedError

    def icdf(self, value):
        raise UnsupportedError

    def enumerate_support(self, expand=True):
        raise UnsupportedError

    def entropy(self):
        raise UnsupportedError

    def perplexity(self):
        return ember.exp(self.entropy())

    def _extended_shape(self, sample_shape=ember.Size()) -> ember.Size:
        return ember.Size(tuple(_shape(sample_shape)) + tuple(self._batch_shape) + tuple(self._event_shape))

    def _validate_sample(self, value) -> None:
        """ValueError unless value is a tensor of a broadcastable shape within the support."""
        if not isinstance(value, ember.Tensor):
            raise InvalidArgumentError("The value argument to log_prob must be a Tensor")
        event_dim_start = value.dim() - len(self._event_shape)
        if tuple(value.shape[event_dim_start:]) != tuple(self._event_shape):
            raise InvalidArgumentError(f"The right-most size of value must match event_shape: {value.shape} vs "
                                       f"{self._event_shape}.")
        actual_shape = value.shape
        expected_shape = ember.Size(tuple(self._batch_shape) + tuple(self._event_shape))
        for i, j in zip(reversed(actual_shape), reversed(expected_shape)):
            if i != 1 and j != 1 and i != j:
                raise InvalidArgumentError(f"Value is not broadcastable with batch_shape+event_shape: {actual_shape} vs "
                                           f"{expected_shape}.")
        try:
            support = self.support
        except NotImplementedError:
            warnings.warn(f"{self.__class__} does not define `support` to enable sample validation. Please "
                          f"initialize the distribution with `validate_args=False` to turn off validation.")
            return
        valid = support.check(value)
        if not bool(valid.all()):
            raise InvalidArgumentError(f"Expected value argument ({type(value).__name__} of shape {tuple(value.shape)}) to "
                                       f"be within the support ({support!r}) of the distribution {self!r}, but found "
                                       f"invalid values:\n{value}")

    def _get_checked_instance(self, cls, _instance=None):
        if _instance is None and type(self).__init__ != cls.__init__:
            raise UnsupportedError(f"Subclass {self.__class__.__name__} of {cls.__name__} that defines a "
                                      f"custom __init__ method must also define a custom .expand() method.")
        return self.__new__(type(self)) if _instance is None else _instance

    def __repr__(self):
        try:
            names = [k for k in self.arg_constraints if k in self.__dict__]
        except NotImplementedError:
            names = []
        parts = []
        for p in names:
            v = self.__dict__[p]
            parts.append(f"{p}: {v if v.numel() == 1 else v.shape}")
        return self.__class__.__name__ + "(" + ", ".join(parts) + ")"
