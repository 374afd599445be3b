"""nn.Embedding(sparse=True) / F.embedding(sparse=True) / nn.EmbeddingBag(sparse=True) gradients and
optim.SparseAdam against torch 2.13: the sparse gradients' indices and values, their accumulation into
.grad (sparse + sparse, sparse with dense), training loops compared step by step, state dicts, errors."""

import math

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


def _np(t):
    return t.detach().to("cpu").numpy() if isinstance(t, ember.Tensor) else t.detach().numpy()


def check(e, t, tol=1e-12):
    if e.is_sparse or t.is_sparse:
        assert e.is_sparse and t.is_sparse
        assert tuple(e.shape) == tuple(t.shape)
        e, t = e.coalesce(), t.coalesce()
        assert e.indices().to("cpu").tolist() == t.indices().tolist()
        e, t = e.values(), t.values()
    a, b = _np(e), _np(t)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def _pair(num, dim, dev, padding_idx=None, seed=0, **kw):
    w = np.random.default_rng(seed).standard_normal((num, dim))
    ee = ember.nn.Embedding(num, dim, padding_idx=padding_idx, sparse=True, dtype=ember.float64, device=dev, **kw)
    te = torch.nn.Embedding(num, dim, padding_idx=padding_idx, sparse=True, dtype=torch.float64, **kw)
    with ember.no_grad():
        ee.weight.copy_(ember.tensor(w, device=dev))
    with torch.no_grad():
        te.weight.copy_(torch.tensor(w))
    return ee, te


# -- the sparse gradient ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dev", DEVICES)
@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_sparse_gradient_matches_torch(dev, padding_idx):
    dev = _device(dev)
    ee, te = _pair(8, 3, dev, padding_idx)
    idx = np.array([[2, 5, 5, 7], [0, 2, 7, 5]])
    g = np.random.default_rng(1).standard_normal((2, 4, 3))
    (ee(ember.tensor(idx, device=dev)) * ember.tensor(g, device=dev)).sum().backward()
    (te(torch.tensor(idx)) * torch.tensor(g)).sum().backward()
    ge, gt = ee.weight.grad, te.weight.grad
    assert ge.is_sparse and ge.layout is ember.sparse_coo and ge.device.type == dev
    # uncoalesced, one entry per looked-up index (padding_idx's left out), in lookup order, as torch
    assert not ge.is_coalesced() and ge.is_coalesced() == gt.is_coalesced()
    assert ge._nnz() == gt._nnz() == 8 - int((idx == (padding_idx or 0) % 8).sum() if padding_idx is not None else 0)
    assert ge._indices().to("cpu").tolist() == gt._indices().tolist()
    check(ge._values(), gt._values())
    check(ge, gt)


def test_functional_embedding_sparse_and_int32_indices():
    w = np.random.default_rng(2).standard_normal((6, 2))
    we, wt = ember.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    ie, it = ember.tensor([[1, 4], [4, 3]], dtype=ember.int32), torch.tensor([[1, 4], [4, 3]], dtype=torch.int32)
    oe = ember.nn.functional.embedding(ie, we, sparse=True)
    ot = torch.nn.functional.embedding(it, wt, sparse=True)
    check(oe, ot)
    (oe ** 2).sum().backward()
    (ot ** 2).sum().backward()
    assert we.grad._indices().dtype == ember.int64
    check(we.grad, wt.grad)
    check(we.grad.to_dense(), wt.grad.to_dense())
    one = ember.tensor(w, requires_grad=True)  # a single lookup: one entry, coalesced as torch says
    ember.nn.functional.embedding(ember.tensor([3]), one, sparse=True).sum().backward()
    t1 = torch.tensor(w, requires_grad=True)
    torch.nn.functional.embedding(torch.tensor([3]), t1, sparse=True).sum().backward()
    assert one.grad.is_coalesced() == t1.grad.is_coalesced()
    check(one.grad, t1.grad)


def test_every_index_is_padding_gives_an_empty_gradient():
    ee, te = _pair(5, 2, "cpu", padding_idx=1)
    ee(ember.tensor([1, 1])).sum().backward()
    te(torch.tensor([1, 1])).sum().backward()
    assert ee.weight.grad._nnz() == te.weight.grad._nnz() == 0
    check(ee.weight.grad.to_dense(), te.weight.grad.to_dense())


