"""ember.accelerator, ember.backends switches and the Tensor device helpers, against torch 2.13 (CPU build).

Which plugins load decides the accelerator, so the comparisons with torch's CPU build run in child
processes with EMBER_PLUGINS chosen; the rule itself is checked in-process on stand-in backends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import ember
from ember import accelerator as A
from ember.errors import BackendUnavailableError, InvalidArgumentError, UnknownDeviceError, UnsupportedError

ROOT = Path(__file__).resolve().parent.parent


def _child(code: str, **env) -> dict:
    """Run ``code`` (which prints one JSON line) in a fresh interpreter with ``env`` added."""
    e = dict(os.environ, PYTHONPATH=str(ROOT), **env)
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=e, capture_output=True, text=True,
                       timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


# -- the accelerator against torch's CPU build ------------------------------------------------------

CPU_ONLY = r'''
import json, warnings, ember, torch
A, T = ember.accelerator, torch.accelerator
def err(f):
    try:
        f()
    except Exception as e:
        return [isinstance(e, RuntimeError), type(e).__name__]
    return None
x, tx = ember.ones(3), torch.ones(3)
out = {
  "acc": [A.current_accelerator(), T.current_accelerator(), A.current_accelerator(True), T.current_accelerator(True)],
  "avail": [A.is_available(), T.is_available(), A.device_count(), T.device_count()],
  "errors": [[err(f), err(g)] for f, g in [(A.current_device_index, T.current_device_index),
             (lambda: A.set_device_index(0), lambda: T.set_device_index(0)), (A.synchronize, T.synchronize),
             (A.current_stream, T.current_stream), (x.pin_memory, tx.pin_memory)]],
  "module": [ember.get_device_module().__name__, torch.get_device_module().__name__],
  "pinned": [x.is_pinned(), tx.is_pinned()],
  "none_ctx": [A.device_index(None).__enter__(), T.device_index(None).__enter__()],
}
msgs = []
for lib in (ember, torch):
    ds = lib.utils.data.TensorDataset(lib.arange(4.0))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        batches = [b[0].tolist() for b in lib.utils.data.DataLoader(ds, batch_size=2, pin_memory=True)]
    msgs.append([batches, [str(m.message) for m in w]])
out["loader"] = msgs
print(json.dumps(out, default=str))
'''


def test_cpu_only_matches_torch_cpu_build():
    r = _child(CPU_ONLY, EMBER_PLUGINS="cpu")
    assert r["acc"] == [None] * 4
    assert r["avail"] == [False, False, 0, 0]
    for ours, theirs in r["errors"]:
        assert theirs is not None and theirs[0], theirs
        assert ours is not None and ours[0] and ours[1] == "BackendUnavailableError", ours
    assert r["module"] == ["ember.cpu", "torch.cpu"]
    assert r["pinned"] == [False, False] and r["none_ctx"] == [None, None]
    (ours, om), (theirs, tm) = r["loader"]
    assert ours == theirs == [[0.0, 1.0], [2.0, 3.0]]
    assert om == tm and len(om) == 1 and "no accelerator is found" in om[0]


def test_installed_but_unavailable_plugin_is_reported_like_a_cuda_build_without_gpu():
    r = _child('''
        import json, ember
        A = ember.accelerator
        print(json.dumps([ember.cuda.is_available(), str(A.current_accelerator()), A.current_accelerator(True),
                          A.is_available(), A.device_count(), ember.get_device_module().__name__,
                          ember.cuda.is_bf16_supported()]))''', EMBER_PLUGINS="cpu,cuda")
    if r[0]:
        pytest.skip("a cuda device is available here")
    assert r[1:] == ["cuda", None, False, 0, "ember.cuda", torch.cuda.is_bf16_supported()]


def test_xpu_on_pocl_is_the_accelerator_and_serves_the_api():
    r = _child('''
        import json, ember
        A = ember.accelerator
        if not ember.xpu.is_available():
            from ember.device import get_backend
            print(json.dumps({"skip": get_backend("xpu").runtime.unavailable_reason()})); raise SystemExit
        x = ember.arange(6.0).xpu()
        s = A.current_stream()
        A.synchronize()
        with A.device_index(0):
            inside = A.current_device_index()
        print(json.dumps({"acc": str(A.current_accelerator(True)), "n": A.device_count(), "dev": str(x.device),
                          "is": [x.is_xpu, x.is_cuda, x.is_cpu], "stream": str(s.device), "inside": inside,
                          "mod": ember.get_device_module().__name__, "vals": x.cpu().tolist()}))''',
               EMBER_PLUGINS="cpu,cuda,xpu", EMBER_XPU_PLATFORM="Portable Computing Language")
    if "skip" in r:
        pytest.skip(f"no OpenCL device for xpu: {r['skip']}")
    assert r["acc"] == "xpu" and r["n"] >= 1 and r["dev"] == "xpu:0" and r["is"] == [True, False, False]
    assert r["stream"] == "xpu:0" and r["inside"] == 0 and r["mod"] == "ember.xpu"
    assert r["vals"] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


# -- the rule, on stand-in backends -----------------------------------------------------------------

def _stub(name, available=True, on_host=False):
    rt = types.SimpleNamespace(is_available=lambda: available, device_count=lambda: int(available),
                               runs_on_host=lambda i: on_host)
    return types.SimpleNamespace(device_type=name, runtime=rt, capabilities=types.SimpleNamespace(host_memory=False))


@pytest.mark.parametrize("stubs, acc, checked", [
    ([_stub("cuda", False), _stub("xpu"), _stub("xla", on_host=True)], "xpu", "xpu"),
    ([_stub("cuda"), _stub("xpu")], "cuda", "cuda"),
    ([_stub("cuda", False), _stub("xla", on_host=True)], "cuda", None),    # built, not available
    ([_stub("xla", on_host=True)], None, None),                             # host compute never counts
    ([], None, None),
])
def test_the_rule_prefers_available_then_installed(monkeypatch, stubs, acc, checked):
    monkeypatch.setattr(A, "_ordered", lambda: stubs)
    for b in stubs:
        monkeypatch.setitem(A._host, id(b), b.runtime.runs_on_host(0))
    got = A.current_accelerator()
    assert (got and got.type) == acc and (A.current_accelerator(check_available=True) or None) == (
        checked and ember.device(checked))
    assert A.is_available() is (checked is not None)


def test_ordered_follows_the_catalogue_and_examples_use_the_rule():
    from ember.plugins.catalogue import catalogue
    order = list(catalogue())
    types_ = [b.device_type for b in A._ordered()]
    assert "cpu" not in types_ and "meta" not in types_
    ranks = [order.index(t) if t in order else len(order) for t in types_]
    assert ranks == sorted(ranks)
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from _device import best_device
    finally:
        sys.path.remove(str(ROOT / "examples"))
    acc = A.current_accelerator(check_available=True)
    assert best_device() == ("cpu" if acc is None else acc.type)


# -- indices, streams and errors on a real indexed test backend -------------------------------------

@pytest.fixture
def counting(monkeypatch):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fixture_plugins import load
    load("counting")
    monkeypatch.setattr(A, "current_accelerator", lambda check_available=False: ember.device("counting"))
    prev = ember.runtime.current_device("counting")
    yield ember.device("counting")
    ember.set_device(ember.device("counting", prev))


def test_device_index_streams_and_sync_follow_the_accelerator(counting):
    assert A.device_count() == ember.counting.device_count() >= 2
    A.set_device_index(1)
    assert A.current_device_index() == 1 == ember.counting.current_device()
    with A.device_index(0):
        assert A.current_device_index() == 0
        assert A.current_stream() == ember.current_stream(ember.device("counting", 0))
    assert A.current_device_index() == 1
    assert A.current_stream().device == ember.device("counting", 1)
    A.set_device_index("counting:0")
    assert A.current_device_index() == 0
    A.set_device_index(-1)                       # a no-op, as in torch
    assert A.current_device_index() == 0
    s = ember.Stream(ember.device("counting", 1))
    A.set_stream(s)
    assert A.current_device_index() == 1 and A.current_stream(1) == s
    A.set_stream(ember.default_stream(ember.device("counting", 1)))
    A.synchronize()
    A.synchronize("counting:1")
    with pytest.warns(FutureWarning):
        A.set_device_idx(0)
    with pytest.warns(FutureWarning):
        assert A.current_device_idx() == 0
    assert isinstance(A.memory_allocated(), int) and isinstance(A.memory_stats(0), dict)
    with pytest.raises(InvalidArgumentError, match="does not match the current accelerator") as e:
        A.synchronize("cpu")
    assert isinstance(e.value, ValueError)          # torch raises ValueError here
    with pytest.raises(InvalidArgumentError, match="with an index"):
        A.set_device_index("counting")
    assert ember.get_device_module() is ember.counting


def test_get_device_module_matches_torch():
    assert ember.get_device_module("cpu") is ember.cpu and ember.get_device_module("cuda:0") is ember.cuda
    assert ember.get_device_module(ember.device("xpu")) is ember.xpu
    for bad in ("meta", "bogus", 3):
        with pytest.raises(RuntimeError):
            torch.get_device_module(bad)
        with pytest.raises(RuntimeError, match="get_device_module"):
            ember.get_device_module(bad)
    for lib in (ember, torch):    # the device modules answer whether or not the plugin is installed
        assert isinstance(lib.xpu.is_available(), bool) and isinstance(lib.mps.device_count(), int)
    assert not ember.cuda.is_available() or ember.cuda.device_count() >= 1


# -- ember.backends and matmul precision ------------------------------------------------------------

@pytest.fixture
def precision():
    yield
    ember.set_float32_matmul_precision("highest")
    torch.set_float32_matmul_precision("highest")


@pytest.mark.parametrize("p", ["highest", "high", "medium"])
def test_matmul_precision_sets_allow_tf32_as_torch(precision, p):
    ember.set_float32_matmul_precision(p)
    torch.set_float32_matmul_precision(p)
    assert ember.get_float32_matmul_precision() == torch.get_float32_matmul_precision() == p
    assert ember.backends.cuda.matmul.allow_tf32 is torch.backends.cuda.matmul.allow_tf32 is (p != "highest")
    assert ember.backends.cuda.matmul.fp32_precision == torch.backends.cuda.matmul.fp32_precision


@pytest.mark.parametrize("flag", [True, False])
def test_allow_tf32_sets_the_precision_as_torch(precision, flag):
    ember.backends.cuda.matmul.allow_tf32 = flag
    torch.backends.cuda.matmul.allow_tf32 = flag
    assert ember.get_float32_matmul_precision() == torch.get_float32_matmul_precision()
    import ember_cuda
    assert ember_cuda.matmul is ember.backends.cuda.matmul and ember_cuda.matmul.allow_tf32 is flag


def test_unknown_precision_warns_and_changes_nothing(precision):
    ember.set_float32_matmul_precision("high")
    for lib in (ember, torch):
        with pytest.warns(UserWarning, match="HIGH"):
            lib.set_float32_matmul_precision("HIGH")
    assert ember.get_float32_matmul_precision() == "high"
    with pytest.raises(ValueError, match="fp32_precision"):
        ember.backends.cuda.matmul.fp32_precision = "fast"


def test_backend_flags_have_torch_defaults_and_round_trip():
    m, tm = ember.backends.cuda.matmul, torch.backends.cuda.matmul
    for name in ("allow_fp16_reduced_precision_reduction", "allow_bf16_reduced_precision_reduction",
                 "allow_fp16_accumulation"):
        assert getattr(m, name) == getattr(tm, name), name
    for name in ("enabled", "deterministic"):
        assert getattr(ember.backends.mkldnn, name) == getattr(torch.backends.mkldnn, name), name
    oe, toe = ember.backends.opt_einsum, torch.backends.opt_einsum
    assert (oe.is_available(), oe.enabled, oe.strategy) == (toe.is_available(), toe.enabled, toe.strategy)
    with oe.flags(strategy="greedy"):
        assert oe.strategy == "greedy"
    assert oe.strategy == "auto"
    with pytest.raises(ValueError, match="strategy"):
        oe.set_flags(_strategy="fastest")
    with ember.backends.mkldnn.flags(enabled=False):
        assert ember.backends.mkldnn.enabled is False
    assert ember.backends.mkldnn.enabled is True and ember.backends.mkldnn.is_available() is False
    assert ember.backends.cpu.get_cpu_capability() == torch.backends.cpu.get_cpu_capability()
    assert ember.backends.mps.is_available() == ember.mps.is_available()


# -- Tensor helpers ---------------------------------------------------------------------------------

def test_device_predicates_match_torch():
    x, tx = ember.ones(2), torch.ones(2)
    for name in ("is_cuda", "is_xpu", "is_mps", "is_meta", "is_cpu", "is_xla"):
        assert getattr(x, name) == getattr(tx, name), name
    m = ember.ones(2, device="meta")
    assert m.is_meta and not m.is_cpu and not m.is_cuda
    assert not hasattr(x, "mps") and not hasattr(tx, "mps")       # torch has no Tensor.mps()
    with pytest.raises(InvalidArgumentError, match="expected a cuda device"):
        x.cuda("cpu")
    with pytest.raises(InvalidArgumentError, match="expected a xpu device"):
        x.xpu(ember.device("cpu"))
    if not ember.cuda.is_available():
        for lib_x in (x, tx):
            with pytest.raises((RuntimeError, AssertionError)):
                lib_x.cuda()
        with pytest.raises(BackendUnavailableError, match="cuda"):
            x.cuda(0, non_blocking=True)


class _PinnedHost:
    """A stand-in pinned allocator: numpy blocks whose address ranges it remembers."""

    def __init__(self):
        self.blocks = []

    def host_alloc_pinned(self, nbytes):
        b = np.empty(max(nbytes, 1), np.uint8)[:nbytes]
        self.blocks.append(b)
        return b

    def is_pinned_host(self, ptr, nbytes):
        return any(b.ctypes.data <= ptr and ptr + nbytes <= b.ctypes.data + max(b.nbytes, 1) for b in self.blocks)


def test_pin_memory_uses_the_accelerators_pinned_allocator(counting, monkeypatch):
    from ember.device import get_backend
    rt = get_backend("counting").runtime
    pins = _PinnedHost()
    monkeypatch.setattr(rt, "host_alloc_pinned", pins.host_alloc_pinned, raising=False)
    monkeypatch.setattr(rt, "is_pinned_host", pins.is_pinned_host, raising=False)
    x = ember.arange(12, dtype=ember.float64).reshape(3, 4).t()        # non-contiguous source
    p = x.pin_memory()
    assert p.is_pinned() and not x.is_pinned() and p.device == ember.device("cpu")
    assert p.tolist() == x.tolist() and p.dtype is ember.float64 and p.pin_memory() is p
    assert p[1].is_pinned() and len(pins.blocks) == 1
    with pytest.raises(InvalidArgumentError, match="only dense cpu tensors"):
        ember.ones(2, device="counting").pin_memory()
    ds = ember.utils.data.TensorDataset(ember.arange(6.0), ember.arange(6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batches = list(ember.utils.data.DataLoader(ds, batch_size=4, pin_memory=True))
    assert [len(b[0]) for b in batches] == [4, 2] and all(t.is_pinned() for b in batches for t in b)
    assert batches[1][1].tolist() == [4, 5]


def test_pin_memory_on_an_accelerator_without_pinned_memory_raises_and_loader_warns(counting):
    with pytest.raises(UnsupportedError, match="offers no pinned host memory") as e:
        ember.ones(2).pin_memory()
    assert isinstance(e.value, RuntimeError)
    ds = ember.utils.data.TensorDataset(ember.arange(3.0))
    with pytest.warns(UserWarning, match="not supported on counting"):
        out = list(ember.utils.data.DataLoader(ds, batch_size=2, pin_memory=True))
    assert [b[0].tolist() for b in out] == [[0.0, 1.0], [2.0]]


def test_no_accelerator_errors_name_the_fix(monkeypatch):
    monkeypatch.setattr(A, "current_accelerator", lambda check_available=False: None)
    with pytest.raises(BackendUnavailableError, match="no accelerator is available"):
        A.current_device_index()
    with pytest.raises(BackendUnavailableError, match="pin_memory"):
        ember.ones(1).pin_memory()
    assert A.device_count() == 0 and A.is_available() is False and ember.get_device_module() is ember.cpu
    with pytest.raises(UnknownDeviceError):
        ember.get_device_module("meta")
