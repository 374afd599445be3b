"""In-place writes through overlapping memory, against torch on the same inputs: an expanded (stride-0)
written-to tensor and an input partially overlapping it are refused with PyTorch's errors, decided once in
core for every in-place operator and backend; what PyTorch allows gives its values. Also the number
arguments and sizes that once wrapped silently or raised non-Ember errors (issue 17's error list)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import ember
from ember.dispatch import overlap

torch = pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).parent))
from fixture_plugins import load  # noqa: E402

load("npy")


def _long(m):
    return m.int64


def _expanded(m, d):
    return m.ones(3, device=d).expand(4, 3)


def _ar(m, d, n=5):
    return m.arange(float(n), device=d)


def _idx(m, d, v):
    return m.tensor(v, dtype=m.int64, device=d)


def _inplace(fn):
    """Run fn(a) on a's view and return a (the whole storage, after the write)."""
    def run(m, d, n=5):
        a = _ar(m, d, n)
        fn(m, d, a)
        return a
    return run


# name -> (m, device) -> the tensor whose values to compare; each runs on torch ("cpu") and on Ember.
CASES = {
    # written-to tensors with internal overlap
    "expand.add_": lambda m, d: _expanded(m, d).add_(1),
    "expand.mul_tensor": lambda m, d: _expanded(m, d).mul_(m.ones(4, 3, device=d)),
    "expand.exp_": lambda m, d: _expanded(m, d).exp_(),
    "expand.copy_": lambda m, d: _expanded(m, d).copy_(m.zeros(4, 3, device=d)),
    "expand.clamp_": lambda m, d: _expanded(m, d).clamp_(0, 1),
    "expand.scatter_": lambda m, d: _expanded(m, d).scatter_(0, _idx(m, d, [[0, 0, 0]]), m.zeros(1, 3, device=d)),
    "expand.scatter_add_": lambda m, d: _expanded(m, d).scatter_add_(0, _idx(m, d, [[0, 0, 0]]),
                                                                     m.zeros(1, 3, device=d)),
    "expand.index_add_": lambda m, d: _expanded(m, d).index_add_(0, _idx(m, d, [0]), m.zeros(1, 3, device=d)),
    "expand.fill_": lambda m, d: _expanded(m, d).fill_(2),
    "expand.zero_": lambda m, d: _expanded(m, d).zero_(),
    "expand.masked_fill_": lambda m, d: _expanded(m, d).masked_fill_(m.ones(4, 3, dtype=m.bool, device=d), 2),
    "expand.index_put_": lambda m, d: _expanded(m, d).index_put_((_idx(m, d, [0]),), m.tensor(5.0, device=d)),
    "expand.setitem_row": lambda m, d: (lambda e: (e.__setitem__(0, 5.0), e)[1])(_expanded(m, d)),
    "expand.size1": lambda m, d: m.ones(1, device=d).expand(1, 1).add_(1),
    "expand.empty": lambda m, d: m.ones(0, device=d).expand(4, 0).add_(1),
    # inputs overlapping the written-to tensor
    "shifted.add_": _inplace(lambda m, d, a: a[1:].add_(a[:-1])),
    "shifted.sub_": _inplace(lambda m, d, a: a[1:].sub_(a[:-1])),
    "shifted.copy_": _inplace(lambda m, d, a: a[1:].copy_(a[:-1])),
    "shifted.setitem": _inplace(lambda m, d, a: a.__setitem__(slice(1, None), a[:-1])),
    "shifted.clamp_min": _inplace(lambda m, d, a: a[1:].clamp_(min=a[:-1])),
    "transposed.add_": lambda m, d: (lambda b: (b.add_(b.t()), b)[1])(_ar(m, d, 4).reshape(2, 2)),
    "transposed.copy_": lambda m, d: (lambda b: (b.copy_(b.t()), b)[1])(_ar(m, d, 4).reshape(2, 2)),
    "scalar_inside.add_": _inplace(lambda m, d, a: a[0:3].add_(a[1])),
    "scalar_view_vs_vector": _inplace(lambda m, d, a: a[0].add_(a[0:1])),
    "same_object.add_": _inplace(lambda m, d, a: a.add_(a)),
    "same_view.mul_": _inplace(lambda m, d, a: a[1:4].mul_(a[1:4])),
    "disjoint.add_": _inplace(lambda m, d, a: a[:2].add_(a[3:])),
    "scalar_outside.add_": _inplace(lambda m, d, a: a[1:3].add_(a[0])),
    "interleaved.add_": lambda m, d: (lambda a: (a[::2].add_(a[1::2]), a)[1])(_ar(m, d, 6)),
    "scatter_.src_same_view": _inplace(lambda m, d, a: a[0:4].scatter_(0, _idx(m, d, [0, 1]), a[0:4])),
    "scatter_.src_disjoint": lambda m, d: (lambda a: (a[0:4].scatter_(0, _idx(m, d, [0, 1]), a[4:8]), a)[1])(
        _ar(m, d, 8)),
    "scatter_add_.src_is_self": _inplace(lambda m, d, a: a.scatter_add_(0, _idx(m, d, [4, 3, 2, 1, 0]), a)),
    "index_add_.source_shifted": _inplace(lambda m, d, a: a[1:].index_add_(0, _idx(m, d, [0, 1]), a[:2])),
    "index_put_.values_same": _inplace(lambda m, d, a: a.index_put_((_idx(m, d, [0, 1, 2, 3, 4]),), a)),
    "index_put_.values_inside": _inplace(lambda m, d, a: a.index_put_((_idx(m, d, [0, 1]),), a[3:])),
    "masked_fill_.mask_shifted": lambda m, d: (lambda b: (b[1:].masked_fill_(b[:-1], True), b)[1])(
        m.tensor([True, False, False, True], device=d)),
    "masked_fill_.mask_same_view": lambda m, d: (lambda b: (b.masked_fill_(b, False), b)[1])(
        m.tensor([True, False, True], device=d)),
    "scatter_.index_shifted": lambda m, d: (lambda a: (a[1:].scatter_(0, a[:2], _idx(m, d, [7, 8])), a)[1])(
        m.zeros(6, dtype=m.int64, device=d)),
}
#: Random fills: only whether they raise is compared.
RANDOM = {
    "expand.uniform_": lambda m, d: _expanded(m, d).uniform_(),
    "expand.normal_": lambda m, d: _expanded(m, d).normal_(),
    "expand.bernoulli_": lambda m, d: _expanded(m, d).bernoulli_(0.5),
}
_NPY_CASES = ("expand.add_", "expand.copy_", "expand.fill_", "shifted.add_", "shifted.copy_", "transposed.add_",
              "scalar_inside.add_", "same_object.add_", "disjoint.add_", "interleaved.add_")


