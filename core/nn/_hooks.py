"""Module hooks at call time: forward (pre-)hooks, and full backward hooks, where identity autograd
nodes around a module's call catch the gradients flowing into its outputs and out of its inputs, and
hand both to the user's hooks.

This is PyTorch's scheme (torch.utils.hooks.BackwardHook): one node wraps the tensor inputs, one the
tensor outputs; the output node runs the pre-hooks (which may replace grad_output) and the input node
runs the hooks with (grad_input, grad_output) once both are known.
"""

from __future__ import annotations

import warnings

from .._tensor import Tensor
from ..autograd.function import Function
from . import _global_hooks as _G
from ..errors import InvalidArgumentError


class BackwardHookFunction(Function):
    """The identity, recorded as a graph node so a hook can see the gradients passing through."""

    @staticmethod
    def forward(ctx, *args):
        ctx.mark_non_differentiable(*[a for a in args if not a.requires_grad])
        ctx.set_materialize_grads(False)
        ctx.meta = [(a._shape, a._dtype, a._device) for a in args]
        return args

    @staticmethod
    def backward(ctx, *grads):
        # zeros where no gradient arrived, as PyTorch materializes them (a hook sees tensors, not None)
        from ..ops.creation import zeros
        return tuple(g if g is not None else zeros(s, dtype=d, device=dev)
                     for g, (s, d, dev) in zip(grads, ctx.meta))


def _pack_with_none(indices, values, size):
    res = [None] * size
    for i, v in zip(indices, values):
        res[i] = v
    return tuple(res)


class BackwardHook:
    """Wires one module call's inputs and outputs to its full backward (pre-)hooks."""

    __slots__ = ("module", "user_hooks", "user_pre_hooks", "grad_outputs", "n_outputs", "output_index",
                 "n_inputs", "input_index")

    def __init__(self, module, user_hooks, user_pre_hooks):
        self.module = module
        self.user_hooks = user_hooks
        self.user_pre_hooks = user_pre_hooks
        self.grad_outputs = None
        self.n_outputs = -1
        self.output_index = None
        self.n_inputs = -1
        self.input_index = None

    def _apply_on_tensors(self, on_node, args):
        import ember
        idx = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        tensors = [args[i] for i in idx]
        if not (any(t.requires_grad for t in tensors) and ember.is_grad_enabled()):
            return args, None
        new = BackwardHookFunction.apply(*tensors)
        node = next(t.grad_fn for t in new if t.grad_fn is not None)
        on_node(node)
        out = list(args)
        for i, t in zip(idx, new):
            out[i] = t
        return tuple(out), idx

    def setup_input_hook(self, args):
        res, self.input_index = self._apply_on_tensors(self._set_user_hook, args)
        self.n_inputs = len(args)
        return res

    def _set_user_hook(self, node):
        def hook(grad_input, _grad_output):
            if self.grad_outputs is None:   # the gradient reached the inputs without passing the outputs
                return None
            res = _pack_with_none(self.input_index, grad_input, self.n_inputs)
            for h in self.user_hooks:
                out = h(self.module, res, self.grad_outputs)
                if out is None:
                    continue
                if len(out) != len(res):
                    raise InvalidArgumentError(f"Backward hook returned an invalid number of grad_input, got {len(out)}, "
                                               f"but expected {len(res)}")
                res = out
            self.grad_outputs = None
            return [res[i] for i in self.input_index]
        node.register_hook(hook)

    def setup_output_hook(self, result):
        is_tuple = isinstance(result, tuple)
        args = result if is_tuple else (result,)
        res, self.output_index = self._apply_on_tensors(self._set_pre_hook, args)
        self.n_outputs = len(args)
        return res if is_tuple else res[0]

    def _set_pre_hook(self, node):
        def hook(_grad_input, grad_output):
            self.grad_outputs = _pack_with_none(self.output_index, grad_output, self.n_outputs)
            expected = len(self.grad_outputs)
            for h in self.user_pre_hooks:
                new = h(self.module, self.grad_outputs)
                if new is None:
                    continue
                if len(new) != expected:
                    raise InvalidArgumentError(f"Backward pre hook returned an invalid number of grad_output, got "
                                               f"{len(new)}, but expected {expected}")
                self.grad_outputs = tuple(new)
            local = self.grad_outputs
            if self.input_index is None:
                warnings.warn("Full backward hook is firing when gradients are computed with respect to module "
                              "outputs since no inputs require gradients.", stacklevel=5)
                none_in = (None,) * self.n_inputs
                for h in self.user_hooks:
                    r = h(self.module, none_in, self.grad_outputs)
                    if r is not None and not (isinstance(r, tuple) and all(x is None for x in r)):
                        raise InvalidArgumentError("Backward hook for Modules where no input requires gradient should "
                                                   "always return None or None for all gradients.")
                self.grad_outputs = None
            return [local[i] for i in self.output_index]
        node.register_hook(hook)


def call_with_hooks(self, args, kwargs):
    """Module.__call__ when hooks are registered: PyTorch's order (forward pre-hooks, backward-hook
    wiring of the inputs, forward, forward hooks, wiring of the outputs)."""
    result = None
    called = set()
    try:
        for hid, hook in [*_G.forward_pre_hooks.items(), *self._forward_pre_hooks.items()]:
            if hid in self._forward_pre_hooks_with_kwargs:
                r = hook(self, args, kwargs)
                if r is not None:
                    if isinstance(r, tuple) and len(r) == 2:
                        args, kwargs = r
                    else:
                        raise InvalidArgumentError(f"forward pre-hook must return None or a tuple of (new_args, "
                                                   f"new_kwargs), but got {r}.")
            else:
                r = hook(self, args)
                if r is not None:
                    args = r if isinstance(r, tuple) else (r,)
        bw = None
        if self._backward_hooks or self._backward_pre_hooks or _G.backward_hooks or _G.backward_pre_hooks:
            bw = BackwardHook(self, [*_G.backward_hooks.values(), *self._backward_hooks.values()],
                              [*_G.backward_pre_hooks.values(), *self._backward_pre_hooks.values()])
            args = bw.setup_input_hook(args)
        result = self.forward(*args, **kwargs)
        for hid, hook in [*_G.forward_hooks.items(), *self._forward_hooks.items()]:
            if hid in self._forward_hooks_always_called or hid in _G.forward_hooks_always_called:
                called.add(hid)
            if hid in self._forward_hooks_with_kwargs or hid in _G.forward_hooks_with_kwargs:
                r = hook(self, args, kwargs, result)
            else:
                r = hook(self, args, result)
            if r is not None:
                result = r
        if bw is not None:
            if not isinstance(result, (Tensor, tuple)):
                warnings.warn(f"For backward hooks to be called, module output should be a Tensor or a tuple "
                              f"of Tensors but received {type(result)}", stacklevel=3)
            else:
                result = bw.setup_output_hook(result)
        return result
    except Exception:
        for hid, hook in [*_G.forward_hooks.items(), *self._forward_hooks.items()]:
            if (hid in self._forward_hooks_always_called or hid in _G.forward_hooks_always_called) \
                    and hid not in called:
                try:
                    if hid in self._forward_hooks_with_kwargs or hid in _G.forward_hooks_with_kwargs:
                        r = hook(self, args, kwargs, result)
                    else:
                        r = hook(self, args, result)
                    if r is not None:
                        result = r
                except Exception as e:
                        warnings.warn(f"module forward hook with ``always_call=True`` raised an exception that was "
                                  f"silenced as another error was raised in forward: {e}", stacklevel=3)
        raise
