"""Operator definitions by family. Importing this module defines every operator."""

from . import creation, elementwise, views  # noqa: F401  (order: later families use earlier ones)
from . import reduction, linalg, shape, indexing, sorting  # noqa: F401
from . import random  # noqa: F401
from . import nn  # noqa: F401
from . import counting, tensor_more, grids, statistics, quantile, sampling  # noqa: F401  (composites)
from . import decompositions, prims  # noqa: F401  (after every family: they decompose its operators)
from ._helpers import Spec  # noqa: F401

FAMILIES = (creation, elementwise, views, reduction, linalg, shape, indexing, sorting, random, nn)
FAMILIES += (counting, tensor_more, grids, statistics, quantile, sampling)

prims.finalize()
