"""Collectives of picklable Python objects (PyTorch's ``*_object*`` functions).

Objects travel pickled in uint8 tensors, so every rank must trust the others, as with PyTorch:
these functions unpickle what peers send. Sizes go first, then one payload of the largest size.
"""

from __future__ import annotations

import io
import pickle

import numpy as np

from .._factory import from_numpy
from ..errors import InvalidArgumentError
from .collectives import all_gather_into_tensor, broadcast
from .process_group import get_rank, get_world_size, resolve


def _to_tensor(obj, device):
    buf = io.BytesIO()
    pickle.Pickler(buf).dump(obj)
    t = from_numpy(np.frombuffer(buf.getbuffer(), dtype=np.uint8).copy())
    return t if device is None else t.to(device)


def _from_bytes(arr):
    return pickle.Unpickler(io.BytesIO(arr.tobytes())).load()


def _tensor(arr, device):
    t = from_numpy(arr)
    return t if device is None else t.to(device)


def broadcast_object_list(object_list, src=None, group=None, device=None, group_src=None) -> None:
    """Replace every rank's ``object_list`` entries with rank ``src``'s (the lists must have one length)."""
    g = resolve(group, "broadcast_object_list")
    if g is None:
        return
    if not isinstance(object_list, list):
        raise InvalidArgumentError(
            f"broadcast_object_list(): object_list must be a list, got {type(object_list).__name__}")
    if src is None and group_src is None:
        src = 0
    root_global = g._ranks[group_src] if group_src is not None else src
    is_root = get_rank() == root_global
    n = len(object_list)
    payloads = [_to_tensor(o, None) for o in object_list] if is_root else []
    sizes = _tensor(np.array([p.numel() for p in payloads] if is_root else [0] * n, dtype=np.int64), device)
    broadcast(sizes, src, group, group_src=group_src)
    counts = sizes.cpu().numpy() if device is not None else sizes.numpy()
    total = int(counts.sum())
    flat = (_tensor(np.concatenate([p.numpy() for p in payloads]) if payloads and total else
                    np.zeros(total, np.uint8), device))
    broadcast(flat, src, group, group_src=group_src)
    data = flat.cpu().numpy() if device is not None else flat.numpy()
    if not is_root:
        at = 0
        for i, c in enumerate(counts):
            object_list[i] = _from_bytes(data[at:at + int(c)])
            at += int(c)


def all_gather_object(object_list, obj, group=None) -> None:
    """Fill ``object_list`` (of the group's size) with every rank's ``obj``, in rank order."""
    g = resolve(group, "all_gather_object")
    if g is None:
        return
    n = get_world_size(group)
    if not isinstance(object_list, list) or len(object_list) != n:
        raise InvalidArgumentError(f"all_gather_object(): object_list must be a list of {n} entries (the group's "
                                   f"size), got {len(object_list) if isinstance(object_list, list) else object_list!r}")
    mine = _to_tensor(obj, None)
    sizes = _tensor(np.zeros(n, np.int64), None)
    all_gather_into_tensor(sizes, _tensor(np.array([mine.numel()], np.int64), None), group)
    counts = sizes.numpy()
    width = int(counts.max())
    padded = np.zeros(width, np.uint8)
    padded[:mine.numel()] = mine.numpy()
    out = _tensor(np.zeros(width * n, np.uint8), None)
    all_gather_into_tensor(out, _tensor(padded, None), group)
    data = out.numpy()
    for i in range(n):
        object_list[i] = _from_bytes(data[i * width:i * width + int(counts[i])])


def gather_object(obj, object_gather_list=None, dst=None, group=None, group_dst=None) -> None:
    """Every rank's ``obj`` into rank ``dst``'s ``object_gather_list`` (gathered through all ranks)."""
    g = resolve(group, "gather_object")
    if g is None:
        return
    everything = [None] * g.size()
    all_gather_object(everything, obj, group)
    root = g._ranks[group_dst] if group_dst is not None else (0 if dst is None else dst)
    if get_rank() == root:
        if not isinstance(object_gather_list, list) or len(object_gather_list) != g.size():
            raise InvalidArgumentError(
                f"gather_object(): object_gather_list on dst must be a list of {g.size()} entries")
        object_gather_list[:] = everything


def scatter_object_list(scatter_object_output_list, scatter_object_input_list=None, src=None, group=None,
                        group_src=None) -> None:
    """Rank ``src``'s ``scatter_object_input_list[r]`` into rank ``r``'s ``scatter_object_output_list[0]``."""
    g = resolve(group, "scatter_object_list")
    if g is None:
        return
    if not isinstance(scatter_object_output_list, list) or not scatter_object_output_list:
        raise InvalidArgumentError("scatter_object_list(): scatter_object_output_list must be a non-empty list")
    root = g._ranks[group_src] if group_src is not None else (0 if src is None else src)
    items = list(scatter_object_input_list) if get_rank() == root else [None] * g.size()
    if len(items) != g.size():
        raise InvalidArgumentError(f"scatter_object_list(): the input list on src must have {g.size()} entries, "
                                   f"got {len(items)}")
    broadcast_object_list(items, root, group)
    scatter_object_output_list[0] = items[g.rank()]
