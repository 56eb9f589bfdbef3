"""``gru-vs-lstm``: size, speed and quality of the two gated cells on one task.

A GRU has three weight blocks (reset, update, candidate) where an LSTM has four
(input, forget, output, candidate), so its recurrent layer has 3/4 of the weights
and does 3/4 of the matrix work per step. Both train as Tiny Shakespeare character
LMs (the recipe of configs/shakespeare-char-lstm.yaml, smaller, with the cell
swapped) for the same number of steps; time per epoch is the measured speed of the
training steps over the train split's characters.
"""

from __future__ import annotations

from seqlab.experiments import runs
from seqlab.experiments.common import Context, fmt, pyplot, save_figure, spread
from seqlab.experiments.synthetic import parameters
from seqlab.layers import make_recurrent

CLAIM = (
    "a GRU has about 3/4 of the LSTM's parameters and is faster; accuracy is "
    "comparable."
)
CELLS = ("lstm", "gru")
COMPARABLE = 0.05  # val losses within 5% of each other count as comparable


def run(ctx: Context) -> dict:
    hidden = ctx.pick(256, 128, smoke=32)
    steps = ctx.pick(1000, 200, smoke=10)
    embedding, epoch_chars = 64, runs.shakespeare_train_chars()
    results = {}
    for i, cell in enumerate(CELLS):
        trained = []
        for seed in range(ctx.seeds):
            ctx.log(f"[{i * ctx.seeds + seed + 1}/{2 * ctx.seeds}] {cell}, seed {seed}")
            model = {"kind": "rnn_lm", "cell": cell, "embedding_size": embedding}
            model.update(hidden_size=hidden)
            train = runs.budget(steps, lr=4e-3, warmup_steps=min(50, steps // 4))
            train.update(batch_size=32, eval_every=max(steps // 5, 1), seed=seed)
            cfg = runs.char_lm(model, train)
            trained.append(runs.train(ctx, f"{cell}-seed{seed}", cfg))
        results[cell] = {
            "parameters": trained[0].summary["parameters"],
            "recurrent_parameters": parameters(make_recurrent(cell, embedding, hidden)),
            "epoch_seconds": spread(
                [runs.seconds_per_epoch(t, epoch_chars) for t in trained]
            ),
            "val_loss": spread([t.summary["val_loss"] for t in trained]),
            "curves": [t.curve("val_loss") for t in trained],
        }
    plot(ctx, results)
    return summarize(ctx, results, hidden, steps, epoch_chars)


def plot(ctx: Context, results: dict) -> None:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for cell, r in results.items():
        curve = r["curves"][0]
        left.plot([s for s, _ in curve], [v for _, v in curve], label=cell.upper())
    left.set_xlabel("training step")
    left.set_ylabel("validation loss (nats/char), seed 0")
    left.legend()
    names = [c.upper() for c in results]
    right.bar(
        names,
        [r["epoch_seconds"]["mean"] for r in results.values()],
        yerr=[r["epoch_seconds"]["std"] for r in results.values()],
        capsize=4,
    )
    right.set_ylabel("seconds per epoch (training steps)")
    save_figure(fig, ctx.plot_path("gru_vs_lstm.png"))


def summarize(ctx, results, hidden, steps, epoch_chars) -> dict:
    lstm, gru = results["lstm"], results["gru"]
    ratio = gru["recurrent_parameters"] / lstm["recurrent_parameters"]
    speedup = lstm["epoch_seconds"]["mean"] / gru["epoch_seconds"]["mean"]
    gap = gru["val_loss"]["mean"] - lstm["val_loss"]["mean"]
    comparable = abs(gap) <= COMPARABLE * lstm["val_loss"]["mean"]
    faster = speedup > 1
    held = 0.7 <= ratio <= 0.8 and faster and comparable
    rows = [
        [
            cell.upper(),
            r["recurrent_parameters"],
            r["parameters"],
            fmt(r["epoch_seconds"], 1),
            fmt(r["val_loss"]),
        ]
        for cell, r in results.items()
    ]
    reading = (
        f"The GRU layer has {ratio:.3f} of the LSTM layer's weights. One epoch of "
        f"training steps takes {fmt(gru['epoch_seconds'], 1)} s with the GRU and "
        f"{fmt(lstm['epoch_seconds'], 1)} s with the LSTM (the GRU is "
        f"{speedup:.2f}x as fast). After {steps} steps the validation loss is "
        f"{fmt(gru['val_loss'])} (GRU) against {fmt(lstm['val_loss'])} (LSTM), a "
        f"difference of {gap:+.3f} nats/char: "
        f"{'comparable' if comparable else 'not comparable'} (within "
        f"{COMPARABLE:.0%} counts as comparable)."
    )
    return {
        "setup": (
            f"Tiny Shakespeare character LM: embedding 64, one layer of hidden size "
            f"{hidden}, bptt 64, batch 32, AdamW lr 4e-3 with cosine decay, clip 1.0, "
            f"{steps} steps per run; an epoch is the {epoch_chars:,} training "
            "characters at the measured speed of the training steps."
        ),
        "tables": [
            {
                "title": "Size, speed and quality (mean ± std over seeds)",
                "columns": [
                    "cell",
                    "recurrent-layer parameters",
                    "model parameters",
                    "seconds per epoch",
                    "val loss (nats/char)",
                ],
                "rows": rows,
            }
        ],
        "reading": reading,
        "held": held,
        "parameter_ratio": ratio,
        "speedup": speedup,
        "results": results,
    }
