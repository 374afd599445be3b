"""Reparameterised samples of Gamma, Beta and Dirichlet: the implicit gradient dx/dalpha against finite
differences of scipy's inverse incomplete gamma function and against torch._standard_gamma_grad, gradients
flowing through rsample, and Monte Carlo checks that the mean of the sample gradients is the gradient of the
mean."""

import numpy as np
import pytest
import torch
from scipy.special import gammainc, gammaincinv

import ember
import ember.distributions as D
from ember.distributions._gamma_grad import standard_gamma_grad

QUANTILES = np.array([1e-6, 1e-3, 0.05, 0.3, 0.5, 0.7, 0.95, 0.999, 1 - 1e-6])
ALPHAS = [0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 100.0, 350.0, 450.0, 1000.0, 1e4]


def _grid(alphas, quantiles):
    a = np.repeat(np.asarray(alphas, dtype=np.float64), len(quantiles))
    x = gammaincinv(a, np.tile(quantiles, len(alphas)))
    keep = x > 1e-300
    return a[keep], x[keep]


def _inverse_cdf_derivative(a, x, h=1e-6):
    u = gammainc(a, x)
    return (gammaincinv(a * (1 + h), u) - gammaincinv(a * (1 - h), u)) / (2 * a * h)


def test_grad_matches_inverse_cdf_finite_difference():
    a, x = _grid(ALPHAS, QUANTILES)
    got = standard_gamma_grad(ember.tensor(a), ember.tensor(x)).numpy()
    want = _inverse_cdf_derivative(a, x)
    err = np.abs(got / want - 1)
    assert np.isfinite(got).all()
    assert err[a <= 350].max() < 1e-6, err[a <= 350].max()
    assert err.max() < 5e-4, err.max()


def test_grad_matches_torch():
    a, x = _grid(ALPHAS, QUANTILES[1:-1])
    got = standard_gamma_grad(ember.tensor(a), ember.tensor(x)).numpy()
    ref = torch._standard_gamma_grad(torch.tensor(a), torch.tensor(x)).numpy()
    # torch's rational approximations are themselves within about 2e-3 of the exact derivative
    np.testing.assert_allclose(got, ref, rtol=2e-3)


def test_grad_float32_and_broadcast():
    a = ember.tensor([[0.5], [3.0]], dtype=ember.float32)
    x = ember.tensor([0.1, 1.0, 4.0], dtype=ember.float32)
    got = standard_gamma_grad(a, x)
    assert got.dtype == ember.float32 and tuple(got.shape) == (2, 3)
    ref = torch._standard_gamma_grad(torch.tensor([[0.5], [3.0]]).expand(2, 3), torch.tensor([0.1, 1.0, 4.0])
                                     .expand(2, 3).contiguous())
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=2e-3)
    # a draw that underflowed to zero still has a finite gradient
    assert bool(standard_gamma_grad(ember.tensor([0.01]), ember.tensor([0.0])).isfinite().all())


def _params(values, dtype=ember.float64):
    return ember.tensor(values, dtype=dtype, requires_grad=True)


@pytest.mark.parametrize("dtype", [ember.float64, ember.float32])
def test_rsample_backward_finite(dtype):
    ember.manual_seed(3)
    conc, rate = _params([0.3, 2.0, 50.0], dtype), _params([1.0, 0.5, 3.0], dtype)
    x = D.Gamma(conc, rate).rsample((4,))
    assert tuple(x.shape) == (4, 3) and x.dtype == dtype and x.grad_fn is not None
    x.mean().backward()
    for p in (conc, rate):
        assert p.grad is not None and bool(p.grad.isfinite().all()) and float(p.grad.abs().sum()) > 0
    c1, c0 = _params([0.4, 3.0], dtype), _params([2.0, 0.7], dtype)
    D.Beta(c1, c0).rsample((5,)).mean().backward()
    assert bool(c1.grad.isfinite().all()) and bool(c0.grad.isfinite().all())
    assert float(c1.grad.abs().sum()) > 0 and float(c0.grad.abs().sum()) > 0
    c = _params([[0.5, 1.0, 4.0]], dtype)
    D.Dirichlet(c).rsample((5,)).select(-1, 0).mean().backward()
    assert bool(c.grad.isfinite().all()) and float(c.grad.abs().sum()) > 0
    assert D.Gamma(conc, rate).has_rsample and D.Beta(c1, c0).has_rsample and D.Dirichlet(c).has_rsample


