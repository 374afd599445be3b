"""ember.nn.utils (clipping, parameter vectors), ember.nn.init, Module hooks and containers, and
Bilinear / EmbeddingBag / CosineSimilarity / PairwiseDistance, against torch 2.13 on the same data."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F

torch = pytest.importorskip("torch")
tnn = torch.nn
TF = torch.nn.functional

DT = {"float32": (ember.float32, torch.float32, 2e-5), "float64": (ember.float64, torch.float64, 1e-10)}


def E(a, dt=ember.float64, grad=False, device=None):
    t = ember.tensor(np.asarray(a), dtype=dt, device=device)
    return t.requires_grad_() if grad else t


def Tt(a, dt=torch.float64, grad=False):
    return torch.tensor(np.asarray(a), dtype=dt, requires_grad=grad)


def N(t):
    return None if t is None else (t.detach().cpu().numpy() if hasattr(t, "cpu") else t.detach().numpy())


def close(e, t, tol):
    np.testing.assert_allclose(N(e), N(t), rtol=tol, atol=tol)


# -- nn.utils: clipping ------------------------------------------------------------------------------------
def _grads(rng, shapes, dtypes):
    """Parameters with gradients set (the second one's grad stays None), in ember and torch."""
    ep, tp = [], []
    for k, s in enumerate(shapes):
        v, g = rng.normal(size=s), rng.normal(size=s) * 3
        e, t = E(v, dtypes[0], grad=True), Tt(v, dtypes[1], grad=True)
        if k != 1:
            e.grad, t.grad = E(g, dtypes[0]), Tt(g, dtypes[1])
        ep.append(e)
        tp.append(t)
    return ep, tp


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("norm_type", [2.0, 1, math.inf, 3.0, 0.5, -math.inf, 0])
@pytest.mark.parametrize("max_norm", [0.7, 1e4])
def test_clip_grad_norm_matches_torch(dt, norm_type, max_norm):
    ed, td, tol = DT[dt]
    ep, tp = _grads(np.random.default_rng(0), [(3, 4), (2,), (5,), (2, 2, 2)], (ed, td))
    te = nn.utils.clip_grad_norm_(ep, max_norm, norm_type=norm_type)
    tt = tnn.utils.clip_grad_norm_(tp, max_norm, norm_type=norm_type)
    assert isinstance(te, ember.Tensor) and te.ndim == 0 and te.dtype == ed
    close(te, tt, tol)
    for e, t in zip(ep, tp):
        assert (e.grad is None) == (t.grad is None)
        if e.grad is not None:
            close(e.grad, t.grad, tol)


def test_clip_grad_norm_forms_and_errors():
    rng = np.random.default_rng(1)
    ep, tp = _grads(rng, [(4,), (3,)], (ember.float32, torch.float32))
    close(nn.utils.clip_grad_norm_(ep[0], 0.5), tnn.utils.clip_grad_norm_(tp[0], 0.5), 1e-6)   # one tensor
    close(ep[0].grad, tp[0].grad, 1e-6)
    with pytest.warns(FutureWarning, match="clip_grad_norm_"):
        nn.utils.clip_grad_norm(ep, 1.0)
    assert float(nn.utils.clip_grad_norm_([], 1.0)) == 0.0
    with pytest.warns(UserWarning, match="empty generator"):
        nn.utils.clip_grad_norm_((p for p in []), 1.0)
    ep[0].grad = E([1.0, float("nan"), 0, 0], ember.float32)
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(ep, 1.0, error_if_nonfinite=True)
    assert math.isnan(float(nn.utils.clip_grad_norm_(ep, 1.0)))   # scaled by the nan norm, as torch


def test_clip_grad_value_and_total_norm():
    ep, tp = _grads(np.random.default_rng(2), [(6,), (2,), (2, 3)], (ember.float64, torch.float64))
    assert nn.utils.clip_grad_value_(ep, 0.8) is None
    tnn.utils.clip_grad_value_(tp, 0.8)
    for e, t in zip(ep, tp):
        if t.grad is not None:
            close(e.grad, t.grad, 0)
    grads_e = [p.grad for p in ep if p.grad is not None]
    grads_t = [p.grad for p in tp if p.grad is not None]
    close(nn.utils.get_total_norm(grads_e, 3), tnn.utils.get_total_norm(grads_t, 3), 1e-12)


def test_parameters_to_vector_round_trip():
    rng = np.random.default_rng(3)
    em, tm = nn.Linear(3, 2), tnn.Linear(3, 2)
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    ve, vt = nn.utils.parameters_to_vector(em.parameters()), tnn.utils.parameters_to_vector(tm.parameters())
    close(ve, vt, 0)
    w = rng.normal(size=8)
    (ve * E(w, ember.float32)).sum().backward()
    (vt * Tt(w, torch.float32)).sum().backward()
    close(em.weight.grad, tm.weight.grad, 1e-6)
    new = rng.normal(size=8)
    nn.utils.vector_to_parameters(E(new, ember.float32), em.parameters())
    tnn.utils.vector_to_parameters(Tt(new, torch.float32), tm.parameters())
    close(em.weight, tm.weight, 0)
    close(em.bias, tm.bias, 0)
    with pytest.raises(TypeError, match="expected ember.Tensor"):
        nn.utils.vector_to_parameters([1.0, 2.0], em.parameters())


# -- nn.init -----------------------------------------------------------------------------------------------
def _stat_ok(a, mean, std, n_sigma=5):
    """Sample mean and std within ~n_sigma standard errors of the targets."""
    n = a.size
    assert abs(a.mean() - mean) < n_sigma * std / math.sqrt(n) + 1e-12, (a.mean(), mean)
    assert abs(a.std() - std) < n_sigma * std / math.sqrt(2 * n) + 1e-12, (a.std(), std)


@pytest.mark.parametrize("dt", [ember.float32, ember.float64])
def test_init_distributions(dt):
    I = nn.init
    t = ember.empty((400, 250), dtype=dt)
    fan_in, fan_out = 250, 400
    I.uniform_(t, -0.5, 1.5)
    a = t.numpy()
    assert a.min() >= -0.5 and a.max() < 1.5
    _stat_ok(a, 0.5, 2 / math.sqrt(12))
    _stat_ok(I.normal_(t, 1.0, 2.0).numpy(), 1.0, 2.0)
    b = math.sqrt(6 / (fan_in + fan_out)) * 1.3
    a = I.xavier_uniform_(t, gain=1.3).numpy()
    assert np.abs(a).max() <= b
    _stat_ok(a, 0, b / math.sqrt(3))
    _stat_ok(I.xavier_normal_(t, gain=2.0).numpy(), 0, 2 * math.sqrt(2 / (fan_in + fan_out)))
    for mode, fan in (("fan_in", fan_in), ("fan_out", fan_out)):
        for nl, a_ in (("relu", 0), ("leaky_relu", 0.2), ("tanh", 0), ("selu", 0)):
            std = tnn.init.calculate_gain(nl, a_) / math.sqrt(fan)
            _stat_ok(I.kaiming_normal_(t, a=a_, mode=mode, nonlinearity=nl).numpy(), 0, std)
            x = I.kaiming_uniform_(t, a=a_, mode=mode, nonlinearity=nl).numpy()
            assert np.abs(x).max() <= math.sqrt(3) * std * (1 + 1e-6)
            _stat_ok(x, 0, std)
    assert (I.zeros_(t).numpy() == 0).all() and (I.ones_(t).numpy() == 1).all()
    assert (I.constant_(t, 0.25).numpy() == 0.25).all()


@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (0.5, 1.0, -1.0, 1.5), (0.0, 0.02, -0.04, 0.04),
                                          (1.0, 2.0, 0.0, 10.0)])
