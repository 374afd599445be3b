"""Recurrent layers RNN, LSTM, GRU and their single-step cells, with PyTorch's parameter names and layouts.

Each layer and direction projects the inputs of all time steps with one matmul; only the recurrent
part (hidden state @ weight_hh.T and the gate arithmetic) runs step by step. Padded and packed
inputs share one path: a padded batch is a packed one whose batch size never shrinks.
"""

from __future__ import annotations

import math
import numbers
import warnings

from ...errors import DTypeError
from ...ops.creation import empty, zeros
from ...ops.elementwise import sigmoid, tanh
from ...ops.linalg import addmm
from ...ops.nn import relu
from ...ops.recurrent import lstm_cell
from ...ops.shape import cat, stack
from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter
from ..utils.rnn import PackedSequence, SequenceShapeError
from ...errors import ArgumentTypeError, InvalidArgumentError

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]


class RNNDTypeError(DTypeError, ValueError):
    """Input and weights of a recurrent layer with different dtypes (a ValueError too, as in PyTorch)."""


# -- one step of each recurrence: (input projection of this step, state) -> new state ---------------------
# ``xp`` already holds x @ weight_ih.T plus the biases that can be added outside the recurrence.

def _tanh_step(xp, state, w_hh_t, b_hh, w_hr_t):
    return (tanh(addmm(xp, state[0], w_hh_t)),)


def _relu_step(xp, state, w_hh_t, b_hh, w_hr_t):
    return (relu(addmm(xp, state[0], w_hh_t)),)


def _lstm_step(xp, state, w_hh_t, b_hh, w_hr_t):
    h, c = lstm_cell(addmm(xp, state[0], w_hh_t), state[1])   # one fused operator for the gate arithmetic
    return (h if w_hr_t is None else h.matmul(w_hr_t), c)


def _gru_step(xp, state, w_hh_t, b_hh, w_hr_t):
    h = state[0]
    gh = h.matmul(w_hh_t) if b_hh is None else addmm(b_hh, h, w_hh_t)   # b_hh stays inside r * (...)
    two = 2 * h.shape[1]
    x_rz, x_n = xp.split([two, xp.shape[1] - two], 1)
    h_rz, h_n = gh.split([two, gh.shape[1] - two], 1)
    r, z = sigmoid(x_rz + h_rz).chunk(2, 1)
    n = tanh(x_n + r * h_n)
    return (n + z * (h - n),)   # (1 - z) * n + z * h


_STEPS = {"RNN_TANH": _tanh_step, "RNN_RELU": _relu_step, "LSTM": _lstm_step, "GRU": _gru_step}
_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _scan(step, xps, batch_sizes, state0, w_hh_t, b_hh, w_hr_t, reverse):
    """Run ``step`` over the time steps (backwards when reverse), where step t has batch_sizes[t] rows.

    Sequences are sorted by decreasing length, so the running batch only shrinks forwards (a finished
    sequence's state is its final state) and only grows backwards (a sequence starts from its row of
    state0). Returns the per-step outputs in time order and the final states, one row per sequence."""
    T, outs = len(batch_sizes), [None] * len(batch_sizes)
    if not reverse:
        state, done = state0, []
        for t in range(T):
            bs, rows = batch_sizes[t], state[0].shape[0]
            if bs < rows:
                parts = [s.split([bs, rows - bs]) for s in state]
                done.append(tuple(p[1] for p in parts))
                state = tuple(p[0] for p in parts)
            state = step(xps[t], state, w_hh_t, b_hh, w_hr_t)
            outs[t] = state[0]
        if done:   # rows of sequences that stopped early come after the rows still running
            state = tuple(cat([s] + [d[k] for d in reversed(done)]) for k, s in enumerate(state))
        return outs, state
    last = batch_sizes[-1] if T else 0
    full_rows = state0[0].shape[0]
    state = state0 if last == full_rows else tuple(s.narrow(0, 0, last) for s in state0)
    for t in range(T - 1, -1, -1):
        bs, rows = batch_sizes[t], state[0].shape[0]
        if bs > rows:
            state = tuple(cat([s, s0.narrow(0, rows, bs - rows)]) for s, s0 in zip(state, state0))
        state = step(xps[t], state, w_hh_t, b_hh, w_hr_t)
        outs[t] = state[0]
    return outs, state


