"""Module: the base class of every layer, holding parameters, buffers and child modules."""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from typing import Iterator

from .. import dtypes as D
from .._tensor import Tensor
from ..errors import EmberError, ShapeError
from ._hooks import call_with_hooks as _call_with_hooks
from . import _global_hooks as _G
from .parameter import Buffer, Parameter, _adopt
from ..errors import ArgumentTypeError, AttributeNotFoundError, InvalidArgumentError, KeyNotFoundError, UnsupportedError

__all__ = ["Module", "StateDictKeyError", "RemovableHandle"]


class StateDictKeyError(EmberError, KeyError, RuntimeError):
    """A state dict whose keys do not match the module's (missing or unexpected keys); PyTorch raises
    RuntimeError there, and KeyError still catches it."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class RemovableHandle:
    """Returned by register_*_hook; ``handle.remove()`` unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks: dict, *, extra_dict=None):
        self._hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1
        if extra_dict is None:
            extra_dict = ()
        elif isinstance(extra_dict, dict):
            extra_dict = (extra_dict,)
        self._extra = tuple(extra_dict)

    def remove(self) -> None:
        self._hooks.pop(self.id, None)
        for d in self._extra:
            d.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _no_grad():
    import ember
    ng = getattr(ember, "no_grad", None)
    if ng is not None:
        return ng()
    import contextlib
    return contextlib.nullcontext()


def _detached(t):
    d = getattr(t, "detach", None)
    return d() if d is not None else t


#: Marks a tensor carries in its __dict__ (Parameter, Buffer, lazy parameters) that a copy keeps.
_MARKS = ("_is_param", "_uninitialized", "_buffer_persistent")


def _copy_tensor(t):
    """A new tensor with t's values, requires_grad and marks (no graph, no grad)."""
    with _no_grad():
        c = t.detach().clone()
    for k in _MARKS:
        if k in t.__dict__:
            c.__dict__[k] = t.__dict__[k]
    if t.requires_grad:
        c.requires_grad_(True)
    return c


