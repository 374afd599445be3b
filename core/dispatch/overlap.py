"""Memory overlap of in-place writes: PyTorch's rules, decided once in core for every in-place operator.

A written-to tensor with more than one element on one memory location (an
expanded view: a stride-0 dimension of size > 1) is refused, and so is an
input that partially overlaps it (the same storage, overlapping bytes, another
geometry: ``a[1:].add_(a[:-1])``, ``b.add_(b.t())``), as PyTorch refuses them.
Where PyTorch cannot tell (an input or the output is not a dense layout, such as
``a[2::2].add_(a[:-2:2])``), the input is copied first, so the result is the one
computed from the values before the write, on every backend.

The generated function of an in-place operator tests two cheap things (a 0 in
self's strides; a tensor argument on self's storage) and calls :func:`run` only
when one holds; ``run`` decides, then calls the table entry itself.
"""

from __future__ import annotations

import threading
import warnings

from ..errors import ArgumentTypeError, MemoryOverlapError

__all__ = ["run", "internal_overlap", "overlap_status", "check_partial", "INTERNAL", "NO_OVERLAP"]

#: In-place operators that write into an internally overlapping self anyway (every aliased element gets
#: one value): "allow" silently, "warn" with PyTorch's deprecation warning. Every other one refuses it.
INTERNAL = {"fill_": "allow", "tril_": "allow", "triu_": "allow", "masked_fill_": "warn", "index_put_": "warn"}

#: In-place operators whose named inputs may not overlap self at all, not even as the same view
#: (PyTorch's assert_no_overlap); the other inputs may be self's exact view, but not a part of it.
NO_OVERLAP = {"scatter_": ("index", "src"), "scatter_add_": ("index", "src"), "index_add_": ("index", "source"),
              "index_put_": ("indices", "values")}

NO, FULL, PARTIAL, TOO_HARD = "no", "full", "partial", "too hard"

_INTERNAL_MSG = ("unsupported operation: more than one element of the written-to tensor refers to a single "
                 "memory location. Please clone() the tensor before performing the operation.")
_PARTIAL_MSG = ("unsupported operation: some elements of the input tensor and the written-to tensor refer to a "
                "single memory location. Please clone() the tensor before performing the operation.")


class _Allowed(threading.local):
    depth = 0   # > 0 while an "allow"/"warn" operator writes an overlapping self (its own copy_ may too)


_allowed = _Allowed()
_plans: dict = {}
_clone = None


def internal_overlap(t) -> bool:
    """PyTorch's has_internal_overlap == Yes: a non-empty tensor with a stride-0 dimension of size > 1."""
    hit = False
    for n, s in zip(t._shape, t._strides):
        if n == 0:
            return False
        if s == 0 and n > 1:
            hit = True
    return hit


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _dense(shape, strides) -> bool:
    """PyTorch's is_non_overlapping_and_dense: the elements fill a contiguous block, in some dim order."""
    if len(shape) == 1:
        return shape[0] < 2 or strides[0] == 1
    want = 1
    for d in sorted(range(len(shape)), key=lambda d: (shape[d] < 2, strides[d])):
        if shape[d] < 2:
            return True
        if strides[d] != want:
            return False
        want *= shape[d]
    return True


def _extent(t) -> tuple:
    """[first, last + 1) byte of the storage that t's elements can touch."""
    lo = hi = t._offset
    for n, s in zip(t._shape, t._strides):
        if s > 0:
            hi += (n - 1) * s
        else:
            lo += (n - 1) * s
    size = t._dtype.itemsize
    return lo * size, (hi + 1) * size


def check_partial(out, x) -> None:
    """Refuse an input that partially overlaps the written-to tensor, as the in-place operators do."""
    if overlap_status(out, x) == PARTIAL:
        raise MemoryOverlapError(_PARTIAL_MSG)


def overlap_status(out, x) -> str:
    """How input ``x`` overlaps the written-to ``out``: NO, FULL (the same elements in the same order),
    PARTIAL, or TOO_HARD (the byte ranges meet but a layout is not dense, so nobody can tell cheaply)."""
    if x is out:
        return FULL
    if x._storage is not out._storage or not _numel(x._shape) or not _numel(out._shape):
        return NO
    if (x._offset == out._offset and x._shape == out._shape and x._strides == out._strides
            and x._dtype is out._dtype):
        return FULL
    xb, xe = _extent(x)
    ob, oe = _extent(out)
    if not (xb < oe and ob < xe):
        return NO
    if not (_dense(x._shape, x._strides) and _dense(out._shape, out._strides)):
        return TOO_HARD
    if xb == ob and xe == oe:
        return FULL if x._strides == out._strides else PARTIAL
    return PARTIAL


def _plan(op):
    """(internal policy, ((position, name, is_list, strict), ...)) of one in-place operator, built once."""
    strict = NO_OVERLAP.get(op.name, ())
    inputs = tuple((i, a.name, a.is_list, a.name in strict) for i, a in enumerate(op.schema.arguments)
                   if i and a.is_tensor)
    plan = _plans[op.name] = (INTERNAL.get(op.name, "raise"), inputs)
    return plan


def _geometry(t) -> str:
    return f"shape {tuple(t._shape)}, strides {tuple(t._strides)}, storage offset {t._offset}"


def run(op, entry, args):
    """Check self (args[0]) and the tensor inputs of in-place ``op``, then call ``entry(*args)``."""
    global _clone
    self = args[0]
    if not hasattr(self, "_storage"):
        raise ArgumentTypeError(f"{op.name}() writes into its first argument, which must be a tensor; got "
                                f"{type(self).__name__}: {self!r}")
    policy, inputs = _plans.get(op.name) or _plan(op)
    allow = False
    if policy != "allow" and not _allowed.depth and internal_overlap(self):
        if policy == "raise":
            raise MemoryOverlapError(f"{op.name}(): {_INTERNAL_MSG} The written-to tensor has {_geometry(self)}: "
                                     f"a stride-0 dimension of size > 1, as expand() makes")
        warnings.warn(f"Use of {op.name} on expanded tensors is deprecated. Please clone() the tensor before "
                      f"performing this operation.", UserWarning, stacklevel=3)
        allow = True
    elif policy != "raise" and internal_overlap(self):
        allow = True
    new = None
    for i, name, is_list, strict in inputs:
        arg = args[i]
        items = arg if is_list and isinstance(arg, (list, tuple)) else (arg,)
        for k, x in enumerate(items):
            if not hasattr(x, "_storage") or x._storage is not self._storage:
                continue
            status = overlap_status(self, x)
            if status is PARTIAL or (strict and status is FULL):
                raise MemoryOverlapError(f"{op.name}(): {_PARTIAL_MSG} The input {name} has {_geometry(x)}; the "
                                         f"written-to tensor has {_geometry(self)}")
            if status is TOO_HARD:  # read the input before anything is written
                if _clone is None:
                    from ..ops.creation import clone as _clone
                if new is None:
                    new = list(args)
                if is_list:
                    lst = list(new[i])
                    lst[k] = _clone(x)
                    new[i] = type(arg)(lst) if isinstance(arg, tuple) else lst
                else:
                    new[i] = _clone(x)
    if new is not None:
        args = tuple(new)
    if not allow:
        return entry(*args)
    _allowed.depth += 1
    try:
        return entry(*args)
    finally:
        _allowed.depth -= 1