class RNNBase(Module):
    """What RNN, LSTM and GRU share: the stacked, optionally bidirectional layers and their weights,
    named as PyTorch names them (weight_ih_l{k}[_reverse], ..., weight_hr_l{k} with proj_size)."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise InvalidArgumentError("dropout should be a number in range [0, 1] representing the probability of an "
                                       f"element being zeroed, got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}", stacklevel=2)
        if not isinstance(hidden_size, int) or isinstance(hidden_size, bool):
            raise ArgumentTypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise InvalidArgumentError(f"hidden_size must be greater than zero, got {hidden_size}")
        if num_layers <= 0:
            raise InvalidArgumentError(f"num_layers must be greater than zero, got {num_layers}")
        if proj_size < 0:
            raise InvalidArgumentError(f"proj_size should be a positive integer or zero to disable projections, "
                                       f"got {proj_size}")
        if proj_size >= hidden_size:
            raise InvalidArgumentError(f"proj_size has to be smaller than hidden_size (got proj_size={proj_size}, "
                                       f"hidden_size={hidden_size})")
        if mode not in _STEPS:
            raise InvalidArgumentError(f"Unrecognized RNN mode: {mode!r}; expected one of {sorted(_STEPS)}")
        if proj_size and mode != "LSTM":
            raise InvalidArgumentError("proj_size argument is only supported for LSTM, not RNN or GRU")
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, proj_size
        gate_size, real_hidden = _GATES[mode] * hidden_size, proj_size or hidden_size
        num_directions = 2 if bidirectional else 1
        kw = {"device": device, "dtype": dtype}
        self._flat_weights_names, self._all_weights = [], []
        for layer in range(num_layers):
            for direction in range(num_directions):
                in_size = input_size if layer == 0 else real_hidden * num_directions
                shapes = [("weight_ih", (gate_size, in_size)), ("weight_hh", (gate_size, real_hidden))]
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if proj_size:
                    shapes.append(("weight_hr", (proj_size, hidden_size)))
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                names = [kind + suffix for kind, _ in shapes]
                for name, (_, shape) in zip(names, shapes):
                    setattr(self, name, Parameter(empty(shape, **kw)))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def flatten_parameters(self):
        """Kept for PyTorch programs (cuDNN packs its weights into one buffer); Ember has nothing to do."""

    @property
    def all_weights(self):
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    @property
    def _flat_weights(self):
        return [getattr(self, name) for name in self._flat_weights_names]

    def _layer_weights(self, layer, direction):
        suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
        get = (lambda kind: getattr(self, kind + suffix) if hasattr(self, kind + suffix) else None)
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"), get("weight_hr")

    def _state_shapes(self, batch):
        """The shapes of h_0 (and c_0 for LSTM) for a batch of that many sequences."""
        rows = self.num_layers * (2 if self.bidirectional else 1)
        h = (rows, batch, self.proj_size or self.hidden_size)
        return (h, (rows, batch, self.hidden_size)) if self.mode == "LSTM" else (h,)

    def _initial_state(self, hx, batch, unbatched, sorted_indices, like):
        shapes = self._state_shapes(batch)
        if hx is None:
            return tuple(zeros(*s, dtype=like.dtype, device=like.device) for s in shapes)
        lstm = self.mode == "LSTM"
        states = tuple(hx) if lstm else (hx,)
        if lstm and len(states) != 2:
            raise SequenceShapeError(f"LSTM: hx must be a tuple (h_0, c_0), got {len(states)} tensors")
        want = 2 if unbatched else 3
        if any(s.ndim != want for s in states):
            what = "hx and cx" if lstm else "hx"
            got = ", ".join(f"{s.ndim}-D" for s in states)
            raise SequenceShapeError(f"For {'unbatched 2-D' if unbatched else 'batched 3-D'} input, {what} should "
                                     f"also be {want}-D but got ({got}) tensor{'s' if lstm else ''}")
        if unbatched:
            states = tuple(s.unsqueeze(1) for s in states)
        for k, (s, shape) in enumerate(zip(states, shapes)):
            if tuple(s.shape) != shape:
                which = f"hidden[{k}]" if lstm else "hidden"
                raise SequenceShapeError(f"Expected {which} size {shape}, got {list(s.shape)}")
            if s.dtype != like.dtype:
                raise RNNDTypeError(f"{type(self).__name__}: hidden state dtype ({s.dtype}) does not match the "
                                    f"input dtype ({like.dtype}); convert it with .to({like.dtype})")
        if sorted_indices is not None:
            states = tuple(s.index_select(1, sorted_indices) for s in states)
        return states

    def _check_input(self, data):
        name = type(self).__name__
        if data.shape[-1] != self.input_size:
            raise SequenceShapeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                                     f"got {data.shape[-1]}")
        w = self.weight_ih_l0
        if data.dtype != w.dtype:
            raise RNNDTypeError(f"{name} input dtype ({data.dtype}) does not match weight dtype ({w.dtype}). "
                                f"Convert input: input.to({w.dtype}), or convert model: model.to({data.dtype})")

    def _recur(self, data, batch_sizes, states):
        """All layers and directions over packed data (rows of step t follow those of step t-1)."""
        step, gru = _STEPS[self.mode], self.mode == "GRU"
        num_directions = 2 if self.bidirectional else 1
        finals = [[] for _ in states]
        x = data
        for layer in range(self.num_layers):
            outs = []
            for direction in range(num_directions):
                w_ih, w_hh, b_ih, b_hh, w_hr = self._layer_weights(layer, direction)
                x_bias = b_ih if b_ih is None or gru else b_ih + b_hh
                xps = F.linear(x, w_ih, x_bias).split(batch_sizes)   # every step's input projection at once
                state0 = tuple(s[layer * num_directions + direction] for s in states)
                steps, final = _scan(step, xps, batch_sizes, state0, w_hh.t(), b_hh if gru else None,
                                     None if w_hr is None else w_hr.t(), direction == 1)
                outs.append(cat(steps) if steps else x.new_zeros((0, state0[0].shape[1])))
                for k, s in enumerate(final):
                    finals[k].append(s)
            x = outs[0] if num_directions == 1 else cat(outs, 1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        return x, tuple(stack(f) for f in finals)

    def forward(self, input, hx=None):
        name = type(self).__name__
        if isinstance(input, PackedSequence):
            data, sizes = input.data, [int(n) for n in input.batch_sizes.tolist()]
            if data.ndim != 2:
                raise SequenceShapeError(f"{name}: packed data must be 2-D (steps, input_size), got "
                                         f"shape {tuple(data.shape)}")
            self._check_input(data)
            states = self._initial_state(hx, sizes[0] if sizes else 0, False, input.sorted_indices, data)
            out, finals = self._recur(data, sizes, states)
            output = PackedSequence(out, input.batch_sizes, input.sorted_indices, input.unsorted_indices)
            if input.unsorted_indices is not None:
                finals = tuple(f.index_select(1, input.unsorted_indices) for f in finals)
        else:
            if input.ndim not in (2, 3):
                raise InvalidArgumentError(f"{name}: Expected input to be 2D or 3D, got {input.ndim}D instead")
            unbatched = input.ndim == 2
            x = input.unsqueeze(1) if unbatched else (input.transpose(0, 1) if self.batch_first else input)
            self._check_input(x)
            T, B = x.shape[0], x.shape[1]
            states = self._initial_state(hx, B, unbatched, None, x)
            out, finals = self._recur(x.reshape(T * B, x.shape[2]), [B] * T, states)
            output = out.reshape(T, B, out.shape[1])
            if unbatched:
                output, finals = output.squeeze(1), tuple(f.squeeze(1) for f in finals)
            elif self.batch_first:
                output = output.transpose(0, 1)
        return output, (finals if self.mode == "LSTM" else finals[0])

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


_RNN_ARGS = ("input_size", "hidden_size", "num_layers", "nonlinearity", "bias", "batch_first", "dropout",
             "bidirectional")


class RNN(RNNBase):
    """Elman RNN: h_t = nonlinearity(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), nonlinearity 'tanh' or 'relu'.

    Arguments as PyTorch's: (input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None)."""

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise InvalidArgumentError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > len(_RNN_ARGS):
            raise ArgumentTypeError(f"RNN() takes at most {len(_RNN_ARGS)} positional arguments, got {len(args)}")
        kwargs.update(zip(_RNN_ARGS, args))
        nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if nonlinearity not in ("tanh", "relu"):
            raise InvalidArgumentError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", **kwargs)


