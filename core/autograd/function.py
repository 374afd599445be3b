"""ember.autograd.Function: an operation with a hand-written backward.

    class Exp(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad):
            (y,) = ctx.saved_tensors
            return grad * y

    y = Exp.apply(x)
"""

from __future__ import annotations

from .._tensor import Tensor
from ..dispatch.keys import AUTOGRAD
from .graph import Node, TensorInfo, _FREED, _modified_error, edge_of, fit_grads, meta_of, version_of
from .grad_mode import no_grad
from ..errors import InvalidArgumentError, UnsupportedError

__all__ = ["Function", "FunctionCtx", "once_differentiable"]

_AG = AUTOGRAD.bit


class FunctionCtx:
    """What forward leaves for backward: saved tensors, needs_input_grad, and any attributes set on it."""

    def __init__(self):
        self._saved = ()
        self._versions = ()
        self._released = False
        self.needs_input_grad = ()
        self.materialize_grads = True
        self._non_diff = set()
        self._dirty = ()

    def save_for_backward(self, *tensors):
        self._saved = tensors
        self._versions = tuple(version_of(t) if isinstance(t, Tensor) else None for t in tensors)

    @property
    def saved_tensors(self):
        if self._released:
            raise InvalidArgumentError(_FREED)
        for t, v in zip(self._saved, self._versions):
            if isinstance(t, Tensor) and version_of(t) != v:
                raise _modified_error(t, "a custom Function", version_of(t), v)
        return self._saved

    def mark_non_differentiable(self, *tensors):
        self._non_diff.update(id(t) for t in tensors)

    def mark_dirty(self, *tensors):
        self._dirty = tensors

    def set_materialize_grads(self, value: bool):
        self.materialize_grads = bool(value)


class FunctionBackward(Node):
    __slots__ = ("cls", "ctx", "in_info", "out_info")

    def __init__(self, edges, cls, ctx, in_info, out_info):
        super().__init__(edges)
        self.cls, self.ctx, self.in_info, self.out_info = cls, ctx, in_info, out_info

    @property
    def nout(self):
        return len(self.out_info)

    def name(self):
        return f"{self.cls.__name__}Backward"

    def release(self):
        self.ctx._released = bool(self.ctx._saved)
        if self.ctx._released:
            self.ctx._saved = ()

    def apply(self, grads):
        from ..ops.creation import full
        if self.ctx.materialize_grads:
            grads = [g if g is not None or info is None else
                     full(info._shape, 0, dtype=info._dtype, device=info._device)
                     for g, info in zip(grads, self.out_info)]
        r = self.cls.backward(self.ctx, *grads)
        if not isinstance(r, tuple):
            r = (r,)
        n = len(self.ctx.needs_input_grad)
        if len(r) < n:
            raise InvalidArgumentError(f"function {self.cls.__name__}.backward returned {len(r)} gradients, but forward "
                                       f"took {n} arguments; return None for arguments that need no gradient")
        keep = [g for g, is_t in zip(r, self._tensor_mask()) if is_t]
        return fit_grads(tuple(keep), self.in_info, len(self.in_info))

    def _tensor_mask(self):
        return self.ctx._is_tensor


_classes: dict = {}


def _backward_class(cls):
    """A node class named for the Function (MyFnBackward), as PyTorch names them."""
    c = _classes.get(cls)
    if c is None:
        c = _classes[cls] = type(f"{cls.__name__}Backward", (FunctionBackward,), {"__slots__": ()})
    return c


class Function:
    """Subclass with static forward(ctx, *args) and backward(ctx, *grads); call Subclass.apply(*args)."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise UnsupportedError("a Function subclass must implement forward(ctx, *args)")

    @staticmethod
    def backward(ctx, *grads):
        raise UnsupportedError("a Function subclass must implement backward(ctx, *grads) to be differentiated")

    @staticmethod
    def jvp(ctx, *tangents):
        raise UnsupportedError("a Function subclass must implement jvp(ctx, *tangents) for forward mode")

    @classmethod
    def apply(cls, *args, **kwargs):
        from .grad_mode import is_grad_enabled
        ctx = FunctionCtx()
        is_t = [isinstance(a, Tensor) for a in args]
        ctx._is_tensor = is_t
        ctx.needs_input_grad = tuple(bool(t and a.requires_grad) for a, t in zip(args, is_t))
        with no_grad():
            out = cls.forward(ctx, *args, **kwargs)
        out = _forward_mode(cls, ctx, args, out)
        if not (is_grad_enabled() and any(ctx.needs_input_grad)):
            return out
        tensors = [a for a in args if isinstance(a, Tensor)]
        edges = [edge_of(a) for a in tensors]
        in_info = [TensorInfo(a) if a._dtype.is_floating_point else None for a in tensors]
        single = not isinstance(out, tuple)
        outs = (out,) if single else out
        out_info = tuple(TensorInfo(o) if isinstance(o, Tensor) and o._dtype.is_floating_point
                         and id(o) not in ctx._non_diff else None for o in outs)
        node = _backward_class(cls)(edges, cls, ctx, in_info, out_info)
        new = []
        for k, o in enumerate(outs):
            if out_info[k] is None:
                new.append(o)
                continue
            if any(o is a for a in args) and o not in ctx._dirty:
                o = o._view(o._shape, o._strides, o._offset)  # an input returned as is: a new alias
            m = meta_of(o)
            m.requires_grad = True
            m.grad_fn = node
            m.output_nr = k
            o._keys |= _AG
            new.append(o)
        return new[0] if single else tuple(new)


def _forward_mode(cls, ctx, args, out):
    """Dual inputs: the output's tangent from cls.jvp(ctx, *tangents), which forward mode needs."""
    from . import forward_state as FW
    from .kernels import _tangent
    if FW.state.level < 0 or FW.state.busy:
        return out
    tans = [(_tangent(a) if isinstance(a, Tensor) else None) for a in args]
    if all(t is None for t in tans):
        return out
    jvp = getattr(cls, "jvp", None)
    if jvp is None or jvp is Function.jvp:
        raise InvalidArgumentError(f"{cls.__name__} got dual tensors (forward-mode AD) but defines no jvp(ctx, *tangents); "
                                   f"add a static jvp method to use it in forward mode")
    from .forward_ad import _set_tangent
    FW.state.busy = True
    try:
        with no_grad():
            r = jvp(ctx, *tans)
    finally:
        FW.state.busy = False
    outs = out if isinstance(out, tuple) else (out,)
    rs = r if isinstance(r, tuple) else (r,)
    res = []
    for o, t in zip(outs, rs):
        if isinstance(o, Tensor) and t is not None:
            o = o._view(o._shape, o._strides, o._offset)   # a new tensor to carry the tangent
            _set_tangent(o, t)
        res.append(o)
    return tuple(res) if isinstance(out, tuple) else res[0]


def once_differentiable(fn):
    """Mark a backward as not differentiable again (runs it with grad off)."""
    import functools

    @functools.wraps(fn)
    def wrapper(ctx, *grads):
        with no_grad():
            return fn(ctx, *grads)
    return wrapper
