"""Sparse COO tensors against torch 2.13: construction, coalescing, dense round trips, sparse.mm and
sparse.sum with their gradients, the SparseCOO key's refusals, and a GCN step, on cpu and npy."""

import numpy as np
import pytest
import torch

import ember

DEVICES = ["cpu", "npy"]


def _device(name):
    if name == "npy":
        from fixture_plugins import load
        load("npy")
    return name


def check(e, t, tol=1e-10):
    if e.is_sparse or t.is_sparse:
        assert e.is_sparse and t.is_sparse
        e, t = e.coalesce(), t.coalesce()
        assert e.indices().to("cpu").tolist() == t.indices().tolist()
        e, t = e.values(), t.values()
    a = e.detach().to("cpu").numpy()
    b = t.detach().numpy()
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def _graph(rng, n=6, nnz=10, dup=True):
    idx = np.stack([rng.integers(0, n, nnz), rng.integers(0, n, nnz)])
    if dup:
        idx[:, -1] = idx[:, 0]  # one duplicate coordinate
    return idx, rng.standard_normal(nnz)


@pytest.mark.parametrize("dev", DEVICES)
def test_construction_coalesce_and_parts(dev):
    dev = _device(dev)
    idx, val = _graph(np.random.default_rng(0))
    se = ember.sparse_coo_tensor(ember.tensor(idx), ember.tensor(val), (6, 6), device=dev)
    st = torch.sparse_coo_tensor(torch.tensor(idx), torch.tensor(val), (6, 6))
    assert se.is_sparse and se.layout is ember.sparse_coo and se.device.type == dev
    assert not ember.ones(2).is_sparse and ember.ones(2).layout is ember.strided
    assert se.shape == st.shape and se.dtype == ember.float64 and se._nnz() == st._nnz()
    assert se.sparse_dim() == st.sparse_dim() and se.dense_dim() == st.dense_dim()
    assert se.is_coalesced() == st.is_coalesced() is False
    check(se.to_dense(), st.to_dense())
    ce, ct = se.coalesce(), st.coalesce()
    assert ce.is_coalesced() and ce._nnz() == ct._nnz()
    assert ce.indices().tolist() == ct.indices().tolist()
    check(ce.values(), ct.values())
    assert se._indices().tolist() == st._indices().tolist()
    with pytest.raises(RuntimeError, match="uncoalesced"):
        se.indices()
    with pytest.raises(RuntimeError, match="uncoalesced"):
        st.indices()


def test_size_inferred_hybrid_and_errors():
    rng = np.random.default_rng(1)
    idx = np.array([[0, 2, 1], [1, 0, 3]])
    val = rng.standard_normal((3, 2))
    se, st = ember.sparse_coo_tensor(idx.tolist(), ember.tensor(val)), torch.sparse_coo_tensor(idx.tolist(),
                                                                                              torch.tensor(val))
    assert tuple(se.shape) == tuple(st.shape) == (3, 4, 2)
    check(se.to_dense(), st.to_dense())
    with pytest.raises(IndexError, match="inconsistent"):
        ember.sparse_coo_tensor(idx, ember.tensor(val), (2, 4, 2))
    with pytest.raises(ValueError, match="one row per column"):
        ember.sparse_coo_tensor(idx, ember.ones(4))
    with pytest.raises(ValueError, match="sparse_dim"):
        ember.sparse_coo_tensor(idx, ember.ones(3), (3, 4, 5))


def test_repr_matches_torch():
    idx = [[0, 1, 1, 0], [2, 0, 2, 2]]
    se = ember.sparse_coo_tensor(idx, [3., 4., 5., 1.], (2, 3))
    st = torch.sparse_coo_tensor(idx, [3., 4., 5., 1.], (2, 3))
    assert repr(se) == repr(st).replace("torch.", "ember.")
    e64 = ember.sparse_coo_tensor(idx, ember.tensor([3., 4., 5., 1.], dtype=ember.float64), (2, 3)) * 2
    t64 = torch.sparse_coo_tensor(idx, torch.tensor([3., 4., 5., 1.], dtype=torch.float64), (2, 3)) * 2
    assert repr(e64) == repr(t64).replace("torch.", "ember.")
    empty = ember.sparse_coo_tensor(ember.zeros(2, 0, dtype=ember.int64), ember.zeros(0), (2, 2))
    assert repr(empty) == repr(torch.sparse_coo_tensor(torch.zeros(2, 0, dtype=torch.long), torch.zeros(0),
                                                       (2, 2))).replace("torch.", "ember.")


@pytest.mark.parametrize("dev", DEVICES)
def test_to_sparse_round_trip_and_gradient(dev):
    dev = _device(dev)
    x = np.array([[0., 1.5, 0.], [2., 0., -3.]])
    xe, xt = ember.tensor(x, device=dev, requires_grad=True), torch.tensor(x, requires_grad=True)
    se, st = xe.to_sparse(), xt.to_sparse()
    assert se.is_coalesced() and se.indices().to("cpu").tolist() == st.indices().tolist()
    check(se, st)
    w = np.arange(6.).reshape(2, 3)
    (se.to_dense() * ember.tensor(w, device=dev)).sum().backward()
    (st.to_dense() * torch.tensor(w)).sum().backward()
    check(xe.grad, xt.grad)
    check(xe.to_sparse(1), torch.tensor(x).to_sparse(1))


