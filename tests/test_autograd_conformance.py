"""gradcheck on the shared conformance samples (ember_conformance.samples), float64, for every
differentiable operator: the inputs every backend is certified on are also checked for gradients.

Samples that cannot be checked by finite differences are left out: bad inputs (``error``), special
values (inf/nan) and large ones, random operators, dtype-changing calls (rounding swamps the
differences), and samples the operator itself rejects (a forward matter, tested elsewhere).
"""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck
from ember.dispatch import registry

from autograd_samples import DIFF_OPS, symmetrized
from autograd_samples_linalg import SYMMETRIC_INPUT

samples_mod = pytest.importorskip("ember_conformance.samples")

_RANDOM = {"dropout"}
_PER_OP = 3     # samples per operator, to keep the file fast


def _usable(s):
    if getattr(s, "error", None) or set(getattr(s, "tags", ())) & {"special", "large"}:
        return False
    if s.kwargs.get("dtype") not in (None, ember.float64):
        return False
    for a in list(s.args) + list(s.kwargs.values()):
        for x in (a if isinstance(a, (list, tuple)) else (a,)):
            if isinstance(x, np.ndarray) and x.dtype.kind == "f" and (not np.isfinite(x).all() or x.size > 60):
                return False
    return True


def _prepare(s):
    args, kwargs = s.to_device("cpu", "contiguous")
    diff = []

    def mark(a):
        if isinstance(a, ember.Tensor) and a.dtype == ember.float64:
            a.requires_grad_(True)
            diff.append(a)
        return a
    args = [[mark(x) for x in a] if isinstance(a, list) else mark(a) for a in args]
    kwargs = {k: mark(v) for k, v in kwargs.items()}
    return args, kwargs, diff


@pytest.mark.parametrize("name", [n for n in DIFF_OPS if n not in _RANDOM])
def test_gradcheck_on_conformance_samples(name):
    try:
        samples = samples_mod.sample_inputs(name, ember.float64, rng=np.random.default_rng(0))
    except Exception as e:  # an operator the shared samples do not cover yet
        pytest.skip(f"no conformance samples for {name}: {e}")
    fn = registry[name].fn
    checked = 0
    for s in samples:
        if checked >= _PER_OP or not _usable(s):
            continue
        args, kwargs, diff = _prepare(s)
        if not diff:
            continue

        def f(*xs, args=args, kwargs=kwargs, diff=diff):
            m = {id(d): x for d, x in zip(diff, xs)}
            a2 = [[m.get(id(x), x) for x in a] if isinstance(a, list) else m.get(id(a), a) for a in args]
            k2 = {k: m.get(id(v), v) for k, v in kwargs.items()}
            if name.endswith("_"):
                a2 = [a2[0].clone()] + a2[1:]
            if name in SYMMETRIC_INPUT:
                a2 = [symmetrized(a2[0])] + a2[1:]
            return fn(*a2, **k2)
        try:
            with ember.no_grad():
                f(*diff)
        except Exception:
            continue   # the operator rejects this sample: a forward matter
        assert gradcheck(f, tuple(diff)), f"{name}/{s.name}"
        checked += 1
    if not checked:
        pytest.skip(f"no conformance sample of {name} suits finite differences")
