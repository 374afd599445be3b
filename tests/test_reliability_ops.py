"""Edge cases where Ember once gave a silent wrong result or leaked an internal error, each checked
against torch on the same inputs: 0-d views, empty chunks, integer arange, probability checks, in-place
casts, uint8 all/any, empty losses, 0-d indices and out-of-range fill values."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import ember
from ember.errors import EmberError

torch = pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).parent))
from fixture_plugins import load  # noqa: E402

load("npy")
DEVICES = ("cpu", "npy")
F = ember.nn.functional
TF = torch.nn.functional


def E(a, dtype=None, device="cpu", grad=False):
    """An Ember tensor with the values (and dtype) of numpy array or torch tensor ``a``."""
    a = a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    t = ember.tensor(a, dtype=dtype, device=device)
    return t.requires_grad_() if grad else t


def same(e, t, tol=0.0):
    assert tuple(e.shape) == tuple(t.shape)
    assert e.dtype.name == str(t.dtype).replace("torch.", "")
    en, tn = e.detach().to("cpu").numpy(), t.detach().numpy()
    np.testing.assert_allclose(en.astype(np.float64), tn.astype(np.float64), rtol=tol, atol=tol)


def raises_like(e_fn, t_fn, ember_cls):
    """Both libraries refuse; Ember's error is an EmberError of ``ember_cls``."""
    with pytest.raises(Exception):
        t_fn()
    with pytest.raises(ember_cls) as info:
        e_fn()
    assert isinstance(info.value, EmberError)
    return str(info.value)


# -- 0-d tensors --------------------------------------------------------------------------------

@pytest.mark.parametrize("call", ["flatten(1)", "flatten(-2)", "flatten(0, 1)", "transpose(0, 1)",
                                  "transpose(-2, 0)", "swapaxes(0, 1)"])
def test_zero_d_dim_out_of_range(call):
    msg = raises_like(lambda: eval("x." + call, {"x": ember.tensor(1.0)}),
                      lambda: eval("x." + call, {"x": torch.tensor(1.0)}), IndexError)
    assert "out of range" in msg and "[-1, 0]" in msg


@pytest.mark.parametrize("call", ["flatten()", "flatten(0)", "flatten(-1, 0)", "transpose(0, 0)",
                                  "transpose(-1, 0)", "t()"])
def test_zero_d_valid_dims(call):
    same(eval("x." + call, {"x": ember.tensor(1.5)}), eval("x." + call, {"x": torch.tensor(1.5)}))


@pytest.mark.parametrize("call", ["split(1)", "split([1])", "chunk(2)"])
def test_zero_d_split_chunk_refused(call):
    msg = raises_like(lambda: eval("x." + call, {"x": ember.tensor(1.0)}),
                      lambda: eval("x." + call, {"x": torch.tensor(1.0)}), ValueError)
    assert "at least a 1-dimensional tensor" in msg


def test_zero_d_unbind_refused():
    raises_like(lambda: ember.tensor(1.0).unbind(), lambda: torch.tensor(1.0).unbind(), IndexError)


@pytest.mark.parametrize("src,dst", [(0, 0), (-1, 0), ((0,), (-1,)), ((), ())])
def test_zero_d_movedim(src, dst):
    same(ember.movedim(ember.tensor(2.0), src, dst), torch.movedim(torch.tensor(2.0), src, dst))


def test_movedim_errors():
    raises_like(lambda: ember.movedim(ember.tensor(2.0), 1, 0), lambda: torch.movedim(torch.tensor(2.0), 1, 0),
                IndexError)
    with pytest.raises(RuntimeError):
        torch.movedim(torch.zeros(2, 3), [0, 0], [0, 1])
    with pytest.raises(ValueError, match="repeated dim"):
        ember.movedim(ember.zeros(2, 3), [0, 0], [0, 1])


# -- chunk of an empty dimension ---------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape,chunks,dim", [((4, 0), 3, 1), ((0,), 3, 0), ((0, 2), 5, 0), ((2,), 3, 0),
                                              ((5,), 3, 0), ((2, 0), 1, -1)])
