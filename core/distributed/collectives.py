"""The collectives and point-to-point operations, with PyTorch's signatures and in-place semantics.

Each checks its arguments once, here (tensors, shapes, dtypes, ranks), maps global ranks to the
group's own, and hands the work to the group's backend object. With ``async_op=True`` it returns
a ``Work``; otherwise it returns once the outputs are written. On a rank outside ``group`` it does
nothing and returns None, as PyTorch does.
"""

from __future__ import annotations

from .._tensor import Tensor
from ..errors import ArgumentTypeError, DeviceMismatchError, DTypeError, InvalidArgumentError, ShapeError
from .process_group import resolve
from .reduce_op import ReduceOp


def _tensor(t, what: str, arg: str = "tensor"):
    if not isinstance(t, Tensor):
        raise ArgumentTypeError(f"{what}(): {arg} must be an ember.Tensor, got {type(t).__name__}")
    return t


def _same(a, b, what: str, *, shape=True) -> None:
    """``a`` matches ``b`` in dtype, device (and shape)."""
    if a.dtype is not b.dtype:
        raise DTypeError(f"{what}(): tensors must share a dtype, got {a.dtype} and {b.dtype}; cast one with .to()")
    if a.device != b.device:
        raise DeviceMismatchError(f"{what}(): tensors must be on one device, got {a.device} and {b.device}")
    if shape and tuple(a.shape) != tuple(b.shape):
        raise ShapeError(f"{what}(): tensors must have one shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def _op(op, what: str):
    if not isinstance(op, ReduceOp):
        raise InvalidArgumentError(f"{what}(op={op!r}): expected an ember.distributed.ReduceOp such as ReduceOp.SUM")
    return op


def _peer(g, rank, group_rank, what: str, arg: str) -> int:
    """The group rank meant by a global ``rank`` or a ``group_rank`` (PyTorch's src/group_src)."""
    if rank is not None and group_rank is not None:
        raise InvalidArgumentError(f"{what}(): pass {arg} or group_{arg}, not both")
    if group_rank is None:
        if rank is None:
            raise InvalidArgumentError(f"{what}(): {arg} is required (a global rank)")
        group_rank = g._index.get(rank)
        if group_rank is None:
            raise InvalidArgumentError(
                f"{what}({arg}={rank}): rank {rank} is not in {g!r}; use one of {list(g._ranks)}")
    elif not 0 <= group_rank < g.size():
        raise InvalidArgumentError(f"{what}(group_{arg}={group_rank}): outside [0, {g.size()})")
    return group_rank


def _done(work, async_op):
    if async_op:
        return work
    work.wait()
    return None


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` across the group; every rank's ``tensor`` holds the result."""
    _tensor(tensor, "all_reduce")
    g = resolve(group, "all_reduce")
    if g is None:
        return None
    return _done(g._impl.allreduce(tensor, _op(op, "all_reduce"), async_op), async_op)


def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    """Copy rank ``src``'s ``tensor`` into every other rank's ``tensor``."""
    _tensor(tensor, "broadcast")
    g = resolve(group, "broadcast")
    if g is None:
        return None
    return _done(g._impl.broadcast(tensor, _peer(g, src, group_src, "broadcast", "src"), async_op), async_op)


def reduce(tensor, dst=None, op=ReduceOp.SUM, group=None, async_op=False, group_dst=None):
    """Reduce ``tensor`` across the group into rank ``dst``'s ``tensor`` (the others' are left as is)."""
    _tensor(tensor, "reduce")
    g = resolve(group, "reduce")
    if g is None:
        return None
    root = _peer(g, dst, group_dst, "reduce", "dst")
    return _done(g._impl.reduce(tensor, root, _op(op, "reduce"), async_op), async_op)


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """Every rank's ``tensor`` into ``tensor_list[rank]`` on every rank."""
    _tensor(tensor, "all_gather")
    g = resolve(group, "all_gather")
    if g is None:
        return None
    _check_list(tensor_list, tensor, g.size(), "all_gather", "tensor_list")
    return _done(g._impl.allgather(tensor_list, tensor, async_op), async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Every rank's ``input_tensor`` concatenated (or stacked) into ``output_tensor``."""
    _tensor(output_tensor, "all_gather_into_tensor", "output_tensor")
    _tensor(input_tensor, "all_gather_into_tensor", "input_tensor")
    g = resolve(group, "all_gather_into_tensor")
    if g is None:
        return None
    _same(output_tensor, input_tensor, "all_gather_into_tensor", shape=False)
    _check_numel(output_tensor, input_tensor.numel() * g.size(), "all_gather_into_tensor", "output_tensor",
                 f"world size {g.size()} x input numel {input_tensor.numel()}")
    return _done(g._impl.allgather_into_tensor(output_tensor, input_tensor, async_op), async_op)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``input`` across the group and give rank ``r`` its ``r``-th equal chunk in ``output``."""
    _tensor(output, "reduce_scatter_tensor", "output")
    _tensor(input, "reduce_scatter_tensor", "input")
    g = resolve(group, "reduce_scatter_tensor")
    if g is None:
        return None
    _same(output, input, "reduce_scatter_tensor", shape=False)
    _check_numel(input, output.numel() * g.size(), "reduce_scatter_tensor", "input",
                 f"world size {g.size()} x output numel {output.numel()}")
    return _done(g._impl.reduce_scatter_tensor(output, input, _op(op, "reduce_scatter_tensor"), async_op),
                 async_op)


def _rooted(g, tensor, tensors, peer, group_peer, name, peer_arg, list_arg):
    """The root rank of a gather or scatter, with its list checked: one tensor per rank on the root,
    None or empty elsewhere."""
    root = _peer(g, 0 if peer is None and group_peer is None else peer, group_peer, name, peer_arg)
    if g.rank() == root:
        _check_list(tensors, tensor, g.size(), name, list_arg)
    elif tensors:
        raise InvalidArgumentError(f"{name}(): {list_arg} must be None or empty on ranks other than {peer_arg} "
                                   f"({g._ranks[root]}); rank {g._ranks[g.rank()]} passed {len(tensors)} tensors")
    return root


def gather(tensor, gather_list=None, dst=None, group=None, async_op=False, group_dst=None):
    """Every rank's ``tensor`` into rank ``dst``'s ``gather_list`` (None on the other ranks)."""
    _tensor(tensor, "gather")
    g = resolve(group, "gather")
    if g is None:
        return None
    root = _rooted(g, tensor, gather_list, dst, group_dst, "gather", "dst", "gather_list")
    return _done(g._impl.gather(gather_list, tensor, root, async_op), async_op)


def scatter(tensor, scatter_list=None, src=None, group=None, async_op=False, group_src=None):
    """Rank ``src``'s ``scatter_list[r]`` into rank ``r``'s ``tensor``."""
    _tensor(tensor, "scatter")
    g = resolve(group, "scatter")
    if g is None:
        return None
    root = _rooted(g, tensor, scatter_list, src, group_src, "scatter", "src", "scatter_list")
    return _done(g._impl.scatter(tensor, scatter_list, root, async_op), async_op)


def all_to_all_single(output, input, output_split_sizes=None, input_split_sizes=None, group=None, async_op=False):
    """Split ``input`` along dim 0 (equally, or by ``input_split_sizes``), send chunk ``r`` to rank
    ``r``, and concatenate what arrives into ``output`` (by ``output_split_sizes``)."""
    _tensor(output, "all_to_all_single", "output")
    _tensor(input, "all_to_all_single", "input")
    g = resolve(group, "all_to_all_single")
    if g is None:
        return None
    _same(output, input, "all_to_all_single", shape=False)
    n = g.size()
    for t, splits, arg in ((input, input_split_sizes, "input"), (output, output_split_sizes, "output")):
        rows = t.shape[0] if t.dim() else 1
        if splits is None or len(splits) == 0:
            if rows % n:
                raise ShapeError(f"all_to_all_single(): {arg} has {rows} rows along dim 0, not divisible by "
                                 f"the world size {n}; pass {arg}_split_sizes")
        elif len(splits) != n or sum(splits) != rows or min(splits) < 0:
            raise ShapeError(f"all_to_all_single(): {arg}_split_sizes={list(splits)} must be {n} non-negative "
                             f"sizes summing to {rows} (dim 0 of {arg})")
    if tuple(output.shape[1:]) != tuple(input.shape[1:]):
        raise ShapeError(f"all_to_all_single(): output and input must match beyond dim 0, got "
                         f"{tuple(output.shape)} and {tuple(input.shape)}")
    out_s = list(output_split_sizes) if output_split_sizes else None
    in_s = list(input_split_sizes) if input_split_sizes else None
    if out_s is None and in_s is None and output.numel() != input.numel():
        raise ShapeError(f"all_to_all_single(): output and input must have one numel without split sizes, got "
                         f"{output.numel()} and {input.numel()}")
    return _done(g._impl.alltoall_single(output, input, out_s, in_s, async_op), async_op)


def barrier(group=None, async_op=False, device_ids=None, timeout=None):
    """Return once every rank of the group called it (``timeout``: this call's, instead of the group's)."""
    g = resolve(group, "barrier")
    if g is None:
        return None
    if timeout is None:
        return _done(g._impl.barrier(async_op), async_op)
    seconds = timeout.total_seconds() if hasattr(timeout, "total_seconds") else float(timeout)
    return _done(g._impl.barrier(async_op, timeout=seconds), async_op)


def isend(tensor, dst=None, group=None, tag=0, group_dst=None):
    """Start sending ``tensor`` to rank ``dst``; returns a Work."""
    _tensor(tensor, "isend")
    g = resolve(group, "isend")
    if g is None:
        return None
    peer = _peer(g, dst, group_dst, "isend", "dst")
    _not_self(g, peer, "isend")
    return g._impl.send(tensor, peer, _tag(tag, "isend"))


def irecv(tensor, src=None, group=None, tag=0, group_src=None):
    """Start receiving into ``tensor`` from rank ``src`` (None: any rank); returns a Work."""
    _tensor(tensor, "irecv")
    g = resolve(group, "irecv")
    if g is None:
        return None
    peer = None if src is None and group_src is None else _peer(g, src, group_src, "irecv", "src")
    if peer is not None:
        _not_self(g, peer, "irecv")
    return g._impl.recv(tensor, peer, _tag(tag, "irecv"))


def send(tensor, dst=None, group=None, tag=0, group_dst=None) -> None:
    """Send ``tensor`` to rank ``dst``; returns once it may be reused."""
    w = isend(tensor, dst, group, tag, group_dst)
    if w is not None:
        w.wait()


def recv(tensor, src=None, group=None, tag=0, group_src=None) -> int:
    """Receive into ``tensor`` from rank ``src`` (None: any rank); returns the sender's global rank."""
    w = irecv(tensor, src, group, tag, group_src)
    if w is None:
        return -1
    w.wait()
    return w._source


def _tag(tag, what: str) -> int:
    if not isinstance(tag, int) or tag < 0 or tag > 32767:
        raise InvalidArgumentError(f"{what}(tag={tag!r}): tags are integers in [0, 32767] (MPI's guaranteed range)")
    return tag


def _not_self(g, peer, what: str) -> None:
    if peer == g.rank():
        raise InvalidArgumentError(f"{what}(): rank {g._ranks[peer]} cannot send to or receive from itself")


def _check_list(lst, like, n, what: str, arg: str) -> None:
    if not isinstance(lst, (list, tuple)) or len(lst) != n:
        got = f"{len(lst)} tensors" if isinstance(lst, (list, tuple)) else type(lst).__name__
        raise InvalidArgumentError(f"{what}(): {arg} must be a list of {n} tensors (the group's size), got {got}")
    for t in lst:
        _tensor(t, what, arg)
        _same(t, like, what)


def _check_numel(t, want: int, what: str, arg: str, why: str) -> None:
    if t.numel() != want:
        raise ShapeError(f"{what}(): {arg} has {t.numel()} elements (shape {tuple(t.shape)}) but must have "
                         f"{want} ({why})")
