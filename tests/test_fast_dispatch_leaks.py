"""The native fast path (core/dispatch/_fast.c) under repetition: no references, tensors or memory kept.

Every fast kind runs many times, with and without the autograd tape (and its backward), and on calls that
raise: the reference counts of the inputs, their storage, dtype, shape, strides and autograd metadata, the
number of live tensors and tracemalloc's traced memory must come back to where they were. Then the cases
a count cannot see: a plan replaced while a call is using it, select and slice sharing x[key]'s FastOp, and
threads running fast calls with and without grad mode at once.
"""

from __future__ import annotations

import gc
import sys
import threading
import tracemalloc
import weakref

import numpy as np
import pytest
import torch

import ember
import ember.nn.functional as NF
from ember.dispatch import fast

pytestmark = pytest.mark.skipif(not fast.enabled(), reason="the native fast path is not built")

F32 = np.float32
N = 300                 # calls per case
MEM_BOUND = 16 * 1024   # bytes of traced memory a case may keep (a leaked int per call alone is 8 KiB)


@pytest.fixture(autouse=True)
def no_kernel_checks():
    # the plans are made only with kernel checks off (with them on every call takes the Python path)
    prev = ember.dispatch.set_kernel_checks(False)
    yield
    ember.dispatch.set_kernel_checks(prev)


@pytest.fixture(autouse=True, scope="module")
def frozen_heap():
    # what exists before these tests (torch, ember, numpy) moves out of the collector's sight: a full
    # collection and a count of live tensors then see only what the tests make
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


RNG = np.random.default_rng(7)
DATA = {
    "a": RNG.standard_normal((3, 4)).astype(F32),
    "b": RNG.standard_normal((3, 4)).astype(F32),
    "row": RNG.standard_normal((4,)).astype(F32),
    "col": RNG.standard_normal((3, 1)).astype(F32),
    "w": RNG.standard_normal((5, 4)).astype(F32),
    "bias": RNG.standard_normal((5,)).astype(F32),
    "m": RNG.standard_normal((4, 2)).astype(F32),
}


def _inputs(requires_grad):
    return {k: ember.tensor(v.copy(), requires_grad=requires_grad) for k, v in DATA.items()}


def _refs(ts):
    """What a leaked or over-released reference would change: each tensor's count and its parts'."""
    out = []
    for t in ts.values():
        ag = t.__dict__.get("_ag")
        out.append((sys.getrefcount(t), sys.getrefcount(t._storage), sys.getrefcount(t._dtype),
                    sys.getrefcount(t._shape), sys.getrefcount(t._strides),
                    None if ag is None else sys.getrefcount(ag)))
    return out


_TENSOR_TYPES = (ember.Tensor, ember.nn.Parameter)


def _live_tensors():
    return sum(1 for o in gc.get_objects() if type(o) in _TENSOR_TYPES)


def _loss(r):
    if isinstance(r, tuple):   # max(x, dim): (values, indices)
        r = r[0]
    return r.sum() if r.dim() else r


def _assert_steady(call, ts, backward=False, n=N):
    """call() n times: references, live tensors and traced memory as they were after a warm-up."""
    def once():
        r = call()
        if backward:
            _loss(r).backward()

    for _ in range(10):   # plans, gradients' first allocation, caches
        once()
    gc.collect()
    refs, live = _refs(ts), _live_tensors()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(n):
            once()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert _refs(ts) == refs
    assert _live_tensors() == live
    assert grown < MEM_BOUND, f"{grown} bytes kept after {n} calls"


