"""The dispatcher's native fast path (core/dispatch/_fast.c, fast.py) against the Python path it shortens.

Every FastOp keeps the function it wraps as ``__wrapped__``: the same call through both must give the same
tensor (values, dtype, shape, strides, storage sharing, keys), the same autograd graph (node names, saved
tensors, gradients, version counters) and the same errors. Kernel checks are off here, as in user code:
with them on the plans step aside (the checked entries compare every kernel's result with its meta).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import ember
from ember.dispatch import fast
from ember.dispatch.operator import state

pytestmark = pytest.mark.skipif(not fast.enabled(), reason="the native fast path is not built")

F32 = np.float32


@pytest.fixture(autouse=True)
def no_kernel_checks():
    prev = ember.dispatch.set_kernel_checks(False)
    yield
    ember.dispatch.set_kernel_checks(prev)


def _t(a, requires_grad=False):
    return ember.tensor(np.asarray(a), requires_grad=requires_grad)


def _same(x, y):
    assert type(x) is type(y) is ember.Tensor
    assert x._dtype is y._dtype and x._shape == y._shape and x._strides == y._strides
    assert x._offset == y._offset and x._device == y._device and x._keys == y._keys
    assert (x._base is None) == (y._base is None)
    np.testing.assert_array_equal(x.detach().numpy(), y.detach().numpy())


def _is_fast(fn):
    return isinstance(fn, fast._fast.FastOp)


def test_public_functions_and_methods_are_fast_ops():
    for fn in (ember.add, ember.sub, ember.mul, ember.sum, ember.matmul, ember.mm, ember.transpose,
               ember.Tensor.__add__, ember.Tensor.__mul__, ember.Tensor.add_, ember.Tensor.sum,
               ember.Tensor.__matmul__, ember.Tensor.transpose, ember.Tensor.__getitem__):
        assert _is_fast(fn), fn
    # they read as the functions they wrap
    assert ember.add.__name__ == "add" and "other" in ember.add.__doc__
    assert ember.Tensor.__getitem__.__wrapped__.__name__ == "getitem"


RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 4)).astype(F32)
B = RNG.standard_normal((3, 4)).astype(F32)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "true_divide"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
@pytest.mark.parametrize("other", ["tensor", 2.5, 3, -7])
def test_binary_matches_python_path_and_torch(name, dtype, other):
    fn = getattr(ember, name)
    a = _t((A * 10).astype(dtype))
    b = _t((B * 10 + 20).astype(dtype)) if other == "tensor" else other
    r = fn(a, b)
    _same(r, fn.__wrapped__(a, b))
    tb = torch.from_numpy(b.numpy()) if other == "tensor" else other
    expect = getattr(torch, name)(torch.from_numpy(a.numpy()), tb)
    assert str(expect.dtype).endswith(r.dtype.name)
    np.testing.assert_allclose(r.numpy(), expect.numpy(), rtol=1e-6)


def _planned(fn, dtype, aux=0):
    return any(d is dtype and a == aux and ok for d, a, ok in fn.plans())


def test_the_plain_cases_are_planned():
    a = _t(A)
    a + a, a * 2.0, a.sum(), a @ a.T, a.add_(a.clone()), a.transpose(0, 1), a[0]
    assert _planned(ember.Tensor.__add__, ember.float32, 0)
    assert _planned(ember.Tensor.__mul__, ember.float32, 1)
    assert _planned(ember.Tensor.sum, ember.float32, 2)       # the case of a full sum: the input's ndim
    assert _planned(ember.Tensor.__matmul__, ember.float32)
    assert _planned(ember.Tensor.add_, ember.float32)
    assert _planned(ember.Tensor.transpose, ember.float32)
    assert _planned(ember.Tensor.__getitem__, ember.float32)
    h = _t(A.astype(np.float16))
    h + h
    assert not _planned(ember.Tensor.__add__, ember.float16)  # the cpu backend claims no half kernel


@pytest.mark.parametrize("a, b", [
    (np.ones((3, 4), F32), np.ones((4,), F32)),                     # broadcast
    (np.ones((3, 4), F32), np.ones((3, 4), np.float64)),            # promotion
    (np.ones((4, 3), F32).T, np.ones((3, 4), F32)),                 # not contiguous
    (np.ones((3, 4), np.float16), np.ones((3, 4), np.float16)),     # half: not claimed
    (np.ones((3, 4), np.int8), 1000),                               # a scalar the dtype cannot hold
    (np.ones((3, 4), F32), True),                                   # bool is not an int here
])
def test_cases_outside_the_plan_take_the_python_path(a, b):
    ta = _t(a)
    tb = _t(b) if isinstance(b, np.ndarray) else b
    try:
        expect = ember.add.__wrapped__(ta, tb)
    except Exception as e:  # noqa: BLE001
        with pytest.raises(type(e)):
            ember.add(ta, tb)
        return
    _same(ember.add(ta, tb), expect)


def test_errors_are_the_python_paths():
    a = _t(A)
    with pytest.raises(ember.errors.ShapeError if hasattr(ember.errors, "ShapeError") else Exception) as e1:
        ember.matmul(a, a)
    with pytest.raises(type(e1.value)) as e2:
        ember.matmul.__wrapped__(a, a)
    assert str(e1.value) == str(e2.value)
    with pytest.raises(IndexError) as e3:
        a[7]
    with pytest.raises(IndexError):
        ember.Tensor.__getitem__.__wrapped__(a, 7)
    assert "7" in str(e3.value)
    with pytest.raises(IndexError):
        a.transpose(0, 5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_sum_matmul_views(dtype):
    a = _t((A * 4).astype(dtype))
    b = _t((B.T * 4).astype(dtype).copy())
    for fn, args in [(ember.sum, (a,)), (ember.matmul, (a, b)), (ember.mm, (a, b)),
                     (ember.transpose, (a, 0, 1)), (ember.transpose, (a, -1, 0)), (ember.select, (a, 1, -2))]:
        r = fn(*args)
        _same(r, fn.__wrapped__(*args))
    for key in (0, 2, -1, -3):
        _same(a[key], ember.Tensor.__getitem__.__wrapped__(a, key))
        assert a[key]._base is a
    v = a.transpose(0, 1)
    assert v[1]._base is a and v[1]._offset == 1    # a view of a view keeps the root as base
    np.testing.assert_array_equal(v[1].numpy(), a.numpy()[:, 1])


def test_inplace_writes_self_and_refuses_overlap_to_python():
    a, b = _t(A.copy()), _t(B)
    expect = A + B
    r = a.add_(b)
    assert r is a
    np.testing.assert_array_equal(a.numpy(), expect)
    a.mul_(2.0)
    np.testing.assert_array_equal(a.numpy(), expect * 2)
    a.add_(a)   # self as the other operand: the Python path's overlap rules decide
    np.testing.assert_array_equal(a.numpy(), expect * 4)
    i = _t(np.arange(4, dtype=np.int32))
    with pytest.raises(Exception) as e:
        i.true_divide_(2)    # int32 / int -> float32 cannot be written into int32
    with pytest.raises(type(e.value)):
        ember.Tensor.true_divide_.__wrapped__(i, 2)


def _graph(y):
    """(node names, depth-first) of y's graph."""
    out, todo, seen = [], [y.grad_fn], set()
    while todo:
        n = todo.pop()
        if n is None or id(n) in seen:
            continue
        seen.add(id(n))
        out.append(type(n).__name__)
        todo.extend(e[0] for e in (n.edges or ()) if e is not None)
    return out


