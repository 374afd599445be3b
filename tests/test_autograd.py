"""Reverse-mode autograd: the Tensor API, the engine, grad modes, views and in-place, errors, devices."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import ember
from ember.autograd import Function, gradcheck, gradgradcheck

torch = pytest.importorskip("torch")


def T(a, grad=False, dtype=ember.float64):
    return ember.tensor(np.asarray(a, dtype=np.float64), dtype=dtype, requires_grad=grad)


# -- basics ------------------------------------------------------------------------------

def test_leaf_flags_and_grad_fn():
    x = T([1.0, 2.0], grad=True)
    assert x.requires_grad and x.is_leaf and x.grad_fn is None and x.grad is None
    y = x * 2
    assert y.requires_grad and not y.is_leaf and type(y.grad_fn).__name__ == "MulBackward0"
    assert "grad_fn=<MulBackward0>" in repr(y)
    nxt = y.grad_fn.next_functions
    assert type(nxt[0][0]).__name__ == "AccumulateGrad" and nxt[1] == (None, 0)
    z = T([1.0])
    assert not z.requires_grad and z.is_leaf and not (z * 2).requires_grad


def test_factory_requires_grad_and_integer_error():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    assert x.requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        ember.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        ember.tensor([1, 2]).requires_grad_()


def test_backward_accumulates_and_matches_torch():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4,))
    x, w = T(a, True), T(b, True)
    for _ in range(2):
        (ember.tanh(x * w).sum() + (x @ w).pow(2).mean()).backward()
    tx, tw = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    for _ in range(2):
        (torch.tanh(tx * tw).sum() + (tx @ tw).pow(2).mean()).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-10)


def test_backward_with_gradient_and_nonscalar_error():
    x = T([1.0, 2.0, 3.0], True)
    y = x * x
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        y.backward()
    y.backward(T([1.0, 0.5, 0.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, 0.0])


def test_backward_on_tensor_without_grad_errors():
    with pytest.raises(RuntimeError, match="does not require grad"):
        T([1.0]).sum().backward()


def test_mixed_dtypes_and_broadcast_grads():
    x = ember.tensor([[1.0, 2.0]], dtype=ember.float32, requires_grad=True)
    w = ember.tensor([3.0, 4.0, 5.0], dtype=ember.float64, requires_grad=True).reshape(3, 1)
    y = (x * w).sum()
    assert y.dtype == ember.float64
    y.backward()
    assert x.grad.dtype == ember.float32 and x.grad.shape == (1, 2)
    np.testing.assert_allclose(x.grad.numpy(), [[12.0, 12.0]])


# -- retain_graph, double backward, autograd.grad -----------------------------------------------

def test_backward_twice_without_retain_graph_errors():
    x = T([1.0, 2.0], True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * (np.exp([1.0, 2.0]) * (1 + np.array([1.0, 2.0]))))
    with pytest.raises(RuntimeError, match="backward through the graph a second time.*retain_graph=True"):
        y.backward()


def test_autograd_grad_allow_unused_and_no_accumulation():
    x, z = T([1.0, 2.0], True), T([3.0], True)
    y = (x ** 3).sum()
    (g,) = ember.autograd.grad(y, x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), [3.0, 12.0])
    assert g.requires_grad and x.grad is None
    (h,) = ember.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), [6.0, 12.0])
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        ember.autograd.grad((x * 2).sum(), [x, z])
    gx, gz = ember.autograd.grad((x * 2).sum(), [x, z], allow_unused=True)
    assert gz is None and np.allclose(gx.numpy(), 2)


def test_grad_of_intermediate_tensor():
    x = T([1.0, 2.0], True)
    h = x * 3
    y = (h * h).sum()
    gh, gx = ember.autograd.grad(y, [h, x])
    np.testing.assert_allclose(gh.numpy(), 2 * 3 * np.array([1.0, 2.0]))
    np.testing.assert_allclose(gx.numpy(), 18 * np.array([1.0, 2.0]))


def test_hessian_vector_product_matches_torch():
    rng = np.random.default_rng(1)
    a, v = rng.standard_normal(4), rng.standard_normal(4)
    f = lambda x, lib: (lib.sin(x) * x.pow(2)).sum() + (x[:2] * x[2:]).sum()  # noqa: E731
    x = T(a, True)
    (g,) = ember.autograd.grad(f(x, ember), x, create_graph=True)
    (hv,) = ember.autograd.grad((g * T(v)).sum(), x)
    tx = torch.tensor(a, requires_grad=True)
    (tg,) = torch.autograd.grad(f(tx, torch), tx, create_graph=True)
    (thv,) = torch.autograd.grad((tg * torch.tensor(v)).sum(), tx)
    np.testing.assert_allclose(hv.numpy(), thv.numpy(), rtol=1e-10)
    _, hv2 = ember.autograd.functional.hvp(lambda x: f(x, ember), T(a), T(v))
    np.testing.assert_allclose(hv2.numpy(), thv.numpy(), rtol=1e-10)


@pytest.mark.parametrize("f", [
    lambda x, w: (x * w).exp().sum(1),                         # elementwise
    lambda x, w: (x.log_softmax(1) * w).mean(0),               # reduction
    lambda x, w: (x @ w.reshape(3, 1)).tanh(),                 # matmul
    lambda x, w: ember.cat([x, w.reshape(1, 3)], 0).var(0),    # shape
])
def test_double_backward_families(f):
    rng = np.random.default_rng(2)
    x, w = T(rng.uniform(-1, 1, (2, 3)), True), T(rng.uniform(-1, 1, 3), True)
    assert gradgradcheck(f, (x, w))


# -- hooks, retain_grad, detach -------------------------------------------------------------------

def test_hooks_and_retain_grad():
    x = T([1.0, 2.0], True)
    seen = []
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    h = x * 2
    h.retain_grad()
    handle = h.register_hook(lambda g: g * 10)
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), [4.0, 8.0])  # retain_grad sees the grad before later hooks
    np.testing.assert_allclose(x.grad.numpy(), [80.0, 160.0])
    np.testing.assert_allclose(seen[0], [80.0, 160.0])
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_detach_shares_data_and_cuts_graph():
    x = T([1.0, 2.0], True)
    d = x.detach()
    assert not d.requires_grad and d.grad_fn is None
    with ember.no_grad():
        d.mul_(2)
    np.testing.assert_allclose(x.detach().numpy(), [2.0, 4.0])
    y = (x * 3).detach_()
    assert not y.requires_grad and y.is_leaf


# -- grad modes ------------------------------------------------------------------------------------

def test_grad_modes():
    x = T([1.0], True)
    with ember.no_grad():
        assert not ember.is_grad_enabled()
        assert not (x * 2).requires_grad
        with ember.enable_grad():
            assert (x * 2).requires_grad
    assert ember.is_grad_enabled()
    ember.set_grad_enabled(False)
    assert not (x * 2).requires_grad
    ember.set_grad_enabled(True)
    with ember.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    with ember.inference_mode():
        assert not (x * 2).requires_grad and ember.autograd.is_inference_mode_enabled()

    @ember.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad and (x * 2).requires_grad


def test_grad_mode_is_thread_local():
    import threading
    x = T([1.0], True)
    res = {}
    with ember.no_grad():
        t = threading.Thread(target=lambda: res.setdefault("r", (x * 2).requires_grad))
        t.start()
        t.join()
    assert res["r"] is True


# -- in-place and views --------------------------------------------------------------------------------

def test_inplace_on_leaf_requiring_grad_errors():
    x = T([1.0, 2.0], True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad.*in-place"):
        x.add_(1)
    with pytest.raises(RuntimeError, match="view of a leaf tensor"):
        x[0:1].mul_(2)
    with ember.no_grad():
        x.add_(1)  # allowed without grad
    np.testing.assert_allclose(x.detach().numpy(), [2.0, 3.0])


def test_modified_saved_tensor_errors_with_versions():
    x = T([1.0, 2.0], True)
    a = x * 1
    y = a * a          # saves a
    assert a._version == 0
    a.add_(1)
    assert a._version == 1
    with pytest.raises(RuntimeError, match=r"modified by an in-place operation.*version 1; expected version 0"):
        y.sum().backward()


def test_modified_saved_plain_tensor_errors():
    w = T([1.0, 2.0], True)
    c = T([3.0, 4.0])
    y = (w * c).sum()      # c is saved though it does not require grad
    c.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.backward()


def test_inplace_ops_record_correct_gradients():
    rng = np.random.default_rng(3)
    a = rng.uniform(0.5, 1.5, (2, 3))
    x = T(a, True)
    y = x * 2
    y.mul_(x)          # saves the old y (a clone) and x
    y += x
    y.exp_()           # saves its result
    y.sum().backward()
    tx = torch.tensor(a, requires_grad=True)
    ty = tx * 2
    ty.mul_(tx)
    ty += tx
    ty.exp_()
    ty.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10)


def test_inplace_on_view_rebases_base():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((3, 4))
    x = T(a, True)
    base = x * 1
    v = base[1]
    v.mul_(3)                      # base's history now goes through the view's change
    base[:, 0].add_(x[:, 1])       # a second view change, with another input
    out = (base * base).sum() + v.sum()
    out.backward()
    tx = torch.tensor(a, requires_grad=True)
    tb = tx * 1
    tv = tb[1]
    tv.mul_(3)
    tb[:, 0].add_(tx[:, 1])
    ((tb * tb).sum() + tv.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10)
    assert v.grad_fn is not None and base.grad_fn is not None


def test_copy_into_view_of_plain_tensor_makes_it_require_grad():
    g = T([1.0, 2.0], True)
    z = ember.zeros(4, dtype=ember.float64)
    z[1:3] = g * 2
    assert z.requires_grad
    (z * T([1.0, 2.0, 3.0, 4.0])).sum().backward()
    np.testing.assert_allclose(g.grad.numpy(), [4.0, 6.0])


def test_setitem_with_grad_matches_torch():
    a = np.arange(6.0).reshape(2, 3)
    x = T(a, True)
    y = x.clone()
    y[0, 1] = 5.0
    y[:, 2] = y[:, 0] * 2
    (y * y).sum().backward()
    tx = torch.tensor(a, requires_grad=True)
    ty = tx.clone()
    ty[0, 1] = 5.0
    ty[:, 2] = ty[:, 0] * 2
    (ty * ty).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())


# -- Function ----------------------------------------------------------------------------------------------

class _Cube(Function):
    @staticmethod
    def forward(ctx, x, k):
        ctx.save_for_backward(x)
        ctx.k = k
        return x * x * x * k

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        assert ctx.needs_input_grad == (True, False)
        return g * 3 * x * x * ctx.k, None


def test_function_forward_backward_and_double_backward():
    x = T([0.5, -1.0, 2.0], True)
    assert gradcheck(lambda t: _Cube.apply(t, 2.0), (x,))
    assert gradgradcheck(lambda t: _Cube.apply(t, 2.0), (x,))
    y = _Cube.apply(x, 2.0)
    assert type(y.grad_fn).__name__ == "_CubeBackward"
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * np.array([0.5, -1.0, 2.0]) ** 2)
    with pytest.raises(RuntimeError, match="second time"):
        y.sum().backward()


def test_function_saved_tensor_modified_errors():
    x = T([1.0, 2.0], True)
    h = x * 1
    y = _Cube.apply(h, 1.0)
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.sum().backward()


# -- forward mode and functional ------------------------------------------------------------------------------

def test_forward_ad_dual_numbers():
    import ember.autograd.forward_ad as fwAD
    rng = np.random.default_rng(5)
    a, t, w = rng.standard_normal((2, 3)), rng.standard_normal((2, 3)), rng.standard_normal((3, 2))
    with fwAD.dual_level():
        x = fwAD.make_dual(T(a), T(t))
        y = (x.sin() @ T(w)).softmax(1).sum(0)
        p, tan = fwAD.unpack_dual(y)
    assert tan is not None
    import torch.func
    _, ttan = torch.func.jvp(lambda z: (z.sin() @ torch.tensor(w)).softmax(1).sum(0), (torch.tensor(a),),
                             (torch.tensor(t),))
    np.testing.assert_allclose(tan.numpy(), ttan.numpy(), rtol=1e-10)
    np.testing.assert_allclose(p.numpy(), (np.sin(a) @ w).shape and p.numpy())
    assert fwAD.unpack_dual(y).tangent is None  # outside the level


def test_functional_vjp_jvp_jacobian():
    F = ember.autograd.functional
    a = np.array([0.3, -0.7, 1.1])
    f = lambda x: x.exp() * x.sum()  # noqa: E731
    J = F.jacobian(f, T(a)).numpy()
    tJ = torch.autograd.functional.jacobian(lambda x: x.exp() * x.sum(), torch.tensor(a)).numpy()
    np.testing.assert_allclose(J, tJ, rtol=1e-10)
    v = np.array([1.0, 2.0, -1.0])
    np.testing.assert_allclose(F.vjp(f, T(a), T(v))[1].numpy(), v @ tJ, rtol=1e-10)
    np.testing.assert_allclose(F.jvp(f, T(a), T(v))[1].numpy(), tJ @ v, rtol=1e-10)


# -- devices -------------------------------------------------------------------------------------------------------

def test_to_dtype_and_meta_device_grads():
    x = T([1.0, 2.0], True)
    y = x.to(ember.float32) * 2
    y.sum().backward()
    assert x.grad.dtype == ember.float64
    m = ember.empty((2, 3), device="meta").requires_grad_()
    out = (m * m).sum()
    out.backward()
    assert m.grad.shape == (2, 3) and m.grad.device.type == "meta"


def test_grad_flows_back_across_devices():
    """x on cpu -> toy device -> back to cpu: the gradient returns to cpu through both copies."""
    here = Path(__file__).resolve().parent
    code = textwrap.dedent("""
        import ember, numpy as np
        x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x.to("toy")
        z = (y * y + y).neg()
        assert z.device.type == "toy" and z.requires_grad
        z.to("cpu").sum().backward()
        assert x.grad.device.type == "cpu"
        np.testing.assert_allclose(x.grad.numpy(), -(2 * np.array([1.0, 2.0, 3.0]) + 1))
        print("ok")
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBER_")}
    env["PYTHONPATH"] = os.pathsep.join([str(here / "fixtures" / "plugins" / "toy")] +
                                        ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def test_basic_index_alias_keeps_the_graph():
    x = T(np.arange(6.0).reshape(2, 3), True)
    y = x.t()[...]
    assert y.grad_fn is not None
    (y[:] * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 3), 2.0))


