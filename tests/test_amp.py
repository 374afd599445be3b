"""ember.autocast and ember.amp.GradScaler against torch 2.13."""

from __future__ import annotations

import copy
import threading

import numpy as np
import pytest

import ember
import ember.nn.functional as EF
from ember.amp import tables
from ember.amp.state import S as AMP_STATE
from ember.dispatch.keys import AUTOCAST
from ember.errors import AmpError, InvalidArgumentError

torch = pytest.importorskip("torch")

from amp_samples import SAMPLES, UNLISTED_CPU, Maker  # noqa: E402


def _dtype_name(d) -> str:
    return str(d).rsplit(".", 1)[-1]


def _first(r):
    return r[0] if isinstance(r, (tuple, list)) else r


def _np(t):
    """A result of either library as a float64 (or complex128) numpy array."""
    t = t.detach().resolve_conj() if isinstance(t, torch.Tensor) else t.detach()
    cplx = t.is_complex() if isinstance(t, torch.Tensor) else t.dtype.is_complex
    a = np.asarray(t.numpy() if cplx else t.float().numpy())
    return a.astype(np.complex128 if cplx else np.float64)


def _both(sample, autocast=True, dtype=None):
    """(ember result, torch result) of one sample, each under its library's CPU autocast."""
    out = []
    for L, ac in ((ember, ember.autocast), (torch, torch.autocast)):
        T = Maker(L)
        if autocast:
            with ac("cpu", dtype=dtype):
                out.append(_first(sample(L, T)))
        else:
            out.append(_first(sample(L, T)))
    return out


# -- the operator tables ---------------------------------------------------------------------------------

def test_every_cpu_table_name_has_a_sample():
    assert set(tables.LISTS["cpu"]) <= set(SAMPLES), sorted(set(tables.LISTS["cpu"]) - set(SAMPLES))


@pytest.mark.parametrize("name", sorted(tables.LISTS["cpu"]))
def test_cpu_dtype_and_values_match_torch(name):
    e, t = _both(SAMPLES[name])
    assert e.dtype.name == _dtype_name(t.dtype), f"{name}: ember {e.dtype.name}, torch {t.dtype}"
    assert tuple(e.shape) == tuple(t.shape)
    tol = 3e-2 if e.dtype in (ember.bfloat16, ember.float16) else 2e-3
    np.testing.assert_allclose(_np(e), _np(t), rtol=tol, atol=tol * 2)


@pytest.mark.parametrize("name", sorted(UNLISTED_CPU))
def test_cpu_unlisted_operators_keep_their_dtype_as_torch(name):
    e, t = _both(UNLISTED_CPU[name])
    assert e.dtype.name == _dtype_name(t.dtype)


@pytest.mark.parametrize("name", ["mm", "F.linear", "conv2d", "F.conv_transpose1d"])
def test_cpu_float16_region_matches_torch(name):
    e16, t16 = [], []
    for L, ac, dt in ((ember, ember.autocast, ember.float16), (torch, torch.autocast, torch.float16)):
        with ac("cpu", dtype=dt):
            (e16 if L is ember else t16).append(_first(SAMPLES[name](L, Maker(L))))
    assert e16[0].dtype.name == _dtype_name(t16[0].dtype)


_TORCH_NAME = {"_lstm_cell": "_thnn_fused_lstm_cell", "cross_entropy": "cross_entropy_loss",
               "F.grid_sample": "grid_sampler", "linalg.pinverse": "pinverse"}
#: Listed by Ember though torch registers no kernel for that name: the operator is one piece in Ember and
#: torch reaches the same precision through its parts.
_EMBER_ONLY = {("cuda", "cross_entropy")}


@pytest.mark.parametrize("family,key", [("cpu", "AutocastCPU"), ("cuda", "AutocastCUDA")])
def test_tables_name_operators_torch_registers_for_that_list(family, key):
    C = torch._C
    have = {n.split("::", 1)[1] for n in C._dispatch_get_all_op_names()
            if n.startswith("aten::") and C._dispatch_has_kernel_for_dispatch_key(n, key)}
    bases = {n.split(".", 1)[0] for n in have}
    missing = []
    for name in tables.LISTS[family]:
        base = _TORCH_NAME.get(name) or (name[2:] if name.startswith("F.") else name.replace(".", "_"))
        if base not in bases and (family, name) not in _EMBER_ONLY:
            missing.append(name)
    assert not missing, f"not in torch's {key} registrations: {missing}"


