"""ember.nn.modules.module, as torch.nn.modules.module: Module, and hooks that run on every module's call.

A global hook runs for every Module of the process, before the module's own hooks of the same kind;
the handle it returns removes it. Useful for profiling and debugging a whole model without touching it.
"""

from __future__ import annotations

from .. import _global_hooks as _G
from ..module import Module, RemovableHandle  # noqa: F401

__all__ = ["Module", "register_module_forward_pre_hook", "register_module_forward_hook",
           "register_module_full_backward_pre_hook", "register_module_full_backward_hook"]


def register_module_forward_pre_hook(hook) -> RemovableHandle:
    """``hook(module, args)`` before every module's forward; a non-None result replaces args."""
    handle = RemovableHandle(_G.forward_pre_hooks)
    _G.forward_pre_hooks[handle.id] = hook
    return handle


def register_module_forward_hook(hook, *, with_kwargs: bool = False, always_call: bool = False) -> RemovableHandle:
    """``hook(module, args, output)`` (``hook(module, args, kwargs, output)`` with ``with_kwargs``) after every
    module's forward; a non-None result replaces the output. ``always_call`` runs it even when forward raises."""
    handle = RemovableHandle(_G.forward_hooks,
                             extra_dict=[_G.forward_hooks_with_kwargs, _G.forward_hooks_always_called])
    _G.forward_hooks[handle.id] = hook
    if with_kwargs:
        _G.forward_hooks_with_kwargs[handle.id] = True
    if always_call:
        _G.forward_hooks_always_called[handle.id] = True
    return handle


def register_module_full_backward_pre_hook(hook) -> RemovableHandle:
    """``hook(module, grad_output)`` when the gradients of any module's outputs are known; a non-None result
    replaces grad_output."""
    handle = RemovableHandle(_G.backward_pre_hooks)
    _G.backward_pre_hooks[handle.id] = hook
    return handle


def register_module_full_backward_hook(hook) -> RemovableHandle:
    """``hook(module, grad_input, grad_output)`` when the gradients of any module's inputs are known; a non-None
    result replaces grad_input."""
    handle = RemovableHandle(_G.backward_hooks)
    _G.backward_hooks[handle.id] = hook
    return handle