def _outcome(fn, m, device):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            r = fn(m, device)
        except RuntimeError as e:
            return "raise", e, None, []
    deprecated = [str(w.message) for w in caught if "deprecated" in str(w.message)]
    return "ok", None, np.asarray(r.to("cpu").tolist()), deprecated


def _compare(name, fn, device, values=True):
    want, terr, tval, twarn = _outcome(fn, torch, "cpu")
    got, eerr, eval_, ewarn = _outcome(fn, ember, device)
    assert got == want, f"{name}: torch {want} ({terr}), ember {got} ({eerr})"
    if want == "raise":
        assert isinstance(eerr, ember.MemoryOverlapError), f"{name}: {type(eerr).__name__}: {eerr}"
        assert str(terr) in str(eerr), f"{name}: torch says {terr!s}, ember says {eerr!s}"
        return
    if values:
        np.testing.assert_array_equal(eval_, tval, err_msg=name)
    assert bool(ewarn) == bool(twarn), f"{name}: torch warned {twarn}, ember warned {ewarn}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_overlap_matches_torch_on_cpu(name):
    _compare(name, CASES[name], "cpu")


@pytest.mark.parametrize("name", _NPY_CASES)
def test_overlap_is_decided_in_core_for_every_backend(name):
    """npy registers only prims: the same decisions there show that core makes them, not a kernel."""
    _compare(name, CASES[name], "npy")


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_fills_refuse_expanded_tensors(name):
    _compare(name, RANDOM[name], "cpu", values=False)


def test_undecidable_overlap_reads_the_input_before_writing():
    """Strided views whose ranges meet (PyTorch cannot tell, and its result depends on its loop order): the
    input is copied first, so the result is computed from the values before the write."""
    a = ember.arange(10.0)
    a[2::2].add_(a[0:-2:2])
    want = np.arange(10.0)
    want[2::2] += np.arange(10.0)[0:-2:2]
    np.testing.assert_array_equal(a.numpy(), want)
    b = ember.arange(4.0)
    b.add_(b[0].expand(4))   # an expanded input on self's storage: read before self[0] changes
    np.testing.assert_array_equal(b.numpy(), [0.0, 1.0, 2.0, 3.0])


def test_overlap_status_rules():
    a = ember.arange(8.0)
    assert overlap.overlap_status(a, a) == overlap.FULL
    assert overlap.overlap_status(a[1:5], a[0:4]) == overlap.PARTIAL
    assert overlap.overlap_status(a[0:4], a[4:8]) == overlap.NO
    assert overlap.overlap_status(a[0:4], ember.arange(4.0)) == overlap.NO
    assert overlap.overlap_status(a.reshape(2, 4)[:, :2], a.reshape(2, 4)[:, 1:3]) == overlap.TOO_HARD
    assert overlap.overlap_status(a[::2], a[1::2]) == overlap.TOO_HARD
    assert overlap.internal_overlap(ember.ones(3).expand(2, 3))
    assert not overlap.internal_overlap(ember.ones(1).expand(1, 1))
    assert not overlap.internal_overlap(ember.ones(0).expand(2, 0))