def test_trunc_normal_moments(mean, std, a, b):
    t = nn.init.trunc_normal_(ember.empty((300, 300), dtype=ember.float64), mean, std, a, b).numpy()
    assert t.min() >= a and t.max() <= b
    al, be = (a - mean) / std, (b - mean) / std
    pdf = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)   # noqa: E731
    cdf = lambda x: (1 + math.erf(x / math.sqrt(2))) / 2   # noqa: E731
    z = cdf(be) - cdf(al)
    m = mean + (pdf(al) - pdf(be)) / z * std
    var = std ** 2 * (1 + (al * pdf(al) - be * pdf(be)) / z - ((pdf(al) - pdf(be)) / z) ** 2)
    _stat_ok(t, m, math.sqrt(var))
    with pytest.warns(UserWarning, match="more than 2 std"):
        nn.init.trunc_normal_(ember.empty((4,)), mean=10.0, std=1.0, a=-1.0, b=1.0)


def test_eye_and_dirac_exact():
    for shape in ((3, 5), (5, 3), (4, 4)):
        e = nn.init.eye_(ember.empty(shape))
        np.testing.assert_array_equal(e.numpy(), tnn.init.eye_(torch.empty(shape)).numpy())
    for shape, groups in (((6, 4, 3, 3), 2), ((4, 4, 5), 1), ((3, 5, 3), 3), ((2, 2, 3, 3, 3), 1), ((8, 2, 2, 4), 4)):
        e = nn.init.dirac_(ember.empty(shape), groups)
        np.testing.assert_array_equal(e.numpy(), tnn.init.dirac_(torch.empty(shape), groups).numpy())
    x = np.random.default_rng(0).normal(size=(2, 4, 9, 9))
    w = nn.init.dirac_(ember.empty((4, 4, 3, 3), dtype=ember.float64))
    np.testing.assert_allclose(F.conv2d(E(x), w, padding=1).numpy(), x, atol=1e-12)   # identity conv
    with pytest.raises(ValueError, match="2 dimensions"):
        nn.init.eye_(ember.empty((2, 2, 2)))
    with pytest.raises(ValueError, match="3, 4, or 5"):
        nn.init.dirac_(ember.empty((2, 2)))
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.init.dirac_(ember.empty((5, 2, 3)), groups=2)


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (5, 2, 3), (8, 8), (1, 5), (7, 1)])
@pytest.mark.parametrize("dt", [ember.float32, ember.float64])
def test_orthogonal(shape, dt):
    w = nn.init.orthogonal_(ember.empty(shape, dtype=dt), gain=1.5).numpy().reshape(shape[0], -1) / 1.5
    tol = 1e-5 if dt == ember.float32 else 1e-12
    if w.shape[0] >= w.shape[1]:
        np.testing.assert_allclose(w.T @ w, np.eye(w.shape[1]), atol=tol)
    else:
        np.testing.assert_allclose(w @ w.T, np.eye(w.shape[0]), atol=tol)
    with pytest.raises(ValueError, match="2 or more dimensions"):
        nn.init.orthogonal_(ember.empty((4,)))
    assert nn.init.orthogonal_(ember.empty((0, 3))).shape == (0, 3)


