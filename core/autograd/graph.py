"""The backward graph: per-tensor autograd metadata, nodes, version counters.

A tensor that requires grad carries the Autograd dispatch key bit and an
``AutogradMeta`` in ``tensor._ag``. A non-leaf points at the node that made
it (``grad_fn``) and which of that node's outputs it is; a leaf gets an
``AccumulateGrad`` node on first use. Version counters live on the storage's
root tensor (``t._base or t``), so every view of one storage shares one.
"""

from __future__ import annotations

import itertools
import weakref

from ..dispatch.keys import AUTOGRAD
from ..errors import InvalidArgumentError, UnsupportedError

_AG = AUTOGRAD.bit
_seq = itertools.count()

__all__ = ["AutogradMeta", "Node", "FormulaNode", "AccumulateGrad", "meta_of", "edge_of", "version_of",
           "bump_version", "TensorInfo", "sum_to"]


class AutogradMeta:
    __slots__ = ("requires_grad", "grad", "grad_fn", "output_nr", "acc", "hooks", "retains_grad",
                 "base", "view_hist", "hist", "vc", "fw", "fw_level", "is_view_of_leaf")

    def __init__(self):
        self.requires_grad = False
        self.grad = None
        self.grad_fn = None
        self.output_nr = 0
        self.acc = None
        self.hooks = None
        self.retains_grad = False
        self.base = None          # the tensor this one is an autograd view of
        self.view_hist = 0        # base's history counter when grad_fn was made
        self.hist = 0             # bumped whenever this tensor's history is replaced in place
        self.vc = None            # version counter cell [n], on storage roots (shared by saved aliases)
        self.fw = None            # forward-mode tangent
        self.fw_level = -1
        self.is_view_of_leaf = False


def meta_of(t) -> AutogradMeta:
    m = t._ag
    if m is None:
        m = t._ag = AutogradMeta()
    return m


def version_of(t) -> int:
    root = t._base
    if root is None:
        root = t
    m = root._ag
    return 0 if m is None or m.vc is None else m.vc[0]


def bump_version(t) -> None:
    root = t._base
    if root is None:
        root = t
    m = meta_of(root)
    if m.vc is None:
        m.vc = [1]
    else:
        m.vc[0] += 1


class TensorInfo:
    """What backward keeps of a tensor argument it does not save: its shape, dtype and device."""

    __slots__ = ("shape", "dtype", "device", "_shape", "_dtype", "_device", "_strides")

    def __init__(self, t):
        self._strides = t._strides
        self.shape = self._shape = t._shape
        self.dtype = self._dtype = t._dtype
        self.device = self._device = t._device

    @property
    def ndim(self):
        return len(self._shape)

    def dim(self):
        return len(self._shape)

    def size(self, d=None):
        return self._shape if d is None else self._shape[d]

    def numel(self):
        n = 1
        for s in self._shape:
            n *= s
        return n

    def is_floating_point(self):
        return self._dtype.is_floating_point


def _node_name(opname: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in opname.split("_") if p) + "Backward0"


class Node:
    """A step of the backward pass: gradients of its outputs in, gradients of its inputs out."""

    __slots__ = ("edges", "seq", "pre_hooks", "post_hooks", "__weakref__")
    saves = False
    nout = 1

    def __init__(self, edges):
        self.edges = edges          # one (node, output_nr) or None per differentiable input
        self.seq = next(_seq)
        self.pre_hooks = None       # output_nr -> [hook(grad) -> grad or None]
        self.post_hooks = None

    def name(self) -> str:
        return type(self).__name__

    def __repr__(self):
        return f"<{self.name()} object at {id(self):#x}>"

    @property
    def next_functions(self):
        return tuple((e[0], e[1]) if e is not None else (None, 0) for e in self.edges)

    def apply(self, grads):
        raise UnsupportedError

    def release(self):
        pass

    def register_hook(self, fn):
        if self.post_hooks is None:
            self.post_hooks = []
        self.post_hooks.append(fn)
        return _Handle(self.post_hooks, fn)

    def register_prehook(self, fn):
        return self.add_pre_hook(0, fn)

    def add_pre_hook(self, nr, fn):
        if self.pre_hooks is None:
            self.pre_hooks = {}
        lst = self.pre_hooks.setdefault(nr, [])
        lst.append(fn)
        return _Handle(lst, fn)


