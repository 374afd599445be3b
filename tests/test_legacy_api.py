"""PyTorch's legacy constructors and habits against torch: ember.Tensor(2, 3), ember.FloatTensor(data),
x.type(ember.LongTensor), new_*, p.data = other, format(t, spec), set_printoptions, load(map_location)."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")

TYPES = ["FloatTensor", "DoubleTensor", "HalfTensor", "BFloat16Tensor", "LongTensor", "IntTensor",
         "ShortTensor", "CharTensor", "ByteTensor", "BoolTensor"]


def same(e, t):
    assert tuple(e.shape) == tuple(t.shape)
    assert e.dtype.name == str(t.dtype).split(".")[-1]
    if t.dtype == torch.bfloat16:
        t, e = t.float(), e.float()
    np.testing.assert_array_equal(e.numpy(), t.numpy())


@pytest.fixture
def npy():
    sys.path.insert(0, "tests/fixtures/plugins")
    sys.path.insert(0, "tests")
    from fixture_plugins import load
    load("npy")
    return "npy"


@pytest.fixture(autouse=True)
def _restore_printoptions():
    yield
    ember.set_printoptions(profile="default")
    torch.set_printoptions(profile="default")


# -- ember.Tensor(...) --------------------------------------------------------------

@pytest.mark.parametrize("args", [(2, 3), (0,), (4,), (ember.Size([2, 1]),), ()])
def test_tensor_sizes(args):
    targs = tuple(torch.Size(a) if isinstance(a, ember.Size) else a for a in args)
    e, t = ember.Tensor(*args), torch.Tensor(*targs)
    assert tuple(e.shape) == tuple(t.shape) and e.dtype is ember.float32
    assert type(e) is ember.Tensor and isinstance(e, ember.Tensor)


@pytest.mark.parametrize("data", [[1, 2], [[1.5, 2], [3, 4]], (2, 3), [], [True, False]])
def test_tensor_data(data):
    same(ember.Tensor(data), torch.Tensor(data))
    same(ember.Tensor(np.array(data)), torch.Tensor(np.array(data)))


def test_tensor_follows_default_dtype_and_device_kwarg():
    ember.set_default_dtype(ember.float64)
    try:
        assert ember.Tensor([1]).dtype is ember.float64 and ember.Tensor(2).dtype is ember.float64
    finally:
        ember.set_default_dtype(ember.float32)
    assert ember.Tensor(2, 3, device="meta").device.type == "meta"


def test_tensor_of_tensor_is_an_alias_with_grad():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = ember.Tensor(x)
    assert y is not x and y.data_ptr() == x.data_ptr()
    (y * ember.tensor([3.0, 4.0])).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 4.0])
    assert ember.Tensor(ember.tensor([1, 2])).dtype is ember.int64  # any dtype, as torch.Tensor(long tensor)


@pytest.mark.parametrize("args, kwargs, exc", [((2.5,), {}, TypeError), (("a",), {}, TypeError),
                                               ((2, 3.0), {}, TypeError), (([1, 2],), {"dtype": "x"}, TypeError),
                                               ((2, 3), {"dtype": "x"}, TypeError)])
def test_tensor_bad_arguments(args, kwargs, exc):
    kw = {k: torch.float64 for k in kwargs}
    with pytest.raises(exc):
        torch.Tensor(*args, **kw)
    with pytest.raises(exc, match="Tensor"):
        ember.Tensor(*args, **{k: ember.float64 for k in kwargs})


def test_tensor_negative_size():
    with pytest.raises(RuntimeError):
        torch.Tensor(-1)
    with pytest.raises(ember.ShapeError, match="-1"):
        ember.Tensor(-1)


def test_make_path_untouched():
    # Tensors built by backends and views never run the legacy constructor.
    x = ember.arange(6).reshape(2, 3)
    assert type(x.t()) is ember.Tensor and x.t().shape == ember.Size([3, 2])


# -- typed constructors -------------------------------------------------------------

@pytest.mark.parametrize("name", TYPES)
def test_typed_constructors(name):
    E, T = getattr(ember, name), getattr(torch, name)
    e, t = E(2, 3), T(2, 3)
    assert tuple(e.shape) == (2, 3) and e.dtype.name == str(t.dtype).split(".")[-1]
    data = [[1.7, -2.0, 0.0], [3.0, 1.0, 0.5]] if name not in ("ByteTensor", "BoolTensor") else [[1, 0, 2]]
    same(E(data), T(data))
    same(E(), T())
    assert E.dtype.name == str(T.dtype).split(".")[-1]
    assert isinstance(E(2), E) and isinstance(T(2), T)
    assert not isinstance(ember.zeros(2, dtype=ember.complex64 if hasattr(ember, "complex64") else ember.float64)
                          if name != "DoubleTensor" else ember.zeros(2), E)
    assert isinstance(E(2), ember.Tensor)
    assert repr(E) == f"<class 'ember.{name}'>" and E.__name__ == name


def test_typed_isinstance_needs_cpu_and_dtype(npy):
    x = ember.zeros(2)
    assert isinstance(x, ember.FloatTensor) and not isinstance(x, ember.DoubleTensor)
    assert not isinstance(x.to(npy), ember.FloatTensor)
    assert not isinstance(3.0, ember.FloatTensor)
    assert not issubclass(ember.FloatTensor, ember.Tensor) and not issubclass(torch.FloatTensor, torch.Tensor)


def test_typed_of_tensor():
    x = ember.zeros(2)
    assert ember.FloatTensor(x).data_ptr() == x.data_ptr()
    with pytest.raises(TypeError):
        torch.FloatTensor(torch.zeros(2, dtype=torch.float64))
    with pytest.raises(TypeError, match="float64"):
        ember.FloatTensor(ember.zeros(2, dtype=ember.float64))


@pytest.mark.parametrize("name", TYPES)
def test_type_with_legacy_class(name):
    E, T = getattr(ember, name), getattr(torch, name)
    data = [1.5, -2.0, 0.0]
    e, t = ember.tensor(data).type(E), torch.tensor(data).type(T)
    same(e, t)
    assert e.type() == t.type()


def test_type_with_legacy_class_moves_to_cpu(npy):
    e = ember.tensor([1.5, 2.0], device=npy).type(ember.DoubleTensor)
    assert e.device.type == "cpu" and e.dtype is ember.float64
    assert ember.tensor([1.5]).type(ember.float64).dtype is ember.float64  # dtypes still work
    assert ember.tensor([1.5]).type("torch.IntTensor").dtype is ember.int32


# -- new_* ----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_new_methods(dtype):
    e, t = ember.zeros(2, dtype=getattr(ember, dtype)), torch.zeros(2, dtype=getattr(torch, dtype))
    same(e.new_tensor([1, 2]), t.new_tensor([1, 2]))
    same(e.new_tensor([1, 2], dtype=ember.float64), t.new_tensor([1, 2], dtype=torch.float64))
    same(e.new_zeros(2, 3), t.new_zeros(2, 3))
    same(e.new_zeros((2, 3)), t.new_zeros((2, 3)))
    same(e.new_ones([3]), t.new_ones([3]))
    same(e.new_ones(2, dtype=ember.int32), t.new_ones(2, dtype=torch.int32))
    same(e.new_full((2, 1), 3), t.new_full((2, 1), 3))
    same(e.new_full([2], 7, dtype=ember.float64), t.new_full([2], 7, dtype=torch.float64))
    assert tuple(e.new_empty(()).shape) == tuple(t.new_empty(()).shape) == ()
    assert e.new_empty(4, 2).dtype is e.dtype and tuple(e.new_empty(4, 2).shape) == (4, 2)


def test_new_methods_requires_grad_and_device(npy):
    x = ember.zeros(2, dtype=ember.float64)
    for m in ("new_zeros", "new_ones", "new_empty"):
        y = getattr(x, m)(3, requires_grad=True)
        assert y.requires_grad and y.is_leaf and y.dtype is ember.float64
    assert x.new_full((2,), 1.5, requires_grad=True).requires_grad
    z = ember.zeros(2, device=npy)
    assert z.new_zeros(3).device.type == npy and z.new_tensor([1.0]).device.type == npy
    np.testing.assert_array_equal(z.new_full((2,), 4.0).cpu().numpy(), [4.0, 4.0])


# -- .data ----------------------------------------------------------------------------

def test_data_read_is_detached_view():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    d = x.data
    assert not d.requires_grad and d.data_ptr() == x.data_ptr()
    d.mul_(2)
    np.testing.assert_array_equal(x.detach().numpy(), [2.0, 4.0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_data_assignment_keeps_identity_and_grads(dtype):
    rng = np.random.default_rng(0)
    w0, w1, xin = rng.normal(size=(3, 2)), rng.normal(size=(3, 2)), rng.normal(size=(4, 3))
    ed, td = getattr(ember, dtype), getattr(torch, dtype)
    lin_e = ember.nn.Linear(3, 2, bias=False).to(ed)
    lin_t = torch.nn.Linear(3, 2, bias=False).to(td)
    pe, pt = lin_e.weight, lin_t.weight
    pe.data = ember.tensor(w0.T.copy(), dtype=ed)
    pt.data = torch.tensor(w0.T.copy(), dtype=td)
    assert lin_e.weight is pe and pe.requires_grad and pe.is_leaf
    (lin_e(ember.tensor(xin, dtype=ed)) ** 2).sum().backward()
    (lin_t(torch.tensor(xin, dtype=td)) ** 2).sum().backward()
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(pe.grad.numpy(), pt.grad.numpy(), rtol=tol, atol=tol)
    # An optimizer keeps updating the same object after a .data swap.
    opt = ember.optim.SGD(lin_e.parameters(), lr=0.1)
    pe.data = ember.tensor(w1.T.copy(), dtype=ed)
    pe.grad = None
    (lin_e(ember.tensor(xin, dtype=ed)) ** 2).sum().backward()
    opt.step()
    pt.data = torch.tensor(w1.T.copy(), dtype=td)
    pt.grad = None
    (lin_t(torch.tensor(xin, dtype=td)) ** 2).sum().backward()
    torch.optim.SGD(lin_t.parameters(), lr=0.1).step()
    np.testing.assert_allclose(pe.detach().numpy(), pt.detach().numpy(), rtol=tol, atol=tol)


def test_data_assignment_changes_shape_dtype_and_device(npy):
    p = ember.nn.Parameter(ember.zeros(2))
    p.data = ember.zeros(3, dtype=ember.float64)
    assert p.shape == ember.Size([3]) and p.dtype is ember.float64 and p.requires_grad
    p.data = ember.ones(2, device=npy)
    assert p.device.type == npy
    np.testing.assert_array_equal((p * 2).cpu().detach().numpy(), [2.0, 2.0])
    with pytest.raises(TypeError):
        torch.nn.Parameter(torch.zeros(2)).data = 5
    with pytest.raises(TypeError, match="int"):
        p.data = 5


# -- format -----------------------------------------------------------------------------

@pytest.mark.parametrize("value, spec", [(1.5, ".3f"), (2.0, "+.2f"), (3, "+d"), (123.456, "10.1e"), (0.25, ""),
                                         (7, "05d"), (True, "")])
def test_format_scalars(value, spec):
    assert format(ember.tensor(value), spec) == format(torch.tensor(value), spec)
    assert f"{ember.tensor(value)}" == f"{torch.tensor(value)}".replace("torch", "ember")


def test_format_requires_grad_and_others():
    e, t = ember.tensor(2.0, requires_grad=True), torch.tensor(2.0, requires_grad=True)
    assert "{:+.2f}".format(e * 3) == "{:+.2f}".format(t * 3) == "+6.00"
    assert f"{ember.tensor([1.5, 2])}" == f"{torch.tensor([1.5, 2])}" == "tensor([1.5000, 2.0000])"
    for e, t in ((ember.tensor([1.5]), torch.tensor([1.5])), (ember.ones(2), torch.ones(2))):
        with pytest.raises(TypeError):
            format(t, ".3f")
        with pytest.raises(TypeError):
            format(e, ".3f")


# -- set_printoptions ---------------------------------------------------------------------

_VALUES = [[1.123456, 2.5, -3.25], [0.001, 2.0], [1.0, 2000.0], [1e-5, 1.0], [1e9, 2.5], [1.0, 2.0],
           [[1.123456, 22.5], [3.0, 4.0]], [float("nan"), 1.5, float("inf")], [0.0, 0.0], [100.0, 1e-6]]
_OPTIONS = [{}, {"precision": 2}, {"precision": 6}, {"sci_mode": True}, {"sci_mode": False},
            {"profile": "short"}, {"profile": "full"}, {"precision": 1, "sci_mode": True}]


@pytest.mark.parametrize("opts", _OPTIONS, ids=str)
def test_printoptions_match_torch(opts):
    ember.set_printoptions(**opts)
    torch.set_printoptions(**opts)
    for v in _VALUES:
        for dt in ("float32", "float64"):
            assert repr(ember.tensor(v, dtype=getattr(ember, dt))) == \
                repr(torch.tensor(v, dtype=getattr(torch, dt))).replace("torch", "ember"), (v, dt)


@pytest.mark.parametrize("opts", [{"threshold": 5}, {"threshold": 5, "edgeitems": 2}, {"profile": "short"},
                                  {"profile": "full"}, {"profile": "default"}], ids=str)
def test_printoptions_summarize(opts):
    ember.set_printoptions(**opts)
    torch.set_printoptions(**opts)
    for n in (10, 1001, 2000):
        assert repr(ember.arange(n)) == repr(torch.arange(n)).replace("torch", "ember"), n


def test_printoptions_profile_resets_and_errors():
    ember.set_printoptions(precision=2)
    assert repr(ember.tensor([1.12345])) == "tensor([1.12])"
    ember.set_printoptions(profile="default")
    assert repr(ember.tensor([1.12345])) == "tensor([1.1235])"
    with pytest.raises(ValueError, match="profile"):
        ember.set_printoptions(profile="long")
    with pytest.raises(TypeError, match="precision"):
        ember.set_printoptions(precision="2")
    from ember._repr import get_printoptions, printoptions
    with printoptions(precision=1):
        assert repr(ember.tensor([1.26])) == "tensor([1.3])"
    assert get_printoptions()["precision"] == 4


# -- load(map_location) ---------------------------------------------------------------------

def _saved(obj):
    buf = io.BytesIO()
    ember.save(obj, buf)
    return buf.getvalue()


def test_load_map_location_forms(npy):
    data = _saved({"w": ember.ones(2, 3), "b": ember.zeros(2)})
    for loc in ("cpu", ember.device("cpu"), None, {"cuda:0": "cpu"}):
        r = ember.load(io.BytesIO(data), map_location=loc)
        assert r["w"].device.type == "cpu" and r["w"].shape == ember.Size([2, 3])
    for loc in (npy, ember.device(npy), {"cpu": npy}, {"cpu": ember.device(npy)}, lambda s, loc: s.to(npy)):
        r = ember.load(io.BytesIO(data), map_location=loc)
        assert r["w"].device.type == npy and r["b"].device.type == npy
        np.testing.assert_array_equal(r["w"].cpu().numpy(), np.ones((2, 3), np.float32))
    seen = []
    r = ember.load(io.BytesIO(data), map_location=lambda storage, loc: seen.append(loc))  # None: keep
    assert seen == ["cpu", "cpu"] and r["b"].device.type == "cpu"
    r = ember.load(io.BytesIO(data), map_location=lambda storage, loc: storage)
    np.testing.assert_array_equal(r["w"].numpy(), np.ones((2, 3), np.float32))


def test_load_map_location_errors():
    data = _saved(ember.ones(2))
    with pytest.raises(TypeError, match="map_location"):
        ember.load(io.BytesIO(data), map_location=3)
    with pytest.raises(TypeError, match="returned int"):
        ember.load(io.BytesIO(data), map_location=lambda s, loc: 3)


def test_manual_seed_returns_generator():
    g = ember.manual_seed(3)
    assert isinstance(g, ember.Generator) and g.initial_seed() == 3
    assert isinstance(torch.manual_seed(3), torch.Generator)
