"""2-rank worker: no_sync accumulation, find_unused_parameters, buffer broadcast, and the sampler's defaults.

Launched by tests/test_ddp.py under ``python -m ember.distributed.run --nproc-per-node 2 <this> OUTDIR``;
each rank writes OUTDIR/rank<r>.json. References are computed in-process from both ranks' data.
"""

import copy
import json
import os
import sys

import ember
import ember.distributed as dist
import ember.nn as nn
from ember.nn.parallel import DistributedDataParallel
from ember.utils.data.distributed import DistributedSampler


def data(seed, n=6):
    g = ember.Generator()
    g.manual_seed(seed)
    return ember.randn(2 * n, 4, generator=g)


def max_grad_diff(a, b):
    return max((p.grad - q.grad).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))


def no_sync(rank, calls):
    ember.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    ddp = DistributedDataParallel(model)
    ref = copy.deepcopy(model)
    x1, x2 = data(11), data(12)
    mine = slice(rank * 6, rank * 6 + 6)
    before = len(calls)
    with ddp.no_sync():
        ddp(x1[mine]).pow(2).mean().backward()
    during = len(calls) - before
    local = model[0].weight.grad.clone()
    ddp(x2[mine]).pow(2).mean().backward()
    for x in (x1, x2):                 # one process: per micro-batch, the mean over both ranks' halves
        ref(x).pow(2).mean().backward()
    return {"all_reduces_in_no_sync": during, "vs_single": max_grad_diff(model, ref),
            "local_grad_sum": local.sum().item()}


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(4, 3), nn.Linear(4, 3), nn.Linear(4, 3)

    def forward(self, x, use_b):
        h = self.a(x)
        return (h + self.b(x) if use_b else h).pow(2).sum()


def find_unused(rank):
    ember.manual_seed(2)
    model = Branchy()
    ddp = DistributedDataParallel(model, find_unused_parameters=True)
    ref = copy.deepcopy(model)
    x = data(21, 3)
    ddp(x[rank * 3:rank * 3 + 3], use_b=rank == 1).backward()     # b only on rank 1, c nowhere
    for r in (0, 1):
        ref(x[r * 3:r * 3 + 3], use_b=r == 1).backward()
    out = {"c_grad_is_none": model.c.weight.grad is None and model.c.bias.grad is None}
    for name in ("a", "b"):
        mod, rmod = getattr(model, name), getattr(ref, name)
        out[name] = max((p.grad - q.grad / 2).abs().max().item()
                        for p, q in zip(mod.parameters(), rmod.parameters()))
    strict = DistributedDataParallel(Branchy())
    try:
        strict(x[:3], use_b=False).backward()
        out["strict_error"] = None
    except ValueError as e:
        out["strict_error"] = str(e)
    return out


def buffers(rank):
    res = {}
    for flag in (True, False):
        model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)).eval()
        ddp = DistributedDataParallel(model, broadcast_buffers=flag)
        with ember.no_grad():
            model[1].running_mean.fill_(float(rank + 1))
        ddp(data(31))
        res[str(flag)] = model[1].running_mean.tolist()
    return res


def main(out):
    dist.init_process_group()
    rank = dist.get_rank()
    calls = []
    launch = dist.all_reduce

    def counting(*args, **kwargs):
        calls.append(1)
        return launch(*args, **kwargs)

    dist.all_reduce = counting
    result = {"no_sync": no_sync(rank, calls), "find_unused": find_unused(rank), "buffers": buffers(rank),
              "sampler": list(DistributedSampler(range(7), shuffle=False))}
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump(result, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
