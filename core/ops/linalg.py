"""Operators: the linalg family (matmul and its special cases, einsum).

``bmm`` is the one prim: a batched product of two 3-D tensors of one dtype,
no broadcasting. matmul, mm, mv, addmm, dot, outer and einsum are written
with ember operators on top of it, so a backend that implements ``bmm`` has
them all; a backend may still register faster kernels for matmul, mm or dot
(each then receives two operands of one dtype whose shapes core has checked).
"""

from __future__ import annotations

import string

from .. import dtypes as D
from .._tensor import Tensor
from ..dispatch import defop
from ..errors import DTypeError, ShapeError
from ._helpers import Spec, broadcast_shapes, check_opmath_scalars, numel
from .creation import full
from .elementwise import add, mul
from .views import expand, permute, reshape
from ..errors import ArgumentTypeError, InvalidArgumentError

_LETTERS = string.ascii_letters


def _fmt(shape):
    return str(tuple(shape))


def _check_operands(opname, a, b):
    """Two tensors of one dtype that is not bool: the rule of every matrix product."""
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise ArgumentTypeError(f"{opname}() expects two tensors, got {type(a).__name__} and {type(b).__name__}")
    if a._dtype is not b._dtype:
        raise DTypeError(
            f"{opname}(): expected both operands to have the same dtype, but got {a._dtype.name} and "
            f"{b._dtype.name}; convert one of them with .to({a._dtype.name}) or .to({b._dtype.name})")
    if a._dtype is D.bool:
        raise DTypeError(f"{opname}() does not support bool tensors; convert them with .to(ember.int64) "
                         f"(or use logical operators)")


# -- bmm: the prim ---------------------------------------------------------------

def _bmm_meta(a, b):
    _check_operands("bmm", a, b)
    sa, sb = a._shape, b._shape
    if len(sa) != 3 or len(sb) != 3:
        raise ShapeError(f"bmm(): both operands must be 3-D (batch, rows, cols), got shapes {_fmt(sa)} "
                         f"and {_fmt(sb)}; use matmul() for broadcasting or other ranks")
    if sa[0] != sb[0] or sa[2] != sb[1]:
        raise ShapeError(f"bmm(): shapes {_fmt(sa)} and {_fmt(sb)} cannot be multiplied: expected the "
                         f"second to be ({sa[0]}, {sa[2]}, p) (same batch, rows = columns of the first)")
    return Spec((sa[0], sa[1], sb[2]), a._dtype)


def _product_adapter(op, kernel, backend):
    """Check once in core, then the kernel computes: kernel(a, b) -> Tensor."""
    meta = op.meta

    def entry(a, b):
        meta(a, b)
        return kernel(a, b)
    entry.kernel = kernel  # entry is the meta check, then the kernel (read by the native fast path's plan)
    return entry


bmm = defop("bmm(Tensor self, Tensor mat2) -> Tensor", meta=_bmm_meta, prim=True, adapter=_product_adapter,
            family="linalg",
            doc="Batched matrix product.\n"
                "Kernel: kernel(a, b) -> Tensor\n"
                "Operands: a is (B, n, k) and b is (B, k, p), tensors of one dtype (never bool), any strides "
                "(transposed and stride-0 views included); never Python scalars.\n"
                "Out: none; the kernel allocates and returns a new (B, n, p) tensor.\n"
                "Result: the operands' dtype. float16 and bfloat16 accumulate in float32 and round once.\n"
                "Edges: integers wrap as two's complement; k == 0 gives zeros; NaN and inf propagate as IEEE.")


# -- matmul ----------------------------------------------------------------------

_matmul_shapes: dict = {}