def test_chunk_shapes(device, shape, chunks, dim):
    e = ember.zeros(*shape, device=device).chunk(chunks, dim)
    t = torch.zeros(*shape).chunk(chunks, dim)
    assert [tuple(a.shape) for a in e] == [tuple(b.shape) for b in t]


# -- arange with integer dtypes ----------------------------------------------------------------

ARANGE = [(-3, 0.5, 0.5), (-2.5, 2, 1), (-3.5, 2, 1), (0, 1, 0.3), (0.5, 3.7, 1.5), (1, -2.5, -1),
          (0, 5, 2.5), (-2.5, 2.7, 1.2), (0, 10, 3), (10, 0, -3)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["int64", "int32", "int16", "uint8", "float32", "float64"])
@pytest.mark.parametrize("args", ARANGE)
def test_arange_matches_torch(device, dtype, args):
    try:
        t = torch.arange(*args, dtype=getattr(torch, dtype))
    except ValueError:  # int64 truncates a sub-unit step to 0
        with pytest.raises(ValueError, match="step must be nonzero"):
            ember.arange(*args, dtype=getattr(ember, dtype), device=device)
        return
    same(ember.arange(*args, dtype=getattr(ember, dtype), device=device), t, tol=1e-6)


def test_arange_int32_does_not_run_past_end():
    e = ember.arange(-3, 0.5, 0.5, dtype=ember.int32)
    assert e.shape == (7,) and e.tolist() == torch.arange(-3, 0.5, 0.5, dtype=torch.int32).tolist()
    assert ember.arange(-3, 0.5, 0.5, dtype=ember.int32, device="meta").shape == (7,)


# -- probabilities -----------------------------------------------------------------------------

@pytest.mark.parametrize("p", [[0.5, 1.5], [-0.5, 0.2], [0.5, float("nan")]])
def test_bernoulli_refuses_bad_probabilities(p):
    msg = raises_like(lambda: ember.bernoulli(ember.tensor(p)), lambda: torch.bernoulli(torch.tensor(p)),
                      RuntimeError)
    assert "bernoulli_" in msg and "[0, 1]" in msg


def test_bernoulli_scalar_p_error_class():
    raises_like(lambda: ember.zeros(2).bernoulli_(1.5), lambda: torch.zeros(2).bernoulli_(1.5), RuntimeError)
    raises_like(lambda: ember.zeros(2).bernoulli_(ember.tensor([0.1, 2.0])),
                lambda: torch.zeros(2).bernoulli_(torch.tensor([0.1, 2.0])), ValueError)


def test_bernoulli_valid_edges():
    assert ember.bernoulli(ember.tensor([0.0, 1.0, 1.0, 0.0])).tolist() == [0.0, 1.0, 1.0, 0.0]
    assert ember.bernoulli(ember.zeros(0)).shape == (0,)


@pytest.mark.parametrize("x,y,what", [([0.5, 1.5], [1.0, 0.0], "input"), ([float("nan")], [1.0], "input"),
                                      ([-0.1], [1.0], "input"), ([0.5], [1.5], "target")])
def test_binary_cross_entropy_refuses_outside_unit_interval(x, y, what):
    msg = raises_like(lambda: F.binary_cross_entropy(ember.tensor(x), ember.tensor(y)),
                      lambda: TF.binary_cross_entropy(torch.tensor(x), torch.tensor(y)), RuntimeError)
    assert what in msg and "[0, 1]" in msg


@pytest.mark.parametrize("dtype,tol", [("float32", 1e-5), ("float64", 1e-12)])
def test_binary_cross_entropy_valid_matches_torch(dtype, tol):
    rng = np.random.default_rng(0)
    xn = np.concatenate([rng.uniform(0.01, 0.99, 6), [0.001, 0.999]]).astype(dtype)
    yn = np.concatenate([rng.uniform(0, 1, 6), [0.0, 1.0]]).astype(dtype)
    xt = torch.tensor(xn, requires_grad=True)
    xe = E(xn, grad=True)
    lt = TF.binary_cross_entropy(xt, torch.tensor(yn))
    le = F.binary_cross_entropy(xe, E(yn))
    lt.backward()
    le.backward()
    same(le, lt, tol)
    same(xe.grad, xt.grad, tol)


# -- in-place casts and scalar values ----------------------------------------------------------

