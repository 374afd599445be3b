"""Every error Ember raises on purpose is an ``ember.EmberError`` that is also the builtin PyTorch raises.

Two checks: a source audit (no library module raises a bare builtin exception class, so a new one cannot
slip in), and calls across the public API that a user gets wrong, each of which must raise an EmberError
that is also the builtin a PyTorch user catches. The operator fuzz (tests/test_fuzz_ops.py) covers the
operators' bad inputs against PyTorch.
"""

from __future__ import annotations

import ast
import builtins
import inspect
from pathlib import Path

import pytest

import ember
import ember.errors

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = [ROOT / "core", *sorted((ROOT / "backends").glob("*/ember_*"))]

#: Builtins a library may still raise: Python protocols that must see exactly these, and invariants.
ALLOWED = {
    "StopIteration": "iterator protocol",
    "StopAsyncIteration": "iterator protocol",
    "GeneratorExit": "generator protocol",
    "KeyboardInterrupt": "re-raised after clean-up",
    "AssertionError": "an internal invariant (never a user's error) or PyTorch's own assertion type",
    "SystemExit": "command-line entry points",
}
BUILTIN_EXCEPTIONS = {n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)}


def _raised_builtins(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(target, ast.Name) and target.id in BUILTIN_EXCEPTIONS and target.id not in ALLOWED:
                yield node.lineno, target.id


def test_no_library_module_raises_a_bare_builtin():
    found = []
    for base in LIBRARY:
        for path in sorted(base.rglob("*.py")):
            if "tests" in path.parts or path.name == "scaffold.py":
                continue
            found += [f"{path.relative_to(ROOT)}:{line}: raise {name}" for line, name in _raised_builtins(path)]
    assert not found, ("raise a typed error from ember.errors (an EmberError that is also the builtin) "
                       "instead of:\n" + "\n".join(found))


def _builtin_based_classes(path: Path):
    """Exception classes a module defines straight on a builtin (not through ember.errors)."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            names = [b.id for b in node.bases if isinstance(b, ast.Name)]
            if names and all(n in BUILTIN_EXCEPTIONS for n in names) and not {"Warning", "UserWarning"} & set(names) \
                    and not any(n.endswith("Warning") for n in names):
                yield node.lineno, node.name


def test_no_library_exception_class_bypasses_ember_error():
    found = []
    for base in LIBRARY:
        for path in sorted(base.rglob("*.py")):
            if "tests" in path.parts or path.name == "errors.py":
                continue
            found += [f"{path.relative_to(ROOT)}:{line}: class {name}" for line, name in _builtin_based_classes(path)]
    assert not found, "derive these from an ember.errors class instead:\n" + "\n".join(found)


def test_the_audit_sees_a_bare_raise(tmp_path):
    p = tmp_path / "m.py"
    p.write_text("def f(x):\n    if x:\n        raise ValueError(x)\n    raise StopIteration\n")
    assert list(_raised_builtins(p)) == [(3, "ValueError")]


def test_every_error_class_is_an_ember_error_and_a_builtin():
    for name, cls in vars(ember.errors).items():
        if not (inspect.isclass(cls) and issubclass(cls, Exception)) or cls.__module__ != "ember.errors":
            continue
        assert issubclass(cls, ember.EmberError), name
        if cls is not ember.EmberError:
            assert any(b.__module__ == "builtins" and b is not Exception for b in cls.__mro__[1:]), name
        assert cls.__doc__, name


def _linear():
    return ember.nn.Linear(3, 2)


#: (what a user gets wrong, the call, the builtin PyTorch raises there)
MISUSES = [
    ("unknown module attribute", lambda: _linear().no_such_thing, AttributeError),
    ("missing state_dict keys", lambda: _linear().load_state_dict({}), RuntimeError),
    ("ModuleDict missing key", lambda: ember.nn.ModuleDict()["x"], KeyError),
    ("Sequential index", lambda: ember.nn.Sequential(_linear())[3], IndexError),
    ("add_module with a dot", lambda: _linear().add_module("a.b", _linear()), KeyError),
    ("register_buffer of a number", lambda: _linear().register_buffer("b", 3), TypeError),
    ("negative learning rate", lambda: ember.optim.SGD(_linear().parameters(), lr=-1), ValueError),
    ("Adam betas out of range", lambda: ember.optim.Adam(_linear().parameters(), betas=(1.5, 0.9)), ValueError),
    ("optimizer of a tensor", lambda: ember.optim.SGD(ember.ones(2, requires_grad=True), lr=0.1), TypeError),
    ("scheduler without optimizer", lambda: ember.optim.lr_scheduler.StepLR(object(), 1), TypeError),
    ("DataLoader batch_size 0", lambda: ember.utils.data.DataLoader([1, 2], batch_size=0), ValueError),
    ("DataLoader negative workers", lambda: ember.utils.data.DataLoader([1, 2], num_workers=-1), ValueError),
    ("random_split lengths", lambda: ember.utils.data.random_split(range(4), [3, 3]), ValueError),
    ("DistributedSampler rank", lambda: ember.utils.data.DistributedSampler(range(4), 2, 5), ValueError),
    ("post-accumulate hook on a non-leaf",
     lambda: ember.ones(2, requires_grad=True).mul(2).register_post_accumulate_grad_hook(print), RuntimeError),
    ("backward of a non-scalar", lambda: ember.ones(2, requires_grad=True).mul(2).backward(), RuntimeError),
    ("backward without grad", lambda: ember.ones(2).sum().backward(), RuntimeError),
    ("unknown device", lambda: ember.ones(2, device="nosuchdevice"), RuntimeError),
    ("bool of a vector", lambda: bool(ember.ones(2)), RuntimeError),
    ("item of a vector", lambda: ember.ones(2).item(), RuntimeError),
    ("Categorical of bad probs", lambda: ember.distributions.Categorical(probs=ember.tensor([-1.0, 2.0])),
     ValueError),
    ("Normal scale negative", lambda: ember.distributions.Normal(0.0, -1.0), ValueError),
    ("clip_grad_norm_ nonfinite", lambda: ember.nn.utils.clip_grad_norm_(
        [_with_grad(float("inf"))], 1.0, error_if_nonfinite=True), RuntimeError),
    ("load a file that is not one", lambda: ember.load(__file__), ValueError),
    ("Conv2d groups", lambda: ember.nn.Conv2d(3, 4, 3, groups=2), ValueError),
    ("init of a 1-d tensor", lambda: ember.nn.init.xavier_uniform_(ember.ones(3)), ValueError),
    ("interpolate with both size and scale", lambda: ember.nn.functional.interpolate(
        ember.ones(1, 1, 4), size=2, scale_factor=2.0), ValueError),
    ("multinomial of negative weights", lambda: ember.multinomial(ember.tensor([-1.0, 1.0]), 1), RuntimeError),
    ("manual_seed of a string", lambda: ember.manual_seed("x"), TypeError),
    ("numpy of a tensor requiring grad", lambda: ember.ones(2, requires_grad=True).numpy(), RuntimeError),
]


def _with_grad(value):
    p = ember.nn.Parameter(ember.ones(2))
    p.grad = ember.full((2,), value)
    return p


@pytest.mark.parametrize("what,call,builtin", MISUSES, ids=[m[0] for m in MISUSES])
def test_public_api_misuse_raises_a_typed_error(what, call, builtin):
    with pytest.raises(builtin) as e:
        call()
    assert isinstance(e.value, ember.EmberError), f"{what}: {type(e.value).__module__}.{type(e.value).__name__}"
    assert str(e.value), what


def test_the_builtins_in_the_table_are_pytorchs():
    """A sample of the table's builtins, checked against torch itself."""
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        torch.ones(2, requires_grad=True).mul(2).backward()
    with pytest.raises(KeyError):
        torch.nn.Linear(3, 2).add_module("a.b", torch.nn.Linear(3, 2))
    with pytest.raises(ValueError):
        torch.optim.SGD(torch.nn.Linear(3, 2).parameters(), lr=-1)
    with pytest.raises(RuntimeError):
        torch.nn.Linear(3, 2).load_state_dict({})
    with pytest.raises(RuntimeError):
        torch.ones(2, requires_grad=True).numpy()
    with pytest.raises(RuntimeError):
        torch.ones(2, device="nosuchdevice")
