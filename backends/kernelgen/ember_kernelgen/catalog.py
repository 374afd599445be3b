"""Every kind of kernel the generator emits, for checks such as compiling all of them with NVRTC.

``all_kernels()`` yields one description per (family, operator, dtypes, variant), with
representative dim counts (the dim count only repeats index arithmetic). Elementwise dtypes come
from core's promotion rules, so only kernels a backend can be asked for are listed; in-place forms
(out = self) use the same kernels. backends/kernelgen/tests/test_kernelgen_host.py checks that every
elementwise kernel the table emits is listed here.
"""

from __future__ import annotations

from ember import dtypes as D
from ember.errors import DTypeError
from ember.ops import elementwise as E

from . import kernels as KD
from . import kernels_nn as KN
from .ctypes_ import ALL
from .gemm import CANDIDATES, tile_for
from .kernels import Operand
from .ops import BINARY, UNARY


def elementwise_cases():
    """(op, result dtype, computation dtype, arity) for every elementwise prim and valid dtype."""
    for table, arity in ((E.UNARY, 1), (E.BINARY, 2)):
        for op, rule in table.items():
            assert op in (UNARY if arity == 1 else BINARY), op
            for dt in D.all_dtypes:
                try:
                    comp, res = E._dtypes_for_rule(op, rule, dt)
                except DTypeError:
                    continue
                # integer rounding is listed too: core returns integers as they are, but the table
                # renders it (as the identity) for whoever calls the kernel, in place or not
                yield op, res.name, comp.name, arity


def all_kernels(full: bool = True):
    """Each distinct kernel description once (see _all)."""
    seen = set()
    for k in _all(full):
        if k.name not in seen:
            seen.add(k.name)
            yield k


def _all(full):
    for op, res, comp, arity in elementwise_cases():
        if arity == 1:
            yield KD.elementwise(op, res, comp, (Operand(comp, "t"),), None)
            if full:
                yield KD.elementwise(op, res, comp, (Operand(comp, "t"),), 3)
        else:
            yield KD.elementwise(op, res, comp, (Operand(comp, "t"), Operand(comp, "t")), None)
            if full:
                yield KD.elementwise(op, res, comp, (Operand(comp, "t"), Operand(comp, "s")), 2)
                yield KD.elementwise(op, res, comp, (Operand(comp, "u"), Operand(comp, "t")), None)
                # a Python number first (1.0 - x, rsub): contiguous, and the strided kernel it also compiles
                yield KD.elementwise(op, res, comp, (Operand(comp, "s"), Operand(comp, "t")), None)
                yield KD.elementwise(op, res, comp, (Operand(comp, "s"), Operand(comp, "t")), 2)
    for dt in ALL:
        yield KD.elementwise("where", dt, dt, (Operand("bool", "t"), Operand(dt, "t"), Operand(dt, "s")), 2)
        yield KD.elementwise("where", dt, dt, (Operand("bool", "t"), Operand(dt, "t"), Operand(dt, "t")), None)
        yield KD.elementwise("fill", dt, dt, (Operand(dt, "s"),), None)
        yield KD.elementwise("fill", dt, dt, (Operand(dt, "s"),), 2)
        for src in ALL:
            yield KD.elementwise("copy", dt, src, (Operand(src, "t"),), None)
            if full:
                yield KD.elementwise("copy", dt, src, (Operand(src, "t"),), 3)
    for dt in ALL:
        outs = {"sum": [d for d in ALL if d != "bool"] + ["int64"], "prod": [dt if dt != "bool" else "int64"],
                "amax": [dt], "amin": [dt], "all": ["bool"], "any": ["bool"]}
        for op, targets in outs.items():
            for out in dict.fromkeys(targets if full or op != "sum" else [dt if dt != "bool" else "int64"]):
                conv = out if op in ("sum", "prod") else ("bool" if op in ("all", "any") else dt)
                yield KD.reduction(op, dt, conv, out, 1, 1, 0, False)
                acc = "bool" if op in ("all", "any") else KD.acc_dtype(conv)
                yield KD.reduction(op, dt, conv, acc, 0, 2, KD.BLOCK, True)
                yield KD.reduction(op, acc, acc, out, 1, 1, KD.BLOCK, False)
                yield KD.reduction_contig(op, dt, conv, out, KD.BLOCK)
                yield KD.reduction_contig(op, dt, conv, out, KD.BLOCK, 8)
                yield KD.reduction_contig(op, dt, conv, acc, KD.BLOCK)
                yield KD.reduction_contig(op, acc, acc, out, KD.BLOCK)
                if op != "sum" or out == (dt if dt.startswith(("float", "bfloat")) else "int64"):
                    # the CPU-shaped kernels: each kind at the width a device whose choice is 16 runs,
                    # the partial results of a first pass, and the passes over them
                    for kind in KD.CPU_KINDS:
                        yield KD.reduction_cpu(op, dt, conv, out, kind, KD.cpu_width(op, conv, kind, 16))
                    yield KD.reduction_cpu(op, dt, conv, acc, "rows", KD.cpu_width(op, conv, "rows", 16))
                    for kind in ("rows", "cols"):
                        yield KD.reduction_cpu(op, acc, acc, out, kind, KD.cpu_width(op, acc, kind, 16))
        for op in ("argmax", "argmin"):
            yield KD.arg_reduction(op, dt, 1, 1, 0)
            yield KD.arg_reduction(op, dt, 0, 2, KD.BLOCK)
        for op in ("cumsum", "cumprod"):
            out = "int64" if dt in ("bool", "uint8", "int8", "int16", "int32") else dt
            yield KD.scan(op, dt, out, 2)
            yield KD.scan_block(op, dt, out, 1, KD.BLOCK)
            if out != dt:
                yield KD.scan(op, dt, dt, 1)
        for kind in ("gather", "scatter", "scatter_add"):
            yield KD.indexed(kind, dt, 2)
        if dt != "bool":
            yield KD.bmm(dt)
            rm, rn = tile_for(CANDIDATES[0], dt)
            yield KD.bmm_rb(dt, rm, rn)
            yield KD.bmm_rb(dt, rm, rn, True)
            yield KD.gemm_pack(dt, rn)
        for desc in (False, True):
            yield KD.sort_local(dt, desc, 1024, 256, 1)
            yield KD.sort_merge(dt, desc, 1)
        yield KD.arange(dt, "float64" if dt in ("float16", "bfloat16", "float32", "float64") else "int64")
        yield KD.nonzero_write(dt, 2)
    yield KD.arange("float32", "float32")
    yield KD.philox()
    yield from KN.all_nn_kernels(KD.BLOCK)
