"""Train a small CNN on scikit-learn's 8x8 handwritten digits (no download) with Ember.

    python examples/train_digits.py                 # the first available accelerator (see _device.py), else cpu
    python examples/train_digits.py --device cpu --epochs 12
    ember-run --nproc-per-node 2 examples/train_digits.py --ddp   # data-parallel on 2 ranks
    python examples/train_digits.py --amp           # mixed precision (autocast; GradScaler for float16)

Prints, per epoch, the training loss, the test accuracy and the time the epoch took.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.utils.data import DataLoader, TensorDataset
from ember.utils.data.distributed import DistributedSampler

from _device import best_device


class DigitsNet(nn.Module):
    """conv(1->16) - conv(16->32) - maxpool - linear(512->64) - linear(64->10)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(32 * 4 * 4, 64), nn.ReLU(),
                                        nn.Linear(64, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


_BLAS_LIMIT = None


def limit_blas_threads(n):
    """Small matrices run best on one BLAS thread; on a busy machine more threads only contend."""
    global _BLAS_LIMIT
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    _BLAS_LIMIT = threadpool_limits(n)  # the limit lasts while this object lives


def load_data(device, seed):
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit("this example needs scikit-learn: python -m pip install scikit-learn")
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]          # (1797, 1, 8, 8) in [0, 1]
    y = d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))     # a fixed 80/20 split
    n_test = len(x) // 5
    test, train = order[:n_test], order[n_test:]
    mean, std = x[train].mean(), x[train].std()
    x = (x - mean) / std
    t = lambda a: ember.tensor(a, device=device)  # noqa: E731
    return TensorDataset(t(x[train]), t(y[train])), TensorDataset(t(x[test]), t(y[test]))


def progress(iterable, total, desc, enabled):
    if not enabled:
        return iterable
    try:
        from tqdm import tqdm
        return tqdm(iterable, total=total, desc=desc, leave=False, unit="batch")
    except ImportError:
        pass
    try:
        from rich.progress import track
        return track(iterable, total=total, description=desc, transient=True)
    except ImportError:
        return iterable


def evaluate(model, data, batch_size=512):
    model.eval()
    correct = 0
    with ember.no_grad():
        for xb, yb in DataLoader(data, batch_size=batch_size):
            correct += int((model(xb).argmax(1) == yb).sum().item())
    return correct / len(data)


def _quiet(*args, **kwargs):
    pass


def data_parallel(model):
    """Join the ranks ember-run started and wrap the model: (DistributedDataParallel, rank, world size)."""
    import ember.distributed as dist
    from ember.nn.parallel import DistributedDataParallel
    dist.init_process_group()            # rank and world size come from ember-run's environment
    return DistributedDataParallel(model), dist.get_rank(), dist.get_world_size()


def sum_over_ranks(total, count):
    t = ember.tensor([total, float(count)], dtype=ember.float64)
    ember.distributed.all_reduce(t)
    return t[0].item(), int(t[1].item())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default=None,
                    help="cpu, cuda, xpu, ... (default: the first available accelerator, else cpu)")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    ap.add_argument("--blas-threads", type=int, default=1, help="threads for numpy's BLAS on cpu (default 1)")
    ap.add_argument("--ddp", action="store_true",
                    help="data-parallel over the ranks started by ember-run (each rank reads its share of every "
                         "epoch; --batch-size is per rank); only rank 0 prints")
    ap.add_argument("--amp", action="store_true",
                    help="mixed precision: autocast on the device in its default dtype (bfloat16 on cpu, float16 "
                         "on GPUs), with a GradScaler where that dtype is float16")
    args = ap.parse_args(argv)
    limit_blas_threads(args.blas_threads)

    device = args.device or best_device()
    if hasattr(ember, "manual_seed"):
        ember.manual_seed(args.seed)
    else:
        nn._random.manual_seed(args.seed)
    train, test = load_data(device, args.seed)
    model = DigitsNet().to(device)
    net, rank, world = data_parallel(model) if args.ddp else (model, 0, 1)
    log = print if rank == 0 else _quiet
    opt = ember.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = ember.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    gen = ember.Generator() if hasattr(ember, "Generator") else None
    if gen is not None:
        gen.manual_seed(args.seed)
    if args.ddp:
        sampler = DistributedSampler(train, seed=args.seed)
        loader = DataLoader(train, batch_size=args.batch_size, sampler=sampler)
    else:
        loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, generator=gen)
    n_params = sum(p.numel() for p in model.parameters())
    dev_type = ember.device(device).type
    amp_dtype = ember.get_autocast_dtype(dev_type) if args.amp else None
    scaler = ember.amp.GradScaler(dev_type, enabled=amp_dtype is ember.float16)
    if args.amp:
        log(f"mixed precision: autocast({dev_type!r}) in {amp_dtype}" + (", GradScaler" if scaler.is_enabled() else ""))
    if args.ddp:
        log(f"DistributedDataParallel over {world} ranks, {len(loader)} batches of {args.batch_size} per rank "
            f"and epoch")
    log(f"device {device}: {len(train)} training and {len(test)} test digits, {n_params} parameters")

    start = time.perf_counter()
    acc = 0.0
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        total, count = 0.0, 0
        if args.ddp:
            sampler.set_epoch(epoch)   # a new shuffle per epoch, the same on every rank
        show = not args.no_progress and log is print
        for xb, yb in progress(loader, len(loader), f"epoch {epoch}", show):
            with ember.autocast(dev_type, enabled=args.amp):
                loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            total += loss.item() * len(yb)
            count += len(yb)
        sched.step()
        if args.ddp:
            total, count = sum_over_ranks(total, count)
        acc = evaluate(model, test)
        dt = time.perf_counter() - t0
        log(f"epoch {epoch:2d}  loss {total / count:.4f}  test accuracy {acc * 100:6.2f}%  time {dt:5.2f} s",
            flush=True)
    log(f"final test accuracy {acc * 100:.2f}% after {args.epochs} epochs in {time.perf_counter() - start:.1f} s "
        f"on {device}")
    if args.ddp:
        ember.distributed.destroy_process_group()
    return acc


if __name__ == "__main__":
    main()
