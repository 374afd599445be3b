"""Autograd's part of Tensor: requires_grad, grad, grad_fn, is_leaf, backward, detach, hooks."""

from __future__ import annotations

from .._tensor import Tensor
from ..dispatch.keys import AUTOGRAD
from .graph import AccumulateGrad, edge_of, meta_of, refresh_view, version_of
from ..errors import InvalidArgumentError

_AG = AUTOGRAD.bit


def _requires_grad(self):
    m = self._ag
    return m is not None and m.requires_grad


def _set_requires_grad(self, flag):
    requires_grad_(self, flag)


def requires_grad_(self, requires_grad=True):
    m = self._ag
    flag = bool(requires_grad)
    if m is not None and m.grad_fn is not None:
        if not flag:
            raise InvalidArgumentError("you can only change requires_grad flags of leaf tensors; use detach() to get a "
                                       "tensor that does not require grad")
        return self
    if flag and self._dtype.category < 2:  # floating and complex dtypes
        raise InvalidArgumentError(f"only tensors of floating point and complex dtype can require gradients, got dtype "
                                   f"{self._dtype.name}")
    m = meta_of(self)
    m.requires_grad = flag
    if flag:
        self._keys |= _AG
    return self


def _grad(self):
    m = self._ag
    return None if m is None else m.grad


def _set_grad(self, value):
    if value is not None and value._shape != self._shape:
        raise InvalidArgumentError(f"assigned grad has shape {tuple(value._shape)}, but the tensor has shape "
                                   f"{tuple(self._shape)}")
    meta_of(self).grad = value


def _grad_fn(self):
    m = self._ag
    if m is None or not m.requires_grad:
        return None
    if m.base is not None:
        refresh_view(self, m)
    return m.grad_fn


def _is_leaf(self):
    m = self._ag
    return m is None or m.grad_fn is None or not m.requires_grad


def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    """Add d(self)/d(leaf) (times gradient) to every leaf's .grad."""
    from .engine import backward as _backward
    _backward(self, gradient, retain_graph, create_graph, inputs=inputs)


def detach(self):
    """A tensor sharing this one's data, cut off from the graph (its in-place changes are still seen)."""
    t = self._view(self._shape, self._strides, self._offset)
    t._keys &= ~_AG
    return t


def detach_(self):
    m = self._ag
    if m is not None:
        if m.base is not None:
            raise InvalidArgumentError("can't detach_() a view in place; use detach() instead")
        m.grad_fn = None
        m.requires_grad = False
    self._keys &= ~_AG
    return self


def retain_grad(self):
    """Keep this non-leaf tensor's gradient in .grad after backward."""
    m = self._ag
    if m is None or not m.requires_grad:
        raise InvalidArgumentError("can't retain_grad on a tensor that has requires_grad=False")
    if m.grad_fn is None or m.retains_grad:
        return
    m.retains_grad = True
    import weakref
    ref = weakref.ref(self)

    def hook(g):
        t = ref()
        if t is not None and g is not None:
            tm = t._ag
            d = g.detach()
            tm.grad = d.clone() if tm.grad is None else tm.grad + d
    _grad_fn(self).add_pre_hook(m.output_nr, hook)


def _retains_grad(self):
    m = self._ag
    return m is not None and m.retains_grad


def register_hook(self, hook):
    """hook(grad) -> new grad or None, run when this tensor's gradient is computed."""
    m = self._ag
    if m is None or not m.requires_grad:
        raise InvalidArgumentError("cannot register a hook on a tensor that doesn't require gradient")
    fn = _grad_fn(self)
    if fn is None:
        if m.hooks is None:
            m.hooks = []
        m.hooks.append(hook)
        from .graph import _Handle
        return _Handle(m.hooks, hook)
    return fn.add_pre_hook(m.output_nr, hook)


def register_post_accumulate_grad_hook(self, hook):
    """hook(tensor) -> None, run on a leaf after backward has added this pass's gradient to its ``.grad``."""
    m = self._ag
    if m is None or not m.requires_grad:
        raise InvalidArgumentError("cannot register a hook on a tensor that doesn't require gradient")
    if _grad_fn(self) is not None:
        raise InvalidArgumentError("post accumulate grad hooks cannot be registered on non-leaf tensors; register "
                                   "them on the leaf (a parameter or a tensor made with requires_grad=True)")
    node = edge_of(self)[0]
    if node.post_acc_hooks is None:
        node.post_acc_hooks = []
    node.post_acc_hooks.append(hook)
    from .graph import _Handle
    return _Handle(node.post_acc_hooks, hook)


def _version(self):
    return version_of(self)


def _data(self):
    return detach(self)


def _set_data(self, value):
    self._storage, self._offset = value._storage, value._offset
    self._shape, self._strides = value._shape, value._strides
    self._dtype, self._device, self._backend = value._dtype, value._device, value._backend
    self._base = value._base if value._base is not None else value


def _output_nr(self):
    m = self._ag
    return 0 if m is None else m.output_nr


def _is_view(self):
    return self._base is not None


def install():
    T = Tensor
    T._ag = None
    T.requires_grad = property(_requires_grad, _set_requires_grad)
    T.requires_grad_ = requires_grad_
    T.grad = property(_grad, _set_grad)
    T.grad_fn = property(_grad_fn)
    T.is_leaf = property(_is_leaf)
    T.backward = backward
    T.detach = detach
    T.detach_ = detach_
    T.retain_grad = retain_grad
    T.retains_grad = property(_retains_grad)
    T.register_hook = register_hook
    T.register_post_accumulate_grad_hook = register_post_accumulate_grad_hook
    T._version = property(_version)
    T.data = property(_data, _set_data)
    T.output_nr = property(_output_nr)
    T._is_view = _is_view
