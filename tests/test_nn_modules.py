"""ember.nn layers against torch.nn: outputs and gradients with PyTorch's weights loaded, and the Module API."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn as nn

torch = pytest.importorskip("torch")
tnn = torch.nn

HAS_AUTOGRAD = hasattr(ember.Tensor, "backward")


def to_ember_state(sd):
    return {k: ember.tensor(v.detach().numpy()) for k, v in sd.items()}


def close(e, t, tol=1e-5):
    e = e.detach().numpy() if hasattr(e, "detach") else e.numpy()
    np.testing.assert_allclose(e, t.detach().numpy(), rtol=tol, atol=tol)


def rnd(rng, *shape, low=-2, high=2):
    return rng.uniform(low, high, size=shape)


def _pairs():
    """name -> (ember module factory, torch module factory, input builder, train mode)."""
    P = {}
    P["Linear"] = (lambda: nn.Linear(5, 3), lambda: tnn.Linear(5, 3), lambda r: [rnd(r, 4, 5)])
    P["Linear_3d_nobias"] = (lambda: nn.Linear(5, 3, bias=False), lambda: tnn.Linear(5, 3, bias=False),
                             lambda r: [rnd(r, 2, 4, 5)])
    P["Conv1d"] = (lambda: nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2),
                   lambda: tnn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2), lambda r: [rnd(r, 2, 4, 11)])
    P["Conv2d"] = (lambda: nn.Conv2d(3, 4, 3, padding=1), lambda: tnn.Conv2d(3, 4, 3, padding=1),
                   lambda r: [rnd(r, 2, 3, 7, 6)])
    P["Conv2d_same_dilated"] = (lambda: nn.Conv2d(2, 4, (2, 3), padding="same", dilation=(1, 2)),
                                lambda: tnn.Conv2d(2, 4, (2, 3), padding="same", dilation=(1, 2)),
                                lambda r: [rnd(r, 2, 2, 6, 7)])
    P["Conv2d_strided_groups"] = (lambda: nn.Conv2d(4, 6, 3, stride=2, groups=2, bias=False),
                                  lambda: tnn.Conv2d(4, 6, 3, stride=2, groups=2, bias=False),
                                  lambda r: [rnd(r, 2, 4, 9, 8)])
    P["MaxPool2d"] = (lambda: nn.MaxPool2d(3, 2, 1), lambda: tnn.MaxPool2d(3, 2, 1), lambda r: [rnd(r, 2, 3, 8, 7)])
    P["AvgPool2d"] = (lambda: nn.AvgPool2d(2), lambda: tnn.AvgPool2d(2), lambda r: [rnd(r, 2, 3, 8, 7)])
    P["AdaptiveAvgPool2d"] = (lambda: nn.AdaptiveAvgPool2d((3, 2)), lambda: tnn.AdaptiveAvgPool2d((3, 2)),
                              lambda r: [rnd(r, 2, 3, 8, 7)])
    P["BatchNorm1d"] = (lambda: nn.BatchNorm1d(4), lambda: tnn.BatchNorm1d(4), lambda r: [rnd(r, 8, 4)])
    P["BatchNorm1d_3d"] = (lambda: nn.BatchNorm1d(4), lambda: tnn.BatchNorm1d(4), lambda r: [rnd(r, 5, 4, 3)])
    P["BatchNorm2d"] = (lambda: nn.BatchNorm2d(3), lambda: tnn.BatchNorm2d(3), lambda r: [rnd(r, 4, 3, 5, 5)])
    P["LayerNorm"] = (lambda: nn.LayerNorm((5, 6)), lambda: tnn.LayerNorm((5, 6)), lambda r: [rnd(r, 3, 5, 6)])
    P["GroupNorm"] = (lambda: nn.GroupNorm(2, 6), lambda: tnn.GroupNorm(2, 6), lambda r: [rnd(r, 3, 6, 4, 2)])
    P["ReLU"] = (nn.ReLU, tnn.ReLU, lambda r: [rnd(r, 4, 5)])
    P["GELU"] = (nn.GELU, tnn.GELU, lambda r: [rnd(r, 4, 5)])
    P["GELU_tanh"] = (lambda: nn.GELU("tanh"), lambda: tnn.GELU("tanh"), lambda r: [rnd(r, 4, 5)])
    P["SiLU"] = (nn.SiLU, tnn.SiLU, lambda r: [rnd(r, 4, 5)])
    P["Tanh"] = (nn.Tanh, tnn.Tanh, lambda r: [rnd(r, 4, 5)])
    P["Sigmoid"] = (nn.Sigmoid, tnn.Sigmoid, lambda r: [rnd(r, 4, 5)])
    P["Softmax"] = (lambda: nn.Softmax(1), lambda: tnn.Softmax(1), lambda r: [rnd(r, 4, 5)])
    P["LogSoftmax"] = (lambda: nn.LogSoftmax(-1), lambda: tnn.LogSoftmax(-1), lambda r: [rnd(r, 4, 5)])
    P["Flatten"] = (nn.Flatten, tnn.Flatten, lambda r: [rnd(r, 2, 3, 4)])
    P["Identity"] = (nn.Identity, tnn.Identity, lambda r: [rnd(r, 2, 3)])
    P["Dropout_eval_or_p0"] = (lambda: nn.Dropout(0.0), lambda: tnn.Dropout(0.0), lambda r: [rnd(r, 4, 5)])
    P["Sequential"] = (
        lambda: nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(16, 3)),
        lambda: tnn.Sequential(tnn.Conv2d(1, 4, 3, padding=1), tnn.BatchNorm2d(4), tnn.ReLU(), tnn.MaxPool2d(2),
                               tnn.Flatten(), tnn.Linear(16, 3)),
        lambda r: [rnd(r, 3, 1, 4, 4)])
    P["MultiheadAttention"] = (lambda: nn.MultiheadAttention(8, 2), lambda: tnn.MultiheadAttention(8, 2),
                               lambda r: [rnd(r, 5, 3, 8), rnd(r, 6, 3, 8), rnd(r, 6, 3, 8)])
    P["MultiheadAttention_batch_first"] = (lambda: nn.MultiheadAttention(8, 4, batch_first=True),
                                           lambda: tnn.MultiheadAttention(8, 4, batch_first=True),
                                           lambda r: [rnd(r, 3, 5, 8)] * 3)
    P["MultiheadAttention_kdim_vdim"] = (lambda: nn.MultiheadAttention(8, 2, kdim=5, vdim=3),
                                         lambda: tnn.MultiheadAttention(8, 2, kdim=5, vdim=3),
                                         lambda r: [rnd(r, 4, 3, 8), rnd(r, 6, 3, 5), rnd(r, 6, 3, 3)])
    P["MultiheadAttention_bias_kv_zero_attn"] = (
        lambda: nn.MultiheadAttention(8, 2, add_bias_kv=True, add_zero_attn=True, batch_first=True, kdim=4),
        lambda: tnn.MultiheadAttention(8, 2, add_bias_kv=True, add_zero_attn=True, batch_first=True, kdim=4),
        lambda r: [rnd(r, 3, 5, 8), rnd(r, 3, 6, 4), rnd(r, 3, 6, 8), r.random((3, 6)) < 0.3])
    P["MSELoss"] = (nn.MSELoss, tnn.MSELoss, lambda r: [rnd(r, 4, 5), rnd(r, 4, 5)])
    P["L1Loss_sum"] = (lambda: nn.L1Loss(reduction="sum"), lambda: tnn.L1Loss(reduction="sum"),
                       lambda r: [rnd(r, 4, 5), rnd(r, 4, 5)])
    P["BCELoss"] = (nn.BCELoss, tnn.BCELoss, lambda r: [rnd(r, 4, 5, low=0.05, high=0.95),
                                                        (r.random((4, 5)) > 0.5).astype(np.float64)])
    P["BCEWithLogitsLoss"] = (nn.BCEWithLogitsLoss, tnn.BCEWithLogitsLoss,
                              lambda r: [rnd(r, 4, 5), (r.random((4, 5)) > 0.5).astype(np.float64)])
    P["Embedding"] = (lambda: nn.Embedding(7, 4, padding_idx=2), lambda: tnn.Embedding(7, 4, padding_idx=2),
                      lambda r: [r.integers(0, 7, (3, 5))])
    P["CrossEntropyLoss"] = (lambda: nn.CrossEntropyLoss(label_smoothing=0.1, ignore_index=1),
                             lambda: tnn.CrossEntropyLoss(label_smoothing=0.1, ignore_index=1),
                             lambda r: [rnd(r, 6, 4), r.integers(0, 4, 6)])
    P["CrossEntropyLoss_weighted_2d"] = (
        lambda: nn.CrossEntropyLoss(weight=ember.tensor([0.5, 1.0, 2.0], dtype=ember.float64), reduction="sum"),
        lambda: tnn.CrossEntropyLoss(weight=torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64), reduction="sum"),
        lambda r: [rnd(r, 2, 3, 4), r.integers(0, 3, (2, 4))])
    P["NLLLoss"] = (nn.NLLLoss, tnn.NLLLoss, lambda r: [rnd(r, 6, 4, low=-3, high=-0.1), r.integers(0, 4, 6)])
    return P


PAIRS = _pairs()


def _build(name, dtype=torch.float64):
    ef, tf, inputs = PAIRS[name]
    torch.manual_seed(0)
    tm = tf().to(dtype)
    em = ef().to(ember.float64 if dtype == torch.float64 else ember.float32)
    em.load_state_dict(to_ember_state(tm.state_dict()))
    arrays = inputs(np.random.default_rng(0))
    return em, tm, arrays


def _first(out):
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("name", sorted(PAIRS))
@pytest.mark.parametrize("training", [True, False])
def test_module_matches_torch(name, training):
    em, tm, arrays = _build(name)
    em.train(training)
    tm.train(training)
    e_in = [ember.tensor(a) for a in arrays]
    t_in = [torch.tensor(a) for a in arrays]
    if HAS_AUTOGRAD:
        for e, t in zip(e_in, t_in):
            if t.dtype.is_floating_point:  # indices and class targets take no gradient
                e.requires_grad_(True)
                t.requires_grad_(True)
    eo, to = em(*e_in), tm(*t_in)
    if isinstance(to, tuple):  # MultiheadAttention: (output, averaged weights)
        close(eo[1], to[1], 1e-9)
    close(_first(eo), _first(to), 1e-9)
    for (k, eb), (k2, tb) in zip(em.named_buffers(), tm.named_buffers()):
        assert k == k2
        close(eb, tb, 1e-9)  # running statistics follow PyTorch's
    if not HAS_AUTOGRAD:
        return
    g = np.random.default_rng(1).standard_normal(tuple(_first(to).shape))
    (_first(eo) * ember.tensor(g)).sum().backward()
    (_first(to) * torch.tensor(g)).sum().backward()
    for i, (e, t) in enumerate(zip(e_in, t_in)):
        if t.grad is not None:
            close(e.grad, t.grad, 1e-8)
    tp = dict(tm.named_parameters())
    for k, p in em.named_parameters():
        assert tp[k].grad is not None and p.grad is not None, k
        close(p.grad, tp[k].grad, 1e-8)


def test_cross_entropy_and_nll_modules():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 4))
    t = rng.integers(0, 4, 6)
    t[2] = 1 if t[2] == -1 else t[2]
    w = rng.uniform(0.5, 2, 4)
    e = nn.CrossEntropyLoss(weight=ember.tensor(w), label_smoothing=0.1, ignore_index=2)(ember.tensor(x),
                                                                                           ember.tensor(t))
    r = tnn.CrossEntropyLoss(weight=torch.tensor(w), label_smoothing=0.1, ignore_index=2)(torch.tensor(x),
                                                                                         torch.tensor(t))
    close(e, r, 1e-10)
    e = nn.NLLLoss(reduction="sum")(ember.tensor(x), ember.tensor(t))
    close(e, tnn.NLLLoss(reduction="sum")(torch.tensor(x), torch.tensor(t)), 1e-10)


def test_embedding_module():
    torch.manual_seed(0)
    tm = tnn.Embedding(10, 4, padding_idx=3)
    em = nn.Embedding(10, 4, padding_idx=3)
    assert np.all(em.weight.detach().numpy()[3] == 0)
    em.load_state_dict(to_ember_state(tm.state_dict()))
    idx = np.array([[1, 3, 9], [0, 3, 2]])
    close(em(ember.tensor(idx)), tm(torch.tensor(idx)))


def test_dropout_statistics_and_eval():
    d = nn.Dropout(0.3)
    x = ember.ones(200, 100)
    y = d(x).numpy()
    kept = (y != 0).mean()
    assert 0.66 < kept < 0.74
    np.testing.assert_allclose(y[y != 0], 1 / 0.7, rtol=1e-6)
    d.eval()
    assert d(x) is x
    assert (nn.Dropout(1.0)(x).numpy() == 0).all()
    with pytest.raises(ValueError, match="1.5"):
        nn.Dropout(1.5)


# -- the Module API ---------------------------------------------------------------------

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.bn = nn.BatchNorm2d(2)
        self.blocks = nn.ModuleList([nn.Linear(8, 8), nn.Linear(8, 4)])
        self.heads = nn.ModuleDict({"a": nn.Linear(4, 2)})
        self.register_buffer("scale", ember.ones(1))
        self.register_buffer("cache", ember.zeros(2), persistent=False)

    def forward(self, x):
        x = self.bn(self.conv(x)).flatten(1)
        for b in self.blocks:
            x = b(x)
        return self.heads["a"](x) * self.scale


class TNet(tnn.Module):
    def __init__(self):
        super().__init__()
        self.conv = tnn.Conv2d(1, 2, 3)
        self.bn = tnn.BatchNorm2d(2)
        self.blocks = tnn.ModuleList([tnn.Linear(8, 8), tnn.Linear(8, 4)])
        self.heads = tnn.ModuleDict({"a": tnn.Linear(4, 2)})
        self.register_buffer("scale", torch.ones(1))
        self.register_buffer("cache", torch.zeros(2), persistent=False)


def test_names_match_torch():
    e, t = Net(), TNet()
    assert [k for k, _ in e.named_parameters()] == [k for k, _ in t.named_parameters()]
    assert [k for k, _ in e.named_buffers()] == [k for k, _ in t.named_buffers()]
    assert list(e.state_dict()) == list(t.state_dict())
    assert [k for k, _ in e.named_modules()] == [k for k, _ in t.named_modules()]
    assert [k for k, _ in e.named_children()] == [k for k, _ in t.named_children()]
    assert len(list(e.parameters())) == len(list(t.parameters()))
    for (k, p), (_, tp) in zip(e.named_parameters(), t.named_parameters()):
        assert tuple(p.shape) == tuple(tp.shape), k
        assert isinstance(p, nn.Parameter)


def test_load_state_dict_strict_keys():
    e = Net()
    sd = e.state_dict()
    sd.pop("conv.weight")
    sd["extra.weight"] = ember.zeros(1)
    with pytest.raises(nn.StateDictKeyError, match=r"missing key\(s\) 'conv.weight'.*unexpected key\(s\) "
                                                   r"'extra.weight'"):
        e.load_state_dict(sd)
    res = e.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["conv.weight"] and res.unexpected_keys == ["extra.weight"]


def test_load_state_dict_shape_mismatch():
    e = Net()
    sd = e.state_dict()
    sd["blocks.1.weight"] = ember.zeros(5, 8)
    with pytest.raises(ember.ShapeError, match=r"'blocks.1.weight'.*\(5, 8\).*\(4, 8\)"):
        e.load_state_dict(sd)


def test_load_state_dict_copies_values_into_parameters():
    e, t = Net(), TNet()
    w = e.conv.weight
    e.load_state_dict(to_ember_state(t.state_dict()))
    assert e.conv.weight is w
    close(e.conv.weight, t.conv.weight, 0)


def test_train_eval_and_apply():
    e = Net()
    assert e.training and e.bn.training
    e.eval()
    assert not e.training and not e.bn.training and not e.blocks[0].training
    seen = []
    e.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and "BatchNorm2d" in seen


def test_to_dtype_keeps_parameter_objects():
    e = Net()
    w = e.conv.weight
    e.to(ember.float64)
    assert e.conv.weight is w and w.dtype is ember.float64
    assert e.bn.num_batches_tracked.dtype is ember.int64  # integer buffers keep their dtype
    assert e.scale.dtype is ember.float64
    e.double().float()
    assert w.dtype is ember.float32
    with pytest.raises(TypeError, match="floating"):
        e.to(ember.int32)
    e.to("meta")
    assert w.device.type == "meta"


def test_forward_hooks():
    e = nn.Linear(3, 2)
    calls = []
    h = e.register_forward_hook(lambda m, args, out: calls.append(tuple(out.shape)))
    hp = e.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    out = e(ember.ones(4, 3))
    assert calls == [(4, 2)]
    np.testing.assert_allclose(out.detach().numpy(), np.broadcast_to(e.bias.detach().numpy(), (4, 2)), rtol=1e-6)
    h.remove()
    hp.remove()
    e(ember.ones(1, 3))
    assert calls == [(4, 2)]
    h2 = e.register_forward_hook(lambda m, args, out: out * 0)
    assert (e(ember.ones(1, 3)).detach().numpy() == 0).all()
    h2.remove()


def test_zero_grad_and_requires_grad():
    e = nn.Linear(3, 2)
    if not HAS_AUTOGRAD:
        pytest.skip("autograd is not in this build")
    assert all(p.requires_grad for p in e.parameters())
    e(ember.ones(2, 3)).sum().backward()
    assert e.weight.grad is not None
    e.zero_grad(set_to_none=False)
    assert (e.weight.grad.numpy() == 0).all()
    e.zero_grad()
    assert e.weight.grad is None
    e.requires_grad_(False)
    assert not e.weight.requires_grad


def test_containers():
    s = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(s) == 3 and isinstance(s[1], nn.ReLU) and isinstance(s[-1], nn.Linear)
    assert len(s[:2]) == 2
    with pytest.raises(IndexError, match="index 5"):
        s[5]
    ml = nn.ModuleList([nn.ReLU()])
    ml.append(nn.Tanh())
    ml.extend([nn.Sigmoid()])
    ml.insert(0, nn.Identity())
    assert [type(m).__name__ for m in ml] == ["Identity", "ReLU", "Tanh", "Sigmoid"]
    md = nn.ModuleDict({"x": nn.ReLU()})
    md["y"] = nn.Tanh()
    assert list(md.keys()) == ["x", "y"] and "y" in md
    with pytest.raises(KeyError, match="'z'"):
        md["z"]
    assert "(0): Linear(in_features=2, out_features=3, bias=True)" in repr(s)


def test_attribute_errors():
    e = nn.Linear(2, 2)
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'nope'"):
        e.nope
    with pytest.raises(TypeError, match="Parameter or None"):
        e.weight = ember.zeros(2, 2)
    with pytest.raises(ember.ShapeError, match=r"\(4, 3\).*\(2, 2\)"):
        e(ember.zeros(4, 3))
    with pytest.raises(ember.ShapeError, match=r"BatchNorm2d\(3\).*\(2, 4, 5, 5\)"):
        nn.BatchNorm2d(3)(ember.zeros(2, 4, 5, 5))
    with pytest.raises(TypeError, match="not pickled"):
        import pickle
        pickle.dumps(e)


def test_init_functions():
    g = nn.init
    t = ember.empty(200, 300)
    g.uniform_(t, -0.5, 0.5)
    a = t.numpy()
    assert -0.5 <= a.min() and a.max() < 0.5 and abs(a.mean()) < 0.01
    g.normal_(t, 1.0, 2.0)
    assert abs(t.numpy().mean() - 1.0) < 0.05 and abs(t.numpy().std() - 2.0) < 0.05
    g.xavier_uniform_(t)
    bound = np.sqrt(6 / 500)
    assert np.abs(t.numpy()).max() <= bound
    g.kaiming_normal_(t, nonlinearity="relu")
    assert abs(t.numpy().std() - np.sqrt(2 / 300)) < 0.005
    g.kaiming_uniform_(t, a=np.sqrt(5))
    assert np.abs(t.numpy()).max() <= 1 / np.sqrt(300) + 1e-7
    g.zeros_(t)
    assert (t.numpy() == 0).all()
    g.ones_(t)
    assert (t.numpy() == 1).all()
    g.xavier_normal_(t, gain=2.0)
    assert abs(t.numpy().std() - 2 * np.sqrt(2 / 500)) < 0.005
    assert g.calculate_gain("tanh") == pytest.approx(5 / 3)
    with pytest.raises(ValueError, match="'swish'"):
        g.calculate_gain("swish")
    with pytest.raises(ValueError, match="fewer than 2 dims"):
        g.xavier_uniform_(ember.empty(3))


def test_linear_default_init_range():
    lin = nn.Linear(50, 40)
    assert np.abs(lin.weight.detach().numpy()).max() <= 1 / np.sqrt(50) + 1e-7
    assert np.abs(lin.bias.detach().numpy()).max() <= 1 / np.sqrt(50) + 1e-7
    assert lin.weight.detach().numpy().std() > 0.05


def test_functional_matches_modules():
    F = nn.functional
    x = ember.tensor(np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32))
    m = nn.MaxPool2d(2, return_indices=True)
    v, i = m(x)
    v2, i2 = F.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(i.numpy(), i2.numpy())
    assert F.unfold(x, 3).shape == (2, 27, 16)
    assert F.fold(F.unfold(x, 3), (6, 6), 3).shape == (2, 3, 6, 6)
    assert F.pad(x, (1, 1)).shape == (2, 3, 6, 8)
    assert F.one_hot(ember.tensor([0, 2]), 3).shape == (2, 3)


def test_initialisation_follows_embers_seed():
    if not hasattr(ember, "manual_seed"):
        pytest.skip("this core has no ember.manual_seed")
    ember.manual_seed(123)
    a = nn.Linear(4, 3).weight.detach().numpy().copy()
    ember.manual_seed(123)
    b = nn.Linear(4, 3).weight.detach().numpy().copy()
    np.testing.assert_array_equal(a, b)
    ember.manual_seed(123)
    d1 = nn.functional.dropout(ember.ones(50), 0.5).numpy().copy()
    ember.manual_seed(123)
    np.testing.assert_array_equal(d1, nn.functional.dropout(ember.ones(50), 0.5).numpy())


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_attention_masks(need_weights):
    torch.manual_seed(1)
    tm = tnn.MultiheadAttention(8, 2, batch_first=True).double()
    em = nn.MultiheadAttention(8, 2, batch_first=True).double()
    em.load_state_dict(to_ember_state(tm.state_dict()))
    rng = np.random.default_rng(4)
    q, k = rng.standard_normal((3, 4, 8)), rng.standard_normal((3, 5, 8))
    am = rng.random((4, 5)) > 0.7
    am[:, 0] = False
    kpm = np.zeros((3, 5), bool)
    kpm[1, 3:] = True
    fm = rng.standard_normal((4, 5))
    for mask in (am, fm):
        eo, ew = em(ember.tensor(q), ember.tensor(k), ember.tensor(k), key_padding_mask=ember.tensor(kpm),
                    attn_mask=ember.tensor(mask), need_weights=need_weights)
        to, tw = tm(torch.tensor(q), torch.tensor(k), torch.tensor(k), key_padding_mask=torch.tensor(kpm),
                    attn_mask=torch.tensor(mask), need_weights=need_weights)
        close(eo, to, 1e-9)
        if need_weights:
            close(ew, tw, 1e-9)
        else:
            assert ew is None and tw is None
    with pytest.raises(ember.ShapeError, match=r"attn_mask must have shape \(4, 5\)"):
        em(ember.tensor(q), ember.tensor(k), ember.tensor(k), attn_mask=ember.zeros(3, 3, dtype=ember.bool))
    with pytest.raises(ember.ShapeError, match="embed_dim=8"):
        em(ember.zeros(3, 4, 6), ember.zeros(3, 4, 6), ember.zeros(3, 4, 6))


def test_multihead_attention_checks_key_and_value_widths():
    m = nn.MultiheadAttention(8, 2, kdim=5, vdim=3)
    assert m.in_proj_weight is None and tuple(m.k_proj_weight.shape) == (8, 5)
    q = ember.zeros(4, 2, 8)
    with pytest.raises(ember.ShapeError, match=r"expected the key's last dim to be kdim=5, got shape \(6, 2, 8\)"):
        m(q, ember.zeros(6, 2, 8), ember.zeros(6, 2, 3))
    with pytest.raises(ember.ShapeError, match=r"expected the value's last dim to be vdim=3"):
        m(q, ember.zeros(6, 2, 5), ember.zeros(6, 2, 5))
