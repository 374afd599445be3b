"""ember.utils.data.distributed.DistributedSampler against torch.utils.data.distributed.DistributedSampler.

Unshuffled, the index sequences must equal PyTorch's. Shuffled, Ember's Philox generator gives another
permutation than PyTorch's Mersenne Twister for the same seed, so the test checks the construction instead:
the same padding or truncation and per-rank striding applied to Ember's permutation, plus the properties
(disjoint, covering, equal lengths, deterministic in seed + epoch).
"""

from __future__ import annotations

import itertools

import pytest

import ember
from ember.utils.data import DataLoader, DistributedSampler, TensorDataset

torch = pytest.importorskip("torch")
from torch.utils.data.distributed import DistributedSampler as TorchSampler  # noqa: E402

CASES = [(n, r, dl) for n, r, dl in itertools.product([1, 2, 7, 10, 12, 33], [1, 2, 3, 4, 5], [False, True])
         if not (dl and n < r)]


def test_importable_as_in_pytorch():
    import ember.utils.data.distributed as mod
    assert mod.DistributedSampler is DistributedSampler
    from ember.utils.data.distributed import DistributedSampler as again
    assert again is DistributedSampler


@pytest.mark.parametrize("n,replicas,drop_last", CASES)
def test_unshuffled_matches_torch(n, replicas, drop_last):
    for rank in range(replicas):
        ours = DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
        theirs = TorchSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs)
        assert (len(ours), ours.num_samples, ours.total_size) == (len(theirs), theirs.num_samples, theirs.total_size)


def _torch_layout(perm, replicas, rank, drop_last, total):
    """PyTorch's padding/truncation and striding, applied to a given permutation."""
    idx = list(perm)
    if drop_last:
        idx = idx[:total]
    else:
        while len(idx) < total:
            idx += idx[:total - len(idx)]
    return idx[rank:total:replicas]


@pytest.mark.parametrize("n,replicas,drop_last", CASES)
def test_shuffled_layout_and_properties(n, replicas, drop_last):
    seed, epoch = 5, 3
    g = ember.Generator()
    g.manual_seed(seed + epoch)
    perm = ember.randperm(n, generator=g).tolist()
    parts = []
    for rank in range(replicas):
        s = DistributedSampler(range(n), replicas, rank, shuffle=True, seed=seed, drop_last=drop_last)
        s.set_epoch(epoch)
        got = list(s)
        t = TorchSampler(range(n), replicas, rank, shuffle=True, seed=seed, drop_last=drop_last)
        assert len(got) == len(s) == len(t)
        assert got == _torch_layout(perm, replicas, rank, drop_last, s.total_size)
        assert got == list(s)                   # deterministic
        parts.append(got)
    flat = [i for p in parts for i in p]
    if drop_last:
        assert len(set(flat)) == len(flat) == (n // replicas) * replicas   # disjoint, nothing padded
    else:
        assert set(flat) == set(range(n))                                    # covering
        assert len(flat) - len(set(flat)) == (-n) % replicas                 # exactly the padding repeats


def test_epoch_changes_the_order_and_seed_fixes_it():
    def order(seed, epoch):
        s = DistributedSampler(range(50), 2, 0, seed=seed)
        s.set_epoch(epoch)
        return list(s)
    assert order(0, 0) == order(0, 0)
    assert order(0, 0) != order(0, 1)
    assert order(0, 1) == order(1, 0)       # the generator is seeded with seed + epoch, as PyTorch's


def test_invalid_rank_and_missing_process_group():
    with pytest.raises(ValueError, match=r"invalid rank 2.*\[0, 1\]"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="invalid rank -1"):
        DistributedSampler(range(4), num_replicas=2, rank=-1)
    try:
        import ember.distributed as dist
        if dist.is_initialized():
            pytest.skip("a process group is initialised in this process")
    except ImportError:
        pass
    with pytest.raises(ValueError, match="init_process_group"):
        DistributedSampler(range(4))


def test_with_data_loader():
    ds = TensorDataset(ember.arange(10))
    seen = []
    for rank in range(3):
        loader = DataLoader(ds, batch_size=2, sampler=DistributedSampler(ds, 3, rank, shuffle=False))
        seen.append([int(v) for (b,) in loader for v in b.tolist()])
    assert seen == [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]
