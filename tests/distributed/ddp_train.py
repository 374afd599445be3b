"""2-rank worker: DistributedDataParallel on the digits CNN against one process on the concatenated batches.

Launched by tests/test_ddp.py as ``python -m ember.distributed.run --nproc-per-node 2 <this> OUTDIR``; each
rank writes OUTDIR/rank<r>.json with the differences and the order of events the test asserts on.
The CNN runs in eval mode: BatchNorm then uses its running statistics, so a rank's half batch and the
whole batch see the same function (in train mode each rank would normalise by its own half's statistics,
as in PyTorch without SyncBatchNorm), and dropout is off.
"""

import json
import os
import sys

import ember
import ember.distributed as dist
import ember.nn.functional as F
from ember.nn.parallel import DistributedDataParallel

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples"))
from train_digits import DigitsNet  # noqa: E402

STEPS, BATCH = 4, 16


def batch(step):
    g = ember.Generator()
    g.manual_seed(1000 + step)
    return ember.randn(2 * BATCH, 1, 8, 8, generator=g), ember.randint(0, 10, (2 * BATCH,), generator=g)


def flat(model):
    return ember.cat([p.detach().reshape(-1) for p in model.parameters()])


def main(out):
    dist.init_process_group()
    rank = dist.get_rank()
    ember.manual_seed(0)
    ref = DigitsNet().eval()                      # rank 0's initial model, trained on both halves in one process
    ember.manual_seed(rank)
    model = DigitsNet().eval()                    # rank 1 starts elsewhere: construction must broadcast rank 0's
    events = []
    launch = dist.all_reduce

    def recording_all_reduce(tensor, *args, **kwargs):
        events.append(["all_reduce", tensor.numel()])
        return launch(tensor, *args, **kwargs)

    ddp = DistributedDataParallel(model, bucket_cap_mb=0.02)
    init_diff = (flat(model) - flat(ref)).abs().max().item()
    dist.all_reduce = recording_all_reduce
    # Every gradient's arrival, after DDP's own hook for it: a "grad" event after an "all_reduce" in one step
    # means backward was still computing gradients while a bucket was being reduced.
    for i, p in enumerate(model.parameters()):
        p.register_post_accumulate_grad_hook(lambda t, i=i: events.append(["grad", i]))
    opt = ember.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    ref_opt = ember.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9)
    mine = slice(rank * BATCH, (rank + 1) * BATCH)
    for step in range(STEPS):
        x, y = batch(step)
        events.append(["step", step])
        opt.zero_grad()
        F.cross_entropy(ddp(x[mine]), y[mine]).backward()
        events.append(["backward_done", step])
        opt.step()
        ref_opt.zero_grad()
        F.cross_entropy(ref(x), y).backward()
        ref_opt.step()
    dist.all_reduce = launch
    mine_flat = flat(model)
    rank0 = mine_flat.clone()
    dist.broadcast(rank0, src=0)
    result = {"init_diff": init_diff,
              "vs_single": (mine_flat - flat(ref)).abs().max().item(),
              "vs_rank0": (mine_flat - rank0).abs().max().item(),
              "buckets": ddp._bucket_indices(),
              "events": events}
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump(result, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
