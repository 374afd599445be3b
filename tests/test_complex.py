"""Complex dtypes against torch: promotion, creation, parts, arithmetic, refusal by the operators that
do not take them, backends that do not declare them, printing, saving, and gradients of real losses;
creation, parts, arithmetic and gradients on cpu and on xla (skipped where jax is absent)."""

import itertools

import numpy as np
import pytest

import ember
from ember import dtypes as D
from fixture_plugins import load

torch = pytest.importorskip("torch")

ALL = D.all_dtypes + D.complex_dtypes
TORCH = {d: getattr(torch, d.name) for d in ALL}


def _t(x):
    return x.detach().resolve_conj().numpy() if isinstance(x, torch.Tensor) else x.detach().cpu().numpy()


@pytest.fixture(params=["cpu", "xla"])
def device(request):
    if request.param == "xla":
        pytest.importorskip("jax", reason="ember-xla needs jax and jaxlib (pip install jax)")
        pytest.importorskip("ember_xla", reason="ember-xla is not installed (pip install -e backends/xla)")
    return request.param


@pytest.mark.parametrize("a,b", [p for p in itertools.product(ALL, repeat=2)
                                 if p[0].is_complex or p[1].is_complex], ids=lambda d: d.name)
def test_promotion_matches_torch(a, b):
    assert D.promote_types(a, b).name == str(torch.promote_types(TORCH[a], TORCH[b])).split(".")[1]
    ea, eb = ember.zeros(2, dtype=a), ember.zeros((), dtype=b)
    want = str(torch.result_type(torch.zeros(2, dtype=TORCH[a]), torch.zeros((), dtype=TORCH[b]))).split(".")[1]
    if want != "complex32":  # Ember has no complex32: float16 pairs with complex64
        assert D.result_type(ea, eb).name == want


@pytest.mark.parametrize("dt", [d for d in D.all_dtypes if d is not D.float16], ids=lambda d: d.name)
def test_python_complex_scalar_promotion(dt):
    want = str(torch.result_type(torch.zeros(2, dtype=TORCH[dt]), 1j)).split(".")[1]
    assert (ember.zeros(2, dtype=dt) + 1j).dtype.name == want


def test_creation_item_numpy_and_aliases(device):
    x = ember.tensor([1 + 2j, -3.5j], device=device)
    assert x.dtype is ember.complex64 and ember.cfloat is ember.complex64 and ember.cdouble is ember.complex128
    assert ember.tensor([1j], dtype=ember.complex128, device=device).dtype is ember.complex128
    assert x[0].item() == 1 + 2j and isinstance(x[1].item(), complex)
    np.testing.assert_array_equal(x.cpu().numpy(), np.array([1 + 2j, -3.5j], np.complex64))
    assert ember.is_complex(x) and x.is_complex() and not ember.ones(2, device=device).is_complex()
    assert not x.is_floating_point()
    y = ember.tensor([1.5, -2.0], device=device).to(ember.complex64)
    np.testing.assert_array_equal(y.cpu().numpy(), [1.5, -2.0])
    assert ember.zeros(2, 2, dtype=ember.complex128, device=device).sum().item() == 0j
    assert ember.full((2,), 1 - 1j, device=device).dtype is ember.complex64


def test_repr_like_torch():
    for data in ([1 + 2j, 3 - 1j], [1.5 + 2j, -0.25j]):
        assert repr(ember.tensor(data)) == repr(torch.tensor(data))
    assert repr(ember.tensor([1j], dtype=ember.complex128)) == repr(
        torch.tensor([1j], dtype=torch.complex128)).replace("torch.", "ember.")


def _pair(shape=(3, 4), dt=np.complex64, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dt)


@pytest.mark.parametrize("name", ["real", "imag", "abs", "angle", "conj", "conj_physical", "view_as_real", "exp",
                                  "neg", "sum", "mean"])
def test_unary_values_and_dtypes(name, device):
    x = _pair()
    e = getattr(ember, name)(ember.tensor(x, device=device))
    t = getattr(torch, name)(torch.tensor(x))
    assert e.dtype.name == str(t.dtype).split(".")[1]
    np.testing.assert_allclose(_t(e), _t(t), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "true_divide", "eq", "matmul"])
def test_binary_values(op, device):
    a, b = _pair((4, 4)), _pair((4, 4), np.complex128 if op != "matmul" else np.complex64, seed=1)
    e = getattr(ember, op)(ember.tensor(a, device=device), ember.tensor(b, device=device))
    t = getattr(torch, op)(torch.tensor(a), torch.tensor(b))
    assert e.dtype.name == str(t.dtype).split(".")[1]
    np.testing.assert_allclose(_t(e), _t(t), rtol=1e-5)
    if op == "matmul":
        return
    e = getattr(ember, op)(ember.tensor(a, device=device), 2.5 - 1j)
    t = getattr(torch, op)(torch.tensor(a), 2.5 - 1j)
    np.testing.assert_allclose(_t(e), _t(t), rtol=1e-5)


