"""ember.nn's recurrent layers and ember.nn.utils.rnn against torch: outputs, final states and gradients of
the input, the initial state and every parameter, over the option combinations, packed and padded."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import zlib

import numpy as np
import pytest

import ember
import ember.nn as nn
from ember.nn.utils import rnn as ernn

torch = pytest.importorskip("torch")
trnn = torch.nn.utils.rnn
# torch's own LSTM says it skips oneDNN for projections; nothing of Ember's
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections:UserWarning")

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")
TOL = {"float32": 2e-5, "float64": 1e-10}
# name -> (class name, extra constructor kwargs)
MODES = {"RNN_tanh": ("RNN", {}), "RNN_relu": ("RNN", {"nonlinearity": "relu"}), "LSTM": ("LSTM", {}),
         "LSTM_proj": ("LSTM", {"proj_size": 2}), "GRU": ("GRU", {})}


def pair(cls, dtype, *args, **kw):
    """A torch module and an ember module of the same class with the torch one's weights."""
    t = getattr(torch.nn, cls)(*args, **kw).to(getattr(torch, dtype))
    e = getattr(nn, cls)(*args, **kw).to(getattr(ember, dtype))
    e.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    return t, e


def both(a, grad=True):
    """The same data as a torch and an ember leaf tensor."""
    t = torch.tensor(a, requires_grad=grad and a.dtype.kind == "f")
    e = ember.tensor(a)
    return t, (e.requires_grad_() if grad and a.dtype.kind == "f" else e)


def close(e, t, tol, what=""):
    e = e.detach().numpy() if hasattr(e, "detach") else np.asarray(e)
    t = t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)
    assert e.shape == t.shape, f"{what}: shape {e.shape} != {t.shape}"
    np.testing.assert_allclose(e, t, rtol=tol, atol=tol, err_msg=what)


def states(h):
    return list(h) if isinstance(h, tuple) else [h]


def loss_of(out, finals, weights, lib):
    """A loss that weighs every output and final-state element differently, so every gradient is checked."""
    total = (out * weights[0]).sum()
    for s, w in zip(finals, weights[1:]):
        total = total + (s * w).sum()
    return total


def check_grads(t, e, leaves, tol):
    for (tl, el), name in zip(leaves, itertools.count()):
        close(el.grad, tl.grad, tol, f"grad of input {name}")
    ep = dict(e.named_parameters())
    for name, p in t.named_parameters():
        close(ep[name].grad, p.grad, tol, f"grad of {name}")


def run_both(t, e, x, hx, rng, dtype):
    """Forward and backward on both; returns the leaves (input, initial states) as (torch, ember) pairs."""
    xt, xe = both(x)
    leaves = [(xt, xe)]
    ht = he = None
    if hx is not None:
        pairs = [both(h) for h in hx]
        leaves += pairs
        ht = tuple(p[0] for p in pairs) if len(pairs) == 2 else pairs[0][0]
        he = tuple(p[1] for p in pairs) if len(pairs) == 2 else pairs[0][1]
    ot, hnt = t(xt, ht)
    oe, hne = e(xe, he)
    tol = TOL[dtype]
    close(oe, ot, tol, "output")
    for a, b in zip(states(hne), states(hnt)):
        close(a, b, tol, "final state")
    ws = [rng.standard_normal(tuple(ot.shape))] + [rng.standard_normal(tuple(s.shape)) for s in states(hnt)]
    loss_of(ot, states(hnt), [torch.tensor(w, dtype=ot.dtype) for w in ws], torch).backward()
    loss_of(oe, states(hne), [ember.tensor(w.astype(dtype)) for w in ws], ember).backward()
    check_grads(t, e, leaves, tol * 10)
    return leaves


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("layers,bidirectional,batch_first,bias,with_hx",
                         [c for c in itertools.product([1, 2], [False, True], [False, True], [True, False],
                                                       [False, True])])
