"""Predict a noisy sine wave with two stacked LSTMCells (PyTorch's time_sequence_prediction, small).

    python examples/sequence_predictor.py --steps 30      # a few seconds on cpu
    python examples/sequence_predictor.py --steps 300 --future 100 --device xla

Each training sequence is a sine wave with its own phase plus Gaussian noise. The model reads the
sequence one value at a time and predicts the next value; after training it is run on held-out waves
and then fed its own predictions for --future further steps, which shows whether it learned the wave
rather than the noise.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import ember
import ember.nn as nn
import ember.nn.functional as F


class Sequence(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.hidden = hidden
        self.lstm1 = nn.LSTMCell(1, hidden)
        self.lstm2 = nn.LSTMCell(hidden, hidden)
        self.linear = nn.Linear(hidden, 1)

    def forward(self, input, future=0):
        """input (batch, steps) -> predictions (batch, steps + future) of each next value."""
        batch = input.shape[0]
        z = ember.zeros(batch, self.hidden, dtype=input.dtype, device=input.device)
        s1, s2 = (z, z), (z, z)
        outputs = []
        for x in input.split(1, dim=1):
            s1 = self.lstm1(x, s1)
            s2 = self.lstm2(s1[0], s2)
            outputs.append(self.linear(s2[0]))
        for _ in range(future):   # feed back its own prediction
            s1 = self.lstm1(outputs[-1], s1)
            s2 = self.lstm2(s1[0], s2)
            outputs.append(self.linear(s2[0]))
        return ember.cat(outputs, dim=1)


def waves(n, length, period, noise, rng):
    """n noisy sine waves of ``length`` steps, random phases: (n, length) float32, and the clean waves."""
    t = np.arange(length)[None, :] + rng.integers(0, 4 * period, (n, 1))
    clean = np.sin(2 * np.pi * t / period)
    return (clean + noise * rng.standard_normal(clean.shape)).astype(np.float32), clean.astype(np.float32)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--length", type=int, default=40, help="time steps per training sequence")
    ap.add_argument("--period", type=float, default=20.0)
    ap.add_argument("--noise", type=float, default=0.05)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--future", type=int, default=20, help="steps to predict past the end of the test waves")
    ap.add_argument("--log-interval", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    ember.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    device = args.device
    model = Sequence(args.hidden).to(device)
    opt = ember.optim.Adam(model.parameters(), lr=args.lr)
    print(f"device {device}: {sum(p.numel() for p in model.parameters())} parameters, sequences of "
          f"{args.length} steps, period {args.period}, noise {args.noise}")

    t0, running = time.perf_counter(), []
    for step in range(1, args.steps + 1):
        noisy, _ = waves(args.batch_size, args.length + 1, args.period, args.noise, rng)
        x = ember.tensor(noisy[:, :-1], device=device)
        y = ember.tensor(noisy[:, 1:], device=device)
        loss = F.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        running.append(loss.item())
        if step % args.log_interval == 0 or step == args.steps:
            avg = sum(running) / len(running)
            running = []
            print(f"step {step:4d}  loss {avg:.5f}  {(time.perf_counter() - t0) / step * 1e3:.0f} ms/step",
                  flush=True)

    noisy, clean = waves(4, args.length + 1 + args.future, args.period, args.noise, rng)
    with ember.no_grad():
        pred = model(ember.tensor(noisy[:, :args.length], device=device), future=args.future + 1)
    pred = pred.cpu().numpy()
    seen = float(np.mean((pred[:, :args.length] - clean[:, 1:args.length + 1]) ** 2))
    ahead = float(np.mean((pred[:, args.length:-1] - clean[:, args.length + 1:]) ** 2)) if args.future else 0.0
    print(f"trained {args.steps} steps in {time.perf_counter() - t0:.1f} s; test mse against the clean wave: "
          f"{seen:.5f} while reading, {ahead:.5f} over {args.future} steps fed its own predictions")
    return seen


if __name__ == "__main__":
    main()
