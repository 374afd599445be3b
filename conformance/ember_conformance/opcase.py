"""Running one operator sample on the backend under test and judging the result.

The judgement uses only: core's meta functions (the specification of result
shapes, dtypes and errors), the numpy references (the values), and the
runtime's host copies (to read results). No other Ember backend takes part.
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from .compare import compare, same_bits
from .layout import place
from .references import REFERENCES


#: View operators that copy when the input's strides cannot express the result (as in PyTorch).
COPY_WHEN_NEEDED = {"reshape", "flatten"}


class CaseFailure(Exception):
    """A case failed; carries the numbers for the certificate."""

    def __init__(self, message, max_error=None, first_index=None):
        super().__init__(message)
        self.max_error = max_error
        self.first_index = first_index
        self.outputs = None   # the outputs read back, when the failure is about them (for --compare)


class CaseSkip(Exception):
    pass


#: Result dtypes of operators whose meta function cannot know them (data-dependent shapes).
UNKNOWN_META_DTYPE = {"nonzero": "int64", "argwhere": "int64"}


def widen(x):
    """A sample argument as the references take it: float64 / int64 / bool arrays."""
    if isinstance(x, np.ndarray):
        if x.dtype == np.bool_:
            return x
        if x.dtype.kind in "iu":
            return x.astype(np.int64)
        return x.astype(np.complex128 if x.dtype.kind == "c" else np.float64)
    if isinstance(x, list):
        return [widen(a) for a in x]
    if isinstance(x, tuple):
        return tuple(widen(a) for a in x)
    return x


def _build(sample, device, layout, record):
    """Sample args as tensors on ``device``; ``record`` collects (tensor, base, base_np, view_of)."""
    def conv(a):
        if isinstance(a, np.ndarray):
            t, base, view_of = place(a, device, layout)
            record.append((t, base, view_of))
            return t
        if isinstance(a, list):
            return [conv(x) for x in a]
        if isinstance(a, tuple):
            return tuple(conv(x) for x in a)
        return a
    args = conv(sample.args)
    kwargs = {k: conv(v) for k, v in sample.kwargs.items()}
    if sample.device_arg:
        kwargs["device"] = device
    return args, kwargs


def _outputs(x):
    return list(x) if isinstance(x, (tuple, list)) else [x]


def _describe(e: BaseException) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {msg[:300]}"


def run_meta(op, sample, layout):
    """(outputs, error) of the operator on the meta device."""
    args, kwargs = _build(sample, "meta", layout, [])
    try:
        return op.fn(*args, **kwargs), None
    except Exception as e:  # noqa: BLE001
        return None, e


def run_op_sample(ctx, op, dt, sample, layout):
    """Run one sample; return the outputs read back to numpy (for --compare), raise CaseFailure/CaseSkip."""
    from ember import NotImplementedForBackend

    device = ctx.device
    _need_declared_dtypes(ctx, sample)
    meta_out, meta_err = run_meta(op, sample, layout)
    _need_declared_result(ctx, meta_out)
    unknown = isinstance(meta_err, NotImplementedForBackend)
    if meta_err is None and op.name.endswith("_") and not op.is_view:
        meta_err = _inplace_cast_error(op, sample, layout)
    if sample.error is not None and (meta_err is None or unknown):
        # A bad input core's meta function cannot see (it depends on values): the sample says what to expect.
        args, kwargs = _build(sample, device, layout, [])
        try:
            with ctx.watch:
                op.fn(*args, **kwargs)
        except sample.error as e:
            _check_message(sample, e)
            return []
        except Exception as e:  # noqa: BLE001
            raise CaseFailure(f"bad input: expected {sample.error.__name__}, got {_describe(e)}") from None
        raise CaseFailure(f"bad input: expected {sample.error.__name__}, but the call returned")
    record: list = []
    args, kwargs = _build(sample, device, layout, record)
    before = [(base, view_of, base._to_numpy_copy()) for _, base, view_of in record]
    if meta_err is not None and not unknown:
        try:
            with ctx.watch:
                op.fn(*args, **kwargs)
        except type(meta_err):
            return []
        except Exception as e:  # noqa: BLE001
            raise CaseFailure(f"core specifies {_describe(meta_err)}; the backend raised {_describe(e)}") from None
        raise CaseFailure(f"core specifies {_describe(meta_err)}; the backend returned a result")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with ctx.watch:
                out = op.fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001
            raise CaseFailure(_describe(e)) from None
        events = list(ctx.watch.events)
        with np.errstate(all="ignore"):
            want = REFERENCES[op.name](*widen(sample.args), **widen(sample.kwargs))

    _check_strict(ctx, op, events)
    outs = _outputs(out)
    wants = None if want is None else _outputs(want)
    specs = None if unknown else _outputs(meta_out)
    if specs is not None and len(outs) != len(specs):
        raise CaseFailure(f"returned {len(outs)} outputs, core specifies {len(specs)}")
    inplace = op.name.endswith("_") and not op.is_view
    if inplace and out is not args[0]:
        raise CaseFailure("an in-place operator must return its first argument (self), it returned another object")

    # Inputs: untouched, except an in-place operator's self, which must hold the result in its
    # own elements and nowhere else in its storage.
    for j, (base, view_of, orig) in enumerate(before):
        now = base._to_numpy_copy()
        if inplace and j == 0:
            mask = np.zeros(orig.shape, bool)
            view_of(mask)[...] = True
            if not same_bits(now[~mask], orig[~mask]):
                bad = np.argwhere((~mask) & ~_eq(now, orig))[0].tolist()
                raise CaseFailure(f"in-place write outside self's elements: storage element {bad} changed "
                                  f"from {orig[tuple(bad)]!r} to {now[tuple(bad)]!r}", None, bad)
            continue
        if not same_bits(now, orig):
            bad = np.argwhere(~_eq(now, orig))[0].tolist()
            raise CaseFailure(f"input {j} was modified (element {bad} of its storage changed from "
                              f"{orig[tuple(bad)]!r} to {now[tuple(bad)]!r})", None, bad)
    try:
        return _judge_outputs(ctx, op, dt, sample, layout, args, outs, wants, specs, unknown)
    except CaseFailure as e:
        e.outputs = _read_back(outs)
        raise


def _need_declared_dtypes(ctx, sample):
    """A sample that asks for a result dtype (``dtype=``) the backend does not declare cannot run there."""
    dt = sample.kwargs.get("dtype")
    names = {d.name for d in ctx.dtypes}
    if names and getattr(dt, "name", None) is not None and dt.name not in names:
        raise CaseSkip(f"the sample asks for dtype={dt.name}, which is not among the backend's declared dtypes")


def _need_declared_result(ctx, meta_out):
    """A result of a dtype the backend does not declare (real input, complex result: rfft, polar) cannot be
    made there."""
    names = {d.name for d in ctx.dtypes}
    outs = meta_out if isinstance(meta_out, (tuple, list)) else (meta_out,)
    for o in outs:
        name = getattr(getattr(o, "dtype", None), "name", None)
        if names and name is not None and name not in names:
            raise CaseSkip(f"the result is {name}, which is not among the backend's declared dtypes")


def _check_message(sample, e):
    """A bad-input sample may also fix the words of the error (``Sample.match``, a regular expression)."""
    if sample.match is not None and not re.search(sample.match, str(e)):
        raise CaseFailure(f"bad input: {type(e).__name__} as expected, but its message {str(e)[:200]!r} does "
                          f"not match {sample.match!r}") from None


def _read_back(outs) -> list:
    """The outputs as numpy arrays, None where one cannot be read (not a tensor, a broken copy)."""
    import ember
    got = []
    for t in outs:
        try:
            got.append(t._to_numpy_copy() if isinstance(t, ember.Tensor) else None)
        except Exception:  # noqa: BLE001  (the case fails anyway; this is for --compare only)
            got.append(None)
    return got


def _judge_outputs(ctx, op, dt, sample, layout, args, outs, wants, specs, unknown):
    """Each output's type, device, dtype, shape, values and aliasing; the outputs read back."""
    import ember
    got_all = []
    for i, t in enumerate(outs):
        label = f"output {i}: " if len(outs) > 1 else ""
        if not isinstance(t, ember.Tensor):
            raise CaseFailure(f"{label}returned {type(t).__name__}, expected a Tensor")
        if t.device.type != ctx.device_type:
            raise CaseFailure(f"{label}result is on device {t.device}, not {ctx.device_type}: a fallback to "
                              f"another device (strict mode)")
        if specs is not None:
            spec = specs[i]
            if t.dtype is not spec.dtype:
                raise CaseFailure(f"{label}dtype {t.dtype.name}, core specifies {spec.dtype.name}")
            if tuple(t.shape) != tuple(spec.shape):
                raise CaseFailure(f"{label}shape {tuple(t.shape)}, core specifies {tuple(spec.shape)}")
            exp_dt = spec.dtype
        else:
            name = UNKNOWN_META_DTYPE.get(op.name)
            exp_dt = ember.dtypes.dtype_from_name(name) if name else _input_dtype(sample, dt)
            if t.dtype is not exp_dt:
                raise CaseFailure(f"{label}dtype {t.dtype.name}, expected {exp_dt.name}")
        got = t._to_numpy_copy()
        got_all.append(got)
        if wants is not None and wants[i] is not None:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                w = np.asarray(wants[i])
                if w.dtype == np.bool_ and exp_dt.name != "bool":
                    w = w.astype(np.int64)
                w = w.astype(exp_dt.np)
            m = compare(got, w, exp_dt, op.name)
            if m is not None:
                raise CaseFailure(f"{label}{m.message}", m.max_error, m.first_index)
        if op.is_view and t._storage is not args[0]._storage and not (
                op.name in COPY_WHEN_NEEDED and not args[0].is_contiguous()):
            raise CaseFailure(f"{label}a view must share its input's storage; this result has its own memory")
        if op.is_view and layout == "contiguous" and t._storage is args[0]._storage:
            _check_aliasing(op, sample, args[0], t, i, label)
    return got_all


