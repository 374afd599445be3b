"""The xla kernel table: operator name -> kernel, gathered from the family modules."""

from . import creation, elementwise, indexing, linalg, nn, optim, random, reduction, shape, sorting
from . import fft, linalg_solvers
from ember.errors import InvalidArgumentError

KERNELS: dict = {}
for _m in (creation, elementwise, reduction, linalg, shape, indexing, sorting, random, optim, nn, linalg_solvers, fft):
    for _name, _k in _m.KERNELS.items():
        if _name in KERNELS:
            raise InvalidArgumentError(f"xla kernel {_name!r} defined twice")
        KERNELS[_name] = _k

from ember.dispatch import registry as _registry  # noqa: E402

# Kernels for operators this ember-core does not define yet are left out (not an error).
KERNELS = {k: v for k, v in KERNELS.items() if k in _registry}
