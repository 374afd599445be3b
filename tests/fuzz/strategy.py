"""Hypothesis strategies for fuzz cases: for an operator, a call drawn from its conformance samples
(ember_conformance.samples: arguments that fit its schema, at a drawn dtype), then bent: new shapes
for the elementwise families (0-d and empty included), NaN/inf/-0.0/extreme values written into the
arrays, non-contiguous, offset and stride-0 (overlapping) layouts, Python numbers in place of tensor
operands, and integer or float arguments pushed out of range."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import reject
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .case import Arr, Case, DType, tree_map

#: Families (and operators) whose tensor arguments only need to broadcast together: they get
#: freshly drawn shapes.
ELEMENTWISE_FAMILIES = {"unary", "unary_inplace", "binary", "binary_inplace", "ternary", "special"}
ELEMENTWISE_OPS = {"deg2rad", "rad2deg", "sinc", "fmax", "fmin", "gcd", "lcm", "heaviside", "xlogy",
                   "float_power", "logit", "relu", "silu", "gelu", "nan_to_num", "isclose", "lerp"}
#: Python numbers put in place of a binary operator's tensor operand.
PY_SCALARS = (0, -1, 3, 2 ** 40, -(2 ** 63), 2 ** 64, 1.5, -0.0, math.nan, math.inf, 1e300, True, False)
#: Integer arguments pushed out of range, and float ones.
BAD_INTS = (-1, 0, -7, 7, 2 ** 31, -(2 ** 63), 2 ** 63 - 1, 2 ** 64)
BAD_FLOATS = (math.nan, math.inf, -math.inf, -0.0, 1e308, -1e308, 5e-324)
#: Arguments that size the result: pushed only to small or negative values, never to ones that
#: would allocate gigabytes in both libraries.
SIZE_ARGS = {"size", "shape", "steps", "n", "m", "repeats", "num_samples", "bins", "minlength", "num_classes",
             "output_size", "pad", "padding", "rows", "start", "end", "step", "length", "sizes", "low", "high",
             "kernel_size", "dilation", "stride", "normalized_shape", "last_dim_size", "num_groups", "p"}
SMALL_BAD_INTS = (-1, -5, 0, 9)
#: Operators whose arguments are not bent (they build results from their numbers alone).
NO_SCALAR_BENDING_FAMILIES = {"creation", "random"}


def dtypes_for(op) -> tuple:
    import ember
    return tuple(d.name for d in ember.dtypes.all_dtypes + (
        ember.dtypes.complex_dtypes if "complex" in op.tags else ()))


def to_case(op_name, sample) -> Case:
    """A conformance sample as a fuzz case: arrays become contiguous ``Arr``, dtypes ``DType``."""
    import ember

    def conv(a):
        if isinstance(a, np.ndarray):
            return Arr(np.array(a, copy=True))
        if isinstance(a, ember.dtypes.DType):
            return DType(a.name)
        return a
    kwargs = tree_map(conv, dict(sample.kwargs))
    if sample.device_arg:
        kwargs["device"] = "<device>"
    return Case(op_name, tree_map(conv, tuple(sample.args)), kwargs, sample.name)


def _arrs(x):
    if isinstance(x, Arr):
        yield x
    elif isinstance(x, (tuple, list)):
        for a in x:
            yield from _arrs(a)
    elif isinstance(x, dict):
        for a in x.values():
            yield from _arrs(a)


def _extremes(npdt):
    import ml_dtypes
    if npdt.kind == "b":
        return (True, False)
    if npdt.kind in "iu":
        i = np.iinfo(npdt)
        return (int(i.min), int(i.max), 0, -1 if npdt.kind == "i" else 1)
    fi = ml_dtypes.finfo(npdt) if npdt.name == "bfloat16" else np.finfo(
        np.float32 if npdt.kind == "c" and npdt.itemsize == 8 else (np.float64 if npdt.kind == "c" else npdt))
    top, tiny = float(fi.max), float(fi.tiny)
    return (math.nan, math.inf, -math.inf, -0.0, top, -top, top / 2, tiny, -tiny)


@st.composite
def _bend_values(draw, a: Arr):
    """``a`` with a few elements replaced by NaN, infinities, -0.0, extremes of its dtype."""
    v = a.values
    if v.size == 0:
        return
    vals = _extremes(v.dtype)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, v.size - 1))
        with np.errstate(all="ignore"):
            v.reshape(-1)[i] = draw(st.sampled_from(vals))


@st.composite
def _layout(draw, a: Arr):
    v = a.values
    if v.ndim == 0:
        return
    choices = ["contiguous", "stepped"] + (["transposed"] if v.ndim >= 2 else [])
    wide = [d for d, n in enumerate(v.shape) if n > 1]
    if wide:
        choices.append("expanded")
    a.layout = draw(st.sampled_from(choices))
    if a.layout == "expanded":
        a.dim = draw(st.sampled_from(wide))
        a.values = np.ascontiguousarray(np.repeat(np.take(v, [0], axis=a.dim), v.shape[a.dim], axis=a.dim))


@st.composite
def _reshape(draw, case: Case, inplace: bool):
    """New shapes for an elementwise call: a drawn result shape; every operand broadcasts to it (an
    in-place self has it exactly). Values keep their domain: the old values, repeated."""
    out = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))
    arrs = list(_arrs((case.args, case.kwargs)))
    for k, a in enumerate(arrs):
        shape = list(out)
        if not (inplace and k == 0):
            drop = draw(st.integers(0, len(shape)))
            shape = [1 if draw(st.booleans()) else n for n in shape[drop:]]
        flat = a.values.reshape(-1)
        if flat.size == 0:
            flat = np.zeros(1, a.values.dtype)
        a.values = np.resize(flat, tuple(shape)).astype(a.values.dtype)


def _bend_scalar(draw, value, name):
    small = name in SIZE_ARGS
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return draw(st.sampled_from(SMALL_BAD_INTS if small else BAD_INTS))
    if isinstance(value, float):
        return draw(st.sampled_from(SMALL_BAD_INTS if small else BAD_FLOATS))
    if isinstance(value, (list, tuple)) and value and all(isinstance(x, int) and not isinstance(x, bool)
                                                           for x in value):
        i = draw(st.integers(0, len(value) - 1))
        new = list(value)
        new[i] = draw(st.sampled_from(SMALL_BAD_INTS if small else BAD_INTS[:5]))
        return type(value)(new)
    return value


@st.composite
def cases(draw, op) -> Case:
    """One fuzz case for Ember operator ``op`` (an ember.dispatch Operator)."""
    from ember_conformance.samples import sample_inputs
    dt = draw(st.sampled_from(dtypes_for(op)))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    samples = sample_inputs(op.name, dt, rng=np.random.default_rng(seed))
    if not samples:
        reject()  # no sample of this operator at this dtype
    case = to_case(op.name, draw(st.sampled_from(samples)))
    elementwise = op.family in ELEMENTWISE_FAMILIES or op.name in ELEMENTWISE_OPS
    inplace = op.name.endswith("_")
    if elementwise and draw(st.booleans()):
        draw(_reshape(case, inplace))
    for a in _arrs((case.args, case.kwargs)):
        if a.values.dtype.kind in "fciu" and draw(st.integers(0, 3)) == 0:
            draw(_bend_values(a))
        draw(_layout(a))
    args = list(case.args)
    if op.family in ("binary", "binary_inplace") and len(args) == 2 and isinstance(args[1], Arr) \
            and draw(st.integers(0, 5)) == 0:
        args[1] = draw(st.sampled_from(PY_SCALARS))
    if op.family not in NO_SCALAR_BENDING_FAMILIES and draw(st.integers(0, 5)) == 0:
        names = [a.name for a in op.schema.arguments]
        slots = [("a", i) for i, x in enumerate(args) if not isinstance(x, (Arr, str, type(None)))]
        slots += [("k", k) for k, x in case.kwargs.items() if not isinstance(x, (Arr, str, DType, type(None)))]
        if slots:
            where, key = draw(st.sampled_from(slots))
            if where == "a":
                args[key] = _bend_scalar(draw, args[key], names[key] if key < len(names) else "")
            else:
                case.kwargs[key] = _bend_scalar(draw, case.kwargs[key], key)
    case.args = tuple(args)
    return case
