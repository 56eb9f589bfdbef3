"""``gru-vs-lstm``: size, speed and quality of the two gated cells on one task.

A GRU has three weight blocks (reset, update, candidate) where an LSTM has four
(input, forget, output, candidate), so its recurrent layer has 3/4 of the weights
and does 3/4 of the matrix work per step. Both train as Tiny Shakespeare character
LMs (the recipe of configs/shakespeare-char-lstm.yaml, smaller, with the cell
swapped) for the same number of steps; time per epoch is the measured speed of the
training steps over the train split's characters.
"""

from __future__ import annotations

import torch

from seqlab.experiments import runs
from seqlab.experiments.common import (
    Context,
    fmt,
    outcome,
    pyplot,
    save_figure,
    seed0_curves,
    separated,
    spread,
    table,
)
from seqlab.experiments.synthetic import parameters
from seqlab.layers import make_recurrent

CLAIM = (
    "a GRU has about 3/4 of the LSTM's parameters and is faster; accuracy is "
    "comparable."
)
CELLS = ("lstm", "gru")
COMPARABLE = 0.05  # val losses within 5% of each other count as comparable
RULE = (
    "held if the GRU layer has 0.7-0.8 of the LSTM layer's weights, trains more "
    "tokens/s than the LSTM at every shape and thread count measured (and on the "
    "GPU where one is present), and their "
    f"validation losses after the same steps are within {COMPARABLE:.0%} of each "
    "other (or the GRU's is lower by more than 2 standard errors)"
)


def speed_shapes(ctx: Context) -> list[tuple[int, int]]:
    """(hidden size, bptt) shapes of the speed measurement."""
    return ctx.pick(
        [(128, 64), (256, 64), (512, 64), (256, 256)], [(64, 32)], smoke=[(16, 8)]
    )


def speeds(ctx: Context, embedding: int) -> dict:
    """cell -> 'H=.., T=.., N threads' -> training tokens/s of a short run."""
    steps = ctx.pick(60, 10, smoke=2)
    threads = sorted({1, runs.all_threads()})
    devices = [("cpu", n, f"{n} thread(s)") for n in threads]
    if torch.cuda.is_available():
        devices.append(("cuda", 1, "GPU"))
    out: dict[str, dict[str, float]] = {cell: {} for cell in CELLS}
    for hidden, bptt in speed_shapes(ctx):
        for device, n, where in devices:
            for cell in CELLS:
                model = {"kind": "rnn_lm", "cell": cell, "embedding_size": embedding}
                model.update(hidden_size=hidden)
                train = runs.budget(steps, lr=4e-3, batch_size=32, eval_every=10**6)
                train["device"] = device
                cfg = runs.char_lm(model, train, bptt=bptt)
                key = f"H={hidden}, T={bptt}, {where}"
                ctx.log(f"  speed {cell} {key}")
                out[cell][key] = runs.throughput(
                    ctx, f"speed-{cell}-{hidden}-{bptt}", cfg, n
                )
    return out


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
            train["device"] = "cpu"  # seconds per epoch: one CPU thread
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
            "trained": trained,
        }
    target = max(r["val_loss"]["mean"] for r in results.values())
    for r in results.values():
        r["seconds_to_target"] = [
            runs.time_to(t, "val_loss", target) for t in r.pop("trained")
        ]
    speed = speeds(ctx, embedding)
    plot(ctx, results)
    return summarize(ctx, results, hidden, steps, epoch_chars, speed, target)


def plot(ctx: Context, results: dict) -> None:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    named = {cell.upper(): r for cell, r in results.items()}
    seed0_curves(left, named, "training step", "validation loss (nats/char)")
    names = [c.upper() for c in results]
    right.bar(
        names,
        [r["epoch_seconds"]["mean"] for r in results.values()],
        yerr=[r["epoch_seconds"]["std"] for r in results.values()],
        capsize=4,
    )
    right.set_ylabel("seconds per epoch (training steps)")
    save_figure(fig, ctx.plot_path("gru_vs_lstm.png"))


def seconds(values: list[float | None]) -> str:
    """Per-seed times to a target, "not reached" for a seed that never got there."""
    return ", ".join("not reached" if v is None else f"{v:.0f}" for v in values)


def summarize(ctx, results, hidden, steps, epoch_chars, speed, target) -> dict:
    lstm, gru = results["lstm"], results["gru"]
    ratio = gru["recurrent_parameters"] / lstm["recurrent_parameters"]
    speedup = lstm["epoch_seconds"]["mean"] / gru["epoch_seconds"]["mean"]
    gap = gru["val_loss"]["mean"] - lstm["val_loss"]["mean"]
    comparable = abs(gap) <= COMPARABLE * lstm["val_loss"]["mean"] or bool(
        separated(lstm["val_loss"], gru["val_loss"], ctx.seeds)
    )
    ratios = {k: speed["gru"][k] / speed["lstm"][k] for k in speed["gru"]}
    faster = all(r > 1 for r in ratios.values())
    held = bool(0.7 <= ratio <= 0.8 and faster and comparable)
    speed_rows = [
        [k, f"{speed['gru'][k]:,.0f}", f"{speed['lstm'][k]:,.0f}", f"{r:.2f}"]
        for k, r in ratios.items()
    ]
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
        f"{COMPARABLE:.0%} counts as comparable). Training tokens/s, GRU over "
        "LSTM: " + ", ".join(f"{r:.2f} ({k})" for k, r in ratios.items()) + ". "
        f"Seconds to reach validation loss {target:.3f} (per seed): GRU "
        f"{seconds(gru['seconds_to_target'])}; "
        f"LSTM {seconds(lstm['seconds_to_target'])}."
    )
    return outcome(
        rule=RULE,
        held=held,
        budget=f"{steps} steps per quality run; short runs for tokens/s",
        setup=(
            f"Tiny Shakespeare character LM: embedding 64, one layer of hidden size "
            f"{hidden}, bptt 64, batch 32, AdamW lr 4e-3 with cosine decay, clip 1.0, "
            f"{steps} steps per run; an epoch is the {epoch_chars:,} training "
            "characters at the measured speed of the training steps."
        ),
        tables=[
            table(
                "Size, speed and quality (mean ± std over seeds)",
                [
                    "cell",
                    "recurrent-layer parameters",
                    "model parameters",
                    "seconds per epoch",
                    "val loss (nats/char)",
                ],
                rows,
            ),
            table(
                "Training tokens/s by shape and threads",
                ["shape", "GRU tokens/s", "LSTM tokens/s", "GRU / LSTM"],
                speed_rows,
            ),
        ],
        reading=reading,
        parameter_ratio=ratio,
        speedup=speedup,
        tokens_per_second=speed,
        results=results,
    )