@pytest.mark.parametrize("dev", DEVICES)
def test_sparse_mm_values_and_gradients(dev):
    dev = _device(dev)
    rng = np.random.default_rng(2)
    idx, val = _graph(rng)
    d = rng.standard_normal((6, 3))
    ve, vt = ember.tensor(val, device=dev, requires_grad=True), torch.tensor(val, requires_grad=True)
    de, dt = ember.tensor(d, device=dev, requires_grad=True), torch.tensor(d, requires_grad=True)
    se = ember.sparse_coo_tensor(ember.tensor(idx, device=dev), ve, (6, 6))
    st = torch.sparse_coo_tensor(torch.tensor(idx), vt, (6, 6))
    oe, ot = ember.sparse.mm(se, de), torch.sparse.mm(st, dt)
    check(oe, ot)
    g = rng.standard_normal((6, 3))
    oe.backward(ember.tensor(g, device=dev))
    ot.backward(torch.tensor(g))
    check(ve.grad, vt.grad)
    check(de.grad, dt.grad)
    # a sparse leaf: its gradient is sparse, on its coalesced pattern
    le = ember.sparse_coo_tensor(idx, ember.tensor(val), (6, 6), device=dev, requires_grad=True)
    lt = torch.sparse_coo_tensor(torch.tensor(idx), torch.tensor(val), (6, 6), requires_grad=True)
    assert le.is_leaf and le.requires_grad
    ember.sparse.mm(le, de.detach()).sum().backward()
    torch.sparse.mm(lt, dt.detach()).sum().backward()
    assert le.grad.is_sparse
    check(le.grad, lt.grad)


@pytest.mark.parametrize("op", ["mm", "matmul", "at", "spmm"])
def test_dense_products_with_a_sparse_operand(op):
    rng = np.random.default_rng(3)
    idx, val = _graph(rng)
    d = rng.standard_normal((6, 2))
    fe = {"mm": ember.mm, "matmul": ember.matmul, "at": lambda a, b: a @ b, "spmm": ember.spmm}[op]
    ft = {"mm": torch.mm, "matmul": torch.matmul, "at": lambda a, b: a @ b, "spmm": torch.spmm}[op]
    le = ember.sparse_coo_tensor(idx, ember.tensor(val), (6, 6), requires_grad=True)
    lt = torch.sparse_coo_tensor(torch.tensor(idx), torch.tensor(val), (6, 6), requires_grad=True)
    de, dt = ember.tensor(d, requires_grad=True), torch.tensor(d, requires_grad=True)
    oe, ot = fe(le, de), ft(lt, dt)
    check(oe, ot)
    (oe * oe).sum().backward()
    (ot * ot).sum().backward()
    check(de.grad, dt.grad)
    assert le.grad.is_sparse == lt.grad.is_sparse
    check(le.grad, lt.grad)


def test_matrix_vector_product():
    idx, val = _graph(np.random.default_rng(4))
    se = ember.sparse_coo_tensor(idx, ember.tensor(val), (6, 6))
    st = torch.sparse_coo_tensor(torch.tensor(idx), torch.tensor(val), (6, 6))
    check(se @ ember.arange(6.).double(), st @ torch.arange(6.).double())


@pytest.mark.parametrize("dim", [None, 0, 1, (0, 1), 2, (1, 2), -1])
def test_sparse_sum_values_and_gradients(dim):
    rng = np.random.default_rng(5)
    idx, _ = _graph(rng)
    val = rng.standard_normal((10, 3))
    ve, vt = ember.tensor(val, requires_grad=True), torch.tensor(val, requires_grad=True)
    se = ember.sparse_coo_tensor(idx, ve, (6, 6, 3))
    st = torch.sparse_coo_tensor(torch.tensor(idx), vt, (6, 6, 3))
    oe, ot = (ember.sparse.sum(se), torch.sparse.sum(st)) if dim is None else (ember.sparse.sum(se, dim),
                                                                               torch.sparse.sum(st, dim))
    assert oe.is_sparse == ot.is_sparse and tuple(oe.shape) == tuple(ot.shape)
    check(oe, ot)
    de = oe.to_dense() if oe.is_sparse else oe
    dt = ot.to_dense() if ot.is_sparse else ot
    w = rng.standard_normal(tuple(dt.shape))
    (de * ember.tensor(w)).sum().backward()
    (dt * torch.tensor(w)).sum().backward()
    check(ve.grad, vt.grad)


