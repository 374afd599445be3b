"""Decompositions of the former prims onto the required ones (``ember.ops.prims.REQUIRED``).

Each module registers, for operators that keep a kernel contract, a decomposition in
that kernel's form (``prims.kernel_decomposition`` / ``prims.elementwise_decomposition``);
a backend that registers a kernel for the operator replaces it. Importing this package
registers them all.
"""

from . import arithmetic, transcendental, reductions  # noqa: F401
