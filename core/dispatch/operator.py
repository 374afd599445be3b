"""Operators, their dispatch tables, and the registry every backend fills.

An operator is defined once, in core: its schema, its meta function, and (unless
it is a prim) its decomposition. ``defop`` turns that definition into a plain
Python function whose body computes the dispatch key set and calls one entry
of a 64-slot table; registration rebuilds the table, calls never search.
"""

from __future__ import annotations

import threading
from typing import Callable

from ..errors import DeviceMismatchError, NotImplementedForBackend, RegistrationError
from . import keys as K
from .schema import Schema, parse_schema

__all__ = ["Operator", "defop", "registry", "get", "register_kernel", "state"]

TABLE_SIZE = 64


class _State(threading.local):
    """Thread-local dispatch state: keys forced on, and the mask of keys allowed."""

    def __init__(self):
        self.included = 0
        self.allowed = -1
        self.inplace_keys = 0   # keys in-place ops reach though not allowed (Autograd under no_grad)


state = _State()
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
        if key.index in self.kernels:
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

    def _backend_entry(self, backend):
        kernel = self.kernels.get(backend.key.index)
        if kernel is not None:
            return self.adapter(self, kernel, backend) if self.adapter else kernel
        if backend.fallback_entry is not None and not self.is_view:
            return backend.fallback_entry(self)
        if self.decomposition is not None:
            return self.decomposition
        return _missing_kernel(self, backend)

    def _no_tensor_entry(self, *args):
        raise TypeError(f"{self.name}() needs at least one tensor argument (or a device=); got "
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
    lines = [f"def {op.name}({', '.join(params)}):",
             f"    ks = {keys}"]
    if device_arg:
        lines.append(f"    if {device_arg} is not None: ks = (ks & ~_BM) | _dk({device_arg})")
        lines.append(f"    elif not ks & _BM: ks = _dk(None)")
    lines += [
        # An in-place op reaches the Autograd key even under no_grad, to bump version counters.
        "    ks = (ks | _S.included) & (_S.allowed | _S.inplace_keys) & _op._mask" if op.name.endswith("_") else
        "    ks = (ks | _S.included) & _S.allowed & _op._mask",
        "    b = ks & _BM",
        f"    if b & (b - 1): _mismatch(_op, ({', '.join(call)},))",
        f"    return _T[ks.bit_length() - 1]({', '.join(call)})",
    ]
    src = "\n".join(lines)
    # The same body with every parameter positional: redispatch (autograd) passes schema order. Without
    # keyword-only parameters that is the public function itself (compiling costs import time).
    if star:
        pos_params = [p for p in params if p != "*"]
        src += "\n" + src.replace(f"def {op.name}({', '.join(params)}):", f"def _pos_({', '.join(pos_params)}):", 1)
    ns = {"_S": state, "_op": op, "_T": op._table, "_BM": K.BACKEND_MASK, "_lk": _list_keys,
          "_mismatch": _mismatch, "_dk": device_keys, "_FM": K.FUNCTIONALITY_MASK}
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