def _matmul_shape(sa, sb):
    """numpy/PyTorch matmul shape rules; cached per pair of shapes."""
    key = (sa, sb)
    r = _matmul_shapes.get(key)
    if r is not None:
        return r
    na, nb = len(sa), len(sb)
    if na == 0 or nb == 0:
        raise ShapeError(f"matmul(): both arguments need at least 1 dimension, but they have shapes "
                         f"{_fmt(sa)} and {_fmt(sb)}; use mul() for scalars")
    k_a = sa[-1]
    k_b = sb[0] if nb == 1 else sb[-2]
    if k_a != k_b:
        ra = "x".join(map(str, sa))
        rb = "x".join(map(str, sb))
        raise ShapeError(f"matmul(): shapes {_fmt(sa)} and {_fmt(sb)} cannot be multiplied ({ra} and {rb}): "
                         f"the last dimension of the first ({k_a}) must equal the "
                         f"{'only' if nb == 1 else 'second-to-last'} dimension of the second ({k_b})")
    if na <= 2 and nb <= 2:
        batch = ()
    else:
        try:
            batch = broadcast_shapes(sa[:-2], sb[:-2])
        except ShapeError:
            raise ShapeError(f"matmul(): the batch dimensions of shapes {_fmt(sa)} and {_fmt(sb)} "
                             f"({_fmt(sa[:-2])} and {_fmt(sb[:-2])}) cannot be broadcast together") from None
    r = batch + ((sa[-2],) if na >= 2 else ()) + ((sb[-1],) if nb >= 2 else ())
    if len(_matmul_shapes) < 4096:
        _matmul_shapes[key] = r
    return r


def _matmul_meta(a, b):
    _check_operands("matmul", a, b)
    return Spec(_matmul_shape(a._shape, b._shape), a._dtype)


def _matmul(a, b):
    _matmul_meta(a, b)
    sa, sb = a._shape, b._shape
    na, nb = len(sa), len(sb)
    if na == 1 and nb == 1:
        return dot(a, b)
    if nb <= 2:
        # (..., n, k) @ (k, p) or (k,): fold a's leading dims into rows, one mm.
        b2 = b.unsqueeze(1) if nb == 1 else b
        a2 = a.unsqueeze(0) if na == 1 else _fit(a, (numel(sa[:-1]), sa[-1]))
        return _fit(mm(a2, b2), _matmul_shape(sa, sb))
    a3 = a.unsqueeze(0) if na == 1 else a
    n, k, p = a3._shape[-2], sb[-2], sb[-1]
    batch = broadcast_shapes(a3._shape[:-2], sb[:-2])
    bn = numel(batch)
    a3 = _fit(_fit(a3, batch + (n, k), True), (bn, n, k))
    b3 = _fit(_fit(b, batch + (k, p), True), (bn, k, p))
    return _fit(bmm(a3, b3), _matmul_shape(sa, sb))


matmul = defop("matmul(Tensor self, Tensor other) -> Tensor", meta=_matmul_meta, decomposition=_matmul,
               adapter=_product_adapter, family="linalg",
               doc="PyTorch's matmul: 1-D @ 1-D is a dot product, 1-D operands are promoted to matrices "
                   "and the added dim removed, leading dims broadcast. A kernel: kernel(a, b) -> Tensor "
                   "with numpy.matmul's semantics, operands of one dtype (never bool), shapes checked.")


def _mm_meta(a, b):
    _check_operands("mm", a, b)
    sa, sb = a._shape, b._shape
    if len(sa) != 2 or len(sb) != 2:
        raise ShapeError(f"mm(): both operands must be matrices (2-D), got shapes {_fmt(sa)} and {_fmt(sb)}; "
                         f"use matmul() for other ranks")
    if sa[1] != sb[0]:
        raise ShapeError(f"mm(): shapes {_fmt(sa)} and {_fmt(sb)} cannot be multiplied "
                         f"({sa[0]}x{sa[1]} and {sb[0]}x{sb[1]}): columns of the first must equal rows "
                         f"of the second")
    return Spec((sa[0], sb[1]), a._dtype)


def _mm(a, b):
    _mm_meta(a, b)
    return bmm(a.unsqueeze(0), b.unsqueeze(0)).select(0, 0)


mm = defop("mm(Tensor self, Tensor mat2) -> Tensor", meta=_mm_meta, decomposition=_mm, adapter=_product_adapter,
           family="linalg", doc="Matrix product of two 2-D tensors. A kernel: kernel(a, b) -> (n, p) Tensor.")


