"""``peephole``: LSTM with and without peephole connections on a timing task.

Seed 001: peepholes let the gates read the cell state c_{t-1} (input, forget) and
c_t (output), not only x_t and h_{t-1}. Gers, Schraudolph and Schmidhuber (2002)
motivate them with precise timing: an LSTM whose output gate is closed cannot see
its own cell, which is where a counter lives. The task is theirs in spirit
("generating timed spikes"): a sequence starts with one input spike whose height
codes a delay d (d / D_max); the target is 1 at exactly step d after it and 0
everywhere else. A run is scored by how often the output's peak falls on step d.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqlab.experiments.common import (
    Context,
    outcome,
    pyplot,
    save_figure,
    separated,
    settings_table,
    spread,
)
from seqlab.experiments.synthetic import fit, parameters
from seqlab.layers import make_recurrent
from seqlab.utils import seed_everything

CLAIM = (
    "peephole connections, which let the LSTM's gates see the cell state, help where "
    "precise timing matters (seed 001; Gers, Schraudolph and Schmidhuber 2002)."
)
RULE = (
    "held if the peephole LSTM's exact-timing accuracy (the output's peak on the "
    "target step) exceeds the plain LSTM's by more than 2 standard errors; not held "
    "if the plain LSTM's exceeds the peephole's that way or they are within it; "
    "inconclusive if neither model times more than 2 x chance (1 / the number of "
    "delays)"
)
SETTINGS = {"LSTM": False, "LSTM + peepholes": True}


def timing_batch(
    batch: int, delays: tuple[int, int], gen: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Inputs (B, T, 1): a spike of height d / D_max at step 0; targets (B, T): 1 at
    step d. T = D_max + 5."""
    low, high = delays
    T = high + 5
    d = torch.randint(low, high + 1, (batch,), generator=gen)
    x = torch.zeros(batch, T, 1)
    x[:, 0, 0] = d / high
    y = torch.zeros(batch, T)
    y[torch.arange(batch), d] = 1.0
    return x, y


class Timer(nn.Module):
    """One LSTM layer and a linear read-out at every step: (B, T, 1) -> (B, T)."""

    def __init__(self, hidden: int, peephole: bool) -> None:
        super().__init__()
        self.rnn = make_recurrent("lstm", 1, hidden, peephole=peephole)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.rnn(x)[0]).squeeze(-1)


@torch.no_grad()
def timing_accuracy(model: Timer, x: Tensor, y: Tensor) -> float:
    model.eval()
    hit = model(x).argmax(1) == y.argmax(1)
    model.train()
    return hit.float().mean().item()


def run(ctx: Context) -> dict:
    delays = ctx.pick((10, 60), (5, 30), smoke=(2, 5))
    steps = ctx.pick(1500, 300, smoke=20)
    hidden = ctx.pick(16, 8, smoke=4)
    weight = torch.tensor(float(delays[1]))  # the one 1 among T targets counts as all

    def loss(out: Tensor, y: Tensor) -> Tensor:
        return nn.functional.binary_cross_entropy_with_logits(out, y, pos_weight=weight)

    results, curves = {}, {}
    for name, peephole in SETTINGS.items():
        acc, seconds = [], []
        for seed in range(ctx.seeds):
            ctx.log(f"  {name}, seed {seed}")
            seed_everything(seed)
            gen = torch.Generator().manual_seed(seed)
            model = Timer(hidden, peephole)
            fitted = fit(
                model,
                lambda _, gen=gen: timing_batch(32, delays, gen),
                loss,
                steps=steps,
                lr=1e-2,
                clip=1.0,
            )
            test = timing_batch(1000, delays, torch.Generator().manual_seed(99 + seed))
            acc.append(timing_accuracy(model, *test))
            seconds.append(fitted.seconds)
            curves.setdefault(name, []).append(fitted.losses)
        results[name] = {
            "parameters": parameters(model),
            "accuracy": spread(acc),
            "accuracy_runs": acc,
            "seconds": spread(seconds),
        }
    plot(ctx, curves)
    return summarize(ctx, results, delays, steps, hidden)


def plot(ctx: Context, curves: dict) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, runs in curves.items():
        for i, losses in enumerate(runs):
            steps = [10 * (k + 1) for k in range(len(losses))]
            color = "tab:blue" if name == "LSTM" else "tab:orange"
            ax.plot(
                steps, losses, color=color, alpha=0.7, label=name if not i else None
            )
    ax.set_yscale("log")
    ax.set_xlabel("Adam step")
    ax.set_ylabel("training loss (BCE per step), every seed")
    ax.legend()
    save_figure(fig, ctx.plot_path("timing_loss.png"))


def summarize(ctx, results, delays, steps, hidden) -> dict:
    plain, peep = results["LSTM"]["accuracy"], results["LSTM + peepholes"]["accuracy"]
    chance = 1 / (delays[1] - delays[0] + 1)
    if max(plain["mean"], peep["mean"]) <= 2 * chance:
        held = None
    else:
        held = bool(separated(peep, plain, ctx.seeds))
    reading = (
        f"Exact timing on 1,000 test sequences (delays {delays[0]}-{delays[1]} "
        f"steps, chance {chance:.3f}): LSTM {plain['mean']:.3f} ± {plain['std']:.3f}, "
        f"with peepholes {peep['mean']:.3f} ± {peep['std']:.3f}."
    )
    return outcome(
        rule=RULE,
        held=held,
        budget=f"{steps} Adam steps per run",
        setup=(
            f"Timed spikes: an input spike of height d / {delays[1]} at step 0, "
            f"target 1 at step d in [{delays[0]}, {delays[1]}], 0 elsewhere; one "
            f"LSTM layer of hidden size {hidden} with a linear read-out per step, "
            f"binary cross-entropy (the target step weighted by {delays[1]}), Adam "
            f"lr 1e-2, clip 1.0, batch 32, {steps} steps; "
            "scored on 1,000 fresh sequences by whether the output's maximum falls "
            "on step d."
        ),
        tables=[
            settings_table(
                "Exact-timing accuracy (mean ± std over seeds)",
                results,
                {"accuracy": ("timing accuracy", 3)},
            )
        ],
        reading=reading,
        results=results,
    )
