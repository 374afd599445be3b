"""ember_xpu: Ember's "xpu" device type on OpenCL (pyopencl).

It picks Intel GPU OpenCL devices; ``EMBER_XPU_PLATFORM`` (a substring of an
OpenCL platform's name, e.g. "Portable Computing Language") binds it to every
device of another platform instead. The kernels come from ember_kernelgen,
rendered in OpenCL C.
"""

__version__ = "0.1.0"
