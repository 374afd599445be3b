"""Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping

from ..._tensor import Tensor
from ..module import Module
from ..parameter import Parameter
from ...errors import ArgumentTypeError, IndexOutOfRangeError, InvalidArgumentError, KeyNotFoundError


def _pairs(owner, entries, sort_plain=False):
    """(key, value) pairs of a mapping or of a sequence of pairs; ParameterDict takes a plain dict in
    sorted key order, as PyTorch does."""
    if isinstance(entries, (OrderedDict, ModuleDict, ParameterDict)):
        return list(entries.items())
    if isinstance(entries, Mapping):
        return sorted(entries.items()) if sort_plain else list(entries.items())
    if not isinstance(entries, Iterable):
        raise ArgumentTypeError(f"{owner}.update should be called with an iterable of key/value pairs, but got "
                                f"{type(entries).__name__}")
    out = []
    for j, kv in enumerate(entries):
        if not isinstance(kv, Iterable):
            raise ArgumentTypeError(f"{owner} update sequence element #{j} should be Iterable; is {type(kv).__name__}")
        kv = list(kv)
        if len(kv) != 2:
            raise InvalidArgumentError(f"{owner} update sequence element #{j} has length {len(kv)}; 2 is required")
        out.append(tuple(kv))
    return out


class Sequential(Module):
    """Calls its modules in order: ``Sequential(Linear(4, 8), ReLU())`` or ``Sequential(OrderedDict(...))``."""

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for k, m in args[0].items():
                self.add_module(k, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def _index(self, idx):
        n = len(self._modules)
        if not -n <= idx < n:
            raise IndexOutOfRangeError(f"index {idx} is out of range for a {type(self).__name__} of {n} modules")
        return idx % n

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[self._index(idx)]

    def __setitem__(self, idx, module):
        key = list(self._modules)[self._index(idx)]
        self.add_module(key, module)

    def __delitem__(self, idx):
        keys = list(self._modules)
        for k in (keys[idx] if isinstance(idx, slice) else [keys[self._index(idx)]]):
            del self._modules[k]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def forward(self, input):
        for m in self._modules.values():
            input = m(input)
        return input


class ModuleList(Module):
    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _index(self, idx):
        n = len(self._modules)
        if not -n <= idx < n:
            raise IndexOutOfRangeError(f"index {idx} is out of range for a ModuleList of {n} modules")
        return idx % n

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        return self._modules[str(self._index(idx))]

    def __setitem__(self, idx, module):
        self.add_module(str(self._index(idx)), module)

    def __delitem__(self, idx):
        mods = list(self._modules.values())
        del mods[idx if isinstance(idx, slice) else self._index(idx)]
        self._modules.clear()
        for i, m in enumerate(mods):
            self._modules[str(i)] = m

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(mods):
            self.add_module(str(i), m)


class ModuleDict(Module):
    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        try:
            return self._modules[key]
        except KeyError:
            raise KeyNotFoundError(f"ModuleDict has no module {key!r}; keys: {list(self._modules)}") from None

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def pop(self, key):
        m = self[key]
        del self[key]
        return m

    def clear(self):
        self._modules.clear()

    def update(self, modules):
        """Add or overwrite entries from a mapping or an iterable of (key, module) pairs."""
        for k, m in _pairs(type(self).__name__, modules):
            self[k] = m


def _as_param(value):
    return Parameter(value) if isinstance(value, Tensor) and not isinstance(value, Parameter) else value


def _param_repr(p):
    kind = "Parameter containing" if isinstance(p, Parameter) else "Tensor"
    size = "x".join(str(s) for s in p._shape)
    dev = "" if p._device.type == "cpu" else f" ({p._device})"
    return f"{kind}: [ember.{p._dtype.name} of size {size}{dev}]"


class ParameterList(Module):
    """A list of parameters, registered as "0", "1", ...; tensors assigned to it become Parameters."""

    def __init__(self, values=None):
        super().__init__()
        self._size = 0
        if values is not None:
            self += values

    def _index(self, idx):
        idx = int(idx)
        if not -len(self) <= idx < len(self):
            raise IndexOutOfRangeError(f"index {idx} is out of range for a ParameterList of {len(self)} entries")
        return str(idx % len(self))

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(list(self)[idx])
        return getattr(self, self._index(idx))

    def __setitem__(self, idx, param):
        setattr(self, self._index(idx), _as_param(param))

    def __len__(self):
        return self._size

    def __iter__(self):
        return iter(self[i] for i in range(len(self)))

    def __iadd__(self, parameters):
        return self.extend(parameters)

    def __dir__(self):
        return [k for k in super().__dir__() if not k.isdigit()]

    def append(self, value):
        """Add one value at the end (a Tensor is registered as a Parameter)."""
        self._size += 1
        setattr(self, str(self._size - 1), _as_param(value))
        return self

    def extend(self, values):
        if not isinstance(values, Iterable) or isinstance(values, Tensor):
            raise ArgumentTypeError(f"ParameterList.extend should be called with an iterable, but got "
                                    f"{type(values).__name__}")
        for v in values:
            self.append(v)
        return self

    def extra_repr(self):
        lines = []
        for k, p in enumerate(self):
            lines.append(f"({k}): " + (_param_repr(p) if isinstance(p, Tensor) else f"Object of type: "
                                                                                       f"{type(p).__name__}"))
        return "\n".join(lines)

    def __call__(self, *args, **kwargs):
        raise InvalidArgumentError("ParameterList should not be called.")


class ParameterDict(Module):
    """A dict of parameters keyed by strings; tensors assigned to it become Parameters."""

    def __init__(self, parameters=None):
        super().__init__()
        self._keys = {}
        if parameters is not None:
            self.update(parameters)

    @staticmethod
    def _key(key):
        if not isinstance(key, str):
            raise ArgumentTypeError(f"Index given to ParameterDict cannot be used as a key as it is not a string (type "
                                    f"is '{type(key).__name__}'); use string keys")
        return key

    def __getitem__(self, key):
        if self._key(key) not in self._keys:
            raise KeyNotFoundError(f"ParameterDict has no key {key!r}; keys: {list(self._keys)}")
        return getattr(self, key)

    def __setitem__(self, key, value):
        self._keys[self._key(key)] = None
        setattr(self, key, _as_param(value))

    def __delitem__(self, key):
        del self._keys[key]
        delattr(self, key)

    def __len__(self):
        return len(self._keys)

    def __iter__(self):
        return iter(self._keys)

    def __reversed__(self):
        return reversed(list(self._keys))

    def __contains__(self, key):
        return key in self._keys

    def copy(self):
        return ParameterDict(OrderedDict((k, self[k]) for k in self._keys))

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def clear(self):
        for k in list(self._keys):
            del self[k]

    def pop(self, key):
        v = self[key]
        del self[key]
        return v

    def popitem(self):
        if not self._keys:
            raise KeyNotFoundError("popitem(): ParameterDict is empty")
        k = next(reversed(self._keys))
        return k, self.pop(k)

    def get(self, key, default=None):
        return self[key] if key in self else default

    def fromkeys(self, keys, default=None):
        return ParameterDict((k, default) for k in keys)

    def keys(self):
        return self._keys.keys()

    def items(self):
        return ((k, self[k]) for k in self._keys)

    def values(self):
        return (self[k] for k in self._keys)

    def update(self, parameters):
        """Add or overwrite entries from a mapping or an iterable of (key, value) pairs."""
        for k, v in _pairs("ParameterDict", parameters, sort_plain=True):
            self[k] = v

    def __or__(self, other):
        out = self.copy()
        out.update(other)
        return out

    def __ror__(self, other):
        out = other.copy()
        out.update(self)
        return out

    def __ior__(self, other):
        self.update(other)
        return self

    def extra_repr(self):
        return "\n".join(f"({k}): " + (_param_repr(p) if isinstance(p, Tensor) else
                                       f"Object of type: {type(p).__name__}") for k, p in self.items())

    def __call__(self, *args, **kwargs):
        raise InvalidArgumentError("ParameterDict should not be called.")