# name -> the call on _inputs(), written once for E = ember (F = ember.nn.functional) and for torch; every
# one of these takes the native path where its plan exists
CASES = {
    "add": lambda E, F, t: E.add(t["a"], t["b"]),
    "mul_method": lambda E, F, t: t["a"] * t["b"],
    "sub_broadcast_row": lambda E, F, t: t["a"] - t["row"],
    "div_broadcast_col": lambda E, F, t: E.true_divide(t["a"], t["col"]),
    "add_float": lambda E, F, t: t["a"] + 2.5,
    "mul_int": lambda E, F, t: E.mul(t["a"], 3),
    "maximum": lambda E, F, t: E.maximum(t["a"], t["b"]),
    "exp": lambda E, F, t: E.exp(t["a"]),
    "tanh_method": lambda E, F, t: t["a"].tanh(),
    "relu": lambda E, F, t: E.relu(t["a"]),
    "sum": lambda E, F, t: t["a"].sum(),
    "mean": lambda E, F, t: E.mean(t["a"]),
    "max": lambda E, F, t: t["a"].max(),
    "sum_dim": lambda E, F, t: t["a"].sum(1),
    "mean_dim_keepdim": lambda E, F, t: t["a"].mean(0, True),
    "max_dim": lambda E, F, t: t["a"].max(1),          # a (values, indices) pair, two outputs recorded
    "max_dim_keepdim": lambda E, F, t: E.max(t["a"], 0, True),
    "matmul": lambda E, F, t: t["a"] @ t["m"],
    "mm": lambda E, F, t: E.mm(t["a"], t["m"]),
    "transpose": lambda E, F, t: t["a"].transpose(0, 1),
    "transpose_fn": lambda E, F, t: E.transpose(t["a"], -1, 0),
    "t": lambda E, F, t: t["a"].t(),
    "select": lambda E, F, t: E.select(t["a"], 1, 2),
    "getitem_int": lambda E, F, t: t["a"][1],
    "getitem_slice": lambda E, F, t: t["a"][0:2],
    "getitem_step": lambda E, F, t: t["a"][::2],
    "getitem_col": lambda E, F, t: t["a"][:, 1],
    "getitem_col_slice": lambda E, F, t: t["a"][:, 1:3],
    "view": lambda E, F, t: t["a"].view(-1),
    "view_tuple": lambda E, F, t: t["a"].view((4, 3)),
    "reshape": lambda E, F, t: t["a"].reshape(2, 6),
    "linear": lambda E, F, t: F.linear(t["a"], t["w"], t["bias"]),
    "chain": lambda E, F, t: ((t["a"] * 2.0 + t["b"]).exp()[1:].t() @ t["a"][:2]).sum(),
}


@pytest.mark.parametrize("requires_grad", [False, True], ids=["plain", "grad"])
@pytest.mark.parametrize("name", list(CASES))
def test_repeated_calls_keep_nothing(name, requires_grad):
    ts = _inputs(requires_grad)
    call = CASES[name]
    r = call(ember, NF, ts)
    ref = {k: torch.tensor(v, requires_grad=requires_grad) for k, v in DATA.items()}
    expect = call(torch, torch.nn.functional, ref)
    np.testing.assert_allclose(_loss(r).detach().numpy(), _loss(expect).detach().numpy(), rtol=1e-5)
    if requires_grad:   # the native record made the graph the Python path makes: torch's gradients
        _loss(r).backward()
        _loss(expect).backward()
        got = {k: v.grad.numpy().copy() for k, v in ts.items() if v.grad is not None}
        assert set(got) == {k for k, v in ref.items() if v.grad is not None}
        for k, g in got.items():
            np.testing.assert_allclose(g, ref[k].grad.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)
        for v in ts.values():
            v.grad = None
    _assert_steady(lambda: call(ember, NF, ts), ts, backward=requires_grad)


def test_the_cases_are_planned():
    """The cases above measure the native path, not only the functions it wraps."""
    ts = _inputs(True)
    for call in CASES.values():
        call(ember, NF, ts)
    ember.tensor(DATA["b"].copy()).add_(1.0)

    def planned(fn, aux=None):
        return any(d is ember.float32 and (aux is None or a == aux) and ok for d, a, ok in fn.plans())
    for fn in (ember.add, ember.Tensor.__mul__, ember.exp, ember.relu, ember.mm, ember.Tensor.__matmul__,
               ember.Tensor.transpose, ember.Tensor.t, ember.select, ember.Tensor.view, ember.Tensor.reshape,
               NF.linear, ember.Tensor.add_):
        assert planned(fn), fn
    assert planned(ember.Tensor.__getitem__, 0) and planned(ember.Tensor.__getitem__, 1)   # select, slice
    assert planned(ember.Tensor.sum, 2) and planned(ember.Tensor.sum, 1000 + 2 * 2)          # all, over a dim


