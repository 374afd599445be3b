"""The xpu backend's runtime on OpenCL: device selection, buffers, host copies, queues, events.

Runs on any OpenCL platform: an Intel GPU, or pocl's CPU device (selected with
EMBER_XPU_PLATFORM, which this file sets to pocl when no Intel GPU is present).
Skips, with the reason, where pyopencl, ember-xpu or an OpenCL platform is missing.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

cl = pytest.importorskip("pyopencl", reason="pyopencl is not installed (pip install pyopencl)")
ember_xpu = pytest.importorskip("ember_xpu", reason="ember-xpu is not installed (pip install -e backends/xpu)")

import ember  # noqa: E402
from ember import dtypes as D  # noqa: E402
from ember.device import Device, get_backend  # noqa: E402
from ember_xpu import runtime as R  # noqa: E402
from xpu_device import xpu_runtime  # noqa: E402



@pytest.fixture(scope="module")
def rt():
    return xpu_runtime()


def _np_dtypes(rt):
    return [dt for dt in rt.dtypes()]


def _sample(dt, shape, rng):
    if dt is D.bool:
        return np.asarray(rng.random(shape) < 0.5)
    if dt.category == 1:
        info = np.iinfo(dt.np)
        return np.asarray(rng.integers(max(info.min, -1000), min(info.max, 1000), size=shape)).astype(dt.np)
    return np.asarray(rng.standard_normal(shape)).astype(dt.np)


# -- device selection -------------------------------------------------------------

def test_platform_that_matches_nothing_says_which_platforms_exist():
    devices, reason = R.discover("NoSuchPlatformXYZ")
    assert devices == []
    assert "NoSuchPlatformXYZ" in reason and R.PLATFORM_ENV in reason


def test_platform_substring_is_case_insensitive(rt):
    name = rt.devices[0].platform.name.strip()
    devices, reason = R.discover(name.upper()[:8])
    assert reason is None and devices


def test_dtypes_follow_device_extensions(rt):
    for d in rt.devices:
        assert (D.float64 in d.dtypes) == ("cl_khr_fp64" in d.cl.extensions)
        # float16 and bfloat16 are 16-bit words widened to float in the kernels: no extension needed
        for dt in (D.bool, D.uint8, D.int8, D.int16, D.int32, D.int64, D.float16, D.bfloat16, D.float32):
            assert dt in d.dtypes
    assert get_backend("xpu").capabilities.dtypes == rt.dtypes()


def _ember_info(env_extra):
    env = dict(os.environ, **env_extra)
    return subprocess.run([sys.executable, "-m", "ember", "info"], capture_output=True, text=True,
                          env=env, timeout=120)


def test_without_a_platform_the_plugin_loads_and_info_says_why():
    r = _ember_info({"OCL_ICD_VENDORS": "/nonexistent-ember-test", R.PLATFORM_ENV: ""})
    assert r.returncode == 0, r.stderr
    xpu_lines = [ln for ln in r.stdout.splitlines() if ln.strip().startswith("xpu ")]
    assert any("loaded" in ln for ln in xpu_lines), r.stdout
    assert any("unavailable" in ln and "no OpenCL platform" in ln for ln in xpu_lines), r.stdout


def test_unknown_platform_makes_xpu_unavailable_with_the_reason():
    code = ("import ember\n"
            "try:\n    ember.zeros(2, device='xpu')\nexcept Exception as e:\n"
            "    print(type(e).__name__, e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, **{R.PLATFORM_ENV: "NoSuchPlatformXYZ"}))
    assert "BackendUnavailableError" in r.stdout and "NoSuchPlatformXYZ" in r.stdout, r.stdout + r.stderr


def test_ember_info_shows_platform_device_and_driver(rt):
    from ember_xpu.plugin import ember_info
    info = ember_info()
    d = rt.devices[0]
    assert d.name in info["xpu:0"] and d.cl.driver_version.strip() in info["xpu:0"]
    assert d.platform.name.strip() in info["xpu:0"]
    assert "pyopencl" in info


# -- memory and copies ---------------------------------------------------------------

@pytest.mark.parametrize("shape", [(), (0,), (3, 0), (7,), (4, 5), (2, 3, 4)])
def test_roundtrip_every_supported_dtype(rt, shape):
    rng = np.random.default_rng(0)
    for dt in rt.dtypes():
        a = _sample(dt, shape, rng)
        x = ember.tensor(a, device="xpu")
        assert x.device.type == "xpu" and x.dtype is dt and tuple(x.shape) == shape
        back = x.to("cpu").numpy()
        assert back.dtype == a.dtype and back.shape == a.shape
        np.testing.assert_array_equal(back, a)


def test_non_contiguous_views_read_back(rt):
    a = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    x = ember.tensor(a, device="xpu")
    for view, ref in ((x.transpose(0, 2), a.swapaxes(0, 2)), (x[1:, ::2, 1::3], a[1:, ::2, 1::3]),
                      (x[2], a[2]), (x[:, 1].expand(2, 3, 5), np.broadcast_to(a[:, 1], (2, 3, 5))),
                      (x.permute(2, 0, 1)[:, ::2], a.transpose(2, 0, 1)[:, ::2])):
        np.testing.assert_array_equal(view.to("cpu").numpy(), ref)
        assert view.tolist() == ref.tolist()


def test_item_and_numpy_refuses_device_memory(rt):
    x = ember.tensor(np.array([2.5], np.float32), device="xpu")
    assert x.item() == 2.5
    with pytest.raises(TypeError, match="cpu"):
        x.numpy()


def test_cpu_to_xpu_copy_into_existing_tensor(rt):
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    x = ember.tensor(np.zeros((3, 4), np.int64), device="xpu")
    rt.copy_from_host(x, a)
    np.testing.assert_array_equal(x.to("cpu").numpy(), a)


def test_non_blocking_host_copies_complete_after_synchronize(rt):
    a = np.random.default_rng(1).standard_normal(1 << 16).astype(np.float32)
    x = rt.from_numpy(a, Device("xpu", 0), non_blocking=True)
    out = np.empty_like(a)
    ev = rt.read_into(x, out, non_blocking=True)
    assert ev is not None
    rt.synchronize(Device("xpu", 0))
    np.testing.assert_array_equal(out, a)
    assert rt.devices[0].pending == []


def test_non_blocking_copy_keeps_the_host_array_alive(rt):
    import gc
    import weakref
    d = rt.devices[0]
    a = np.full(1 << 16, 3.0, np.float32)
    ref = weakref.ref(a)
    x = rt.empty((1 << 16,), D.float32, d.device)
    rt.copy_from_host(x, a, non_blocking=True)
    del a
    gc.collect()
    assert ref() is not None or x.to("cpu").numpy()[0] == 3.0
    rt.synchronize(d.device)
    assert float(x.to("cpu").numpy().sum()) == 3.0 * (1 << 16)


def test_data_ptr_is_byte_address_within_the_buffer(rt):
    x = ember.tensor(np.zeros((4, 6), np.float32), device="xpu")
    assert x[1].data_ptr() - x.data_ptr() == 6 * 4
    assert x[:, 2].data_ptr() - x.data_ptr() == 2 * 4
    y = ember.tensor(np.zeros(3, np.float32), device="xpu")
    assert y.data_ptr() != x.data_ptr()


def test_storage_numel_counts_elements(rt):
    x = ember.tensor(np.zeros((4, 6), np.int16), device="xpu")
    assert rt.storage_numel(x._storage) == 24
    assert rt.storage_numel(x[1:3]._storage) == 24


def test_raw_alloc_free_and_accounting(rt):
    d = rt.devices[0]
    before = d.raw_bytes
    buf = rt.raw_alloc(1 << 20, 0)
    assert isinstance(buf, cl.Buffer) and buf.size == 1 << 20
    assert d.raw_bytes == before + (1 << 20)
    free, total = rt.mem_get_info(0)
    assert total == d.total and free == total - d.raw_bytes
    rt.raw_free(buf, 0)
    assert d.raw_bytes == before


def _vm_flags(addr):
    """The VmFlags of the mapping holding addr (/proc/self/smaps), or None where there is no such file."""
    try:
        lines = open("/proc/self/smaps").read().splitlines()
    except OSError:
        return None
    inside = False
    for line in lines:
        head = line.split(" ", 1)[0]
        if "-" in head and not line.endswith(":") and all(c in "0123456789abcdef-" for c in head):
            lo, hi = (int(v, 16) for v in head.split("-"))
            inside = lo <= addr < hi
        elif inside and line.startswith("VmFlags:"):
            return line.split()[1:]
    return None


def test_cpu_device_keeps_large_buffers_in_huge_page_aligned_host_memory(rt):
    d = rt.devices[0]
    if not d.cpu:
        pytest.skip(f"{d.name} is not a CPU device: its buffers are the runtime's own")
    small = rt.raw_alloc(1 << 20, 0)
    assert small.int_ptr not in d.host_pages           # under 2 MiB: the runtime's own memory
    rt.raw_free(small, 0)
    n = (3 << 20) + 12
    buf = rt.raw_alloc(n, 0)
    try:
        host = d.host_pages[buf.int_ptr]
        assert host.nbytes == n and host.ctypes.data % (2 << 20) == 0
        assert buf.flags & cl.mem_flags.USE_HOST_PTR
        flags = _vm_flags(host.ctypes.data)
        if flags is not None:   # Linux: private anonymous memory advised to use huge pages ("hg")
            assert "hg" in flags and "sh" not in flags, flags
        # a kernel's writes are the host memory's (the CPU runtime computes on it), and copies read them
        x = ember.tensor(np.arange(1 << 20, dtype=np.float32), device="xpu")
        y = (x * 2.0 + 1.0).to("cpu").numpy()
        np.testing.assert_array_equal(y, np.arange(1 << 20, dtype=np.float32) * 2 + 1)
    finally:
        rt.raw_free(buf, 0)
    assert buf.int_ptr not in d.host_pages


def test_freeing_host_memory_waits_for_the_kernels_that_use_it(rt):
    # kernels queued on large buffers, the buffers' memory given back at once: a CPU device's host memory must
    # outlive those kernels (it crashed the process when unmapped under them). In a child process, so that a
    # crash fails this test rather than the run.
    code = """if True:
        import ember
        x = ember.ones(1 << 23, device="xpu")
        for _ in range(4):
            y = (x * 2.0).exp()
            del y
            ember.xpu.empty_cache()
        print(float((x + 1).sum().item()))
    """
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env={**os.environ})
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert float(r.stdout.split()[-1]) == 2.0 * (1 << 23)


def test_raw_alloc_returns_none_when_the_device_is_full(rt):
    d = rt.devices[0]
    total = d.total
    try:
        d.total = d.raw_bytes + 4096
        assert rt.raw_alloc(8192, 0) is None
        b = rt.raw_alloc(4096, 0)
        assert b is not None
        rt.raw_free(b, 0)
    finally:
        d.total = total


def test_raw_alloc_beyond_the_largest_buffer_raises_with_the_limit(rt):
    d = rt.devices[0]
    with pytest.raises(Exception, match=str(d.max_alloc)):
        rt.raw_alloc(d.max_alloc + 1, 0)


def test_device_index_out_of_range_is_an_ember_error(rt):
    n = rt.device_count()
    with pytest.raises(ember.errors.UnknownDeviceError, match=f"xpu:{n}"):
        ember.zeros(2, device=f"xpu:{n}")


# -- queues and events ------------------------------------------------------------------

def test_default_stream_is_one_in_order_queue_per_device(rt):
    s = rt.stream_default(0)
    assert s is rt.stream_default(0)
    props = s.q.properties
    assert not props & cl.command_queue_properties.OUT_OF_ORDER_EXEC_MODE_ENABLE
    s2 = rt.stream_create(0)
    assert s2 is not s and s2.q.device == s.q.device
    assert not s2.q.properties & cl.command_queue_properties.OUT_OF_ORDER_EXEC_MODE_ENABLE


def test_events_record_query_synchronize_and_time(rt):
    s = rt.stream_create(0)
    start, end = rt.event_create(0, True), rt.event_create(0, True)
    assert rt.event_query(start)  # never recorded: complete, as in PyTorch
    rt.event_record(start, s)
    x = rt.empty((1 << 20,), D.float32, rt.devices[0].device)
    cl.enqueue_fill_buffer(s.q, x._storage.buf, np.float32(1.0), x._storage.base, 4 << 20)
    rt.event_record(end, s)
    rt.event_synchronize(end)
    assert rt.event_query(end) and rt.stream_query(s)
    ms = rt.event_elapsed_ms(start, end)
    assert 0.0 <= ms < 60_000
    rt.stream_synchronize(s)


def test_elapsed_time_needs_timing_events(rt):
    s = rt.stream_default(0)
    a, b = rt.event_create(0, False), rt.event_create(0, True)
    rt.event_record(a, s)
    rt.event_record(b, s)
    with pytest.raises(ValueError, match="enable_timing"):
        rt.event_elapsed_ms(a, b)
    with pytest.raises(ValueError, match="never recorded"):
        rt.event_elapsed_ms(rt.event_create(0, True), b)


def test_stream_waits_for_an_event_of_another_stream(rt):
    d = rt.devices[0]
    s1, s2 = rt.stream_create(0), rt.stream_create(0)
    x = rt.empty((1 << 18,), D.float32, d.device)
    cl.enqueue_fill_buffer(s1.q, x._storage.buf, np.float32(7.0), x._storage.base, 1 << 20)
    ev = rt.event_create(0, False)
    rt.event_record(ev, s1)
    rt.stream_wait_event(s2, ev)
    out = np.empty(1 << 18, np.float32)
    cl.enqueue_copy(s2.q, out, x._storage.buf, src_offset=x._storage.base, is_blocking=True)
    assert (out == 7.0).all()


# -- the kernelgen driver ------------------------------------------------------------------

_SRC = """
__kernel void axpy(__global char* xb, long xo, __global char* yb, long yo, float a, long n) {
    long i = get_global_id(0);
    __global float* x = (__global float*)(xb + xo);
    __global float* y = (__global float*)(yb + yo);
    if (i < n) y[i] = a * x[i] + y[i];
}
"""


@pytest.mark.parametrize("runtime_caches", [False, True], ids=["ember-cache", "runtime-cache"])
def test_driver_compiles_caches_on_disk_and_launches(rt, tmp_path, monkeypatch, runtime_caches):
    """Binaries go to Ember's disk cache unless the OpenCL runtime caches source builds itself (pocl)."""
    pytest.importorskip("ember_kernelgen", reason="ember-kernelgen is not installed")
    from ember_xpu.driver import OpenCLDriver
    monkeypatch.setenv("EMBER_KERNEL_CACHE", str(tmp_path))
    drv = OpenCLDriver(rt)
    drv._own_cache[rt.devices[0].index] = runtime_caches
    dev = rt.devices[0].device
    lim = drv.limits(dev)
    assert lim.max_block >= 1 and lim.max_block & (lim.max_block - 1) == 0
    assert lim.fp64 == rt.devices[0].fp64 and lim.local_mem > 0
    ks = drv.compile(_SRC, {"axpy": "pqpqfq"}, (), dev)
    assert bool(list(tmp_path.rglob("*.bin"))) is not runtime_caches
    x = ember.tensor(np.arange(10, dtype=np.float32), device="xpu")
    y = ember.tensor(np.ones(10, np.float32), device="xpu")
    xv = x[2:]  # a view: the byte offset carries the element offset
    (xb, xo), (yb, yo) = drv.buffer(xv), drv.buffer(y)
    assert xo == x._storage.base + 8
    drv.launch(ks["axpy"], (1, 1, 1), (8, 1, 1), (xb, xo, yb, yo, 2.0, 8), drv.stream(dev))
    np.testing.assert_array_equal(drv.to_host(y), np.r_[2 * np.arange(2, 10) + 1, 1, 1].astype(np.float32))
    again = OpenCLDriver(rt).compile(_SRC, {"axpy": "pqpqfq"}, (), dev)  # from the disk cache
    assert "axpy" in again


