"""Loads a test backend from tests/fixtures/plugins/<name>/ember_<name>.py into this process, once."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import ember

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "plugins"


def load(name: str):
    """The fixture plugin module ember_<name>, registered in this process once."""
    module_name = f"ember_{name}"
    mod = sys.modules.get(module_name)
    if mod is None:
        spec = importlib.util.spec_from_file_location(module_name, FIXTURES / name / f"{module_name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = mod
        spec.loader.exec_module(mod)
    from ember.plugins.manager import registered_backends
    if name not in {b.device_type for b in registered_backends()}:
        rec = ember.plugins.register_plugin(mod, name=name)
        assert rec.status == "loaded", rec
    return mod