def test_inplace_keeps_nothing():
    ts = _inputs(False)
    a, b = ts["a"], ts["b"]
    before = a.numpy().copy()
    _assert_steady(lambda: a.add_(b), ts)
    _assert_steady(lambda: a.mul_(1.0), ts)
    _assert_steady(lambda: a.sub_(2), ts)
    assert a.add_(b) is a
    np.testing.assert_allclose(a.numpy(), before + (N + 11) * DATA["b"] - 2 * (N + 10), rtol=1e-4, atol=1e-3)


def test_inplace_under_grad_keeps_nothing():
    ts = _inputs(True)

    def call():   # a non-leaf written in place: the Autograd entry's path, then backward through it
        h = ts["a"] * 1.0
        h.add_(ts["b"])
        return h
    _assert_steady(call, ts, backward=True)
    ts["a"].grad = None
    call().sum().backward()
    np.testing.assert_array_equal(ts["a"].grad.numpy(), np.ones((3, 4), F32))


# calls that raise: the native path steps aside (or raises) and the Python path names the error
ERRORS = {
    "binary_shapes": (lambda t: ember.add(t["a"], t["w"]), Exception),
    "binary_dtype": (lambda t: ember.add(t["a"], "x"), Exception),
    "matmul_shapes": (lambda t: t["a"] @ t["b"], Exception),
    "mm_dtype": (lambda t: ember.mm(t["a"], t["i"]), Exception),
    "select_range": (lambda t: ember.select(t["a"], 0, 7), IndexError),
    "getitem_range": (lambda t: t["a"][7], IndexError),
    "getitem_col_range": (lambda t: t["a"][:, -9], IndexError),
    "transpose_dim": (lambda t: t["a"].transpose(0, 5), IndexError),
    "sum_dim": (lambda t: t["a"].sum(4), IndexError),
    "view_size": (lambda t: t["a"].view(5, -1), Exception),
    "reshape_negative": (lambda t: t["a"].reshape(-2, 6), Exception),
    "linear_shapes": (lambda t: NF.linear(t["a"], t["m"], t["bias"]), Exception),
    "inplace_dtype": (lambda t: t["i"].true_divide_(2), Exception),
    "inplace_shape": (lambda t: t["a"].add_(t["row"][:3]), Exception),
    "leaf_inplace": (lambda t: t["a"].add_(1.0) if t["a"].requires_grad else t["i"].add_(0.5), Exception),
}


@pytest.mark.parametrize("requires_grad", [False, True], ids=["plain", "grad"])
@pytest.mark.parametrize("name", list(ERRORS))
def test_repeated_errors_keep_nothing(name, requires_grad):
    ts = _inputs(requires_grad)
    ts["i"] = ember.tensor(np.arange(12, dtype=np.int32).reshape(3, 4))
    call, exc = ERRORS[name]
    with pytest.raises(exc):
        call(ts)

    def raising():
        try:
            call(ts)
        except exc as e:
            assert not isinstance(e, SystemError), e   # an error the native path set and then returned over
            return None
        raise AssertionError(f"{name} did not raise")
    _assert_steady(raising, ts)


# -- the native path's own error paths, through a FastOp whose kernel or handle function raises ----------

class Boom(Exception):
    pass


def _own_op(kind, fallback, kernel, handle=None):
    """A FastOp of `kind` planned with `kernel` (no grad plan: under grad mode it steps aside)."""
    def planner(a, *rest):
        return (kernel, a._dtype, a._backend, a._device, a._keys, None, handle or a._backend.array_handle)
    return fast._fast.FastOp(fallback, planner, kind)