def _mv_meta(a, v):
    _check_operands("mv", a, v)
    sa, sv = a._shape, v._shape
    if len(sa) != 2 or len(sv) != 1:
        raise ShapeError(f"mv(): expected a matrix (2-D) and a vector (1-D), got shapes {_fmt(sa)} and {_fmt(sv)}")
    if sa[1] != sv[0]:
        raise ShapeError(f"mv(): shapes {_fmt(sa)} and {_fmt(sv)} cannot be multiplied: the matrix has "
                         f"{sa[1]} columns and the vector {sv[0]} elements")
    return Spec((sa[0],), a._dtype)


def _mv(a, v):
    _mv_meta(a, v)
    return mm(a, v.unsqueeze(1)).squeeze(1)


mv = defop("mv(Tensor self, Tensor vec) -> Tensor", meta=_mv_meta, decomposition=_mv, family="linalg")


def _dot_meta(a, b):
    _check_operands("dot", a, b)
    sa, sb = a._shape, b._shape
    if len(sa) != 1 or len(sb) != 1:
        raise ShapeError(f"dot(): both operands must be 1-D, got shapes {_fmt(sa)} and {_fmt(sb)}")
    if sa[0] != sb[0]:
        raise ShapeError(f"dot(): the vectors have shapes {_fmt(sa)} and {_fmt(sb)}; they must have the same "
                         f"number of elements")
    return Spec((), a._dtype)


def _dot(a, b):
    _dot_meta(a, b)
    n = a._shape[0]
    return reshape(bmm(reshape(a, (1, 1, n)), reshape(b, (1, n, 1))), ())


dot = defop("dot(Tensor self, Tensor tensor) -> Tensor", meta=_dot_meta, decomposition=_dot,
            adapter=_product_adapter, family="linalg",
            doc="Inner product of two 1-D tensors of one dtype. A kernel: kernel(a, b) -> 0-d Tensor.")


def _outer_meta(a, b):
    if a.ndim != 1 or b.ndim != 1:
        raise ShapeError(f"outer(): both operands must be 1-D, got shapes {_fmt(a._shape)} and {_fmt(b._shape)}")
    return Spec((a._shape[0], b._shape[0]), D.result_type(a, b))


def _outer(a, b):
    _outer_meta(a, b)
    return mul(a.unsqueeze(1), b)


outer = defop("outer(Tensor self, Tensor vec2) -> Tensor", meta=_outer_meta, decomposition=_outer,
              family="linalg", doc="a[i] * b[j]; dtypes promote as in mul (bool gives logical and).")


def _addmm_meta(x, m1, m2, beta=1, alpha=1):
    spec = _mm_meta(m1, m2)
    if not isinstance(x, Tensor):
        raise ArgumentTypeError(f"addmm(): self must be a tensor, got {type(x).__name__}")
    if x._dtype is not m1._dtype:
        raise DTypeError(f"addmm(): self and the matrices must have the same dtype, but got {x._dtype.name} "
                         f"and {m1._dtype.name}; convert self with .to({m1._dtype.name})")
    out = spec.shape
    ok = len(x._shape) <= 2
    if ok:
        try:
            ok = broadcast_shapes(x._shape, out) == out
        except ShapeError:
            ok = False
    if not ok:
        raise ShapeError(f"addmm(): self of shape {_fmt(x._shape)} cannot be broadcast to the shape {_fmt(out)} "
                         f"of mat1 {_fmt(m1._shape)} @ mat2 {_fmt(m2._shape)}")
    check_opmath_scalars("addmm", spec.dtype, beta, alpha)
    return spec


def _addmm(x, m1, m2, beta=1, alpha=1):
    _addmm_meta(x, m1, m2, beta, alpha)
    if not m1._dtype.is_floating_point:  # integer products take integer scalars (truncated), as in PyTorch
        alpha, beta = int(alpha), int(beta)
    r = mm(m1, m2)
    if alpha != 1:
        r = mul(r, alpha)
    if beta == 0:  # self is ignored: its NaNs and infs do not propagate, as in PyTorch
        return r
    return add(r, x if beta == 1 else mul(x, beta))


addmm = defop("addmm(Tensor self, Tensor mat1, Tensor mat2, *, Scalar beta=1, Scalar alpha=1) -> Tensor",
              meta=_addmm_meta, decomposition=_addmm, family="linalg",
              doc="beta * self + alpha * (mat1 @ mat2); self broadcasts to the product's shape; "
                  "with beta == 0 self is not read.")


