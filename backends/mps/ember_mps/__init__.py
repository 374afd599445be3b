"""Ember's mps backend: device type "mps" on Apple MLX.

On Apple silicon MLX runs on Metal; elsewhere MLX's CPU build runs the same code (that is
how the backend is certified in CI). Storage is ember-arraycell's mutable cell holding a
flat MLX array; kernels are MLX operators. Without MLX the plugin still loads and reports
mps unavailable, with the reason.
"""

__version__ = "0.1.0"
