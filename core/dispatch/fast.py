"""The dispatcher's native fast path (``_fast.c``): plans made here, calls shortened there.

The common calls (``a + b`` on one dtype and shape, ``x * 2.0``, ``x.sum()``, ``a @ b`` on matrices), with or
without the autograd tape, spend most of their time in Python frames: the public function, the generated
dispatch function, the adapter, the kernel, the result's wrapper, the Autograd entry. ``FastOp`` replaces the
public function by a native callable that, in the plain case, calls the backend's *array kernel* on the
tensors' handles and builds the result tensor (and the node the Autograd entry would record), and otherwise
calls the function it wraps. It never decides semantics: a plan is made here, once per (dtype, backend key,
case), by asking the Python path's own pieces whether they would call the kernel directly (the
elementwise adapter's ``direct``, the operator's meta, the Autograd entry's plan) and by the backend's
claim, in ``register(..., array_kernels=...)``, that an array function computes what its kernel computes.

``EMBER_NATIVE_DISPATCH=0`` turns it off (the Python path alone runs); ``enabled()`` says whether it is on.
"""

from __future__ import annotations

import os

from .._tensor import Tensor
from . import keys as K

try:
    from . import _fast
except ImportError:  # built without a C compiler: the Python path alone runs
    _fast = None

__all__ = ["enabled", "install", "new_state"]

_ON = _fast is not None and os.environ.get("EMBER_NATIVE_DISPATCH", "1").strip().lower() not in ("0", "false",
                                                                                                  "no", "off")


def enabled() -> bool:
    """Whether the native fast path is built and switched on."""
    return _ON


def new_state(fallback_cls):
    """The dispatcher's thread-local state: the native one when the fast path is on (it reads it free)."""
    return _fast.State() if _ON else fallback_cls()


def invalidate() -> None:
    """Drop every cached plan: called when a kernel or an operator is registered."""
    if _ON:
        _fast.invalidate()


# -- plans ---------------------------------------------------------------------------------

def _array_kernel(backend, opname, dtype):
    """The backend's array function for the operator, where it claims one for this dtype."""
    table = backend.array_kernels
    entry = table.get(opname) if table and backend.array_handle is not None else None
    if entry is None or dtype not in entry[1]:
        return None
    return entry[0]


def _grad_plan(op, ntensors, result_dtype, npassed=None, tpos=None, plan=None, multi=False):
    """(node class, formula, name, save rules, trailing args, float result, view, saved outputs) for the
    Autograd entry's record, or None where that entry is not the plain formula record the native path
    reproduces (``multi``: the caller records the operator's several outputs)."""
    from ..autograd.graph import FormulaNode

    if plan is None:
        plan = getattr(op.kernels.get(K.AUTOGRAD.index), "plan", None)
    if plan is None or plan.multi != multi or plan.inplace:
        return None
    if plan.tpos != tuple((i, False) for i in (tpos or range(ntensors))) or plan.node_cls.__slots__ != () \
            or plan.node_cls.__mro__[1] is not FormulaNode:
        return None
    save = []
    for i in (tpos or range(ntensors)):
        if i not in plan.save_pos:
            save.append(-1)
        elif plan.save_if is not None and i in plan.save_if:
            conds = plan.save_if[i]
            save.append(sum(1 << c for c in conds) if conds else -1)
        else:
            save.append(0)
    # the schema's arguments after those the native path passes: their defaults
    tail = tuple(a.default for a in op.schema.arguments[ntensors if npassed is None else npassed:])
    out_float = None if result_dtype is None else result_dtype.category >= 2   # None: by the output's dtype
    # the outputs the formula reads: all (True), none (False), or per output (a tuple of bools)
    want = plan.result_keep if plan.want_result and plan.result_keep is not None else plan.want_result
    return (plan.node_cls, plan.formula, plan.opname, tuple(save), tail, out_float, plan.is_view, want)


def _plan(op, backend, kernel, result_dtype, ntensors):
    return (kernel, result_dtype, backend, backend.device(), backend.key.bit | result_dtype.key_bit,
            _grad_plan(op, ntensors, result_dtype), backend.array_handle)


def _checked(kernel, result_dtype, *handles):
    """Run the array kernel once on the planning call's own handles: its result must have the dtype."""
    import numpy as np
    try:
        r = np.asarray(kernel(*handles))
    except Exception:  # noqa: BLE001  (the Python path will say what is wrong with these arguments)
        return False
    return r.dtype == result_dtype.np


