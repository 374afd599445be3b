"""Utilities: data loading (ember.utils.data), activation checkpointing (ember.utils.checkpoint)."""

from . import data  # noqa: F401
from . import checkpoint  # noqa: F401
