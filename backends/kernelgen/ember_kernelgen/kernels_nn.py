"""Row kernels for the fused nn operators: cross_entropy (forward, backward), softmax and
log_softmax, and the SGD step, each described once (see desc.py) like the prims in kernels.py.

The row kernels see x as rows of C classes: row r = (o, i) over an (outer, C, inner) walk with
strides x_so, x_sc, x_si, so the class dim may be any one dim of a strided x. A block of B threads
takes B / L rows at once, L lanes a row (L a power of two, a launch argument), and reduces each
row's partial results across its lanes in local memory: small C keeps every thread busy, large C
is spread over up to B lanes. Halves compute in float32. Targets are int64 (the host converts
others), class weights are the accumulation dtype or x's own.
"""

from __future__ import annotations

from .ctypes_ import cast, ct
from .desc import Kernel, Params, make
from .kernels import acc_dtype

FLOATS = ("float32", "float16", "bfloat16", "float64")


def weight_dtypes(x: str):
    """The class-weight dtypes the kernels take for x: the accumulation dtype, and x's own for halves."""
    return tuple(dict.fromkeys((acc_dtype(x), x)))


def _acc_sig(a):
    """The signature character of a scalar argument in the accumulation type a."""
    return "d" if a.name == "float64" else "f"


def _walk_params(p: Params, *extra):
    p.longs("M", "C", "inner", "x_so", "x_sc", "x_si", *extra, "L")
    return p


_ROW_HEAD = """\
    const i32 lid = ek_lid();
    const i64 tl = lid & (L - 1);
    const i64 G = $B / L;
"""


def _lane_reduce(pairs, comb, indent="        "):
    """C lines reducing each (local array, variable) across the L lanes of a row; every lane ends
    with the row's result. comb(a, b) gives the combined C expression (sum unless given)."""
    lines = [f"{arr}[lid] = {v};" for arr, v in pairs] + ["ek_barrier();",
             "for (i64 s = L >> 1; s > 0; s >>= 1) {",
             "    if (tl < s) {"]
    for arr, v in pairs:
        lines.append(f"        {arr}[lid] = {comb(f'{arr}[lid]', f'{arr}[lid + s]')};")
    lines += ["    }", "    ek_barrier();", "}"]
    lines += [f"{v} = {arr}[lid - tl];" for arr, v in pairs] + ["ek_barrier();"]
    return "\n".join(indent + ln for ln in lines)


def _block_reduce(pairs, B, indent="    "):
    """C lines reducing (local array, variable, combine) over the whole block into element 0."""
    lines = [f"{arr}[lid] = {v};" for arr, v, _ in pairs] + ["ek_barrier();",
             f"for (i32 s = {B // 2}; s > 0; s >>= 1) {{",
             "    if (lid < s) {"]
    for arr, v, comb in pairs:
        lines.append(f"        {arr}[lid] = {comb(f'{arr}[lid]', f'{arr}[lid + s]')};")
    lines += ["    }", "    ek_barrier();", "}"]
    return "\n".join(indent + ln for ln in lines)


def _add(a, b):
    return f"({a} + {b})"


def _max(a, b):
    return f"((isnan({a}) || {a} > {b}) ? {a} : {b})"


def _min_i(a, b):
    return f"({a} < {b} ? {a} : {b})"


def _target_lines(indent="            "):
    """Row r's target: tv, keep (not ignore_index), ok (in range), safe (a valid class index)."""
    lines = ["tv = t[o * t_so + ii * t_si];",
             "keep = tv != ign;",
             "ok = keep && tv >= 0 && tv < C;",
             "safe = ok ? tv : 0;"]
    return "\n".join(indent + ln for ln in lines)


#: The opening of the cross_entropy kernels' loop over rows: each group of L lanes takes row r, its
#: base offset xb and its target (tv, keep, ok, safe); the loop's body follows.
_TARGET_ROW_LOOP = f"""\
    for (i64 r0 = ek_group() * G; r0 < M; r0 += ek_ngroups() * G) {{
        const i64 r = r0 + lid / L;
        const bool act = r < M;
        i64 o = 0, ii = 0, xb = 0, tv = 0, safe = 0;
        bool keep = false, ok = false;
        if (act) {{
            o = r / inner; ii = r - o * inner; xb = o * x_so + ii * x_si;
{_target_lines()}
        }}"""


