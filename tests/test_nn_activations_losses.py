"""ember.nn's activations and losses against torch.nn.functional and torch.nn: values and gradients.

Every case calls the same functional name with the same arguments in both libraries, over
random inputs plus the kinks and ties of each function (x == 0, +-3, +-lambda, the
threshold) and large |x|, in float32 and float64 and under every reduction.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
tnn = torch.nn

DTYPES = ("float32", "float64")
TOL = {"float32": 2e-5, "float64": 1e-10}
KINKS = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0, 6.0, -6.0, 20.0, 19.5, 21.0, -20.0, 2.0, -2.0])
# PyTorch's float64 hardsigmoid backward multiplies by a float32 1/6 (relative error 3e-8)
LOOSE = {"hardsigmoid": 1e-7, "Hardsigmoid": 1e-7}
LARGE = np.array([1000.0, -1000.0, 80.0, -80.0, 40.0, -40.0])


class G:
    """A float input that is differentiated."""

    def __init__(self, a):
        self.a = np.asarray(a, dtype=np.float64)


class C:
    """A float input that is not differentiated."""

    def __init__(self, a):
        self.a = np.asarray(a, dtype=np.float64)


def _convert(args, dtype, device=None):
    e_args, t_args, e_leaves, t_leaves = [], [], [], []
    for a in args:
        if isinstance(a, (G, C)):
            e = ember.tensor(a.a.astype(dtype), device=device)
            t = torch.tensor(a.a.astype(dtype))
            if isinstance(a, G):
                e.requires_grad_(True)
                t.requires_grad_(True)
                e_leaves.append(e)
                t_leaves.append(t)
            e_args.append(e)
            t_args.append(t)
        elif isinstance(a, np.ndarray):  # integer class indices
            e_args.append(ember.tensor(a, device=device))
            t_args.append(torch.tensor(a))
        else:
            e_args.append(a)
            t_args.append(a)
    return e_args, t_args, e_leaves, t_leaves


def host(t):
    return t.detach().to("cpu").numpy()


def compare(ename, tname, args, kwargs, dtype, device=None, tol=None, efn=None, tfn=None):
    """Run both, compare the values, then backward with the same random upstream gradient and compare grads."""
    tol = max(TOL[dtype], LOOSE.get(ename, 0)) if tol is None else tol
    e_args, t_args, e_leaves, t_leaves = _convert(args, dtype, device)
    efn = efn or getattr(F, ename)
    tfn = tfn or getattr(TF, tname or ename)
    e_kw = {k: ember.tensor(v.a.astype(dtype), device=device) if isinstance(v, C) else v for k, v in kwargs.items()}
    t_kw = {k: torch.tensor(v.a.astype(dtype)) if isinstance(v, C) else v for k, v in kwargs.items()}
    e_out = efn(*e_args, **e_kw)
    t_out = tfn(*t_args, **t_kw)
    assert tuple(e_out.shape) == tuple(t_out.shape), (ename, kwargs)
    assert str(e_out.dtype).split(".")[-1] == str(t_out.dtype).split(".")[-1]
    np.testing.assert_allclose(host(e_out), t_out.detach().numpy(), rtol=tol, atol=tol, err_msg=f"{ename} {kwargs}")
    if not t_leaves:
        return
    up = np.random.default_rng(7).uniform(0.5, 1.5, size=tuple(t_out.shape)).astype(dtype)
    e_out.backward(ember.tensor(up, device=device))
    t_out.backward(torch.tensor(up))
    for i, (e, t) in enumerate(zip(e_leaves, t_leaves)):
        assert e.grad is not None, (ename, i)
        np.testing.assert_allclose(host(e.grad), t.grad.numpy(), rtol=tol, atol=tol,
                                   err_msg=f"grad {i} of {ename} {kwargs}")


# -- activations -------------------------------------------------------------------------

def _x(rng, extra=LARGE):
    return G(np.concatenate([rng.uniform(-5, 5, 25), KINKS, extra]))


ACTIVATIONS = [
    ("leaky_relu", {}), ("leaky_relu", {"negative_slope": 0.2}), ("elu", {}), ("elu", {"alpha": 0.7}),
    ("selu", {}), ("celu", {}), ("celu", {"alpha": 0.5}), ("gelu", {}), ("gelu", {"approximate": "tanh"}),
    ("silu", {}), ("mish", {}), ("hardswish", {}), ("hardsigmoid", {}), ("hardtanh", {}),
    ("hardtanh", {"min_val": -2.0, "max_val": 3.0}), ("relu6", {}), ("softplus", {}),
    ("softplus", {"beta": 2.0, "threshold": 10.0}), ("softplus", {"beta": 0.5, "threshold": 3.0}),
    ("softsign", {}), ("tanhshrink", {}), ("logsigmoid", {}), ("hardshrink", {}), ("hardshrink", {"lambd": 2.0}),
    ("softshrink", {}), ("softshrink", {"lambd": 1.0}), ("rrelu", {}), ("rrelu", {"lower": 0.2, "upper": 0.4}),
    ("relu", {}), ("sigmoid", {}), ("tanh", {}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kw", ACTIVATIONS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(ACTIVATIONS)])
def test_activation_matches_torch(name, kw, dtype):
    compare(name, None, [_x(np.random.default_rng(0))], kw, dtype)


@pytest.mark.filterwarnings("ignore:Implicit dimension choice")
@pytest.mark.parametrize("dtype", DTYPES)
def test_threshold_glu_softmin_prelu(dtype):
    rng = np.random.default_rng(1)
    compare("threshold", None, [_x(rng), 0.5, -2.0], {}, dtype)
    compare("threshold", None, [_x(rng), 3.0, 3.0], {}, dtype)
    for dim in (-1, 0, 1):
        compare("glu", None, [G(rng.normal(size=(4, 6, 2)))], {"dim": dim}, dtype)
    for dim in (0, 1, -1, None):
        compare("softmin", None, [G(rng.normal(size=(3, 5)))], {"dim": dim}, dtype)
    x = np.concatenate([rng.normal(size=(3, 4, 5)), np.zeros((1, 4, 5))])
    compare("prelu", None, [G(x), G(rng.uniform(0, 0.5, size=(4,)))], {}, dtype)
    compare("prelu", None, [G(x), G([0.3])], {}, dtype)
    compare("prelu", None, [G(rng.normal(size=7)), G([0.1])], {}, dtype)


@pytest.mark.parametrize("name", ["logsigmoid", "softplus", "mish", "elu", "selu", "celu", "silu"])
def test_stable_at_large_magnitudes(name):
    x = np.array([-1e4, -500.0, -88.0, -30.0, 30.0, 88.0, 500.0, 1e4])
    compare(name, None, [G(x)], {}, "float32")
    compare(name, None, [G(x)], {}, "float64")


@pytest.mark.parametrize("name", ["hardshrink", "softshrink", "hardtanh", "relu6", "leaky_relu", "elu", "selu",
                                  "celu", "hardswish", "hardsigmoid", "softsign", "logsigmoid", "softplus", "mish",
                                  "threshold", "tanhshrink", "rrelu"])
def test_nan_and_inf_as_torch(name):
    x = np.array([math.nan, 1.0, -1.0, math.inf, -math.inf])
    compare(name, None, [C(x)] + ([0.5, -2.0] if name == "threshold" else []), {}, "float32")


INPLACE = ["leaky_relu", "elu", "selu", "celu", "hardtanh", "relu6", "hardswish", "hardsigmoid", "mish", "silu",
           "relu", "rrelu"]


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_writes_the_input(name):
    x = np.random.default_rng(3).uniform(-5, 5, size=(4, 5)).astype(np.float32)
    e, t = ember.tensor(x), torch.tensor(x)
    r = getattr(F, name)(e, inplace=True)
    getattr(TF, name)(t, inplace=True)
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-6, atol=1e-6)
    assert r is e
    if name == "rrelu":  # its slopes are random: the training draw is checked below
        return
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ey, ty = ex * 1, tx * 1
    getattr(F, name)(ey, inplace=True)
    getattr(TF, name)(ty, inplace=True)
    ey.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_rrelu_training_draws_slopes_in_range_and_differentiates_through_them():
    x = ember.tensor(np.random.default_rng(4).uniform(-3, 3, size=(200,)), requires_grad=True)
    out = F.rrelu(x, 0.1, 0.3, training=True)
    out.sum().backward()
    xv, ov, gv = x.detach().numpy(), out.detach().numpy(), x.grad.numpy()
    pos = xv > 0
    np.testing.assert_array_equal(ov[pos], xv[pos])
    np.testing.assert_array_equal(gv[pos], 1.0)
    slope = ov[~pos] / xv[~pos]
    assert (slope >= 0.1 - 1e-12).all() and (slope <= 0.3 + 1e-12).all() and slope.std() > 0.01
    np.testing.assert_allclose(gv[~pos], slope, rtol=1e-12)
    m = nn.RReLU(0.1, 0.3)
    m.eval()
    np.testing.assert_allclose(m(x).detach().numpy(), TF.rrelu(torch.tensor(xv), 0.1, 0.3).numpy(), rtol=1e-12)


ACT_MODULES = [
    ("LeakyReLU", (0.1,)), ("PReLU", ()), ("PReLU", (4,)), ("ELU", (0.5,)), ("SELU", ()), ("CELU", (2.0,)),
    ("GELU", ("tanh",)), ("SiLU", ()), ("Mish", ()), ("Hardswish", ()), ("Hardsigmoid", ()), ("Hardtanh", (-2.0, 2.0)),
    ("ReLU6", ()), ("Softplus", (2.0, 5.0)), ("Softsign", ()), ("Tanhshrink", ()), ("Threshold", (0.1, 20.0)),
    ("GLU", (1,)), ("LogSigmoid", ()), ("Softmin", (1,)), ("Softmax2d", ()), ("Hardshrink", (1.0,)),
    ("Softshrink", (0.3,)), ("RReLU", ()),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,args", ACT_MODULES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(ACT_MODULES)])
def test_activation_modules_match_torch(name, args, dtype):
    tm = getattr(tnn, name)(*args).to(getattr(torch, dtype)).eval()
    em = getattr(nn, name)(*args).to(getattr(ember, dtype)).eval()
    if name == "PReLU":
        with torch.no_grad():
            tm.weight.uniform_(0, 0.5)
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    assert list(em.state_dict()) == list(tm.state_dict())
    x = np.random.default_rng(5).uniform(-4, 4, size=(2, 4, 3, 6))
    ex = ember.tensor(x.astype(dtype), requires_grad=True)
    tx = torch.tensor(x.astype(dtype), requires_grad=True)
    eo, to = em(ex), tm(tx)
    tol = max(TOL[dtype], LOOSE.get(name, 0))
    np.testing.assert_allclose(host(eo), to.detach().numpy(), rtol=tol, atol=tol)
    eo.sum().backward()
    to.sum().backward()
    np.testing.assert_allclose(host(ex.grad), tx.grad.numpy(), rtol=tol, atol=tol)
    for (k, p), (_, tp) in zip(em.named_parameters(), tm.named_parameters()):
        np.testing.assert_allclose(host(p.grad), tp.grad.numpy(), rtol=tol, atol=tol, err_msg=k)
    assert repr(em) == repr(tm)


# -- losses -------------------------------------------------------------------------------

def _pm1(rng, *shape):
    return C(rng.choice([-1.0, 1.0], size=shape))


def _ties(rng, n=12):
    """Inputs with exact ties and exact differences of +-0.5 and +-1 against _ties_t."""
    return np.concatenate([rng.normal(size=n), [0.0, 1.0, -1.0, 0.5, -0.5, 2.0, 0.25, 3.0]])


def _ties_t(rng, n=12):
    return np.concatenate([rng.normal(size=n), [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, -0.25, 0.0]])


def _labels(rng, n, c):
    t = rng.integers(0, c, size=n)
    return t


def _multilabel(rng, n, c):
    t = np.full((n, c), -1, dtype=np.int64)
    for i in range(n):
        k = rng.integers(0, c + 1)
        t[i, :k] = rng.permutation(c)[:k]
        if k < c - 1:
            t[i, k + 1] = rng.integers(0, c)  # after the first -1: not read
    return t


def _ctc_args(rng, concat=False, lengths_as="tensor", impossible=False):
    T, N, Cc, S = 10, 3, 5, 4
    lp = rng.normal(size=(T, N, Cc))
    tl = np.array([4, 2, 0])
    il = np.array([10, 3 if impossible else 8, 6])
    tg = rng.integers(1, Cc, size=(N, S))
    tg[0, 1] = tg[0, 2]   # a repeated label needs a blank between
    targets = np.concatenate([tg[b, :tl[b]] for b in range(N)]) if concat else tg
    if impossible:
        tg[1, :2] = [2, 2]
    lens = (tuple(int(v) for v in il), tuple(int(v) for v in tl)) if lengths_as == "tuple" else (il, tl)
    return [G(lp), targets, *lens]


W34 = C(np.random.default_rng(5).uniform(0.1, 2, size=(3, 4)))

LOSSES = [  # name, args builder, kwargs variants, reductions
    ("l1_loss", lambda r: [G(_ties(r)), G(_ties_t(r))], [{}], None),
    ("l1_loss", lambda r: [G(r.normal(size=(3, 4))), G(r.normal(size=(3, 4)))], [{"weight": W34}], None),
    ("mse_loss", lambda r: [G(r.normal(size=(3, 4))), G(r.normal(size=(3, 4)))], [{}, {"weight": W34}], None),
    ("smooth_l1_loss", lambda r: [G(_ties(r)), G(_ties_t(r))], [{}, {"beta": 0.5}, {"beta": 0.0}, {"beta": 2.0}],
     None),
    ("huber_loss", lambda r: [G(_ties(r)), G(_ties_t(r))], [{}, {"delta": 0.5}, {"delta": 2.0}], None),
    ("huber_loss", lambda r: [G(r.normal(size=(3, 4)) * 2), G(r.normal(size=(3, 4)))],
     [{"weight": W34, "delta": 0.8}], None),
    ("binary_cross_entropy", lambda r: [G(r.uniform(0.02, 0.98, size=(4, 3))), G(r.uniform(0, 1, size=(4, 3))),
                                        C(r.uniform(0.5, 2, size=(3,)))], [{}], None),
    ("binary_cross_entropy_with_logits", lambda r: [G(r.normal(size=(4, 3)) * 4), G(r.uniform(0, 1, size=(4, 3)))],
     [{}], None),
    ("binary_cross_entropy_with_logits", lambda r: [G(r.normal(size=(4, 3)) * 4), G(r.uniform(0, 1, size=(4, 3))),
                                                    C(r.uniform(0.5, 2, size=(4, 3)))], [{}], None),
    ("kl_div", lambda r: [G(np.log(r.dirichlet(np.ones(5), size=4))), G(r.dirichlet(np.ones(5), size=4))],
     [{}, {"log_target": False}], ("none", "mean", "sum", "batchmean")),
    ("kl_div", lambda r: [G(np.log(r.dirichlet(np.ones(5), size=4))), G(np.log(r.dirichlet(np.ones(5), size=4)))],
     [{"log_target": True}], ("none", "mean", "sum", "batchmean")),
    ("kl_div", lambda r: [G(r.normal(size=(3, 4))), C(np.array([[0.0, 0.5, 0.5, 0.0]] * 3))], [{}],
     ("none", "sum", "batchmean")),
    ("poisson_nll_loss", lambda r: [G(r.normal(size=(4, 3))), C(r.integers(0, 5, size=(4, 3)).astype(float))],
     [{}, {"full": True}], None),
    ("poisson_nll_loss", lambda r: [G(r.uniform(0.1, 3, size=(4, 3))), G(r.uniform(0, 4, size=(4, 3)))],
     [{"log_input": False}, {"log_input": False, "eps": 0.1}], None),
    ("gaussian_nll_loss", lambda r: [G(r.normal(size=(4, 3))), G(r.normal(size=(4, 3))),
                                     G(np.concatenate([r.uniform(0.1, 2, size=(3, 3)), [[1e-8, 0.0, 3.0]]]))],
     [{}, {"full": True}, {"eps": 0.5}], None),
    ("gaussian_nll_loss", lambda r: [G(r.normal(size=(4, 3))), G(r.normal(size=(4, 3))),
                                     G(r.uniform(0.1, 2, size=(4,)))], [{}], None),
    ("gaussian_nll_loss", lambda r: [G(r.normal(size=(4, 3, 2))), C(r.normal(size=(4, 3, 2))),
                                     G(r.uniform(0.1, 2, size=(4, 1, 2)))], [{}], None),
    ("gaussian_nll_loss", lambda r: [G(r.normal(size=(4, 3))), C(r.normal(size=(4, 3))), 0.7], [{}], None),
    ("margin_ranking_loss", lambda r: [G(_ties(r)), G(_ties_t(r)), _pm1(r, 20)], [{}, {"margin": 0.5}], None),
    ("hinge_embedding_loss", lambda r: [G(_ties(r)), _pm1(r, 20)], [{}, {"margin": 0.5}, {"margin": 2.0}], None),
    ("hinge_embedding_loss", lambda r: [G(r.normal(size=(3, 4))), C(r.choice([-1.0, 1.0, 0.0], size=(3, 4)))],
     [{}], None),
    ("soft_margin_loss", lambda r: [G(r.normal(size=(4, 5)) * 5), _pm1(r, 4, 5)], [{}], None),
    ("multilabel_soft_margin_loss", lambda r: [G(r.normal(size=(4, 5)) * 3), C(r.integers(0, 2, size=(4, 5)))],
     [{}], None),
    ("multilabel_soft_margin_loss", lambda r: [G(r.normal(size=(4, 5)) * 3), G(r.uniform(0, 1, size=(4, 5))),
                                               C(r.uniform(0.5, 2, size=(5,)))], [{}], None),
    ("multilabel_margin_loss", lambda r: [G(np.round(r.normal(size=(6, 5)) * 2) / 2), _multilabel(r, 6, 5)], [{}],
     None),
    ("multilabel_margin_loss", lambda r: [G(r.normal(size=(5,))), np.array([3, 0, -1, 1, 2])], [{}], None),
    ("cosine_embedding_loss", lambda r: [G(r.normal(size=(6, 4))), G(r.normal(size=(6, 4))), _pm1(r, 6)],
     [{}, {"margin": 0.3}, {"margin": -0.5}], None),
    ("cosine_embedding_loss", lambda r: [G(r.normal(size=(4,))), G(r.normal(size=(4,))), C(-1.0)], [{}], None),
    ("multi_margin_loss", lambda r: [G(np.round(r.normal(size=(6, 5)) * 2) / 2), _labels(r, 6, 5)],
     [{}, {"p": 2}, {"margin": 0.5}, {"p": 2, "margin": 2.0}], None),
    ("multi_margin_loss", lambda r: [G(r.normal(size=(6, 5))), _labels(r, 6, 5), 1, 1.0,
                                     C(r.uniform(0.5, 2, size=(5,)))], [{}], None),
    ("multi_margin_loss", lambda r: [G(r.normal(size=(5,))), np.array(2)], [{}], None),
    ("triplet_margin_loss", lambda r: [G(r.normal(size=(5, 4))), G(r.normal(size=(5, 4))), G(r.normal(size=(5, 4)))],
     [{}, {"p": 1}, {"p": 3}, {"swap": True}, {"margin": 2.0, "eps": 1e-3}], None),
    ("triplet_margin_with_distance_loss",
     lambda r: [G(r.normal(size=(5, 4))), G(r.normal(size=(5, 4))), G(r.normal(size=(5, 4)))],
     [{}, {"swap": True, "margin": 0.5}, {"distance_function": lambda a, b: (a - b).abs().sum(-1), "margin": 3.0}],
     None),
    ("cross_entropy", lambda r: [G(r.normal(size=(6, 5))), _labels(r, 6, 5)],
     [{}, {"label_smoothing": 0.2}, {"ignore_index": 2}, {"ignore_index": 1, "label_smoothing": 0.1}], None),
    ("cross_entropy", lambda r: [G(r.normal(size=(6, 5))), _labels(r, 6, 5), C(r.uniform(0.5, 2, size=(5,)))],
     [{}, {"label_smoothing": 0.3}, {"ignore_index": 0, "label_smoothing": 0.3}], None),
    ("cross_entropy", lambda r: [G(r.normal(size=(3, 5, 2, 2))), r.integers(0, 5, size=(3, 2, 2)),
                                 C(r.uniform(0.5, 2, size=(5,)))], [{"ignore_index": 4}], None),
    ("cross_entropy", lambda r: [G(r.normal(size=(6, 5))), G(r.dirichlet(np.ones(5), size=6))],
     [{}, {"label_smoothing": 0.25}], None),
    ("cross_entropy", lambda r: [G(r.normal(size=(6, 5))), G(r.dirichlet(np.ones(5), size=6)),
                                 C(r.uniform(0.5, 2, size=(5,)))], [{}, {"label_smoothing": 0.1}], None),
    ("nll_loss", lambda r: [G(r.normal(size=(6, 5))), _labels(r, 6, 5), C(r.uniform(0.5, 2, size=(5,)))],
     [{}, {"ignore_index": 3}], None),
    ("nll_loss", lambda r: [G(r.normal(size=(2, 4, 3, 2))), r.integers(0, 4, size=(2, 3, 2))],
     [{}, {"ignore_index": 0}], None),
    ("ctc_loss", lambda r: _ctc_args(r), [{}, {"blank": 0}], None),
    ("ctc_loss", lambda r: _ctc_args(r, concat=True, lengths_as="tuple"), [{}], None),
    ("ctc_loss", lambda r: _ctc_args(r, impossible=True), [{"zero_infinity": True}], None),
]


def _loss_params():
    for i, (name, build, variants, reductions) in enumerate(LOSSES):
        for j, kw in enumerate(variants):
            for red in (("none", "mean", "sum") if reductions is None else reductions):
                yield pytest.param(name, build, kw, red, id=f"{name}-{i}.{j}-{red}")


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,build,kw,reduction", list(_loss_params()))
def test_loss_matches_torch(name, build, kw, reduction, dtype):
    compare(name, None, build(np.random.default_rng(11)), dict(kw, reduction=reduction), dtype)


LOSS_MODULES = [  # name, constructor args, inputs builder
    ("SmoothL1Loss", {"beta": 0.5}, lambda r: [G(r.normal(size=(4, 3))), C(r.normal(size=(4, 3)))]),
    ("HuberLoss", {"delta": 0.7, "reduction": "sum"}, lambda r: [G(r.normal(size=(4, 3))), C(r.normal(size=(4, 3)))]),
    ("KLDivLoss", {"reduction": "batchmean", "log_target": True},
     lambda r: [G(r.normal(size=(4, 3))), C(r.normal(size=(4, 3)))]),
    ("PoissonNLLLoss", {"full": True}, lambda r: [G(r.normal(size=(4, 3))), C(r.integers(0, 4, (4, 3)) * 1.0)]),
    ("GaussianNLLLoss", {"full": True}, lambda r: [G(r.normal(size=(4, 3))), C(r.normal(size=(4, 3))),
                                                   G(r.uniform(0.5, 2, size=(4, 3)))]),
    ("MarginRankingLoss", {"margin": 0.2}, lambda r: [G(r.normal(size=6)), G(r.normal(size=6)), _pm1(r, 6)]),
    ("HingeEmbeddingLoss", {"margin": 0.5}, lambda r: [G(r.normal(size=6)), _pm1(r, 6)]),
    ("MultiLabelMarginLoss", {}, lambda r: [G(r.normal(size=(4, 5))), _multilabel(r, 4, 5)]),
    ("SoftMarginLoss", {"reduction": "none"}, lambda r: [G(r.normal(size=6)), _pm1(r, 6)]),
    ("MultiLabelSoftMarginLoss", {"weight": "w5"}, lambda r: [G(r.normal(size=(4, 5))), C(r.integers(0, 2, (4, 5)))]),
    ("CosineEmbeddingLoss", {"margin": 0.1}, lambda r: [G(r.normal(size=(4, 3))), G(r.normal(size=(4, 3))),
                                                        _pm1(r, 4)]),
    ("MultiMarginLoss", {"p": 2, "weight": "w5"}, lambda r: [G(r.normal(size=(4, 5))), _labels(r, 4, 5)]),
    ("TripletMarginLoss", {"swap": True, "p": 1.0}, lambda r: [G(r.normal(size=(4, 3))) for _ in range(3)]),
    ("TripletMarginWithDistanceLoss", {"margin": 0.5}, lambda r: [G(r.normal(size=(4, 3))) for _ in range(3)]),
    ("CTCLoss", {"blank": 4, "zero_infinity": True}, lambda r: [G(r.normal(size=(6, 2, 5))), r.integers(0, 4, (2, 3)),
                                                               np.array([6, 5]), np.array([3, 2])]),
    ("CrossEntropyLoss", {"weight": "w5", "label_smoothing": 0.1, "ignore_index": 1},
     lambda r: [G(r.normal(size=(6, 5))), _labels(r, 6, 5)]),
    ("NLLLoss", {"weight": "w5"}, lambda r: [G(r.normal(size=(6, 5))), _labels(r, 6, 5)]),
    ("L1Loss", {"reduction": "sum"}, lambda r: [G(r.normal(size=6)), C(r.normal(size=6))]),
    ("MSELoss", {}, lambda r: [G(r.normal(size=6)), C(r.normal(size=6))]),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kw,build", LOSS_MODULES, ids=[n for n, _, _ in LOSS_MODULES])
def test_loss_modules_match_torch(name, kw, build, dtype):
    rng = np.random.default_rng(13)
    w = rng.uniform(0.5, 2, size=(5,)).astype(dtype)
    ekw = {k: (ember.tensor(w) if v == "w5" else v) for k, v in kw.items()}
    tkw = {k: (torch.tensor(w) if v == "w5" else v) for k, v in kw.items()}
    em, tm = getattr(nn, name)(**ekw), getattr(tnn, name)(**tkw)
    assert list(em.state_dict()) == list(tm.state_dict())
    em.load_state_dict({k: ember.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    compare(name, None, build(rng), {}, dtype, efn=em, tfn=tm)


def test_legacy_size_average_and_reduce():
    rng = np.random.default_rng(2)
    x, t = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    for sa, rd in ((None, False), (False, None), (True, True), (False, True)):
        with pytest.warns(UserWarning):
            e = F.smooth_l1_loss(ember.tensor(x), ember.tensor(t), size_average=sa, reduce=rd)
        with pytest.warns(UserWarning):
            m = nn.MSELoss(size_average=sa, reduce=rd)
        with pytest.warns(UserWarning):
            tr = TF.smooth_l1_loss(torch.tensor(x), torch.tensor(t), size_average=sa, reduce=rd)
        np.testing.assert_allclose(e.numpy(), tr.numpy(), rtol=1e-12)
        with pytest.warns(UserWarning, match=f"reduction='{m.reduction}'"):
            assert m.reduction == tnn.MSELoss(size_average=sa, reduce=rd).reduction


def test_bad_arguments_raise_clear_errors():
    x = ember.randn(4, 5)
    with pytest.raises(ValueError, match="dimension 1 is size 5"):
        F.glu(x, 1)
    with pytest.raises(ValueError, match="p == 1 and p == 2"):
        F.multi_margin_loss(x, ember.tensor([0, 1, 2, 3]), p=3)
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(x, x, ember.full((4, 5), -1.0))
    with pytest.raises(ValueError, match="incorrect size"):
        F.gaussian_nll_loss(x, x, ember.ones(4, 2))
    with pytest.raises(ValueError, match="batchmean"):
        F.kl_div(x, x, reduction="batch")
    with pytest.raises(ValueError, match="reduction"):
        nn.HuberLoss(reduction="avg")
    with pytest.raises(ValueError, match="blank"):
        F.ctc_loss(ember.randn(5, 2, 3), ember.tensor([[1, 1], [1, 2]]), [5, 5], [2, 2], blank=3)
    with pytest.raises(ValueError, match="at most 5"):
        F.ctc_loss(ember.randn(5, 2, 3), ember.tensor([[1, 1], [1, 2]]), [6, 5], [2, 2])
    with pytest.raises(ValueError, match="channel"):
        F.prelu(x, ember.ones(3))
    with pytest.raises(ValueError, match="lambda"):
        F.softshrink(x, -1.0)
    with pytest.raises(ValueError, match="inconsistent target size"):
        F.multilabel_margin_loss(x, ember.tensor([[0, 1]]))
    with pytest.raises(ValueError, match="same number of dimensions"):
        F.triplet_margin_loss(x, x, ember.randn(5))
    with pytest.raises(ValueError, match="greater than 0"):
        nn.TripletMarginWithDistanceLoss(margin=0.0)
    with pytest.raises(ValueError, match="greater than min_val"):
        nn.Hardtanh(1.0, 1.0)


def test_ctc_unbatched_and_against_logits():
    rng = np.random.default_rng(21)
    logits = rng.normal(size=(7, 4))
    tg = np.array([1, 3, 3])
    for red in ("none", "mean", "sum"):
        ex, tx = ember.tensor(logits, requires_grad=True), torch.tensor(logits, requires_grad=True)
        e = F.ctc_loss(ember.log_softmax(ex, -1), ember.tensor(tg), ember.tensor(7), ember.tensor(3), reduction=red)
        t = TF.ctc_loss(tx.log_softmax(-1), torch.tensor(tg), torch.tensor(7), torch.tensor(3), reduction=red)
        assert tuple(e.shape) == tuple(t.shape)
        np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=1e-10)
        e.sum().backward()
        t.sum().backward()
        np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_impossible_ctc_alignment_is_inf():
    lp = np.log(np.full((2, 1, 3), 1 / 3))
    e = F.ctc_loss(ember.tensor(lp), ember.tensor([[1, 1]]), [2], [2], reduction="none")
    t = TF.ctc_loss(torch.tensor(lp), torch.tensor([[1, 1]]), [2], [2], reduction="none")
    assert np.isinf(e.numpy()).all() and np.isinf(t.numpy()).all()


# -- another device: npy runs everything through the required prims' decompositions ------------

NPY_CASES = [
    ("elu", lambda r: [_x(r)], {"alpha": 0.5}), ("hardswish", lambda r: [_x(r)], {}),
    ("softplus", lambda r: [_x(r)], {"beta": 2.0}), ("logsigmoid", lambda r: [_x(r)], {}),
    ("prelu", lambda r: [G(r.normal(size=(3, 4, 2))), G(r.uniform(0, 1, size=(4,)))], {}),
    ("rrelu", lambda r: [_x(r)], {}),
    ("huber_loss", lambda r: [G(_ties(r)), G(_ties_t(r))], {"delta": 0.5}),
    ("multi_margin_loss", lambda r: [G(r.normal(size=(6, 5))), _labels(r, 6, 5)], {"p": 2}),
    ("multilabel_margin_loss", lambda r: [G(r.normal(size=(6, 5))), _multilabel(r, 6, 5)], {}),
    ("triplet_margin_loss", lambda r: [G(r.normal(size=(5, 4))) for _ in range(3)], {"swap": True}),
    ("kl_div", lambda r: [G(r.normal(size=(3, 4))), G(r.uniform(0.1, 1, size=(3, 4)))], {"reduction": "batchmean"}),
    ("gaussian_nll_loss", lambda r: [G(r.normal(size=(4, 3))), G(r.normal(size=(4, 3))),
                                     G(r.uniform(0.1, 2, size=(4, 1)))], {}),
    ("ctc_loss", lambda r: _ctc_args(r, concat=True), {}),
]


@pytest.mark.parametrize("name,build,kw", NPY_CASES, ids=[c[0] for c in NPY_CASES])
def test_on_the_npy_device(name, build, kw):
    from fixture_plugins import load
    load("npy")
    compare(name, None, build(np.random.default_rng(17)), kw, "float64", device="npy")


@pytest.mark.parametrize("name,build,kw", [c for c in NPY_CASES if c[0] in ("hardswish", "multi_margin_loss",
                                                                              "ctc_loss", "gaussian_nll_loss")],
                         ids=["hardswish", "multi_margin_loss", "gaussian_nll_loss", "ctc_loss"])
def test_on_xla(name, build, kw):
    pytest.importorskip("jax", reason="ember-xla needs jax and jaxlib (pip install jax)")
    pytest.importorskip("ember_xla", reason="ember-xla is not installed (pip install -e backends/xla)")
    compare(name, None, build(np.random.default_rng(17)), kw, "float32", device="xla")
