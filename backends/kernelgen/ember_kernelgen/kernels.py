"""Every kernel Ember's GPU backends run, each described once (see desc.py).

Functions here return ``desc.Kernel`` values; they are pure (same arguments,
same kernel) and are cached by the host side per (operator, dtypes, ndim,
layout). Index arithmetic is 64-bit throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import ops as O
from .ctypes_ import CType, cast, ct
from .desc import Kernel, Params, indent, make, unravel
from .render import helper

BLOCK = 256         # threads per block for the 1-D kernels (the host lowers it to limits.max_block)
VEC = 4             # elements per thread in the contiguous fast path
BOOL_RESULT = frozenset(("eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor",
                         "logical_not", "isnan", "isinf", "isfinite", "signbit"))
LANES = "xyzw"


def _fp64(*types) -> bool:
    return any(t.fp64 for t in types)


# -- elementwise: unary, binary, where, copy/cast, fill ---------------------------------------

@dataclass(frozen=True)
class Operand:
    dtype: str     # ember dtype name
    mode: str      # "t" tensor (strided, or contiguous in the fast path), "u" one element for all, "s" scalar arg


def elementwise(op: str, out: str, comp: str, operands: tuple, ndim: int | None) -> Kernel:
    """out = op(operands) elementwise.

    op is an ops.UNARY/BINARY/TERNARY name, or "copy" (one operand: a cast) or "fill".
    comp is the computation dtype every operand is cast to (where's condition stays bool).
    ndim None renders the contiguous fast path (every "t" operand and out contiguous, and
    aligned to 4 elements; 4 elements per thread with vector loads); an int renders the
    strided kernel over that many (coalesced) dims.
    Parameters: out buffer, each operand (buffer, or scalar), n, then for the strided
    kernel sizes0.., then strides of out and of each "t" operand (in elements).
    """
    to, tc = ct(out), ct(comp)
    ts = [ct(o.dtype) for o in operands]
    names = "abc"[:len(operands)]
    p = Params().buffer("out", to.store)
    pre = []
    for nm, o, t in zip(names, operands, ts):
        if o.mode == "s":
            p.scalar(t.sig, f"{'f64' if t.sig == 'd' else 'f32' if t.sig == 'f' else 'i64'} {nm}_s")
        else:
            p.buffer(nm, t.store, const=True)
    p.longs("n")
    if ndim is not None:
        p.longs(*[f"size{d}" for d in range(ndim)])
        for nm in ["out"] + [nm for nm, o in zip(names, operands) if o.mode == "t"]:
            p.longs(*[f"{nm}_st{d}" for d in range(ndim)])

    helpers = []

    def value(nm, o, t, src):
        """The operand as the expression sees it (cast to comp, where's condition as bool)."""
        v = t.load(src) if o.mode != "s" else f"({t.comp})({nm}_s)"
        target = ct("bool") if (op == "where" and nm == "a") else tc
        return cast(v, t, target)

    for nm, o, t in zip(names, operands, ts):
        if o.mode == "s":
            pre.append(f"const {tc.comp if not (op == 'where' and nm == 'a') else 'bool'} {nm}v = {value(nm, o, t, '')};")
        elif o.mode == "u":
            pre.append(f"const {tc.comp if not (op == 'where' and nm == 'a') else 'bool'} {nm}v = {value(nm, o, t, nm + '[0]')};")

    def expr(srcs):
        """C expression of the stored result, srcs: operand name -> element access for "t" operands."""
        vals = [value(nm, o, t, srcs[nm]) if o.mode == "t" else f"{nm}v" for nm, o, t in zip(names, operands, ts)]
        if op in ("copy", "fill"):
            e, res = vals[0], tc
        else:
            e, hs = O.expression(op, tc, vals)
            helpers.extend(helper(h, tc.comp) for h in hs)
            res = ct("bool") if op in BOOL_RESULT else tc
            e = f"({res.comp})({e})"
        return to.store_(cast(e, res, to))

    tensors = [nm for nm, o in zip(names, operands) if o.mode == "t"]
    if ndim is None:
        lanes = []
        for nm, t in zip(names, ts):
            if nm in tensors:
                lanes.append(f"{t.vec4} {nm}4 = *(GLOBAL const {t.vec4}*)({nm} + i);")
        lanes.append(f"{to.vec4} o4;")
        for lane in LANES:
            lanes.append(f"o4.{lane} = {expr({nm: f'{nm}4.{lane}' for nm in tensors})};")
        lanes.append(f"*(GLOBAL {to.vec4}*)(out + i) = o4;")
        body = f"""\
{indent(pre)}
    for (i64 i = ek_gid() * {VEC}; i < n; i += ek_gsize() * {VEC}) {{
        if (i + {VEC} <= n) {{
{indent(lanes, 12)}
        }} else {{
            for (i64 j = i; j < n; ++j) out[j] = {expr({nm: f'{nm}[j]' for nm in tensors})};
        }}
    }}"""
        kind = "c"
    else:
        lines = unravel("i", ndim, "size", ["out"] + tensors)
        lines.append(f"out[o_out] = {expr({nm: f'{nm}[o_{nm}]' for nm in tensors})};")
        body = f"""\
{indent(pre)}
    for (i64 i = ek_gid(); i < n; i += ek_gsize()) {{
{indent(lines, 8)}
    }}"""
        kind = f"s{ndim}"
    modes = "".join(o.mode for o in operands)
    name = f"ew_{op}_{out}_{comp}_{'_'.join(o.dtype for o in operands)}_{modes}_{kind}"
    return make(name, p, body, helpers, _fp64(to, tc, *ts))