def test_gradients_accumulate_across_backward_calls():
    ee, te = _pair(7, 2, "cpu")
    rng = np.random.default_rng(3)
    for idx in ([1, 3, 3], [3, 6], [0]):
        g = rng.standard_normal((len(idx), 2))
        (ee(ember.tensor(idx)) * ember.tensor(g)).sum().backward()
        (te(torch.tensor(idx)) * torch.tensor(g)).sum().backward()
        assert ee.weight.grad.is_sparse and te.weight.grad.is_sparse  # the same value; compared coalesced
        check(ee.weight.grad, te.weight.grad)
    # a sparse gradient added to a dense one gives a dense one, and a dense one added to a sparse one too
    (ee.weight * 2.0).sum().backward()
    (te.weight * 2.0).sum().backward()
    assert not ee.weight.grad.is_sparse and not te.weight.grad.is_sparse
    check(ee.weight.grad, te.weight.grad)
    ee(ember.tensor([5, 5])).sum().backward()
    te(torch.tensor([5, 5])).sum().backward()
    assert not ee.weight.grad.is_sparse
    check(ee.weight.grad, te.weight.grad)


def test_tied_weight_sums_sparse_and_dense_gradients():
    """One weight used by a sparse lookup and by a dense product in one graph: the two gradients meet in
    the backward pass and sum to a dense gradient, as in torch."""
    ee, te = _pair(6, 4, "cpu")
    x = np.random.default_rng(4).standard_normal((3, 4))
    for order in (0, 1):
        ee.weight.grad, te.weight.grad = None, None

        def loss(lib, emb):  # the node made last runs first: each order has one gradient arrive first
            if order:
                looked = emb(lib.tensor([0, 2, 2])).sum()
                logits = (lib.tensor(x) @ emb.weight.t()).sum()
            else:
                logits = (lib.tensor(x) @ emb.weight.t()).sum()
                looked = emb(lib.tensor([0, 2, 2])).sum()
            return looked * 1.5 + logits
        loss(ember, ee).backward()
        loss(torch, te).backward()
        assert not ee.weight.grad.is_sparse and not te.weight.grad.is_sparse
        check(ee.weight.grad, te.weight.grad)


def test_zero_grad_keeps_an_empty_sparse_gradient():
    ee, te = _pair(5, 2, "cpu")
    oe, ot = ember.optim.SparseAdam(ee.parameters()), torch.optim.SparseAdam(te.parameters())
    ee(ember.tensor([1, 4])).sum().backward()
    te(torch.tensor([1, 4])).sum().backward()
    oe.zero_grad(set_to_none=False)
    ot.zero_grad(set_to_none=False)
    assert ee.weight.grad.is_sparse and ee.weight.grad._nnz() == te.weight.grad._nnz() == 0
    assert ee.weight.grad.is_coalesced() == te.weight.grad.is_coalesced()
    ee(ember.tensor([2, 2])).sum().backward()
    te(torch.tensor([2, 2])).sum().backward()
    check(ee.weight.grad, te.weight.grad)
    ee.zero_grad(set_to_none=False)
    assert ee.weight.grad.is_sparse and ee.weight.grad._nnz() == 0
    oe.zero_grad()
    assert ee.weight.grad is None


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_embedding_bag_sparse_gradient(mode):
    w = np.random.default_rng(5).standard_normal((9, 3))
    be = ember.nn.EmbeddingBag(9, 3, mode=mode, sparse=True, padding_idx=4, _weight=ember.tensor(w))
    bt = torch.nn.EmbeddingBag(9, 3, mode=mode, sparse=True, padding_idx=4, _weight=torch.tensor(w))
    inp, off = [1, 4, 7, 7, 2, 4, 0, 8], [0, 3, 5]
    oe, ot = be(ember.tensor(inp), ember.tensor(off)), bt(torch.tensor(inp), torch.tensor(off))
    check(oe, ot)
    g = np.random.default_rng(6).standard_normal((3, 3))
    (oe * ember.tensor(g)).sum().backward()
    (ot * torch.tensor(g)).sum().backward()
    assert be.weight.grad.is_sparse and bt.weight.grad.is_sparse
    assert be.weight.grad._nnz() == bt.weight.grad._nnz()
    check(be.weight.grad, bt.weight.grad)


