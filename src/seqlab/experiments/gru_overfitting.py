"""``gru-overfitting``: does the GRU overfit less than the LSTM on a small set?

Seed 001 says the GRU's main gain is less overfitting (fewer parameters for the same
state). The adding problem with a *fixed*, small training set (64 sequences in a
full run, revisited for thousands of epochs) makes memorising it possible (a full run
on 256 did not overfit: a gap of 0.0002 for both cells); the gap between the test
MSE on fresh sequences and the training MSE measures the overfitting. Three
models: LSTM and GRU of the same hidden size, and an LSTM narrowed to the GRU's
parameter count (is it the count, or the cell?).
"""

from __future__ import annotations

import torch
from torch import nn

from seqlab.experiments.common import (
    Context,
    outcome,
    pyplot,
    save_figure,
    separated,
    settings_table,
    spread,
)
from seqlab.experiments.synthetic import Regressor, adding_batch, fit, mse, parameters
from seqlab.utils import seed_everything

CLAIM = "a GRU overfits less than an LSTM (fewer parameters for the same state)."
RULE = (
    "held if the LSTM's generalisation gap (test MSE - training MSE) exceeds the "
    "GRU's by more than 2 standard errors; inconclusive if the LSTM's gap is below "
    "0.005 (the set is not small enough to overfit)"
)


def matched_hidden(hidden: int, steps: int) -> int:
    """The LSTM hidden size whose model has the parameter count closest to the
    GRU's at ``hidden``."""
    target = parameters(Regressor("gru", 2, hidden))
    return min(
        range(4, hidden + 1),
        key=lambda h: abs(parameters(Regressor("lstm", 2, h)) - target),
    )


def run(ctx: Context) -> dict:
    T = ctx.pick(20, 10, smoke=5)
    n_train = ctx.pick(64, 32, smoke=16)  # 256 did not overfit: gap 0.0002
    steps = ctx.pick(3000, 400, smoke=20)
    hidden = ctx.pick(128, 64, smoke=8)
    settings = {
        "LSTM": ("lstm", hidden),
        "GRU": ("gru", hidden),
        "LSTM, GRU's parameter count": ("lstm", matched_hidden(hidden, T)),
    }
    results, curves = {}, {}
    for name, (cell, size) in settings.items():
        train_mse, test_mse, gaps, seconds = [], [], [], []
        for seed in range(ctx.seeds):
            ctx.log(f"  {name}, seed {seed}")
            seed_everything(seed)
            gen = torch.Generator().manual_seed(seed)
            x, y = adding_batch(n_train, T, gen)  # the whole training set
            pick = torch.Generator().manual_seed(seed)

            def batches(_, x=x, y=y, pick=pick):
                rows = torch.randint(0, n_train, (32,), generator=pick)
                return x[rows], y[rows]

            model = Regressor(cell, 2, size)
            fitted = fit(
                model, batches, nn.functional.mse_loss, steps=steps, lr=3e-3, clip=1.0
            )
            train_mse.append(mse(model, x, y))
            test_mse.append(mse(model, *adding_batch(2000, T, gen)))
            gaps.append(test_mse[-1] - train_mse[-1])
            seconds.append(fitted.seconds)
            curves.setdefault(name, []).append(fitted.losses)
        results[name] = {
            "hidden_size": size,
            "parameters": parameters(model),
            "train_mse": spread(train_mse),
            "test_mse": spread(test_mse),
            "gap": spread(gaps),
            "seconds": spread(seconds),
            "runs": {"train_mse": train_mse, "test_mse": test_mse},
        }
    plot(ctx, results)
    return summarize(ctx, results, T, n_train, steps)


def plot(ctx: Context, results: dict) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    names = list(results)
    x = torch.arange(len(names)).float()
    for offset, key in ((-0.2, "train_mse"), (0.2, "test_mse")):
        ax.bar(
            x + offset,
            [results[n][key]["mean"] for n in names],
            width=0.4,
            yerr=[results[n][key]["std"] for n in names],
            capsize=4,
            label=key.replace("_", " "),
        )
    ax.set_xticks(x.tolist(), names, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("MSE (mean ± std over seeds)")
    ax.legend()
    save_figure(fig, ctx.plot_path("train_vs_test.png"))


def summarize(ctx, results, T, n_train, steps) -> dict:
    lstm, gru = results["LSTM"]["gap"], results["GRU"]["gap"]
    overfits = lstm["mean"] >= 0.005
    held = bool(separated(lstm, gru, ctx.seeds)) if overfits else None
    reading = (
        "Test - training MSE: "
        + ", ".join(
            f"{r['gap']['mean']:.4f} ± {r['gap']['std']:.4f} ({n}, "
            f"{r['parameters']:,} parameters)"
            for n, r in results.items()
        )
        + "."
    )
    return outcome(
        rule=RULE,
        held=held,
        budget=f"{steps} Adam steps per run, batch 32",
        setup=(
            f"Adding problem at T={T} with a fixed training set of {n_train} "
            f"sequences ({steps * 32 // n_train} epochs), test on 2,000 fresh "
            "ones; one recurrent layer and a linear head, Adam lr 3e-3, clip 1.0."
        ),
        tables=[
            settings_table(
                "Training and test MSE (mean ± std over seeds)",
                results,
                {
                    "train_mse": ("training MSE", 4),
                    "test_mse": ("test MSE", 4),
                    "gap": ("test - training", 4),
                },
            )
        ],
        reading=reading,
        results=results,
    )
