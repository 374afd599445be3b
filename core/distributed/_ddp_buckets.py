"""Gradient buckets of DistributedDataParallel: which parameters share one all-reduce, and its flat buffer.

The assignment follows PyTorch's (``dist._compute_bucket_assignment_by_size``): walking the parameters in a
given order, each (dtype, device) fills its own open bucket, which closes once it holds at least the current
size limit; a key's limits go down ``limits`` one per closed bucket and then stay at the last one.
"""

from __future__ import annotations

import ember

__all__ = ["assign_buckets", "Bucket"]


def assign_buckets(sizes_keys, limits, order=None) -> list:
    """Group tensors, given as (nbytes, key) pairs, into buckets: lists of tensor indices.

    With ``order=None`` the tensors are taken in index order and the buckets are returned sorted by their
    first index (PyTorch's initial assignment); with ``order`` (the order gradients arrived in) they are taken
    in that order and returned in the order they closed, the still-open ones last (PyTorch's rebuild).
    """
    open_, closed, level = {}, [], {}
    last = len(limits) - 1
    for i in (range(len(sizes_keys)) if order is None else order):
        nbytes, key = sizes_keys[i]
        cur = open_.get(key)
        if cur is None:
            cur = open_[key] = [[], 0]
        cur[0].append(i)
        cur[1] += nbytes
        k = level.get(key, 0)
        if cur[1] >= limits[k]:
            closed.append(cur[0])
            level[key] = min(k + 1, last)
            del open_[key]
    closed.extend(b[0] for b in open_.values())
    if order is None:
        closed.sort(key=lambda b: b[0])
    return closed


class Bucket:
    """A flat gradient buffer for some parameters (one dtype and device), with each one's view of it."""

    __slots__ = ("indices", "buffer", "views", "pending", "work")

    def __init__(self, indices, params):
        p0 = params[indices[0]]
        self.indices = list(indices)
        self.buffer = ember.zeros(sum(params[i].numel() for i in indices), dtype=p0.dtype, device=p0.device)
        self.views, off = [], 0
        for i in indices:
            k = params[i].numel()
            self.views.append(self.buffer[off:off + k].view(params[i].shape))
            off += k
        self.pending = len(indices)   # gradients still to come in this backward
        self.work = None              # the all-reduce in flight

    def reset(self) -> None:
        self.pending, self.work = len(self.indices), None