def test_tables_are_data_with_known_policies():
    for family, table in tables.LISTS.items():
        assert set(table.values()) <= set(tables.POLICIES), family
    assert tables.LISTS["cpu"]["mm"] == tables.LOWER and tables.LISTS["cuda"]["softmax"] == tables.FP32_OPT


# -- region behaviour -----------------------------------------------------------------------------------

def _mm():
    return ember.mm(ember.randn(2, 3), ember.randn(3, 2))


def test_state_nesting_and_disabled_inside():
    assert not ember.is_autocast_enabled("cpu") and not AMP_STATE.active
    with ember.autocast("cpu"):
        assert ember.is_autocast_enabled("cpu") and ember.get_autocast_dtype("cpu") is ember.bfloat16
        assert _mm().dtype is ember.bfloat16
        with ember.autocast("cpu", dtype=ember.float16):
            assert ember.get_autocast_dtype("cpu") is ember.float16 and _mm().dtype is ember.float16
            with ember.autocast("cpu", enabled=False):
                assert not ember.is_autocast_enabled("cpu") and _mm().dtype is ember.float32
            assert _mm().dtype is ember.float16
        assert _mm().dtype is ember.bfloat16 and ember.get_autocast_dtype("cpu") is ember.bfloat16
    assert not ember.is_autocast_enabled("cpu") and _mm().dtype is ember.float32
    assert not ember.dispatch.state.included & AUTOCAST.bit


def test_torch_nesting_agrees():
    seq = []
    for L in (ember, torch):
        s = []
        with L.autocast("cpu"):
            s.append(L.is_autocast_enabled("cpu"))
            with L.autocast("cpu", enabled=False):
                s.append(L.is_autocast_enabled("cpu"))
            s.append(L.is_autocast_enabled("cpu"))
        s.append(L.is_autocast_enabled("cpu"))
        s.append(L.is_autocast_enabled())  # no argument: cuda
        seq.append(s)
    assert seq[0] == seq[1]


def test_region_restores_state_when_the_block_raises():
    with pytest.raises(ZeroDivisionError):
        with ember.autocast("cpu"):
            1 / 0
    assert not ember.is_autocast_enabled("cpu") and AMP_STATE.nesting == 0
    assert not ember.dispatch.state.included & AUTOCAST.bit


def test_decorator_and_reentrancy():
    @ember.autocast("cpu")
    def f(depth):
        r = _mm()
        return [r.dtype] + (f(depth - 1) if depth else [])

    assert f(2) == [ember.bfloat16] * 3
    assert not ember.is_autocast_enabled("cpu")


def test_autocast_under_no_grad_and_grad_mode_inside():
    lin = ember.nn.Linear(4, 3)
    x = ember.randn(2, 4)
    with ember.autocast("cpu"):
        with ember.no_grad():
            y = lin(x)
        assert y.dtype is ember.bfloat16 and not y.requires_grad
        assert not AMP_STATE.cache  # a cast made under no_grad is not cached ...
        z = lin(x)  # ... so this one records its graph
    z.float().sum().backward()
    assert lin.weight.grad is not None and lin.weight.grad.dtype is ember.float32


def test_grads_are_float32_and_match_torch():
    rng = np.random.default_rng(1)
    w0, b0, x0 = (rng.standard_normal(s).astype(np.float32) for s in ((3, 5), (3,), (4, 5)))
    grads = []
    for L in (ember, torch):
        w, b = L.tensor(w0, requires_grad=True), L.tensor(b0, requires_grad=True)
        with L.autocast("cpu"):
            y = L.nn.functional.linear(L.tensor(x0), w, b)
            loss = L.nn.functional.mse_loss(y, L.zeros(4, 3))
        assert _dtype_name(y.dtype) == "bfloat16" and _dtype_name(loss.dtype) == "float32"
        loss.backward()
        assert _dtype_name(w.grad.dtype) == "float32" and _dtype_name(b.grad.dtype) == "float32"
        grads.append((_np(w.grad), _np(b.grad)))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=3e-2, atol=3e-2)


