"""cpu kernels: reduction family."""

KERNELS: dict = {}
