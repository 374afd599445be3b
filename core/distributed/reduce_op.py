"""``ReduceOp``: how a reducing collective combines the ranks' values (PyTorch's names)."""

from __future__ import annotations

import enum


class ReduceOp(enum.Enum):
    """The reduction of ``all_reduce``, ``reduce`` and ``reduce_scatter_tensor``.

    ``AVG`` is the sum divided by the group's size (floating and complex dtypes only);
    ``BAND``/``BOR``/``BXOR`` take integer and bool dtypes; ``MIN``/``MAX`` refuse complex.
    """

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    BAND = "band"
    BOR = "bor"
    BXOR = "bxor"

    def __repr__(self):
        return f"<ReduceOp.{self.name}>"

    __str__ = __repr__


#: PyTorch spells the enum's type ``ReduceOp.RedOpType``.
ReduceOp.RedOpType = ReduceOp


class _ReduceOpNamespace:
    """PyTorch's deprecated ``reduce_op`` spelling of ``ReduceOp``."""

    SUM = ReduceOp.SUM
    PRODUCT = ReduceOp.PRODUCT
    MIN = ReduceOp.MIN
    MAX = ReduceOp.MAX


reduce_op = _ReduceOpNamespace()
