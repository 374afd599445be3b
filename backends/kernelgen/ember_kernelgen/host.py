"""The host side, once for every GPU backend: the kernel table built on a Driver.

``build_kernels(driver)`` returns {operator name: kernel} with the contracts
documented in each operator's ``doc=`` (the raw kernels core's adapters wrap,
as backends/cpu/ember_cpu/kernels/*.py implements them on numpy). Each kernel
coalesces dims, picks the contiguous fast path when every operand allows it,
packs sizes/strides/offsets into the argument tuple, and launches; compiled
kernels are cached per (device, description), descriptions per (operator,
dtypes, ndim, layout), so a repeated call renders and compiles nothing. A
driver whose ``bundle`` is true gets each kernel's family (families.py) in one
program, so the variants an operator needs next are compiled with the first.
"""

from __future__ import annotations

import math

from ember import dtypes as D
from ember.errors import DTypeError

from . import families as F
from . import kernels as KD
from . import ops as O
from .kernels import Operand
from .render import render, render_many
from ember.errors import ArgumentTypeError, DivisionByZeroError, UnsupportedError

_SCALARS = (int, float, bool)


def _contig_strides(shape):
    acc, out = 1, []
    for n in reversed(shape):
        out.append(acc)
        acc *= n if n > 1 else 1
    return tuple(reversed(out))


def _numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def coalesce(shape, strides_list):
    """Merge dims that every operand walks as one; drop size-1 dims. Returns (shape, [strides])."""
    sizes: list = []
    sts: list = [[] for _ in strides_list]
    for i, s in enumerate(shape):
        if s == 1:
            continue
        if sizes and all(st[-1] == x[i] * s for st, x in zip(sts, strides_list)):
            sizes[-1] *= s
            for st, x in zip(sts, strides_list):
                st[-1] = x[i]
        else:
            sizes.append(s)
            for st, x in zip(sts, strides_list):
                st.append(x[i])
    return tuple(sizes), [tuple(st) for st in sts]


