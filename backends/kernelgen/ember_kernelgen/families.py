"""Which kernels compile together: description keys, the maker of each, and each key's family.

The host side names every kernel it needs by a *key*, a tuple (kind, *arguments) where
``MAKERS[kind](*arguments)`` is the description (kernels.py). ``family(key)`` lists the keys
compiled in one program with it: the variants one operator and dtype combination is likely to
need next (other operand modes, ranks, passes). A runtime that pays mostly per program (pocl:
about 0.2 s to build a program, 2.5 ms more per kernel in it) then builds each family once
instead of each variant. Families partition the keys: every member of ``family(k)`` has the
same family, in the same order, so the bundle's source, and its cache entry, do not depend on
which member was asked for first. A key outside the enumerated ranks is a family of its own.
"""

from __future__ import annotations

from itertools import product

from . import kernels as KD
from . import kernels_nn as KN
from .kernels import Operand
from .ops import BINARY

MAKERS = {
    "ew": KD.elementwise,
    "red": KD.reduction,
    "redc": KD.reduction_contig,
    "redcpu": KD.reduction_cpu,
    "arg": KD.arg_reduction,
    "scan": KD.scan,
    "scanb": KD.scan_block,
    "idx": KD.indexed,
    "bmm": KD.bmm,
    "bmm_rb": KD.bmm_rb,
    "gemm_pack": KD.gemm_pack,
    "philox": KD.philox,
    "sort": KD.sort_local,
    "sortm": KD.sort_merge,
    "arange": KD.arange,
    "nonzero": KD.nonzero_write,
    # fused nn kernels (kernels_nn.py)
    "ce_rows": KN.cross_entropy_rows,
    "ce_finish": KN.cross_entropy_finish,
    "ce_den": KN.cross_entropy_denominator,
    "ce_bwd": KN.cross_entropy_backward,
    "softmax": lambda x, out, B: KN.softmax_rows(x, out, False, B),
    "log_softmax": lambda x, out, B: KN.softmax_rows(x, out, True, B),
    "sgd_step": KN.sgd_step,
}

_EW_NDIMS = (None, 1, 2, 3)     # None: the contiguous fast path; ints: the strided kernel's coalesced dims
_RANKS = (0, 1, 2)              # kept dims (reductions, scans, sorts) enumerated in a family
_RDIMS = (1, 2, 3)              # reduced dims
_IDX_NDIMS = (1, 2, 3, 4)


def describe(key):
    """The kernel description of ``key``."""
    return MAKERS[key[0]](*key[1:])


def family(key) -> tuple:
    """The keys compiled in one program with ``key`` (``key`` among them)."""
    fn = _FAMILIES.get(key[0])
    members = fn(*key[1:]) if fn is not None else ()
    return members if key in members else (key,)


def _ew(op, out, comp, operands, ndim):
    if op == "fill":
        choices = [("s",)]
    else:
        # a Python number takes the computation dtype, so only an operand of that dtype has an "s" form
        choices = [("t", "u", "s") if o.dtype == comp and (op in BINARY or (op == "where" and i)) else ("t", "u")
                   for i, o in enumerate(operands)]
    keys = []
    for modes in product(*choices):
        if op != "fill" and set(modes) == {"s"}:
            continue
        ops = tuple(Operand(o.dtype, m) for o, m in zip(operands, modes))
        # the host runs one-element operands ("u") through the strided kernel as stride-0 tensors
        keys.extend(("ew", op, out, comp, ops, nd) for nd in _EW_NDIMS if nd is None or "u" not in modes)
    return tuple(keys)


def _red(op, src, conv, out, kdims, rdims, tree, split):
    return tuple(("red", op, src, conv, out, k, r, tree, split) for k in _RANKS for r in _RDIMS)


def _redc(op, src, conv, out, tree, lanes):
    lanes_all = [0] + [1 << i for i in range(2, tree.bit_length() - 1)]   # 4 .. tree / 2
    return tuple(("redc", op, src, conv, out, tree, n) for n in lanes_all)


def _redcpu(op, src, conv, out, kind, width):
    """Each kind at each width a device's choice leads the host to (kernels.cpu_width)."""
    return tuple(("redcpu", op, src, conv, out, k, w) for k in KD.CPU_KINDS
                 for w in dict.fromkeys(KD.cpu_width(op, conv, k, u) for u in KD.CPU_TUNED))


def _arg(op, src, kdims, rdims, tree):
    return tuple(("arg", o, src, k, r, tree) for o in ("argmax", "argmin") for k in _RANKS for r in _RDIMS)


def _scan(op, src, out, kdims):
    return tuple(("scan", o, src, out, k) for o in ("cumsum", "cumprod") for k in _RANKS + (3,))


def _scanb(op, src, out, kdims, block):
    return tuple(("scanb", o, src, out, k, block) for o in ("cumsum", "cumprod") for k in _RANKS + (3,))


def _idx(kind, dtype, ndim):
    return tuple(("idx", k, dtype, n) for k in ("gather", "scatter", "scatter_add") for n in _IDX_NDIMS)


def _sort(dtype, descending, P, B, kdims):
    return tuple(("sort", dtype, d, P, B, k) for d in (False, True) for k in _RANKS)


def _sortm(dtype, descending, kdims):
    return tuple(("sortm", dtype, d, k) for d in (False, True) for k in _RANKS)


def _nonzero(dtype, ndim):
    return tuple(("nonzero", dtype, n) for n in _IDX_NDIMS)


def _gemm(dtype, *tile):
    """bmm_rb's candidate tiles for dtype and their gemm_pack kernels: what tuning compiles."""
    from .gemm import family_keys
    return family_keys(dtype)


def _ce(x, w, B):
    """cross_entropy's row kernel with its backward pair (ce_finish, keyed without w, stays alone)."""
    return (("ce_rows", x, w, B), ("ce_den", x, w, B), ("ce_bwd", x, w, B))


def _softmax(x, out, B):
    return (("softmax", x, out, B), ("log_softmax", x, out, B))


_FAMILIES = {"ce_rows": _ce, "ce_den": _ce, "ce_bwd": _ce, "softmax": _softmax, "log_softmax": _softmax,
             "ew": _ew, "red": _red, "redc": _redc, "redcpu": _redcpu, "arg": _arg, "scan": _scan,
             "scanb": _scanb,
             "idx": _idx, "sort": _sort, "sortm": _sortm, "nonzero": _nonzero,
             "bmm_rb": _gemm, "gemm_pack": _gemm}