def _program(E, x, w, use_fast):
    """A small program over every fast operator; use_fast=False calls the wrapped Python functions."""
    pick = (lambda f: f) if use_fast else (lambda f: f.__wrapped__)
    h = pick(E.mm)(x, w)
    h = pick(E.add)(h, 1.5)
    h = pick(E.mul)(h, h)
    h = pick(E.sub)(h, x[:, :3] if False else pick(E.transpose)(pick(E.mm)(w, w), 0, 1)[0])  # broadcast: Python
    h = pick(E.true_divide)(h, 3.0)
    row = pick(ember.Tensor.__getitem__)(h, 1)
    t = pick(E.transpose)(h, 0, 1)
    return pick(E.sum)(pick(E.mul)(row, row)) + pick(E.sum)(pick(E.select)(t, 0, 2))


def test_autograd_graph_and_gradients_match_python_path_and_torch():
    xs = RNG.standard_normal((4, 3)).astype(F32)
    ws = RNG.standard_normal((3, 3)).astype(F32)
    results = []
    for use_fast in (True, False):
        x, w = _t(xs, True), _t(ws, True)
        y = _program(ember, x, w, use_fast)
        names = _graph(y)
        y.backward()
        results.append((y.item(), names, x.grad.numpy(), w.grad.numpy()))
    (v1, n1, gx1, gw1), (v2, n2, gx2, gw2) = results
    assert v1 == v2 and n1 == n2
    np.testing.assert_array_equal(gx1, gx2)
    np.testing.assert_array_equal(gw1, gw2)
    tx, tw = torch.tensor(xs, requires_grad=True), torch.tensor(ws, requires_grad=True)
    h = (tx @ tw + 1.5)
    h = h * h
    h = (h - (tw @ tw).t()[0]) / 3.0
    y = (h[1] * h[1]).sum() + h.t()[2].sum()
    y.backward()
    np.testing.assert_allclose(gx1, tx.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gw1, tw.grad.numpy(), rtol=1e-5, atol=1e-5)
    assert "MmBackward0" in n1 and "SelectBackward0" in n1 and "TransposeBackward0" in n1


