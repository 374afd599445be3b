"""Host side of the non-elementwise prims: reductions, scans, indexing, Philox, sort, flip,
arange, nonzero (bmm: gemm.py). Each function is the raw kernel core's adapter calls (see each op's doc=)."""

from __future__ import annotations

from ember import dtypes as D

from . import kernels as KD
from .host import _contig_strides, _numel, coalesce
from ember.errors import IndexOutOfRangeError

_BIG_GRID = 65535


def _pow2_floor(n):
    p = 1
    while p * 2 <= n:
        p *= 2
    return p


def _pow2_ceil(n):
    p = 1
    while p < n:
        p *= 2
    return p


def _split_dims(x, dims):
    """(kept sizes, kept strides, reduced sizes, reduced strides), each coalesced (row-major order kept)."""
    dset = set(dims)
    ks = [i for i in range(len(x._shape)) if i not in dset]
    kshape, (kst,) = coalesce(tuple(x._shape[i] for i in ks), [tuple(x._strides[i] for i in ks)])
    rshape, (rst,) = coalesce(tuple(x._shape[i] for i in dims), [tuple(x._strides[i] for i in dims)])
    return kshape, kst, rshape, rst


def _out_shape(shape, dims, keepdim):
    if keepdim:
        return tuple(1 if i in dims else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in dims)


def reduce(b, op, x, dims, keepdim, dtype, out=None):
    """sum/prod (dtype: the result dtype), amax/amin (x's dtype), all/any (bool).

    The plan (output shape, kernels, launch sizes, packed geometry) is cached per
    (op, dtype, shape, strides, dims, keepdim); a repeated call fetches buffers and launches.
    Which kernels a device runs (GPU-shaped trees or CPU-shaped runs) is reduction.py's choice."""
    key = (op, x._dtype, x._shape, x._strides, dims, keepdim, dtype, x._device)
    plan = b._rplans.get(key)
    if plan is None:
        if len(b._rplans) > 4096:
            b._rplans.clear()
        from .reduction import choice_for
        plan = b._rplans[key] = reduce_plan(b, op, x, dims, keepdim, dtype, choice_for(b, x._device))
    return run_plan(b, plan, x, out)


def run_plan(b, plan, x, out=None):
    """Launch a plan of ``reduce_plan`` on x (into out, a new tensor when None); returns out."""
    shape, odt, kind, steps = plan
    if out is None:
        out = b.empty(shape, odt, x._device)
    if kind == "none":
        return out
    if kind == "fill":
        return b.elementwise("fill", out, odt, (steps,), out._shape, x._device)
    stream = b.d.stream(x._device)
    if kind == "one":
        h, grid, block, tail = steps
        b.d.launch(h, grid, block, (*b.d.buffer(out), *b.d.buffer(x), *tail), stream)
        return out
    if kind == "passes":
        # each launch reads what the one before wrote (x first); the last writes out
        src, parts = b.d.buffer(x), []
        for h, grid, block, tail, part_shape, acc in steps:
            dst = out if part_shape is None else b.empty(part_shape, acc, x._device)
            parts.append(dst)
            dbuf = b.d.buffer(dst)
            b.d.launch(h, grid, block, (*dbuf, *src, *tail), stream)
            src = dbuf
        return out
    (h1, grid1, block, tail1, part_shape, acc), (h2, grid2, tail2) = steps
    part = b.empty(part_shape, acc, x._device)
    pb = b.d.buffer(part)
    b.d.launch(h1, grid1, block, (*pb, *b.d.buffer(x), *tail1), stream)
    b.d.launch(h2, grid2, block, (*b.d.buffer(out), *pb, *tail2), stream)
    return out


