"""Finding, loading and registering plugins, lazily and safely.

Entry points in the ``ember.backends`` group are read only when a device type
is first needed (or by ``ember info``). A plugin that fails to import or to
register is recorded with its traceback and never breaks ``import ember``;
asking for its device then raises an error that carries that record.
"""

from __future__ import annotations

import os
import re
import threading
import traceback
from dataclasses import dataclass, field
from importlib import metadata

import pluggy

from ..device import Backend, _backends, add_backend, get_backend, registered_backends
from ..dispatch import keys as K
from ..dispatch import operator as _ops
from ..errors import BackendNotInstalledError, PluginError, RegistrationError, UnknownDeviceError
from . import comm as _comm
from . import hookspecs
from .capabilities import Capabilities
from .catalogue import catalogue, install_hint

GROUP = "ember.backends"

pm = pluggy.PluginManager("ember")
pm.add_hookspecs(hookspecs)


@dataclass
class PluginRecord:
    """What ``ember info`` shows of one plugin."""

    name: str
    distribution: str = "?"
    version: str = "?"
    status: str = "not loaded"   # not loaded | loaded | failed | disabled
    error: str | None = None
    traceback: str | None = None
    device_types: list = field(default_factory=list)
    hooks: list = field(default_factory=list)
    comm_backends: list = field(default_factory=list)


records: dict[str, PluginRecord] = {}
_lock = threading.RLock()
_scanned = False
_entry_points: dict = {}


def autoload_enabled() -> bool:
    return os.environ.get("EMBER_PLUGINS_AUTOLOAD", "1").strip().lower() not in ("0", "false", "no", "off")


def allowlist() -> set | None:
    raw = os.environ.get("EMBER_PLUGINS")
    if raw is None or not raw.strip():
        return None
    return {x.strip() for x in raw.split(",") if x.strip()}


def _scan() -> None:
    """Read the entry points (metadata only: nothing is imported here)."""
    global _scanned
    if _scanned:
        return
    _scanned = True
    if not autoload_enabled():
        return
    allowed = allowlist()
    for ep in metadata.entry_points(group=GROUP):
        dist = getattr(ep, "dist", None)
        name = ep.name
        owner = catalogue().get(name, {}).get("distribution")
        if owner and dist and _normalized(dist.name) != _normalized(owner):
            name = f"{ep.name}[{dist.name}]"  # another package's entry point never takes the owner's name
        if name in records:
            continue
        rec = PluginRecord(name, dist.name if dist else "?", dist.version if dist else "?")
        records[name] = rec
        if allowed is not None and ep.name not in allowed:
            rec.status = "disabled"
            rec.error = f"not in EMBER_PLUGINS={os.environ.get('EMBER_PLUGINS')}"
            continue
        _entry_points[name] = ep


def _load_entry_point(name: str) -> None:
    ep = _entry_points.pop(name, None)
    if ep is None:
        return
    rec = records[name]
    try:
        module = ep.load()
    except BaseException as e:  # a broken plugin must never break ember, even one calling sys.exit()
        if isinstance(e, KeyboardInterrupt):
            raise
        rec.status = "failed"
        rec.error = f"import failed: {_describe(e)}"
        rec.traceback = traceback.format_exc()
        return
    register_plugin(module, name=name, record=rec)


