"""ember.utils.data: Dataset, TensorDataset, Subset, DataLoader, random_split (as torch.utils.data)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from .._tensor import Tensor
from ..errors import ShapeError
from ..nn import _random

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "DataLoader", "random_split", "default_collate"]


class Dataset:
    """A map-style dataset: ``__getitem__(i)`` and ``__len__``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Samples are the i-th rows of tensors that share their first dim."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        n = tensors[0].shape[0] if tensors[0].ndim else None
        for i, t in enumerate(tensors):
            if not isinstance(t, Tensor):
                raise TypeError(f"TensorDataset: argument {i} is a {type(t).__name__}, not a Tensor")
            if t.ndim == 0 or t.shape[0] != n:
                raise ShapeError(f"TensorDataset: all tensors must have the same size in dim 0, got shapes "
                                 f"{[tuple(x.shape) for x in tensors]}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class Subset(Dataset):
    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, list(indices)

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    def __init__(self, datasets):
        self.datasets = list(datasets)
        self.cumulative = []
        n = 0
        for d in self.datasets:
            n += len(d)
            self.cumulative.append(n)

    def __len__(self):
        return self.cumulative[-1] if self.cumulative else 0

    def __getitem__(self, idx):
        if idx < 0:
            idx += len(self)
        if not 0 <= idx < len(self):
            raise IndexError(f"index {idx} is out of range for a dataset of {len(self)} samples")
        start = 0
        for d, end in zip(self.datasets, self.cumulative):
            if idx < end:
                return d[idx - start]
            start = end


def default_collate(batch):
    """Stack tensors, turn numbers into tensors, and recurse into tuples, lists and dicts."""
    import ember
    first = batch[0]
    if isinstance(first, Tensor):
        return ember.stack(list(batch), 0)
    if isinstance(first, bool):
        return ember.tensor(list(batch), dtype=ember.bool)
    if isinstance(first, int):
        return ember.tensor(list(batch), dtype=ember.int64)
    if isinstance(first, float):
        return ember.tensor(list(batch), dtype=ember.float64)
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, Mapping):
        return {k: default_collate([b[k] for b in batch]) for k in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):
        return type(first)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(first, Sequence):
        n = len(first)
        if any(len(b) != n for b in batch):
            raise ShapeError("default_collate(): every sample in a batch must have the same number of fields")
        out = [default_collate(list(s)) for s in zip(*batch)]
        return tuple(out) if isinstance(first, tuple) else out
    try:
        import numpy as np
        if isinstance(first, np.ndarray) or isinstance(first, np.generic):
            return ember.tensor(np.stack([np.asarray(b) for b in batch]))
    except ImportError:
        pass
    raise TypeError(f"default_collate(): cannot batch samples of type {type(first).__name__}; pass collate_fn=")


class DataLoader:
    """Batches of a dataset: ``for x, y in DataLoader(ds, batch_size=64, shuffle=True, generator=g)``.

    Loading is in this process (num_workers must be 0). A TensorDataset with the default collate is
    batched with one index_select per tensor instead of stacking samples.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 generator=None, **kwargs):
        if num_workers:
            raise NotImplementedError(f"DataLoader: num_workers={num_workers} is not supported; load in this "
                                      f"process (num_workers=0)")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler and shuffle=True are mutually exclusive")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.collate_fn = collate_fn
        self.drop_last, self.generator = drop_last, generator

    def _order(self):
        n = len(self.dataset)
        if self.sampler is not None:
            return list(iter(self.sampler))
        if self.shuffle:
            return _random.randperm(n, generator=self.generator).tolist()
        return range(n)

    def _batches(self):
        if self.batch_sampler is not None:
            yield from self.batch_sampler
            return
        order = self._order()
        bs = self.batch_size
        if bs is None:
            for i in order:
                yield i
            return
        batch = []
        for i in order:
            batch.append(i)
            if len(batch) == bs:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __iter__(self):
        import ember
        ds = self.dataset
        fast = self.collate_fn is None and isinstance(ds, TensorDataset) and self.batch_size is not None
        if fast:
            dev = ds.tensors[0].device
            for b in self._batches():
                idx = ember.tensor(b, dtype=ember.int64, device=dev)
                yield tuple(t.index_select(0, idx if t.device == dev else idx.to(t.device)) for t in ds.tensors)
            return
        collate = self.collate_fn or default_collate
        for b in self._batches():
            if self.batch_size is None and self.batch_sampler is None:
                yield ds[b] if self.collate_fn is None else collate(ds[b])
            else:
                yield collate([ds[i] for i in b])

    def __len__(self):
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


def random_split(dataset, lengths, generator=None):
    """Split into non-overlapping Subsets of the given lengths (or fractions summing to 1)."""
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) for x in lengths) and math.isclose(sum(lengths), 1.0) and sum(lengths) <= 1:
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):  # spread the remainder round-robin, as PyTorch does
            counts[i % len(counts)] += 1
        lengths = counts
    if any(not isinstance(x, int) or x < 0 for x in lengths) or sum(lengths) != n:
        raise ValueError(f"random_split(): lengths {lengths} must be non-negative ints summing to the dataset's "
                         f"length {n} (or fractions summing to 1)")
    perm = _random.randperm(n, generator=generator).tolist()
    out, start = [], 0
    for ln in lengths:
        out.append(Subset(dataset, perm[start:start + ln]))
        start += ln
    return out
