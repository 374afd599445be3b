"""Sample inputs for gradient checks, one list per differentiable operator.

Same form as ember_conformance.samples (so these can move there): each sample
has a name, positional args in schema order and keyword args; tensor
arguments are numpy arrays (floating and complex arrays are the differentiated
inputs, integer and bool arrays stay constant). Values sit away from kinks and
poles (|x| not near 0 for abs, inside (-1, 1) for asin, ...), so central
differences are accurate.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

#: nograd: positions (ints) or keyword names of floating arguments that stay constant (targets,
#: running statistics): the operator is not differentiated with respect to them.
Sample = namedtuple("Sample", ["name", "args", "kwargs", "nograd"], defaults=((),))


def _S(name, *args, **kwargs):
    return Sample(name, args, kwargs)


def _C(name, nograd, *args, **kwargs):
    return Sample(name, args, kwargs, tuple(nograd))


def _u(rng, shape, lo=-1.0, hi=1.0):
    return np.asarray(rng.uniform(lo, hi, size=shape), dtype=np.float64)


def _away(rng, shape, lo=0.3, hi=1.2):
    """Values with |x| in [lo, hi] and random signs: away from 0 where abs/sign kink."""
    return np.asarray(rng.uniform(lo, hi, size=shape) * rng.choice([-1.0, 1.0], size=shape), dtype=np.float64)


def _distinct(rng, shape):
    """Values with no ties (for max, sort and friends)."""
    n = int(np.prod(shape)) if shape else 1
    return (rng.permutation(n).astype(np.float64) * 0.37 + rng.uniform(0, 0.1, n)).reshape(shape)


_UNARY_DOMAIN = {
    "log": (0.5, 2.0), "log2": (0.5, 2.0), "log10": (0.5, 2.0), "log1p": (-0.5, 1.5),
    "sqrt": (0.5, 2.0), "rsqrt": (0.5, 2.0), "asin": (-0.8, 0.8), "acos": (-0.8, 0.8),
    "atanh": (-0.8, 0.8), "erfinv": (-0.8, 0.8), "acosh": (1.3, 3.0), "reciprocal": None,
    "tan": (-1.0, 1.0),
}


def _unary_samples(name, rng):
    base = name.rstrip("_")
    dom = _UNARY_DOMAIN.get(base, (-1.5, 1.5))
    if base in ("abs", "reciprocal", "sign", "floor", "ceil", "round", "trunc", "frac"):
        mk = lambda s: _away(rng, s, 0.3, 1.4) + (0.25 if base in ("floor", "ceil", "round", "trunc", "frac") else 0)
    else:
        mk = lambda s: _u(rng, s, *dom)
    return [_S("2d", mk((2, 3))), _S("0d", np.asarray(mk(()))), _S("transposed", mk((3, 2)).T)]


_BINARY_DOMAIN = {
    "true_divide": ("any", "away"), "div": ("any", "away"), "remainder": ("pos", "pos_big"),
    "fmod": ("pos", "pos_big"), "pow": ("pos", "any"), "atan2": ("away", "away"), "hypot": ("away", "away"),
    "copysign": ("away", "away"), "maximum": ("distinct", "distinct2"), "minimum": ("distinct", "distinct2"),
}


def _mk(kind, rng, shape):
    if kind == "any":
        return _u(rng, shape, -1.5, 1.5)
    if kind == "away":
        return _away(rng, shape)
    if kind == "pos":
        return _u(rng, shape, 0.5, 2.0)
    if kind == "pos_big":
        return _u(rng, shape, 0.7, 0.9)
    if kind == "distinct":
        return _distinct(rng, shape)
    if kind == "distinct2":
        return _distinct(rng, shape) + 0.05
    raise AssertionError(kind)


def _binary_samples(name, rng):
    base = name.rstrip("_")
    ka, kb = _BINARY_DOMAIN.get(base, ("any", "any"))
    inplace = name.endswith("_")
    out = [_S("same", _mk(ka, rng, (2, 3)), _mk(kb, rng, (2, 3))),
           _S("broadcast", _mk(ka, rng, (2, 3)), _mk(kb, rng, (3,))),
           _S("scalar", _mk(ka, rng, (2, 3)), 0.8 if base not in ("maximum", "minimum") else 0.55)]
    if not inplace:
        out.append(_S("broadcast_self", _mk(ka, rng, (3,)), _mk(kb, rng, (2, 3))))
    return out


def _samples_table(rng):
    r = rng
    t = {}
    # ternary and composites of elementwise ops
    t["where"] = [_S("mask", r.random((2, 3)) > 0.5, _u(r, (2, 3)), _u(r, (3,))),
                  _S("scalar", r.random((2, 3)) > 0.5, _u(r, (2, 3)), 0.5)]
    t["clamp"] = [_S("both", _u(r, (2, 3), -2, 2), -0.7, 0.9), _S("min", _u(r, (2, 3), -2, 2), -0.5),
                  _S("tensors", _u(r, (2, 3), -2, 2), _u(r, (3,), -1.9, -1.1), _u(r, (3,), 1.1, 1.9))]
    t["clamp_"] = t["clamp"][:2]
    t["lerp"] = [_S("tensor_w", _u(r, (2, 3)), _u(r, (2, 3)), _u(r, (2, 3))),
                 _S("scalar_w", _u(r, (2, 3)), _u(r, (3,)), 0.3)]
    t["addcmul"] = [_S("plain", _u(r, (2, 3)), _u(r, (2, 3)), _u(r, (3,)), value=0.5)]
    t["addcdiv"] = [_S("plain", _u(r, (2, 3)), _u(r, (2, 3)), _away(r, (3,)), value=0.5)]
    # copies
    t["fill_"] = [_S("value", _u(r, (2, 3)), 1.5)]
    t["copy_"] = [_S("same", _u(r, (2, 3)), _u(r, (2, 3))), _S("broadcast", _u(r, (2, 3)), _u(r, (3,)))]
    t["_to_copy"] = [_S("copy", _u(r, (2, 3)))]
    t["clone"] = [_S("plain", _u(r, (2, 3)))]
    t["contiguous"] = [_S("transposed", _u(r, (3, 2)).T)]
    # views
    x23, x234 = _u(r, (2, 3)), _u(r, (2, 3, 4))
    t["view"] = [_S("flat", x23, (6,))]
    t["reshape"] = [_S("split", x23, (3, 2)), _S("noncontig", _u(r, (3, 2)).T, (6,))]
    t["permute"] = [_S("perm", x234, (2, 0, 1))]
    t["transpose"] = [_S("swap", x234, 0, 2)]
    t["t"] = [_S("2d", x23)]
    t["expand"] = [_S("broadcast", _u(r, (3, 1)), (2, 3, 4))]
    t["squeeze"] = [_S("all", _u(r, (2, 1, 3))), _S("dim", _u(r, (2, 1, 3)), (1,))]
    t["unsqueeze"] = [_S("mid", x23, 1)]
    t["flatten"] = [_S("all", x234), _S("part", x234, 1, 2)]
    t["narrow"] = [_S("mid", x234, 2, 1, 2)]
    t["slice"] = [_S("step", x234, 2, 0, 4, 2), _S("dim0", x234, 0, 1, None, 1)]
    t["select"] = [_S("neg", x234, 1, -1)]
    t["unbind"] = [_S("dim1", x234, 1)]
    t["diagonal"] = [_S("main", _u(r, (3, 4))), _S("offset", x234, 1, 1, 2)]
    t["as_strided"] = [_S("window", _u(r, (6,)), (3, 2), (1, 1), 1)]
    t["split"] = [_S("size", x234, 2, 2), _S("sections", x234, [1, 2], 1)]
    t["chunk"] = [_S("two", x234, 2, 1)]
    t["movedim"] = [_S("one", x234, 0, 2)]
    # reductions
    t["sum"] = [_S("all", x23), _S("dim", x234, (1,), True), _S("dims", x234, (0, 2))]
    t["prod"] = [_S("all", _away(r, (2, 3))), _S("dim", _away(r, (2, 3, 2)), (1,)),
                 _S("zero", np.array([[0.5, 0.0, 1.5], [0.7, 1.2, 0.9]]), (1,))]
    t["amax"] = [_S("all", _distinct(r, (2, 3))), _S("dim", _distinct(r, (2, 3, 4)), (1,), True)]
    t["amin"] = t["amax"]
    t["cumsum"] = [_S("dim1", x234, 1), _S("neg", x23, -1)]
    t["cumprod"] = [_S("dim1", _away(r, (2, 3)), 1)]
    t["mean"] = [_S("all", x23), _S("dim", x234, (1, 2), True)]
    t["var"] = [_S("all", x23), _S("dim", x234, (1,)), _S("pop", x234, (2,), correction=0, keepdim=True)]
    t["std"] = [_S("all", x23), _S("dim", x234, (1,))]
    t["var_mean"] = [_S("dim", x234, (1,))]
    t["std_mean"] = [_S("dim", x234, (2,))]
    t["logsumexp"] = [_S("dim", x234, (1,)), _S("keep", x23, (0,), True)]
    t["softmax"] = [_S("last", x234, -1), _S("first", x23, 0)]
    t["log_softmax"] = [_S("last", x234, -1), _S("first", x23, 0)]
    t["max"] = [_S("all", _distinct(r, (2, 3)))]
    t["min"] = [_S("all", _distinct(r, (2, 3)))]
    t["max_dim"] = [_S("dim", _distinct(r, (2, 3, 4)), 1), _S("keep", _distinct(r, (2, 3)), 0, True)]
    t["min_dim"] = t["max_dim"]
    # linear algebra
    t["bmm"] = [_S("batch", _u(r, (2, 2, 3)), _u(r, (2, 3, 2)))]
    t["matmul"] = [_S("mm", _u(r, (2, 3)), _u(r, (3, 2))), _S("vv", _u(r, (3,)), _u(r, (3,))),
                   _S("mv", _u(r, (2, 3)), _u(r, (3,))), _S("vm", _u(r, (3,)), _u(r, (3, 2))),
                   _S("bcast", _u(r, (2, 2, 3)), _u(r, (3, 2))), _S("bcast2", _u(r, (1, 2, 3)), _u(r, (2, 3, 2)))]
    t["mm"] = [_S("plain", _u(r, (2, 3)), _u(r, (3, 2))), _S("transposed", _u(r, (3, 2)).T, _u(r, (3, 2)))]
    t["mv"] = [_S("plain", _u(r, (2, 3)), _u(r, (3,)))]
    t["dot"] = [_S("plain", _u(r, (4,)), _u(r, (4,)))]
    t["outer"] = [_S("plain", _u(r, (3,)), _u(r, (2,)))]
    t["addmm"] = [_S("plain", _u(r, (2, 2)), _u(r, (2, 3)), _u(r, (3, 2))),
                  _S("scaled", _u(r, (2,)), _u(r, (2, 3)), _u(r, (3, 2)), beta=0.5, alpha=2.0)]
    t["einsum"] = [_S("mm", "ij,jk->ik", [_u(r, (2, 3)), _u(r, (3, 2))]),
                   _S("trace", "ii->", [_u(r, (3, 3))]), _S("batch", "bij,bjk->bik", [_u(r, (2, 2, 3)), _u(r, (2, 3, 2))])]
    # shape family
    t["cat"] = [_S("dim0", [_u(r, (2, 3)), _u(r, (1, 3))], 0), _S("dim1", [_u(r, (2, 3)), _u(r, (2, 2))], 1)]
    t["stack"] = [_S("new", [_u(r, (2, 3)), _u(r, (2, 3))], 1)]
    t["flip"] = [_S("dims", x234, (0, 2))]
    t["roll"] = [_S("dim", x234, (1,), (2,)), _S("flat", x23, (2,))]
    t["repeat"] = [_S("tile", x23, (2, 1, 2))]
    t["tril"] = [_S("main", _u(r, (3, 3))), _S("offset", x234, -1)]
    t["triu"] = [_S("main", _u(r, (3, 3))), _S("offset", x234, 1)]
    t["tril_"] = t["tril"][:1]
    t["triu_"] = t["triu"][:1]
    # indexing
    idx = np.array([[0, 2, 1], [1, 0, 0]])
    perm = np.array([[2, 0, 1], [0, 1, 2]])   # no repeats per row: scatter_ is then well defined
    t["gather"] = [_S("dim1", _u(r, (2, 3)), 1, idx), _S("dim0", _u(r, (2, 3)), 0, np.array([[1, 0, 1]]))]
    t["scatter"] = [_S("src", _u(r, (2, 3)), 1, perm, _u(r, (2, 3))), _S("value", _u(r, (2, 3)), 1, perm[:, :2], value=0.5)]
    t["scatter_"] = t["scatter"]
    t["scatter_add"] = [_S("repeats", _u(r, (2, 3)), 1, idx, _u(r, (2, 3))),
                        _S("bigger_src", _u(r, (2, 3)), 1, idx[:, :2], _u(r, (2, 4)))]
    t["scatter_add_"] = t["scatter_add"][:1]
    t["index_select"] = [_S("dim1", _u(r, (2, 3)), 1, np.array([2, 0, 2]))]
    t["index_add"] = [_S("dim0", _u(r, (3, 2)), 0, np.array([0, 2, 0, 1]), _u(r, (4, 2))),
                      _S("alpha", _u(r, (3, 2)), 1, np.array([1, 1]), _u(r, (3, 2)), alpha=2.0)]
    t["index_add_"] = t["index_add"]
    t["_sparse_mm"] = [_S("duplicates", np.array([[0, 2, 1, 0], [1, 0, 2, 1]]), _u(r, (4,)), _u(r, (3, 2)), 3)]
    mask = np.array([[True, False, True], [False, False, True]])
    t["masked_fill"] = [_S("mask", _u(r, (2, 3)), mask, 0.5), _S("bcast", _u(r, (2, 3)), mask[0], -1.0)]
    t["masked_fill_"] = t["masked_fill"]
    t["masked_select"] = [_S("mask", _u(r, (2, 3)), mask)]
    t["index"] = [_S("rows", _u(r, (3, 2)), [np.array([2, 0, 2])]),
                  _S("pairs", _u(r, (3, 4)), [np.array([0, 2]), np.array([1, 3])]),
                  _S("mask", _u(r, (2, 3)), [mask])]
    t["index_put"] = [_S("rows", _u(r, (3, 2)), [np.array([2, 0])], _u(r, (2, 2))),
                      _S("acc", _u(r, (3, 2)), [np.array([2, 2])], _u(r, (2, 2)), True)]
    t["index_put_"] = t["index_put"]
    # random: with p = 0 or in eval mode dropout is the identity, so finite differences see one function
    t["dropout"] = [_S("p0", _u(r, (2, 3)), 0.0, True), _S("eval", _u(r, (2, 3)), 0.5, False)]
    t["sort"] = [_S("last", _distinct(r, (2, 3))), _S("desc", _distinct(r, (3, 2)), 0, True)]
    t["topk"] = [_S("two", _distinct(r, (2, 4)), 2), _S("smallest", _distinct(r, (3, 2)), 1, 0, False)]
    t.update(_nn_samples(r))
    from autograd_samples_tensor_more import samples as tensor_more_samples
    t.update(tensor_more_samples(r))
    from autograd_samples_linalg import samples as linalg_samples
    t.update(linalg_samples(r))
    from autograd_samples_breadth import samples as breadth_samples
    t.update(breadth_samples(r))
    t.update(_complex_samples(r))
    return t


def _c(rng, shape, lo=-1.0, hi=1.0):
    """Complex values with both parts uniform in [lo, hi)."""
    return _u(rng, shape, lo, hi) + 1j * _u(rng, shape, lo, hi)


def _complex_samples(r):
    """Complex numbers and the Fourier transforms (core/ops/complex.py, core/ops/fft.py). Complex arrays
    become complex128 inputs, checked along their real and their imaginary parts."""
    t = {}
    for name in ("real", "conj", "conj_physical"):
        t[name] = [_S("complex", _c(r, (2, 3))), _S("transposed", _c(r, (3, 2)).T), _S("real", _u(r, (2, 3)))]
    t["imag"] = [_S("complex", _c(r, (2, 3))), _S("0d", np.asarray(_c(r, ())))]
    # angle kinks at 0 (and jumps across the negative real axis): values with |x| >= 0.3, off that axis
    t["angle"] = [_S("complex", _away(r, (2, 3)) + 1j * _u(r, (2, 3), 0.3, 1.2)), _S("real", _away(r, (2, 3)))]
    t["view_as_real"] = [_S("2d", _c(r, (2, 3))), _S("0d", np.asarray(_c(r, ())))]
    t["view_as_complex"] = [_S("pairs", _u(r, (2, 3, 2))), _S("1d", _u(r, (2,)))]
    t["complex"] = [_S("same", _u(r, (2, 3)), _u(r, (2, 3))), _S("broadcast", _u(r, (3, 1)), _u(r, (4,)))]
    t["polar"] = [_S("same", _u(r, (2, 3), 0.5, 1.5), _u(r, (2, 3), -3.0, 3.0)),
                  _S("broadcast", _u(r, (3,), 0.5, 1.5), _u(r, (2, 3), -3.0, 3.0))]
    t["_fft_c2c"] = [_S("forward", _c(r, (2, 4)), [1], 0, True), _S("inverse_2d", _c(r, (3, 4)), [0, 1], 2, False),
                     _S("ortho_odd", _c(r, (5,)), [0], 1, True)]
    t["_fft_r2c"] = [_S("onesided", _u(r, (2, 6)), [1], 0, True), _S("onesided_odd", _u(r, (2, 5)), [1], 1, True),
                     _S("full", _u(r, (2, 4)), [1], 2, False), _S("2d", _u(r, (3, 4)), [0, 1], 0, True)]
    t["_fft_c2r"] = [_S("even", _c(r, (2, 4)), [1], 0, 6), _S("odd", _c(r, (2, 3)), [1], 2, 5),
                     _S("2d", _c(r, (3, 3)), [0, 1], 1, 4)]
    return t


def _nn_samples(r):
    """The nn family (core/ops/nn.py)."""
    t = {}
    img = _u(r, (1, 2, 4, 4))
    t["constant_pad_nd"] = [_S("pad", _u(r, (2, 3)), (1, 2), 0.5), _S("pad2d", img, (1, 0, 0, 1))]
    t["im2col"] = [_S("k2", _u(r, (1, 2, 3, 3)), (2, 2))]
    t["col2im"] = [_S("k2", _u(r, (1, 8, 4)), (3, 3), (2, 2))]
    t["conv2d"] = [_S("bias", img, _u(r, (3, 2, 2, 2)), _u(r, (3,)), (1, 1), (1, 1)),
                   _S("stride_groups", _u(r, (1, 2, 5, 5)), _u(r, (2, 1, 3, 3)), None, (2, 2), (0, 0), (1, 1), 2)]
    t["conv1d"] = [_S("bias", _u(r, (2, 2, 5)), _u(r, (3, 2, 2)), _u(r, (3,)), (1,), (1,))]
    t["conv_transpose2d"] = [_S("bias", img, _u(r, (2, 3, 2, 2)), _u(r, (3,)), (2, 1), (1, 0), (1, 0)),
                             _S("groups_dilation", _u(r, (1, 2, 3, 3)), _u(r, (2, 1, 2, 2)), None, (1, 1), (0, 0),
                                (1, 0), 2, (2, 1))]
    t["max_pool2d_with_indices"] = [_S("k2", _distinct(r, (1, 2, 4, 4)), (2, 2))]
    t["max_pool2d"] = [_S("k2", _distinct(r, (1, 2, 4, 4)), (2, 2)),
                       _S("stride1", _distinct(r, (1, 1, 4, 4)), (3, 3), (1, 1), (1, 1))]
    t["avg_pool2d"] = [_S("k2", img, (2, 2)), _S("pad", img, (3, 3), (2, 2), (1, 1))]
    t["adaptive_avg_pool2d"] = [_S("out3", _u(r, (1, 2, 5, 5)), (3, 2))]
    t["layer_norm"] = [_S("affine", _u(r, (2, 3, 4)), (4,), _u(r, (4,)), _u(r, (4,))),
                       _S("plain", _u(r, (2, 3, 4)), (3, 4))]
    t["group_norm"] = [_S("affine", _u(r, (2, 4, 3)), 2, _u(r, (4,)), _u(r, (4,)))]
    t["batch_norm"] = [_C("eval", (1, 2), _u(r, (3, 2, 2)), _u(r, (2,)), _u(r, (2,), 0.5, 1.5),
                          _u(r, (2,)), _u(r, (2,)), False),
                       _S("train", _u(r, (4, 2, 2)), None, None, _u(r, (2,)), _u(r, (2,)), True)]
    t["embedding"] = [_S("rows", _u(r, (5, 3)), np.array([[0, 4], [4, 2]]))]
    t["relu"] = [_S("2d", _away(r, (2, 3)))]
    t["threshold_backward"] = [_S("2d", _u(r, (2, 3)), _away(r, (2, 3)), 0.1)]
    t["gelu"] = [_S("exact", _u(r, (2, 3), -2, 2)), _S("tanh", _u(r, (2, 3), -2, 2), "tanh")]
    t["gelu_backward"] = [_S("exact", _u(r, (2, 3)), _u(r, (2, 3), -2, 2)),
                          _S("tanh", _u(r, (2, 3)), _u(r, (2, 3), -2, 2), "tanh")]
    t["_lstm_cell"] = [_S("b2h3", _u(r, (2, 12), -2, 2), _u(r, (2, 3)))]
    t["_lstm_cell_backward"] = [_S("b2h3", _u(r, (2, 3)), _u(r, (2, 3)), _u(r, (2, 12), -2, 2), _u(r, (2, 3)),
                                   _u(r, (2, 3)))]
    t["silu"] = [_S("2d", _u(r, (2, 3), -2, 2))]
    t["mse_loss"] = [_S("mean", _u(r, (2, 3)), _u(r, (2, 3))), _S("none", _u(r, (2, 3)), _u(r, (2, 3)), "none")]
    t["l1_loss"] = [_S("sum", _u(r, (2, 3)), _u(r, (2, 3)) + 2.5, "sum")]
    t["binary_cross_entropy"] = [_C("mean", (1,), _u(r, (2, 3), 0.2, 0.8), _u(r, (2, 3), 0.0, 1.0)),
                                 _C("weight", (1, 2), _u(r, (2, 3), 0.2, 0.8), _u(r, (2, 3), 0.0, 1.0),
                                    _u(r, (3,), 0.5, 1.5), "sum")]
    t["binary_cross_entropy_with_logits"] = [
        _C("mean", (1,), _u(r, (2, 3), -2, 2), _u(r, (2, 3), 0.0, 1.0)),
        _C("pos_weight", (1, 3), _u(r, (2, 3), -2, 2), _u(r, (2, 3), 0.0, 1.0), None, _u(r, (3,), 0.5, 2.0))]
    labels = np.array([2, 0, 1, 2])
    t["nll_loss"] = [_S("mean", _u(r, (4, 3)), labels), _C("weight", (2,), _u(r, (4, 3)), labels, _u(r, (3,), 0.5, 1.5))]
    t["cross_entropy"] = [_S("mean", _u(r, (4, 3)), labels),
                          _C("smooth", (2,), _u(r, (4, 3)), labels, _u(r, (3,), 0.5, 1.5), "sum", -100, 0.1),
                          _C("probs", (1,), _u(r, (4, 3)), _u(r, (4, 3), 0.0, 1.0) / 1.5)]
    t["cross_entropy_backward"] = [_S("mean", np.asarray(0.7), _u(r, (4, 3)), labels)]
    t["conv2d_backward"] = [_S("plain", _u(r, (1, 3, 5, 5)), img, _u(r, (3, 2, 2, 2)), (1, 1), (1, 1))]
    t["conv_transpose2d_backward"] = [_S("plain", _u(r, (1, 3, 7, 5)), img, _u(r, (2, 3, 2, 2)), (2, 1), (1, 0),
                                         (1, 0))]
    t["batch_norm_train"] = [_S("affine", _u(r, (4, 2, 3)), _u(r, (2,)), _u(r, (2,))), _S("plain", _u(r, (3, 2)))]
    t["batch_norm_train_backward"] = [_S("affine", _u(r, (4, 2, 3)), _u(r, (4, 2, 3)), _u(r, (2,)))]
    t["scaled_dot_product_attention"] = [_S("plain", _u(r, (2, 3, 4)), _u(r, (2, 5, 4)), _u(r, (2, 5, 2))),
                                         _S("causal", _u(r, (1, 3, 4)), _u(r, (1, 3, 4)), _u(r, (1, 3, 2)),
                                            None, 0.0, True)]
    return t


def sample_inputs(op_name, dtype=None, *, rng=None):
    """Samples for one operator (an empty list when none are known)."""
    from ember.ops.elementwise import BINARY, UNARY
    rng = rng if rng is not None else np.random.default_rng(0)
    base = op_name[:-1] if op_name.endswith("_") else op_name
    table = _samples_table(rng)
    if op_name in table:
        return table[op_name]
    if base in UNARY:
        return _unary_samples(op_name, rng)
    if base in BINARY or base == "div":
        return _binary_samples(op_name, rng)
    return []


# -- turning samples into Ember calls (shared by the tests/test_autograd_*.py sweeps) ------------

import ember  # noqa: E402
from ember.autograd import NONDIFFERENTIABLE  # noqa: E402
from ember.dispatch import registry  # noqa: E402
from autograd_samples_linalg import SYMMETRIC_INPUT  # noqa: E402


def _differentiable_ops():
    out = []
    for name, op in sorted(registry.items()):
        if name in NONDIFFERENTIABLE or not any(a.is_tensor for a in op.schema.arguments):
            continue
        out.append(name)
    return out


DIFF_OPS = _differentiable_ops()


def _to_ember(a, grad=True):
    if isinstance(a, np.ndarray):
        if a.dtype.kind in "fc":
            return ember.tensor(a.astype(np.float64 if a.dtype.kind == "f" else np.complex128), requires_grad=grad)
        if a.dtype.kind == "b":
            return ember.tensor(a)
        return ember.tensor(a.astype(np.int64))
    if isinstance(a, list) and a and any(isinstance(x, np.ndarray) for x in a):
        return [_to_ember(x, grad) for x in a]
    return a


def _flat_inputs(args):
    """The differentiable tensors among args (lists flattened), for gradcheck's input tuple."""
    out = []
    for a in args:
        if isinstance(a, list):
            out.extend(x for x in a if isinstance(x, ember.Tensor) and x.requires_grad)
        elif isinstance(a, ember.Tensor) and a.requires_grad:
            out.append(a)
    return out


