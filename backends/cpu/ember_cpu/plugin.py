"""The cpu plugin: registers device type "cpu" through Ember's plugin hooks."""

from __future__ import annotations

import numpy as np

import ember
from ember.plugins import API_VERSION, Capabilities, hookimpl

from . import __version__, runtime as _rt
from .kernels import ARRAY_KERNELS, KERNELS


@hookimpl
def ember_register_backends(register):
    _rt.backend = register(
        "cpu", api_version=API_VERSION, runtime=_rt.runtime, kernels=KERNELS, indexed=False,
        array_kernels=ARRAY_KERNELS, array_handle=_rt.arr,
        capabilities=Capabilities(dtypes=ember.dtypes.all_dtypes + ember.dtypes.complex_dtypes, host_memory=True,
                                  autocast_dtypes=(ember.bfloat16, ember.float16), autocast_lists="cpu",
                                  notes=(f"numpy {np.__version__}",)),
    )
    _rt._KEY = _rt.backend.key.bit


@hookimpl
def ember_info():
    from . import _native
    return {"numpy": np.__version__, "native kernels": _native.__file__, "ember-cpu": __version__}