def test_orthogonal_is_torchs_q_of_the_same_draw():
    """QR with R's diagonal made positive is unique: same normal matrix in, same matrix out."""
    g = ember.Generator().manual_seed(7)
    drawn = ember.empty((5, 3), dtype=ember.float64).normal_(0, 1, generator=g).numpy()
    w = nn.init.orthogonal_(ember.empty((5, 3), dtype=ember.float64), generator=ember.Generator().manual_seed(7))
    q, r = np.linalg.qr(drawn)
    np.testing.assert_allclose(w.numpy(), q * np.sign(np.diag(r)), atol=1e-12)


def test_sparse_counts_and_generator():
    w = nn.init.sparse_(ember.empty((20, 30), dtype=ember.float64), 0.3, std=0.5)
    zeros = (w.numpy() == 0).sum(0)
    np.testing.assert_array_equal(zeros, [math.ceil(0.3 * 20)] * 30)
    nz = w.numpy()[w.numpy() != 0]
    assert abs(nz.std() - 0.5) < 0.1
    with pytest.raises(ValueError, match="2 dimensions"):
        nn.init.sparse_(ember.empty((2, 3, 4)), 0.1)
    for fn, args in ((nn.init.uniform_, ()), (nn.init.normal_, ()), (nn.init.xavier_uniform_, ()),
                     (nn.init.kaiming_normal_, ()), (nn.init.trunc_normal_, ()), (nn.init.orthogonal_, ()),
                     (nn.init.sparse_, (0.5,))):
        a = fn(ember.empty((6, 5)), *args, generator=ember.Generator().manual_seed(3)).numpy()
        b = fn(ember.empty((6, 5)), *args, generator=ember.Generator().manual_seed(3)).numpy()
        c = fn(ember.empty((6, 5)), *args, generator=ember.Generator().manual_seed(4)).numpy()
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c), fn.__name__


def test_calculate_gain_and_fans_match_torch():
    for nl in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
               "sigmoid", "tanh", "relu", "selu", "leaky_relu"):
        assert nn.init.calculate_gain(nl) == pytest.approx(tnn.init.calculate_gain(nl), rel=1e-15)
    for p in (0, 0.2, 3):
        assert nn.init.calculate_gain("leaky_relu", p) == tnn.init.calculate_gain("leaky_relu", p)
    with pytest.raises(ValueError, match="not a valid number"):
        nn.init.calculate_gain("leaky_relu", True)
    with pytest.raises(ValueError, match="'swish'"):
        nn.init.calculate_gain("swish")
    for shape in ((3, 4), (5, 2, 3), (6, 4, 3, 2), (2, 3, 1, 2, 2), (0, 3)):
        assert nn.init._calculate_fan_in_and_fan_out(ember.empty(shape)) == \
            tnn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    with pytest.raises(ValueError, match="fewer than 2"):
        nn.init.kaiming_uniform_(ember.empty((5,)))
    with pytest.raises(ValueError, match="fan_avg"):
        nn.init.kaiming_normal_(ember.empty((3, 3)), mode="fan_avg")
    with pytest.warns(UserWarning, match="zero-element"):
        nn.init.kaiming_uniform_(ember.empty((0, 3)))
    with pytest.warns(FutureWarning, match="xavier_uniform_"):
        nn.init.xavier_uniform(ember.empty((3, 3)))


