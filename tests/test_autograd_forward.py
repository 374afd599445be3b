"""Forward mode against reverse mode: each column J e_j of the Jacobian from a JVP equals the reverse-mode
Jacobian's, for every differentiable operator."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.autograd._gradcheck import analytical_jacobian

from autograd_samples import DIFF_OPS, _case, sample_inputs


@pytest.mark.parametrize("name", DIFF_OPS)
def test_forward_mode_matches_reverse_mode(name):
    import ember.autograd.forward_ad as fwAD
    samples = sample_inputs(name, None, rng=np.random.default_rng(3))
    if not samples:
        pytest.skip(f"{name} has no samples (test_every_differentiable_operator_has_samples reports it)")
    real_in = [s for s in samples if not _has_complex(s)]
    if not real_in:   # forward mode takes floating primals only; reverse mode checks complex inputs
        pytest.skip(f"every sample of {name} has a complex input; make_dual takes floating primals only "
                    f"(reverse mode checks it)")
    sample = real_in[0]
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
                if any(isinstance(y, ember.Tensor) and y.dtype.is_complex for y in ys):
                    pytest.skip(f"{name} has a complex output; forward mode carries tangents of floating "
                                f"tensors only (reverse mode checks it)")
                ys = [y for y in ys if isinstance(y, ember.Tensor) and y.dtype.is_floating_point]
                for k, y in enumerate(ys):
                    t = fwAD.unpack_dual(y).tangent
                    got = np.zeros(y.numel()) if t is None else t.detach().numpy().reshape(-1)
                    np.testing.assert_allclose(got, jac[a][k][j], rtol=1e-6, atol=1e-8,
                                               err_msg=f"{name}/{sample.name}: input {a} element {j} output {k}")


def _has_complex(sample):
    values = list(sample.args) + list(sample.kwargs.values())
    return any(isinstance(x, np.ndarray) and x.dtype.kind == "c"
               for v in values for x in (v if isinstance(v, list) else [v]))
