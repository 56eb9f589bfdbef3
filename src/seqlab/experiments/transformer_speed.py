"""``transformer-speed``: time per epoch and quality, Transformer vs LSTM, by length.

An LSTM must compute step t after step t - 1; a Transformer layer processes all T
positions of a window in one batch of matrix products (its attention costs T^2, but
in parallel). Both train as Tiny Shakespeare character LMs of about the same
parameter count, over windows of several lengths with the same number of tokens per
step (batch = tokens / length), for the same number of steps. Time per epoch is the
measured speed of the training steps over the train split's characters.
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
    spread,
    table,
)

CLAIM = (
    "the Transformer trains faster than an RNN per epoch because it is parallel "
    "over time."
)
RULE = (
    "held if the Transformer trains more tokens/s than the LSTM of about its size at "
    "every window length, on one thread and on all the machine's threads (and on "
    "the GPU where one is present); its "
    "validation loss after the same steps is reported beside"
)


def all_thread_speeds(
    ctx: Context, specs: dict, lengths, tokens: int, device: str = "cpu"
) -> dict:
    """name -> length -> training tokens/s on all CPU threads, or on the GPU
    (``device`` "cuda"), a short run each."""
    steps = ctx.pick(40, 10, smoke=2)
    n = runs.all_threads() if device == "cpu" else 1
    out: dict[str, dict[int, float]] = {name: {} for name in specs}
    for T in lengths:
        for name, model in specs.items():
            ctx.log(f"  speed {name}, length {T}, {n} threads")
            train = runs.budget(steps, lr=2e-3, eval_every=10**6, device=device)
            train.update(batch_size=max(tokens // T, 1))
            cfg = runs.char_lm(model, train, bptt=T)
            label = f"speed-{name}-T{T}-{device}"
            out[name][T] = runs.throughput(ctx, label, cfg, n)
    return out


def models(ctx: Context) -> dict[str, dict]:
    """Two char LMs of about the same size (full: ~0.8M parameters each)."""
    d, layers, hidden = ctx.pick((128, 4, 384), (64, 2, 128), smoke=(32, 1, 48))
    return {
        "Transformer": {
            "kind": "transformer_lm",
            "d_model": d,
            "num_heads": 4,
            "num_layers": layers,
        },
        "LSTM": {
            "kind": "rnn_lm",
            "cell": "lstm",
            "embedding_size": d,
            "hidden_size": hidden,
        },
    }


def run(ctx: Context) -> dict:
    lengths = ctx.pick((64, 128, 256, 512), (32, 128), smoke=(16, 32))
    tokens = ctx.pick(2048, 2048, smoke=256)  # per step, at every length
    steps = ctx.pick(150, 60, smoke=4)
    epoch_chars = runs.shakespeare_train_chars()
    specs = models(ctx)
    results: dict[str, dict[int, dict]] = {name: {} for name in specs}
    params = {}
    total, done = len(lengths) * len(specs) * ctx.seeds, 0
    for T in lengths:
        for name, model in specs.items():
            trained = []
            for seed in range(ctx.seeds):
                done += 1
                ctx.log(f"[{done}/{total}] {name}, length {T}, seed {seed}")
                train = runs.budget(steps, lr=2e-3, warmup_steps=min(50, steps // 4))
                train["device"] = "cpu"  # seconds per epoch: one CPU thread
                train.update(batch_size=max(tokens // T, 1), seed=seed)
                cfg = runs.char_lm(model, train, bptt=T)
                trained.append(runs.train(ctx, f"{name}-T{T}-seed{seed}", cfg))
            params[name] = trained[0].summary["parameters"]
            results[name][T] = {
                "epoch_seconds": spread(
                    [runs.seconds_per_epoch(t, epoch_chars) for t in trained]
                ),
                "val_loss": spread([t.summary["val_loss"] for t in trained]),
                "tokens_per_second": spread(
                    [t.summary["tokens_per_second"] for t in trained]
                ),
            }
    speed = all_thread_speeds(ctx, specs, lengths, tokens)
    if torch.cuda.is_available():
        speed["gpu"] = all_thread_speeds(ctx, specs, lengths, tokens, "cuda")
    plot(ctx, results, lengths)
    return summarize(ctx, results, params, lengths, tokens, steps, epoch_chars, speed)


def plot(ctx: Context, results: dict, lengths) -> None:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name, by_len in results.items():
        for ax, key in ((left, "epoch_seconds"), (right, "val_loss")):
            ax.errorbar(
                lengths,
                [by_len[T][key]["mean"] for T in lengths],
                yerr=[by_len[T][key]["std"] for T in lengths],
                marker="o",
                capsize=3,
                label=name,
            )
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("window length T (characters)")
        ax.legend()
    left.set_ylabel("seconds per epoch (training steps)")
    right.set_ylabel("validation loss after the same steps")
    save_figure(fig, ctx.plot_path("speed_and_quality_by_length.png"))


def summarize(ctx, results, params, lengths, tokens, steps, epoch_chars, speed) -> dict:
    tf, lstm = results["Transformer"], results["LSTM"]
    speedup = {
        T: lstm[T]["epoch_seconds"]["mean"] / tf[T]["epoch_seconds"]["mean"]
        for T in lengths
    }
    rows = [
        [
            T,
            fmt(tf[T]["epoch_seconds"], 1),
            fmt(lstm[T]["epoch_seconds"], 1),
            f"{speedup[T]:.2f}",
            fmt(tf[T]["val_loss"]),
            fmt(lstm[T]["val_loss"]),
        ]
        for T in lengths
    ]
    threads = runs.all_threads()
    speedup_all = {T: speed["Transformer"][T] / speed["LSTM"][T] for T in lengths}
    ratios = [*speedup.values(), *speedup_all.values()]
    gpu = speed.get("gpu")
    if gpu:
        speedup_gpu = {T: gpu["Transformer"][T] / gpu["LSTM"][T] for T in lengths}
        ratios += list(speedup_gpu.values())
    faster_everywhere = all(s > 1 for s in ratios)
    speed_rows = [
        [
            T,
            f"{speed['Transformer'][T]:,.0f}",
            f"{speed['LSTM'][T]:,.0f}",
            f"{speedup_all[T]:.2f}",
        ]
        for T in lengths
    ]
    if gpu:
        speed_rows += [
            [
                f"{T} (GPU)",
                f"{gpu['Transformer'][T]:,.0f}",
                f"{gpu['LSTM'][T]:,.0f}",
                f"{speedup_gpu[T]:.2f}",
            ]
            for T in lengths
        ]
    faster_at = [T for T in lengths if speedup[T] > 1]
    where = lengths_text(faster_at) or "no length"
    if faster_everywhere:
        where = "every length"
    reading = (
        f"With {params['Transformer']:,} (Transformer) and {params['LSTM']:,} (LSTM) "
        f"parameters, the LSTM's time per epoch divided by the Transformer's is "
        + ", ".join(f"{speedup[T]:.2f} at T={T}" for T in lengths)
        + f" on one thread, and its tokens/s over the LSTM's on {threads} thread(s) "
        + ", ".join(f"{speedup_all[T]:.2f} at T={T}" for T in lengths)
        + f": on one thread the Transformer is faster at {where}. "
        f"After {steps} steps the validation loss at T={lengths[-1]} is "
        f"{fmt(tf[lengths[-1]]['val_loss'])} (Transformer) against "
        f"{fmt(lstm[lengths[-1]]['val_loss'])} (LSTM)."
    )
    if not faster_everywhere:
        reading += (
            " The device matters: the LSTM runs on torch's fused kernel, and a CPU "
            "has few cores to spread a Transformer's parallel work over."
        )
    return outcome(
        rule=RULE,
        held=faster_everywhere,
        budget=f"{steps} steps per quality run; short runs for all-thread tokens/s",
        setup=(
            f"Tiny Shakespeare character LM at window lengths {list(lengths)}, "
            f"{tokens} tokens per step (batch = {tokens} / T), {steps} steps per run, "
            "AdamW lr 2e-3 with cosine decay, clip 1.0. Transformer: pre-norm, 4 "
            "heads, tied embeddings; LSTM: one layer. An epoch is the "
            f"{epoch_chars:,} training characters at the measured training speed."
        ),
        tables=[
            table(
                "Time per epoch (s) and validation loss, one thread (mean ± std)",
                [
                    "T",
                    "Transformer s/epoch",
                    "LSTM s/epoch",
                    "LSTM time / Transformer time",
                    "Transformer val loss",
                    "LSTM val loss",
                ],
                rows,
            ),
            table(
                f"Training tokens/s on {threads} thread(s)",
                ["T", "Transformer", "LSTM", "Transformer / LSTM"],
                speed_rows,
            ),
        ],
        reading=reading,
        parameters=params,
        speedup={str(T): s for T, s in speedup.items()},
        speedup_all_threads={str(T): s for T, s in speedup_all.items()},
        results={n: {str(T): v for T, v in r.items()} for n, r in results.items()},
    )


def lengths_text(lengths: list[int]) -> str:
    """ "T=256 and T=512" for [256, 512]; empty for none."""
    names = [f"T={T}" for T in lengths]
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