# -- einsum ----------------------------------------------------------------------

class _Plan:
    """An einsum equation resolved against the operands' ranks.

    Labels are letters; the dims an ellipsis covers get the labels 0, 1, ...
    (ints), aligned to the right across operands as in broadcasting.
    """

    __slots__ = ("inputs", "output", "summed")

    def __init__(self, inputs, output):
        self.inputs = inputs
        self.output = output
        used = {l for labels in inputs for l in labels}
        self.summed = bool(used - set(output))


def _parse_term(term, where):
    labels, ell, i = [], False, 0
    while i < len(term):
        c = term[i]
        if c == ".":
            if term[i:i + 3] != "..." or ell:
                raise InvalidArgumentError(f"einsum(): {where} has an invalid ellipsis in {term!r}: at most one "
                                           f"'...' (three dots) per term")
            labels.append(None)
            ell = True
            i += 3
            continue
        if c not in _LETTERS:
            raise InvalidArgumentError(f"einsum(): invalid subscript {c!r} in {where} {term!r}; subscripts must be "
                                       f"letters in [a-zA-Z]")
        labels.append(c)
        i += 1
    return labels, ell


_plans: dict = {}


def _plan(equation, ndims):
    key = (equation, ndims)
    p = _plans.get(key)
    if p is not None:
        return p
    if not isinstance(equation, str):
        raise ArgumentTypeError(f"einsum(): the equation must be a string, got {type(equation).__name__}")
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    if "->" in rhs:
        raise InvalidArgumentError(f"einsum(): equation {equation!r} has more than one '->'")
    terms = lhs.split(",")
    if len(terms) != len(ndims):
        raise InvalidArgumentError(f"einsum(): equation {equation!r} has {len(terms)} operand term(s) but "
                                   f"{len(ndims)} operand(s) were given")
    parsed = []
    n_ell = 0
    for k, (term, nd) in enumerate(zip(terms, ndims)):
        labels, ell = _parse_term(term, f"operand {k}")
        named = len(labels) - ell
        if (not ell and named != nd) or (ell and named > nd):
            raise ShapeError(
                f"einsum(): operand {k} has {nd} dimension(s) but its term {term!r} in equation "
                f"{equation!r} names {named}{' and no ellipsis was given' if not ell else ' (plus an ellipsis)'}")
        e = nd - named if ell else 0
        n_ell = max(n_ell, e)
        parsed.append((labels, e))
    inputs = []
    for labels, e in parsed:
        out = []
        for l in labels:
            if l is None:
                out.extend(range(n_ell - e, n_ell))
            else:
                out.append(l)
        inputs.append(tuple(out))
    if arrow:
        labels, ell = _parse_term(rhs, "the output")
        seen = {l for labels_ in inputs for l in labels_}
        output = []
        for l in labels:
            if l is None:
                output.extend(range(n_ell))
                continue
            if l not in seen:
                raise InvalidArgumentError(f"einsum(): output subscript {l!r} in equation {equation!r} does not appear "
                                           f"in any input term")
            if l in output:
                raise InvalidArgumentError(f"einsum(): output subscript {l!r} appears more than once in equation "
                                           f"{equation!r}")
            output.append(l)
    else:
        counts: dict = {}
        for labels_ in inputs:
            for l in labels_:
                if isinstance(l, str):
                    counts[l] = counts.get(l, 0) + 1
        output = list(range(n_ell)) + sorted(l for l, c in counts.items() if c == 1)
    p = _Plan(tuple(inputs), tuple(output))
    if len(_plans) < 1024:
        _plans[key] = p
    return p


