"""Train a fast style-transfer network (Johnson et al., 2016) on synthetic images, made in the program.

    python examples/style_transfer.py                     # the first available accelerator, else cpu
    python examples/style_transfer.py --device cpu --steps 100

The transformation network is reflection padding, Conv2d, InstanceNorm2d and ReLU, two residual blocks,
then nearest upsampling and a convolution back to RGB. It learns to repaint 32x32 images of coloured
shapes in the texture of a striped style image: the content loss compares features of a small fixed
random convolutional extractor (standing in for VGG, no download), the style loss compares Gram matrices
of those features. Prints the content, style and total losses; the total falls.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import ember
import ember.nn as nn
import ember.nn.functional as F

from _device import best_device

SIZE = 32


def make_content(n, rng):
    """n RGB images (n, 3, 32, 32) in [0, 1]: rectangles and discs of random colours on a random background."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    out = np.empty((n, 3, SIZE, SIZE), np.float32)
    for i in range(n):
        out[i] = rng.uniform(0, 1, (3, 1, 1))
        for _ in range(rng.integers(2, 5)):
            c = rng.uniform(0, 1, (3, 1))
            if rng.random() < 0.5:
                y0, x0 = rng.integers(0, SIZE - 8, 2)
                h, w = rng.integers(6, 16, 2)
                mask = (yy >= y0) & (yy < y0 + h) & (xx >= x0) & (xx < x0 + w)
            else:
                cy, cx, r = rng.uniform(6, SIZE - 6), rng.uniform(6, SIZE - 6), rng.uniform(3, 8)
                mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
            out[i][:, mask] = c
    return out


def make_style():
    """One (1, 3, 32, 32) style image: diagonal stripes in two colours with a finer cross-hatch."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    s = 0.5 + 0.5 * np.sin((xx + yy) * 0.8)
    h = 0.5 + 0.5 * np.sin((xx - yy) * 2.1)
    img = np.stack([0.9 * s + 0.1 * h, 0.2 + 0.5 * h * (1 - s), 0.8 * (1 - s)], 0)
    return img[None].astype(np.float32)


class ConvLayer(nn.Module):
    """Reflection padding then a convolution: no zero border for the network to paint."""

    def __init__(self, cin, cout, k, stride=1):
        super().__init__()
        self.pad = nn.ReflectionPad2d(k // 2)
        self.conv = nn.Conv2d(cin, cout, k, stride)

    def forward(self, x):
        return self.conv(self.pad(x))


class ResidualBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(ConvLayer(c, c, 3), nn.InstanceNorm2d(c, affine=True), nn.ReLU(),
                                  ConvLayer(c, c, 3), nn.InstanceNorm2d(c, affine=True))

    def forward(self, x):
        return x + self.body(x)


class UpsampleConv(nn.Module):
    """Nearest-neighbour upsampling then a convolution (no checkerboard artefacts of transposed convs)."""

    def __init__(self, cin, cout, k, scale):
        super().__init__()
        self.up = nn.Upsample(scale_factor=scale, mode="nearest")
        self.conv = ConvLayer(cin, cout, k)

    def forward(self, x):
        return self.conv(self.up(x))


class TransformerNet(nn.Module):
    def __init__(self, c=16):
        super().__init__()
        self.net = nn.Sequential(
            ConvLayer(3, c, 9), nn.InstanceNorm2d(c, affine=True), nn.ReLU(),
            ConvLayer(c, 2 * c, 3, stride=2), nn.InstanceNorm2d(2 * c, affine=True), nn.ReLU(),
            ResidualBlock(2 * c), ResidualBlock(2 * c),
            UpsampleConv(2 * c, c, 3, 2), nn.InstanceNorm2d(c, affine=True), nn.ReLU(),
            ConvLayer(c, 3, 9))

    def forward(self, x):
        return self.net(x)


class Features(nn.Module):
    """A fixed random three-stage conv net; its activations stand in for VGG's in the losses."""

    def __init__(self):
        super().__init__()
        self.stages = nn.ModuleList([
            nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU()),
            nn.Sequential(nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU()),
            nn.Sequential(nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU())])
        self.requires_grad_(False)

    def forward(self, x):
        out = []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out


def gram(f):
    """(N, C, H, W) features -> (N, C, C) Gram matrices, normalised by C*H*W."""
    n, c, h, w = f.shape
    f = f.reshape(n, c, h * w)
    return f.bmm(f.transpose(1, 2)) / (c * h * w)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default=None,
                    help="cpu, cuda, xpu, ... (default: the first available accelerator, else cpu)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--width", type=int, default=16, help="channels of the first layer (default 16)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--style-weight", type=float, default=1e5)
    ap.add_argument("--content-weight", type=float, default=1e2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--print-every", type=int, default=10)
    args = ap.parse_args(argv)

    device = args.device or best_device()
    ember.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    content = ember.tensor(make_content(256, rng), device=device)
    style = ember.tensor(make_style(), device=device)
    model, features = TransformerNet(args.width).to(device), Features().to(device)
    features.eval()
    with ember.no_grad():
        style_grams = [gram(f) for f in features(style)]
    opt = ember.optim.Adam(model.parameters(), lr=args.lr)
    print(f"device {device}: {content.shape[0]} content images, "
          f"{sum(p.numel() for p in model.parameters())} parameters")

    start = time.perf_counter()
    n = content.shape[0]
    for step in range(1, args.steps + 1):
        x = content[ember.randint(0, n, (args.batch_size,), device=device)]
        y = model(x)
        fy, fx = features(y), features(x)
        c_loss = args.content_weight * F.mse_loss(fy[1], fx[1].detach())
        s_loss = 0.0
        for f, g in zip(fy, style_grams):
            s_loss = s_loss + F.mse_loss(gram(f), g.expand(f.shape[0], -1, -1))
        s_loss = args.style_weight * s_loss
        loss = c_loss + s_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step == 1 or step % args.print_every == 0 or step == args.steps:
            print(f"step {step:4d}  content {c_loss.item():.4f}  style {s_loss.item():.4f}  "
                  f"loss {loss.item():.4f}", flush=True)
    print(f"done: {args.steps} steps in {time.perf_counter() - start:.1f} s on {device}")


if __name__ == "__main__":
    main()
