"""Post-accumulate-grad hooks (Tensor.register_post_accumulate_grad_hook) and end-of-backward callbacks
(ember.autograd.engine.queue_callback), the two engine features DistributedDataParallel is built on."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.autograd.engine import queue_callback

torch = pytest.importorskip("torch")


def _run(lib, calls):
    """Two backward passes through a leaf used twice; record what each post-accumulate hook saw."""
    w = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    seen = []
    h = w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.tolist()))
    for _ in range(calls):
        (w * w + 3 * w).sum().backward()
    h.remove()
    (w * 2).sum().backward()
    return seen, w.grad.tolist()


def test_post_accumulate_hook_matches_torch():
    # Fires once per backward (not per incoming edge), after .grad holds the accumulated value.
    assert _run(ember, 2) == _run(torch, 2)
    assert _run(ember, 2)[0] == [[5.0, 7.0, 9.0], [10.0, 14.0, 18.0]]


def test_post_accumulate_hook_receives_the_tensor_and_can_read_grad_in_order():
    a = ember.tensor([1.0], requires_grad=True)
    b = ember.tensor([2.0], requires_grad=True)
    order = []
    a.register_post_accumulate_grad_hook(lambda t: order.append(("a", t is a, t.grad.item())))
    b.register_post_accumulate_grad_hook(lambda t: order.append(("b", t is b, t.grad.item())))
    (a * b).sum().backward()
    assert sorted(order) == [("a", True, 2.0), ("b", True, 1.0)]


def test_post_accumulate_hook_not_run_without_gradient_or_for_other_inputs():
    a = ember.tensor([1.0], requires_grad=True)
    b = ember.tensor([2.0], requires_grad=True)
    calls = []
    b.register_post_accumulate_grad_hook(calls.append)
    (a * b).sum().backward(inputs=[a])
    assert calls == [] and b.grad is None
    ember.autograd.grad((a * b).sum(), [b])      # grad() accumulates nothing, so no hook
    assert calls == []


def test_post_accumulate_hook_errors():
    x = ember.tensor([1.0])
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        x.register_post_accumulate_grad_hook(print)
    y = ember.tensor([1.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="non-leaf"):
        y.register_post_accumulate_grad_hook(print)
    with pytest.raises(RuntimeError, match="non-leaf"):
        torch.ones(1, requires_grad=True).mul(2).register_post_accumulate_grad_hook(print)


def test_queue_callback_runs_after_every_hook_and_may_queue_more():
    w = ember.tensor(np.ones(3), requires_grad=True)
    v = ember.tensor(np.ones(3), requires_grad=True)
    log = []

    def first(t):
        log.append("hook")
        queue_callback(lambda: (log.append("cb1"), queue_callback(lambda: log.append("cb2"))))

    w.register_post_accumulate_grad_hook(first)
    v.register_post_accumulate_grad_hook(lambda t: log.append("hook"))
    (w * v).sum().backward()
    assert log == ["hook", "hook", "cb1", "cb2"]


def test_queue_callback_outside_backward_raises():
    with pytest.raises(RuntimeError, match="during the backward pass"):
        queue_callback(lambda: None)


def test_queue_callback_belongs_to_the_innermost_pass():
    # A backward run inside a hook is its own pass: its callbacks run when it ends, not the outer one.
    w = ember.tensor([1.0], requires_grad=True)
    u = ember.tensor([3.0], requires_grad=True)
    log = []

    def outer(t):
        queue_callback(lambda: log.append("outer"))
        with ember.enable_grad():      # backward runs its hooks with grad mode off
            (u * u).sum().backward()
        log.append("inner done")

    u.register_post_accumulate_grad_hook(lambda t: queue_callback(lambda: log.append("inner")))
    w.register_post_accumulate_grad_hook(outer)
    (w * 2).sum().backward()
    assert log == ["inner", "inner done", "outer"]
    assert u.grad.item() == 6.0
