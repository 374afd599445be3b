"""The cuda backend's GPU-free parts: NVRTC compilation for sm_90, the disk cache, argument packing,
the cuBLAS operand plans, and the replayed launches of the fast path (on a recording driver).

These run anywhere NVRTC is installed (pip install cuda-bindings nvidia-cuda-nvrtc); no GPU needed.
"""

from __future__ import annotations

import ctypes
import os
import struct
import time

import numpy as np
import pytest

pytest.importorskip("ember_cuda")
from ember_cuda import blas, compiler  # noqa: E402
from ember_cuda.launch import Kernel, slot_format  # noqa: E402


def _nvrtc_reason():
    try:
        compiler.nvrtc_version()
    except Exception as e:  # noqa: BLE001
        return f"NVRTC is not usable here: {e}"
    return None


needs_nvrtc = pytest.mark.skipif(_nvrtc_reason() is not None, reason=str(_nvrtc_reason()))


# -- NVRTC and the cache ------------------------------------------------------------------------

@needs_nvrtc
def test_sm90_is_a_cubin_target_and_unknown_archs_fall_back_to_ptx():
    assert compiler.target_for("sm_90") == ("--gpu-architecture=sm_90", "cubin")
    opt, kind = compiler.target_for("sm_999")
    assert kind == "ptx" and opt.startswith("--gpu-architecture=compute_")


@needs_nvrtc
def test_compile_error_carries_the_compiler_log():
    with pytest.raises(compiler.CompileError, match="undefined_thing") as e:
        compiler.compile_source('extern "C" __global__ void k() { undefined_thing(); }', "sm_90")
    assert "sm_90" in str(e.value)


@needs_nvrtc
def test_disk_cache_compiles_once(tmp_path, monkeypatch):
    from ember_kernelgen.cache import KernelCache
    monkeypatch.setattr(compiler, "_cache", KernelCache(tmp_path))
    src = 'extern "C" __global__ void k(float* x) { x[threadIdx.x] += 1.0f; }'
    before = dict(compiler.stats)
    b1 = compiler.cached_binary(src, "sm_90")
    b2 = compiler.cached_binary(src, "sm_90")
    assert b1 == b2 and b1[:4] == b"\x7fELF"
    assert compiler.stats["compiled"] == before["compiled"] + 1
    assert compiler.stats["cache_hits"] == before["cache_hits"] + 1
    assert list(tmp_path.rglob("*.bin"))


def _catalog():
    try:
        from ember_kernelgen.catalog import all_kernels
        from ember_kernelgen.render import render_many
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"ember_kernelgen's catalog is not available: {e}")
    return list(all_kernels()), render_many


@needs_nvrtc
def test_generated_kernels_compile_to_sm90_cubins():
    """A sample of the generator's kernels (every one with EMBER_CUDA_FULL_COMPILE=1), as SASS for sm_90,
    with the options the backend uses."""
    kernels, render_many = _catalog()
    full = os.environ.get("EMBER_CUDA_FULL_COMPILE") == "1"
    chosen = kernels if full else kernels[::15]
    chunk = 300
    for i in range(0, len(chosen), chunk):
        part = chosen[i:i + chunk]
        src = render_many(part, "cuda")
        cubin = compiler.cached_binary(src, "sm_90")
        assert cubin[:4] == b"\x7fELF"
        for k in part:
            assert k.name.encode() in cubin, k.name


# -- argument packing --------------------------------------------------------------------------------

def test_slot_format_gives_every_parameter_an_8_byte_slot():
    for sig in ("pq", "pqpqq", "iIfd", "pqfpqiq"):
        assert struct.calcsize(slot_format(sig)) == 8 * len(sig)
    with pytest.raises(ValueError, match="'x'"):
        slot_format("pqx")


def test_kernel_packs_arguments_in_place():
    k = Kernel("k", "pqiIfdq", func=0, device_index=0)
    args = (0x7F00_0000_1000, 64, -3, 4_000_000_000, 1.5, -2.25, 1 << 40)
    k.pack(args)
    raw = ctypes.string_at(k.base, 8 * 7)
    assert struct.unpack_from("<Q", raw, 0)[0] == args[0]
    assert struct.unpack_from("<q", raw, 8)[0] == 64
    assert struct.unpack_from("<i", raw, 16)[0] == -3
    assert struct.unpack_from("<I", raw, 24)[0] == 4_000_000_000
    assert struct.unpack_from("<f", raw, 32)[0] == 1.5
    assert struct.unpack_from("<d", raw, 40)[0] == -2.25
    assert struct.unpack_from("<q", raw, 48)[0] == 1 << 40
    ptrs = [k.params[i] for i in range(7)]
    assert ptrs == [k.base + 8 * i for i in range(7)]
    base_before = k.base
    k.pack((1, 2, 3, 4, 5.0, 6.0, 7))   # the same buffer every time: nothing allocated per call
    assert k.base == base_before


