"""Operators, their dispatch tables, and the registry every backend fills.

An operator is defined once, in core: its schema, its meta function, and (unless
it is a prim) its decomposition. ``defop`` turns that definition into a plain
Python function whose body computes the dispatch key set and calls one entry
of a 64-slot table; registration rebuilds the table, calls never search.
"""

from __future__ import annotations

import os
import threading
from typing import Callable

from .._tensor import Tensor
from ..errors import (ArgumentTypeError, DeviceMismatchError, KernelResultError, NotImplementedForBackend,
                      RegistrationError, ValueOverflowError)
from . import keys as K
from . import overlap
from .schema import Schema, parse_schema

__all__ = ["Operator", "defop", "registry", "get", "register_kernel", "state", "set_kernel_checks"]

TABLE_SIZE = 64


class _State(threading.local):
    """Thread-local dispatch state: keys forced on, and the mask of keys allowed."""

    def __init__(self):
        self.included = 0
        self.allowed = -1
        self.inplace_keys = 0   # keys in-place ops reach though not allowed (Autograd under no_grad)


from . import fast as _fastpath  # noqa: E402

state = _fastpath.new_state(_State)


class _Checks:
    """Debug switches. ``kernels``: every backend kernel's result is compared with its operator's meta
    (shape, dtype, device), at a cost, so that a wrong kernel is named where it runs. On with
    EMBER_CHECK_KERNELS=1 (the conformance suite and Ember's tests set it), or set_kernel_checks(True)."""

    kernels = os.environ.get("EMBER_CHECK_KERNELS", "").strip().lower() not in ("", "0", "false", "no", "off")


checks = _Checks()
registry: dict[str, "Operator"] = {}
#: Called with each newly defined operator (autograd installs its entry this way).
_define_hooks: list = []


class Operator:
    """One operator: schema, meta, decomposition, and one kernel per dispatch key.

    ``adapter(op, kernel, backend)`` turns a backend's raw kernel into a table
    entry; it is where core applies the operator's semantics (meta, promotion,
    broadcasting) before the kernel computes.
    """

    __slots__ = ("name", "schema", "meta", "decomposition", "is_prim", "is_view", "family",
                 "adapter", "doc", "kernels", "_table", "_mask", "fn", "inplace_of", "tags")

    def __init__(self, schema: Schema, *, meta, decomposition=None, prim=False, view=False,
                 family="misc", adapter=None, doc="", tags=()):
        self.name = schema.name
        self.schema = schema
        self.meta = meta
        self.decomposition = decomposition
        self.is_prim = prim
        self.is_view = view
        self.family = family
        self.adapter = adapter
        self.doc = doc
        self.tags = frozenset(tags)
        self.kernels: dict[int, Callable] = {}
        self._table: list = [None] * TABLE_SIZE
        self._mask = 0
        self.fn = None
        self.inplace_of = None

    def __repr__(self):
        return f"<Operator {self.schema}>"

    # -- registration -------------------------------------------------------
    def register(self, key: K.DispatchKey, kernel: Callable) -> None:
        held = self.kernels.get(key.index)
        # A kernel marked _yields (ember.compile's tracing entry on the Python key) gives way to an explicit one.
        if held is not None and not getattr(held, "_yields", False):
            raise RegistrationError(
                f"operator {self.name!r} already has a kernel for dispatch key {key.name}; "
                f"a second registration for the same (operator, key) is an error")
        if not callable(kernel):
            raise RegistrationError(f"kernel for {self.name!r} on {key.name} must be callable, got {kernel!r}")
        self.kernels[key.index] = kernel
        self.rebuild()

    def has_kernel(self, key: K.DispatchKey) -> bool:
        return key.index in self.kernels

    def rebuild(self) -> None:
        """Recompute every table slot from the registrations."""
        from ..device import registered_backends  # local: device imports dispatch

        table = [None] * TABLE_SIZE
        mask = K.BACKEND_MASK
        for fk in K.FUNCTIONALITY_KEYS:
            if fk.index in self.kernels:
                table[fk.index] = self.kernels[fk.index]
                mask |= fk.bit
        for backend in registered_backends():
            table[backend.key.index] = self._backend_entry(backend)
        table[TABLE_SIZE - 1] = self._no_tensor_entry
        self._table[:] = table
        self._mask = mask
        _fastpath.invalidate()

    def _backend_entry(self, backend):
        kernel = self.kernels.get(backend.key.index)
        if kernel is not None:
            entry = self.adapter(self, kernel, backend) if self.adapter else kernel
            return _checked_entry(self, backend, entry) if checks.kernels else entry
        if backend.fallback_entry is not None and not self.is_view:
            return backend.fallback_entry(self)
        if self.decomposition is not None:
            return self.decomposition
        return _missing_kernel(self, backend)

    def _no_tensor_entry(self, *args):
        raise ArgumentTypeError(f"{self.name}() needs at least one tensor argument (or a device=); got "
                        + ", ".join(type(a).__name__ for a in args))

    def implementation(self, device_type: str) -> str:
        """How this operator runs on a device type: 'kernel', 'decomposition' or 'missing'."""
        key = K.backend_key(device_type)
        if key is not None and key.index in self.kernels:
            return "kernel"
        return "decomposition" if self.decomposition is not None else "missing"


