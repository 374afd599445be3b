"""ember_kernelgen without a device: the kernel table covers the prims, dims coalesce, the disk
cache round-trips, and a Driver that only records calls sees the documented protocol."""

from __future__ import annotations

import re

import numpy as np
import pytest

from ember import dtypes as D

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
    from ember.ops.prims import kernel_contracts
    prims = kernel_contracts()
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


@pytest.mark.parametrize("one_pass", [False, True])
def test_elementwise_grid_loops_grid_stride_or_covers_the_elements_in_one_pass(one_pass):
    class Driver(RecordingDriver):
        def limits(self, device):
            return kg.DeviceLimits(max_block=128, compute_units=4, one_pass=one_pass)

    drv = Driver()
    table = kg.build_kernels(drv)
    n = 1 << 20
    a = _T((n,), D.float32)
    table["add"](a, a, None)
    ((_, grid, block, args, _),) = drv.launched
    per_block = block[0] * 4   # the contiguous kernel's vector of 4 elements a work-item
    # grid-stride: compute_units * 64 groups; one pass: every element gets its own work-item's vector
    assert grid[0] == (n // per_block if one_pass else 4 * 64)
    assert args[-1] == n


@pytest.mark.parametrize("choice", ["tiled", "8x16", "3x5x256"])
def test_bmm_launches_match_signatures_for_each_kernel_choice(monkeypatch, choice):
    """bmm's launches (the tiled kernel; gemm_pack then bmm_rb) pass what the signatures say, pack
    the smaller operand (out^T = b^T a^T when a has fewer rows than b has columns),
    and keep bmm_rb's block within the device's limit."""
    from ember_kernelgen import gemm as G
    monkeypatch.setenv(G.ENV, choice)
    drv = RecordingDriver()
    table = kg.build_kernels(drv)
    for n, k, p in ((9, 7, 40), (40, 7, 9)):
        drv.launched.clear()
        table["bmm"](_T((2, n, k), D.float32), _T((2, k, p), D.float32))
        names = [kern[0] for kern, *_ in drv.launched]
        sigs = {name: sig for _, s in drv.compiled for name, sig in s.items()}
        for (name, sig), grid, block, args, stream in drv.launched:
            assert sigs[name] == sig and len(sig) == len(args)
            assert all(isinstance(v, int) for ch, v in zip(sig, args) if ch == "q")
            assert all(g >= 1 for g in grid)
        if choice == "tiled":
            assert names == ["bmm_float32"]
            continue
        rm, rn = G.parse(choice)[1:3]
        assert names == [f"gemm_pack_float32_{rn}", f"bmm_rb_float32_{rm}x{rn}" + ("_t" if n < p else "")]
        assert all(block[0] * block[1] * block[2] <= 128 for _, _, block, _, _ in drv.launched)
        pack_args, rb_args = drv.launched[0][3], drv.launched[1][3]
        packed_cols = min(n, p)                                  # pack's P: columns of the packed operand
        assert pack_args[4:7] == (2, k, packed_cols)
        o_sb, o_sn, o_sp = rb_args[-3:]
        assert (o_sb, o_sn, o_sp) == ((n * p, p, 1) if n >= p else (n * p, 1, p))


def test_contiguous_fast_path_needs_alignment():
    drv = RecordingDriver()
    table = kg.build_kernels(drv)
    table["neg"](_T((16,), D.float32), None)
    table["neg"](_T((16,), D.float32, offset=1), None)
    names = [k[0] for k, *_ in drv.launched]
    assert names[0].endswith("_c") and names[1].endswith("_s1")


def test_one_element_and_short_operands_take_the_fast_path():
    """n == 1: every operand is one element, read as a tensor (no separate broadcast kernel); under
    VEC elements the fast path makes no vector load, so an unaligned offset does not matter."""
    drv = RecordingDriver()
    table = kg.build_kernels(drv)
    zero_d = _T((), D.float32, offset=1)
    table["mul"](zero_d, _T((1, 1), D.float32), None)
    table["neg"](_T((3,), D.float32, offset=1), None)
    table["add"](_T((3,), D.float32), _T((1,), D.float32)._view((3,), (0,)), None)
    names = [k[0] for k, *_ in drv.launched]
    assert names[0].endswith("_tt_c") and names[1].endswith("_t_c") and names[2].endswith("_tu_c")


def test_strided_kernel_reads_a_broadcast_element_with_stride_zero():
    drv = RecordingDriver()
    table = kg.build_kernels(drv)
    strided = _T((8, 4), D.float32)._view((4, 8), (1, 4))
    one = _T((1,), D.float32)._view((4, 8), (0, 0))
    table["add"](strided, one, None)
    ((name, sig), grid, block, args, _), = drv.launched
    assert name.endswith("_tt_s2")
    assert args[-8:] == (4, 8, 8, 1, 1, 4, 0, 0)     # sizes, then strides of out, a, and b (stride 0)


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


def test_contiguous_reductions_fill_the_device_then_one_small_pass():
    drv = RecordingDriver()            # 4 compute units, blocks of at most 128
    table = kg.build_kernels(drv)
    table["sum"](_T((1 << 20,), D.float32, offset=3), (0,), False, D.float32)
    (k1, g1, b1, a1, _), (k2, g2, b2, a2, _) = drv.launched
    assert k1[0].startswith("redc_sum_float32") and k2[0].startswith("redc_sum_float32")
    assert g1 == (1, 16, 1) and b1 == (128, 1, 1)          # compute_units * 4 partials
    assert g2 == (1, 1, 1) and a2[-2:] == (1, 16)           # one block over the 16 partials
    drv.launched.clear()
    table["amax"](_T((3, 5000), D.bfloat16), (1,), True)    # ceil(5000 / (128 * 16)) = 3 slices a row
    (k1, g1, *_), (k2, g2, *_) = drv.launched
    assert k1[0].startswith("redc_amax_bfloat16") and g1 == (3, 3, 1) and g2 == (3, 1, 1)
    drv.launched.clear()
    table["sum"](_T((64, 5000), D.int8), (1,), False, D.int64)   # enough rows: one pass
    ((k1, g1, *_),) = drv.launched
    assert k1[0] == "redc_sum_int8_int64_int64_t128" and g1 == (64, 1, 1)
    drv.launched.clear()
    table["sum"](_T((5000, 3), D.float32)._view((3, 5000), (1, 3)), (1,), False, D.float32)
    assert not drv.launched[0][0][0].startswith("redc")     # strided rows take the general kernel
    drv.launched.clear()
    table["sum"](_T((1000, 70), D.float32), (1,), False, D.float32)   # short rows: 8 threads a row
    ((k1, g1, b1, *_),) = drv.launched
    assert k1[0] == "redc_sum_float32_float32_float32_t128_l8" and g1 == (63, 1, 1) and b1 == (128, 1, 1)


def test_cpu_shaped_reductions_cut_runs_and_chain_passes(monkeypatch):
    """The CPU-shaped plan: a full reduction in runs of at most MAX_RUN * U elements (enough to fill
    the device), then one pass over the partial results; columns in runs of at most COL_RUN rows;
    two reduced dims as rows of the inner one; integers and booleans at their own widths."""
    from ember_kernelgen import reduction as RD
    monkeypatch.setenv(RD.ENV, "16x16")
    drv = RecordingDriver()            # 4 compute units: 16 work-items fill it
    table = kg.build_kernels(drv)
    sigs = lambda: {name: sig for _, s in drv.compiled for name, sig in s.items()}  # noqa: E731
    table["sum"](_T((1 << 20,), D.float32, offset=3), (0,), False, D.float32)
    (k1, g1, b1, a1, _), (k2, g2, b2, a2, _) = drv.launched
    assert k1[0] == k2[0] == "redcpu_rows_sum_float32_float32_float32_u16"
    assert b1 == b2 == (16, 1, 1) and g1 == (2, 1, 1) and g2 == (1, 1, 1)
    assert a1[4:] == (1, 1, 0, 0, 1 << 20, 1, 32, 32768)       # 32 runs of 2048 * 16
    assert a2[4:] == (1, 1, 0, 32, 32, 1, 1, 32)               # one row of the 32 partials
    assert a1[3] == 12                                         # x's byte offset
    for (name, sig), _, _, args, _ in drv.launched:
        assert len(sigs()[name]) == len(args)
    drv.launched.clear()
    table["sum"](_T((1000, 300), D.float32), (0,), False, D.float32)
    (k1, g1, _, a1, _), (k2, g2, _, a2, _) = drv.launched
    assert k1[0] == k2[0] == "redcpu_cols_sum_float32_float32_float32_u16"
    assert a1[4:] == (1, 300, 1000, 0, 300, 4, 250) and g1 == (5, 1, 1)      # 19 column blocks x 4 runs
    assert a2[4:] == (1, 300, 4, 300, 300, 1, 4)
    drv.launched.clear()
    table["sum"](_T((64, 300), D.int32)._view((64, 100), (300, 2)), (0, 1), False, D.int64)
    (k1, _, _, a1, _), (k2, _, _, a2, _) = drv.launched
    assert k1[0] == "redcpu_rowss_sum_int32_int64_int64_u2" and k2[0] == "redcpu_rows_sum_int64_int64_int64_u2"
    assert a1[4:] == (1, 64, 0, 300, 100, 2, 1, 100) and a2[4:] == (1, 1, 0, 64, 64, 1, 1, 64)
    drv.launched.clear()
    table["all"](_T((5, 7, 9), D.bool), (0, 2), True)          # kept dim between reduced ones
    assert [k[0] for k, *_ in drv.launched] == ["redcpu_rows_all_bool_bool_bool_u32"] * 2
    drv.launched.clear()
    table["amax"](_T((2, 3, 4, 5), D.float32)._view((2, 3, 4, 5), (60, 1, 15, 3)), (1, 3), False)
    assert [k[0] for k, *_ in drv.launched] == ["redcpu_rowss_amax_float32_float32_float32_u16",
                                                "redcpu_rows_amax_float32_float32_float32_u16"]
    drv.launched.clear()
    table["amax"](_T((2, 3, 4, 5), D.float32), (1, 3), False)
    assert not drv.launched[0][0][0].startswith("redcpu")     # more dims than its kernels walk


def _form(name):
    """A kernel name without its launch geometry (contiguous "_c" or strided "_s<ndim>")."""
    return re.sub(r"_(c|s\d+)$", "", name)


def test_catalog_lists_every_elementwise_kernel_the_table_emits():
    """Every elementwise prim, out of place and in place, for every dtype core's rules admit (rounding of
    integers included: core skips it, but the table must still render for any caller), with tensor,
    strided, broadcast and Python-number operands on either side: each kernel the table compiles is in
    the catalog (so the NVRTC and OpenCL checks over the catalog see it)."""
    from ember.errors import DTypeError
    from ember.ops import elementwise as E
    from ember_kernelgen.catalog import all_kernels

    class NonZero(RecordingDriver):
        def to_host(self, t):          # integer division's divisor check reads back "all nonzero"
            return np.ones(t._shape, t._dtype.np)

    drv = NonZero()
    table = kg.build_kernels(drv)

    def forms(dt):
        contig = _T((4, 8), dt)
        strided = _T((8, 4), dt)._view((4, 8), (1, 4))
        bcast = _T((1,), dt)._view((4, 8), (0, 0))
        return contig, strided, bcast

    for names, arity in ((E.UNARY, 1), (E.BINARY, 2)):
        for op, rule in names.items():
            for dt in D.all_dtypes:
                try:
                    comp, res = E._dtypes_for_rule(op, rule, dt)
                except DTypeError:
                    continue
                k = table[op]
                c, s, u = forms(comp)
                one = 1.5 if comp.is_floating_point else 1
                if arity == 1:
                    for x in (c, s):
                        k(x, None)
                        if res is comp:
                            k(x, x)                        # op_ in place
                else:
                    for x, y in ((c, _T((4, 8), comp)), (s, c), (c, one), (s, one), (one, c), (one, s), (u, c)):
                        k(x, y, None)
                        if res is comp and x is not one:
                            k(x, y, x)                     # op_ in place
    emitted = {_form(name) for _, sigs in drv.compiled for name in sigs if name.startswith("ew_")}
    listed = {_form(kd.name) for kd in all_kernels()}
    missing = sorted(emitted - listed)
    assert not missing, f"{len(missing)} kernels the table emits are not in the catalog, e.g. {missing[:8]}"
    for op in ("floor", "ceil", "round", "trunc"):
        for dt in ("uint8", "int8", "int16", "int32", "int64"):
            assert f"ew_{op}_{dt}_{dt}_{dt}_t" in listed


def test_fused_nn_kernels_pass_arguments_by_their_signatures_and_plan_once():
    """cross_entropy (both forms), its backward (with the 'mean' denominator inline and in its own
    pass), softmax, log_softmax and the SGD step: arguments match the signatures, a repeated call
    compiles nothing, and cross_entropy reads back its range report once a call."""
    class Clean(RecordingDriver):
        reads = 0

        def to_host(self, t):                  # the range report: no bad target
            self.reads += 1
            return np.array([-1, 0], np.int64)

    drv = Clean()
    table = kg.build_kernels(drv)
    for rows in (16, 3000):
        x, t, w = _T((rows, 10), D.float32), _T((rows,), D.int64), _T((10,), D.float32)
        for _ in range(2):
            for red in ("none", "mean"):
                table["cross_entropy"](x, t, w, red, -100, 0.1, 1)
                table["cross_entropy_backward"](_T((rows,) if red == "none" else (), D.float32), x, t, None, red,
                                                -100, 0.0, 1)
            table["softmax"](x, 0)
            table["log_softmax"](x, -1)
            table["sgd_step_"](x, _T((rows, 10), D.float32), _T((rows, 10), D.float32), 0.1, 0.9, 0.0, 0.0, True, False)
    assert drv.reads == 8
    kinds = {name.rsplit("_", 1)[0] for _, s in drv.compiled for name in s}
    assert {"ce_rows_float32_float32", "ce_finish_float32", "ce_bwd_float32_float32", "ce_den_float32_float32",
            "softmax_rows_float32_float32", "log_softmax_rows_float32_float32"} <= kinds
    assert len(drv.compiled) == 7
    sigs = {name: sig for _, s in drv.compiled for name, sig in s.items()}
    for (name, sig), grid, block, args, stream in drv.launched:
        assert sigs[name] == sig and len(sig) == len(args) and stream == "queue", name
        for ch, v in zip(sig, args):
            assert isinstance(v, int) if ch in "qiI" else isinstance(v, float) if ch in "fd" else True, (name, ch, v)
        assert all(g >= 1 for g in grid) and block[0] * block[1] * block[2] <= 128


# -- families: variants compiled in one program ----------------------------------------------------

class BundlingDriver(RecordingDriver):
    bundle = True


def test_a_family_compiles_once_for_all_its_variants():
    """With a bundling driver, the contiguous, strided, broadcast and scalar forms of one operator and
    dtype come from one program; another dtype is another program; a repeat compiles nothing."""
    drv = BundlingDriver()
    table = kg.build_kernels(drv)
    a = _T((4, 8), D.float32)
    table["add"](a, a, None)                                     # contiguous (and its strided fallback)
    table["add"](_T((8, 4), D.float32)._view((4, 8), (1, 4)), a, None)      # strided, 2 dims
    table["add"](a, _T((1,), D.float32)._view((4, 8), (0, 0)), None)        # one element broadcast
    table["add"](a, 2.0, None)                                   # a Python number
    assert len(drv.compiled) == 1
    (source, sigs), = drv.compiled
    launched = {k[0] for k, *_ in drv.launched}
    assert len(launched) == 4 and launched <= set(sigs)
    assert all(f"void {name}(" in source for name in sigs)
    table["add"](_T((4, 8), D.int32), _T((4, 8), D.int32), None)
    table["add"](a, a, None)
    assert len(drv.compiled) == 2
    assert not set(drv.compiled[1][1]) & set(sigs)


def test_without_bundle_each_variant_is_its_own_program():
    drv = RecordingDriver()
    table = kg.build_kernels(drv)
    a = _T((4, 8), D.float32)
    table["add"](a, a, None)
    table["add"](a, 2.0, None)
    assert [len(s) for _, s in drv.compiled] == [1, 1, 1, 1]     # fast path and strided fallback, twice


def test_a_family_that_does_not_compile_falls_back_to_single_kernels():
    class OneAtATime(BundlingDriver):
        def compile(self, source, signatures, options, device):
            if len(signatures) > 1:
                self.compiled.append(("refused", {}))
                raise RuntimeError("bundle refused")
            return super().compile(source, signatures, options, device)

    drv = OneAtATime()
    table = kg.build_kernels(drv)
    a = _T((4, 8), D.float32)
    table["neg"](a, None)
    table["neg"](a._view((8, 4), (1, 8)), None)
    assert [s for s, _ in drv.compiled].count("refused") == 1      # the family is not tried again
    assert sum(len(s) for _, s in drv.compiled) == 3               # neg _c, its _s1 fallback, _s2


def _family_seeds():
    from ember_kernelgen.kernels import Operand
    f, i, b = "float32", "int32", "bool"
    return [
        ("ew", "add", f, f, (Operand(f, "t"), Operand(f, "s")), 2),
        ("ew", "where", f, f, (Operand(b, "t"), Operand(f, "t"), Operand(f, "u")), None),
        ("ew", "fill", i, i, (Operand(i, "s"),), 1),
        ("ew", "copy", f, i, (Operand(i, "t"),), 3),
        ("ew", "lt", b, f, (Operand(f, "u"), Operand(f, "t")), None),
        ("ew", "lt", b, f, (Operand(f, "u"), Operand(f, "t")), 1),   # not asked for by the host: alone
        ("ew", "neg", f, f, (Operand(f, "t"),), 5),                 # beyond the enumerated ranks: alone
        ("red", "sum", "int8", "int64", "int64", 1, 2, 0, False),
        ("red", "amax", f, f, f, 0, 2, 256, True),
        ("redc", "sum", f, f, f, 256, 16),
        ("redcpu", "sum", "int8", "int64", "int64", "rowss", 2),
        ("redcpu", "amax", f, f, f, "cols", 64),
        ("redcpu", "amax", f, f, f, "cols", 8),                    # not a width the host picks: alone
        ("arg", "argmin", "float16", 2, 1, 0),
        ("scan", "cumprod", "uint8", "int64", 0),
        ("scanb", "cumsum", f, f, 1, 256),
        ("idx", "scatter_add", f, 3),
        ("sort", "int16", True, 64, 32, 1),
        ("sortm", "float64", False, 2),
        ("nonzero", b, 2),
        ("bmm", f),
        ("bmm_rb", f, 8, 16, False),
        ("bmm_rb", "int32", 8, 8, True),                            # 8-byte accumulation halves RN
        ("gemm_pack", "int64", 8),
        ("bmm_rb", "float16", 5, 24, False),                        # not a candidate tile: alone
        ("philox",),
        ("arange", "int64", "int64"),
        ("ce_rows", f, f, 128),
        ("ce_bwd", "float16", f, 256),
        ("ce_finish", "bfloat16", 128),
        ("log_softmax", f, "float64", 256),
        ("sgd_step", "float16"),
    ]


@pytest.mark.parametrize("seed", _family_seeds(), ids=lambda k: "_".join(map(str, k[:2])))
def test_families_partition_the_keys_and_describe_distinct_kernels(seed):
    """Every member of a family has that same family (so a bundle's source, and its cache entry, do not
    depend on which member was asked for first), and the members are distinct kernels."""
    from ember_kernelgen import families as F
    fam = F.family(seed)
    assert seed in fam
    for k in fam:
        assert F.family(k) == fam
    names = [F.describe(k).name for k in fam]
    assert len(set(names)) == len(names)