def test_layer_matches_torch(mode, dtype, layers, bidirectional, batch_first, bias, with_hx):
    cls, kw = MODES[mode]
    rng = np.random.default_rng(zlib.crc32(repr((mode, layers, bidirectional, batch_first, bias, with_hx)).encode()))
    t, e = pair(cls, dtype, 3, 4, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first,
                bias=bias, **kw)
    T, B = 5, 2
    x = rng.standard_normal((B, T, 3) if batch_first else (T, B, 3)).astype(dtype)
    hx = None
    if with_hx:
        rows = layers * (2 if bidirectional else 1)
        hx = [rng.standard_normal((rows, B, kw.get("proj_size") or 4)).astype(dtype)]
        if cls == "LSTM":
            hx.append(rng.standard_normal((rows, B, 4)).astype(dtype))
    run_both(t, e, x, hx, rng, dtype)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("with_hx", [False, True])
def test_unbatched_input(mode, with_hx):
    cls, kw = MODES[mode]
    rng = np.random.default_rng(1)
    t, e = pair(cls, "float64", 3, 4, num_layers=2, bidirectional=True, **kw)
    hx = None
    if with_hx:
        hx = [rng.standard_normal((4, kw.get("proj_size") or 4))] + ([rng.standard_normal((4, 4))]
                                                                      if cls == "LSTM" else [])
    run_both(t, e, rng.standard_normal((6, 3)), hx, rng, "float64")


@pytest.mark.parametrize("mode", list(MODES))
def test_dropout_between_layers(mode):
    cls, kw = MODES[mode]
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3, 3))
    t, e = pair(cls, "float64", 3, 4, num_layers=3, dropout=1.0, **kw)   # p=1: deterministic, zeros between layers
    run_both(t.train(), e.train(), x, None, rng, "float64")
    t, e = pair(cls, "float64", 3, 4, num_layers=2, dropout=0.5, **kw)
    run_both(t.eval(), e.eval(), x, None, rng, "float64")                 # no dropout in eval mode
    e.train()
    xe = ember.tensor(x)
    ember.manual_seed(0)
    a = e(xe)[0]
    ember.manual_seed(0)
    b = e(xe)[0]
    close(a, b.detach().numpy(), 0)
    assert not np.allclose(a.detach().numpy(), e.eval()(xe)[0].detach().numpy())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("bidirectional,with_hx", [(False, False), (True, False), (True, True)])
def test_packed_unsorted_lengths(mode, dtype, bidirectional, with_hx):
    cls, kw = MODES[mode]
    rng = np.random.default_rng(3)
    lengths = [3, 6, 1, 4, 6]
    t, e = pair(cls, dtype, 3, 4, num_layers=2, bidirectional=bidirectional, **kw)
    seqs = [both(rng.standard_normal((n, 3)).astype(dtype)) for n in lengths]
    pt = trnn.pack_sequence([s[0] for s in seqs], enforce_sorted=False)
    pe = ernn.pack_sequence([s[1] for s in seqs], enforce_sorted=False)
    for f in ("data", "batch_sizes", "sorted_indices", "unsorted_indices"):
        close(getattr(pe, f), getattr(pt, f), 0, f)
    rows = 2 * (2 if bidirectional else 1)
    hx = [both(rng.standard_normal((rows, 5, kw.get("proj_size") or 4)).astype(dtype))] if with_hx else []
    if with_hx and cls == "LSTM":
        hx.append(both(rng.standard_normal((rows, 5, 4)).astype(dtype)))
    pick = (lambda k: None if not hx else (tuple(h[k] for h in hx) if len(hx) == 2 else hx[0][k]))
    ot, hnt = t(pt, pick(0))
    oe, hne = e(pe, pick(1))
    assert isinstance(oe, ernn.PackedSequence)
    close(oe.batch_sizes, ot.batch_sizes, 0, "batch_sizes")
    tol = TOL[dtype]
    for a, b in zip(states(hne), states(hnt)):
        close(a, b, tol, "final state")
    padded_t, lt = trnn.pad_packed_sequence(ot, batch_first=True, padding_value=-1.0, total_length=7)
    padded_e, le = ernn.pad_packed_sequence(oe, batch_first=True, padding_value=-1.0, total_length=7)
    close(padded_e, padded_t, tol, "padded output")
    close(le, lt, 0, "lengths")
    ws = [rng.standard_normal(tuple(padded_t.shape))] + [rng.standard_normal(tuple(s.shape)) for s in states(hnt)]
    loss_of(padded_t, states(hnt), [torch.tensor(w, dtype=padded_t.dtype) for w in ws], torch).backward()
    loss_of(padded_e, states(hne), [ember.tensor(w.astype(dtype)) for w in ws], ember).backward()
    check_grads(t, e, seqs + hx, tol * 10)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_pad_sequence_and_pack_padded(batch_first, padding_side):
    rng = np.random.default_rng(4)
    seqs = [both(rng.standard_normal((n, 2, 3))) for n in (2, 5, 3)]
    pt = trnn.pad_sequence([s[0] for s in seqs], batch_first=batch_first, padding_value=0.5,
                           padding_side=padding_side)
    pe = ernn.pad_sequence([s[1] for s in seqs], batch_first=batch_first, padding_value=0.5,
                           padding_side=padding_side)
    close(pe, pt, 0, "pad_sequence")
    w = rng.standard_normal(tuple(pt.shape))
    (pt * torch.tensor(w)).sum().backward()
    (pe * ember.tensor(w)).sum().backward()
    for st, se in seqs:
        close(se.grad, st.grad, 1e-12, "pad_sequence grad")
    if padding_side == "right":
        kt = trnn.pack_padded_sequence(pt, torch.tensor([2, 5, 3]), batch_first=batch_first, enforce_sorted=False)
        ke = ernn.pack_padded_sequence(pe, ember.tensor([2, 5, 3]), batch_first=batch_first, enforce_sorted=False)
        close(ke.data, kt.data, 0, "packed data")
        for a, b in zip(ernn.unpack_sequence(ke), trnn.unpack_sequence(kt)):
            close(a, b, 0, "unpack_sequence")
        lens = torch.tensor([2, 5, 3])
        for a, b in zip(ernn.unpad_sequence(pe, [2, 5, 3], batch_first), trnn.unpad_sequence(pt, lens, batch_first)):
            close(a, b, 0, "unpad_sequence")


