"""The graph ``ember.compile`` traces: a flat list of operator calls over numbered values.

A ``Value`` is a tensor the graph reads or makes: an *input* (a tensor argument of the compiled
function), an *external* (a tensor the function reached without being passed it: a parameter, a buffer,
optimizer state; the graph holds it and reads it live on every run), or the output of a ``Node``. A node
is one operator call as the dispatcher saw it, arguments in schema order with values in place of
tensors, plus the dispatch state it ran under (grad mode, autocast). ``Graph`` prints as text and runs
itself eagerly (``graph(*placeholders)``), which is the default lowering.
"""

from __future__ import annotations

from ..dispatch.keys import AUTOGRAD
from ..dispatch.operator import state as _state

__all__ = ["Value", "Node", "Graph", "ALIAS"]

_AG = AUTOGRAD.bit
_SHORT = {"float32": "f32", "float64": "f64", "float16": "f16", "bfloat16": "bf16", "int64": "i64",
          "int32": "i32", "int16": "i16", "int8": "i8", "uint8": "u8", "bool": "b8", "complex64": "c64",
          "complex128": "c128"}


class Value:
    """One tensor of the graph: ``kind`` is "input", "external" or "node"; ``index`` numbers it."""

    __slots__ = ("index", "kind", "shape", "dtype", "device", "tensor")

    def __init__(self, index, kind, t, keep=False):
        self.index = index
        self.kind = kind
        self.shape = t._shape
        self.dtype = t._dtype
        self.device = t._device
        self.tensor = t if keep else None   # externals only: the live tensor the graph reads

    def type_str(self) -> str:
        dims = ", ".join(str(s) for s in self.shape)
        return f"{_SHORT.get(self.dtype.name, self.dtype.name)}[{dims}] {self.device}"

    def __repr__(self):
        return f"%{self.index}"


class _Alias:
    """The pseudo-operator of a tensor made outside the dispatcher over a value's storage
    (``detach()``, autograd's saved views): a view of that storage, cut off from autograd."""

    name = "alias"
    schema = None


ALIAS = _Alias()


def alias(src, shape, strides, offset):
    t = src._view(shape, strides, offset)
    t._keys &= ~_AG
    return t


class Node:
    """One operator call: ``op`` (an Operator, or ALIAS), ``args`` (schema order, Values for tensors),
    ``outs`` (the Values it made, None where an output is not a tensor), ``multi`` (whether the call
    returned a tuple or list), ``keys`` (included, allowed, inplace_keys of the dispatch state)."""

    __slots__ = ("op", "args", "outs", "multi", "keys")

    def __init__(self, op, args, outs, multi, keys):
        self.op = op
        self.args = args
        self.outs = outs
        self.multi = multi
        self.keys = keys

    @property
    def grad(self) -> bool:
        return bool(self.keys[1] & _AG)

    def format(self) -> str:
        names = [a.name for a in self.op.schema.arguments] if self.op.schema is not None else []
        parts = []
        for i, a in enumerate(self.args):
            arg = self.op.schema.arguments[i] if i < len(names) else None
            if arg is not None and arg.has_default and not _mentions_value(a) and _same(a, arg.default):
                continue
            text = _fmt(a)
            parts.append(text if arg is None or arg.is_tensor else f"{arg.name}={text}")
        lhs = ", ".join("_" if o is None else repr(o) for o in self.outs)
        mode = "" if self.grad else "   # no_grad"
        return f"{lhs} = {self.op.name}({', '.join(parts)}){mode}"


def _same(a, b):
    try:
        return type(a) is type(b) and bool(a == b) or (a is None and b is None)
    except Exception:  # noqa: BLE001  (an argument without a plain ==)
        return False


def _mentions_value(a) -> bool:
    if a.__class__ is Value:
        return True
    if isinstance(a, (list, tuple)):
        return any(_mentions_value(x) for x in a)
    return False


def _fmt(a) -> str:
    if a.__class__ is Value:
        return repr(a)
    if isinstance(a, list):
        return "[" + ", ".join(_fmt(x) for x in a) + "]"
    if isinstance(a, tuple):
        return "(" + ", ".join(_fmt(x) for x in a) + ("," if len(a) == 1 else "") + ")"
    return repr(a)


