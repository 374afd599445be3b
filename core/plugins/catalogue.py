"""The catalogue of known backends (plugins.toml), so that core can say how to get one."""

from __future__ import annotations

import functools
import os
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

_HERE = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=1)
def catalogue() -> dict:
    """Device type -> entry of plugins.toml (distribution, path, requires, certified_tier...)."""
    path = os.environ.get("EMBER_PLUGINS_CATALOGUE") or _HERE / "plugins.toml"
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError:
        return {}
    return {name: {"device_type": name, **entry} for name, entry in data.get("backend", {}).items()}


def install_hint(device_type: str) -> str | None:
    entry = catalogue().get(device_type)
    if entry is None:
        return None
    dist, path = entry["distribution"], entry.get("path")
    hint = f"pip install {dist}"
    if path:
        hint += f" (from a checkout of Ember: pip install ./{path})"
    needs = entry.get("requires")
    if needs:
        hint += f"; it needs {needs}"
    return hint