class Builder:
    """Compiles descriptions on first use and launches them; one per Driver."""

    def __init__(self, driver):
        self.d = driver
        self.dialect = driver.dialect
        self.bundle = bool(getattr(driver, "bundle", False))
        self._compiled: dict = {}   # (device, kernel name) -> handle
        self._descs: dict = {}      # description key -> desc
        self._keys: dict = {}       # kernel name -> description key
        self._broken: set = set()   # families whose bundle did not compile: their kernels compile alone
        self._limits: dict = {}
        self._plans: dict = {}      # elementwise geometry -> launch plan
        self._rplans: dict = {}     # reduction geometry -> launch plan
        self._gemm: dict = {}       # device -> its GEMM kernel and tile (gemm.py)
        self._reduce: dict = {}     # device -> its reduction kernels (reduction.py)

    # -- compile and launch -------------------------------------------------------------
    def limits(self, device):
        lim = self._limits.get(device)
        if lim is None:
            lim = self._limits[device] = self.d.limits(device)
        return lim

    def desc(self, key):
        """The description of ``key`` (see families.py), made once."""
        k = self._descs.get(key)
        if k is None:
            k = self._descs[key] = F.describe(key)
            self._keys[k.name] = key
        return k

    def handle(self, desc, device):
        h = self._compiled.get((device, desc.name))
        if h is None:
            h = self._compile(desc, device)
        return h

    def _compile(self, desc, device):
        fp64 = self.limits(device).fp64
        if desc.fp64 and not fp64:
            raise DTypeError(
                f"float64 is not supported by this device ({device}): it lacks double precision")
        fam = F.family(self._keys[desc.name]) if self.bundle and desc.name in self._keys else ()
        if len(fam) > 1 and fam not in self._broken:
            members = [m for m in map(self.desc, fam)
                       if (fp64 or not m.fp64) and (device, m.name) not in self._compiled]
            try:
                self._program(members, render_many(members, self.dialect), device)
            except RuntimeError:
                # a variant nobody asked for yet does not compile: build what is asked for alone
                self._broken.add(fam)
            else:
                return self._compiled[(device, desc.name)]
        self._program([desc], render(desc, self.dialect), device)
        return self._compiled[(device, desc.name)]

    def _program(self, descs, source, device):
        prog = self.d.compile(source, {d.name: d.signature for d in descs}, (), device)
        for d in descs:
            self._compiled[(device, d.name)] = prog[d.name]

    def block(self, device, want=KD.BLOCK):
        m = self.limits(device).max_block
        return want if want <= m else m

    def launch_1d(self, desc, device, n, args, per_thread=1):
        """Grid-stride launch over n items of per_thread elements each."""
        grid, block = self.grid_1d(device, n, per_thread)
        self.d.launch(self.handle(desc, device), grid, block, args, self.d.stream(device))

    def launch(self, desc, device, grid, block, args):
        self.d.launch(self.handle(desc, device), grid, block, args, self.d.stream(device))

    # -- tensors ------------------------------------------------------------------------
    def buf(self, t):
        return self.d.buffer(t)

    def empty(self, shape, dtype, device):
        return self.d.empty(tuple(shape), dtype, device)

    # -- elementwise ----------------------------------------------------------------------
    def elementwise(self, op, out, comp, operands, shape, device):
        """Launch out = op(operands) over shape; operands are tensors (broadcast to shape) or scalars.

        The plan (modes, coalesced geometry, kernels, launch sizes) is cached per geometry, so a
        repeated call only fetches buffers, checks alignment and launches."""
        key = (op, comp, out._dtype, shape, out._strides, device) + tuple(
            x.__class__ if x.__class__ in _SCALARS else (x._dtype, x._strides) for x in operands)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) > 4096:
                self._plans.clear()
            plan = self._plans[key] = self._plan(op, out, comp, operands, shape, device)
        if plan is _EMPTY:
            return out
        modes, fast, slow, tail_fast, tail_slow, align = plan
        obuf = self.d.buffer(out)
        args = list(obuf)
        aligned = fast is not None and obuf[1] % align[0] == 0
        for x, m, a in zip(operands, modes, align[1:]):
            if m == "s":
                args.append(float(x) if comp.is_floating_point else int(x))
            else:
                bf = self.d.buffer(x)
                args.extend(bf)
                if m == "t" and bf[1] % a:
                    aligned = False
        if aligned:
            h, grid, block = fast
            args.extend(tail_fast)
        else:
            h, grid, block = slow
            args.extend(tail_slow)
        self.d.launch(h, grid, block, tuple(args), self.d.stream(device))
        return out

    def _plan(self, op, out, comp, operands, shape, device):
        n = _numel(shape)
        if n == 0:
            return _EMPTY
        modes = []
        for x in operands:
            if isinstance(x, _SCALARS):
                modes.append("s")
            elif n > 1 and not any(st for st, sz in zip(x._strides, x._shape) if sz != 1):
                modes.append("u")   # one element for all (at n == 1 every operand is one: "t" reads it the same)
            else:
                modes.append("t")
        walk = [out] + [x for x, m in zip(operands, modes) if m == "t"]
        cshape, cstrides = coalesce(shape, [t._strides for t in walk])
        contiguous = len(cshape) <= 1 and all(not st or st[0] == 1 for st in cstrides)
        ops_desc = tuple(Operand(x._dtype.name if not isinstance(x, _SCALARS) else comp.name, m)
                         for x, m in zip(operands, modes))
        # vector loads need 4-element alignment; under VEC elements the fast path makes none
        align = (4 * out._dtype.itemsize,) + tuple(
            4 * x._dtype.itemsize if m == "t" else 1 for x, m in zip(operands, modes))
        if n < KD.VEC:
            align = (1,) * len(align)

        def launchable(operands_desc, ndim, per_thread):
            desc = self.desc(("ew", op, out._dtype.name, comp.name, operands_desc, ndim))
            grid, block = self.grid_1d(device, n, per_thread)
            return self.handle(desc, device), grid, block

        fast = launchable(ops_desc, None, KD.VEC) if contiguous else None
        if not cshape:
            cshape, cstrides = (1,), [(0,) for _ in cstrides]
        # the strided kernel reads a one-element operand as a tensor of stride 0 (its dims coalesce
        # with any), so a broadcast needs no strided kernel of its own
        strides = iter(cstrides[1:])
        walked = [cstrides[0]] + [next(strides) if m == "t" else (0,) * len(cshape) for m in modes if m != "s"]
        slow = launchable(tuple(Operand(o.dtype, "t" if o.mode == "u" else o.mode) for o in ops_desc), len(cshape), 1)
        tail_slow = (n, *cshape) + tuple(v for st in walked for v in st)
        return tuple(modes), fast, slow, (n,), tail_slow, align

    def grid_1d(self, device, n, per_thread=1):
        b = self.block(device)
        blocks = (n + per_thread * b - 1) // (per_thread * b)
        lim = self.limits(device)
        if not lim.one_pass:   # grid-stride over at most compute_units * 64 groups
            blocks = min(blocks, max(1, lim.compute_units) * 64)
        return (max(blocks, 1), 1, 1), (b, 1, 1)


