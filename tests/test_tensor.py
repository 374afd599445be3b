"""Tensor creation, conversion and printing."""

import numpy as np
import pytest

import ember

from layouts import assert_close

torch = pytest.importorskip("torch")


def test_factories_match_torch():
    cases = [
        (ember.zeros(2, 3), torch.zeros(2, 3)), (ember.ones((2, 3), dtype=ember.int8), torch.ones(2, 3, dtype=torch.int8)),
        (ember.full((2,), 7), torch.full((2,), 7)), (ember.full((2,), 1.5), torch.full((2,), 1.5)),
        (ember.arange(5), torch.arange(5)), (ember.arange(1, 4, 0.5), torch.arange(1, 4, 0.5)),
        (ember.arange(10, 0, -3), torch.arange(10, 0, -3)), (ember.arange(0.0, 1.0, 0.1), torch.arange(0.0, 1.0, 0.1)),
        (ember.linspace(-1, 1, 7), torch.linspace(-1, 1, 7)), (ember.linspace(0, 10, 1), torch.linspace(0, 10, 1)),
        (ember.linspace(2, 3, 0), torch.linspace(2, 3, 0)),
        (ember.eye(3), torch.eye(3)), (ember.eye(2, 4, dtype=ember.int32), torch.eye(2, 4, dtype=torch.int32)),
        (ember.zeros_like(ember.ones(2, dtype=ember.int16)), torch.zeros_like(torch.ones(2, dtype=torch.int16))),
        (ember.ones_like(ember.ones(2)), torch.ones_like(torch.ones(2))),
        (ember.full_like(ember.ones(2), 3), torch.full_like(torch.ones(2), 3)),
        (ember.tensor([[1, 2], [3, 4]]), torch.tensor([[1, 2], [3, 4]])),
        (ember.tensor(2.5), torch.tensor(2.5)), (ember.tensor([True, False]), torch.tensor([True, False])),
        (ember.tensor([1, 2], dtype=ember.float16), torch.tensor([1, 2], dtype=torch.float16)),
    ]
    for e, t in cases:
        assert e.dtype.name == str(t.dtype).split(".")[1], (e, t)
        assert_close(e, t.to(torch.float64).numpy() if t.is_floating_point() else t.numpy(), e.dtype)
    assert ember.empty(2, 3).shape == (2, 3)
    assert ember.empty((2, 3), dtype=ember.int64).dtype is ember.int64


def test_creation_errors():
    with pytest.raises(ember.ShapeError, match="negative dimension -2"):
        ember.zeros(3, -2)
    with pytest.raises(ValueError, match="step must be nonzero"):
        ember.arange(0, 3, 0)
    with pytest.raises(ValueError, match="inconsistent with step sign"):
        ember.arange(0, 3, -1)
    with pytest.raises(ValueError, match="ragged"):
        ember.tensor([[1, 2], [3]])
    with pytest.raises(TypeError, match="ember.tensor"):
        ember.Tensor(2.5)  # the legacy constructor takes sizes or a sequence, as torch.Tensor


def test_from_numpy_shares_memory_and_as_tensor():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = ember.from_numpy(a)
    a[0, 0] = 42
    assert t[0, 0].item() == 42 if hasattr(ember.Tensor, "__getitem__") else t.select(0, 0).select(0, 0).item() == 42
    t.fill_(1)
    assert a.sum() == 6
    assert t.numpy() is not None and np.shares_memory(t.numpy(), a)
    s = ember.from_numpy(np.arange(10, dtype=np.int32)[::2])   # strided numpy arrays keep their strides
    assert s.stride() == (2,) and s.tolist() == [0, 2, 4, 6, 8]
    assert ember.as_tensor(a) is not None and np.shares_memory(ember.as_tensor(a).numpy(), a)
    x = ember.ones(3)
    assert ember.as_tensor(x) is x
    c = ember.tensor(a)
    c.fill_(0)
    assert a.sum() == 6  # tensor() copies


