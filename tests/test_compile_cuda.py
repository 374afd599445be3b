"""CUDA graphs on the stand-in driver (tests/fixtures/fakecuda): ember.compile's "cudagraphs" lowering,
ember.cuda.CUDAGraph / graph / graph_pool_handle / make_graphed_callables, and the allocator's
private pools.

The stand-in records the work queued on a capturing stream into a graph and runs it on cuGraphLaunch;
it runs no kernels, but its copies, memsets and cuBLAS GEMMs compute, so chains of matrix products
check values against numpy and eager, and kernel launches are checked by count. What needs a GPU
(kernels' results inside graphs, timings) runs through bench/compile_step.py --devices cuda.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("ember_cuda")
pytest.importorskip("cuda.bindings.driver")

FIXTURES = Path(__file__).parent / "fixtures" / "fakecuda"


@pytest.fixture(scope="module")
def fake_libs(tmp_path_factory):
    from ember_cuda import driver
    if driver.probe()[0] is not None:
        pytest.skip("a real NVIDIA driver is loaded here; the stand-in is for machines without one")
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the stand-in driver")
    d = tmp_path_factory.mktemp("fakecuda")
    for src, out in (("fakecuda.c", "libcuda.so.1"), ("fakecublas.c", "libcublas.so.13")):
        subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", str(d / out), str(FIXTURES / src), "-ldl"],
                       check=True, capture_output=True)
    return d


PRELUDE = r'''
import ctypes, json, traceback, warnings
import numpy as np
import ember
from ember.runtime.allocator import PrivatePool, allocator_for
cuda = ctypes.CDLL("libcuda.so.1")
for f in ("fake_launches", "fake_graph_launches", "fake_mem_allocs"):
    getattr(cuda, f).restype = ctypes.c_long
rng = np.random.default_rng(0)
dev = ember.device("cuda", 0)
def T(a): return ember.tensor(a, device="cuda")
def N(t): return t.detach().cpu().numpy()
def H(t):   # strided reads without a device kernel (the stand-in runs none)
    from ember.device import get_backend
    return get_backend("cuda").runtime.to_numpy(t)
def segs(): return ember.cuda.memory_stats()["segment.all.allocated"]
def pool_ranges():
    a = allocator_for(dev)
    out = []
    for first in a._segments.values():
        if first.stream.__class__ is PrivatePool:
            n, b = 0, first
            while b is not None:
                n += b.size; b = b.next
            out.append((first.handle, first.handle + n))
    return out
def call(f, *a):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        r = f(*a)
    return r, [str(w.message) for w in rec]
'''

CASES = {
    "compiled_matmul_chain": r'''
a, w1, w2 = (rng.standard_normal(s).astype(np.float32) for s in ((16, 8), (8, 12), (12, 4)))
W1, W2 = T(w1), T(w2)
def f(x):
    return ember.mm(ember.mm(x, W1), W2), ember.mm(x, W1).t()
g = ember.compile(f, mode="reduce-overhead")
ptrs = []
for i in range(7):
    xi = a * (i + 1)
    if i == 4:
        s0, m0, l0, gl0 = segs(), cuda.fake_mem_allocs(), cuda.fake_launches(), cuda.fake_graph_launches()
    (o1, o2), msgs = call(g, T(xi))
    assert not msgs, msgs
    e1, e2 = f(T(xi))
    np.testing.assert_allclose(N(o1), xi @ w1 @ w2, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(N(o1), N(e1), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(H(o2), (xi @ w1).T, rtol=1e-5, atol=1e-4)
    assert o2.shape == (12, 16) and o2.stride() == (1, 12)
    ptrs.append((o1.data_ptr(), o2.data_ptr()))
    if i == 6:
        assert g._entries[0].lowering == "cudagraphs"
        assert cuda.fake_graph_launches() - gl0 == 3        # calls 4, 5, 6: one graph launch each
assert len(set(ptrs[3:])) == 1, ptrs                        # replays return the same static memory
return {"ptrs": len(set(ptrs))}
''',
    "replays_allocate_nothing": r'''
a, w = rng.standard_normal((32, 16)).astype(np.float32), rng.standard_normal((16, 16)).astype(np.float32)
W = T(w)
g = ember.compile(lambda x: ember.mm(ember.relu(ember.mm(x, W)), W) * 2.0, mode="reduce-overhead")
xs = [T(a + i) for i in range(6)]
for x in xs[:4]:
    g(x)                                    # trace, trace, warm-up, capture
s0, m0 = segs(), cuda.fake_mem_allocs()
st0 = ember.cuda.memory_stats()["allocation.all.allocated"]
l0, gl0 = cuda.fake_launches(), cuda.fake_graph_launches()
for x in xs[4:]:
    g(x)
assert segs() == s0 and cuda.fake_mem_allocs() == m0, (segs(), s0)
assert ember.cuda.memory_stats()["allocation.all.allocated"] == st0   # not even a cached block
assert cuda.fake_graph_launches() == gl0 + 2
per_replay = (cuda.fake_launches() - l0) // 2
l1 = cuda.fake_launches(); ember.mm(ember.relu(ember.mm(xs[0], W)), W) * 2.0
assert per_replay == cuda.fake_launches() - l1 > 0, (per_replay, cuda.fake_launches() - l1)
return {"kernels per replay": per_replay}
''',
    "pool_blocks_never_go_to_eager": r'''
w = rng.standard_normal((64, 64)).astype(np.float32)
W = T(w)
g = ember.compile(lambda x: ember.mm(ember.mm(x, W), W), mode="reduce-overhead")
for i in range(4):
    out = g(T(w + i))
ranges = pool_ranges()
assert ranges, "the capture allocated no private pool"
del out
ember.cuda.synchronize()
eager = [ember.empty((64, 64), device="cuda") for _ in range(200)]   # the sizes the graph freed
eager += [ember.mm(W, W) for _ in range(20)]
inside = [t.data_ptr() for t in eager if any(lo <= t.data_ptr() < hi for lo, hi in ranges)]
assert not inside, inside[:3]
ember.cuda.empty_cache()                     # a live graph keeps its pool
assert pool_ranges() == ranges
out = g(T(w))
np.testing.assert_allclose(N(out), w @ w @ w, rtol=1e-4, atol=1e-3)
return {"pool segments": len(ranges)}
''',
    "inputs_written_by_the_graph": r'''
w = rng.standard_normal((6, 6)).astype(np.float32)
W = T(w)
def f(x, y):
    y.copy_(ember.mm(x, W))                   # writes an input: copied back after each replay
    return y, y.t()
g = ember.compile(f, mode="reduce-overhead")
for i in range(5):
    x, y = T(w + i), T(np.zeros((6, 6), np.float32))
    r, rt = g(x, y)
    assert r is y
    np.testing.assert_allclose(N(y), (w + i) @ w, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(H(rt), ((w + i) @ w).T, rtol=1e-5, atol=1e-4)
    assert rt.data_ptr() == y.data_ptr()      # a view of the caller's tensor, not of the static buffer
''',
    "capture_failure_falls_back": r'''
from ember.dispatch import get
from ember_cuda import runtime as rt
from ember.device import get_backend
op = get("neg")
key = get_backend("cuda").key.index
orig = op.kernels[key]
def reading_neg(*args, **kw):                 # a kernel with a host readback, like an index bounds check
    rt.runtime.read(args[0])
    return orig(*args, **kw)
op.kernels[key] = reading_neg; op.rebuild()
w = rng.standard_normal((5, 5)).astype(np.float32)
W = T(w)
g = ember.compile(lambda x: ember.mm(ember.neg(x), W), mode="reduce-overhead")
allmsgs = []
for i in range(6):
    out, msgs = call(g, T(w + i))
    allmsgs += msgs
    np.testing.assert_allclose(N(out).shape, (5, 5))
assert any("could not be captured as a CUDA graph" in m for m in allmsgs), allmsgs
assert sum("could not be captured" in m for m in allmsgs) == 1
gl = cuda.fake_graph_launches(); g(T(w)); assert cuda.fake_graph_launches() == gl   # eager replay now
return allmsgs[-1][:160]
''',
    "declined_graphs_replay_eagerly": r'''
W = T(rng.standard_normal((4, 4)).astype(np.float32))
g = ember.compile(lambda x: ember.mm(x, W) + ember.rand(4, 4, device="cuda"), mode="reduce-overhead")
msgs = []
for i in range(4):
    msgs += call(g, T(np.eye(4, dtype=np.float32)))[1]
assert any("declined" in m and "random" in m for m in msgs), msgs
''',
    "cudagraph_api": r'''
G = ember.cuda
a, w = rng.standard_normal((8, 8)).astype(np.float32), rng.standard_normal((8, 8)).astype(np.float32)
W = T(w)
g = G.CUDAGraph()
try:
    g.capture_begin()
    raise AssertionError("captured on the default stream")
except RuntimeError as e:
    assert type(e).__name__ == "GraphCaptureError" and "non-default stream" in str(e), e
try:
    with G.graph(G.CUDAGraph(), capture_error_mode="sometimes"):
        pass
    raise AssertionError("bad mode accepted")
except ValueError as e:
    assert "capture_error_mode" in str(e)
pool = G.graph_pool_handle()
x = T(a)
g1, g2 = G.CUDAGraph(), G.CUDAGraph(keep_graph=True)
with G.graph(g1, pool=pool):
    y = ember.mm(x, W)
with G.graph(g2, pool=pool):
    z = ember.mm(y, W)
assert g2.num_nodes() == 1 and g1.pool() is pool is g2.pool()
x.copy_(T(a * 3))
g1.replay(); g2.replay()
np.testing.assert_allclose(N(z), (a * 3) @ w @ w, rtol=1e-4, atol=1e-3)
assert not G.is_current_stream_capturing()
s = G.Stream()
with G.stream(s):
    g3 = G.CUDAGraph()
    g3.capture_begin(capture_error_mode="thread_local")
    assert G.is_current_stream_capturing()
    ember.mm(x, W)
    g3.capture_end()
g2.enable_debug_mode()
import tempfile, os
p = os.path.join(tempfile.mkdtemp(), "g.dot")
g2.debug_dump(p)
assert "digraph" in open(p).read()
try:                                          # a host read inside a capture
    with G.graph(G.CUDAGraph()):
        ember.mm(x, W).cpu()
    raise AssertionError("a host read was captured")
except RuntimeError as e:
    assert "900" in str(e), e            # CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED
with G.graph(G.CUDAGraph()):                  # the capture is over: eager work runs again
    pass
np.testing.assert_allclose(N(ember.mm(x, W)), (a * 3) @ w, rtol=1e-4, atol=1e-3)
from ember_cuda import runtime as rt
with G.stream(G.Stream()):                    # cuMemAlloc is unsafe during a global capture
    g4 = G.CUDAGraph(); g4.capture_begin()
    try:
        rt.runtime.raw_alloc(1 << 20, 0)
        raise AssertionError("allocated during capture")
    except RuntimeError as e:
        assert "900" in str(e), e
    try:
        g4.capture_end()
        raise AssertionError("an invalidated capture ended well")
    except RuntimeError as e:
        assert type(e).__name__ == "GraphCaptureError"
g1.reset(); g2.reset()
''',
    "make_graphed_callables": r'''
import ember.nn as nn
a, w, gy = (rng.standard_normal(s).astype(np.float32) for s in ((6, 5), (5, 3), (6, 3)))
W = T(w).requires_grad_()
def f(x):
    return ember.mm(x, W)
x0 = T(a).requires_grad_()
gf = ember.cuda.make_graphed_callables(f, (x0,), num_warmup_iters=2)
for k in (1.0, -2.0):
    W.grad = None
    x = T(a * k).requires_grad_()
    y = gf(x)
    np.testing.assert_allclose(N(y), (a * k) @ w, rtol=1e-5, atol=1e-5)
    y.backward(T(gy))
    np.testing.assert_allclose(N(x.grad), gy @ w.T, rtol=1e-5, atol=1e-5)
    assert W.grad is None                     # as in PyTorch: a closed-over tensor is no input of the graph
lin = nn.Linear(5, 3, bias=False).to("cuda")
wl = N(lin.weight.detach())
m2 = ember.cuda.make_graphed_callables(lin, (T(a).requires_grad_(),))
assert m2 is lin
xin = T(a * 2).requires_grad_()
y = lin(xin)
np.testing.assert_allclose(N(y), (a * 2) @ wl.T, rtol=1e-5, atol=1e-5)
y.backward(T(gy))
np.testing.assert_allclose(N(xin.grad), gy @ wl, rtol=1e-5, atol=1e-5)
assert lin.weight.grad is not None and lin.weight.grad.shape == (3, 5)   # its values need kernels: GPU only
try:
    ember.cuda.make_graphed_callables(f, (a,))
    raise AssertionError("a numpy sample arg was accepted")
except TypeError as e:
    assert "sample_args" in str(e)
''',
}

SCRIPT = PRELUDE + r'''
results = {}
for name, body in CASES.items():
    src = "def _case():\n" + "\n".join("    " + ln for ln in body.strip("\n").splitlines())
    ns = dict(globals())
    try:
        exec(src, ns)
        results[name] = {"ok": True, "detail": ns["_case"]()}
    except Exception as e:
        results[name] = {"ok": False, "error": f"{type(e).__name__}: {e}", "tb": traceback.format_exc()}
print("RESULTS " + json.dumps(results, default=str))
'''


@pytest.fixture(scope="module")
def results(fake_libs, tmp_path_factory):
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = f"{fake_libs}:{env.get('LD_LIBRARY_PATH', '')}"
    env["EMBER_CUBLAS"] = str(fake_libs / "libcublas.so.13")
    env["EMBER_KERNEL_CACHE"] = str(tmp_path_factory.mktemp("kernels"))
    code = f"CASES = {CASES!r}\n" + textwrap.dedent(SCRIPT)
    p = subprocess.run([sys.executable, "-X", "faulthandler", "-c", code], env=env, capture_output=True, text=True,
                       timeout=600)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULTS ")), None)
    assert line, f"exit {p.returncode}\nstdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-5000:]}"
    return json.loads(line[len("RESULTS "):])


@pytest.mark.parametrize("case", list(CASES))
def test_on_the_stand_in_driver(results, case):
    r = results[case]
    assert r["ok"], f"{r['error']}\n{r['tb']}"