def _max_pass(xt, a):
    """Lines: the row max of x (NaN wins), then m, the shift: the max itself, as PyTorch's, so that a row with
    +inf, or of -inf only, gives NaN (x - m is NaN there)."""
    return f"""\
        {a} mx = -({a})EK_INF;
        if (act) for (i64 c = tl; c < C; c += L) {{ {a} v = {xt.load("x[xb + c * x_sc]")}; mx = {_max("mx", "v")}; }}
{_lane_reduce([("sh0", "mx")], _max)}
        const {a} m = mx;"""


def cross_entropy_rows(x: str, w: str, B: int) -> Kernel:
    """Per-row cross_entropy of x's rows against int64 class targets (class-index form).

    Per row: loss = -(x[t] - max - lse) * wy, plus label smoothing eps: loss * (1 - eps) +
    -(sum_c logp_c * w_c) * keep * eps / C; wy = w[t] (1 without weights) where t is not
    ignore_index, else 0. mode 0 ('none') stores loss in out[r] (x's dtype); modes 1 ('sum') and
    2 ('mean') store (loss, wy) in part[2r], part[2r + 1] (the accumulation dtype) for ce_finish,
    unless single: then the kernel runs as one block, sums the rows itself and stores the result in
    out[0], and info[0] = the first row whose target is neither in [0, C) nor ignore_index (-1:
    none), info[1] = its target. Parameters: out, part, info, x, t, w, M, C, inner, x_so, x_sc,
    x_si, t_so, t_si, L, has_w, ign, mode, single, eps.
    """
    xt, wt = ct(x), ct(w)
    at = ct(acc_dtype(x))
    a = at.comp
    sig = _acc_sig(at)
    p = Params().buffer("out", xt.store).buffer("part", at.store).buffer("info", "i64")
    p.buffer("x", xt.store, const=True).buffer("t", "i64", const=True).buffer("w", wt.store, const=True)
    _walk_params(p, "t_so", "t_si").longs("has_w", "ign", "mode", "single").scalar(sig, f"{a} eps")
    wl = lambda e: f"({a})({wt.load(e)})"  # noqa: E731
    body = f"""\
    LOCAL {a} sh0[{B}];
    LOCAL {a} sh1[{B}];
    LOCAL {a} sh2[{B}];
    LOCAL i64 shb[{B}];
{_ROW_HEAD.replace("$B", str(B))}
    const bool smooth = eps > ({a})0;
    {a} tot_l = ({a})0, tot_w = ({a})0;
    i64 bad = M;
{_TARGET_ROW_LOOP}
{_max_pass(xt, a)}
        {a} se = ({a})0, sxw = ({a})0, sw = ({a})0;
        if (act) for (i64 c = tl; c < C; c += L) {{
            const {a} d = {xt.load("x[xb + c * x_sc]")} - m;
            se += exp(d);
            if (smooth) {{ const {a} wc = has_w ? {wl("w[c]")} : ({a})1; sxw += d * wc; sw += wc; }}
        }}
{_lane_reduce([("sh0", "se"), ("sh1", "sxw"), ("sh2", "sw")], _add)}
        if (act && tl == 0) {{
            const {a} lse = log(se);
            const {a} wy = keep ? (has_w ? {wl("w[safe]")} : ({a})1) : ({a})0;
            {a} loss = -({xt.load("x[xb + safe * x_sc]")} - m - lse) * wy;
            if (smooth) loss = loss * (({a})1 - eps) + (-(sxw - lse * sw) * (keep ? ({a})1 : ({a})0)) * (eps / ({a})C);
            if (keep && !ok && r < bad) bad = r;
            if (mode == 0) out[r] = {xt.store_("loss")};
            else if (single) {{ tot_l += loss; tot_w += wy; }}
            else {{ part[2 * r] = loss; part[2 * r + 1] = wy; }}
        }}
    }}
    if (single) {{
{_block_reduce([("sh0", "tot_l", _add), ("sh1", "tot_w", _add), ("shb", "bad", _min_i)], B)}
        if (lid == 0) {{
            const i64 b = shb[0];
            info[0] = b < M ? b : -1;
            info[1] = b < M ? t[(b / inner) * t_so + (b % inner) * t_si] : 0;
            if (mode != 0) {{ const {a} s = sh0[0]; out[0] = {xt.store_(f"(mode == 2 ? s / sh1[0] : s)")}; }}
        }}
    }}"""
    return make(f"ce_rows_{x}_{w}_{B}", p, body, (), at.fp64 or xt.fp64 or wt.fp64)


