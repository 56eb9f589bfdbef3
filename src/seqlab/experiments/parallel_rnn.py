"""``parallel-rnn``: MinGRU vs GRU vs LSTM vs Transformer, quality and wall-clock.

MinGRU (Feng et al. 2024, src/seqlab/minrnn.py) computes its gates from the input
alone, so a whole window is one parallel scan instead of T dependent steps: the
"RNNs cannot be parallel" argument is about the form of the recurrence. Two tasks:

1. Tiny Shakespeare character LM: each model (the sizes of
   configs/shakespeare-char-{mingru,lstm,transformer}.yaml, GRU as the LSTM) trains
   the same number of steps (a wall-clock budget would move with the machine's
   load); validation loss, training tokens/s, and the curve against wall-clock.
2. The adding problem at a long T (a long-range memory task): test MSE and the
   seconds the same number of Adam steps took.
"""

from __future__ import annotations

import torch
from torch import nn

from seqlab.experiments import runs
from seqlab.experiments.common import (
    Context,
    fmt,
    outcome,
    pyplot,
    save_figure,
    seed0_curves,
    spread,
    table,
)
from seqlab.experiments.synthetic import (
    ADDING_BASELINE_MSE,
    Regressor,
    TransformerRegressor,
    adding_batch,
    fit,
    mse,
    parameters,
)
from seqlab.utils import seed_everything

CLAIM = (
    "a recurrence whose gates read only the input (MinGRU) trains in parallel over "
    "time: after the same steps it matches the GRU and LSTM while training more "
    "tokens/s, and it still carries long-range memory."
)
SOLVED = 0.05  # adding-problem test MSE below this counts as solved
CLOSE = 0.05  # val loss within 5% of the best gated RNN's counts as matching
RULE = (
    "held if after the same steps MinGRU's validation loss is within "
    f"{CLOSE:.0%} of the better of GRU and LSTM (or lower) while it trains more "
    "tokens/s than both, and it solves the adding problem at the long T (test MSE "
    f"below {SOLVED}); inconclusive if no model solves the adding problem"
)


