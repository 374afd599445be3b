"""The device every example runs on when ``--device`` is not given: one rule, written once.

The rule: the first available accelerator, in the order of Ember's catalogue of backends
(plugins.toml: cuda, rocm, xpu, mps, xla), then any other installed device type by name;
else "cpu". An accelerator is a device type whose runtime is available with at least one
device and whose tensors do not live in host memory. A backend that computes on the host
(xla on XLA's CPU client, whose tensors report the DLPack device kDLCPU) is not faster than
cpu, so it does not win over it; ask for it with ``--device xla``.
"""

from __future__ import annotations

import ember
from ember.device import registered_backends
from ember.plugins.catalogue import catalogue

_NOT_ACCELERATORS = ("cpu", "meta")   # meta has shapes and dtypes but no data
_KDLCPU = 1                           # DLPack's device type code for host memory


def runs_on_host(backend) -> bool:
    """True where the backend's tensors are in host memory (it says so, or its DLPack device is the cpu)."""
    if backend.capabilities.host_memory:
        return True
    try:
        t = ember.zeros(1, device=backend.device(0))
        return t.__dlpack_device__()[0] == _KDLCPU
    except Exception:  # noqa: BLE001  (no DLPack export: nothing says it is on the host)
        return False


def is_accelerator(backend) -> bool:
    if backend.device_type in _NOT_ACCELERATORS:
        return False
    try:
        if not backend.runtime.is_available() or backend.runtime.device_count() < 1:
            return False
    except Exception:  # noqa: BLE001  (a runtime that cannot even answer is not usable)
        return False
    return not runs_on_host(backend)


def best_device() -> str:
    """The device type the examples use by default: the first available accelerator, else "cpu"."""
    ember.plugins.load_all()
    order = list(catalogue())
    backends = sorted(registered_backends(), key=lambda b: (order.index(b.device_type) if b.device_type in order
                                                            else len(order), b.device_type))
    for b in backends:
        if is_accelerator(b):
            return b.device_type
    return "cpu"
