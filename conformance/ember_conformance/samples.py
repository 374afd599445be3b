"""Sample inputs for every operator, as plain numpy data.

``sample_inputs(op_name, dtype, *, rng)`` returns a list of ``Sample``: the
positional and keyword arguments of one call, with every tensor argument a
numpy array of ``dtype`` (index tensors are int64, masks bool). The caller
moves arrays to a device (``Sample.to_device``), optionally in a
non-contiguous layout (``Sample.layouts`` names those that apply).

Every operator in ``ember.dispatch.registry`` must have a generator here;
``missing_generators()`` names those that do not, and the suite fails on them
so that a new operator cannot go untested.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Sample", "sample_inputs", "GENERATORS", "missing_generators", "LAYOUTS", "dtype_of"]

#: Layouts a tensor argument can be given in: transposed and stepped are non-contiguous views.
LAYOUTS = ("contiguous", "transposed", "stepped")


def dtype_of(dtype):
    """An ember dtype from an ember dtype or its name."""
    import ember
    return ember.dtypes.dtype_from_name(dtype) if isinstance(dtype, str) else dtype


@dataclass
class Sample:
    """One call of an operator: ``op(*args, **kwargs)`` with numpy arrays for tensors."""

    name: str
    args: tuple
    kwargs: dict = field(default_factory=dict)
    #: The exception type core raises for this input (a bad-input sample), or None.
    error: type | None = None
    #: Tags: "special" (NaN/inf), "large" (large magnitudes), "empty", "scalar", "broadcast".
    tags: tuple = ()
    #: Takes a ``device=`` keyword (creation operators); the caller supplies it.
    device_arg: bool = False
    #: Layouts this sample can be given in; None means "derived from the argument shapes".
    only_layouts: tuple | None = None
    #: For a bad-input sample: a regular expression its message must contain (re.search), or None.
    match: str | None = None

    def __post_init__(self):
        # numpy scalars (from indexing a 0-d array) become 0-d arrays: every tensor is an ndarray
        fix = lambda a: np.asarray(a) if isinstance(a, np.generic) else a  # noqa: E731
        self.args = _map(fix, tuple(self.args))
        self.kwargs = {k: _map(fix, v) for k, v in self.kwargs.items()}

    @property
    def layouts(self) -> tuple:
        """The layouts that apply: non-contiguous ones only where a tensor argument has 2+ dims."""
        if self.only_layouts is not None:
            return self.only_layouts
        if any(isinstance(a, np.ndarray) and a.ndim >= 2 for a in _flat(self.args)):
            return LAYOUTS
        return ("contiguous",)

    def to_device(self, device, layout: str = "contiguous"):
        """(args, kwargs) with every array an ember tensor on ``device`` in ``layout``."""
        from .layout import place
        conv = lambda a: place(a, device, layout)[0] if isinstance(a, np.ndarray) else a  # noqa: E731
        return _map(conv, self.args), {k: _map(conv, v) for k, v in self.kwargs.items()}


def _flat(x):
    for a in x:
        if isinstance(a, (list, tuple)):
            yield from _flat(a)
        else:
            yield a


def _map(fn, x):
    if isinstance(x, tuple):
        return tuple(_map(fn, a) for a in x)
    if isinstance(x, list):
        return [_map(fn, a) for a in x]
    return fn(x)


# -- values ------------------------------------------------------------------------

def arr(rng, shape, dt, low=-3.0, high=3.0):
    """Random values of ember dtype ``dt``: small integers, or uniform floats in [low, high)."""
    npdt = np.dtype(dt.np)
    if dt.name == "bool":
        return np.asarray(rng.random(shape) < 0.5)
    if npdt.kind == "c":  # both parts uniform in [low, high)
        return (rng.uniform(low, high, size=shape) + 1j * rng.uniform(low, high, size=shape)).astype(npdt)
    if npdt.kind in "iu":
        lo = max(int(np.floor(low)), int(np.iinfo(npdt).min))
        hi = min(int(np.ceil(high)) + 1, int(np.iinfo(npdt).max))
        if npdt.kind == "u" and lo < 0:  # unsigned: shift the range up
            lo, hi = 0, hi - lo
        return np.asarray(rng.integers(lo, max(hi, lo + 1), size=shape)).astype(npdt)
    return np.asarray(rng.uniform(low, high, size=shape)).astype(npdt)


def special(dt, shape=(3, 4)):
    """NaN, infinities, signed zeros and ordinary values of a floating dtype."""
    vals = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, np.nan, 2.0]
    n = int(np.prod(shape))
    return np.resize(np.array(vals, dtype=np.float64), n).reshape(shape).astype(dt.np)


def large(rng, dt, shape=(3, 4), scale=0.25):
    """Values near the top of a floating dtype's range (a quarter of its max by default)."""
    top = finfo_max(dt) * scale
    return (rng.uniform(0.5, 1.0, size=shape) * top * rng.choice([-1.0, 1.0], size=shape)).astype(dt.np)


def finfo_max(dt) -> float:
    import ml_dtypes
    return float(ml_dtypes.finfo(dt.np).max)


def is_float(dt) -> bool:
    return dt.is_floating_point


def is_int(dt) -> bool:
    return dt.category == 1


GENERATORS: dict = {}


def gen(*names):
    def deco(fn):
        for n in names:
            GENERATORS[n] = fn
        return fn
    return deco


def sample_inputs(op_name: str, dtype, *, rng) -> list[Sample]:
    """The sample inputs of ``op_name`` at ``dtype`` (an ember dtype or its name)."""
    from . import opsamples  # noqa: F401  (fills GENERATORS)
    try:
        fn = GENERATORS[op_name]
    except KeyError:
        raise KeyError(f"ember-conformance has no sample generator for operator {op_name!r}; add one in "
                       f"ember_conformance/opsamples.py (with its numpy reference in references.py)") from None
    return fn(op_name, dtype_of(dtype), rng)


def missing_generators() -> list[str]:
    """Operators in the registry with no sample generator (each is a failing case)."""
    from ember.dispatch import registry

    from . import opsamples  # noqa: F401
    return sorted(n for n in registry if n not in GENERATORS)
