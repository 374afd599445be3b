"""``custom_fwd`` / ``custom_bwd``: autocast for the forward and backward of an ``ember.autograd.Function``,
as ``torch.amp.custom_fwd`` / ``custom_bwd``.

``custom_fwd`` records whether the forward ran in an autocast region (and its dtype) on ``ctx``;
``custom_bwd`` runs backward in the same state. With ``cast_inputs=dtype``, a forward called in a region
runs with autocast off on its floating inputs cast to ``dtype``.
"""

from __future__ import annotations

import functools

from .._tensor import Tensor
from .. import dtypes as D
from ..errors import InvalidArgumentError
from . import state as St
from .autocast_mode import autocast

__all__ = ["custom_fwd", "custom_bwd"]


def _cast(value, device_type, dtype):
    if isinstance(value, Tensor):
        ok = value.dtype.is_floating_point and value.dtype is not D.float64 and value.device.type == device_type
        return value.to(dtype) if ok else value
    if isinstance(value, (str, bytes)):
        return value
    if isinstance(value, dict):
        return {k: _cast(v, device_type, dtype) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast(v, device_type, dtype) for v in value)
    return value


def _region_dtype(device_type):
    return St.get_autocast_dtype(device_type) if St.is_autocast_available(device_type) else None


def custom_fwd(fwd=None, *, device_type: str, cast_inputs=None):
    """Decorate a Function's ``forward`` (``@ember.amp.custom_fwd(device_type="cpu")``)."""
    if not isinstance(device_type, str):
        raise InvalidArgumentError(f"custom_fwd(): expected device_type of type str, got {device_type!r}")
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)

    @functools.wraps(fwd)
    def decorate_fwd(*args, **kwargs):
        ctx = args[0]
        ctx._dtype = _region_dtype(device_type)
        if cast_inputs is None:
            ctx._fwd_used_autocast = St.is_autocast_enabled(device_type)
            return fwd(*args, **kwargs)
        ctx._fwd_used_autocast = False
        if not St.is_autocast_enabled(device_type):
            return fwd(*args, **kwargs)
        with autocast(device_type, enabled=False):
            return fwd(*_cast(args, device_type, cast_inputs), **_cast(kwargs, device_type, cast_inputs))
    return decorate_fwd


def custom_bwd(bwd=None, *, device_type: str):
    """Decorate a Function's ``backward``: it runs in the autocast state its forward ran in."""
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)

    @functools.wraps(bwd)
    def decorate_bwd(*args, **kwargs):
        ctx = args[0]
        with autocast(device_type, enabled=ctx._fwd_used_autocast, dtype=ctx._dtype):
            return bwd(*args, **kwargs)
    return decorate_bwd