def test_weight_cast_cache():
    w = ember.randn(3, 4, requires_grad=True)
    x = ember.randn(2, 4)
    with ember.autocast("cpu"):
        ember.mm(x, w.t())  # w.t() is a view: never cached
        assert not AMP_STATE.cache
        ember.matmul(x, w.t())
        F_out = EF.linear(x, w)
        assert len(AMP_STATE.cache) == 1 and F_out.dtype is ember.bfloat16
        cast = next(iter(AMP_STATE.cache.values()))[1]
        EF.linear(x, w)
        assert next(iter(AMP_STATE.cache.values()))[1] is cast  # reused, not cast again
        with ember.autocast("cpu"):
            EF.linear(x, w)
        assert len(AMP_STATE.cache) == 1  # the inner region's exit keeps the outer region's cache
        EF.linear(x.requires_grad_(), w)  # x is a leaf that requires grad: cached too
        assert len(AMP_STATE.cache) == 2
    assert not AMP_STATE.cache  # the outermost exit clears it
    with ember.autocast("cpu", cache_enabled=False):
        EF.linear(ember.randn(2, 4), w)
        assert not AMP_STATE.cache and not ember.is_autocast_cache_enabled()
    assert ember.is_autocast_cache_enabled()


def test_autocast_is_thread_local():
    seen = []
    with ember.autocast("cpu"):
        t = threading.Thread(target=lambda: seen.append((ember.is_autocast_enabled("cpu"), _mm().dtype)))
        t.start()
        t.join(30)
    assert seen == [(False, ember.float32)]


def test_errors():
    with pytest.raises(InvalidArgumentError, match="declares"):
        ember.autocast("cpu", dtype=ember.float32)
    with pytest.raises(ValueError, match="device_type of type str"):
        ember.autocast(ember.device("cpu"))
    with pytest.raises(InvalidArgumentError, match="no lower-precision"):
        ember.autocast("meta")
    with pytest.raises(RuntimeError):
        ember.autocast("no_such_device")
    assert ember.amp.is_autocast_available("cpu") and not ember.amp.is_autocast_available("meta")
    a, b = ember.randn(2, 2).half(), ember.randn(2, 2).bfloat16()
    with ember.autocast("cpu"), pytest.raises(InvalidArgumentError, match="float16"):
        ember.cat([a, b])
    with torch.autocast("cpu"), pytest.raises(RuntimeError):  # torch refuses the mix likewise
        torch.cat([torch.ones(2).half(), torch.ones(2).bfloat16()])


def test_unavailable_device_type_warns_and_disables():
    if ember.cuda.is_available():
        pytest.skip("a cuda device is present: autocast('cuda') is enabled there")
    with pytest.warns(UserWarning, match="not available"):
        ac = ember.autocast("cuda")
    assert not ac._enabled
    with ac:
        assert not ember.is_autocast_enabled("cuda")


def test_device_modules():
    with pytest.warns(FutureWarning):
        ac = ember.cpu.amp.autocast()
    with ac:
        assert _mm().dtype is ember.bfloat16
    with pytest.warns(FutureWarning):
        s = ember.cpu.amp.GradScaler(init_scale=8.0)
    assert s.get_scale() == 8.0 and ember.amp.autocast is ember.autocast


def test_no_autocast_work_outside_a_region():
    calls = []
    op = ember.dispatch.get("mm")
    entry = op._table[AUTOCAST.index]
    assert entry is not None and op._mask & AUTOCAST.bit
    op._table[AUTOCAST.index] = lambda *a: calls.append(1) or entry(*a)
    try:
        _mm()
        assert not calls
        with ember.autocast("cpu"):
            _mm()
    finally:
        op._table[AUTOCAST.index] = entry
    assert calls == [1]


# -- GradScaler -----------------------------------------------------------------------------------------

def _train(L, steps, inf_at, **scaler_kw):
    """A float16 autocast loop on cpu; the weight's gradient is set to inf at the steps in inf_at."""
    rng = np.random.default_rng(7)
    model = L.nn.Linear(6, 3)
    with L.no_grad():
        model.weight.copy_(L.tensor(rng.standard_normal((3, 6)).astype(np.float32) * 0.3))
        model.bias.copy_(L.tensor(rng.standard_normal(3).astype(np.float32) * 0.1))
    opt = L.optim.SGD(model.parameters(), lr=0.1)
    scaler = L.amp.GradScaler("cpu", **scaler_kw)
    xs = [L.tensor(rng.standard_normal((8, 6)).astype(np.float32)) for _ in range(steps)]
    scales, weights = [], []
    for i, x in enumerate(xs):
        opt.zero_grad()
        with L.autocast("cpu", dtype=L.float16):
            loss = model(x).float().pow(2).mean()
        scaler.scale(loss).backward()
        if i in inf_at:
            with L.no_grad():
                model.weight.grad[0, 0] = float("inf")
        scaler.step(opt)
        scaler.update()
        scales.append(scaler.get_scale())
        weights.append(_np(model.weight).copy())
    return scales, weights, scaler