def test_no_grad_tensors_carry_no_autograd_key():
    from ember.dispatch.keys import AUTOGRAD
    x = T([1.0, 2.0])
    for y in (x * 2, x.t(), x[0], ember.cat([x, x])):
        assert not y._keys & AUTOGRAD.bit and y._ag is None
    w = T([1.0, 2.0], True)
    with ember.no_grad():
        assert not (w * 2)._keys & AUTOGRAD.bit


def test_dropout_gradient_is_the_scaled_mask():
    ember.manual_seed(0)
    x = T(np.ones((4, 50)), True)
    y = ember.dropout(x, 0.25, True)
    y.sum().backward()
    keep = y.detach().numpy() != 0
    assert 0 < keep.sum() < keep.size
    np.testing.assert_allclose(x.grad.numpy(), keep / 0.75)


def test_views_and_inplace_survive_gradcheck_and_double_backward():
    def f(x):
        y = x * 1
        y[0] = y[0].exp()
        y[:, 1].mul_(x[:, 0])
        return (y ** 2).sum(0)

    def g(x):
        z = ember.zeros(4, 2, dtype=ember.float64)
        z[1:4] = x.exp()
        z.t()[0].add_(1)
        return z.sin()
    x = T(np.random.default_rng(6).uniform(0.2, 1.0, (3, 2)), True)
    assert gradcheck(f, (x,)) and gradgradcheck(f, (x,))
    assert gradcheck(g, (x,)) and gradgradcheck(g, (x,))


