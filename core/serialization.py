"""ember.save / ember.load on the safetensors format: tensors and state dicts, never pickle.

A file is a plain safetensors file (readable by ``safetensors.torch.load_file``
and any other safetensors reader):

- a state dict (a flat mapping of names to tensors) keeps its names as the keys;
- a single tensor is stored under the key ``"tensor"``;
- anything else (an optimizer's state dict: nested dicts, lists, numbers,
  strings and tensors) stores its tensors under generated keys and the rest
  of the structure as JSON in the header's metadata.

The header is checked before any data is read, so a file with a bad header,
truncated data or a dtype Ember lacks raises SerializationError naming the
problem.
"""

from __future__ import annotations

import json
import os
import struct

import numpy as np

from . import dtypes as D
from ._tensor import Tensor
from .errors import ArgumentTypeError, EmberError, MissingFileError

__all__ = ["save", "load", "SerializationError"]


class SerializationError(EmberError, ValueError):
    """A file that is not a valid safetensors file Ember can read, or an object it cannot save."""


# safetensors dtype names <-> Ember dtypes
_ST_TO_EMBER = {"F64": D.float64, "F32": D.float32, "F16": D.float16, "BF16": D.bfloat16, "I64": D.int64,
                "I32": D.int32, "I16": D.int16, "I8": D.int8, "U8": D.uint8, "BOOL": D.bool,
                "C64": D.complex64}  # safetensors has no complex128
_EMBER_TO_ST = {v: k for k, v in _ST_TO_EMBER.items()}
_MAX_HEADER = 100 * 1024 * 1024

_FORMAT = "ember.format"
_TREE = "ember.tree"
_ORDER = "ember.order"


def _host_array(t: Tensor) -> np.ndarray:
    a = t._to_numpy_copy() if t._device.type != "cpu" else np.asarray(t.numpy())
    return np.ascontiguousarray(a).reshape(a.shape)  # ascontiguousarray makes 0-d arrays 1-d


# -- save --------------------------------------------------------------------------

