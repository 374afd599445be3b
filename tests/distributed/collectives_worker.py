"""Every collective of ember.distributed against numpy, on every dtype each device declares.

Run on 2+ ranks by tests/test_distributed.py (through ember-run). Every rank builds every rank's
inputs from a seed, so expected values are computed locally with numpy, without communication.
Argument: the device types to check (cpu,xla,xpu); one that cannot run here is reported as SKIP.
Prints ``CHECKS <device> <count>`` per device and ``ALL OK``; raises on the first mismatch.
"""

import os
import sys
from datetime import timedelta

import numpy as np

import ember
import ember.distributed as dist
from ember.distributed import ReduceOp

dist.init_process_group("mpi", timeout=timedelta(seconds=60))
RANK, N = dist.get_rank(), dist.get_world_size()
assert os.environ["RANK"] == str(RANK) and os.environ["WORLD_SIZE"] == str(N)
assert os.environ["LOCAL_RANK"] == str(RANK) and os.environ["LOCAL_WORLD_SIZE"] == str(N)
assert os.environ["MASTER_ADDR"] and int(os.environ["MASTER_PORT"]) > 0
SHAPE = (3, 4)
count = 0


def data(rank, dtype, salt=0, shape=SHAPE):
    """Rank ``rank``'s input: small values, so sums and products are exact in every dtype."""
    rng = np.random.default_rng(1000 * rank + 17 * salt + dtype._index)
    if dtype is ember.bool:
        return rng.random(shape) < 0.5
    vals = rng.integers(1, 4, size=shape)
    if dtype.is_complex:
        return (vals + 1j * rng.integers(0, 3, size=shape)).astype(dtype.np)
    return vals.astype(dtype.np)


def host(t):
    return t.to("cpu").numpy().copy()


def check(got, want, what):
    global count
    got, want = np.asarray(got), np.asarray(want)
    if got.dtype.kind in "fcV" or "bfloat16" in str(got.dtype):
        ok = got.shape == want.shape and np.allclose(got.astype(np.complex128), want.astype(np.complex128))
    else:
        ok = got.shape == want.shape and np.array_equal(got, want)
    if not ok:
        raise AssertionError(f"rank {RANK}: {what}: got {got!r}, expected {want!r}")
    count += 1


def reference(op, arrays, dtype):
    if dtype is ember.bool:
        f = {ReduceOp.SUM: np.logical_or, ReduceOp.MAX: np.logical_or, ReduceOp.BOR: np.logical_or,
             ReduceOp.PRODUCT: np.logical_and, ReduceOp.MIN: np.logical_and, ReduceOp.BAND: np.logical_and,
             ReduceOp.BXOR: np.logical_xor}[op]
    else:
        f = {ReduceOp.SUM: np.add, ReduceOp.AVG: np.add, ReduceOp.PRODUCT: np.multiply, ReduceOp.MIN: np.minimum,
             ReduceOp.MAX: np.maximum, ReduceOp.BAND: np.bitwise_and, ReduceOp.BOR: np.bitwise_or,
             ReduceOp.BXOR: np.bitwise_xor}[op]
    wide = [a.astype(np.float64) if a.dtype.kind == "V" or "bfloat16" in str(a.dtype) or a.dtype == np.float16
            else a for a in arrays]
    out = wide[0]
    for a in wide[1:]:
        out = f(out, a)
    if op is ReduceOp.AVG:
        out = out / len(arrays)
    return out.astype(arrays[0].dtype)


OPS = {"b": ("SUM", "PRODUCT", "MIN", "MAX", "BAND", "BOR", "BXOR"),
       "u": ("SUM", "PRODUCT", "MIN", "MAX", "BAND", "BOR", "BXOR"),
       "i": ("SUM", "PRODUCT", "MIN", "MAX", "BAND", "BOR", "BXOR"),
       "f": ("SUM", "AVG", "PRODUCT", "MIN", "MAX"), "c": ("SUM", "AVG", "PRODUCT")}