class _Handle:
    __slots__ = ("lst", "fn")

    def __init__(self, lst, fn):
        self.lst, self.fn = lst, fn

    def remove(self):
        try:
            self.lst.remove(self.fn)
        except ValueError:
            pass


_FREED = ("Trying to backward through the graph a second time (or directly access saved tensors after "
          "they have already been freed). Saved intermediate values of the graph are freed when you call "
          ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
          "graph a second time or if you need to access saved tensors after calling backward.")


def _modified_error(t, node_name, now, then):
    return RuntimeError(
        f"one of the tensors needed for gradient computation has been modified by an in-place operation: "
        f"a {t._dtype.name} tensor of shape {tuple(t._shape)} saved by {node_name} is at version {now}; "
        f"expected version {then} instead. Hint: clone() it before the in-place change, or make the change "
        f"out of place (for example x = x + 1 instead of x += 1).")


class FormulaNode(Node):
    """The backward of one operator call: its registered formula over the saved arguments."""

    __slots__ = ("formula", "args", "saved", "versions", "in_info", "out_info", "result", "opname",
                 "released", "multi")

    def __init__(self, edges, formula, opname, args, saved, in_info, out_info, result, multi):
        self.edges = edges          # Node.__init__, inlined: one node per recorded operator call
        self.seq = next(_seq)
        self.pre_hooks = None
        self.post_hooks = None
        self.formula = formula
        self.opname = opname
        self.args = args            # schema-order arguments, unsaved tensors as TensorInfo
        self.saved = saved          # the saved tensors, for the version check
        self.versions = tuple([version_of(t) for t in saved]) if saved else ()
        self.in_info = in_info      # per edge: TensorInfo of the input, for shape and dtype fitting
        self.out_info = out_info    # per output: TensorInfo, or None for a non-float output
        self.result = result
        self.released = False
        self.multi = multi

    @property
    def saves(self):
        return bool(self.saved) or self.result is not None

    @property
    def nout(self):
        return len(self.out_info)

    def name(self):
        return _node_name(self.opname)

    def _unpack_result(self):
        """The saved output(s), reattached to this node (saved detached, so node and output form no cycle)."""
        res = self.result
        if not self.multi:
            return _reattach(res, self, 0, self.out_info[0])
        return tuple(_reattach(r, self, k, info) for k, (r, info) in enumerate(zip(res, self.out_info)))

    def release(self):
        if self.saves:
            self.released = True
            self.args = None
            self.result = None
            self.saved = None

    def apply(self, grads):
        if self.released:
            raise InvalidArgumentError(_FREED)
        if self.saved:
            for t, v in zip(self.saved, self.versions):
                now = version_of(t)
                if now != v:
                    raise _modified_error(t, self.name(), now, v)
        if self.multi:
            g = tuple(_zeros_for(gi, info) for gi, info in zip(grads, self.out_info))
        else:
            g = grads[0]
            if g is None:
                return [None] * len(self.edges)
        f = self.formula
        if self.result is not None:
            r = f.fn(g, *self.args, result=self._unpack_result())
        else:
            r = f.fn(g, *self.args)
        return fit_grads(r, self.in_info, len(self.edges))


def _reattach(t, node, k, info):
    if t is None or info is None:
        return t
    a = t._view(t._shape, t._strides, t._offset)
    m = a._ag = AutogradMeta()
    m.requires_grad = True
    m.grad_fn = node
    m.output_nr = k
    a._keys |= _AG
    return a


