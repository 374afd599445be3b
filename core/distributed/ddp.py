"""DistributedDataParallel: one model replica per process, gradients averaged over the process group.

As PyTorch's: construction broadcasts rank 0's parameters and buffers to every rank. Gradients are
grouped into buckets of about ``bucket_cap_mb`` MiB in the order backward produces them (the first bucket
is capped at 1 MiB when the cap is the default, so communication starts early): the first backward uses
one bucket and records that order, the next forward rebuilds the buckets from it (with
``find_unused_parameters`` the buckets follow reverse registration order instead). A post-accumulate-grad
hook on each parameter copies its fresh ``.grad`` into its bucket; a bucket whose gradients are all in is
divided by the world size and all-reduced with ``async_op=True`` at once, while backward goes on computing
the rest. Buckets launch in index order, so every rank issues the same collectives in the same order. A
callback queued on the autograd engine waits for the all-reduces when backward ends and writes the
averages into each ``.grad``.

Not implemented: communication hooks (``register_comm_hook``), ``join()``, mixed precision and the
other PyTorch-only keywords (``delay_all_reduce_named_params``, ``device_mesh``, ...).
"""

from __future__ import annotations

import contextlib
import functools
import sys
import weakref

import ember
from .. import distributed as _dist
from .._tensor import Tensor
from ._ddp_buckets import Bucket, assign_buckets
from ..autograd.engine import queue_callback
from ..autograd.graph import AccumulateGrad, edge_of
from ..autograd.grad_mode import is_grad_enabled, no_grad
from ..errors import DistributedNotInitializedError, InvalidArgumentError
from ..nn.module import Module

__all__ = ["DistributedDataParallel"]

_MIB = 1024 * 1024
_DEFAULT_BUCKET_CAP_MB = 25
_FIRST_BUCKET_BYTES = 1 * _MIB         # PyTorch's dist._DEFAULT_FIRST_BUCKET_BYTES
_BROADCAST_BUCKET_BYTES = 250 * _MIB   # parameters and buffers are broadcast in flat chunks of at most this


def _err(msg: str) -> InvalidArgumentError:
    return InvalidArgumentError("DistributedDataParallel: " + msg)


def _tensors_in(obj, out):
    """The tensors in a (nested) tuple, list or dict of outputs."""
    if isinstance(obj, Tensor):
        out.append(obj)
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            _tensors_in(o, out)
    elif isinstance(obj, dict):
        for o in obj.values():
            _tensors_in(o, out)
    return out


def _reached_leaves(outputs) -> set:
    """The AccumulateGrad nodes a backward from ``outputs`` can reach."""
    stack = [e[0] for e in map(edge_of, _tensors_in(outputs, [])) if e is not None]
    seen = set(stack)
    leaves = set()
    while stack:
        node = stack.pop()
        if node.__class__ is AccumulateGrad:
            leaves.add(node)
        for e in node.edges:
            if e is not None and e[0] not in seen:
                seen.add(e[0])
                stack.append(e[0])
    return leaves


def _grad_ready(ref, i, param):
    ddp = ref()
    if ddp is not None:
        ddp._grad_ready(i, param)


def _to_device(obj, device):
    if isinstance(obj, Tensor):
        return obj.to(device)
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to_device(o, device) for o in obj)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    return obj


