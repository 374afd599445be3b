"""ember.testing.assert_close: torch.testing.assert_close's checks, default tolerances and messages.

Inputs may be tensors (or numpy arrays), Python numbers, and sequences or mappings of them, compared
item by item. Tensors must agree in shape, and (unless told otherwise) device and dtype; their values are
close when |actual - expected| <= atol + rtol * |expected| elementwise, computed on the host in the
tensors' common dtype so the reported differences are PyTorch's to the last digit.
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Mapping, Sequence

import numpy as np

from .. import dtypes as D
from .._tensor import Tensor
from ..errors import InvalidArgumentError

__all__ = ["assert_close"]

#: dtype -> (rtol, atol), PyTorch's defaults; any other dtype compares exactly.
_DEFAULT_TOLERANCES = {D.float16: (1e-3, 1e-5), D.bfloat16: (1.6e-2, 1e-5), D.float32: (1.3e-6, 1e-5),
                       D.float64: (1e-7, 1e-7), D.complex64: (1.3e-6, 1e-5), D.complex128: (1e-7, 1e-7)}


class _Failure(Exception):
    def __init__(self, exc_type, msg):
        super().__init__(msg)
        self.exc_type, self.msg = exc_type, msg


def _tolerances(*dtypes, rtol, atol):
    if (rtol is None) ^ (atol is None):
        raise InvalidArgumentError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got no "
                                   f"{'rtol' if rtol is None else 'atol'}.")
    if rtol is not None:
        return rtol, atol
    pairs = [_DEFAULT_TOLERANCES.get(d, (0.0, 0.0)) for d in dtypes]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def _mismatch_msg(*, default_identifier, identifier, extra, abs_diff, abs_diff_idx, atol, rel_diff, rel_diff_idx,
                  rtol):
    equality = rtol == 0 and atol == 0

    def diff_msg(kind, diff, idx, tol):
        if idx is None:
            msg = f"{kind.title()} difference: {diff}"
        else:
            msg = f"Greatest {kind} difference: {diff} at index {idx}"
        if not equality:
            msg += f" (up to {tol} allowed)"
        return msg + "\n"

    if identifier is None:
        identifier = default_identifier
    elif callable(identifier):
        identifier = identifier(default_identifier)
    msg = f"{identifier} are not {'equal' if equality else 'close'}!\n\n"
    if extra:
        msg += f"{extra.strip()}\n"
    msg += diff_msg("absolute", abs_diff, abs_diff_idx, atol)
    msg += diff_msg("relative", rel_diff, rel_diff_idx, rtol)
    return msg.strip()


def _scalar_msg(actual, expected, *, rtol, atol):
    abs_diff = abs(actual - expected)
    rel_diff = float("inf") if expected == 0 else abs_diff / abs(expected)
    return _mismatch_msg(default_identifier="Scalars", identifier=None, extra=f"Expected {expected} but got {actual}.",
                         abs_diff=abs_diff, abs_diff_idx=None, atol=atol, rel_diff=rel_diff, rel_diff_idx=None,
                         rtol=rtol)


def _host(t):
    """The tensor's values as a numpy array (bfloat16 and float16 widened to float32, as their arithmetic is)."""
    if t.dtype in (D.bfloat16, D.float16):
        t = t.to(D.float32)
    return np.asarray(t.detach().to("cpu").numpy())


def _isclose(a, e, rtol, atol, equal_nan):
    with np.errstate(invalid="ignore", over="ignore"):
        if a.dtype.kind not in "fc":
            return a == e
        close = a == e
        finite = np.isfinite(a) & np.isfinite(e)
        tol = np.abs(e) * a.real.dtype.type(rtol) + a.real.dtype.type(atol)
        close |= finite & (np.abs(a - e) <= tol)
        if equal_nan:
            close |= np.isnan(a) & np.isnan(e)
        return close


def _unravel(flat, shape):
    if not shape:
        return ()
    return tuple(int(i) for i in np.unravel_index(flat, shape))


def _tensor_msg(a, e, matches, *, rtol, atol):
    n = matches.size
    total = n - int(matches.sum())
    extra = f"Mismatched elements: {total} / {n} ({total / n:.1%})"
    af, ef, mf = a.reshape(-1), e.reshape(-1), matches.reshape(-1)
    if af.dtype.kind not in "fc":
        af, ef = af.astype(np.int64), ef.astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        abs_diff = np.abs(af - ef)
        abs_diff[mf] = 0
        rel_diff = abs_diff / np.abs(ef)
    rel_diff[mf] = 0
    ia, ir = _argmax_nan(abs_diff), _argmax_nan(rel_diff)
    return _mismatch_msg(default_identifier="Tensor-likes", identifier=None, extra=extra,
                         abs_diff=abs_diff[ia].item(), abs_diff_idx=_unravel(ia, a.shape), atol=atol,
                         rel_diff=rel_diff[ir].item(), rel_diff_idx=_unravel(ir, a.shape), rtol=rtol)


def _argmax_nan(x):
    """argmax where NaN is the largest, as torch.max reduces."""
    nan = np.isnan(x)
    return int(np.argmax(nan)) if nan.any() else int(np.argmax(x))


def _attr_msg(name, a, e):
    return f"The values for attribute '{name}' do not match: {a} != {e}."


