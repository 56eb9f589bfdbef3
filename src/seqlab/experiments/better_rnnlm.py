"""``better-rnnlm``: the book's "better RNNLM" ablation in perplexity.

Brown corpus, word level (configs/brown-word-lstm-baseline.yaml and
configs/brown-word-lstm.yaml): a one-layer LSTM LM, then each of the book's three
improvements added on top of the previous ones: a second layer, dropout 0.3, and
tied embedding and output weights. Every variant trains for the same number of
steps; the weights of the best validation perplexity are tested.

Dropout is 0.3, not the book's 0.5: the book's LSTM has 650 units, these 256, and
Zaremba et al. 2014 drop less the smaller the model (none at 200 units, 0.5 at 650,
0.65 at 1,500). At 256 units 0.5 holds the two-layer model back within 8 epochs
(validation perplexity 98.2 after 3 epochs against 84.5 with 0.3; BENCHMARKS.md,
"Brown, word level"), so the dropout step would be judged on an undertrained model.
"""

from __future__ import annotations

import itertools

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
    spread_bars,
    table,
)

CLAIM = "multi-layer LSTM + dropout + weight tying lower perplexity."
EPOCHS = 8  # of Brown: the configs' runs, where dropout pays
RULE = (
    "held if the full model's (2 layers, dropout, tying) test perplexity is below the "
    "1-layer baseline's by more than 2 standard errors, and adding dropout lowers it "
    "below the 2-layer model's without dropout the same way (the step the book says "
    "matters most); the other steps are reported beside"
)
VARIANTS = {  # cumulative, as the book adds them
    "baseline (1 layer)": {"num_layers": 1, "dropout": 0.0, "tie_weights": False},
    "+ 2 layers": {"num_layers": 2, "dropout": 0.0, "tie_weights": False},
    "+ dropout 0.3": {"num_layers": 2, "dropout": 0.3, "tie_weights": False},
    "+ weight tying": {"num_layers": 2, "dropout": 0.3, "tie_weights": True},
}


def sizes(ctx: Context) -> tuple[str, int, int]:
    """(dataset, words kept, embedding = hidden size) for this mode. The output
    layer dominates evaluation, so quick keeps 2,000 words; a smoke run only checks
    the plumbing, on Tiny Shakespeare's words, which load faster."""
    dataset = ctx.pick("brown", "brown", smoke="tinyshakespeare")
    return dataset, ctx.pick(10_000, 2_000, smoke=500), ctx.pick(256, 128, smoke=16)


def config(ctx: Context, variant: dict, seed: int, steps: int | None) -> dict:
    dataset, vocab_size, size = sizes(ctx)
    train = runs.budget(
        steps,
        lr=3e-3,
        batch_size=20,
        clip_norm=0.25,
        eval_every=ctx.pick(1000, 75, smoke=1),
        seed=seed,
    )
    train["epochs"] = ctx.pick(EPOCHS, 1)
    return {
        "task": "lm",
        "data": {
            "dataset": dataset,
            "tokenizer": "word",
            "lowercase": True,
            "vocab_size": vocab_size,
            "bptt": 35,
            "eval_batch_size": 20,
        },
        "model": {
            "kind": "rnn_lm",
            "cell": "lstm",
            "embedding_size": size,
            "hidden_size": size,
            **variant,
        },
        "train": train,
    }