def test_pack_sorted_and_round_trip():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 3, 2)).astype("float32")
    kt = trnn.pack_padded_sequence(torch.tensor(x), [4, 2, 1])
    ke = ernn.pack_padded_sequence(ember.tensor(x), [4, 2, 1])
    assert ke.sorted_indices is None and ke.unsorted_indices is None
    close(ke.data, kt.data, 0, "data")
    close(ke.batch_sizes, kt.batch_sizes, 0, "batch_sizes")
    assert ke.batch_sizes.device.type == "cpu" and ke.batch_sizes.dtype == ember.int64
    padded, lengths = ernn.pad_packed_sequence(ke)
    close(padded, trnn.pad_packed_sequence(kt)[0], 0, "padded")
    assert lengths.tolist() == [4, 2, 1]
    assert ke.double().data.dtype == ember.float64 and ke.to(ember.float64).batch_sizes is ke.batch_sizes


@pytest.mark.parametrize("call,err,match", [
    (lambda: ernn.pack_padded_sequence(ember.zeros(3, 2, 1), [1, 2]), RuntimeError, "sorted in decreasing"),
    (lambda: ernn.pack_padded_sequence(ember.zeros(3, 2, 1), [0, 2], enforce_sorted=False), ValueError,
     "greater than 0"),
    (lambda: ernn.pack_padded_sequence(ember.zeros(3, 2, 1), [3, 2, 1]), RuntimeError, "batch_size=2"),
    (lambda: ernn.pack_padded_sequence(ember.zeros(3, 2, 1), [4, 2]), ValueError, "4 is more than the 3"),
    (lambda: ernn.pad_sequence([ember.zeros(2)], padding_side="x"), ValueError, "left or right, but got x"),
    (lambda: ernn.pad_sequence([ember.zeros(2, 3), ember.zeros(2, 4)]), ValueError, r"sequence 1 has shape"),
    (lambda: ernn.pad_packed_sequence(ernn.pack_sequence([ember.zeros(3, 1)]), total_length=2), ValueError,
     "total_length=2 and max sequence length being 3"),
])
def test_sequence_utils_errors(call, err, match):
    with pytest.raises(err, match=match):
        call()