def test_packing_rejects_wrong_arguments():
    k = Kernel("k", "pqi", func=0, device_index=0)
    with pytest.raises(struct.error):
        k.pack((1, 2))
    with pytest.raises(struct.error):
        k.pack((1, 2, 1.5))
    with pytest.raises(struct.error):
        k.pack((-1, 0, 0))   # an address is unsigned


def test_pure_python_launch_path_cost():
    """What the host pays per launch before the driver call: pack a binary op's arguments in place.
    (The driver call itself is measured on the GPU: bench/cuda_bench.py host.)"""
    k = Kernel("ew_add", "pqpqpqq", func=0, device_index=0)
    args = [0x7F00_0000_0000, 0, 0x7F00_0010_0000, 0, 0x7F00_0020_0000, 0, 16]
    n = 20000
    t0 = time.perf_counter()
    for _ in range(n):
        with k.lock:
            struct.pack_into(k.fmt, k.buf, 0, *args)
    per = (time.perf_counter() - t0) / n * 1e6
    print(f"pack + lock per launch: {per:.2f} us")
    assert per < 20


# -- cuBLAS operand plans, checked against a column-major GEMM written in numpy --------------------

def _colmajor_gemm(mem_a, mem_b, transa, transb, m, n, k, lda, ldb):
    """What cuBLAS computes: C (m x n, column-major, ldc = m) = op(A) op(B) from flat memories."""
    def mat(mem, rows, cols, ld, trans):
        # op(X) is rows x cols; X as stored is (rows x cols) or (cols x rows) column-major with ld
        if trans == blas.CUBLAS_OP_N:
            return np.array([[mem[i + j * ld] for j in range(cols)] for i in range(rows)])
        return np.array([[mem[j + i * ld] for j in range(cols)] for i in range(rows)])
    A = mat(mem_a, m, k, lda, transa)
    B = mat(mem_b, k, n, ldb, transb)
    return A @ B   # (m x n); stored column-major, it is read back as C^T row-major


def _view(base: np.ndarray, shape, strides, offset=0):
    return np.lib.stride_tricks.as_strided(base[offset:], shape=shape, strides=[s * base.itemsize for s in strides])


@pytest.mark.parametrize("a_layout", ["row", "col", "rowpad", "colpad"])
@pytest.mark.parametrize("b_layout", ["row", "col", "rowpad", "colpad"])
@pytest.mark.parametrize("dims", [(3, 4, 5), (1, 4, 5), (3, 1, 5), (3, 4, 1), (1, 1, 1)])
def test_plan_multiplies_row_major_views_as_they_lie(a_layout, b_layout, dims):
    n, k, p = dims
    rng = np.random.default_rng(0)

    def operand(rows, cols, layout):
        mem = rng.standard_normal(200)
        if layout == "row":
            st = (cols, 1)
        elif layout == "rowpad":
            st = (cols + 3, 1)
        elif layout == "col":
            st = (1, rows)
        else:
            st = (1, rows + 2)
        return mem, st, _view(mem, (rows, cols), st)

    ma, sa, A = operand(n, k, a_layout)
    mb, sb, B = operand(k, p, b_layout)
    plan = blas.plan(n, k, p, sa, sb)
    assert plan is not None
    transa, transb, m, nn, kk, lda, ldb, ldc = plan
    assert (m, nn, kk, ldc) == (p, n, k, max(p, 1))
    # cuBLAS's A is our B, its B is our A
    got = _colmajor_gemm(mb, ma, transa, transb, m, nn, kk, lda, ldb)   # = C^T (p x n)
    np.testing.assert_allclose(got.T, A @ B, rtol=1e-12)


def test_plan_declines_operands_without_a_unit_stride():
    assert blas.plan(3, 4, 5, (8, 2), (5, 1)) is None
    assert blas.layout(3, 4, 8, 2) is None


