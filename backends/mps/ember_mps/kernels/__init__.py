"""The mps kernel table: operator name -> kernel, gathered from the family modules."""

from ember.errors import InvalidArgumentError

from . import creation, elementwise, indexing, linalg, reduction

KERNELS: dict = {}
for _m in (creation, elementwise, reduction, linalg, indexing):
    for _name, _k in _m.KERNELS.items():
        if _name in KERNELS:
            raise InvalidArgumentError(f"mps kernel {_name!r} defined twice")
        KERNELS[_name] = _k
