"""The rocm backend: without an AMD GPU it installs, imports and says why it is unavailable; its host code
(device facts, allocator use, copies, streams and events, hiprtc-compiled modules, launch planning and
argument packing, hipBLAS layouts) runs end to end on a stand-in HIP runtime (tests/fixtures/fakehip.py)
in a child process. What the stand-in cannot prove, the kernels' results, needs an AMD GPU: those tests
skip here with the reason (bench/gpu_check.sh --backend rocm runs them and certifies)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest

import ember

pytest.importorskip("ember_rocm")

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"


def _reason():
    from ember_rocm import driver
    return driver.probe()[1]


needs_gpu = pytest.mark.skipif(_reason() is not None, reason=f"no usable AMD GPU: {_reason()}")


# -- without a GPU ---------------------------------------------------------------------------------

def test_plugin_registers_and_says_why_rocm_is_unavailable():
    from ember.device import get_backend
    b = get_backend("rocm")
    if b.runtime.is_available():
        pytest.skip("an AMD GPU is present")
    reason = b.runtime.unavailable_reason()
    assert reason and re.search(r"AMD GPU|ROCm|hip-python|disabled", reason), reason
    assert b.runtime.device_count() == 0
    text = ember.info()
    assert "rocm" in text and reason in text
    with pytest.raises(ember.errors.BackendUnavailableError, match=re.escape(reason)):
        ember.tensor([1.0, 2.0], device="rocm")


def test_disable_switch_is_a_reason(monkeypatch):
    from ember_kernelgen.devrt import DriverSlot
    monkeypatch.setenv("EMBER_ROCM_DISABLE", "1")
    slot = DriverSlot(lambda: 1 / 0, "EMBER_ROCM_DISABLE", "ROCm", "none")
    assert slot.probe() == (None, "disabled by EMBER_ROCM_DISABLE")
    with pytest.raises(ember.errors.BackendUnavailableError, match="ROCm is unavailable: disabled"):
        slot.get()


def test_a_failing_runtime_is_a_reason_not_an_exception():
    from ember_kernelgen.devrt import DriverSlot
    slot = DriverSlot(lambda: 1 / 0, "EMBER_ROCM_DISABLE_UNSET", "ROCm", "none")
    drv, reason = slot.probe()
    assert drv is None and "ZeroDivisionError" in reason


def test_no_device_is_reported_cleanly():
    sys.path.insert(0, str(FIXTURES))
    import fakehip
    from ember_rocm.driver import HipDriver
    with pytest.raises(ember.errors.BackendUnavailableError, match="no AMD GPU: hipInit answered "
                                                                  "hipErrorInvalidDevice"):
        HipDriver(fakehip.FakeLib(), fakehip.FakeHip(init_error=101))


def test_no_runtime_library_is_reported_cleanly(monkeypatch):
    from ember_rocm import driver
    monkeypatch.setattr(driver, "LIBRARIES", ("libamdhip64-not-here.so",))
    with pytest.raises(ember.errors.BackendUnavailableError, match=r"no ROCm runtime \(libamdhip64 not found"):
        driver.load()


def test_catalogue_entry():
    cat = tomllib.loads((ROOT / "plugins.toml").read_text())["backend"]["rocm"]
    assert not cat.get("planned") and cat["certified_tier"] == -1
    assert "gpu_check.sh --backend rocm" in cat["certify"]
    assert cat["distribution"] == "ember-rocm" and (ROOT / cat["path"] / "pyproject.toml").exists()


def test_no_hip_alias_is_registered():
    with pytest.raises(ember.errors.UnknownDeviceError, match="unknown device type 'hip'.*rocm"):
        ember.tensor([1.0], device="hip")


@pytest.mark.parametrize("rows,cols,strides,want", [
    (3, 4, (4, 1), (111, 4)),      # row-major: passed as its transpose, op N
    (3, 4, (6, 1), (111, 6)),      # padded rows
    (3, 4, (1, 3), (112, 3)),      # a transposed view: op T
    (3, 4, (8, 2), None),          # neither stride is 1: made contiguous first
    (1, 4, (4, 1), (111, 4)),
    (3, 1, (1, 1), (111, 1)),
    (3, 4, (0, 1), None),          # a broadcast row
])
def test_blas_operand_layouts(rows, cols, strides, want):
    from ember_rocm.blas import operand
    assert operand(rows, cols, strides) == want


# -- the stand-in runtime --------------------------------------------------------------------------

SCRIPT = r'''
import ctypes, json, sys, traceback
sys.path.insert(0, FIXTURES)
import numpy as np
import fakehip
lib, fblas = fakehip.install(devices=2)
import ember
from ember.device import get_backend

results = {}
def check(name):
    def deco(fn):
        try:
            results[name] = {"ok": True, "detail": fn()}
        except Exception as e:
            results[name] = {"ok": False, "error": f"{type(e).__name__}: {e}", "tb": traceback.format_exc()}
        return fn
    return deco

rng = np.random.default_rng(0)
def host(t): return get_backend("rocm").runtime.to_numpy(t)
def slot(i, L=None):
    params = (L or lib.launches[-1])[4]
    return ctypes.c_uint64.from_address(ctypes.c_void_p.from_address(params + 8 * i).value).value

@check("available")
def _():
    rt = get_backend("rocm").runtime
    assert rt.device_count() == 2 and rt.unavailable_reason() is None
    d = rt.device_facts(1)
    assert (d.gfx, d.warp, d.compute_units) == ("gfx90a", 64, 110), d
    assert rt.device_name(0).startswith("Fake AMD") and rt.arch(0) == "gfx90a:sramecc+:xnack-"
    assert "gfx90a" in ember.info() and "110 CUs, wave64" in ember.info()
    from ember_rocm.kgdriver import driver, limits_of
    lim = driver.limits(ember.Device("rocm", 0))
    assert (lim.warp, lim.max_block, lim.local_mem, lim.compute_units) == (64, 256, 65536, 110), lim
    d.warp = 32   # an RDNA part: the wavefront is the device's, never assumed
    assert limits_of(d).warp == 32
    d.warp = 64

@check("roundtrip")
def _():
    for dt in ember.dtypes.all_dtypes:
        a = (rng.standard_normal((6, 7)) * 9).astype(dt.np)
        t = ember.tensor(a, device="rocm")
        assert t.device == ember.Device("rocm", 0)
        same = lambda u, v: np.array_equal(np.ascontiguousarray(u).view(np.uint8), np.ascontiguousarray(v).view(np.uint8))
        assert same(host(t), a), dt
        assert same(host(t[1::2, ::3]), a[1::2, ::3]), dt
        assert same(host(t.t()), a.T), dt
    assert host(ember.empty((0, 4), device="rocm")).shape == (0, 4)
    t = ember.tensor(np.arange(3.0), device="rocm:1")
    assert t.device.index == 1 and lib.current == 1 and np.array_equal(host(t), np.arange(3.0))

@check("copies")
def _():
    a = rng.standard_normal((16, 5)).astype(np.float32)
    d = ember.empty((16, 5), device="rocm")
    d.copy_(ember.tensor(a))
    assert np.array_equal(host(d), a)
    h = ember.empty((16, 5))
    h.copy_(d)
    assert np.array_equal(h.numpy(), a)
    get_backend("rocm").runtime.synchronize(ember.Device("rocm", 0))
    assert "hipDeviceSynchronize" in lib.calls

@check("launch")
def _():
    x = ember.tensor(np.ones((4, 4), np.float32), device="rocm")
    y = ember.tensor(np.ones((4, 4), np.float32), device="rocm")
    n0 = len(lib.launches)
    z = x + y
    assert len(lib.launches) == n0 + 1
    name, grid, block, stream, _ = lib.launches[-1]
    assert name.startswith("ew_add") and "float32" in name, name
    assert block[1:] == (1, 1) and block[0] == 256 and grid[0] >= 1 and stream == 0, (grid, block)
    assert {slot(0), slot(2), slot(4)} == {z.data_ptr(), x.data_ptr(), y.data_ptr()}
    assert slot(6) == 16                      # the element count
    z2 = x + y
    assert lib.launches[-1][0] == name and slot(0) == z2.data_ptr() != z.data_ptr()
    s = ember.sum(x)
    assert lib.launches[-1][0].startswith(("red", "redc")), lib.launches[-1][0]
    c = ember.cumsum(x, 0); m = ember.argmax(x, 1); srt = ember.sort(x, 1)
    assert {L[0].split("_")[0] for L in lib.launches[n0:]} >= {"ew", "scan", "arg", "sort"}, \
        sorted({L[0] for L in lib.launches[n0:]})
    from ember_rocm.kgdriver import HipKernel
    assert repr(HipKernel("k", "pq", 1, 0)) == "<rocm kernel k(pq) on rocm:0>"
    return name

@check("compile_cache")
def _():
    import os
    from ember_rocm import compiler
    files = [f for _, _, fs in os.walk(os.environ["EMBER_KERNEL_CACHE"]) for f in fs]
    assert compiler.stats["compiled"] >= 1 and len(files) == compiler.stats["compiled"], (compiler.stats, len(files))
    # the cache's target is the device's full gfx name: another target compiles again
    assert any(os.sep + "hip" + os.sep in r for r, _, fs in os.walk(os.environ["EMBER_KERNEL_CACHE"]) if fs)

@check("streams_events")
def _():
    s = ember.Stream("rocm")
    assert s.handle not in (None, 0) and lib.streams[s.handle] == 0
    e0, e1 = ember.Event(enable_timing=True), ember.Event(enable_timing=True)
    x = ember.tensor(np.ones(8, np.float32), device="rocm")
    with ember.stream(s):
        e0.record()
        y = x + x
        e1.record()
        assert lib.launches[-1][3] == s.handle
    s.synchronize()
    assert e0.elapsed_time(e1) == 0.25 and e1.query()
    assert lib.events[e1._handle][:2] == (s.handle, 1) if hasattr(e1, "_handle") else True
    ember.current_stream("rocm").wait_event(e1)
    assert "hipStreamWaitEvent" in lib.calls
    for asked, got in ((0, 0), (-1, -1), (-9, -4), (3, 0)):
        assert lib.streams[ember.Stream("rocm", priority=asked).handle] == got, asked

@check("allocator")
def _():
    before = ember.memory_allocated("rocm")
    mallocs = lib.calls.count("hipMalloc")
    x = ember.empty((1000,), device="rocm")
    assert ember.memory_allocated("rocm") >= before + 4000
    y = ember.empty((1000,), device="rocm")
    assert lib.calls.count("hipMalloc") <= mallocs + 1    # one segment serves both
    assert get_backend("rocm").runtime.mem_get_info(0) == (48 << 30, 64 << 30)
    del x, y
    ember.empty_cache()
    assert lib.freed >= 1
    try:
        ember.empty((1 << 41,), dtype=ember.uint8, device="rocm")
    except ember.OutOfMemoryError as e:
        return str(e)[:160]
    raise AssertionError("no OutOfMemoryError")

@check("hipblas")
def _():
    A = rng.standard_normal((3, 9, 6)); B = rng.standard_normal((3, 6, 4))
    for npdt, tol in ((np.float32, 1e-5), (np.float64, 1e-12)):
        a, b = A.astype(npdt), B.astype(npdt)
        x, y = ember.tensor(a, device="rocm"), ember.tensor(b, device="rocm")
        np.testing.assert_allclose(host(ember.bmm(x, y)), a @ b, rtol=tol, atol=tol)
        xt = ember.tensor(np.ascontiguousarray(a.transpose(0, 2, 1)), device="rocm").transpose(1, 2)
        np.testing.assert_allclose(host(ember.bmm(xt, y)), a @ b, rtol=tol, atol=tol)
        np.testing.assert_allclose(host(ember.matmul(x[1], y[1])), a[1] @ b[1], rtol=tol, atol=tol)
        np.testing.assert_allclose(host(ember.bmm(x[:, ::2], y)), a[:, ::2] @ b, rtol=tol, atol=tol)
    assert {g[1] for g in fblas.gemms} == {111, 112} and fblas.gemms[0][2:5] == (4, 9, 6), fblas.gemms[:3]
    n = len(lib.launches)
    h = ember.tensor(A.astype(np.float16), device="rocm")
    ember.bmm(h, ember.tensor(B.astype(np.float16), device="rocm"))   # half: the generator's bmm kernel
    assert lib.launches[-1][0].startswith("bmm_"), lib.launches[-1][0]

@check("dlpack")
def _():
    x = ember.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), device="rocm")
    assert x.__dlpack_device__() == (10, 0)        # kDLROCM
    e = ember.from_dlpack(x.__dlpack__())
    assert e.device == x.device and e.data_ptr() == x.data_ptr() and e.dtype is ember.float32
    g = ember.from_dlpack(x[1, 1:].__dlpack__())   # an unaligned address: an aligned base and an offset
    assert g.data_ptr() == x.data_ptr() + 16 and g._storage.ptr % 256 == 0 and g._offset == 4
    assert np.array_equal(host(g), [4, 5]) and np.array_equal(host(e), np.arange(6).reshape(2, 3))

print("RESULTS " + json.dumps(results))
'''


def test_host_code_on_the_stand_in_runtime(tmp_path):
    env = dict(os.environ)
    env["EMBER_KERNEL_CACHE"] = str(tmp_path / "kernels")
    env.pop("EMBER_ROCM_DISABLE", None)
    src = f"FIXTURES = {str(FIXTURES)!r}\n" + textwrap.dedent(SCRIPT)
    p = subprocess.run([sys.executable, "-X", "faulthandler", "-c", src], env=env, capture_output=True,
                       text=True, timeout=600, cwd=str(ROOT))
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULTS ")), None)
    assert line, f"exit {p.returncode}\nstdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-5000:]}"
    results = json.loads(line[len("RESULTS "):])
    failed = {k: v for k, v in results.items() if not v["ok"]}
    assert not failed, "\n\n".join(f"{k}: {v['error']}\n{v['tb']}" for k, v in failed.items())
    assert set(results) == {"available", "roundtrip", "copies", "launch", "compile_cache", "streams_events",
                            "allocator", "hipblas", "dlpack"}


# -- warp size -------------------------------------------------------------------------------------

def test_hip_kernels_assume_no_warp_size():
    """Reductions, scans and sorts synchronise every step with a barrier: no warp-synchronous code,
    shuffles or 32-lane masks, so wave64 (CDNA) and wave32 (RDNA) both run them as rendered."""
    from ember_kernelgen.catalog import all_kernels
    from ember_kernelgen.render import body_source
    words = re.compile(r"warpSize|__shfl|__ballot|__syncwarp|__activemask|__any\b|__all\b|0xffffffff|\bvolatile\b")
    bad = [(k.name, m.group()) for k in all_kernels() for m in [words.search(body_source(k, "hip"))] if m]
    assert not bad, bad[:10]


# -- on an AMD GPU -----------------------------------------------------------------------------------

@needs_gpu
def test_elementwise_reduction_and_matmul_match_numpy_on_the_gpu():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((33, 70)).astype(np.float32)
    b = rng.standard_normal((70, 5)).astype(np.float32)
    x, y = ember.tensor(a, device="rocm"), ember.tensor(b, device="rocm")
    np.testing.assert_allclose((x * 2 + 1).to("cpu").numpy(), a * 2 + 1, rtol=1e-6)
    np.testing.assert_allclose(ember.sum(x, 1).to("cpu").numpy(), a.sum(1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ember.cumsum(x, 1).to("cpu").numpy(), a.cumsum(1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ember.mm(x, y).to("cpu").numpy(), a @ b, rtol=1e-4, atol=1e-4)
