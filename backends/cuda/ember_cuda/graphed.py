"""``ember.cuda.make_graphed_callables``: a callable or Module whose forward and backward each replay
one CUDA graph (PyTorch's ``torch.cuda.make_graphed_callables``).

Each callable is warmed up ``num_warmup_iters`` times on a side stream (forward and
``autograd.grad``), then its forward is captured, then the backward graphs are captured in reverse
order, all in one memory pool. The result is an ``autograd.Function`` whose forward copies the
arguments into the static inputs and replays the forward graph, and whose backward copies the
incoming gradients into the static gradient buffers and replays the backward graph. A Module's
parameters are static inputs (read in place); its forward is replaced, and runs the graphs only in
the training mode it was captured in. Outputs are one tensor or a flat tuple/list of tensors.
"""

from __future__ import annotations

from ember.errors import ArgumentTypeError, InvalidArgumentError

from . import graphs as G

__all__ = ["make_graphed_callables"]


def _flatten(out):
    from ember import Tensor
    if isinstance(out, Tensor):
        return (out,), None
    if isinstance(out, (tuple, list)) and all(isinstance(o, Tensor) for o in out):
        return tuple(out), type(out)
    raise ArgumentTypeError(f"make_graphed_callables(): a callable must return a tensor or a flat tuple/list of "
                            f"tensors, got {type(out).__name__}")


def _check(func, args):
    from ember import Tensor
    from ember.nn import Module
    if not isinstance(args, tuple) or not all(isinstance(a, Tensor) for a in args):
        raise ArgumentTypeError("make_graphed_callables(): sample_args for each callable must be a tuple of "
                                "tensors (other types are not allowed)")
    if any(a.device.type != "cuda" for a in args):
        raise InvalidArgumentError("make_graphed_callables(): every sample arg must be a cuda tensor; move them "
                                   "with .to('cuda')")
    if isinstance(func, Module):
        if func._forward_hooks or func._forward_pre_hooks or getattr(func, "_backward_hooks", None):
            raise InvalidArgumentError("make_graphed_callables(): modules must not have hooks registered when "
                                       "they are graphed (remove them first)")
        if any(b.requires_grad for b in func.buffers()):
            raise InvalidArgumentError("make_graphed_callables(): in a graphed module only parameters may be "
                                       "trainable; every buffer must have requires_grad=False")
        return tuple(func.parameters())
    if not callable(func):
        raise ArgumentTypeError(f"make_graphed_callables(): expected callables or Modules, got {type(func).__name__}")
    return ()


def _grads(outputs, surface, grad_outputs, allow_unused):
    import ember
    outs = tuple(o for o in outputs if o.requires_grad)
    ins = tuple(i for i in surface if i.requires_grad)
    if not outs or not ins:
        return ()
    return ember.autograd.grad(outs, ins, grad_outputs=grad_outputs, only_inputs=True, allow_unused=allow_unused)


def make_graphed_callables(callables, sample_args, num_warmup_iters: int = 3, allow_unused_input: bool = False,
                           pool=None):
    """Graphed versions of ``callables`` (one, or a tuple) for the tensors of ``sample_args`` (a tuple per
    callable); see the module doc."""
    import ember
    from ember.nn import Module
    just_one = not isinstance(callables, tuple)
    if just_one:
        callables, sample_args = (callables,), (sample_args,)
    if len(callables) != len(sample_args):
        raise InvalidArgumentError(f"make_graphed_callables(): {len(callables)} callables but "
                                   f"{len(sample_args)} sample_args tuples")
    params = [_check(f, a) for f, a in zip(callables, sample_args)]
    surfaces = [tuple(a) + p for a, p in zip(sample_args, params)]
    mempool = G.graph_pool_handle() if pool is None else pool
    fwd_graphs = [G.CUDAGraph() for _ in callables]
    bwd_graphs = [G.CUDAGraph() for _ in callables]

    ember.cuda.synchronize()
    with ember.cuda.stream(ember.cuda.Stream()):
        for func, args, surface in zip(callables, sample_args, surfaces):
            for _ in range(num_warmup_iters):
                outs, _ = _flatten(func(*args))
                need = tuple(ember.empty_like(o) for o in outs if o.requires_grad)
                _grads(outs, surface, need, allow_unused_input)
            del outs
    ember.cuda.synchronize()

    static_outs, specs = [], []
    for func, args, g in zip(callables, sample_args, fwd_graphs):
        with G.graph(g, pool=mempool):
            outs = func(*args)
        flat, spec = _flatten(outs)
        static_outs.append(flat)
        specs.append(spec)

    static_gouts, static_gins = [None] * len(callables), [None] * len(callables)
    for k in reversed(range(len(callables))):
        gouts = tuple(ember.empty_like(o) if o.requires_grad else None for o in static_outs[k])
        with G.graph(bwd_graphs[k], pool=mempool):
            grads = _grads(static_outs[k], surfaces[k], tuple(g for g in gouts if g is not None), allow_unused_input)
        it = iter(grads)
        static_gins[k] = tuple(next(it) if a.requires_grad else None for a in surfaces[k])
        static_gouts[k] = gouts

    result = []
    for k, func in enumerate(callables):
        graphed = _graphed(fwd_graphs[k], bwd_graphs[k], surfaces[k], len(sample_args[k]), static_outs[k],
                           specs[k], static_gouts[k], static_gins[k], params[k])
        if isinstance(func, Module):
            orig, training = func.forward, func.training

            def forward(*user_args, _graphed=graphed, _orig=orig, _training=training, _m=func):
                return _graphed(*user_args) if _m.training == _training else _orig(*user_args)
            func.forward = forward
            result.append(func)
        else:
            result.append(graphed)
    return result[0] if just_one else tuple(result)


def _graphed(fwd, bwd, surface, n_user, static_outs, spec, static_gouts, static_gins, params):
    import ember

    class Graphed(ember.autograd.Function):
        @staticmethod
        def forward(ctx, *inputs):
            for i in range(n_user):
                if surface[i].data_ptr() != inputs[i].data_ptr():
                    surface[i].copy_(inputs[i])
            fwd.replay()
            return tuple(o.detach() for o in static_outs)

        @staticmethod
        def backward(ctx, *grads):
            for g, grad in zip(static_gouts, grads):
                if g is None:
                    continue
                if grad is None:
                    g.zero_()
                elif g.data_ptr() != grad.data_ptr():
                    g.copy_(grad)
            bwd.replay()
            return tuple(None if b is None else b.detach() for b in static_gins)

    def functionalized(*user_args):
        if len(user_args) != n_user:
            raise InvalidArgumentError(f"a graphed callable takes the {n_user} tensors it was captured with, got "
                                       f"{len(user_args)}")
        out = Graphed.apply(*user_args, *params)
        return out[0] if spec is None else spec(out)
    return functionalized
