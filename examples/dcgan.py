"""Train a small DCGAN on synthetic 16x16 images of blurred blobs, made in the program (no download).

    python examples/dcgan.py                        # the first available accelerator (see _device.py), else cpu
    python examples/dcgan.py --device cpu --steps 200

The generator is ConvTranspose2d + BatchNorm2d + ReLU up to a Tanh; the discriminator is Conv2d +
BatchNorm2d + LeakyReLU; both train with BCEWithLogitsLoss and Adam(betas=(0.5, 0.999)), as in Radford et
al. Every few steps it prints both losses and the gap between the statistics of real and generated images
(mean and standard deviation per pixel), which falls as the generator learns.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import ember
import ember.nn as nn

from _device import best_device

SIZE = 16


def make_blobs(n, rng):
    """n images (n, 1, 16, 16) in [-1, 1]: one to three Gaussian blobs of random place, size and brightness."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    out = np.zeros((n, SIZE, SIZE), np.float32)
    for i in range(n):
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.uniform(3, SIZE - 3, 2)
            s = rng.uniform(1.5, 3.0)
            out[i] += rng.uniform(0.6, 1.0) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    return (np.clip(out, 0, 1) * 2 - 1)[:, None]


class Generator(nn.Module):
    """z (N, nz, 1, 1) -> 4x4 -> 8x8 -> 16x16 image in [-1, 1]."""

    def __init__(self, nz=16, ngf=32):
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 2, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, 1, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, z):
        return self.net(z)


class Discriminator(nn.Module):
    """16x16 image -> 8x8 -> 4x4 -> one logit: real or generated."""

    def __init__(self, ndf=32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, 1, 4, 1, 0, bias=False), nn.Flatten())

    def forward(self, x):
        return self.net(x).reshape(-1)


def weights_init(m):
    """DCGAN's initialisation: conv weights N(0, 0.02), batch-norm scales N(1, 0.02)."""
    name = type(m).__name__
    if "Conv" in name:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif "BatchNorm" in name:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def stat_gap(fake, real):
    """How far the generated images' per-pixel mean and std are from the real ones'."""
    return float(((fake.mean(0) - real.mean(0)).abs().mean() + (fake.std(0) - real.std(0)).abs().mean()).item())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default=None,
                    help="cpu, cuda, xpu, ... (default: the first available accelerator, else cpu)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--nz", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--print-every", type=int, default=10)
    args = ap.parse_args(argv)

    device = args.device or best_device()
    ember.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    data = ember.tensor(make_blobs(2048, rng), device=device)
    netG, netD = Generator(args.nz).to(device), Discriminator().to(device)
    netG.apply(weights_init)
    netD.apply(weights_init)
    criterion = nn.BCEWithLogitsLoss()
    optD = ember.optim.Adam(netD.parameters(), lr=args.lr, betas=(0.5, 0.999))
    optG = ember.optim.Adam(netG.parameters(), lr=args.lr, betas=(0.5, 0.999))
    fixed_z = ember.randn(256, args.nz, 1, 1, device=device)
    print(f"device {device}: {data.shape[0]} real 16x16 images, generator "
          f"{sum(p.numel() for p in netG.parameters())} and discriminator "
          f"{sum(p.numel() for p in netD.parameters())} parameters")

    def report(step, d_loss, g_loss):
        netG.eval()
        with ember.no_grad():
            gap = stat_gap(netG(fixed_z), data[:256])
        netG.train()
        print(f"step {step:4d}  loss_D {d_loss:.4f}  loss_G {g_loss:.4f}  stat_gap {gap:.4f}", flush=True)
        return gap

    start = time.perf_counter()
    n = data.shape[0]
    for step in range(1, args.steps + 1):
        real = data[ember.randint(0, n, (args.batch_size,), device=device)]
        ones = ember.ones(args.batch_size, device=device)
        zeros = ember.zeros(args.batch_size, device=device)
        fake = netG(ember.randn(args.batch_size, args.nz, 1, 1, device=device))

        optD.zero_grad()  # discriminator: real -> 1, generated -> 0
        d_loss = criterion(netD(real), ones) + criterion(netD(fake.detach()), zeros)
        d_loss.backward()
        optD.step()

        optG.zero_grad()  # generator: make the discriminator say 1
        g_loss = criterion(netD(fake), ones)
        g_loss.backward()
        optG.step()

        if step == 1 or step % args.print_every == 0 or step == args.steps:
            report(step, d_loss.item(), g_loss.item())
    print(f"done: {args.steps} steps in {time.perf_counter() - start:.1f} s on {device}")


if __name__ == "__main__":
    main()
