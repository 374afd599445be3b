"""Variable-length sequences for the recurrent layers: padding, and PyTorch's packed layout.

A PackedSequence holds a batch of sequences sorted by length, time-major, with the padding left out:
``data`` is (sum of lengths, *) and ``batch_sizes[t]`` says how many sequences are still running at
step t. Packing and unpacking are one gather each (index_select), so they run on any device and
autograd carries gradients through them.
"""

from __future__ import annotations

from typing import NamedTuple

from ... import dtypes as D
from ...errors import ShapeError
from ..._factory import tensor
from ...ops.creation import full
from ...ops.shape import cat
from ...errors import InvalidArgumentError

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence",
           "pad_sequence", "unpad_sequence", "pack_sequence", "unpack_sequence"]


class SequenceShapeError(ShapeError, RuntimeError):
    """Lengths or shapes of sequences that do not fit together (a RuntimeError too, as in PyTorch)."""


class _PackedSequence(NamedTuple):
    data: object
    batch_sizes: object
    sorted_indices: object
    unsorted_indices: object


class PackedSequence(_PackedSequence):
    """Sequences of several lengths in one tensor: see the module docstring. Build one with
    pack_padded_sequence or pack_sequence rather than by hand."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:    # PyTorch also accepts (data, batch_sizes) as the first argument
            data, batch_sizes = data
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        """The data moved or cast as ``Tensor.to``; indices follow the data's device, batch_sizes stay on the cpu."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        move = (lambda t: None if t is None else t.to(data.device))
        return type(self)(data, self.batch_sizes, move(self.sorted_indices), move(self.unsorted_indices))

    def cpu(self):
        return self.to("cpu")

    def double(self):
        return self.to(D.float64)

    def float(self):
        return self.to(D.float32)

    def half(self):
        return self.to(D.float16)

    def long(self):
        return self.to(D.int64)

    def int(self):
        return self.to(D.int32)

    @property
    def is_cuda(self):
        return self.data.device.type == "cuda"


def invert_permutation(permutation):
    """The permutation that undoes ``permutation`` (None stays None)."""
    if permutation is None:
        return None
    p = permutation.tolist()
    inv = [0] * len(p)
    for i, j in enumerate(p):
        inv[j] = i
    return tensor(inv, dtype=D.int64, device=permutation.device)


def _lengths_list(lengths):
    if hasattr(lengths, "tolist"):
        if lengths.ndim != 1:
            raise SequenceShapeError(f"lengths must be a 1-D tensor or a list of ints, got shape "
                                     f"{tuple(lengths.shape)}")
        return [int(n) for n in lengths.tolist()]
    return [int(n) for n in lengths]