def cross_entropy_finish(x: str, B: int) -> Kernel:
    """One block over the M rows of ce_rows' output: the bad-target report info[0..1] (as ce_rows'
    single form) and, for modes 1 ('sum') and 2 ('mean'), out[0] = sum of loss (divided by the sum
    of wy for 'mean'). Parameters: out, info, part, t, M, inner, t_so, t_si, C, ign, mode."""
    xt = ct(x)
    at = ct(acc_dtype(x))
    a = at.comp
    p = Params().buffer("out", xt.store).buffer("info", "i64").buffer("part", at.store, const=True)
    p.buffer("t", "i64", const=True).longs("M", "inner", "t_so", "t_si", "C", "ign", "mode")
    body = f"""\
    LOCAL {a} sh0[{B}];
    LOCAL {a} sh1[{B}];
    LOCAL i64 shb[{B}];
    const i32 lid = ek_lid();
    {a} tot_l = ({a})0, tot_w = ({a})0;
    i64 bad = M;
    for (i64 r = lid; r < M; r += {B}) {{
        const i64 tv = t[(r / inner) * t_so + (r % inner) * t_si];
        if (tv != ign && (tv < 0 || tv >= C) && r < bad) bad = r;
        if (mode != 0) {{ tot_l += part[2 * r]; tot_w += part[2 * r + 1]; }}
    }}
{_block_reduce([("sh0", "tot_l", _add), ("sh1", "tot_w", _add), ("shb", "bad", _min_i)], B)}
    if (lid == 0) {{
        const i64 b = shb[0];
        info[0] = b < M ? b : -1;
        info[1] = b < M ? t[(b / inner) * t_so + (b % inner) * t_si] : 0;
        if (mode != 0) {{ const {a} s = sh0[0]; out[0] = {xt.store_(f"(mode == 2 ? s / sh1[0] : s)")}; }}
    }}"""
    return make(f"ce_finish_{x}_{B}", p, body, (), at.fp64 or xt.fp64)


def _den_lines(wt, a, indent="    "):
    """Lines: den = the sum over all M rows of w[t] (1 without weights) where t is not ignore_index."""
    wl = f"({a})({wt.load('w[tv >= 0 && tv < C ? tv : 0]')})"
    return f"""\
{indent}{a} den = ({a})0;
{indent}for (i64 r = lid; r < M; r += ek_lsize()) {{
{indent}    const i64 tv = t[(r / inner) * t_so + (r % inner) * t_si];
{indent}    if (tv != ign) den += has_w ? {wl} : ({a})1;
{indent}}}"""


def cross_entropy_denominator(x: str, w: str, B: int) -> Kernel:
    """One block: den_out[0] = the 'mean' denominator of cross_entropy (the summed weights of the targets
    that are not ignore_index), for ce_backward on many rows. Parameters: den_out, t, w, M, inner,
    t_so, t_si, C, ign, has_w."""
    wt = ct(w)
    at = ct(acc_dtype(x))
    a = at.comp
    p = Params().buffer("den_out", at.store).buffer("t", "i64", const=True).buffer("w", wt.store, const=True)
    p.longs("M", "inner", "t_so", "t_si", "C", "ign", "has_w")
    body = f"""\
    LOCAL {a} sh0[{B}];
    const i32 lid = ek_lid();
{_den_lines(wt, a)}
{_block_reduce([("sh0", "den", _add)], B)}
    if (lid == 0) den_out[0] = sh0[0];"""
    return make(f"ce_den_{x}_{w}_{B}", p, body, (), at.fp64 or wt.fp64)


