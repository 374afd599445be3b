"""ember.distributions against torch.distributions: log_prob, entropy, moments, KL values and their gradients
on the same parameters (float64 and float32), sample statistics of the samplers, validation errors, and the
same results on a second backend."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ember
import ember.distributions as D

torch = pytest.importorskip("torch")
TD = torch.distributions
ROOT = Path(__file__).resolve().parents[1]

TOL = {"float64": 1e-9, "float32": 2e-4}


def pos(r, *s, low=0.3, high=3.0):
    return r.uniform(low, high, size=s)


def simplex(r, *s):
    x = r.uniform(0.1, 1.0, size=s)
    return x / x.sum(-1, keepdims=True)


def spd(r, *s):
    n = s[-1]
    a = r.normal(size=s)
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def lower(r, *s):
    a = np.tril(r.normal(size=s))
    n = s[-1]
    idx = np.arange(n)
    a[..., idx, idx] = np.abs(a[..., idx, idx]) + 0.5
    return a


# name -> (constructor name, params builder, value builder, params that are integer/no-grad)
CASES = {
    "Normal": ("Normal", lambda r: dict(loc=r.normal(size=3), scale=pos(r, 3)), lambda r: r.normal(size=(4, 3))),
    "Normal_bcast": ("Normal", lambda r: dict(loc=r.normal(size=(2, 1)), scale=pos(r, 3)),
                     lambda r: r.normal(size=(2, 3))),
    "Laplace": ("Laplace", lambda r: dict(loc=r.normal(size=3), scale=pos(r, 3)), lambda r: r.normal(size=(4, 3))),
    "Uniform": ("Uniform", lambda r: dict(low=np.array([-1.0, 0.0, 2.0]), high=np.array([0.5, 3.0, 2.5])),
                lambda r: np.array([[-0.5, 1.0, 2.2], [0.1, 2.9, 2.4]])),
    "Exponential": ("Exponential", lambda r: dict(rate=pos(r, 3)), lambda r: pos(r, 4, 3, low=0.0)),
    "Gamma": ("Gamma", lambda r: dict(concentration=pos(r, 4, low=0.2, high=6), rate=pos(r, 4)),
              lambda r: pos(r, 2, 4, low=0.05, high=5)),
    "Beta": ("Beta", lambda r: dict(concentration1=pos(r, 4, low=0.2), concentration0=pos(r, 4, low=0.2)),
             lambda r: r.uniform(0.05, 0.95, size=(2, 4))),
    "Dirichlet": ("Dirichlet", lambda r: dict(concentration=pos(r, 2, 4, low=0.2)), lambda r: simplex(r, 3, 2, 4)),
    "Poisson": ("Poisson", lambda r: dict(rate=pos(r, 4, low=0.1, high=20)),
                lambda r: r.integers(0, 12, size=(3, 4)).astype(float)),
    "Bernoulli_probs": ("Bernoulli", lambda r: dict(probs=r.uniform(0.05, 0.95, size=4)),
                        lambda r: r.integers(0, 2, size=(3, 4)).astype(float)),
    "Bernoulli_logits": ("Bernoulli", lambda r: dict(logits=r.normal(size=4) * 2),
                         lambda r: r.integers(0, 2, size=(3, 4)).astype(float)),
    "Binomial_probs": ("Binomial", lambda r: dict(total_count=np.full(4, 7.0), probs=r.uniform(0.05, 0.95, size=4)),
                       lambda r: r.integers(0, 8, size=(3, 4)).astype(float)),
    "Binomial_logits": ("Binomial", lambda r: dict(total_count=np.full(4, 5.0), logits=r.normal(size=4)),
                        lambda r: r.integers(0, 6, size=(3, 4)).astype(float)),
    "Categorical_probs": ("Categorical", lambda r: dict(probs=simplex(r, 3, 5) * 2.0),
                          lambda r: r.integers(0, 5, size=(4, 3))),
    "Categorical_logits": ("Categorical", lambda r: dict(logits=r.normal(size=(3, 5))),
                           lambda r: r.integers(0, 5, size=(4, 3))),
    "OneHotCategorical": ("OneHotCategorical", lambda r: dict(logits=r.normal(size=(3, 5))),
                          lambda r: np.eye(5)[r.integers(0, 5, size=(4, 3))]),
    "Multinomial": ("Multinomial", lambda r: dict(total_count=6, probs=simplex(r, 2, 4)),
                    lambda r: np.array([[[1.0, 2, 3, 0], [0, 0, 6, 0]], [[2, 2, 1, 1], [6, 0, 0, 0]]])),
    "MVN_cov": ("MultivariateNormal", lambda r: dict(loc=r.normal(size=(2, 3)), covariance_matrix=spd(r, 2, 3, 3)),
                lambda r: r.normal(size=(4, 2, 3))),
    "MVN_prec": ("MultivariateNormal", lambda r: dict(loc=r.normal(size=3), precision_matrix=spd(r, 3, 3)),
                 lambda r: r.normal(size=(4, 3))),
    "MVN_tril": ("MultivariateNormal", lambda r: dict(loc=r.normal(size=3), scale_tril=lower(r, 2, 3, 3)),
                 lambda r: r.normal(size=(4, 2, 3))),
}
NO_GRAD = {"total_count"}
NO_ENTROPY = {"Poisson", "Multinomial_noent"}
NO_MEAN = {"Categorical_probs", "Categorical_logits"}  # NaN by definition


def build(mod, ctor, params, dtype, grad=True):
    """The distribution from module mod with parameters as leaf tensors (for gradients) of dtype."""
    lib = ember if mod is D else torch
    dt = getattr(lib, dtype)
    leaves = {}
    for k, v in params.items():
        if isinstance(v, int):
            leaves[k] = v
            continue
        t = lib.tensor(np.asarray(v, dtype=dtype), dtype=dt)
        if grad and k not in NO_GRAD:
            t.requires_grad_(True)
        leaves[k] = t
    return getattr(mod, ctor)(**leaves), leaves


def to_np(t):
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def value_tensor(lib, v, dtype):
    if np.asarray(v).dtype.kind == "i":
        return lib.tensor(np.asarray(v, dtype=np.int64))
    return lib.tensor(np.asarray(v, dtype=dtype), dtype=getattr(lib, dtype))


def check(e, t, tol, what):
    np.testing.assert_allclose(to_np(e), to_np(t), rtol=tol, atol=tol, err_msg=what)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_against_torch(name, dtype):
    ctor, mk_params, mk_value = CASES[name]
    r = np.random.default_rng(abs(hash(name)) % 2 ** 32)
    params, value = mk_params(r), mk_value(r)
    de, le = build(D, ctor, params, dtype)
    dt, lt = build(TD, ctor, params, dtype)
    tol = TOL[dtype]
    assert tuple(de.batch_shape) == tuple(dt.batch_shape) and tuple(de.event_shape) == tuple(dt.event_shape)
    assert de.has_rsample == dt.has_rsample
    lpe, lpt = de.log_prob(value_tensor(ember, value, dtype)), dt.log_prob(value_tensor(torch, value, dtype))
    check(lpe, lpt, tol, "log_prob")
    oute, outt = lpe.sum(), lpt.sum()
    if name not in NO_ENTROPY:
        # torch's Multinomial.entropy takes lgamma of an int64 tensor, so its constant is float32-accurate
        check(de.entropy(), dt.entropy(), max(tol, 1e-6) if ctor == "Multinomial" else tol, "entropy")
        oute, outt = oute + de.entropy().sum(), outt + dt.entropy().sum()
    if name not in NO_MEAN:
        check(de.mean, dt.mean, tol, "mean")
        check(de.variance, dt.variance, tol, "variance")
        check(de.stddev, dt.stddev, tol, "stddev")
        oute, outt = oute + de.variance.sum() + de.mean.sum(), outt + dt.variance.sum() + dt.mean.sum()
    try:
        mt = dt.mode
    except NotImplementedError:
        mt = None
    if mt is not None:
        check(de.mode, mt, tol, "mode")
    oute.backward()
    outt.backward()
    for k in le:
        if isinstance(le[k], int) or k in NO_GRAD:
            continue
        check(le[k].grad, lt[k].grad, tol * 10, f"grad of {k}")


@pytest.mark.parametrize("name", ["Normal", "Laplace", "Exponential", "Gamma", "Bernoulli_probs",
                                  "Categorical_logits", "MVN_cov", "Dirichlet"])
def test_expand_and_shapes(name):
    ctor, mk_params, _ = CASES[name]
    de, _ = build(D, ctor, mk_params(np.random.default_rng(1)), "float64", grad=False)
    bs = (5,) + tuple(de.batch_shape)
    ex = de.expand(bs)
    assert tuple(ex.batch_shape) == bs and tuple(ex.event_shape) == tuple(de.event_shape)
    s = ex.sample((2,))
    assert tuple(s.shape) == (2,) + bs + tuple(de.event_shape)
    assert tuple(ex.log_prob(s).shape) == (2,) + bs


def _kl_pairs():
    r = np.random.default_rng(7)
    P = {}
    P["Normal"] = ("Normal", dict(loc=r.normal(size=3), scale=pos(r, 3)), dict(loc=r.normal(size=3), scale=pos(r, 3)))
    P["Laplace"] = ("Laplace", dict(loc=r.normal(size=3), scale=pos(r, 3)),
                    dict(loc=r.normal(size=3), scale=pos(r, 3)))
    P["Exponential"] = ("Exponential", dict(rate=pos(r, 3)), dict(rate=pos(r, 3)))
    P["Gamma"] = ("Gamma", dict(concentration=pos(r, 3), rate=pos(r, 3)),
                  dict(concentration=pos(r, 3), rate=pos(r, 3)))
    P["Beta"] = ("Beta", dict(concentration1=pos(r, 3), concentration0=pos(r, 3)),
                 dict(concentration1=pos(r, 3), concentration0=pos(r, 3)))
    P["Dirichlet"] = ("Dirichlet", dict(concentration=pos(r, 2, 4)), dict(concentration=pos(r, 2, 4)))
    P["Poisson"] = ("Poisson", dict(rate=pos(r, 3)), dict(rate=pos(r, 3)))
    P["Uniform"] = ("Uniform", dict(low=np.array([0.0, 0.0]), high=np.array([1.0, 2.0])),
                    dict(low=np.array([-1.0, 0.5]), high=np.array([2.0, 2.5])))
    P["Bernoulli"] = ("Bernoulli", dict(probs=r.uniform(0.1, 0.9, 3)), dict(logits=r.normal(size=3)))
    P["Binomial"] = ("Binomial", dict(total_count=np.full(3, 5.0), probs=r.uniform(0.1, 0.9, 3)),
                     dict(total_count=np.full(3, 5.0), probs=r.uniform(0.1, 0.9, 3)))
    P["Categorical"] = ("Categorical", dict(logits=r.normal(size=(2, 4))), dict(probs=simplex(r, 2, 4)))
    P["OneHotCategorical"] = ("OneHotCategorical", dict(logits=r.normal(size=(2, 4))),
                              dict(logits=r.normal(size=(2, 4))))
    P["MVN"] = ("MultivariateNormal", dict(loc=r.normal(size=(2, 3)), covariance_matrix=spd(r, 2, 3, 3)),
                dict(loc=r.normal(size=3), scale_tril=lower(r, 3, 3)))
    return P


KL_PAIRS = _kl_pairs()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(KL_PAIRS))
def test_kl_against_torch(name, dtype):
    ctor, pp, qp = KL_PAIRS[name]
    pe, lpe = build(D, ctor, pp, dtype)
    qe, lqe = build(D, ctor, qp, dtype)
    pt, lpt = build(TD, ctor, pp, dtype)
    qt, lqt = build(TD, ctor, qp, dtype)
    ke, kt = D.kl_divergence(pe, qe), TD.kl_divergence(pt, qt)
    check(ke, kt, TOL[dtype], "kl")
    finite = np.isfinite(to_np(kt))
    (ke * ember.tensor(finite.astype(dtype))).sum().backward()
    (kt * torch.tensor(finite.astype(dtype))).sum().backward()
    for le, lt in ((lpe, lpt), (lqe, lqt)):
        for k in le:
            if not isinstance(le[k], int) and k not in NO_GRAD:
                check(le[k].grad, lt[k].grad, TOL[dtype] * 10, f"grad of {k}")


def test_kl_independent_transformed_and_registry():
    r = np.random.default_rng(3)
    a, b, c, d = (r.normal(size=(2, 3)) for _ in range(4))
    pe = D.Independent(D.Normal(ember.tensor(a), ember.tensor(np.exp(b))), 1)
    qe = D.Independent(D.Normal(ember.tensor(c), ember.tensor(np.exp(d))), 1)
    pt = TD.Independent(TD.Normal(torch.tensor(a), torch.tensor(np.exp(b))), 1)
    qt = TD.Independent(TD.Normal(torch.tensor(c), torch.tensor(np.exp(d))), 1)
    check(D.kl_divergence(pe, qe), TD.kl_divergence(pt, qt), 1e-10, "independent")
    exp = D.ExpTransform()
    le = D.kl_divergence(D.TransformedDistribution(pe, exp), D.TransformedDistribution(qe, exp))
    check(le, TD.kl_divergence(pt, qt), 1e-10, "transformed")
    with pytest.raises(NotImplementedError, match="No KL"):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Gamma(1.0, 1.0))

    class MyNormal(D.Normal):
        pass

    @D.register_kl(MyNormal, D.Normal)
    def _kl(p, q):
        return ember.tensor(42.0)
    assert float(D.kl_divergence(MyNormal(0.0, 1.0), D.Normal(0.0, 1.0))) == 42.0
    assert float(D.kl_divergence(D.Normal(0.0, 1.0), MyNormal(0.0, 1.0))) == 0.0


TRANSFORMS = {
    "exp": (lambda m: [m.ExpTransform()], lambda r: pos(r, 4, 3)),
    "affine_sigmoid": (lambda m: [m.AffineTransform(0.5, 2.0), m.SigmoidTransform()],
                       lambda r: r.uniform(0.05, 0.95, (4, 3))),
    "tanh": (lambda m: [m.TanhTransform()], lambda r: r.uniform(-0.9, 0.9, (4, 3))),
    "compose_inverse": (lambda m: [m.ComposeTransform([m.AffineTransform(1.0, -3.0), m.ExpTransform()]),
                                   m.ExpTransform().inv], lambda r: r.normal(size=(4, 3))),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_transformed_distribution(name, dtype):
    mk, mk_value = TRANSFORMS[name]
    r = np.random.default_rng(11)
    loc, scale, value = r.normal(size=3), pos(r, 3), mk_value(r)
    dists = []
    for lib, mod in ((ember, D), (torch, TD)):
        dt = getattr(lib, dtype)
        lo = lib.tensor(loc.astype(dtype), dtype=dt, requires_grad=True)
        sc = lib.tensor(scale.astype(dtype), dtype=dt, requires_grad=True)
        tr = mk(mod if mod is D else TD.transforms)
        dist = mod.TransformedDistribution(mod.Normal(lo, sc), tr)
        lp = dist.log_prob(lib.tensor(value.astype(dtype), dtype=dt))
        lp.sum().backward()
        dists.append((dist, lp, lo.grad, sc.grad))
    (de, lpe, ge1, ge2), (dt_, lpt, gt1, gt2) = dists
    check(lpe, lpt, TOL[dtype], "log_prob")
    check(ge1, gt1, TOL[dtype] * 10, "grad loc")
    check(ge2, gt2, TOL[dtype] * 10, "grad scale")
    assert de.has_rsample and tuple(de.rsample((5,)).shape) == (5, 3)


def test_independent_log_prob_entropy_support():
    r = np.random.default_rng(2)
    loc, scale, v = r.normal(size=(2, 3)), pos(r, 2, 3), r.normal(size=(5, 2, 3))
    de = D.Independent(D.Normal(ember.tensor(loc), ember.tensor(scale)), 1)
    dt = TD.Independent(TD.Normal(torch.tensor(loc), torch.tensor(scale)), 1)
    assert tuple(de.batch_shape) == (2,) and tuple(de.event_shape) == (3,)
    check(de.log_prob(ember.tensor(v)), dt.log_prob(torch.tensor(v)), 1e-10, "log_prob")
    check(de.entropy(), dt.entropy(), 1e-10, "entropy")
    assert repr(de.support) == "IndependentConstraint(Real(), 1)"
    with pytest.raises(ValueError, match="reinterpreted_batch_ndims"):
        D.Independent(D.Normal(ember.zeros(3), ember.ones(3)), 2)


def test_mvn_matrices_match_torch():
    r = np.random.default_rng(5)
    cov = spd(r, 2, 3, 3)
    loc = r.normal(size=(2, 3))
    de = D.MultivariateNormal(ember.tensor(loc), covariance_matrix=ember.tensor(cov))
    dt = TD.MultivariateNormal(torch.tensor(loc), covariance_matrix=torch.tensor(cov))
    for attr in ("scale_tril", "covariance_matrix", "precision_matrix"):
        check(getattr(de, attr), getattr(dt, attr), 1e-10, attr)
    dp = D.MultivariateNormal(ember.tensor(loc), precision_matrix=ember.tensor(np.linalg.inv(cov)))
    check(dp.scale_tril, dt.scale_tril, 1e-9, "from precision")


# -- samplers ------------------------------------------------------------------------------------------------

N = 20000


def _moments(dist, n=N):
    ember.manual_seed(1234)
    s = dist.sample((n,)).to(ember.float64).numpy()
    return s, s.mean(0), s.var(0)


def _within(sample_mean, mean, var, n=N, z=5.0):
    np.testing.assert_array_less(np.abs(sample_mean - mean), z * np.sqrt(var / n) + 1e-12)


SAMPLERS = {
    "Normal": lambda: D.Normal(ember.tensor([0.0, 3.0]), ember.tensor([1.0, 0.5])),
    "Laplace": lambda: D.Laplace(ember.tensor([0.0, -2.0]), ember.tensor([1.0, 3.0])),
    "Uniform": lambda: D.Uniform(ember.tensor([0.0, -2.0]), ember.tensor([1.0, 5.0])),
    "Exponential": lambda: D.Exponential(ember.tensor([0.5, 4.0])),
    "Gamma": lambda: D.Gamma(ember.tensor([0.2, 1.0, 3.5, 40.0]), ember.tensor([1.0, 2.0, 0.5, 1.0])),
    "Beta": lambda: D.Beta(ember.tensor([0.3, 2.0, 5.0]), ember.tensor([0.5, 2.0, 1.0])),
    "Poisson": lambda: D.Poisson(ember.tensor([0.0, 0.3, 4.0, 9.9, 10.0, 35.0, 500.0])),
    "Binomial": lambda: D.Binomial(ember.tensor([10.0, 1.0, 3000.0]), probs=ember.tensor([0.3, 0.9, 0.01])),
    "Bernoulli": lambda: D.Bernoulli(ember.tensor([0.1, 0.5, 0.95])),
    "Dirichlet": lambda: D.Dirichlet(ember.tensor([0.5, 1.0, 3.0])),
    "OneHotCategorical": lambda: D.OneHotCategorical(ember.tensor([0.1, 0.0, 0.6, 0.3])),
    "Multinomial": lambda: D.Multinomial(7, ember.tensor([0.2, 0.5, 0.3])),
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_sample_statistics(name):
    dist = SAMPLERS[name]()
    s, m, v = _moments(dist)
    _within(m, dist.mean.to(ember.float64).numpy(), dist.variance.to(ember.float64).numpy())
    true_var = dist.variance.to(ember.float64).numpy()
    # the sample variance within a generous band (its own sampling error is about var * sqrt(2 / N) for normals)
    np.testing.assert_allclose(v, true_var, rtol=0.1, atol=1e-9)
    assert bool(dist.support.check(ember.tensor(s).to(dist.mean.dtype)).all())


def test_categorical_frequencies_and_zero_probability():
    ember.manual_seed(0)
    p = np.array([[0.1, 0.0, 0.6, 0.3], [0.25, 0.25, 0.25, 0.25]])
    c = D.Categorical(probs=ember.tensor(p))
    s = c.sample((N,))
    assert s.dtype == ember.int64 and tuple(s.shape) == (N, 2)
    freq = np.stack([(s.numpy() == k).mean(0) for k in range(4)], -1)
    np.testing.assert_array_less(np.abs(freq - p), 5 * np.sqrt(p * (1 - p) / N) + 1e-12)
    assert freq[0, 1] == 0


def test_mvn_sample_covariance():
    r = np.random.default_rng(0)
    cov = spd(r, 3, 3)
    d = D.MultivariateNormal(ember.tensor([1.0, -1.0, 0.0], dtype=ember.float64), ember.tensor(cov))
    ember.manual_seed(3)
    s = d.sample((N,)).numpy()
    np.testing.assert_allclose(np.cov(s.T), cov, rtol=0.06, atol=0.06 * np.abs(cov).max())
    _within(s.mean(0), np.array([1.0, -1.0, 0.0]), np.diag(cov))


def test_rsample_gradients_flow():
    loc = ember.tensor([0.5, -1.0], dtype=ember.float64, requires_grad=True)
    scale = ember.tensor([2.0, 0.5], dtype=ember.float64, requires_grad=True)
    ember.manual_seed(9)
    x = D.Normal(loc, scale).rsample((100,))
    x.sum().backward()
    np.testing.assert_allclose(loc.grad.numpy(), [100.0, 100.0])
    eps = (x.detach() - loc.detach()) / scale.detach()
    np.testing.assert_allclose(scale.grad.numpy(), eps.sum(0).numpy(), rtol=1e-12)
    for dist in (lambda l, s: D.Laplace(l, s), lambda l, s: D.Uniform(l, l + s), lambda l, s: D.Exponential(s),
                 lambda l, s: D.MultivariateNormal(l, scale_tril=ember.diag_embed(s) if hasattr(ember, "diag_embed")
                                                   else s.unsqueeze(-1) * ember.eye(2, dtype=s.dtype))):
        loc.grad, scale.grad = None, None
        dist(loc, scale).rsample((3,)).sum().backward()
        assert scale.grad is not None and bool(scale.grad.isfinite().all())
    assert D.Normal(loc, scale).sample().grad_fn is None
    conc = ember.tensor([0.5, 3.0], requires_grad=True)
    D.Gamma(conc, scale).rsample((3,)).sum().backward()   # implicit reparameterization
    assert conc.grad is not None and bool(conc.grad.isfinite().all())


def test_same_seed_same_samples():
    d = D.Gamma(ember.tensor([0.5, 2.0]), ember.tensor([1.0, 1.0]))
    ember.manual_seed(5)
    a = d.sample((10,))
    ember.manual_seed(5)
    b = d.sample((10,))
    np.testing.assert_array_equal(a.numpy(), b.numpy())


# -- validation ----------------------------------------------------------------------------------------------

def test_argument_validation_errors_like_torch():
    with pytest.raises(ValueError, match=r"Expected parameter scale .* to satisfy the constraint "
                                         r"GreaterThan\(lower_bound=0.0\), but found invalid values"):
        D.Normal(ember.zeros(2), ember.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="Expected parameter probs .*Interval"):
        D.Bernoulli(probs=ember.tensor([1.5]))
    with pytest.raises(ValueError, match="Either `probs` or `logits` must be specified, but not both."):
        D.Categorical(probs=ember.ones(3), logits=ember.ones(3))
    with pytest.raises(ValueError, match="Either `probs` or `logits`"):
        D.Bernoulli()
    with pytest.raises(ValueError, match="must be at least one-dimensional"):
        D.Categorical(probs=ember.tensor(1.0))
    with pytest.raises(ValueError, match="Exactly one of covariance_matrix"):
        D.MultivariateNormal(ember.zeros(2))
    with pytest.raises(ValueError, match="PositiveDefinite"):
        D.MultivariateNormal(ember.zeros(2), ember.tensor([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match=r"Expected value argument .* to be within the support "
                                         r"\(GreaterThanEq\(lower_bound=0.0\)\)"):
        D.Exponential(ember.ones(2)).log_prob(ember.tensor([-1.0, 1.0]))
    with pytest.raises(ValueError, match="support"):
        D.Categorical(logits=ember.zeros(3)).log_prob(ember.tensor([3]))
    with pytest.raises(ValueError, match="The right-most size of value must match event_shape"):
        D.Dirichlet(ember.ones(3)).log_prob(ember.ones(4) / 4)
    with pytest.raises(ValueError, match="Value is not broadcastable"):
        D.Normal(ember.zeros(3), ember.ones(3)).log_prob(ember.zeros(4))
    with pytest.raises(ValueError, match="The value argument to log_prob must be a Tensor"):
        D.Normal(0.0, 1.0).log_prob(0.5)
    # what torch raises for the same inputs
    with pytest.raises(ValueError, match="GreaterThan"):
        TD.Normal(torch.zeros(2), torch.tensor([1.0, -1.0]))


def test_validation_switches():
    D.Normal(ember.zeros(1), -ember.ones(1), validate_args=False)
    try:
        D.Distribution.set_default_validate_args(False)
        d = D.Exponential(ember.tensor([-1.0]))
        assert bool(d.log_prob(ember.tensor([-1.0])).isnan().all())   # computed, not refused
    finally:
        D.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError):
        D.Exponential(ember.tensor([-1.0]))
    with pytest.raises(ValueError):
        D.Distribution.set_default_validate_args("yes")


def test_constraints_and_repr():
    C = D.constraints
    assert repr(C.real) == "Real()" and repr(C.unit_interval) == "Interval(lower_bound=0.0, upper_bound=1.0)"
    assert C.nonnegative_integer.is_discrete and C.simplex.event_dim == 1
    assert C.is_dependent(D.Uniform(0.0, 1.0).arg_constraints["low"]) is False
    assert C.is_dependent(C.dependent)
    x = ember.tensor([[0.2, 0.8], [0.5, 0.6]])
    assert C.simplex.check(x).tolist() == [True, False]
    assert C.integer_interval(0, 3).check(ember.tensor([0.0, 3.0, 1.5, 4.0])).tolist() == [True, True, False, False]
    assert C.boolean.check(ember.tensor([0.0, 1.0, 0.5])).tolist() == [True, True, False]
    assert repr(D.Normal(ember.zeros(2), ember.ones(2))) == "Normal(loc: ember.Size([2]), scale: ember.Size([2]))"
    assert isinstance(ember.distributions.Normal(0.0, 1.0).batch_shape, ember.Size)


def test_enumerate_support():
    b = D.Bernoulli(ember.tensor([0.2, 0.7]))
    assert b.enumerate_support().tolist() == [[0.0, 0.0], [1.0, 1.0]]
    c = D.Categorical(logits=ember.zeros(2, 3))
    assert tuple(c.enumerate_support().shape) == (3, 2)
    oh = D.OneHotCategorical(logits=ember.zeros(3))
    assert oh.enumerate_support().tolist() == np.eye(3).tolist()


# -- another backend ---------------------------------------------------------------------------------------

def test_npy_backend_matches_cpu():
    sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "plugins"))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fixture_plugins import load
    load("npy")
    r = np.random.default_rng(4)
    cov = spd(r, 3, 3)
    for dev in ("cpu", "npy"):
        loc = ember.tensor(r.normal(size=3) * 0 + 1.0, dtype=ember.float64).to(dev).requires_grad_(True)
        dists = [D.Normal(loc, loc.exp()), D.Gamma(loc.exp(), 2.0 * loc.exp()),
                 D.Categorical(logits=loc), D.MultivariateNormal(loc, ember.tensor(cov).to(dev)),
                 D.Beta(loc.exp(), loc.exp() + 1)]
        vals = [ember.tensor([0.1, 0.2, 0.3], dtype=ember.float64), ember.tensor([0.5, 1.0, 2.0], dtype=ember.float64),
                ember.tensor([0, 2]), ember.tensor([0.1, 0.2, 0.3], dtype=ember.float64),
                ember.tensor([0.1, 0.5, 0.9], dtype=ember.float64)]
        out = sum(dd.log_prob(v.to(dev)).sum() + dd.entropy().sum() for dd, v in zip(dists, vals))
        out.backward()
        ember.manual_seed(8)
        samples = [dd.sample((50,)).to("cpu").numpy() for dd in dists[:3]]
        res = (float(out), loc.grad.to("cpu").numpy(), samples)
        assert all(str(s.device).startswith(dev) for s in [loc.grad])
        if dev == "cpu":
            ref = res
    assert res[0] == pytest.approx(ref[0], rel=1e-12)
    np.testing.assert_allclose(res[1], ref[1], rtol=1e-12)
    for a, b in zip(res[2], ref[2]):
        np.testing.assert_allclose(a, b, rtol=1e-12)


# -- the example ------------------------------------------------------------------------------------------------

def test_actor_critic_example_learns():
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "actor_critic.py"), "--device", "cpu",
                          "--episodes", "300", "--seed", "0"], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("episode")]
    avgs = [float(ln.split("average return")[1].split()[0]) for ln in lines]
    assert len(avgs) >= 3, out.stdout
    assert avgs[-1] > avgs[0] + 3.0, out.stdout
