"""ember.distributions: probability distributions with PyTorch's API (``torch.distributions``): sampling on
Ember's RNG (so one seed gives the same draws on every backend), reparameterised ``rsample`` where PyTorch has
it for Normal, Laplace, Uniform, Exponential, MultivariateNormal, Gamma, Beta, Dirichlet (implicit
reparameterisation gradients) and their transforms, log-densities, entropies, moments and closed-form KL
divergences, all built from Ember operators so autograd differentiates them on any device.

Where Ember differs: ``cdf`` is not provided where it needs the incomplete gamma or beta functions."""

from __future__ import annotations

from . import constraints, transforms
from .bernoulli import Bernoulli
from .beta import Beta
from .binomial import Binomial
from .categorical import Categorical
from .dirichlet import Dirichlet
from .distribution import Distribution
from .exponential import Exponential
from .gamma import Gamma
from .independent import Independent
from .kl import kl_divergence, register_kl
from .laplace import Laplace
from .multinomial import Multinomial
from .multivariate_normal import MultivariateNormal
from .normal import Normal
from .one_hot_categorical import OneHotCategorical
from .poisson import Poisson
from .transformed_distribution import TransformedDistribution
from .transforms import (AffineTransform, ComposeTransform, ExpTransform, SigmoidTransform, TanhTransform,
                         Transform, identity_transform)
from .uniform import Uniform

__all__ = ["AffineTransform", "Bernoulli", "Beta", "Binomial", "Categorical", "ComposeTransform", "Dirichlet",
           "Distribution", "Exponential", "ExpTransform", "Gamma", "Independent", "Laplace", "Multinomial",
           "MultivariateNormal", "Normal", "OneHotCategorical", "Poisson", "SigmoidTransform", "TanhTransform",
           "Transform", "TransformedDistribution", "Uniform", "constraints", "identity_transform",
           "kl_divergence", "register_kl", "transforms"]