def run_device(device, dtypes):
    mk = lambda a: ember.from_numpy(np.array(a, copy=True)).to(device)  # noqa: E731  (never aliasing `every`)
    for dtype in dtypes:
        every = [data(r, dtype) for r in range(N)]
        for name in OPS[dtype.kind]:
            op = ReduceOp[name]
            t = mk(every[RANK])
            assert dist.all_reduce(t, op=op) is None
            check(host(t), reference(op, every, dtype), f"all_reduce {name} {dtype} {device}")
        t = mk(every[RANK])
        w = dist.all_reduce(t, async_op=True)
        assert w.wait() is True and w.is_completed() and w.is_success() and w.exception() is None
        check(host(t), reference(ReduceOp.SUM, every, dtype), f"async all_reduce {dtype} {device}")
        assert w.result()[0] is t
        t = mk(every[RANK])
        dist.broadcast(t, src=N - 1)
        check(host(t), every[N - 1], f"broadcast {dtype} {device}")
        t = mk(every[RANK])
        op = ReduceOp.SUM if dtype.is_complex else ReduceOp.MAX
        dist.reduce(t, dst=0, op=op)
        check(host(t), reference(op, every, dtype) if RANK == 0 else every[RANK], f"reduce {dtype} {device}")
        outs = [mk(np.zeros(SHAPE, every[0].dtype)) for _ in range(N)]
        dist.all_gather(outs, mk(every[RANK]))
        for r in range(N):
            check(host(outs[r]), every[r], f"all_gather[{r}] {dtype} {device}")
        out = mk(np.zeros((N * SHAPE[0], SHAPE[1]), every[0].dtype))
        dist.all_gather_into_tensor(out, mk(every[RANK]))
        check(host(out), np.concatenate(every), f"all_gather_into_tensor {dtype} {device}")
        big = [data(r, dtype, 1, (N * 2, 5)) for r in range(N)]
        out = mk(np.zeros((2, 5), every[0].dtype))
        dist.reduce_scatter_tensor(out, mk(big[RANK]), op=ReduceOp.SUM)
        check(host(out), reference(ReduceOp.SUM, big, dtype)[2 * RANK:2 * RANK + 2], f"reduce_scatter_tensor {dtype} {device}")
        lst = [mk(np.zeros(SHAPE, every[0].dtype)) for _ in range(N)] if RANK == 0 else None
        dist.gather(mk(every[RANK]), lst, dst=0)
        if RANK == 0:
            for r in range(N):
                check(host(lst[r]), every[r], f"gather[{r}] {dtype} {device}")
        out = mk(np.zeros(SHAPE, every[0].dtype))
        dist.scatter(out, [mk(data(1, dtype, 10 + r)) for r in range(N)] if RANK == 1 else None, src=1)
        check(host(out), data(1, dtype, 10 + RANK), f"scatter {dtype} {device}")
        # all_to_all_single, equal and uneven splits: rank r sends r + 1 + d rows to rank d
        src = [data(r, dtype, 2, (N * 2, 3)) for r in range(N)]
        out = mk(np.zeros((N * 2, 3), every[0].dtype))
        dist.all_to_all_single(out, mk(src[RANK]))
        check(host(out), np.concatenate([src[r][2 * RANK:2 * RANK + 2] for r in range(N)]), f"all_to_all_single {dtype} {device}")
        sizes = lambda r: [r + 1 + d for d in range(N)]  # noqa: E731
        src = [data(r, dtype, 3, (sum(sizes(r)), 2)) for r in range(N)]
        out_splits = [sizes(r)[RANK] for r in range(N)]
        out = mk(np.zeros((sum(out_splits), 2), every[0].dtype))
        dist.all_to_all_single(out, mk(src[RANK]), out_splits, sizes(RANK))
        want = [src[r][sum(sizes(r)[:RANK]):sum(sizes(r)[:RANK + 1])] for r in range(N)]
        check(host(out), np.concatenate(want), f"all_to_all_single uneven {dtype} {device}")
        # point to point: a ring, nonblocking both ways, then blocking with any source
        got = mk(np.zeros(SHAPE, every[0].dtype))
        works = [dist.irecv(got, src=(RANK - 1) % N, tag=5), dist.isend(mk(every[RANK]), dst=(RANK + 1) % N, tag=5)]
        for w in works:
            w.wait()
        check(host(got), every[(RANK - 1) % N], f"isend/irecv {dtype} {device}")
        if RANK == 0:
            for _ in range(N - 1):
                got = mk(np.zeros(SHAPE, every[0].dtype))
                sender = dist.recv(got)
                check(host(got), every[sender], f"recv from any {dtype} {device}")
        else:
            dist.send(mk(every[RANK]), dst=0)
    dist.barrier()
    print(f"CHECKS {device} {count}", flush=True)


