"""cpu kernels: sorting family."""

KERNELS: dict = {}
