"""Reliability of Ember's I/O paths: damaged or foreign files given to ember.load, load's peak memory,
read-only memory imported with from_dlpack, DataLoader workers whose batches cannot be pickled, and
the caching allocator on a device with little free memory."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import ember
from ember.serialization import load_metadata
from ember.utils.data import DataLoader, Dataset


st = pytest.importorskip("safetensors")


def _file(header, data: bytes = b"", raw_header: bytes | None = None) -> bytes:
    h = raw_header if raw_header is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def _entry(**kw):
    e = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    e.update(kw)
    return {"w": e}


# -- ember.load: malformed headers -------------------------------------------------------------

BAD_HEADERS = [
    (_entry(dtype=["F32"]), r"tensor 'w'.*dtype must be a string.*\['F32'\]"),
    (_entry(dtype=None), r"tensor 'w'.*dtype must be a string"),
    (_entry(data_offsets=[0]), r"tensor 'w'.*data_offsets must be a list of two.*\[0\]"),
    (_entry(data_offsets=[0, 4, 8]), r"tensor 'w'.*data_offsets must be a list of two"),
    (_entry(data_offsets=["0", 8]), r"tensor 'w'.*data_offsets must be a list of two.*'0'"),
    (_entry(data_offsets=[0, 8.0]), r"tensor 'w'.*data_offsets must be a list of two"),
    (_entry(data_offsets=8), r"tensor 'w'.*data_offsets must be a list of two.*got 8"),
    (_entry(data_offsets=[-4, 4]), r"tensor 'w'.*data_offsets must be a list of two non-negative"),
    (_entry(data_offsets=None), r"tensor 'w'.*data_offsets"),
    (_entry(shape=None), r"tensor 'w'.*shape must be a list of non-negative integers, got None"),
    (_entry(shape="ab"), r"tensor 'w'.*shape must be a list.*'ab'"),
    (_entry(shape=[2.0]), r"tensor 'w'.*shape must be a list"),
    (_entry(shape=[-2]), r"tensor 'w'.*shape must be a list of non-negative"),
    (_entry(shape=[[2]]), r"tensor 'w'.*shape must be a list"),
    (_entry(shape=[True, 2]), r"tensor 'w'.*shape must be a list"),
    (_entry(data_offsets=[0, 4000]), r"truncated: tensor 'w' needs bytes 0..4000 .* only 8"),
    (_entry(data_offsets=[8, 16]), r"truncated: tensor 'w' needs bytes 8..16"),
    (_entry(data_offsets=[2 ** 70, 2 ** 70 + 8]), r"truncated: tensor 'w'"),
    ({"w": ["F32", [2], [0, 8]]}, r"bad header entry for tensor 'w'"),
    ({**_entry(), "__metadata__": ["x"]}, r"__metadata__ must map strings to strings"),
    ({**_entry(), "__metadata__": {"a": 1}}, r"__metadata__ must map strings to strings"),
]


@pytest.mark.parametrize("header,msg", BAD_HEADERS, ids=range(len(BAD_HEADERS)))
def test_malformed_headers_raise_serialization_error(header, msg, tmp_path):
    data = _file(header, b"\0" * 8)
    with pytest.raises(ember.SerializationError, match=msg):
        ember.load(data)
    p = tmp_path / "bad.safetensors"                      # the file reader checks the same way
    p.write_bytes(data)
    with pytest.raises(ember.SerializationError, match="bad.safetensors.*" + msg.split(".*", 1)[-1]):
        ember.load(str(p))
    with pytest.raises(ember.SerializationError):
        load_metadata(data)


def test_deeply_nested_header_and_structure_records():
    deep = b'{"w": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    with pytest.raises(ember.SerializationError, match="nested too deeply"):
        ember.load(_file(None, raw_header=deep))
    tree = "[" * 200_000 + "]" * 200_000                  # a damaged ember.tree record
    hdr = {"__metadata__": {"ember.format": "tree", "ember.tree": tree}}
    with pytest.raises(ember.SerializationError, match="damaged structure record"):
        ember.load(_file(hdr))
    bad_refs = {"__metadata__": {"ember.format": "tree", "ember.tree": json.dumps({"__tensor__": ["x"]})}}
    with pytest.raises(ember.SerializationError, match="damaged structure record"):
        ember.load(_file(bad_refs))
    with pytest.raises(ember.SerializationError, match="no tensor named 'tensor'"):
        ember.load(_file({"__metadata__": {"ember.format": "tensor"}}))


def test_torch_save_files_are_refused_by_name(tmp_path):
    torch = pytest.importorskip("torch")
    sd = {"w": torch.ones(3)}
    for kw in ({}, {"_use_new_zipfile_serialization": False}):
        p = tmp_path / "model.pt"
        torch.save(sd, p, **kw)
        for src in (str(p), p.read_bytes()):
            with pytest.raises(ember.SerializationError) as e:
                ember.load(src)
            msg = str(e.value)
            for part in ("PyTorch pickle file", "never unpickles", "torch.load", "safetensors.torch.save_file"):
                assert part in msg, (part, msg)
    torch.save(sd, p)
    import safetensors.torch                              # the conversion the message gives works
    safetensors.torch.save_file(torch.load(p, weights_only=True), tmp_path / "model.safetensors")
    assert ember.load(str(tmp_path / "model.safetensors"))["w"].tolist() == [1.0, 1.0, 1.0]


def test_load_still_reads_files_objects_and_bytes(tmp_path):
    sd = {"a": ember.arange(6).reshape(2, 3).float(), "b": ember.tensor(2.5, dtype=ember.float64),
          "e": ember.zeros(0, 3), "h": ember.ones(4, dtype=ember.bfloat16)}
    p = tmp_path / "sd.safetensors"
    ember.save(sd, str(p), metadata={"k": "v"})
    buf = io.BytesIO(b"junk" + p.read_bytes())
    buf.seek(4)                                           # a file object read from where it stands
    for got in (ember.load(str(p)), ember.load(p.read_bytes()), ember.load(buf), ember.load(memoryview(p.read_bytes()))):
        assert list(got) == ["a", "b", "e", "h"]
        for k in sd:
            assert got[k].dtype is sd[k].dtype and got[k].shape == sd[k].shape
            np.testing.assert_array_equal(got[k].float().numpy(), sd[k].float().numpy())
    assert load_metadata(str(p)) == {"k": "v"}
    got = ember.load(str(p))
    got["a"].add_(1)                                      # loaded tensors own writable memory
    assert got["a"].tolist()[0] == [1.0, 2.0, 3.0]


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads VmHWM from /proc")
def test_load_peak_memory_stays_near_the_file_size(tmp_path):
    # The peak is VmHWM of a fresh process: getrusage's ru_maxrss carries the forking process's peak
    # across exec, so in a subprocess of a large test process it would hide the load.
    n = 16 << 20                                          # 16 Mi float32: a 64 MiB file
    p = tmp_path / "big.safetensors"
    ember.save({"w": ember.arange(n).float()}, str(p))
    ember.save({"w": ember.ones(4)}, str(p) + ".small")
    size = p.stat().st_size
    code = textwrap.dedent(f"""
        import ember
        def kib(field):
            with open("/proc/self/status") as f:
                return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))
        ember.load({str(p)!r} + ".small")                 # imports done before measuring
        before = kib("VmHWM")
        t = ember.load({str(p)!r})["w"]
        after = kib("VmHWM")
        assert t[{n - 1}].item() == {float(n - 1)} and t[12345].item() == 12345.0
        print(before, after)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    before, after = (int(v) * 1024 for v in r.stdout.split()[-2:])
    grew = after - before
    assert grew < 1.5 * size, f"ember.load of a {size >> 20} MiB file raised peak RSS by {grew >> 20} MiB"
    assert grew > 0.5 * size                               # the measurement sees the loaded tensor


