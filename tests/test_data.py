"""ember.utils.data: datasets, batching, shuffling with a generator, drop_last, random_split."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.utils.data import (ConcatDataset, DataLoader, Dataset, Subset, TensorDataset, default_collate,
                              get_worker_info, random_split)


def _ds(n=10):
    return TensorDataset(ember.arange(n), ember.arange(n).float() * 2)


def test_tensor_dataset():
    ds = _ds()
    assert len(ds) == 10
    x, y = ds[3]
    assert x.item() == 3 and y.item() == 6.0
    with pytest.raises(ember.ShapeError, match=r"\[\(3,\), \(4,\)\]"):
        TensorDataset(ember.zeros(3), ember.zeros(4))
    with pytest.raises(TypeError, match="argument 1"):
        TensorDataset(ember.zeros(3), [1, 2, 3])


@pytest.mark.parametrize("drop_last", [False, True])
def test_batches_in_order(drop_last):
    dl = DataLoader(_ds(), batch_size=4, drop_last=drop_last)
    batches = list(dl)
    assert len(batches) == len(dl) == (2 if drop_last else 3)
    assert [b[0].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]][:len(batches)]
    assert batches[0][1].dtype is ember.float32


def test_shuffle_covers_everything_once_and_follows_the_generator():
    dl = DataLoader(_ds(50), batch_size=8, shuffle=True)
    seen = sorted(v for b in dl for v in b[0].tolist())
    assert seen == list(range(50))
    if hasattr(ember, "Generator"):
        g1, g2 = ember.Generator(), ember.Generator()
        g1.manual_seed(7)
        g2.manual_seed(7)
        a = [b[0].tolist() for b in DataLoader(_ds(50), batch_size=8, shuffle=True, generator=g1)]
        b = [b[0].tolist() for b in DataLoader(_ds(50), batch_size=8, shuffle=True, generator=g2)]
        assert a == b and a[0] != list(range(8))


class Squares(Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {"x": ember.tensor([float(i)]), "y": i * i, "name": f"s{i}"}


def test_map_dataset_with_default_collate():
    b = next(iter(DataLoader(Squares(), batch_size=3)))
    assert b["x"].shape == (3, 1) and b["y"].tolist() == [0, 1, 4] and b["name"] == ["s0", "s1", "s2"]
    assert b["y"].dtype is ember.int64
    out = default_collate([(1.5, np.array([1, 2])), (2.5, np.array([3, 4]))])
    assert out[0].dtype is ember.float64 and out[1].shape == (2, 2)
    with pytest.raises(TypeError, match="object"):
        default_collate([object(), object()])


def test_custom_collate_and_no_batching():
    dl = DataLoader(Squares(), batch_size=2, collate_fn=lambda items: [it["y"] for it in items])
    assert list(dl) == [[0, 1], [4, 9], [16]]
    assert [s["y"] for s in DataLoader(Squares(), batch_size=None)] == [0, 1, 4, 9, 16]


def test_random_split():
    ds = _ds(10)
    a, b = random_split(ds, [7, 3])
    assert len(a) == 7 and len(b) == 3 and isinstance(a, Subset)
    got = sorted([a[i][0].item() for i in range(7)] + [b[i][0].item() for i in range(3)])
    assert got == list(range(10))
    parts = random_split(ds, [0.5, 0.3, 0.2])
    assert [len(p) for p in parts] == [5, 3, 2]
    with pytest.raises(ValueError, match=r"\[4, 4\].*10"):
        random_split(ds, [4, 4])


def test_concat_and_errors():
    c = _ds(3) + _ds(2)
    assert isinstance(c, ConcatDataset) and len(c) == 5 and c[4][0].item() == 1
    with pytest.raises(IndexError, match="index 5"):
        c[5]
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        DataLoader(_ds(), batch_size=0)
    with pytest.raises(ValueError, match="num_workers must be a non-negative int, got -1"):
        DataLoader(_ds(), num_workers=-1)
    with pytest.raises(ValueError, match="prefetch_factor=2 needs num_workers > 0"):
        DataLoader(_ds(), prefetch_factor=2)


# -- worker processes ------------------------------------------------------------------

# Workers start with "spawn": the test process has JAX's and OpenCL's threads running, which a fork
# would copy in an undefined state. Every loader here also has a timeout, so a stuck worker fails the
# test instead of hanging it.
WORKERS = dict(timeout=60, multiprocessing_context="spawn")

class _Samples(Dataset):
    """Sample i: a float tensor, a dict with an int and the id of the worker that loaded it."""

    def __init__(self, n=50, fail_at=None, exit_at=None, sleep=0.0):
        self.n, self.fail_at, self.exit_at, self.sleep = n, fail_at, exit_at, sleep

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        import os
        import time
        if i == self.fail_at:
            raise KeyError(f"sample {i} is missing")
        if i == self.exit_at:
            os._exit(3)
        time.sleep(self.sleep)
        info = get_worker_info()
        return ember.tensor([float(i), 2.0 * i]), {"y": i * i, "worker": -1 if info is None else info.id}


def test_workers_give_the_same_batches_in_order():
    ds = _Samples()
    here = list(DataLoader(ds, batch_size=8))
    there = list(DataLoader(ds, batch_size=8, num_workers=3, prefetch_factor=1, **WORKERS))
    assert len(here) == len(there) == 7
    for (a, da), (b, db) in zip(here, there):
        assert np.array_equal(a.numpy(), b.numpy()) and a.dtype == b.dtype
        assert np.array_equal(da["y"].numpy(), db["y"].numpy())
    assert {int(w) for _, d in here for w in d["worker"].numpy()} == {-1}
    assert {int(w) for _, d in there for w in d["worker"].numpy()} == {0, 1, 2}
    unbatched = list(DataLoader(ds, batch_size=None, num_workers=2, **WORKERS))
    assert len(unbatched) == 50 and unbatched[7][0].tolist() == [7.0, 14.0]


def _init(worker_id):
    info = get_worker_info()
    assert info.id == worker_id and info.num_workers == 2 and isinstance(info.dataset, _Samples)
    info.dataset.n = 50                      # the worker's own copy


def test_worker_init_fn_and_worker_info():
    seen = []
    loader = DataLoader(_Samples(), batch_size=10, num_workers=2, worker_init_fn=_init, **WORKERS)
    for x, d in loader:
        seen.extend(int(w) for w in d["worker"].numpy())
    assert sorted(set(seen)) == [0, 1] and get_worker_info() is None


def test_a_worker_exception_is_raised_here_with_its_traceback():
    with pytest.raises(KeyError, match=r"(?s)DataLoader worker \d raised KeyError.*sample 37 is missing"):
        list(DataLoader(_Samples(fail_at=37), batch_size=8, num_workers=2, **WORKERS))


def test_a_dead_worker_and_a_timeout_raise():
    with pytest.raises(RuntimeError, match=r"DataLoader worker \d \(pid \d+\) exited unexpectedly with code 3"):
        list(DataLoader(_Samples(exit_at=12), batch_size=4, num_workers=2, **WORKERS))
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.2 seconds waiting for batch 0"):
        list(DataLoader(_Samples(sleep=2.0), batch_size=4, num_workers=1, timeout=0.2,
                        multiprocessing_context="spawn"))


def test_workers_with_a_tensor_dataset_and_shuffle():
    g = ember.Generator().manual_seed(5)
    ds = _ds(20)
    batches = list(DataLoader(ds, batch_size=6, shuffle=True, generator=g, num_workers=2, **WORKERS))
    xs = np.concatenate([x.numpy() for x, _ in batches])
    assert sorted(xs.tolist()) == list(range(20)) and xs.tolist() != list(range(20))
    assert all(np.array_equal(y.numpy(), x.numpy() * 2.0) for x, y in batches)
