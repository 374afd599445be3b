"""Dirichlet(concentration): distributions over the probability simplex, sampled as normalised gammas."""

from __future__ import annotations

import ember

from . import constraints
from ._gamma_grad import standard_gamma_rsample
from ._special import digamma, lgamma, xlogy
from .distribution import Distribution
from .utils import finfo_eps, finfo_tiny
from ..errors import InvalidArgumentError

__all__ = ["Dirichlet"]


class Dirichlet(Distribution):
    """A Dirichlet distribution with concentration vector ``concentration`` (its last dimension is the event).
    ``rsample`` normalises gamma draws that carry implicit reparameterisation gradients."""

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration, validate_args=None):
        if concentration.dim() < 1:
            raise InvalidArgumentError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        batch_shape, event_shape = concentration.shape[:-1], concentration.shape[-1:]
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Dirichlet, _instance)
        batch_shape = ember.Size(tuple(batch_shape))
        new.concentration = self.concentration.expand(tuple(batch_shape) + tuple(self.event_shape))
        super(Dirichlet, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape=ember.Size()):
        shape = self._extended_shape(sample_shape)
        g = standard_gamma_rsample(self.concentration.expand(shape))
        x = g / g.sum(-1, keepdim=True)
        # kept inside (0, 1) without cutting the gradient where the clamp acts
        return x + (x.clamp(min=finfo_tiny(x.dtype), max=1 - finfo_eps(x.dtype)) - x).detach()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        c = self.concentration
        return xlogy(c - 1.0, value).sum(-1) + lgamma(c.sum(-1)) - lgamma(c).sum(-1)

    @property
    def mean(self):
        return self.concentration / self.concentration.sum(-1, keepdim=True)

    @property
    def mode(self):
        cm1 = (self.concentration - 1).clamp(min=0.0)
        mode = cm1 / cm1.sum(-1, keepdim=True)
        all_below_one = (self.concentration < 1).all(-1, keepdim=True)
        vertex = ember.one_hot(cm1.argmax(-1), cm1.shape[-1]).to(mode.dtype)
        return ember.where(all_below_one, vertex, mode)

    @property
    def variance(self):
        con0 = self.concentration.sum(-1, keepdim=True)
        return self.concentration * (con0 - self.concentration) / (con0.pow(2) * (con0 + 1))

    def entropy(self):
        c = self.concentration
        k = c.shape[-1]
        a0 = c.sum(-1)
        return lgamma(c).sum(-1) - lgamma(a0) - (k - a0) * digamma(a0) - ((c - 1.0) * digamma(c)).sum(-1)
