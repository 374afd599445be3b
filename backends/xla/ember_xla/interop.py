"""Arrays in and out of Ember without copies: JAX arrays and DLPack."""

from __future__ import annotations

import jax
import numpy as np

from ember import Tensor
from ember import dtypes as D
from ember.device import resolve

from . import _engine as E
from . import runtime as R
from ember.errors import ArgumentTypeError

_np_to_ember = {d.np: d for d in D.all_dtypes + D.complex_dtypes}


def to_jax(t: Tensor) -> jax.Array:
    """The tensor's values as a jax.Array (the storage itself when the tensor is its whole storage)."""
    if t._device.type != "xla":
        raise ArgumentTypeError(f"to_jax() expects an xla tensor, got one on {t._device}; move it with .to('xla') first")
    return R.host_view(t)


def from_jax(a, device=None) -> Tensor:
    """An xla tensor holding ``a``: arrays are immutable, so Ember's writes replace it rather than
    change it. A 1-D array is taken as it is; others take one device-side reshape to flat storage."""
    if not isinstance(a, jax.Array):
        raise ArgumentTypeError(f"from_jax() expects a jax.Array, got {type(a).__name__}")
    dt = _np_to_ember.get(np.dtype(a.dtype))
    if dt is None:
        raise ArgumentTypeError(f"from_jax(): jax dtype {a.dtype} has no Ember dtype")
    devs = list(a.devices())
    jdevs = E.jax_devices()
    if device is not None:
        dev = resolve(device)[1].index or 0
        if devs != [jdevs[dev]]:
            with E._x64(True):
                a = jax.device_put(a, jdevs[dev])
    else:
        dev = jdevs.index(devs[0]) if devs[0] in jdevs else 0
    with E._x64(True):
        flat = a.reshape(-1)
    return R.wrap(flat, tuple(a.shape), dt, dev)


def to_dlpack(t: Tensor):
    """A DLPack capsule of the tensor's values (through JAX's exporter: no copy where JAX shares)."""
    return to_jax(t).__dlpack__()


def from_dlpack(obj, device=None) -> Tensor:
    """An xla tensor from any object with ``__dlpack__`` (zero copy where JAX can import in place)."""
    with E._x64(True):
        a = jax.dlpack.from_dlpack(obj)
    return from_jax(a, device)