def _encode(obj, tensors, path):
    """The JSON form of obj; each tensor goes into ``tensors`` under a generated key."""
    if isinstance(obj, Tensor):
        key = path or "tensor"
        tensors[key] = obj
        return {"__tensor__": key}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dict):
        return {"__dict__": [[_encode_key(k, path), _encode(v, tensors, f"{path}/{k}" if path else str(k))]
                             for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        items = [_encode(v, tensors, f"{path}/{i}" if path else str(i)) for i, v in enumerate(obj)]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    raise SerializationError(f"ember.save(): cannot save an object of type {type(obj).__name__} at "
                             f"{path or 'the top level'}; only tensors, dicts, lists, tuples, numbers, strings, "
                             f"bools and None are saved (never pickled objects)")


def _encode_key(k, path):
    if isinstance(k, (str, int, float, bool)) or k is None:
        return k
    raise SerializationError(f"ember.save(): dict keys must be str, int, float or bool, got "
                             f"{type(k).__name__} {k!r} at {path or 'the top level'}")


def save(obj, f, metadata: dict | None = None) -> None:
    """Save a tensor, a state dict, or a nested structure holding tensors to ``f`` (a path or binary file)."""
    import safetensors.numpy as stnp

    meta = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str) or k.startswith("ember."):
                raise SerializationError(f"ember.save(): metadata must map str to str (keys not starting with "
                                         f"'ember.'), got {k!r}: {v!r}")
        meta.update(metadata)
    tensors: dict = {}
    if isinstance(obj, Tensor):
        tensors["tensor"] = obj
        meta[_FORMAT] = "tensor"
    elif isinstance(obj, dict) and obj and all(isinstance(k, str) for k in obj) and \
            all(isinstance(v, Tensor) for v in obj.values()):
        tensors.update(obj)
        meta[_FORMAT] = "state_dict"
        meta[_ORDER] = json.dumps(list(obj))
    else:
        meta[_FORMAT] = "tree"
        meta[_TREE] = json.dumps(_encode(obj, tensors, ""))
    arrays = {}
    for k, t in tensors.items():
        if t._dtype not in _EMBER_TO_ST:
            raise SerializationError(f"ember.save(): tensor {k!r} has dtype {t._dtype.name}, which safetensors "
                                     f"cannot store")
        arrays[k] = _host_array(t)
    data = stnp.save(arrays, metadata=meta)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:
            fh.write(data)
    else:
        f.write(data)


# -- load --------------------------------------------------------------------------

class _Source:
    """Random access to the bytes ember.load reads. Files are read piece by piece straight into each
    tensor's memory (never the whole file into one buffer first), so loading costs one copy."""

    def __init__(self, f):
        self.fh = self.buf = None
        self.base = 0
        if isinstance(f, (str, os.PathLike)):
            self.name = os.fspath(f)
            try:
                self.fh = open(self.name, "rb")  # noqa: SIM115  (closed by close())
            except FileNotFoundError:
                raise MissingFileError(f"ember.load(): no such file: {self.name!r}") from None
            self.own = True
            self.size = os.fstat(self.fh.fileno()).st_size
        elif isinstance(f, (bytes, bytearray, memoryview)):
            self.name, self.own = "<bytes>", False
            self.buf = memoryview(f).cast("B")
            self.size = self.buf.nbytes
        elif hasattr(f, "read"):
            self.name, self.own = getattr(f, "name", "<file object>"), False
            seekable = getattr(f, "seekable", None)
            if hasattr(f, "readinto") and seekable is not None and seekable():
                self.fh, self.base = f, f.tell()
                self.size = f.seek(0, os.SEEK_END) - self.base
            else:
                self.buf = memoryview(f.read()).cast("B")
                self.size = self.buf.nbytes
        else:
            raise ArgumentTypeError(f"ember.load(): expected a path, bytes or a binary file object, got {type(f).__name__}")

    def read(self, offset: int, n: int) -> bytes:
        if self.buf is not None:
            return bytes(self.buf[offset:offset + n])
        self.fh.seek(self.base + offset)
        return self.fh.read(n)

    def read_into(self, offset: int, out: np.ndarray) -> None:
        """Fill ``out`` (a contiguous array) with the bytes at ``offset``."""
        dst = out.reshape(-1).view(np.uint8)
        n = dst.nbytes
        if self.buf is not None:
            dst[:] = np.frombuffer(self.buf[offset:offset + n], np.uint8)
            return
        self.fh.seek(self.base + offset)
        mv, got = memoryview(dst), 0
        while got < n:
            k = self.fh.readinto(mv[got:])
            if not k:
                raise SerializationError(f"ember.load(): {self.name} ended after {offset + got} bytes while "
                                         f"reading a tensor (was it changed while loading?)")
            got += k

    def close(self):
        if self.own and self.fh is not None:
            self.fh.close()


def _short(v) -> str:
    r = repr(v)
    return r if len(r) <= 80 else r[:77] + "..."


def _pickle_check(head: bytes, name: str) -> None:
    """torch.save writes a zip archive (or, before PyTorch 1.6, a bare pickle): refuse it by name."""
    zipped = head[:4] == b"PK\x03\x04"
    pickled = len(head) >= 3 and head[0] == 0x80 and 2 <= head[1] <= 5 and head[2] != 0
    if zipped or pickled:
        raise SerializationError(
            f"ember.load(): {name} is a PyTorch pickle file (written by torch.save as a "
            f"{'zip archive' if zipped else 'pickle'}), not a safetensors file. Ember never unpickles: "
            f"unpickling can run arbitrary code. Convert it once with PyTorch: "
            f"sd = torch.load(path, weights_only=True); safetensors.torch.save_file(sd, 'model.safetensors') "
            f"(a flat dict of tensors, e.g. model.state_dict()), then ember.load('model.safetensors')")


def _check_entry(key, info, name: str, size: int) -> None:
    """One header entry: dtype, shape and data_offsets of the right types, inside the data section."""
    where = f"ember.load(): {name} has a bad header entry for tensor {key!r}"
    if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
        raise SerializationError(f"{where}: {_short(info)} (expected dtype, shape and data_offsets)")
    dt = info["dtype"]
    if not isinstance(dt, str):
        raise SerializationError(f"{where}: dtype must be a string such as 'F32', got {_short(dt)}")
    if dt not in _ST_TO_EMBER:
        raise SerializationError(f"ember.load(): tensor {key!r} in {name} has dtype {dt!r}, which Ember does "
                                 f"not support; supported: {', '.join(_ST_TO_EMBER)}")
    shape = info["shape"]
    if not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape):
        raise SerializationError(f"{where}: shape must be a list of non-negative integers, got {_short(shape)}")
    off = info["data_offsets"]
    if not isinstance(off, list) or len(off) != 2 or not all(type(x) is int and x >= 0 for x in off):
        raise SerializationError(f"{where}: data_offsets must be a list of two non-negative integers "
                                 f"[begin, end], got {_short(off)}")
    b, e = off
    nel = 1
    for s in shape:
        nel *= s
    if e > size or b > e:
        raise SerializationError(f"ember.load(): {name} is truncated: tensor {key!r} needs bytes {b}..{e} of the "
                                 f"data section, which has only {size} bytes")
    if e - b != nel * _ST_TO_EMBER[dt].itemsize:
        raise SerializationError(f"ember.load(): {name} has a bad header: tensor {key!r} of shape "
                                 f"{tuple(shape)} and dtype {dt} should take "
                                 f"{nel * _ST_TO_EMBER[dt].itemsize} bytes, its offsets give {e - b}")