def register_plugin(plugin, name: str | None = None, record: PluginRecord | None = None) -> PluginRecord:
    """Register a plugin object or module by hand (what autoloading does for entry points)."""
    with _lock:
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        rec = record or records.setdefault(name, PluginRecord(name, *_distribution_of(plugin, name)))
        records[name] = rec
        try:
            pm.register(plugin, name=name)
        except Exception as e:
            rec.status, rec.error, rec.traceback = "failed", f"{type(e).__name__}: {e}", traceback.format_exc()
            return rec
        rec.hooks = [h.name for h in pm.get_hookcallers(plugin) or []]
        registered: list = []
        comms: list = []
        try:
            hook = getattr(plugin, "ember_register_backends", None)
            if hook is not None:
                hook(register=_make_register(rec, registered))
            hook = getattr(plugin, "ember_register_kernels", None)
            if hook is not None:
                hook(register_kernel=_register_kernel)
            hook = getattr(plugin, "ember_register_comm_backends", None)
            if hook is not None:
                hook(register=_comm.make_register(rec, comms, _check_api_version))
        except (Exception, SystemExit) as e:
            for b in registered:  # roll back a half-registered plugin
                _unregister_backend(b)
            _comm.unregister(comms)
            pm.unregister(plugin)
            rec.status = "failed"
            rec.error = f"registration failed: {_describe(e)}"
            rec.traceback = traceback.format_exc()
            rec.device_types = []
            return rec
        rec.status = "loaded"
        rec.device_types = [b.device_type for b in registered]
        rec.comm_backends = [c.name for c in comms]
        return rec


def _describe(e: BaseException) -> str:
    if isinstance(e, SystemExit):
        return (f"SystemExit: the plugin called sys.exit({e.code!r}); a plugin must raise an exception "
                f"instead, which Ember records")
    return f"{type(e).__name__}: {e}"


def _normalized(distribution: str) -> str:
    """A distribution name as packaging compares them: case, '-', '_' and '.' do not matter."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _check_catalogued_owner(rec: PluginRecord, device_type: str) -> None:
    """A device type plugins.toml assigns to a distribution may be registered by that distribution only,
    so that a package registering 'cpu' cannot replace ember-cpu by loading first."""
    entry = catalogue().get(device_type)
    if entry is None or _normalized(entry["distribution"]) == _normalized(rec.distribution):
        return
    raise RegistrationError(
        f"plugin {rec.name!r} from package {rec.distribution} registers device type {device_type!r}, which "
        f"belongs to package {entry['distribution']} (plugins.toml); refused. Uninstall {rec.distribution}, "
        f"or register the backend under a device type of its own")


def _distribution_of(plugin, name: str) -> tuple:
    """(distribution, version) of a plugin registered by hand: ember-core for core's own."""
    module = getattr(plugin, "__name__", None) or getattr(type(plugin), "__module__", "") or ""
    if module == "ember" or module.startswith("ember."):
        from .. import __version__
        return "ember-core", __version__
    try:  # the installed distribution that provides the plugin's top-level package, if any
        dist = metadata.packages_distributions().get(module.partition(".")[0], [None])[0]
        if dist:
            return dist, metadata.version(dist)
    except Exception:  # noqa: BLE001  (a name is only for display)
        pass
    return module or name, "?"


def _checked_array_kernels(plugin_name: str, array_kernels) -> dict:
    """A plugin's array kernels, checked at registration: operator name -> (callable, dtypes)."""
    from .. import dtypes as D
    table = {}
    for opname, entry in (array_kernels or {}).items():
        if opname not in _ops.registry:
            raise RegistrationError(f"plugin {plugin_name!r} registers an array kernel for unknown operator {opname!r}")
        ok = isinstance(entry, tuple) and len(entry) == 2 and callable(entry[0]) and all(
            isinstance(d, D.DType) for d in entry[1])
        if not ok:
            raise RegistrationError(f"plugin {plugin_name!r}: the array kernel of {opname!r} must be "
                                    f"(callable, dtypes), got {entry!r}")
        table[opname] = (entry[0], tuple(entry[1]))
    return table


def _check_api_version(plugin_name: str, version) -> None:
    want_major = hookspecs.API_VERSION.split(".")[0]
    got = str(version)
    if got.split(".")[0] != want_major:
        raise PluginError(
            f"plugin {plugin_name!r} was written for Ember plugin API {got}, but this ember-core "
            f"speaks API {hookspecs.API_VERSION} (major versions must match); "
            f"upgrade the plugin, or install an ember-core that speaks API {got}")