# -- SparseAdam ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dev", DEVICES)
@pytest.mark.parametrize("padding_idx,maximize", [(None, False), (3, False), (0, True)])
def test_training_loop_matches_torch_after_each_step(dev, padding_idx, maximize):
    dev = _device(dev)
    ee, te = _pair(12, 4, dev, padding_idx, seed=7)
    head = np.random.default_rng(8).standard_normal((4, 5))
    oe = ember.optim.SparseAdam(ee.parameters(), lr=0.05, betas=(0.8, 0.99), eps=1e-6, maximize=maximize)
    ot = torch.optim.SparseAdam(te.parameters(), lr=0.05, betas=(0.8, 0.99), eps=1e-6, maximize=maximize)
    rng = np.random.default_rng(9)
    for step in range(6):
        idx = rng.integers(0, 6 if step % 2 else 12, (3, 5))  # repeated rows; some rows untouched
        idx[0, :2] = idx[1, 0]
        if padding_idx is not None:
            idx[2, 1] = padding_idx
        target = rng.integers(0, 5, (3, 5))
        for lib, emb, opt, d in ((ember, ee, oe, dev), (torch, te, ot, None)):
            kw = {} if lib is torch else {"device": d}
            opt.zero_grad()
            logits = emb(lib.tensor(idx, **kw)) @ lib.tensor(head, **kw)
            loss = lib.nn.functional.cross_entropy(logits.reshape(-1, 5), lib.tensor(target, **kw).reshape(-1))
            loss.backward()
            opt.step()
        check(ee.weight.grad, te.weight.grad)
        check(ee.weight, te.weight)
        st_e, st_t = oe.state_dict()["state"][0], ot.state_dict()["state"][0]
        assert st_e["step"] == st_t["step"] == step + 1 and isinstance(st_e["step"], int)
        check(st_e["exp_avg"], st_t["exp_avg"])
        check(st_e["exp_avg_sq"], st_t["exp_avg_sq"])


def test_state_dict_layout_and_round_trip():
    ee, te = _pair(6, 2, "cpu")
    oe, ot = ember.optim.SparseAdam(ee.parameters(), lr=0.01), torch.optim.SparseAdam(te.parameters(), lr=0.01)
    for lib, emb, opt in ((ember, ee, oe), (torch, te, ot)):
        emb(lib.tensor([0, 3, 3])).sum().backward()
        opt.step()
    se, stt = oe.state_dict(), ot.state_dict()
    assert se["param_groups"] == stt["param_groups"]
    assert sorted(se["state"][0]) == sorted(stt["state"][0]) == ["exp_avg", "exp_avg_sq", "step"]
    # a fresh optimizer from the saved state continues exactly as the original
    ee2, _ = _pair(6, 2, "cpu")
    with ember.no_grad():
        ee2.weight.copy_(ee.weight)
    oe2 = ember.optim.SparseAdam(ee2.parameters(), lr=0.5)
    oe2.load_state_dict(se)
    assert oe2.param_groups[0]["lr"] == 0.01 and oe2.state[ee2.weight]["step"] == 1
    for lib, emb, opt in ((ember, ee2, oe2), (torch, te, ot)):
        opt.zero_grad()
        emb(lib.tensor([3, 5])).sum().backward()
        opt.step()
    check(ee2.weight, te.weight)


def test_empty_gradient_counts_the_step_but_changes_nothing():
    ee, te = _pair(5, 2, "cpu", padding_idx=0)
    oe, ot = ember.optim.SparseAdam(ee.parameters(), lr=0.1), torch.optim.SparseAdam(te.parameters(), lr=0.1)
    before = _np(ee.weight).copy()
    for lib, emb, opt in ((ember, ee, oe), (torch, te, ot)):
        emb(lib.tensor([0, 0])).sum().backward()
        opt.step()
    np.testing.assert_array_equal(_np(ee.weight), before)
    assert oe.state[ee.weight]["step"] == ot.state[te.weight]["step"] == 1
    for lib, emb, opt in ((ember, ee, oe), (torch, te, ot)):
        opt.zero_grad()
        emb(lib.tensor([1, 2])).sum().backward()
        opt.step()
    check(ee.weight, te.weight)  # bias correction from step 2, as torch


def test_sparse_gradient_on_a_three_dim_parameter():
    """A hand-made sparse gradient with two sparse dims and a dense one, set as .grad directly."""
    rng = np.random.default_rng(10)
    p = rng.standard_normal((4, 3, 2))
    pe, pt = ember.tensor(p, requires_grad=True), torch.tensor(p, requires_grad=True)
    oe, ot = ember.optim.SparseAdam([pe], lr=0.2), torch.optim.SparseAdam([pt], lr=0.2)
    for _ in range(3):
        idx = np.stack([rng.integers(0, 4, 5), rng.integers(0, 3, 5)])
        val = rng.standard_normal((5, 2))
        pe.grad = ember.sparse_coo_tensor(idx, ember.tensor(val), (4, 3, 2))
        pt.grad = torch.sparse_coo_tensor(torch.tensor(idx), torch.tensor(val), (4, 3, 2))
        oe.step()
        ot.step()
        check(pe, pt)
        check(oe.state[pe]["exp_avg_sq"], ot.state[pt]["exp_avg_sq"])


