"""The fused operators behind nn.LSTM and GELU (``_lstm_cell``, ``gelu_backward``) and cpu's float32 erf:
the cpu kernels and the decompositions (run on the prims-only "npy" backend) against PyTorch."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember
from ember.ops.recurrent import lstm_cell
from fixture_plugins import load

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module", params=["cpu", "npy"])
def device(request):
    if request.param == "npy":
        load("npy")
    return request.param


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lstm_matches_torch(device, dtype):
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    tm = torch.nn.LSTM(5, 7, 2, bidirectional=True).to(getattr(torch, dtype))
    em = ember.nn.LSTM(5, 7, 2, bidirectional=True).to(dtype=getattr(ember, dtype)).to(device)
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    x = rng.standard_normal((6, 3, 5)).astype(dtype)
    tx, ex = torch.tensor(x, requires_grad=True), ember.tensor(x, device=device, requires_grad=True)
    (to, (th, tc)), (eo, (eh, ec)) = tm(tx), em(ex)
    (to.sum() + (th ** 2).sum() + tc.sum()).backward()
    (eo.sum() + (eh ** 2).sum() + ec.sum()).backward()
    tol = 2e-5 if dtype == "float32" else 1e-11
    np.testing.assert_allclose(eo.cpu().detach().numpy(), to.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(ec.cpu().detach().numpy(), tc.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(ex.grad.cpu().numpy(), tx.grad.numpy(), rtol=tol, atol=tol)
    for (name, p), tp in zip(em.named_parameters(), tm.parameters()):
        np.testing.assert_allclose(p.grad.cpu().numpy(), tp.grad.numpy(), rtol=tol, atol=tol, err_msg=name)


def test_lstm_cell_gradcheck_and_double_backward(device):
    g = ember.randn(3, 8, dtype=ember.float64, device=device, requires_grad=True)
    c = ember.randn(3, 2, dtype=ember.float64, device=device, requires_grad=True)
    assert ember.autograd.gradcheck(lstm_cell, (g, c))
    assert ember.autograd.gradgradcheck(lstm_cell, (g, c))


def test_lstm_cell_checks_its_operands():
    with pytest.raises(ValueError, match=r"\(B, 4H\)"):
        lstm_cell(ember.ones(2, 7), ember.ones(2, 2))
    with pytest.raises(TypeError, match="floating"):
        lstm_cell(ember.ones(2, 8, dtype=ember.int64), ember.ones(2, 2, dtype=ember.int64))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_gelu_forward_and_backward_match_torch(device, approximate, dtype):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((6, 5)) * 3).astype(np.float32)
    x[0, :3] = [0.0, -1e-8, 20.0]
    g = rng.standard_normal((6, 5)).astype(np.float32)
    tdt, edt = getattr(torch, dtype), getattr(ember, dtype)
    tx = torch.tensor(x).to(tdt).requires_grad_()
    ex = ember.tensor(x, device=device).to(edt).requires_grad_()
    ty = torch.nn.functional.gelu(tx, approximate=approximate)
    ey = ember.nn.functional.gelu(ex, approximate=approximate)
    ty.backward(torch.tensor(g).to(tdt))
    ey.backward(ember.tensor(g, device=device).to(edt))
    tol = {"float32": 3e-6, "float64": 1e-12, "float16": 2e-3, "bfloat16": 2e-2}[dtype]
    np.testing.assert_allclose(ey.float().cpu().detach().numpy(), ty.detach().float().detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(ex.grad.float().cpu().numpy(), tx.grad.float().numpy(), rtol=4 * tol, atol=4 * tol)


def test_gelu_gradgradcheck(device):
    x = ember.randn(3, 4, dtype=ember.float64, device=device, requires_grad=True)
    for approximate in ("none", "tanh"):
        f = lambda t: ember.nn.functional.gelu(t, approximate=approximate)  # noqa: E731
        assert ember.autograd.gradcheck(f, (x,)) and ember.autograd.gradgradcheck(f, (x,))


def test_cpu_float32_erf_is_within_float32_tolerance():
    x = np.concatenate([np.linspace(-6, 6, 100_001), [1e-30, -1e-8, 3.999, 4.001]]).astype(np.float32)
    got = ember.erf(ember.tensor(x)).numpy().astype(np.float64)
    want = np.array([math.erf(v) for v in x.astype(np.float64)])
    assert np.all(np.abs(got - want) <= 1e-6 + 2e-6 * np.abs(want))   # conformance's float32 tolerance
    special = ember.erf(ember.tensor([np.nan, np.inf, -np.inf, -0.0])).numpy()
    assert np.isnan(special[0]) and special[1] == 1 and special[2] == -1 and np.signbit(special[3])