def _binary_planner(op):
    from . import operator as O

    def plan(a, b):
        backend = a._backend
        entry = op._table[backend.key.index]
        direct = getattr(entry, "direct", None)
        if O.checks.kernels or direct is None:
            return None
        result = direct(a, b)
        kernel = result is not None and _array_kernel(backend, op.name, a._dtype)
        h = backend.array_handle
        if not kernel or not _checked(kernel, result, h(a), h(b) if isinstance(b, Tensor) else b):
            return None
        return _plan(op, backend, kernel, result, 2)
    return plan


def _unary_planner(op):
    from . import operator as O

    def plan(a):
        backend = a._backend
        direct = getattr(op._table[backend.key.index], "direct", None)
        if O.checks.kernels or direct is None:
            return None
        result = direct(a)
        kernel = result is not None and _array_kernel(backend, op.name, a._dtype)
        if not kernel or not _checked(kernel, result, backend.array_handle(a)):
            return None
        return _plan(op, backend, kernel, result, 1)
    return plan


def _composite_unary_planner(op):
    """An elementwise operator core computes by its decomposition (relu: maximum(x, 0)), where the backend
    claims an array kernel for it."""
    from . import operator as O

    def plan(a):
        backend = a._backend
        kernel = _array_kernel(backend, op.name, a._dtype)
        if O.checks.kernels or not kernel or op._table[backend.key.index] is not op.decomposition:
            return None
        spec = op.meta(a)
        if spec.dtype is not a._dtype or tuple(spec.shape) != tuple(a._shape) or \
                not _checked(kernel, spec.dtype, backend.array_handle(a)):
            return None
        return _plan(op, backend, kernel, spec.dtype, 1)
    return plan


def _reduce_all_planner(op, recorded=None):
    """A reduction: op(x) over every dim (sum, mean, max), or op(x, dim, keepdim) over one (the native path
    passes keepdim, False when not given): the backend's array kernel for op, called as kernel(x) or
    kernel(x, (dim,), keepdim); under grad mode the node of ``recorded`` (default op)."""
    from . import operator as O

    def plan(a, *dim_keep):
        backend = a._backend
        kernel = _array_kernel(backend, op.name, a._dtype)
        if O.checks.kernels or not kernel:
            return None
        spec = op.meta(a, *dim_keep)
        h = backend.array_handle(a)
        probe = (h, (dim_keep[0] % a.ndim,), dim_keep[1]) if dim_keep else (h,)
        if spec.dtype is not a._dtype or not _checked(kernel, spec.dtype, *probe):
            return None
        grad = _grad_plan(recorded or op, 1, spec.dtype, npassed=4 if dim_keep else 1)
        return (kernel, spec.dtype, backend, backend.device(), backend.key.bit | spec.dtype.key_bit, grad,
                backend.array_handle)
    return plan


def _max_planner(max_op, max_dim, amax, result_type):
    """Tensor.max / ember.max: max(x) is the full reduction (array kernel "max"), max(x, dim, keepdim) the
    (values, indices) pair (array kernel "max_dim", called as kernel(x, (dim,), keepdim)). max records amax's
    node, as its composite does; max_dim records its own (two outputs: the indices get no gradient). For
    max_dim the plan's kernel is (kernel, result_type, the indices' plan)."""
    from .. import dtypes as D
    from . import operator as O
    full = _reduce_all_planner(max_op, recorded=amax)

    def plan(a, *dim_keep):
        if not dim_keep:
            return full(a)
        backend, dt = a._backend, a._dtype
        kernel = _array_kernel(backend, max_dim.name, dt)
        if O.checks.kernels or not kernel:
            return None
        h = backend.array_handle(a)
        dim, keepdim = dim_keep
        spec = max_dim.meta(a, dim, keepdim)[0]
        try:
            values, indices = kernel(h, (spec.extra,), keepdim)
        except Exception:  # noqa: BLE001  (the Python path will say what is wrong with these arguments)
            return None
        if spec.dtype is not dt or values.dtype != dt.np or indices.dtype != D.int64.np:
            return None
        device = backend.device()
        index_plan = (None, D.int64, backend, device, backend.key.bit | D.int64.key_bit, None, None)
        return ((kernel, result_type, index_plan), dt, backend, device, backend.key.bit | dt.key_bit,
                _grad_plan(max_dim, 1, dt, npassed=3, multi=True), backend.array_handle)
    return plan


