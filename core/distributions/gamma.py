"""Gamma(concentration, rate), sampled with Marsaglia and Tsang's rejection method on Ember's RNG."""

from __future__ import annotations

import numbers

import ember

from . import constraints
from ._gamma_grad import standard_gamma_rsample
from ._special import digamma, lgamma, xlogy
from .distribution import Distribution
from .utils import broadcast_all

__all__ = ["Gamma"]


class Gamma(Distribution):
    """A gamma distribution with shape ``concentration`` and inverse scale ``rate``; ``rsample`` differentiates
    the draws with implicit reparameterisation gradients, as PyTorch's."""

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, concentration, rate, validate_args=None):
        self.concentration, self.rate = broadcast_all(concentration, rate)
        batch_shape = ember.Size() if isinstance(concentration, numbers.Number) and \
            isinstance(rate, numbers.Number) else self.concentration.shape
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Gamma, _instance)
        batch_shape = ember.Size(tuple(batch_shape))
        new.concentration = self.concentration.expand(batch_shape)
        new.rate = self.rate.expand(batch_shape)
        super(Gamma, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self):
        return self.concentration / self.rate

    @property
    def mode(self):
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self):
        return self.concentration / self.rate.pow(2)

    def rsample(self, sample_shape=ember.Size()):
        shape = self._extended_shape(sample_shape)
        return standard_gamma_rsample(self.concentration.expand(shape)) / self.rate.expand(shape)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return (xlogy(self.concentration, self.rate) + xlogy(self.concentration - 1, value)
                - self.rate * value - lgamma(self.concentration))

    def entropy(self):
        c = self.concentration
        return c - ember.log(self.rate) + lgamma(c) + (1.0 - c) * digamma(c)