def run(ctx: Context) -> dict:
    steps = ctx.pick(None, 150, smoke=3)  # full: EPOCHS epochs
    results, total = {}, len(VARIANTS) * ctx.seeds
    for i, (name, variant) in enumerate(VARIANTS.items()):
        trained = []
        for seed in range(ctx.seeds):
            ctx.log(f"[{i * ctx.seeds + seed + 1}/{total}] {name}, seed {seed}")
            cfg = config(ctx, variant, seed, steps)
            label = f"{'-'.join(f'{v}' for v in variant.values())}-seed{seed}"
            trained.append(runs.train(ctx, label, cfg))
        test = "test_ppl" if "test_ppl" in trained[0].summary else "val_ppl"
        results[name] = {
            "parameters": trained[0].summary["parameters"],
            "val_ppl": spread([t.summary["val_ppl"] for t in trained]),
            "test_ppl": spread([t.summary[test] for t in trained]),
            "curves": [t.curve("val_ppl") for t in trained],
            "steps": trained[0].summary["steps"],
            "seconds": spread([t.summary.get("train_seconds", 0) for t in trained]),
            "best_step": spread([t.summary["best_step"] or 0 for t in trained]),
        }
    plot(ctx, results)
    return summarize(ctx, results, steps)


def plot(ctx: Context, results: dict) -> None:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    seed0_curves(left, results, "training step", "validation perplexity", log=True)
    spread_bars(right, results, "test_ppl", "test perplexity")
    save_figure(fig, ctx.plot_path("perplexity.png"))


def summarize(ctx, results, steps) -> dict:
    dataset, vocab_size, size = sizes(ctx)
    names = list(results)
    ppl = [results[n]["test_ppl"]["mean"] for n in names]
    lowered = [later < earlier for earlier, later in itertools.pairwise(ppl)]
    n = ctx.seeds
    full = separated(results[names[0]]["test_ppl"], results[names[-1]]["test_ppl"], n)
    no_dropout, dropped = results[names[1]], results[names[2]]
    dropout = separated(no_dropout["test_ppl"], dropped["test_ppl"], n)
    held = bool(full and dropout)
    steps = results[names[0]]["steps"]
    steps_text = "; ".join(
        f"{names[i + 1]} {'lowers' if down else 'does not lower'} it"
        for i, down in enumerate(lowered)
    )
    reading = (
        f"Test perplexity after {steps} steps: "
        + ", ".join(f"{fmt(results[n]['test_ppl'], 1)} ({n})" for n in names)
        + f". Step by step: {steps_text}. All three together "
        f"{'lower' if full else 'do not lower'} it (by 2 standard errors) from "
        f"{fmt(results[names[0]]['test_ppl'], 1)} to "
        f"{fmt(results[names[-1]]['test_ppl'], 1)}; dropout alone "
        f"{'lowers' if dropout else 'does not lower'} the 2-layer model's "
        f"(by 2 standard errors) from {fmt(no_dropout['test_ppl'], 1)} to "
        f"{fmt(dropped['test_ppl'], 1)}. The best validation perplexity comes at "
        + ", ".join(f"step {fmt(r['best_step'], 0)} ({n})" for n, r in results.items())
        + f" of {steps} (a best step before the last: the model overfits after it)."
    )
    rows = [
        [
            n,
            r["parameters"],
            fmt(r["val_ppl"], 1),
            fmt(r["test_ppl"], 1),
            fmt(r["best_step"], 0),
            fmt(r["seconds"], 0),
        ]
        for n, r in results.items()
    ]
    epochs = ctx.pick(EPOCHS, 1)
    return outcome(
        rule=RULE,
        held=held,
        budget=f"{epochs} epoch(s) per run ({steps} steps)"
        if not ctx.quick
        else f"{steps} steps per run",
        setup=(
            f"{dataset} words, lowercased, the {vocab_size:,} most frequent kept "
            "(Brown: 80/10/10 split in corpus order), LSTM LM with embedding = "
            f"hidden = {size}, bptt 35, "
            f"batch 20, AdamW lr 3e-3 with cosine decay, clip 0.25, {steps} steps "
            "per run; each variant adds one change to the one before."
        ),
        tables=[
            table(
                "Perplexity (mean ± std over seeds) and training time",
                [
                    "variant",
                    "parameters",
                    "val ppl",
                    "test ppl",
                    "best step",
                    "train seconds",
                ],
                rows,
            )
        ],
        reading=reading,
        results=results,
    )