def test_backward_inputs_accumulates_only_there():
    x, w = T([1.0, 2.0], True), T([3.0, 4.0], True)
    h = x * w
    y = (h * h).sum()
    y.backward(inputs=[w], retain_graph=True)
    assert x.grad is None
    np.testing.assert_allclose(w.grad.numpy(), [6.0, 32.0])
    y.backward(inputs=[h])
    np.testing.assert_allclose(h.grad.numpy(), [6.0, 16.0])


def test_requires_grad_flag_rules():
    x = T([1.0], True)
    y = x * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)
    z = T([1.0])
    z.requires_grad = True
    assert z.requires_grad and z.is_leaf
    z.requires_grad = False
    assert not (z * 2).requires_grad


class _Square(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        ctx.x = x
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * g * x

    @staticmethod
    def jvp(ctx, t):
        return 2 * t * ctx.x


def test_function_in_forward_mode_needs_jvp():
    import ember.autograd.forward_ad as fwAD
    with fwAD.dual_level():
        x = fwAD.make_dual(T([1.0, 3.0]), T([1.0, 0.5]))
        y = _Square.apply(x)
        np.testing.assert_allclose(fwAD.unpack_dual(y).tangent.numpy(), [2.0, 3.0])
        with pytest.raises(RuntimeError, match="defines no jvp"):
            _Cube.apply(x, 1.0)


def test_factories_take_requires_grad():
    for t in (ember.zeros(2, 3, requires_grad=True), ember.ones(2, requires_grad=True),
              ember.empty(2, requires_grad=True), ember.zeros_like(T([1.0]), requires_grad=True),
              ember.full_like(T([1.0]), 2.0, requires_grad=True)):
        assert t.requires_grad and t.is_leaf


def test_identity_results_leave_the_input_alone():
    x = T([1.0, 2.0], True)
    assert x.contiguous() is x and x.is_leaf and x.grad_fn is None
    (x.contiguous() * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_inplace_under_no_grad_still_counts_versions():
    w = T([1.0, 2.0], True)
    y = (w * w).sum()          # saves w
    with ember.no_grad():
        w.mul_(0.5)            # an optimizer step before backward
    assert w._version == 1
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.backward()


@pytest.mark.parametrize("write", [lambda v: v.add_(1.0), lambda v: v.mul_(2.0), lambda v: v.fill_(3.0),
                                   lambda v: v.__setitem__(0, 5.0), lambda v: v.copy_(ember.ones(2))])
def test_write_through_a_view_made_before_its_base_was_saved_is_caught(write):
    """The view predates the save, so it lacks the Autograd key; its write must still move the base's version
    counter (PyTorch raises here too)."""
    x = ember.ones(3, requires_grad=True)
    base = ember.zeros(3)
    v = base[0:2]
    y = x * base          # saves base
    write(v)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.sum().backward()