def cross_entropy_backward(x: str, w: str, B: int) -> Kernel:
    """gx = d cross_entropy / d x for class-index targets, contiguous in x's shape.

    Per element: p = softmax; g = p * wy - [c == t] * wy (wy = w[t], 1 without weights), with
    label smoothing g * (1 - eps) + (p * sum(w) - w_c) * eps / C; times keep (t is not
    ignore_index), times the scale: grad[r] (mode 0, 'none', grad strided over rows by g_so, g_si),
    grad[0] (mode 1, 'sum'), grad[0] / den (mode 2, 'mean'; den is den_buf[0], or computed by each
    block over all rows when den_inline). A target out of range reads class 0 (never out of
    bounds). Parameters: gx, x, t, w, g, den_buf, M, C, inner, x_so, x_sc, x_si, t_so, t_si,
    g_so, g_si, L, has_w, ign, mode, den_inline, eps.
    """
    xt, wt = ct(x), ct(w)
    at = ct(acc_dtype(x))
    a = at.comp
    sig = _acc_sig(at)
    p = Params().buffer("gx", xt.store).buffer("x", xt.store, const=True).buffer("t", "i64", const=True)
    p.buffer("w", wt.store, const=True).buffer("g", xt.store, const=True).buffer("den_buf", at.store, const=True)
    _walk_params(p, "t_so", "t_si", "g_so", "g_si").longs("has_w", "ign", "mode", "den_inline")
    p.scalar(sig, f"{a} eps")
    wl = lambda e: f"({a})({wt.load(e)})"  # noqa: E731
    body = f"""\
    LOCAL {a} sh0[{B}];
    LOCAL {a} sh1[{B}];
{_ROW_HEAD.replace("$B", str(B))}
    const bool smooth = eps > ({a})0;
    {a} scale = ({a})0;
    if (mode == 2) {{
        if (den_inline) {{
{_den_lines(wt, a, "            ")}
{_block_reduce([("sh0", "den", _add)], B, "            ")}
            den = sh0[0];
            ek_barrier();
            scale = {xt.load("g[0]")} / den;
        }} else {{
            scale = {xt.load("g[0]")} / den_buf[0];
        }}
    }} else if (mode == 1) {{
        scale = {xt.load("g[0]")};
    }}
{_TARGET_ROW_LOOP}
{_max_pass(xt, a)}
        {a} se = ({a})0, sw = ({a})0;
        if (act) for (i64 c = tl; c < C; c += L) {{
            se += exp({xt.load("x[xb + c * x_sc]")} - m);
            if (smooth && has_w) sw += {wl("w[c]")};
        }}
{_lane_reduce([("sh0", "se"), ("sh1", "sw")], _add)}
        if (act) {{
            const {a} lse = log(se);
            const {a} wy = has_w ? {wl("w[safe]")} : ({a})1;
            const {a} S = has_w ? sw : ({a})C;
            const {a} sc = mode == 0 ? {xt.load("g[o * g_so + ii * g_si]")} : scale;
            const {a} kf = keep ? ({a})1 : ({a})0;
            GLOBAL {xt.store}* row = gx + o * C * inner + ii;
            for (i64 c = tl; c < C; c += L) {{
                const {a} pc = exp({xt.load("x[xb + c * x_sc]")} - m - lse);
                {a} gc = has_w ? pc * wy : pc;
                if (c == safe) gc -= wy;
                if (smooth) gc = gc * (({a})1 - eps) + (pc * S - (has_w ? {wl("w[c]")} : ({a})1)) * (eps / ({a})C);
                row[c * inner] = {xt.store_("gc * kf * sc")};
            }}
        }}
    }}"""
    return make(f"ce_bwd_{x}_{w}_{B}", p, body, (), at.fp64 or xt.fp64 or wt.fp64)


