"""Ember's plugin system: the contract (hookspecs) and the manager that loads plugins."""

from .capabilities import Capabilities
from .hookspecs import API_VERSION, hookimpl, hookspec
from .manager import load_all, plugin_records, register_plugin

__all__ = ["API_VERSION", "hookimpl", "hookspec", "Capabilities", "register_plugin", "load_all",
           "plugin_records"]
