"""Ember's typed errors. Each message says what was wrong, with the values, and what to do."""


class EmberError(Exception):
    """Base class of every error Ember raises on purpose."""


class ShapeError(EmberError, ValueError):
    """Shapes that do not fit together (broadcasting, matmul, cat, ...)."""


class InvalidReshapeError(ShapeError):
    """A view or reshape to a shape with another number of elements, or a view of incompatible strides."""


class SizeError(ShapeError, RuntimeError):
    """A shape no tensor can have: a negative size, or more bytes than a 64-bit size holds (PyTorch's
    RuntimeError; still a ShapeError for code that catches those)."""


class ArgumentTypeError(EmberError, TypeError):
    """An argument of a type the operator does not take (a number where it needs a tensor)."""


class DTypeError(EmberError, TypeError):
    """A dtype an operator does not support, or a cast it refuses."""


class ValueOverflowError(EmberError, RuntimeError, ValueError, OverflowError):
    """A Python number that does not fit the dtype it is written into (PyTorch: "value cannot be converted
    to type ... without overflow"), or an int outside [-2**63, 2**64) where any number is taken (PyTorch's
    OverflowError "int too big to convert"), instead of wrapping silently."""


class InvalidArgumentError(EmberError, ValueError, RuntimeError):
    """An argument value an operator refuses (a negative integer exponent, an unknown mode). PyTorch raises
    RuntimeError for most of these and ValueError for some; both catch this."""


class KeyNotFoundError(EmberError, KeyError):
    """A key that is not there: a module, parameter or buffer name, a state_dict entry, a registry name."""


class AttributeNotFoundError(EmberError, AttributeError):
    """An attribute that a module, tensor or namespace does not have (``hasattr`` answers False)."""


class UnsupportedError(EmberError, NotImplementedError):
    """A feature Ember (or the class at hand: an abstract method) does not implement; the message says
    what to use instead."""


class DivisionByZeroError(EmberError, ZeroDivisionError, RuntimeError):
    """An integer division or remainder by zero (PyTorch's RuntimeError "ZeroDivisionError")."""


class BackendLibraryError(EmberError, RuntimeError):
    """A call into a backend's vendor library (cuBLAS, hipBLAS, a driver) failed; the message names the call
    and the library's status."""


class DLPackError(EmberError, BufferError):
    """A tensor that cannot be exchanged through DLPack (a layout, dtype or device it has no code for);
    DLPack consumers expect BufferError."""


class MissingFileError(EmberError, FileNotFoundError):
    """A file to load that does not exist."""


class MemoryOverlapError(EmberError, RuntimeError):
    """An in-place write whose written-to tensor has elements sharing one memory location (an expanded
    view), or whose input partially overlaps it: PyTorch's "unsupported operation" errors."""


class DeviceMismatchError(EmberError, RuntimeError):
    """Tensor arguments of one operator live on different devices."""


class IndexOutOfRangeError(EmberError, IndexError):
    """An index or dimension outside the valid range."""


class UnknownDeviceError(EmberError, ValueError, RuntimeError):
    """A device string that names no known device type, or an index past the device count."""


class BackendNotInstalledError(UnknownDeviceError):
    """A known device type whose plugin package is not installed."""


class BackendUnavailableError(EmberError, RuntimeError):
    """A backend is installed but cannot run here (no driver, no device)."""


class NotImplementedForBackend(EmberError, NotImplementedError):
    """An operator with neither a kernel nor a decomposition on a backend."""


class NotImplementedForLayout(EmberError, NotImplementedError):
    """An operator that has no implementation for a tensor layout (sparse COO); the message names the conversion."""


class PluginError(EmberError, RuntimeError):
    """A plugin that failed to load or to register."""


class RegistrationError(EmberError, RuntimeError):
    """An invalid kernel or backend registration (a duplicate, an unknown operator)."""


class KernelResultError(EmberError, RuntimeError):
    """A backend kernel returned what its operator cannot return (None, not a tensor, a tensor on
    another device, or, with kernel checks on, a shape or dtype other than the operator's meta says)."""


class OutOfMemoryError(EmberError, RuntimeError):
    """A device allocation failed even after the caching allocator freed its cache and retried.

    Carries ``requested``, ``allocated``, ``reserved``, ``free`` and ``total`` (bytes; free/total
    None when the backend cannot tell) and ``device``.
    """


class LinAlgError(EmberError, RuntimeError):
    """A linear-algebra routine that cannot complete on the values it was given: a singular matrix
    in inv or solve, a matrix that is not positive-definite in cholesky (PyTorch's LinAlgError)."""


class AmpError(EmberError, RuntimeError, AssertionError):
    """Mixed precision used in a way PyTorch refuses: an operator unsafe to autocast inside an autocast
    region, a GradScaler call out of order (unscale_ twice, step before scale). PyTorch raises
    RuntimeError for some of these and AssertionError for others, so this is both."""


class DistributedError(EmberError, RuntimeError):
    """A collective or point-to-point operation of ``ember.distributed`` that failed: a peer rank that
    died, a process group that was aborted, a backend that reported an error. The message names the
    rank(s) involved (PyTorch's ``DistBackendError`` is a RuntimeError too)."""


class DistributedTimeoutError(DistributedError, TimeoutError):
    """A distributed operation that did not complete within the process group's ``timeout``: some rank
    hung, died, or called a different collective. The message names the ranks that did not answer."""


class DistributedNotInitializedError(DistributedError, ValueError):
    """An ``ember.distributed`` call that needs the default process group before
    ``init_process_group`` ran (PyTorch raises ValueError)."""


class CompileError(EmberError, RuntimeError):
    """``ember.compile`` could not trace or lower a function as asked."""


class GraphCaptureError(EmberError, RuntimeError):
    """A device graph capture (``ember.cuda.CUDAGraph``, ``ember.cuda.graph``) that cannot begin, or
    whose recorded work cannot be replayed: a host sync or a host copy inside it, the default stream,
    a second capture_begin (PyTorch raises RuntimeError)."""


class GraphBreakError(CompileError):
    """With ``ember.compile(fullgraph=True)``: the traced function read tensor values on the host
    (``item()``, ``bool(t)``, ``tolist()``, ``numpy()``), so its control flow may depend on data
    (PyTorch raises ``torch._dynamo.exc.Unsupported``, a RuntimeError)."""