def test_init_keeps_parameter_identity_and_leaves_no_graph():
    lin = nn.Linear(4, 3)
    w = lin.weight
    for fn in (nn.init.orthogonal_, nn.init.trunc_normal_, nn.init.kaiming_uniform_, nn.init.eye_):
        assert fn(lin.weight) is w
        assert w.requires_grad and w.grad_fn is None and w.is_leaf


# -- Module hooks ------------------------------------------------------------------------------------------
def _hooked(lib, log, x_np, y_np, replace=True):
    """A two-output module with every kind of hook, run forward and backward; returns x's gradient."""
    m = lib.nn.Linear(3, 2).double()
    with lib.no_grad():
        m.weight.copy_(lib.tensor(np.arange(6.0).reshape(2, 3) / 7, dtype=lib.float64))
        m.bias.fill_(0.3)

    class Two(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = m

        def forward(self, x, y, scale=1.0):
            return self.lin(x) * y * scale, x.sum()

    mod = Two()
    arr = lambda g: None if g is None else N(g).round(10).tolist()   # noqa: E731
    mod.register_forward_pre_hook(lambda md, a: log.append(("pre", len(a))))
    mod.register_forward_pre_hook(lambda md, a, k: (log.append(("pre_kw", dict(k))), (a, {"scale": 2.0}))[1],
                                  with_kwargs=True)
    mod.register_forward_pre_hook(lambda md, a: log.append(("pre_first",)), prepend=True)
    mod.register_forward_hook(lambda md, a, o: log.append(("fwd", arr(o[1]))))
    mod.register_forward_hook(lambda md, a, k, o: log.append(("fwd_kw", k["scale"])), with_kwargs=True, prepend=True)
    mod.register_full_backward_pre_hook(lambda md, go: log.append(("bw_pre", [arr(g) for g in go])))
    if replace:
        mod.register_full_backward_pre_hook(lambda md, go: (go[0] * 0.5, go[1]))

    def bw(md, gi, go):
        log.append(("bw", [arr(g) for g in gi], [arr(g) for g in go]))
        return (gi[0] * 2, gi[1]) if replace else None
    mod.register_full_backward_hook(bw)
    lin_hook = m.register_full_backward_hook(lambda md, gi, go: log.append(("lin_bw", [arr(g) for g in gi])))
    x = lib.tensor(x_np, dtype=lib.float64, requires_grad=True)
    y = lib.tensor(y_np, dtype=lib.float64)
    a, b = mod(x, y, scale=1.0)
    (a.sum() * 3 + b).backward()
    lin_hook.remove()
    a, b = mod(x, y)
    log.append(("second",))
    a.sum().backward()
    return x.grad


@pytest.mark.parametrize("replace", [True, False])
def test_hooks_call_sequence_and_tensors_match_torch(replace):
    x, y = np.linspace(-1, 1, 6).reshape(2, 3), np.array([[1.0, 2.0], [3.0, 4.0]])
    le, lt = [], []
    ge = _hooked(ember, le, x, y, replace)
    gt = _hooked(torch, lt, x, y, replace)
    assert le == lt
    close(ge, gt, 1e-12)


def test_backward_hooks_with_no_input_requiring_grad():
    out = {}
    for lib in (ember, torch):
        lin = lib.nn.Linear(2, 2).double()
        calls = []
        lin.register_full_backward_hook(lambda md, gi, go: calls.append((gi, N(go[0]))))
        x = lib.ones((1, 2), dtype=lib.float64)
        with pytest.warns(UserWarning, match="no inputs require gradients"):
            lin(x).sum().backward()
        out[lib.__name__] = calls
    (gi_e, go_e), = out["ember"]
    (gi_t, go_t), = out["torch"]
    assert gi_e == gi_t == (None,)
    np.testing.assert_array_equal(go_e, go_t)


def test_hook_order_in_a_sequential_and_removal():
    logs = {}
    for lib in (ember, torch):
        seq = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Tanh(), lib.nn.Linear(4, 1)).double()
        log = []
        hs = []
        for name, m in seq.named_modules():
            hs.append(m.register_forward_pre_hook(lambda md, a, n=name: log.append(("pre", n))))
            hs.append(m.register_forward_hook(lambda md, a, o, n=name: log.append(("fwd", n, tuple(o.shape)))))
            hs.append(m.register_full_backward_pre_hook(lambda md, g, n=name: log.append(("bpre", n))))
            hs.append(m.register_full_backward_hook(lambda md, gi, go, n=name: log.append(("bw", n))))
        seq(lib.ones((2, 3), dtype=lib.float64, requires_grad=True)).sum().backward()
        for h in hs:
            h.remove()
        seq(lib.ones((2, 3), dtype=lib.float64, requires_grad=True)).sum().backward()
        logs[lib.__name__] = log
    assert logs["ember"] == logs["torch"]


