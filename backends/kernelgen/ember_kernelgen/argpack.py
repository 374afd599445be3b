"""Kernel argument buffers for launch APIs that take ``void** kernelParams`` (cuLaunchKernel,
hipModuleLaunchKernel): shared by the cuda and rocm backends.

A :class:`Kernel` is one compiled entry point on one device plus what a launch needs that does not
change between calls: its signature (driver.py) turned into a ``struct`` format with one 8-byte slot
per parameter, one argument buffer packed in place on every launch, and the array of pointers into
that buffer the launch call reads. A launch is then one ``struct.pack_into`` and one foreign call.
"""

from __future__ import annotations

import ctypes
import struct
import threading

from ember.errors import InvalidArgumentError

__all__ = ["Kernel", "SLOT", "slot_format"]

#: signature character -> struct code of its 8-byte slot (4-byte scalars are padded)
SLOT = {"p": "Q", "q": "q", "i": "i4x", "I": "I4x", "f": "f4x", "d": "d"}


def slot_format(signature: str) -> str:
    """The little-endian struct format of ``signature``: 8 bytes per parameter."""
    try:
        return "<" + "".join(SLOT[c] for c in signature)
    except KeyError as e:
        raise InvalidArgumentError(f"unknown kernel signature character {e.args[0]!r} in {signature!r}; "
                                   f"expected one of {''.join(SLOT)}") from None


class Kernel:
    """One entry point on one device with its reusable argument buffer (``func`` 0: never launched)."""

    __slots__ = ("name", "signature", "func", "device_index", "fmt", "nargs", "buf", "base", "params",
                 "params_addr", "lock", "__weakref__")

    #: the device type shown by repr (a backend's subclass sets it)
    device_type = "gpu"

    def __init__(self, name: str, signature: str, func: int, device_index: int):
        self.name = name
        self.signature = signature
        self.func = func
        self.device_index = device_index
        self.fmt = slot_format(signature)
        self.nargs = len(signature)
        n = max(self.nargs, 1)
        self.buf = ctypes.create_string_buffer(8 * n)
        self.base = ctypes.addressof(self.buf)
        self.params = (ctypes.c_void_p * n)(*[self.base + 8 * i for i in range(n)])
        self.params_addr = ctypes.addressof(self.params)
        self.lock = threading.Lock()

    def pack(self, args) -> None:
        struct.pack_into(self.fmt, self.buf, 0, *args)

    def unpack(self) -> tuple:
        """The values last packed (for tests and launch recorders)."""
        return struct.unpack_from(self.fmt, self.buf, 0)

    def __repr__(self):
        t = self.device_type
        return f"<{t} kernel {self.name}({self.signature}) on {t}:{self.device_index}>"
