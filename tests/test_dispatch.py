"""The dispatcher: key order, fallthrough, decompositions, registration rules."""

import pytest

import ember
from ember.dispatch import AUTOCAST, AUTOGRAD, PYTHON, defop, impl, keys, state
from ember.ops import Spec
from ember.ops.elementwise import add, mul


def _meta(x):
    return Spec(x._shape, x._dtype)


@pytest.fixture(autouse=True)
def _forget_test_operators():
    """Operators a test defines leave the shared registry afterwards (the conformance suite, which covers
    every registered operator, may run later in the same process)."""
    before = set(ember.dispatch.registry)
    yield
    for name in set(ember.dispatch.registry) - before:
        del ember.dispatch.registry[name]


def _double(x):
    return add(x, x)


def test_composite_runs_its_decomposition_on_every_backend():
    f = defop("test_double(Tensor self) -> Tensor", meta=_meta, decomposition=_double)
    x = ember.tensor([1.0, 2.0])
    assert f(x).tolist() == [2.0, 4.0]
    m = f(ember.empty(3, device="meta"))
    assert m.shape == (3,) and m.device.type == "meta"
    # A backend kernel, once registered, replaces the decomposition for that backend only.
    impl("test_double", "cpu")(lambda x: ember.full(x.shape, 7.0))
    assert f(x).tolist() == [7.0, 7.0]
    with pytest.raises(ember.RegistrationError, match="already has a kernel"):
        impl("test_double", "cpu")(lambda x: x)


def test_prim_without_kernel_names_op_backend_and_plugin():
    f = defop("test_prim_only(Tensor self) -> Tensor", meta=_meta, prim=True)
    with pytest.raises(ember.NotImplementedForBackend, match=r"'test_prim_only'.*'cpu'.*ember-cpu"):
        f(ember.ones(2))
    assert f(ember.empty(2, device="meta")).shape == (2,)   # meta runs the meta function


def test_functionality_keys_run_above_backends_and_fall_through():
    calls = []
    f = defop("test_layered(Tensor self) -> Tensor", meta=_meta, decomposition=lambda x: mul(x, 3))

    # No Autograd/Autocast kernel: the keys are in the set but fall through.
    state.included |= AUTOGRAD.bit | AUTOCAST.bit
    try:
        assert f(ember.ones(1)).tolist() == [3.0]
    finally:
        state.included &= ~(AUTOGRAD.bit | AUTOCAST.bit)

    def autocast_kernel(x):
        calls.append("autocast")
        state.allowed &= ~AUTOCAST.bit           # redispatch below this key
        try:
            return f(x.to(ember.float64))
        finally:
            state.allowed |= AUTOCAST.bit

    def python_kernel(x):
        calls.append("python")
        state.allowed &= ~PYTHON.bit
        try:
            return f(x)
        finally:
            state.allowed |= PYTHON.bit

    impl("test_layered", "Autocast")(autocast_kernel)
    impl("test_layered", "Python")(python_kernel)
    state.included |= AUTOCAST.bit | PYTHON.bit
    try:
        out = f(ember.ones(2))
    finally:
        state.included &= ~(AUTOCAST.bit | PYTHON.bit)
    assert calls == ["python", "autocast"]          # highest key first
    assert out.dtype is ember.float64 and out.tolist() == [3.0, 3.0]
    calls.clear()
    assert f(ember.ones(2)).dtype is ember.float32  # keys not in the set do not run
    assert calls == []


def test_backend_keys_are_created_per_device_type():
    cpu = keys.backend_key("cpu")
    assert cpu is not None and cpu.is_backend and 0 < cpu.index < AUTOGRAD.index
    assert keys.backend_key("meta") is keys.META
    assert keys.keyset_names(ember.ones(1)._keys) == [cpu.name]


def test_mixed_devices_are_refused_with_both_named():
    with pytest.raises(ember.DeviceMismatchError, match="cpu.*meta|meta.*cpu"):
        ember.ones(2) + ember.empty(2, device="meta")


def test_operator_schema_round_trips_and_is_documented():
    for name, op in ember.dispatch.registry.items():
        assert ember.dispatch.parse_schema(str(op.schema)) == op.schema, name
        assert op.fn.__doc__.startswith(name + "("), name
        assert op.is_prim or op.decomposition is not None, f"{name} has neither kernel duty nor decomposition"


def test_every_cpu_prim_has_a_kernel():
    missing = [n for n, op in ember.dispatch.registry.items()
               if op.is_prim and not n.startswith("test_") and op.implementation("cpu") != "kernel"]
    assert missing == []


def test_schema_parser_reports_bad_text():
    with pytest.raises(ValueError, match="cannot parse"):
        ember.dispatch.parse_schema("add(Tensor self")
    with pytest.raises(ValueError, match="Tensr x"):
        ember.dispatch.parse_schema("f(Tensr x) -> Tensor")


def test_every_operator_runs_on_meta_for_a_simple_input():
    """Shape and dtype inference exists for every unary/binary elementwise operator."""
    m = ember.empty(2, 3, device="meta")
    i = ember.empty(2, 3, dtype=ember.int64, device="meta")
    from ember.ops.elementwise import BINARY, UNARY
    for name, rule in UNARY.items():
        x = i if rule in ("bitwise",) else m
        assert getattr(ember, name)(x).shape == (2, 3), name
    for name, rule in BINARY.items():
        x = i if rule in ("bitwise", "integer") else m
        assert getattr(ember, name)(x, x).shape == (2, 3), name