def test_always_call_and_pre_hook_result_errors():
    class Boom(nn.Module):
        def forward(self, x):
            raise ValueError("boom")
    m, log = Boom(), []
    m.register_forward_hook(lambda md, a, o: log.append(("always", o)), always_call=True)
    m.register_forward_hook(lambda md, a, o: log.append("never"))
    with pytest.raises(ValueError, match="boom"):
        m(ember.ones(2))
    assert log == [("always", None)]
    m2 = nn.Identity()
    h = m2.register_forward_pre_hook(lambda md, a, k: 5, with_kwargs=True)
    with pytest.raises(RuntimeError, match=r"\(new_args, new_kwargs\)"):
        m2(ember.ones(2))
    h.remove()
    assert not m2._forward_pre_hooks and not m2._forward_pre_hooks_with_kwargs
    with h:   # a handle is a context manager too
        pass


# -- Module API --------------------------------------------------------------------------------------------
def _tree(lib):
    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = lib.nn.Linear(2, 3)
            self.b = lib.nn.Sequential(lib.nn.Linear(3, 3), lib.nn.ReLU())
            self.shared = self.a
            self.register_buffer("stat", lib.zeros(3))
            self.register_buffer("scratch", lib.ones(2), persistent=False)
    return Net()


def test_module_api_matches_torch():
    e, t = _tree(ember), _tree(torch)
    assert list(e.state_dict()) == list(t.state_dict())
    assert "scratch" not in e.state_dict() and [n for n, _ in e.named_buffers()] == ["stat", "scratch"]
    for kw in ({}, {"prefix": "net"}, {"remove_duplicate": False}, {"memo": set(), "prefix": "p"}):
        assert [n for n, _ in e.named_modules(**kw)] == [n for n, _ in t.named_modules(**kw)]
    assert [n for n, _ in e.named_parameters(remove_duplicate=False)] == \
        [n for n, _ in t.named_parameters(remove_duplicate=False)]
    seen = []
    e.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "Linear", "ReLU", "Sequential", "Net"]
    assert e.eval() is e and not any(m.training for m in e.modules())
    e.train()
    assert all(m.training for m in e.modules())
    e.requires_grad_(False)
    assert not any(p.requires_grad for p in e.parameters())
    e.requires_grad_(True)
    out = e.b(e.a(ember.ones((1, 2))))
    out.sum().backward()
    assert e.a.weight.grad is not None
    e.zero_grad(set_to_none=False)
    assert (e.a.weight.grad.numpy() == 0).all()
    e.zero_grad()
    assert e.a.weight.grad is None
    assert e.get_submodule("b.0") is e.b[0] and e.get_submodule("") is e
    assert e.get_parameter("b.0.bias") is e.b[0].bias and e.get_buffer("stat") is e.stat
    with pytest.raises(AttributeError, match="has no attribute `zz`"):
        e.get_submodule("b.zz")
    with pytest.raises(AttributeError, match="is not an nn.Module"):
        e.get_submodule("a.weight")
    with pytest.raises(AttributeError, match="is not an nn.Parameter"):
        e.get_parameter("stat")
    with pytest.raises(AttributeError, match="is not a buffer"):
        e.get_buffer("a.weight")


