"""Type promotion follows PyTorch exactly: checked against torch over every pair and level."""

import itertools

import numpy as np
import pytest

import ember
from ember import dtypes as D

torch = pytest.importorskip("torch")

TORCH = {d: getattr(torch, d.name) for d in D.all_dtypes}


@pytest.mark.parametrize("a,b", list(itertools.product(D.all_dtypes, repeat=2)), ids=lambda d: d.name)
def test_promote_types_matches_torch(a, b):
    assert D.promote_types(a, b).name == str(torch.promote_types(TORCH[a], TORCH[b])).split(".")[1]


def _make(level, dt):
    if level == "dim":
        return ember.zeros(2, dtype=dt), torch.zeros(2, dtype=TORCH[dt])
    return ember.zeros((), dtype=dt), torch.zeros((), dtype=TORCH[dt])


@pytest.mark.parametrize("la,lb", [("dim", "zero"), ("zero", "dim"), ("zero", "zero"), ("dim", "dim")])
def test_result_type_tensor_levels_match_torch(la, lb):
    for a, b in itertools.product(D.all_dtypes, repeat=2):
        ea, ta = _make(la, a)
        eb, tb = _make(lb, b)
        want = str(torch.result_type(ta, tb)).split(".")[1]
        assert D.result_type(ea, eb).name == want, (la, a, lb, b)


@pytest.mark.parametrize("scalar", [True, 3, 2.5])
def test_result_type_with_python_scalars_matches_torch(scalar):
    for a in D.all_dtypes:
        for level in ("dim", "zero"):
            ea, ta = _make(level, a)
            want = str(torch.result_type(ta, scalar)).split(".")[1]
            assert D.result_type(ea, scalar).name == want, (level, a, scalar)


def test_default_dtypes():
    assert ember.tensor([1.0]).dtype is ember.float32
    assert ember.tensor([1]).dtype is ember.int64
    assert ember.tensor([True]).dtype is ember.bool
    assert ember.tensor(np.zeros(2, np.float16)).dtype is ember.float16
    assert ember.zeros(2).dtype is ember.float32
    assert ember.arange(3).dtype is ember.int64
    assert ember.arange(3.0).dtype is ember.float32


def test_set_default_dtype_roundtrip():
    ember.set_default_dtype(ember.float64)
    try:
        assert ember.tensor([1.5]).dtype is ember.float64
        assert (ember.tensor([1]) * 0.5).dtype is ember.float64
    finally:
        ember.set_default_dtype(ember.float32)
    with pytest.raises(TypeError, match="floating"):
        ember.set_default_dtype(ember.int32)


def test_bfloat16_is_ml_dtypes():
    import ml_dtypes
    assert ember.bfloat16.np == np.dtype(ml_dtypes.bfloat16)
    x = ember.tensor([1.0, 2.5], dtype=ember.bfloat16)
    assert x.numpy().dtype == ml_dtypes.bfloat16
    assert x.tolist() == [1.0, 2.5]


def test_unknown_numpy_dtype_is_a_clear_error():
    with pytest.raises(TypeError, match="uint16"):
        ember.tensor(np.zeros(2, np.uint16))


def test_bfloat16_loads_ml_dtypes_only_when_used():
    """ml_dtypes' extension dominates start-up time: `import ember` and float32 work must not load it."""
    import os
    import subprocess
    import sys
    code = ("import sys, ember\n"
            "(ember.ones(2) + 1).sum().item(); repr(ember.arange(3.0)); ember.float32.np\n"
            "print('ml_dtypes' in sys.modules)\n"
            "x = ember.tensor([1.5, -2.25]).to(ember.bfloat16)\n"
            "print('ml_dtypes' in sys.modules, x.dtype.np.name, x.tolist())\n")
    env = dict(os.environ, EMBER_PLUGINS="cpu")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["False", "True bfloat16 [1.5, -2.25]"], r.stdout