@pytest.mark.parametrize("name,kw", [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu", "bias": False}),
                                     ("LSTMCell", {}), ("LSTMCell", {"bias": False}), ("GRUCell", {}),
                                     ("GRUCell", {"bias": False})])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batched,with_hx", [(True, False), (True, True), (False, True), (False, False)])
def test_cells_match_torch(name, kw, dtype, batched, with_hx):
    rng = np.random.default_rng(6)
    t, e = pair(name, dtype, 3, 4, **kw)
    lead = (2,) if batched else ()
    hx = None
    if with_hx:
        hx = [rng.standard_normal(lead + (4,)).astype(dtype) for _ in range(2 if name == "LSTMCell" else 1)]
    x = rng.standard_normal(lead + (3,)).astype(dtype)
    pairs = [both(x)] + [both(h) for h in hx or []]
    pack = (lambda k: None if hx is None else (tuple(p[k] for p in pairs[1:]) if len(hx) == 2 else pairs[1][k]))
    ht, he = t(pairs[0][0], pack(0)), e(pairs[0][1], pack(1))
    tol = TOL[dtype]
    for a, b in zip(states(he), states(ht)):
        close(a, b, tol, "cell output")
    ws = [rng.standard_normal(tuple(s.shape)) for s in states(ht)]
    sum((s * torch.tensor(w, dtype=s.dtype)).sum() for s, w in zip(states(ht), ws)).backward()
    sum((s * ember.tensor(w.astype(dtype))).sum() for s, w in zip(states(he), ws)).backward()
    check_grads(t, e, pairs, tol * 10)


@pytest.mark.parametrize("cls,kw", [("LSTM", {"num_layers": 2, "bidirectional": True, "proj_size": 2}),
                                    ("GRU", {"bias": False}), ("RNN", {"nonlinearity": "relu"}),
                                    ("LSTMCell", {}), ("GRUCell", {}), ("RNNCell", {"nonlinearity": "relu"})])
def test_state_dict_both_ways_and_init(cls, kw):
    t = getattr(torch.nn, cls)(3, 4, **kw)
    e = getattr(nn, cls)(3, 4, **kw)
    assert list(e.state_dict()) == list(t.state_dict())
    assert [n for n, _ in e.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert repr(e) == repr(t)
    for name, p in e.named_parameters():   # PyTorch's init: uniform(-1/sqrt(hidden), 1/sqrt(hidden))
        a = p.detach().numpy()
        assert tuple(a.shape) == tuple(t.state_dict()[name].shape)
        assert np.abs(a).max() <= 0.5 and a.std() > 0.1, name
    t.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in e.state_dict().items()})
    x = np.random.default_rng(7).standard_normal((5, 2, 3) if "Cell" not in cls else (2, 3)).astype("float32")
    for a, b in zip(states(e(ember.tensor(x))), states(t(torch.tensor(x)))):
        for u, v in zip(states(a), states(b)):
            close(u, v, 2e-5, "after loading ember's state dict into torch")
    if hasattr(e, "flatten_parameters"):
        assert e.flatten_parameters() is None and len(e.all_weights) == len(t.all_weights)


