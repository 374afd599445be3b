"""The cuda backend's host code end to end, on a stand-in driver and cuBLAS (tests/fixtures/fakecuda).

The stand-ins are built here with the C compiler and put first on the loader's path in a child process,
so cuda-python's bindings, NVRTC, ctypes and ember_cuda load them like the real libraries: device memory
is host memory, copies are memcpy, GEMMs are computed on the host with cuBLAS's argument checks, and a
kernel launch is checked and recorded but runs nothing. What this proves: every driver and cuBLAS call
the backend makes has the right arguments and order (contexts, memory through core's allocator,
copies, streams, events, modules, launches and their packed arguments, cuBLAS layouts, DLPack).
What it cannot prove: the kernels' results (that needs the GPU; see bench/gpu_check.sh).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("ember_cuda")
pytest.importorskip("cuda.bindings.driver")

FIXTURES = Path(__file__).parent / "fixtures" / "fakecuda"


def _real_gpu() -> bool:
    from ember_cuda import driver
    drv, _ = driver.probe()
    return drv is not None


@pytest.fixture(scope="module")
def fake_libs(tmp_path_factory):
    if _real_gpu():
        pytest.skip("a real NVIDIA driver is loaded here; the stand-in is for machines without one")
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the stand-in driver")
    d = tmp_path_factory.mktemp("fakecuda")
    for src, out, extra in (("fakecuda.c", "libcuda.so.1", ["-ldl"]), ("fakecublas.c", "libcublas.so.13", ["-ldl"])):
        subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", str(d / out), str(FIXTURES / src), *extra],
                       check=True, capture_output=True)
    return d


SCRIPT = r'''
import ctypes, json, sys, traceback
import numpy as np
import ember
from ember.device import get_backend

results = {}
def check(name):
    def deco(fn):
        try:
            r = fn()
            results[name] = {"ok": True, "detail": r}
        except Exception as e:
            results[name] = {"ok": False, "error": f"{type(e).__name__}: {e}", "tb": traceback.format_exc()}
        return fn
    return deco

cuda = ctypes.CDLL("libcuda.so.1")
cuda.fake_last_launch.restype = ctypes.c_void_p
cuda.fake_launches.restype = ctypes.c_long
rng = np.random.default_rng(0)
def np_(t): return t.to("cpu").numpy()
def host(t): return get_backend("cuda").runtime.to_numpy(t)   # strided reads without a device kernel

@check("available")
def _():
    b = get_backend("cuda")
    assert b.runtime.device_count() == 1 and b.runtime.unavailable_reason() is None
    from ember_cuda import driver
    d = driver.get().device(0)
    assert d.arch == "sm_90" and d.sm_count == 132 and d.name.startswith("Fake GPU"), d
    assert "Fake GPU" in ember.info()

@check("roundtrip")
def _():
    for dt in ember.dtypes.all_dtypes:
        a = (rng.standard_normal((6, 7)) * 9).astype(dt.np)
        t = ember.tensor(a, device="cuda")
        assert t.device == ember.Device("cuda", 0)
        assert np.array_equal(np_(t).view(np.uint8), a.view(np.uint8)), dt
        same = lambda u, v: np.array_equal(np.ascontiguousarray(u).view(np.uint8), np.ascontiguousarray(v).view(np.uint8))
        assert same(host(t[1::2, ::3]), a[1::2, ::3]), dt
        assert same(host(t.t()), a.T), dt
    assert np_(ember.empty((0, 4), device="cuda")).shape == (0, 4)

@check("copies")
def _():
    a = rng.standard_normal((16, 5)).astype(np.float32)
    d = ember.empty((16, 5), device="cuda")
    d.copy_(ember.tensor(a))
    assert np.array_equal(np_(d), a)
    d2 = ember.empty((16, 5), device="cuda")
    d2.copy_(ember.tensor(a * 2), non_blocking=True)        # through a pinned staging buffer
    get_backend("cuda").runtime.synchronize(ember.Device("cuda", 0))
    assert np.array_equal(np_(d2), a * 2)
    d2.copy_(d)                                              # device to device: one memcpy
    assert np.array_equal(np_(d2), a)
    h = ember.empty((16, 5))
    h.copy_(d)
    assert np.array_equal(h.numpy(), a)

@check("matmul")
def _():
    import ml_dtypes
    A = rng.standard_normal((2, 9, 6)); B = rng.standard_normal((2, 6, 4))
    for npdt, tol in ((np.float32, 1e-5), (np.float64, 1e-12), (ml_dtypes.bfloat16, 2e-2)):
        a, b = A.astype(npdt), B.astype(npdt)
        ref = a.astype(np.float64) @ b.astype(np.float64)
        x, y = ember.tensor(a, device="cuda"), ember.tensor(b, device="cuda")
        np.testing.assert_allclose(np_(ember.bmm(x, y)).astype(np.float64), ref, rtol=tol, atol=tol)
        np.testing.assert_allclose(np_(ember.matmul(x[1], y[1])).astype(np.float64), ref[1], rtol=tol, atol=tol)
        np.testing.assert_allclose(np_(ember.mm(x[0].t().t(), y[0])).astype(np.float64), ref[0], rtol=tol, atol=tol)
    a, b = A[0].astype(np.float32), B[0].astype(np.float32)
    at = ember.tensor(np.ascontiguousarray(a.T), device="cuda").t()      # column-major operands
    bt = ember.tensor(np.ascontiguousarray(b.T), device="cuda").t()
    np.testing.assert_allclose(np_(ember.mm(at, bt)), a @ b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np_(ember.mm(at, ember.tensor(b, device="cuda"))), a @ b, rtol=1e-5, atol=1e-5)
    pad = ember.tensor(np.pad(a, ((0, 0), (0, 3))), device="cuda")[:, :6]   # rows with padding: ld > cols
    np.testing.assert_allclose(np_(ember.mm(pad, bt)), a @ b, rtol=1e-5, atol=1e-5)
    x = rng.standard_normal((9, 4)).astype(np.float32)   # a full-shape self is copied by memcpy (kernels do not run here)
    r = ember.addmm(ember.tensor(x, device="cuda"), ember.tensor(a, device="cuda"), ember.tensor(b, device="cuda"),
                    beta=0.5, alpha=-2.0)
    np.testing.assert_allclose(np_(r), 0.5 * x - 2 * (a @ b), rtol=1e-5, atol=1e-5)
    z = ember.mm(ember.tensor(np.zeros((3, 0), np.float32), device="cuda"),
                 ember.tensor(np.zeros((0, 2), np.float32), device="cuda"))
    assert np.array_equal(np_(z), np.zeros((3, 2), np.float32))

@check("tf32")
def _():
    import ember_cuda
    blas = ctypes.CDLL(ember_cuda.blas.library().path)
    flags = ember.backends.cuda.matmul
    assert ember_cuda.matmul is flags
    x = ember.tensor(np.ones((4, 4), np.float32), device="cuda")
    ember.mm(x, x)
    assert (blas.fake_last_compute(), blas.fake_last_math()) == (68, 0)   # COMPUTE_32F, DEFAULT_MATH
    try:
        for how in (lambda: setattr(flags, "allow_tf32", True), lambda: ember.set_float32_matmul_precision("high"),
                    lambda: ember.set_float32_matmul_precision("medium")):
            ember.set_float32_matmul_precision("highest")
            how()
            ember.mm(x, x)
            assert (blas.fake_last_compute(), blas.fake_last_math()) == (77, 3)   # FAST_TF32, TF32_TENSOR_OP
        ember.set_float32_matmul_precision("highest")
        ember.mm(x, x)
        assert (blas.fake_last_compute(), blas.fake_last_math()) == (68, 0)
        xb = x.to(ember.bfloat16)
        ember.mm(xb, xb)
        assert (blas.fake_last_compute(), blas.fake_last_math()) == (68, 0)
        flags.allow_bf16_reduced_precision_reduction = False
        ember.mm(xb, xb)
        assert (blas.fake_last_compute(), blas.fake_last_math()) == (68, 16)  # DISALLOW_REDUCED_PRECISION_REDUCTION
        ember.mm(x, x)                                                        # float32 is unaffected
        assert blas.fake_last_math() == 0
    finally:
        ember.set_float32_matmul_precision("highest")
        flags.allow_bf16_reduced_precision_reduction = True

@check("pinned")
def _():
    x = ember.arange(12, dtype=ember.float32).reshape(3, 4)
    assert not x.is_pinned()
    p = x.pin_memory()
    assert p.is_pinned() and p.device == ember.device("cpu") and not x.is_pinned()
    assert np.array_equal(p.numpy(), x.numpy()) and p.pin_memory() is p
    assert p[1:].is_pinned()                          # a view of pinned memory is pinned
    d = p.to("cuda", non_blocking=True)
    ember.cuda.synchronize()
    assert np.array_equal(np_(d), x.numpy())
    assert ember.cuda.is_bf16_supported() is True      # the stand-in is an sm_90
    assert ember.cuda.is_bf16_supported(including_emulation=False) is True
    assert ember.accelerator.current_accelerator() == ember.device("cuda") and ember.accelerator.is_available()
    ember.accelerator.synchronize()
    assert ember.accelerator.current_stream().device == ember.device("cuda", 0)

class Launch(ctypes.Structure):
    _fields_ = [("func", ctypes.c_char_p), ("grid", ctypes.c_uint * 3), ("block", ctypes.c_uint * 3),
                ("shmem", ctypes.c_uint), ("stream", ctypes.c_void_p), ("params", ctypes.POINTER(ctypes.c_void_p)),
                ("extra", ctypes.c_void_p)]

def last_launch():
    L = Launch.from_address(cuda.fake_last_launch())
    return L

@check("launch")
def _():
    x = ember.tensor(np.ones((4, 4), np.float32), device="cuda")
    y = ember.tensor(np.ones((4, 4), np.float32), device="cuda")
    n0 = cuda.fake_launches()
    z = x + y
    assert cuda.fake_launches() == n0 + 1
    L = last_launch()
    name = L.func.decode()
    assert name.startswith("ew_add") and "float32" in name, name
    assert tuple(L.block)[1:] == (1, 1) and 0 < L.block[0] <= 1024 and L.grid[0] >= 1, (tuple(L.grid), tuple(L.block))
    slot = lambda i: ctypes.c_uint64.from_address(L.params[i]).value
    ptrs = {slot(0), slot(2), slot(4)}
    assert ptrs == {z.data_ptr(), x.data_ptr(), y.data_ptr()}, (ptrs, z.data_ptr(), x.data_ptr(), y.data_ptr())
    assert slot(6) == 16          # the element count
    z2 = x + y                     # the replayed launch: same kernel, the new output's address
    assert cuda.fake_launches() == n0 + 2
    L = last_launch()
    assert L.func.decode() == name and slot(0) == z2.data_ptr() != z.data_ptr()
    from ember.dispatch import get
    k = get("add").kernels[get_backend("cuda").key.index]
    assert any(v for v in k.replay.cache.values()), k.replay.cache
    from ember_cuda.kgdriver import driver as kd
    results["launch_path"] = {"ok": True, "detail": "native" if kd.launcher.native is not None else "ctypes"}
    w = ember.sum(x)
    assert cuda.fake_launches() >= n0 + 3
    return name

@check("streams_events")
def _():
    if not hasattr(ember, "Stream"):
        return "skipped: no stream API in this ember-core"
    s = ember.Stream("cuda")
    assert s.handle not in (None, 0)
    e0, e1 = ember.Event(enable_timing=True), ember.Event(enable_timing=True)
    x = ember.tensor(np.ones(8, np.float32), device="cuda")
    with ember.stream(s):
        e0.record()
        y = x + x
        e1.record()
        L = last_launch()
        assert L.stream == s.handle, (L.stream, s.handle)
    s.synchronize()
    assert e0.elapsed_time(e1) >= 0 and e1.query()
    cuda.cuStreamGetPriority.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
    for asked, got in ((0, 0), (-1, -1), (-9, -5)):
        p = ctypes.c_int(7)
        assert cuda.cuStreamGetPriority(ctypes.c_void_p(ember.Stream("cuda", priority=asked).handle), ctypes.byref(p)) == 0
        assert p.value == got, (asked, p.value)

@check("allocator")
def _():
    from ember_cuda import runtime as rt
    if rt._core_allocate is None:
        return "skipped: no caching allocator in this ember-core"
    before = ember.memory_allocated("cuda")
    x = ember.empty((1000,), device="cuda")
    assert ember.memory_allocated("cuda") >= before + 4000
    del x
    ember.empty_cache()
    try:
        ember.empty((1 << 41,), dtype=ember.uint8, device="cuda")
    except ember.OutOfMemoryError as e:
        return str(e)[:200]
    raise AssertionError("no OutOfMemoryError")

@check("dlpack")
def _():
    x = ember.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), device="cuda")
    assert x.__dlpack_device__() == (2, 0)
    e = ember.from_dlpack(x.__dlpack__(max_version=(1, 0)))
    assert e.device == x.device and e.data_ptr() == x.data_ptr() and e.dtype is ember.float32
    assert np.array_equal(np_(e), np.arange(6).reshape(2, 3))
    g = ember.from_dlpack(x[1, 1:].__dlpack__())   # an unaligned address: kept as an aligned base + offset
    assert g.data_ptr() == x.data_ptr() + 16 and g._storage.ptr % 256 == 0 and g._offset == 4, (g._offset,)
    assert np.array_equal(host(g), [4, 5])
    class Producer:                       # a library that hands out its cuda memory
        def __dlpack_device__(self): return (2, 0)
        def __dlpack__(self, stream=None, max_version=None):
            self.stream = stream
            return x.t().__dlpack__()
    p = Producer()
    f = ember.from_dlpack(p)
    assert p.stream == 1, p.stream      # the consumer's (legacy default) stream was handed over
    assert np.array_equal(host(f), np.arange(6).reshape(2, 3).T)

@check("scalar_first")
def _():
    # a Python number as the FIRST operand of a binary prim (1.0 - x, rsub, ...): the kernel receives
    # (scalar, tensor); randn, linspace and binary_cross_entropy all reach it
    import ember.nn.functional as F
    for dt in (ember.float32, ember.float16, ember.int32):
        x = ember.tensor((rng.random((3, 4)) * 4 + 1).astype(dt.np), device="cuda")
        for s in (2.0, 3):
            for op in (ember.add, ember.sub, ember.mul, ember.true_divide, ember.maximum):
                for _ in range(3):          # the first call records, later ones replay
                    r = op(s, x)
                    assert r.device == x.device and r.shape == x.shape, (op, s, dt)
            for _ in range(3):
                (s - x, s + x, s * x, s / x, x.__rsub__(s), x.__rtruediv__(s), x.__radd__(s), x.__rmul__(s))
        y = ember.tensor(np.ones((3, 4), dt.np), device="cuda")
        for _ in range(3):
            y.add_(2.0 if dt.is_floating_point else 2); y.mul_(x); y.sub_(1)
    ember.manual_seed(0)
    for _ in range(3):
        r = ember.randn(5, 3, device="cuda")
        assert r.shape == (5, 3) and r.dtype is ember.float32
        r.normal_(1.0, 2.0)
        assert ember.linspace(0, 1, 7, device="cuda").shape == (7,)
        assert ember.linspace(-2.5, 4, 5, dtype=ember.float64, device="cuda").shape == (5,)
    p = ember.tensor(rng.random((4, 3)).astype(np.float32) * 0.8 + 0.1, device="cuda")
    t = ember.tensor((rng.random((4, 3)) > 0.5).astype(np.float32), device="cuda")
    for red in ("mean", "sum", "none"):
        assert F.binary_cross_entropy(p, t, reduction=red).device == p.device
        assert F.binary_cross_entropy_with_logits(p, t, reduction=red).device == p.device

print("RESULTS " + json.dumps(results))
'''


@pytest.mark.parametrize("launch_path", ["native", "ctypes"])
def test_backend_host_code_on_the_stand_in_driver(fake_libs, tmp_path, launch_path):
    env = dict(os.environ)
    env["EMBER_CUDA_NATIVE_LAUNCH"] = "1" if launch_path == "native" else "0"
    env["LD_LIBRARY_PATH"] = f"{fake_libs}:{env.get('LD_LIBRARY_PATH', '')}"
    env["EMBER_CUBLAS"] = str(fake_libs / "libcublas.so.13")
    env["EMBER_KERNEL_CACHE"] = str(tmp_path / "kernels")
    p = subprocess.run([sys.executable, "-X", "faulthandler", "-c", textwrap.dedent(SCRIPT)], env=env,
                       capture_output=True, text=True, timeout=600)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULTS ")), None)
    assert line, f"exit {p.returncode}\nstdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-5000:]}"
    results = json.loads(line[len("RESULTS "):])
    failed = {k: v for k, v in results.items() if not v["ok"]}
    assert not failed, "\n\n".join(f"{k}: {v['error']}\n{v['tb']}" for k, v in failed.items())
    for k, v in results.items():
        print(k, v.get("detail"))
    from ember_cuda.launch import native
    if launch_path == "native" and native() is not None:
        assert results["launch_path"]["detail"] == "native"
    if launch_path == "ctypes":
        assert results["launch_path"]["detail"] == "ctypes"


RECORD_OPS = r'''
import ctypes, json, numpy as np, ember
cuda = ctypes.CDLL("libcuda.so.1")
x = ember.tensor(np.ones((5, 6), np.float32), device="cuda")
y = ember.tensor(np.ones((5, 6), np.float32), device="cuda")
z = x + y; w = x.t() * 2.0; s = ember.sum(x, 1); e = ember.exp(x)
from ember_cuda import compiler
print("RESULTS " + json.dumps({"launches": cuda.fake_launches(), "stats": compiler.stats}))
'''


def _run(code, env):
    p = subprocess.run([sys.executable, "-X", "faulthandler", "-c", code], env=env, capture_output=True, text=True,
                       timeout=600)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULTS ")), None)
    assert line, f"exit {p.returncode}\nstdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-5000:]}"
    return json.loads(line[len("RESULTS "):])


def test_recorded_kernels_are_compiled_ahead_in_batches(fake_libs, tmp_path):
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = f"{fake_libs}:{env.get('LD_LIBRARY_PATH', '')}"
    env["EMBER_CUBLAS"] = str(fake_libs / "libcublas.so.13")
    env["EMBER_KERNEL_CACHE"] = str(tmp_path / "kernels")
    rec = dict(env, EMBER_CUDA_RECORD_KERNELS=str(tmp_path / "rec"))
    first = _run(RECORD_OPS, rec)                       # records, compiles and launches nothing
    assert first["launches"] == 0 and first["stats"]["compiled"] == 0
    recorded = list((tmp_path / "rec").glob("*.jsonl"))
    assert recorded and sum(1 for _ in open(recorded[0])) >= 4
    p = subprocess.run([sys.executable, "-m", "ember_cuda.warm", "--sources", str(tmp_path / "rec"), "--no-catalog",
                        "--jobs", "2"], env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "1 programs" in p.stdout or "2 programs" in p.stdout, p.stdout   # batched, not one program each
    second = _run(RECORD_OPS, env)                      # the real run: every kernel comes from the cache
    assert second["stats"]["compiled"] == 0 and second["stats"]["cache_hits"] >= 4, second
    assert second["launches"] >= 4
