"""Sizes and Python numbers that do not fit: Ember refuses them before any backend sees them, where and as
PyTorch 2.13 does (negative and overflowing sizes, out-of-range fill values), instead of wrapping silently or
surfacing numpy's errors."""

import subprocess
import sys

import numpy as np
import pytest
import torch

import ember
from ember.errors import OutOfMemoryError, ShapeError
from ember.ops._helpers import SizeError, ValueOverflowError

sys.path.insert(0, "tests/fixtures/plugins")

# Each case is evaluated with T bound to torch and then to ember; both must raise, or both must give the same
# values. `E` names the tensor dtype module-free: T.uint8 is torch.uint8 or ember.uint8.
NUMBER_CASES = [
    "T.tensor([2**63])", "T.tensor([2**64])", "T.tensor([1, 2**63])", "T.tensor([-2**63-1])",
    "T.tensor(2**63-1)", "T.tensor([-2**63])",
    "T.tensor(300, dtype=T.uint8)", "T.tensor(-1, dtype=T.uint8)", "T.tensor(-256, dtype=T.uint8)",
    "T.tensor([-255], dtype=T.uint8)", "T.tensor([[1, 2], [3, -1]], dtype=T.uint8)",
    "T.tensor([1.5e10], dtype=T.int32)", "T.tensor(1e10, dtype=T.int32)", "T.tensor([1e10, 5], dtype=T.int32)",
    "T.tensor([2**31], dtype=T.int32)", "T.tensor([float('nan')], dtype=T.int32)",
    "T.tensor([float('inf')], dtype=T.int64)", "T.tensor([9.3e18], dtype=T.int64)",
    "T.tensor([3.0e9], dtype=T.int64)", "T.tensor([3.7], dtype=T.uint8)", "T.tensor([True], dtype=T.int8)",
    "T.tensor(1e300, dtype=T.float32)", "T.tensor([1e300], dtype=T.float16)", "T.tensor([2**64], dtype=T.float32)",
    "T.tensor(np.int64(300), dtype=T.uint8)", "T.tensor(np.float64(1e10), dtype=T.int32)",
    "T.tensor(np.array([300]), dtype=T.uint8)",
    "T.full((2,), 1e10, dtype=T.int32)", "T.full((2,), 300, dtype=T.uint8)", "T.full((2,), -1, dtype=T.uint8)",
    "T.full((2,), -255, dtype=T.uint8)", "T.full((2,), -256, dtype=T.uint8)", "T.full((2,), -1.0, dtype=T.uint8)",
    "T.full((2,), 127.9, dtype=T.int8)", "T.full((2,), -128.5, dtype=T.int8)", "T.full((2,), 2**63)",
    "T.full((2,), 1e300, dtype=T.float32)", "T.full((2,), 3.41e38)", "T.full((2,), float('inf'))",
    "T.full((2,), float('nan'), dtype=T.float16)", "T.full((2,), float('nan'), dtype=T.int32)",
    "T.full((2,), 100000, dtype=T.float16)", "T.full((2,), 65504.0, dtype=T.float16)",
    "T.full((2,), 1e39, dtype=T.bfloat16)", "T.full((2,), 2**63, dtype=T.float32)",
    "T.full((2,), True, dtype=T.int8)",
    "T.zeros(3, dtype=T.int8).fill_(1000)", "T.zeros(3, dtype=T.int8).fill_(-129)",
    "T.zeros(3, dtype=T.int8).fill_(127)", "T.zeros(3, dtype=T.uint8).fill_(-1)",
    "T.zeros(3, dtype=T.int32).fill_(float('nan'))", "T.zeros(3, dtype=T.int32).fill_(float('inf'))",
    "T.zeros(3, dtype=T.int32).fill_(1e10)", "T.zeros(3, dtype=T.int32).fill_(3.7)",
    "T.zeros(3).fill_(1e300)", "T.zeros(3, dtype=T.float16).fill_(1e10)", "T.zeros(3, dtype=T.bool).fill_(5)",
    "T.zeros(3, dtype=T.int64).fill_(2**63)", "T.zeros(3, dtype=T.int8).fill_(T.tensor(1000))",
    "T.zeros(3, dtype=T.int8).fill_(True)",
    # Binary-op scalars wrap in PyTorch: Ember keeps that.
    "T.ones(2, dtype=T.uint8) + 300", "T.ones(2, dtype=T.uint8) + (-1)", "T.ones(2, dtype=T.uint8) * 1000",
    "T.ones(2, dtype=T.int32) + 2**40", "T.ones(2, dtype=T.int8).add_(1000)", "T.ones(2, dtype=T.int8) == 1000",
    "T.ones(2, dtype=T.int32) + float('nan')", "T.ones(2) + 1e300",
]


def _run(lib, expr):
    try:
        return eval(expr, {"T": lib, "np": np}), None
    except Exception as e:  # noqa: BLE001
        return None, e


@pytest.mark.parametrize("expr", NUMBER_CASES)
def test_python_numbers_raise_where_pytorch_raises(expr):
    want, terr = _run(torch, expr)
    got, eerr = _run(ember, expr)
    if terr is not None:
        assert eerr is not None, f"{expr}: PyTorch raises {terr!r}, Ember gave {got}"
        assert isinstance(eerr, type(terr)), f"{expr}: {eerr!r} is not a {type(terr).__name__}"
        assert isinstance(eerr, ValueOverflowError), repr(eerr)
        return
    assert eerr is None, f"{expr}: PyTorch gives {want}, Ember raises {eerr!r}"
    np.testing.assert_array_equal(got.numpy().astype(np.float64), want.double().numpy())
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]