@pytest.mark.parametrize("call,err,match", [
    (lambda: nn.GRU(3, 4, proj_size=2), ValueError, "only supported for LSTM"),
    (lambda: nn.RNN(3, 4, proj_size=2), ValueError, "only supported for LSTM"),
    (lambda: nn.LSTM(3, 4, proj_size=4), ValueError, "proj_size has to be smaller than hidden_size"),
    (lambda: nn.LSTM(3, 4, proj_size=-1), ValueError, "positive integer or zero"),
    (lambda: nn.LSTM(3, 0), ValueError, "hidden_size must be greater than zero"),
    (lambda: nn.LSTM(3, 2, num_layers=0), ValueError, "num_layers must be greater than zero"),
    (lambda: nn.LSTM(3, 2, dropout=2), ValueError, r"range \[0, 1\]"),
    (lambda: nn.RNN(3, 2, nonlinearity="x"), ValueError, "Unknown nonlinearity 'x'"),
    (lambda: nn.LSTM(3, 4)(ember.zeros(2, 2, 2, 3)), ValueError, "Expected input to be 2D or 3D, got 4D"),
    (lambda: nn.LSTM(3, 4)(ember.zeros(2, 2, 5)), RuntimeError, "Expected 3, got 5"),
    (lambda: nn.LSTM(3, 4)(ember.zeros(2, 2, 3), (ember.zeros(1, 3, 4), ember.zeros(1, 2, 4))), RuntimeError,
     r"Expected hidden\[0\] size \(1, 2, 4\), got \[1, 3, 4\]"),
    (lambda: nn.LSTM(3, 4)(ember.zeros(2, 3), (ember.zeros(1, 3, 4), ember.zeros(1, 3, 4))), RuntimeError,
     "unbatched 2-D input, hx and cx should also be 2-D"),
    (lambda: nn.GRU(3, 4)(ember.zeros(2, 3, 3), ember.zeros(2, 3, 4)), RuntimeError,
     r"Expected hidden size \(1, 3, 4\), got \[2, 3, 4\]"),
    (lambda: nn.GRU(3, 4)(ember.zeros(2, 3, 3, dtype=ember.float64)), ValueError, "does not match weight dtype"),
    (lambda: nn.LSTMCell(3, 4)(ember.zeros(2, 2, 3)), ValueError, "Expected input to be 1D or 2D, got 3D"),
    (lambda: nn.LSTMCell(3, 4)(ember.zeros(2, 5)), RuntimeError, "inconsistent input_size: got 5 expected 3"),
    (lambda: nn.GRUCell(3, 4)(ember.zeros(2, 3), ember.zeros(3, 4)), RuntimeError,
     "Input batch size 2 doesn't match hidden0 batch size 3"),
    (lambda: nn.RNNCell(3, 4)(ember.zeros(2, 3), ember.zeros(2, 2)), RuntimeError,
     "hidden0 has inconsistent hidden_size: got 2, expected 4"),
    (lambda: nn.RNNCell(3, 4, nonlinearity="x"), ValueError, "Unknown nonlinearity"),
])
def test_errors_are_typed_and_say_what(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_dropout_with_one_layer_warns():
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        nn.LSTM(3, 4, dropout=0.5)


def test_on_the_npy_device():
    """Packed, bidirectional, two-layer LSTM with projections on a device with only the required prims."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__))))
    from fixture_plugins import load
    load("npy")
    rng = np.random.default_rng(8)
    t, e = pair("LSTM", "float32", 3, 4, num_layers=2, bidirectional=True, proj_size=2)
    e = e.to("npy")
    seqs = [rng.standard_normal((n, 3)).astype("float32") for n in (2, 4, 3)]
    st = [torch.tensor(s, requires_grad=True) for s in seqs]
    se = [ember.tensor(s).to("npy").requires_grad_() for s in seqs]
    ot, (ht, _) = t(trnn.pack_sequence(st, enforce_sorted=False))
    oe, (he, _) = e(ernn.pack_sequence(se, enforce_sorted=False))
    assert oe.data.device.type == "npy" and he.device.type == "npy"
    pt, pe = trnn.pad_packed_sequence(ot)[0], ernn.pad_packed_sequence(oe)[0]
    close(pe.to("cpu"), pt, 2e-5, "output on npy")
    close(he.to("cpu"), ht, 2e-5, "h_n on npy")
    (pt.sum() + ht.pow(2).sum()).backward()
    (pe.sum() + he.pow(2).sum()).backward()
    for a, b in zip(se, st):
        close(a.grad.to("cpu"), b.grad, 2e-4, "input grad on npy")
    ep = dict(e.named_parameters())
    for name, p in t.named_parameters():
        close(ep[name].grad.to("cpu"), p.grad, 2e-4, f"grad of {name} on npy")


def _losses(out):
    return [float(v) for v in re.findall(r"^step\s+\d+\s+loss\s+([0-9.]+)", out, re.M)]


@pytest.mark.parametrize("script", ["word_lm.py", "sequence_predictor.py"])
def test_examples_learn(script):
    r = subprocess.run([sys.executable, os.path.join(EXAMPLES, script), "--device", "cpu", "--steps", "30"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    losses = _losses(r.stdout)
    assert len(losses) >= 3, r.stdout
    assert losses[-1] < losses[0] * 0.9, r.stdout