def _missing_kernel(op: Operator, backend):
    def missing(*args):
        have = sorted(n for n, o in registry.items() if backend.key.index in o.kernels)
        listed = ", ".join(have[:40]) + (" ..." if len(have) > 40 else "") if have else "none yet"
        raise NotImplementedForBackend(
            f"operator {op.name!r} has no kernel on device type {backend.device_type!r} "
            f"(plugin {backend.distribution}) and no decomposition; that backend has kernels for "
            f"{len(have)} operators: {listed}")
    return missing


def _list_keys(tensors) -> int:
    ks = 0
    for t in tensors:
        ks |= getattr(t, "_keys", 0)
    return ks


def _mismatch(op, args):
    devs = [str(a._device) for a in _flat_tensors(args)]
    raise DeviceMismatchError(
        f"{op.name}() expected all tensors on one device, but found tensors on "
        f"{', '.join(dict.fromkeys(devs))}; move them with .to(device) first")


def _flat_tensors(args):
    for a in args:
        if hasattr(a, "_keys"):
            yield a
        elif isinstance(a, (list, tuple)):
            yield from _flat_tensors(a)


def set_kernel_checks(on: bool = True) -> bool:
    """Turn the comparison of every kernel's result with its operator's meta on or off (returns the
    previous setting); the always-on check (a tensor on the right device type) is not affected."""
    prev, checks.kernels = checks.kernels, bool(on)
    if prev != checks.kernels:
        rebuild_all()
    return prev


def _checked_entry(op: Operator, backend, entry):
    """``entry`` (a backend kernel behind its adapter) whose result must match the operator's meta."""
    from ..ops._helpers import Spec  # local: ops import dispatch

    meta = op.meta
    inplace = op.name.endswith("_") and not op.is_view

    def checked(*args):
        try:
            spec = meta(*args)  # before the kernel: an in-place kernel changes self's values, not its meta
            if inplace:  # the result is self, whatever dtype the computation had
                spec = Spec(args[0]._shape, args[0]._dtype)
        except Exception:  # noqa: BLE001  (a meta that cannot tell, or bad input: the entry says what)
            spec = None
        r = entry(*args)
        if spec is not None:
            _compare(op, backend, r, spec)
        return r
    checked.__name__ = f"checked_{op.name}"
    return checked


def _kernel_owner(op: Operator, backend) -> str:
    return f"the kernel of plugin {backend.distribution} ({backend.plugin}) for operator {op.name!r}"


def _compare(op: Operator, backend, r, spec):
    from ..ops._helpers import Spec  # local: ops import dispatch

    specs, outs = (spec, r) if isinstance(spec, tuple) else ((spec,), (r,))
    if not all(isinstance(s, Spec) for s in specs):
        return
    who = _kernel_owner(op, backend)
    if not isinstance(outs, (tuple, list)) or len(outs) != len(specs):
        raise KernelResultError(f"{who} returned {type(r).__name__}, core specifies {len(specs)} tensor(s); "
                                f"the kernel breaks the operator's contract: fix or unregister it")
    for i, (t, s) in enumerate(zip(outs, specs)):
        label = f"output {i}: " if len(specs) > 1 else ""
        if not isinstance(t, Tensor):
            got = "None" if t is None else f"a {type(t).__name__}"
            raise KernelResultError(f"{who} returned {label}{got}, core specifies a tensor; fix or unregister it")
        if t._keys & K.BACKEND_MASK != backend.key.bit:
            raise KernelResultError(f"{who} returned {label}a tensor on {t._device}, not on {backend.device_type} "
                                    f"(a fallback to another device); fix or unregister it")
        if t._dtype is not s.dtype:
            raise KernelResultError(f"{who} returned {label}dtype {t._dtype.name}, core specifies "
                                    f"{s.dtype.name}; fix or unregister it")
        if tuple(t._shape) != tuple(s.shape):
            raise KernelResultError(f"{who} returned {label}shape {tuple(t._shape)}, core specifies "
                                    f"{tuple(s.shape)}; fix or unregister it")


