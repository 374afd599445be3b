"""Operator definitions by family. Importing this module defines every operator."""

from . import creation, elementwise, views  # noqa: F401  (order: later families use earlier ones)
from . import reduction, linalg, shape, indexing, sorting  # noqa: F401
from . import random  # noqa: F401
from . import nn, recurrent  # noqa: F401
from . import counting, tensor_more, grids, statistics, quantile, sampling  # noqa: F401  (composites)
from . import linalg_solvers  # noqa: F401  (factorizations and solvers, decomposed to prims)
from . import complex as complex_ops, fft  # noqa: F401  (complex numbers and the discrete Fourier transforms)
from . import sparse as sparse_ops  # noqa: F401  (sparse COO tensors: the SparseCOO key's entries, _sparse_mm)
from . import breadth, breadth_api, special  # noqa: F401  (PyTorch's everyday extras and special functions)
from . import decompositions, prims  # noqa: F401  (after every family: they decompose its operators)
from ._helpers import Spec  # noqa: F401

FAMILIES = (creation, elementwise, views, reduction, linalg, shape, indexing, sorting, random, nn, recurrent)
FAMILIES += (counting, tensor_more, grids, statistics, quantile, sampling)
FAMILIES += (linalg_solvers,)
FAMILIES += (complex_ops, fft)
FAMILIES += (breadth, breadth_api, special)

prims.finalize()
elementwise.refresh_docs()  # the add/sub wrappers show their operators' final contracts
complex_ops.install()  # after every operator: those that do not take complex tensors refuse them
sparse_ops.install()  # after every operator: those without a sparse implementation refuse sparse tensors