def test_complex_polar_view_as_complex(device):
    def et(v):
        return ember.tensor(v, device=device)
    re, im = np.float32([1, -2, 0.5]), np.float32([0, 3, -1])
    e, t = ember.complex(et(re), et(im)), torch.complex(torch.tensor(re), torch.tensor(im))
    assert e.dtype is ember.complex64 and e.device.type == device
    np.testing.assert_array_equal(_t(e), _t(t))
    np.testing.assert_array_equal(_t(ember.complex(et(re[:, None]), et(im))),  # broadcast parts
                                  _t(torch.complex(torch.tensor(re[:, None]), torch.tensor(im))))
    np.testing.assert_allclose(_t(ember.polar(et(np.abs(re)), et(im))),
                               _t(torch.polar(torch.tensor(np.abs(re)), torch.tensor(im))), rtol=1e-6, atol=1e-7)
    x = np.float64([[1, 2], [3, -4]])
    np.testing.assert_array_equal(_t(ember.view_as_complex(et(x))),
                                  _t(torch.view_as_complex(torch.tensor(x))))
    re_t = et(x).real
    assert re_t.dtype is ember.float64  # a real tensor's .real is itself
    with pytest.raises(ember.DTypeError):
        ember.complex(et(np.ones(2, np.float32)), et(np.ones(2)))
    with pytest.raises(ember.DTypeError):
        ember.imag(et(np.ones(2)))
    with pytest.raises(ember.ShapeError):
        ember.view_as_complex(et(np.ones((3, 3), np.float32)))


@pytest.mark.parametrize("name,fn", [
    ("cat", lambda m, a, b: m.cat([a, b[:2]], 0)),
    ("stack", lambda m, a, b: m.stack([a, b], 1)),
    ("flip", lambda m, a, b: m.flip(a, (0, 1))),
    ("roll", lambda m, a, b: m.roll(a, (1, -2), (0, 1))),
    ("constant_pad_nd", lambda m, a, b: m.nn.functional.pad(a, (1, 2, 0, 1), value=2.0)),
    ("where", lambda m, a, b: m.where(m.real(a) > 0, a, b)),
    ("where_scalar", lambda m, a, b: m.where(m.imag(a) > 0, a, 1j)),
    ("transpose_contiguous", lambda m, a, b: a.transpose(0, 1).contiguous() * b.mT),
    ("strided_slice", lambda m, a, b: a[::2, 1::2] - b[1::2, ::2]),
    ("bmm", lambda m, a, b: m.bmm(a.reshape(2, 2, 4), b.reshape(2, 4, 2))),
    ("mm_transposed", lambda m, a, b: m.mm(a.mT, b)),
    ("sum_dims", lambda m, a, b: a.sum(1, keepdim=True) + b.mean(0)),
    ("ne", lambda m, a, b: m.ne(a, m.where(m.real(b) > 0, a, b))),
    ("div_real_tensor", lambda m, a, b: a / m.real(b)),
    ("to_complex128", lambda m, a, b: a.to(m.complex128) * b),
    ("from_real", lambda m, a, b: m.real(a).to(m.complex64) + m.imag(b).to(m.complex128)),
])
def test_shapes_copies_and_mixed_operands(name, fn, device):
    a, b = _pair((4, 4)), _pair((4, 4), seed=2)
    e = fn(ember, ember.tensor(a, device=device), ember.tensor(b, device=device))
    t = fn(torch, torch.tensor(a), torch.tensor(b))
    assert e.dtype.name == str(t.dtype).split(".")[1] and tuple(e.shape) == tuple(t.shape)
    assert e.device.type == device
    np.testing.assert_allclose(_t(e), _t(t), rtol=1e-5, atol=1e-6)


def test_writes_into_views_and_device_round_trips(device):
    z = _pair((3, 4), np.complex128)
    e, t = ember.tensor(z, device=device), torch.tensor(z)
    e[1:, ::2] = ember.tensor(z[:2, 1::2] * 1j, device=device)
    t[1:, ::2] = torch.tensor(z[:2, 1::2] * 1j)
    e[0] = 3 - 2j
    t[0] = 3 - 2j
    e[:, 1].fill_(-1j)
    t[:, 1].fill_(-1j)
    np.testing.assert_array_equal(_t(e), _t(t))
    back = e.cpu().to(device)
    assert back.dtype is ember.complex128 and back.device.type == device
    np.testing.assert_array_equal(_t(back), _t(t))
    assert ember.empty(2, 3, dtype=ember.complex64, device=device).shape == (2, 3)
    np.testing.assert_array_equal(_t(ember.zeros(2, dtype=ember.complex64, device=device)), np.zeros(2))


def test_real_and_imag_are_documented_copies():
    x = ember.tensor([1 + 2j])
    r = x.real
    r[0] = 5.0
    assert x.item() == 1 + 2j