@pytest.mark.parametrize("call", ["clamp_(b)", "clamp_(max=b)", "clamp_(1.5)", "clamp_(min=0, max=1.5)"])
def test_int_clamp_inplace_refuses_float_bounds(call):
    msg = raises_like(lambda: eval("x." + call, {"x": ember.tensor([1, 2], dtype=ember.int8),
                                                 "b": ember.tensor([1.5])}),
                      lambda: eval("x." + call, {"x": torch.tensor([1, 2], dtype=torch.int8),
                                                 "b": torch.tensor([1.5])}), TypeError)
    assert "clamp_" in msg and "float32" in msg and "int8" in msg


def test_int_clamp_inplace_valid():
    e = ember.tensor([1, 5, -3], dtype=ember.int8)
    t = torch.tensor([1, 5, -3], dtype=torch.int8)
    e.clamp_(ember.tensor([0], dtype=ember.int8), ember.tensor(3, dtype=ember.int8))
    t.clamp_(torch.tensor([0], dtype=torch.int8), torch.tensor(3, dtype=torch.int8))
    same(e, t)


@pytest.mark.parametrize("dtype", ["int32", "int64", "int8"])
@pytest.mark.parametrize("value", [-1.5, 2.7, 3, True])
def test_addcmul_integer_value(dtype, value):
    a = np.array([1, 2, -3], dtype)
    same(ember.addcmul(E(a), E(a), E(a), value=value),
         torch.addcmul(torch.tensor(a), torch.tensor(a), torch.tensor(a), value=value))


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_addcmul_integer_value_overflow(value):
    a = np.array([1, 2], "int32")
    raises_like(lambda: ember.addcmul(E(a), E(a), E(a), value=value),
                lambda: torch.addcmul(torch.tensor(a), torch.tensor(a), torch.tensor(a), value=value), RuntimeError)
    u = np.array([1, 2], "uint8")
    raises_like(lambda: ember.addcmul(E(u), E(u), E(u), value=-1.5),
                lambda: torch.addcmul(torch.tensor(u), torch.tensor(u), torch.tensor(u), value=-1.5), RuntimeError)


@pytest.mark.parametrize("dtype,tol", [("float32", 1e-5), ("float64", 1e-12)])
def test_addcmul_float_grad(dtype, tol):
    rng = np.random.default_rng(1)
    ns = [rng.standard_normal((2, 3)).astype(dtype) for _ in range(3)]
    ts = [torch.tensor(n, requires_grad=True) for n in ns]
    es = [E(n, grad=True) for n in ns]
    rt, re = torch.addcmul(*ts, value=-1.5), ember.addcmul(*es, value=-1.5)
    rt.sum().backward()
    re.sum().backward()
    same(re, rt, tol)
    for e, t in zip(es, ts):
        same(e.grad, t.grad, tol)


# -- all / any keep uint8 ----------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES + ("meta",))
@pytest.mark.parametrize("op", ["all", "any"])
@pytest.mark.parametrize("dtype", ["uint8", "int32", "bool", "float32"])
@pytest.mark.parametrize("kw", [{}, {"dim": 1}, {"dim": 0, "keepdim": True}])
def test_all_any_dtype(device, op, dtype, kw):
    a = np.array([[1, 0, 2], [3, 4, 5]]).astype(dtype)
    t = getattr(torch.tensor(a), op)(**kw)
    e = getattr(E(a, device=device), op)(**kw)
    if device == "meta":
        assert tuple(e.shape) == tuple(t.shape) and e.dtype.name == str(t.dtype)[6:]
    else:
        same(e, t)


def test_all_any_empty_uint8():
    for op in ("all", "any"):
        same(getattr(ember.zeros(0, dtype=ember.uint8), op)(), getattr(torch.zeros(0, dtype=torch.uint8), op)())


# -- empty batches and shapes ------------------------------------------------------------------