class Module:
    """Base class for layers: assign Parameters, Modules and buffers as attributes and write ``forward``."""

    training: bool
    _version = 1

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            raise ArgumentTypeError(f"{type(self).__name__}.__init__() got unexpected arguments; subclasses call "
                                    f"super().__init__() with none")
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_hooks_with_kwargs"] = {}
        d["_forward_hooks_always_called"] = {}
        d["_forward_pre_hooks"] = OrderedDict()
        d["_forward_pre_hooks_with_kwargs"] = {}
        d["_backward_hooks"] = OrderedDict()
        d["_backward_pre_hooks"] = OrderedDict()

    def forward(self, *args, **kwargs):
        raise UnsupportedError(f"{type(self).__name__} has no forward(); define forward(self, ...) in the "
                                  f"subclass")

    # -- calling --------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if not (self._forward_pre_hooks or self._forward_hooks or self._backward_hooks
                or self._backward_pre_hooks or _G.forward_pre_hooks or _G.forward_hooks or _G.backward_hooks
                or _G.backward_pre_hooks):
            return self.forward(*args, **kwargs)
        return _call_with_hooks(self, args, kwargs)

    def _register(self, store, hook, prepend, extra=None):
        h = RemovableHandle(store, extra_dict=extra)
        store[h.id] = hook
        if prepend:
            store.move_to_end(h.id, last=False)
        return h

    def register_forward_pre_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False):
        """``hook(module, args)`` (or ``hook(module, args, kwargs)`` with with_kwargs) runs before forward;
        a non-None return replaces the arguments (an (args, kwargs) pair with with_kwargs)."""
        h = self._register(self._forward_pre_hooks, hook, prepend, self._forward_pre_hooks_with_kwargs)
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[h.id] = True
        return h

    def register_forward_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False):
        """``hook(module, args, output)`` (or ``hook(module, args, kwargs, output)``) runs after forward; a
        non-None return replaces the output. always_call runs it even when forward raises."""
        h = self._register(self._forward_hooks, hook, prepend,
                           [self._forward_hooks_with_kwargs, self._forward_hooks_always_called])
        if with_kwargs:
            self._forward_hooks_with_kwargs[h.id] = True
        if always_call:
            self._forward_hooks_always_called[h.id] = True
        return h

    def register_full_backward_pre_hook(self, hook, prepend: bool = False):
        """``hook(module, grad_output)`` runs when the gradients of the outputs are known; a non-None
        return (a tuple like grad_output) replaces them."""
        return self._register(self._backward_pre_hooks, hook, prepend)

    def register_full_backward_hook(self, hook, prepend: bool = False):
        """``hook(module, grad_input, grad_output)`` runs when the gradients of the module's tensor inputs
        are computed; a non-None return (a tuple like grad_input) replaces them."""
        return self._register(self._backward_hooks, hook, prepend)

    # -- attributes -----------------------------------------------------------
    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            s = d.get(store)
            if s is not None and name in s:
                return s[name]
        raise AttributeNotFoundError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __setattr__(self, name, value):
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeNotFoundError("cannot assign parameters before Module.__init__() call")
            self._drop(name)
            params[name] = value
        elif isinstance(value, Module):
            if params is None:
                raise AttributeNotFoundError("cannot assign modules before Module.__init__() call")
            self._drop(name)
            d["_modules"][name] = value
        elif isinstance(value, Buffer):
            self.register_buffer(name, value, value.__dict__.pop("_buffer_persistent"))
        elif params is not None and name in params:
            if value is not None:
                raise ArgumentTypeError(f"cannot assign {type(value).__name__} as parameter '{name}' of "
                                        f"{type(self).__name__} (ember.nn.Parameter or None expected)")
            params[name] = None
        elif params is not None and name in d["_modules"]:
            if value is not None:
                raise ArgumentTypeError(f"cannot assign {type(value).__name__} as child module '{name}' "
                                        f"(ember.nn.Module or None expected)")
            d["_modules"][name] = None
        elif params is not None and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise ArgumentTypeError(f"cannot assign {type(value).__name__} as buffer '{name}' (Tensor or None "
                                        f"expected)")
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _drop(self, name):
        d = self.__dict__
        d.pop(name, None)
        for store in ("_parameters", "_buffers", "_modules"):
            d[store].pop(name, None)
        d["_non_persistent"].discard(name)

    def __delattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if name in d[store]:
                del d[store][name]
                d["_non_persistent"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """A tensor that is state but not learnable (running statistics); saved in state_dict if persistent."""
        if "_buffers" not in self.__dict__:
            raise AttributeNotFoundError("cannot assign a buffer before Module.__init__() call")
        if not isinstance(name, str) or not name or "." in name:
            raise KeyNotFoundError(f"buffer name must be a non-empty string without '.', got {name!r}")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise ArgumentTypeError(f"cannot assign {type(tensor).__name__} as buffer '{name}' (Tensor or None expected)")
        if isinstance(tensor, Parameter):
            t = tensor
            tensor = object.__new__(Tensor)
            _adopt(tensor, _detached(t))
        self._drop(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def register_parameter(self, name: str, param) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeNotFoundError("cannot assign a parameter before Module.__init__() call")
        if not isinstance(name, str) or not name or "." in name:
            raise KeyNotFoundError(f"parameter name must be a non-empty string without '.', got {name!r}")
        if param is not None and not isinstance(param, Parameter):
            raise ArgumentTypeError(f"cannot assign {type(param).__name__} as parameter '{name}' "
                                    f"(ember.nn.Parameter or None expected)")
        self._drop(name)
        self._parameters[name] = param

    def add_module(self, name: str, module) -> None:
        if module is not None and not isinstance(module, Module):
            raise ArgumentTypeError(f"{type(module).__name__} is not a Module subclass")
        if not isinstance(name, str) or "." in name or not name:
            raise KeyNotFoundError(f"module name must be a non-empty string without '.', got {name!r}")
        self._drop(name)
        self._modules[name] = module

    register_module = add_module

    def _get_name(self) -> str:
        return type(self).__name__

    def get_submodule(self, target: str) -> "Module":
        """The submodule at the dotted path ``target`` ('' is the module itself)."""
        mod = self
        for part in target.split(".") if target else []:
            if not hasattr(mod, part):
                raise AttributeNotFoundError(f"{mod._get_name()} has no attribute `{part}` (looking up {target!r})")
            mod = getattr(mod, part)
            if not isinstance(mod, Module):
                raise AttributeNotFoundError(f"`{part}` is not an nn.Module (looking up {target!r})")
        return mod

    def _get_member(self, target, store, kind):
        mod_path, _, name = target.rpartition(".")
        mod = self.get_submodule(mod_path)
        if not hasattr(mod, name):
            raise AttributeNotFoundError(f"{mod._get_name()} has no attribute `{name}` (looking up {target!r})")
        if name not in getattr(mod, store):
            raise AttributeNotFoundError(f"`{name}` is not {kind} (looking up {target!r})")
        return getattr(mod, store)[name]

    def get_parameter(self, target: str):
        """The parameter at the dotted path ``target``."""
        return self._get_member(target, "_parameters", "an nn.Parameter")

    def get_buffer(self, target: str):
        """The buffer at the dotted path ``target``."""
        return self._get_member(target, "_buffers", "a buffer")

    # -- traversal ------------------------------------------------------------
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            yield from m.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, store, prefix, recurse, remove_duplicate):
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mp, m in mods:
            for name, v in getattr(m, store).items():
                if v is None:
                    continue
                if remove_duplicate:
                    if id(v) in seen:
                        continue
                    seen.add(id(v))
                yield (f"{mp}.{name}" if mp else name), v

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # -- modes ----------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        if not isinstance(mode, bool):
            raise InvalidArgumentError(f"train(): mode must be a bool, got {mode!r}")
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            g = getattr(p, "grad", None)
            if g is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                if getattr(g, "grad_fn", None) is not None:
                    g = _detached(g)
                    p.grad = g
                g.zero_()

    def apply(self, fn) -> "Module":
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -- device and dtype -------------------------------------------------------
    def _apply_tensors(self, fn) -> "Module":
        """Convert every parameter and buffer with fn, keeping each Parameter object (optimizers hold them)."""
        with _no_grad():
            for m in self.modules():
                for name, p in m._parameters.items():
                    if p is None:
                        continue
                    new = fn(p)
                    if new is not p:
                        _adopt(p, _detached(new))
                        g = getattr(p, "grad", None)
                        if g is not None:
                            p.grad = fn(g)
                for name, b in m._buffers.items():
                    if b is not None:
                        m._buffers[name] = fn(b)
        return self

    def to(self, *args, **kwargs) -> "Module":
        """``module.to(device)``, ``.to(dtype)`` or both: floating parameters and buffers take the dtype."""
        from ..device import Device
        device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise ArgumentTypeError(f"Module.to() got unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, D.DType):
                dtype = a
            elif isinstance(a, (str, Device)):
                device = a
            elif isinstance(a, Tensor):
                device, dtype = a._device, a._dtype
            else:
                raise ArgumentTypeError(f"Module.to() expects a device, a dtype or a tensor, got {a!r}")
        if dtype is not None and not dtype.is_floating_point:
            raise ArgumentTypeError(f"Module.to() only accepts floating dtypes, got {dtype.name}")

        def convert(t):
            if dtype is not None and t._dtype.is_floating_point:
                return t.to(dtype=dtype, device=device)
            return t.to(device) if device is not None else t
        return self._apply_tensors(convert)

    def cpu(self) -> "Module":
        return self.to("cpu")

    def float(self) -> "Module":
        return self.to(D.float32)

    def double(self) -> "Module":
        return self.to(D.float64)

    def half(self) -> "Module":
        return self.to(D.float16)

    def bfloat16(self) -> "Module":
        return self.to(D.bfloat16)

    # -- state dict -------------------------------------------------------------
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False):
        """An ordered mapping name -> tensor of every parameter and persistent buffer."""
        out = OrderedDict() if destination is None else destination
        for name, p in self._parameters.items():
            if p is not None:
                out[prefix + name] = p if keep_vars else _detached(p)
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                out[prefix + name] = b if keep_vars else _detached(b)
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(out, prefix + name + ".", keep_vars)
        return out

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copy values from state_dict into the parameters and buffers; strict checks keys both ways.

        Shapes must match exactly (ShapeError names the key); returns (missing_keys, unexpected_keys).
        """
        if not hasattr(state_dict, "items"):
            raise ArgumentTypeError(f"load_state_dict() expects a mapping of names to tensors, got "
                                    f"{type(state_dict).__name__}")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing key(s) {', '.join(map(repr, missing))}")
            if unexpected:
                parts.append(f"unexpected key(s) {', '.join(map(repr, unexpected))}")
            raise StateDictKeyError(f"error loading state dict into {type(self).__name__}: "
                                    f"{'; '.join(parts)}; pass strict=False to load the keys that match")
        errors = []
        for k, v in state_dict.items():
            if k not in own:
                continue
            if not isinstance(v, Tensor):
                raise ArgumentTypeError(f"load_state_dict(): value for key {k!r} is a {type(v).__name__}, not a Tensor")
            t = own[k]
            if tuple(t._shape) != tuple(v._shape):
                errors.append(f"{k!r}: the checkpoint has shape {tuple(v._shape)}, the model {tuple(t._shape)}")
        if errors:
            raise ShapeError(f"error loading state dict into {type(self).__name__}: size mismatch for "
                             + "; ".join(errors))
        with _no_grad():
            for k, v in state_dict.items():
                if k in own:
                    t = own[k]
                    if assign:
                        _adopt(t, _detached(v).to(device=t._device))
                    else:
                        t.copy_(v.to(device=t._device) if v._device != t._device else v)
        return IncompatibleKeys(missing, unexpected)

    # -- printing ---------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        for name, m in self._modules.items():
            r = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {r}")
        main = type(self).__name__ + "("
        extra_lines = extra.split("\n") if extra else []
        if lines or len(extra_lines) > 1:
            body = "".join("\n  " + l for l in extra_lines + lines)
            return main + body + "\n)"
        return main + extra + ")"

    def __getstate__(self):
        raise ArgumentTypeError("Ember modules are not pickled; save module.state_dict() with ember.save (safetensors)")

    def __deepcopy__(self, memo):
        """copy.deepcopy(module): a module of the same class with copies of every parameter and buffer (same
        values, devices, dtypes and requires_grad; tied parameters stay tied), as torch's deepcopy gives."""
        import copy
        for m in self.modules():
            for t in (*m._parameters.values(), *m._buffers.values(),
                      *(v for v in m.__dict__.values() if isinstance(v, Tensor))):
                if t is not None and id(t) not in memo:
                    memo[id(t)] = _copy_tensor(t)
        new = object.__new__(type(self))
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            new.__dict__[k] = copy.deepcopy(v, memo)
        return new
