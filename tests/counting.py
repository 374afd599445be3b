"""Loads the counting test backend (tests/fixtures/plugins/counting) into this process, once."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import ember

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "plugins" / "counting"


def load_counting():
    """The counting plugin module, registered in this process once."""
    mod = sys.modules.get("ember_counting")
    if mod is None:
        spec = importlib.util.spec_from_file_location("ember_counting", FIXTURE / "ember_counting.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules["ember_counting"] = mod
        spec.loader.exec_module(mod)
    from ember.plugins.manager import registered_backends
    if "counting" not in {b.device_type for b in registered_backends()}:
        rec = ember.plugins.register_plugin(mod, name="counting")
        assert rec.status == "loaded", rec
    return mod
