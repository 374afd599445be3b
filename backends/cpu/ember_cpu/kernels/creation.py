"""fill_, copy_ and arange on numpy."""

from __future__ import annotations

import warnings

import numpy as np

from ..runtime import _out_of_memory, arr, wrap

# A cast of NaN or inf to an integer has no defined result (as in PyTorch, which stays silent);
# numpy warns. The filter covers this module's calls only.
warnings.filterwarnings("ignore", category=RuntimeWarning, module=__name__)


def fill_(x, value):
    arr(x)[...] = value
    return x


def copy_(dst, src):
    np.copyto(arr(dst), arr(src), casting="unsafe")
    return dst


def arange(start, step, n, dtype, device):
    try:
        if dtype.is_floating_point:
            out = (np.arange(n, dtype=np.float64) * step + start).astype(dtype.np)
        else:
            out = np.arange(start, start + n * step, step, dtype=np.int64)[:n].astype(dtype.np)
    except (MemoryError, ValueError):  # numpy allocates here ("array is too big"), not the runtime
        raise _out_of_memory((n,), dtype) from None
    return wrap(out)


KERNELS = {"fill_": fill_, "copy_": copy_, "arange": arange}
