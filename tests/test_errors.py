"""Ember's typed errors: one test per class, each checking that the message carries the values.

NotImplementedForBackend, PluginError and plugin RegistrationErrors need fake plugins: see
test_plugins.py.
"""

from __future__ import annotations

from importlib import metadata

import numpy as np
import pytest

import ember


@pytest.fixture
def x():
    return ember.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))


def test_hierarchy():
    """Each typed error is also the builtin a PyTorch user would catch."""
    assert issubclass(ember.ShapeError, ValueError)
    assert issubclass(ember.InvalidReshapeError, ember.ShapeError)
    assert issubclass(ember.DTypeError, TypeError)
    assert issubclass(ember.IndexOutOfRangeError, IndexError)
    assert issubclass(ember.NotImplementedForBackend, NotImplementedError)
    assert issubclass(ember.BackendNotInstalledError, ember.UnknownDeviceError)
    for cls in (ember.ShapeError, ember.InvalidReshapeError, ember.DTypeError, ember.DeviceMismatchError,
                ember.IndexOutOfRangeError, ember.UnknownDeviceError, ember.BackendNotInstalledError,
                ember.BackendUnavailableError, ember.NotImplementedForBackend, ember.PluginError,
                ember.RegistrationError):
        assert issubclass(cls, ember.EmberError), cls


def test_shape_error_broadcast(x):
    with pytest.raises(ember.ShapeError) as e:
        ember.add(x, ember.ones(4))
    msg = str(e.value)
    assert "(2, 3)" in msg and "(4,)" in msg, msg
    with pytest.raises(ember.ShapeError, match=r"\(4, 2, 3\).*\(2, 3\)"):
        x.add_(ember.ones(4, 2, 3))
    with pytest.raises(ember.ShapeError, match=r"\(4, 3\).*\(2, 3\)"):
        x.expand(4, 3)


def test_dtype_error(x):
    with pytest.raises(ember.DTypeError) as e:
        ember.bitwise_and(x, x)
    msg = str(e.value)
    assert "bitwise_and" in msg and "float32" in msg, msg
    with pytest.raises(ember.DTypeError, match=r"float32.*int32"):
        ember.ones(2, dtype=ember.int32).add_(1.5)
    with pytest.raises(ember.DTypeError, match=r"where\(\).*float32"):
        ember.where(x, x, x)


def test_device_mismatch(x):
    m = ember.empty((2, 3), device="meta")
    with pytest.raises(ember.DeviceMismatchError) as e:
        x + m
    msg = str(e.value)
    assert "add" in msg and "cpu" in msg and "meta" in msg and ".to(" in msg, msg
    with pytest.raises(ember.DeviceMismatchError, match="meta.*cpu"):
        ember.mul(m, x)


def test_index_out_of_range(x):
    with pytest.raises(ember.IndexOutOfRangeError) as e:
        x.select(0, 5)
    msg = str(e.value)
    assert "5" in msg and "dimension 0" in msg and "size 2" in msg, msg
    with pytest.raises(ember.IndexOutOfRangeError) as e:
        x.transpose(0, 7)
    msg = str(e.value)
    assert "transpose" in msg and "7" in msg and "[-2, 1]" in msg, msg
    with pytest.raises(ember.IndexOutOfRangeError, match=r"-4.*size 3"):
        x.select(1, -4)
    with pytest.raises(ember.IndexOutOfRangeError, match=r"start 2 and length 5.*size 3"):
        x.narrow(1, 2, 5)


def test_invalid_reshape(x):
    with pytest.raises(ember.InvalidReshapeError) as e:
        x.reshape(4, 2)
    msg = str(e.value)
    assert "(4, 2)" in msg and "6" in msg, msg
    with pytest.raises(ember.InvalidReshapeError, match=r"\(7,\).*6"):
        x.view(7)
    with pytest.raises(ember.InvalidReshapeError, match=r"\(6,\).*\(3, 2\).*reshape"):
        x.t().view(6)  # not expressible as a view of these strides
    with pytest.raises(ember.InvalidReshapeError, match=r"\(-1, -1\)"):
        x.view(-1, -1)


def test_unknown_device():
    with pytest.raises(ember.UnknownDeviceError) as e:
        ember.zeros(2, device="foo")
    msg = str(e.value)
    assert "'foo'" in msg and "cpu" in msg and "meta" in msg, msg
    with pytest.raises(ember.UnknownDeviceError, match="'cuda:x'"):
        ember.Device("cuda:x")
    with pytest.raises(ember.UnknownDeviceError, match="cpu:1"):
        ember.zeros(2, device="cpu:1")


def _installed(dist):
    try:
        metadata.distribution(dist)
        return True
    except metadata.PackageNotFoundError:
        return False


@pytest.mark.skipif(_installed("ember-rocm"), reason="ember-rocm is installed here")
def test_missing_plugin():
    with pytest.raises(ember.BackendNotInstalledError) as e:
        ember.ones(2, device="rocm")
    msg = str(e.value)
    assert "'rocm'" in msg and "ember-rocm" in msg and "pip install" in msg and "planned" not in msg, msg


def test_backend_unavailable_meta_has_no_data():
    with pytest.raises(ember.BackendUnavailableError, match="meta tensors have shapes and dtypes but no data"):
        ember.empty(2, device="meta").tolist()


def test_registration_error():
    with pytest.raises(ember.RegistrationError, match="'no_such_op'"):
        ember.dispatch.get("no_such_op")
