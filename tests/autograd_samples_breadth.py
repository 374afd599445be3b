"""Gradient-check samples for the operators of core/ops/breadth.py and core/ops/special.py (the same
form as autograd_samples.py, which merges them into its table)."""

from __future__ import annotations

import numpy as np


def samples(r):
    from autograd_samples import _C, _S, _away, _distinct, _u
    t = {}
    t["xlogy"] = [_S("plain", _u(r, (2, 3)), _u(r, (2, 3), 0.5, 2.0)), _S("bcast", _u(r, (3,)), _u(r, (2, 1), 0.5, 2))]
    t["logit"] = [_S("plain", _u(r, (2, 3), 0.1, 0.9)), _S("eps", _u(r, (2, 3), 0.3, 0.7), 0.2)]
    t["sinc"] = [_S("plain", _away(r, (2, 3), 0.2, 1.5))]
    t["deg2rad"] = t["rad2deg"] = [_S("plain", _u(r, (2, 3)))]
    t["float_power"] = [_S("plain", _u(r, (2, 3), 0.5, 2.0), _u(r, (2, 3)))]
    t["fmax"] = t["fmin"] = [_S("plain", _distinct(r, (2, 3)), _distinct(r, (2, 3)) + 0.05)]
    t["nansum"] = [_S("all", _u(r, (2, 3))), _S("dim", _u(r, (2, 3)), [1], True)]
    t["nanmean"] = [_S("all", _u(r, (2, 3))), _S("dim", _u(r, (2, 3)), [0])]
    t["trace"] = [_S("wide", _u(r, (2, 3)))]
    t["diff"] = [_S("n2", _u(r, (2, 4)), 2), _S("prepend", _u(r, (2, 3)), 1, 0, _u(r, (1, 3)), _u(r, (2, 3)))]
    t["dist"] = [_S("p2", _u(r, (2, 3)), _u(r, (2, 3)) + 2), _S("p3", _u(r, (2, 3)), _u(r, (3,)) + 2, 3)]
    t["cosine_similarity"] = [_S("dim1", _away(r, (2, 3)), _away(r, (2, 3)))]
    t["pdist"] = [_S("p2", _distinct(r, (3, 2))), _S("p3", _distinct(r, (3, 2)), 3.0)]
    t["renorm"] = [_S("dim0", _u(r, (3, 2), 0.5, 2.0), 2, 0, 1.0)]
    t["cov"] = [_S("plain", _u(r, (2, 4))), _C("aweights", (), _u(r, (2, 4)), aweights=_u(r, (4,), 0.5, 2.0))]
    t["corrcoef"] = [_S("plain", _u(r, (2, 4)))]
    t["addmv"] = [_S("scaled", _u(r, (2,)), _u(r, (2, 3)), _u(r, (3,)), beta=0.5, alpha=2.0)]
    t["addr"] = [_S("plain", _u(r, (2, 3)), _u(r, (2,)), _u(r, (3,)))]
    t["baddbmm"] = [_S("plain", _u(r, (2, 2, 3)), _u(r, (2, 2, 4)), _u(r, (2, 4, 3)), beta=2.0)]
    t["addbmm"] = [_S("plain", _u(r, (2, 3)), _u(r, (2, 2, 4)), _u(r, (2, 4, 3)), alpha=0.5)]
    t["take"] = [_S("repeats", _u(r, (2, 3)), np.array([[0, -1], [4, 4]]))]
    t["take_along_dim"] = [_S("dim1", _u(r, (2, 3)), np.array([[0, 2], [1, 1]]), 1), _S("flat", _u(r, (2, 3)), np.array([5, 0]))]
    idx = np.array([[0, 1, 0], [2, 2, 1]])
    t["scatter_reduce"] = [_S("sum", _u(r, (2, 3)), 1, idx, _u(r, (2, 3)), "sum"),
                           _S("prod", _u(r, (2, 3), 0.5, 1.5), 1, idx, _u(r, (2, 3), 0.5, 1.5), "prod"),
                           _S("mean", _u(r, (2, 3)), 1, idx, _u(r, (2, 3)), "mean", include_self=False),
                           _S("amax", _distinct(r, (2, 3)), 1, idx, _distinct(r, (2, 3)) + 0.01, "amax")]
    t["index_copy"] = [_S("dim1", _u(r, (2, 3)), 1, np.array([2, 0]), _u(r, (2, 2)))]
    t["index_fill"] = [_S("dim0", _u(r, (3, 2)), 0, np.array([1]), 0.5)]
    t["masked_scatter"] = [_S("mask", _u(r, (2, 3)), np.array([[True, False, True], [False, True, True]]), _u(r, (6,)))]
    t["lgamma"] = [_S("mixed", _u(r, (2, 3), 0.2, 4.0)), _S("negative", _u(r, (3,), -2.8, -2.2))]
    t["digamma"] = [_S("positive", _u(r, (2, 3), 0.3, 4.0))]
    t["polygamma"] = [_S("n1", 1, _u(r, (2, 3), 0.3, 4.0)), _S("n2", 2, _u(r, (3,), 0.5, 3.0))]
    t["mvlgamma"] = [_S("p2", _u(r, (2, 3), 1.0, 3.0), 2)]
    t["i0"] = [_S("plain", _u(r, (2, 3), -3, 3))]
    t["_special_ndtri"] = [_S("plain", _u(r, (2, 3), 0.05, 0.95))]
    return t
