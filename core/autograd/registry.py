"""Derivative formulas, registered per operator name.

A formula is the operator's vector-Jacobian product, written with Ember
operators so that it is itself differentiable (double backward)::

    from ember.autograd import derivative

    @derivative("mul", save=("self", "other"))
    def _(grad, self, other):
        return grad * other, grad * self

The function receives the output's gradient, then the operator's arguments
in schema order (defaults filled in), and returns one gradient per tensor
argument of the schema, in order (a bare value when there is one; None
where an argument gets no gradient; a list for a ``Tensor[]`` argument).

- ``save``: the argument names (and ``"result"``) whose values the formula
  reads. Tensor arguments not named arrive as shape-only stand-ins
  (``.shape``, ``.dtype``, ``.device``, ``.ndim``), so backward keeps no
  memory it does not need; saved tensors are checked against in-place
  changes. ``None`` saves every tensor argument. A dict saves an argument
  only when one of the listed arguments needs a gradient, as in PyTorch
  (``{"self": ("other",), "other": ("self",)}`` for mul); the formula then
  sees a stand-in for an argument whose value was not needed.
- ``"result"`` in save passes the output as the keyword ``result=`` (a
  multi-output operator's outputs as a tuple); ``"result[k]"`` saves output k
  alone (the others arrive as None and stay free to change in place, as
  PyTorch's max(x, dim) saves its indices, not its values).
- The engine sums a gradient over broadcast dims and casts it to the input's
  dtype, so formulas may return output-shaped gradients.
- Multi-output operators get a tuple of gradients (zeros where an output
  was not used; None for integer outputs).
- Forward mode: ``linear=("self",)`` names arguments in which the operator is
  linear (its JVP is the operator applied to their tangents);
  ``elementwise=True`` says the formula is pointwise (its JVP is the formula
  applied to the tangent); ``jvp=fn(tangents, *args, result=)`` gives an
  explicit rule (tangents: one per tensor argument, None where zero).
  Without these, forward mode derives the JVP from the formula by
  differentiating it once more.
"""

from __future__ import annotations

__all__ = ["derivative", "nondifferentiable", "Formula", "FORMULAS", "NONDIFFERENTIABLE", "get_formula"]


class Formula:
    __slots__ = ("name", "fn", "save", "linear", "elementwise", "jvp")

    def __init__(self, name, fn, save, linear, elementwise, jvp):
        self.name = name
        self.fn = fn
        self.save = None if save is None else (dict(save) if isinstance(save, dict) else frozenset(save))
        self.linear = tuple(linear) if linear else ()
        self.elementwise = elementwise
        self.jvp = jvp


FORMULAS: dict[str, Formula] = {}
_listeners: list = []

#: Operators with no derivative: integer or bool results, indices, predicates.
#: Their outputs never require grad. Listed explicitly, so that a new
#: differentiable operator without a formula or a test sample cannot slip through.
NONDIFFERENTIABLE = set({
    "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor", "logical_not",
    "logical_not_", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_left_shift",
    "bitwise_right_shift", "bitwise_and_", "bitwise_or_", "bitwise_xor_", "bitwise_not_",
    "bitwise_left_shift_", "bitwise_right_shift_", "isnan", "isinf", "isfinite", "signbit",
    "floor_divide", "trunc_divide", "floor_divide_", "trunc_divide_",
    "argmax", "argmin", "all", "any", "nonzero", "argwhere", "argsort", "one_hot",
    "empty", "full", "arange", "linspace", "eye", "philox_random", "randperm", "multinomial",
    "bernoulli_", "bernoulli", "uniform_", "normal_", "random_", "exponential_", "randint", "rand", "randn",
    "bucketize", "searchsorted", "histc", "bincount", "unique", "equal", "allclose", "isclose",
    "adam_step_", "sgd_step_",   # optimizer updates: in-place steps on parameters, never differentiated
})


def derivative(name: str, *, save=None, linear=None, elementwise=False, jvp=None):
    """Register the derivative formula of operator ``name`` (see the module docstring)."""
    def deco(fn):
        f = Formula(name, fn, save, linear, elementwise, jvp)
        FORMULAS[name] = f
        for listener in _listeners:
            listener(name)
        return fn
    return deco


def nondifferentiable(*names: str) -> None:
    """Declare operators that have no derivative (integer/bool results, optimizer steps, ...)."""
    for name in names:
        NONDIFFERENTIABLE.add(name)
        for listener in _listeners:
            listener(name)


def get_formula(name: str):
    return FORMULAS.get(name)
