"""Guards: what must hold for a traced graph to stand for a call.

A graph is specialized to its inputs' shapes, strides, storage offsets, dtypes, devices and
requires_grad (and whether ``.grad`` is set, which changes what backward does), to the same facts of
every external it reads (and that the external still has its storage), to the values of non-tensor
arguments, to the dispatch state (grad mode, autocast) and, for a compiled Module, to its parameters
and buffers being the same objects and every submodule's ``training`` flag.
"""

from __future__ import annotations

from .._tensor import Tensor
from ..dispatch.keys import PYTHON
from ..dispatch.operator import state

__all__ = ["flatten", "unflatten", "tensor_facts", "by_value", "Guards"]

_SIMPLE = (int, float, bool, str, bytes, complex, type(None))
_NOT_PY = ~PYTHON.bit
_FACT_NAMES = ("type", "shape", "stride", "storage offset", "dtype", "device", "requires_grad", "grad is set")


def tensor_facts(t) -> tuple:
    m = t._ag
    if m is None:
        return (t.__class__, t._shape, t._strides, t._offset, t._dtype, t._device, False, False)
    return (t.__class__, t._shape, t._strides, t._offset, t._dtype, t._device, m.requires_grad,
            m.grad is not None)


def flatten(obj, leaves: list):
    """The structure of ``obj`` (tensors replaced by their position in ``leaves``, which they are appended
    to; other values kept when simple, else by identity), comparable with ==."""
    if isinstance(obj, Tensor):
        leaves.append(obj)
        return len(leaves) - 1
    c = obj.__class__
    if c is tuple or c is list:
        return (c, tuple(flatten(x, leaves) for x in obj))
    if c is dict:
        return (dict, tuple((k, flatten(v, leaves)) for k, v in obj.items()))
    if isinstance(obj, _SIMPLE) or by_value(obj):
        return (c, obj)
    return (object, id(obj))


def by_value(obj) -> bool:
    """Whether a non-tensor argument is compared by value (it defines == and hash: dtypes, devices)."""
    c = obj.__class__
    return c.__eq__ is not object.__eq__ and c.__hash__ is not None and not isinstance(obj, (list, dict, set))


def unflatten(spec, leaves, consts):
    """Rebuild a structure made by ``flatten`` from ``leaves``; ``consts`` maps (object, id) back."""
    if spec.__class__ is int:
        return leaves[spec]
    c = spec[0]
    if c is tuple or c is list:
        return c(unflatten(s, leaves, consts) for s in spec[1])
    if c is dict:
        return {k: unflatten(s, leaves, consts) for k, s in spec[1]}
    if c is object:
        return consts[spec[1]]
    return spec[1]


class Guards:
    """The checks of one cache entry, built from the call that was traced."""

    __slots__ = ("spec", "facts", "distinct", "externals", "ext_facts", "ext_storages", "keys", "members",
                 "modes")

    def __init__(self, spec, leaves, externals, module):
        self.spec = spec
        self.facts = [tensor_facts(t) for t in leaves]
        self.distinct = len({id(t._storage) for t in leaves})
        self.keys = (state.included & _NOT_PY, state.allowed, state.inplace_keys)
        self.set_externals(externals)
        self.members, self.modes = [], []
        if module is not None:
            for m in module.modules():
                self.modes.append((m, m.training))
                for store in (m._parameters, m._buffers):
                    for name, t in store.items():
                        self.members.append((store, name, t))

    def set_externals(self, externals):
        self.externals = list(externals)
        self.ext_facts = [tensor_facts(t) for t in self.externals]
        self.ext_storages = [t._storage for t in self.externals]

    def check(self, spec, leaves) -> bool:
        if spec != self.spec:
            return False
        S = state
        if (S.included, S.allowed, S.inplace_keys) != self.keys:
            return False
        facts = self.facts
        for i, t in enumerate(leaves):
            if tensor_facts(t) != facts[i]:
                return False
        if len(leaves) > 1 and len({id(t._storage) for t in leaves}) != self.distinct:
            return False
        for i, t in enumerate(self.externals):
            if t._storage is not self.ext_storages[i] or tensor_facts(t) != self.ext_facts[i]:
                return False
        for store, name, t in self.members:
            if store.get(name) is not t:
                return False
        for m, training in self.modes:
            if m.training is not training:
                return False
        return True

    def why(self, spec, leaves) -> str:
        """Which guard fails for this call (for the recompile and cache-limit messages)."""
        if spec != self.spec:
            return "the structure or the non-tensor values of the arguments changed"
        S = state
        if (S.included, S.allowed, S.inplace_keys) != self.keys:
            return "the dispatch state changed (grad mode or autocast)"
        for i, t in enumerate(leaves):
            d = _diff(tensor_facts(t), self.facts[i])
            if d:
                return f"tensor argument {i}: {d}"
        if len(leaves) > 1 and len({id(t._storage) for t in leaves}) != self.distinct:
            return "which tensor arguments share storage changed"
        for i, t in enumerate(self.externals):
            if t._storage is not self.ext_storages[i]:
                return f"external tensor {i} (shape {tuple(t._shape)}) has new storage"
            d = _diff(tensor_facts(t), self.ext_facts[i])
            if d:
                return f"external tensor {i}: {d}"
        for store, name, t in self.members:
            if store.get(name) is not t:
                return f"module member {name!r} was replaced"
        for m, training in self.modes:
            if m.training is not training:
                return f"{type(m).__name__}.training is {m.training}, was {training}"
        return "no guard failed"


def _diff(now, then) -> str:
    for name, a, b in zip(_FACT_NAMES, now, then):
        if a != b:
            if name == "type":
                a, b = a.__name__, b.__name__
            return f"{name} {a} (traced with {b})"
    return ""
