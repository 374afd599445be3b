"""DLPack in core (ember._dlpack), checked on host memory against PyTorch and numpy: the same capsule code
carries cuda tensors (device code 2) on a GPU machine (see test_cuda_backend.py)."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import ember
from ember import _dlpack

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("dt", ember.dtypes.all_dtypes, ids=lambda d: d.name)
def test_torch_reads_ember_memory_without_a_copy(dt):
    a = (np.arange(12) % 5).astype(dt.np).reshape(3, 4)
    x = ember.tensor(a)
    t = torch.from_dlpack(x)
    assert t.data_ptr() == x.data_ptr() and tuple(t.shape) == (3, 4)
    if dt is ember.bfloat16:
        assert t.dtype == torch.bfloat16
        np.testing.assert_array_equal(t.float().numpy(), a.astype(np.float32))
    else:
        np.testing.assert_array_equal(t.numpy(), a)


@pytest.mark.parametrize("name", ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8",
                                  "uint8", "bool"])
def test_ember_reads_torch_memory_without_a_copy(name):
    t = (torch.arange(20) % 3).to(getattr(torch, name)).reshape(4, 5)
    e = ember.from_dlpack(t)
    assert e.dtype is getattr(ember, name) and e.data_ptr() == t.data_ptr()
    assert tuple(e.shape) == (4, 5) and tuple(e.stride()) == tuple(t.stride())


def test_views_and_writes_are_shared_both_ways():
    t = torch.arange(24, dtype=torch.float32).reshape(4, 6)[1:, ::2]
    e = ember.from_dlpack(t)
    assert tuple(e.stride()) == (6, 2) and e.data_ptr() == t.data_ptr()
    t.mul_(-1)
    np.testing.assert_array_equal(e.numpy(), t.numpy())
    x = ember.tensor(np.zeros((2, 3), np.float32))
    tx = torch.from_dlpack(x.t())
    assert tuple(tx.stride()) == (1, 3)
    tx[0, 1] = 7
    assert x.numpy()[1, 0] == 7


def test_zero_dim_and_empty():
    assert torch.from_dlpack(ember.tensor(3.5)).item() == 3.5
    assert tuple(torch.from_dlpack(ember.empty((0, 3))).shape) == (0, 3)
    assert ember.from_dlpack(torch.tensor(2)).item() == 2
    assert tuple(ember.from_dlpack(torch.empty(0, 2)).shape) == (0, 2)


def test_numpy_both_ways():
    np.testing.assert_array_equal(np.from_dlpack(ember.tensor([1, 2, 3])), [1, 2, 3])
    a = np.arange(6.0)
    e = ember.from_dlpack(a)
    a[0] = 9
    assert e.numpy()[0] == 9


def test_legacy_and_versioned_capsules():
    x = ember.tensor([1.0, 2.0])
    legacy = x.__dlpack__()
    versioned = x.__dlpack__(max_version=(1, 2))
    assert torch.utils.dlpack.from_dlpack(legacy).tolist() == [1.0, 2.0]
    assert ember.from_dlpack(versioned).tolist() == [1.0, 2.0]
    with pytest.raises(BufferError, match="consumed"):
        ember.from_dlpack(legacy)


def test_producer_memory_lives_until_the_consumer_lets_go():
    t = torch.arange(1000, dtype=torch.float64)
    e = ember.from_dlpack(t)
    del t
    gc.collect()
    assert float(e.sum().item()) == sum(range(1000))
    n0 = len(_dlpack._live)
    x = ember.tensor(np.arange(1000.0))
    tx = torch.from_dlpack(x)
    del x
    gc.collect()
    assert float(tx.sum()) == sum(range(1000)) and len(_dlpack._live) == n0 + 1
    del tx
    gc.collect()
    assert len(_dlpack._live) == n0
    cap = ember.tensor([1.0]).__dlpack__()   # never consumed: freed with the capsule
    assert len(_dlpack._live) == n0 + 1
    del cap
    gc.collect()
    assert len(_dlpack._live) == n0


def test_dlpack_device_and_errors():
    assert ember.tensor([1]).__dlpack_device__() == (1, 0)
    with pytest.raises(BufferError, match="DLPack device"):
        ember.tensor([1.0]).__dlpack__(dl_device=(2, 0))
    with pytest.raises(BufferError, match="capsule"):
        ember.from_dlpack(object())