# -- from_dlpack keeps read-only memory read-only -------------------------------------------------

def test_from_dlpack_of_read_only_numpy_is_read_only(tmp_path):
    raw = bytes(16)
    a = np.frombuffer(raw, dtype=np.float32)
    p = tmp_path / "m.bin"
    np.arange(4, dtype=np.float32).tofile(p)
    m = np.memmap(p, dtype=np.float32, mode="r")
    for src, want in ((a, [0.0] * 4), (m, [0.0, 1.0, 2.0, 3.0]), (a.__dlpack__(max_version=(1, 0)), [0.0] * 4)):
        t = ember.from_dlpack(src)
        assert t.tolist() == want
        assert not t.numpy().flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            t.add_(1)
        with pytest.raises(ValueError, match="read-only"):
            t[0] = 7.0
        with pytest.raises(ValueError, match="read-only"):
            t.copy_(ember.ones(4))
        assert (t + 1).tolist() == [v + 1 for v in want]    # reading still works
    assert raw == bytes(16) and m.tolist() == [0.0, 1.0, 2.0, 3.0]
    w = np.zeros(3, np.float32)                           # writable memory stays shared and writable
    t = ember.from_dlpack(w)
    t.add_(2)
    assert w.tolist() == [2.0, 2.0, 2.0]
    assert ember.from_dlpack(a).tolist() == ember.from_numpy(a).tolist()


