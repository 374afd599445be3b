"""The Autocast dispatch key's entries, built once per listed operator from the tables.

An entry runs only while some autocast region is on (the key is then among the
dispatcher's included keys). It finds the device type of the call's first
tensor; if that type's region is on and its list names the operator, it casts
the eligible inputs as the policy says, then runs the operator below the
Autocast key, so the casts and the operator record themselves for autograd.
``ember.nn.functional`` functions that are built in Python rather than as one
operator (``F.linear``, the losses), and ``ember.linalg`` and ``ember.fft`` functions that check
dtypes before their operators run, get the same treatment by a wrapper.
"""

from __future__ import annotations

import functools
import weakref

from .. import dtypes as D
from .._tensor import Tensor
from ..dispatch.keys import AUTOCAST, AUTOGRAD
from ..dispatch.operator import _define_hooks, registry, state as _dispatch
from ..errors import AmpError, InvalidArgumentError
from . import tables as T
from .state import S

__all__ = ["install", "wrap_functions"]

_AC = AUTOCAST.bit
_NOT_AC = ~_AC
_AG = AUTOGRAD.bit
_F32 = D.float32
_F64 = D.float64


def below(fn, args, kwargs=None):
    """Run fn with the Autocast key excluded (the redispatch below this key)."""
    d = _dispatch
    prev = d.allowed
    d.allowed = prev & _NOT_AC
    try:
        return fn(*args, **kwargs) if kwargs else fn(*args)
    finally:
        d.allowed = prev


def _eligible(t, dev) -> bool:
    dt = t._dtype
    return dt.is_floating_point and dt is not _F64 and t._device.type == dev


def _cast(t, to, lower):
    """``t`` in dtype ``to``. A weight's cast to the region's dtype is cached until the outermost region
    ends: a float32 leaf that requires grad (so no view of another tensor), while grad mode records (a
    cast made under no_grad has no graph, so it is not kept for later use)."""
    if t._dtype is to:
        return t
    if to is lower and t._dtype is _F32 and S.cache_enabled and t.requires_grad and t.is_leaf \
            and _dispatch.allowed & _AG:
        hit = S.cache.get(id(t))
        if hit is not None and hit[0]() is t:
            return hit[1]
        out = t.to(to)
        S.cache[id(t)] = (weakref.ref(t), out)
        return out
    return t.to(to)


def _target(name, policy, lower, dev, tensors):
    """The dtype a policy casts eligible inputs to (None: leave them)."""
    if policy is T.LOWER:
        return lower
    if policy is T.FP32:
        return _F32
    if policy is T.PROMOTE:
        to = lower
        for t in tensors:
            if _eligible(t, dev) and t._dtype is not to:
                if t._dtype is not _F32 and to is not _F32:
                    raise InvalidArgumentError(
                        f"{name}(): under autocast({dev!r}, dtype=ember.{lower.name}) its inputs mix "
                        f"{t._dtype.name} with the region's dtype; cast the {t._dtype.name} inputs to "
                        f"ember.{lower.name} or ember.float32 first")
                to = _F32
        return to
    raise AmpError(f"{name}() cannot run in an autocast region: {T.BANNED_REASON.get(name, 'it is unsafe there')}")


def _flat(args):
    for a in args:
        if isinstance(a, Tensor):
            yield a
        elif isinstance(a, (list, tuple)):
            yield from (x for x in a if isinstance(x, Tensor))


def _cast_all(x, to, lower, dev):
    if isinstance(x, Tensor):
        return _cast(x, to, lower) if _eligible(x, dev) else x
    if isinstance(x, (list, tuple)) and any(isinstance(e, Tensor) for e in x):
        return type(x)(_cast(e, to, lower) if isinstance(e, Tensor) and _eligible(e, dev) else e for e in x)
    return x


def _first_type(tensors):
    for t in tensors:
        return t._device.type
    return None


def _op_entry(op):
    """The Autocast entry of one operator."""
    fn = op.fn.positional
    name = op.name
    args_schema = op.schema.arguments
    tpos = tuple(i for i, a in enumerate(args_schema) if a.is_tensor)
    dpos = next((i for i, a in enumerate(args_schema) if a.name == "dtype"), None)
    first = tpos[0] if tpos else None
    by_list = {id(table): table[name] for table in T.LISTS.values() if name in table}

    def entry(*args):
        tensors = list(_flat([args[i] for i in tpos]))
        dev = _first_type(tensors)
        mode = S.active.get(dev)
        policy = by_list.get(id(mode[1])) if mode is not None else None
        if policy is None:
            return below(fn, args)
        lower = mode[0]
        if policy is T.FP32_OPT:  # ask the operator for a float32 result; the inputs stay as they are
            a0 = args[first]
            if dpos is not None and args[dpos] is None and isinstance(a0, Tensor) and _eligible(a0, dev):
                args = args[:dpos] + (_F32,) + args[dpos + 1:]
            return below(fn, args)
        to = _target(name, policy, lower, dev, tensors)
        args = tuple(_cast_all(a, to, lower, dev) if i in tpos else a for i, a in enumerate(args))
        return below(fn, args)

    entry.__name__ = f"autocast_{name}"
    return entry


def _function_wrapper(full, fn):
    """A wrapper of the Python function listed as ``full`` ("F.linear") applying its policy in a region."""
    fname = full.split(".", 1)[1]
    by_list = {id(table): table[full] for table in T.LISTS.values() if full in table}

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not _dispatch.included & _AC & _dispatch.allowed:
            return fn(*args, **kwargs)
        tensors = list(_flat(args)) + list(_flat(kwargs.values()))
        dev = _first_type(tensors)
        mode = S.active.get(dev)
        policy = by_list.get(id(mode[1])) if mode is not None else None
        if policy is None:
            return below(fn, args, kwargs)
        lower = mode[0]
        if policy is T.FP32_OPT:
            if kwargs.get("dtype") is None and tensors and _eligible(tensors[0], dev):
                kwargs = {**kwargs, "dtype": _F32}
            return below(fn, args, kwargs)
        to = _target(fname, policy, lower, dev, tensors)
        args = tuple(_cast_all(a, to, lower, dev) for a in args)
        kwargs = {k: _cast_all(v, to, lower, dev) for k, v in kwargs.items()}
        return below(fn, args, kwargs)

    wrapper.autocast_wrapped = fn
    return wrapper


_LISTED = T.names()


def _install_op(op) -> None:
    if op.name in _LISTED and not op.has_kernel(AUTOCAST):
        op.register(AUTOCAST, _op_entry(op))


def install() -> None:
    """Register the Autocast entry of every listed operator, now and as operators are defined."""
    for name in _LISTED:
        op = registry.get(name)
        if op is not None:
            _install_op(op)
    if _install_op not in _define_hooks:
        _define_hooks.append(_install_op)


def wrap_functions(namespace: dict, prefix: str) -> None:
    """Wrap the functions the tables list as ``<prefix>name`` found in ``namespace``: the globals of
    ember.nn.functional ("F."), ember.linalg ("linalg.") or ember.fft ("fft."), at their import."""
    for full in _LISTED:
        if full.startswith(prefix):
            fname = full[len(prefix):]
            fn = namespace.get(fname)
            if fn is not None and not hasattr(fn, "autocast_wrapped"):
                namespace[fname] = _function_wrapper(full, fn)
