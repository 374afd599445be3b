"""Instance/3-D batch/local-response/RMS norm, channel and alpha dropout, and parametrizations (weight and
spectral norm, old and new APIs) against torch: values, gradients, running stats and state-dict names."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.nn.utils import parametrize

torch = pytest.importorskip("torch")
tnn, TF = torch.nn, torch.nn.functional

DTYPES = ("float32", "float64")
TOL = {"float32": 2e-5, "float64": 1e-10}
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def close(e, t, dtype):
    t = t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)
    np.testing.assert_allclose(e.detach().numpy(), t, rtol=TOL[dtype], atol=TOL[dtype])


def pair(x, dtype):
    a = np.asarray(x, dtype=dtype)
    return ember.tensor(a).requires_grad_(), torch.tensor(a, requires_grad=True)


def load_torch_state(em, tm):
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})


def run_both(em, tm, shape, dtype, steps=2, seed=0):
    """Forward/backward ``steps`` times in train mode then once in eval; compare everything on the way."""
    r = np.random.default_rng(seed)
    em.to(getattr(ember, dtype))
    tm.to(getattr(torch, dtype))
    assert list(em.state_dict()) == list(tm.state_dict())
    load_torch_state(em, tm)
    for mode in [True] * steps + [False]:
        em.train(mode)
        tm.train(mode)
        ex, tx = pair(r.normal(1.0, 2.0, size=shape), dtype)
        eo, to = em(ex), tm(tx)
        close(eo, to, dtype)
        w = r.normal(size=tuple(to.shape)).astype(dtype)
        (eo * ember.tensor(w)).sum().backward()
        (to * torch.tensor(w)).sum().backward()
        close(ex.grad, tx.grad, dtype)
        for (n1, p1), (n2, p2) in zip(em.named_parameters(), tm.named_parameters()):
            assert n1 == n2
            close(p1.grad, p2.grad, dtype)
            p1.grad, p2.grad = None, None
        for k, v in tm.state_dict().items():
            close(em.state_dict()[k], v, dtype)


NORMS = {
    "InstanceNorm1d": (lambda m: m.InstanceNorm1d(4), (3, 4, 7)),
    "InstanceNorm1d_unbatched_affine": (lambda m: m.InstanceNorm1d(4, affine=True), (4, 7)),
    "InstanceNorm2d_stats": (lambda m: m.InstanceNorm2d(3, affine=True, track_running_stats=True, momentum=0.3),
                             (2, 3, 5, 4)),
    "InstanceNorm2d_cumulative": (lambda m: m.InstanceNorm2d(3, track_running_stats=True, momentum=None),
                                  (2, 3, 5, 4)),
    "InstanceNorm2d_unbatched_stats": (lambda m: m.InstanceNorm2d(3, track_running_stats=True), (3, 4, 4)),
    "InstanceNorm3d": (lambda m: m.InstanceNorm3d(2, affine=True, eps=1e-3), (2, 2, 3, 4, 3)),
    "InstanceNorm3d_unbatched_stats": (lambda m: m.InstanceNorm3d(2, track_running_stats=True), (2, 3, 3, 2)),
    "BatchNorm3d": (lambda m: m.BatchNorm3d(3), (2, 3, 2, 3, 4)),
    "BatchNorm3d_cumulative": (lambda m: m.BatchNorm3d(3, momentum=None), (2, 3, 2, 3, 4)),
    "BatchNorm3d_no_stats": (lambda m: m.BatchNorm3d(3, affine=False, track_running_stats=False), (2, 3, 2, 2, 2)),
    "BatchNorm1d_cumulative": (lambda m: m.BatchNorm1d(4, momentum=None), (6, 4)),
    "BatchNorm2d_cumulative": (lambda m: m.BatchNorm2d(4, momentum=None), (3, 4, 2, 3)),
    "LocalResponseNorm_3d": (lambda m: m.LocalResponseNorm(3), (2, 6, 5)),
    "LocalResponseNorm_4d": (lambda m: m.LocalResponseNorm(2, alpha=1e-2, beta=0.5, k=2.0), (2, 5, 3, 4)),
    "LocalResponseNorm_5d_wide": (lambda m: m.LocalResponseNorm(7, alpha=0.1), (2, 4, 2, 3, 2)),
    "RMSNorm": (lambda m: m.RMSNorm(6), (3, 4, 6)),
    "RMSNorm_2d_eps": (lambda m: m.RMSNorm((4, 6), eps=1e-3), (3, 4, 6)),
    "RMSNorm_no_affine": (lambda m: m.RMSNorm([6], elementwise_affine=False), (5, 6)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(NORMS))
def test_norm_layers_match_torch(name, dtype):
    build, shape = NORMS[name]
    run_both(build(nn), build(tnn), shape, dtype, steps=3)


def test_num_batches_tracked_and_cumulative_average():
    em, tm = nn.BatchNorm2d(2, momentum=None), tnn.BatchNorm2d(2, momentum=None)
    r = np.random.default_rng(1)
    for _ in range(4):
        x = r.normal(size=(3, 2, 2, 2)).astype(np.float32)
        em(ember.tensor(x)), tm(torch.tensor(x))
    assert int(em.num_batches_tracked.item()) == 4 and em.num_batches_tracked.dtype == ember.int64
    close(em.running_mean, tm.running_mean, "float32")
    close(em.running_var, tm.running_var, "float32")
    inorm = nn.InstanceNorm1d(2, track_running_stats=True)
    inorm(ember.randn(2, 2, 5))
    assert int(inorm.num_batches_tracked.item()) == 0  # instance norm leaves it alone, as PyTorch


@pytest.mark.parametrize("dtype", DTYPES)
def test_functional_norms(dtype):
    r = np.random.default_rng(2)
    x = r.normal(size=(2, 3, 4, 5))
    ex, tx = pair(x, dtype)
    erm, trm = ember.tensor(np.zeros(3, dtype)), torch.zeros(3, dtype=getattr(torch, dtype))
    erv, trv = ember.tensor(np.ones(3, dtype)), torch.ones(3, dtype=getattr(torch, dtype))
    ew, tw = pair(r.normal(size=3), dtype)
    outs = [(F.instance_norm(ex, erm, erv, ew, None, True, 0.2), TF.instance_norm(tx, trm, trv, tw, None, True, 0.2)),
            (F.instance_norm(ex, erm, erv, use_input_stats=False), TF.instance_norm(tx, trm, trv,
                                                                                   use_input_stats=False)),
            (F.rms_norm(ex, (5,)), TF.rms_norm(tx, (5,))), (F.rms_norm(ex, [4, 5], eps=0.1), TF.rms_norm(tx, [4, 5],
                                                                                                       eps=0.1)),
            (F.local_response_norm(ex, 4, k=0.5), TF.local_response_norm(tx, 4, k=0.5)),
            (F.batch_norm(ex, None, None, training=True), TF.batch_norm(tx, None, None, training=True)),
            (F.layer_norm(ex, (5,)), TF.layer_norm(tx, (5,))), (F.group_norm(ex, 3), TF.group_norm(tx, 3))]
    for e, t in outs:
        close(e, t, dtype)
    close(erm, trm, dtype)
    close(erv, trv, dtype)
    sum(e.sin().sum() for e, _ in outs).backward()
    sum(t.sin().sum() for _, t in outs).backward()
    close(ex.grad, tx.grad, dtype)
    close(ew.grad, tw.grad, dtype)


def test_norm_errors():
    with pytest.raises(ember.ShapeError, match="InstanceNorm2d.*3-D.*4-D.*got shape"):
        nn.InstanceNorm2d(3)(ember.randn(2, 3))
    with pytest.raises(ember.ShapeError, match="num_features"):
        nn.InstanceNorm1d(3, affine=True)(ember.randn(2, 4, 5))
    with pytest.raises(ValueError, match="spatial element"):
        F.instance_norm(ember.randn(2, 3, 1))
    with pytest.raises(ember.ShapeError, match="BatchNorm3d.*5-D"):
        nn.BatchNorm3d(3)(ember.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match="3D or higher"):
        F.local_response_norm(ember.randn(2, 3), 2)
    with pytest.raises(ember.ShapeError, match="normalized_shape"):
        F.rms_norm(ember.randn(2, 3), (4,))
    assert [k for k, _ in nn.RMSNorm(3).named_parameters()] == ["weight"]


# -- dropout ----------------------------------------------------------------------------------------

CHANNEL = [(F.dropout1d, TF.dropout1d, (16, 32, 5)), (F.dropout1d, TF.dropout1d, (32, 5)),
           (F.dropout2d, TF.dropout2d, (16, 32, 3, 2)), (F.dropout3d, TF.dropout3d, (8, 32, 2, 2, 2)),
           (F.dropout3d, TF.dropout3d, (64, 2, 3, 2))]


@pytest.mark.parametrize("fn,tfn,shape", CHANNEL, ids=lambda v: getattr(v, "__name__", str(v)))
def test_channel_dropout(fn, tfn, shape):
    ember.manual_seed(3)
    x = ember.tensor(np.random.default_rng(0).uniform(1, 2, size=shape).astype(np.float32)).requires_grad_()
    p = 0.3
    out = fn(x, p)
    nc = shape[:2] if len(shape) == {F.dropout1d: 3, F.dropout2d: 4, F.dropout3d: 5}[fn] else (1, shape[0])
    per_channel, xs = (t.detach().numpy().reshape(nc + (-1,)) for t in (out, x))
    dropped = (per_channel == 0).all(-1)
    kept = np.isclose(per_channel, xs / (1 - p), rtol=1e-6).all(-1)
    assert (dropped | kept).all()              # whole channels, never single elements
    assert abs(dropped.mean() - p) < 0.12
    out.sum().backward()
    g = x.grad.numpy().reshape(per_channel.shape)
    np.testing.assert_allclose(g, np.where(dropped[..., None], 0.0, 1 / (1 - p)) * np.ones_like(g), rtol=1e-6)
    a = np.ones(shape, np.float32)
    for pp in (0.0, 1.0):  # the edge cases, element for element as torch
        np.testing.assert_array_equal(fn(ember.tensor(a), pp).numpy(), tfn(torch.tensor(a), pp).numpy())
    np.testing.assert_array_equal(fn(ember.tensor(a), 0.5, training=False).numpy(), a)


def test_dropout_modules_and_reproducibility():
    x = ember.randn(4, 6, 3, 3)
    for cls, tcls in ((nn.Dropout1d, tnn.Dropout1d), (nn.Dropout2d, tnn.Dropout2d), (nn.Dropout3d, tnn.Dropout3d),
                      (nn.AlphaDropout, tnn.AlphaDropout), (nn.FeatureAlphaDropout, tnn.FeatureAlphaDropout)):
        m = cls(0.4)
        assert repr(m) == repr(tcls(0.4))
        x5 = ember.randn(2, 6, 3, 3, 2) if cls is nn.Dropout3d else (x[:, :, 0] if cls is nn.Dropout1d else x)
        m.eval()
        np.testing.assert_array_equal(m(x5).numpy(), x5.numpy())
        m.train()
        ember.manual_seed(7)
        a = m(x5).numpy()
        ember.manual_seed(7)
        np.testing.assert_array_equal(m(x5).numpy(), a)
        with pytest.raises(ValueError, match="between 0 and 1"):
            cls(1.5)


def test_alpha_dropout_keeps_moments():
    ember.manual_seed(0)
    x = ember.randn(200, 500, dtype=ember.float64)
    p, alpha = 0.2, 1.7580993408473766
    a = 1.0 / np.sqrt((alpha * alpha * p + 1) * (1 - p))
    out = F.alpha_dropout(x, p, training=True).numpy()
    assert abs(out.mean()) < 0.02 and abs(out.std() - 1.0) < 0.02
    xs = x.numpy()
    is_kept = np.isclose(out, xs * a + alpha * a * p)
    is_dropped = np.isclose(out, -alpha * a * (1 - p))
    assert (is_kept | is_dropped).all() and abs(is_dropped.mean() - p) < 0.01
    assert F.alpha_dropout(x, 0.5) is x  # training defaults to False, as PyTorch
    f = F.feature_alpha_dropout(ember.randn(50, 40, 6, dtype=ember.float64), p, training=True).numpy()
    assert (np.ptp(f, -1)[np.isclose(f[..., 0], -alpha * a * (1 - p))] == 0).all()  # dropped whole channels
    ones = np.ones((3, 4, 5))
    for fn, tfn in ((F.alpha_dropout, TF.alpha_dropout), (F.feature_alpha_dropout, TF.feature_alpha_dropout)):
        for pp in (0.0, 1.0):
            np.testing.assert_array_equal(fn(ember.tensor(ones), pp, True).numpy(),
                                          tfn(torch.tensor(ones), pp, True).numpy())


def test_dropout_errors_and_warnings():
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input"):
        F.dropout1d(ember.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout2d(ember.randn(2, 3, 4, 5), -0.1)
    with pytest.warns(UserWarning, match="3-D input"):
        F.dropout2d(ember.randn(2, 3, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.dropout2d(ember.randn(2, 3, 4, 4))


# -- parametrizations -------------------------------------------------------------------------------

def scale(lib):
    """A parametrization for either library: X * 2, inverted by X / 2."""
    class Scale(lib.nn.Module):
        def forward(self, X):
            return X * 2

        def right_inverse(self, X):
            return X / 2
    return Scale()


def symmetric(lib):
    class Symmetric(lib.nn.Module):
        def forward(self, X):
            return X.triu() + X.triu(1).transpose(0, 1)
    return Symmetric()


def test_register_parametrization_matches_torch():
    em, tm = nn.Linear(4, 4).double(), tnn.Linear(4, 4).double()
    load_torch_state(em, tm)
    for m, lib in ((em, ember), (tm, torch)):
        lib.nn.utils.parametrize.register_parametrization(m, "weight", symmetric(lib))
        lib.nn.utils.parametrize.register_parametrization(m, "weight", scale(lib))
    assert list(em.state_dict()) == list(tm.state_dict())
    assert type(em).__name__ == "ParametrizedLinear" and parametrize.type_before_parametrizations(em) is nn.Linear
    assert parametrize.is_parametrized(em) and parametrize.is_parametrized(em, "weight")
    assert not parametrize.is_parametrized(em, "bias")
    close(em.weight, tm.weight, "float64")
    x = np.random.default_rng(4).normal(size=(3, 4))
    ex, tx = pair(x, "float64")
    em(ex).sin().sum().backward()
    tm(tx).sin().sum().backward()
    close(em.parametrizations.weight.original.grad, tm.parametrizations.weight.original.grad, "float64")
    close(ex.grad, tx.grad, "float64")
    with parametrize.cached():
        assert em.weight is em.weight
    assert em.weight is not em.weight


def test_right_inverse_assignment_and_remove():
    em, tm = nn.Linear(3, 2), tnn.Linear(3, 2)
    load_torch_state(em, tm)
    for m, lib in ((em, ember), (tm, torch)):
        lib.nn.utils.parametrize.register_parametrization(m, "weight", scale(lib))
    orig = em.parametrizations.weight.original
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    em.weight = ember.tensor(w)
    tm.weight = torch.tensor(w)
    assert em.parametrizations.weight.original is orig  # assigned in place: optimizers keep their tensor
    close(orig, tm.parametrizations.weight.original, "float32")
    parametrize.remove_parametrizations(em, "weight")
    torch.nn.utils.parametrize.remove_parametrizations(tm, "weight")
    assert type(em) is nn.Linear and list(em.state_dict()) == list(tm.state_dict()) == ["bias", "weight"]
    assert isinstance(em.weight, nn.Parameter)
    close(em.weight, tm.weight, "float32")
    with pytest.raises(ValueError, match="does not have a parametrization on weight"):
        parametrize.remove_parametrizations(em, "weight")
    parametrize.register_parametrization(em, "weight", scale(ember))
    parametrize.remove_parametrizations(em, "weight", leave_parametrized=False)
    close(em.weight, w / 2, "float32")  # the original, right_inverse's image of w


def test_parametrization_errors():
    class Shrink(nn.Module):
        def forward(self, X):
            return X[:1]
    with pytest.raises(ValueError, match="may not change the shape"):
        parametrize.register_parametrization(nn.Linear(3, 2), "weight", Shrink())
    with pytest.raises(ValueError, match="no parameter or buffer"):
        nn.utils.parametrizations.weight_norm(nn.Linear(3, 2), "nope")
    with pytest.raises(ValueError, match="n_power_iterations"):
        nn.utils.parametrizations.spectral_norm(nn.Linear(3, 2), n_power_iterations=0)


MODULES = [("Linear", lambda m: m.Linear(5, 3), (4, 5)), ("Conv2d", lambda m: m.Conv2d(2, 3, 3), (2, 2, 5, 5)),
           ("ConvTranspose2d", lambda m: m.ConvTranspose2d(3, 2, 3), (2, 3, 4, 4))]
REPARAM = {
    "weight_norm": lambda lib, m: lib.nn.utils.parametrizations.weight_norm(m),
    "weight_norm_dim1": lambda lib, m: lib.nn.utils.parametrizations.weight_norm(m, dim=1),
    "weight_norm_whole": lambda lib, m: lib.nn.utils.parametrizations.weight_norm(m, dim=None),
    "spectral_norm": lambda lib, m: lib.nn.utils.parametrizations.spectral_norm(m),
    "spectral_norm_3it": lambda lib, m: lib.nn.utils.parametrizations.spectral_norm(m, n_power_iterations=3),
    "old_weight_norm": lambda lib, m: lib.nn.utils.weight_norm(m),
    "old_weight_norm_whole": lambda lib, m: lib.nn.utils.weight_norm(m, dim=None),
    "old_spectral_norm": lambda lib, m: lib.nn.utils.spectral_norm(m),
    "old_spectral_norm_2it": lambda lib, m: lib.nn.utils.spectral_norm(m, n_power_iterations=2, eps=1e-6),
}


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rep", sorted(REPARAM))
@pytest.mark.parametrize("mod,build,shape", MODULES, ids=[m[0] for m in MODULES])
def test_weight_and_spectral_norm_match_torch(mod, build, shape, rep, dtype):
    if not hasattr(nn, mod):
        pytest.skip(f"nn.{mod} is not in this build")
    em, tm = REPARAM[rep](ember, build(nn)), REPARAM[rep](torch, build(tnn))
    run_both(em, tm, shape, dtype, steps=2)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_remove_weight_and_spectral_norm():
    r = np.random.default_rng(5)
    x = r.normal(size=(2, 5)).astype(np.float32)
    for apply, remove in (("weight_norm", "remove_weight_norm"), ("spectral_norm", "remove_spectral_norm")):
        em, tm = getattr(nn.utils, apply)(nn.Linear(5, 3)), getattr(tnn.utils, apply)(tnn.Linear(5, 3))
        load_torch_state(em, tm)
        em(ember.tensor(x)), tm(torch.tensor(x))
        getattr(nn.utils, remove)(em)
        getattr(tnn.utils, remove)(tm)
        assert list(em.state_dict()) == list(tm.state_dict())
        close(em.weight, tm.weight, "float32")
        with pytest.raises(ValueError, match="not found"):
            getattr(nn.utils, remove)(em)
    em = nn.utils.parametrizations.weight_norm(nn.Linear(5, 3))
    w = em.weight.detach().numpy()
    parametrize.remove_parametrizations(em, "weight")
    assert list(em.state_dict()) == ["bias", "weight"]
    np.testing.assert_allclose(em.weight.detach().numpy(), w, rtol=1e-6)


# -- another device ------------------------------------------------------------------------------

def test_on_the_npy_device():
    from fixture_plugins import load
    load("npy")
    r = np.random.default_rng(6)
    x = r.normal(size=(2, 4, 3, 3))
    cases = [lambda: nn.InstanceNorm2d(4, affine=True, track_running_stats=True), lambda: nn.RMSNorm(3),
             lambda: nn.LocalResponseNorm(3), lambda: nn.BatchNorm3d(4, momentum=None),
             lambda: nn.utils.parametrizations.spectral_norm(nn.Conv2d(4, 2, 2)),
             lambda: nn.utils.weight_norm(nn.Conv2d(4, 2, 2))]
    for build in cases:
        m = build().double()
        xin = x[..., None] if isinstance(m, nn.BatchNorm3d) else x
        m2 = build().double()
        m2.load_state_dict(m.state_dict())
        m2.to("npy")
        a, b = ember.tensor(xin).requires_grad_(), ember.tensor(xin, device="npy").requires_grad_()
        oa, ob = m(a), m2(b)
        assert ob.device.type == "npy"
        np.testing.assert_allclose(ob.detach().to("cpu").numpy(), oa.detach().numpy(), rtol=1e-10, atol=1e-10)
        oa.sin().sum().backward()
        ob.sin().sum().backward()
        np.testing.assert_allclose(b.grad.to("cpu").numpy(), a.grad.numpy(), rtol=1e-10, atol=1e-10)
        for k, v in m.state_dict().items():
            np.testing.assert_allclose(m2.state_dict()[k].to("cpu").numpy(), v.numpy(), rtol=1e-10, atol=1e-10)
    ember.manual_seed(0)
    d = F.dropout2d(ember.ones(8, 16, 2, 2, device="npy"), 0.5)
    assert d.device.type == "npy" and set(np.unique(d.to("cpu").numpy())) <= {0.0, 2.0}


# -- the examples ---------------------------------------------------------------------------------

def _run_example(name, *args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "examples"),
                                                       os.environ.get("PYTHONPATH", "")]))
    res = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name), "--device", "cpu", *args],
                         capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def test_style_transfer_example_learns():
    out = _run_example("style_transfer.py", "--steps", "24", "--batch-size", "4", "--width", "8",
                       "--print-every", "4")
    losses = [float(v) for v in re.findall(r"loss (\d+\.\d+)", out)]
    assert len(losses) >= 5 and losses[-1] < 0.6 * losses[0], out


@pytest.mark.skipif(not hasattr(nn, "ConvTranspose2d"), reason="nn.ConvTranspose2d is not in this build")
def test_dcgan_example_learns():
    out = _run_example("dcgan.py", "--steps", "40", "--batch-size", "32", "--print-every", "10")
    d = [float(v) for v in re.findall(r"loss_D (\d+\.\d+)", out)]
    gap = [float(v) for v in re.findall(r"stat_gap (\d+\.\d+)", out)]
    assert len(d) >= 4 and d[-1] < d[0] - 0.2 and gap[-1] < gap[0], out