def _compare_tensors(actual, expected, *, rtol, atol, equal_nan, check_device, check_dtype, check_stride,
                     allow_subclasses):
    if not allow_subclasses and type(actual) is not type(expected):
        raise _Failure(TypeError, f"Except for Python scalars, input types need to be equal, but got "
                                  f"{type(actual)} and {type(expected)} instead.")
    import ember
    actual = actual if isinstance(actual, Tensor) else ember.as_tensor(actual)
    expected = expected if isinstance(expected, Tensor) else ember.as_tensor(expected)
    if actual.shape != expected.shape:
        raise _Failure(AssertionError, _attr_msg("shape", actual.shape, expected.shape))
    if check_device and actual.device != expected.device:
        raise _Failure(AssertionError, _attr_msg("device", actual.device, expected.device))
    if check_dtype and actual.dtype != expected.dtype:
        raise _Failure(AssertionError, _attr_msg("dtype", actual.dtype, expected.dtype))
    if check_stride and actual.stride() != expected.stride():
        raise _Failure(AssertionError, _attr_msg("stride()", actual.stride(), expected.stride()))
    rtol, atol = _tolerances(actual.dtype, expected.dtype, rtol=rtol, atol=atol)
    if actual.dtype != expected.dtype:
        common = D.promote_types(actual.dtype, expected.dtype)
        actual, expected = actual.to(common), expected.to(common)
    a, e = _host(actual), _host(expected)
    matches = _isclose(a, e, rtol, atol, equal_nan)
    if matches.all():
        return
    if a.shape == ():
        raise _Failure(AssertionError, _scalar_msg(a.item(), e.item(), rtol=rtol, atol=atol))
    raise _Failure(AssertionError, _tensor_msg(a, e, matches, rtol=rtol, atol=atol))


def _number_dtype(x):
    if isinstance(x, bool):
        return D.bool
    if isinstance(x, int):
        return D.int64
    if isinstance(x, float):
        return D.float64
    return D.complex128


def _compare_numbers(actual, expected, *, rtol, atol, equal_nan, check_dtype):
    if isinstance(actual, bool) and isinstance(expected, bool):
        if actual is not expected:
            raise _Failure(AssertionError, f"Booleans mismatch: {actual} is not {expected}")
        return
    if check_dtype and type(actual) is not type(expected):
        raise _Failure(AssertionError, f"The (d)types do not match: {type(actual)} != {type(expected)}.")
    rtol, atol = _tolerances(_number_dtype(actual), _number_dtype(expected), rtol=rtol, atol=atol)
    if actual == expected:
        return
    isnan = cmath.isnan if isinstance(actual, complex) or isinstance(expected, complex) else math.isnan
    if equal_nan and isnan(actual) and isnan(expected):
        return
    if (math.isfinite(abs(actual)) and math.isfinite(abs(expected))
            and abs(actual - expected) <= atol + rtol * abs(expected)):
        return
    raise _Failure(AssertionError, _scalar_msg(actual, expected, rtol=rtol, atol=atol))


def _is_tensor_like(x):
    return isinstance(x, (Tensor, np.ndarray))


def _is_number(x):
    return isinstance(x, (bool, int, float, complex)) or isinstance(x, np.number)


def _compare(actual, expected, path, **options):
    if _is_tensor_like(actual) and _is_tensor_like(expected):
        return _compare_tensors(actual, expected, **options)
    if _is_number(actual) and _is_number(expected):
        a = actual.item() if isinstance(actual, np.number) else actual
        e = expected.item() if isinstance(expected, np.number) else expected
        return _compare_numbers(a, e, rtol=options["rtol"], atol=options["atol"], equal_nan=options["equal_nan"],
                                check_dtype=options["check_dtype"])
    seq = (Sequence,)
    if isinstance(actual, seq) and isinstance(expected, seq) and not isinstance(actual, str) \
            and not isinstance(expected, str):
        if len(actual) != len(expected):
            raise _Failure(AssertionError, f"The length of the sequences mismatch: {len(actual)} != {len(expected)}")
        for i, (a, e) in enumerate(zip(actual, expected)):
            _at(a, e, path + [i], **options)
        return
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        ak, ek = set(actual.keys()), set(expected.keys())
        if ak != ek:
            missing, extra = ek - ak, ak - ek
            msg = "The keys of the mappings do not match:\n"
            if missing:
                msg += f"Missing keys in the actual mapping: {sorted(missing)}\n"
            if extra:
                msg += f"Extra keys in the actual mapping: {sorted(extra)}\n"
            raise _Failure(AssertionError, msg.strip())
        for k in expected:
            _at(actual[k], expected[k], path + [k], **options)
        return
    raise _Failure(TypeError, f"No comparison pair was able to handle inputs of type {type(actual)} and "
                              f"{type(expected)}.")


def _at(actual, expected, path, **options):
    try:
        _compare(actual, expected, path, **options)
    except _Failure as f:
        if getattr(f, "located", False) or not path:
            raise
        loc = "".join(f"[{k!r}]" for k in path)
        located = _Failure(f.exc_type, f"{f.msg}\n\nThe failure occurred for item {loc}")
        located.located = True
        raise located from None


def assert_close(actual, expected, *, allow_subclasses=True, rtol=None, atol=None, equal_nan=False, check_device=True,
                 check_dtype=True, check_layout=True, check_stride=False, msg=None):
    """Raise AssertionError unless ``actual`` and ``expected`` are close (PyTorch's torch.testing.assert_close):
    default ``rtol``/``atol`` by dtype (float32: 1.3e-6/1e-5, float64: 1e-7/1e-7, integers and bool: exact).
    ``msg`` replaces the message (a callable gets the generated one and returns the new one)."""
    if (rtol is None) ^ (atol is None):
        _tolerances(rtol=rtol, atol=atol)
    try:
        _at(actual, expected, [], rtol=rtol, atol=atol, equal_nan=equal_nan, check_device=check_device,
            check_dtype=check_dtype, check_stride=check_stride, allow_subclasses=allow_subclasses)
    except _Failure as f:
        text = f.msg
        if f.exc_type is AssertionError and msg is not None:
            text = msg(text) if callable(msg) else msg
        raise f.exc_type(text) from None