def detached(t):
    """An alias of t's data sharing its version counter but not referring to t (what a node keeps of
    its own output: referring to it would make a reference cycle through t's grad_fn)."""
    if t is None or not hasattr(t, "_view"):
        return t
    root = t._base if t._base is not None else t
    rm = meta_of(root)
    if rm.vc is None:
        rm.vc = [0]
    a = t._view(t._shape, t._strides, t._offset)
    a._base = None
    a._keys &= ~_AG
    m = a._ag = AutogradMeta()
    m.vc = rm.vc
    return a


_node_classes: dict = {}


def node_class(opname: str):
    """A FormulaNode subclass named for the operator (MulBackward0), so reprs read as in PyTorch."""
    cls = _node_classes.get(opname)
    if cls is None:
        cls = _node_classes[opname] = type(_node_name(opname), (FormulaNode,), {"__slots__": ()})
    return cls


def _zeros_for(g, info):
    if g is not None or info is None:
        return g
    from ..ops.creation import full
    return full(info._shape, 0, dtype=info._dtype, device=info._device)


def fit_grads(r, in_info, n):
    """Flatten a formula's result to one gradient per edge, summed to shape and cast to dtype."""
    if n == 1 and not isinstance(r, (tuple, list)):
        r = (r,)
    out = []
    for g in r:
        if isinstance(g, list):
            out.extend(g)
        else:
            out.append(g)
    if len(out) != n:
        raise InvalidArgumentError(f"a derivative formula returned {len(out)} gradients for {n} tensor inputs")
    for i, (g, info) in enumerate(zip(out, in_info)):
        if g is None or info is None:
            out[i] = None
            continue
        if not hasattr(g, "_shape"):  # a Python number: broadcast it
            from ..ops.creation import full
            out[i] = full(info._shape, g, dtype=info._dtype, device=info._device)
            continue
        if g._shape != info._shape:
            g = sum_to(g, info._shape)
        if g._dtype is not info._dtype:
            g = g.to(info._dtype)
        if g._device is not info._device:
            g = g.to(info._device)
        out[i] = g
    return out


_SUM_TO_OPS = None


def sum_to(g, shape):
    """g summed over the dims broadcasting added, to ``shape``."""
    gs = g._shape
    if gs == shape:
        return g
    global _SUM_TO_OPS
    if _SUM_TO_OPS is None:
        from ..ops.reduction import sum as _s
        from ..ops.views import reshape as _r, expand as _e
        _SUM_TO_OPS = (_s, _r, _e)
    _sum, reshape, expand = _SUM_TO_OPS
    lead = len(gs) - len(shape)
    if lead < 0:  # a gradient smaller than its input: broadcast (e.g. a 0-d grad of a sum)
        return expand(g, shape)
    inner = [lead + i for i, n in enumerate(shape) if n == 1 and gs[lead + i] != 1]
    if inner:
        g = _sum(g, inner, True)
    if lead:
        g = _sum(g, list(range(lead)), False)  # no keepdim: no reshape (and no view) afterwards
    if g._shape != shape:
        g = reshape(g, shape)
    return g


class AccumulateGrad(Node):
    """The end of the graph at a leaf: adds the incoming gradient to ``tensor.grad``.

    ``post_acc_hooks`` (hook(tensor), from ``Tensor.register_post_accumulate_grad_hook``) run once the
    leaf's ``.grad`` holds this backward's contribution; they live here because this node lives as long
    as its leaf's autograd metadata.
    """

    __slots__ = ("ref", "post_acc_hooks")

    def __init__(self, tensor):
        super().__init__(())
        self.ref = weakref.ref(tensor)
        self.post_acc_hooks = None

    @property
    def variable(self):
        return self.ref()

    def apply(self, grads):
        return []