@pytest.mark.parametrize("op", ["sin", "log", "maximum", "cumsum", "sort", "relu", "floor", "lt"])
def test_operators_without_complex_refuse_it(op):
    x = ember.tensor([1 + 1j, 2j])
    args = {"maximum": (x, x), "lt": (x, x), "cumsum": (x, 0)}.get(op, (x,))
    fn = getattr(ember, op, None) or getattr(ember.nn.functional, op)
    with pytest.raises(ember.DTypeError, match=f"{op}\\(\\) does not support complex64"):
        fn(*args)
    with pytest.raises(ember.DTypeError, match="does not support complex64"):  # on meta too: before any kernel
        fn(*[a.to("meta") if isinstance(a, ember.Tensor) else a for a in args])


def test_inplace_abs_and_rounding_division_refuse_complex():
    x = ember.tensor([1 + 1j])
    with pytest.raises(ember.DTypeError):
        x.abs_()
    with pytest.raises(ember.DTypeError):
        ember.div(x, x, rounding_mode="floor")


def test_backend_without_complex_dtypes_refuses_them():
    counting = load("counting")  # a backend whose capabilities list only the real dtypes
    dev = [b.device_type for b in ember.plugins.manager.registered_backends()
           if b.distribution == getattr(counting, "DISTRIBUTION", b.distribution) and D.complex64 not in
           b.capabilities.dtypes and b.device_type not in ("meta",)]
    assert dev
    with pytest.raises(ember.DTypeError, match=f"device type '{dev[0]}'.*does not support complex64"):
        ember.zeros(2, dtype=ember.complex64, device=dev[0])
    with pytest.raises(ember.DTypeError, match="does not support complex64"):
        ember.tensor([1j]).to(dev[0])


@pytest.mark.parametrize("fn", [
    lambda m: m.abs(m.complex(a_, b_)).sum(),
    lambda m: (m.real(m.exp(m.complex(a_, b_))) * m.imag(m.complex(a_, b_) * m.complex(b_, a_))).sum(),
    lambda m: m.angle(m.complex(a_, b_) / m.complex(b_, a_)).sum(),
    lambda m: m.view_as_real(m.conj(m.complex(a_, b_)) @ m.complex(b_, a_)).pow(2).sum(),
    lambda m: m.abs(m.complex(a_, b_).mean() + m.complex(a_, b_).sum(0)).sum(),
])
def test_gradients_of_real_losses_match_torch(fn, device):
    global a_, b_
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    got = []
    for m, mk in ((ember, lambda v, **kw: ember.tensor(v, device=device, **kw)), (torch, torch.tensor)):
        a_, b_ = mk(a, requires_grad=True), mk(b, requires_grad=True)
        fn(m).backward()
        got.append((_t(a_.grad), _t(b_.grad)))
    np.testing.assert_allclose(got[0][0], got[1][0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got[0][1], got[1][1], rtol=1e-10, atol=1e-12)


def test_complex_leaf_gradient_matches_torch(device):
    z = _pair((4,), np.complex128)
    e, t = ember.tensor(z, requires_grad=True, device=device), torch.tensor(z, requires_grad=True)
    (ember.abs(e * e) + ember.real(e)).sum().backward()
    ((t * t).abs() + t.real).sum().backward()
    assert e.grad.dtype is ember.complex128
    np.testing.assert_allclose(_t(e.grad), _t(t.grad), rtol=1e-12)


def test_save_and_load_complex64_as_safetensors_c64(tmp_path):
    x = ember.tensor([1 + 2j, 3 - 4j])
    ember.save({"x": x}, tmp_path / "c.safetensors")
    y = ember.load(tmp_path / "c.safetensors")["x"]
    assert y.dtype is ember.complex64
    np.testing.assert_array_equal(y.numpy(), x.numpy())
    from safetensors.torch import load_file
    np.testing.assert_array_equal(load_file(str(tmp_path / "c.safetensors"))["x"].numpy(), x.numpy())
    with pytest.raises(ember.SerializationError, match="complex128"):  # the format has no complex128
        ember.save({"x": x.to(ember.complex128)}, tmp_path / "d.safetensors")


def test_complex_operators_decompose_to_prims_that_take_complex():
    # npy gives kernels for the required prims only: flip reaches gather, matmul of vectors dot and bmm
    load("npy")
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))).astype(np.complex64)
    idx = np.array([[2, 0], [1, 1], [0, 3]])
    x, i = ember.tensor(a, device="npy"), ember.tensor(idx, device="npy")
    t, ti = torch.tensor(a), torch.tensor(idx)
    cases = [(ember.flip(x, (0, 1)), torch.flip(t, (0, 1))), (ember.matmul(x[0], x[1]), torch.matmul(t[0], t[1])),
             (ember.gather(x, 1, i), torch.gather(t, 1, ti)),
             (ember.scatter(x, 1, i[:, :1], x), torch.scatter(t, 1, ti[:, :1], t)),
             (ember.scatter_add(x, 1, i, x), torch.scatter_add(t, 1, ti, t))]
    for got, want in cases:
        assert got.dtype == ember.complex64
        np.testing.assert_allclose(got.cpu().numpy(), want.numpy(), rtol=1e-6, atol=1e-6)
