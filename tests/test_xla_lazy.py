"""ember-xla's lazy mode (graphs compiled once per structure), its sync points, and its
exchange of arrays with JAX and DLPack."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="ember-xla needs jax and jaxlib (pip install jax)")
ember_xla = pytest.importorskip("ember_xla", reason="ember-xla is not installed (pip install -e backends/xla)")

import ember  # noqa: E402
from ember_xla import _state as S  # noqa: E402
from ember_xla import stats  # noqa: E402

X = "xla"


def _params(rng):
    w1 = ember.tensor(rng.standard_normal((8, 16)).astype(np.float32) * 0.3, device=X)
    w2 = ember.tensor(rng.standard_normal((16, 4)).astype(np.float32) * 0.3, device=X)
    return w1, w2


def _step(w1, w2, xb, yb, lr=0.1):
    """One hand-written training step of a two-layer net (forward, backward, in-place update)."""
    h = xb @ w1
    a = h.maximum(ember.zeros((), device=X))
    out = a @ w2
    d = out - yb
    loss = (d * d).mean()
    g_out = d * (2.0 / d.numel())
    g_w2 = a.t() @ g_out
    g_a = g_out @ w2.t()
    g_h = ember.where(h > 0, g_a, 0.0)
    g_w1 = xb.t() @ g_h
    w1.sub_(g_w1 * lr)
    w2.sub_(g_w2 * lr)
    return loss


def test_lazy_values_equal_eager_and_wait_for_a_sync_point():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 3)).astype(np.float32)
    x = ember.tensor(a, device=X)
    eager = ((x.t() @ x).exp().sum(0) / 3).cpu().numpy()
    with ember_xla.lazy():
        assert ember_xla.is_lazy()
        y = ((x.t() @ x).exp().sum(0) / 3)
        assert isinstance(y._storage.a, S.Ref)        # recorded, not run
        runs = stats["graph_runs"]
        np.testing.assert_allclose(y.cpu().numpy(), eager, rtol=1e-6)   # a sync point
        assert stats["graph_runs"] == runs + 1
        z = y * 2
        assert "tensor(" in repr(z)                   # printing is a sync point
        w = z + 1
    assert not ember_xla.is_lazy()
    assert not isinstance(w._storage.a, S.Ref)          # leaving the block ran the rest
    np.testing.assert_allclose(w.cpu().numpy(), eager * 2 + 1, rtol=1e-6)


def test_training_loop_compiles_once():
    rng = np.random.default_rng(1)
    w1, w2 = _params(rng)
    e1, e2 = (ember.tensor(t.cpu().numpy(), device=X) for t in (w1, w2))
    xs = rng.standard_normal((32, 8)).astype(np.float32)
    batches = [(ember.tensor(xs, device=X), ember.tensor(np.tanh(xs[:, :4]), device=X)) for _ in range(4)]
    compiles = []
    losses = []
    with ember_xla.lazy():
        for xb, yb in batches:
            loss = _step(w1, w2, xb, yb)
            ember_xla.mark_step()
            compiles.append(stats["graph_compiles"])
            losses.append(loss.item())
    assert compiles[1] == compiles[0] and compiles[3] == compiles[0], compiles   # no recompile after step 1
    eager = [_step(e1, e2, xb, yb).item() for xb, yb in batches]
    np.testing.assert_allclose(losses, eager, rtol=1e-5)
    np.testing.assert_allclose(w1.cpu().numpy(), e1.cpu().numpy(), rtol=1e-5, atol=1e-6)
    assert losses[-1] < losses[0]


def test_sync_point_inside_the_step_still_compiles_once():
    rng = np.random.default_rng(2)
    w1, w2 = _params(rng)
    xb = ember.tensor(rng.standard_normal((16, 8)).astype(np.float32), device=X)
    yb = ember.tensor(rng.standard_normal((16, 4)).astype(np.float32), device=X)
    counts = []
    with ember_xla.lazy():
        for _ in range(3):
            loss = _step(w1, w2, xb, yb)
            float(loss)                    # item() inside the loop: a graph break, same each step
            counts.append(stats["graph_compiles"])
    assert counts[1] == counts[2]


def test_data_dependent_ops_sync_and_continue():
    x = ember.tensor([0.0, 2.0, 0.0, 3.0], device=X)
    with ember_xla.lazy():
        y = x * 2
        nz = y.nonzero()                  # needs y's values: runs the graph so far
        s = y[y > 0].sum()
    assert nz.tolist() == [[1], [3]]
    assert s.item() == 10.0


def test_lazy_in_place_views_and_nesting():
    x = ember.zeros(4, 4, device=X)
    with ember_xla.lazy():
        x[1:3, 1:3] = 1.0
        with ember_xla.lazy():            # nested blocks share the graph
            x.t()[0].add_(5.0)
        assert ember_xla.is_lazy()
        v = x.diagonal()
        v.mul_(2.0)
    want = np.zeros((4, 4), np.float32)
    want[1:3, 1:3] = 1
    want[:, 0] += 5
    want[np.diag_indices(4)] *= 2
    np.testing.assert_array_equal(x.cpu().numpy(), want)


def test_lazy_keeps_jax_x64_flag_and_int64():
    flag = jax.config.jax_enable_x64
    with ember_xla.lazy():
        i = ember.arange(2**33, 2**33 + 3, device=X) * 2
    assert i.tolist() == [2**34, 2**34 + 2, 2**34 + 4]
    assert jax.config.jax_enable_x64 == flag


def test_to_and_from_jax_without_copies():
    x = ember.arange(6, dtype=ember.float32, device=X)
    a = ember_xla.to_jax(x)
    assert isinstance(a, jax.Array) and a.unsafe_buffer_pointer() == x.data_ptr()
    y = ember_xla.from_jax(a.reshape(2, 3) if False else a)
    assert y.data_ptr() == a.unsafe_buffer_pointer()
    y.add_(1)                             # Ember's write replaces y's array; a is untouched
    assert a.tolist() == [0, 1, 2, 3, 4, 5] and y.tolist() == [1, 2, 3, 4, 5, 6]
    m = ember_xla.from_jax(jax.numpy.ones((2, 3), jax.numpy.bfloat16))
    assert m.shape == (2, 3) and m.dtype is ember.bfloat16
    assert ember_xla.to_jax(x.view(2, 3).t()).shape == (3, 2)
    with pytest.raises(TypeError, match="jax.Array"):
        ember_xla.from_jax(np.ones(3))


def test_dlpack_both_ways():
    x = ember.tensor([[1, 2], [3, 4]], dtype=ember.int32, device=X)
    h = np.from_dlpack(ember_xla.to_jax(x))
    assert h.tolist() == [[1, 2], [3, 4]]
    src = np.arange(4, dtype=np.float32)
    t = ember_xla.from_dlpack(src)
    assert t.device.type == X and t.tolist() == [0, 1, 2, 3]
    cap = ember_xla.to_dlpack(x)
    assert "dltensor" in repr(cap) or cap is not None


def test_synchronize_waits_and_runs_pending_graphs():
    x = ember.ones(64, 64, device=X)
    with ember_xla.lazy():
        y = x @ x
        ember_xla.runtime.runtime.synchronize(x.device)
        assert not isinstance(y._storage.a, S.Ref)
    assert y[0, 0].item() == 64.0


@pytest.mark.skipif(not hasattr(ember.Tensor, "backward"), reason="this ember-core has no autograd")
def test_autograd_training_loop_in_lazy_mode_compiles_once():
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((8, 4)).astype(np.float32) * 0.3
    x = ember.tensor(rng.standard_normal((16, 8)).astype(np.float32), device=X)
    y = ember.tensor(rng.standard_normal((16, 4)).astype(np.float32), device=X)

    def train(lazy):
        w = ember.tensor(w0, device=X, requires_grad=True)
        losses, compiles = [], []
        for _ in range(4):
            with ember_xla.lazy() if lazy else _Nothing():
                loss = ((x @ w - y) ** 2).mean()
                loss.backward()
                with ember.no_grad():
                    w.sub_(w.grad * 0.1)
                w.grad = None
            losses.append(loss.item())
            compiles.append(stats["graph_compiles"])
        return losses, compiles, w

    eager, _, we = train(False)
    lazy, compiles, wl = train(True)
    np.testing.assert_allclose(lazy, eager, rtol=1e-5)
    np.testing.assert_allclose(wl.detach().cpu().numpy(), we.detach().cpu().numpy(), rtol=1e-5, atol=1e-6)
    assert compiles[1] == compiles[3], compiles
    assert lazy[-1] < lazy[0]


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_from_numpy_never_aliases_the_callers_array():
    a = np.arange(8, dtype=np.float32)
    ember.ones(1, device=X)                        # the plugin is loaded
    t = ember_xla.runtime.runtime.from_numpy(a, ember.device("xla:0"))
    a[0] = 99.0
    assert t.tolist()[0] == 0.0
    c = ember.arange(4, dtype=ember.float32)
    x = c.to(X)
    c.add_(1)                                      # a cpu tensor changed after the copy
    assert x.tolist() == [0, 1, 2, 3]


def test_conformance_smoke_and_skips_file():
    """A slice of ember-conformance on xla passes, and the skips file parses with a reason per line."""
    suite = pytest.importorskip("ember_conformance.suite", reason="ember-conformance is not installed")
    from ember_conformance import skips as K
    run = suite.run("xla", (0, 1, 2), only=["runtime/*", "rng/*", "op/where/float32/*", "op/sort/int64/*"],
                    progress=suite._NoProgress())
    failed = [(r.id, r.reason) for r in run.results if r.status == "fail"]
    assert not failed, failed
    assert sum(r.status == "pass" for r in run.results) > 20
    assert any(r.id == "rng/randn_matches_cpu" and r.status == "pass" for r in run.results)
    skips, path = K.load(suite.resolve_backend("xla"))
    assert path is not None and all(s.reason for s in skips)


@pytest.mark.skipif(not hasattr(ember.Tensor, "__dlpack__"), reason="this ember-core has no DLPack export")
def test_core_dlpack_export_shares_memory_and_survives_writes():
    x = ember.arange(6, dtype=ember.float32, device=X).view(2, 3)
    n = np.from_dlpack(x)                         # zero copy: numpy reads the jax buffer
    assert n.ctypes.data == x.data_ptr()
    x.add_(1)                                     # a new array in the cell; the exported one stays alive
    assert n.tolist() == [[0, 1, 2], [3, 4, 5]] and x.tolist() == [[1, 2, 3], [4, 5, 6]]
    torch = pytest.importorskip("torch")
    assert torch.from_dlpack(x[:, 1:]).tolist() == [[2, 3], [5, 6]]


def test_ember_xla_module_offers_lazy_before_the_plugin_is_loaded():
    code = ("import sys, ember\n"
            "assert 'ember_xla' not in sys.modules\n"
            "lazy, mark_step = ember.xla.lazy, ember.xla.mark_step   # loads the plugin\n"
            "import ember_xla\n"
            "assert lazy is ember_xla.lazy and mark_step is ember_xla.mark_step\n"
            "try:\n"
            "    ember.xla.no_such_function\n"
            "except AttributeError as e:\n"
            "    assert 'no_such_function' in str(e)\n"
            "else:\n"
            "    raise SystemExit('no AttributeError')\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
