"""F.scaled_dot_product_attention and the nn.Transformer family against torch: values and gradients on the
same inputs and weights, state dicts both ways, PyTorch's errors, the npy device, and the GPT example."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = pytest.mark.skipif(not hasattr(ember.Tensor, "backward"), reason="autograd is not in this build")

HERE = os.path.dirname(os.path.abspath(__file__))
TOL = {"float32": 2e-5, "float64": 1e-10}
DTYPES = ["float32", "float64"]


def close(e, t, tol, what=""):
    e = e.detach().to("cpu").numpy()
    np.testing.assert_allclose(e, t.detach().numpy(), rtol=tol, atol=tol, err_msg=what)


def both(a, dtype, grad=False):
    """The same array as an ember and a torch tensor (bool arrays stay bool)."""
    a = np.asarray(a) if a.dtype == bool else np.asarray(a, dtype=dtype)
    e, t = ember.tensor(a), torch.tensor(a)
    if grad:
        e.requires_grad_(), t.requires_grad_()
    return e, t


# -- scaled_dot_product_attention ---------------------------------------------------------------------

def _float_mask(rng, shape, dead_row=True):
    m = np.where(rng.random(shape) > 0.4, rng.standard_normal(shape), -np.inf)
    m[..., 0] = 0.3                      # every row attends somewhere ...
    if dead_row:
        m[..., 1, :] = -np.inf           # ... but one, which gives zeros (PyTorch's safe softmax)
    return m


def _bool_mask(rng, shape, dead_row=True):
    m = rng.random(shape) > 0.4
    m[..., 0] = True
    if dead_row:
        m[..., 1, :] = False
    return m


SDPA_CASES = {   # name -> (q, k, v shapes, mask builder or None, keyword arguments)
    "3d": ((2, 3, 4), (2, 5, 4), (2, 5, 6), None, {}),
    "2d": ((3, 4), (5, 4), (5, 2), None, {}),
    "batch_broadcast": ((2, 1, 3, 4), (1, 3, 5, 4), (1, 3, 5, 4), None, {}),
    "scale": ((2, 3, 4), (2, 5, 4), (2, 5, 4), None, {"scale": 0.37}),
    "causal_L<S": ((2, 2, 3, 4), (2, 2, 6, 4), (2, 2, 6, 3), None, {"is_causal": True}),
    "causal_L>S": ((2, 6, 4), (2, 3, 4), (2, 3, 4), None, {"is_causal": True}),
    "bool_mask": ((2, 2, 4, 3), (2, 2, 5, 3), (2, 2, 5, 3), lambda r: _bool_mask(r, (4, 5)), {}),
    "bool_mask_per_head": ((2, 2, 4, 3), (2, 2, 5, 3), (2, 2, 5, 3), lambda r: _bool_mask(r, (2, 1, 4, 5)), {}),
    "float_mask": ((2, 2, 4, 3), (2, 2, 5, 3), (2, 2, 5, 3), lambda r: _float_mask(r, (2, 2, 4, 5)), {}),
    "float_mask_scale": ((3, 4, 3), (3, 5, 3), (3, 5, 2), lambda r: _float_mask(r, (4, 5)), {"scale": 2.0}),
    "gqa": ((2, 4, 3, 4), (2, 2, 5, 4), (2, 1, 5, 3), None, {"enable_gqa": True}),
    "gqa_causal": ((1, 6, 5, 4), (1, 3, 5, 4), (1, 3, 5, 4), None, {"enable_gqa": True, "is_causal": True}),
    "gqa_mask": ((2, 4, 3, 4), (2, 2, 5, 4), (2, 2, 5, 3), lambda r: _bool_mask(r, (2, 4, 3, 5)),
                 {"enable_gqa": True}),
    "empty_keys": ((2, 3, 4), (2, 0, 4), (2, 0, 3), None, {}),
    "empty_keys_mask": ((2, 3, 4), (2, 0, 4), (2, 0, 3), lambda r: np.zeros((3, 0), bool), {}),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", sorted(SDPA_CASES))
def test_sdpa_matches_torch(case, dtype):
    qs, ks, vs, mask, kw = SDPA_CASES[case]
    rng = np.random.default_rng(sum(map(ord, case)))   # the same inputs in every run
    (eq, tq), (ek, tk), (ev, tv) = (both(rng.standard_normal(s), dtype, grad=True) for s in (qs, ks, vs))
    em = tm = None
    if mask is not None:
        em, tm = both(mask(rng), dtype)
    eo = F.scaled_dot_product_attention(eq, ek, ev, em, **kw)
    to = TF.scaled_dot_product_attention(tq, tk, tv, tm, **kw)
    assert eo.shape == to.shape and eo.dtype.name == dtype
    close(eo, to, TOL[dtype], "output")
    assert np.isfinite(eo.detach().numpy()).all()
    if to.numel():
        g = rng.standard_normal(tuple(to.shape))
        eo.backward(both(g, dtype)[0]), to.backward(both(g, dtype)[1])
        for name, a, b in (("query", eq, tq), ("key", ek, tk), ("value", ev, tv)):
            close(a.grad, b.grad, 10 * TOL[dtype], f"grad of {name}")


def test_sdpa_float32_mask_with_float64_query():
    rng = np.random.default_rng(1)
    eq, tq = both(rng.standard_normal((2, 3, 4)), "float64")
    ek, tk = both(rng.standard_normal((2, 5, 4)), "float64")
    em, tm = both(_float_mask(rng, (3, 5), dead_row=False), "float32")
    eo, to = F.scaled_dot_product_attention(eq, ek, ek, em), TF.scaled_dot_product_attention(tq, tk, tk, tm)
    assert eo.dtype is ember.float64
    close(eo, to, 1e-6)


def test_sdpa_dropout():
    rng = np.random.default_rng(2)
    q, k = (ember.tensor(rng.standard_normal(s).astype("float32")) for s in ((4, 8, 16, 8), (4, 8, 16, 8)))
    v = ember.ones(4, 8, 16, 5)
    plain = F.scaled_dot_product_attention(q, k, v)
    np.testing.assert_allclose(F.scaled_dot_product_attention(q, k, v, dropout_p=0.0).numpy(), plain.numpy())
    assert (F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).numpy() == 0).all()
    ember.manual_seed(7)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5, is_causal=True)
    ember.manual_seed(7)
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5, is_causal=True)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    # with v = 1 each output is (sum of the kept weights) / (1 - p): 1 on average, never what no dropout gives
    out = a.numpy()
    assert abs(out.mean() - 1.0) < 0.05 and out.std() > 0.1
    assert not np.allclose(out, F.scaled_dot_product_attention(q, k, v, is_causal=True).numpy())


def test_sdpa_errors():
    z = ember.zeros
    with pytest.raises(ValueError, match="at least 2-D"):
        F.scaled_dot_product_attention(z(4), z(3, 4), z(3, 2))
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(z(3, 4), z(5, 4), z(5, 4), z(3, 5, dtype=ember.bool), is_causal=True)
    with pytest.raises(TypeError, match="bool, float32 or the query's dtype"):
        F.scaled_dot_product_attention(z(3, 4), z(5, 4), z(5, 4), z(3, 5, dtype=ember.int64))
    with pytest.raises(TypeError, match="float64"):
        F.scaled_dot_product_attention(z(3, 4), z(5, 4), z(5, 4), z(3, 5, dtype=ember.float64))
    with pytest.raises(ValueError, match=r"\(7, 2, 3, 5\) does not broadcast"):
        F.scaled_dot_product_attention(z(2, 3, 4), z(2, 5, 4), z(2, 5, 4), z(7, 2, 3, 5))
    with pytest.raises(ValueError, match="must divide the number of query heads"):
        F.scaled_dot_product_attention(z(1, 4, 3, 4), z(1, 3, 5, 4), z(1, 3, 5, 4), enable_gqa=True)
    with pytest.raises(IndexError, match="heads dim"):
        F.scaled_dot_product_attention(z(3, 4), z(5, 4), z(5, 4), enable_gqa=True)
    with pytest.raises(ValueError):   # heads differ and GQA is off: they do not broadcast
        F.scaled_dot_product_attention(z(1, 4, 3, 4), z(1, 2, 5, 4), z(1, 2, 5, 4))
    with pytest.raises(TypeError):
        F.scaled_dot_product_attention(z(3, 4), z(5, 4, dtype=ember.float64), z(5, 4))


# -- the Transformer modules ----------------------------------------------------------------------------

def _gelu_tanh(e_or_t):
    return (TF if isinstance(e_or_t, torch.Tensor) else F).gelu(e_or_t, approximate="tanh")


ACTIVATIONS = {"relu": "relu", "gelu": "gelu", "callable": _gelu_tanh}


def _load_from_torch(em, tm, dtype):
    em.to(getattr(ember, dtype))
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return em.eval(), tm.eval()


def _pair(cls, dtype, *args, **kw):
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # torch's notes about nested tensors
        tm = getattr(torch.nn, cls)(*args, **kw).to(getattr(torch, dtype))
    return _load_from_torch(getattr(nn, cls)(*args, **kw), tm, dtype)


def _masks(rng, L, S, N, kind, dtype, causal=False):
    """An attention mask (L, S) and a key padding mask (N, S) for ember and torch, bool or float (-inf)."""
    am = np.triu(np.ones((L, S), bool), 1) if causal else rng.random((L, S)) > 0.6
    am[:, 0] = False
    kpm = rng.random((N, S)) > 0.7
    kpm[:, 0] = False
    if kind == "float":
        am, kpm = np.where(am, -np.inf, 0.0), np.where(kpm, -np.inf, 0.0)
    return both(am, dtype), both(kpm, dtype)


def _check_grads(em, tm, e_in, t_in, eo, to, dtype, rng):
    g = rng.standard_normal(tuple(to.shape))
    eo.backward(both(g, dtype)[0]), to.backward(both(g, dtype)[1])
    tol = 20 * TOL[dtype]
    for a, b in zip(e_in, t_in):
        close(a.grad, b.grad, tol, "input grad")
    ep = dict(em.named_parameters())
    for name, p in tm.named_parameters():
        close(ep[name].grad, p.grad, tol, f"grad of {name}")


LAYER_COMBOS = list(itertools.product([False, True], [False, True], sorted(ACTIVATIONS), [True, False]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_first,norm_first,act,bias", LAYER_COMBOS)
def test_encoder_layer(batch_first, norm_first, act, bias, dtype):
    rng = np.random.default_rng(3)
    em, tm = _pair("TransformerEncoderLayer", dtype, 8, 2, dim_feedforward=12, dropout=0.1,
                   activation=ACTIVATIONS[act], batch_first=batch_first, norm_first=norm_first, bias=bias)
    L, N = 5, 3
    (ex, tx) = both(rng.standard_normal((N, L, 8) if batch_first else (L, N, 8)), dtype, grad=True)
    kind = "bool" if bias else "float"
    (eam, tam), (ekpm, tkpm) = _masks(rng, L, L, N, kind, dtype)
    eo = em(ex, src_mask=eam, src_key_padding_mask=ekpm)
    to = tm(tx, src_mask=tam, src_key_padding_mask=tkpm)
    close(eo, to, 10 * TOL[dtype], "output")
    _check_grads(em, tm, [ex], [tx], eo, to, dtype, rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_first,norm_first,act,bias", LAYER_COMBOS)
def test_decoder_layer(batch_first, norm_first, act, bias, dtype):
    rng = np.random.default_rng(4)
    em, tm = _pair("TransformerDecoderLayer", dtype, 8, 4, dim_feedforward=10, dropout=0.2,
                   activation=ACTIVATIONS[act], batch_first=batch_first, norm_first=norm_first, bias=bias)
    T, S, N = 4, 6, 2
    shape = (lambda n: (N, n, 8)) if batch_first else (lambda n: (n, N, 8))
    (ex, tx), (em_, tm_) = both(rng.standard_normal(shape(T)), dtype, True), both(rng.standard_normal(shape(S)),
                                                                                 dtype, True)
    kind = "float" if bias else "bool"
    (etm, ttm), (etk, ttk) = _masks(rng, T, T, N, kind, dtype, causal=True)
    (emm, tmm), (emk, tmk) = _masks(rng, T, S, N, kind, dtype)
    eo = em(ex, em_, tgt_mask=etm, memory_mask=emm, tgt_key_padding_mask=etk, memory_key_padding_mask=emk,
            tgt_is_causal=True)
    to = tm(tx, tm_, tgt_mask=ttm, memory_mask=tmm, tgt_key_padding_mask=ttk, memory_key_padding_mask=tmk,
            tgt_is_causal=True)
    close(eo, to, 10 * TOL[dtype], "output")
    _check_grads(em, tm, [ex, em_], [tx, tm_], eo, to, dtype, rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_first,norm_first", [(False, False), (True, True), (True, False)])
def test_transformer(batch_first, norm_first, dtype):
    rng = np.random.default_rng(5)
    em, tm = _pair("Transformer", dtype, d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=2,
                   dim_feedforward=16, activation="gelu", batch_first=batch_first, norm_first=norm_first)
    S, T, N = 6, 5, 2
    shape = (lambda n: (N, n, 8)) if batch_first else (lambda n: (n, N, 8))
    (es, ts), (et, tt) = both(rng.standard_normal(shape(S)), dtype, True), both(rng.standard_normal(shape(T)),
                                                                               dtype, True)
    (esm, tsm), (esk, tsk) = _masks(rng, S, S, N, "bool", dtype)
    _, (emk, tmk) = _masks(rng, T, S, N, "bool", dtype)
    etm = nn.Transformer.generate_square_subsequent_mask(T, dtype=getattr(ember, dtype))
    ttm = torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=getattr(torch, dtype))
    close(etm, ttm, 0)
    kw = lambda src_mask, src_kpm, tgt_mask, mem_kpm: dict(  # noqa: E731
        src_mask=src_mask, src_key_padding_mask=src_kpm, tgt_mask=tgt_mask, memory_key_padding_mask=mem_kpm,
        tgt_is_causal=True)
    eo = em(es, et, **kw(esm, esk, etm, emk))
    to = tm(ts, tt, **kw(tsm, tsk, ttm, tmk))
    close(eo, to, 20 * TOL[dtype], "output")
    _check_grads(em, tm, [es, et], [ts, tt], eo, to, dtype, rng)


def test_transformer_unbatched_and_state_dict_to_torch():
    rng = np.random.default_rng(6)
    em = nn.Transformer(8, 2, 1, 2, 16, dropout=0.0, norm_first=True, bias=False).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm = torch.nn.Transformer(8, 2, 1, 2, 16, dropout=0.0, norm_first=True, bias=False).eval()
    sd = em.state_dict()
    assert list(sd) == list(tm.state_dict())
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in sd.items()})   # Ember -> torch
    (es, ts), (et, tt) = both(rng.standard_normal((5, 8)), "float32"), both(rng.standard_normal((3, 8)), "float32")
    with torch.no_grad():
        close(em(es, et), tm(ts, tt), 1e-4)


def test_encoder_stack_clones_and_options():
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0)
    enc = nn.TransformerEncoder(layer, 3, norm=nn.LayerNorm(8), enable_nested_tensor=False)
    assert enc.num_layers == 3 and len(enc.layers) == 3
    a, b = enc.layers[0].self_attn.in_proj_weight, enc.layers[1].self_attn.in_proj_weight
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())   # copies of one layer, as PyTorch
    assert a is not b and a is not layer.self_attn.in_proj_weight
    with ember.no_grad():
        a.mul_(2.0)
    assert not np.allclose(a.detach().numpy(), b.detach().numpy())
    assert len(list(enc.parameters())) == 3 * len(list(layer.parameters())) + 2
    assert nn.TransformerEncoderLayer(8, 2, activation="gelu").activation_relu_or_gelu == 2
    assert nn.TransformerEncoderLayer(8, 2, activation=nn.ReLU()).activation_relu_or_gelu == 1


def test_encoder_is_causal_hint_with_its_mask():
    rng = np.random.default_rng(9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0, batch_first=True),
                                         2).double()
    em = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0, batch_first=True), 2)
    em, tm = _load_from_torch(em, tm, "float64")
    ex, tx = both(rng.standard_normal((2, 5, 8)), "float64", True)
    mask_e = nn.Transformer.generate_square_subsequent_mask(5, dtype=ember.float64)
    mask_t = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
    close(em(ex, mask=mask_e, is_causal=True), tm(tx, mask=mask_t, is_causal=True), 1e-10)


def test_transformer_errors():
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")
    with pytest.raises(ValueError, match="divisible"):
        nn.TransformerDecoderLayer(8, 3)
    t = nn.Transformer(8, 2, 1, 1, 16)
    with pytest.raises(ValueError, match="batch number"):
        t(ember.zeros(4, 2, 8), ember.zeros(3, 3, 8))
    with pytest.raises(ValueError, match="d_model=8"):
        t(ember.zeros(4, 2, 8), ember.zeros(3, 2, 6))


def test_on_the_npy_device():
    """An encoder-decoder step with GQA attention on a device that has only the required prims."""
    sys.path.insert(0, HERE)
    from fixture_plugins import load
    load("npy")
    rng = np.random.default_rng(10)
    em, tm = _pair("Transformer", "float32", 8, 2, 1, 1, 12, batch_first=True)
    em.to("npy")
    (es, ts), (et, tt) = both(rng.standard_normal((2, 5, 8)), "float32", True), both(rng.standard_normal((2, 4, 8)),
                                                                                      "float32", True)
    es, et = es.detach().to("npy").requires_grad_(), et.detach().to("npy").requires_grad_()
    mask = nn.Transformer.generate_square_subsequent_mask(4, device="npy")
    eo = em(es, et, tgt_mask=mask)
    to = tm(ts, tt, tgt_mask=torch.nn.Transformer.generate_square_subsequent_mask(4))
    assert eo.device.type == "npy"
    close(eo, to, 1e-4, "output on npy")
    eo.sum().backward(), to.sum().backward()
    close(es.grad, ts.grad, 1e-4, "grad of src on npy")
    close(dict(em.named_parameters())["decoder.layers.0.linear1.weight"].grad,
          tm.decoder.layers[0].linear1.weight.grad, 1e-4, "grad of a weight on npy")
    q, k = both(rng.standard_normal((1, 4, 3, 4)), "float32", True), both(rng.standard_normal((1, 2, 6, 4)),
                                                                       "float32", True)
    mask = both(_bool_mask(rng, (3, 6)), "float32")
    eo = F.scaled_dot_product_attention(q[0].detach().to("npy"), k[0].to("npy"), k[0].to("npy"),
                                        mask[0].to("npy"), enable_gqa=True)
    to = TF.scaled_dot_product_attention(q[1], k[1], k[1], mask[1], enable_gqa=True)
    assert eo.device.type == "npy"
    close(eo, to, 1e-5, "sdpa on npy")


def test_gpt_example_trains():
    """examples/gpt.py runs from the command line and its loss falls within a few steps."""
    script = os.path.join(HERE, "..", "examples", "gpt.py")
    out = subprocess.run([sys.executable, script, "--steps", "25", "--log-every", "5", "--sample", "20"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    losses = [float(x) for x in re.findall(r"loss (\d+\.\d+)", out.stdout)]
    assert len(losses) >= 4, out.stdout
    assert losses[-1] < losses[0] - 0.5, out.stdout
    assert "--- sample ---\nThe keeper" in out.stdout
