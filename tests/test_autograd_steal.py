"""Gradients handed to .grad without a copy, and where that must not happen."""

import numpy as np

import ember


def test_linear_weight_grad_is_contiguous_and_owned():
    rng = np.random.default_rng(0)
    lin = ember.nn.Linear(5, 4)
    x = rng.standard_normal((3, 5)).astype(np.float32)
    lin(ember.tensor(x)).sum().backward()
    g = lin.weight.grad
    assert g._base is None and g.is_contiguous()
    np.testing.assert_allclose(g.numpy(), np.ones((3, 4), np.float32).T @ x, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lin.bias.grad.numpy(), np.full(4, 3.0, np.float32))


def test_user_gradient_through_t_is_not_aliased():
    w = ember.tensor(np.ones((3, 2), np.float32), requires_grad=True)
    G = ember.tensor(np.arange(6, dtype=np.float32).reshape(3, 2))
    w.t().backward(G.t())
    assert w.grad is not G and w.grad._base is not G
    w.grad.zero_()
    np.testing.assert_array_equal(G.numpy(), np.arange(6, dtype=np.float32).reshape(3, 2))


def test_relu_backward_zero_where_not_positive_even_for_inf_grad():
    x = ember.tensor(np.array([-1.0, 0.0, 2.0], np.float32), requires_grad=True)
    ember.relu(x).backward(ember.tensor(np.array([np.inf, np.nan, 3.0], np.float32)))
    np.testing.assert_array_equal(x.grad.numpy(), np.array([0.0, 0.0, 3.0], np.float32))
