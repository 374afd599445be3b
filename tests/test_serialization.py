"""ember.save / ember.load on safetensors: round trips, PyTorch interop, and damaged files."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest

import ember
import ember.nn as nn

st = pytest.importorskip("safetensors")

DTYPES = [ember.float32, ember.float64, ember.float16, ember.bfloat16, ember.int64, ember.int32, ember.int16,
          ember.int8, ember.uint8, ember.bool]


def _roundtrip(obj, **kw):
    buf = io.BytesIO()
    ember.save(obj, buf)
    buf.seek(0)
    return ember.load(buf, **kw)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_tensor_round_trip_every_dtype(dtype):
    a = (np.arange(24).reshape(2, 3, 4) % 5).astype(dtype.np)
    t = ember.tensor(a, dtype=dtype)
    r = _roundtrip(t)
    assert r.dtype is dtype and r.shape == (2, 3, 4)
    np.testing.assert_array_equal(r.numpy().astype(np.float64), a.astype(np.float64))


def test_odd_layouts():
    t = ember.tensor(np.arange(12.0).reshape(3, 4))
    r = _roundtrip({"t": t.t(), "s": t[::2, 1::2], "zero_d": ember.tensor(3.5), "empty": ember.zeros(0, 4)})
    np.testing.assert_array_equal(r["t"].numpy(), t.numpy().T)
    np.testing.assert_array_equal(r["s"].numpy(), t.numpy()[::2, 1::2])
    assert r["zero_d"].shape == () and r["zero_d"].item() == 3.5
    assert r["empty"].shape == (0, 4)


def test_state_dict_keeps_order_and_path(tmp_path):
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    path = tmp_path / "m.safetensors"
    ember.save(m.state_dict(), str(path))
    sd = ember.load(path)
    assert list(sd) == list(m.state_dict())
    m2 = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    m2.load_state_dict(sd)
    x = ember.ones(5, 3)
    m.eval(), m2.eval()
    np.testing.assert_array_equal(m(x).detach().numpy(), m2(x).detach().numpy())


def test_nested_structure():
    obj = {"state": {0: {"step": ember.tensor(3.0), "buf": ember.ones(2)}},
           "param_groups": [{"lr": 0.1, "betas": (0.9, 0.99), "params": [0], "name": None, "nesterov": False}]}
    r = _roundtrip(obj)
    assert r["param_groups"] == [{"lr": 0.1, "betas": (0.9, 0.99), "params": [0], "name": None, "nesterov": False}]
    assert list(r["state"]) == [0] and r["state"][0]["buf"].tolist() == [1.0, 1.0]


def test_map_location():
    r = _roundtrip({"w": ember.ones(2, 3)}, map_location="meta")
    assert r["w"].device.type == "meta" and r["w"].shape == (2, 3)
    r = _roundtrip(ember.ones(2), map_location=ember.device("cpu"))
    assert r.device.type == "cpu"


def test_metadata():
    from ember.serialization import load_metadata
    buf = io.BytesIO()
    ember.save({"a": ember.ones(1)}, buf, metadata={"author": "me"})
    assert load_metadata(buf.getvalue()) == {"author": "me"}
    with pytest.raises(ember.SerializationError, match="'ember.x'"):
        ember.save({"a": ember.ones(1)}, io.BytesIO(), metadata={"ember.x": "1"})


def test_never_pickles():
    class Thing:
        pass
    with pytest.raises(ember.SerializationError, match="Thing at w"):
        ember.save({"w": Thing()}, io.BytesIO())
    with pytest.raises(TypeError, match="ember.save"):
        import pickle
        pickle.dumps(ember.ones(2))


# -- damaged files ------------------------------------------------------------------------

def _file(header: dict, data: bytes = b"", raw_header: bytes | None = None) -> bytes:
    h = raw_header if raw_header is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def test_bad_files_raise_clear_errors(tmp_path):
    good = io.BytesIO()
    ember.save({"w": ember.ones(4)}, good)
    good = good.getvalue()
    cases = [
        (b"abc", "fewer than the 8-byte header length"),
        (struct.pack("<Q", 10 ** 6) + b"{}", r"length field says 1000000 bytes but the file has 2"),
        (_file({}, raw_header=b"{not json"), "not valid JSON"),
        (_file({}, raw_header=b"[1, 2]"), "expected a JSON object"),
        (good[:-3], r"truncated: tensor 'w' needs bytes 0..16 .* only 13"),
        (_file({"w": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}, b"\0\0"),
         r"tensor 'w' .* dtype 'F8_E4M3'"),
        (_file({"w": {"dtype": "U32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4), "'U32'"),
        (_file({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8), "should take 12 bytes"),
        (_file({"w": {"dtype": "F32"}}), "bad header entry for tensor 'w'"),
    ]
    for data, msg in cases:
        with pytest.raises(ember.SerializationError, match=msg):
            ember.load(data)
    p = tmp_path / "bad.safetensors"
    p.write_bytes(good[:-3])
    with pytest.raises(ember.SerializationError, match="bad.safetensors is truncated"):
        ember.load(str(p))
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        ember.load(str(tmp_path / "nope.safetensors"))


# -- PyTorch interop ------------------------------------------------------------------------

class ENet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2))
        self.norm = nn.LayerNorm(64)
        self.head = nn.Linear(64, 10)

    def forward(self, x):
        return self.head(self.norm(self.features(x).flatten(1)))


def test_torch_state_dict_loads_into_ember_model(tmp_path):
    torch = pytest.importorskip("torch")
    import safetensors.torch as stt
    tnn = torch.nn

    class TNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(tnn.Conv2d(1, 4, 3, padding=1), tnn.BatchNorm2d(4), tnn.ReLU(),
                                           tnn.MaxPool2d(2))
            self.norm = tnn.LayerNorm(64)
            self.head = tnn.Linear(64, 10)

        def forward(self, x):
            return self.head(self.norm(self.features(x).flatten(1)))

    torch.manual_seed(0)
    tm = TNet()
    tm.train()
    tm(torch.randn(8, 1, 8, 8))  # move the running statistics away from their defaults
    tm.eval()
    path = tmp_path / "torch.safetensors"
    stt.save_file(tm.state_dict(), str(path))
    em = ENet()
    em.load_state_dict(ember.load(str(path)))
    em.eval()
    x = np.random.default_rng(0).standard_normal((5, 1, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(em(ember.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(), rtol=1e-5,
                               atol=1e-5)
    # and back: PyTorch reads what Ember wrote
    out = tmp_path / "ember.safetensors"
    ember.save(em.state_dict(), str(out))
    back = stt.load_file(str(out))
    tm.load_state_dict(back)
    # bfloat16 state dicts keep their dtype both ways
    stt.save_file({"w": torch.ones(2, 2, dtype=torch.bfloat16) * 1.5}, str(path))
    w = ember.load(str(path))["w"]
    assert w.dtype is ember.bfloat16 and w.float().tolist() == [[1.5, 1.5], [1.5, 1.5]]
