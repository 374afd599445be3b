"""Gradient-check samples for the operators of core/ops/tensor_more.py, statistics.py and
quantile.py (the same form as autograd_samples.py, which merges them into its table)."""

from __future__ import annotations

import numpy as np


def samples(r):
    from autograd_samples import _S, _away, _distinct, _u
    t = {}
    t["diag"] = [_S("1d", _u(r, (3,)), 1), _S("2d", _u(r, (3, 4)), -1)]
    t["diag_embed"] = [_S("offset", _u(r, (2, 3)), 1, 0, 2)]
    t["tensordot"] = [_S("dims2", _u(r, (2, 3, 4)), _u(r, (3, 4, 2))), _S("lists", _u(r, (2, 3)), _u(r, (3, 2)), ([1], [0]))]
    t["kron"] = [_S("2d", _u(r, (2, 2)), _u(r, (3, 1)))]
    t["cross"] = [_S("dim1", _u(r, (2, 3)), _u(r, (2, 3)), 1)]
    t["rot90"] = [_S("k1", _u(r, (2, 3))), _S("k3", _u(r, (2, 3, 2)), 3, [2, 0])]
    t["repeat_interleave"] = [_S("int", _u(r, (2, 3)), 2, 1), _S("tensor", _u(r, (3, 2)), np.array([1, 0, 2]), 0)]
    t["block_diag"] = [_S("mixed", [_u(r, (2, 2)), _u(r, (3,))])]
    t["cdist"] = [_S("p2", _u(r, (3, 2)), _u(r, (4, 2))), _S("p1", _distinct(r, (2, 3)), _distinct(r, (3, 3)) + 5, 1.0),
                  _S("p3", _u(r, (3, 2)), _u(r, (2, 2)) + 3, 3.0)]
    t["nan_to_num"] = [_S("finite", _u(r, (2, 3)))]
    t["logcumsumexp"] = [_S("dim1", _u(r, (2, 5), -2, 2), 1)]
    t["cummax"] = [_S("dim1", _distinct(r, (2, 5)), 1)]
    t["cummin"] = [_S("dim0", _distinct(r, (4, 2)), 0)]
    t["median"] = [_S("all", _distinct(r, (3, 3)))]
    t["nanmedian"] = t["median"]
    t["median_dim"] = [_S("dim1", _distinct(r, (2, 5)), 1)]
    t["nanmedian_dim"] = [_S("dim0_keep", _distinct(r, (4, 2)), 0, True)]
    t["kthvalue"] = [_S("k2", _distinct(r, (2, 4)), 2)]
    t["mode"] = [_S("distinct", _distinct(r, (2, 4)))]
    t["quantile"] = [_S("all", _distinct(r, (3, 4)), 0.3), _S("dim", _distinct(r, (2, 5)), 0.65, 1)]
    t["nanquantile"] = [_S("dim", _distinct(r, (2, 5)), 0.65, 1, True)]
    t["aminmax"] = [_S("all", _away(r, (2, 3))), _S("dim", _distinct(r, (2, 3)), dim=1)]
    return t