def _overlap_test(op: Operator) -> str:
    """The cheap test an in-place operator's function makes before overlap.run: self has a 0 stride, or a
    tensor argument lives on self's storage ('' for an operator that writes no self)."""
    first = op.schema.arguments[0] if op.schema.arguments else None
    if not op.name.endswith("_") or first is None or first.name != "self" or not first.is_tensor:
        return ""
    terms = ["0 in self._strides"]
    for a in op.schema.arguments[1:]:
        if a.is_tensor and a.is_list:
            return "True"  # index_put_'s indices: always checked (never a hot path)
        if a.is_tensor:
            terms.append(f"_g({a.name}, '_storage', None) is self._storage")
    return " or ".join(terms)


def _bad_result(op: Operator, b: int, r):
    """Raise for a table entry that returned no tensor, or a tensor on another device type than the call
    dispatched to. A tuple of such tensors passes (nonzero(as_tuple=True) is the one Tensor operator
    returning one); the full check of kernel checks mode compares it with the meta."""
    from ..device import registered_backends  # local: device imports dispatch

    if isinstance(r, Tensor) and r._keys & K.BACKEND_MASK == b:
        return  # a subclass (Parameter) on the right device
    if r.__class__ in (tuple, list) and r and all(isinstance(t, Tensor) and t._keys & K.BACKEND_MASK == b
                                                  for t in r):
        return
    backend = next((x for x in registered_backends() if x.key.bit == b), None)
    where = (f"device type {backend.device_type!r}" if backend is not None else "this device")
    if backend is not None and backend.key.index in op.kernels:
        who = _kernel_owner(op, backend)
    elif backend is not None:
        who = f"operator {op.name!r} on {where} (plugin {backend.distribution})"
    else:
        who = f"operator {op.name!r}"
    if r.__class__ is not Tensor and not isinstance(r, Tensor):
        got = "None" if r is None else f"a {type(r).__name__}"
    else:
        got = f"a tensor on {r._device} (a fallback to another device)"
    raise KernelResultError(f"{who} returned {got}; it must return a tensor on {where}. The kernel breaks the "
                            f"operator's contract (ember info --ops documents it): fix or unregister it")


#: autograd.graph.bump_version, set when autograd installs its entries (autograd imports dispatch).
bump_version = None


def _bump_view_base(t):
    """Move the version counter of a view's base after an in-place write."""
    bump_version(t)


def _int_overflow(op: Operator, name: str, value: int):
    """Raise for an int argument that no int64 holds: PyTorch refuses it ("Overflow when unpacking
    long long") instead of letting it wrap or reach a C conversion."""
    raise ValueOverflowError(f"{op.name}(): argument {name!r} is {value}, outside the int64 range "
                             f"[-2**63, 2**63 - 1] every int argument must fit; pass a smaller value")


_I64_LO, _I64_HI = -(1 << 63), (1 << 63) - 1