def _matmul_planner(op):
    from . import operator as O

    def plan(a, b):
        backend = a._backend
        kernel = _array_kernel(backend, op.name, a._dtype)
        entry = op._table[backend.key.index]
        if O.checks.kernels or not kernel or getattr(entry, "kernel", entry) is not op.kernels.get(backend.key.index):
            return None
        spec = op.meta(a, b)
        h = backend.array_handle
        if spec.dtype is not a._dtype or not _checked(kernel, spec.dtype, h(a), h(b)):
            return None
        return _plan(op, backend, kernel, spec.dtype, 2)
    return plan


def autograd_entry(op, python_entry):
    """The native form of an operator's Autograd entry (``python_entry``, a formula entry), or
    ``python_entry`` itself where its record is not the plain one the native path reproduces."""
    if not _ON:
        return python_entry
    plan = python_entry.plan
    if any(is_list for _, is_list in plan.tpos):
        return python_entry
    grad = _grad_plan(op, len(plan.tpos), None, len(op.schema.arguments), tpos=tuple(i for i, _ in plan.tpos),
                      plan=plan)
    if grad is None:
        return python_entry
    return _fast.FastOp(python_entry, None, _fast.AUTOGRAD, (plan.fn, grad, tuple(i for i, _ in plan.tpos)))


def _inplace_planner(op):
    from . import operator as O

    def plan(a, b):
        backend = a._backend
        direct = getattr(op._table[backend.key.index], "direct", None)
        if O.checks.kernels or direct is None or direct(a, b) is not a._dtype:
            return None
        kernel = _array_kernel(backend, op.name, a._dtype)   # called as kernel(a, b, a): it writes a
        return _plan(op, backend, kernel, a._dtype, 2) if kernel else None
    return plan


def _view_planner(op):
    """A view operator whose backend entry is core's geometry (no backend kernel replaces it)."""
    from . import operator as O

    def plan(x, *rest):
        backend = x._backend
        if O.checks.kernels or op.decomposition is None or op._table[backend.key.index] is not op.decomposition:
            return None
        return (None, None, backend, None, None, _grad_plan(op, 1, x._dtype, len(op.schema.arguments)), None)
    return plan


def _linear_planner(fn):
    """nn.functional.linear(input, weight, bias) on matrices is addmm(bias, input, weight.t()): planned where
    addmm runs its decomposition (mm, then add) and mm and add are array kernels."""
    from . import operator as O
    R = O.registry
    addmm, mm, add, t = R["addmm"], R["mm"], R["add"], R["t"]

    def plan(x, w, b):
        backend, dt = x._backend, x._dtype
        idx = backend.key.index
        k_mm, k_add, k_t = (_array_kernel(backend, name, dt) for name in ("mm", "add_", "t"))
        mm_entry = mm._table[idx]
        if (O.checks.kernels or not k_mm or not k_add or not k_t or addmm._table[idx] is not addmm.decomposition
                or getattr(mm_entry, "kernel", mm_entry) is not mm.kernels.get(idx)
                or getattr(add._table[idx], "direct", None) is None or t._table[idx] is not t.decomposition):
            return None
        h = backend.array_handle
        if addmm.meta(b, x, w.t()).dtype is not dt or not _checked(k_mm, dt, h(x), k_t(h(w))):
            return None
        gt = _grad_plan(t, 1, dt, npassed=1)
        ga = _grad_plan(addmm, 3, dt, npassed=5, tpos=(0, 1, 2))
        grads = (gt, ga) if gt is not None and ga is not None else None
        return ((k_mm, k_add, k_t), dt, backend, backend.device(), backend.key.bit | dt.key_bit, grads,
                backend.array_handle)
    return plan


#: operator -> (kind, planner factory): the calls the native path shortens.
FAST_OPS = {
    "add": ("BINARY", _binary_planner), "sub": ("BINARY", _binary_planner),
    "mul": ("BINARY", _binary_planner), "true_divide": ("BINARY", _binary_planner),
    "maximum": ("BINARY", _binary_planner), "minimum": ("BINARY", _binary_planner),
    **{name: ("UNARY", _unary_planner) for name in ("exp", "log", "sqrt", "tanh", "sin", "cos", "abs", "neg",
                                                     "reciprocal", "square", "expm1", "log1p")},
    "sum": ("REDUCE_ALL", _reduce_all_planner), "mean": ("REDUCE_ALL", _reduce_all_planner),
    "matmul": ("MATMUL", _matmul_planner), "mm": ("MATMUL", _matmul_planner),
    "add_": ("INPLACE", _inplace_planner), "sub_": ("INPLACE", _inplace_planner),
    "mul_": ("INPLACE", _inplace_planner), "true_divide_": ("INPLACE", _inplace_planner),
    "transpose": ("TRANSPOSE", _view_planner), "select": ("SELECT", _view_planner), "t": ("T", _view_planner),
    "relu": ("UNARY", _composite_unary_planner),
}


