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
from .errors import EmberError

__all__ = ["save", "load", "SerializationError"]


class SerializationError(EmberError, ValueError):
    """A file that is not a valid safetensors file Ember can read, or an object it cannot save."""


# safetensors dtype names <-> Ember dtypes
_ST_TO_EMBER = {"F64": D.float64, "F32": D.float32, "F16": D.float16, "BF16": D.bfloat16, "I64": D.int64,
                "I32": D.int32, "I16": D.int16, "I8": D.int8, "U8": D.uint8, "BOOL": D.bool}
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

def _read_bytes(f) -> tuple[bytes, str]:
    if isinstance(f, (str, os.PathLike)):
        name = os.fspath(f)
        try:
            with open(name, "rb") as fh:
                return fh.read(), name
        except FileNotFoundError:
            raise FileNotFoundError(f"ember.load(): no such file: {name!r}") from None
    if isinstance(f, (bytes, bytearray, memoryview)):
        return bytes(f), "<bytes>"
    if hasattr(f, "read"):
        return f.read(), getattr(f, "name", "<file object>")
    raise TypeError(f"ember.load(): expected a path, bytes or a binary file object, got {type(f).__name__}")


def _parse_header(data: bytes, name: str):
    """Check the header and every tensor's byte range; return (header dict, metadata, data start)."""
    if len(data) < 8:
        raise SerializationError(f"ember.load(): {name} is not a safetensors file: it has {len(data)} bytes, "
                                 f"fewer than the 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER or 8 + n > len(data):
        raise SerializationError(f"ember.load(): {name} has a bad header: its length field says {n} bytes but "
                                 f"the file has {len(data) - 8} bytes after it (truncated, or not a safetensors "
                                 f"file)")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SerializationError(f"ember.load(): {name} has a bad header: it is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise SerializationError(f"ember.load(): {name} has a bad header: expected a JSON object, got "
                                 f"{type(header).__name__}")
    metadata = header.pop("__metadata__", None) or {}
    start = 8 + n
    size = len(data) - start
    for key, info in header.items():
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
            raise SerializationError(f"ember.load(): {name} has a bad header entry for tensor {key!r}: {info!r} "
                                     f"(expected dtype, shape and data_offsets)")
        dt = info["dtype"]
        if dt not in _ST_TO_EMBER:
            raise SerializationError(f"ember.load(): tensor {key!r} in {name} has dtype {dt!r}, which Ember does "
                                     f"not support; supported: {', '.join(_ST_TO_EMBER)}")
        b, e = info["data_offsets"]
        nel = 1
        for s in info["shape"]:
            nel *= s
        if e > size or b > e:
            raise SerializationError(f"ember.load(): {name} is truncated: tensor {key!r} needs bytes {b}..{e} of the "
                                     f"data section, which has only {size} bytes")
        if e - b != nel * _ST_TO_EMBER[dt].itemsize:
            raise SerializationError(f"ember.load(): {name} has a bad header: tensor {key!r} of shape "
                                     f"{tuple(info['shape'])} and dtype {dt} should take "
                                     f"{nel * _ST_TO_EMBER[dt].itemsize} bytes, its offsets give {e - b}")
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
    """Load what ember.save wrote (or any safetensors file: a dict of tensors) onto ``map_location``."""
    from safetensors import SafetensorError, deserialize

    from ._factory import tensor as _tensor

    data, name = _read_bytes(f)
    header, metadata, _ = _parse_header(data, name)
    try:
        flat = deserialize(data)
    except SafetensorError as e:
        raise SerializationError(f"ember.load(): {name} is not a valid safetensors file: {e}") from None
    device = map_location
    if callable(device):
        raise TypeError("ember.load(): map_location must be a device or a device string")
    tensors = {}
    for key, info in flat:
        dt = _ST_TO_EMBER[info["dtype"]]
        arr = np.frombuffer(info["data"], dtype=dt.np).reshape(info["shape"]).copy()
        tensors[key] = _tensor(arr, dtype=dt, device=device)
    fmt = metadata.get(_FORMAT)
    if fmt == "tensor":
        return tensors["tensor"]
    if fmt == "tree":
        try:
            return _decode(json.loads(metadata[_TREE]), tensors)
        except (KeyError, ValueError, TypeError) as e:
            raise SerializationError(f"ember.load(): {name} has a damaged structure record ({e})") from None
    order = list(header)
    if fmt == "state_dict":
        try:
            stored = json.loads(metadata.get(_ORDER, "[]"))
            if sorted(stored) == sorted(order):
                order = stored
        except ValueError:
            pass
    return {k: tensors[k] for k in order}


def load_metadata(f) -> dict:
    """The user metadata (str -> str) stored in a safetensors file's header."""
    data, name = _read_bytes(f)
    _, metadata, _ = _parse_header(data, name)
    return {k: v for k, v in metadata.items() if not k.startswith("ember.")}

