"""``DataLoader(pin_memory=True)``: batches copied into page-locked host memory of the accelerator.

As in PyTorch: without an available accelerator the loader warns once per epoch and yields plain
batches; an accelerator whose backend has no pinned host memory gets the same treatment (PyTorch
does so for MPS). Tensors are found inside tuples, lists, dicts and namedtuples.
"""

from __future__ import annotations

import warnings

__all__ = ["pin_memory", "pinning_available"]


def pinning_available(loader) -> bool:
    """Whether this epoch's batches will be pinned; warns as PyTorch does when they will not."""
    from .. import accelerator
    from ..device import resolve
    if loader.pin_memory_device:
        warnings.warn("pin_memory_device is deprecated, the current accelerator will be used as the device, "
                      f"ignore pin_memory_device={loader.pin_memory_device!r}.", stacklevel=3)
    acc = accelerator.current_accelerator(check_available=True)
    if acc is None:
        warnings.warn("'pin_memory' argument is set as true but no accelerator is found, then device pinned "
                      "memory won't be used.", stacklevel=3)
        return False
    if not hasattr(resolve(acc)[0].runtime, "host_alloc_pinned"):
        warnings.warn(f"'pin_memory' argument is set as true but not supported on {acc.type} now, device pinned "
                      f"memory won't be used.", stacklevel=3)
        return False
    return True


def pin_memory(data):
    """``data`` with every cpu tensor in it replaced by a pinned copy (containers rebuilt, others kept)."""
    from .._tensor import Tensor
    if isinstance(data, Tensor):
        return data.pin_memory() if data.device.type == "cpu" else data
    if isinstance(data, dict):
        return type(data)((k, pin_memory(v)) for k, v in data.items())
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(pin_memory(v) for v in data))
    if isinstance(data, (tuple, list)):
        return type(data)(pin_memory(v) for v in data)
    return data


def pinned_batches(batches):
    for b in batches:
        yield pin_memory(b)