def _parse_header(src: _Source):
    """Check the header and every tensor's byte range; return (header dict, metadata, data start)."""
    name = src.name
    head = src.read(0, 8)
    if len(head) < 8:
        raise SerializationError(f"ember.load(): {name} is not a safetensors file: it has {len(head)} bytes, "
                                 f"fewer than the 8-byte header length")
    (n,) = struct.unpack("<Q", head)
    if n > _MAX_HEADER or 8 + n > src.size:
        _pickle_check(head, name)
        raise SerializationError(f"ember.load(): {name} has a bad header: its length field says {n} bytes but "
                                 f"the file has {src.size - 8} bytes after it (truncated, or not a safetensors "
                                 f"file)")
    try:
        header = json.loads(src.read(8, n).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        _pickle_check(head, name)
        raise SerializationError(f"ember.load(): {name} has a bad header: it is not valid JSON ({e})") from None
    except RecursionError:
        raise SerializationError(f"ember.load(): {name} has a bad header: its JSON is nested too deeply to "
                                 f"be a safetensors header") from None
    if not isinstance(header, dict):
        raise SerializationError(f"ember.load(): {name} has a bad header: expected a JSON object, got "
                                 f"{type(header).__name__}")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise SerializationError(f"ember.load(): {name} has a bad header: __metadata__ must map strings to "
                                 f"strings, got {_short(metadata)}")
    start = 8 + n
    for key, info in header.items():
        _check_entry(key, info, name, src.size - start)
    return header, metadata, start


def _decode(obj, tensors):
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__tuple__" in obj:
            return tuple(_decode(v, tensors) for v in obj["__tuple__"])
        if "__dict__" in obj:
            return {k: _decode(v, tensors) for k, v in obj["__dict__"]}
    return obj


def load(f, map_location=None, *, weights_only=True):
    """Load what ember.save wrote (or any safetensors file: a dict of tensors) onto ``map_location``.

    Each tensor's bytes are read once, straight into a host array that becomes the tensor (cpu) or
    is copied to the device and dropped, so peak memory stays near the file's size."""
    from .device import resolve

    from ._legacy import split_map_location
    map_location, remap = split_map_location(map_location)
    src = _Source(f)
    try:
        header, metadata, start = _parse_header(src)
        backend, dev = resolve(map_location)
        tensors = {}
        for key, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
            dt = _ST_TO_EMBER[info["dtype"]]
            arr = np.empty(tuple(info["shape"]), dt.np)
            if arr.nbytes:
                src.read_into(start + info["data_offsets"][0], arr)
            tensors[key] = remap(backend.runtime.from_numpy(arr, dev), "cpu")
            del arr
    finally:
        src.close()
    name = src.name
    fmt = metadata.get(_FORMAT)
    if fmt == "tensor":
        if "tensor" not in tensors:
            raise SerializationError(f"ember.load(): {name} says it holds one tensor but has no tensor named "
                                     f"'tensor' (it has {_short(list(tensors))})")
        return tensors["tensor"]
    if fmt == "tree":
        try:
            return _decode(json.loads(metadata[_TREE]), tensors)
        except (KeyError, ValueError, TypeError, RecursionError) as e:
            raise SerializationError(f"ember.load(): {name} has a damaged structure record "
                                     f"({type(e).__name__}: {e})") from None
    order = list(header)
    if fmt == "state_dict":
        try:
            stored = json.loads(metadata.get(_ORDER, "[]"))
            if isinstance(stored, list) and all(isinstance(k, str) for k in stored) and sorted(stored) == sorted(order):
                order = stored
        except (ValueError, RecursionError):
            pass
    return {k: tensors[k] for k in order}


def load_metadata(f) -> dict:
    """The user metadata (str -> str) stored in a safetensors file's header."""
    src = _Source(f)
    try:
        _, metadata, _ = _parse_header(src)
    finally:
        src.close()
    return {k: v for k, v in metadata.items() if not k.startswith("ember.")}
