"""Loads the counting test backend (tests/fixtures/plugins/counting) into this process, once."""

from __future__ import annotations

from fixture_plugins import FIXTURES, load

FIXTURE = FIXTURES / "counting"


def load_counting():
    """The counting plugin module, registered in this process once."""
    return load("counting")