def test_saved_tensor_modified_in_place_is_caught():
    x = _t(A, True)
    y = ember.mul(x, 2.0)
    z = ember.mul(y, y)      # saves y
    with ember.no_grad():
        y.add_(1.0)          # bumps y's version (y is tracked: the Python path does it)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        z.sum().backward()


def test_views_record_their_base_and_leaf_views_refuse_in_place():
    x = _t(A, True)
    v = x.transpose(0, 1)
    assert v._ag.base is x and v.grad_fn is not None and v.requires_grad
    with pytest.raises(RuntimeError, match="view of a leaf"):
        v[0].add_(1.0)
    plain = _t(A)
    pv = plain[1]
    assert pv._ag is None and not pv.requires_grad


def test_no_grad_and_tracked_inputs():
    x = _t(A, True)
    with ember.no_grad():
        y = x + x
        v = x[0]
    assert y.grad_fn is None and not y.requires_grad
    assert v.grad_fn is None and not v.requires_grad
    y2 = x * 3.0
    assert type(y2.grad_fn).__name__ == "MulBackward0" and y2.requires_grad


def test_forward_ad_and_autocast_take_the_python_path():
    import ember.autograd.forward_ad as fwAD
    x = _t(A)
    with fwAD.dual_level():
        d = fwAD.make_dual(x, _t(np.ones_like(A)))
        out = d * 2.0
        np.testing.assert_array_equal(fwAD.unpack_dual(out).tangent.numpy(), 2 * np.ones_like(A))
    with ember.autocast("cpu", dtype=ember.bfloat16):
        assert ember.mm(x, _t(B.T.copy())).dtype is ember.bfloat16


def test_kernel_checks_turn_plans_off_and_on():
    a = _t(A)
    r1 = a + a
    ember.dispatch.set_kernel_checks(True)
    r2 = a + a
    ember.dispatch.set_kernel_checks(False)
    _same(r1, r2)


def test_dispatch_state_is_per_thread():
    seen = {}

    def worker():
        seen["allowed"] = state.allowed
        with ember.no_grad():
            seen["inside"] = ember.is_grad_enabled()

    with ember.no_grad():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert not ember.is_grad_enabled()
    assert seen["allowed"] == -1 and seen["inside"] is False
    assert ember.is_grad_enabled()