@pytest.mark.parametrize("kind,args", [
    ("BINARY", lambda t: (t["a"], t["b"])),
    ("BINARY", lambda t: (t["a"], t["row"])),
    ("BINARY", lambda t: (t["a"], 2.0)),
    ("UNARY", lambda t: (t["a"],)),
    ("REDUCE_ALL", lambda t: (t["a"],)),
    ("REDUCE_ALL", lambda t: (t["a"], 1)),
    ("MATMUL", lambda t: (t["a"], t["m"])),
    ("INPLACE", lambda t: (t["a"], t["b"])),
])
def test_kernel_errors_propagate_and_keep_nothing(kind, args):
    ts = _inputs(False)
    fallback_calls = []

    def fallback(*a):
        fallback_calls.append(a)
        return None

    def kernel(*a):
        raise Boom("kernel")

    op = _own_op(getattr(fast._fast, kind), fallback, kernel)
    call_args = args(ts)
    with pytest.raises(Boom):
        op(*call_args)

    def raising():
        with pytest.raises(Boom):
            op(*call_args)
    _assert_steady(raising, ts)

    def bad_handle(x):
        raise Boom("handle")
    op_h = _own_op(getattr(fast._fast, kind), fallback, kernel, handle=bad_handle)
    view = ts["a"].view(3, 4)   # a view caches no handle: the handle function is asked
    assert view._h is None

    def raising_in_handle():
        with pytest.raises(Boom, match="handle"):
            op_h(view, *call_args[1:])
    _assert_steady(raising_in_handle, ts)
    assert not fallback_calls   # the native path raised those errors itself


def test_planner_errors_propagate_and_keep_nothing():
    ts = _inputs(False)

    def planner(*a):
        raise Boom("planner")
    op = fast._fast.FastOp(ember.add.__wrapped__, planner, fast._fast.BINARY)

    def raising():
        with pytest.raises(Boom):
            op(ts["a"], ts["b"])
    _assert_steady(raising, ts)


def test_linear_kernel_error_propagates():
    # the t kernel (weight.t()'s array) failing must surface as its own error, not a SystemError from
    # the mm kernel called with an error set
    ts = _inputs(False)

    def bad_t(h):
        raise Boom("t")

    def planner(x, w, b):
        return ((np.matmul, np.add, bad_t), x._dtype, x._backend, x._device, x._keys, None,
                x._backend.array_handle)
    op = fast._fast.FastOp(NF.linear.__wrapped__, planner, fast._fast.LINEAR)

    def raising():
        with pytest.raises(Boom):
            op(ts["a"], ts["w"], ts["bias"])
    _assert_steady(raising, ts)


# -- a plan replaced while a call uses it ---------------------------------------------------------

def test_a_plan_replaced_during_its_call_stays_alive_until_the_call_returns():
    """The call's handle function invalidates the plans and calls the same FastOp again, which replaces
    the cache entry the outer call is reading; tuples then made reuse freed memory. The outer call must go
    on with its own plan, and that plan must be freed once no call is in progress."""
    x = ember.tensor(np.arange(6, dtype=F32)).view(2, 3)   # a view: its array comes from the handle function
    assert x._h is None
    calls, junk, plans = [], [], []

    class Kernel:   # weak-referenceable, so the plan's lifetime can be watched through it
        def __init__(self, tag):
            self.tag = tag

        def __call__(self, a):
            calls.append(self.tag)
            return np.negative(a)

    reenter = [True]

    def handle(t):
        if reenter[0]:
            reenter[0] = False
            fast._fast.invalidate()
            op(x)   # replans: the outer call's plan leaves the cache
            junk.extend((Kernel("stale"), x._dtype, x._backend, x._device, x._keys, None, handle)
                        for _ in range(64))
        return x._backend.array_handle(t)

    def planner(a):
        k = Kernel(f"plan{len(plans)}")
        plans.append(weakref.ref(k))
        return (k, a._dtype, a._backend, a._device, a._keys, None, handle)

    op = fast._fast.FastOp(ember.neg.__wrapped__, planner, fast._fast.UNARY)
    r = op(x)
    assert calls == ["plan1", "plan0"]   # inner call with its new plan, then the outer one with its own
    np.testing.assert_array_equal(r.numpy(), -np.arange(6, dtype=F32).reshape(2, 3))
    junk.clear()
    gc.collect()
    assert plans[0]() is None            # the replaced plan was freed when the call returned
    assert plans[1]() is not None        # the cached one lives on
    del op
    gc.collect()
    assert plans[1]() is None


