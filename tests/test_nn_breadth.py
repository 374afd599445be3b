"""What training scripts call beyond the core layers: backend switches, determinism flags, normalize,
gumbel_softmax, affine_grid/grid_sample, activation checkpointing, samplers, lazy and other layers,
orthogonal parametrization (with linalg.matrix_exp and householder_product), global module hooks,
pruning, SWA utilities and testing.assert_close, each against PyTorch (values and gradients)."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import ember
import ember.nn.functional as F

_rng = np.random.default_rng(1234)


def _rnd(*shape, scale=1.0, dtype=np.float64):
    return (_rng.standard_normal(shape) * scale).astype(dtype)


def _check(e, t, tol=1e-10):
    e = e.detach().to("cpu").numpy() if isinstance(e, ember.Tensor) else np.asarray(e)
    t = t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    assert e.shape == t.shape, (e.shape, t.shape)
    np.testing.assert_allclose(e, t, rtol=tol, atol=tol)


def _pair(x, requires_grad=True):
    return ember.tensor(x, requires_grad=requires_grad), torch.tensor(x, requires_grad=requires_grad)


def _load_npy():
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fixture_plugins import load
    load("npy")


# -- ember.backends and determinism -------------------------------------------------------------

def test_cudnn_flags_are_settable_with_torch_defaults():
    cudnn = ember.backends.cudnn
    for name in ("benchmark", "deterministic", "enabled", "allow_tf32"):
        assert getattr(cudnn, name) == getattr(torch.backends.cudnn, name), name
    assert cudnn.is_available() is False and cudnn.version() is None
    old = cudnn.benchmark, cudnn.deterministic
    try:
        cudnn.benchmark, cudnn.deterministic = True, True
        import ember.backends.cudnn as again
        assert again.benchmark is True and again.deterministic is True
        with cudnn.flags(enabled=False, benchmark=False, deterministic=False):
            assert cudnn.enabled is False and cudnn.benchmark is False
        assert cudnn.enabled is True and cudnn.benchmark is True
    finally:
        cudnn.benchmark, cudnn.deterministic = old


def test_mps_availability_comes_from_the_device_registry(monkeypatch):
    from ember.runtime import device as rd
    expected = rd._known_type("mps") and rd.is_available("mps")
    assert ember.backends.mps.is_available() is bool(expected)
    monkeypatch.setattr(rd, "_known_type", lambda t: False)
    assert ember.backends.mps.is_available() is False and ember.backends.mps.is_built() is False
    monkeypatch.setattr(rd, "_known_type", lambda t: t == "mps")
    monkeypatch.setattr(rd, "is_available", lambda t: t == "mps")
    assert ember.backends.mps.is_available() is True
    assert ember.backends.cuda.matmul.allow_tf32 == torch.backends.cuda.matmul.allow_tf32


def test_deterministic_algorithms_flags_match_torch():
    try:
        for mode, warn_only in [(True, False), (True, True), (False, False)]:
            ember.use_deterministic_algorithms(mode, warn_only=warn_only)
            torch.use_deterministic_algorithms(mode, warn_only=warn_only)
            assert ember.are_deterministic_algorithms_enabled() == torch.are_deterministic_algorithms_enabled()
            assert (ember.is_deterministic_algorithms_warn_only_enabled()
                    == torch.is_deterministic_algorithms_warn_only_enabled())
            assert ember.get_deterministic_debug_mode() == torch.get_deterministic_debug_mode()
        for m in ("warn", "error", 0):
            ember.set_deterministic_debug_mode(m)
            torch.set_deterministic_debug_mode(m)
            assert ember.get_deterministic_debug_mode() == torch.get_deterministic_debug_mode()
        with pytest.raises(TypeError):
            ember.use_deterministic_algorithms(1)
        with pytest.raises(RuntimeError, match="expected 0, 1, or 2"):
            ember.set_deterministic_debug_mode(5)
    finally:
        ember.use_deterministic_algorithms(False)
        torch.use_deterministic_algorithms(False)


# -- F.normalize, F.gumbel_softmax ----------------------------------------------------------------

@pytest.mark.parametrize("p,dim", [(2.0, 1), (1.0, 0), (3.0, -1), (float("inf"), 1), (2.0, (0, 1))])
def test_normalize_matches_torch(p, dim):
    x = _rnd(4, 5, 3)
    x[1, :, 0] = 0.0                              # a zero vector: left at zero, finite gradient
    ex, tx = _pair(x)
    eo, to = F.normalize(ex, p=p, dim=dim), TF.normalize(tx, p=p, dim=dim)
    _check(eo, to)
    w = _rnd(4, 5, 3)
    (eo * ember.tensor(w)).sum().backward()
    (to * torch.tensor(w)).sum().backward()
    _check(ex.grad, tx.grad, 1e-9)


def test_gumbel_softmax_soft_and_straight_through():
    logits = _rnd(5, 7)
    for hard in (False, True):
        el, tl = _pair(logits)
        ember.manual_seed(3)
        y = F.gumbel_softmax(el, tau=0.5, hard=hard)
        # the same noise, drawn again from the same seed, gives torch's formula
        ember.manual_seed(3)
        u = ember.rand_like(el).detach().numpy()
        gumbels = torch.tensor(-np.log(-np.log1p(-u)))
        y_soft = ((tl + gumbels) / 0.5).softmax(-1)
        if hard:
            y_hard = torch.zeros_like(tl).scatter_(-1, y_soft.argmax(-1, keepdim=True), 1.0)
            ref = y_hard - y_soft.detach() + y_soft
            assert set(np.unique(y.detach().numpy())) <= {0.0, 1.0}
            np.testing.assert_array_equal(y.detach().numpy().sum(-1), np.ones(5))
        else:
            ref = y_soft
        _check(y, ref, 1e-12)
        w = _rnd(5, 7)
        (y * ember.tensor(w)).sum().backward()
        (ref * torch.tensor(w)).sum().backward()
        _check(el.grad, tl.grad, 1e-9)


# -- affine_grid and grid_sample ------------------------------------------------------------------

@pytest.mark.parametrize("nd", [2, 3])
@pytest.mark.parametrize("align_corners", [False, True])
def test_affine_grid_matches_torch(nd, align_corners):
    theta = _rnd(2, nd, nd + 1)
    size = (2, 3, 4, 5) if nd == 2 else (2, 3, 2, 4, 5)
    et, tt = _pair(theta)
    eg, tg = F.affine_grid(et, size, align_corners), TF.affine_grid(tt, size, align_corners)
    _check(eg, tg)
    w = _rnd(*tg.shape)
    (eg * ember.tensor(w)).sum().backward()
    (tg * torch.tensor(w)).sum().backward()
    _check(et.grad, tt.grad)


@pytest.mark.parametrize("nd", [2, 3])
@pytest.mark.parametrize("mode,padding_mode,align_corners",
                         list(itertools.product(["bilinear", "nearest"], ["zeros", "border", "reflection"],
                                                [False, True])))
def test_grid_sample_matches_torch(nd, mode, padding_mode, align_corners):
    x = _rnd(2, 3, 4, 5) if nd == 2 else _rnd(2, 2, 3, 4, 5)
    grid = _rnd(*((2, 3, 4, 2) if nd == 2 else (2, 2, 3, 4, 3)), scale=1.5)   # many points out of range
    ex, tx = _pair(x)
    eg, tg = _pair(grid)
    eo = F.grid_sample(ex, eg, mode, padding_mode, align_corners)
    to = TF.grid_sample(tx, tg, mode, padding_mode, align_corners)
    _check(eo, to)
    w = _rnd(*to.shape)
    (eo * ember.tensor(w)).sum().backward()
    (to * torch.tensor(w)).sum().backward()
    _check(ex.grad, tx.grad)
    _check(eg.grad, tg.grad, 1e-9)


def test_spatial_transformer_float32_and_npy_device():
    _load_npy()
    x = _rnd(2, 3, 6, 7, dtype=np.float32)
    theta = (np.array([[1.0, 0.1, 0.05], [-0.1, 0.9, -0.1]]) + _rnd(2, 2, 3, scale=0.05)).astype(np.float32)
    tx, tt = torch.tensor(x, requires_grad=True), torch.tensor(theta, requires_grad=True)
    to = TF.grid_sample(tx, TF.affine_grid(tt, (2, 3, 5, 5), align_corners=False), align_corners=False,
                        padding_mode="reflection")
    to.pow(2).sum().backward()
    for dev in ("cpu", "npy"):
        ex = ember.tensor(x, device=dev, requires_grad=True)
        et = ember.tensor(theta, device=dev, requires_grad=True)
        eo = F.grid_sample(ex, F.affine_grid(et, (2, 3, 5, 5), align_corners=False), align_corners=False,
                           padding_mode="reflection")
        assert eo.device.type == dev and eo.dtype == ember.float32
        eo.pow(2).sum().backward()
        _check(eo.to("cpu"), to, 2e-5)
        _check(ex.grad.to("cpu"), tx.grad, 2e-5)
        _check(et.grad.to("cpu"), tt.grad, 2e-4)


def test_grid_sample_and_affine_grid_errors_and_warning():
    x, g = ember.zeros(1, 1, 3, 3), ember.zeros(1, 2, 2, 2)
    with pytest.raises(ValueError, match="expected mode"):
        F.grid_sample(x, g, mode="cubic", align_corners=False)
    with pytest.raises(ValueError, match="padding_mode"):
        F.grid_sample(x, g, padding_mode="wrap", align_corners=False)
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        F.grid_sample(x, ember.zeros(1, 2, 2, 2, 3), align_corners=False)
    with pytest.warns(UserWarning, match="align_corners=False"):
        F.grid_sample(x, g)
    with pytest.raises(ValueError, match="Nx2x3"):
        F.affine_grid(ember.zeros(1, 3, 3), (1, 1, 2, 2), align_corners=False)
    with pytest.raises(ValueError, match="floating point"):
        F.affine_grid(ember.zeros(1, 2, 3, dtype=ember.int64), (1, 1, 2, 2), align_corners=False)
    with pytest.raises(NotImplementedError, match="4D and 5D"):
        F.affine_grid(ember.zeros(1, 2, 3), (1, 2, 3), align_corners=False)


# -- checkpoint -------------------------------------------------------------------------------------

def _block_pair():
    e1, e2 = ember.nn.Linear(4, 6, dtype=ember.float64), ember.nn.Linear(6, 3, dtype=ember.float64)
    t1, t2 = torch.nn.Linear(4, 6).double(), torch.nn.Linear(6, 3).double()
    for em, tm in ((e1, t1), (e2, t2)):
        em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return (e1, e2), (t1, t2)


@pytest.mark.parametrize("use_reentrant", [False, True])
def test_checkpoint_gives_the_gradients_of_the_plain_block(use_reentrant):
    from ember.utils.checkpoint import checkpoint
    (e1, e2), (t1, t2) = _block_pair()
    x = _rnd(5, 4)
    ex, tx = _pair(x)

    def eblock(h, scale=1.0):
        return e2(e1(h).tanh() * scale).sigmoid()

    kwargs = {} if use_reentrant else {"scale": 2.0}
    out = checkpoint(eblock, ex, use_reentrant=use_reentrant, **kwargs)
    ref = t2(t1(tx).tanh() * (1.0 if use_reentrant else 2.0)).sigmoid()
    _check(out, ref)
    assert out.grad_fn is not None
    (out * out).sum().backward()
    (ref * ref).sum().backward()
    _check(ex.grad, tx.grad)
    for ep, tp in zip([*e1.parameters(), *e2.parameters()], [*t1.parameters(), *t2.parameters()]):
        _check(ep.grad, tp.grad)


def test_checkpoint_non_reentrant_reaches_parameters_without_input_grad_and_autograd_grad():
    from ember.utils.checkpoint import checkpoint
    (e1, e2), (t1, t2) = _block_pair()
    x = _rnd(3, 4)
    ex = ember.tensor(x)                                     # no grad on the input
    out = checkpoint(lambda h: e2(e1(h).relu()), ex, use_reentrant=False)
    ref = t2(t1(torch.tensor(x)).relu())
    gw = ember.autograd.grad(out.pow(2).sum(), [e1.weight])[0]
    tw = torch.autograd.grad(ref.pow(2).sum(), [t1.weight])[0]
    _check(gw, tw)


def test_checkpoint_preserves_rng_state_for_dropout():
    from ember.utils.checkpoint import checkpoint
    lin = ember.nn.Linear(8, 8)
    x = ember.randn(4, 8, requires_grad=True)

    def block(h):
        return F.dropout(lin(h), 0.5, training=True)

    ember.manual_seed(7)
    ref = block(x)
    ref.sum().backward()
    gx_ref, gw_ref = x.grad.clone(), lin.weight.grad.clone()
    x.grad, lin.weight.grad = None, None
    ember.manual_seed(7)
    out = checkpoint(block, x, use_reentrant=False)
    after_forward = ember.rand(3)
    ember.manual_seed(7)
    checkpoint(block, x, use_reentrant=False)
    out.sum().backward()                                     # recomputation must not disturb the generator
    np.testing.assert_array_equal(out.detach().numpy(), ref.detach().numpy())
    np.testing.assert_array_equal(x.grad.numpy(), gx_ref.numpy())
    np.testing.assert_array_equal(lin.weight.grad.numpy(), gw_ref.numpy())
    np.testing.assert_array_equal(ember.rand(3).numpy(), after_forward.numpy())


def test_checkpoint_sequential_and_warnings():
    from ember.utils.checkpoint import checkpoint, checkpoint_sequential
    tseq = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 5), torch.nn.ReLU(),
                               torch.nn.Linear(5, 2)).double()
    eseq = ember.nn.Sequential(ember.nn.Linear(4, 5), ember.nn.Tanh(), ember.nn.Linear(5, 5), ember.nn.ReLU(),
                               ember.nn.Linear(5, 2)).to(ember.float64)
    eseq.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tseq.state_dict().items()})
    x = _rnd(3, 4)
    ex, tx = _pair(x)
    eo = checkpoint_sequential(eseq, 2, ex, use_reentrant=False)
    to = torch.utils.checkpoint.checkpoint_sequential(tseq, 2, tx, use_reentrant=False)
    _check(eo, to)
    eo.sum().backward()
    to.sum().backward()
    _check(ex.grad, tx.grad)
    _check(eseq[0].weight.grad, tseq[0].weight.grad)
    with pytest.warns(UserWarning, match="use_reentrant parameter should be passed explicitly"):
        checkpoint(lambda h: h * 2, ex)
    with pytest.raises(ValueError, match="Unexpected keyword arguments"):
        checkpoint(lambda h, k: h, ex, use_reentrant=True, k=1)


# -- samplers --------------------------------------------------------------------------------------

def test_weighted_random_sampler_distribution_and_checks():
    from ember.utils.data import WeightedRandomSampler
    s = WeightedRandomSampler([0.0, 1.0, 3.0, 0.0], 4000, generator=ember.Generator().manual_seed(0))
    idx = np.array(list(s))
    assert len(s) == 4000 and idx.shape == (4000,)
    assert set(idx.tolist()) <= {1, 2}
    assert abs((idx == 2).mean() - 0.75) < 0.04
    s2 = WeightedRandomSampler(ember.tensor([1.0, 2.0, 3.0, 4.0, 5.0]), 5, replacement=False)
    assert sorted(s2) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="num_samples"):
        WeightedRandomSampler([1.0], 0)
    with pytest.raises(ValueError, match="replacement"):
        WeightedRandomSampler([1.0], 1, replacement=1)
    with pytest.raises(ValueError, match="1d sequence"):
        WeightedRandomSampler([[1.0, 2.0]], 1)
    with pytest.raises((ValueError, RuntimeError)):
        torch.utils.data.WeightedRandomSampler([[1.0, 2.0]], 1)


def test_subset_random_sampler_and_batch_sampler_in_a_dataloader():
    from ember.utils.data import BatchSampler, DataLoader, SequentialSampler, SubsetRandomSampler, TensorDataset
    indices = [1, 4, 6, 9]
    g = ember.Generator().manual_seed(5)
    s = SubsetRandomSampler(indices, generator=g)
    assert len(s) == 4
    orders = [list(s) for _ in range(5)]
    assert all(sorted(o) == indices for o in orders) and len({tuple(o) for o in orders}) > 1
    ds = TensorDataset(ember.arange(10) * 10)
    seen = [v for (b,) in DataLoader(ds, batch_size=3, sampler=SubsetRandomSampler(indices)) for v in b.tolist()]
    assert sorted(seen) == [10, 40, 60, 90]
    assert list(BatchSampler(SequentialSampler(range(7)), 3, False)) == \
        list(torch.utils.data.BatchSampler(torch.utils.data.SequentialSampler(range(7)), 3, False))
    assert len(BatchSampler(range(7), 3, True)) == 2


# -- layers ----------------------------------------------------------------------------------------

def test_lazy_linear_infers_in_features_and_becomes_linear():
    from ember.nn.modules.lazy import UninitializedParameter
    m = ember.nn.LazyLinear(3, dtype=ember.float64)
    t = torch.nn.LazyLinear(3).double()
    assert repr(m) == repr(t).replace("torch", "ember")
    assert isinstance(m.weight, UninitializedParameter)
    x = _rnd(2, 7)
    t(torch.tensor(x))
    m(ember.tensor(x))
    assert type(m) is ember.nn.Linear and m.in_features == 7
    assert tuple(m.weight.shape) == tuple(t.weight.shape) and not isinstance(m.weight, UninitializedParameter)
    assert list(m.state_dict()) == list(t.state_dict()) and not m._forward_pre_hooks
    m.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    ex, tx = _pair(x)
    _check(m(ex), t(tx))
    m(ex).sum().backward()
    t(tx).sum().backward()
    _check(m.weight.grad, t.weight.grad)
    fresh = ember.nn.LazyLinear(3, bias=False)
    fresh.load_state_dict({"weight": ember.zeros(3, 5)})
    assert type(fresh) is ember.nn.Linear and tuple(fresh.weight.shape) == (3, 5)


def test_channel_shuffle_matches_torch():
    x = _rnd(2, 6, 3, 4)
    ex, tx = _pair(x)
    eo, to = ember.nn.ChannelShuffle(3)(ex), torch.nn.ChannelShuffle(3)(tx)
    _check(eo, to)
    assert repr(ember.nn.ChannelShuffle(3)) == repr(torch.nn.ChannelShuffle(3))
    w = _rnd(2, 6, 3, 4)
    (eo * ember.tensor(w)).sum().backward()
    (to * torch.tensor(w)).sum().backward()
    _check(ex.grad, tx.grad)
    for bad, groups in [((2, 5, 3), 2), ((2, 6, 3), 0), ((2, 6), 2)]:
        with pytest.raises(RuntimeError) as ee:
            F.channel_shuffle(ember.zeros(*bad), groups)
        with pytest.raises(RuntimeError) as te:
            TF.channel_shuffle(torch.zeros(*bad), groups)
        assert str(ee.value) == str(te.value)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,kernel,output_size,output_ratio",
                         [((2, 3, 9, 11), 2, (5, 6), None), ((3, 7, 8), (3, 2), None, (0.5, 0.6)),
                          ((1, 2, 5, 5), 2, 4, None)])
def test_fractional_max_pool2d_matches_torch_for_given_samples(dtype, shape, kernel, output_size, output_ratio):
    x = _rnd(*shape, dtype=dtype)
    samples = _rng.random((shape[0] if len(shape) == 4 else 1, shape[-3], 2)).astype(dtype)
    ex, tx = _pair(x)
    eo, ei = F.fractional_max_pool2d(ex, kernel, output_size, output_ratio, True, ember.tensor(samples))
    to, ti = TF.fractional_max_pool2d(tx, kernel, output_size, output_ratio, True, torch.tensor(samples))
    _check(eo, to, 0)
    np.testing.assert_array_equal(ei.numpy(), ti.numpy())
    w = _rnd(*to.shape, dtype=dtype)
    (eo * ember.tensor(w)).sum().backward()
    (to * torch.tensor(w)).sum().backward()
    _check(ex.grad, tx.grad, 0)


def test_fractional_max_pool2d_module_structure_and_errors():
    m = ember.nn.FractionalMaxPool2d(3, output_ratio=0.5, return_indices=True)
    x = ember.randn(2, 3, 10, 12)
    out, idx = m(x)
    assert tuple(out.shape) == (2, 3, 5, 6) and idx.dtype == ember.int64
    # every output is the maximum of a kernel-sized window that starts at the position its index implies
    xv, ov, iv = x.numpy(), out.numpy(), idx.numpy()
    flat = xv.reshape(2, 3, -1)
    np.testing.assert_array_equal(np.take_along_axis(flat, iv.reshape(2, 3, -1), 2).reshape(ov.shape), ov)
    assert tuple(ember.nn.FractionalMaxPool2d(2, output_size=(4, 7))(x).shape) == (2, 3, 4, 7)
    assert repr(ember.nn.FractionalMaxPool2d(2, output_size=3)) == repr(torch.nn.FractionalMaxPool2d(2, output_size=3))
    for kw, match in [({}, "either an output size"), ({"output_size": 3, "output_ratio": 0.5}, "only one"),
                      ({"output_ratio": 1.5}, "between 0 and 1")]:
        with pytest.raises(ValueError, match=match):
            ember.nn.FractionalMaxPool2d(2, **kw)
    with pytest.raises(RuntimeError, match="too large"):
        F.fractional_max_pool2d(ember.zeros(1, 1, 5, 5), 3, output_size=4)


def test_adaptive_log_softmax_with_loss_matches_torch():
    tm = torch.nn.AdaptiveLogSoftmaxWithLoss(16, 20, [4, 10], div_value=2.0, head_bias=True).double()
    em = ember.nn.AdaptiveLogSoftmaxWithLoss(16, 20, [4, 10], div_value=2.0, head_bias=True, dtype=ember.float64)
    assert list(em.state_dict()) == list(tm.state_dict())
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    x = _rnd(7, 16)
    target = np.array([0, 3, 5, 9, 12, 19, 2])
    ex, tx = _pair(x)
    eo, to = em(ex, ember.tensor(target)), tm(tx, torch.tensor(target))
    _check(eo.output, to.output)
    _check(eo.loss, to.loss)
    eo.loss.backward()
    to.loss.backward()
    _check(ex.grad, tx.grad)
    _check(em.tail[1][0].weight.grad, tm.tail[1][0].weight.grad)
    _check(em.head.bias.grad, tm.head.bias.grad)
    _check(em.log_prob(ex), tm.log_prob(tx))
    np.testing.assert_array_equal(em.predict(ex).numpy(), tm.predict(tx).numpy())
    one = em(ex[0], ember.tensor(target[0]))
    t_one = tm(tx[0], torch.tensor(target[0]))
    assert one.output.shape == () and abs(float(one.output) - float(t_one.output.detach())) < 1e-12
    with pytest.raises(RuntimeError, match="Target values should be in"):
        em(ex, ember.tensor([0, 1, 2, 3, 4, 5, 25]))
    with pytest.raises(ValueError, match="cutoffs"):
        ember.nn.AdaptiveLogSoftmaxWithLoss(16, 20, [10, 4])


# -- linalg.matrix_exp, linalg.householder_product ------------------------------------------------

@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-13), (np.float32, 5e-6)])
@pytest.mark.parametrize("shape,scale", [((3, 3), 0.3), ((2, 4, 4), 3.0), ((5, 5), 20.0), ((1, 1), 2.0),
                                         ((0, 3, 3), 1.0)])
def test_matrix_exp_matches_torch(dtype, tol, shape, scale):
    a = _rnd(*shape, scale=scale, dtype=dtype)
    ea, ta = _pair(a)
    eo, to = ember.linalg.matrix_exp(ea), torch.linalg.matrix_exp(ta)
    ref = np.abs(to.detach().numpy()).max() if to.numel() else 1.0
    _check(eo / ref, to / ref, tol)
    w = _rnd(*shape, dtype=dtype)
    (eo * ember.tensor(w)).sum().backward()
    (to * torch.tensor(w)).sum().backward()
    gref = np.abs(ta.grad.numpy()).max() if ta.numel() else 1.0
    _check(ea.grad / gref, ta.grad / gref, tol * 10)
    with pytest.raises(ValueError, match="square"):
        ember.linalg.matrix_exp(ember.zeros(2, 3))


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 5e-5)])
@pytest.mark.parametrize("shape,k", [((5, 3), 3), ((2, 6, 4), 2), ((4, 4), 4), ((3, 2), 0)])
def test_householder_product_matches_torch(dtype, tol, shape, k):
    a = _rnd(*shape, dtype=dtype)
    tau = _rnd(*(shape[:-2] + (k,)), dtype=dtype)
    ea, ta = _pair(a)
    et, tt = _pair(tau)
    eo, to = ember.linalg.householder_product(ea, et), torch.linalg.householder_product(ta, tt)
    _check(eo, to, tol)
    w = _rnd(*to.shape, dtype=dtype)
    (eo * ember.tensor(w)).sum().backward()
    (to * torch.tensor(w)).sum().backward()
    _check(ea.grad, ta.grad if ta.grad is not None else torch.zeros_like(ta), tol * 10)   # k = 0: no reflector
    if k:
        _check(et.grad, tt.grad, tol * 10)
    with pytest.raises(ValueError, match="greater than or equal"):
        ember.linalg.householder_product(ember.zeros(2, 3), ember.zeros(2))


def test_matrix_exp_and_householder_product_on_npy():
    _load_npy()
    a = _rnd(3, 3, scale=2.0, dtype=np.float32)
    e = ember.tensor(a, device="npy", requires_grad=True)
    out = ember.linalg.matrix_exp(e)
    assert out.device.type == "npy"
    _check(out.to("cpu"), torch.linalg.matrix_exp(torch.tensor(a)), 5e-5)
    out.sum().backward()
    assert e.grad.device.type == "npy"
    h = ember.linalg.householder_product(ember.tensor(a, device="npy"), ember.tensor(a[0, :2], device="npy"))
    _check(h.to("cpu"), torch.linalg.householder_product(torch.tensor(a), torch.tensor(a[0, :2])), 5e-6)


# -- parametrizations.orthogonal -------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(4, 4), (6, 3), (3, 6)])
@pytest.mark.parametrize("orthogonal_map", [None, "matrix_exp", "cayley", "householder"])
@pytest.mark.parametrize("use_trivialization", [True, False])
def test_orthogonal_matches_torch(shape, orthogonal_map, use_trivialization):
    w = _rnd(*shape)
    tl, el = torch.nn.Linear(shape[1], shape[0]).double(), ember.nn.Linear(shape[1], shape[0], dtype=ember.float64)
    with torch.no_grad():
        tl.weight.copy_(torch.tensor(w))
    with ember.no_grad():
        el.weight.copy_(ember.tensor(w))
    torch.nn.utils.parametrizations.orthogonal(tl, orthogonal_map=orthogonal_map,
                                               use_trivialization=use_trivialization)
    ember.nn.utils.parametrizations.orthogonal(el, orthogonal_map=orthogonal_map,
                                               use_trivialization=use_trivialization)
    assert list(el.state_dict()) == list(tl.state_dict())
    if shape[0] == shape[1] or not use_trivialization:         # no random completion: the initial weight agrees
        _check(el.weight, tl.weight, 1e-12)
        _check(el.parametrizations.weight.original, tl.parametrizations.weight.original, 1e-12)
    el.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tl.state_dict().items()})
    q = el.weight.detach().numpy()
    gram = q.T @ q if shape[0] >= shape[1] else q @ q.T
    np.testing.assert_allclose(gram, np.eye(min(shape)), atol=1e-10)
    x = _rnd(2, shape[1])
    eo, to = el(ember.tensor(x)).pow(2).sum(), tl(torch.tensor(x)).pow(2).sum()
    _check(eo, to)
    eo.backward()
    to.backward()
    _check(el.parametrizations.weight.original.grad, tl.parametrizations.weight.original.grad, 1e-9)


def test_orthogonal_errors():
    with pytest.raises(ValueError, match="orthogonal_map has to be one of"):
        ember.nn.utils.parametrizations.orthogonal(ember.nn.Linear(3, 3), orthogonal_map="qr")
    with pytest.raises(ValueError, match="Expected a matrix"):
        ember.nn.utils.parametrizations.orthogonal(ember.nn.Linear(3, 3), "bias")


# -- global module hooks ---------------------------------------------------------------------------

def test_global_module_hooks_run_in_torch_order():
    from ember.nn.modules.module import (register_module_forward_hook, register_module_forward_pre_hook,
                                         register_module_full_backward_hook,
                                         register_module_full_backward_pre_hook)
    import torch.nn.modules.module as tmod

    def run(lib, reg):
        log = []
        m = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.ReLU())
        m[0].register_forward_hook(lambda mod, a, o: log.append(("own", type(mod).__name__)))
        handles = [reg[0](lambda mod, a: log.append(("pre", type(mod).__name__))),
                   reg[1](lambda mod, a, o: log.append(("fwd", type(mod).__name__))),
                   reg[2](lambda mod, gi, go: log.append(("bwd", type(mod).__name__))),
                   reg[3](lambda mod, go: log.append(("bpre", type(mod).__name__)))]
        try:
            m(lib.ones(2, 3, requires_grad=True)).sum().backward()
        finally:
            for h in handles:
                h.remove()
        first = list(log)
        log.clear()
        m(lib.ones(2, 3))
        return first, list(log)

    ours = run(ember, (register_module_forward_pre_hook, register_module_forward_hook,
                       register_module_full_backward_hook, register_module_full_backward_pre_hook))
    theirs = run(torch, (tmod.register_module_forward_pre_hook, tmod.register_module_forward_hook,
                         tmod.register_module_full_backward_hook, tmod.register_module_full_backward_pre_hook))
    assert ours == theirs


def test_global_forward_hook_replaces_output_and_always_call():
    from ember.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
    lin = ember.nn.Linear(2, 2)
    x = ember.ones(1, 2)
    h = register_module_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    try:
        np.testing.assert_allclose(lin(x).detach().numpy(), lin.bias.detach().numpy()[None])
    finally:
        h.remove()
    h = register_module_forward_hook(lambda mod, args, kwargs, out: out * 0 + 5, with_kwargs=True)
    try:
        assert lin(x).detach().numpy().tolist() == [[5.0, 5.0]]
    finally:
        h.remove()
    seen = []

    class Boom(ember.nn.Module):
        def forward(self, x):
            raise KeyError("boom")

    h = register_module_forward_hook(lambda mod, args, out: seen.append(out), always_call=True)
    try:
        with pytest.raises(KeyError):
            Boom()(x)
    finally:
        h.remove()
    assert seen == [None]


# -- prune -----------------------------------------------------------------------------------------

def test_prune_l1_random_remove_match_torch():
    import torch.nn.utils.prune as tp
    import ember.nn.utils.prune as ep
    w, b = _rnd(5, 6), _rnd(5)
    tl, el = torch.nn.Linear(6, 5).double(), ember.nn.Linear(6, 5, dtype=ember.float64)
    with torch.no_grad():
        tl.weight.copy_(torch.tensor(w))
        tl.bias.copy_(torch.tensor(b))
    with ember.no_grad():
        el.weight.copy_(ember.tensor(w))
        el.bias.copy_(ember.tensor(b))
    assert not ep.is_pruned(el)
    tp.l1_unstructured(tl, "weight", 0.3)
    ep.l1_unstructured(el, "weight", 0.3)
    tp.l1_unstructured(tl, "weight", 4)                       # iterative: among the entries still kept
    ep.l1_unstructured(el, "weight", 4)
    scores = np.array([3.0, 1.0, 4.0, 1.5, 9.0])
    tp.l1_unstructured(tl, "bias", 2, importance_scores=torch.tensor(scores))
    ep.l1_unstructured(el, "bias", 2, importance_scores=ember.tensor(scores))
    assert ep.is_pruned(el)
    assert sorted(n for n, _ in el.named_parameters()) == sorted(n for n, _ in tl.named_parameters())
    assert sorted(n for n, _ in el.named_buffers()) == sorted(n for n, _ in tl.named_buffers())
    np.testing.assert_array_equal(el.weight_mask.numpy(), tl.weight_mask.numpy())
    np.testing.assert_array_equal(el.bias_mask.numpy(), tl.bias_mask.numpy())
    assert int(el.weight_mask.sum()) == 30 - 9 - 4
    x = _rnd(3, 6)
    _check(el(ember.tensor(x)), tl(torch.tensor(x)))
    el(ember.tensor(x)).sum().backward()
    tl(torch.tensor(x)).sum().backward()
    _check(el.weight_orig.grad, tl.weight_orig.grad)
    tp.remove(tl, "weight")
    ep.remove(el, "weight")
    assert list(el.state_dict()) == list(tl.state_dict())
    _check(el.weight, tl.weight)
    ep.random_unstructured(el, "weight", 0.5)
    assert int((el.weight_mask == 0).sum()) == 15
    with pytest.raises(ValueError, match="has to be pruned"):
        ep.remove(ember.nn.Linear(2, 2), "weight")
    with pytest.raises(ValueError, match="amount"):
        ep.l1_unstructured(ember.nn.Linear(2, 2), "weight", 1.5)


# -- swa_utils -------------------------------------------------------------------------------------

def _bn_models():
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2)).double()
    em = ember.nn.Sequential(ember.nn.Linear(3, 4), ember.nn.BatchNorm1d(4), ember.nn.Linear(4, 2)).to(ember.float64)
    return tm, em


@pytest.mark.parametrize("kind", ["swa", "ema", "avg_fn", "buffers"])
def test_averaged_model_matches_torch(kind):
    from torch.optim import swa_utils as ts
    from ember.optim import swa_utils as es
    tm, em = _bn_models()

    def sync():
        em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})

    sync()
    kw = {"swa": ({}, {}), "buffers": ({"use_buffers": True}, {"use_buffers": True}),
          "ema": ({"multi_avg_fn": ts.get_ema_multi_avg_fn(0.9)}, {"multi_avg_fn": es.get_ema_multi_avg_fn(0.9)}),
          "avg_fn": ({"avg_fn": ts.get_ema_avg_fn(0.8)}, {"avg_fn": es.get_ema_avg_fn(0.8)})}[kind]
    ta, ea = ts.AveragedModel(tm, **kw[0]), es.AveragedModel(em, **kw[1])
    assert list(ea.state_dict()) == list(ta.state_dict())
    for _ in range(4):
        with torch.no_grad():
            for p in tm.parameters():
                p.add_(torch.tensor(_rnd(*p.shape)))
            tm(torch.tensor(_rnd(5, 3)))                           # moves the BatchNorm statistics
        sync()
        ta.update_parameters(tm)
        ea.update_parameters(em)
    for (kt, vt), (ke, ve) in zip(ta.state_dict().items(), ea.state_dict().items()):
        assert kt == ke
        _check(ve, vt, 1e-12)
    x = _rnd(2, 3)
    ta.eval(), ea.eval()
    _check(ea(ember.tensor(x)), ta(torch.tensor(x)), 1e-12)
    assert ea.module[0].weight is not em[0].weight


def test_update_bn_and_swalr_match_torch():
    from torch.optim import swa_utils as ts
    from ember.optim import swa_utils as es
    tm, em = _bn_models()
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    data = [_rnd(5, 3) for _ in range(3)]
    tm.eval(), em.eval()
    ts.update_bn([(torch.tensor(d), 0) for d in data], tm)
    es.update_bn([(ember.tensor(d), 0) for d in data], em)
    _check(em[1].running_mean, tm[1].running_mean, 1e-12)
    _check(em[1].running_var, tm[1].running_var, 1e-12)
    assert em[1].momentum == 0.1 and not em.training
    for strategy in ("cos", "linear"):
        for anneal in (0, 3):
            to = torch.optim.SGD(tm.parameters(), lr=0.5)
            eo = ember.optim.SGD(em.parameters(), lr=0.5)
            tsch, esch = ts.SWALR(to, [0.05], anneal, strategy), es.SWALR(eo, [0.05], anneal, strategy)
            for _ in range(6):
                to.step(), eo.step()
                tsch.step(), esch.step()
                assert esch.get_last_lr() == pytest.approx(tsch.get_last_lr(), rel=1e-15)
            state = esch.state_dict()
            assert "anneal_func" not in state and "optimizer" not in state
    with pytest.raises(ValueError, match="anneal_strategy"):
        es.SWALR(ember.optim.SGD(em.parameters(), lr=0.1), 0.05, anneal_strategy="step")


def test_module_deepcopy_copies_parameters_and_keeps_ties():
    m = ember.nn.Sequential(ember.nn.Linear(2, 3), ember.nn.Linear(3, 2))
    c = copy.deepcopy(m)
    for (n, p), (_, q) in zip(m.named_parameters(), c.named_parameters()):
        assert p is not q and isinstance(q, ember.nn.Parameter) and q.requires_grad
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    tied = ember.nn.Module()
    tied.a = ember.nn.Linear(2, 2)
    tied.b = ember.nn.Linear(2, 2)
    tied.b.weight = tied.a.weight
    c = copy.deepcopy(tied)
    assert c.b.weight is c.a.weight and c.a.weight is not tied.a.weight


# -- testing.assert_close --------------------------------------------------------------------------

_CLOSE_CASES = [
    ([1.0, 2.0, 3.0], [1.0, 2.5, 3.0], {}),
    ([1, 2, 3], [1, 4, 3], {}),
    ([[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [3.0, 5.0]], {"atol": 0.1, "rtol": 0.1}),
    ([[1.0, float("nan")]], [[1.0, float("nan")]], {}),
    ([1.0, float("nan")], [1.0, float("nan")], {"equal_nan": True}),
    ([True, False], [True, True], {}),
    ([0.0, 1.0], [1e-9, 1.0], {}),
    ([0.0, 1.0], [0.5, 1.0], {}),
    (3.0, 3.5, {}),
]


@pytest.mark.parametrize("a,b,kw", _CLOSE_CASES)
def test_assert_close_messages_match_torch(a, b, kw):
    def outcome(lib, mod, conv):
        try:
            mod.assert_close(conv(a), conv(b), **kw)
            return None
        except AssertionError as e:
            return str(e)
    ours = outcome(ember, ember.testing, lambda v: ember.tensor(v))
    theirs = outcome(torch, torch.testing, lambda v: torch.tensor(v))
    assert ours == theirs


def test_assert_close_attributes_numbers_containers_and_msg():
    T = ember.tensor
    with pytest.raises(AssertionError, match=r"attribute 'shape' do not match: ember.Size\(\[2\]\) != "):
        ember.testing.assert_close(T([1.0, 2.0]), T([1.0, 2.0, 3.0]))
    with pytest.raises(AssertionError, match="attribute 'dtype' do not match: ember.float32 != ember.float64"):
        ember.testing.assert_close(T([1.0]), T([1.0], dtype=ember.float64))
    ember.testing.assert_close(T([1.0]), T([1.0], dtype=ember.float64), check_dtype=False)
    with pytest.raises(TypeError, match="No comparison pair"):
        ember.testing.assert_close(T(1.0), 1.0)
    for a, b in [(1.0, 1.5), (2, 3)]:
        with pytest.raises(AssertionError) as ee:
            ember.testing.assert_close(a, b)
        with pytest.raises(AssertionError) as te:
            torch.testing.assert_close(a, b)
        assert str(ee.value) == str(te.value)
    with pytest.raises(AssertionError) as ee:
        ember.testing.assert_close([T([1.0]), {"k": T([2.0])}], [T([1.0]), {"k": T([2.5])}])
    with pytest.raises(AssertionError) as te:
        torch.testing.assert_close([torch.tensor([1.0]), {"k": torch.tensor([2.0])}],
                                   [torch.tensor([1.0]), {"k": torch.tensor([2.5])}])
    assert str(ee.value) == str(te.value)
    with pytest.raises(AssertionError, match="^custom$"):
        ember.testing.assert_close(T([1.0]), T([2.0]), msg="custom")
    with pytest.raises(AssertionError, match="^XTenso$"):
        ember.testing.assert_close(T([1.0]), T([2.0]), msg=lambda m: "X" + m[:5])
    with pytest.raises(ValueError, match="Both 'rtol' and 'atol'"):
        ember.testing.assert_close(T([1.0]), T([1.0]), rtol=1e-3)
    ember.testing.assert_close(T([1.0, 2.0]), np.array([1.0, 2.0], dtype=np.float32))