def test_cublas_enums_are_the_documented_values():
    assert (blas.CUDA_R_32F, blas.CUDA_R_64F, blas.CUDA_R_16F, blas.CUDA_R_16BF) == (0, 1, 2, 14)
    assert (blas.CUBLAS_COMPUTE_32F, blas.CUBLAS_COMPUTE_32F_FAST_TF32, blas.CUBLAS_COMPUTE_64F) == (68, 77, 70)
    assert blas.matmul.allow_tf32 is False   # off by default, as in PyTorch


# -- the replayed fast path, on a driver that records instead of launching ------------------------------

class RecordingDriver:
    """The generator's Driver protocol with fake device memory: launches are packed and recorded."""

    dialect = "cuda"

    def __init__(self):
        import ember
        from ember.device import Device
        from ember.device import get_backend
        self.backend = get_backend("cuda")
        self.dev = Device("cuda", 0)
        self.launches = []
        self.next = 0x7F00_0000_0000

    def limits(self, device):
        from ember_kernelgen import DeviceLimits
        return DeviceLimits(max_block=256, warp=32, local_mem=48 * 1024, compute_units=132, fp64=True)

    def compile(self, source, signatures, options, device):
        return {n: Kernel(n, s, func=0, device_index=0) for n, s in signatures.items()}

    def launch(self, kernel, grid, block, args, stream):
        from ember_cuda.kgdriver import recorder
        kernel.pack(args)   # the arguments fit the signature
        if recorder.launches is not None:
            recorder.launches.append((kernel, grid, block, tuple(args), stream))
        self.launches.append((kernel.name, tuple(grid), tuple(block), tuple(args)))

    def stream(self, device):
        return 0

    def buffer(self, t):
        return t._storage.ptr, t._offset * t._dtype.itemsize

    def empty(self, shape, dtype, device):
        from ember import Tensor
        from ember_cuda.runtime import CudaStorage, _contig_strides
        n = int(np.prod(shape)) if shape else 1
        ptr = self.next
        self.next += ((n * dtype.itemsize + 511) // 512 + 1) * 512
        st = CudaStorage(ptr, n * dtype.itemsize, dtype.itemsize, self.dev, None)
        return Tensor._make(st, 0, tuple(shape), _contig_strides(tuple(shape)), dtype, self.dev, self.backend)

    def to_host(self, t):
        return np.zeros(t._shape, t._dtype.np)


def test_replayed_launch_equals_the_generic_one(monkeypatch):
    pytest.importorskip("ember_kernelgen")
    import ember
    import ember_kernelgen
    from ember_cuda import ops
    d = RecordingDriver()
    table = ember_kernelgen.build_kernels(d)

    class L:
        def launch(self, k, grid, block, args, stream):
            d.launch(k, grid, block, args, stream)

    monkeypatch.setattr(ops, "_empty", d.empty)
    monkeypatch.setattr(ops, "_empty_s", lambda shape, dtype, device: (d.empty(shape, dtype, device), 0))
    add = ops.make_binary("add", table["add"], lambda: L())
    x = d.empty((4, 4), ember.float32, d.dev)
    y = d.empty((4, 4), ember.float32, d.dev)
    z1 = add(x, y, None)                 # learns
    generic = d.launches[-1]
    assert add.replay.cache, "the first call should have been learned"
    x2, y2 = d.empty((4, 4), ember.float32, d.dev), d.empty((4, 4), ember.float32, d.dev)
    z2 = add(x2, y2, None)               # replays
    fast = d.launches[-1]
    d.launches.clear()
    z3 = table["add"](x2, y2, None)       # what the generic path launches for the same call
    want = d.launches[-1]
    assert fast[0] == want[0] and fast[1:3] == want[1:3]
    # identical arguments except the output's address, which is a fresh allocation in each call
    fa, wa = list(fast[3]), list(want[3])
    fa[0] = wa[0] = None
    assert fa == wa
    assert fast[3][0] == z2._storage.ptr and z1._storage.ptr == generic[3][0]
    assert z2._shape == z3._shape == (4, 4) and z2._dtype is ember.float32
    # a view with another offset, and aliased operands, take the generic path and stay correct
    n_before = len(add.replay.cache)
    add(x, x, None)
    assert len(add.replay.cache) == n_before


def test_replay_timing_on_recording_driver(monkeypatch):
    """Host cost of the fast path in pure Python, without the driver call (fake launches)."""
    pytest.importorskip("ember_kernelgen")
    import ember
    import ember_kernelgen
    from ember_cuda import ops
    d = RecordingDriver()
    table = ember_kernelgen.build_kernels(d)
    k_calls = []

    class L:
        def launch(self, k, grid, block, args, stream):
            with k.lock:
                struct.pack_into(k.fmt, k.buf, 0, *args)
            k_calls.append(1)

    monkeypatch.setattr(ops, "_empty", d.empty)
    monkeypatch.setattr(ops, "_empty_s", lambda shape, dtype, device: (d.empty(shape, dtype, device), 0))
    add = ops.make_binary("add", table["add"], lambda: L())
    x = d.empty((4, 4), ember.float32, d.dev)
    y = d.empty((4, 4), ember.float32, d.dev)
    add(x, y, None)
    n = 5000
    launched = len(k_calls)
    t0 = time.perf_counter()
    for _ in range(n):
        add(x, y, None)
    per_fast = (time.perf_counter() - t0) / n * 1e6
    launched = len(k_calls) - launched
    t0 = time.perf_counter()
    for _ in range(n // 5):
        table["add"](x, y, None)
    per_generic = (time.perf_counter() - t0) / (n // 5) * 1e6
    print(f"4x4 add kernel entry, no driver call: fast path {per_fast:.2f} us, generic {per_generic:.2f} us")
    # The timing is printed, not asserted (a loaded machine decides a timed test; bench/ compares speeds):
    # what must hold is that each fast-path call launched exactly one kernel.
    assert launched == n


@needs_nvrtc
def test_batched_program_keeps_every_kernel_name():
    """warm's batches put each kernel's body in a namespace of its own after one prelude: the entry
    points keep their plain (extern "C") names, so each kernel is found in the shared cubin."""
    kernels, _ = _catalog()
    from ember_kernelgen.render import render
    from ember_cuda.warm import batch_source
    chosen = kernels[::300][:6]
    src = batch_source([render(k, "cuda") for k in chosen])
    assert src is not None
    cubin = compiler.compile_source(src, "sm_90")
    for k in chosen:
        assert b"\0" + k.name.encode() + b"\0" in cubin, k.name
    assert batch_source(["no prelude marker here"]) is None


@pytest.mark.parametrize("mode", ["scalar", "inplace", "inplace_scalar"])
def test_replay_of_scalar_and_in_place_calls_matches_the_generic_launch(monkeypatch, mode):
    pytest.importorskip("ember_kernelgen")
    import ember
    import ember_kernelgen
    from ember_cuda import ops
    d = RecordingDriver()
    table = ember_kernelgen.build_kernels(d)

    class L:
        def launch(self, k, grid, block, args, stream):
            d.launch(k, grid, block, args, stream)

    monkeypatch.setattr(ops, "_empty", d.empty)
    monkeypatch.setattr(ops, "_empty_s", lambda shape, dtype, device: (d.empty(shape, dtype, device), 0))
    monkeypatch.setattr(ops, "current_stream_handle", lambda device: 0)
    mul = ops.make_binary("mul", table["mul"], lambda: L())

    def call(x, y, value):
        other = value if "scalar" in mode else y
        return mul(x, other, x if "inplace" in mode else None)

    x, y = d.empty((8, 3), ember.float32, d.dev), d.empty((8, 3), ember.float32, d.dev)
    r1 = call(x, y, 2.5)                                      # learns
    assert any(mul.replay.fast.values()), mul.replay.cache
    x2, y2 = d.empty((8, 3), ember.float32, d.dev), d.empty((8, 3), ember.float32, d.dev)
    r2 = call(x2, y2, -7.25)                                  # replays
    fast = d.launches[-1]
    other = -7.25 if "scalar" in mode else y2
    r3 = table["mul"](x2, other, x2 if "inplace" in mode else None)
    want = d.launches[-1]
    fa, wa = list(fast[3]), list(want[3])
    if "inplace" in mode:
        assert r1 is x and r2 is x2 and r3 is x2
    else:
        assert fa[0] == r2._storage.ptr
        fa[0] = wa[0] = None   # each call's new output
    assert fast[0] == want[0] and fast[1:3] == want[1:3] and fa == wa
    if "scalar" in mode:
        assert -7.25 in fast[3]
