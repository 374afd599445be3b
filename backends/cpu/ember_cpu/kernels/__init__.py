"""The cpu kernel table: operator name -> kernel, gathered from the family modules."""

from . import creation, elementwise, indexing, linalg, nn, random, reduction, shape, sorting
from . import fft
from . import linalg_solvers
from . import special
from ember.errors import InvalidArgumentError

KERNELS: dict = {}
for _m in (creation, elementwise, reduction, linalg, shape, indexing, sorting, random, nn, fft, linalg_solvers, special):
    for _name, _k in _m.KERNELS.items():
        if _name in KERNELS:
            raise InvalidArgumentError(f"cpu kernel {_name!r} defined twice")
        KERNELS[_name] = _k

#: operator name -> (array function, dtypes): see register(array_kernels=...) in ember's hookspecs.
ARRAY_KERNELS: dict = {**elementwise.ARRAY_KERNELS, **reduction.ARRAY_KERNELS, **linalg.ARRAY_KERNELS}