def test_parameters_take_the_fast_path_and_give_plain_tensors():
    p = ember.nn.Parameter(_t(A))
    r = p + p
    assert type(r) is ember.Tensor and r.grad_fn is not None
    assert type(p[0]) is ember.Tensor


def test_array_kernels_are_checked_when_a_plugin_registers():
    from ember.errors import RegistrationError
    from ember.plugins.manager import _checked_array_kernels
    with pytest.raises(RegistrationError, match="unknown operator"):
        _checked_array_kernels("demo", {"no_such_op": (np.add, (ember.float32,))})
    with pytest.raises(RegistrationError, match=r"\(callable, dtypes\)"):
        _checked_array_kernels("demo", {"add": np.add})
    assert _checked_array_kernels("demo", {"add": (np.add, [ember.float32])}) == {"add": (np.add, (ember.float32,))}


# -- the later kinds: broadcast, unary, linear, shape views, t, reductions over a dim ------------------------

@pytest.mark.parametrize("sa, sb", [((3, 4), (4,)), ((4,), (3, 4)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 1)),
                                    ((3, 4), ()), ((0, 4), (4,))])
def test_broadcast_binary_matches_python_path(sa, sb):
    a = _t(RNG.standard_normal(sa).astype(F32))
    b = _t(RNG.standard_normal(sb).astype(F32))
    for fn in (ember.add, ember.mul, ember.sub, ember.maximum):
        _same(fn(a, b), fn.__wrapped__(a, b))
    bad = _t(np.ones((7, 7, 7, 7), F32))   # broadcasts with none of them
    with pytest.raises(Exception) as e:
        ember.add(a, bad)
    with pytest.raises(type(e.value)):
        ember.add.__wrapped__(a, bad)


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "tanh", "sin", "reciprocal", "expm1", "log1p"])
def test_unary_matches_python_path_and_torch(name):
    a = _t(np.abs(A) + 0.5)
    fn = getattr(ember, name)
    r = fn(a)
    _same(r, fn.__wrapped__(a))
    np.testing.assert_allclose(r.numpy(), getattr(torch, name)(torch.from_numpy(a.numpy())).numpy(), rtol=1e-6)
    i = _t(np.arange(4, dtype=np.int32) + 1)
    _same(fn(i), fn.__wrapped__(i))   # int32 -> float32: the Python path's rule, not a claimed kernel


def test_relu_and_full_reductions_match_python_path():
    F = ember.nn.functional
    a = _t(A)
    _same(F.relu(a), ember.ops.nn.relu.__wrapped__(a))
    for name in ("sum", "mean", "max"):
        fn = getattr(ember.Tensor, name)
        _same(fn(a), fn.__wrapped__(a))
    nan = _t(np.array([1.0, np.nan, 3.0], F32))
    assert np.isnan(nan.max().item()) and np.isnan(nan.sum().item())
    empty = _t(np.zeros((0, 3), F32))
    with pytest.raises(Exception) as e:
        empty.max()
    assert "empty" in str(e.value).lower() or "numel" in str(e.value).lower()
    _same(empty.sum(), ember.Tensor.sum.__wrapped__(empty))


@pytest.mark.parametrize("dim, keepdim", [(0, None), (1, None), (-1, True), (0, False)])
def test_reductions_over_a_dim_match_python_path_and_torch(dim, keepdim):
    a = _t(RNG.standard_normal((3, 4, 5)).astype(F32))
    for name in ("sum", "mean"):
        fn = getattr(ember.Tensor, name)
        args = (a, dim) if keepdim is None else (a, dim, keepdim)
        r = fn(*args)
        _same(r, fn.__wrapped__(*args))
        tt = getattr(torch.from_numpy(a.numpy()), name)(dim, bool(keepdim))
        np.testing.assert_allclose(r.numpy(), tt.numpy(), rtol=1e-6, atol=1e-6)
    with pytest.raises(IndexError):
        a.sum(3)


