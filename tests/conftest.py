"""Ember's tests run with kernel checks on: every backend kernel's result is compared with its operator's
meta (shape, dtype, device), so that a wrong kernel fails where it runs, named. EMBER_CHECK_KERNELS=0
turns the checks off."""

import os

os.environ.setdefault("EMBER_CHECK_KERNELS", "1")

import ember  # noqa: E402

_OFF = ("", "0", "false", "no", "off")
ember.dispatch.set_kernel_checks(os.environ["EMBER_CHECK_KERNELS"].strip().lower() not in _OFF)