def _index(rows, device):
    return tensor(rows, dtype=D.int64, device=device)


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch (T, B, *) (or (B, T, *) with batch_first) whose sequence b has lengths[b] steps.

    With enforce_sorted=False the batch is sorted by decreasing length first and the order is kept in
    ``sorted_indices`` so that pad_packed_sequence and the recurrent layers can restore it."""
    lengths = _lengths_list(lengths)
    bdim, tdim = (0, 1) if batch_first else (1, 0)
    if input.ndim < 2:
        raise SequenceShapeError(f"pack_padded_sequence(): input must have a time and a batch dimension, got "
                                 f"shape {tuple(input.shape)}")
    T, B = input.shape[tdim], input.shape[bdim]
    if len(lengths) != B:
        raise SequenceShapeError(f"Expected `len(lengths)` to be equal to batch_size, but got {len(lengths)} "
                                 f"(batch_size={B})")
    if enforce_sorted:
        if any(a < b for a, b in zip(lengths, lengths[1:])):
            raise SequenceShapeError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You can pass "
                "`enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to sidestep this "
                "requirement if you do not need ONNX exportability.")
        order, sorted_indices = list(range(B)), None
    else:
        order = sorted(range(B), key=lambda b: -lengths[b])    # stable: equal lengths keep their order
        sorted_indices = _index(order, input.device)
    if B and min(lengths) <= 0:
        raise SequenceShapeError("Length of all samples has to be greater than 0, but found an element in "
                                 f"'lengths' that is <= 0 (lengths={lengths})")
    if B and max(lengths) > T:
        raise SequenceShapeError(f"pack_padded_sequence(): a length of {max(lengths)} is more than the "
                                 f"{T} time steps of the input (shape {tuple(input.shape)})")
    sorted_lengths = [lengths[b] for b in order]
    steps = sorted_lengths[0] if B else 0
    batch_sizes = [sum(1 for n in sorted_lengths if n > t) for t in range(steps)]
    # row of (t, b) in the input flattened to (T*B, *) or (B*T, *): one gather packs everything
    if batch_first:
        rows = [order[k] * T + t for t in range(steps) for k in range(batch_sizes[t])]
        flat = input.reshape((B * T,) + tuple(input.shape[2:]))
    else:
        rows = [t * B + order[k] for t in range(steps) for k in range(batch_sizes[t])]
        flat = input.reshape((T * B,) + tuple(input.shape[2:]))
    data = flat.index_select(0, _index(rows, input.device))
    return PackedSequence(data, tensor(batch_sizes, dtype=D.int64), sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Undo pack_padded_sequence: (padded (T, B, *) or (B, T, *), lengths as a cpu int64 tensor), in the
    batch's original order. total_length pads to that many steps (for DataParallel-style splitting)."""
    data, batch_sizes = sequence.data, [int(n) for n in sequence.batch_sizes.tolist()]
    steps, B = len(batch_sizes), (batch_sizes[0] if batch_sizes else 0)
    if total_length is not None:
        if total_length < steps:
            raise InvalidArgumentError("Expected total_length to be at least the length of the longest sequence in input, "
                                       f"but got total_length={total_length} and max sequence length being {steps}")
        T = total_length
    else:
        T = steps
    lengths = [sum(1 for n in batch_sizes if n > k) for k in range(B)]   # sorted order
    unsorted = list(range(B)) if sequence.unsorted_indices is None else sequence.unsorted_indices.tolist()
    starts = [0] * steps
    for t in range(1, steps):
        starts[t] = starts[t - 1] + batch_sizes[t - 1]
    pad_row = data.shape[0]
    rows = []
    for t in range(T):
        for b in range(B):
            k = unsorted[b]     # original sequence b sits at position k of the sorted batch
            rows.append(starts[t] + k if t < steps and k < batch_sizes[t] else pad_row)
    if batch_first:
        rows = [rows[t * B + b] for b in range(B) for t in range(T)]
    src = cat([data, full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype, device=data.device)])
    out = src.index_select(0, _index(rows, data.device))
    shape = (B, T) if batch_first else (T, B)
    return out.reshape(shape + tuple(data.shape[1:])), tensor([lengths[k] for k in unsorted], dtype=D.int64)


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors of shapes (L_i, *) into (max L, B, *) (or (B, max L, *) with batch_first), filling
    the rest with padding_value after each sequence (padding_side="right") or before it ("left")."""
    if padding_side not in ("left", "right"):
        raise InvalidArgumentError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    sequences = list(sequences) if not hasattr(sequences, "unbind") else list(sequences.unbind(0))
    if not sequences:
        raise InvalidArgumentError("pad_sequence(): received an empty list of sequences")
    trail = tuple(sequences[0].shape[1:])
    for i, s in enumerate(sequences):
        if tuple(s.shape[1:]) != trail:
            raise SequenceShapeError(f"pad_sequence(): sequence {i} has shape {tuple(s.shape)}, but every sequence "
                                     f"must end in the shape {trail} of sequence 0")
    lens = [s.shape[0] for s in sequences]
    B, T = len(sequences), max(lens)
    first = sequences[0]
    starts, total = [], 0
    for n in lens:
        starts.append(total)
        total += n
    pad_row = total
    rows = []
    for t in range(T):
        for b in range(B):
            k = t if padding_side == "right" else t - (T - lens[b])
            rows.append(starts[b] + k if 0 <= k < lens[b] else pad_row)
    if batch_first:
        rows = [rows[t * B + b] for b in range(B) for t in range(T)]
    src = cat(sequences + [full((1,) + trail, padding_value, dtype=first.dtype, device=first.device)])
    out = src.index_select(0, _index(rows, first.device))
    return out.reshape(((B, T) if batch_first else (T, B)) + trail)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences pad_sequence stacked, each cut to its length."""
    lengths = _lengths_list(lengths)
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [x[b, :n] for b, n in enumerate(lengths)]


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of tensors (L_i, *): pad_sequence then pack_padded_sequence."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The list of tensors pack_sequence packed, in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
