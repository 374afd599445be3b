"""Strict mode: noticing work that leaves the device under test.

While a case runs, every other backend's runtime (allocation and host copies)
is watched, and so is the tested backend's device-to-host copy: a kernel that
quietly computes on the host or on another device shows up as an event, and
the case fails. The dispatcher's decompositions are allowed (that is how a
backend gets composite operators), and so are host memory that *is* the
device's memory (capabilities.host_memory) and the one-value reads core makes
for its own checks (``ember.runtime.copies.read_for_check``: an integer
divisor of zero raises before any kernel runs).
"""

from __future__ import annotations

from ember.runtime.copies import reading_for_check

_WATCHED = ("empty", "from_numpy", "to_numpy", "share_numpy")


class Watch:
    def __init__(self, backend):
        self.backend = backend
        self.active = False
        self.events: list[str] = []
        self._patched: list = []

    def install(self) -> None:
        from ember.device import registered_backends
        from ember.plugins import manager
        manager.load_all()  # every installed backend, so that a fallback to any of them is seen
        for b in registered_backends():
            if b.device_type == "meta":
                continue
            names = ("to_numpy",) if b is self.backend else _WATCHED
            if b is self.backend and b.capabilities.host_memory:
                continue
            for name in names:
                fn = getattr(b.runtime, name, None)
                if fn is None:
                    continue
                self._patch(b, name, fn)

    def _patch(self, backend, name, fn):
        label = f"{backend.device_type} runtime.{name}()"

        def watched(*args, **kwargs):
            if self.active and not reading_for_check():
                self.events.append(label)
            return fn(*args, **kwargs)
        had = name in getattr(backend.runtime, "__dict__", {})
        try:
            setattr(backend.runtime, name, watched)
        except AttributeError:  # a runtime with __slots__: cannot be watched
            return
        self._patched.append((backend.runtime, name, fn, had))

    def uninstall(self) -> None:
        for rt, name, fn, had in reversed(self._patched):
            if had:
                setattr(rt, name, fn)
            else:
                try:
                    delattr(rt, name)
                except AttributeError:
                    pass
        self._patched.clear()

    def __enter__(self):
        self.events.clear()
        self.active = True
        return self

    def __exit__(self, *exc):
        self.active = False
        return False