def lm_models(ctx: Context) -> dict[str, dict]:
    """Char LMs: full sizes as configs/shakespeare-char-*.yaml, smaller for quick."""
    hidden, d = ctx.pick((512, 128), (128, 64), smoke=(32, 32))
    rnn = {"kind": "rnn_lm", "embedding_size": hidden // 8, "hidden_size": hidden}
    return {
        "MinGRU": {
            **rnn,
            "cell": "mingru",
            "num_layers": 3,
            "embedding_size": hidden // 4,
        },
        "GRU": {**rnn, "cell": "gru"},
        "LSTM": {**rnn, "cell": "lstm"},
        "Transformer": {
            "kind": "transformer_lm",
            "d_model": d,
            "num_heads": 4,
            "num_layers": ctx.pick(4, 2, smoke=1),
        },
    }


def memory_models(hidden: int) -> dict[str, nn.Module]:
    """Adding-problem models of roughly the same size (MinGRU stacked: one layer
    has no hidden-to-hidden weights)."""
    return {
        "MinGRU": Regressor("mingru", 2, hidden, num_layers=3),
        "GRU": Regressor("gru", 2, hidden),
        "LSTM": Regressor("lstm", 2, hidden),
        "Transformer": TransformerRegressor(2, hidden // 2),
    }


def run(ctx: Context) -> dict:
    steps = ctx.pick(1500, 60, smoke=3)
    lm = language_model(ctx, steps)
    memory = long_range(ctx)
    plot(ctx, lm, memory)
    return summarize(ctx, lm, memory, steps)


def language_model(ctx: Context, steps: int) -> dict:
    epoch_chars = runs.shakespeare_train_chars()
    specs = lm_models(ctx)
    results, total = {}, len(specs) * ctx.seeds
    for i, (name, model) in enumerate(specs.items()):
        trained = []
        for seed in range(ctx.seeds):
            ctx.log(f"[LM {i * ctx.seeds + seed + 1}/{total}] {name}, seed {seed}")
            train = runs.budget(steps, lr=4e-3 if "cell" in model else 2e-3)
            train.update(batch_size=32, warmup_steps=20, seed=seed)
            train.update(eval_every=ctx.pick(300, 30, smoke=1000))
            cfg = runs.char_lm(model, train)
            trained.append(runs.train(ctx, f"lm-{name}-seed{seed}", cfg))
        results[name] = {
            "parameters": trained[0].summary["parameters"],
            "val_loss": spread([t.summary["val_loss"] for t in trained]),
            "epoch_seconds": spread(
                [runs.seconds_per_epoch(t, epoch_chars) for t in trained]
            ),
            "steps": spread([t.summary["steps"] for t in trained]),
            "tokens_per_second": spread(
                [t.summary["tokens_per_second"] for t in trained]
            ),
            "curves": [
                [[r["elapsed"], r["val_loss"]] for r in t.history] for t in trained
            ],
        }
    return results


def long_range(ctx: Context) -> dict:
    T = ctx.pick(200, 50, smoke=10)
    steps = ctx.pick(2000, 300, smoke=3)
    hidden = ctx.pick(64, 32, smoke=8)
    results: dict[str, dict] = {}
    for seed in range(ctx.seeds):
        seed_everything(seed)
        for name, model in memory_models(hidden).items():
            ctx.log(f"[memory] {name}, T={T}, seed {seed}")
            gen = torch.Generator().manual_seed(seed)
            run = fit(
                model,
                lambda _, gen=gen: adding_batch(64, T, gen),
                nn.functional.mse_loss,
                steps=steps,
                lr=2e-3 if name != "Transformer" else 5e-4,
                clip=1.0,
            )
            r = results.setdefault(name, {"parameters": parameters(model)})
            r.setdefault("mse_runs", []).append(mse(model, *adding_batch(1000, T, gen)))
            r.setdefault("seconds_runs", []).append(run.seconds)
    for r in results.values():
        r["mse"], r["seconds"] = spread(r["mse_runs"]), spread(r["seconds_runs"])
    return {"T": T, "steps": steps, "hidden": hidden, "models": results}


def plot(ctx: Context, lm: dict, memory: dict) -> None:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    xlabel, ylabel = "training wall-clock (s)", "validation loss (nats/char)"
    seed0_curves(left, lm, xlabel, ylabel, marker=".")
    left.set_title("Tiny Shakespeare, same steps")
    names = list(memory["models"])
    right.bar(
        names,
        [memory["models"][n]["mse"]["mean"] for n in names],
        yerr=[memory["models"][n]["mse"]["std"] for n in names],
        capsize=4,
    )
    right.axhline(ADDING_BASELINE_MSE, color="grey", lw=0.8, label="predict 1")
    right.set_yscale("log")
    right.set_ylabel("test MSE")
    right.set_title(f"adding problem, T={memory['T']}")
    right.legend()
    save_figure(fig, ctx.plot_path("parallel_rnn.png"))


def summarize(ctx, lm, memory, steps) -> dict:
    mem = memory["models"]
    lm_rows = [
        [
            name,
            r["parameters"],
            fmt(r["steps"], 0),
            fmt(r["epoch_seconds"], 1),
            fmt(r["val_loss"]),
        ]
        for name, r in lm.items()
    ]
    mem_rows = [
        [name, r["parameters"], fmt(r["mse"], 4), fmt(r["seconds"], 1)]
        for name, r in mem.items()
    ]
    mingru = lm["MinGRU"]["val_loss"]["mean"]
    rnn_best = min(lm["GRU"]["val_loss"]["mean"], lm["LSTM"]["val_loss"]["mean"])
    matches = mingru <= (1 + CLOSE) * rnn_best
    speed = {n: r["tokens_per_second"]["mean"] for n, r in lm.items()}
    faster = speed["MinGRU"] > max(speed["GRU"], speed["LSTM"])
    remembers = mem["MinGRU"]["mse"]["mean"] < SOLVED
    held = bool(matches and faster and remembers)
    if not any(r["mse"]["mean"] < SOLVED for r in mem.values()):
        held = None  # no model learned the memory task: too short a run to tell
    reading = (
        f"After {steps} steps each on Tiny Shakespeare, the validation loss is "
        + ", ".join(f"{fmt(r['val_loss'])} ({name})" for name, r in lm.items())
        + f"; MinGRU {'matches or beats' if matches else 'trails'} the best of GRU "
        "and LSTM; training tokens/s "
        + ", ".join(f"{v:,.0f} ({n})" for n, v in speed.items())
        + f". On the adding problem at T={memory['T']} after "
        f"{memory['steps']} steps the test MSE is "
        + ", ".join(f"{fmt(r['mse'], 4)} ({name})" for name, r in mem.items())
        + f" (solved below {SOLVED}, predicting 1 scores 0.167): MinGRU "
        f"{'solves' if remembers else 'does not solve'} it."
    )
    return outcome(
        rule=RULE,
        held=held,
        budget=f"{steps} steps per LM run, {memory['steps']} per adding-problem run",
        setup=(
            f"(1) Tiny Shakespeare character LM, {steps} training steps per "
            "run, bptt 64, batch 32, AdamW with cosine decay over the budget (lr "
            "4e-3 for the RNNs, 2e-3 for the Transformer), clip 1.0; validation loss "
            "of the best evaluation. (2) Adding problem at "
            f"T={memory['T']}, {memory['steps']} Adam steps (lr 2e-3, Transformer "
            f"5e-4), batch 64, clip 1.0, hidden {memory['hidden']} (MinGRU: 3 "
            "layers; Transformer: 2 layers of half the width); test MSE on 1,000 "
            "fresh sequences."
        ),
        tables=[
            table(
                "Tiny Shakespeare after the same steps (mean ± std)",
                [
                    "model",
                    "parameters",
                    "steps done",
                    "seconds per epoch",
                    "val loss (nats/char)",
                ],
                lm_rows,
            ),
            table(
                f"Adding problem, T={memory['T']} (mean ± std)",
                ["model", "parameters", "test MSE", "training seconds"],
                mem_rows,
            ),
        ],
        reading=reading,
        language_model=lm,
        long_range=memory,
    )