@pytest.mark.parametrize("dim, keepdim", [(0, None), (1, None), (-1, True), (2, False)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_over_a_dim_matches_python_path_and_torch(dim, keepdim, dtype):
    v = RNG.standard_normal((3, 4, 5)).astype(dtype)
    v[1, 2, 3] = v[1, 2, 4] = np.nan          # the first NaN wins, at its index
    v[2, 0, :] = v[2, 1, :] = 7.0             # ties: the first index
    a = _t(v)
    args = (a, dim) if keepdim is None else (a, dim, keepdim)
    for fn in (ember.Tensor.max, ember.max):
        r, p = fn(*args), fn.__wrapped__(*args)
        assert type(r) is type(p) and r._fields == ("values", "indices")
        _same(r.values, p.values)
        _same(r.indices, p.indices)
    assert _planned(ember.Tensor.max, r.values._dtype, 1000 + 6 + bool(keepdim))   # ndim 3: 1000 + 2 * 3 + keepdim
    tv, ti = torch.from_numpy(v).max(dim, bool(keepdim))
    np.testing.assert_array_equal(r.values.numpy(), tv.numpy())
    np.testing.assert_array_equal(r.indices.numpy(), ti.numpy())


@pytest.mark.parametrize("keepdim", [False, True])
def test_max_over_a_dim_records_its_node_and_its_gradient_matches_torch(keepdim):
    v = RNG.standard_normal((4, 6)).astype(F32)
    v[0, 1] = v[0, 4] = 9.0   # a tie: the gradient goes to the index returned, as PyTorch's does
    a = _t(v, requires_grad=True)
    b = _t(v, requires_grad=True)
    r, p = a.max(1, keepdim), ember.Tensor.max.__wrapped__(b, 1, keepdim)
    assert _planned(ember.Tensor.max, ember.float32, 1004 + keepdim)
    assert r.values.grad_fn.name() == p.values.grad_fn.name() == "MaxDimBackward0"
    assert r.values.grad_fn.nout == 2 and r.values.grad_fn.multi and r.values.grad_fn.out_info[1] is None
    assert r.values._ag.output_nr == 0
    assert r.indices.grad_fn is None and not r.indices.requires_grad
    _same(r.indices, p.indices)
    w = _t(RNG.standard_normal(r.values.shape).astype(F32))
    (r.values * w).sum().backward()
    (p.values * w).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())
    t = torch.from_numpy(v).requires_grad_()
    (torch.max(t, 1, keepdim).values * torch.from_numpy(w.numpy())).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), t.grad.numpy())
    with ember.no_grad():
        n = a.max(0)
    assert n.values.grad_fn is None and not n.values.requires_grad
    c = _t(v)   # under grad mode, no input needing a gradient: plain outputs
    assert c.max(1).values.grad_fn is None and not c.max(1).values.requires_grad


def test_max_over_a_dim_keeps_its_indices_only_so_its_values_may_change_in_place():
    v = RNG.standard_normal((3, 5)).astype(F32)
    for fn in (ember.Tensor.max, ember.Tensor.max.__wrapped__):
        a = _t(v, requires_grad=True)
        values, indices = fn(a, 1)
        node = values.grad_fn
        assert node.result[0] is None and node.result[1] is not None
        values.mul_(3)   # PyTorch allows it: MaxBackward0 saves the indices, not the values
        values.sum().backward()
        t = torch.from_numpy(v).requires_grad_()
        tv, _ = t.max(1)
        tv.mul_(3)
        tv.sum().backward()
        np.testing.assert_array_equal(a.grad.numpy(), t.grad.numpy())
        b = _t(v, requires_grad=True)
        values, indices = fn(b, 1)
        indices.add_(1)   # the saved indices changed: the error PyTorch gives too
        with pytest.raises(RuntimeError, match="in-place"):
            values.sum().backward()
    c = _t(v, requires_grad=True)
    values, indices = c.sort(1)   # so for sort, whose node keeps its outputs
    indices.add_(1)
    with pytest.raises(RuntimeError, match="in-place"):
        values.sum().backward()


