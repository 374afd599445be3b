"""Activation checkpointing (torch.utils.checkpoint): keep a block's inputs, not its intermediate values,
and run the block again in the backward pass to get them back.

``use_reentrant=False`` (what PyTorch recommends): the block's gradients reach every tensor it used,
arguments or not (the parameters of the modules it calls included), and ``autograd.grad`` works through it.
The block runs once with grad enabled to learn which leaf tensors it reads; that graph, and the
intermediate values it holds, are dropped at once, so only one block's intermediates are alive at a time,
forward and backward. ``use_reentrant=True`` is PyTorch's older variant: the block runs without grad, its
backward runs ``backward()`` on the recomputed outputs, so gradients reach the block's parameters only
through ``.grad`` and only when some input requires grad.

With ``preserve_rng_state`` (default) the default generators of the devices involved are put back to their
state at the first run before recomputing, so dropout draws the same mask twice.
"""

from __future__ import annotations

import contextlib
import warnings

from .._tensor import Tensor
from ..autograd.function import Function
from ..autograd.graph import AccumulateGrad, edge_of
from ..autograd.grad_mode import enable_grad, is_grad_enabled, no_grad
from ..runtime.random import default_generator
from ..errors import InvalidArgumentError

__all__ = ["checkpoint", "checkpoint_sequential"]

_REENTRANT_WARNING = ("torch.utils.checkpoint: the use_reentrant parameter should be passed explicitly. Starting in "
                      "PyTorch 2.9, calling checkpoint without use_reentrant will raise an exception. "
                      "use_reentrant=False is recommended, but if you need to preserve the current default behavior, "
                      "you can pass use_reentrant=True. Refer to docs for more details on the differences between "
                      "the two variants.")


def _noop_context_fn():
    return contextlib.nullcontext(), contextlib.nullcontext()


class _RngState:
    """The (seed, offset) of the cpu generator and those of the devices of ``tensors``."""

    def __init__(self, tensors):
        gens = [default_generator("cpu")]
        for t in tensors:
            g = default_generator(t.device)
            if g not in gens:
                gens.append(g)
        self.saved = [(g, g._seed, g._offset) for g in gens]

    @contextlib.contextmanager
    def restored(self):
        """Inside: the generators as saved; after: as they were before entering."""
        now = [(g, g._seed, g._offset) for g, _, _ in self.saved]
        self._set(self.saved)
        try:
            yield
        finally:
            self._set(now)

    @staticmethod
    def _set(states):
        for g, s, o in states:
            with g._lock:
                g._seed, g._offset = s, o


def _detached_like(args):
    """The arguments with tensors detached (requires_grad kept), for the recomputation."""
    out = []
    for a in args:
        if isinstance(a, Tensor):
            d = a.detach()
            d.requires_grad_(a.requires_grad)
            out.append(d)
        else:
            out.append(a)
    return out


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


class _Checkpoint(Function):
    """One checkpointed block: its outputs in forward, the recomputed block's gradients in backward.

    Tensor arguments of ``apply`` are ``n_args`` block arguments followed by the leaf tensors the block
    reads (empty for the reentrant variant)."""

    @staticmethod
    def forward(ctx, run, *tensors):
        ctx.run = run
        ctx.save_for_backward(*tensors)
        outs = run.outputs
        run.outputs = None
        ctx.single = not isinstance(outs, tuple)
        outs = _as_tuple(outs)
        return outs[0] if ctx.single else tuple(o.detach() if isinstance(o, Tensor) else o for o in outs)

    @staticmethod
    def backward(ctx, *grads):
        run = ctx.run
        tensors = ctx.saved_tensors
        args = list(run.args)
        for i, t in zip(run.tensor_index, tensors[:len(run.tensor_index)]):
            args[i] = t
        leaves = list(tensors[len(run.tensor_index):])
        args = _detached_like(args)
        rng = run.rng.restored() if run.rng is not None else contextlib.nullcontext()
        with rng, enable_grad(), run.recompute_context():
            outs = _as_tuple(run.function(*args, **run.kwargs))
        pairs = [(o, g) for o, g in zip(outs, grads) if isinstance(o, Tensor) and o.requires_grad and g is not None]
        inputs = [args[i] for i in run.tensor_index]
        wanted = [t for t in inputs + leaves if t.requires_grad]
        if run.reentrant:
            from ..autograd import backward
            if pairs:
                backward([o for o, _ in pairs], [g for _, g in pairs], inputs=None)
            return (None,) + tuple(t.grad if t.requires_grad else None for t in inputs)
        from ..autograd import grad
        got = iter(grad([o for o, _ in pairs], wanted, [g for _, g in pairs], allow_unused=True)
                   if pairs and wanted else [None] * len(wanted))
        return (None,) + tuple(next(got) if t.requires_grad else None for t in inputs + leaves)