def test_grad_scaler_loop_matches_torch():
    kw = dict(init_scale=2.0 ** 10, growth_interval=3)
    es, ew, _ = _train(ember, 9, {4}, **kw)
    ts, tw, _ = _train(torch, 9, {4}, **kw)
    assert es == ts
    assert es[3] == 2.0 ** 11 and es[4] == 2.0 ** 10  # grew after three good steps, backed off after the inf
    np.testing.assert_array_equal(ew[4], ew[3])  # the step with the inf was skipped
    for a, b in zip(ew, tw):
        np.testing.assert_allclose(a, b, rtol=1e-2, atol=1e-3)


def test_grad_scaler_state_dict_round_trip():
    _, _, s = _train(ember, 4, {1}, init_scale=2.0 ** 8, growth_interval=2)
    _, _, t = _train(torch, 4, {1}, init_scale=2.0 ** 8, growth_interval=2)
    assert s.state_dict() == t.state_dict()
    s2 = ember.amp.GradScaler("cpu")
    s2.load_state_dict(s.state_dict())
    assert s2.state_dict() == s.state_dict() and s2.get_scale() == s.get_scale()
    assert ember.amp.GradScaler("cpu", enabled=False).state_dict() == {}
    with pytest.raises(RuntimeError, match="empty"):
        s2.load_state_dict({})


def test_grad_scaler_update_new_scale_and_disabled():
    p = ember.nn.Parameter(ember.ones(2))
    opt = ember.optim.SGD([p], lr=1.0)
    s = ember.amp.GradScaler("cpu", init_scale=4.0)
    s.scale((p * 2).sum()).backward()
    s.step(opt)
    s.update(16.0)
    assert s.get_scale() == 16.0
    np.testing.assert_allclose(p.detach().numpy(), [-1.0, -1.0])  # grad 8 unscaled to 2
    s.scale((p * 1).sum()).backward()
    s.step(opt)
    s.update(ember.tensor(2.0))
    assert s.get_scale() == 2.0
    off = ember.amp.GradScaler("cpu", enabled=False)
    loss = p.sum()
    assert off.scale(loss) is loss and off.get_scale() == 1.0 and not off.is_enabled()


def test_grad_scaler_errors_as_torch():
    def fresh(L):
        p = L.nn.Parameter(L.ones(2))
        return p, L.optim.SGD([p], lr=0.1), L.amp.GradScaler("cpu")

    for L, err in ((ember, AmpError), (torch, (RuntimeError, AssertionError))):
        p, opt, s = fresh(L)
        with pytest.raises(err if L is torch else AssertionError):
            s.step(opt)  # scale() never ran
        s.scale(p.sum()).backward()
        s.unscale_(opt)
        with pytest.raises(RuntimeError, match="already been called"):
            s.unscale_(opt)
        s.step(opt)
        with pytest.raises(RuntimeError, match="after step"):
            s.unscale_(opt)
        with pytest.raises(RuntimeError, match="already been called since the last update"):
            s.step(opt)
        s.update()
        with pytest.raises(RuntimeError, match="Closure"):
            s.step(opt, closure=lambda: None)
    p16 = ember.nn.Parameter(ember.ones(2, dtype=ember.float16))
    s = ember.amp.GradScaler("cpu")
    s.scale(p16.float().sum()).backward()
    with pytest.raises(ValueError, match="FP16"):
        s.unscale_(ember.optim.SGD([p16], lr=0.1))
    assert isinstance(s.scale([p16.sum(), (p16.sum(),)]), list)


def test_grad_scaler_reads_the_host_once_per_step(monkeypatch):
    model = ember.nn.Sequential(ember.nn.Linear(4, 4), ember.nn.Linear(4, 2))
    opt = ember.optim.SGD(model.parameters(), lr=0.1)
    s = ember.amp.GradScaler("cpu")
    s.scale(model(ember.randn(3, 4)).sum()).backward()
    reads = []
    orig = ember.Tensor.item
    monkeypatch.setattr(ember.Tensor, "item", lambda self: reads.append(1) or orig(self))
    s.step(opt)
    s.update()
    assert len(reads) == 1  # four parameters, one read