def test_parameter_list_and_dict_match_torch():
    rng = np.random.default_rng(5)
    vals = [rng.normal(size=s) for s in ((2,), (3, 2), (1,))]
    pe = nn.ParameterList([ember.tensor(v) for v in vals[:2]])
    pt = tnn.ParameterList([torch.tensor(v) for v in vals[:2]])
    pe.append(ember.tensor(vals[2]))
    pt.append(torch.tensor(vals[2]))
    pe += [nn.Parameter(ember.zeros(1))]
    pt += [tnn.Parameter(torch.zeros(1))]
    assert len(pe) == len(pt) == 4
    assert [n for n, _ in pe.named_parameters()] == [n for n, _ in pt.named_parameters()]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in pe)
    assert pe[-1] is pe[3] and len(pe[1:3]) == 2
    pe[0] = ember.ones(2)
    assert isinstance(pe[0], nn.Parameter) and (pe[0].detach().numpy() == 1).all()
    assert repr(pe).splitlines()[1] == "  (0): Parameter containing: [ember.float32 of size 2]"
    with pytest.raises(IndexError):
        pe[4]
    with pytest.raises(RuntimeError, match="should not be called"):
        pe()
    de = nn.ParameterDict({"w": ember.ones(2), "b": ember.zeros(1)})
    dt = tnn.ParameterDict({"w": torch.ones(2), "b": torch.zeros(1)})
    assert list(de.keys()) == list(dt.keys()) == ["b", "w"]   # a plain dict is taken in key order
    de.update([("z", ember.ones(3)), ("a", ember.ones(1))])
    dt.update([("z", torch.ones(3)), ("a", torch.ones(1))])
    assert list(de) == list(dt) and list(de.state_dict()) == list(dt.state_dict())
    assert de.pop("z").shape == (3,) and "z" not in de and "z" not in de.state_dict()
    assert de.get("nope") is None and de.setdefault("c", ember.ones(1)) is de["c"]
    assert list((de | {"q": ember.ones(1)}).keys())[-1] == "q"
    k, v = de.popitem()
    assert k == "c" and len(de) == 3
    with pytest.raises(TypeError, match="not a string"):
        de[1] = ember.ones(1)
    with pytest.raises(ValueError, match="has length 3"):
        de.update([("a", 1, 2)])
    md = nn.ModuleDict({"z": nn.ReLU(), "a": nn.Tanh()})
    assert list(md.keys()) == list(tnn.ModuleDict({"z": tnn.ReLU(), "a": tnn.Tanh()}).keys())
    md.update(nn.ModuleDict([("q", nn.ReLU())]))
    assert list(md) == ["z", "a", "q"] and isinstance(md.pop("a"), nn.Tanh) and list(md) == ["z", "q"]
    assert [type(v).__name__ for v in md.values()] == ["ReLU", "ReLU"] and [k for k, _ in md.items()] == ["z", "q"]
    with pytest.raises(TypeError, match="iterable of key/value pairs"):
        md.update(5)


# -- Bilinear, EmbeddingBag, CosineSimilarity, PairwiseDistance --------------------------------------------
def _load(em, tm, ed):
    em.load_state_dict({k: ember.tensor(v.detach().numpy(), dtype=ed) for k, v in tm.state_dict().items()})


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("bias", [True, False])
def test_bilinear(dt, bias):
    ed, td, tol = DT[dt]
    rng = np.random.default_rng(6)
    tm = tnn.Bilinear(4, 3, 5, bias=bias).to(td)
    em = nn.Bilinear(4, 3, 5, bias=bias).to(ed)
    assert list(em.state_dict()) == list(tm.state_dict()) and repr(em) == repr(tm)
    _load(em, tm, ed)
    a, b, w = rng.normal(size=(2, 6, 4)), rng.normal(size=(2, 6, 3)), rng.normal(size=(2, 6, 5))
    xe, ye, xt, yt = E(a, ed, True), E(b, ed, True), Tt(a, td, True), Tt(b, td, True)
    oe, ot = em(xe, ye), tm(xt, yt)
    close(oe, ot, tol)
    (oe * E(w, ed)).sum().backward()
    (ot * Tt(w, td)).sum().backward()
    for ge, gt in ((xe.grad, xt.grad), (ye.grad, yt.grad), (em.weight.grad, tm.weight.grad)):
        close(ge, gt, tol * 10)
    if bias:
        close(em.bias.grad, tm.bias.grad, tol * 10)
    with pytest.raises(RuntimeError, match="in1_features=4"):
        em(E(a[..., :3], ed), ye)


BAGS = [  # (input, offsets, include_last_offset)
    ([1, 2, 4, 5, 4, 3, 2, 9], [0, 4], False),
    ([1, 2, 4, 5, 4, 3, 2, 9], [0, 0, 3, 3, 8], True),      # empty bags
    ([1, 2, 4, 5, 4, 3, 2, 9], [0, 2, 2, 5], False),
    ([[1, 2, 0], [4, 0, 9]], None, False),                  # 2-D: fixed length bags
]


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("case", range(len(BAGS)))
@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_bag_matches_torch(dt, mode, case, padding_idx):
    ed, td, tol = DT[dt]
    inp, offs, last = BAGS[case]
    tm = tnn.EmbeddingBag(10, 3, mode=mode, include_last_offset=last, padding_idx=padding_idx).to(td)
    em = nn.EmbeddingBag(10, 3, mode=mode, include_last_offset=last, padding_idx=padding_idx).to(ed)
    assert repr(em) == repr(tm)
    _load(em, tm, ed)
    ie, it = ember.tensor(inp), torch.tensor(inp)
    oe_, ot_ = (None, None) if offs is None else (ember.tensor(offs), torch.tensor(offs))
    psw = None
    if mode == "sum":
        psw = np.random.default_rng(7).normal(size=np.shape(inp))
    oe = em(ie, oe_, None if psw is None else E(psw, ed))
    ot = tm(it, ot_, None if psw is None else Tt(psw, td))
    close(oe, ot, tol)
    w = np.random.default_rng(8).normal(size=tuple(ot.shape))
    (oe * E(w, ed)).sum().backward()
    (ot * Tt(w, td)).sum().backward()
    close(em.weight.grad, tm.weight.grad, tol)


