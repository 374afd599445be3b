"""Ember: a PyTorch-style tensor library whose core knows no hardware.

Devices come from plugins (``ember.backends`` entry points); ``ember info``
lists what is installed.
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import dtypes
from .dtypes import (DType, bfloat16, bool, double, float, float16, float32, float64, get_default_dtype,
                     half, int, int8, int16, int32, int64, long, promote_types, result_type,
                     set_default_dtype, short, uint8)
from .dtypes import cdouble, cfloat, complex64, complex128
from .device import Device, device, get_default_device, set_default_device
from .errors import (BackendNotInstalledError, BackendUnavailableError, DeviceMismatchError, DTypeError,
                     EmberError, IndexOutOfRangeError, InvalidReshapeError, NotImplementedForBackend,
                     OutOfMemoryError, PluginError, RegistrationError, ShapeError, UnknownDeviceError)
from .errors import NotImplementedForLayout
from .errors import ArgumentTypeError, InvalidArgumentError, KernelResultError, MemoryOverlapError, SizeError, ValueOverflowError
from .errors import AttributeNotFoundError, DivisionByZeroError, KeyNotFoundError, UnsupportedError
from ._tensor import Size, Tensor
from . import dispatch, ops

from .ops.creation import (arange, clone, contiguous, copy_, empty_like, eye, fill_, full, full_like,
                           linspace, ones, ones_like, zeros, zeros_like)
from .ops.creation import empty_ as empty
from ._factory import as_tensor, from_numpy, tensor
from ._dlpack import from_dlpack
from . import plugins, meta as _meta
from . import _tensor_methods

plugins.register_plugin(_meta, name="meta")


def _export_operators() -> None:
    """Make every operator ``ember.<name>``, unless a friendlier wrapper already holds the name."""
    g = globals()
    for fam in ops.FAMILIES:  # Python-level wrappers (varargs, aliases) come first
        for name, fn in getattr(fam, "FUNCTIONS", {}).items():
            g.setdefault(name, fn)
    for name, op in dispatch.registry.items():
        if not name.startswith("_") and name not in g:
            g[name] = op.fn


_export_operators()
_tensor_methods.install()

from ._factory import layout, strided, with_factory_keywords as _factory_keywords  # noqa: E402
for _name in ("zeros", "ones", "empty", "full", "arange", "linspace", "logspace", "eye", "empty_like", "zeros_like",
              "ones_like", "full_like", "rand", "randn", "randint", "randperm", "rand_like", "randn_like",
              "randint_like", "normal", "tensor", "as_tensor"):
    if _name in globals():
        globals()[_name] = _factory_keywords(globals()[_name])
Tensor.layout = property(lambda self: strided)

from . import runtime  # noqa: E402  (runtime services: allocator, streams, devices, RNG)
from .runtime import (Event, Stream, current_device, current_stream, default_stream, device_count,  # noqa: E402
                      device_guard, empty_cache, max_memory_allocated, max_memory_reserved, memory_allocated,
                      memory_reserved, memory_stats, reset_peak_memory_stats, set_device, set_stream, stream,
                      synchronize)
from .runtime.random import (Generator, default_generator, fork_rng, get_rng_state, initial_seed,  # noqa: E402
                             manual_seed, seed, set_rng_state)
runtime.install()

from . import autograd  # noqa: E402
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402

autograd._install()

from . import sparse  # noqa: E402  (sparse COO tensors: ember.sparse_coo_tensor, ember.sparse.mm, Tensor.to_sparse)
from ._factory import sparse_coo  # noqa: E402
from .sparse import sparse_coo_tensor, spmm  # noqa: E402


#: Built on the operators above, and imported on first use (``ember.nn``, ``ember.save``), so that
#: ``import ember`` stays quick: name -> (module, attribute or None for the module itself).
_LAZY = {"nn": ("ember.nn", None), "optim": ("ember.optim", None), "utils": ("ember.utils", None),
         "save": ("ember.serialization", "save"), "load": ("ember.serialization", "load"),
         "SerializationError": ("ember.serialization", "SerializationError")}
_LAZY["distributions"] = ("ember.distributions", None)
_LAZY["linalg"] = ("ember.linalg", None)
_LAZY["pinverse"] = ("ember.linalg", "pinverse")
_LAZY["fft"] = ("ember.fft", None)
_LAZY["special"] = ("ember.special", None)
_LAZY["backends"] = ("ember.backends", None)
_LAZY["testing"] = ("ember.testing", None)
_LAZY["amp"] = ("ember.amp", None)
for _name in ("autocast", "is_autocast_enabled", "set_autocast_enabled", "get_autocast_dtype", "set_autocast_dtype",
              "is_autocast_cache_enabled", "set_autocast_cache_enabled", "clear_autocast_cache",
              "autocast_increment_nesting", "autocast_decrement_nesting"):
    _LAZY[_name] = ("ember.amp", _name)
_LAZY["accelerator"] = ("ember.accelerator", None)
_LAZY["get_device_module"] = ("ember.accelerator", "get_device_module")
_LAZY["set_float32_matmul_precision"] = ("ember.backends._precision", "set_float32_matmul_precision")
_LAZY["get_float32_matmul_precision"] = ("ember.backends._precision", "get_float32_matmul_precision")
_LAZY["distributed"] = ("ember.distributed", None)
for _name in ("use_deterministic_algorithms", "are_deterministic_algorithms_enabled",
              "is_deterministic_algorithms_warn_only_enabled", "set_deterministic_debug_mode",
              "get_deterministic_debug_mode"):
    _LAZY[_name] = ("ember._determinism", _name)


def __getattr__(name):
    """The lazily imported parts, then ``ember.<device type>`` (``ember.cuda``, ...): that type's
    runtime module, from the registered plugins."""
    lazy = _LAZY.get(name)
    if lazy is not None:
        import importlib
        module = importlib.import_module(lazy[0])
        value = module if lazy[1] is None else getattr(module, lazy[1])
        globals()[name] = value
        return value
    m = runtime.device_module(name)
    if m is None:
        raise AttributeNotFoundError(f"module 'ember' has no attribute {name!r}")
    return m


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)


def numel(x) -> int:
    return x.numel()


def info() -> str:
    """The text of ``ember info``."""
    from .cli import info_text
    return info_text()


from . import _legacy  # noqa: E402  (ember.Tensor(2, 3), ember.FloatTensor(...), t.data = ..., format(t, ".3f"))
from ._legacy import (BFloat16Tensor, BoolTensor, ByteTensor, CharTensor, DoubleTensor, FloatTensor,  # noqa: E402
                      HalfTensor, IntTensor, LongTensor, ShortTensor)
from ._repr import set_printoptions  # noqa: E402

_legacy.install()

# ember.compiler is the package core/compile; importing it binds ember.compile to the package, so the
# function is bound after it (as torch.compile beside torch.compiler).
from . import compile as compiler  # noqa: E402
from .compile import compile  # noqa: E402,A001

# The native fast path replaces the public functions of the commonest operators (and Tensor's methods and
# operators bound to them) by native callables that fall back to them (dispatch/fast.py).
from .dispatch import fast as _fast_dispatch  # noqa: E402
from .ops import elementwise as _elementwise_ops, linalg as _linalg_ops, nn as _nn_ops, reduction as _reduction_ops  # noqa: E402,E501

_fast_dispatch.install([globals(), ops, _elementwise_ops, _linalg_ops, _nn_ops, _reduction_ops, Tensor])