class _Run:
    """What the recomputation needs: the block, its non-tensor arguments and where its tensors go."""

    __slots__ = ("function", "args", "kwargs", "tensor_index", "rng", "reentrant", "outputs", "recompute_context")

    def __init__(self, function, args, kwargs, reentrant, rng, recompute_context):
        self.function = function
        self.args = args
        self.kwargs = kwargs
        self.tensor_index = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.reentrant = reentrant
        self.rng = rng
        self.outputs = None
        self.recompute_context = recompute_context


def _leaves_read(outputs, args):
    """The leaf tensors that require grad and that ``outputs`` were computed from, found by walking their
    graph back to the block's arguments."""
    stop = {id(e[0]) for e in (edge_of(a) for a in args if isinstance(a, Tensor)) if e is not None}
    leaves, seen, todo = [], set(), []
    for o in outputs:
        if isinstance(o, Tensor):
            e = edge_of(o)
            if e is not None:
                todo.append(e[0])
    while todo:
        node = todo.pop()
        if id(node) in seen or id(node) in stop:
            continue
        seen.add(id(node))
        if isinstance(node, AccumulateGrad):
            v = node.variable
            if v is not None:
                leaves.append(v)
            continue
        todo.extend(e[0] for e in node.edges if e is not None)
    return leaves


def checkpoint(function, *args, use_reentrant=None, context_fn=_noop_context_fn, determinism_check="default",
               debug=False, early_stop=True, **kwargs):
    """``function(*args, **kwargs)``, keeping only its inputs for the backward pass, which runs it again."""
    if use_reentrant is None:
        warnings.warn(_REENTRANT_WARNING, stacklevel=2)
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs and use_reentrant:
        raise InvalidArgumentError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))
    if use_reentrant and (context_fn is not _noop_context_fn or debug is not False):
        raise InvalidArgumentError("Passing `context_fn` or `debug` is only supported when use_reentrant=False.")
    if determinism_check not in ("default", "none"):
        raise InvalidArgumentError(f"determinism_check should be one of ['default', 'none'], but got {determinism_check}")
    if not is_grad_enabled():
        return function(*args, **kwargs)
    tensors = [a for a in args if isinstance(a, Tensor)]
    rng = _RngState(tensors) if preserve else None
    forward_ctx, recompute_ctx = context_fn()
    run = _Run(function, args, kwargs, use_reentrant, rng, lambda: recompute_ctx)
    if use_reentrant:
        if not any(t.requires_grad for t in tensors):
            warnings.warn("None of the inputs have requires_grad=True. Gradients will be None", stacklevel=2)
        with no_grad():
            run.outputs = function(*args)
        return _Checkpoint.apply(run, *tensors)
    with forward_ctx:
        outputs = function(*args, **kwargs)
    leaves = _leaves_read(_as_tuple(outputs), args)
    if not leaves and not any(t.requires_grad for t in tensors):
        return outputs
    # keep the values, drop the graph (and the intermediates it holds)
    run.outputs = (tuple(o.detach() if isinstance(o, Tensor) else o for o in outputs)
                   if isinstance(outputs, tuple) else outputs.detach())
    del outputs
    return _Checkpoint.apply(run, *tensors, *leaves)


def checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs):
    """Run ``functions`` (a Sequential or a list of modules) in ``segments`` checkpointed pieces; the last
    piece runs normally."""
    if use_reentrant is None:
        warnings.warn(_REENTRANT_WARNING, stacklevel=2)
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise InvalidArgumentError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))

    def run_function(start, end, functions):
        def forward(input):
            for j in range(start, end + 1):
                input = functions[j](input)
            return input
        return forward

    from ..nn.modules.container import Sequential
    if isinstance(functions, Sequential):
        functions = list(functions.children())
    segment_size = len(functions) // segments
    end = -1
    for start in range(0, segment_size * (segments - 1), segment_size):
        end = start + segment_size - 1
        input = checkpoint(run_function(start, end, functions), input, use_reentrant=use_reentrant,
                           preserve_rng_state=preserve)
    return run_function(end + 1, len(functions) - 1, functions)(input)