def test_errors_match_torch():
    w = ember.zeros(3, 2, requires_grad=True)
    opt = ember.optim.SparseAdam([w])
    (w * 2).sum().backward()
    with pytest.raises(RuntimeError, match="SparseAdam does not support dense gradients, please consider Adam "
                                           "instead"):
        opt.step()
    for kw, msg in (({"lr": 0.0}, "Invalid learning rate: 0.0"), ({"eps": -1.0}, "Invalid epsilon value: -1.0"),
                    ({"betas": (1.0, 0.9)}, "Invalid beta parameter at index 0: 1.0"),
                    ({"betas": (0.9, -0.1)}, "Invalid beta parameter at index 1: -0.1")):
        with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(".", r"\.")):
            ember.optim.SparseAdam([ember.zeros(2, requires_grad=True)], **kw)
        with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(".", r"\.")):
            torch.optim.SparseAdam([torch.zeros(2, requires_grad=True)], **kw)
    sp = ember.sparse_coo_tensor([[0]], [1.0], (2,), requires_grad=True)
    with pytest.raises(ValueError, match=r"Sparse params at indices \[\[0, 1\]\]"):
        ember.optim.SparseAdam([ember.zeros(2, requires_grad=True), sp])
    with pytest.raises(ValueError, match="Complex params at indices"):
        ember.optim.SparseAdam([ember.zeros(2, dtype=ember.complex64, requires_grad=True)])
    with pytest.raises(NotImplementedError, match="scale_grad_by_freq"):
        ember.nn.functional.embedding(ember.tensor([0]), w, scale_grad_by_freq=True, sparse=True)
    with pytest.raises(ValueError, match="max mode does not support sparse weights"):
        ember.nn.EmbeddingBag(3, 2, mode="max", sparse=True)(ember.tensor([[0, 1]]))


def test_clip_grad_norm_refuses_sparse_gradients_as_torch():
    ee, te = _pair(5, 2, "cpu")
    ee(ember.tensor([1, 1])).sum().backward()
    te(torch.tensor([1, 1])).sum().backward()
    with pytest.raises(NotImplementedError):
        torch.nn.utils.clip_grad_norm_(te.parameters(), 0.5)
    with pytest.raises(NotImplementedError, match="to_dense"):
        ember.nn.utils.clip_grad_norm_(ee.parameters(), 0.5)


def test_dense_add_of_a_sparse_tensor_in_place():
    rng = np.random.default_rng(11)
    d = rng.standard_normal((4, 3))
    idx, val = [[0, 2, 0], [1, 1, 1]], rng.standard_normal(3)
    de, dt = ember.tensor(d), torch.tensor(d)
    se, st = ember.sparse_coo_tensor(idx, ember.tensor(val), (4, 3)), torch.sparse_coo_tensor(idx, torch.tensor(val),
                                                                                          (4, 3))
    out = de.add_(se, alpha=2.5)
    dt.add_(st, alpha=2.5)
    assert out is de
    check(de, dt)
    strided = ember.tensor(d).t()  # not contiguous: added through the dense value
    tt = torch.tensor(d).t()
    strided.add_(se.t())
    tt.add_(st.t())
    check(strided, tt)
    assert math.isclose(float(de.sum()), float(dt.sum()), rel_tol=1e-12)
    s2e, s2t = se * 1.0, st * 1.0
    s2e.add_(se)
    s2t.add_(st)
    check(s2e, s2t)
    with pytest.raises(NotImplementedError, match="add_\\(sparse, dense\\)"):
        s2e.add_(de)
    with pytest.raises(NotImplementedError):
        s2t.fill_(1.0)
    with pytest.raises(NotImplementedError, match="fill_"):
        s2e.fill_(1.0)


def test_sgd_steps_on_sparse_gradients_and_adam_refuses_them():
    ee, te = _pair(6, 3, "cpu", padding_idx=5)
    oe, ot = ember.optim.SGD(ee.parameters(), lr=0.3), torch.optim.SGD(te.parameters(), lr=0.3)
    rng = np.random.default_rng(12)
    for _ in range(3):
        idx, g = rng.integers(0, 6, (4,)), rng.standard_normal((4, 3))
        for lib, emb, opt in ((ember, ee, oe), (torch, te, ot)):
            opt.zero_grad()
            (emb(lib.tensor(idx)) * lib.tensor(g)).sum().backward()
            opt.step()
        check(ee.weight, te.weight)
    with pytest.raises(NotImplementedError, match="momentum=0.9 is not supported with sparse gradients"):
        ember.optim.SGD(ee.parameters(), lr=0.1, momentum=0.9).step()
    for lib, emb in ((ember, ee), (torch, te)):
        with pytest.raises(RuntimeError, match="Adam does not support sparse gradients, please consider "
                                               "SparseAdam instead"):
            lib.optim.Adam(emb.parameters()).step()
