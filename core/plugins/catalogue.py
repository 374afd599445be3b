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
    """How to get the plugin of a catalogued device type, as a sentence; only what can be installed."""
    entry = catalogue().get(device_type)
    if entry is None:
        return None
    dist, path = entry["distribution"], entry.get("path")
    if entry.get("planned"):
        return (f"{dist} does not exist yet: the {device_type!r} backend is planned (at {path} in "
                f"Ember's repository); no package provides it today")
    source = _checkout_source(path)
    hint = f"install it with: pip install {source or dist}"
    needs = entry.get("requires")
    if needs:
        hint += f"; it needs {needs}"
    return hint


def _checkout_source(path: str | None) -> str | None:
    """The plugin's folder in the Ember checkout this catalogue comes from, if there is one."""
    if not path:
        return None
    here = Path(os.environ.get("EMBER_PLUGINS_CATALOGUE") or _HERE / "plugins.toml").resolve().parent
    folder = here / path
    return str(folder) if (folder / "pyproject.toml").is_file() else None