def test_embedding_bag_functional_errors_and_max_norm():
    w = E(np.random.default_rng(9).normal(size=(6, 4)) * 3)
    wt = Tt(N(w))
    idx, offs = [0, 1, 1, 5], [0, 2]
    oe = F.embedding_bag(ember.tensor(idx), w, ember.tensor(offs), max_norm=1.0, mode="sum")
    ot = TF.embedding_bag(torch.tensor(idx), wt, torch.tensor(offs), max_norm=1.0, mode="sum")
    close(oe, ot, 1e-6)
    close(w, wt, 1e-6)   # the looked-up rows were renormalized in place, as torch does
    with pytest.raises(ValueError, match="offsets has to be None"):
        F.embedding_bag(ember.tensor([[0, 1]]), w, ember.tensor([0]))
    with pytest.raises(ValueError, match="offsets has to be a 1D Tensor"):
        F.embedding_bag(ember.tensor([0, 1]), w)
    with pytest.raises(ValueError, match="mode has to be one of"):
        F.embedding_bag(ember.tensor([[0, 1]]), w, mode="median")
    with pytest.raises(NotImplementedError, match="only supported for mode='sum'"):
        F.embedding_bag(ember.tensor([[0, 1]]), w, mode="mean", per_sample_weights=E([[1.0, 2.0]]))
    with pytest.raises(ValueError, match="same shape as the input"):
        F.embedding_bag(ember.tensor([[0, 1]]), w, mode="sum", per_sample_weights=E([1.0, 2.0]))
    with pytest.raises(TypeError, match="int64 or int32"):
        F.embedding_bag(E([[0.0, 1.0]]), w)
    with pytest.raises(ValueError, match="padding_idx"):
        nn.EmbeddingBag(4, 2, padding_idx=4)
    bag = nn.EmbeddingBag.from_pretrained(w, mode="max")
    assert not bag.weight.requires_grad and bag(ember.tensor([[0, 5]])).shape == (1, 4)


@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_cosine_similarity_and_pairwise_distance(dt):
    ed, td, tol = DT[dt]
    rng = np.random.default_rng(10)
    a, b = rng.normal(size=(4, 5, 3)), rng.normal(size=(1, 5, 3))
    a[0, :, 0] = 0     # a zero vector: the eps clamp and the zero-norm gradient
    cases = [(nn.CosineSimilarity(dim=1), tnn.CosineSimilarity(dim=1), a, b),
             (nn.CosineSimilarity(dim=-1, eps=0.5), tnn.CosineSimilarity(dim=-1, eps=0.5), a, b)]
    c, d = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    d[2] = c[2] - 1e-6    # x1 - x2 + eps == 0: a zero distance
    for p in (2.0, 1.0, 3.0, math.inf, 0.5):
        for keepdim in (False, True):
            cases.append((nn.PairwiseDistance(p=p, keepdim=keepdim), tnn.PairwiseDistance(p=p, keepdim=keepdim),
                          c, d))
    cases.append((nn.PairwiseDistance(), tnn.PairwiseDistance(), c[0], d))   # 1-D against 2-D broadcasts
    for em, tm, x, y in cases:
        xe, ye, xt, yt = E(x, ed, True), E(y, ed, True), Tt(x, td, True), Tt(y, td, True)
        oe, ot = em(xe, ye), tm(xt, yt)
        assert tuple(oe.shape) == tuple(ot.shape), (em, tm)
        close(oe, ot, tol)
        w = rng.normal(size=tuple(ot.shape))
        (oe * E(w, ed)).sum().backward()
        (ot * Tt(w, td)).sum().backward()
        close(xe.grad, xt.grad, tol * 10)
        close(ye.grad, yt.grad, tol * 10)


