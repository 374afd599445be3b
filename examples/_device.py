"""The device every example runs on when ``--device`` is not given: one rule, written once, in
``ember.accelerator`` (the first available accelerator in the order of Ember's backend catalogue,
cuda, rocm, xpu, mps, xla, whose tensors are not in host memory); else "cpu". A backend that
computes on the host (xla on XLA's CPU client) is not faster than cpu, so it does not win over it;
ask for it with ``--device xla``.
"""

from __future__ import annotations

import ember
from ember.accelerator import is_accelerator, runs_on_host  # noqa: F401  (the rule's parts, for tests)


def best_device() -> str:
    """The device type the examples use by default: the available accelerator, else "cpu"."""
    acc = ember.accelerator.current_accelerator(check_available=True)
    return "cpu" if acc is None else acc.type
