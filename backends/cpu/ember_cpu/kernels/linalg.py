"""cpu kernels: linalg family."""

KERNELS: dict = {}
