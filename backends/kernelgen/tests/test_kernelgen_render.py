"""Every kernel description renders in CUDA C, HIP C and OpenCL C; the CUDA renderings all compile
with NVRTC (no GPU needed); HIP and OpenCL renderings differ only in prelude and qualifiers."""

from __future__ import annotations

import difflib
import re

import pytest

from ember_kernelgen.cache import KernelCache
from ember_kernelgen.catalog import all_kernels
from ember_kernelgen.dialects import PRELUDE_END, prelude
from ember_kernelgen.render import body_source, render, render_many

KERNELS = list(all_kernels())

# What may differ between two dialects' bodies: these words, and nothing else.
_QUALIFIERS = re.compile(r'extern "C" __global__ void|__kernel void|__global__|__global|__local|__shared__|'
                         r'__device__ inline|\bstatic inline\b|\binline\b|__device__')


def _strip(line):
    return "".join(_QUALIFIERS.sub(" ", line).split())


def test_catalog_is_large_and_names_are_unique():
    assert len(KERNELS) > 1000
    assert len({k.name for k in KERNELS}) == len(KERNELS)


@pytest.mark.parametrize("dialect", ["cuda", "hip", "opencl"])
def test_render_is_prelude_plus_body(dialect):
    for k in KERNELS[::7]:
        src = render(k, dialect)
        head = prelude(dialect, fp64=k.fp64) + PRELUDE_END
        assert src.startswith(head) and src[len(head):] == body_source(k, dialect)
        assert f"{k.name}(" in src


def test_hip_and_opencl_differ_only_in_prelude_and_qualifiers():
    for k in KERNELS:
        hip, ocl = body_source(k, "hip").splitlines(), body_source(k, "opencl").splitlines()
        assert len(hip) == len(ocl), k.name
        for a, b in zip(hip, ocl):
            if a != b:
                assert _strip(a) == _strip(b), f"{k.name}:\n{a}\n{b}"
    # and the preludes do differ
    assert prelude("hip") != prelude("opencl")


def test_cuda_and_hip_differ_only_in_prelude():
    for k in KERNELS[::5]:
        assert body_source(k, "cuda") == body_source(k, "hip")


def test_opencl_rendering_uses_no_cuda_words():
    for k in KERNELS[::3]:
        body = body_source(k, "opencl")
        for word in ("__shared__", "threadIdx", "blockIdx", "__syncthreads", "extern \"C\""):
            assert word not in body, (k.name, word)


def test_every_cuda_kernel_compiles_with_nvrtc():
    from ember_kernelgen import nvrtc
    reason = nvrtc.available()
    if reason:
        pytest.skip(reason)
    cache = KernelCache()
    chunk = 250
    for i in range(0, len(KERNELS), chunk):
        src = render_many(KERNELS[i:i + chunk], "cuda")
        if cache.get("cuda-check", "compute_90", src) is not None:
            continue     # this exact source compiled before
        ptx = nvrtc.compile_ptx(src, "compute_90")
        for k in KERNELS[i:i + chunk]:
            assert f".entry {k.name}(".encode() in ptx, k.name
        cache.put("cuda-check", "compute_90", src, (), b"ok")


def test_nvrtc_reports_errors():
    from ember_kernelgen import nvrtc
    reason = nvrtc.available()
    if reason:
        pytest.skip(reason)
    with pytest.raises(RuntimeError, match="could not compile"):
        nvrtc.compile_ptx('extern "C" __global__ void k() { undefined_name(); }')


def test_every_opencl_kernel_builds():
    """The OpenCL front end (pocl in CI) accepts every OpenCL rendering."""
    cl = pytest.importorskip("pyopencl")
    try:
        platforms = cl.get_platforms()
    except cl.Error as e:
        pytest.skip(f"no OpenCL platform: {e}")
    if not platforms:
        pytest.skip("no OpenCL platform (apt-get install pocl-opencl-icd)")
    dev = platforms[0].get_devices()[0]
    ctx = cl.Context([dev])
    cache = KernelCache()
    chunk = 250
    for i in range(0, len(KERNELS), chunk):
        src = render_many(KERNELS[i:i + chunk], "opencl")
        if cache.get("opencl-check", dev.name, src) is not None:
            continue
        prog = cl.Program(ctx, src).build()
        names = set(prog.get_info(cl.program_info.KERNEL_NAMES).split(";"))
        assert {k.name for k in KERNELS[i:i + chunk]} <= names
        cache.put("opencl-check", dev.name, src, (), b"ok")
