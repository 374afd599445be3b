"""Storage over immutable arrays, shared by Ember's xla (JAX) and mps (MLX) backends.

A storage is a :class:`Cell` holding one flat array. Arrays cannot change, so an in-place
write computes a new flat array and puts it in the cell; views share the cell and read through
it, so every view sees the write. A tensor's *geometry key* (:func:`geom`) says which elements
of the flat array it covers, and :func:`view_plan` says how an array library reads or writes
them: one contiguous block reshaped, transposed and broadcast, or a gather by computed indices.
Nothing here imports an array library; each backend applies the plan with its own operators.
"""

from __future__ import annotations

import functools

__version__ = "0.1.0"
__all__ = ["Cell", "shape_info", "geom", "is_whole", "needs_read", "view_plan"]


class Cell:
    """A tensor's storage: ``a`` is a flat array of ``n`` elements of ``dtype`` on device index
    ``dev`` (or None before the first write, or a backend's placeholder for pending work)."""

    __slots__ = ("a", "n", "dtype", "dev", "pins", "__weakref__")
    device_type = "?"   # subclasses name theirs

    def __init__(self, a, n, dtype, dev):
        self.a = a
        self.n = n
        self.dtype = dtype
        self.dev = dev
        self.pins = None   # arrays exported through DLPack, kept alive as long as the cell

    def __repr__(self):
        return f"<{self.device_type} storage: {self.n} x {self.dtype.name} on {self.device_type}:{self.dev}>"


#: shape -> (contiguous strides, numel); read directly on hot paths (``_geo.get(s) or shape_info(s)``).
_geo: dict = {}


def shape_info(shape):
    """(contiguous strides, element count) of ``shape``, computed once per shape."""
    r = _geo.get(shape)
    if r is None:
        acc, out = 1, []
        for n in reversed(shape):
            out.append(acc)
            acc *= n if n > 1 else 1
        n = 1
        for s in shape:
            n *= s
        r = _geo[shape] = (tuple(reversed(out)), n)
    return r


def geom(t):
    """The geometry key of a tensor: its shape when it is its whole storage, else
    ``("v", shape, strides, offset)``. Cached on the tensor's ``_h`` slot."""
    g = t._h
    if g is None:
        shape = t._shape
        strides, n = _geo.get(shape) or shape_info(shape)
        if t._offset == 0 and n == t._storage.n and t._strides == strides:
            g = shape
        else:
            g = ("v", shape, t._strides, t._offset)
        t._h = g
    return g


def is_whole(g) -> bool:
    """Whether geometry key ``g`` covers its whole storage, contiguously."""
    return not g or g[0] != "v"


def needs_read(g) -> bool:
    """Whether writing the view ``g`` needs the old contents of its storage."""
    return bool(g) and g[0] == "v"


@functools.lru_cache(maxsize=4096)
def view_plan(shape, strides, off):
    """How to address the view (shape, strides, offset) of a flat array.

    ``("empty",)``: no elements. ``("dense", sizes, perm, mid, span, broadcast)``: the view is
    the block ``[off, off + span)`` reshaped to ``sizes`` (its dimensions by decreasing stride),
    transposed by ``perm``, reshaped to ``mid`` (size-1 and stride-0 dimensions as 1) and, when
    ``broadcast``, broadcast to ``shape``. ``("gather",)``: anything else (overlapping or
    gapped strides), addressed by the indices ``off + sum(i_d * stride_d)``.
    """
    if 0 in shape:
        return ("empty",)
    keep = [d for d in range(len(shape)) if shape[d] != 1 and strides[d] != 0]
    order = sorted(keep, key=lambda d: -strides[d])
    expect = 1
    for d in reversed(order):
        if strides[d] != expect:
            return ("gather",)
        expect *= shape[d]
    broadcast = any(strides[d] == 0 and shape[d] != 1 for d in range(len(shape)))
    perm = tuple(order.index(d) for d in keep)
    mid = tuple(shape[d] if d in keep else 1 for d in range(len(shape)))
    return ("dense", tuple(shape[d] for d in order), perm, mid, expect, broadcast)