def _make_register(rec: PluginRecord, registered: list):
    def register(device_type, *, api_version, runtime, kernels, capabilities=None, indexed=True,
                 fallback_entry=None, array_kernels=None, array_handle=None):
        _check_api_version(rec.name, api_version)
        if not isinstance(device_type, str) or not device_type.isidentifier():
            raise RegistrationError(f"device type must be an identifier string, got {device_type!r}")
        if device_type in {b.device_type for b in registered_backends()}:
            raise RegistrationError(
                f"device type {device_type!r} is already registered by "
                f"{_backends[device_type].distribution}; plugin {rec.name!r} cannot register it again")
        _check_catalogued_owner(rec, device_type)
        unknown = sorted(set(kernels) - set(_ops.registry))
        if unknown:
            raise RegistrationError(
                f"plugin {rec.name!r} registers kernels for unknown operators: {', '.join(unknown)}")
        key = K.META if device_type == "meta" else K.new_backend_key(device_type)
        backend = Backend(device_type, key, runtime, capabilities or Capabilities(),
                                  rec.distribution, rec.version, rec.name, fallback_entry, indexed,
                                  _checked_array_kernels(rec.name, array_kernels), array_handle)
        add_backend(backend)
        registered.append(backend)
        for opname, kernel in kernels.items():
            _ops.registry[opname].kernels[key.index] = kernel
        _ops.rebuild_all()
        return backend
    return register


def _unregister_backend(backend) -> None:
    _backends.pop(backend.device_type, None)
    for op in _ops.registry.values():
        op.kernels.pop(backend.key.index, None)
    K._backend_keys.pop(backend.device_type, None)
    _ops.rebuild_all()


def _register_kernel(opname: str, device_type: str, kernel) -> None:
    backend = get_backend(device_type)
    _ops.get(opname).register(backend.key, kernel)


def load_all() -> None:
    """Load every allowed entry point (for ``ember info``)."""
    with _lock:
        _scan()
        for name in list(_entry_points):
            _load_entry_point(name)


def require_backend(device_type: str):
    """Load what provides ``device_type`` and return its backend, or raise saying why not."""
    with _lock:
        b = _backends.get(device_type)
        if b is not None:
            return b
        _scan()
        # The entry point named after the device type first; then every other one.
        _load_entry_point(device_type)
        b = _backends.get(device_type)
        if b is None:
            for name in list(_entry_points):
                _load_entry_point(name)
            b = _backends.get(device_type)
        if b is not None:
            return b
        raise _missing_backend_error(device_type)


def _missing_backend_error(device_type: str) -> Exception:
    entry = catalogue().get(device_type)
    rec = records.get(device_type) or next(
        (r for r in records.values() if entry and r.distribution == entry["distribution"]), None)
    if rec is not None and rec.status == "failed":
        return PluginError(
            f"device type {device_type!r} comes from plugin {rec.name!r} ({rec.distribution} {rec.version}), "
            f"which failed to load: {rec.error}. Run `ember info` for the traceback.")
    if rec is not None and rec.status == "disabled":
        return PluginError(
            f"device type {device_type!r} comes from plugin {rec.name!r}, which is disabled ({rec.error}); "
            f"add {rec.name} to EMBER_PLUGINS to enable it")
    if not autoload_enabled():  # the plugin may well be installed: nothing was looked for
        return (BackendNotInstalledError if entry is not None else UnknownDeviceError)(
            f"device type {device_type!r} is not registered and EMBER_PLUGINS_AUTOLOAD=0 is set; "
            f"register its plugin with ember.plugins.register_plugin(...) or unset EMBER_PLUGINS_AUTOLOAD")
    if entry is not None and entry.get("planned"):
        return BackendNotInstalledError(f"device type {device_type!r} has no backend yet: {install_hint(device_type)}")
    if entry is not None:
        return BackendNotInstalledError(
            f"device type {device_type!r} is provided by the {entry['distribution']} plugin, which is "
            f"not installed; {install_hint(device_type)}")
    known = sorted(set(catalogue()) | {b.device_type for b in registered_backends()})
    return UnknownDeviceError(
        f"unknown device type {device_type!r}; known device types: {', '.join(known)}")


def plugin_records() -> list[PluginRecord]:
    load_all()
    return list(records.values())
