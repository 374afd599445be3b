"""The registry of communication backends (``ember_register_comm_backends``): name -> factory.

It lives with the plugin machinery, not in ``ember.distributed``, so that a plugin loaded before
``ember.distributed`` is imported still has its backends recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import RegistrationError


@dataclass(frozen=True)
class CommBackend:
    """One registered communication backend."""

    name: str
    factory: object
    devices: tuple | None    # device types it serves; None: every device type
    plugin: str
    distribution: str


#: name -> CommBackend, in registration order.
comm_backends: dict[str, CommBackend] = {}


def make_register(rec, registered: list, check_api_version):
    """The ``register`` callback handed to one plugin's ``ember_register_comm_backends``."""
    def register(name, factory, *, api_version, devices=None):
        check_api_version(rec.name, api_version)
        if not isinstance(name, str) or not name.isidentifier() or name != name.lower():
            raise RegistrationError(
                f"communication backend name must be a lower-case identifier string, got {name!r}")
        if name in comm_backends:
            raise RegistrationError(
                f"communication backend {name!r} is already registered by plugin "
                f"{comm_backends[name].plugin!r}; plugin {rec.name!r} cannot register it again")
        if not callable(factory):
            raise RegistrationError(
                f"plugin {rec.name!r} registers communication backend {name!r} with a factory that is "
                f"not callable ({type(factory).__name__}); pass factory(rank, world_size, timeout, init_method)")
        if devices is not None:
            devices = (devices,) if isinstance(devices, str) else tuple(devices)
        entry = CommBackend(name, factory, devices, rec.name, rec.distribution)
        comm_backends[name] = entry
        registered.append(entry)
        return entry
    return register


def unregister(entries) -> None:
    for e in entries:
        if comm_backends.get(e.name) is e:
            del comm_backends[e.name]