def softmax_rows(x: str, out: str, log: bool, B: int) -> Kernel:
    """softmax (log=False) or log_softmax (log=True) of x's rows, stored contiguous in x's shape
    (out[(o * C + c) * inner + i]) as out's dtype; x is cast to out's dtype first (softmax's
    dtype=), then computed in its accumulation dtype. Parameters: out, x, M, C, inner, x_so, x_sc,
    x_si, L."""
    xt, ot = ct(x), ct(out)
    at = ct(acc_dtype(out))
    a = at.comp
    p = Params().buffer("out", ot.store).buffer("x", xt.store, const=True)
    _walk_params(p)

    def load(e):
        v = xt.load(e)
        if x != out:
            v = cast(v, xt, ot)
        return f"({a})({v})"

    res = "(v - m) - lse" if log else "exp(v - m) / se"
    body = f"""\
    LOCAL {a} sh0[{B}];
{_ROW_HEAD.replace("$B", str(B))}
    for (i64 r0 = ek_group() * G; r0 < M; r0 += ek_ngroups() * G) {{
        const i64 r = r0 + lid / L;
        const bool act = r < M;
        i64 o = 0, ii = 0, xb = 0;
        if (act) {{ o = r / inner; ii = r - o * inner; xb = o * x_so + ii * x_si; }}
        {a} mx = -({a})EK_INF;
        if (act) for (i64 c = tl; c < C; c += L) {{ {a} v = {load("x[xb + c * x_sc]")}; mx = {_max("mx", "v")}; }}
{_lane_reduce([("sh0", "mx")], _max)}
        const {a} m = mx;   /* no shift to 0 for an infinite max: such rows are NaN, as PyTorch's */
        {a} se = ({a})0;
        if (act) for (i64 c = tl; c < C; c += L) se += exp({load("x[xb + c * x_sc]")} - m);
{_lane_reduce([("sh0", "se")], _add)}
        if (act) {{
            const {a} lse = log(se);
            GLOBAL {ot.store}* row = out + o * C * inner + ii;
            for (i64 c = tl; c < C; c += L) {{
                const {a} v = {load("x[xb + c * x_sc]")};
                row[c * inner] = {ot.store_(res)};
            }}
        }}
    }}"""
    return make(f"{'log_' if log else ''}softmax_rows_{x}_{out}_{B}", p, body, (),
                at.fp64 or xt.fp64 or ot.fp64)


def sgd_step(dtype: str) -> Kernel:
    """One SGD update of n contiguous parameters in place (PyTorch's rule, as core's sgd_step_):
    g = grad + p * weight_decay; with a momentum buffer b = g (first) or b * momentum + g * (1 -
    dampening), then g = g + b * momentum (nesterov) or b; p -= g * lr. Halves compute in float32.
    Parameters: p, g, b, n, lr, momentum, one_minus_dampening, weight_decay, has_buf, nesterov,
    first, damp (dampening != 0)."""
    t = ct(dtype)
    at = ct(acc_dtype(dtype))
    a = at.comp
    sig = _acc_sig(at)
    p = Params().buffer("p", t.store).buffer("g", t.store, const=True).buffer("b", t.store).longs("n")
    for nm in ("lr", "momentum", "omd", "wd"):
        p.scalar(sig, f"{a} {nm}")
    p.longs("has_buf", "nesterov", "first", "damp")
    body = f"""\
    for (i64 i = ek_gid(); i < n; i += ek_gsize()) {{
        const {a} pv = {t.load("p[i]")};
        {a} gv = {t.load("g[i]")};
        if (wd != ({a})0) gv = gv + pv * wd;
        if (has_buf) {{
            {a} bv;
            if (first) bv = gv;
            else bv = {t.load("b[i]")} * momentum + (damp ? gv * omd : gv);
            b[i] = {t.store_("bv")};
            gv = nesterov ? gv + bv * momentum : bv;
        }}
        p[i] = {t.store_("pv - gv * lr")};
    }}"""
    return make(f"sgd_step_{dtype}", p, body, (), at.fp64 or t.fp64)


def all_nn_kernels(B: int = 256):
    """Every kernel of this module, for the catalog (the block sizes a device may get: B and below)."""
    for x in FLOATS:
        for w in weight_dtypes(x):
            yield cross_entropy_rows(x, w, B)
            yield cross_entropy_backward(x, w, B)
            yield cross_entropy_denominator(x, w, B)
        yield cross_entropy_finish(x, B)
        for out in FLOATS:
            yield softmax_rows(x, out, False, B)
            yield softmax_rows(x, out, True, B)
        yield sgd_step(x)
