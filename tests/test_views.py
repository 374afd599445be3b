"""View operators share storage, compute geometry like PyTorch, and write through to their base."""

import numpy as np
import pytest

import ember

from layouts import assert_close

torch = pytest.importorskip("torch")


def pair(shape=(2, 3, 4), dtype=np.float32):
    a = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
    return ember.tensor(a), torch.from_numpy(a.copy())


def same_geometry(e, t):
    assert tuple(e.shape) == tuple(t.shape)
    assert tuple(e.stride()) == tuple(t.stride()), (e.stride(), t.stride())
    assert e.storage_offset() == t.storage_offset()
    assert_close(e, t.numpy())


CASES = [
    ("view", lambda x: x.view(6, 4)), ("view-1", lambda x: x.view(-1)), ("view3", lambda x: x.view(2, -1, 2)),
    ("reshape", lambda x: x.reshape(4, 6)), ("permute", lambda x: x.permute(2, 0, 1)),
    ("transpose", lambda x: x.transpose(0, 2)), ("transpose-neg", lambda x: x.transpose(-1, -2)),
    ("expand", lambda x: x.unsqueeze(0).expand(5, 2, 3, 4)), ("expand-1", lambda x: x[:, :1].expand(-1, 3, -1)
                                                               if False else x.narrow(1, 0, 1).expand(-1, 3, -1)),
    ("squeeze", lambda x: x.narrow(1, 0, 1).squeeze()), ("squeeze-dim", lambda x: x.narrow(1, 0, 1).squeeze(1)),
    ("unsqueeze", lambda x: x.unsqueeze(-1)), ("flatten", lambda x: x.flatten()),
    ("flatten-part", lambda x: x.flatten(1)), ("narrow", lambda x: x.narrow(2, 1, 2)),
    ("select", lambda x: x.select(1, -1)), ("diagonal", lambda x: x.diagonal(0, 1, 2)),
    ("diagonal-off", lambda x: x.diagonal(1, 1, 2)), ("diagonal-neg", lambda x: x.diagonal(-1, 2, 1)),
    ("t", lambda x: x.select(0, 1).t()), ("movedim", lambda x: x.movedim(0, -1)),
    ("as_strided", lambda x: x.as_strided((3, 3), (2, 1), 1)),
]


@pytest.mark.parametrize("name,fn", CASES, ids=[c[0] for c in CASES])
def test_view_geometry_matches_torch(name, fn):
    e, t = pair()
    out = fn(e)
    same_geometry(out, fn(t))
    assert out.untyped_storage() is e.untyped_storage()


def test_views_of_views_and_noncontiguous_reshape():
    e, t = pair()
    ev = e.transpose(0, 2).narrow(0, 1, 2)
    tv = t.transpose(0, 2).narrow(0, 1, 2)
    same_geometry(ev, tv)
    # reshape of a non-viewable layout copies; view raises
    r = ev.reshape(-1)
    assert_close(r, tv.reshape(-1).numpy())
    with pytest.raises(ember.InvalidReshapeError, match="reshape"):
        ev.view(-1)


def test_split_chunk_unbind():
    e, t = pair((7, 4))
    for es, ts in [(e.split(3), t.split(3)), (e.split([2, 5]), t.split([2, 5])), (e.chunk(3), t.chunk(3)),
                   (e.unbind(1), t.unbind(1)), (e.chunk(2, 1), t.chunk(2, 1))]:
        assert len(es) == len(ts)
        for a, b in zip(es, ts):
            same_geometry(a, b)
    with pytest.raises(ember.ShapeError, match="sum to 6"):
        e.split([2, 4])


def test_inplace_through_view_writes_base():
    e = ember.zeros(3, 4)
    e.t().narrow(0, 1, 2).fill_(5)
    want = np.zeros((3, 4), np.float32)
    want[:, 1:3] = 5
    assert_close(e, want)
    e.diagonal().copy_(ember.tensor([1.0, 2.0, 3.0]))
    np.fill_diagonal(want, [1, 2, 3])
    assert_close(e, want)


def test_contiguous_and_clone():
    e, t = pair()
    v = e.permute(2, 0, 1)
    assert not v.is_contiguous()
    c = v.contiguous()
    assert c.is_contiguous() and c.untyped_storage() is not e.untyped_storage()
    assert_close(c, t.permute(2, 0, 1).numpy())
    assert e.contiguous() is e
    k = e.clone()
    k.fill_(0)
    assert e.numpy().sum() > 0


def test_view_errors_carry_values():
    e, _ = pair()
    with pytest.raises(ember.InvalidReshapeError, match=r"\(5, 5\).*24"):
        e.view(5, 5)
    with pytest.raises(ember.InvalidReshapeError, match="only one dimension"):
        e.reshape(-1, -1)
    with pytest.raises(ember.IndexOutOfRangeError, match=r"dimension 3.*3 dimension"):
        e.transpose(0, 3)
    with pytest.raises(ember.IndexOutOfRangeError, match="index 5 is out of bounds for dimension 1 with size 3"):
        e.select(1, 5)
    with pytest.raises(ember.ShapeError, match=r"expanded size.*\(7\).*\(4\)"):
        e.expand(2, 3, 7)
    with pytest.raises(ember.ShapeError, match="number of dims 2"):
        e.permute(0, 1)
    with pytest.raises(ember.IndexOutOfRangeError, match="start 3 and length 2"):
        e.narrow(2, 3, 2)
    with pytest.raises(ember.IndexOutOfRangeError, match="past the storage"):
        e.as_strided((10, 10), (10, 1))
    with pytest.raises(ember.ShapeError, match="<= 2 dimensions"):
        e.t()


def test_views_on_meta():
    m = ember.empty(2, 3, 4, device="meta")
    assert m.permute(2, 0, 1).shape == (4, 2, 3)
    assert m.view(6, 4).shape == (6, 4)
    assert m.diagonal(0, 1, 2).shape == (2, 3)
    assert [x.shape for x in m.split(1)] == [(1, 3, 4), (1, 3, 4)]


def test_zero_dim_and_empty():
    s = ember.tensor(3.5)
    assert s.shape == () and s.dim() == 0 and s.item() == 3.5
    assert s.view(1).shape == (1,) and s.unsqueeze(0).shape == (1,) and s.flatten().shape == (1,)
    assert s.t().shape == ()
    z = ember.zeros(0, 3)
    assert z.view(3, 0).shape == (3, 0) and z.reshape(-1, 3).shape == (0, 3)
    with pytest.raises(ember.InvalidReshapeError):
        z.view(-1, 0)
