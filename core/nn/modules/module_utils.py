"""Small helpers shared by the layer classes."""

from __future__ import annotations

from ..module import _no_grad as no_grad  # noqa: F401