def _label_sizes(plan, operands, equation):
    """Each label's size: equal within an operand, broadcast (1 against n) across operands."""
    sizes: dict = {}
    owner: dict = {}
    for k, (labels, t) in enumerate(zip(plan.inputs, operands)):
        local: dict = {}
        for l, n in zip(labels, t._shape):
            if l in local and local[l] != n:
                raise ShapeError(f"einsum(): subscript {_label_name(l)} is repeated for operand {k} of shape "
                                 f"{_fmt(t._shape)} with sizes {local[l]} and {n} (equation {equation!r}); "
                                 f"repeated subscripts take a diagonal and need equal sizes")
            local[l] = n
        for l, n in local.items():
            s = sizes.get(l)
            if s is None or s == 1:
                if s is None or n != 1:
                    sizes[l], owner[l] = n, k
            elif n != 1 and n != s:
                j = owner[l]
                raise ShapeError(f"einsum(): subscript {_label_name(l)} has size {n} for operand {k} of shape "
                                 f"{_fmt(t._shape)}, which does not broadcast with size {s} for operand {j} of "
                                 f"shape {_fmt(operands[j]._shape)} (equation {equation!r})")
    return sizes


def _label_name(l):
    return repr(l) if isinstance(l, str) else f"of the ellipsis (dim {l})"


def _einsum_meta(equation, tensors):
    tensors = tuple(tensors)
    if not tensors:
        raise InvalidArgumentError("einsum(): at least one operand is required")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise ArgumentTypeError(f"einsum(): operands must be tensors, got {type(t).__name__}")
    plan = _plan(equation, tuple(t.ndim for t in tensors))
    sizes = _label_sizes(plan, tensors, equation)
    dt = tensors[0]._dtype
    if len(tensors) == 1:
        if plan.summed and dt.category < 2:
            dt = D.int64  # a sum of integers or bools, as in sum()
    else:
        for t in tensors[1:]:
            if t._dtype is not dt:
                raise DTypeError(f"einsum(): expected all operands to have the same dtype, but got "
                                 f"{', '.join(t._dtype.name for t in tensors)}; convert them with .to(dtype)")
        if plan.summed and dt is D.bool:
            raise DTypeError(f"einsum(): equation {equation!r} sums over subscripts, which bool operands do not "
                             f"support; convert them with .to(ember.int64)")
    return Spec(tuple(sizes[l] for l in plan.output), dt, (plan, sizes))


def _take_diagonals(x, labels):
    """Repeated labels within one operand select its diagonal (the diagonal dim goes last)."""
    labels = list(labels)
    while True:
        for i, l in enumerate(labels):
            j = labels.index(l, i + 1) if labels.count(l) > 1 else -1
            if j >= 0:
                x = x.diagonal(0, i, j)
                labels = [m for k, m in enumerate(labels) if k != i and k != j] + [l]
                break
        else:
            return x, labels


def _sum_labels(x, labels, drop):
    """Sum x over the dims whose labels are in ``drop``: one product with a ones vector."""
    keep = [i for i, l in enumerate(labels) if l not in drop]
    gone = [i for i, l in enumerate(labels) if l in drop]
    if not gone:
        return x, labels
    shape = x._shape
    kept = tuple(shape[i] for i in keep)
    k = numel(shape[i] for i in gone)
    x2 = _fit(_permute_to(x, labels, [labels[i] for i in keep + gone]), (numel(kept), k))
    ones = full((k, 1), 1, dtype=x._dtype, device=x._device)
    return _fit(mm(x2, ones), kept), [labels[i] for i in keep]


def _permute_to(x, labels, order):
    perm = [labels.index(l) for l in order]
    return x if perm == list(range(len(perm))) else permute(x, perm)


def _fit(x, shape, grow=False):
    """x reshaped (or, with grow, broadcast) to shape; no dispatch when it already has it."""
    if x._shape == shape:
        return x
    return expand(x, shape) if grow else reshape(x, shape)


