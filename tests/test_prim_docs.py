"""Every prim's doc is its kernel contract, in the same five labelled parts, so that a vendor can
write a kernel from `help(ember.<prim>)` alone."""

from __future__ import annotations

import pytest

import ember
from ember.ops.prims import REQUIRED

PARTS = ("Kernel:", "Operands:", "Out:", "Result:", "Edges:")


def _parts(doc: str) -> dict:
    found = {}
    for line in doc.splitlines():
        for p in PARTS:
            if line.startswith(p):
                found[p] = line[len(p):].strip()
    return found


@pytest.mark.parametrize("name", REQUIRED)
def test_prim_doc_states_the_kernel_contract(name):
    op = ember.dispatch.get(name)
    parts = _parts(op.doc)
    missing = [p for p in PARTS if p not in parts]
    assert not missing, f"{name}'s doc lacks {missing}:\n{op.doc}"
    assert parts["Kernel:"].startswith("kernel("), parts["Kernel:"]
    for p, text in parts.items():
        assert len(text) >= 10, f"{name}: {p} says too little: {text!r}"
    assert "Kernel:" in getattr(ember, name).__doc__          # help(ember.add) shows it


def test_elementwise_contracts_follow_their_promotion_rule():
    # the Result part comes from the family table: a comparison returns bool, a float op a float
    assert "bool" in _parts(ember.dispatch.get("lt").doc)["Result:"]
    assert "floating" in _parts(ember.dispatch.get("exp").doc)["Result:"]
    assert "ZeroDivisionError" in _parts(ember.dispatch.get("trunc_divide").doc)["Edges:"]
    # former prims keep their contract: a backend may still register a kernel for them
    assert _parts(ember.dispatch.get("tanh").doc)["Kernel:"].startswith("kernel(a, out)")


@pytest.mark.parametrize("name", REQUIRED)
def test_complex_contract_is_stated_where_a_prim_takes_complex(name):
    # a prim in ember.ops.prims.COMPLEX says what its kernel does with complex tensors; the others refuse
    # complex operands before any kernel runs
    from ember.ops.prims import COMPLEX
    op = ember.dispatch.get(name)
    if name in COMPLEX:
        lines = [ln[len("Complex:"):].strip() for ln in op.doc.splitlines() if ln.startswith("Complex:")]
        assert len(lines) == 1 and len(lines[0]) >= 10, op.doc
        assert "Complex:" in op.fn.__doc__
    else:
        assert "Complex:" not in op.doc
        assert "complex" not in op.tags
