"""Ember's typed errors. Each message says what was wrong, with the values, and what to do."""


class EmberError(Exception):
    """Base class of every error Ember raises on purpose."""


class ShapeError(EmberError, ValueError):
    """Shapes that do not fit together (broadcasting, matmul, cat, ...)."""


class InvalidReshapeError(ShapeError):
    """A view or reshape to a shape with another number of elements, or a view of incompatible strides."""


class DTypeError(EmberError, TypeError):
    """A dtype an operator does not support, or a cast it refuses."""


class DeviceMismatchError(EmberError, RuntimeError):
    """Tensor arguments of one operator live on different devices."""


class IndexOutOfRangeError(EmberError, IndexError):
    """An index or dimension outside the valid range."""


class UnknownDeviceError(EmberError, ValueError):
    """A device string that names no known device type, or an index past the device count."""


class BackendNotInstalledError(UnknownDeviceError):
    """A known device type whose plugin package is not installed."""


class BackendUnavailableError(EmberError, RuntimeError):
    """A backend is installed but cannot run here (no driver, no device)."""


class NotImplementedForBackend(EmberError, NotImplementedError):
    """An operator with neither a kernel nor a decomposition on a backend."""


class PluginError(EmberError, RuntimeError):
    """A plugin that failed to load or to register."""


class RegistrationError(EmberError, RuntimeError):
    """An invalid kernel or backend registration (a duplicate, an unknown operator)."""


class OutOfMemoryError(EmberError, RuntimeError):
    """A device allocation failed even after the caching allocator freed its cache and retried.

    Carries ``requested``, ``allocated``, ``reserved``, ``free`` and ``total`` (bytes; free/total
    None when the backend cannot tell) and ``device``.
    """
