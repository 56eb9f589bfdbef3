"""``long-memory``: the adding problem at growing T, RNN vs LSTM vs GRU.

The two numbers to add lie up to T steps before the answer. A plain RNN has to
carry them through T multiplications by its recurrent Jacobian; LSTM and GRU have an
additive path (c_t = f c_{t-1} + ..., h_t = z h_{t-1} + ...) that can keep them.
"""

from __future__ import annotations

import torch
from torch import nn

from seqlab.experiments.common import Context, fmt, pyplot, save_figure, spread
from seqlab.experiments.synthetic import (
    ADDING_BASELINE_MSE,
    Regressor,
    adding_batch,
    fit,
    mse,
    parameters,
)
from seqlab.utils import seed_everything

CLAIM = (
    "gradients vanish over long spans in a plain RNN, so it fails to learn long-range "
    "dependencies that LSTM and GRU learn."
)
CELLS = ("rnn", "lstm", "gru")
SOLVED = 0.05  # test MSE below this counts as solved (predicting 1 gives 0.167)


def run(ctx: Context) -> dict:
    lengths = ctx.pick((10, 50, 100, 200), (10, 50))
    train_steps = ctx.pick(2000, 1000, smoke=60)
    hidden = ctx.pick(64, 32, smoke=16)
    results: dict[str, dict[int, dict]] = {cell: {} for cell in CELLS}
    sizes = {}
    for steps in lengths:
        for cell in CELLS:
            values = []
            for seed in range(ctx.seeds):
                ctx.log(f"  T={steps} {cell} seed {seed}")
                seed_everything(seed)
                gen = torch.Generator().manual_seed(seed)
                model = Regressor(cell, 2, hidden)
                sizes[cell] = parameters(model)
                fit(
                    model,
                    lambda _, steps=steps, gen=gen: adding_batch(64, steps, gen),
                    nn.functional.mse_loss,
                    steps=train_steps,
                    lr=2e-3,
                    clip=1.0,
                )
                values.append(mse(model, *adding_batch(1000, steps, gen)))
            results[cell][steps] = {"mse": values, **spread(values)}
    plot(ctx, results, lengths)
    return summarize(ctx, results, lengths, sizes, train_steps, hidden)


def plot(ctx: Context, results: dict, lengths) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for cell, by_len in results.items():
        means = [by_len[t]["mean"] for t in lengths]
        stds = [by_len[t]["std"] for t in lengths]
        ax.errorbar(
            lengths, means, yerr=stds, marker="o", capsize=3, label=cell.upper()
        )
    ax.axhline(ADDING_BASELINE_MSE, color="grey", lw=0.8, label="predict 1 (0.167)")
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("test MSE")
    ax.set_yscale("log")
    ax.legend()
    save_figure(fig, ctx.plot_path("mse_vs_length.png"))


def summarize(ctx, results, lengths, sizes, train_steps, hidden) -> dict:
    rows = [
        [cell.upper(), sizes[cell], *(fmt(results[cell][t], 4) for t in lengths)]
        for cell in CELLS
    ]
    longest = lengths[-1]
    solved = {c: results[c][longest]["mean"] < SOLVED for c in CELLS}
    shortest = {c: results[c][lengths[0]]["mean"] < SOLVED for c in CELLS}
    rnn_longest = results["rnn"][longest]["mean"]
    verdict = "no better than" if rnn_longest > 0.8 * ADDING_BASELINE_MSE else "below"
    held = (not solved["rnn"]) and (solved["lstm"] or solved["gru"])
    if not any(shortest.values()):
        held = None  # nothing learned even at the shortest T: too early to tell
    reading = (
        f"At T={longest} the plain RNN's test MSE is "
        f"{fmt(results['rnn'][longest], 4)}, "
        f"{verdict} "
        f"the 0.167 of always predicting 1; LSTM reaches "
        f"{fmt(results['lstm'][longest], 4)} and GRU "
        f"{fmt(results['gru'][longest], 4)}. "
        f"At T={lengths[0]} the task is solved by "
        + (", ".join(c.upper() for c in CELLS if shortest[c]) or "no cell")
        + f" (RNN {fmt(results['rnn'][lengths[0]], 4)}). Solved means MSE < {SOLVED}."
    )
    return {
        "setup": (
            f"Adding problem at T in {list(lengths)}; one layer of hidden size "
            f"{hidden}, "
            f"Adam lr 2e-3, clip 1.0, batch 64, {train_steps} steps; test MSE on 1,000 "
            "fresh sequences."
        ),
        "tables": [
            {
                "title": "Test MSE by sequence length (mean ± std over seeds)",
                "columns": ["cell", "parameters", *(f"T={t}" for t in lengths)],
                "rows": rows,
            }
        ],
        "reading": reading,
        "held": held,
        "results": {c: {str(t): v for t, v in r.items()} for c, r in results.items()},
    }