class Graph:
    """A traced function: placeholders (``inputs`` then ``externals``), ``nodes`` in call order, and
    ``outputs`` (Values the run returns, in order). ``needs_autograd``: whether a run must record
    autograd for the nodes traced with grad on (false when the trace ran its own backward, whose
    operators are then nodes of the graph). ``name`` is the traced function's."""

    def __init__(self, name, inputs, externals, nodes, outputs, needs_autograd):
        self.name = name
        self.inputs = inputs
        self.externals = externals
        self.nodes = nodes
        self.outputs = outputs
        self.needs_autograd = needs_autograd
        self._replay = None

    @property
    def placeholders(self) -> list:
        return self.inputs + self.externals

    def ops(self) -> list:
        """The operator names of the nodes, in call order."""
        return [n.op.name for n in self.nodes]

    def __len__(self):
        return len(self.nodes)

    def __str__(self):
        lines = [f"graph {self.name}("]
        for v in self.inputs:
            lines.append(f"    {v!r}: {v.type_str()},")
        for v in self.externals:
            lines.append(f"    {v!r}: {v.type_str()} (external),")
        lines.append("):")
        lines += [f"    {n.format()}" for n in self.nodes]
        lines.append(f"    return ({', '.join(repr(o) for o in self.outputs)}{',' if len(self.outputs) == 1 else ''})")
        return "\n".join(lines)

    __repr__ = __str__

    def print_graph(self) -> None:
        print(self)

    # -- eager replay ----------------------------------------------------------
    @property
    def replay(self):
        """The graph as one Python function of its placeholders that calls each operator in turn."""
        if self._replay is None:
            self._replay = _codegen(self)
        return self._replay

    def __call__(self, *placeholders):
        return self.replay(*placeholders)


def _codegen(g: Graph):
    """Write the replay as straight-line Python: no interpretation loop, no per-call dicts."""
    ns = {"_S": _state, "_alias": alias}
    consts: dict = {}

    def const(x):
        k = id(x)
        if k not in consts:
            consts[k] = f"k{len(consts)}"
            ns[consts[k]] = x
        return consts[k]

    def arg(a):
        if a.__class__ is Value:
            return f"v{a.index}"
        if isinstance(a, list) and any(_mentions_value(x) for x in a):
            return "[" + ", ".join(arg(x) for x in a) + "]"
        if isinstance(a, tuple) and any(_mentions_value(x) for x in a):
            return "(" + ", ".join(arg(x) for x in a) + ",)"
        if a is None or a is True or a is False or (type(a) is int) or (type(a) is str):
            return repr(a)
        return const(a)

    params = [f"v{v.index}" for v in g.placeholders]
    body = []
    cur = None
    for i, n in enumerate(g.nodes):
        keys = n.keys if g.needs_autograd else (n.keys[0], n.keys[1] & ~_AG, n.keys[2] | _AG)
        if keys != cur:
            body.append(f"_S.included, _S.allowed, _S.inplace_keys = {keys[0]}, {keys[1]}, {keys[2]}")
            cur = keys
        if n.op is ALIAS:
            fn = "_alias"
        else:
            fn = f"f{i}"
            ns[fn] = n.op.fn.positional
        call = f"{fn}({', '.join(arg(a) for a in n.args)})"
        if n.multi and n.outs:
            lhs = ", ".join("_" if o is None else f"v{o.index}" for o in n.outs)
            body.append(f"{lhs}, = {call}" if len(n.outs) == 1 else f"{lhs} = {call}")
        elif n.outs and n.outs[0] is not None:
            body.append(f"v{n.outs[0].index} = {call}")
        else:
            body.append(call)
    outs = ", ".join(f"v{o.index}" for o in g.outputs)
    body.append(f"return ({outs}{',' if len(g.outputs) == 1 else ''})")
    src = [f"def replay({', '.join(params)}):",
           "    saved = _S.included, _S.allowed, _S.inplace_keys",
           "    try:"]
    src += [f"        {line}" for line in body]
    src += ["    finally:",
            "        _S.included, _S.allowed, _S.inplace_keys = saved"]
    exec(compile("\n".join(src), f"<ember graph {g.name}>", "exec"), ns)  # noqa: S102  (our own source)
    fn = ns["replay"]
    fn.source = "\n".join(src)
    return fn
