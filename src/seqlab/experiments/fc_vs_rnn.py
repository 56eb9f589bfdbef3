"""``fc-vs-rnn``: seed 001's comparison, an RNN against a fully-connected net.

Seed 001: the fully-connected net needs "its structure changed carefully and many
things added" (two tanh hidden layers over the whole window) while the RNN is one
``nn.RNN`` and a linear head, and the RNN still does better, because it keeps what
it has read in its state. Here both see the same windows of the adding problem with
about the same number of parameters: the RNN reuses one set of weights at every
step, so its size does not grow with the window; the fully-connected net must
spread the same budget over 2T inputs.
"""

from __future__ import annotations

import torch
from torch import nn

from seqlab.experiments.common import (
    Context,
    fmt,
    outcome,
    pyplot,
    save_figure,
    separated,
    spread,
    table,
)
from seqlab.experiments.synthetic import (
    ADDING_BASELINE_MSE,
    MLPRegressor,
    Regressor,
    adding_batch,
    fit,
    mse,
    parameters,
)
from seqlab.utils import seed_everything

CLAIM = (
    "an RNN beats a fully-connected network of similar size on a sequence task "
    "(seed 001)."
)
RULE = (
    "held if at every window length the RNN's test MSE is below the parameter-"
    "matched fully-connected net's by more than 2 standard errors; inconclusive if "
    "neither model ends below 0.8 x the 0.167 of predicting 1 at the shortest window"
)


def matching_mlp(steps: int, size: int) -> MLPRegressor:
    """The MLP over a (steps, 2) window whose parameter count is closest to size."""
    return min(
        (MLPRegressor(steps, 2, h) for h in range(1, 256)),
        key=lambda m: abs(parameters(m) - size),
    )


def run(ctx: Context) -> dict:
    lengths = ctx.pick((10, 20, 40), (10, 20), smoke=(5,))
    train_steps = ctx.pick(3000, 1500, smoke=3)
    hidden = ctx.pick(32, 16, smoke=4)
    results: dict[str, dict[int, dict]] = {"RNN": {}, "fully-connected": {}}
    sizes: dict[str, dict[int, int]] = {"RNN": {}, "fully-connected": {}}
    for T in lengths:
        values: dict[str, list[float]] = {"RNN": [], "fully-connected": []}
        for seed in range(ctx.seeds):
            seed_everything(seed)
            rnn = Regressor("rnn", 2, hidden)
            models = {"RNN": rnn, "fully-connected": matching_mlp(T, parameters(rnn))}
            for name, model in models.items():
                ctx.log(f"  T={T} {name} seed {seed}")
                gen = torch.Generator().manual_seed(seed)
                fit(
                    model,
                    lambda _, T=T, gen=gen: adding_batch(64, T, gen),
                    nn.functional.mse_loss,
                    steps=train_steps,
                    lr=2e-3,
                    clip=1.0,
                )
                values[name].append(mse(model, *adding_batch(1000, T, gen)))
                sizes[name][T] = parameters(model)
        for name, v in values.items():
            results[name][T] = {"mse": v, **spread(v)}
    plot(ctx, results, lengths)
    return summarize(ctx, results, sizes, lengths, train_steps, hidden)


def plot(ctx: Context, results: dict, lengths) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, by_len in results.items():
        ax.errorbar(
            lengths,
            [by_len[T]["mean"] for T in lengths],
            yerr=[by_len[T]["std"] for T in lengths],
            marker="o",
            capsize=3,
            label=name,
        )
    ax.axhline(ADDING_BASELINE_MSE, color="grey", lw=0.8, label="predict 1 (0.167)")
    ax.set_xlabel("window length T")
    ax.set_ylabel("test MSE")
    ax.set_yscale("log")
    ax.legend()
    save_figure(fig, ctx.plot_path("rnn_vs_fully_connected.png"))


def summarize(ctx, results, sizes, lengths, train_steps, hidden) -> dict:
    rnn, mlp = results["RNN"], results["fully-connected"]
    rows = [
        [
            T,
            sizes["RNN"][T],
            sizes["fully-connected"][T],
            fmt(rnn[T], 4),
            fmt(mlp[T], 4),
        ]
        for T in lengths
    ]
    wins = [T for T in lengths if separated(mlp[T], rnn[T], ctx.seeds)]
    held = len(wins) == len(lengths)
    first = lengths[0]
    if min(rnn[first]["mean"], mlp[first]["mean"]) >= 0.8 * ADDING_BASELINE_MSE:
        held = None  # neither learned anything: the comparison says nothing
    reading = (
        "Test MSE of the RNN against the fully-connected net of about the same "
        "size: "
        + "; ".join(f"T={T}: {fmt(rnn[T], 4)} vs {fmt(mlp[T], 4)}" for T in lengths)
        + f". The RNN is better by more than 2 standard errors at {len(wins)} of "
        f"{len(lengths)} window lengths (predicting 1 scores 0.167)."
    )
    return outcome(
        rule=RULE,
        held=held,
        budget=f"{train_steps} Adam steps per run",
        setup=(
            f"Adding problem over windows of T in {list(lengths)} steps. RNN: one "
            f"tanh layer of hidden size {hidden} reading one step at a time and a "
            "linear head on the last state. Fully-connected: the flattened window "
            "through two tanh layers (seed 001's net), its width chosen for the "
            f"closest parameter count. Adam lr 2e-3, clip 1.0, batch 64, "
            f"{train_steps} steps; test MSE on 1,000 fresh windows."
        ),
        tables=[
            table(
                "Test MSE by window length (mean ± std over seeds)",
                ["T", "RNN parameters", "FC parameters", "RNN test MSE", "FC test MSE"],
                rows,
            )
        ],
        reading=reading,
        parameters={n: {str(T): v for T, v in s.items()} for n, s in sizes.items()},
        results={n: {str(T): v for T, v in r.items()} for n, r in results.items()},
    )