def test_copy_of_region_is_independent():
    ac = ember.autocast("cpu")
    c = copy.copy(ac)
    with ac:
        with c:
            assert ember.is_autocast_enabled("cpu")
        assert ember.is_autocast_enabled("cpu")
    assert not ember.is_autocast_enabled("cpu")


# -- the list PyTorch's CUDA, XPU, MPS and XLA share, on a backend that follows it -----------------------

def _xla():
    try:
        ok = ember.amp.is_autocast_available("xla") and ember.xla.is_available()
    except Exception:  # noqa: BLE001
        ok = False
    if not ok:
        pytest.skip("the xla backend (jax) is not installed or sees no device")


def test_gpu_list_on_a_backend_that_follows_it():
    _xla()
    a = ember.randn(3, 4, device="xla")
    w = ember.randn(4, 4, device="xla", requires_grad=True)
    with ember.autocast("xla"):
        assert ember.get_autocast_dtype("xla") is ember.bfloat16
        h = ember.mm(a, w)
        assert h.dtype is ember.bfloat16  # lower
        assert h.softmax(1).dtype is ember.float32 and h.sum().dtype is ember.float32  # fp32 with dtype=
        assert h.exp().dtype is ember.float32 and EF.layer_norm(h, (4,)).dtype is ember.float32  # fp32
        assert ember.addcmul(h, a, a).dtype is ember.float32  # promote: float32 wins
        assert ember.addcmul(h, h, h).dtype is ember.bfloat16
        assert ember.cat([h, a]).dtype is ember.float32  # not listed: ordinary promotion
        assert ember.sum(ember.ones(3, dtype=ember.int64, device="xla")).dtype is ember.int64
        with pytest.raises(AmpError, match="binary_cross_entropy_with_logits"):
            EF.binary_cross_entropy(h.sigmoid(), ember.ones(3, 4, device="xla"))
        with ember.autocast("cpu", enabled=False):  # another device type's switch leaves xla's region on
            assert ember.mm(a, w).dtype is ember.bfloat16
    h.float().sum().backward()
    assert w.grad.dtype is ember.float32 and w.grad.device.type == "xla"


def test_a_region_on_one_device_type_leaves_others_alone():
    _xla()
    with ember.autocast("xla"):
        assert _mm().dtype is ember.float32  # cpu tensors: no cpu region
    with ember.autocast("cpu"):
        assert ember.mm(ember.randn(2, 2, device="xla"), ember.randn(2, 2, device="xla")).dtype is ember.float32


def test_train_digits_example_with_amp(capsys, monkeypatch):
    pytest.importorskip("sklearn")
    import os
    monkeypatch.syspath_prepend(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
    import train_digits
    acc = train_digits.main(["--device", "cpu", "--epochs", "1", "--no-progress", "--amp"])
    assert "autocast('cpu') in ember.bfloat16" in capsys.readouterr().out
    assert acc > 0.85 and not ember.is_autocast_enabled("cpu")


def test_custom_fwd_bwd_as_torch():
    got = []
    for L in (ember, torch):
        class Mul(L.autograd.Function):
            @staticmethod
            @L.amp.custom_fwd(device_type="cpu", cast_inputs=L.float32)
            def forward(ctx, a, b):
                ctx.save_for_backward(a, b)
                return L.mm(a, b)  # autocast is off in here: float32 in, float32 out

            @staticmethod
            @L.amp.custom_bwd(device_type="cpu")
            def backward(ctx, g):
                a, b = ctx.saved_tensors
                return g.mm(b.t()), a.t().mm(g)

        class Plain(L.autograd.Function):
            @staticmethod
            @L.amp.custom_fwd(device_type="cpu")
            def forward(ctx, a):
                return L.mm(a, a)  # autocast stays on

            @staticmethod
            @L.amp.custom_bwd(device_type="cpu")
            def backward(ctx, g):
                return g

        a = L.ones(2, 2, requires_grad=True)
        with L.autocast("cpu"):
            y = Mul.apply(a.bfloat16(), L.ones(2, 2))
            z = Plain.apply(L.ones(2, 2))
        y.sum().backward()
        got.append((_dtype_name(y.dtype), _dtype_name(z.dtype), _dtype_name(a.grad.dtype)))
    assert got[0] == got[1] == ("float32", "bfloat16", "float32")