def test_sample_has_no_grad_and_rsample_draws_match_sample():
    conc, rate = _params([0.5, 2.0]), _params([1.0, 2.0])
    ember.manual_seed(11)
    s = D.Gamma(conc, rate).sample((3,))
    ember.manual_seed(11)
    r = D.Gamma(conc, rate).rsample((3,))
    assert s.grad_fn is None and r.grad_fn is not None
    np.testing.assert_array_equal(s.numpy(), r.detach().numpy())


def test_single_draw_gradient_is_implicit_derivative():
    conc, rate = _params([0.7, 4.0]), _params([2.0, 0.5])
    ember.manual_seed(5)
    x = D.Gamma(conc, rate).rsample()
    x.sum().backward()
    g = x.detach().numpy() * rate.detach().numpy()           # the standard gamma draw
    a = conc.detach().numpy()
    np.testing.assert_allclose(conc.grad.numpy(), _inverse_cdf_derivative(a, g) / rate.detach().numpy(),
                               rtol=1e-6)
    np.testing.assert_allclose(rate.grad.numpy(), -x.detach().numpy() / rate.detach().numpy(), rtol=1e-12)


N = 20000


def test_gamma_mean_gradient_monte_carlo():
    conc, rate = _params([0.4, 2.5, 20.0]), _params([1.5, 0.8, 4.0])
    ember.manual_seed(21)
    D.Gamma(conc, rate).rsample((N,)).sum(0).sum().backward()
    c, r = conc.detach().numpy(), rate.detach().numpy()
    np.testing.assert_allclose(conc.grad.numpy() / N, 1 / r, rtol=0.05)
    np.testing.assert_allclose(rate.grad.numpy() / N, -c / r ** 2, rtol=0.05)


def test_beta_mean_gradient_monte_carlo():
    c1, c0 = _params([0.5, 3.0]), _params([2.0, 1.5])
    ember.manual_seed(22)
    D.Beta(c1, c0).rsample((N,)).sum().backward()
    a, b = c1.detach().numpy(), c0.detach().numpy()
    np.testing.assert_allclose(c1.grad.numpy() / N, b / (a + b) ** 2, rtol=0.06)
    np.testing.assert_allclose(c0.grad.numpy() / N, -a / (a + b) ** 2, rtol=0.06)


def test_dirichlet_mean_gradient_monte_carlo():
    conc = _params([0.6, 1.5, 3.0])
    ember.manual_seed(23)
    x = D.Dirichlet(conc).rsample((N,))
    (x.select(-1, 0).sum()).backward()
    c = conc.detach().numpy()
    total = c.sum()
    want = np.array([(total - c[0]) / total ** 2, -c[0] / total ** 2, -c[0] / total ** 2])
    np.testing.assert_allclose(conc.grad.numpy() / N, want, rtol=0.06)
    # each sample still lies on the simplex
    np.testing.assert_allclose(x.detach().numpy().sum(-1), 1.0, rtol=1e-12)


def test_grad_runs_on_prims_only_backend():
    from fixture_plugins import load
    load("npy")
    a = ember.tensor([0.3, 2.0, 50.0, 800.0], dtype=ember.float64)
    x = ember.tensor([0.1, 5.0, 45.0, 820.0], dtype=ember.float64)
    ref = standard_gamma_grad(a, x).numpy()
    got = standard_gamma_grad(a.to("npy"), x.to("npy")).to("cpu").numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    conc = ember.tensor([0.5, 3.0], dtype=ember.float32, device="npy", requires_grad=True)
    D.Gamma(conc, 1.0).rsample((3,)).mean().backward()
    assert conc.grad.device.type == "npy" and bool(conc.grad.to("cpu").isfinite().all())