def edge_of(t):
    """(node, output_nr) through which gradient reaches t, or None when t does not require grad."""
    m = t._ag
    if m is None or not m.requires_grad:
        return None
    if m.base is not None:
        refresh_view(t, m)
    fn = m.grad_fn
    if fn is not None:
        return (fn, m.output_nr)
    acc = m.acc
    if acc is None:
        acc = m.acc = AccumulateGrad(t)
    return (acc, 0)


# -- views and in-place changes -------------------------------------------------------

def _positions(t, cap):
    """int64 storage positions of t's elements (a view of an arange over the storage)."""
    from ..ops.creation import arange_
    from .. import dtypes as D
    return arange_(0, cap, 1, dtype=D.int64, device=t._device)._view(t._shape, t._strides, t._offset)


def _cap(t):
    return t._backend.runtime.storage_numel(t._storage)


class _Geometry:
    __slots__ = ("shape", "strides", "offset", "device", "cap", "base_shape", "base_strides", "base_offset",
                 "dtype")

    def __init__(self, base, view):
        self.shape, self.strides, self.offset = view._shape, view._strides, view._offset
        self.base_shape, self.base_strides, self.base_offset = base._shape, base._strides, base._offset
        self.device = base._device
        self.dtype = base._dtype
        self.cap = _cap(base)

    def pos_view(self):
        return _positions_g(self.device, self.cap, self.shape, self.strides, self.offset)

    def pos_base(self):
        return _positions_g(self.device, self.cap, self.base_shape, self.base_strides, self.base_offset)


def _positions_g(device, cap, shape, strides, offset):
    from ..ops.creation import arange_
    from .. import dtypes as D
    return arange_(0, cap, 1, dtype=D.int64, device=device)._view(shape, strides, offset).reshape(-1)


class AsStridedBackward0(Node):
    """A view of a base, as storage geometry: the gradient lands in the viewed positions of the base."""

    __slots__ = ("geom",)

    def __init__(self, edges, geom):
        super().__init__(edges)
        self.geom = geom

    def apply(self, grads):
        from ..ops.creation import full
        g = grads[0]
        if g is None:
            return [None]
        G = self.geom
        flat = full((G.cap,), 0, dtype=g._dtype, device=g._device)
        flat = flat.scatter_add(0, G.pos_view(), g.reshape(-1))
        return [flat.gather(0, G.pos_base()).reshape(G.base_shape)]


class CopySlices(Node):
    """A base whose view was changed in place: the view's part of the gradient goes to the new values."""

    __slots__ = ("geom",)

    def __init__(self, edges, geom):
        super().__init__(edges)
        self.geom = geom

    def apply(self, grads):
        from ..ops.creation import full
        g = grads[0]
        if g is None:
            return [None, None]
        G = self.geom
        pb, pv = G.pos_base(), G.pos_view()
        flat = full((G.cap,), 0, dtype=g._dtype, device=g._device).scatter(0, pb, g.reshape(-1))
        g_view = flat.gather(0, pv).reshape(G.shape)
        g_base = flat.scatter(0, pv, value=0).gather(0, pb).reshape(G.base_shape)
        return [g_base, g_view]


def refresh_view(t, m):
    """A view whose base's history changed in place gets a fresh grad_fn: as_strided of the base."""
    base = m.base
    bm = base._ag
    if bm is None or m.view_hist == bm.hist:
        return
    m.view_hist = bm.hist
    e = edge_of(base)
    if e is None:
        return
    m.grad_fn = AsStridedBackward0([e], _Geometry(base, t))
    m.output_nr = 0


def rebase(base, view, node):
    """``view`` of ``base`` was changed in place by ``node``: base's history now goes through CopySlices."""
    bm = meta_of(base)
    cs = CopySlices([edge_of(base), (node, 0)], _Geometry(base, view))
    bm.grad_fn = cs
    bm.output_nr = 0
    bm.requires_grad = True
    bm.hist += 1
    base._keys |= _AG
    vm = meta_of(view)
    vm.requires_grad = True
    vm.base = base
    vm.view_hist = -1   # stale: refreshed from the base on next use
    view._keys |= _AG
