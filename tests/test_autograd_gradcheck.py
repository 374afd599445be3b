"""Every differentiable operator in the registry: gradcheck, gradgradcheck (families), forward mode,
and gradients against PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.autograd import NONDIFFERENTIABLE, gradcheck, gradgradcheck
from ember.autograd._gradcheck import analytical_jacobian
from ember.dispatch import registry

# Samples in ember_conformance.samples' form (name, args, kwargs; numpy arrays for tensors), chosen
# away from kinks and poles so that finite differences are accurate; they can move to the shared
# conformance samples once those carry gradient-safe inputs for every operator.
from autograd_samples import sample_inputs

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
        if a.dtype.kind == "f":
            return ember.tensor(a.astype(np.float64), requires_grad=grad)
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
    if name.endswith("_"):  # in place: on a clone, never on the leaf itself
        args = [args[0].clone()] + list(args[1:])
    return fn(*args, **kwargs)


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


def test_every_differentiable_operator_has_samples():
    missing = [n for n in DIFF_OPS if not sample_inputs(n, None, rng=np.random.default_rng(0))]
    assert not missing, (f"differentiable operators without gradient test samples: {missing}; add samples in "
                         f"tests/autograd_samples.py, or list the operator in "
                         f"ember.autograd.registry.NONDIFFERENTIABLE if it has no derivative")


def test_nondifferentiable_outputs_do_not_require_grad():
    x = ember.tensor([[0.5, -1.0], [2.0, 0.1]], requires_grad=True)
    for out in (x > 0, ember.argmax(x), x.isnan(), ember.floor_divide(x, 2), ember.argsort(x)):
        assert not out.requires_grad and out.grad_fn is None


@pytest.mark.parametrize("name", DIFF_OPS)
def test_gradcheck(name):
    for sample in sample_inputs(name, None, rng=np.random.default_rng(1)):
        f, flat = _case(name, sample)
        assert flat, f"{name}/{sample.name}: no differentiable input"
        assert gradcheck(f, tuple(flat)), f"{name}/{sample.name}"


_DOUBLE = [n for n in DIFF_OPS if registry[n].family in ("unary", "binary", "reduction", "linalg", "ternary")]


@pytest.mark.parametrize("name", _DOUBLE)
def test_gradgradcheck(name):
    sample = sample_inputs(name, None, rng=np.random.default_rng(2))[0]
    f, flat = _case(name, sample)
    assert gradgradcheck(f, tuple(flat)), f"{name}/{sample.name}"


# Forward mode: each column J e_j of the Jacobian from a JVP equals the reverse-mode Jacobian's.

@pytest.mark.parametrize("name", DIFF_OPS)
def test_forward_mode_matches_reverse_mode(name):
    import ember.autograd.forward_ad as fwAD
    sample = sample_inputs(name, None, rng=np.random.default_rng(3))[0]
    f, flat = _case(name, sample)
    jac, outs = analytical_jacobian(f, tuple(flat))
    for a, x in enumerate(flat):
        n = x.numel()
        for j in range(min(n, 4)):
            e = np.zeros(n)
            e[j] = 1.0
            with fwAD.dual_level():
                xs = list(flat)
                xs[a] = fwAD.make_dual(x.detach(), ember.tensor(e.reshape(tuple(x.shape))))
                ys = f(*xs)
                ys = ys if isinstance(ys, (tuple, list)) else (ys,)
                ys = [y for y in ys if isinstance(y, ember.Tensor) and y.dtype.is_floating_point]
                for k, y in enumerate(ys):
                    t = fwAD.unpack_dual(y).tangent
                    got = np.zeros(y.numel()) if t is None else t.numpy().reshape(-1)
                    np.testing.assert_allclose(got, jac[a][k][j], rtol=1e-6, atol=1e-8,
                                               err_msg=f"{name}/{sample.name}: input {a} element {j} output {k}")


# Against PyTorch on random inputs

torch = pytest.importorskip("torch")

_TORCH_NAME = {"max_dim": "max", "min_dim": "min", "true_divide": "true_divide", "_to_copy": None,
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
        t = torch.tensor(a.astype(np.float64) if a.dtype.kind == "f" else a)
        return t.requires_grad_(True) if a.dtype.kind == "f" and grad else t
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
                 if isinstance(o, torch.Tensor) and o.dtype.is_floating_point]
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
                if isinstance(o, ember.Tensor) and o.dtype.is_floating_point]
        eloss = None
        for o, w in zip(outs, weights):
            term = (o * ember.tensor(w)).sum()
            eloss = term if eloss is None else eloss + term
        leaves = _flat_inputs(args + list(kwargs.values()))
        egrads = ember.autograd.grad(eloss, leaves, allow_unused=True)
        for k, (e, t) in enumerate(zip(egrads, tgrads)):
            if t is None or e is None:
                assert (e is None or np.allclose(e.numpy(), 0)) and (t is None or np.allclose(t.numpy(), 0))
                continue
            np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-7, atol=1e-9,
                                       err_msg=f"{name}/{sample.name}: input {k}")
        compared += 1
    if not compared:
        pytest.skip(f"PyTorch's {tname} takes none of the samples' arguments")
