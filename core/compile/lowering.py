"""Graph lowerings: how a traced graph becomes the callable a compiled function runs.

Backends register lowerings through the ``ember_register_graph_lowerings`` hook (hookspecs.py); core
registers "eager" (replay the operator calls) and "print" (print the graph, then replay it) for every
device type. ``ember.compile(backend=None)`` (or "inductor") picks the first lowering the graph's
device type registered, else "eager"; a name picks that lowering; a callable is used as
``backend(graph, example_inputs)``.
"""

from __future__ import annotations

import warnings

from ..errors import InvalidArgumentError, RegistrationError

__all__ = ["register_lowering", "lowerings", "select", "CompileWarning"]


class CompileWarning(UserWarning):
    """ember.compile ran (part of) a call eagerly: a graph break, a cache limit, a lowering that failed."""


def _eager(graph, example_inputs):
    return graph.replay


def _print(graph, example_inputs):
    print(graph)
    return graph.replay


_CORE = {"eager": _eager, "print": _print}
_BY_DEVICE: dict = {}     # device type -> {name: lower}, in registration order
_consulted: set = set()   # ids of plugin objects whose hook has run


def register_lowering(device_type: str, name: str, lower) -> None:
    """Register ``lower(graph, example_inputs) -> callable`` as lowering ``name`` for ``device_type``."""
    if not isinstance(device_type, str) or not isinstance(name, str) or not name:
        raise RegistrationError(f"register(device_type, name, lower) takes two strings, got "
                                f"{device_type!r} and {name!r}")
    if not callable(lower):
        raise RegistrationError(f"graph lowering {name!r} for {device_type!r} must be callable, got {lower!r}")
    if name in _CORE:
        raise RegistrationError(f"graph lowering name {name!r} is core's (for every device type); pick another")
    table = _BY_DEVICE.setdefault(device_type, {})
    if name in table:
        raise RegistrationError(f"device type {device_type!r} already has a graph lowering named {name!r}; "
                                f"a second registration is an error")
    table[name] = lower


def _consult_plugins() -> None:
    from ..plugins.manager import pm
    for plugin in pm.get_plugins():
        if id(plugin) in _consulted:
            continue
        _consulted.add(id(plugin))
        hook = getattr(plugin, "ember_register_graph_lowerings", None)
        if hook is None:
            continue
        try:
            hook(register=register_lowering)
        except Exception as e:  # noqa: BLE001  (a broken lowering must not break compiled calls: they run eagerly)
            warnings.warn(f"plugin {pm.get_name(plugin)!r} failed to register graph lowerings "
                          f"({type(e).__name__}: {e}); its devices use the eager lowering", CompileWarning,
                          stacklevel=3)


def lowerings(device_type: str) -> dict:
    """The lowerings available on ``device_type``: the device's own, in registration order, then core's."""
    _consult_plugins()
    return {**_BY_DEVICE.get(device_type, {}), **_CORE}


def select(backend, device_type: str, mode):
    """(name, lower) for ``ember.compile(backend=..., mode=...)`` on a graph of ``device_type``."""
    if callable(backend):
        return getattr(backend, "__name__", "custom"), backend
    table = lowerings(device_type)
    if backend is None or backend == "inductor":
        own = _BY_DEVICE.get(device_type, {})
        # CUDA graphs only where PyTorch's modes use them: their outputs are static buffers that the next
        # call overwrites, which a plain ember.compile must not do to its caller.
        if mode in ("reduce-overhead", "max-autotune") and "cudagraphs" in own:
            return "cudagraphs", own["cudagraphs"]
        for name, lower in own.items():
            if name != "cudagraphs":
                return name, lower
        return "eager", _eager
    if backend in table:
        return backend, table[backend]
    known = sorted(set(table) | {"inductor"})
    raise InvalidArgumentError(f"ember.compile(): unknown backend {backend!r} for device type {device_type!r}; "
                               f"available: {', '.join(known)} (or a callable backend(graph, example_inputs))")