def test_max_over_a_dim_saves_its_result_for_double_backward():
    v = RNG.standard_normal((3, 5)).astype(np.float64)
    a = _t(v, requires_grad=True)
    m = a.max(1)
    (g,) = ember.autograd.grad((m.values ** 2).sum(), a, create_graph=True)
    g.sum().backward()
    t = torch.from_numpy(v).requires_grad_()
    (tg,) = torch.autograd.grad((t.max(1).values ** 2).sum(), t, create_graph=True)
    tg.sum().backward()
    np.testing.assert_allclose(g.detach().numpy(), tg.detach().numpy())
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy())


def test_max_over_a_dim_outside_the_plan_takes_the_python_path():
    a = _t(RNG.standard_normal((3, 4)).astype(F32))
    for args, kw in [((a.t(), 1), {}), ((a, 1), {"keepdim": True}), ((_t(np.zeros((0, 4), F32)), 1), {}),
                     ((_t(np.arange(12, dtype=np.int64).reshape(3, 4)), 0), {}), ((a, a), {})]:
        r, p = ember.max(*args, **kw), ember.max.__wrapped__(*args, **kw)
        for x, y in zip(r, p) if isinstance(r, tuple) else [(r, p)]:
            _same(x, y)
    big = _t(RNG.standard_normal((64, 128)).astype(F32))   # above the native pass's size: numpy's argmax
    r, tv = big.max(1), torch.from_numpy(big.numpy()).max(1)
    np.testing.assert_array_equal(r.values.numpy(), tv.values.numpy())
    np.testing.assert_array_equal(r.indices.numpy(), tv.indices.numpy())
    for bad in (2, -3):
        with pytest.raises(IndexError):
            a.max(bad)
    with pytest.raises(Exception) as e:
        _t(np.zeros((3, 0), F32)).max(1)
    assert "empty" in str(e.value).lower() or "size" in str(e.value).lower()


def test_shape_views_match_python_path():
    a = _t(RNG.standard_normal((2, 3, 4)).astype(F32))
    for shape in [(24,), (-1,), (4, -1), (2, 12), ((6, 4),), ([3, 8],), (1, 24, 1), (2, 3, 4)]:
        for name in ("view", "reshape"):
            fn = getattr(ember.Tensor, name)
            r = fn(a, *shape)
            _same(r, fn.__wrapped__(a, *shape))
            assert r._base is a
    for bad in [(5,), (-1, -1), (-2, 12)]:
        with pytest.raises(Exception) as e:
            a.view(*bad)
        with pytest.raises(type(e.value)):
            ember.Tensor.view.__wrapped__(a, *bad)
    nc = a.transpose(0, 2)
    _same(nc.reshape(24), ember.Tensor.reshape.__wrapped__(nc, 24))   # a copy: the Python path
    for x in (_t(A), _t(np.ones(3, F32)), _t(np.float32(2.0))):
        _same(x.t(), ember.Tensor.t.__wrapped__(x))


def _model_program(E, x, w1, b1, w2, use_fast):
    """A two-layer MLP step's forward over the fast kinds; use_fast=False calls the wrapped functions."""
    F = E.nn.functional
    pick = (lambda f: f) if use_fast else (lambda f: f.__wrapped__)
    T = E.Tensor
    h = pick(F.linear)(x, w1, b1)
    h = pick(E.ops.nn.relu)(h)
    h = pick(T.view)(h, 2, -1)
    h = pick(T.reshape)(h, 4, 5)
    h = pick(E.exp)(pick(E.true_divide)(h, 10.0))
    s = pick(T.sum)(h, 1) + pick(T.mean)(h, 0, True).sum()
    y = pick(E.mm)(pick(T.t)(w2), pick(T.view)(s, 4, 1))
    return pick(T.mean)(y) + pick(T.max)(h)


