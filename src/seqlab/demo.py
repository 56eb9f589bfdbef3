"""``seqlab demo``: a one-minute look at what a recurrent layer learns, on made-up data.

Task (many to many, synchronised): read a string of digits and, at every position,
say the running sum of the digits so far modulo 10. The answer at step t depends on
every earlier digit, so the model must carry it in its state; a model that only
sees the current digit is right about 10% of the time.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from seqlab.layers import LSTM
from seqlab.utils import clip_grad_norm, seed_everything


def make_batch(
    batch: int, steps: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Digits (B, T) and their running sums mod 10 (B, T)."""
    digits = torch.randint(0, 10, (batch, steps), generator=generator)
    return digits, digits.cumsum(1) % 10


class RunningSumTagger(nn.Module):
    """Embedding -> LSTM -> a 10-way prediction at every step."""

    def __init__(self, hidden_size: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 16)
        self.rnn = LSTM(16, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, 10)

    def forward(self, digits: Tensor) -> Tensor:
        output, _ = self.rnn(self.embed(digits))  # (B, T, H)
        return self.out(output)  # (B, T, 10)


def accuracy(model: nn.Module, digits: Tensor, sums: Tensor) -> float:
    with torch.no_grad():
        return float((model(digits).argmax(-1) == sums).float().mean())


def run(seed: int = 0, steps: int = 600, log: Callable[[str], None] = print) -> float:
    """Train for ``steps`` steps on sequences of length 20, test on length 40."""
    seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    model = RunningSumTagger()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    test_digits, test_sums = make_batch(512, 40, gen)
    log(
        f"task: running sum of digits mod 10; before training: "
        f"{accuracy(model, test_digits, test_sums):.1%} of positions right"
    )
    for step in range(1, steps + 1):
        digits, sums = make_batch(64, 20, gen)
        loss = nn.functional.cross_entropy(model(digits).flatten(0, 1), sums.flatten())
        optimizer.zero_grad()
        loss.backward()
        clip_grad_norm(model.parameters(), 1.0)
        optimizer.step()
        if step % 100 == 0:
            acc = accuracy(model, test_digits, test_sums)
            log(f"step {step:4d}  loss {loss.item():.3f}  test accuracy {acc:.1%}")
    acc = accuracy(model, test_digits, test_sums)
    log(f"trained on length 20, tested on length 40: {acc:.1%} of positions right")
    for digits, sums in zip(test_digits[:3, :12], test_sums[:3, :12], strict=True):
        guess = model(digits.unsqueeze(0)).argmax(-1)[0]
        log(f"  digits   {''.join(map(str, digits.tolist()))}")
        log(f"  sums     {''.join(map(str, sums.tolist()))}")
        log(f"  model    {''.join(map(str, guess.tolist()))}")
    return acc
