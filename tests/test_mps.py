"""The mps backend (ember-mps on MLX) against PyTorch on the cpu: views, in-place writes
through views, every declared dtype, host copies, C division semantics, errors, random
numbers, the ``ember.mps`` module functions, and the reason mps gives when MLX is missing."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the differential tests compare with PyTorch (pip install torch)")
mx = pytest.importorskip("mlx.core", reason="ember-mps needs MLX (pip install 'mlx[cpu]' on Linux x86-64, mlx on macOS)")
pytest.importorskip("ember_mps", reason="ember-mps is not installed (pip install -e backends/mps)")

import ember  # noqa: E402
from ember.device import get_backend  # noqa: E402

M = "mps"
DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"]


def declared():
    return {d.name for d in get_backend(M).capabilities.dtypes}


def pair(a):
    """The same values as an mps tensor and a torch cpu tensor."""
    return ember.tensor(a, device=M), torch.tensor(a)


def same(e, t):
    np.testing.assert_array_equal(e.cpu().numpy(), t.numpy())


def test_float64_declared_exactly_where_mlx_has_it():
    # MLX has float64 on its CPU device, and none on Metal's GPU.
    assert ("float64" in declared()) == (not mx.metal.is_available())
    assert not any(d.is_complex for d in get_backend(M).capabilities.dtypes)


@pytest.mark.parametrize("name", DTYPES)
def test_dtype_round_trip_and_arithmetic(name):
    if name not in declared():
        pytest.skip(f"{name} is not declared by mps on this MLX device")
    rng = np.random.default_rng(1)
    base = rng.integers(-50, 50, size=(3, 5))
    t = torch.tensor(base).to(getattr(torch, name))
    e = ember.tensor(t.float().numpy() if name == "bfloat16" else t.numpy(), device=M).to(getattr(ember, name))
    assert e.dtype is getattr(ember, name) and e.device.type == M
    same(e.to("cpu").to(ember.float64), t.to(torch.float64))
    same((e + e).to(ember.float64), (t + t).to(torch.float64))
    same((e * e).to(ember.float64), (t * t).to(torch.float64))
    same(e.t().contiguous().to(ember.float64), t.t().contiguous().to(torch.float64))


def test_views_read_through_the_storage():
    a = np.arange(60, dtype=np.float32).reshape(6, 10)
    e, t = pair(a)
    same(e.t(), t.t())
    same(e[1::2, ::3], t[1::2, ::3])
    same(e[2:5].t()[3:], t[2:5].t()[3:])
    same(e.as_strided((4, 4), (3, 1), 2), t.as_strided((4, 4), (3, 1), 2))   # overlapping rows
    same(e[0].expand(3, 10), t[0].expand(3, 10))


@pytest.mark.parametrize("write", [
    lambda x: x.t()[1:].add_(100),
    lambda x: x[::2].mul_(-1),
    lambda x: x[1:3, 2:7].copy_(x[3:5, 0:5].clone()),
    lambda x: x.diagonal().fill_(7),
    lambda x: x.as_strided((3, 3), (7, 2), 1).sub_(0.5),
    lambda x: x[:, 4].zero_(),
])
def test_inplace_through_views_is_seen_by_every_view(write):
    a = np.arange(48, dtype=np.float32).reshape(6, 8)
    e, t = pair(a)
    ev, tv = e[1:], t[1:]   # a second view that must see the write
    write(e), write(t)
    same(e, t)
    same(ev, tv)


def test_inplace_write_reaches_a_view_taken_before_it():
    e = ember.zeros(4, 4, device=M)
    v = e[1]
    e.add_(1)
    same(v, torch.ones(4))
    v.mul_(3)   # and a write through the view reaches the base
    same(e.sum(1), torch.tensor([4.0, 12.0, 4.0, 4.0]))


def test_host_copies_are_copies():
    a = np.arange(6, dtype=np.int64)
    e = ember.tensor(a, device=M)
    a[0] = 99   # the device copy must not change
    n = e.cpu().numpy()
    n[1] = -5   # nor through the host copy
    same(e, torch.arange(6))
    back = e.to("cpu").to(M)
    same(back, torch.arange(6))


@pytest.mark.parametrize("dtype", ["int32", "int64", "float32", "float64"])
def test_c_division_semantics_match_torch(dtype):
    if dtype not in declared():
        pytest.skip(f"{dtype} is not declared by mps on this MLX device")
    a = [7, -7, 7, -7, 0, 5, -9]
    b = [2, 2, -2, -2, 3, 5, 4]
    if dtype.startswith("float"):
        a, b = a + [1.0, -1e-30, 1e30, -0.0], b + [0.1, 1.0, 3.3, 2.0]
    ea, ta = ember.tensor(a, dtype=getattr(ember, dtype), device=M), torch.tensor(a, dtype=getattr(torch, dtype))
    eb, tb = ember.tensor(b, dtype=getattr(ember, dtype), device=M), torch.tensor(b, dtype=getattr(torch, dtype))
    same(ember.fmod(ea, eb), torch.fmod(ta, tb))
    same(ember.div(ea, eb, rounding_mode="trunc"), torch.div(ta, tb, rounding_mode="trunc"))
    same(ember.div(ea, eb, rounding_mode="floor"), torch.div(ta, tb, rounding_mode="floor"))
    same(ember.remainder(ea, eb), torch.remainder(ta, tb))
    if dtype.startswith("float"):   # the sign of a zero remainder is the dividend's
        assert np.signbit(ember.fmod(ea, eb).cpu().numpy()[-1])


def test_integer_division_by_zero_raises():
    x = ember.tensor([1, 2], device=M)
    with pytest.raises(ZeroDivisionError):
        ember.div(x, ember.tensor([1, 0], device=M), rounding_mode="trunc")


def test_bad_index_raises_and_writes_nothing():
    x = ember.zeros(3, 4, device=M)
    with pytest.raises(IndexError):
        x.gather(1, ember.tensor([[0, 4]], device=M))
    with pytest.raises(IndexError):
        x.scatter_(1, ember.tensor([[0, 9]], device=M), ember.ones(1, 2, device=M))
    same(x, torch.zeros(3, 4))


def test_scatter_gather_match_torch():
    rng = np.random.default_rng(2)
    src = rng.standard_normal((3, 5)).astype(np.float32)
    idx = rng.integers(0, 4, size=(2, 3))
    for fn in (lambda m, s, i: m.scatter_add_(0, i, s), lambda m, s, i: m.gather(1, i)):
        e = fn(ember.zeros(4, 5, device=M), ember.tensor(src, device=M), ember.tensor(idx, device=M))
        t = fn(torch.zeros(4, 5), torch.tensor(src), torch.tensor(idx))
        np.testing.assert_allclose(e.cpu().numpy(), t.numpy(), rtol=1e-6)


def test_matmul_and_reductions_match_torch():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 3, 4)).astype(np.float32), rng.standard_normal((2, 4, 5)).astype(np.float32)
    np.testing.assert_allclose((ember.tensor(a, device=M) @ ember.tensor(b, device=M)).cpu().numpy(),
                               (torch.tensor(a) @ torch.tensor(b)).numpy(), rtol=1e-5, atol=1e-6)
    ia = rng.integers(-100, 100, size=(3, 4))
    ib = rng.integers(-100, 100, size=(4, 2))
    same(ember.tensor(ia, device=M) @ ember.tensor(ib, device=M), torch.tensor(ia) @ torch.tensor(ib))
    x = ember.tensor([[1.0, float("nan")], [2.0, 3.0]], device=M)
    same(x.amax(1), torch.tensor([[1.0, float("nan")], [2.0, 3.0]]).amax(1))
    h = ember.full((4096,), 0.1, dtype=ember.float16, device=M)   # float16 accumulates in float32
    assert h.sum().item() == torch.full((4096,), 0.1, dtype=torch.float16).sum().item()


def test_random_numbers_match_cpu_bit_for_bit():
    ember.manual_seed(123)
    on_mps = (ember.rand(100, device=M), ember.randn(100, device=M), ember.randint(0, 1000, (100,), device=M))
    ember.manual_seed(123)
    on_cpu = (ember.rand(100), ember.randn(100), ember.randint(0, 1000, (100,)))
    for m, c in zip(on_mps, on_cpu):
        np.testing.assert_array_equal(m.cpu().numpy(), c.numpy())


def test_module_functions():
    mod = ember.mps
    assert mod.is_available() and mod.device_count() == 1
    mod.synchronize()
    before = mod.current_allocated_memory()
    x = ember.tensor(np.full(1 << 20, 2.0, np.float32), device=M)   # 4 MiB, copied in now
    assert x[0].item() == 2.0
    assert mod.current_allocated_memory() >= before + 4 * (1 << 20) - 4096
    assert mod.driver_allocated_memory() >= mod.current_allocated_memory()
    del x
    mod.empty_cache()
    assert mx.get_cache_memory() == 0
    assert mod.recommended_max_memory() > 0
    limit = mx.get_memory_limit()
    try:
        mod.set_per_process_memory_fraction(0.5)
        assert mx.get_memory_limit() == int(mod.recommended_max_memory() * 0.5)
        with pytest.raises(ValueError, match="fraction"):
            mod.set_per_process_memory_fraction(3)
    finally:
        mx.set_memory_limit(limit)
    mod.manual_seed(7)
    a = ember.rand(5, device=M)
    mod.manual_seed(7)
    same(ember.rand(5, device=M), torch.from_numpy(a.cpu().numpy()))
    assert "MLX" in mod.get_device_name() or "Metal" in mod.get_device_name()


_NO_MLX = """
import sys
sys.modules["mlx"] = None   # import mlx fails, as where no MLX wheel exists
import ember
from ember.device import get_backend
print(ember.mps.is_available(), ember.mps.device_count())
print(get_backend("mps").runtime.unavailable_reason())
"""


def test_unavailable_reason_without_mlx():
    r = subprocess.run([sys.executable, "-c", _NO_MLX], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "False 0"
    assert "MLX is not installed" in lines[1] and "pip install" in lines[1]


def test_ember_info_says_where_mlx_runs():
    from ember_mps.plugin import ember_info
    info = ember_info()
    assert info["mlx"] == mx.__version__
    assert info["runs on"].startswith("Metal") == mx.metal.is_available()
    assert ("CPU build" in info["runs on"]) != mx.metal.is_available()
