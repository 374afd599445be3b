"""The cuda backend: what every machine checks (the plugin loads, says why cuda is unavailable), and what a
machine with an NVIDIA GPU checks (memory, copies, kernels, cuBLAS, streams, DLPack with PyTorch).

Without a GPU the GPU tests skip with the driver's reason (e.g. "no NVIDIA driver (libcuda.so.1 not found)").
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

import ember

pytest.importorskip("ember_cuda")
from ember_cuda import driver as _driver  # noqa: E402

_drv, REASON = _driver.probe()
HAS_GPU = _drv is not None and _drv.count > 0
gpu = pytest.mark.skipif(not HAS_GPU, reason=f"CUDA is unavailable here: {REASON}")
no_gpu = pytest.mark.skipif(HAS_GPU, reason="a CUDA GPU is present")


def _backend():
    from ember.device import get_backend
    return get_backend("cuda")


# -- every machine ------------------------------------------------------------------------------

def test_plugin_registers_device_type_cuda():
    b = _backend()
    assert b.distribution == "ember-cuda"
    caps = b.capabilities
    assert caps.managed_memory and caps.streams and not caps.host_memory


def test_every_prim_has_a_kernel_when_the_generator_is_installed():
    pytest.importorskip("ember_kernelgen")
    from ember.dispatch import registry
    from ember_cuda import plugin
    assert plugin.generator_error is None, plugin.generator_error
    missing = sorted(n for n, op in registry.items() if op.is_prim and op.implementation("cuda") == "missing")
    assert not missing, missing


def test_cublas_products_are_registered():
    from ember.dispatch import registry
    for name in ("bmm", "mm", "matmul", "addmm"):
        assert registry[name].implementation("cuda") == "kernel", name


@no_gpu
def test_ember_info_says_why_cuda_is_unavailable():
    text = ember.info()
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("cuda ") and "unavailable" in ln)
    assert REASON.split(" (")[0] in line, line


@no_gpu
def test_asking_for_a_cuda_tensor_raises_with_the_reason():
    with pytest.raises(ember.BackendUnavailableError) as e:
        ember.zeros(2, device="cuda")
    assert "cuda" in str(e.value) and REASON.split(" (")[0] in str(e.value)
    assert _backend().runtime.device_count() == 0
    assert not _backend().runtime.is_available()


def test_reason_names_the_missing_piece():
    if HAS_GPU:
        assert REASON is None
    else:
        assert REASON and any(w in REASON for w in ("libcuda.so.1", "cuInit", "no CUDA device", "cuda-python",
                                                    "EMBER_CUDA_DISABLE")), REASON


# -- with a GPU ---------------------------------------------------------------------------------------

rng = np.random.default_rng(0)


def _np(t):
    return t.to("cpu").numpy()


@gpu
@pytest.mark.parametrize("dt", ember.dtypes.all_dtypes, ids=lambda d: d.name)
def test_roundtrip_every_dtype(dt):
    a = (rng.standard_normal((5, 7)) * 8).astype(dt.np)
    t = ember.tensor(a, device="cuda")
    assert t.device == ember.Device("cuda", 0) and t.dtype is dt
    back = _np(t)
    assert back.dtype == a.dtype and np.array_equal(back.view(np.uint8), a.view(np.uint8))
    v = _np(t[1::2, ::3])
    assert np.array_equal(np.ascontiguousarray(v).view(np.uint8), np.ascontiguousarray(a[1::2, ::3]).view(np.uint8))


@gpu
def test_elementwise_and_reductions_match_numpy():
    a = rng.standard_normal((33, 65)).astype(np.float32)
    b = rng.standard_normal((33, 65)).astype(np.float32)
    x, y = ember.tensor(a, device="cuda"), ember.tensor(b, device="cuda")
    for _ in range(3):   # the first call learns the launch, the next ones replay it
        np.testing.assert_allclose(_np(x + y), a + b, rtol=1e-6)
    np.testing.assert_allclose(_np(x.t() * y.t()), (a * b).T, rtol=1e-6)
    np.testing.assert_allclose(_np(ember.exp(x)), np.exp(a), rtol=1e-5)
    np.testing.assert_allclose(_np(ember.sum(x, 1)), a.sum(1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(float(ember.sum(x).item()), a.sum(dtype=np.float64), rtol=1e-4)


@gpu
@pytest.mark.parametrize("name", ["float32", "float64", "float16", "bfloat16", "int64", "int32"])
def test_matmul_matches_numpy(name):
    dt = getattr(ember, name)
    tol = {"float32": 1e-4, "float64": 1e-10, "float16": 3e-3, "bfloat16": 3e-2}.get(name, 0)
    A = rng.integers(-4, 4, (2, 37, 19)) if tol == 0 else rng.standard_normal((2, 37, 19))
    B = rng.integers(-4, 4, (2, 19, 23)) if tol == 0 else rng.standard_normal((2, 19, 23))
    a, b = A.astype(dt.np), B.astype(dt.np)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    x, y = ember.tensor(a, device="cuda"), ember.tensor(b, device="cuda")
    np.testing.assert_allclose(_np(ember.bmm(x, y)).astype(np.float64), ref, rtol=tol, atol=tol * 10)
    np.testing.assert_allclose(_np(ember.matmul(x[0], y[0])).astype(np.float64), ref[0], rtol=tol, atol=tol * 10)
    # transposed views go to cuBLAS without a copy
    xt = ember.tensor(np.ascontiguousarray(a[0].T), device="cuda").t()
    np.testing.assert_allclose(_np(ember.mm(xt, y[0])).astype(np.float64), ref[0], rtol=tol, atol=tol * 10)


@gpu
def test_addmm_folds_beta_into_the_product():
    x = rng.standard_normal(5).astype(np.float32)
    m1 = rng.standard_normal((4, 3)).astype(np.float32)
    m2 = rng.standard_normal((3, 5)).astype(np.float32)
    e = ember.addmm(ember.tensor(x, device="cuda"), ember.tensor(m1, device="cuda"), ember.tensor(m2, device="cuda"),
                    beta=0.5, alpha=-2.0)
    np.testing.assert_allclose(_np(e), 0.5 * x - 2.0 * (m1 @ m2), rtol=1e-5, atol=1e-5)
    nan = np.full(5, np.nan, np.float32)
    e0 = ember.addmm(ember.tensor(nan, device="cuda"), ember.tensor(m1, device="cuda"),
                     ember.tensor(m2, device="cuda"), beta=0)
    np.testing.assert_allclose(_np(e0), m1 @ m2, rtol=1e-5, atol=1e-5)


@gpu
def test_copies_host_device_and_non_blocking():
    a = rng.standard_normal((128, 9)).astype(np.float32)
    d = ember.empty((128, 9), device="cuda")
    d.copy_(ember.tensor(a), non_blocking=True)
    ember.synchronize("cuda") if hasattr(ember, "synchronize") else _backend().runtime.synchronize()
    np.testing.assert_array_equal(_np(d), a)
    h = ember.empty((128, 9))
    h.copy_(d)
    np.testing.assert_array_equal(h.numpy(), a)
    np.testing.assert_array_equal(_np(d.clone()), a)
    np.testing.assert_array_equal(_np(d.to(ember.float64)), a.astype(np.float64))


@gpu
def test_dlpack_with_torch_shares_memory():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("this torch has no CUDA")
    x = ember.tensor(rng.standard_normal((4, 6)).astype(np.float32), device="cuda")
    t = torch.from_dlpack(x)
    assert t.is_cuda and t.data_ptr() == x.data_ptr()
    tt = torch.arange(24, dtype=torch.float32, device="cuda").reshape(4, 6)[:, ::2]
    e = ember.from_dlpack(tt)
    assert e.data_ptr() == tt.data_ptr() and tuple(e.stride()) == tuple(tt.stride())
    np.testing.assert_array_equal(_np(e), tt.cpu().numpy())
    del tt
    gc.collect()
    np.testing.assert_array_equal(_np(e), np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2])


@gpu
def test_streams_and_timing_events():
    if not hasattr(ember, "Stream"):
        pytest.skip("this ember-core has no stream API yet")
    s = ember.Stream("cuda")
    a = rng.standard_normal(1000).astype(np.float32)
    x = ember.tensor(a, device="cuda")
    e0, e1 = ember.Event(enable_timing=True), ember.Event(enable_timing=True)
    with ember.stream(s):
        e0.record()
        y = x * 2
        e1.record()
    s.synchronize()
    assert e1.query() and e0.elapsed_time(e1) >= 0
    np.testing.assert_array_equal(_np(y), a * 2)


@gpu
def test_out_of_memory_is_an_ember_error():
    if not hasattr(ember, "OutOfMemoryError"):
        pytest.skip("this ember-core has no caching allocator yet")
    with pytest.raises(ember.OutOfMemoryError):
        ember.empty((1 << 48,), dtype=ember.uint8, device="cuda")
