"""Random number generators: counter-based Philox4x32-10, the same numbers on every device.

A :class:`Generator` is a (seed, offset) pair for one device. Every random
operator asks it for ``n`` 32-bit words: it gets the current (seed, offset)
and the offset advances by ``ceil(n / 4)`` 128-bit counters, so successive
calls never reuse counters. The words themselves come from the one random
prim, ``philox_random(size, seed, offset, *, device)`` (see
``ember.ops.random``), which every backend implements; ``rand``, ``randn``,
``randint``, ``normal_``, ``uniform_``, ``bernoulli_``, ``dropout`` and
``randperm`` are decompositions over those words, so one seed gives the same
values on every backend whose prim and elementwise prims agree.

Each device has a default generator (``default_generator(device)``);
``ember.manual_seed(s)`` seeds them all, those not yet created included.
"""

from __future__ import annotations

import contextlib
import os
import threading

from ..device import Device, resolve
from ..errors import ArgumentTypeError, InvalidArgumentError

__all__ = ["Generator", "default_generator", "manual_seed", "seed", "initial_seed", "get_rng_state",
           "set_rng_state", "fork_rng", "DEFAULT_SEED"]

#: The seed of every default generator until ``ember.manual_seed`` (PyTorch's cpu default).
DEFAULT_SEED = 67280421310721
_U64 = (1 << 64) - 1
_U128 = (1 << 128) - 1
STATE_BYTES = 24  # seed (8 bytes) + offset (16 bytes), little-endian


def _check_seed(seed) -> int:
    try:
        s = seed.__index__()
    except AttributeError:
        raise ArgumentTypeError(f"a seed is an int, got {type(seed).__name__}: {seed!r}") from None
    if not -(1 << 63) <= s <= _U64:
        raise InvalidArgumentError(f"seed must be in [-2**63, 2**64), got {s}; reduce it, e.g. seed % 2**64")
    return s & _U64  # negative seeds wrap, as in PyTorch


class Generator:
    """A Philox random number generator for one device, like ``torch.Generator``.

    ``ember.Generator("counting:0").manual_seed(42)``; pass it as
    ``generator=`` to random operators. Its state is (seed, offset):
    ``get_state()`` returns it as a 24-byte uint8 cpu tensor.
    """

    __slots__ = ("device", "_seed", "_offset", "_lock", "__weakref__")

    def __init__(self, device="cpu"):
        self.device = resolve(device)[1]
        self._seed = _global_seed
        self._offset = 0
        self._lock = threading.Lock()

    def manual_seed(self, seed) -> "Generator":
        """Seed this generator and rewind its offset to 0; returns self."""
        s = _check_seed(seed)
        with self._lock:
            self._seed, self._offset = s, 0
        return self

    def seed(self) -> int:
        """Seed from the operating system's entropy; returns the seed."""
        s = int.from_bytes(os.urandom(8), "little")
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        """The seed given last (by manual_seed, seed, or the default)."""
        return self._seed

    @property
    def offset(self) -> int:
        """How many 128-bit Philox counters have been used since seeding."""
        return self._offset

    def get_state(self):
        """The state as a uint8 cpu tensor of 24 bytes: seed (8) then offset (16), little-endian."""
        import numpy as np
        from .._factory import tensor
        from .. import dtypes as D
        with self._lock:
            raw = self._seed.to_bytes(8, "little") + self._offset.to_bytes(16, "little")
        return tensor(np.frombuffer(raw, np.uint8).copy(), dtype=D.uint8, device="cpu")

    def set_state(self, state) -> "Generator":
        """Restore a state from ``get_state()`` (a uint8 tensor or bytes of length 24); returns self."""
        from .._tensor import Tensor
        if isinstance(state, Tensor):
            raw = bytes(state._to_numpy_copy().astype("uint8").reshape(-1).tolist())
        elif isinstance(state, (bytes, bytearray)):
            raw = bytes(state)
        else:
            raise ArgumentTypeError(f"set_state() expects a uint8 tensor from get_state(), got {type(state).__name__}")
        if len(raw) != STATE_BYTES:
            raise InvalidArgumentError(f"set_state(): a generator state has {STATE_BYTES} bytes (seed and offset), "
                                       f"got {len(raw)}; pass what get_state() returned")
        with self._lock:
            self._seed = int.from_bytes(raw[:8], "little")
            self._offset = int.from_bytes(raw[8:], "little")
        return self

    def _next(self, nwords: int) -> tuple:
        """Reserve ``nwords`` words: returns (seed, offset) and advances by ceil(nwords / 4) counters."""
        with self._lock:
            off = self._offset
            self._offset = (off + (nwords + 3) // 4) & _U128
            return self._seed, off

    def __repr__(self):
        return f"<ember.Generator device={self.device} seed={self._seed} offset={self._offset}>"

    def __reduce_ex__(self, protocol):
        raise ArgumentTypeError("Ember generators are not pickled; save get_state() and restore it with set_state()")


_global_seed = DEFAULT_SEED
_defaults: dict = {}
_defaults_lock = threading.Lock()


def default_generator(device=None) -> Generator:
    """The default generator of ``device`` (default: the current device), created on first use."""
    if not isinstance(device, Device) or (device.index is None and device.type not in ("cpu", "meta")):
        device = resolve(device)[1]
    g = _defaults.get(device)
    if g is None:
        with _defaults_lock:
            g = _defaults.get(device)
            if g is None:
                g = _defaults[device] = Generator(device)
    return g


def manual_seed(seed) -> Generator:
    """Seed the default generator of every device (those created later too); returns cpu's."""
    global _global_seed
    s = _check_seed(seed)
    with _defaults_lock:
        _global_seed = s
        gens = list(_defaults.values())
    for g in gens:
        g.manual_seed(s)
    return default_generator("cpu")


def seed() -> int:
    """Seed every default generator from the operating system's entropy; returns the seed."""
    s = int.from_bytes(os.urandom(8), "little")
    manual_seed(s)
    return s


def initial_seed() -> int:
    """The initial seed of the cpu default generator."""
    return default_generator("cpu").initial_seed()


def get_rng_state(device="cpu"):
    """The state of a device's default generator (a uint8 cpu tensor)."""
    return default_generator(device).get_state()


def set_rng_state(state, device="cpu") -> None:
    """Restore a device's default generator from ``get_rng_state``."""
    default_generator(device).set_state(state)


@contextlib.contextmanager
def fork_rng(devices=None, enabled: bool = True):
    """Context manager: random numbers drawn inside do not change the default generators outside.

    Saves the cpu default generator and those of ``devices`` (default: every
    device whose default generator exists), and restores them on exit.
    """
    if not enabled:
        yield
        return
    if devices is None:
        gens = list(_defaults.values())
    else:
        gens = [default_generator(d) for d in devices]
    cpu = default_generator("cpu")
    if cpu not in gens:
        gens.append(cpu)
    saved = [(g, g._seed, g._offset) for g in gens]
    try:
        yield
    finally:
        for g, s, o in saved:
            with g._lock:
                g._seed, g._offset = s, o