def test_model_graph_and_gradients_match_python_path_and_torch():
    xs = RNG.standard_normal((4, 3)).astype(F32)
    w1s, b1s = RNG.standard_normal((5, 3)).astype(F32), RNG.standard_normal(5).astype(F32)
    w2s = RNG.standard_normal((4, 2)).astype(F32)
    results = []
    for use_fast in (True, False):
        x, w1, b1, w2 = _t(xs, True), _t(w1s, True), _t(b1s, True), _t(w2s, True)
        y = _model_program(ember, x, w1, b1, w2, use_fast)
        names = _graph(y)
        y.backward()
        results.append((y.item(), sorted(names), x.grad.numpy(), w1.grad.numpy(), b1.grad.numpy(),
                        w2.grad.numpy()))
    fast_r, slow_r = results
    assert fast_r[0] == slow_r[0] and fast_r[1] == slow_r[1]
    for g1, g2 in zip(fast_r[2:], slow_r[2:]):
        np.testing.assert_array_equal(g1, g2)
    assert {"AddmmBackward0", "TBackward0", "ReluBackward0", "ViewBackward0", "ReshapeBackward0",
            "AmaxBackward0", "MeanBackward0", "SumBackward0"} <= set(fast_r[1])
    tx, tw1, tb1, tw2 = (torch.tensor(v, requires_grad=True) for v in (xs, w1s, b1s, w2s))
    y = _model_program(torch, tx, tw1, tb1, tw2, True) if False else None
    h = torch.exp(torch.relu(torch.nn.functional.linear(tx, tw1, tb1)).view(2, -1).reshape(4, 5) / 10.0)
    s = h.sum(1) + h.mean(0, True).sum()
    y = (tw2.t() @ s.view(4, 1)).mean() + h.max()
    y.backward()
    np.testing.assert_allclose(fast_r[0], y.item(), rtol=1e-5)
    for g, t in zip(fast_r[2:], (tx, tw1, tb1, tw2)):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_linear_outside_the_plan_takes_the_python_path():
    F = ember.nn.functional
    x, w, b = _t(A), _t(B), _t(np.ones(3, F32))
    _same(F.linear(x, w), F.linear.__wrapped__(x, w))                      # no bias
    x3 = _t(RNG.standard_normal((2, 3, 4)).astype(F32))
    _same(F.linear(x3, w, b), F.linear.__wrapped__(x3, w, b))             # 3-D input
    with pytest.raises(Exception) as e:
        F.linear(x, w.t(), b)
    with pytest.raises(type(e.value)):
        F.linear.__wrapped__(x, w.t(), b)
    frozen = _t(B)           # a weight that needs no gradient: no TBackward0 node, as the Python path
    xg = _t(A, True)
    y = F.linear(xg, frozen, b)
    assert sorted(_graph(y)) == sorted(_graph(F.linear.__wrapped__(xg, frozen, b)))


@pytest.mark.parametrize("key", [1, -1, slice(1, 3), slice(None, 2), slice(-3, None, 2), slice(5, 9),
                                 (slice(None), 1), (slice(None), slice(None, 2)), (slice(None), slice(None), -2),
                                 (1,), (slice(None), slice(1, None, 3))])
def test_basic_index_views_match_python_path(key):
    a = _t(RNG.standard_normal((3, 4, 5)).astype(F32), True)
    getitem = ember.Tensor.__getitem__
    r, expect = getitem(a, key), getitem.__wrapped__(a, key)
    _same(r, expect)
    assert r._base is a
    assert _graph(r) == _graph(expect)
    assert type(r.grad_fn).__name__ == type(expect.grad_fn).__name__
    assert r.grad_fn.args[1:] == expect.grad_fn.args[1:]
    r.sum().backward()
    g = a.grad.numpy().copy()
    a.grad = None
    expect.sum().backward()
    np.testing.assert_array_equal(g, a.grad.numpy())
    np.testing.assert_array_equal(r.detach().numpy(), a.detach().numpy()[key])


def test_index_errors_are_the_python_paths():
    a = _t(A)
    for key in [(slice(None), 9), (slice(None), slice(None), 0), slice(None, None, -1), (slice(None), slice(0, 2, 0))]:
        with pytest.raises(Exception) as e1:
            a[key]
        with pytest.raises(type(e1.value)) as e2:
            ember.Tensor.__getitem__.__wrapped__(a, key)
        assert str(e1.value) == str(e2.value)
