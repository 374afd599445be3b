"""cpu kernels: shape family."""

KERNELS: dict = {}
