"""``ember.compile`` and ``ember.compiler``: tracing functions into graphs of operator calls.

``ember.compile(fn)`` records the operators a call of ``fn`` reaches through the dispatcher (its
forward, the backward autograd runs, an optimizer's updates) into a ``Graph``, guards it on the
inputs, and runs the graph's lowering on later calls: a jax.jit on xla, a CUDA graph on cuda, an
eager replay elsewhere. Backends add lowerings through the ``ember_register_graph_lowerings`` hook.
"""

from __future__ import annotations

import sys

from . import config
from .api import CompiledFunction, is_compiling
from .api import _all as _compiled_functions
from .api import _MODES
from .graph import Graph, Node, Value
from .lowering import CompileWarning, lowerings, register_lowering
from ..errors import GraphBreakError, InvalidArgumentError

__all__ = ["compile", "reset", "is_compiling", "config", "Graph", "Node", "Value", "CompileWarning",
           "GraphBreakError", "CompiledFunction", "OptimizedModule", "lowerings", "register_lowering"]


def compile(model=None, *, fullgraph: bool = False, dynamic=None, backend="inductor", mode=None, options=None,
            disable: bool = False):
    """Compile a function or Module (PyTorch's ``torch.compile``): also a decorator, bare or with arguments.

    ``backend``: "inductor" or None (the device's own lowering), "eager", "print" (print each graph and
    replay it eagerly), another registered lowering's name, or a callable ``backend(graph,
    example_inputs) -> callable``. ``mode`` (None, "default", "reduce-overhead", "max-autotune",
    "max-autotune-no-cudagraphs") and ``options`` (a dict, kept for the lowering) cannot both be given.
    ``fullgraph=True`` raises GraphBreakError where the trace meets data-dependent control flow
    instead of running that call eagerly. Graphs are specialized to shapes (Ember has no symbolic
    shapes): ``dynamic`` is accepted and a new shape traces a new graph.
    """
    if mode is not None and options is not None:
        raise InvalidArgumentError("ember.compile(): either mode or options can be specified, but both can't "
                                   "be specified at the same time")
    if mode not in _MODES:
        raise InvalidArgumentError(f"ember.compile(): unrecognized mode={mode!r}; use one of "
                                   f"{', '.join(repr(m) for m in _MODES[1:])}")
    if options is not None and not isinstance(options, dict):
        raise InvalidArgumentError(f"ember.compile(): options must be a dict, got {type(options).__name__}")
    if dynamic not in (None, True, False):
        raise InvalidArgumentError(f"ember.compile(): dynamic must be None, True or False, got {dynamic!r}")
    if not (backend is None or isinstance(backend, str) or callable(backend)):
        raise InvalidArgumentError(f"ember.compile(): backend must be a name or a callable, got {backend!r}")
    if model is None:
        def decorate(fn):
            return compile(fn, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode, options=options,
                           disable=disable)
        return decorate
    if not callable(model):
        from ..errors import ArgumentTypeError
        raise ArgumentTypeError(f"ember.compile() expects a callable or an ember.nn.Module, got "
                                f"{type(model).__name__}")
    from ..nn.module import Module
    if disable:
        return model
    if isinstance(model, Module):
        from .module import OptimizedModule
        compiled = CompiledFunction(model, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode,
                                    module=model)
        return OptimizedModule(model, compiled)
    return CompiledFunction(model, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode)


def reset() -> None:
    """Forget every compiled function's graphs (``torch.compiler.reset``)."""
    for f in _compiled_functions:
        f.reset()


def __getattr__(name):
    if name == "OptimizedModule":
        from .module import OptimizedModule
        return OptimizedModule
    from ..errors import AttributeNotFoundError
    raise AttributeNotFoundError(f"module 'ember.compiler' has no attribute {name!r}")


# ``ember.compile`` is the function (bound in ember/__init__.py), so the package answers to
# ``ember.compiler`` too, as torch.compiler beside torch.compile.
sys.modules.setdefault(__name__.rpartition(".")[0] + ".compiler", sys.modules[__name__])