# -- another device: the npy vendor fixture (required prims only, everything else decomposed) -------------
def test_on_the_npy_device():
    sys.path.insert(0, "tests/fixtures/plugins/npy")
    fixture_plugins = pytest.importorskip("fixture_plugins")
    fixture_plugins.load("npy")
    dev = "npy"
    rng = np.random.default_rng(11)
    # clipping
    ps = [E(rng.normal(size=s), ember.float32, True, device=dev) for s in ((3, 4), (5,))]
    tps = [Tt(N(p), torch.float32, True) for p in ps]
    for p, t in zip(ps, tps):
        g = rng.normal(size=tuple(t.shape)) * 2
        p.grad, t.grad = E(g, ember.float32, device=dev), Tt(g, torch.float32)
    for nt in (2.0, math.inf):
        te = nn.utils.clip_grad_norm_(ps, 0.5, norm_type=nt)
        assert te.device.type == dev
        close(te, tnn.utils.clip_grad_norm_(tps, 0.5, norm_type=nt), 1e-5)
    close(ps[0].grad, tps[0].grad, 1e-5)
    close(nn.utils.parameters_to_vector(ps), tnn.utils.parameters_to_vector(tps), 0)
    # init
    w = nn.init.orthogonal_(ember.empty((6, 4), device=dev))
    np.testing.assert_allclose(N(w).T @ N(w), np.eye(4), atol=1e-5)
    np.testing.assert_array_equal(N(nn.init.dirac_(ember.empty((4, 2, 3), device=dev))),
                                  tnn.init.dirac_(torch.empty((4, 2, 3))).numpy())
    assert (N(nn.init.sparse_(ember.empty((10, 4), device=dev), 0.2)) == 0).sum(0).tolist() == [2] * 4
    assert np.abs(N(nn.init.trunc_normal_(ember.empty((50, 50), device=dev), a=-1, b=1))).max() <= 1
    # layers and hooks
    for mode in ("sum", "max"):
        tm = tnn.EmbeddingBag(10, 3, mode=mode, padding_idx=2)
        em = nn.EmbeddingBag(10, 3, mode=mode, padding_idx=2).to(dev)
        em.load_state_dict({k: ember.tensor(v.detach().numpy(), device=dev) for k, v in tm.state_dict().items()})
        inp, offs = [1, 2, 4, 5, 4, 3, 2, 9], [0, 0, 3, 5]
        oe = em(ember.tensor(inp, device=dev), ember.tensor(offs, device=dev))
        ot = tm(torch.tensor(inp), torch.tensor(offs))
        close(oe, ot, 1e-5)
        oe.sum().backward()
        ot.sum().backward()
        close(em.weight.grad, tm.weight.grad, 1e-5)
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    close(F.cosine_similarity(E(x, device=dev), E(y, device=dev)), TF.cosine_similarity(Tt(x), Tt(y)), 1e-12)
    close(F.pairwise_distance(E(x, device=dev), E(y, device=dev)), TF.pairwise_distance(Tt(x), Tt(y)), 1e-12)
    seen = []
    lin = nn.Linear(3, 2).to(dev)
    lin.register_full_backward_hook(lambda md, gi, go: seen.append((gi[0].device.type, go[0].device.type)))
    lin(E(x, ember.float32, True, device=dev)).sum().backward()
    assert seen == [(dev, dev)]


def test_on_the_xla_device():
    pytest.importorskip("jax", reason="the xla backend needs jax")
    pytest.importorskip("ember_xla", reason="ember-xla is not installed")
    dev = "xla"
    p = E(np.ones((3, 4)), ember.float32, True, device=dev)
    p.grad = E(np.arange(12.0).reshape(3, 4), ember.float32, device=dev)
    total = nn.utils.clip_grad_norm_([p], 1.0, norm_type=math.inf)
    assert total.device.type == dev and float(total.cpu()) == 11.0
    np.testing.assert_allclose(N(p.grad), np.arange(12.0).reshape(3, 4) / (11 + 1e-6), rtol=1e-6)
    w = N(nn.init.orthogonal_(ember.empty((5, 3), device=dev)))
    np.testing.assert_allclose(w.T @ w, np.eye(3), atol=1e-5)
    tm = tnn.EmbeddingBag(10, 3, mode="max")
    em = nn.EmbeddingBag(10, 3, mode="max").to(dev)
    em.load_state_dict({k: ember.tensor(v.detach().numpy(), device=dev) for k, v in tm.state_dict().items()})
    oe = em(ember.tensor([1, 2, 4, 5], device=dev), ember.tensor([0, 1], device=dev))
    ot = tm(torch.tensor([1, 2, 4, 5]), torch.tensor([0, 1]))
    close(oe, ot, 1e-6)
    oe.sum().backward()
    ot.sum().backward()
    close(em.weight.grad, tm.weight.grad, 1e-6)


def test_identity_flatten_unflatten_match_torch():
    x = np.arange(48.0).reshape(2, 6, 4)
    for em, tm in ((nn.Identity(5, k=3), tnn.Identity(5, k=3)), (nn.Flatten(), tnn.Flatten()),
                   (nn.Flatten(0, 1), tnn.Flatten(0, 1)), (nn.Unflatten(1, (2, 3)), tnn.Unflatten(1, (2, 3))),
                   (nn.Unflatten(-1, (2, -1)), tnn.Unflatten(-1, (2, -1)))):
        assert repr(em) == repr(tm)
        close(em(E(x)), tm(Tt(x)), 0)