def install(namespaces) -> int:
    """Replace each public function of a FAST_OPS operator (and its aliases, add's alpha wrapper
    included) by a FastOp in every namespace given (modules' dicts, Tensor's); returns how many."""
    if not _ON:
        return 0
    import numpy as np

    from .. import dtypes as D
    from ..autograd import forward_state as FW
    from ..autograd import graph as G
    from . import operator as O
    from ..nn.parameter import Parameter

    _fast.configure(tensor=Tensor, parameter=Parameter, autograd_meta=G.AutogradMeta,
                    formula_node=G.FormulaNode, tensor_info=G.TensorInfo, ndarray=np.ndarray,
                    fw_state=FW.state, seq=G._seq, edge_of=G.edge_of, asarray=np.asarray,
                    backend_mask=K.BACKEND_MASK, autograd_bit=K.AUTOGRAD.bit,
                    float_dtypes=tuple(d for d in D.all_dtypes + D.complex_dtypes if d.category >= 2))
    made: dict[int, object] = {}
    for ns in namespaces:
        for name, fn in list(vars(ns).items() if not isinstance(ns, dict) else ns.items()):
            op = _op_of(fn, O.registry)
            if op is None or op.name not in FAST_OPS:
                continue
            fast = made.get(id(fn))
            if fast is None:
                kind, factory = FAST_OPS[op.name]
                fast = made[id(fn)] = _fast.FastOp(fn, factory(op), getattr(_fast, kind))
            if isinstance(ns, dict):
                ns[name] = fast
            else:
                setattr(ns, name, fast)
    # Tensor.max / ember.max: max(x) and max(x, dim[, keepdim]) (other forms go to the function); x.view(*shape)
    # and x.reshape(*shape): Tensor's shape methods
    from ..ops import reduction as RD
    R = O.registry
    max_planner = _max_planner(R["max"], R["max_dim"], R["amax"], RD.max_result)
    special = {"max": (RD, "max", max_planner, _fast.REDUCE_ALL),
               "view": (None, "view", _view_planner(R["view"]), _fast.VIEWSHAPE),
               "reshape": (None, "reshape", _view_planner(R["reshape"]), _fast.VIEWSHAPE)}
    for name, (module, attr, planner, kind) in special.items():
        fn = getattr(Tensor, name)
        if isinstance(fn, _fast.FastOp):
            continue
        fast = made[id(fn)] = _fast.FastOp(fn, planner, kind)
        setattr(Tensor, name, fast)
        for ns in namespaces:
            if isinstance(ns, dict):
                if ns.get(attr) is fn:
                    ns[attr] = fast
            elif getattr(ns, attr, None) is fn:
                setattr(ns, attr, fast)
        if module is not None and getattr(module, attr, None) is fn:
            setattr(module, attr, fast)
    # nn.functional.linear (Linear layers)
    from ..nn import functional as NF
    if not isinstance(NF.linear, _fast.FastOp):
        made[id(NF.linear)] = NF.linear = _fast.FastOp(NF.linear, _linear_planner(NF.linear), _fast.LINEAR)
    # x[i], x[a:b], x[:, i], x[..., :, a:b]: one select or slice view (_indexing.getitem); other keys go to
    # getitem itself
    getitem = Tensor.__getitem__
    if not isinstance(getitem, _fast.FastOp):
        select, slice_ = _view_planner(O.registry["select"]), _view_planner(O.registry["slice"])

        def view_of_key(x, *args):   # (dim, index): select; (dim, start, end, step): slice
            return (select if len(args) == 2 else slice_)(x, *args)
        Tensor.__getitem__ = _fast.FastOp(getitem, view_of_key, _fast.GETITEM)
        made[id(getitem)] = Tensor.__getitem__
    return len(made)


def _op_of(fn, registry):
    """The operator a public function calls: the generated function itself, or a wrapper of it
    (add's alpha handling) that takes the same two positional arguments."""
    op = getattr(fn, "op", None)
    if op is None:
        inner = getattr(fn, "__wrapped__", None)
        op = getattr(inner, "op", None)
    if op is None or registry.get(op.name) is not op or not callable(fn) or isinstance(fn, type):
        return None
    return op