def test_driver_compile_error_carries_the_log(rt, tmp_path, monkeypatch):
    pytest.importorskip("ember_kernelgen", reason="ember-kernelgen is not installed")
    from ember_xpu.driver import OpenCLDriver
    monkeypatch.setenv("EMBER_KERNEL_CACHE", str(tmp_path))
    with pytest.raises(RuntimeError, match="OpenCL compilation failed"):
        OpenCLDriver(rt).compile("__kernel void k(__global float* x) { undefined_fn(x); }",
                                 {"k": "p"}, (), rt.devices[0].device)


# -- through core's runtime services (ember.Stream, ember.Event, the caching allocator) ---------

def test_tensors_come_from_the_caching_allocator(rt):
    from ember.runtime import allocation_of
    dev = "xpu:0"
    ember.empty_cache(dev)
    base = ember.memory_allocated(dev)
    x = ember.empty((1000,), dtype=ember.float32, device=dev)
    a = allocation_of(x)
    assert a is not None and a.handle is x._storage.buf and a.offset == x._storage.base
    assert ember.memory_allocated(dev) >= base + 4000
    del x, a
    assert ember.memory_allocated(dev) == base
    assert ember.memory_reserved(dev) > 0
    ember.empty_cache(dev)


def test_out_of_memory_is_an_ember_error_and_recovers(rt):
    d = rt.devices[0]
    total = d.total
    ember.empty_cache("xpu:0")
    try:
        d.total = d.raw_bytes + (64 << 20)
        keep = ember.empty((8 << 20,), dtype=ember.float32, device="xpu:0")  # 32 MiB
        with pytest.raises(ember.OutOfMemoryError, match="xpu"):
            ember.empty((16 << 20,), dtype=ember.float32, device="xpu:0")  # 64 MiB more
        del keep
        again = ember.empty((12 << 20,), dtype=ember.float32, device="xpu:0")  # fits once freed
        assert again.numel() == 12 << 20
        del again
    finally:
        d.total = total
        ember.empty_cache("xpu:0")


