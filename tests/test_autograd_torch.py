"""Gradients of every differentiable operator against PyTorch's, on the same random inputs."""

from __future__ import annotations

import numpy as np
import pytest

import ember

from autograd_samples import DIFF_OPS, _call, _ember_args, _flat_inputs, _nograd, sample_inputs

torch = pytest.importorskip("torch")

_TORCH_NAME = {  # torch's private linalg ops differ in signature; singular vectors and eigenvectors in sign
               # (tests/test_linalg.py compares those gradients through sign-free functions)
               "_linalg_svd": None, "_linalg_eigh": None, "_linalg_qr": None, "_linalg_solve_ex": None,
               "_linalg_slogdet": None, "_linalg_inv_ex": None, "_linalg_cholesky_ex": None,
               "max_dim": "max", "min_dim": "min", "true_divide": "true_divide", "_to_copy": None,
               "slice": None, "index": None, "index_put": "index_put", "einsum": None, "as_strided": "as_strided",
               "scatter_": None, "scatter_add_": None, "index_add_": None, "masked_fill_": None,
               "index_put_": None, "clamp_": None, "tril_": None, "triu_": None, "copy_": None, "fill_": None,
               # argument orders that differ from PyTorch's functions
               "batch_norm": None, "im2col": None, "col2im": None, "cross_entropy_backward": None,
               "nll_loss": None, "binary_cross_entropy": None, "binary_cross_entropy_with_logits": None,
               "cross_entropy": None, "mse_loss": None, "l1_loss": None, "dropout": None,
               "max_pool2d_with_indices": None, "avg_pool2d": None, "gelu": None}


def _torch_arg(a, grad=True):
    if isinstance(a, np.ndarray):
        floating = a.dtype.kind in "fc"
        t = torch.tensor(a.astype(np.float64 if a.dtype.kind == "f" else np.complex128) if floating else a)
        return t.requires_grad_(True) if floating and grad else t
    if isinstance(a, list) and a and isinstance(a[0], np.ndarray):
        return [_torch_arg(x, grad) for x in a]
    return a


def _torch_leaves(args, kwargs):
    out = []
    for a in list(args) + list(kwargs.values()):
        for x in (a if isinstance(a, list) else [a]):
            if isinstance(x, torch.Tensor) and x.requires_grad:
                out.append(x)
    return out



@pytest.mark.parametrize("name", [n for n in DIFF_OPS if not n.endswith("_")])
def test_gradients_match_pytorch(name):
    tname = _TORCH_NAME.get(name, name)
    fn = getattr(torch, tname, None) if tname else None
    if fn is None and tname:
        fn = getattr(torch.nn.functional, tname, None)
    if fn is None:
        pytest.skip(f"no PyTorch function with {name}'s signature")
    rng = np.random.default_rng(4)
    compared = 0
    for sample in sample_inputs(name, None, rng=rng):
        ng = _nograd(sample)
        targs = [_torch_arg(a, i not in ng) for i, a in enumerate(sample.args)]
        tkw = {k: _torch_arg(v, k not in ng) for k, v in sample.kwargs.items()}
        try:
            tout = fn(*targs, **tkw)
        except (TypeError, RuntimeError):
            continue   # PyTorch's function takes other arguments for this sample
        touts = [o for o in (tout if isinstance(tout, (tuple, list)) else (tout,))
                 if isinstance(o, torch.Tensor) and (o.dtype.is_floating_point or o.dtype.is_complex)]
        # a complex output weighs its real and imaginary parts: the loss is real
        touts = [torch.view_as_real(o.resolve_conj()) if o.dtype.is_complex else o for o in touts]
        weights = [np.random.default_rng(5).standard_normal(tuple(o.shape)) for o in touts]
        loss = sum((o * torch.tensor(w)).sum() for o, w in zip(touts, weights))
        tleaves = _torch_leaves(targs, tkw)
        try:
            tgrads = torch.autograd.grad(loss, tleaves, allow_unused=True)
        except RuntimeError:
            continue   # PyTorch cannot differentiate this sample (e.g. scatter_add with a larger src)

        args, kwargs = _ember_args(sample)
        out = _call(name, args, kwargs)
        outs = [o for o in (out if isinstance(out, (tuple, list)) else (out,))
                if isinstance(o, ember.Tensor) and (o.dtype.is_floating_point or o.dtype.is_complex)]
        outs = [ember.view_as_real(o) if o.dtype.is_complex else o for o in outs]
        eloss = None
        for o, w in zip(outs, weights):
            term = (o * ember.tensor(w)).sum()
            eloss = term if eloss is None else eloss + term
        leaves = _flat_inputs(args + list(kwargs.values()))
        egrads = ember.autograd.grad(eloss, leaves, allow_unused=True)
        tgrads = [None if t is None else t.resolve_conj() for t in tgrads]
        for k, (e, t) in enumerate(zip(egrads, tgrads)):
            if t is None or e is None:
                assert (e is None or np.allclose(e.numpy(), 0)) and (t is None or np.allclose(t.numpy(), 0))
                continue
            np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-7, atol=1e-9,
                                       err_msg=f"{name}/{sample.name}: input {k}")
        compared += 1
    if not compared:
        pytest.skip(f"PyTorch's {tname} takes none of the samples' arguments")
