"""Mixed precision: ``ember.autocast`` regions, their operator tables, and ``GradScaler``.

Importing this package registers the Autocast dispatch key's entries (one per
listed operator); they run only inside a region, so code outside one pays
nothing for them.
"""

from __future__ import annotations

from . import tables
from .autocast_mode import autocast, device_amp
from .custom import custom_bwd, custom_fwd
from .grad_scaler import GradScaler, OptState
from .kernels import install as _install
from .state import (autocast_decrement_nesting, autocast_increment_nesting, clear_autocast_cache,
                    get_autocast_dtype, is_autocast_available, is_autocast_cache_enabled, is_autocast_enabled,
                    set_autocast_cache_enabled, set_autocast_dtype, set_autocast_enabled)

__all__ = ["autocast", "GradScaler", "OptState", "is_autocast_available", "is_autocast_enabled",
           "set_autocast_enabled", "get_autocast_dtype", "set_autocast_dtype", "is_autocast_cache_enabled",
           "set_autocast_cache_enabled", "clear_autocast_cache", "autocast_increment_nesting",
           "autocast_decrement_nesting", "tables", "device_amp", "custom_fwd", "custom_bwd"]

_install()
