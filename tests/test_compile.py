"""ember.compile on cpu: traced graphs replay bitwise like eager (functions, modules, whole train steps),
guards recompile, graph breaks fall back or raise, backends and the lowering hook."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import nn
from ember.compiler import CompileWarning, Graph, GraphBreakError


def _np(t):
    return t.detach().cpu().numpy()


def _mlp():
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


def _cnn():  # bench/train_step.py's digits CNN
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(512, 64), nn.ReLU(), nn.Linear(64, 10))


def _pair(make, seed=0):
    ember.manual_seed(seed)
    a = make()
    ember.manual_seed(seed)
    return a, make()


def _step_fn(model, opt):
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def _entry_states(cf):
    return [e.state for e in cf._entries]


# -- functions -------------------------------------------------------------------------------------

def test_function_matches_eager_bitwise_and_installs_one_graph():
    def f(a, b):
        return (a * 2 + b).relu().sum(0), a - b

    cf = ember.compile(f)
    x, y = ember.randn(5, 3), ember.randn(5, 3)
    for _ in range(4):
        got, want = cf(x, y), f(x, y)
        assert [np.array_equal(_np(g), _np(w)) for g, w in zip(got, want)] == [True, True]
    (g,) = cf.graphs()
    assert isinstance(g, Graph) and g.ops() == ["mul", "add", "relu", "sum", "sub"]
    assert len(g.inputs) == 2 and not g.externals


def test_decorator_forms_and_wrapping():
    @ember.compile
    def f(x):
        """doc of f"""
        return x + 1

    @ember.compile(fullgraph=True, backend="eager")
    def g(x):
        return x * 3

    x = ember.arange(4.0)
    for _ in range(3):
        assert _np(f(x)).tolist() == [1, 2, 3, 4] and _np(g(x)).tolist() == [0, 3, 6, 9]
    assert f.__name__ == "f" and f.__doc__ == "doc of f"
    assert ember.compile(f, disable=True) is f


def test_print_backend_prints_the_graph_and_runs_eagerly(capsys):
    cf = ember.compile(lambda x: x.exp().mul(2), backend="print")
    x = ember.randn(3)
    for _ in range(3):
        out = cf(x)
    text = capsys.readouterr().out
    assert "<lambda>(" in text and "= exp(%0)" in text and "= mul(" in text and "return (" in text
    assert np.array_equal(_np(out), _np(x.exp().mul(2)))


def test_custom_callable_backend_gets_graph_and_example_inputs():
    seen = []

    def backend(graph, example_inputs):
        seen.append((graph, [tuple(t.shape) for t in example_inputs]))
        return graph   # a Graph runs itself

    w = ember.randn(4, 4)
    cf = ember.compile(lambda x: x @ w, backend=backend)
    x = ember.randn(2, 4)
    for _ in range(3):
        assert np.array_equal(_np(cf(x)), _np(x @ w))
    (graph, shapes), = seen
    assert shapes == [(2, 4), (4, 4)] and graph.externals[0].tensor is w


def test_in_place_updates_of_inputs_and_externals_replay():
    acc = ember.zeros(3)

    def f(x):
        x.mul_(2)
        acc.add_(x)
        return x

    cf = ember.compile(f)
    a, b = ember.ones(3), ember.ones(3)
    ref = ember.zeros(3)
    for _ in range(4):
        cf(a)
        b.mul_(2)
        ref.add_(b)
    assert _np(a).tolist() == _np(b).tolist() == [16.0] * 3
    assert np.array_equal(_np(acc), _np(ref))


def test_argument_validation_is_typed():
    with pytest.raises(RuntimeError, match="mode"):
        ember.compile(lambda x: x, mode="fastest")
    with pytest.raises(RuntimeError, match="both"):
        ember.compile(lambda x: x, mode="default", options={})
    with pytest.raises(TypeError, match="callable"):
        ember.compile(3)
    cf = ember.compile(lambda x: x + 1, backend="no-such-backend")
    x = ember.ones(2)
    cf(x)
    with pytest.raises(ValueError, match="unknown backend 'no-such-backend'.*eager"):
        cf(x)


# -- modules and train steps -----------------------------------------------------------------------

@pytest.mark.parametrize("make,shape", [(_mlp, (16, 784)), (_cnn, (8, 1, 8, 8))], ids=["mlp", "cnn"])
def test_module_forward_matches_eager(make, shape):
    ref, mod = _pair(make)
    ref.eval(), mod.eval()
    opt = ember.compile(mod)
    assert opt._orig_mod is mod and isinstance(opt, nn.Module)
    assert all(k.startswith("_orig_mod.") for k in opt.state_dict())
    x = ember.randn(*shape)
    with ember.no_grad():
        for _ in range(3):
            assert np.array_equal(_np(opt(x)), _np(ref(x)))
    assert len(opt._compiled.graphs()) == 1


def test_compiled_forward_then_backward_outside_gives_eager_grads():
    ref, mod = _pair(_mlp)
    opt = ember.compile(mod)
    x = ember.randn(8, 784)
    for _ in range(3):
        for m in (ref, mod):
            m.zero_grad()
        ref(x).square().sum().backward()
        opt(x).square().sum().backward()
        for p, q in zip(ref.parameters(), mod.parameters()):
            assert np.array_equal(_np(p.grad), _np(q.grad))
    assert opt._compiled.graphs()[0].needs_autograd


@pytest.mark.parametrize("make,shape,opt_kw", [
    (_mlp, (128, 784), {"lr": 0.1}),
    (_cnn, (32, 1, 8, 8), {"lr": 0.05, "momentum": 0.9}),
], ids=["mlp-sgd", "cnn-sgd-momentum"])
def test_train_step_parameters_match_eager_bitwise(make, shape, opt_kw):
    (ref, mod) = _pair(make)
    s_ref = _step_fn(ref, ember.optim.SGD(ref.parameters(), **opt_kw))
    s_cmp = ember.compile(_step_fn(mod, ember.optim.SGD(mod.parameters(), **opt_kw)))
    ember.manual_seed(1)
    x, y = ember.randn(*shape), ember.randint(0, 10, (shape[0],))
    for _ in range(6):
        l1, l2 = s_ref(x, y), s_cmp(x, y)
        assert np.array_equal(_np(l1), _np(l2))
    assert _entry_states(s_cmp) == ["ready"]
    g = s_cmp.graphs()[0]
    assert not g.needs_autograd and "mm" in g.ops()
    for (n, p), q in zip(ref.state_dict(keep_vars=True).items(), mod.state_dict(keep_vars=True).values()):
        assert np.array_equal(_np(p), _np(q)), n
    for p, q in zip(ref.parameters(), mod.parameters()):
        assert q.grad is not None and np.array_equal(_np(p.grad), _np(q.grad))


def test_train_step_agrees_with_torch():
    torch = pytest.importorskip("torch")
    ember.manual_seed(0)
    mod = _mlp()
    tmod = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    with torch.no_grad():
        for tp, p in zip(tmod.parameters(), mod.parameters()):
            tp.copy_(torch.from_numpy(_np(p)))
    step = ember.compile(_step_fn(mod, ember.optim.SGD(mod.parameters(), lr=0.1)))
    topt = torch.optim.SGD(tmod.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    xn, yn = rng.standard_normal((128, 784), dtype=np.float32), rng.integers(0, 10, 128)
    x, y = ember.tensor(xn), ember.tensor(yn)
    for _ in range(5):
        loss = step(x, y)
        topt.zero_grad()
        tl = torch.nn.functional.cross_entropy(tmod(torch.from_numpy(xn)), torch.from_numpy(yn))
        tl.backward()
        topt.step()
        np.testing.assert_allclose(_np(loss), tl.item(), rtol=1e-5)
    for tp, p in zip(tmod.parameters(), mod.parameters()):
        np.testing.assert_allclose(_np(p), tp.detach().numpy(), rtol=1e-4, atol=1e-6)


def test_adam_step_reads_its_step_count_so_it_breaks_and_stays_exact():
    ref, mod = _pair(_mlp)
    s_ref = _step_fn(ref, ember.optim.Adam(ref.parameters(), lr=1e-3))
    s_cmp = ember.compile(_step_fn(mod, ember.optim.Adam(mod.parameters(), lr=1e-3)))
    x, y = ember.randn(16, 784), ember.randint(0, 10, (16,))
    with pytest.warns(CompileWarning, match="graph break.*item"):
        for _ in range(3):
            s_ref(x, y), s_cmp(x, y)
    for p, q in zip(ref.parameters(), mod.parameters()):
        assert np.array_equal(_np(p), _np(q))


# -- guards ----------------------------------------------------------------------------------------

def test_guard_misses_recompile_per_shape_dtype_and_requires_grad():
    cf = ember.compile(lambda x: x * 2)
    inputs = [ember.ones(3), ember.ones(4), ember.ones(3, dtype=ember.float64),
              ember.ones(3).requires_grad_(), ember.ones(6)[::2]]
    for _ in range(3):
        for x in inputs:
            assert np.array_equal(_np(cf(x)), _np(x) * 2)
    assert _entry_states(cf) == ["ready"] * 5
    assert [tuple(g.inputs[0].shape) for g in cf.graphs()] == [(3,), (4,), (3,), (3,), (3,)]


def test_non_tensor_arguments_and_training_flag_are_guarded():
    cf = ember.compile(lambda x, k: x * k)
    x = ember.ones(2)
    for _ in range(3):
        assert _np(cf(x, 2)).tolist() == [2, 2] and _np(cf(x, 3)).tolist() == [3, 3]
    assert len(cf.graphs()) == 2
    ember.manual_seed(0)
    mod = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    opt = ember.compile(mod)
    xb = ember.randn(8, 4)
    with ember.no_grad():
        for _ in range(3):
            opt(xb)
        mod.eval()
        for _ in range(3):
            out = opt(xb)
        assert np.array_equal(_np(out), _np(mod(xb)))
    assert len(opt._compiled.graphs()) == 2


def test_cache_limit_warns_naming_the_failed_guard(monkeypatch):
    monkeypatch.setattr(ember.compiler.config, "cache_size_limit", 2)
    cf = ember.compile(lambda x: x + 1)
    for n in (1, 2):
        cf(ember.ones(n))
    with pytest.warns(CompileWarning, match=r"cache_size_limit \(2\).*shape \(3,\) \(traced with \(2,\)\)"):
        out = cf(ember.ones(3))
    assert _np(out).tolist() == [2, 2, 2]


def test_replaced_parameter_is_a_guard_miss():
    ember.manual_seed(0)
    mod = nn.Linear(3, 2)
    opt = ember.compile(mod)
    x = ember.randn(4, 3)
    with ember.no_grad():
        for _ in range(3):
            opt(x)
        mod.weight = nn.Parameter(ember.zeros(2, 3))
        for _ in range(3):
            out = opt(x)
    assert np.array_equal(_np(out), np.broadcast_to(_np(mod.bias), (4, 2)))


# -- graph breaks ----------------------------------------------------------------------------------

@pytest.mark.parametrize("read", [lambda t: bool(t.sum() > 0), lambda t: t.sum().item() > 0,
                                  lambda t: t.tolist()[0] > -9, lambda t: t.numpy()[0] > -9],
                         ids=["bool", "item", "tolist", "numpy"])
def test_data_dependent_control_flow_falls_back_with_a_warning(read):
    def f(x):
        y = x * 2
        return y + 1 if read(x) else y - 1

    cf = ember.compile(f)
    x = ember.randn(4).abs()
    with pytest.warns(CompileWarning, match="graph break"):
        out = cf(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(2):
            out = cf(x)
    assert np.array_equal(_np(out), _np(f(x)))
    assert _entry_states(cf) == ["eager"]


def test_fullgraph_raises_at_the_host_read():
    @ember.compile(fullgraph=True)
    def f(x):
        if x.sum() > 0:
            return x
        return -x

    with pytest.raises(GraphBreakError, match=r"bool\(tensor\) at .*test_compile.py"):
        f(ember.ones(2))
    assert isinstance(GraphBreakError("x"), RuntimeError)
    assert not ember.compiler.is_compiling()
    assert _np(ember.ones(2).sum()).item() == 2   # tracing state is gone


# -- the lowering hook -----------------------------------------------------------------------------

def test_lowering_hook_registers_and_is_used_by_default():
    import importlib.util
    from pathlib import Path

    from ember.compile import lowering
    from ember.plugins.manager import pm, register_plugin

    path = Path(__file__).parent / "fixtures" / "plugins" / "lowering" / "lowering_plugin.py"
    spec = importlib.util.spec_from_file_location("ember_test_lowering_plugin", path)
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    rec = register_plugin(plugin, name="test-lowering-plugin")
    try:
        assert rec.status == "loaded" and "ember_register_graph_lowerings" in rec.hooks
        assert "test-replay" in ember.compiler.lowerings("cpu")
        cf = ember.compile(lambda x: x.sin())
        x = ember.randn(3)
        for _ in range(3):
            assert np.array_equal(_np(cf(x)), _np(x.sin()))
        assert plugin.lowered == [1] and cf._entries[0].lowering == "test-replay"
        with pytest.raises(RuntimeError, match="already has a graph lowering"):
            ember.compiler.register_lowering("cpu", "test-replay", lambda g, e: None)
    finally:
        pm.unregister(plugin)
        lowering._BY_DEVICE.get("cpu", {}).pop("test-replay", None)


def test_hookspec_is_documented():
    from ember.plugins import hookspecs
    doc = hookspecs.ember_register_graph_lowerings.__doc__
    assert "register(device_type, name, lower)" in doc and "example_inputs" in doc