@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("probs", [False, True])
def test_cross_entropy_empty_batch(reduction, probs):
    tt = torch.zeros(0, 3) if probs else torch.zeros(0, dtype=torch.int64)
    xt = torch.zeros(0, 3, requires_grad=True)
    xe = ember.zeros(0, 3, requires_grad=True)
    lt = TF.cross_entropy(xt, tt, reduction=reduction)
    le = F.cross_entropy(xe, E(tt, dtype=ember.int64 if not probs else None), reduction=reduction)
    same(le, lt)  # mean of nothing is nan, as PyTorch
    lt.sum().backward()
    le.sum().backward()
    same(xe.grad, xt.grad)


@pytest.mark.parametrize("shape", [(2, 0, 4, 1), (2, 2, 0, 1), (2, 2, 4, 0)])
def test_im2col_empty_non_batch_dims_refused(shape):
    msg = raises_like(lambda: F.unfold(ember.zeros(*shape), (2, 1)), lambda: TF.unfold(torch.zeros(*shape), (2, 1)),
                      ValueError)
    assert str(list(shape)) in msg


def test_im2col_empty_batch():
    same(F.unfold(ember.zeros(0, 2, 4, 1), (2, 1)), TF.unfold(torch.zeros(0, 2, 4, 1), (2, 1)))


# -- indexing ----------------------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
def test_index_with_zero_d_index_is_zero_d(device):
    x = ember.tensor([1.0, 2.0, 3.0], device=device)
    r = ember.index(x, [ember.tensor(1, device=device)])
    assert r.shape == () and r.item() == 2.0
    assert ember.index(ember.empty(3, device="meta"), [ember.tensor(1, device="meta")]).shape == ()
    m = ember.tensor([[1.0, 2.0, 3.0]], device=device)
    same(m[ember.tensor(0, device=device), ember.tensor(2, device=device)],
         torch.tensor([[1.0, 2.0, 3.0]])[torch.tensor(0), torch.tensor(2)])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("alpha", [1, 0, -1, 2, 0.5])
@pytest.mark.parametrize("init", [0, 1])
def test_index_add_bool(device, alpha, init):
    idx, src = [0, 0, 1], [True, False, True]
    t = torch.full((3,), bool(init)).index_add_(0, torch.tensor(idx), torch.tensor(src), alpha=alpha)
    e = ember.full((3,), bool(init), device=device).index_add_(
        0, ember.tensor(idx, device=device), ember.tensor(src, device=device), alpha=alpha)
    same(e, t)


# -- leaked internal errors --------------------------------------------------------------------

@pytest.mark.parametrize("op", ["logical_or", "logical_and", "logical_xor"])
@pytest.mark.parametrize("scalar", [0, 1, 2, 0.0, 0.5])
def test_logical_bool_tensor_with_python_scalar(op, scalar):
    # PyTorch takes only tensors here; Ember also takes a number and reads it as a 0-d tensor would be read
    x = [True, False]
    t = getattr(torch, op)(torch.tensor(x), torch.tensor(scalar))
    same(getattr(ember, op)(ember.tensor(x), scalar), t)
    same(getattr(ember.tensor(x), op)(scalar), t)


def test_fill_nan_into_int_is_ember_error():
    raises_like(lambda: ember.zeros(3, dtype=ember.int64).fill_(float("nan")),
                lambda: torch.zeros(3, dtype=torch.int64).fill_(float("nan")), RuntimeError)


@pytest.mark.parametrize("dtype", ["int64", "uint8", "int8", "float16"])
@pytest.mark.parametrize("value", [float("inf"), float("nan"), 1e30, -1, -1.5, 300, 2.5, 70000.0])
@pytest.mark.parametrize("inplace", [False, True])
def test_masked_fill_values(dtype, value, inplace):
    name = "masked_fill_" if inplace else "masked_fill"
    mask = [True, False]

    def t_fn():
        return getattr(torch.zeros(2, dtype=getattr(torch, dtype)), name)(torch.tensor(mask), value)

    def e_fn():
        return getattr(ember.zeros(2, dtype=getattr(ember, dtype)), name)(ember.tensor(mask), value)
    try:
        t = t_fn()
    except RuntimeError:
        msg = raises_like(e_fn, t_fn, RuntimeError)
        assert name in msg and "without overflow" in msg and dtype in msg
        return
    same(e_fn(), t)


def test_eye_too_large_is_ember_error():
    raises_like(lambda: ember.eye(2 ** 40), lambda: torch.eye(2 ** 40), RuntimeError)
