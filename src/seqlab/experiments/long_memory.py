"""``long-memory``: the adding problem at growing T, RNN vs LSTM vs GRU.

The two numbers to add lie up to T steps before the answer. A plain RNN has to
carry them through T multiplications by its recurrent Jacobian; LSTM and GRU have an
additive path (c_t = f c_{t-1} + ..., h_t = z h_{t-1} + ...) that can keep them. The
LSTM runs twice: with torch's forget-gate bias (0, so f starts near 0.5 and the cell
halves its memory every step) and with bias 1 (Gers et al. 2000; Jozefowicz et al.
2015: f starts near 0.73), ``model.forget_bias`` in a run config.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from seqlab.experiments.common import (
    Context,
    fmt,
    outcome,
    pyplot,
    save_figure,
    spread,
    table,
)
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
SOLVED = 0.05  # test MSE below this counts as solved (predicting 1 gives 0.167)
CELLS = {  # setting -> (cell, make_recurrent options)
    "RNN": ("rnn", {}),
    "LSTM, forget bias 0": ("lstm", {"forget_bias": 0.0}),
    "LSTM, forget bias 1": ("lstm", {"forget_bias": 1.0}),
    "GRU": ("gru", {}),
}
RULE = (
    f"held if at the longest T (200 in a full run) the mean test MSE of the LSTM with "
    f"forget-gate bias 1 and of the GRU are both below {SOLVED} while the plain RNN's "
    f"is not; inconclusive if no model solves the shortest T (nothing learned); the "
    f"LSTM at bias 0 is reported beside, not part of the rule"
)


def run(ctx: Context) -> dict:
    lengths = ctx.pick((50, 200), (10, 50), smoke=(5,))
    train_steps = ctx.pick(3000, 600, smoke=30)
    hidden = ctx.pick(64, 32, smoke=8)
    results: dict[str, dict[int, dict]] = {name: {} for name in CELLS}
    sizes = {}
    for steps in lengths:
        for name, (cell, options) in CELLS.items():
            values, seconds = [], []
            for seed in range(ctx.seeds):
                ctx.log(f"  T={steps} {name} seed {seed}")
                seed_everything(seed)
                gen = torch.Generator().manual_seed(seed)
                model = Regressor(cell, 2, hidden, **options)
                sizes[name] = parameters(model)
                start = time.perf_counter()
                fit(
                    model,
                    lambda _, steps=steps, gen=gen: adding_batch(64, steps, gen),
                    nn.functional.mse_loss,
                    steps=train_steps,
                    lr=2e-3,
                    clip=1.0,
                )
                seconds.append(time.perf_counter() - start)
                values.append(mse(model, *adding_batch(1000, steps, gen)))
            results[name][steps] = {
                "mse": values,
                **spread(values),
                "seconds": spread(seconds),
            }
    plot(ctx, results, lengths)
    return summarize(ctx, results, lengths, sizes, train_steps, hidden)


def plot(ctx: Context, results: dict, lengths) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, by_len in results.items():
        means = [by_len[t]["mean"] for t in lengths]
        stds = [by_len[t]["std"] for t in lengths]
        ax.errorbar(lengths, means, yerr=stds, marker="o", capsize=3, label=name)
    ax.axhline(ADDING_BASELINE_MSE, color="grey", lw=0.8, label="predict 1 (0.167)")
    ax.axhline(SOLVED, color="grey", lw=0.8, ls=":", label=f"solved ({SOLVED})")
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("test MSE (mean ± std over seeds)")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    save_figure(fig, ctx.plot_path("mse_vs_length.png"))


def summarize(ctx, results, lengths, sizes, train_steps, hidden) -> dict:
    rows = [
        [
            name,
            sizes[name],
            *(fmt(results[name][t], 4) for t in lengths),
            fmt(results[name][lengths[-1]]["seconds"], 1),
        ]
        for name in CELLS
    ]
    longest, shortest = lengths[-1], lengths[0]
    solved = {n: results[n][longest]["mean"] < SOLVED for n in CELLS}
    learned = any(results[n][shortest]["mean"] < SOLVED for n in CELLS)
    held = (
        solved["LSTM, forget bias 1"] and solved["GRU"] and not solved["RNN"]
        if learned
        else None
    )
    reading = (
        f"At T={longest} the test MSE is "
        + ", ".join(f"{fmt(results[n][longest], 4)} ({n})" for n in CELLS)
        + f" (solved: below {SOLVED}; predicting 1 scores 0.167). Solved at "
        f"T={longest}: "
        + (", ".join(n for n in CELLS if solved[n]) or "none")
        + f". At T={shortest}: "
        + ", ".join(f"{fmt(results[n][shortest], 4)} ({n})" for n in CELLS)
        + "."
    )
    return outcome(
        rule=RULE,
        held=held,
        budget=f"{train_steps} Adam steps per run",
        setup=(
            f"Adding problem at T in {list(lengths)}; one layer of hidden size "
            f"{hidden}, Adam lr 2e-3, clip 1.0, batch 64, {train_steps} steps; test "
            "MSE on 1,000 fresh sequences. The LSTM runs with forget-gate bias 0 "
            "(torch's init) and 1."
        ),
        tables=[
            table(
                "Test MSE by sequence length (mean ± std over seeds)",
                [
                    "setting",
                    "parameters",
                    *(f"T={t}" for t in lengths),
                    f"wall time at T={longest} (s)",
                ],
                rows,
            )
        ],
        reading=reading,
        results={n: {str(t): v for t, v in r.items()} for n, r in results.items()},
    )