@pytest.mark.parametrize("dev", DEVICES)
def test_scalar_arithmetic_and_gradient(dev):
    dev = _device(dev)
    idx, val = _graph(np.random.default_rng(6))
    ve, vt = ember.tensor(val, device=dev, requires_grad=True), torch.tensor(val, requires_grad=True)
    se = ember.sparse_coo_tensor(ember.tensor(idx, device=dev), ve, (6, 6))
    st = torch.sparse_coo_tensor(torch.tensor(idx), vt, (6, 6))
    outs_e = [se * 2.5, 3 * se, se / 4, -se, ember.mul(se, ember.tensor(0.5, dtype=ember.float64, device=dev)),
              se + se * 2, se - se * 3]
    outs_t = [st * 2.5, 3 * st, st / 4, -st, torch.mul(st, torch.tensor(0.5, dtype=torch.float64)),
              st + st * 2, st - st * 3]
    for e, t in zip(outs_e, outs_t):
        assert e.is_sparse and e.device.type == dev
        check(e, t)
    w = np.random.default_rng(7).standard_normal((6, 6))
    sum((o.to_dense() * ember.tensor(w, device=dev)).sum() for o in outs_e).backward()
    sum((o.to_dense() * torch.tensor(w)).sum() for o in outs_t).backward()
    check(ve.grad, vt.grad)
    dense = np.ones((6, 6))
    check(ember.tensor(dense, device=dev) + se, torch.tensor(dense) + st)
    check(se.sum(), st.sum())


def test_to_dtype_device_clone_detach_and_transpose():
    idx, val = _graph(np.random.default_rng(8))
    se = ember.sparse_coo_tensor(idx, ember.tensor(val), (6, 6))
    st = torch.sparse_coo_tensor(torch.tensor(idx), torch.tensor(val), (6, 6))
    f = se.to(ember.float32)
    assert f.is_sparse and f.dtype == ember.float32
    check(f, st.to(torch.float32), 1e-6)
    check(se.clone(), st.clone())
    check(se.t(), st.t())
    check(se.transpose(0, 1), st.transpose(0, 1))
    d = se.detach()
    assert d.is_sparse and not d.requires_grad
    m = se.to("meta")
    assert m.is_sparse and m.device.type == "meta" and tuple(m.shape) == (6, 6)


def test_unsupported_operators_name_themselves_and_to_dense():
    se = ember.sparse_coo_tensor([[0, 1], [1, 0]], [1., 2.], (2, 2))
    with pytest.raises(NotImplementedError, match=r"exp\(\).*to_dense"):
        ember.exp(se)
    with pytest.raises(ember.NotImplementedForLayout, match=r"relu\(\).*to_dense"):
        ember.relu(se)
    with pytest.raises(NotImplementedError, match="add\\(dense, sparse\\)"):
        se + ember.ones(2, 2)
    with pytest.raises(TypeError, match="to_dense"):
        se.numpy()
    with pytest.raises(NotImplementedError, match="sparse.mm"):
        ember.sparse.mm(ember.ones(2, 2), se)


def test_a_backend_may_register_a_sparse_kernel():
    from ember.dispatch import registry
    from ember.dispatch.keys import SPARSE
    op = registry["_sparse_mm"]
    assert op.implementation("cpu") in ("kernel", "decomposition")
    assert registry["exp"].has_kernel(SPARSE) and registry["mm"].has_kernel(SPARSE)
    assert not registry["_sparse_mm"].has_kernel(SPARSE)  # it takes the dense parts: a backend key's kernel


def _normalized_adjacency(rng, n, edges):
    src, dst = rng.integers(0, n, edges), rng.integers(0, n, edges)
    idx = np.concatenate([np.stack([src, dst]), np.stack([dst, src]), np.stack([np.arange(n)] * 2)], 1)
    deg = np.bincount(idx[0], minlength=n).astype(np.float64)
    val = 1.0 / np.sqrt(deg[idx[0]] * deg[idx[1]])
    return idx, val


@pytest.mark.parametrize("dev", DEVICES)
def test_two_layer_gcn_step_matches_torch(dev):
    """A 2-layer graph convolutional network (Kipf and Welling) on a random graph: forward, loss, backward
    and one SGD step, compared with torch."""
    dev = _device(dev)
    rng = np.random.default_rng(9)
    n, f, h, c = 12, 5, 8, 3
    idx, val = _normalized_adjacency(rng, n, 20)
    x = rng.standard_normal((n, f))
    w1, w2 = rng.standard_normal((f, h)) * 0.3, rng.standard_normal((h, c)) * 0.3
    labels = rng.integers(0, c, n)

    def step(lib, device):
        kw = {} if lib is torch else {"device": device}
        adj = lib.sparse_coo_tensor(lib.tensor(idx, **kw), lib.tensor(val, **kw), (n, n))
        W1 = lib.tensor(w1, requires_grad=True, **kw)
        W2 = lib.tensor(w2, requires_grad=True, **kw)
        hidden = lib.relu(lib.sparse.mm(adj, lib.tensor(x, **kw) @ W1))
        logits = lib.sparse.mm(adj, hidden @ W2)
        loss = lib.nn.functional.cross_entropy(logits, lib.tensor(labels, **kw))
        loss.backward()
        opt = lib.optim.SGD([W1, W2], lr=0.5)
        opt.step()
        return loss, W1, W2

    le, w1e, w2e = step(ember, dev)
    lt, w1t, w2t = step(torch, None)
    check(le, lt)
    check(w1e, w1t)
    check(w2e, w2t)