def test_overflow_message_names_type_and_value():
    with pytest.raises(RuntimeError, match=r"value cannot be converted to type uint8 without overflow: 300"):
        ember.tensor(300, dtype=ember.uint8)
    with pytest.raises(ValueOverflowError, match=r"int8 without overflow: 1000"):
        ember.zeros(3, dtype=ember.int8).fill_(1000)


SIZE_CASES = [
    "T.zeros(-1)", "T.empty(3, -2)", "T.empty(2**62)", "T.empty(2**61)", "T.empty(2**63 - 1, dtype=T.uint8)",
    "T.empty(2**62, 4)", "T.empty(2**31, 2**31, 2**31)", "T.empty(2**60, 8, dtype=T.int8)",
    "T.empty(2**62, 2**62, 0)", "T.empty(0, 2**62, 2**62)", "T.empty(2**60)", "T.ones(2**62)",
    "T.full([2**62], 1)", "T.empty(2, 0, 2**62)", "T.empty(2**62, 2**62, 1, 0)", "T.empty(2**61, dtype=T.uint8)",
    "T.zeros_like(T.empty(2**62, dtype=T.int8), dtype=T.float32)",
    "T.empty_like(T.empty(2**61, dtype=T.int8), dtype=T.float32)",
]


@pytest.mark.parametrize("expr", SIZE_CASES)
def test_sizes_are_checked_on_meta_as_pytorch(expr):
    expr = expr.replace(")", ", device='meta')", 1) if "like" not in expr else expr.replace(
        "dtype=T.int8)", "dtype=T.int8, device='meta')")
    want, terr = _run(torch, expr)
    got, eerr = _run(ember, expr)
    if terr is not None:
        assert isinstance(eerr, SizeError), f"{expr}: PyTorch raises {terr!r}, Ember gave {eerr!r} / {got}"
        assert isinstance(eerr, RuntimeError) and isinstance(eerr, ShapeError)
        return
    assert eerr is None, f"{expr}: PyTorch gives a tensor, Ember raises {eerr!r}"
    assert tuple(got.shape) == tuple(want.shape) and got.device.type == "meta"


def test_overflow_message_names_shape_and_dtype():
    with pytest.raises(RuntimeError, match=r"Storage size calculation overflowed with sizes=\[4611686018427387904\] "
                                           r"and dtype float32"):
        ember.zeros(2**62, device="meta")
    with pytest.raises(RuntimeError, match=r"negative dimension -2: \[3, -2\]"):
        ember.empty(3, -2)


@pytest.mark.parametrize("device", ["cpu", "npy"])
def test_sizes_are_checked_before_the_backend(device):
    if device == "npy":
        from fixture_plugins import load
        load("npy")
    for make in (lambda: ember.zeros(2**62, device=device), lambda: ember.empty(2**62, device=device),
                 lambda: ember.ones(2**61, 4, device=device), lambda: ember.full((2**62,), 1.0, device=device),
                 lambda: ember.empty(-1, device=device)):
        with pytest.raises(SizeError):
            make()
    assert tuple(ember.zeros(2, 0, 2**40, device=device).shape) == (2, 0, 2**40)


def test_xla_never_sees_an_overflowing_size():
    code = ("import ember\nfrom ember.ops._helpers import SizeError\n"
            "try:\n    ember.zeros(2, device='xla')\nexcept Exception as e:\n    print('SKIP', e); raise SystemExit\n"
            "for f in (lambda: ember.zeros(2**62, device='xla'), lambda: ember.empty(-3, device='xla')):\n"
            "    try:\n        f()\n    except SizeError:\n        pass\n"
            "    else:\n        raise SystemExit('no SizeError')\nprint('OK')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if r.stdout.startswith("SKIP"):
        pytest.skip(f"xla backend unavailable: {r.stdout.strip()}")
    assert r.returncode == 0 and r.stdout.strip().endswith("OK"), r.stdout + r.stderr


def test_expand_refuses_negative_sizes_as_pytorch():
    for lib in (torch, ember):
        with pytest.raises(RuntimeError):
            lib.ones(1).expand(-1, 2)
        with pytest.raises(RuntimeError):
            lib.ones(1).expand(2**62, 4)
        assert tuple(lib.ones(1).expand(2, -1).shape) == (2, 1)
        assert tuple(lib.ones(2).expand(-1).shape) == (2,)
    with pytest.raises(SizeError, match=r"expanded size of the tensor \(-2\)"):
        ember.ones(1).expand(-2)
    with pytest.raises(SizeError, match=r"leading, non-existing dimension 0"):
        ember.ones(1).expand(-1, 2)
    with pytest.raises(SizeError):
        ember.ones(3, 1).expand(-5, 3)


def test_cpu_allocation_failure_is_ember_out_of_memory():
    # 2**62 bytes fits a 64-bit size, but no machine's address space: numpy's MemoryError becomes Ember's.
    with pytest.raises(OutOfMemoryError, match=r"cpu is out of memory.*4611686018427387904 bytes.*\(4611686018427387904,\)"
                                               r".*int8") as info:
        ember.empty(2**62, dtype=ember.int8)
    assert isinstance(info.value, RuntimeError)
    assert info.value.requested == 2**62 and info.value.device.type == "cpu"
    with pytest.raises(OutOfMemoryError, match=r"float32"):
        ember.zeros(2**60)
    with pytest.raises(SizeError):  # beyond 2**63-1 bytes: the size check, as PyTorch
        ember.empty(2**62)