# -- DataLoader workers: batches and exceptions that cannot be pickled ------------------------------

LOADER = dict(timeout=30, multiprocessing_context="spawn")   # a regression times out instead of hanging


class _LockSample(Dataset):
    """Sample 5 holds a lock, which cannot be pickled back to the main process."""

    def __len__(self):
        return 12

    def __getitem__(self, i):
        return ember.tensor([float(i)]), (threading.Lock() if i == 5 else None)


class _LocalErrorSample(Dataset):
    """Sample 6 raises an exception whose class is defined inside a function."""

    def __len__(self):
        return 12

    def __getitem__(self, i):
        class LocalError(Exception):
            pass
        if i == 6:
            raise LocalError(f"sample {i} is broken")
        return ember.tensor([float(i)])


def _timed(loader):
    t0 = time.monotonic()
    try:
        list(loader)
    finally:
        assert time.monotonic() - t0 < 25, "the DataLoader did not raise promptly"


def test_unpicklable_sample_raises_promptly_naming_it():
    with pytest.raises(TypeError, match=r"(?s)could not send sample 5 \(batch 5\).*pickling it raised TypeError"
                                        r".*cannot pickle '_thread.lock' object"):
        _timed(DataLoader(_LockSample(), batch_size=None, num_workers=2, **LOADER))
    with pytest.raises(TypeError, match=r"(?s)could not send batch 1 \(sample indices \[4, 5, 6, 7\]\).*"
                                        r"_thread.lock"):
        _timed(DataLoader(_LockSample(), batch_size=4, collate_fn=list, num_workers=2, **LOADER))


def test_exception_of_a_local_class_raises_promptly_naming_it():
    with pytest.raises(RuntimeError, match=r"(?s)DataLoader worker \d raised "
                                           r"_LocalErrorSample.__getitem__.<locals>.LocalError while loading batch 1 "
                                           r"\(sample indices \[4, 5, 6, 7\]\).*cannot be pickled.*local.*"
                                           r"sample 6 is broken"):
        _timed(DataLoader(_LocalErrorSample(), batch_size=4, num_workers=2, **LOADER))


def test_complex_tensors_cross_dlpack_both_ways():
    torch = pytest.importorskip("torch")
    x = ember.tensor([1 + 2j, 3 - 1j])
    assert np.from_dlpack(x).dtype == np.complex64
    np.testing.assert_array_equal(torch.from_dlpack(x).numpy(), [1 + 2j, 3 - 1j])
    y = ember.from_dlpack(torch.tensor([1 + 1j, -2j], dtype=torch.complex128))
    assert y.dtype is ember.complex128 and y.tolist() == [1 + 1j, -2j]
