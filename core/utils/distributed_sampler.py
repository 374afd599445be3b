"""DistributedSampler: each rank of a data-parallel job reads its own slice of a dataset, as PyTorch's.

Importable as ``ember.utils.data.distributed`` (the PyTorch spelling). Every rank builds the same index
list (a permutation drawn from a generator seeded ``seed + epoch``, or 0..n-1 unshuffled), pads it by
repeating its head until it divides by the number of replicas (or, with ``drop_last``, cuts the tail),
and keeps every ``num_replicas``-th index starting at its rank: the ranks' slices are disjoint, of equal
length, and together cover the dataset.

Unshuffled, the indices equal PyTorch's. Shuffled, they differ from PyTorch's for the same seed, because
Ember's generators are counter-based Philox (one seed gives one stream on every backend) where PyTorch's
cpu generator is Mersenne Twister; the order is still a function of ``seed + epoch`` alone, identical on
every rank and run.
"""

from __future__ import annotations

import math

from ..errors import DistributedNotInitializedError, InvalidArgumentError
from .samplers import Sampler

__all__ = ["DistributedSampler"]


def _from_process_group(what: str) -> int:
    """The default process group's world size or this process's rank, for a sampler given neither."""
    from .. import distributed as dist
    if not dist.is_initialized():
        raise DistributedNotInitializedError(
            f"DistributedSampler: {what} was not given and the default process group has not been initialized; "
            f"call ember.distributed.init_process_group() first or pass {what}= explicitly")
    return dist.get_world_size() if what == "num_replicas" else dist.get_rank()


class DistributedSampler(Sampler):
    """Indices of ``dataset`` for replica ``rank`` of ``num_replicas`` (defaults: the default process group's).

    Call ``set_epoch(epoch)`` before each epoch so that shuffling gives a new order per epoch.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False) -> None:
        if num_replicas is None:
            num_replicas = _from_process_group("num_replicas")
        if rank is None:
            rank = _from_process_group("rank")
        if rank >= num_replicas or rank < 0:
            raise InvalidArgumentError(f"DistributedSampler: invalid rank {rank}, rank should be in the interval "
                                       f"[0, {num_replicas - 1}] for num_replicas={num_replicas}")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            # the largest length every replica can fill without padding
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def _all_indices(self) -> list:
        """The index list every rank agrees on, before this rank takes its slice."""
        n = len(self.dataset)
        if self.shuffle:
            import ember
            g = ember.Generator()
            g.manual_seed(self.seed + self.epoch)
            indices = ember.randperm(n, generator=g).tolist()
        else:
            indices = list(range(n))
        if self.drop_last:
            return indices[:self.total_size]
        pad = self.total_size - n
        if pad > 0:
            reps = math.ceil(pad / n)
            indices += (indices * reps)[:pad]
        return indices

    def __iter__(self):
        indices = self._all_indices()
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch; with ``shuffle`` it picks this epoch's order (the same on every rank)."""
        self.epoch = epoch