def _generate_function(op: Operator):
    """Write the operator's public function: bind arguments, compute keys, call the table."""
    from ..device import device_keys  # local: device imports dispatch

    params, call, key_terms, device_arg = [], [], [], None
    star = False
    first_only = "cross_device" in op.tags
    for a in op.schema.arguments:
        if a.kwarg_only and not star:
            params.append("*")
            star = True
        params.append(f"{a.name}={a.default!r}" if a.has_default else a.name)
        call.append(a.name)
        if a.is_tensor and first_only and key_terms:
            # other tensors may sit on other devices: only their functionality keys (Autograd) count
            key_terms.append(f"(getattr({a.name}, '_keys', 0) & _FM)")
        elif a.is_tensor:
            key_terms.append(f"_lk({a.name})" if a.is_list else f"getattr({a.name}, '_keys', 0)")
        elif a.type == "Device":
            device_arg = a.name
    keys = " | ".join(key_terms) if key_terms else "0"
    lines = [f"def {op.name}({', '.join(params)}):"]
    # int arguments beyond int64: one class test each on the call (a bool or None passes untouched);
    # an operator tagged "wide_ints" takes wider counters (philox_random's seed and offset)
    lines += [f"    if {a.name}.__class__ is int and not {_I64_LO} <= {a.name} <= {_I64_HI}: "
              f"_iof(_op, {a.name!r}, {a.name})" for a in op.schema.arguments
              if a.type == "int" and not a.is_list and "wide_ints" not in op.tags]
    lines.append(f"    ks = {keys}")
    if device_arg:
        lines.append(f"    if {device_arg} is not None: ks = (ks & ~_BM) | _dk({device_arg})")
        lines.append("    elif not ks & _BM: ks = _dk(None)")
    lines += [
        # An in-place op reaches the Autograd key even under no_grad, to bump version counters.
        "    ks = (ks | _S.included) & (_S.allowed | _S.inplace_keys) & _op._mask" if op.name.endswith("_") else
        "    ks = (ks | _S.included) & _S.allowed & _op._mask",
        "    b = ks & _BM",
        f"    if b & (b - 1): _mismatch(_op, ({', '.join(call)},))",
    ]
    args = ", ".join(call)
    aliasing = _overlap_test(op)
    if aliasing:  # an in-place write: overlap.run decides when self or an input may alias (dispatch/overlap.py)
        lines += ["    try:",  # free when nothing raises; self not a tensor: overlap.run says so
                  f"        hit_ = {aliasing}",
                  "    except AttributeError:",
                  "        hit_ = True",
                  f"    if hit_: res_ = _ov(_op, _T[ks.bit_length() - 1], ({args},))",
                  f"    else: res_ = _T[ks.bit_length() - 1]({args})"]
    else:
        lines.append(f"    res_ = _T[ks.bit_length() - 1]({args})")
    if op.schema.returns == "Tensor":  # a kernel's None, non-tensor or tensor on another device stops here
        lines += ["    try:",  # free when nothing raises; no _keys: not a tensor
                  f"        if res_._keys & {K.BACKEND_MASK} != b: _bad_result(_op, b, res_)",
                  "    except AttributeError:",
                  "        _bad_result(_op, b, res_)"]
    if aliasing:
        # A view made before its base was saved for backward lacks the Autograd key, so the Autograd entry
        # (which bumps version counters) did not run: the base's counter moves here, as every write must.
        lines.append("    if not ks & _AG and _g(self, '_base', None) is not None and self._base._ag is not None: "
                     "_vbump(self)")
    lines.append("    return res_")
    src = "\n".join(lines)
    # The same body with every parameter positional: redispatch (autograd) passes schema order. Without
    # keyword-only parameters that is the public function itself (compiling costs import time).
    if star:
        pos_params = [p for p in params if p != "*"]
        src += "\n" + src.replace(f"def {op.name}({', '.join(params)}):", f"def _pos_({', '.join(pos_params)}):", 1)
    ns = {"_S": state, "_op": op, "_T": op._table, "_BM": K.BACKEND_MASK, "_lk": _list_keys,
          "_mismatch": _mismatch, "_dk": device_keys, "_FM": K.FUNCTIONALITY_MASK, "_g": getattr,
          "_ov": overlap.run, "_bad_result": _bad_result, "_iof": _int_overflow, "_AG": K.AUTOGRAD.bit,
          "_vbump": _bump_view_base}
    exec(compile(src, f"<ember op {op.name}>", "exec"), ns)
    fn = ns[op.name]
    fn.positional = ns["_pos_"] if star else fn
    fn.op = op
    fn.__doc__ = f"{op.schema}\n\n{op.doc}".strip()
    fn.__module__ = "ember"
    fn.__qualname__ = op.name
    return fn


def defop(schema: str, *, meta, decomposition=None, prim=False, view=False, family="misc",
          adapter=None, doc="", tags=()):
    """Define an operator once for every backend and return its public function."""
    s = parse_schema(schema)
    if s.name in registry:
        raise RegistrationError(f"operator {s.name!r} is already defined")
    if not prim and decomposition is None and not view:
        raise RegistrationError(f"operator {s.name!r} is not a prim, so it needs a decomposition")
    op = Operator(s, meta=meta, decomposition=decomposition, prim=prim, view=view, family=family,
                  adapter=adapter, doc=doc, tags=tags)
    registry[s.name] = op
    op.fn = _generate_function(op)
    op.rebuild()
    for hook in _define_hooks:
        hook(op)
    return op.fn


def get(name: str) -> Operator:
    try:
        return registry[name]
    except KeyError:
        raise RegistrationError(f"no operator named {name!r}; ember info --ops lists them") from None


def register_kernel(name: str, key: K.DispatchKey, kernel: Callable) -> None:
    get(name).register(key, kernel)


def rebuild_all() -> None:
    for op in registry.values():
        op.rebuild()


def impl(name: str, device_type: str):
    """Decorator registering a kernel for an operator on a device type, from pure Python::

        @ember.dispatch.impl("add", "mydev")
        def add(a, b, out): ...

    A functionality key may be named instead of a device type: "Autograd", "Autocast", "Python".
    """
    def deco(kernel):
        fk = {k.name: k for k in K.FUNCTIONALITY_KEYS}.get(device_type)
        if fk is not None:
            get(name).register(fk, kernel)
        else:
            from ..device import get_backend
            get(name).register(get_backend(device_type).key, kernel)
        return kernel
    return deco