def test_overlap_checks_under_autograd_and_no_grad():
    w = ember.ones(3, requires_grad=True)
    x = w * 1
    with pytest.raises(ember.MemoryOverlapError, match="more than one element"):
        x.expand(2, 3).add_(1)
    with ember.no_grad():
        with pytest.raises(ember.MemoryOverlapError, match="some elements"):
            w[1:].add_(w[:-1])


def test_in_place_operator_on_a_number_is_an_ember_type_error():
    with pytest.raises(ember.ArgumentTypeError, match=r"add_\(\) writes into its first argument"):
        ember.add_(1, ember.ones(2))
    with pytest.raises(ember.ArgumentTypeError, match=r"exp_\(\) writes into its first argument"):
        ember.exp_(1)


# -- number arguments and sizes: Ember errors that are also PyTorch's builtin error types ------------------

_c = lambda m: m.tensor([True, False])  # noqa: E731
_i8 = lambda m: m.tensor([1, 2], dtype=m.int8)  # noqa: E731
_i64 = lambda m: m.tensor([1, 2])  # noqa: E731

ERRORS = {
    "fill_.nan_into_int64": lambda m: m.zeros(2, dtype=m.int64).fill_(float("nan")),
    "masked_fill.inf_into_int64": lambda m: _i64(m).masked_fill(_c(m), float("inf")),
    "where.scalar_over_int8": lambda m: m.where(_c(m), _i8(m), 1000),
    "where.scalar_over_int64": lambda m: m.where(_c(m), _i64(m), 2**63),
    "where.int_too_big": lambda m: m.where(_c(m), 1.5, 2**70),
    "clamp.min_over_int8": lambda m: m.clamp(_i8(m), 1000),
    "clamp.max_over_int8": lambda m: m.clamp(_i8(m), max=1000),
    "clamp_.min_over_int8": lambda m: _i8(m).clamp_(-1000),
    "clamp.float32_overflow": lambda m: m.clamp(m.ones(2), 1e300),
    "clamp.int_too_big": lambda m: m.clamp(_i8(m), 2**70),
    "add.int_too_big": lambda m: m.add(_i8(m), 2**70),
    "add_.int_too_big_float": lambda m: m.ones(2).add_(2**64),
    "mul.huge_int_float": lambda m: m.ones(2) * 2**1030,
    "full.int_too_big": lambda m: m.full((2,), 2**70, dtype=m.float32),
    "eye.overflow": lambda m: m.eye(2**40),
    "eye.negative": lambda m: m.eye(-1),
    "pow.negative_int_exponent": lambda m: m.tensor([2]) ** -1,
}
#: What torch accepts, with its values: Ember must too.
ACCEPTED = {
    "where.float_result": lambda m: m.where(_c(m), _i64(m), 1e10),
    "clamp.float_bound_promotes": lambda m: m.clamp(_i64(m), 1.5),
    "add.wraps_in_range": lambda m: m.add(_i8(m), 1000),
    "add.uint64_range": lambda m: m.add(_i64(m), 2**63),
    "clamp.in_range": lambda m: m.clamp(_i8(m), -128, 127),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_user_errors_are_ember_errors_of_torchs_type(name):
    with pytest.raises(Exception) as t:
        ERRORS[name](torch)
    with pytest.raises(ember.EmberError) as e:
        ERRORS[name](ember)
    assert isinstance(e.value, type(t.value)), f"torch raises {type(t.value).__name__}: {t.value}; " \
                                               f"ember {type(e.value).__mro__}"
    op = name.split(".")[0].rstrip("_")
    assert op in str(e.value), f"the message names the operator: {e.value}"


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_number_arguments_torch_accepts_give_its_values(name):
    t, e = ACCEPTED[name](torch), ACCEPTED[name](ember)
    assert e.dtype.name == str(t.dtype).replace("torch.", "")
    np.testing.assert_array_equal(np.asarray(e.tolist()), t.numpy())


def test_error_classes_moved_to_errors_stay_importable():
    from ember.ops._helpers import SizeError, ValueOverflowError
    assert SizeError is ember.SizeError and ValueOverflowError is ember.ValueOverflowError
    assert issubclass(ember.ValueOverflowError, (RuntimeError, ValueError, OverflowError, ember.EmberError))
    assert issubclass(ember.MemoryOverlapError, RuntimeError) and issubclass(ember.KernelResultError, RuntimeError)
