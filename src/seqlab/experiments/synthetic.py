"""Generated tasks and a minimal fitting loop for the experiments' toy models.

The adding problem (Hochreiter & Schmidhuber 1997): each step carries a value in
[0, 1] and a marker; exactly two steps are marked, one in the first half; the target
is the sum of the two marked values. The answer depends on inputs up to T steps
back, so a model must carry them in its state. Always predicting 1 gives a mean
squared error of 1/6 ≈ 0.167: that is the bar for "learned nothing".
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from seqlab.layers import make_recurrent
from seqlab.models.transformer import EncoderBlock, sinusoidal_positions
from seqlab.utils import clip_grad_norm

ADDING_BASELINE_MSE = 1 / 6
DIVERGED = 1e4  # a loss above this (or not finite) counts as diverged


def adding_batch(
    batch: int, steps: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Inputs (B, T, 2) = (value, marker) and targets (B,)."""
    values = torch.rand(batch, steps, generator=generator)
    half = max(steps // 2, 1)
    first = torch.randint(0, half, (batch,), generator=generator)
    second = torch.randint(half, steps, (batch,), generator=generator)
    second = torch.where(second == first, (first + 1) % steps, second)
    markers = torch.zeros(batch, steps)
    rows = torch.arange(batch)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    return torch.stack([values, markers], dim=-1), (values * markers).sum(1)


class Regressor(nn.Module):
    """Recurrent layer over (B, T, I) -> a number from the last hidden state."""

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        activation: str = "tanh",
        num_layers: int = 1,
        **options: Any,  # make_recurrent's: forget_bias, peephole, ...
    ) -> None:
        super().__init__()
        self.rnn = make_recurrent(
            cell,
            input_size,
            hidden_size,
            activation=activation,
            num_layers=num_layers,
            **options,
        )
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: Tensor) -> Tensor:
        output, _ = self.rnn(x)  # (B, T, H)
        return self.head(output[:, -1]).squeeze(-1)  # (B,)


class MLPRegressor(nn.Module):
    """A fully-connected net that sees the whole window at once (flattened)."""

    def __init__(self, steps: int, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(steps * input_size, hidden_size),
            nn.Tanh(),
            nn.Linear(hidden_size, hidden_size),
            nn.Tanh(),
            nn.Linear(hidden_size, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)


def parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@dataclass
class Fit:
    """A toy training run: loss every ``every`` steps, and whether/when it diverged."""

    losses: list[float] = field(default_factory=list)
    diverged_at: int | None = None
    seconds: float = 0.0

    @property
    def final(self) -> float:
        return math.inf if self.diverged_at is not None else self.losses[-1]


def fit(
    model: nn.Module,
    batches: Callable[[int], tuple[Tensor, Tensor]],
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    *,
    steps: int,
    lr: float,
    clip: float | None = 1.0,
    optimizer: str = "adam",
    every: int = 10,
) -> Fit:
    """Train for ``steps`` steps; a run whose loss blows up stops and is recorded."""
    opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)(
        model.parameters(), lr=lr
    )
    result, running, start = Fit(), 0.0, time.perf_counter()
    for step in range(1, steps + 1):
        x, y = batches(step)
        loss = loss_fn(model(x), y)
        if not math.isfinite(loss.item()) or loss.item() > DIVERGED:
            result.diverged_at = step
            break
        opt.zero_grad()
        loss.backward()
        clip_grad_norm(model.parameters(), clip)
        opt.step()
        running += loss.item()
        if step % every == 0:
            result.losses.append(running / every)
            running = 0.0
    result.seconds = time.perf_counter() - start
    return result


@torch.no_grad()
def mse(model: nn.Module, x: Tensor, y: Tensor) -> float:
    model.eval()
    value = nn.functional.mse_loss(model(x), y).item()
    model.train()
    return value


class TransformerRegressor(nn.Module):
    """Transformer encoder over (B, T, I) -> a number from the mean of its outputs.

    seqlab's encoder blocks (pre-norm, no padding: every sequence has length T) with
    sinusoidal positions; every position sees every other in one step, however far.
    """

    def __init__(
        self, input_size: int, d_model: int, num_layers: int = 2, max_len: int = 4096
    ) -> None:
        super().__init__()
        self.inp = nn.Linear(input_size, d_model)
        positions = sinusoidal_positions(max_len, d_model)
        self.register_buffer("positions", positions, persistent=False)
        self.blocks = nn.ModuleList(
            EncoderBlock(d_model, 4, 4 * d_model, 0.0, pre_norm=True)
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.inp(x) + self.positions[: x.shape[1]]  # (B, T, D)
        for block in self.blocks:
            h = block(h, None)
        return self.head(self.norm(h).mean(1)).squeeze(-1)  # (B,)