_EMPTY = object()


def _device_of(*xs):
    for x in xs:
        if not isinstance(x, _SCALARS):
            return x._device
    raise ArgumentTypeError("a kernel needs at least one tensor operand")


# -- kernel table -------------------------------------------------------------------------------

def _result_dtype(op, comp):
    return D.bool if op in KD.BOOL_RESULT else comp


def _unary(b, op):
    def kernel(a, out):
        if out is None:
            out = b.empty(a._shape, _result_dtype(op, a._dtype), a._device)
        return b.elementwise(op, out, a._dtype, (a,), a._shape, a._device)
    kernel.__name__ = op
    return kernel


def _comp_of(*xs):
    for x in xs:
        if not isinstance(x, _SCALARS):
            return x._dtype
    raise ArgumentTypeError("a kernel needs at least one tensor operand")


def _binary(b, op):
    int_div = op in O.INT_DIVISION

    def kernel(x, y, out):
        comp = _comp_of(x, y)
        shape = x._shape if not isinstance(x, _SCALARS) else y._shape
        device = _device_of(x, y)
        if int_div and not comp.is_floating_point:
            _check_no_zero(b, y)
        if out is None:
            out = b.empty(shape, _result_dtype(op, comp), device)
        return b.elementwise(op, out, comp, (x, y), shape, device)
    kernel.__name__ = op
    return kernel


def _check_no_zero(b, y):
    """Integer division by zero raises, as on the cpu backend (one small read back)."""
    if isinstance(y, _SCALARS):
        if y == 0:
            raise DivisionByZeroError("integer division by zero")
        return
    if _numel(y._shape) and not bool(b.d.to_host(_reduce(b, "all", y, tuple(range(len(y._shape))), False, D.bool)).item()):
        raise DivisionByZeroError("integer division by zero")


def _where(b):
    def kernel(cond, x, y, out):
        comp = _comp_of(x, y)
        if out is None:
            out = b.empty(cond._shape, comp, cond._device)
        return b.elementwise("where", out, comp, (cond, x, y), cond._shape, cond._device)
    return kernel


def _copy_(b):
    def kernel(dst, src):
        if src._device != dst._device:
            raise UnsupportedError("copy_ between devices is the backend's (a host round trip or a peer copy)")
        return b.elementwise("copy", dst, src._dtype, (src,), dst._shape, dst._device)
    return kernel


def _fill_(b):
    def kernel(x, value):
        v = value.item() if hasattr(value, "item") and not isinstance(value, _SCALARS) else value
        return b.elementwise("fill", x, x._dtype, (_scalar_of(v, x._dtype),), x._shape, x._device)
    return kernel


def _scalar_of(v, dtype):
    if dtype.is_floating_point:
        return float(v)
    if dtype is D.bool:
        return bool(v)
    return int(v)


def _reduce(b, op, x, dims, keepdim, dtype):
    from .host_more import reduce as r
    return r(b, op, x, dims, keepdim, dtype)


def build_kernels(driver, registered_only: bool = True) -> dict:
    """{operator name: kernel} for ``driver`` (see the module docstring).

    registered_only=False also returns kernels for operators this core does not define yet
    (philox_random, kernel(out, seed, offset), before the runtime's operator lands)."""
    from ember.dispatch import registry

    b = Builder(driver)
    table: dict = {}
    for op in O.UNARY:
        table[op] = _unary(b, op)
        table[op + "_"] = table[op]
    for op in O.BINARY:
        table[op] = _binary(b, op)
        table[op + "_"] = table[op]
    table["where"] = _where(b)
    table["copy_"] = _copy_(b)
    table["fill_"] = _fill_(b)
    from . import host_more
    table.update(host_more.kernels(b))
    from . import host_nn
    table.update(host_nn.kernels(b))
    if registered_only:
        table = {k: v for k, v in table.items() if k in registry}
    return table