class LSTM(RNNBase):
    """Long short-term memory, gates in PyTorch's order (input, forget, cell, output); with proj_size > 0
    the hidden state is projected by weight_hr to proj_size features. hx and the final state are (h, c)."""

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """Gated recurrent unit, gates in PyTorch's order (reset, update, new); b_hn stays inside r * (...)."""

    def __init__(self, *args, **kwargs):
        super().__init__("GRU", *args, **kwargs)


class RNNCellBase(Module):
    """One time step of a recurrence, for loops written by hand: weight_ih, weight_hh, bias_ih, bias_hh."""

    _mode = "RNN_TANH"

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        kw = {"device": device, "dtype": dtype}
        self.weight_ih = Parameter(empty((num_chunks * hidden_size, input_size), **kw))
        self.weight_hh = Parameter(empty((num_chunks * hidden_size, hidden_size), **kw))
        if bias:
            self.bias_ih = Parameter(empty((num_chunks * hidden_size,), **kw))
            self.bias_hh = Parameter(empty((num_chunks * hidden_size,), **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _step(self, input, states):
        """Check the shapes, add a batch dim to unbatched input, run one step and drop the dim again."""
        name = type(self).__name__
        if input.ndim not in (1, 2):
            raise InvalidArgumentError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        if x.shape[1] != self.input_size:
            raise SequenceShapeError(f"input has inconsistent input_size: got {x.shape[1]} expected "
                                     f"{self.input_size}")
        if x.dtype != self.weight_ih.dtype:
            raise RNNDTypeError(f"{name} input dtype ({x.dtype}) does not match weight dtype "
                                f"({self.weight_ih.dtype}); convert the input or the model")
        if states is None:
            states = (zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device),) * \
                (2 if self._mode == "LSTM" else 1)
        else:
            for k, s in enumerate(states):
                if s.ndim not in (1, 2):
                    raise InvalidArgumentError(f"{name}: Expected hidden to be 1D or 2D, got {s.ndim}D instead")
                if (s.ndim == 2) != batched:
                    raise SequenceShapeError(f"{name}: input is {input.ndim}-D but hidden state {k} is {s.ndim}-D; "
                                             f"give both a batch dimension or neither")
            states = states if batched else tuple(s.unsqueeze(0) for s in states)
            for k, s in enumerate(states):
                if s.shape[0] != x.shape[0]:
                    raise SequenceShapeError(f"Input batch size {x.shape[0]} doesn't match hidden{k} batch size "
                                             f"{s.shape[0]}")
                if s.shape[1] != self.hidden_size:
                    raise SequenceShapeError(f"hidden{k} has inconsistent hidden_size: got {s.shape[1]}, expected "
                                             f"{self.hidden_size}")
        gru = self._mode == "GRU"
        b = self.bias_ih if self.bias_ih is None or gru else self.bias_ih + self.bias_hh
        out = _STEPS[self._mode](F.linear(x, self.weight_ih, b), states, self.weight_hh.t(),
                                 self.bias_hh if gru else None, None)
        return out if batched else tuple(s.squeeze(0) for s in out)


class RNNCell(RNNCellBase):
    """h' = nonlinearity(x W_ih^T + b_ih + h W_hh^T + b_hh), nonlinearity 'tanh' or 'relu'."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise InvalidArgumentError(f"Unknown nonlinearity: {nonlinearity}. Select from 'tanh' or 'relu'.")
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity
        self._mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"

    def forward(self, input, hx=None):
        return self._step(input, None if hx is None else (hx,))[0]


class LSTMCell(RNNCellBase):
    """One LSTM step: returns (h', c'); hx is (h, c) or None for zeros."""

    _mode = "LSTM"

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        return self._step(input, None if hx is None else tuple(hx))


class GRUCell(RNNCellBase):
    """One GRU step: returns h'."""

    _mode = "GRU"

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        return self._step(input, None if hx is None else (hx,))[0]
