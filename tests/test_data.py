"""ember.utils.data: datasets, batching, shuffling with a generator, drop_last, random_split."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.utils.data import ConcatDataset, DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split


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
    with pytest.raises(NotImplementedError, match="num_workers=2"):
        DataLoader(_ds(), num_workers=2)