def reduce_plan(b, op, x, dims, keepdim, dtype, choice=("tree",)):
    """(output shape, output dtype, kind, launches) of a reduction, for ``choice`` (reduction.py)."""
    device = x._device
    if op in ("amax", "amin"):
        dtype = x._dtype
    elif op in ("all", "any"):
        dtype = D.bool
    shape = _out_shape(x._shape, set(dims), keepdim)
    M, R = _numel(shape), _numel(tuple(x._shape[d] for d in dims))
    if M == 0:
        return shape, dtype, "none", None
    if R == 0:
        return shape, dtype, "fill", {"sum": 0, "prod": 1, "all": True, "any": False}[op]
    kshape, kst, rshape, rst = _split_dims(x, dims)
    if not rshape:
        rshape, rst = (1,), (0,)
    src = x._dtype.name
    conv = dtype.name if op in ("sum", "prod") else ("bool" if op in ("all", "any") else src)
    if choice[0] == "cpu":
        steps = _cpu_plan(b, op, src, conv, dtype, kshape, kst, rshape, rst, choice, device)
        if steps is not None:
            return shape, dtype, "passes", steps
    kd, rd = len(kshape), len(rshape)
    tail = (M, R, *kshape, *kst, *rshape, *rst)
    lim = b.limits(device)
    B = _pow2_floor(min(KD.BLOCK, lim.max_block))

    def handle(out_name, tree, split, s=src, c=conv, k=kd, r=rd):
        desc = b.desc(("red", op, s, c, out_name, k, r, tree, split))
        return b.handle(desc, device)

    if R <= 64 or (M >= 4096 and rst[-1] != 1):
        # one thread per output: few values each, or many outputs whose reads coalesce across threads
        grid, block = b.grid_1d(device, M)
        return shape, dtype, "one", (handle(dtype.name, 0, False), grid, block, tail)
    cu = max(1, lim.compute_units)
    if rd == 1 and rst == (1,) and (kd == 0 or (kd == 1 and kst == (R,))):
        return shape, dtype, *_contig_plan(b, op, src, conv, dtype, M, R, B, cu, device)
    splits = 1
    if M < cu * 4 and R >= B * 64:
        splits = min((R + B * 16 - 1) // (B * 16), max(1, cu * 8 // M), _BIG_GRID)
    grid_x = min(M, _BIG_GRID)
    if splits == 1:
        return shape, dtype, "one", (handle(dtype.name, B, False), (grid_x, 1, 1), (B, 1, 1), tail)
    # two passes: partial results (M, splits) in the accumulation dtype, then their reduction
    acc = D.bool if op in ("all", "any") else getattr(D, KD.acc_dtype(conv))
    first = (handle(acc.name, B, True), (grid_x, splits, 1), (B, 1, 1), tail, (M, splits), acc)
    second = (handle(dtype.name, B, False, acc.name, acc.name, 1, 1), (grid_x, 1, 1),
              (M, splits, M, splits, splits, 1))
    return shape, dtype, "two", (first, second)


def _cpu_plan(b, op, src, conv, dtype, kshape, kst, rshape, rst, choice, device):
    """The launches of a reduction on CPU-shaped kernels (kernels.reduction_cpu), or None where the
    geometry is not theirs (more dims than they walk: the general kernels take it).

    Rows: the reduced elements of each output adjacent (or evenly spaced: "rowss"), each row cut
    into enough runs to fill the device, floats in runs of at most MAX_RUN * U elements (integers
    and booleans are exact in any order); two reduced dims reduce as rows of the inner one, the
    runs of each output then as one row. Columns: one reduced dim above adjacent kept ones, U
    columns a work-item, runs of at most COL_RUN rows. Partial results are in the accumulation
    dtype; each further launch is a row (or column) reduction of the one before's, until one
    result per output remains."""
    from .reduction import COL_RUN, MAX_RUN, MIN_ITEMS
    kd, rd = len(kshape), len(rshape)
    if rd == 1 and kd <= 2 and (rst[0] == 1 or kd == 0 or kst[-1] != 1):
        k = (1,) * (2 - kd) + tuple(kshape)
        ks = (0,) * (2 - kd) + tuple(kst)
        geo = ("rows", k[0], k[1], ks[0], ks[1], rshape[0], rst[0], False)
    elif rd == 1 and kd <= 2:
        geo = ("cols", kshape[0] if kd == 2 else 1, kshape[-1], rshape[0], kst[0] if kd == 2 else 0,
               rst[0])
    elif rd == 2 and kd <= 1:
        # rows of the inner reduced dim, one per (kept, outer reduced) pair; then each output's row of those
        geo = ("rows", kshape[0] if kd else 1, rshape[0], kst[0] if kd else 0, rst[0], rshape[1], rst[1],
               True)
    else:
        return None
    lim = b.limits(device)
    cu = max(1, lim.compute_units)
    want = cu * 4                 # work-items that keep the device busy (a CPU driver counts work-groups)
    cap = cu * 64                 # work-groups at most: more go grid-stride
    U0, L = choice[1], max(1, min(choice[2], lim.max_block))
    acc = D.bool if op in ("all", "any") else getattr(D, KD.acc_dtype(conv))
    exact = not acc.is_floating_point      # integers and booleans: any order gives the same result

    def cut(n, items, per, run):
        """(runs, run length): n in runs of at most ``run`` (None: any), more while there are fewer
        than ``want`` work-items and each keeps MIN_ITEMS elements (``per`` a unit of length)."""
        s = 1 if run is None else max(-(-n // run), 1)
        if items < want:
            s = max(s, min(-(-want // items), n * per // MIN_ITEMS))
        chunk = -(-n // s)
        return -(-n // chunk), chunk

    steps = []
    s_src, s_conv = src, conv
    while True:
        if geo[0] == "rows":
            _, m1, m2, s1, s2, n, sr, extra = geo
            kind = "rows" if sr == 1 else "rowss"
            U = KD.cpu_width(op, s_conv, kind, U0)
            S, chunk = cut(n, m1 * m2, 1, None if exact else MAX_RUN * U)
            if S > 1:
                chunk = -(-chunk // U) * U         # whole unrolled steps in every run but the last
                S = -(-n // chunk)
            items = size = m1 * m2 * S
            done = S == 1 and not extra
            tail = (m1, m2, s1, s2, n, sr, S, chunk)
            nxt_rows, nxt_len = (m1, m2 * S) if extra else (m1 * m2, S)
            nxt = ("rows", 1, nxt_rows, 0, nxt_len, nxt_len, 1, False)
        else:
            _, o, i, n, so, sr = geo
            kind = "cols"
            U = KD.cpu_width(op, s_conv, kind, U0)
            nb = -(-i // U)
            # runs of at most COL_RUN rows: the lines a work-group walks stay in cache between its work-items
            S, chunk = cut(n, o * nb, min(i, U), COL_RUN)
            items, size = o * nb * S, S * o * i
            done = S == 1
            tail = (o, i, n, so, sr, S, chunk)
            nxt = ("cols", o, i, S, i, o * i)       # the partials are (S, O, I)
        odt = dtype if done else acc
        desc = b.desc(("redcpu", op, s_src, s_conv, odt.name, kind, U))
        grid = (max(1, min(-(-items // L), cap)), 1, 1)
        steps.append((b.handle(desc, device), grid, (L, 1, 1), tail, None if done else (size,), odt))
        if done:
            return tuple(steps)
        geo, s_src, s_conv = nxt, acc.name, acc.name


def _contig_plan(b, op, src, conv, dtype, M, R, B, cu, device):
    """A contiguous x reduced over its contiguous trailing extent R (M rows; M = 1 is the full
    reduction): vector loads, about compute_units * 4 blocks in all, each writing one partial;
    a second pass of one block per row reduces the partials (none when the rows alone fill the device)."""
    want = cu * 4
    splits = 1
    if M < want:
        splits = max(1, min(want // M, (R + B * 16 - 1) // (B * 16), _BIG_GRID))
    grid_x = min(M, _BIG_GRID)

    def handle(out_name, s=src, c=conv, lanes=0):
        desc = b.desc(("redc", op, s, c, out_name, B, lanes))
        return b.handle(desc, device)

    if splits == 1:
        # short rows: tree / L rows a block, L threads a row, about four vectors a thread
        size = getattr(D, src).itemsize
        W = 16 // size if size < 4 else 4
        L = min(B, max(4, _pow2_ceil((R + 4 * W - 1) // (4 * W))))
        if L < B:
            G = B // L
            return "one", (handle(dtype.name, lanes=L), (min((M + G - 1) // G, _BIG_GRID), 1, 1), (B, 1, 1), (M, R))
        return "one", (handle(dtype.name), (grid_x, 1, 1), (B, 1, 1), (M, R))
    acc = D.bool if op in ("all", "any") else getattr(D, KD.acc_dtype(conv))
    first = (handle(acc.name), (grid_x, splits, 1), (B, 1, 1), (M, R), (M, splits), acc)
    second = (handle(dtype.name, acc.name, acc.name), (grid_x, 1, 1), (M, splits))
    return "two", (first, second)


def _reduction_kernel(b, op):
    from . import reduction as RD
    if op in ("sum", "prod"):
        def kernel(x, dims, keepdim, dtype):
            return reduce(b, op, x, tuple(dims), keepdim, dtype)
    else:
        def kernel(x, dims, keepdim):
            return reduce(b, op, x, tuple(dims), keepdim, None)
    kernel.__name__ = op
    # which kernels a device runs (reduction.py), shared by every reduction of the table
    kernel.choice = lambda device: RD.choice_for(b, device)
    kernel.choose = lambda device, choice: RD.choose(b, device, choice)
    return kernel


def _arg_kernel(b, op):
    def kernel(x, dim, keepdim):
        device = x._device
        dims = tuple(range(len(x._shape))) if dim is None else (dim,)
        shape = _out_shape(x._shape, set(dims), keepdim)
        out = b.empty(shape, D.int64, device)
        M, R = _numel(shape), _numel(tuple(x._shape[d] for d in dims))
        if M == 0:
            return out
        kshape, kst, rshape, rst = _split_dims(x, dims)
        if not rshape:
            rshape, rst = (1,), (0,)
        B = _pow2_floor(min(KD.BLOCK, b.limits(device).max_block))
        tree = 0 if (R <= 64 or (M >= 4096 and rst[-1] != 1)) else B
        desc = b.desc(("arg", op, x._dtype.name, len(kshape), len(rshape), tree))
        args = (*b.buf(out), *b.buf(x), M, R, *kshape, *kst, *rshape, *rst)
        if tree:
            b.launch(desc, device, (min(M, _BIG_GRID), 1, 1), (B, 1, 1), args)
        else:
            b.launch_1d(desc, device, M, args)
        return out
    kernel.__name__ = op
    return kernel


def _lines(x_shape, dim, *strides):
    """Sizes and strides of the dims other than dim (coalesced), for each strides tuple."""
    ks = [i for i in range(len(x_shape)) if i != dim]
    kshape, sts = coalesce(tuple(x_shape[i] for i in ks), [tuple(s[i] for i in ks) for s in strides])
    return kshape, sts


def _scan_kernel(b, op):
    def kernel(x, dim, dtype):
        device = x._device
        out = b.empty(x._shape, dtype, device)
        n = _numel(x._shape)
        if n == 0:
            return out
        L = x._shape[dim]
        M = n // L
        kshape, (xst, ost) = _lines(x._shape, dim, x._strides, out._strides)
        args = (*b.buf(out), *b.buf(x), M, L, x._strides[dim], out._strides[dim], *kshape, *xst, *ost)
        if L > 256 and M < 8192:
            # long lines, few of them: one block per line
            B = _pow2_floor(min(KD.BLOCK, b.limits(device).max_block))
            desc = b.desc(("scanb", op, x._dtype.name, dtype.name, len(kshape), B))
            b.launch(desc, device, (min(M, _BIG_GRID), 1, 1), (B, 1, 1), args)
            return out
        desc = b.desc(("scan", op, x._dtype.name, dtype.name, len(kshape)))
        b.launch_1d(desc, device, M, args)
        return out
    kernel.__name__ = op
    return kernel


# -- indexing ------------------------------------------------------------------------------------

def _check_range(b, index, dim, size):
    """IndexError (before any launch that uses them) for an index outside [0, size)."""
    n = _numel(index._shape)
    probe = getattr(b.d, "capturing", None)
    if n == 0 or (probe is not None and probe()):   # no host read while a graph is captured
        return
    alld = tuple(range(len(index._shape)))
    bounds = b.empty((2,), index._dtype, index._device)    # both reductions, then one readback (one sync)
    reduce(b, "amin", index, alld, False, None, bounds._view((), (), bounds._offset))
    reduce(b, "amax", index, alld, False, None, bounds._view((), (), bounds._offset + 1))
    lo, hi = (int(v) for v in b.d.to_host(bounds))
    if lo < 0 or hi >= size:
        bad = lo if lo < 0 else hi
        raise IndexOutOfRangeError(f"index {bad} is out of bounds for dimension {dim} with size {size}")


def _indexed(b, kind, x, other, index, dim):
    """gather (other = out), scatter/scatter_add (other = src) over index's shape."""
    device = x._device
    n = _numel(index._shape)
    if n == 0:
        return
    nd = len(index._shape)
    xst = tuple(0 if d == dim else s for d, s in enumerate(x._strides))
    desc = b.desc(("idx", kind, x._dtype.name, nd))
    args = (*b.buf(x), *b.buf(other), *b.buf(index), n, *index._shape, *xst, *other._strides,
            *index._strides, x._strides[dim])
    b.launch_1d(desc, device, n, args)


def _gather(b):
    def gather(x, dim, index):
        _check_range(b, index, dim, x._shape[dim])
        out = b.empty(index._shape, x._dtype, x._device)
        _indexed(b, "gather", x, out, index, dim)
        return out
    return gather


def _scatter(b, kind):
    def scatter(self, dim, index, src):
        _check_range(b, index, dim, self._shape[dim])
        _indexed(b, kind, self, src, index, dim)
        return self
    scatter.__name__ = kind + "_"
    return scatter


def _along(index, dim, shape):
    """A 1-d index seen as index's values along dim, expanded to shape (a view)."""
    st = [0] * len(shape)
    st[dim] = index._strides[0] if index._shape else 0
    return index._view(tuple(shape), tuple(st))


def _index_select(b):
    def index_select(x, dim, index):
        _check_range(b, index, dim, x._shape[dim])
        shape = x._shape[:dim] + (index._shape[0],) + x._shape[dim + 1:]
        out = b.empty(shape, x._dtype, x._device)
        _indexed(b, "gather", x, out, _along(index, dim, shape), dim)
        return out
    return index_select


def _index_add_(b):
    def index_add_(self, dim, index, source):
        _check_range(b, index, dim, self._shape[dim])
        _indexed(b, "scatter_add", self, source, _along(index, dim, source._shape), dim)
        return self
    return index_add_


# -- philox, sort, flip, arange, nonzero ------------------------------------------------------------

def _philox(b):
    def philox_random(out, seed, offset):
        """Fill the contiguous int64 tensor out with Philox words (the runtime's kernel contract)."""
        n = _numel(out._shape)
        if n == 0:
            return out
        desc = b.desc(("philox",))
        seed &= (1 << 64) - 1
        offset &= (1 << 128) - 1
        words = [(offset >> (32 * i)) & 0xFFFFFFFF for i in range(4)]
        b.launch_1d(desc, out._device, (n + 3) // 4,
                    (*b.buf(out), n, seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF, *words))
        return out
    return philox_random


def _sort(b):
    def sort(x, dim, descending, stable=True):
        device = x._device
        vals = b.empty(x._shape, x._dtype, device)
        idx = b.empty(x._shape, D.int64, device)
        n = _numel(x._shape)
        if n == 0:
            return vals, idx
        L = x._shape[dim]
        M = n // L
        kshape, (xst, vst, ist) = _lines(x._shape, dim, x._strides, vals._strides, idx._strides)
        kd = len(kshape)
        lim = b.limits(device)
        P = 1
        while P < L:
            P *= 2
        t = x._dtype
        keybytes = 8 if t.itemsize == 8 else 4
        common = (M, L, x._strides[dim], vals._strides[dim], idx._strides[dim], *kshape, *xst, *vst, *ist)
        if P <= 2048 and P * (keybytes + 4) <= lim.local_mem:
            B = _pow2_floor(min(KD.BLOCK, lim.max_block, max(P // 2, 1)))
            desc = b.desc(("sort", t.name, bool(descending), P, B, kd))
            b.launch(desc, device, (min(M, _BIG_GRID), 1, 1), (B, 1, 1),
                     (*b.buf(vals), *b.buf(idx), *b.buf(x), *common))
        else:
            tmp = b.empty((M, 2 * L), D.int64, device)
            desc = b.desc(("sortm", t.name, bool(descending), kd))
            b.launch_1d(desc, device, M, (*b.buf(vals), *b.buf(idx), *b.buf(x), *b.buf(tmp), *common))
        return vals, idx
    return sort


def _flip(b):
    def flip(x, dims):
        out = b.empty(x._shape, x._dtype, x._device)
        off = x._offset
        st = list(x._strides)
        for d in dims:
            off += (x._shape[d] - 1) * st[d]
            st[d] = -st[d]
        view = x._view(x._shape, tuple(st), off)
        return b.elementwise("copy", out, x._dtype, (view,), x._shape, x._device)
    return flip


def _arange(b):
    def arange(start, step, n, dtype, device):
        out = b.empty((n,), dtype, device)
        if n == 0:
            return out
        if dtype.is_floating_point:
            wide = "float64" if b.limits(device).fp64 else "float32"
            start, step = float(start), float(step)
        else:
            wide = "int64"
            start, step = int(start), int(step)
        desc = b.desc(("arange", dtype.name, wide))
        b.launch_1d(desc, device, n, (*b.buf(out), n, start, step))
        return out
    return arange


def _nonzero(b):
    def nonzero(x):
        device = x._device
        nd = len(x._shape)
        n = _numel(x._shape)
        if n == 0:
            return b.empty((0, nd), D.int64, device)
        flat = x if nd else x._view((1,), (0,))
        flags = b.empty(flat._shape, D.bool, device)
        b.elementwise("ne", flags, x._dtype, (flat, 0), flat._shape, device)
        lin = flags._view((n,), (1,))
        cs = _scan_kernel(b, "cumsum")(lin, 0, D.int64)
        count = int(b.d.to_host(cs._view((), (), n - 1)))
        out = b.empty((count, nd), D.int64, device)
        if count and nd:
            desc = b.desc(("nonzero", x._dtype.name, nd))
            b.launch_1d(desc, device, n, (*b.buf(out), *b.buf(x), *b.buf(cs), n, *x._shape, *x._strides))
        return out
    return nonzero


def kernels(b) -> dict:
    t = {op: _reduction_kernel(b, op) for op in ("sum", "prod", "amax", "amin", "all", "any")}
    t.update({op: _arg_kernel(b, op) for op in ("argmax", "argmin")})
    t.update({op: _scan_kernel(b, op) for op in ("cumsum", "cumprod")})
    t["gather"] = _gather(b)
    t["scatter_"] = _scatter(b, "scatter")
    t["scatter_add_"] = _scatter(b, "scatter_add")
    t["index_select"] = _index_select(b)
    t["index_add_"] = _index_add_(b)
    from .gemm import bmm
    t["bmm"] = bmm(b)
    t["philox_random"] = _philox(b)
    t["sort"] = _sort(b)
    t["flip"] = _flip(b)
    t["arange"] = _arange(b)
    t["nonzero"] = _nonzero(b)
    return t
