"""cpu kernels: indexing family."""

KERNELS: dict = {}