def test_streams_and_timed_events_through_ember(rt):
    s = ember.Stream("xpu:0")
    assert s.handle is not rt.stream_default(0)
    start, end = ember.Event(enable_timing=True), ember.Event(enable_timing=True)
    a = np.arange(1 << 16, dtype=np.float32)
    with ember.stream(s):
        assert ember.current_stream("xpu:0") == s
        start.record()
        x = ember.tensor(a, device="xpu:0")
        end.record()
    end.synchronize()
    assert end.query() and s.query()
    assert start.elapsed_time(end) >= 0.0
    s.synchronize()
    ember.synchronize("xpu:0")
    np.testing.assert_array_equal(x.to("cpu").numpy(), a)


def test_non_blocking_to_and_from_xpu(rt):
    a = np.random.default_rng(3).standard_normal((256, 33)).astype(np.float32)
    c = ember.tensor(a)
    x = c.to("xpu:0", non_blocking=True)
    back = x.to("cpu", non_blocking=True)
    ember.current_stream("xpu:0").synchronize()
    np.testing.assert_array_equal(back.numpy(), a)
    # a non-contiguous source goes through a contiguous staging copy
    np.testing.assert_array_equal(c.t().to("xpu:0", non_blocking=True).to("cpu").numpy(), a.T)


def test_ember_xpu_device_module(rt):
    assert ember.xpu.is_available() and ember.xpu.device_count() == rt.device_count()
    free, total = ember.xpu.mem_get_info(0) if hasattr(ember.xpu, "mem_get_info") else rt.mem_get_info(0)
    assert 0 <= free <= total