def test_to_dtype_and_device_and_conversions():
    x = ember.tensor([[1.5, -2.5], [3.0, 4.0]])
    assert x.to(ember.int32).tolist() == [[1, -2], [3, 4]]
    assert x.to(ember.float32) is x
    assert x.to("cpu") is x and x.cpu() is x
    assert x.to(ember.float64).dtype is ember.float64 and x.double().dtype is ember.float64
    assert x.long().dtype is ember.int64 and x.bool().tolist() == [[True, True], [True, True]]
    m = x.to("meta")
    assert m.device == ember.device("meta") and m.shape == (2, 2)
    assert x.to(ember.ones(1, dtype=ember.float16)).dtype is ember.float16
    assert x.t().to(ember.float64).tolist() == [[1.5, 3.0], [-2.5, 4.0]]
    assert ember.tensor(3).item() == 3 and isinstance(ember.tensor(3).item(), int)
    assert float(ember.tensor(2.5)) == 2.5 and int(ember.tensor(7)) == 7
    with pytest.raises(ValueError, match="exactly one element"):
        x.item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(x)
    with pytest.raises(TypeError, match="cpu"):
        m.numpy()
    with pytest.raises(ember.BackendUnavailableError, match="no data"):
        m.to("cpu")
    assert np.array(x).shape == (2, 2)
    assert len(x) == 2 and [r.tolist() for r in x] == [[1.5, -2.5], [3.0, 4.0]]


def test_repr_like_torch():
    cases = [
        (ember.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0])),
        (ember.tensor([1.5, 2.25]), torch.tensor([1.5, 2.25])),
        (ember.tensor([[1, 2], [3, 4]]), torch.tensor([[1, 2], [3, 4]])),
        (ember.tensor([True, False]), torch.tensor([True, False])),
        (ember.tensor([1, 2], dtype=ember.int32), torch.tensor([1, 2], dtype=torch.int32)),
        (ember.tensor(3.0), torch.tensor(3.0)),
        (ember.zeros(0), torch.zeros(0)),
        (ember.tensor([1.0, 2.0], dtype=ember.float64), torch.tensor([1.0, 2.0], dtype=torch.float64)),
    ]
    for e, t in cases:
        assert repr(e) == repr(t).replace("torch.", "ember.")
    assert repr(ember.empty(2, 3, device="meta")) == "tensor(..., device='meta', size=(2, 3))"
    assert repr(ember.ones(2).shape) == "ember.Size([2])"


def test_device_parsing():
    assert ember.device("cpu").type == "cpu" and ember.device("cuda:1").index == 1
    assert ember.device("cuda", 2) == ember.device("cuda:2")
    assert str(ember.device("meta")) == "meta"
    with pytest.raises(ember.UnknownDeviceError, match="'cuda:x'"):
        ember.device("cuda:x")
    with pytest.raises(ember.UnknownDeviceError, match="cpu:3"):
        ember.zeros(2, device="cpu:3")


REPR_CASES = [([[1., 7.], [5., 11.]], "float32"), ([[1., -7.], [float("nan"), 11.]], "float16"),
              ([1.5, 2.25, 100.0], "float16"), ([1e9, -1e-5], "float32"), ([1e9, 2.], "float64"),
              ([[-1., 0.5], [float("inf"), 3.]], "float32"), ([0.25, -3.], "bfloat16"), ([[3, -12], [7, 0]], "int64")]


@pytest.mark.parametrize("values,dtype", REPR_CASES)
def test_repr_matches_pytorch_and_stays_silent(values, dtype):
    torch = pytest.importorskip("torch")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. float16's "overflow encountered in cast" must not escape
        got = repr(ember.tensor(values, dtype=getattr(ember, dtype)))
    assert got.replace("ember.", "torch.") == repr(torch.tensor(values, dtype=getattr(torch, dtype)))
