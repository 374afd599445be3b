"""ember_kernelgen without a device: the kernel table covers the prims, dims coalesce, the disk
cache round-trips, and a Driver that only records calls sees the documented protocol."""

from __future__ import annotations

import numpy as np
import pytest

from ember import dtypes as D
from ember.dispatch import registry

import ember_kernelgen as kg
from ember_kernelgen.cache import KernelCache, cache_dir
from ember_kernelgen.driver import SIGNATURE_CODES
from ember_kernelgen.host import coalesce


class _T:
    def __init__(self, shape, dtype, strides=None, offset=0):
        self._shape, self._dtype, self._offset, self._device = tuple(shape), dtype, offset, "rec:0"
        acc, st = 1, []
        for n in reversed(shape):
            st.append(acc)
            acc *= n
        self._strides = tuple(strides) if strides is not None else tuple(reversed(st))
        self._storage = object()

    def _view(self, shape, strides, offset=None):
        t = _T(shape, self._dtype, strides, self._offset if offset is None else offset)
        t._storage = self._storage
        return t


class RecordingDriver:
    dialect = "opencl"

    def __init__(self):
        self.compiled, self.launched = [], []

    def limits(self, device):
        return kg.DeviceLimits(max_block=128, compute_units=4)

    def compile(self, source, signatures, options, device):
        self.compiled.append((source, dict(signatures)))
        return {name: (name, sig) for name, sig in signatures.items()}

    def launch(self, kernel, grid, block, args, stream):
        self.launched.append((kernel, grid, block, args, stream))

    def stream(self, device):
        return "queue"

    def buffer(self, t):
        return t._storage, t._offset * t._dtype.itemsize

    def empty(self, shape, dtype, device):
        return _T(shape, dtype)

    def to_host(self, t):
        return np.zeros(t._shape, t._dtype.np)


def test_recording_driver_satisfies_protocol():
    assert isinstance(RecordingDriver(), kg.Driver)


def test_table_covers_every_prim():
    table = kg.build_kernels(RecordingDriver())
    # core's prims (other test files may define operators of their own in the shared registry)
    prims = {n for n, op in registry.items() if op.is_prim and getattr(op.meta, "__module__", "").startswith("ember.")}
    assert {"add", "sum", "sort", "bmm", "copy_"} <= prims
    missing = sorted(prims - set(table))
    assert not missing, f"prims without a generated kernel: {missing}"
    for name in ("index_select", "index_add_"):
        assert name in table
    assert "philox_random" in kg.build_kernels(RecordingDriver(), registered_only=False)


def test_launch_arguments_match_signatures_and_repeat_calls_compile_nothing():
    drv = RecordingDriver()
    table = kg.build_kernels(drv)
    a = _T((4, 8), D.float32)
    b = _T((8,), D.float32)._view((4, 8), (0, 1))
    table["add"](a, b, None)
    table["add"](a, b, None)
    table["sum"](a, (1,), False, D.float32)
    assert len(drv.compiled) == 2
    sigs = {name: sig for _, s in drv.compiled for name, sig in s.items()}
    for (name, sig), grid, block, args, stream in drv.launched:
        assert sigs[name] == sig and len(sig) == len(args) and stream == "queue"
        for ch, v in zip(sig, args):
            assert ch in SIGNATURE_CODES
            if ch in "qiI":
                assert isinstance(v, int)
            elif ch in "fd":
                assert isinstance(v, float)
        assert all(g >= 1 for g in grid) and block[0] * block[1] * block[2] <= 128
        for i, ch in enumerate(sig):
            if ch == "p":
                assert sig[i + 1] == "q"


def test_contiguous_fast_path_needs_alignment():
    drv = RecordingDriver()
    table = kg.build_kernels(drv)
    table["neg"](_T((16,), D.float32), None)
    table["neg"](_T((16,), D.float32, offset=1), None)
    names = [k[0] for k, *_ in drv.launched]
    assert names[0].endswith("_c") and names[1].endswith("_s1")


def test_coalesce():
    assert coalesce((2, 3, 4), [(12, 4, 1), (12, 4, 1)]) == ((24,), [(1,), (1,)])
    assert coalesce((2, 3, 4), [(12, 4, 1), (0, 4, 1)]) == ((2, 12), [(12, 1), (0, 1)])
    assert coalesce((1, 5, 1), [(5, 1, 1)]) == ((5,), [(1,)])
    assert coalesce((), [()]) == ((), [()])
    assert coalesce((3, 4), [(1, 3)]) == ((3, 4), [(1, 3)])


def test_disk_cache_roundtrip(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBER_KERNEL_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path
    c = KernelCache()
    assert c.get("cuda", "sm_90", "src", ("-O3",)) is None
    c.put("cuda", "sm_90", "src", ("-O3",), b"binary")
    assert c.get("cuda", "sm_90", "src", ("-O3",)) == b"binary"
    assert c.get("cuda", "sm_90", "src2", ("-O3",)) is None
    assert c.get("opencl", "sm_90", "src", ("-O3",)) is None


def test_float64_refused_on_devices_without_it():
    class NoFp64(RecordingDriver):
        def limits(self, device):
            return kg.DeviceLimits(fp64=False)

    table = kg.build_kernels(NoFp64())
    with pytest.raises(TypeError, match="float64"):
        table["neg"](_T((4,), D.float64), None)
    table["neg"](_T((4,), D.float32), None)
