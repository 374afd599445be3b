"""Every differentiable operator in the registry: gradcheck, and gradgradcheck for the elementwise,
reduction and linear algebra families."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck, gradgradcheck
from ember.dispatch import registry

# Samples in ember_conformance.samples' form (name, args, kwargs; numpy arrays for tensors), chosen
# away from kinks and poles so that finite differences are accurate; they can move to the shared
# conformance samples once those carry gradient-safe inputs for every operator.
from autograd_samples import DIFF_OPS, _case, sample_inputs


def test_every_differentiable_operator_has_samples():
    missing = [n for n in DIFF_OPS if not sample_inputs(n, None, rng=np.random.default_rng(0))]
    assert not missing, (f"differentiable operators without gradient test samples: {missing}; add samples in "
                         f"tests/autograd_samples.py, or list the operator in "
                         f"ember.autograd.registry.NONDIFFERENTIABLE if it has no derivative")


def test_nondifferentiable_outputs_do_not_require_grad():
    x = ember.tensor([[0.5, -1.0], [2.0, 0.1]], requires_grad=True)
    for out in (x > 0, ember.argmax(x), x.isnan(), ember.floor_divide(x, 2), ember.argsort(x)):
        assert not out.requires_grad and out.grad_fn is None


@pytest.mark.parametrize("name", DIFF_OPS)
def test_gradcheck(name):
    for sample in sample_inputs(name, None, rng=np.random.default_rng(1)):
        f, flat = _case(name, sample)
        assert flat, f"{name}/{sample.name}: no differentiable input"
        assert gradcheck(f, tuple(flat)), f"{name}/{sample.name}"


_DOUBLE = [n for n in DIFF_OPS if registry[n].family in ("unary", "binary", "reduction", "linalg", "ternary")]


@pytest.mark.parametrize("name", _DOUBLE)
def test_gradgradcheck(name):
    samples = sample_inputs(name, None, rng=np.random.default_rng(2))
    if not samples:
        pytest.skip(f"{name} has no samples (test_every_differentiable_operator_has_samples reports it)")
    sample = samples[0]
    f, flat = _case(name, sample)
    assert gradgradcheck(f, tuple(flat)), f"{name}/{sample.name}"



def test_gradcheck_checks_complex_inputs_and_outputs_part_by_part():
    z = ember.tensor([0.5 + 1.0j, -0.3 + 0.2j, 1.1 - 0.7j], dtype=ember.complex128, requires_grad=True)
    assert gradcheck(lambda w: w * w, (z,))
    # a gradient that loses the imaginary part's dependence: only the imaginary perturbations see it
    drop_imag = lambda w: ember.complex(ember.real(w), ember.imag(w).detach())  # noqa: E731
    with pytest.raises(ember.autograd.GradcheckError, match="Jacobian mismatch"):
        gradcheck(drop_imag, (z,))
    assert not gradcheck(lambda w: w * w.detach(), (z,), raise_exception=False)
    # real inputs, complex output; complex input, real output; the real case unchanged
    x = ember.tensor([0.4, -1.2], dtype=ember.float64, requires_grad=True)
    assert gradcheck(lambda a: ember.complex(a * a, a), (x,))
    assert gradcheck(lambda w: ember.abs(w) * ember.real(w), (z,))
    assert gradcheck(lambda a: a * a, (x,))
    assert gradgradcheck(lambda w: w * w, (z,))
