"""Every kernel Ember's GPU backends run, each described once (see desc.py).

Functions here return ``desc.Kernel`` values; they are pure (same arguments,
same kernel) and are cached by the host side per (operator, dtypes, ndim,
layout). Index arithmetic is 64-bit throughout.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import Template

from ember.errors import InvalidArgumentError

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


# -- reductions ------------------------------------------------------------------------------

ACC_DTYPE = {"float16": "float32", "bfloat16": "float32"}   # what halves accumulate in


def acc_dtype(name: str) -> str:
    return ACC_DTYPE.get(name, name)


def _combine(op: str, t: CType, a: str, b: str) -> str:
    if op == "sum":
        return f"({a} || {b})" if t.kind == "b" else f"({a} + {b})"
    if op == "prod":
        return f"({a} && {b})" if t.kind == "b" else f"({a} * {b})"
    if op == "all":
        return f"({a} && {b})"
    if op == "any":
        return f"({a} || {b})"
    sym = ">" if op == "amax" else "<"
    if t.kind == "f":
        return f"((isnan({a}) || {a} {sym} {b}) ? {a} : {b})"
    if t.kind == "b":
        return f"({a} || {b})" if op == "amax" else f"({a} && {b})"
    return f"(({a} {sym} {b}) ? {a} : {b})"


def _identity(op: str, t: CType) -> str:
    return {"sum": f"({t.comp})0", "prod": f"({t.comp})1", "all": "true", "any": "false",
            "amax": t.lowest, "amin": t.highest}[op]


def reduction(op: str, src: str, conv: str, out: str, kdims: int, rdims: int, tree: int, split: bool) -> Kernel:
    """out[m] = op over r of conv(x[m, r]): sum, prod, amax, amin, all, any.

    src is x's dtype; each value is cast to conv, then combined in conv's accumulation type
    (float32 for halves); out is the stored dtype (the final dtype, or the accumulation dtype
    for the partial results of the first of two passes). tree 0: one thread per output,
    a serial loop; tree B: one block of B threads per output (and, with split, a slice of r
    per blockIdx.y), a tree in local memory.
    Parameters: out, x, M, Rn, ksize0.., kst0.., rsize0.., rst0...
    """
    ts, tv, to = ct(src), ct(conv), ct(out)
    ta = ct("bool") if op in ("all", "any") else ct(acc_dtype(conv))
    p = Params().buffer("out", to.store).buffer("x", ts.store, const=True).longs("M", "Rn")
    p.longs(*[f"ksize{d}" for d in range(kdims)], *[f"x_st{d}" for d in range(kdims)])
    p.longs(*[f"rsize{d}" for d in range(rdims)], *[f"r_st{d}" for d in range(rdims)])
    load = cast(cast(ts.load("x[o_x + o_r]"), ts, tv), tv, ta)
    comb = _combine(op, ta, "acc", "v")
    fin = to.store_(cast("acc", ta, to))
    base = unravel("m", kdims, "ksize", ["x"], rest="q")
    inner = unravel("r", rdims, "rsize", ["r"], rest="q2")
    if not tree:
        body = f"""\
    for (i64 m = ek_gid(); m < M; m += ek_gsize()) {{
{indent(base, 8)}
        {ta.comp} acc = {_identity(op, ta)};
        for (i64 r = 0; r < Rn; ++r) {{
{indent(inner, 12)}
            {ta.comp} v = {load};
            acc = {comb};
        }}
        out[m] = {fin};
    }}"""
    else:
        chunk = "i64 chunk = (Rn + ek_ngroups_y() - 1) / ek_ngroups_y(); i64 lo = ek_group_y() * chunk;" \
            if split else "i64 chunk = Rn; i64 lo = 0;"
        dest = "out[m * ek_ngroups_y() + ek_group_y()]" if split else "out[m]"
        body = f"""\
    LOCAL {ta.comp} sh[{tree}];
    const i32 lid = ek_lid();
    for (i64 m = ek_group(); m < M; m += ek_ngroups()) {{
{indent(base, 8)}
        {chunk}
        i64 hi = lo + chunk < Rn ? lo + chunk : Rn;
        {ta.comp} acc = {_identity(op, ta)};
        for (i64 r = lo + lid; r < hi; r += {tree}) {{
{indent(inner, 12)}
            {ta.comp} v = {load};
            acc = {comb};
        }}
        sh[lid] = acc;
        ek_barrier();
        for (i32 s = {tree // 2}; s > 0; s >>= 1) {{
            if (lid < s) {{ {ta.comp} v = sh[lid + s]; acc = sh[lid]; sh[lid] = {comb}; }}
            ek_barrier();
        }}
        if (lid == 0) {{ acc = sh[0]; {dest} = {fin}; }}
        ek_barrier();
    }}"""
    name = f"red_{op}_{src}_{conv}_{out}_k{kdims}_r{rdims}_{'t' + str(tree) if tree else 's'}{'x' if split else ''}"
    return make(name, p, body, (), _fp64(ts, tv, to))


_ITEMSIZE = {"bool": 1, "uint8": 1, "int8": 1, "int16": 2, "float16": 2, "bfloat16": 2,
             "int32": 4, "float32": 4, "int64": 8, "float64": 8}


def reduction_contig(op: str, src: str, conv: str, out: str, tree: int, lanes: int = 0) -> Kernel:
    """out[m * ngroups_y + group_y] = op over a slice of row m of a contiguous (M, Rn) x.

    The contiguous fast path of ``reduction``: the reduced extent is the trailing, contiguous
    one (the full reduction is M = 1). Blocks walk rows (blockIdx.x, grid-stride); blockIdx.y
    takes a slice of the row (one partial per slice: the host reduces them in a second pass
    when gridDim.y > 1, else out holds the results). Within a slice each thread reads vectors
    of W elements (16 bytes: four 32-bit words split into W lanes for 1- and 2-byte dtypes;
    four elements for 8-byte ones), grid-stride over the block with four vectors in flight,
    after a scalar head up to the first W-aligned index of the buffer (its byte offset may be
    any multiple of the item size; the buffer itself is aligned) and before a scalar tail;
    four accumulators per thread, then a tree in local memory. Fixed order for a fixed launch:
    results are deterministic. Parameters: out, x, M, Rn.

    lanes L < tree (a power of two) renders the short-row form: each block takes tree / L rows
    at once, L threads a row (no slices: gridDim.y must be 1), so rows much shorter than the
    block keep every thread busy.
    """
    ts, tv, to = ct(src), ct(conv), ct(out)
    ta = ct("bool") if op in ("all", "any") else ct(acc_dtype(conv))
    p = Params().buffer("out", to.store).buffer("x", ts.store, const=True).longs("M", "Rn")
    a = ta.comp
    size = _ITEMSIZE[src]
    if size >= 4:
        W, vec = 4, ts.vec4

        def lane(V, e):
            return f"{V}.{LANES[e]}"
    else:
        W, vec, per = 16 // size, "i32x4", 4 // size

        def lane(V, e):
            w, part = divmod(e, per)
            word = f"((u32){V}.{LANES[w]})"
            return f"({ts.store})({word} >> {part * size * 8})" if part else f"({ts.store})({word})"

    def step(acc, e):
        v = cast(cast(ts.load(e), ts, tv), tv, ta)
        return f"{{ {a} v = {v}; {acc} = {_combine(op, ta, acc, 'v')}; }}"

    L = lanes if lanes and lanes < tree else tree
    vecs = "ABCD"
    unrolled = [f"{vec} {n} = xv[k + {i} * {L}];" for i, n in enumerate(vecs)]
    for n in vecs:
        unrolled += [step(f"acc{e % 4}", lane(n, e)) for e in range(W)]
    single = [f"{vec} A = xv[k];"] + [step(f"acc{e % 4}", lane("A", e)) for e in range(W)]
    ident = _identity(op, ta)
    fin = to.store_(cast("acc", ta, to))
    fold = [f"{a} acc = acc0;"] + [f"{{ {a} v = acc{j}; acc = {_combine(op, ta, 'acc', 'v')}; }}" for j in (1, 2, 3)]
    if L < tree:
        G = tree // L
        body = f"""\
    LOCAL {a} sh[{tree}];
    const i32 lid = ek_lid();
    const i32 tl = lid & {L - 1};
    const i64 base = x_off / {size};
    for (i64 m0 = ek_group() * {G}; m0 < M; m0 += ek_ngroups() * {G}) {{
        const i64 m = m0 + lid / {L};
        {a} acc0 = {ident}; {a} acc1 = {ident}; {a} acc2 = {ident}; {a} acc3 = {ident};
        if (m < M) {{
            GLOBAL const {ts.store}* row = x + m * Rn;
            const i64 mis = (base + m * Rn) & {W - 1};
            i64 s0 = mis ? {W} - mis : 0;
            if (s0 > Rn) s0 = Rn;
            for (i64 r = tl; r < s0; r += {L}) {step("acc0", "row[r]")}
            const i64 nv = (Rn - s0) / {W};
            GLOBAL const {vec}* xv = (GLOBAL const {vec}*)(row + s0);
            i64 k = tl;
            for (; k + {3 * L} < nv; k += {4 * L}) {{
{indent(unrolled, 16)}
            }}
            for (; k < nv; k += {L}) {{
{indent(single, 16)}
            }}
            for (i64 r = s0 + nv * {W} + tl; r < Rn; r += {L}) {step("acc1", "row[r]")}
        }}
{indent(fold, 8)}
        sh[lid] = acc;
        ek_barrier();
        for (i32 s = {L // 2}; s > 0; s >>= 1) {{
            if (tl < s) {{ {a} v = sh[lid + s]; acc = sh[lid]; sh[lid] = {_combine(op, ta, "acc", "v")}; }}
            ek_barrier();
        }}
        if (tl == 0 && m < M) {{ acc = sh[lid]; out[m] = {fin}; }}
        ek_barrier();
    }}"""
        name = f"redc_{op}_{src}_{conv}_{out}_t{tree}_l{L}"
        return make(name, p, body, (), _fp64(ts, tv, to))
    body = f"""\
    LOCAL {a} sh[{tree}];
    const i32 lid = ek_lid();
    const i64 ny = ek_ngroups_y();
    i64 chunk = (Rn + ny - 1) / ny;
    chunk = (chunk + {W - 1}) & ~(i64){W - 1};
    const i64 lo = ek_group_y() * chunk;
    const i64 hi = lo + chunk < Rn ? lo + chunk : Rn;
    const i64 base = x_off / {size};
    for (i64 m = ek_group(); m < M; m += ek_ngroups()) {{
        GLOBAL const {ts.store}* row = x + m * Rn;
        {a} acc0 = {ident}; {a} acc1 = {ident}; {a} acc2 = {ident}; {a} acc3 = {ident};
        const i64 mis = (base + m * Rn + lo) & {W - 1};
        i64 s0 = mis ? lo + ({W} - mis) : lo;
        if (s0 > hi) s0 = hi;
        for (i64 r = lo + lid; r < s0; r += {tree}) {step("acc0", "row[r]")}
        const i64 nv = (hi - s0) / {W};
        GLOBAL const {vec}* xv = (GLOBAL const {vec}*)(row + s0);
        i64 k = lid;
        for (; k + {3 * tree} < nv; k += {4 * tree}) {{
{indent(unrolled, 12)}
        }}
        for (; k < nv; k += {tree}) {{
{indent(single, 12)}
        }}
        for (i64 r = s0 + nv * {W} + lid; r < hi; r += {tree}) {step("acc1", "row[r]")}
        {a} acc = acc0;
        {{ {a} v = acc1; acc = {_combine(op, ta, "acc", "v")}; }}
        {{ {a} v = acc2; acc = {_combine(op, ta, "acc", "v")}; }}
        {{ {a} v = acc3; acc = {_combine(op, ta, "acc", "v")}; }}
        sh[lid] = acc;
        ek_barrier();
        for (i32 s = {tree // 2}; s > 0; s >>= 1) {{
            if (lid < s) {{ {a} v = sh[lid + s]; acc = sh[lid]; sh[lid] = {_combine(op, ta, "acc", "v")}; }}
            ek_barrier();
        }}
        if (lid == 0) {{ acc = sh[0]; out[m * ny + ek_group_y()] = {fin}; }}
        ek_barrier();
    }}"""
    name = f"redc_{op}_{src}_{conv}_{out}_t{tree}"
    return make(name, p, body, (), _fp64(ts, tv, to))


# -- reductions for CPU-like devices: long runs per work-item, no local memory ------------------------
#
# A CPU OpenCL runtime (pocl) runs a work-group as a loop over its work-items and vectorizes what one
# work-item does, so the tree reductions above spend their time there in barriers and in loads that
# interleave the work-items' elements. Here each work-item reduces a run of elements alone, into
# U accumulators written out unrolled, which the compiler turns into vector operations on contiguous
# loads; the partial results of one launch are reduced by another (the host's passes). Which devices
# run these is measured (reduction.py).

CPU_WIDTHS = (2, 8, 16, 32, 64)   # accumulators per work-item reduction_cpu is rendered with
CPU_TUNED = (16, 32)              # the widths a device's choice names (reduction.CANDIDATES)
CPU_KINDS = ("rows", "rowss", "cols")


def cpu_width(op: str, conv: str, kind: str, U: int) -> int:
    """The accumulators per work-item of ``reduction_cpu`` for a device whose float32 choice is U.

    Floats take U: the compiler may not reorder their sums, so it is the U accumulators written
    out that become vector operations. Along rows, integers take 2: their sums may be reordered, so
    the compiler vectorizes the loop itself, and more accumulators only get in its way (on pocl an
    int64 sum runs at about 4 GB/s with 8 and 30 GB/s with 2). Booleans take 32, columns U (the
    vector is U adjacent columns), and float amax/amin 64 columns: each step's compare and select
    chain on one accumulator, so more of them in flight keep the loads going (on pocl, a (4096, 4096)
    float32 amax over rows takes about 7 ms with 64 and 13 ms with 16)."""
    t = ct("bool") if op in ("all", "any") else ct(acc_dtype(conv))
    if t.kind == "b":
        return 32
    if kind == "cols":
        return 64 if (t.kind == "f" and op in ("amax", "amin")) else U
    return 2 if t.kind in "iu" else U


def reduction_cpu(op: str, src: str, conv: str, out: str, kind: str, U: int) -> Kernel:
    """Reductions without local memory or barriers: sum, prod, amax, amin, all, any.

    src, conv, out as in ``reduction``; U accumulators per work-item (a power of two), unrolled.

    kind "rows" (elements adjacent) and "rowss" (elements x_sr apart): x holds M1 * M2 rows of Rn
    elements, row (m1, m2) starting at m1 * x_s1 + m2 * x_s2. Work-item g reduces the elements
    [c * chunk, (c + 1) * chunk) of row g / S, c = g % S, into out[g] (rows, then slices, row-major).
    Parameters: out, x, M1, M2, x_s1, x_s2, Rn, x_sr, S, chunk.

    kind "cols": x is (O, Rn, I), element (o, r, i) at o * x_so + r * x_sr + i (columns adjacent),
    reduced over r. Work-item g reduces columns [i0, i0 + U) (i0 = U * (g % nb), nb = ceil(I / U)) of
    slab o = (g / nb) % O over the rows [s * chunk, (s + 1) * chunk), s = g / (nb * O), into
    out[(s * O + o) * I + i]: out is (S, O, I). Parameters: out, x, O, I, Rn, x_so, x_sr, S, chunk.

    A launch covers its work-items grid-stride, in any grid and work-group size. Fixed order for fixed
    sizes: results are deterministic. A run's tail (under U elements) is combined after the U
    accumulators are folded into one: combined into one of them before the fold, it kept the compiler
    from vectorizing them together (on pocl, amax ran at half speed).
    """
    ts, tv, to = ct(src), ct(conv), ct(out)
    ta = ct("bool") if op in ("all", "any") else ct(acc_dtype(conv))
    a = ta.comp
    p = Params().buffer("out", to.store).buffer("x", ts.store, const=True)
    ident = _identity(op, ta)

    def step(acc, e):
        v = cast(cast(ts.load(e), ts, tv), tv, ta)
        return f"{{ {a} v = {v}; {acc} = {_combine(op, ta, acc, 'v')}; }}"

    accs = " ".join(f"{a} acc{j} = {ident};" for j in range(U))
    fold = []
    w = U // 2
    while w:
        fold.append(" ".join(f"{{ {a} v = acc{j + w}; acc{j} = {_combine(op, ta, f'acc{j}', 'v')}; }}"
                             for j in range(w)))
        w //= 2
    if kind in ("rows", "rowss"):
        p.longs("M1", "M2", "x_s1", "x_s2", "Rn", "x_sr", "S", "chunk")
        at = (lambda j: f"p[{j}]") if kind == "rows" else (lambda j: f"p[{j} * x_sr]" if j else "p[0]")
        adv = str(U) if kind == "rows" else f"{U} * x_sr"
        one = "1" if kind == "rows" else "x_sr"
        body = f"""\
    const i64 total = M1 * M2 * S;
    for (i64 g = ek_gid(); g < total; g += ek_gsize()) {{
        const i64 row = g / S, c = g - row * S;
        const i64 m1 = row / M2, m2 = row - m1 * M2;
        const i64 lo = c * chunk;
        const i64 n = (lo + chunk < Rn ? lo + chunk : Rn) - lo;
        GLOBAL const {ts.store}* p = x + m1 * x_s1 + m2 * x_s2 + lo * x_sr;
        {accs}
        i64 r = 0;
        for (; r + {U} <= n; r += {U}, p += {adv}) {{
{indent([step(f"acc{j}", at(j)) for j in range(U)], 12)}
        }}
{indent(fold, 8)}
        for (; r < n; ++r, p += {one}) {step("acc0", "p[0]")}
        out[g] = {to.store_(cast("acc0", ta, to))};
    }}"""
    elif kind == "cols":
        p.longs("O", "I", "Rn", "x_so", "x_sr", "S", "chunk")
        stores = " ".join(f"q[{j}] = {to.store_(cast(f'acc{j}', ta, to))};" for j in range(U))
        body = f"""\
    const i64 nb = (I + {U - 1}) / {U};
    const i64 total = nb * O * S;
    for (i64 g = ek_gid(); g < total; g += ek_gsize()) {{
        const i64 t = g / nb, bi = g - t * nb;
        const i64 s = t / O, o = t - s * O;
        const i64 lo = s * chunk;
        const i64 hi = lo + chunk < Rn ? lo + chunk : Rn;
        const i64 i0 = bi * {U};
        GLOBAL const {ts.store}* p = x + o * x_so + lo * x_sr + i0;
        GLOBAL {to.store}* q = out + (s * O + o) * I + i0;
        if (i0 + {U} <= I) {{
            {accs}
            for (i64 r = lo; r < hi; ++r, p += x_sr) {{
{indent([step(f"acc{j}", f"p[{j}]") for j in range(U)], 16)}
            }}
            {stores}
        }} else {{
            for (i64 j = 0; i0 + j < I; ++j) {{
                {a} acc0 = {ident};
                GLOBAL const {ts.store}* pj = p + j;
                for (i64 r = lo; r < hi; ++r, pj += x_sr) {step("acc0", "pj[0]")}
                q[j] = {to.store_(cast("acc0", ta, to))};
            }}
        }}
    }}"""
    else:
        raise InvalidArgumentError(f"reduction_cpu: unknown kind {kind!r} (one of {', '.join(CPU_KINDS)})")
    name = f"redcpu_{kind}_{op}_{src}_{conv}_{out}_u{U}"
    return make(name, p, body, (), _fp64(ts, tv, to))


def _better(op: str, t: CType, va, ia, vb, ib) -> str:
    """Whether (vb, ib) should replace (va, ia) for argmax/argmin (first index wins; NaN is extreme)."""
    sym = ">" if op == "argmax" else "<"
    if t.kind == "f":
        return (f"({ib} >= 0 && ({ia} < 0 || (isnan({vb}) ? (!isnan({va}) || {ib} < {ia}) : "
                f"(!isnan({va}) && ({vb} {sym} {va} || ({vb} == {va} && {ib} < {ia}))))))")
    return f"({ib} >= 0 && ({ia} < 0 || {vb} {sym} {va} || ({vb} == {va} && {ib} < {ia})))"


def arg_reduction(op: str, src: str, kdims: int, rdims: int, tree: int) -> Kernel:
    """out[m] = the first index r of the max (argmax) / min (argmin) of x[m, r] (int64)."""
    ts = ct(src)
    p = Params().buffer("out", "i64").buffer("x", ts.store, const=True).longs("M", "Rn")
    p.longs(*[f"ksize{d}" for d in range(kdims)], *[f"x_st{d}" for d in range(kdims)])
    p.longs(*[f"rsize{d}" for d in range(rdims)], *[f"r_st{d}" for d in range(rdims)])
    base = unravel("m", kdims, "ksize", ["x"], rest="q")
    inner = unravel("r", rdims, "rsize", ["r"], rest="q2")
    c = ts.comp
    if not tree:
        body = f"""\
    for (i64 m = ek_gid(); m < M; m += ek_gsize()) {{
{indent(base, 8)}
        {c} va = ({c})0; i64 ia = -1;
        for (i64 r = 0; r < Rn; ++r) {{
{indent(inner, 12)}
            {c} vb = {ts.load("x[o_x + o_r]")};
            if ({_better(op, ts, "va", "ia", "vb", "r")}) {{ va = vb; ia = r; }}
        }}
        out[m] = ia;
    }}"""
    else:
        body = f"""\
    LOCAL {c} shv[{tree}];
    LOCAL i64 shi[{tree}];
    const i32 lid = ek_lid();
    for (i64 m = ek_group(); m < M; m += ek_ngroups()) {{
{indent(base, 8)}
        {c} va = ({c})0; i64 ia = -1;
        for (i64 r = lid; r < Rn; r += {tree}) {{
{indent(inner, 12)}
            {c} vb = {ts.load("x[o_x + o_r]")};
            if ({_better(op, ts, "va", "ia", "vb", "r")}) {{ va = vb; ia = r; }}
        }}
        shv[lid] = va; shi[lid] = ia;
        ek_barrier();
        for (i32 s = {tree // 2}; s > 0; s >>= 1) {{
            if (lid < s) {{
                {c} vb = shv[lid + s]; i64 ib = shi[lid + s];
                va = shv[lid]; ia = shi[lid];
                if ({_better(op, ts, "va", "ia", "vb", "ib")}) {{ shv[lid] = vb; shi[lid] = ib; }}
            }}
            ek_barrier();
        }}
        if (lid == 0) out[m] = shi[0];
        ek_barrier();
    }}"""
    name = f"arg_{op}_{src}_k{kdims}_r{rdims}_{'t' + str(tree) if tree else 's'}"
    return make(name, p, body, (), ts.fp64)


# -- scans ------------------------------------------------------------------------------------

def scan(op: str, src: str, out: str, kdims: int) -> Kernel:
    """Running sum/product along one dim, one thread per line (cumsum, cumprod).

    Parameters: out, x, M (lines), L (line length), x_sd, out_sd (strides along the dim),
    ksize0.., x_st0.., out_st0.. (the other dims)."""
    ts, to = ct(src), ct(out)
    ta = ct(acc_dtype(out))
    p = Params().buffer("out", to.store).buffer("x", ts.store, const=True).longs("M", "L", "x_sd", "out_sd")
    p.longs(*[f"ksize{d}" for d in range(kdims)], *[f"x_st{d}" for d in range(kdims)],
            *[f"out_st{d}" for d in range(kdims)])
    base = unravel("m", kdims, "ksize", ["x", "out"], rest="q")
    load = cast(cast(ts.load("x[o_x + j * x_sd]"), ts, to), to, ta)
    comb = _combine("sum" if op == "cumsum" else "prod", ta, "acc", "v")
    body = f"""\
    for (i64 m = ek_gid(); m < M; m += ek_gsize()) {{
{indent(base, 8)}
        {ta.comp} acc = {_identity("sum" if op == "cumsum" else "prod", ta)};
        for (i64 j = 0; j < L; ++j) {{
            {ta.comp} v = {load};
            acc = {comb};
            out[o_out + j * out_sd] = {to.store_(cast("acc", ta, to))};
        }}
    }}"""
    return make(f"scan_{op}_{src}_{out}_k{kdims}", p, body, (), _fp64(ts, to))


def scan_block(op: str, src: str, out: str, kdims: int, B: int) -> Kernel:
    """cumsum/cumprod of long lines, one block of B threads per line: each thread reduces a
    contiguous chunk, the B chunk totals are scanned in local memory (Hillis-Steele), then each
    thread rescans its chunk from its prefix. Parameters as scan."""
    ts, to = ct(src), ct(out)
    ta = ct(acc_dtype(out))
    red = "sum" if op == "cumsum" else "prod"
    p = Params().buffer("out", to.store).buffer("x", ts.store, const=True).longs("M", "L", "x_sd", "out_sd")
    p.longs(*[f"ksize{d}" for d in range(kdims)], *[f"x_st{d}" for d in range(kdims)],
            *[f"out_st{d}" for d in range(kdims)])
    base = unravel("m", kdims, "ksize", ["x", "out"], rest="q")
    load = cast(cast(ts.load("x[o_x + j * x_sd]"), ts, to), to, ta)
    ident = _identity(red, ta)
    body = f"""\
    LOCAL {ta.comp} part[{B}];
    const i32 lid = ek_lid();
    for (i64 m = ek_group(); m < M; m += ek_ngroups()) {{
{indent(base, 8)}
        const i64 chunk = (L + {B - 1}) / {B};
        const i64 lo = lid * chunk, hi = lo + chunk < L ? lo + chunk : L;
        {ta.comp} acc = {ident};
        for (i64 j = lo; j < hi; ++j) {{ {ta.comp} v = {load}; acc = {_combine(red, ta, "acc", "v")}; }}
        part[lid] = acc;
        ek_barrier();
        for (i32 s = 1; s < {B}; s <<= 1) {{
            {ta.comp} v = lid >= s ? part[lid - s] : {ident};
            ek_barrier();
            if (lid >= s) {{ acc = part[lid]; part[lid] = {_combine(red, ta, "v", "acc")}; }}
            ek_barrier();
        }}
        acc = lid > 0 ? part[lid - 1] : {ident};
        for (i64 j = lo; j < hi; ++j) {{
            {ta.comp} v = {load};
            acc = {_combine(red, ta, "acc", "v")};
            out[o_out + j * out_sd] = {to.store_(cast("acc", ta, to))};
        }}
        ek_barrier();
    }}"""
    return make(f"scanb_{op}_{src}_{out}_k{kdims}_{B}", p, body, (), _fp64(ts, to))


# -- gather, scatter, scatter_add (index_select and index_add are these on an expanded index) -----

_ATOMIC = {
    # 32-bit words: i32, f32
    32: Template("""\