def _check_aliasing(op, sample, x, view, i, label):
    """A view's elements must be the storage elements the reference view picks: run the reference on
    the storage positions of x and compare with the view's own (offset, strides) geometry."""
    pos = np.arange(x._offset, x._offset + int(np.prod(x._shape, dtype=np.int64)), dtype=np.int64)
    want = REFERENCES[op.name](pos.reshape(x._shape), *widen(sample.args[1:]), **widen(sample.kwargs))
    want = np.asarray(_outputs(want)[i])
    got = np.full(tuple(view._shape), view._offset, dtype=np.int64)
    for d, (n, st) in enumerate(zip(view._shape, view._strides)):
        shape = [1] * len(view._shape)
        shape[d] = n
        got = got + (np.arange(n, dtype=np.int64) * st).reshape(shape)
    if got.shape == want.shape and not np.array_equal(got, want):
        bad = np.argwhere(got != want)[0].tolist()
        raise CaseFailure(f"{label}the view aliases the wrong elements: element {bad} is storage element "
                          f"{got[tuple(bad)]}, expected {want[tuple(bad)]}", None, bad)


def _inplace_cast_error(op, sample, layout):
    """PyTorch's in-place rule, which core applies in the adapter: a result dtype that self cannot
    hold (float into an integer, a number into bool) is a DTypeError."""
    from ember.errors import DTypeError
    args, kwargs = _build(sample, "meta", layout, [])
    try:
        spec = op.meta(*args, **kwargs)
    except Exception:  # noqa: BLE001
        return None
    spec = spec[0] if isinstance(spec, tuple) else spec
    self_dt = getattr(args[0], "dtype", None) if args else None
    dt = getattr(spec, "dtype", None)
    if self_dt is not None and dt is not None and dt.category > self_dt.category:
        return DTypeError(f"{op.name}(): result type {dt.name} can't be cast to the desired output type "
                          f"{self_dt.name}")
    return None


def _eq(a, b):
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return (a64 == b64) | (np.isnan(a64) & np.isnan(b64))


def _input_dtype(sample, dt):
    for a in sample.args:
        if isinstance(a, np.ndarray):
            from ember import dtypes as D
            return D.from_numpy_dtype(a.dtype)
    return dt


def _check_strict(ctx, op, events):
    if not ctx.strict or not events:
        return
    own = f"{ctx.device_type} runtime.to_numpy()"
    foreign = [e for e in events if e != own]
    if foreign:
        raise CaseFailure(f"strict mode: the call used {', '.join(dict.fromkeys(foreign))} (a fallback to another "
                          f"device)")
    if op.implementation(ctx.device_type) == "kernel":
        raise CaseFailure(f"strict mode: the {ctx.device_type} kernel of {op.name} copied data to the host "
                          f"({own})")
