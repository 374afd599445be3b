"""Grids and index sets: meshgrid, cartesian_prod, tril_indices and triu_indices.

Python functions over existing operators (meshgrid returns expanded views, as
PyTorch's does). The triangle indices come from ``nonzero`` of a triangular
mask, which reads their count back to the host once.
"""

from __future__ import annotations

from .. import dtypes as D
from ..errors import DTypeError, ShapeError
from . import creation as C
from . import shape as S
from . import views as V
from ..errors import InvalidArgumentError

def meshgrid(*tensors, indexing=None):
    """Coordinate grids (expanded views) from 1-d tensors; ``indexing='ij'`` (default) or ``'xy'``."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    indexing = "ij" if indexing is None else indexing
    if indexing not in ("ij", "xy"):
        raise InvalidArgumentError(f"meshgrid(): indexing must be 'ij' or 'xy', got {indexing!r}")
    for i, t in enumerate(tensors):
        if t._dtype is not tensors[0]._dtype:
            raise DTypeError(f"meshgrid(): expects all tensors to have one dtype, got {tensors[0]._dtype.name} "
                             f"and {t._dtype.name}")
        if t.ndim > 1:
            raise ShapeError(f"meshgrid(): expects 0-d or 1-d tensors, but tensor {i} has shape {tuple(t._shape)}")
    flat = [V.reshape(t, (-1,)) for t in tensors]
    n = len(flat)
    pos = list(range(n))
    if indexing == "xy" and n >= 2:
        pos[0], pos[1] = 1, 0
    shape = [0] * n
    for p, t in zip(pos, flat):
        shape[p] = t._shape[0]
    out = []
    for p, t in zip(pos, flat):
        view = [1] * n
        view[p] = t._shape[0]
        out.append(V.expand(V.reshape(t, tuple(view)), tuple(shape)))
    return tuple(out)


def cartesian_prod(*tensors):
    """The Cartesian product of 1-d tensors, one row per combination (itertools.product order)."""
    if len(tensors) == 1:
        return tensors[0]
    return S.stack([V.reshape(g, (-1,)) for g in meshgrid(*tensors, indexing="ij")], 1)


def _tri_indices(name, keep, row, col, offset, dtype, device):
    mask = keep(C.full((row, col), True, dtype=D.bool, device=device), offset)
    from .indexing import nonzero
    return V.transpose(nonzero(mask), 0, 1).to(dtype or D.int64).contiguous()


def tril_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """The (2, n) coordinates of a row x col matrix's lower triangle (on and below the offset diagonal)."""
    return _tri_indices("tril_indices", S.tril, row, col, offset, dtype, device)


def triu_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """The (2, n) coordinates of a row x col matrix's upper triangle (on and above the offset diagonal)."""
    return _tri_indices("triu_indices", S.triu, row, col, offset, dtype, device)


FUNCTIONS = {"meshgrid": meshgrid, "cartesian_prod": cartesian_prod, "tril_indices": tril_indices,
             "triu_indices": triu_indices}