def _contract(a, la, b, lb, needed, sizes):
    """Multiply two operands, summing the labels they share that nothing later needs."""
    sb = set(lb)
    sa = set(la)
    batch = [l for l in la if l in sb and l in needed]
    summed = [l for l in la if l in sb and l not in needed]
    afree = [l for l in la if l not in sb]
    bfree = [l for l in lb if l not in sa]
    bs = tuple(sizes[l] for l in batch)
    fa = tuple(a._shape[la.index(l)] for l in afree)
    fb = tuple(b._shape[lb.index(l)] for l in bfree)
    if not summed:  # an elementwise product with broadcasting: no bmm needed
        a2 = _permute_to(a, la, batch + afree)
        b2 = _permute_to(b, lb, batch + bfree)
        a2 = _fit(a2, a2._shape + (1,) * len(bfree))
        b2 = _fit(b2, b2._shape[:len(batch)] + (1,) * len(afree) + fb)
        return mul(a2, b2), batch + afree + bfree
    ks = tuple(sizes[l] for l in summed)
    n, m, k, bn = numel(fa), numel(fb), numel(ks), numel(bs)
    a3 = _fit(_permute_to(a, la, batch + afree + summed), bs + fa + ks, True)
    b3 = _fit(_permute_to(b, lb, batch + summed + bfree), bs + ks + fb, True)
    if batch:
        r = bmm(_fit(a3, (bn, n, k)), _fit(b3, (bn, k, m)))
    else:  # 2-D: often no reshape at all
        r = mm(_fit(a3, (n, k)), _fit(b3, (k, m)))
    return _fit(r, bs + fa + fb), batch + afree + bfree


def _einsum(equation, tensors):
    tensors = tuple(tensors)
    spec = _einsum_meta(equation, tensors)
    plan, sizes = spec.extra
    output = list(plan.output)
    ops = []
    for t, labels in zip(tensors, plan.inputs):
        ops.append(_take_diagonals(t, labels))
    if len(ops) == 1:
        x, labels = ops[0]
        if x._dtype is not spec.dtype:
            x = x.to(spec.dtype)
        x, labels = _sum_labels(x, labels, set(labels) - set(output))
        return _permute_to(x, labels, output)
    # A label only one operand carries, and the output lacks, is summed before any product.
    carriers: dict = {}
    for k, (_, labels) in enumerate(ops):
        for l in set(labels):
            carriers[l] = carriers.get(l, 0) + 1
    out_set = set(output)
    ops = [_sum_labels(x, labels, {l for l in labels if carriers[l] == 1 and l not in out_set})
           for x, labels in ops]
    x, labels = ops[0]
    for i in range(1, len(ops)):
        needed = set(out_set)
        for _, later in ops[i + 1:]:
            needed.update(later)
        y, ly = ops[i]
        x, labels = _contract(x, labels, y, ly, needed, sizes)
    x = _fit(x, tuple(sizes[l] for l in labels), True)
    return _permute_to(x, labels, output)


einsum_ = defop("einsum(str equation, Tensor[] tensors) -> Tensor", meta=_einsum_meta, decomposition=_einsum,
                family="linalg",
                doc="Einstein summation: implicit or explicit ('->') output, repeated subscripts for "
                    "diagonals, '...' for broadcast dims; built from diagonal, permute, reshape and bmm. "
                    "Operands share one dtype; a single integer or bool operand that is summed gives int64.")


def _sublist_equation(args):
    """einsum(op0, [0, 1], op1, [1, 2], [0, 2]): the sublist form, written as an equation."""
    def term(sub):
        out = []
        for s in sub:
            if s is Ellipsis:
                out.append("...")
            elif isinstance(s, int) and 0 <= s < len(_LETTERS):
                out.append(_LETTERS[s])
            else:
                raise InvalidArgumentError(f"einsum(): sublist subscripts must be ints in [0, {len(_LETTERS)}) or "
                                           f"Ellipsis, got {s!r}")
        return "".join(out)
    args = list(args)
    out = args.pop() if len(args) % 2 else None
    ops, subs = args[0::2], args[1::2]
    eq = ",".join(term(s) for s in subs) + ("" if out is None else "->" + term(out))
    return eq, ops


def einsum(equation, *operands):
    """Einstein summation, as torch.einsum: ``einsum("ij,jk->ik", a, b)``, ``einsum(eq, [a, b])``
    or the sublist form ``einsum(a, [0, 1], b, [1, 2], [0, 2])``."""
    if isinstance(equation, Tensor):
        equation, operands = _sublist_equation((equation,) + operands)
    elif len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = operands[0]
    if not operands:
        raise InvalidArgumentError(f"einsum(): at least one operand is required for equation {equation!r}")
    return einsum_(equation, list(operands))


def _rmatmul(self, other):
    return matmul(other, self)


FUNCTIONS = {"einsum": einsum}
METHODS = {"__matmul__": matmul, "__rmatmul__": _rmatmul}