def run_general():
    """Errors, groups, async ordering and object collectives (cpu)."""
    global count
    t = ember.ones(3)
    for call, err in ((lambda: dist.all_reduce(ember.ones(4, 2).t()), ember.InvalidArgumentError),
                      (lambda: dist.all_reduce(ember.ones(2, dtype=ember.complex64), op=ReduceOp.MAX), ember.DTypeError),
                      (lambda: dist.all_reduce(ember.ones(2), op="sum"), ember.InvalidArgumentError),
                      (lambda: dist.broadcast(t, src=N), ember.InvalidArgumentError),
                      (lambda: dist.all_gather([ember.ones(3)], t), ember.InvalidArgumentError),
                      (lambda: dist.all_gather_into_tensor(ember.ones(1), t), ember.ShapeError),
                      (lambda: dist.all_gather_into_tensor(ember.ones(3 * N, dtype=ember.int64), t), ember.DTypeError),
                      (lambda: dist.send(t, dst=RANK), ember.InvalidArgumentError),
                      (lambda: dist.all_reduce([1, 2]), TypeError)):
        try:
            call()
        except err as e:
            assert isinstance(e, ember.EmberError) and str(e), e
            count += 1
        else:
            raise AssertionError(f"rank {RANK}: no {err.__name__} from a bad call")
    # async ops queue in order; a blocking call after them waits its turn
    ts = [ember.full((1000,), float(RANK + i)) for i in range(4)]
    works = [dist.all_reduce(x, async_op=True) for x in ts]
    b = ember.full((2,), float(RANK))
    dist.broadcast(b, src=0)
    check(b.numpy(), np.zeros(2), "broadcast after async")
    for i, (w, x) in enumerate(zip(works, ts)):
        w.wait()
        check(x.numpy(), np.full(1000, float(sum(r + i for r in range(N)))), f"async #{i}")
    assert dist.barrier(async_op=True).wait()
    # groups: ranks 0 and N-1 in one; others get NON_GROUP_MEMBER and no-ops
    members = sorted({0, N - 1})
    g = dist.new_group(members)
    if RANK in members:
        assert dist.get_world_size(g) == len(members) and dist.get_rank(g) == members.index(RANK)
        assert dist.get_process_group_ranks(g) == members and dist.get_global_rank(g, 0) == 0
        x = ember.full((2,), float(RANK))
        dist.all_reduce(x, group=g)
        check(x.numpy(), np.full(2, float(sum(members))), "all_reduce in a group")
        x = ember.full((2,), float(RANK))
        dist.broadcast(x, src=N - 1, group=g)
        check(x.numpy(), np.full(2, float(N - 1)), "broadcast in a group (global src)")
    else:
        assert g is dist.GroupMember.NON_GROUP_MEMBER and dist.all_reduce(ember.ones(1), group=g) is None
    # objects
    objs = [{"rank": RANK, "list": [1, 2.5, "x"]}, None, (RANK,)] if RANK == 1 else [None, None, None]
    dist.broadcast_object_list(objs, src=1)
    assert objs == [{"rank": 1, "list": [1, 2.5, "x"]}, None, (1,)], objs
    gathered = [None] * N
    dist.all_gather_object(gathered, {"r": RANK, "pad": "y" * RANK * 100})
    assert gathered == [{"r": r, "pad": "y" * r * 100} for r in range(N)], gathered
    out = [None]
    dist.scatter_object_list(out, [f"for {r}" for r in range(N)] if RANK == 0 else None, src=0)
    assert out == [f"for {RANK}"], out
    count += 3
    assert dist.get_backend() == "mpi" and dist.is_initialized() and dist.group.WORLD.size() == N
    print(f"CHECKS general {count}", flush=True)


run_general()
for device in sys.argv[1].split(","):
    count = 0
    try:
        backend = ember.device(device) and ember.zeros(1, device=device)._backend
    except Exception as e:  # noqa: BLE001
        print(f"SKIP {device}: {type(e).__name__}: {e}", flush=True)
        continue
    dtypes = [d for d in backend.capabilities.dtypes]
    if len(sys.argv) > 2 and device in sys.argv[2].split(","):  # a quick subset for slow devices
        dtypes = [d for d in dtypes if d in (ember.float32, ember.int64, ember.bool, ember.float16)]
    run_device(device, dtypes)
dist.destroy_process_group()
assert not dist.is_initialized()
print("ALL OK", flush=True)
