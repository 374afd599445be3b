"""The required prims: the operators a backend must give kernels for, and how the rest reach it.

Every other operator runs on a backend through a decomposition in core when the
backend has no kernel for it. Operators that used to be prims keep their kernel
signature as their contract: their decomposition is written in that same kernel
form and runs behind the operator's own adapter, so it receives what a kernel
would (operands promoted, broadcast, dims normalized) and a backend's kernel,
where it registers one, replaces it one for one.

``ember info --ops`` marks the required prims; docs/writing-a-backend.md lists them.
"""

from __future__ import annotations

from .. import dtypes as D
from ..dispatch import get

#: The prims every backend implements (24). Everything else decomposes onto these.
REQUIRED = (
    # data movement and creation
    "copy_", "arange",
    # elementwise
    "where", "add", "mul", "true_divide", "trunc_divide", "fmod", "eq", "lt",
    "bitwise_and", "bitwise_xor", "sqrt", "exp", "log", "sin", "cos", "atan2",
    # reductions
    "sum", "amax",
    # linear algebra
    "bmm",
    # indexing
    "gather", "scatter_", "scatter_add_",
)

#: The prims that receive complex64/complex128 tensors on a backend whose Capabilities declare them, and
#: what a kernel does with them (each prim's doc gains this as its ``Complex:`` part). Every operator that
#: takes complex tensors decomposes onto these; the other prims never receive one (core refuses complex
#: operands above the kernel), so a backend without complex dtypes ignores this table.
COMPLEX = {
    "copy_": "complex64/complex128 too: complex -> complex converts each part; a real src gives an imaginary "
             "part of 0; a complex src to a real dst keeps the real part (as numpy's unsafe cast).",
    "where": "complex64/complex128 too: a complex element moves as a pair of floats (real, imag).",
    "gather": "complex64/complex128 too: a complex element moves as a pair of floats (real, imag).",
    "scatter_": "complex64/complex128 too: a complex element moves as a pair of floats (real, imag).",
    "scatter_add_": "complex64/complex128 too: real and imaginary parts accumulate separately.",
    "add": "complex64/complex128 too, adding real and imaginary parts; a scalar operand may be a Python complex.",
    "mul": "complex64/complex128 too: (a + bi)(c + di) = (ac - bd) + (ad + bc)i; a scalar operand may be a "
           "Python complex.",
    "true_divide": "complex64/complex128 too: complex division as numpy computes it (Smith's method); a scalar operand "
                   "may be a Python complex.",
    "eq": "complex64/complex128 too: equal when both parts are equal.",
    "exp": "complex64/complex128 too: exp(a + bi) = exp(a) (cos b + i sin b), as C99 cexp.",
    "sum": "complex64/complex128 too (x and dtype both complex): real and imaginary parts sum separately.",
    "bmm": "complex64/complex128 too: the complex matrix product, neither operand conjugated.",
}

#: Operators written in kernel form by some decomposition module: name -> decomposition kernel.
_kernel_forms: dict = {}


def kernel_decomposition(*names):
    """Register ``fn`` as the decomposition of operators that have a kernel contract.

    ``fn`` takes exactly what the operator's kernels take (see each operator's doc) and returns
    what they return; core's adapter runs first, as it does for a kernel.
    """
    def deco(fn):
        for name in names:
            op = get(name)
            _kernel_forms[name] = fn
            op.decomposition = op.adapter(op, fn, None) if op.adapter is not None else fn
            op.rebuild()
        return fn
    return deco


def elementwise_decomposition(name, *, upcast=True, f64=False, inplace=True):
    """Register ``fn(*operands)`` as the decomposition of the elementwise operator ``name`` (and ``name_``).

    ``fn`` receives the operands as the elementwise kernel would (promoted to the computation dtype,
    broadcast; Python scalars stay scalars) and returns the result; the wrapper writes it into the
    kernel's ``out`` when there is one. ``upcast``: float16 and bfloat16 compute in float32 and round
    once. ``f64``: float32 (and the half types) compute in float64 where the device declares it.
    """
    def deco(fn):
        kernel = _elementwise_kernel(fn, upcast, f64)
        kernel_decomposition(*((name, name + "_") if inplace and _has(name + "_") else (name,)))(kernel)
        return fn
    return deco


def _has(name):
    from ..dispatch import registry
    return name in registry


_HALF = (D.float16, D.bfloat16)


def _compute_dtype(dt, device_dtypes, upcast, f64):
    if f64 and dt in (D.float32,) + _HALF and D.float64 in device_dtypes:
        return D.float64
    if upcast and dt in _HALF:
        return D.float32
    return dt


def _elementwise_kernel(fn, upcast, f64):
    def kernel(*args):
        *operands, out = args
        t = next(a for a in operands if hasattr(a, "_dtype"))
        dt = t._dtype
        ct = _compute_dtype(dt, t._backend.capabilities.dtypes, upcast, f64) if dt.is_floating_point else dt
        if ct is not dt:
            operands = [a.to(ct) if hasattr(a, "_dtype") else a for a in operands]
        r = fn(*operands)
        if out is not None:
            return out.copy_(r)
        return r.to(_result_dtype(r, dt, ct))
    return kernel


def _result_dtype(r, dt, ct):
    """The dtype to round a result back to: the input dtype where the result was computed in ct."""
    return dt if r._dtype is ct and ct is not dt else r._dtype


def _through_out(name):
    """The in-place form of a required elementwise prim: the backend's own kernel, writing into ``out``."""
    op = get(name)

    def kernel(*args):
        t = args[0]
        k = op.kernels.get(t._backend.key.index)
        if k is None:  # the backend lacks the required prim itself: the error names it
            return op.fn(*args[:-1])
        return k(*args)
    return kernel


def finalize():
    """Mark exactly the required operators as prims; every other former prim must have a decomposition."""
    from ..dispatch import registry
    for name in REQUIRED:
        inplace = registry.get(name + "_")
        if inplace is not None and inplace.decomposition is None and inplace.family.endswith("_inplace"):
            kernel_decomposition(name + "_")(_through_out(name))
    for name, op in registry.items():
        if op.is_prim and name not in REQUIRED:
            if op.decomposition is None:
                continue  # not decomposed yet: it stays a prim
            op.is_prim = False
    missing = [n for n in REQUIRED if n not in registry]
    assert not missing, f"required prims without an operator: {missing}"
    for name, contract in COMPLEX.items():
        op = registry[name]
        if "\nComplex:" not in op.doc:
            op.doc = f"{op.doc}\nComplex: {contract}"
            op.fn.__doc__ = f"{op.schema}\n\n{op.doc}".strip()


def kernel_contracts() -> set:
    """Every operator with a kernel contract: the required prims and the former prims that decompose
    in kernel form (a backend that generates kernels, as the GPU backends do, covers them all)."""
    return set(REQUIRED) | set(_kernel_forms)
