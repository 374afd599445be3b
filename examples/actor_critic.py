"""An actor-critic agent learns to walk to the goal on a line (PyTorch's reinforcement_learning/actor_critic, small).

    python examples/actor_critic.py --episodes 300        # a few seconds on cpu
    python examples/actor_critic.py --episodes 300 --device xla

The environment is written here: a line of --cells cells, the agent starts in one of the left half's cells and
the goal is the rightmost cell. Each step it moves left or right and pays 1; reaching the goal earns 10 and ends
the episode, and an episode also ends after --max-steps steps. A random walker rarely arrives (return near
-max_steps); the best policy walks straight right (return about 10 minus the distance).

One network with two heads reads the one-hot position: the actor gives action logits, sampled with
ember.distributions.Categorical, the critic a value estimate. After each episode the discounted returns G give
the advantage A = G - V, the loss is -log pi(a|s) A + 0.5 A^2 - 0.01 entropy, and Adam takes a step.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import ember
import ember.nn as nn
from ember.distributions import Categorical


class LineWorld:
    """A line of cells; action 0 moves left (a wall at cell 0), action 1 moves right; the goal is the last cell."""

    def __init__(self, cells: int, max_steps: int, rng: np.random.Generator):
        self.cells, self.max_steps, self.rng = cells, max_steps, rng

    def reset(self) -> int:
        self.pos, self.steps = int(self.rng.integers(0, self.cells // 2)), 0
        return self.pos

    def step(self, action: int):
        """(next position, reward, done)."""
        self.pos = max(0, self.pos - 1) if action == 0 else self.pos + 1
        self.steps += 1
        if self.pos == self.cells - 1:
            return self.pos, 10.0, True
        return self.pos, -1.0, self.steps >= self.max_steps


class ActorCritic(nn.Module):
    def __init__(self, cells: int, hidden: int = 32):
        super().__init__()
        self.body = nn.Linear(cells, hidden)
        self.actor = nn.Linear(hidden, 2)
        self.critic = nn.Linear(hidden, 1)

    def forward(self, states):
        """states (n, cells) one-hot -> (action logits (n, 2), values (n,))."""
        h = ember.tanh(self.body(states))
        return self.actor(h), self.critic(h).squeeze(-1)


def discounted_returns(rewards, gamma):
    out, g = [], 0.0
    for r in reversed(rewards):
        g = r + gamma * g
        out.append(g)
    return out[::-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--episodes", type=int, default=300)
    ap.add_argument("--cells", type=int, default=16)
    ap.add_argument("--max-steps", type=int, default=40)
    ap.add_argument("--gamma", type=float, default=0.97)
    ap.add_argument("--lr", type=float, default=2e-2)
    ap.add_argument("--log-interval", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    ember.manual_seed(args.seed)
    env = LineWorld(args.cells, args.max_steps, np.random.default_rng(args.seed))
    device = args.device
    model = ActorCritic(args.cells).to(device)
    opt = ember.optim.Adam(model.parameters(), lr=args.lr)
    eye = ember.eye(args.cells, device=device)
    print(f"device {device}: {args.cells} cells, goal at {args.cells - 1}, at most {args.max_steps} steps")

    recent, start = [], time.time()
    for episode in range(1, args.episodes + 1):
        pos, done, positions, actions, rewards = env.reset(), False, [], [], []
        while not done:                           # act without recording a graph
            with ember.no_grad():
                logits, _ = model(eye[pos:pos + 1])
                action = int(Categorical(logits=logits).sample().item())
            positions.append(pos)
            actions.append(action)
            pos, reward, done = env.step(action)
            rewards.append(reward)

        # learn from the whole episode in one batched pass
        logits, values = model(eye[ember.tensor(positions, device=device)])
        dist = Categorical(logits=logits)
        returns = ember.tensor(discounted_returns(rewards, args.gamma), device=device)
        advantage = returns - values
        loss = (-(dist.log_prob(ember.tensor(actions, device=device)) * advantage.detach()).sum()
                + 0.5 * advantage.pow(2).sum() - 0.01 * dist.entropy().sum())
        opt.zero_grad()
        loss.backward()
        opt.step()

        recent = (recent + [sum(rewards)])[-args.log_interval:]
        if episode % args.log_interval == 0:
            print(f"episode {episode:4d}  average return {np.mean(recent):7.2f}  "
                  f"(last {len(recent)} episodes, {time.time() - start:.1f}s)")


if __name__ == "__main__":
    main()