class DistributedDataParallel(Module):
    """Wrap ``module`` so that backward averages its gradients over ``process_group`` (default: the world).

    ``device_ids=[i]`` (accelerator modules only) moves the inputs to that device; ``broadcast_buffers``
    sends rank 0's buffers before every forward; ``find_unused_parameters`` treats parameters that this
    forward's outputs do not reach as ready with a zero contribution (a parameter no rank used keeps its
    ``.grad``); ``gradient_as_bucket_view`` leaves each ``.grad`` a view of its bucket instead of a copy;
    ``static_graph`` reuses the first iteration's unused set. ``dim`` and ``check_reduction`` are accepted
    for PyTorch's signature and have no effect here (as ``check_reduction`` in PyTorch).
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=None, init_sync=True,
                 process_group=None, bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False, *, forward_sync_buffers=None):
        super().__init__()
        if process_group is None and not _dist.is_initialized():
            raise DistributedNotInitializedError(
                "DistributedDataParallel: the default process group has not been initialized; call "
                "ember.distributed.init_process_group() (with the ranks started by `ember-run --nproc-per-node N`) "
                "before wrapping the module, or pass process_group=")
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        if not named:
            raise _err("not needed when a module doesn't have any parameter that requires a gradient")
        device_types = {p.device.type for _, p in module.named_parameters()}
        if len(device_types) != 1:
            raise _err(f"the module's parameters must all be on one type of device, got {sorted(device_types)}")
        if device_ids is not None and len(device_ids) > 1:
            raise _err(f"device_ids can only be None or contain a single element, got {device_ids}")
        devices = {p.device for _, p in module.named_parameters()}
        if not device_ids or len(devices) > 1 or next(iter(device_types)) == "cpu":
            if device_ids or output_device is not None:
                raise _err(f"device_ids and output_device only work with single-device accelerator modules, but got "
                           f"device_ids {device_ids}, output_device {output_device} and module parameters on "
                           f"{sorted(map(str, devices))}; leave them None")
            self.device_ids, self.output_device = None, None
        else:
            self.device_ids = list(device_ids)
            self.output_device = device_ids[0] if output_device is None else output_device
        self.module = module
        self.dim = dim
        self.process_group = process_group
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.static_graph = static_graph
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        # PyTorch 2.13 deprecates broadcast_buffers for forward_sync_buffers: None means True; False also skips
        # the buffers' broadcast at construction, forward_sync_buffers=False only the one before each forward.
        sync = True if broadcast_buffers is None else bool(broadcast_buffers)
        self.forward_sync_buffers = sync if forward_sync_buffers is None else bool(forward_sync_buffers)
        init_buffers = sync if forward_sync_buffers is None else True
        self._input_device = None
        if self.device_ids:
            self._input_device = ember.device(next(iter(device_types)), self.device_ids[0])

        self._world = _dist.get_world_size(process_group)
        self._src = 0 if process_group is None else _dist.get_global_rank(process_group, 0)
        self._names = [n for n, _ in named]
        self._params = [p for _, p in named]
        self._buffers_list = [b for _, b in module.named_buffers()]
        self._check_shapes_agree()
        if init_sync and self._world > 1:
            self._broadcast(self._params + (self._buffers_list if init_buffers else []))

        cap = int((_DEFAULT_BUCKET_CAP_MB if bucket_cap_mb is None else bucket_cap_mb) * _MIB)
        first = _FIRST_BUCKET_BYTES if bucket_cap_mb is None else cap
        self._limits = [first, cap] if first < cap else [cap]
        self._sizes = [(p.numel() * p.element_size(), (p.dtype, p.device)) for p in self._params]
        # As PyTorch: unless unused parameters are searched for (and the graph may change), the first backward
        # reduces one bucket per dtype and records the order gradients arrive in; the next forward rebuilds
        # the buckets from rank 0's order. With find_unused_parameters the buckets follow registration order.
        self._rebuild = static_graph or not find_unused_parameters
        self._arrival = [] if self._rebuild else None
        self._synced_once = False
        self._set_buckets(reversed(assign_buckets(self._sizes, [sys.maxsize] if self._rebuild else self._limits)))
        self._ready = [False] * len(self._params)
        self._next = 0                  # index of the next bucket to launch
        self._expect = False            # a synced forward ran: this backward's hooks reduce
        self._queued = False            # the finishing callback is queued for this backward
        self._unused = []               # param indices no backward path reaches this iteration
        self._static_unused = None
        self._used = None               # find_unused_parameters: 1 per param whose grad came this iteration
        me = weakref.ref(self)   # the parameters' hooks must not keep a dropped wrapper alive
        self._hooks = [p.register_post_accumulate_grad_hook(functools.partial(_grad_ready, me, i))
                       for i, p in enumerate(self._params)]

    def __del__(self):
        for h in self.__dict__.get("_hooks", ()):
            h.remove()

    # -- communication helpers ------------------------------------------------------------
    def _check_shapes_agree(self):
        """Every rank must wrap the same parameters: compare counts and sizes (max vs min over ranks)."""
        if self._world == 1:
            return
        sig = [float(len(self._params)), float(sum(p.numel() for p in self._params)),
               float(sum(p.numel() * (i + 1) for i, p in enumerate(self._params)))]
        t = ember.tensor(sig + [-s for s in sig], dtype=ember.float64, device=self._params[0].device)
        _dist.all_reduce(t, op=_dist.ReduceOp.MAX, group=self.process_group)
        hi, neg_lo = t[:3].tolist(), t[3:].tolist()
        if any(h != -lo for h, lo in zip(hi, neg_lo)):
            raise _err(f"the ranks wrap different models (this rank: {len(self._params)} parameters, "
                       f"{int(sig[1])} elements); construct the same module on every rank")

    def _broadcast(self, tensors):
        """Overwrite ``tensors`` with rank ``src``'s values, in flat chunks per dtype and device."""
        groups = {}
        for t in tensors:
            groups.setdefault((t.dtype, t.device), []).append(t)
        with no_grad():
            for ts in groups.values():
                start = 0
                while start < len(ts):
                    end, nbytes = start, 0
                    while end < len(ts) and (end == start or nbytes + ts[end].numel() * ts[end].element_size()
                                             <= _BROADCAST_BUCKET_BYTES):
                        nbytes += ts[end].numel() * ts[end].element_size()
                        end += 1
                    chunk = ts[start:end]
                    flat = ember.cat([t.detach().reshape(-1) for t in chunk])
                    _dist.broadcast(flat, src=self._src, group=self.process_group)
                    off = 0
                    for t in chunk:
                        t.copy_(flat[off:off + t.numel()].view(t.shape))
                        off += t.numel()
                    start = end

    def _set_buckets(self, assignment):
        self._buckets = [Bucket(ix, self._params) for ix in assignment]
        self._where = [None] * len(self._params)     # param index -> (bucket, slot)
        for b in self._buckets:
            for slot, i in enumerate(b.indices):
                self._where[i] = (b, slot)

    def _rebuild_buckets(self):
        """Bucket by the order gradients arrived in during the first synced backward (rank 0's, for all)."""
        order = self._arrival
        if self._world > 1:
            t = ember.tensor(order, dtype=ember.int64, device=self._params[0].device)
            _dist.broadcast(t, src=self._src, group=self.process_group)
            order = t.tolist()
        self._set_buckets(assign_buckets(self._sizes, self._limits, order))
        self._rebuild, self._arrival = False, None

    # -- forward ---------------------------------------------------------------------------
    def forward(self, *inputs, **kwargs):
        if self.require_forward_param_sync and self.forward_sync_buffers and self._world > 1 and self._buffers_list:
            self._broadcast(self._buffers_list)
        if self._input_device is not None:
            inputs, kwargs = _to_device(inputs, self._input_device), _to_device(kwargs, self._input_device)
        out = self.module(*inputs, **kwargs)
        if is_grad_enabled() and self.require_backward_grad_sync:
            self._prepare_for_backward(out)
        else:
            self._expect = False
        return out

    def _prepare_for_backward(self, out):
        if self._rebuild:
            if self._synced_once:
                self._rebuild_buckets()
            else:
                self._arrival = []   # a first backward that failed left a partial order
        self._ready = [False] * len(self._params)
        self._next, self._queued, self._expect = 0, False, True
        for b in self._buckets:
            b.reset()
        if not self.find_unused_parameters:
            return
        if self._static_unused is not None:
            self._unused = self._static_unused
        else:
            reached = _reached_leaves(out)
            self._unused = [i for i, p in enumerate(self._params) if edge_of(p)[0] not in reached]
            if self.static_graph:
                self._static_unused = self._unused
        self._used = ember.zeros(len(self._params), dtype=ember.int32, device=self._params[0].device)

    # -- backward: hooks and the finishing callback -----------------------------------------
    def _grad_ready(self, i, param):
        if not self._expect:
            return  # a forward under no_sync() (or with grad disabled): accumulate locally
        if not self._queued:
            self._queued = True
            queue_callback(self._finish)
            for j in self._unused:
                self._mark_ready(j, None)
        self._mark_ready(i, param.grad)

    def _mark_ready(self, i, grad):
        if self._ready[i]:
            raise _err(f"parameter {self._names[i]!r} received its gradient twice in one synced backward; run the "
                       f"forward again before each backward (reentrant checkpointing and a second backward through "
                       f"one graph are not supported)")
        self._ready[i] = True
        if self._arrival is not None:
            self._arrival.append(i)
        bucket, slot = self._where[i]
        if grad is None:
            bucket.views[slot].zero_()
        else:
            bucket.views[slot].copy_(grad.detach())
            if self._used is not None:
                self._used[i] = 1
        bucket.pending -= 1
        if bucket.pending == 0:
            self._launch_ready()

    def _launch_ready(self):
        buckets = self._buckets
        while self._next < len(buckets) and buckets[self._next].pending == 0:
            b = buckets[self._next]
            if self._world > 1:
                b.buffer.div_(self._world)
            b.work = _dist.all_reduce(b.buffer, op=_dist.ReduceOp.SUM, group=self.process_group, async_op=True)
            self._next += 1

    def _finish(self):
        self._expect = False
        missing = [i for i, r in enumerate(self._ready) if not r]
        if missing and not self.find_unused_parameters:
            names = ", ".join(self._names[i] for i in missing)
            raise _err(f"parameters that received no gradient in this backward: {names}; pass "
                       f"find_unused_parameters=True when some parameters take no part in computing the loss, or "
                       f"make every forward output take part in the loss")
        for i in missing:
            self._mark_ready(i, None)
        used_work = None
        if self._used is not None:
            used_work = _dist.all_reduce(self._used, op=_dist.ReduceOp.SUM, group=self.process_group, async_op=True)
        for b in self._buckets:
            b.work.wait()
        used = None
        if used_work is not None:
            used_work.wait()
            used = self._used.tolist()
        with no_grad():
            for i, p in enumerate(self._params):
                if used is not None and used[i] == 0:
                    continue  # no rank used it: its .grad stays as it was, as in PyTorch
                bucket, slot = self._where[i]
                view = bucket.views[slot]
                if self.gradient_as_bucket_view:
                    p.grad = view
                elif p.grad is None:
                    p.grad = view.clone()
                else:
                    p.grad.copy_(view)
        self._synced_once = True

    # -- API -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def no_sync(self):
        """Inside, backward accumulates gradients locally; the first synced backward after it averages them."""
        prev = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = prev

    @property
    def broadcast_buffers(self) -> bool:
        return self.forward_sync_buffers

    @broadcast_buffers.setter
    def broadcast_buffers(self, value: bool) -> None:
        self.forward_sync_buffers = bool(value)

    def _bucket_indices(self) -> list:
        """The parameter indices (into ``[p for p in module.parameters() if p.requires_grad]``) of each bucket,
        in launch order."""
        return [list(b.indices) for b in self._buckets]