def _rebuild(args, flat):
    """args with their differentiable tensors replaced, in order, by flat."""
    it = iter(flat)
    out = []
    for a in args:
        if isinstance(a, list):
            out.append([next(it) if isinstance(x, ember.Tensor) and x.requires_grad else x for x in a])
        elif isinstance(a, ember.Tensor) and a.requires_grad:
            out.append(next(it))
        else:
            out.append(a)
    return out


def _call(name, args, kwargs):
    fn = registry[name].fn
    if name in SYMMETRIC_INPUT:  # the operator reads one triangle; its gradient is for a symmetric input
        args = [symmetrized(args[0])] + list(args[1:])
    if name.endswith("_"):  # in place: on a clone, never on the leaf itself
        args = [args[0].clone()] + list(args[1:])
    return fn(*args, **kwargs)


def symmetrized(a):
    """(a + a^T) / 2 over the last two dims."""
    return (a + a.mT) * 0.5


def _nograd(sample):
    return getattr(sample, "nograd", ())


def _ember_args(sample):
    ng = _nograd(sample)
    args = [_to_ember(a, i not in ng) for i, a in enumerate(sample.args)]
    kwargs = {k: _to_ember(v, k not in ng) for k, v in sample.kwargs.items()}
    return args, kwargs


def _case(name, sample):
    args, kwargs = _ember_args(sample)
    flat = _flat_inputs(args)

    def f(*xs):
        return _call(name, _rebuild(args, xs), kwargs)
    return f, flat