DEVICE void ek_atomic_add_$N(GLOBAL $S* p, $C v) {
    GLOBAL u32* w = (GLOBAL u32*)p;
    u32 old = *w, assumed;
    do {
        assumed = old;
        $S cur = $FROM(assumed);
        $S nxt = $STORE($LOAD(cur) + v);
        old = ek_cas32(w, assumed, $TO(nxt));
    } while (old != assumed);
}
"""),
    64: Template("""\
DEVICE void ek_atomic_add_$N(GLOBAL $S* p, $C v) {
    GLOBAL u64* w = (GLOBAL u64*)p;
    u64 old = *w, assumed;
    do {
        assumed = old;
        $S cur = $FROM(assumed);
        $S nxt = $STORE($LOAD(cur) + v);
        old = ek_cas64(w, assumed, $TO(nxt));
    } while (old != assumed);
}
"""),
    # 8- and 16-bit values: a compare-and-swap on the aligned 32-bit word holding them
    16: Template("""\
DEVICE void ek_atomic_add_$N(GLOBAL $S* p, $C v) {
    size_t a = (size_t)p;
    GLOBAL u32* w = (GLOBAL u32*)((GLOBAL char*)p - (a & 3));
    u32 sh = (u32)(a & 3) * 8u;
    u32 mask = $MASK << sh;
    u32 old = *w, assumed;
    do {
        assumed = old;
        $S cur = ($S)((assumed & mask) >> sh);
        $S nxt = $STORE($LOAD(cur) + v);
        old = ek_cas32(w, assumed, (assumed & ~mask) | ((((u32)nxt) & $MASK) << sh));
    } while (old != assumed);
}
"""),
}


def atomic_add_helper(t: CType) -> str:
    if t.kind == "b":
        return ""
    bits = t.bits
    from_, to_ = "", ""
    if t.name == "float32":
        from_, to_ = "ek_u32_as_f32", "ek_f32_as_u32"
    elif t.name == "float64":
        from_, to_ = "ek_u64_as_f64", "ek_f64_as_u64"
    elif bits == 32:
        from_, to_ = f"({t.store})", "(u32)"
    elif bits == 64:
        from_, to_ = f"({t.store})", "(u64)"
    key = 32 if bits == 32 else 64 if bits == 64 else 16
    mask = "0xffu" if bits == 8 else "0xffffu"
    ld = {"float16": "ek_h2f", "bfloat16": "ek_bf2f"}.get(t.name, "")
    st = {"float16": "ek_f2h", "bfloat16": "ek_f2bf"}.get(t.name, f"({t.store})")
    return _ATOMIC[key].substitute(N=t.name, S=t.store, C=t.comp, FROM=from_, TO=to_, LOAD=ld, STORE=st, MASK=mask)


def indexed(kind: str, dtype: str, ndim: int) -> Kernel:
    """gather / scatter / scatter_add over index's shape (ndim dims).

    gather:      out[p] = x[p with p[dim] = index[p]]   (out contiguous, index's shape)
    scatter:     x[p with p[dim] = index[p]] = src[p]
    scatter_add: x[p with p[dim] = index[p]] += src[p]  (atomically)
    Parameters: x, other (out for gather, src for the scatters), index, n, size0..,
    x_st0.. (x's strides, 0 along dim), o_st0.. (other's), i_st0.. (index's), x_sd (x's stride
    along dim). Indices were checked by the host before the launch."""
    t = ct(dtype)
    p = Params().buffer("x", t.store, const=(kind == "gather"))
    p.buffer("o", t.store, const=(kind != "gather")).buffer("i", "i64", const=True).longs("n")
    p.longs(*[f"size{d}" for d in range(ndim)], *[f"x_st{d}" for d in range(ndim)],
            *[f"o_st{d}" for d in range(ndim)], *[f"i_st{d}" for d in range(ndim)], "x_sd")
    lines = unravel("k", ndim, "size", ["x", "o", "i"])
    lines.append("i64 ox = o_x + i[o_i] * x_sd;")
    helpers = ()
    if kind == "gather":
        lines.append("o[o_o] = x[ox];")
    elif kind == "scatter" or t.kind == "b":
        lines.append("x[ox] = o[o_o];" if kind == "scatter" else "if (o[o_o]) x[ox] = 1;")
    else:
        lines.append(f"ek_atomic_add_{t.name}(x + ox, {t.load('o[o_o]')});")
        helpers = (atomic_add_helper(t),)
    body = f"""\
    for (i64 k = ek_gid(); k < n; k += ek_gsize()) {{
{indent(lines, 8)}
    }}"""
    return make(f"idx_{kind}_{dtype}_{ndim}", p, body, helpers, t.fp64)


# -- bmm: tiled, register-blocked GEMM --------------------------------------------------------------

TILE = 16          # threads per block side
REG = 4            # outputs per thread along each side: a block computes (TILE * REG)^2 outputs
TK = 16           # the k-depth of the tiles staged in local memory


def bmm(dtype: str) -> Kernel:
    """out[b] = a[b] @ b[b]; a (B, N, K), b (B, K, P) any strides, out contiguous (B, N, P).

    A block of TILE x TILE threads computes a (TILE*REG) x (TILE*REG) tile of out, each thread a
    REG x REG grid of outputs spaced TILE apart (so neighbouring threads touch neighbouring columns),
    from TK-deep slices of a and b staged in local memory: REG*REG multiply-adds per 2*REG local
    loads. float16/bfloat16 accumulate in float32; integers in 64 bits (wrapping).
    Launch: grid (ceil(P/(TILE*REG)), ceil(N/(TILE*REG)), min(B, 65535)), block (TILE, TILE, 1).
    Parameters: out, a, b, B, N, K, P, a_sb, a_sn, a_sk, b_sb, b_sk, b_sp."""
    t = ct(dtype)
    acc = "u64" if t.kind in "iu" else ct(acc_dtype(dtype)).comp
    p = Params().buffer("out", t.store).buffer("a", t.store, const=True).buffer("b", t.store, const=True)
    p.longs("Bn", "N", "K", "P", "a_sb", "a_sn", "a_sk", "b_sb", "b_sk", "b_sp")
    ld = (lambda e: f"({acc})(i64)({e})") if t.kind in "iu" else (lambda e: f"({acc})({t.load(e)})")
    res = f"({t.comp})(i64)c[i][j]" if t.kind in "iu" else f"({t.comp})c[i][j]"
    side = TILE * REG
    loads = side * TK // (TILE * TILE)      # elements of each tile one thread stages
    body = f"""\
    LOCAL {acc} As[{TK}][{side + 1}];
    LOCAL {acc} Bs[{TK}][{side + 1}];
    const i32 tx = ek_lid(), ty = ek_lid_y();
    const i32 tid = ty * {TILE} + tx;
    const i64 row0 = ek_group_y() * {side}, col0 = ek_group() * {side};
    for (i64 bb = ek_group_z(); bb < Bn; bb += ek_ngroups_z()) {{
        {acc} c[{REG}][{REG}];
        for (i32 i = 0; i < {REG}; ++i)
            for (i32 j = 0; j < {REG}; ++j) c[i][j] = ({acc})0;
        for (i64 k0 = 0; k0 < K; k0 += {TK}) {{
            for (i32 l = 0; l < {loads}; ++l) {{
                const i32 e = tid + l * {TILE * TILE};
                const i32 am = e / {TK}, ak = e % {TK}, bk = e / {side}, bn = e % {side};
                const i64 r = row0 + am, ka = k0 + ak, kb = k0 + bk, cl = col0 + bn;
                As[ak][am] = (r < N && ka < K) ? {ld("a[bb * a_sb + r * a_sn + ka * a_sk]")} : ({acc})0;
                Bs[bk][bn] = (kb < K && cl < P) ? {ld("b[bb * b_sb + kb * b_sk + cl * b_sp]")} : ({acc})0;
            }}
            ek_barrier();
            for (i32 kk = 0; kk < {TK}; ++kk) {{
                {acc} ar[{REG}], br[{REG}];
                for (i32 i = 0; i < {REG}; ++i) ar[i] = As[kk][ty + i * {TILE}];
                for (i32 j = 0; j < {REG}; ++j) br[j] = Bs[kk][tx + j * {TILE}];
                for (i32 i = 0; i < {REG}; ++i)
                    for (i32 j = 0; j < {REG}; ++j) c[i][j] += ar[i] * br[j];
            }}
            ek_barrier();
        }}
        for (i32 i = 0; i < {REG}; ++i) {{
            const i64 row = row0 + ty + i * {TILE};
            if (row >= N) break;
            for (i32 j = 0; j < {REG}; ++j) {{
                const i64 col = col0 + tx + j * {TILE};
                if (col < P) out[(bb * N + row) * P + col] = {t.store_(res)};
            }}
        }}
    }}"""
    return make(f"bmm_{dtype}", p, body, (), t.fp64)


# -- bmm for CPU-like devices: register blocks over packed column panels ------------------------------
#
# A CPU OpenCL runtime (pocl) compiles each work-item as plain scalar code and vectorizes what one
# work-item does; local memory and barriers only cost there. So this GEMM gives each work-item an
# RM x RN block of out held in RM*RN scalar accumulators, written out unrolled: per k, RN loads of b
# that sit side by side and RM loads of a, then RM*RN multiply-adds, which the compiler turns into RM
# vector FMAs of RN lanes. b is first packed (gemm_pack) into column panels of RN: panel j holds
# b[:, j*RN:(j+1)*RN] as K contiguous rows of RN, zero-padded past P and converted to the accumulation
# type, so every panel is read as one stream whatever b's strides, and neighbouring work-items (along
# the rows of out) share the panel from cache. The tile is chosen per device by measurement (gemm.py).

def gemm_panel_dtype(dtype: str) -> str:
    """The dtype of the packed panels of b: the accumulation type (integers: int64)."""
    t = ct(dtype)
    return "int64" if t.kind in "iub" else acc_dtype(dtype)


def gemm_pack(dtype: str, rn: int) -> Kernel:
    """Pack b (Bn, K, P), any strides, into panels out (Bn, ceil(P/rn), K, rn) of gemm_panel_dtype.

    Columns past P are zero. One work-item writes one row of rn of a panel (grid-stride).
    Parameters: out, b, Bn, K, P, b_sb, b_sk, b_sp."""
    t, tp = ct(dtype), ct(gemm_panel_dtype(dtype))
    p = Params().buffer("out", tp.store).buffer("b", t.store, const=True)
    p.longs("Bn", "K", "P", "b_sb", "b_sk", "b_sp")
    ld = (lambda e: f"({tp.comp})({e})") if t.kind in "iub" else (lambda e: f"({tp.comp})({t.load(e)})")
    full = "\n".join(f"            dst[{j}] = {ld(f'src[{j}]')};" for j in range(rn))
    edge = "\n".join(f"            dst[{j}] = col0 + {j} < P ? {ld(f'src[{j} * b_sp]')} : ({tp.comp})0;"
                     for j in range(rn))
    body = f"""\
    const i64 Pt = (P + {rn - 1}) / {rn};
    const i64 rows = Bn * Pt * K;
    for (i64 r = ek_gid(); r < rows; r += ek_gsize()) {{
        const i64 k = r % K, t = r / K;
        const i64 jp = t % Pt, bb = t / Pt;
        const i64 col0 = jp * {rn};
        GLOBAL const {t.store}* src = b + bb * b_sb + k * b_sk + col0 * b_sp;
        GLOBAL {tp.store}* dst = out + r * {rn};
        if (col0 + {rn} <= P && b_sp == 1) {{
{full}
        }} else {{
{edge}
        }}
    }}"""
    return make(f"gemm_pack_{dtype}_{rn}", p, body, (), t.fp64)


def bmm_rb(dtype: str, rm: int, rn: int, tout: bool = False) -> Kernel:
    """out[b] = a[b] @ b[b] from b packed by gemm_pack(dtype, rn), a (Bn, N, K) any strides.

    Work-item x computes rows [x*rm, x*rm + rm) of the column panels y, y + grid y, ... of batches
    z, z + grid z, ...; rows past N read row N - 1 and store nothing. out's rows are o_sn apart and
    its columns adjacent; with ``tout`` its columns are o_sp apart (the host computes out^T =
    b^T @ a^T so, o_sn = 1: a kernel of its own, since strided stores in the same kernel would keep
    the compiler from vectorizing the other's accumulators whole). float16/bfloat16 accumulate in
    float32; integers in 64 bits (wrapping), as bmm.
    Launch: grid (ceil(ceil(N/rm) / block), min(ceil(P/rn), 65535), min(Bn, 65535)), block (any, 1, 1).
    Parameters: out, a, bp (the panels), Bn, N, K, P, a_sb, a_sn, a_sk, bp_sb (a batch of panels;
    0 when every batch shares one), o_sb, o_sn, o_sp."""
    t, tp = ct(dtype), ct(gemm_panel_dtype(dtype))
    acc = "u64" if t.kind in "iub" else tp.comp
    p = Params().buffer("out", t.store).buffer("a", t.store, const=True).buffer("bp", tp.store, const=True)
    p.longs("Bn", "N", "K", "P", "a_sb", "a_sn", "a_sk", "bp_sb", "o_sb", "o_sn", "o_sp")
    lda = (lambda e: f"({acc})(i64)({e})") if t.kind in "iub" else (lambda e: f"({acc})({t.load(e)})")
    ldb = (lambda e: f"({acc})({e})")

    def res(i, j):
        v = f"c{i}_{j}"
        return t.store_(f"({t.comp})(i64){v}" if t.kind in "iub" else f"({t.comp}){v}")

    def stores(at, pad, guard=False):
        lines = []
        for i in range(rm):
            row = (f"if (row0 + {i} < N) " if guard else "") + f"{{ GLOBAL {t.store}* o = ob + {i} * o_sn; "
            cells = " ".join((f"if (col0 + {j} < P) " if guard else "") + f"o[{at(j)}] = {res(i, j)};"
                             for j in range(rn))
            lines.append(" " * pad + row + cells + " }")
        return "\n".join(lines)

    at = (lambda j: f"{j} * o_sp") if tout else (lambda j: str(j))
    zero = " ".join(f"{acc} c{i}_{j} = ({acc})0;" for i in range(rm) for j in range(rn))
    rows = " ".join(f"const i64 r{i} = (row0 + {i} < N ? row0 + {i} : N - 1) * a_sn;" for i in range(rm))
    loads = " ".join(f"const {acc} b{j} = {ldb(f'bk[{j}]')};" for j in range(rn))
    fmas = "\n".join(f"                {{ const {acc} x = {lda(f'ab[r{i} + ka]')}; "
                     + " ".join(f"c{i}_{j} += x * b{j};" for j in range(rn)) + " }" for i in range(rm))
    body = f"""\
    const i64 row0 = ek_gid() * {rm};
    if (row0 >= N) return;
    const i64 Pt = (P + {rn - 1}) / {rn};
    {rows}
    for (i64 bb = ek_group_z(); bb < Bn; bb += ek_ngroups_z()) {{
        GLOBAL const {t.store}* ab = a + bb * a_sb;
        for (i64 jp = ek_group_y(); jp < Pt; jp += ek_ngroups_y()) {{
            const i64 col0 = jp * {rn};
            GLOBAL const {tp.store}* bk = bp + bb * bp_sb + jp * K * {rn};
            {zero}
            i64 ka = 0;
            for (i64 k = 0; k < K; ++k) {{
                {loads}
{fmas}
                ka += a_sk;
                bk += {rn};
            }}
            GLOBAL {t.store}* ob = out + bb * o_sb + row0 * o_sn + col0 * o_sp;
            if (row0 + {rm} <= N && col0 + {rn} <= P) {{
{stores(at, 16)}
            }} else {{
{stores(at, 16, guard=True)}
            }}
        }}
    }}"""
    return make(f"bmm_rb_{dtype}_{rm}x{rn}{'_t' if tout else ''}", p, body, (), t.fp64)


# -- Philox4x32-10 ----------------------------------------------------------------------------

def philox() -> Kernel:
    """out[j] (int64) = word j % 4 of philox4x32_10(counter = offset + j / 4, key), j < n.

    Parameters: out, n, key0, key1 (uint32), off0..off3 (the 128-bit offset, lowest word first)."""
    p = Params().buffer("out", "i64").longs("n")
    for nm in ("key0", "key1", "off0", "off1", "off2", "off3"):
        p.scalar("I", f"u32 {nm}")
    body = """\
    const i64 groups = (n + 3) / 4;
    for (i64 g = ek_gid(); g < groups; g += ek_gsize()) {
        u64 lo = (((u64)off1 << 32) | off0) + (u64)g;
        u64 hi = (((u64)off3 << 32) | off2) + (lo < (u64)g ? 1 : 0);
        u32 c0 = (u32)lo, c1 = (u32)(lo >> 32), c2 = (u32)hi, c3 = (u32)(hi >> 32);
        u32 k0 = key0, k1 = key1;
        for (i32 round = 0; round < 10; ++round) {
            u64 p0 = (u64)0xD2511F53u * c0;
            u64 p1 = (u64)0xCD9E8D57u * c2;
            u32 n0 = (u32)(p1 >> 32) ^ c1 ^ k0;
            u32 n2 = (u32)(p0 >> 32) ^ c3 ^ k1;
            c1 = (u32)p1; c3 = (u32)p0; c0 = n0; c2 = n2;
            k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
        }
        i64 j = g * 4;
        out[j] = (i64)c0;
        if (j + 1 < n) out[j + 1] = (i64)c1;
        if (j + 2 < n) out[j + 2] = (i64)c2;
        if (j + 3 < n) out[j + 3] = (i64)c3;
    }"""
    return make("philox4x32_10", p, body)


# -- arange, nonzero ------------------------------------------------------------------------------

def arange(dtype: str, wide: str) -> Kernel:
    """out[i] = start + i * step for i < n, computed in ``wide`` (f64, f32 or i64) then cast."""
    t, tw = ct(dtype), ct(wide)
    p = Params().buffer("out", t.store).longs("n").scalar(tw.sig, f"{ 'f64' if tw.sig == 'd' else 'f32' if tw.sig == 'f' else 'i64'} start")
    p.scalar(tw.sig, f"{'f64' if tw.sig == 'd' else 'f32' if tw.sig == 'f' else 'i64'} step")
    body = f"""\
    for (i64 i = ek_gid(); i < n; i += ek_gsize())
        out[i] = {t.store_(cast(f"(start + ({tw.comp})i * step)", tw, t))};"""
    return make(f"arange_{dtype}_{wide}", p, body, (), _fp64(t, tw))


def nonzero_write(dtype: str, ndim: int) -> Kernel:
    """Rows of out (count, ndim) int64: the coordinates of each nonzero x element, at row cs[i] - 1
    (cs an inclusive running count in row-major order). Parameters: out, x, cs, n, size0.., x_st0..."""
    t = ct(dtype)
    p = Params().buffer("out", "i64").buffer("x", t.store, const=True).buffer("cs", "i64", const=True)
    p.longs("n", *[f"size{d}" for d in range(ndim)], *[f"x_st{d}" for d in range(ndim)])
    lines = [f"i64 q = i; i64 o_x = 0; i64 row = cs[i] - 1;"]
    for d in range(ndim - 1, -1, -1):
        lines.append(f"{{ i64 c = q % size{d}; q /= size{d}; o_x += c * x_st{d}; crd[{d}] = c; }}")
    lines.append(f"if ({t.load('x[o_x]')} != 0) {{ for (i32 d = 0; d < {ndim}; ++d) out[row * {ndim} + d] = crd[d]; }}")
    body = f"""\
    for (i64 i = ek_gid(); i < n; i += ek_gsize()) {{
        i64 crd[{max(ndim, 1)}];
{indent(lines, 8)}
    }}"""
    return make(f"nonzero_{dtype}_{ndim}", p, body, (), t.fp64)


# -- sort ---------------------------------------------------------------------------------------

def _before(t: CType, descending: bool, ka, ia, kb, ib, n="L") -> str:
    """Whether element (ka, ia) comes before (kb, ib): NaN largest, ties by index (stable)."""
    if t.kind == "f":
        less = lambda x, y: f"(!isnan({x}) && (isnan({y}) || {x} < {y}))"  # noqa: E731
        eq = f"({ka} == {kb} || (isnan({ka}) && isnan({kb})))"
    else:
        less = lambda x, y: f"({x} < {y})"  # noqa: E731
        eq = f"({ka} == {kb})"
    order = less(kb, ka) if descending else less(ka, kb)
    return f"({ia} < {n} && ({ib} >= {n} || {order} || ({eq} && {ia} < {ib})))"


def sort_local(dtype: str, descending: bool, P: int, B: int, kdims: int) -> Kernel:
    """Sort each line of L <= P elements (P a power of two) in one block of B threads:
    a bitonic network in local memory on (key, index) pairs, so the order is stable.
    Parameters: vals, idx (outputs), x, M (lines), L, x_sd, v_sd, i_sd, ksize0.., x_st0.., v_st0.., i_st0.."""
    t = ct(dtype)
    p = Params().buffer("vals", t.store).buffer("idx", "i64").buffer("x", t.store, const=True)
    p.longs("M", "L", "x_sd", "v_sd", "i_sd")
    p.longs(*[f"ksize{d}" for d in range(kdims)], *[f"x_st{d}" for d in range(kdims)],
            *[f"v_st{d}" for d in range(kdims)], *[f"i_st{d}" for d in range(kdims)])
    base = unravel("m", kdims, "ksize", ["x", "v", "i"], rest="q")
    c = t.comp
    body = f"""\
    LOCAL {c} key[{P}];
    LOCAL i32 pos[{P}];
    const i32 lid = ek_lid();
    for (i64 m = ek_group(); m < M; m += ek_ngroups()) {{
{indent(base, 8)}
        for (i32 j = lid; j < {P}; j += {B}) {{
            key[j] = j < L ? {t.load("x[o_x + j * x_sd]")} : ({c})0;
            pos[j] = j;
        }}
        ek_barrier();
        for (i32 k = 2; k <= {P}; k <<= 1) {{
            for (i32 s = k >> 1; s > 0; s >>= 1) {{
                for (i32 j = lid; j < {P}; j += {B}) {{
                    i32 o = j ^ s;
                    if (o > j) {{
                        {c} ka = key[j], kb = key[o];
                        i32 ia = pos[j], ib = pos[o];
                        bool swap = (j & k) == 0 ? {_before(t, descending, "kb", "ib", "ka", "ia")}
                                                 : {_before(t, descending, "ka", "ia", "kb", "ib")};
                        if (swap) {{ key[j] = kb; key[o] = ka; pos[j] = ib; pos[o] = ia; }}
                    }}
                }}
                ek_barrier();
            }}
        }}
        for (i32 j = lid; j < L; j += {B}) {{
            vals[o_v + j * v_sd] = {t.store_("key[j]")};
            idx[o_i + j * i_sd] = (i64)pos[j];
        }}
        ek_barrier();
    }}"""
    return make(f"sort_{dtype}_{'d' if descending else 'a'}_{P}_{B}_k{kdims}", p, body, (), t.fp64)


def sort_merge(dtype: str, descending: bool, kdims: int) -> Kernel:
    """Sort lines of any length, one thread per line: a bottom-up merge sort of indices in two
    scratch rows (tmp, M x 2L int64), stable. Parameters as sort_local, plus tmp."""
    t = ct(dtype)
    p = Params().buffer("vals", t.store).buffer("idx", "i64").buffer("x", t.store, const=True)
    p.buffer("tmp", "i64").longs("M", "L", "x_sd", "v_sd", "i_sd")
    p.longs(*[f"ksize{d}" for d in range(kdims)], *[f"x_st{d}" for d in range(kdims)],
            *[f"v_st{d}" for d in range(kdims)], *[f"i_st{d}" for d in range(kdims)])
    base = unravel("m", kdims, "ksize", ["x", "v", "i"], rest="q")
    c = t.comp
    key = lambda e: t.load(f"x[o_x + ({e}) * x_sd]")  # noqa: E731
    body = f"""\
    for (i64 m = ek_gid(); m < M; m += ek_gsize()) {{
{indent(base, 8)}
        GLOBAL i64* src = tmp + m * 2 * L;
        GLOBAL i64* dst = src + L;
        for (i64 j = 0; j < L; ++j) src[j] = j;
        for (i64 w = 1; w < L; w *= 2) {{
            for (i64 lo = 0; lo < L; lo += 2 * w) {{
                i64 mid = lo + w < L ? lo + w : L, hi = lo + 2 * w < L ? lo + 2 * w : L;
                i64 a = lo, b = mid, o = lo;
                while (a < mid && b < hi) {{
                    i64 ia = src[a], ib = src[b];
                    {c} ka = {key("ia")}, kb = {key("ib")};
                    if ({_before(t, descending, "kb", "ib", "ka", "ia")}) {{ dst[o++] = ib; ++b; }}
                    else {{ dst[o++] = ia; ++a; }}
                }}
                while (a < mid) dst[o++] = src[a++];
                while (b < hi) dst[o++] = src[b++];
            }}
            GLOBAL i64* sw = src; src = dst; dst = sw;
        }}
        for (i64 j = 0; j < L; ++j) {{
            i64 s = src[j];
            vals[o_v + j * v_sd] = x[o_x + s * x_sd];
            idx[o_i + j * i_sd] = s;
        }}
    }}"""
    return make(f"sortm_{dtype}_{'d' if descending else 'a'}_k{kdims}", p, body, (), t.fp64)