# -- x[key]: select and slice plans on one FastOp ---------------------------------------------------

@pytest.mark.parametrize("first,second", [
    ((1,), (slice(1, 3),)), ((slice(1, 3),), (1,)), ((slice(None), 1), (slice(None), slice(0, 2))),
    ((slice(None), slice(1, 3)), (slice(None), 2)),
])
def test_select_and_slice_keys_record_their_own_nodes(first, second):
    """x[i] and x[a:b] share Tensor.__getitem__'s FastOp: each must record its own node, whichever ran
    first in the process."""
    fast._fast.invalidate()
    for key in (first, second):
        k = key[0] if len(key) == 1 else key
        x = ember.tensor(DATA["a"].copy(), requires_grad=True)
        y = x[k]
        expect = ember.Tensor.__getitem__.__wrapped__(x, k)
        assert type(y.grad_fn).__name__ == type(expect.grad_fn).__name__
        (y * y).sum().backward()
        tx = torch.tensor(DATA["a"], requires_grad=True)
        (tx[k] * tx[k]).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)


# -- threads ---------------------------------------------------------------------------------------

def test_threads_with_and_without_grad_mode():
    """Two threads run the same fast calls at once, one under no_grad; a third keeps invalidating the
    plans (the cache entries are replaced under the others' calls). Each thread sees its own grad mode;
    every result and gradient is right."""
    a_np, b_np, w_np = DATA["a"], DATA["b"], DATA["w"]
    ta, tb = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np)
    ref = ((ta * tb + 1.5).tanh()[1:].sum(1) + (ta @ ta.t())[:, 0].sum())
    ref.sum().backward()
    ref_val, ref_grad = ref.detach().numpy(), ta.grad.numpy()
    ref_lin = torch.nn.functional.linear(torch.tensor(a_np), torch.tensor(w_np), torch.tensor(DATA["bias"])).numpy()

    errors, stop = [], threading.Event()
    barrier = threading.Barrier(3)
    rounds = 150

    def program(a, b):
        return (a * b + 1.5).tanh()[1:].sum(1) + (a @ a.t())[:, 0].sum()

    def with_grad():
        try:
            barrier.wait()
            for _ in range(rounds):
                assert ember.is_grad_enabled()
                a = ember.tensor(a_np.copy(), requires_grad=True)
                y = program(a, ember.tensor(b_np))
                assert y.requires_grad and y.grad_fn is not None
                y.sum().backward()
                np.testing.assert_allclose(y.detach().numpy(), ref_val, rtol=1e-5)
                np.testing.assert_allclose(a.grad.numpy(), ref_grad, rtol=1e-4, atol=1e-5)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    def without_grad():
        try:
            barrier.wait()
            with ember.no_grad():
                for _ in range(rounds):
                    assert not ember.is_grad_enabled()
                    a = ember.tensor(a_np.copy(), requires_grad=True)
                    y = program(a, ember.tensor(b_np))
                    assert not y.requires_grad and y.grad_fn is None
                    np.testing.assert_allclose(y.numpy(), ref_val, rtol=1e-5)
                    lin = NF.linear(ember.tensor(a_np), ember.tensor(w_np), ember.tensor(DATA["bias"]))
                    np.testing.assert_allclose(lin.numpy(), ref_lin, rtol=1e-5, atol=1e-6)
            assert ember.is_grad_enabled()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    def invalidating():
        barrier.wait()
        while not stop.is_set():
            fast._fast.invalidate()
            stop.wait(0.0005)

    prev = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        threads = [threading.Thread(target=f) for f in (with_grad, without_grad)]
        inv = threading.Thread(target=invalidating)
        for t in threads + [inv]:
            t.start()
        for t in threads:
            t.join(60)
        stop.set()
        inv.join(10)
    finally:
        sys.setswitchinterval(prev)
    assert not errors, errors[0]
    assert ember.is_grad_enabled()
