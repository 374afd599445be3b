"""A fuzz case as plain, picklable data: the operator's name and its arguments, with every tensor an
``Arr`` (logical values plus the memory layout to present them in) and every dtype a ``DType``.

The same description is turned into Ember tensors and into torch tensors in the worker, so both
libraries see the same values in the same strides."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Layouts an array argument can take: contiguous, a permuted view of a reversed-order buffer, every
#: other element of a larger buffer (non-zero offset, strides > 1), or a stride-0 broadcast along one
#: dimension (overlapping memory: several elements share one address).
LAYOUTS = ("contiguous", "transposed", "stepped", "expanded")


@dataclass
class Arr:
    """A tensor argument: ``values`` (numpy, the logical contents) in ``layout``; for "expanded",
    ``dim`` is the dimension read with stride 0 (``values`` is constant along it)."""

    values: np.ndarray
    layout: str = "contiguous"
    dim: int = 0

    def __repr__(self):
        v = self.values
        body = np.array2string(v, threshold=24, edgeitems=3, separator=",").replace("\n", "")
        extra = f", dim={self.dim}" if self.layout == "expanded" else ""
        return f"Arr({v.dtype.name}{list(v.shape)} {self.layout}{extra}: {body})"


@dataclass(frozen=True)
class DType:
    """A dtype argument by name (``float32``), made into ember.float32 / torch.float32 by each side."""

    name: str


@dataclass
class Case:
    """One call: ``op(*args, **kwargs)``; ``sample`` names the conformance sample it grew from."""

    op: str
    args: tuple
    kwargs: dict = field(default_factory=dict)
    sample: str = ""

    def __repr__(self):
        kw = "".join(f", {k}={v!r}" for k, v in self.kwargs.items())
        return f"{self.op}({', '.join(repr(a) for a in self.args)}{kw})  [sample {self.sample}]"


def tree_map(fn, x):
    """``fn`` applied to every leaf of nested tuples, lists and dict values."""
    if isinstance(x, tuple):
        return tuple(tree_map(fn, a) for a in x)
    if isinstance(x, list):
        return [tree_map(fn, a) for a in x]
    if isinstance(x, dict):
        return {k: tree_map(fn, v) for k, v in x.items()}
    return fn(x)


def leaves(x):
    if isinstance(x, (tuple, list)):
        for a in x:
            yield from leaves(a)
    elif isinstance(x, dict):
        for a in x.values():
            yield from leaves(a)
    else:
        yield x
